//! `leafseal exec-env`: run a command with the file's top-level values as environment
//! variables.

use clap::Args;

use crate::cli;
use crate::cli::Cli;
use crate::error::Error;
use crate::exec;
use crate::exec::CommandSpec;
use crate::ops;
use crate::ops::Format;
use crate::ops::OpenOptions;
use crate::ops::Opened;

/// Decryption flags shared by `exec-env` and `exec-file`.
#[derive(Debug, Args, Clone)]
pub struct ExecDecryptArgs {
    /// The encrypted file's format: yaml, json, dotenv, ini, toml or binary (default: from
    /// the extension).
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
    /// Run the command even if the MAC does not match (the file may have been tampered with).
    #[arg(long)]
    pub ignore_mac: bool,
    /// Key types to try first, comma-separated (age, pgp, kms, gcp_kms, azure_kv, hc_vault).
    #[arg(long, env = "SOPS_DECRYPTION_ORDER", value_name = "TYPES")]
    pub decryption_order: Option<String>,
    /// Run the command as this user (a name or uid; leafseal must run as root).
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Use only the value at this path, e.g. '["prod"]' (after merging several files).
    #[arg(long, value_name = "PATH")]
    pub extract: Option<String>,
    /// With several files, let a later file's value replace an earlier file's different
    /// value at the same path (reported on stderr) instead of failing.
    #[arg(long)]
    pub later_wins: bool,
}

/// Splits `FILE... [COMMAND]` (and the words after `--`) into the files and the
/// one-string command: with words after `--` every positional is a file; otherwise the
/// last positional is the command when there are at least two. A last positional before
/// `--` that is no file is taken for a second command (both forms given): exit 1.
pub(super) fn split_args(
    args: &[String],
    argv: &[String],
) -> Result<(Vec<String>, Option<String>), Error> {
    if !argv.is_empty() {
        if let [_, .., last] = args
            && last != "-"
            && !std::path::Path::new(last).exists()
        {
            return Err(Error::new(
                crate::error::exit::GENERIC,
                format!("exactly one command is needed, but `{last}` (not a file) comes before -- PROGRAM"),
            )
            .hint("give the command as one quoted string ('cmd arg') or after -- (-- cmd arg); every word before -- is then a file"));
        }
        return Ok((args.to_vec(), None));
    }
    match args.split_last() {
        Some((cmd, files)) if !files.is_empty() => Ok((files.to_vec(), Some(cmd.clone()))),
        _ => Ok((args.to_vec(), None)),
    }
}

/// Several files opened and merged in order ([`exec::merge`]); one file as it is.
pub(super) struct OpenedFiles {
    /// The first file's format.
    pub format: Format,
    /// The decrypted (merged) document.
    pub doc: ops::Document,
    /// For each file, the master keys that opened it (audit trail).
    pub keys: Vec<Vec<String>>,
}

/// Opens every file ([`open_file`]) and merges them.
pub(super) fn open_files(
    cli: &Cli,
    files: &[String],
    a: &ExecDecryptArgs,
) -> Result<OpenedFiles, Error> {
    let mut docs = Vec::with_capacity(files.len());
    let mut keys = Vec::with_capacity(files.len());
    let mut format = None;
    for f in files {
        let (fmt, opened) = open_file(cli, f, a)?;
        format.get_or_insert(fmt);
        keys.push(opened.unwrapped_by.clone());
        let ops::Opened { doc, .. } = opened;
        docs.push(doc);
    }
    let doc = if docs.len() == 1 {
        docs.pop().unwrap_or_default()
    } else {
        let merged = exec::merge::merge(docs, files, a.later_wins)?;
        for o in &merged.overrides {
            cli::warn(o);
        }
        merged.doc
    };
    Ok(OpenedFiles {
        format: format.unwrap_or(Format::Yaml),
        doc,
        keys,
    })
}

/// Announces the audit events of the files.
pub(super) fn audit_expect(action: &'static str, files: &[String]) -> Result<(), Error> {
    for f in files {
        cli::audit::expect(action, f, &[])?;
    }
    Ok(())
}

/// Records the audit events of the files.
pub(super) fn audit_record(
    action: &'static str,
    files: &[String],
    keys: &[Vec<String>],
) -> Result<(), Error> {
    for (f, k) in files.iter().zip(keys) {
        cli::audit::record(action, f, k)?;
    }
    Ok(())
}

/// Reads, decrypts and MAC-checks `file`; prints the warnings. Returns the input format and
/// the decrypted file.
pub(super) fn open_file(
    cli: &Cli,
    file: &str,
    a: &ExecDecryptArgs,
) -> Result<(Format, Opened), Error> {
    let input = crate::io::read_input(file).map_err(super::missing_unreadable)?;
    let fmt = cli::input_format(a.input_type.as_deref(), file, Some(&input))?;
    let order = match &a.decryption_order {
        Some(s) => super::decryption_order(s)?,
        None => Vec::new(),
    };
    let loaded = ops::load_encrypted(fmt, &input, file)?;
    let opened = ops::open_for_reading(
        loaded,
        &crate::cli::key_context(),
        &OpenOptions {
            ignore_mac: a.ignore_mac,
            order,
            strict_integrity: super::strict_integrity(cli)?,
        },
    )
    .map_err(|e| e.within(file))?;
    for w in &opened.warnings {
        cli::warn(&format!("{file}: {w}"));
    }
    Ok((fmt, opened))
}

/// Arguments of `exec-env`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  leafseal exec-env secrets.yaml 'psql \"$DATABASE_URL\"'   (one string, run by /bin/sh -c)
  sudo leafseal exec-env --user app secrets.yaml -- ./server --port 8080   (no shell)
  leafseal exec-env --extract '[\"prod\"]' common.yaml prod.yaml -- ./server")]
pub struct ExecEnvArgs {
    /// The encrypted file(s), then the command as one string run by /bin/sh -c (like
    /// sops). Or give the program and its arguments after `--` to run it without a shell;
    /// then every word before `--` is a file. Several files are merged in order.
    #[arg(value_name = "FILE... [COMMAND]", required = true)]
    pub args: Vec<String>,
    /// The program and its arguments (after `--`), run without a shell.
    #[arg(last = true, value_name = "PROGRAM [ARGS]")]
    pub argv: Vec<String>,
    /// Give the command only the secrets as its environment, not leafseal's.
    #[arg(long)]
    pub pristine: bool,
    /// Replace leafseal with the command instead of running it as a child.
    #[arg(long)]
    pub same_process: bool,
    /// Start the command and return at once without waiting for it (exit 0), as sops's
    /// deprecated --background.
    #[arg(long, conflicts_with = "same_process")]
    pub background: bool,
    /// Let the file set this variable although it changes which program runs or what it
    /// loads (PATH, LD_PRELOAD, … are refused otherwise; see docs/security.md). Repeat the
    /// flag for each name.
    #[arg(long = "allow-env", value_name = "NAME")]
    pub allow_env: Vec<String>,
    #[command(flatten)]
    pub decrypt: ExecDecryptArgs,
}

/// Runs `exec-env`.
pub fn run(cli: &Cli, a: &ExecEnvArgs) -> Result<i32, Error> {
    let (files, command) = split_args(&a.args, &a.argv)?;
    audit_expect("exec-env", &files)?;
    let spec = CommandSpec::from_args(command, a.argv.clone())?;
    if files.is_empty() {
        return Err(Error::new(crate::error::exit::NO_FILE_SPECIFIED, "no file given")
            .hint("leafseal exec-env FILE [FILE...] 'COMMAND'  or  leafseal exec-env FILE [FILE...] -- PROGRAM ARGS"));
    }
    let account = a
        .decrypt
        .user
        .as_deref()
        .map(exec::user::resolve)
        .transpose()?;
    let opened = open_files(cli, &files, &a.decrypt)?;
    let vars = match &a.decrypt.extract {
        None => exec::env_from_document(&opened.doc)?,
        Some(p) => match ops::extract_map(&opened.doc, p)? {
            ops::Extracted::Map(m) => exec::env_from_document(&m)?,
            ops::Extracted::Other(kind) => {
                return Err(Error::new(
                        crate::error::exit::GENERIC,
                        format!(
                            "--extract {p} is a {kind}, but exec-env needs a map (its keys become the variables)"
                        ),
                    )
                    .hint("extract the map that holds the variables, e.g. --extract '[\"prod\"]'"));
            }
        },
    };
    let keys = opened.keys.clone();
    drop(opened);
    exec::guard::check_names(vars.iter().map(|v| v.name.as_str()), &a.allow_env)?;
    let mut cmd = spec.command()?;
    exec::apply_env(&mut cmd, &vars, a.pristine);
    drop(vars);
    if let Some(acct) = account {
        exec::user::apply(&mut cmd, acct);
    }
    audit_record("exec-env", &files, &keys)?;
    if a.background {
        cmd.spawn().map_err(|e| {
            Error::new(
                crate::error::exit::GENERIC,
                format!("cannot start `{}`: {e}", spec.program()),
            )
        })?;
        return Ok(0);
    }
    if a.same_process {
        return Err(exec::exec_replace(cmd, spec.program()));
    }
    exec::run_child(cmd, spec.program())
}
