//! `leafseal updatekeys FILE|DIR...`: bring the key groups of files in line with the
//! policy, keeping their data keys (or re-keying them with `--rotate`).

use std::io::BufRead;
use std::io::IsTerminal;
use std::path::Path;
use std::path::PathBuf;

use clap::Args;

use crate::cli;
use crate::cli::Cli;
use crate::cli::inplace;
use crate::error::Error;
use crate::error::exit;
use crate::lifecycle;
use crate::lifecycle::UpdatePlan;
use crate::ops;
use crate::ops::KeyContext;
use crate::ops::KeyKind;
use crate::ops::Kind;
use crate::ops::OpenOptions;
use crate::policy::Policy;
use crate::policy::PolicyError;

/// Arguments of `updatekeys`.
#[derive(Debug, Args)]
pub struct UpdatekeysArgs {
    /// Files or directories (walked recursively; hidden entries such as .git are skipped).
    #[arg(required = true)]
    pub paths: Vec<String>,
    /// Apply the changes without asking.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Input format (default: from each file's extension).
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
    /// Minimum number of key groups needed to decrypt (default: the policy's, else the file's).
    #[arg(long, value_name = "N")]
    pub shamir_secret_sharing_threshold: Option<usize>,
    /// Also re-key: a new data key and every value re-encrypted (use when removing a key).
    #[arg(long)]
    pub rotate: bool,
    /// Key types to try first when recovering the data key.
    #[arg(long, env = "SOPS_DECRYPTION_ORDER", value_name = "TYPES")]
    pub decryption_order: Option<String>,
}

enum Outcome {
    /// The first pass found changes to make (the second pass makes them).
    Pending,
    Updated,
    UpToDate,
    Skipped(String),
    Declined,
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), Error> {
    let rd = std::fs::read_dir(dir).map_err(|e| {
        Error::new(
            exit::COULD_NOT_READ_INPUT,
            format!("cannot read directory {}: {e}", dir.display()),
        )
    })?;
    let mut entries: Vec<_> = rd.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        if e.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            collect(&e.path(), out)?;
        } else if ft.is_file() {
            out.push(e.path());
        }
    }
    Ok(())
}

fn show(k: &(KeyKind, String)) -> String {
    lifecycle::shown_key(k)
}

fn print_plan(file: &str, plan: &UpdatePlan) {
    let mut s = format!("{file}: the key groups change:\n");
    for (i, d) in plan.diffs.iter().enumerate() {
        s.push_str(&format!("  group {i}:\n"));
        for k in &d.kept {
            s.push_str(&format!("      {}\n", show(k)));
        }
        for k in &d.added {
            s.push_str(&format!("    + {}\n", show(k)));
        }
        for k in &d.removed {
            s.push_str(&format!("    - {}\n", show(k)));
        }
    }
    if plan.old_threshold != plan.new_threshold {
        s.push_str(&format!(
            "  shamir threshold: {} -> {}\n",
            plan.old_threshold, plan.new_threshold
        ));
    }
    // The file name may come from listing a directory of the repository.
    show!("{}", crate::report::render::terminal_safe(&s));
}

fn confirm(file: &str) -> Result<bool, Error> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::new(
            exit::GENERIC,
            format!(
                "{file}: not changed: confirmation needed, but standard input is not a terminal"
            ),
        )
        .hint("review the changes above and re-run with -y (--yes) to apply them"));
    }
    show!(
        "Apply these changes to {}? [y/N] ",
        crate::report::render::terminal_safe(file)
    );
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| {
        Error::new(
            exit::COULD_NOT_READ_INPUT,
            format!("cannot read the answer: {e}"),
        )
    })?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "Yes"))
}

fn update_file(
    cli: &Cli,
    a: &UpdatekeysArgs,
    policy: &Policy,
    file: &Path,
    walked: bool,
    ctx: &KeyContext,
    apply: bool,
) -> Result<Outcome, Error> {
    let name = file.display().to_string();
    let strict = cli.strict_integrity || policy.strict_integrity;
    let rule = match policy.rule_for(file) {
        Ok(Some(r)) => r,
        Ok(None) => {
            return Err(Error::new(
                exit::GENERIC,
                format!("{} has no creation rules", policy.path.display()),
            ));
        }
        Err(PolicyError::NoMatch { .. }) if walked => {
            return Ok(Outcome::Skipped("no creation rule matches it".to_owned()));
        }
        Err(e) => {
            return Err(Error::new(exit::GENERIC, format!("{name}: {e}"))
                .hint("add a creation rule whose path_regex matches this file"));
        }
    };
    let dest = match cli::update(cli, file) {
        Ok(d) => d,
        Err(e) if walked => return Ok(Outcome::Skipped(e.message)),
        Err(e) => return Err(e),
    };
    let bytes = dest.read_locked()?;
    let format = cli::input_format(a.input_type.as_deref(), &name, Some(&bytes))?;
    crate::conflict::check(&bytes, &name)?;
    let loaded = match ops::classify(&bytes, format) {
        Kind::Encrypted(l) => l,
        _ if walked => return Ok(Outcome::Skipped("not an encrypted file".to_owned())),
        Kind::Plain(_) => {
            return Err(Error::new(
                exit::GENERIC,
                format!("{name} is not encrypted (it has no sops metadata)"),
            ));
        }
        Kind::Unparseable(e) => return Err(ops::read_error(e).within(&name)),
    };
    if rule.key_groups.iter().all(Vec::is_empty) {
        return Err(Error::new(
            exit::NO_ENCRYPTION_KEY_FOUND,
            format!("{name}: the matching creation rule names no keys"),
        ));
    }
    let meta = ops::metadata_of(&loaded).map_err(|e| e.within(&name))?;
    let plan = lifecycle::plan_update(
        &meta,
        &rule.key_groups,
        a.shamir_secret_sharing_threshold,
        rule.shamir_threshold,
    );
    if plan.is_noop() {
        return Ok(Outcome::UpToDate);
    }
    if !apply {
        return Ok(Outcome::Pending);
    }
    print_plan(&name, &plan);
    let revoked = plan.revoked();
    if !revoked.is_empty() {
        let who: Vec<String> = revoked.iter().map(show).collect();
        let what = if a.rotate {
            "the file is re-keyed (--rotate), but they could read it before: change the secrets themselves if that matters"
        } else {
            "the data key stays the same, so whoever holds a removed key can still read the current values (from a copy or from git history). Re-run with --rotate to re-key the file in the same step, and change the secrets themselves if they must stay secret from them"
        };
        cli::warn(&format!("{name}: removing {}: {what}", who.join(", ")));
    }
    if !a.yes && !confirm(&name)? {
        return Ok(Outcome::Declined);
    }
    let order = match &a.decryption_order {
        Some(s) => super::decryption_order(s)?,
        None => Vec::new(),
    };
    let signed = crate::signing::present(&meta);
    let opts = OpenOptions {
        ignore_mac: false,
        order,
        strict_integrity: strict,
    };
    let updated = lifecycle::update_keys(loaded, &plan, a.rotate, ctx, &opts, format)
        .map_err(|e| e.within(&name))?;
    for w in &updated.warnings {
        cli::warn(&format!("{name}: {w}"));
    }
    let (doc, map, keys) = (updated.doc, updated.meta, updated.unwrapped_by);
    let out = inplace::emit(format, &doc, &map, None, Some(policy))?;
    cli::audit::record("updatekeys", &name, &keys)?;
    dest.write(&out)?;
    inplace::signature_dropped(&name, signed);
    Ok(Outcome::Updated)
}

/// Runs `updatekeys`. Files are independent: one failing does not stop the others, and
/// the exit code is non-zero if any failed.
pub fn run(cli: &Cli, a: &UpdatekeysArgs) -> Result<i32, Error> {
    let policy = cli::load_policy(cli.config.as_deref())?.ok_or_else(|| {
        cli::no_policy_error(
            exit::GENERIC,
            "updatekeys applies the creation rules of that policy",
        )
        .hint("create one at the repository root, or pass --config PATH")
    })?;
    let ctx = crate::cli::key_context();
    let mut failed: Vec<Error> = Vec::new();
    for arg in &a.paths {
        let p = Path::new(arg);
        let (files, walked) = if p.is_dir() {
            let mut v = Vec::new();
            if let Err(e) = collect(p, &mut v) {
                cli::report(&e);
                failed.push(e);
                continue;
            }
            (v, true)
        } else {
            (vec![p.to_owned()], false)
        };
        // First pass on all cores: read, check and plan every file, changing nothing (the
        // no-op run over a whole tree ends here). Then, in order, each file with changes
        // is planned again under its lock, shown, confirmed and written.
        let first = crate::io::workers::map_ordered(&files, |f| {
            update_file(cli, a, &policy, f, walked, &ctx, false)
        });
        for (f, first) in files.iter().zip(first) {
            let name = f.display().to_string();
            let r = cli::audit::expect("updatekeys", &name, &[]).and_then(|()| match first {
                Some(Ok(Outcome::Pending)) | None => {
                    update_file(cli, a, &policy, f, walked, &ctx, true)
                }
                Some(r) => r,
            });
            match &r {
                Err(e) => cli::audit::done("updatekeys", &name, e.code),
                Ok(Outcome::Skipped(_)) => cli::audit::forget("updatekeys", &name),
                Ok(_) => cli::audit::done("updatekeys", &name, 0),
            }
            match r {
                Ok(Outcome::Updated) => inplace::note(&format!("{name}: keys updated")),
                Ok(Outcome::UpToDate) => inplace::note(&format!("{name}: already up to date")),
                Ok(Outcome::Skipped(why)) => inplace::note(&format!("{name}: skipped ({why})")),
                Ok(Outcome::Declined) => inplace::note(&format!("{name}: left unchanged")),
                Ok(Outcome::Pending) => {}
                Err(e) => {
                    cli::report(&e);
                    failed.push(e);
                }
            }
        }
    }
    match failed.first() {
        None => Ok(0),
        Some(first) => Err(Error::new(
            first.code,
            format!("{} file(s) could not be updated", failed.len()),
        )),
    }
}
