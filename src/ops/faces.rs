//! Reading and writing files for the faces (`cli/`, `git/`, `integrations/`): bytes in,
//! a parsed encrypted or plaintext tree out, and back to bytes, with the exit codes and
//! hints of each step. The faces hold the values passed here ([`Format`], [`Loaded`],
//! [`EmitOptions`], [`Output`], [`KeyContext`], [`KeyKind`], [`Selector`], a [`Document`]
//! between opening and writing, a [`MetaMap`]) as opaque values; what is
//! inside them belongs to the format and key modules.

use crate::error::Error;
use crate::error::Remedy;
use crate::error::exit;
pub use crate::format::EmitOptions;
pub use crate::format::Format;
use crate::format::FormatError;
pub use crate::format::Loaded;
pub use crate::format::Output;
pub use crate::keys::KeyContext;
pub use crate::keys::KeyKind;
use crate::metadata::Metadata;
pub use crate::tree::Document;
use crate::tree::Item;
use crate::tree::Map;
use crate::tree::Value;

/// A `sops` metadata block as written next to the document (what [`super::reseal`] and
/// [`super::seal_new`] return), passed to [`emit_encrypted`] as it is.
pub type MetaMap = Map;
pub use crate::walk::Selector;

/// The format of a file from its name and content, when no `--input-type` is given: the
/// extension, except that `-` (standard input) is binary and a `.toml` file is read with
/// the TOML store only when it holds a TOML `sops` table (else sops's binary envelope).
pub fn format_for(name: &str, bytes: Option<&[u8]>) -> Format {
    Format::for_input(name, bytes)
}

/// The format of a file stored at `name` in a repository (git drivers, integrations): as
/// [`format_for`], but a name is never standard input.
pub fn format_of_stored(name: &str, bytes: &[u8]) -> Format {
    if name.to_ascii_lowercase().ends_with(".toml") && crate::format::toml::sniff(bytes) {
        return Format::Toml;
    }
    Format::from_path(name)
}

/// Parses a file that must be encrypted (set, unset, rotate, updatekeys, groups, sign,
/// publish…): conflict markers and parse errors as [`super::load_encrypted`], and a file
/// without a `sops` block is "not encrypted" (exit 1).
pub fn read_encrypted(bytes: &[u8], name: &str, format: Format) -> Result<Loaded, Error> {
    let loaded = super::load_encrypted(format, bytes, name)?;
    if loaded.meta.is_none() {
        return Err(Error::new(
            exit::GENERIC,
            format!("{name} is not encrypted (it has no sops metadata)"),
        )
        .remedy(Remedy::NotEncrypted));
    }
    Ok(loaded)
}

/// Parses a file that may or may not be encrypted; a parse error is
/// [`super::read_error`] (exit 2), naming the file.
pub fn read_any(bytes: &[u8], name: &str, format: Format) -> Result<Loaded, Error> {
    format
        .store()
        .load(bytes)
        .map_err(|e| super::read_error(e).within(name))
}

/// What a file is, for callers that accept several kinds (the merge driver, `encrypt
/// --output EXISTING`, walks over directories).
#[derive(Debug)]
pub enum Kind {
    /// Parsed, without a `sops` block.
    Plain(Loaded),
    /// Not parseable in the given format.
    Unparseable(FormatError),
    /// Parsed, with a `sops` block.
    Encrypted(Loaded),
}

/// Parses bytes without judging them: see [`Kind`].
pub fn classify(bytes: &[u8], format: Format) -> Kind {
    match format.store().load(bytes) {
        Ok(l) if l.meta.is_some() => Kind::Encrypted(l),
        Ok(l) => Kind::Plain(l),
        Err(e) => Kind::Unparseable(e),
    }
}

/// Whether bytes parse as a file with a complete `sops` block (a version and a MAC), as
/// `filestatus` reports it. A parse error is [`super::read_error`].
pub fn is_encrypted(bytes: &[u8], name: &str, format: Format) -> Result<bool, Error> {
    let loaded = read_any(bytes, name, format)?;
    Ok(loaded
        .meta
        .and_then(|m| Metadata::from_map(&m).ok())
        .is_some_and(|m| !m.version.is_empty() && !m.mac.is_empty()))
}

/// Maps a parse error of the plaintext given to `encrypt`: exit 2, except for a YAML map
/// key that is not a string (an int, bool or null key), which sops 3.11 only refuses while
/// encrypting the tree (exit 23).
fn plaintext_read_error(e: FormatError) -> Error {
    let non_string_key = e.format == "yaml" && e.message == "non-string key";
    let err = super::read_error(e);
    if non_string_key {
        Error {
            code: exit::ERROR_ENCRYPTING_TREE,
            ..err
        }
    } else {
        err
    }
}

/// Parses a plaintext file to encrypt, with sops's refusals: a file that is already
/// encrypted (exit 203), an empty file (exit 4), YAML with nothing but blank lines or
/// comments (exit 2).
pub fn read_plaintext(bytes: &[u8], name: &str, format: Format) -> Result<Loaded, Error> {
    let loaded = format
        .store()
        .load(bytes)
        .map_err(|e| plaintext_read_error(e).within(name))?;
    if loaded.meta.is_some() {
        return Err(Error::new(exit::FILE_ALREADY_ENCRYPTED, format!("{name} is already encrypted")).hint(
            "use `leafseal rotate` or `leafseal updatekeys` to change its keys, or decrypt it first",
        ));
    }
    if loaded.doc.branches.is_empty() && bytes.is_empty() {
        return Err(Error::new(
            exit::NO_DOCUMENT,
            format!("{name} has no document to encrypt (the file is empty)"),
        ));
    }
    if format == Format::Yaml
        && loaded
            .doc
            .branches
            .iter()
            .all(|b| b.0.iter().all(|i| matches!(i, Item::Comment(_))))
        && (loaded.doc.branches.is_empty() || loaded.doc.branches.iter().any(|b| !b.0.is_empty()))
    {
        return Err(Error::new(
            exit::COULD_NOT_READ_INPUT,
            format!("{name} has no YAML document to encrypt (only blank lines or comments)"),
        )
        .hint("add the values to encrypt, or use `{}` for an empty document"));
    }
    Ok(loaded)
}

/// Writes an encrypted document with its metadata map (exit 7 when the store cannot).
pub fn emit_encrypted(
    format: Format,
    doc: &Document,
    meta: &Map,
    opts: &EmitOptions,
) -> Result<Output, Error> {
    format.store().emit(doc, Some(meta), opts).map_err(|e| {
        Error::new(
            exit::ERROR_DUMPING_TREE,
            format!("cannot write the encrypted file as {}: {e}", format.name()),
        )
    })
}

/// Writes a plaintext document (exit 7 when the store cannot); `shown` is a metadata
/// block to show with it (`edit --show-master-keys`), for reading only.
pub fn emit_plain(
    format: Format,
    doc: &Document,
    shown: Option<&MetaMap>,
    opts: &EmitOptions,
) -> Result<Output, Error> {
    format.store().emit(doc, shown, opts).map_err(|e| {
        Error::new(
            exit::ERROR_DUMPING_TREE,
            format!("cannot write the plaintext as {}: {e}", format.name()),
        )
    })
}

/// Parses the plaintext a user edited (`edit`); errors never contain its text. With
/// `shown_meta` (the metadata shown by `--show-master-keys`) a `sops` entry is expected
/// and dropped; otherwise it is reserved (exit 203). An empty document is exit 4.
pub fn read_edited(
    content: &[u8],
    format: Format,
    name: &str,
    shown_meta: bool,
) -> Result<Document, Error> {
    let loaded = format.store().load(content).map_err(|e| {
        Error::new(
            exit::COULD_NOT_READ_INPUT,
            format!("the edited file is not valid {}: {e}", format.name()),
        )
    })?;
    if loaded.meta.is_some() && !shown_meta {
        return Err(Error::new(
            exit::FILE_ALREADY_ENCRYPTED,
            format!(
                "the edited file has a top-level `sops` entry, which is reserved for {name}'s metadata"
            ),
        )
        .hint("rename or remove that entry"));
    }
    if loaded.doc.branches.is_empty() {
        return Err(Error::new(
            exit::NO_DOCUMENT,
            "the edited file has no document (it is empty)",
        ));
    }
    Ok(loaded.doc)
}

/// The plaintext of a decrypted document, or of the value at `extract` (`decrypt`,
/// `exec-file`): a string or bytes as they are, a map as a document, any other value in
/// the format's scalar form.
pub fn render_plain(
    doc: &Document,
    extract: Option<&str>,
    fmt: Format,
    opts: &EmitOptions,
) -> Result<Output, Error> {
    let dump = |e: crate::format::FormatError| {
        Error::new(
            exit::ERROR_DUMPING_TREE,
            format!("cannot write the decrypted file as {}: {e}", fmt.name()),
        )
    };
    let Some(path) = extract else {
        return fmt.store().emit(doc, None, opts).map_err(dump);
    };
    let path = crate::treepath::parse(path)?;
    Ok(match crate::treepath::get(doc, &path)? {
        Value::Str(s) => zeroize::Zeroizing::new(s.as_bytes().to_vec()),
        Value::Bytes(b) => zeroize::Zeroizing::new(b.to_vec()),
        Value::Map(m) => fmt
            .store()
            .emit(&Document::single(m.clone()), None, opts)
            .map_err(dump)?,
        other => fmt.store().emit_value(other, opts).map_err(dump)?,
    })
}

/// What `--extract PATH` found where a map is needed (`exec-env`, `render`).
#[derive(Debug)]
pub enum Extracted {
    /// The map at the path, as a one-document tree.
    Map(Document),
    /// Something else: its kind (`string`, `list`, …), for the error.
    Other(&'static str),
}

/// The value at a `--extract` path (`["a"]["b"]`), where a map is needed. A path that
/// does not parse or is absent is an error.
pub fn extract_map(doc: &Document, path: &str) -> Result<Extracted, Error> {
    let steps = crate::treepath::parse(path)?;
    Ok(match crate::treepath::get(doc, &steps)? {
        Value::Map(m) => Extracted::Map(Document::single(m.clone())),
        other => Extracted::Other(other.kind_name()),
    })
}

#[cfg(test)]
#[path = "faces_tests.rs"]
mod tests;
