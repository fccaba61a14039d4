//! `leafseal doctor`: which key each encrypted file in scope needs, which credential
//! source or identity each key would use, whether it works, and whether this user can
//! decrypt each file.

use std::path::PathBuf;

use clap::Args;
use clap::ValueEnum;

use crate::check::DiskSource;
use crate::check::files;
use crate::cli;
use crate::cli::Cli;
use crate::doctor;
use crate::error::Error;
use crate::error::exit;

/// Output format of `doctor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DoctorFormat {
    /// Text: keys with their source and check, then files with their verdict.
    Human,
    /// One JSON object: policy, keys, files, skipped, undecryptable.
    Json,
}

/// Arguments of `doctor`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  leafseal doctor                        (every encrypted file below the current directory)
  leafseal doctor secrets/prod.yaml
  leafseal doctor --format json | jq '.files[] | select(.decryptable | not) | .path'

Exit status: 0 when this user can decrypt every encrypted file in scope, 128 when at
least one cannot be decrypted (or its metadata cannot be read).")]
pub struct DoctorArgs {
    /// Files or directories (default: git's tracked files below the current directory
    /// when inside a work tree, else every file below it).
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: DoctorFormat,
}

/// Runs `doctor`.
pub fn run(cli: &Cli, a: &DoctorArgs) -> Result<i32, Error> {
    let policy = cli::load_policy(cli.config.as_deref())?;
    let toplevel = files::git_toplevel();
    let targets = cli::check::list_targets(&a.paths, toplevel.as_deref())?;
    let ctx = cli::key_context();
    let report = doctor::run(policy.as_ref(), &targets, &DiskSource, &ctx);
    let text = match a.format {
        DoctorFormat::Human => doctor::render::human(&report),
        DoctorFormat::Json => doctor::render::json(&report),
    };
    crate::io::write_stdout(text.as_bytes())?;
    if report.files.is_empty() && report.skipped.is_empty() {
        cli::warn("no encrypted file found in scope; give files or directories to check");
    }
    Ok(if report.failures() > 0 {
        exit::COULD_NOT_RETRIEVE_KEY
    } else {
        0
    })
}
