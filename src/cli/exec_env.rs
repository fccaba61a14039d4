//! `leafseal exec-env`: run a command with the file's top-level values as environment
//! variables.

use clap::Args;

use crate::cli;
use crate::cli::Cli;
use crate::error::Error;
use crate::exec;
use crate::exec::CommandSpec;
use crate::format::Format;
use crate::ops;
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
}

/// Reads, decrypts and MAC-checks `file`; prints the warnings. Returns the input format and
/// the decrypted file.
pub(super) fn open_file(
    cli: &Cli,
    file: &str,
    a: &ExecDecryptArgs,
) -> Result<(Format, Opened), Error> {
    let input = crate::io::read_input(file)?;
    let fmt = cli::input_format(a.input_type.as_deref(), file, Some(&input))?;
    let order = match &a.decryption_order {
        Some(s) => ops::parse_order(s)?,
        None => Vec::new(),
    };
    let loaded = ops::load_encrypted(fmt, &input, file)?;
    let opened = ops::open_for_reading(
        loaded,
        &crate::cli::key_context(),
        &OpenOptions {
            ignore_mac: a.ignore_mac,
            order,
            strict_integrity: super::strict_integrity(cli),
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
  leafseal exec-env secrets.yaml -- ./server --port 8080     (no shell)
  sudo leafseal exec-env --user app secrets.yaml -- ./server")]
pub struct ExecEnvArgs {
    /// The encrypted file.
    pub file: String,
    /// The command, as one string run by /bin/sh -c (like sops). Or give the program and
    /// its arguments after `--` to run it without a shell.
    #[arg(value_name = "COMMAND")]
    pub command: Option<String>,
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
    cli::audit::expect("exec-env", &a.file, &[])?;
    let spec = CommandSpec::from_args(a.command.clone(), a.argv.clone())?;
    let account = a
        .decrypt
        .user
        .as_deref()
        .map(exec::user::resolve)
        .transpose()?;
    let (_, opened) = open_file(cli, &a.file, &a.decrypt)?;
    let vars = exec::env_from_document(&opened.doc)?;
    let keys = opened.unwrapped_by.clone();
    drop(opened);
    exec::guard::check_names(vars.iter().map(|v| v.name.as_str()), &a.allow_env)?;
    let mut cmd = spec.command()?;
    exec::apply_env(&mut cmd, &vars, a.pristine);
    drop(vars);
    if let Some(acct) = account {
        exec::user::apply(&mut cmd, acct);
    }
    cli::audit::record("exec-env", &a.file, &keys)?;
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
