//! Text and JSON forms of the access report.

use crate::report::Access;
use crate::report::FileAccess;
use crate::report::Reach;

fn born(f: &FileAccess) -> String {
    match &f.key_born {
        Some((t, from)) => format!("{t} (from {from})"),
        None => "unknown (no readable `created_at` or `lastmodified`)".to_owned(),
    }
}

fn git_line(f: &FileAccess) -> Option<String> {
    let g = f.git_rotation.as_ref()?;
    let mut s = format!(
        "{} {} by {}: {}",
        g.commit.short, g.commit.date, g.commit.author, g.commit.subject
    );
    if g.uncommitted {
        s.push_str(" (the work tree has a newer data key, not committed yet)");
    }
    Some(s)
}

/// Makes text safe to print on a terminal: every control character but the newline
/// (escape sequences in a file name, a map key or a commit subject could otherwise move
/// the cursor, rewrite earlier lines or set the window title) and every other
/// [hidden](crate::redact::is_hidden) character (a bidirectional override that shows
/// text in another order than it has) is shown as `\u{…}`.
pub fn terminal_safe(s: &str) -> String {
    crate::redact::escape_hidden(s, &['\n']).into_owned()
}

/// The human-readable report (control characters escaped, see [`terminal_safe`]).
pub fn human(a: &Access) -> String {
    terminal_safe(&human_raw(a))
}

fn human_raw(a: &Access) -> String {
    let mut s = String::new();
    s.push_str("Files\n");
    for f in &a.files {
        s.push_str(&format!("{}\n", f.path));
        s.push_str(&format!("  opens with: {}\n", f.combinations()));
        for (i, g) in f.groups.iter().enumerate() {
            let keys: Vec<String> = g.iter().map(|k| k.label()).collect();
            s.push_str(&format!("  group {}: {}\n", i + 1, keys.join(", ")));
        }
        s.push_str(&format!("  data key since: {}\n", born(f)));
        if let Some(g) = git_line(f) {
            s.push_str(&format!("  last rotation in git: {g}\n"));
        }
        match (&f.drift, f.has_rule) {
            (Some(d), _) => s.push_str(&format!("  drift: {d}\n")),
            (None, false) => s.push_str("  drift: no .sops.yaml rule matches this file\n"),
            (None, true) => {}
        }
        for p in &f.pending {
            s.push_str(&format!("  pending contribution: {p}\n"));
        }
    }
    let recipients = a.recipients();
    s.push_str("\nRecipients\n");
    for r in &recipients {
        s.push_str(&format!("{}\n", r.key.label()));
        let alone: Vec<&str> = r
            .files
            .iter()
            .filter(|(_, reach)| *reach == Reach::Alone)
            .map(|(i, _)| a.files[*i].path.as_str())
            .collect();
        if !alone.is_empty() {
            s.push_str(&format!("  reads alone: {}\n", alone.join(", ")));
        }
        for (i, reach) in &r.files {
            if let Reach::WithOthers { groups, .. } = reach {
                let gs: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
                s.push_str(&format!(
                    "  reads only with other groups: {} (in group {}; needs {})\n",
                    a.files[*i].path,
                    gs.join(", "),
                    reach.short()
                ));
            }
        }
    }
    for k in &a.skipped {
        s.push_str(&format!("\nskipped {}: {}\n", k.path, k.reason));
    }
    let drift = a.files.iter().filter(|f| f.drift.is_some()).count();
    s.push_str(&format!(
        "\nleafseal access: {} encrypted file(s), {} recipient(s), {drift} file(s) with recipient drift\n",
        a.files.len(),
        recipients.len()
    ));
    s
}

fn reach_json(r: &Reach) -> serde_json::Value {
    match r {
        Reach::Alone => serde_json::json!({"alone": true}),
        Reach::WithOthers { groups, more, of } => serde_json::json!({
            "alone": false,
            "groups": groups,
            "more_groups_needed": more,
            "from_groups": of,
        }),
    }
}

/// The JSON report: `{"files":[…],"recipients":[…],"skipped":[…]}` (hidden characters
/// written as `\uXXXX` escapes, see [`crate::redact::json_escape_hidden`]).
pub fn json(a: &Access) -> String {
    let files: Vec<serde_json::Value> = a
        .files
        .iter()
        .map(|f| {
            let groups: Vec<serde_json::Value> = f
                .groups
                .iter()
                .map(|g| {
                    g.iter()
                        .map(|k| serde_json::json!({"kind": k.kind, "id": k.id}))
                        .collect()
                })
                .collect();
            let git = f.git_rotation.as_ref().map(|g| {
                serde_json::json!({
                    "commit": g.commit.hash,
                    "short": g.commit.short,
                    "author": g.commit.author,
                    "date": g.commit.date,
                    "subject": g.commit.subject,
                    "uncommitted_newer_key": g.uncommitted,
                })
            });
            serde_json::json!({
                "path": f.path,
                "groups": groups,
                "threshold": f.threshold,
                "combinations": f.combinations(),
                "rule": f.has_rule,
                "drift": f.drift,
                "lastmodified": f.lastmodified,
                "data_key_since": f.key_born.as_ref().map(|(t, _)| t),
                "data_key_since_from": f.key_born.as_ref().map(|(_, from)| from),
                "last_rotation_commit": git,
                "pending_contributions": f.pending,
            })
        })
        .collect();
    let recipients: Vec<serde_json::Value> = a
        .recipients()
        .iter()
        .map(|r| {
            let files: Vec<serde_json::Value> = r
                .files
                .iter()
                .map(|(i, reach)| {
                    let mut v = reach_json(reach);
                    v["path"] = serde_json::Value::from(a.files[*i].path.clone());
                    v
                })
                .collect();
            serde_json::json!({"kind": r.key.kind, "id": r.key.id, "files": files})
        })
        .collect();
    let skipped: Vec<serde_json::Value> = a
        .skipped
        .iter()
        .map(|k| serde_json::json!({"path": k.path, "reason": k.reason}))
        .collect();
    let v = serde_json::json!({"files": files, "recipients": recipients, "skipped": skipped});
    crate::redact::json_escape_hidden(format!("{v}\n"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_are_escaped_but_newlines_kept() {
        assert_eq!(
            super::terminal_safe("a\u{1b}[31mb\n\tc\u{7}"),
            "a\\u{1b}[31mb\n\\u{9}c\\u{7}"
        );
        assert_eq!(
            super::terminal_safe("gro\u{ad}up \u{202e}fdp.exe\u{2028}x"),
            "gro\\u{ad}up \\u{202e}fdp.exe\\u{2028}x"
        );
    }
}
