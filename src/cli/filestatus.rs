//! `leafseal filestatus`: whether a file is encrypted, as sops prints it.

use clap::Args;

use crate::cli;
use crate::error::Error;

/// Arguments of `filestatus`.
#[derive(Debug, Args)]
pub struct FilestatusArgs {
    /// The file.
    pub file: String,
    /// The file's format (default: from the extension).
    #[arg(long, value_name = "TYPE")]
    input_type: Option<String>,
}

/// Runs `filestatus`: `{"encrypted":true}` needs metadata with a version and a MAC.
pub fn run(a: &FilestatusArgs) -> Result<i32, Error> {
    let input = crate::io::read_input(&a.file)?;
    let fmt = cli::input_format(a.input_type.as_deref(), &a.file, Some(&input))?;
    let encrypted = fmt
        .store()
        .load(&input)
        .ok()
        .and_then(|l| l.meta)
        .and_then(|m| crate::metadata::Metadata::from_map(&m).ok())
        .is_some_and(|m| !m.version.is_empty() && !m.mac.is_empty());
    crate::io::write_stdout(format!("{{\"encrypted\":{encrypted}}}\n").as_bytes())?;
    Ok(0)
}
