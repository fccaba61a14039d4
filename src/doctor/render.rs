//! The text and JSON forms of a [`Doctor`] report.

use serde_json::Value;
use serde_json::json;

use super::Doctor;
use super::Status;

fn status_json(s: &Status) -> Value {
    match s {
        Status::Ok(what) => json!({"status": "ok", "checked": what}),
        Status::Failed { message, hint } => {
            json!({"status": "failed", "error": message, "hint": hint})
        }
        Status::NotChecked(why) => json!({"status": "not checked", "reason": why}),
    }
}

fn push_status(s: &mut String, indent: &str, status: &Status) {
    match status {
        Status::Ok(what) => s.push_str(&format!("{indent}check: {what}\n")),
        Status::Failed { message, hint } => {
            s.push_str(&format!("{indent}error: {message}\n"));
            if let Some(h) = hint {
                s.push_str(&format!("{indent}hint: {h}\n"));
            }
        }
        Status::NotChecked(why) => s.push_str(&format!("{indent}not checked: {why}\n")),
    }
}

/// The report as text, safe to print on a terminal (control characters and other hidden
/// characters of file names escaped, see [`crate::report::render::terminal_safe`]).
pub fn human(d: &Doctor) -> String {
    crate::report::render::terminal_safe(&human_raw(d))
}

fn human_raw(d: &Doctor) -> String {
    let mut s = String::new();
    match &d.policy {
        Some(p) => s.push_str(&format!("policy: {p}\n")),
        None => s.push_str("policy: no .sops.yaml found\n"),
    }
    s.push_str(&format!("\nkeys ({}):\n", d.keys.len()));
    for k in &d.keys {
        s.push_str(&format!("  {:<12} {} {}\n", k.status.word(), k.kind, k.id));
        let from = k.source.clone().unwrap_or_else(|| "(not known)".to_owned());
        s.push_str(&format!("      source: {from}\n"));
        push_status(&mut s, "      ", &k.status);
        let mut used = format!("named by {} file(s) in scope", k.files);
        if k.in_policy {
            used.push_str(" and by .sops.yaml");
        }
        s.push_str(&format!("      {used}\n"));
    }
    s.push_str(&format!("\nfiles ({}):\n", d.files.len()));
    for f in &d.files {
        let verdict = if f.decryptable() {
            "ok"
        } else {
            "CANNOT DECRYPT"
        };
        s.push_str(&format!(
            "  {:<14} {} (opens {} of {} group(s) needed)\n",
            verdict, f.path, f.opened, f.needed
        ));
        let many = f.groups.len() > 1;
        for (gi, g) in f.groups.iter().enumerate() {
            for k in g {
                let group = if many {
                    format!("group {}: ", gi + 1)
                } else {
                    String::new()
                };
                s.push_str(&format!(
                    "      {group}{} {}: {}\n",
                    k.kind,
                    k.id,
                    k.status.word()
                ));
                if !f.decryptable()
                    && let Status::Failed { message, hint } = &k.status
                {
                    s.push_str(&format!("          {message}\n"));
                    if let Some(h) = hint {
                        s.push_str(&format!("          hint: {h}\n"));
                    }
                }
            }
        }
    }
    for k in &d.skipped {
        s.push_str(&format!(
            "  {:<14} {}: {}\n",
            "CANNOT READ", k.path, k.reason
        ));
    }
    let bad = d.failures();
    let total = d.files.len() + d.skipped.len();
    if bad == 0 {
        s.push_str(&format!(
            "\nall {total} encrypted file(s) in scope can be decrypted by this user\n"
        ));
    } else {
        s.push_str(&format!(
            "\n{bad} of {total} encrypted file(s) in scope cannot be decrypted by this user\n"
        ));
    }
    s
}

/// The report as one JSON object (hidden characters written as `\uXXXX` escapes, see
/// [`crate::redact::json_escape_hidden`]).
pub fn json(d: &Doctor) -> String {
    let keys: Vec<Value> = d
        .keys
        .iter()
        .map(|k| {
            let mut v = status_json(&k.status);
            if let Value::Object(m) = &mut v {
                m.insert("kind".into(), json!(k.kind));
                m.insert("id".into(), json!(k.id));
                m.insert("source".into(), json!(k.source));
                m.insert("files".into(), json!(k.files));
                m.insert("in_policy".into(), json!(k.in_policy));
            }
            v
        })
        .collect();
    let files: Vec<Value> = d
        .files
        .iter()
        .map(|f| {
            let groups: Vec<Value> = f
                .groups
                .iter()
                .map(|g| {
                    Value::Array(
                        g.iter()
                            .map(|k| {
                                let mut v = status_json(&k.status);
                                if let Value::Object(m) = &mut v {
                                    m.insert("kind".into(), json!(k.kind));
                                    m.insert("id".into(), json!(k.id));
                                }
                                v
                            })
                            .collect(),
                    )
                })
                .collect();
            json!({
                "path": f.path,
                "decryptable": f.decryptable(),
                "groups_needed": f.needed,
                "groups_opened": f.opened,
                "groups": groups,
            })
        })
        .collect();
    let skipped: Vec<Value> = d
        .skipped
        .iter()
        .map(|k| json!({"path": k.path, "reason": k.reason}))
        .collect();
    let mut text = json!({
        "policy": d.policy,
        "keys": keys,
        "files": files,
        "skipped": skipped,
        "undecryptable": d.failures(),
    })
    .to_string();
    text.push('\n');
    crate::redact::json_escape_hidden(text)
}
