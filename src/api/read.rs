//! Decrypting: [`decrypt_file`], [`decrypt_bytes`] and the [`Secrets`] they return.

use std::path::Path;

use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use super::Keys;
use crate::error::Error;
use crate::error::exit;
use crate::format::EmitOptions;
use crate::format::Format;
use crate::ops;
use crate::tree::Document;
use crate::tree::Value;
use crate::treepath;

/// A decrypted file: the plaintext document, read by key path or into a serde type.
/// Every string in it is wiped from memory when it is dropped.
#[derive(Debug)]
pub struct Secrets {
    doc: Document,
    format: Format,
    warnings: Vec<String>,
}

/// Decrypts a file: the format from its extension (as sops picks it), the keys from
/// `keys`. The MAC and the integrity record are verified before anything is returned.
///
/// ```no_run
/// # fn main() -> Result<(), leafseal::Error> {
/// let secrets = leafseal::api::decrypt_file("secrets.yaml", &leafseal::api::Keys::from_env())?;
/// let password = secrets.get_str(r#"["db"]["password"]"#)?;
/// # let _ = password;
/// # Ok(())
/// # }
/// ```
pub fn decrypt_file(path: impl AsRef<Path>, keys: &Keys) -> Result<Secrets, Error> {
    let name = path.as_ref().display().to_string();
    let bytes = crate::io::read_input(&name)?;
    let format = Format::for_input(&name, Some(&bytes));
    decrypt_bytes(&bytes, format, keys).map_err(|e| e.within(&name))
}

/// Decrypts the bytes of an encrypted file written in `format`.
pub fn decrypt_bytes(data: &[u8], format: Format, keys: &Keys) -> Result<Secrets, Error> {
    let loaded = format
        .store()
        .load(data)
        .map_err(ops::encrypted_read_error)?;
    if loaded.meta.is_none() {
        return Err(Error::new(
            exit::GENERIC,
            "the data is not encrypted (it has no sops metadata)",
        )
        .hint("check the format, or encrypt it first"));
    }
    let opened = ops::open_for_reading(loaded, &keys.ctx, &keys.open)?;
    Ok(Secrets {
        doc: opened.doc,
        format,
        warnings: opened.warnings,
    })
}

impl Secrets {
    /// The value at a key path: `["db"]["password"]`, `["list"][0]` (the syntax of
    /// `leafseal decrypt --extract`).
    pub fn get(&self, path: &str) -> Result<&Value, Error> {
        let steps = treepath::parse(path)?;
        treepath::get(&self.doc, &steps)
    }

    /// The string at a key path; an error if the value there is not a string.
    pub fn get_str(&self, path: &str) -> Result<&str, Error> {
        match self.get(path)? {
            Value::Str(s) => Ok(s.as_str()),
            _ => Err(Error::new(
                exit::INVALID_TREE_PATH,
                format!("the value at {path} is not a string"),
            )),
        }
    }

    /// The whole document (or its first one, for multi-document YAML) as a serde type.
    /// The intermediate JSON text is wiped after use.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let json = self.to_bytes(Format::Json)?;
        serde_json::from_slice(&json).map_err(|e| {
            Error::new(
                exit::GENERIC,
                format!(
                    "the decrypted document does not fit the requested type (line {}, column {}): {}",
                    e.line(),
                    e.column(),
                    e.classify_name()
                ),
            )
        })
    }

    /// The plaintext in a format (the original one for a faithful copy), as the command
    /// line's `decrypt` writes it. The buffer is wiped when dropped.
    pub fn to_bytes(&self, format: Format) -> Result<Zeroizing<Vec<u8>>, Error> {
        format
            .store()
            .emit(&self.doc, None, &EmitOptions::default())
            .map_err(|e| {
                Error::new(
                    exit::ERROR_DUMPING_TREE,
                    format!(
                        "cannot write the decrypted document as {}: {e}",
                        format.name()
                    ),
                )
            })
    }

    /// The format the file was read in.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The plaintext document.
    pub fn document(&self) -> &Document {
        &self.doc
    }

    /// Notes about the file that are not errors (e.g. a missing integrity record on a file
    /// sops wrote). Never a value.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

/// serde_json's error category, without the offending text.
trait Classify {
    fn classify_name(&self) -> &'static str;
}

impl Classify for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "read error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "a value has the wrong type or a field is missing",
            serde_json::error::Category::Eof => "unexpected end",
        }
    }
}
