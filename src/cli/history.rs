//! `leafseal history`: per key path, the commits that added, changed or removed it, and
//! the commits that rotated the data key or changed the recipients (no key needed).
//! `--values` adds the decrypted before/after values, on a terminal only.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;
use std::path::PathBuf;

use clap::Args;
use clap::ValueEnum;

use crate::cli::Cli;
use crate::error::Error;
use crate::error::exit;
use crate::history;
use crate::history::Action;
use crate::history::History;
use crate::history::values::Plain;

/// Output format of `history`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HistoryFormat {
    /// Text: commits, then key paths.
    Human,
    /// One JSON object: commits and paths.
    Json,
}

/// Arguments of `history`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  leafseal history secrets/app.yaml
  leafseal history secrets/app.yaml '[\"db\"][\"password\"]'
  leafseal history secrets/app.yaml --format json | jq '.commits[] | select(.rotated)'")]
pub struct HistoryArgs {
    /// The encrypted file (in a git repository; renames are followed).
    pub file: PathBuf,
    /// Only this key path, e.g. '["db"]["password"]'.
    pub path: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: HistoryFormat,
    /// Also show each change's decrypted value before and after (needs a key). Only to a
    /// terminal, and never with --format json.
    #[arg(long)]
    pub values: bool,
    /// With --values, write to standard output even when it is not a terminal (a pager,
    /// e.g. `| less`): you decide where the plaintext goes.
    #[arg(long, requires = "values")]
    pub force: bool,
}

fn check_values(a: &HistoryArgs) -> Result<(), Error> {
    if !a.values {
        return Ok(());
    }
    if a.format == HistoryFormat::Json {
        return Err(Error::new(
            exit::CONFLICTING_PARAMETERS,
            "--values cannot be used with --format json: decrypted values are shown on a terminal only",
        )
        .hint("drop --values for the key-free JSON history, or use the human format on a terminal"));
    }
    if !a.force && !std::io::stdout().is_terminal() {
        return Err(Error::new(
            exit::CONFLICTING_PARAMETERS,
            "--values shows decrypted secrets, and standard output is not a terminal",
        )
        .hint("run it on a terminal, or add --force to send the values to this pipe or file anyway (e.g. `| less`)"));
    }
    Ok(())
}

/// Decrypted leaves of each version (oldest first, aligned with the history's commits);
/// the warnings of opening each are printed with the file and commit.
fn decrypt_all(cli: &Cli, versions: &[history::Version]) -> Result<Vec<Plain>, Error> {
    let ctx = crate::cli::key_context();
    let opts = crate::ops::OpenOptions {
        strict_integrity: crate::cli::strict_integrity(cli)?,
        ..crate::ops::OpenOptions::default()
    };
    let mut out = Vec::new();
    for v in versions.iter().rev() {
        let Some(b) = v.bytes()? else {
            out.push(Plain::new());
            continue;
        };
        let at = format!("{} at {}", v.path, v.commit.short);
        let (plain, warnings) =
            history::values::decrypt_version(Path::new(&v.path), &b, &ctx, &opts)
                .map_err(|e| e.within(&at))?;
        for w in warnings {
            crate::cli::warn(&format!("{at}: {w}"));
        }
        out.push(plain);
    }
    Ok(out)
}

fn commit_line(c: &history::Commit) -> String {
    format!("{} {} {}: {}", c.short, c.date, c.author, c.subject)
}

fn human(file: &str, h: &History, plain: Option<&[Plain]>) -> String {
    let mut s = format!(
        "history of {file}: {} commit(s)\n\nCommits (oldest first)\n",
        h.commits.len()
    );
    for c in &h.commits {
        s.push_str(&format!("{}\n", commit_line(&c.commit)));
        if c.created {
            s.push_str(&format!("  file created as {}\n", c.path));
        }
        if c.deleted {
            s.push_str("  file deleted\n");
        }
        if c.became_encrypted && !c.created {
            s.push_str("  file encrypted (first data key)\n");
        }
        if c.rotated {
            s.push_str("  data key rotated: every wrapped data key changed and the values were re-encrypted\n");
        }
        if let Some(r) = &c.recipients {
            let mut parts = Vec::new();
            if !r.added.is_empty() {
                parts.push(format!("added {}", r.added.join(", ")));
            }
            if !r.removed.is_empty() {
                parts.push(format!("removed {}", r.removed.join(", ")));
            }
            if r.regrouped {
                parts.push("key groups rearranged".to_owned());
            }
            s.push_str(&format!("  recipients changed: {}\n", parts.join("; ")));
        }
        if let Some(u) = &c.unreadable {
            s.push_str(&format!("  this version {u}\n"));
        }
        for a in [
            Action::Added,
            Action::Changed,
            Action::Reencrypted,
            Action::Removed,
        ] {
            let ps: Vec<&str> = c
                .changes
                .iter()
                .filter(|(_, x)| *x == a)
                .map(|(p, _)| p.as_str())
                .collect();
            if !ps.is_empty() {
                s.push_str(&format!("  {}: {}\n", a.name(), ps.join(", ")));
            }
        }
    }
    s.push_str("\nKey paths\n");
    for (p, events) in h.by_path() {
        s.push_str(&format!("{p}\n"));
        for (i, a) in events {
            s.push_str(&format!(
                "  {:<12} {}\n",
                a.name(),
                commit_line(&h.commits[i].commit)
            ));
            if let Some(plain) = plain {
                let before = i.checked_sub(1).and_then(|j| plain[j].get(p));
                let after = plain[i].get(p);
                let show = |v: Option<&zeroize::Zeroizing<String>>| {
                    v.map_or_else(|| "(absent)".to_owned(), |t| format!("{:?}", t.as_str()))
                };
                s.push_str(&format!(
                    "      before: {}\n      after:  {}\n",
                    show(before),
                    show(after)
                ));
            }
        }
    }
    s
}

fn json(file: &str, h: &History) -> String {
    let commits: Vec<serde_json::Value> = h
        .commits
        .iter()
        .map(|c| {
            let changes: Vec<serde_json::Value> = c
                .changes
                .iter()
                .map(|(p, a)| serde_json::json!({"path": p, "action": a.name()}))
                .collect();
            serde_json::json!({
                "hash": c.commit.hash,
                "short": c.commit.short,
                "author": c.commit.author,
                "date": c.commit.date,
                "subject": c.commit.subject,
                "file": c.path,
                "created": c.created,
                "deleted": c.deleted,
                "became_encrypted": c.became_encrypted,
                "rotated": c.rotated,
                "recipients_changed": c.recipients.as_ref().map(|r| serde_json::json!({
                    "added": r.added, "removed": r.removed, "regrouped": r.regrouped,
                })),
                "unreadable": c.unreadable,
                "changes": changes,
            })
        })
        .collect();
    let mut paths = BTreeMap::new();
    for (p, events) in h.by_path() {
        let ev: Vec<serde_json::Value> = events
            .iter()
            .map(|(i, a)| {
                let c = &h.commits[*i].commit;
                serde_json::json!({
                    "action": a.name(), "hash": c.hash, "short": c.short,
                    "author": c.author, "date": c.date, "subject": c.subject,
                })
            })
            .collect();
        paths.insert(p.to_owned(), ev);
    }
    let v = serde_json::json!({"file": file, "commits": commits, "paths": paths});
    crate::redact::json_escape_hidden(format!("{v}\n"))
}

/// Runs `history`.
pub fn run(cli: &Cli, a: &HistoryArgs) -> Result<i32, Error> {
    check_values(a)?;
    let filter = a.path.as_deref().map(history::normalize_path).transpose()?;
    let versions = history::git::versions(&a.file)?;
    if versions.is_empty() {
        return Err(Error::new(
            exit::GENERIC,
            format!("{}: git has no commit of this file", a.file.display()),
        )
        .hint("commit the file first, or check the path (history follows renames from the current name)"));
    }
    let mut h = history::analyze(&versions)?;
    if let Some(p) = &filter {
        history::filter(&mut h, p);
        if h.by_path().is_empty() {
            crate::cli::warn(&format!(
                "{}: no commit added, changed or removed {p}; check the key names (paths are written as [\"key\"][0])",
                a.file.display()
            ));
        }
    }
    let shown = a.file.display().to_string();
    // Held in a wiped buffer: with --values it holds plaintext.
    let text = zeroize::Zeroizing::new(match a.format {
        HistoryFormat::Json => json(&shown, &h),
        HistoryFormat::Human => {
            let plain = if a.values {
                Some(decrypt_all(cli, &versions)?)
            } else {
                None
            };
            let raw = zeroize::Zeroizing::new(human(&shown, &h, plain.as_deref()));
            crate::report::render::terminal_safe(&raw)
        }
    });
    crate::io::write_stdout(text.as_bytes())?;
    Ok(0)
}
