//! `leafseal render TEMPLATE FILE...`: a template filled from encrypted files (see
//! [`crate::exec::template`] for the syntax), written to standard output or handed to a
//! command through a FIFO, as `exec-file` does.

use clap::Args;

use crate::cli::Cli;
use crate::cli::exec_env::ExecDecryptArgs;
use crate::cli::exec_env::audit_expect;
use crate::cli::exec_env::audit_record;
use crate::cli::exec_env::open_files;
use crate::error::Error;
use crate::error::exit;
use crate::exec;
use crate::exec::CommandSpec;
use crate::ops;

/// Arguments of `render`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  leafseal render app.conf.tmpl secrets.yaml > /dev/null   (check that every key exists)
  leafseal render app.conf.tmpl common.yaml prod.yaml -- ./app --config {}
  leafseal render --exec 'nginx -c {}' nginx.conf.tmpl secrets.yaml

Template syntax: {{ [\"db\"][\"password\"] }} inserts a value; {{ PATH | json }} a JSON
literal; {{ PATH | base64 }} its base64; \\{{ a literal {{. A missing key is an error.")]
pub struct RenderArgs {
    /// The template (plain text; `-` for standard input).
    pub template: String,
    /// The encrypted file(s) the values come from, merged in order.
    #[arg(required = true)]
    pub files: Vec<String>,
    /// Hand the result to this command (one string run by /bin/sh -c) through a FIFO whose
    /// path replaces `{}`, instead of writing it to standard output.
    #[arg(long, value_name = "COMMAND", conflicts_with = "argv")]
    pub exec: Option<String>,
    /// The program and its arguments (after `--`), run without a shell; `{}` becomes the
    /// FIFO's path.
    #[arg(last = true, value_name = "PROGRAM [ARGS]")]
    pub argv: Vec<String>,
    /// With a command: use a 0600 regular file (wiped and removed afterwards) instead of a
    /// FIFO.
    #[arg(long)]
    pub no_fifo: bool,
    /// With a command: the file's name inside the private temporary directory.
    #[arg(long, value_name = "NAME")]
    pub filename: Option<String>,
    #[command(flatten)]
    pub decrypt: ExecDecryptArgs,
}

/// Runs `render`.
pub fn run(cli: &Cli, a: &RenderArgs) -> Result<i32, Error> {
    audit_expect("render", &a.files)?;
    let spec = match (&a.exec, a.argv.is_empty()) {
        (None, true) => None,
        (line, _) => Some(CommandSpec::from_args(line.clone(), a.argv.clone())?),
    };
    if spec.is_none() && a.decrypt.user.is_some() {
        return Err(Error::new(
            exit::CONFLICTING_PARAMETERS,
            "--user needs a command (--exec or -- PROGRAM)",
        ));
    }
    let owner = a
        .decrypt
        .user
        .as_deref()
        .map(exec::user::resolve)
        .transpose()?;
    let template = crate::io::read_input(&a.template)?;
    let opened = open_files(cli, &a.files, &a.decrypt)?;
    let source = match &a.decrypt.extract {
        None => opened.doc.clone(),
        Some(p) => match ops::extract_map(&opened.doc, p)? {
            ops::Extracted::Map(m) => m,
            ops::Extracted::Other(kind) => {
                return Err(Error::new(
                    exit::GENERIC,
                    format!("--extract {p} is a {kind}; render needs a map to look paths up in"),
                ));
            }
        },
    };
    let out = exec::template::render(&template, &source).map_err(|e| e.within(&a.template))?;
    drop(source);
    let keys = opened.keys.clone();
    drop(opened);
    audit_record("render", &a.files, &keys)?;
    let Some(spec) = spec else {
        crate::io::write_stdout(&out)?;
        return Ok(0);
    };
    crate::cli::exec_file::run_on_file(
        out,
        &spec,
        a.no_fifo,
        a.filename.as_deref(),
        owner,
        "rendered",
    )
}
