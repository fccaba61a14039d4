//! `leafseal access`: who can open which encrypted file, from the metadata, `.sops.yaml`
//! and git (no private key needed).

use std::path::PathBuf;

use clap::Args;
use clap::ValueEnum;

use crate::check::DiskSource;
use crate::check::files;
use crate::cli;
use crate::cli::Cli;
use crate::error::Error;
use crate::report;
use crate::report::AccessOptions;

/// Output format of `access`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AccessFormat {
    /// Text: files with their key groups, then recipients with their files.
    Human,
    /// One JSON object: files, recipients, skipped.
    Json,
    /// One self-contained HTML page with a sortable recipients-by-files matrix.
    Html,
}

/// Arguments of `access`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  leafseal access                                   (every tracked encrypted file)
  leafseal access secrets/ --format json | jq '.recipients[] | {id, files: [.files[].path]}'
  leafseal access --format html -o access.html      (open access.html in a browser)")]
pub struct AccessArgs {
    /// Files or directories (default: git's tracked files below the current directory
    /// when inside a work tree, else every file below it).
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: AccessFormat,
    /// Write the report to this file (atomically) instead of standard output.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Do not ask git for the last rotation of each data key (faster on long histories).
    #[arg(long)]
    pub no_git: bool,
}

/// Runs `access`.
pub fn run(cli: &Cli, a: &AccessArgs) -> Result<i32, Error> {
    let policy = cli::load_policy(cli.config.as_deref())?;
    let toplevel = files::git_toplevel();
    let targets = cli::check::list_targets(&a.paths, toplevel.as_deref())?;
    let opts = AccessOptions {
        git: !a.no_git && toplevel.is_some(),
    };
    let access = report::collect(policy.as_ref(), &targets, &DiskSource, opts);
    let text = match a.format {
        AccessFormat::Human => report::render::human(&access),
        AccessFormat::Json => report::render::json(&access),
        AccessFormat::Html => report::html::page(&access, "leafseal access report"),
    };
    match &a.output {
        Some(p) => cli::output(cli, p)?.write(text.as_bytes())?,
        None => crate::io::write_stdout(text.as_bytes())?,
    }
    for k in &access.skipped {
        cli::warn(&format!("{}: skipped: {}", k.path, k.reason));
    }
    Ok(0)
}
