//! `leafseal filestatus`: whether a file is encrypted, as sops prints it.

use clap::Args;

use crate::cli;
use crate::error::Error;
use crate::error::exit;

/// Arguments of `filestatus`.
#[derive(Debug, Args)]
pub struct FilestatusArgs {
    /// The file.
    pub file: Option<String>,
    /// The file's format (default: from the extension).
    #[arg(long, value_name = "TYPE")]
    input_type: Option<String>,
}

/// Runs `filestatus`: `{"encrypted":true}` needs metadata with a version and a MAC; a
/// file without metadata is `false`. As with sops, a file that cannot be read or parsed is
/// an error (exit 1), a file read as binary that is not JSON too, and a missing argument
/// exits 100.
pub fn run(a: &FilestatusArgs) -> Result<i32, Error> {
    let Some(file) = a.file.as_deref() else {
        return Err(Error::new(exit::NO_FILE_SPECIFIED, "no file specified"));
    };
    let failed = |e: Error| Error {
        code: exit::GENERIC,
        message: format!("cannot check the file status: {}", e.message),
        ..e
    };
    if std::path::Path::new(file).is_dir() {
        return Err(crate::io::directory_error(file));
    }
    let input = crate::io::read_input(file).map_err(failed)?;
    let fmt = cli::input_format(a.input_type.as_deref(), file, Some(&input))?;
    // sops reads a binary file's status from its JSON envelope: anything else (a plain
    // binary file, or YAML read through /dev/stdin, which has no extension) is an error
    // there, not "not encrypted".
    if fmt == crate::ops::Format::Binary
        && serde_json::from_slice::<serde::de::IgnoredAny>(&input).is_err()
    {
        return Err(Error::new(
            exit::GENERIC,
            format!(
                "cannot check the file status: {file} is read as a binary file (its name has \
                 no .yaml, .json, .env or .ini extension), and an encrypted binary file is a \
                 JSON document, which this is not"
            ),
        )
        .hint("pass --input-type yaml, json, dotenv or ini to name the format (needed for /dev/stdin)"));
    }
    let encrypted = crate::ops::is_encrypted(&input, file, fmt).map_err(failed)?;
    crate::io::write_stdout(format!("{{\"encrypted\":{encrypted}}}\n").as_bytes())?;
    Ok(0)
}
