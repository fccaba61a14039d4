//! `leafseal exec-file`: run a command that reads the decrypted file from a FIFO (or a
//! short-lived 0600 file) whose path replaces `{}`.

use clap::Args;

use crate::cli;
use crate::cli::Cli;
use crate::cli::exec_env::ExecDecryptArgs;
use crate::cli::exec_env::audit_expect;
use crate::cli::exec_env::audit_record;
use crate::cli::exec_env::open_files;
use crate::cli::exec_env::split_args;
use crate::error::Error;
use crate::error::exit;
use crate::exec;
use crate::exec::CommandSpec;
use crate::exec::Delivery;
use crate::exec::FileOptions;

/// Arguments of `exec-file`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  leafseal exec-file --filename app.json --output-type json secrets.yaml -- ./app --config {}
  leafseal exec-file --extract '[\"tls\"][\"key\"]' secrets.yaml -- nginx -c {}
  leafseal exec-file common.yaml prod.yaml -- ./app --config {}")]
pub struct ExecFileArgs {
    /// The encrypted file(s), then the command as one string run by /bin/sh -c (like
    /// sops); every `{}` becomes the path of the decrypted file. Or give the program and
    /// its arguments after `--` to run it without a shell; then every word before `--` is
    /// a file. Several files are merged in order.
    #[arg(value_name = "FILE... [COMMAND]", required = true)]
    pub args: Vec<String>,
    /// The program and its arguments (after `--`), run without a shell; `{}` is replaced.
    #[arg(last = true, value_name = "PROGRAM [ARGS]")]
    pub argv: Vec<String>,
    /// Use a 0600 regular file (overwritten with zeros and removed afterwards) instead of a
    /// FIFO; needed when the command reads the file more than once or seeks in it.
    #[arg(long)]
    pub no_fifo: bool,
    /// Not supported: the decrypted file must be removed when the command ends, so
    /// leafseal always waits (deprecated in sops too). Use exec-env --background, or run
    /// `leafseal exec-file ... &` in the shell.
    #[arg(long)]
    pub background: bool,
    /// The decrypted file's name inside the private temporary directory (default: tmp-file).
    #[arg(long, value_name = "NAME")]
    pub filename: Option<String>,
    /// Format of the decrypted file (default: the input format).
    #[arg(long, value_name = "TYPE")]
    pub output_type: Option<String>,
    /// Indentation of YAML/JSON output (overrides the policy's stores settings).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub indent: Option<i64>,
    #[command(flatten)]
    pub decrypt: ExecDecryptArgs,
}

/// Runs `exec-file`.
pub fn run(cli: &Cli, a: &ExecFileArgs) -> Result<i32, Error> {
    let (files, command) = split_args(&a.args, &a.argv)?;
    audit_expect("exec-file", &files)?;
    let spec = CommandSpec::from_args(command, a.argv.clone())?;
    if files.is_empty() {
        return Err(Error::new(exit::NO_FILE_SPECIFIED, "no file given")
            .hint("leafseal exec-file FILE [FILE...] 'COMMAND {}'  or  leafseal exec-file FILE [FILE...] -- PROGRAM {}"));
    }
    if a.background {
        return Err(Error::new(
            exit::GENERIC,
            "exec-file does not support --background: the decrypted file is removed when the command ends, so leafseal has to wait for it",
        )
        .hint("run `leafseal exec-file ... &` from the shell instead (sops deprecated --background)"));
    }
    let owner = a
        .decrypt
        .user
        .as_deref()
        .map(exec::user::resolve)
        .transpose()?;
    let opened = open_files(cli, &files, &a.decrypt)?;
    let out_fmt = match a.output_type.as_deref() {
        Some(t) => cli::parse_format(t)?,
        None => opened.format,
    };
    let policy = if a.indent.is_none() {
        cli::load_policy_for_reading(cli.config.as_deref())?
    } else {
        None
    };
    let opts = cli::emit_options(a.indent, policy.as_ref(), out_fmt);
    let plaintext =
        crate::ops::render_plain(&opened.doc, a.decrypt.extract.as_deref(), out_fmt, &opts)?;
    let keys = opened.keys.clone();
    drop(opened);
    audit_record("exec-file", &files, &keys)?;
    run_on_file(
        plaintext,
        &spec,
        a.no_fifo,
        a.filename.as_deref(),
        owner,
        "decrypted",
    )
}

/// Runs the command on `plaintext` delivered as a FIFO (or, with `no_fifo`, a 0600
/// file) in a private directory, after warning when the command has no `{}` to receive
/// its path; `what` names the file in that warning. Shared by `exec-file` and `render`.
pub(crate) fn run_on_file(
    plaintext: zeroize::Zeroizing<Vec<u8>>,
    spec: &CommandSpec,
    no_fifo: bool,
    filename: Option<&str>,
    owner: Option<exec::user::Account>,
    what: &str,
) -> Result<i32, Error> {
    if !spec.has_placeholder() {
        cli::warn(&format!(
            "the command contains no {{}}, so it is not given the {what} file's path"
        ));
    }
    let delivery = if no_fifo {
        Delivery::File
    } else {
        Delivery::Fifo
    };
    exec::run_with_file(
        plaintext,
        spec,
        &FileOptions {
            delivery,
            filename,
            owner,
        },
    )
}
