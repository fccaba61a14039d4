//! `leafseal git setup|textconv|merge-driver`: the git diff and merge drivers.

use std::path::Path;
use std::path::PathBuf;

use clap::Args;
use clap::Subcommand;

use crate::cli;
use crate::cli::Cli;
use crate::error::Error;
use crate::error::exit;
use crate::git;
use crate::git::merge::Outcome;
use crate::ops::EmitOptions;
use crate::policy::Policy;

/// Arguments of `git`.
#[derive(Debug, Args)]
pub struct GitArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: GitCommand,
}

/// The `git` subcommands.
#[derive(Debug, Subcommand)]
pub enum GitCommand {
    /// Configure this repository: local git config for the drivers and `.gitattributes`
    /// lines derived from the .sops.yaml creation rules (idempotent).
    #[command(after_help = "Examples:\n  leafseal git setup\n  git diff secrets.yaml")]
    Setup(SetupArgs),
    /// Diff driver (textconv): print FILE decrypted, or unchanged if it cannot be
    /// decrypted. Never prompts, always exits 0.
    #[command(
        after_help = "Examples:\n  git config diff.leafseal.textconv 'leafseal git textconv'\n  leafseal git textconv secrets.yaml"
    )]
    Textconv(TextconvArgs),
    /// Merge driver: `%O %A %B %P`. Merges by key path in memory and writes %A encrypted;
    /// exits 1 on a conflict, leaving %A untouched.
    #[command(
        after_help = "Examples:\n  git config merge.leafseal.driver 'leafseal git merge-driver %O %A %B %P'\n  leafseal git setup   (configures both drivers)"
    )]
    MergeDriver(MergeDriverArgs),
}

/// Arguments of `git setup`.
#[derive(Debug, Args)]
pub struct SetupArgs {
    /// A gitattributes pattern for encrypted files (repeatable), in addition to those
    /// derived from the creation rules.
    #[arg(long = "pattern", value_name = "GLOB")]
    pub patterns: Vec<String>,
    /// The leafseal binary git should run (default: this one).
    #[arg(long, value_name = "PATH")]
    pub program: Option<PathBuf>,
}

/// Arguments of `git textconv`.
#[derive(Debug, Args)]
pub struct TextconvArgs {
    /// The file git passes (a temporary copy that keeps the extension).
    pub file: PathBuf,
    /// Show Kubernetes Secrets' `data` values base64-decoded (the `leafseal-k8s` diff
    /// driver; also on when .sops.yaml sets `leafseal: {k8s_decode: true}`).
    #[arg(long)]
    pub k8s_decode: bool,
}

/// Arguments of `git merge-driver`.
#[derive(Debug, Args)]
pub struct MergeDriverArgs {
    /// %O: the merge base version (empty when the file did not exist there).
    pub base: PathBuf,
    /// %A: ours; replaced by the merged result.
    pub ours: PathBuf,
    /// %B: theirs.
    pub theirs: PathBuf,
    /// %P: the path of the file in the repository (picks the format).
    pub path: String,
}

/// Runs `git …`.
pub fn run(cli: &Cli, a: &GitArgs) -> Result<i32, Error> {
    match &a.command {
        GitCommand::Setup(s) => setup(cli, s),
        GitCommand::Textconv(t) => Ok(textconv(cli, t)),
        GitCommand::MergeDriver(m) => Ok(merge_driver(cli, m)),
    }
}

fn setup(cli: &Cli, a: &SetupArgs) -> Result<i32, Error> {
    let program = match &a.program {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .and_then(std::fs::canonicalize)
            .map_err(|e| {
                Error::new(
                    exit::GENERIC,
                    format!("cannot find the path of this program: {e}"),
                )
                .hint("pass --program /path/to/leafseal")
            })?,
    };
    let program = program.to_str().ok_or_else(|| {
        Error::new(exit::GENERIC, "the program path is not valid UTF-8")
            .hint("pass --program with a UTF-8 path")
    })?;
    let cwd = std::env::current_dir()
        .map_err(|e| Error::new(exit::GENERIC, format!("no current directory: {e}")))?;
    let policy = cli::load_policy(cli.config.as_deref())?;
    let opts = cli.write_options();
    let r = git::setup::setup(&cwd, program, policy.as_ref(), &a.patterns, &opts, &|| {
        say!("leafseal: waiting for another leafseal process that is changing .gitattributes");
    })?;
    for w in &r.warnings {
        cli::warn(w);
    }
    let mut out = String::new();
    if r.config_changed.is_empty() {
        out.push_str("git config: already set up\n");
    }
    for k in &r.config_changed {
        out.push_str(&format!("git config: set {k}\n"));
    }
    for p in &r.patterns_added {
        out.push_str(&format!(
            ".gitattributes: added {p} {}\n",
            git::setup::ATTRIBUTES
        ));
    }
    for p in &r.patterns_present {
        out.push_str(&format!(".gitattributes: already has {p}\n"));
    }
    if r.patterns_added.is_empty() && r.patterns_present.is_empty() {
        out.push_str(".gitattributes: no patterns (see the warnings; use --pattern GLOB)\n");
    }
    crate::io::write_stdout(out.as_bytes())?;
    Ok(0)
}

fn textconv(cli: &Cli, a: &TextconvArgs) -> i32 {
    let name = a.file.to_string_lossy().into_owned();
    let shown = a
        .file
        .file_name()
        .map_or_else(|| name.clone(), |n| n.to_string_lossy().into_owned());
    crate::process::note_input(std::fs::metadata(&a.file).ok().as_ref());
    let bytes = match crate::io::read_path(&a.file) {
        Ok(b) => b,
        Err(e) => {
            cli::warn(&format!("textconv: cannot read {shown}: {e}"));
            return 0;
        }
    };
    let ctx = crate::cli::key_context();
    let k8s = a.k8s_decode
        || quiet_policy(cli.config.as_deref()).and_then(|p| p.k8s_decode) == Some(true);
    let strict = strict_for(cli, &a.file);
    let r = git::diff::textconv(&bytes, &name, &ctx, &EmitOptions::default(), k8s, strict);
    if let Some(w) = &r.warning {
        cli::warn(&format!("textconv: {shown}: {w}"));
    }
    if let Err(e) = crate::io::write_stdout(&r.output) {
        cli::report(&e);
    }
    0
}

/// The policy, if one is found and valid, without printing its warnings (but with the
/// notice for a policy found outside the git work tree, as every command gives).
fn quiet_policy(explicit: Option<&Path>) -> Option<Policy> {
    let path = match explicit {
        Some(p) => p.to_owned(),
        None => cli::found_policy()?,
    };
    Policy::load(&path).ok()
}

/// Whether strict integrity applies to the file at `path` (relative to the top of the
/// work tree, git's working directory for the drivers): the flag or variable, the policy
/// the command would read, or `strict_integrity` in the nearest `.sops.yaml` above the
/// file, in the work tree or in ours' commit (`HEAD`). A policy in a subdirectory governs
/// its files (round-18 review: only the top one was read), and a merge that brings a
/// policy without the setting into the work tree cannot switch it off for its own files.
fn strict_for(cli: &Cli, path: &Path) -> bool {
    // A policy that cannot be read counts as strict: it cannot switch the check off.
    if cli::strict_integrity(cli).unwrap_or(true) {
        return true;
    }
    let dir = path.parent().unwrap_or(Path::new(""));
    let here = std::env::current_dir().unwrap_or_default().join(dir);
    let found = crate::policy::search::search(&here).found;
    if found.is_some_and(|f| Policy::load_for_reading(&f).map_or(true, |p| p.strict_integrity)) {
        return true;
    }
    if path.is_absolute() {
        return false;
    }
    dir.ancestors()
        .find_map(|d| {
            let rel = d.join(crate::policy::FILE_NAME);
            let spec = format!("HEAD:{}", rel.to_string_lossy());
            let text = git::git(Path::new("."), &["show", &spec]).ok()?;
            Some(
                Policy::parse_for_reading(text.as_bytes(), &rel)
                    .map_or(true, |p| p.strict_integrity),
            )
        })
        .unwrap_or(false)
}

/// A path git passed (`%P`, from the repository, so possibly hostile) as shown in a
/// message and in a command to copy: control characters become `?` (no terminal escapes
/// or fake lines), and a path with anything but plain characters is single-quoted for
/// the shell.
fn shown_path(p: &str) -> String {
    git::shell_quote(&crate::redact::inert(p))
}

fn merge_driver(cli: &Cli, a: &MergeDriverArgs) -> i32 {
    let shown = shown_path(&a.path);
    let fail = |msg: String| {
        say!(
            "leafseal: merge conflict in {shown}: {msg}\n  hint: the file keeps our encrypted version; nothing was decrypted to disk"
        );
        1
    };
    let read = |p: &Path| {
        crate::process::note_input(std::fs::metadata(p).ok().as_ref());
        crate::io::read_path(p)
    };
    let (base, ours, theirs) = match (read(&a.base), read(&a.ours), read(&a.theirs)) {
        (Ok(b), Ok(o), Ok(t)) => (b, o, t),
        (b, o, t) => {
            let e = [b.err(), o.err(), t.err()].into_iter().flatten().next();
            return fail(format!(
                "cannot read a version git passed: {}",
                e.map(|e| e.to_string()).unwrap_or_default()
            ));
        }
    };
    let fmt = git::diff::format_for(&a.path, &ours);
    let opts = cli::emit_options(None, quiet_policy(cli.config.as_deref()).as_ref(), fmt);
    let ctx = crate::cli::key_context();
    let strict = strict_for(cli, Path::new(&a.path));
    match git::merge::merge(&base, &ours, &theirs, &a.path, &ctx, &opts, strict) {
        Outcome::Merged(bytes, warnings) => {
            for w in &warnings {
                cli::warn(&format!("{shown}: {w}"));
            }
            match crate::io::Destination::open(&a.ours, &cli.write_options())
                .and_then(|d| d.write(&bytes))
            {
                Ok(()) => 0,
                Err(e) => fail(e.message),
            }
        }
        Outcome::NotEncrypted => text_merge(a),
        Outcome::Conflict(report) => {
            say_inline!(
                "leafseal: merge conflict in {shown} (the file keeps our encrypted version; no plaintext was written):\n{report}"
            );
            say!(
                "  hint: resolve with `leafseal edit {shown}` (ours is in the work tree); see theirs with `git show MERGE_HEAD:{shown} | leafseal decrypt --filename-override {shown}`, then `git add {shown}`"
            );
            1
        }
    }
}

/// git's own text merge for a file that is not encrypted in any version.
fn text_merge(a: &MergeDriverArgs) -> i32 {
    let status = crate::process::git()
        .args(["merge-file", "-L", "ours", "-L", "base", "-L", "theirs"])
        .arg(&a.ours)
        .arg(&a.base)
        .arg(&a.theirs)
        .status();
    match status {
        Ok(s) if s.success() => 0,
        Ok(_) => 1,
        Err(e) => {
            cli::warn(&format!("cannot run git merge-file: {e}"));
            1
        }
    }
}
