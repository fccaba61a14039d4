//! `leafseal revoke RECIPIENT [PATHS]`: takes a recipient out of `.sops.yaml` and out of
//! every encrypted file under PATHS, giving each of those files a new data key, and lists
//! the key paths of the values the recipient could read.
//!
//! Resuming: a journal, `.leafseal-revoke.json` at the root of the work tree, is written
//! before the first file is changed and after each one; it names the recipient and, per
//! file, whether it is done and which key paths it holds. A later run for the same
//! recipient reads it, skips files that no longer name the recipient, and still lists
//! their secrets at the end. The journal is removed when every file is done.

use std::collections::BTreeMap;
use std::path::Path;
use std::path::PathBuf;

use clap::Args;

use crate::check::Target;
use crate::check::files;
use crate::cli;
use crate::cli::Cli;
use crate::cli::check::OutputFormat;
use crate::cli::inplace;
use crate::error::Error;
use crate::error::exit;
use crate::lifecycle;
use crate::lifecycle::revoke::Recipient;
use crate::metadata::Metadata;
use crate::ops;
use crate::ops::KeyContext;
use crate::policy::Policy;
use crate::policy::revoke::EditProblem;

/// The journal's file name, at the root of the work tree.
pub const JOURNAL: &str = ".leafseal-revoke.json";

/// Arguments of `revoke`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  leafseal revoke --dry-run age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
  leafseal revoke age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p secrets/
  leafseal revoke FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4 --format json")]
pub struct RevokeArgs {
    /// The recipient to revoke: an age recipient, PGP fingerprint, KMS ARN, or GCP KMS /
    /// Azure Key Vault / Vault transit key id, as the files' metadata names it.
    pub recipient: String,
    /// Files or directories to look in (default: the current directory; inside a git
    /// work tree, the tracked and the untracked, not ignored, files below it).
    pub paths: Vec<PathBuf>,
    /// Print what would be done and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Go on when a creation rule or a key group would be left with no key (the rule is
    /// left without keys; the file's empty group is dropped).
    #[arg(long)]
    pub force: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: OutputFormat,
    #[command(flatten)]
    pub open: inplace::OpenArgs,
}

/// The journal kept between runs.
#[derive(Debug, Default)]
struct Journal {
    recipient: String,
    /// Path relative to the work tree root → (done, key paths).
    files: BTreeMap<String, (bool, Vec<String>)>,
}

impl Journal {
    fn load(path: &Path) -> Result<Option<Journal>, Error> {
        let text = match crate::io::read_path(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(Error::new(
                    exit::GENERIC,
                    format!("cannot read {}: {e}", path.display()),
                ));
            }
        };
        let bad = || {
            Error::new(
                exit::GENERIC,
                format!("{} is not a leafseal revoke journal", path.display()),
            )
            .hint("remove it if no revoke is in progress")
        };
        let v: serde_json::Value = serde_json::from_slice(&text).map_err(|_| bad())?;
        let recipient = v["recipient"].as_str().ok_or_else(bad)?.to_owned();
        let mut files = BTreeMap::new();
        for f in v["files"].as_array().ok_or_else(bad)? {
            let p = f["path"].as_str().ok_or_else(bad)?.to_owned();
            let done = f["done"].as_bool().unwrap_or(false);
            let secrets = f["secrets"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            files.insert(p, (done, secrets));
        }
        Ok(Some(Journal { recipient, files }))
    }

    fn save(&self, dest: &crate::io::Destination) -> Result<(), Error> {
        let files: Vec<serde_json::Value> = self
            .files
            .iter()
            .map(|(p, (done, s))| serde_json::json!({"path": p, "done": done, "secrets": s}))
            .collect();
        let v = serde_json::json!({
            "leafseal_revoke_journal": 1,
            "recipient": self.recipient,
            "files": files,
        });
        let text = format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default());
        dest.write(text.as_bytes())
    }
}

/// What happened to one file.
#[derive(Debug)]
struct FileOutcome {
    path: String,
    action: &'static str,
    error: Option<String>,
}

fn targets(paths: &[PathBuf], toplevel: Option<&Path>) -> Result<Vec<Target>, Error> {
    let io_err =
        |e: std::io::Error| Error::new(exit::GENERIC, format!("cannot list the files: {e}"));
    let paths = if paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        paths.to_vec()
    };
    let mut out = files::expand(&paths, toplevel.is_some()).map_err(|e| match e {
        files::ExpandError::Io(e) => io_err(e),
        files::ExpandError::Missing(p) => Error::new(
            exit::NO_FILE_SPECIFIED,
            format!("{}: no such file or directory", p.display()),
        ),
    })?;
    out.retain(|t| {
        let name = t.path.file_name().and_then(|n| n.to_str());
        name != Some(crate::policy::FILE_NAME) && name != Some(JOURNAL)
    });
    Ok(out)
}

/// The path of a file relative to the root (the journal's key).
fn rel(root: &Path, p: &Path) -> String {
    let abs = std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
    abs.strip_prefix(root)
        .unwrap_or(&abs)
        .to_string_lossy()
        .into_owned()
}

/// Reads a file's metadata and encrypted document; `None` for files that are not
/// encrypted or cannot be parsed.
fn read_encrypted(path: &Path) -> Option<(ops::Format, ops::Loaded, Metadata)> {
    let bytes = crate::io::read_path(path).ok()?;
    let fmt = crate::check::format_of(path, &bytes);
    let ops::Kind::Encrypted(loaded) = ops::classify(&bytes, fmt) else {
        return None;
    };
    let meta = Metadata::from_map(loaded.meta.as_ref()?).ok()?;
    Some((fmt, loaded, meta))
}

/// Edits `.sops.yaml`; returns the changed line numbers (written unless `dry_run`).
fn revoke_in_policy(
    cli: &Cli,
    a: &RevokeArgs,
    who: &Recipient,
) -> Result<Option<(PathBuf, Vec<usize>)>, Error> {
    let path = match cli.config.as_deref() {
        Some(p) => Some(p.to_owned()),
        None => cli::found_policy(),
    };
    let Some(path) = path else { return Ok(None) };
    // Locked before it is read: a change made meanwhile (another command's edit of the
    // policy) is not written over.
    let dest = if a.dry_run {
        None
    } else {
        Some(cli::update(cli, &path)?)
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::new(
            exit::GENERIC,
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    let Some(edit) = crate::policy::revoke::remove_recipient(&text, who) else {
        return Ok(None);
    };
    let policy_err = |e: crate::policy::PolicyError| Error::new(exit::GENERIC, e.to_string());
    let old = Policy::parse(text.as_bytes(), &path).map_err(policy_err)?;
    let new = Policy::parse(edit.text.as_bytes(), &path).map_err(|e| {
        Error::new(
            exit::GENERIC,
            format!(
                "removing the recipient from {} would leave it invalid: {e}",
                path.display()
            ),
        )
        .hint("remove the recipient from .sops.yaml by hand, then run revoke again")
    })?;
    for p in crate::policy::revoke::check_edit(&old, &new, who) {
        match p {
            EditProblem::StillPresent(n) => {
                return Err(Error::new(
                    exit::GENERIC,
                    format!(
                        "creation rule {n} of {} names the recipient in a form revoke cannot edit",
                        path.display()
                    ),
                )
                .hint("remove the recipient from that rule by hand, then run revoke again"));
            }
            EditProblem::RuleEmpty(n) | EditProblem::GroupEmpty(n) if !a.force => {
                return Err(Error::new(exit::NO_ENCRYPTION_KEY_FOUND, format!("without the recipient, creation rule {n} of {} would have a key group with no key; nothing was changed", path.display()))
                    .hint("add another recipient to that rule first, or pass --force to remove it anyway (new files matching the rule then cannot be created until a key is added)"));
            }
            _ => {}
        }
    }
    if let Some(dest) = dest {
        dest.write(edit.text.as_bytes())?;
    }
    Ok(Some((path, edit.lines)))
}

/// Rotates one file without the recipient. Returns its key paths.
fn revoke_file(
    cli: &Cli,
    a: &RevokeArgs,
    who: &Recipient,
    path: &Path,
    ctx: &KeyContext,
) -> Result<(), Error> {
    let name = path.to_string_lossy().into_owned();
    cli::audit::expect("revoke", &name, &[])?;
    let dest = cli::update(cli, path)?;
    let target = inplace::read_target(&name, None, Some(&dest))?;
    let mut opened =
        ops::open(target.loaded, ctx, &a.open.options(cli)?).map_err(|e| e.within(&name))?;
    for w in &opened.warnings {
        cli::warn(&format!("{name}: {w}"));
    }
    let (groups, _) = lifecycle::revoke::groups_without(&opened.meta.key_groups, who, a.force)
        .map_err(|e| e.within(&name))?;
    let threshold = lifecycle::capped_threshold(opened.meta.shamir_threshold, groups.len());
    let signed = crate::signing::present(&opened.meta);
    let meta = lifecycle::rekey(&mut opened, &groups, threshold, ctx, target.format)?;
    let policy = inplace::policy_for_output(cli)?;
    let out = inplace::emit(target.format, &opened.doc, &meta, None, policy.as_ref())?;
    cli::audit::record("revoke", &name, &opened.unwrapped_by)?;
    dest.write(&out)?;
    inplace::signature_dropped(&name, signed);
    Ok(())
}

/// Runs `revoke`.
pub fn run(cli: &Cli, a: &RevokeArgs) -> Result<i32, Error> {
    let who = Recipient::new(&a.recipient)?;
    let toplevel = files::git_toplevel();
    let root = match &toplevel {
        Some(t) => t.clone(),
        None => std::env::current_dir().map_err(|e| {
            Error::new(
                exit::GENERIC,
                format!("cannot find the current directory: {e}"),
            )
        })?,
    };
    let root = std::fs::canonicalize(&root).unwrap_or(root);
    let journal_path = root.join(JOURNAL);
    // One revoke at a time in a work tree: the journal (or, while there is none, its
    // name) stays locked for the whole run. Two revokes at once would
    // each write the policy and the journal without the other's removal, and a revoked
    // recipient would come back.
    let journal_dest = if a.dry_run {
        None
    } else {
        Some(cli::update_or_create(cli, &journal_path)?)
    };
    let mut journal = match Journal::load(&journal_path)? {
        Some(j) if j.recipient != who.raw => {
            return Err(Error::new(exit::GENERIC, format!("an unfinished revoke of another recipient is recorded in {}", journal_path.display()))
                .hint("finish it first by running `leafseal revoke` again with that recipient (see the journal), or remove the journal if that revoke was abandoned"));
        }
        Some(j) => {
            if !a.dry_run {
                inplace::note(&format!(
                    "resuming the revoke recorded in {}",
                    journal_path.display()
                ));
            }
            j
        }
        None => Journal {
            recipient: who.raw.clone(),
            files: BTreeMap::new(),
        },
    };
    let policy_edit = revoke_in_policy(cli, a, &who)?;
    let targets = targets(&a.paths, toplevel.as_deref())?;

    // Plan: the files that name the recipient, with their key paths (read without a key).
    let mut todo = Vec::new();
    let mut outcomes = Vec::new();
    for t in &targets {
        let Some((_, loaded, meta)) = read_encrypted(&t.path) else {
            continue;
        };
        let key = rel(&root, &t.path);
        if who.in_groups(&meta.key_groups) {
            let secrets = lifecycle::revoke::secret_paths(&loaded.doc);
            journal.files.insert(key.clone(), (false, secrets));
            todo.push((t.clone(), key));
        } else if let Some(entry) = journal.files.get_mut(&key) {
            // Recorded by an earlier run (interrupted after writing the file, perhaps
            // before marking it done): it no longer names the recipient.
            entry.0 = true;
            outcomes.push(FileOutcome {
                path: t.display.clone(),
                action: "already-rotated",
                error: None,
            });
        } else {
            outcomes.push(FileOutcome {
                path: t.display.clone(),
                action: "unaffected",
                error: None,
            });
        }
    }
    // Files of an earlier run outside these targets keep their journal entries.
    let ctx = crate::cli::key_context();
    if let Some(dest) = journal_dest.as_ref().filter(|_| !todo.is_empty()) {
        journal.save(dest)?;
    }
    let mut failed = 0;
    for (t, key) in &todo {
        if a.dry_run {
            outcomes.push(FileOutcome {
                path: t.display.clone(),
                action: "would-rotate",
                error: None,
            });
            continue;
        }
        match revoke_file(cli, a, &who, &t.path, &ctx) {
            Ok(()) => {
                if let Some(e) = journal.files.get_mut(key) {
                    e.0 = true;
                }
                if let Some(dest) = &journal_dest {
                    journal.save(dest)?;
                }
                outcomes.push(FileOutcome {
                    path: t.display.clone(),
                    action: "rotated",
                    error: None,
                });
            }
            Err(e) => {
                failed += 1;
                let msg = crate::redact::redact(&e.message).into_owned();
                outcomes.push(FileOutcome {
                    path: t.display.clone(),
                    action: "failed",
                    error: Some(msg),
                });
            }
        }
    }
    outcomes.sort_by(|x, y| x.path.cmp(&y.path));
    let complete = failed == 0;
    if complete && !a.dry_run && journal_path.exists() {
        std::fs::remove_file(&journal_path).map_err(|e| {
            Error::new(
                exit::GENERIC,
                format!("cannot remove {}: {e}", journal_path.display()),
            )
        })?;
    }
    let out = match a.format {
        OutputFormat::Human => human(a, &who, policy_edit.as_ref(), &outcomes, &journal, complete),
        OutputFormat::Json => json(a, &who, policy_edit.as_ref(), &outcomes, &journal, complete),
    };
    crate::io::write_stdout(out.as_bytes())?;
    if !complete {
        return Err(Error::new(exit::GENERIC, format!("{failed} file(s) naming the recipient could not be rotated; the revoke is not complete"))
            .hint(format!("fix the problem shown for each failed file (a key to open it, a file to restore), then run the same `leafseal revoke` again: {JOURNAL} records the progress")));
    }
    Ok(0)
}

/// The key paths per file the recipient could read: every file of the journal (done or
/// still to do).
fn secrets(journal: &Journal) -> Vec<(&String, &Vec<String>)> {
    journal
        .files
        .iter()
        .map(|(p, (_, s))| (p, s))
        .filter(|(_, s)| !s.is_empty())
        .collect()
}

fn human(
    a: &RevokeArgs,
    who: &Recipient,
    policy: Option<&(PathBuf, Vec<usize>)>,
    outcomes: &[FileOutcome],
    journal: &Journal,
    complete: bool,
) -> String {
    let mut s = String::new();
    let verb = if a.dry_run { "would remove" } else { "removed" };
    s.push_str(&format!(
        "leafseal revoke {}{}\n",
        who.raw,
        if a.dry_run {
            " (dry run: nothing was changed)"
        } else {
            ""
        }
    ));
    match policy {
        Some((p, lines)) => {
            let l: Vec<String> = lines.iter().map(usize::to_string).collect();
            s.push_str(&format!(
                "{}: {verb} the recipient (line {})\n",
                p.display(),
                l.join(", ")
            ));
        }
        None => s.push_str("policy: the recipient is not in .sops.yaml\n"),
    }
    for o in outcomes {
        let what = match o.action {
            "rotated" => "rotated: new data key, recipient removed",
            "would-rotate" => "would rotate: new data key, recipient removed",
            "already-rotated" => "already rotated by an earlier run",
            "unaffected" => "not readable by the recipient: unchanged",
            _ => "FAILED",
        };
        s.push_str(&format!("  {}: {what}", o.path));
        if let Some(e) = &o.error {
            s.push_str(&format!(": {e}"));
        }
        s.push('\n');
    }
    let list = secrets(journal);
    if !list.is_empty() {
        s.push_str("\nThe recipient could read these values, and git history keeps their old ciphertext:\nchange each of them at its source (new passwords, tokens, keys), then store the new values.\n");
        for (f, paths) in list {
            s.push_str(&format!("  {f}\n"));
            for p in paths {
                s.push_str(&format!("    {p}\n"));
            }
        }
    }
    if !complete {
        s.push_str(&format!("\nNot complete: run the same command again to finish ({JOURNAL} records the progress).\n"));
    }
    s
}

fn json(
    a: &RevokeArgs,
    who: &Recipient,
    policy: Option<&(PathBuf, Vec<usize>)>,
    outcomes: &[FileOutcome],
    journal: &Journal,
    complete: bool,
) -> String {
    let files: Vec<serde_json::Value> = outcomes
        .iter()
        .map(|o| serde_json::json!({"path": o.path, "action": o.action, "error": o.error}))
        .collect();
    let secrets: Vec<serde_json::Value> = secrets(journal)
        .into_iter()
        .map(|(f, p)| serde_json::json!({"file": f, "paths": p}))
        .collect();
    let v = serde_json::json!({
        "recipient": who.raw,
        "dry_run": a.dry_run,
        "policy": policy.map(|(p, l)| serde_json::json!({"path": p.display().to_string(), "lines": l})),
        "files": files,
        "secrets_to_change": secrets,
        "complete": complete,
    });
    format!("{v}\n")
}
