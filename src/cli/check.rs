//! `leafseal check`: the policy check for CI and pre-commit (no private key needed).
//!
//! Exit codes: 0 no finding of severity error, 1 at least one (warnings count with
//! `--strict`), 2 usage or configuration errors (invalid `.sops.yaml`, no policy found,
//! not a git repository with `--staged`, unreadable paths).

use std::path::Path;
use std::path::PathBuf;

use clap::Args;
use clap::ValueEnum;

use crate::check;
use crate::check::CheckOptions;
use crate::check::DiskSource;
use crate::check::IndexSource;
use crate::check::Report;
use crate::check::Source;
use crate::check::Target;
use crate::check::files;
use crate::cli::Cli;
use crate::error::Error;
use crate::policy::Policy;

/// Exit code of `check` for usage and configuration errors.
pub const USAGE_ERROR: i32 = 2;
/// Exit code of `check` when a finding of severity error was reported.
pub const FINDINGS: i32 = 1;

/// Output format of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// One line per finding plus hints and a summary.
    Human,
    /// `{"findings":[…],"files_checked":N}`.
    Json,
}

/// Arguments of `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Files or directories to check (default: git's tracked files when inside a work
    /// tree, else every file below the current directory). A directory is checked whole:
    /// tracked and untracked files alike (git-ignored ones are counted, not checked).
    pub paths: Vec<PathBuf>,
    /// Check the staged content of staged files (pre-commit), read from git's index.
    #[arg(long)]
    pub staged: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: OutputFormat,
    /// Report data keys older than this many days (from the newest key entry `created_at`,
    /// or `lastmodified` for files whose keys record none, e.g. age-only files).
    #[arg(long, value_name = "DAYS")]
    pub max_key_age: Option<u64>,
    /// Turn warnings into findings (exit 1).
    #[arg(long)]
    pub strict: bool,
    /// Report every encrypted file that is not validly signed by a key of the
    /// allowed-signers file (also `leafseal: {require_signed: true}` in .sops.yaml).
    #[arg(long)]
    pub require_signed: bool,
    /// Allowed-signers file (git's format) instead of `leafseal.allowed_signers`.
    #[arg(long, value_name = "PATH")]
    pub allowed_signers: Option<PathBuf>,
}

/// Adds a finding for every encrypted target that is not validly signed.
fn signatures(report: &mut Report, targets: &[Target], source: &dyn Source, allowed: &Path) {
    let ctx = crate::cli::key_context();
    for t in targets {
        let Ok(Some(bytes)) = source.read(&t.path) else {
            continue;
        };
        let fmt = check::format_of(&t.path, &bytes);
        let crate::ops::Kind::Encrypted(loaded) = crate::ops::classify(&bytes, fmt) else {
            continue;
        };
        let Some(Ok(meta)) = loaded
            .meta
            .as_ref()
            .map(crate::metadata::Metadata::from_map)
        else {
            continue;
        };
        let problem = match crate::signing::verify(&loaded.doc, &meta, allowed, &ctx) {
            Ok(crate::signing::Verdict::Valid { .. }) => continue,
            Ok(crate::signing::Verdict::Unsigned) => "the file is not signed".to_owned(),
            Ok(v) => v.describe(),
            Err(e) => e.message,
        };
        report.findings.push(check::Finding {
            path: t.display.clone(),
            kind: check::Kind::Signature,
            severity: check::Severity::Error,
            message: problem,
            hint: format!(
                "after checking its content, have an allowed signer run `leafseal sign {}`",
                t.display
            ),
        });
    }
}

fn usage(msg: impl Into<String>) -> Error {
    Error::new(USAGE_ERROR, msg)
}

/// Finds the policy and loads it; with `--staged`, its staged content when git tracks it.
fn load_policy(explicit: Option<&Path>, index: Option<&IndexSource>) -> Result<Policy, Error> {
    let path = match explicit {
        Some(p) => p.to_owned(),
        None => crate::cli::found_policy().ok_or_else(|| {
            crate::cli::no_policy_error(USAGE_ERROR, "check compares files with its rules")
                .hint("run from the repository root, or pass --config PATH")
        })?,
    };
    let staged = match index {
        Some(ix) => ix.read(&path).ok().flatten(),
        None => None,
    };
    let parsed = match staged {
        Some(text) => Policy::parse(&text, &path),
        None => Policy::load(&path),
    };
    let p = parsed.map_err(|e| {
        usage(e.to_string()).hint("fix the policy file, or point --config at another one")
    })?;
    for w in &p.warnings {
        crate::cli::warn(&format!("{}: {w}", path.display()));
    }
    Ok(p)
}

fn io_err(e: std::io::Error) -> Error {
    usage(format!("cannot list the files to check: {e}")).hint(
        "run `git ls-files` here to see what git says, and check that the `git` on PATH is \
         git; or name the files to check",
    )
}

fn targets(a: &CheckArgs, toplevel: Option<&Path>) -> Result<Vec<Target>, Error> {
    if a.staged {
        let top = toplevel.ok_or_else(|| {
            usage("--staged needs a git work tree").hint("run it from inside the repository")
        })?;
        return files::staged_files(top, &a.paths).map_err(io_err);
    }
    list_targets(&a.paths, toplevel)
}

/// The files under `paths` (default: git's tracked files when inside a work tree, else
/// every file below the current directory, `.git`, `target`, `node_modules` skipped). A
/// directory named inside a work tree gives its tracked and untracked files (not the
/// git-ignored ones), so a new plaintext secret is seen before `git add`; files given
/// by name are taken as they are. Shared by `check` and `access`.
pub(super) fn list_targets(
    paths: &[PathBuf],
    toplevel: Option<&Path>,
) -> Result<Vec<Target>, Error> {
    if paths.is_empty() {
        return match toplevel {
            Some(_) => files::tracked_files(&[]).map_err(io_err),
            None => files::walk_dir(Path::new(".")).map_err(io_err),
        };
    }
    files::expand(paths, toplevel.is_some()).map_err(|e| match e {
        files::ExpandError::Io(e) => io_err(e),
        files::ExpandError::Missing(p) => {
            usage(format!("{}: no such file or directory", p.display()))
        }
    })
}

/// What a directory argument added beyond git's tracked files: untracked files checked,
/// and git-ignored files that a rule matches (not checked).
#[derive(Debug, Default)]
struct Extent {
    untracked: usize,
    ignored_matching: Vec<String>,
}

fn extent(a: &CheckArgs, toplevel: Option<&Path>, targets: &[Target], policy: &Policy) -> Extent {
    let dirs: Vec<PathBuf> = a.paths.iter().filter(|p| p.is_dir()).cloned().collect();
    if a.staged || toplevel.is_none() || dirs.is_empty() {
        return Extent::default();
    }
    let tracked: std::collections::HashSet<PathBuf> = files::tracked_files(&a.paths)
        .map(|v| v.iter().map(|t| files::normalize(&t.path)).collect())
        .unwrap_or_default();
    let untracked = targets
        .iter()
        .filter(|t| !tracked.contains(&files::normalize(&t.path)))
        .count();
    let ignored_matching = files::ignored_files(&dirs)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| check::has_rule(Some(policy), p))
        .map(|p| p.display().to_string())
        .collect();
    Extent {
        untracked,
        ignored_matching,
    }
}

fn human(
    report: &Report,
    services: &[check::KeyService],
    policy: &Path,
    extent: &Extent,
) -> String {
    let mut s = String::new();
    if !services.is_empty() {
        s.push_str(&format!(
            "key services named by {} (leafseal sends tokens and data keys there):\n",
            policy.display()
        ));
        for k in services {
            s.push_str(&format!("  {} {} ({})", k.kind, k.address, k.key));
            if k.plain_http {
                s.push_str(" [plain http: refused unless LEAFSEAL_ALLOW_INSECURE_HTTP=1]");
            }
            s.push('\n');
        }
    }
    for f in &report.findings {
        let sev = if f.severity == check::Severity::Warning {
            " (warning)"
        } else {
            ""
        };
        s.push_str(&format!(
            "{}: {}{sev}: {}\n",
            f.path,
            f.kind.name(),
            f.message
        ));
        if !f.hint.is_empty() {
            s.push_str(&format!("  hint: {}\n", f.hint));
        }
    }
    let errors = report.errors();
    let warnings = report.findings.len() - errors;
    let untracked = match extent.untracked {
        0 => String::new(),
        n => format!(" ({n} not tracked by git)"),
    };
    s.push_str(&format!(
        "leafseal check: {} file(s) checked{untracked}, {errors} finding(s), {warnings} warning(s)\n",
        report.files_checked
    ));
    if !extent.ignored_matching.is_empty() {
        s.push_str(&format!(
            "leafseal check: {} git-ignored file(s) that a creation rule matches were not checked: {}\n",
            extent.ignored_matching.len(),
            extent.ignored_matching.join(", ")
        ));
    }
    s
}

fn json(report: &Report, services: &[check::KeyService], extent: &Extent) -> String {
    let findings: Vec<serde_json::Value> = report
        .findings
        .iter()
        .map(|f| {
            serde_json::json!({
                "path": f.path,
                "kind": f.kind.name(),
                "severity": f.severity.name(),
                "message": f.message,
                "hint": f.hint,
            })
        })
        .collect();
    let services: Vec<serde_json::Value> = services
        .iter()
        .map(|k| {
            serde_json::json!({
                "kind": k.kind,
                "address": k.address,
                "key": k.key,
                "plain_http": k.plain_http,
            })
        })
        .collect();
    let v = serde_json::json!({
        "findings": findings,
        "files_checked": report.files_checked,
        "untracked_checked": extent.untracked,
        "ignored_not_checked": extent.ignored_matching,
        "key_services": services,
    });
    format!("{v}\n")
}

/// Runs `check`.
pub fn run(cli: &Cli, a: &CheckArgs) -> Result<i32, Error> {
    let toplevel = files::git_toplevel();
    let index = match (a.staged, &toplevel) {
        (true, Some(t)) => Some(IndexSource::new(t.clone())),
        _ => None,
    };
    let policy = load_policy(cli.config.as_deref(), index.as_ref())?;
    let targets = targets(a, toplevel.as_deref())?;
    let opts = CheckOptions {
        max_key_age_days: a.max_key_age,
        strict: a.strict,
        now: None,
        require_integrity: false,
    };
    let source: &dyn Source = match &index {
        Some(ix) => ix,
        None => &DiskSource,
    };
    // The extent of the check (which files git tracks or ignores: two `git ls-files`)
    // is found while the files are checked.
    let (mut report, extent) = std::thread::scope(|s| {
        let extent = s.spawn(|| extent(a, toplevel.as_deref(), &targets, &policy));
        let report = check::run(Some(&policy), &targets, source, &opts);
        let extent = extent.join().unwrap_or_else(|_| Extent {
            untracked: 0,
            ignored_matching: Vec::new(),
        });
        (report, extent)
    });
    if a.require_signed || policy.require_signed {
        let allowed = crate::signing::allowed_signers_path(a.allowed_signers.as_deref(), Some(&policy))
            .ok_or_else(|| {
                usage("--require-signed needs an allowed-signers file")
                    .hint("pass --allowed-signers PATH or set `leafseal: {allowed_signers: PATH}` in .sops.yaml")
            })?;
        signatures(&mut report, &targets, source, &allowed);
        report.findings.sort_by(|x, y| x.path.cmp(&y.path));
    }
    let services = check::key_services(&policy);
    // File names, key ids and findings quote the repository: nothing in them may act on
    // the terminal.
    let out = match a.format {
        OutputFormat::Human => {
            crate::report::render::terminal_safe(&human(&report, &services, &policy.path, &extent))
        }
        OutputFormat::Json => crate::redact::json_escape_hidden(json(&report, &services, &extent)),
    };
    crate::io::write_stdout(out.as_bytes())?;
    Ok(if report.errors() > 0 { FINDINGS } else { 0 })
}
