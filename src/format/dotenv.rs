//! The dotenv store (spec 2.3 and 6.4).
//!
//! Reading: the input is split on `\n` only (a `\r` stays in the value); empty lines are
//! skipped; a line starting with `#` is a comment marker holding the rest of the line; any
//! other line must contain `=`: the key is everything before the first `=` (verbatim), the
//! value everything after it with each two-character sequence `\n` turned into a newline.
//! There is no quoting, no `export`, no expansion. Keys starting with `sops_` are the
//! flattened metadata.
//!
//! A byte-order mark is never dropped: as in sops, one at the start of the file is part
//! of the first line (of its key: `\u{FEFF}A=1` has the key `\u{FEFF}A`, under whose
//! path sops encrypts the value). In an encrypted file (one with `sops_` lines) keys are
//! read so, or their values would not decrypt. In a plaintext file a byte-order mark in a
//! key is refused with its line and column: it would be an invisible part of a name a
//! program looks up (`exec-env` would export `\u{FEFF}A`, not `A`).
//!
//! Writing: `#text` for comments, `key=value` for entries (newlines written as `\n`),
//! then the metadata as `sops_<flat key>=<value>` lines.

use crate::secbuf::SecureBuf;
use zeroize::Zeroizing;

use crate::format::EmitOptions;
use crate::format::FormatError;
use crate::format::Loaded;
use crate::format::Output;
use crate::format::Store;
use crate::format::flatten;
use crate::metadata::names;
use crate::tree::Comment;
use crate::tree::Document;
use crate::tree::Item;
use crate::tree::Map;
use crate::tree::Value;

const FORMAT: &str = "dotenv";

/// The prefix of the metadata keys.
pub const SOPS_PREFIX: &str = "sops_";

/// The dotenv store.
#[derive(Debug, Clone, Copy, Default)]
pub struct DotenvStore;

/// Replaces every two-character sequence `\n` with a newline.
fn unescape_newlines(s: &str) -> String {
    s.replace("\\n", "\n")
}

/// Appends `s` with every newline written as the two characters `\n`.
fn push_escaped(out: &mut SecureBuf, s: &[u8]) {
    for &b in s {
        if b == b'\n' {
            out.push(b"\\n");
        } else {
            out.byte(b);
        }
    }
}

/// The bytes a non-container value is written as (strings unescaped).
/// Whether `key` reads back as itself, here and in other dotenv readers: no `=` (the
/// reader splits at the first one), no line break (a CR is one to python-dotenv and
/// Node's), no NUL, and no `#` after leading blanks (a comment). sops writes such keys as they are, which
/// lets a file's key add lines to the output (`X\nLD_PRELOAD=…`).
fn is_writable_key(key: &str) -> bool {
    !key.contains(['=', '\n', '\r', '\0']) && !key.trim_start_matches([' ', '\t']).starts_with('#')
}

fn scalar_bytes(value: &Value) -> Result<Zeroizing<Vec<u8>>, FormatError> {
    match value {
        Value::Bytes(b) => Ok(Zeroizing::new(b.as_slice().to_vec())),
        Value::Map(_) | Value::Seq(_) => Err(FormatError::new(
            FORMAT,
            format!(
                "cannot use a complex value ({}) in a dotenv file: a dotenv file holds \
                 only top-level strings, numbers and booleans (extract a single value, \
                 or write another format)",
                value.kind_name()
            ),
        )),
        other => {
            let s = flatten::render_scalar(other)
                .ok_or_else(|| FormatError::new(FORMAT, "value cannot be rendered"))?;
            Ok(Zeroizing::new(s.as_bytes().to_vec()))
        }
    }
}

impl Store for DotenvStore {
    fn name(&self) -> &'static str {
        "dotenv"
    }

    fn load(&self, input: &[u8]) -> Result<Loaded, FormatError> {
        let mut data = Map::new();
        let mut meta_items: Vec<(String, String)> = Vec::new();
        // The first byte-order mark in a key: refused if the file is not encrypted.
        let mut bom: Option<(usize, usize)> = None;
        for (idx, line) in input.split(|&b| b == b'\n').enumerate() {
            let lineno = idx + 1;
            if line.is_empty() {
                continue;
            }
            let line = std::str::from_utf8(line)
                .map_err(|_| FormatError::at(FORMAT, "invalid UTF-8", lineno, 1))?;
            if let Some(rest) = line.strip_prefix('#') {
                data.push_comment(Comment::line(rest));
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                let why = if line.starts_with('\u{FEFF}') {
                    "invalid dotenv input line: no '=' found (a byte-order mark starts the \
                     line, so it is not a comment); save the file as UTF-8 without \
                     byte-order marks"
                } else {
                    "invalid dotenv input line: no '=' found"
                };
                return Err(FormatError::at(FORMAT, why, lineno, 1));
            };
            if bom.is_none()
                && let Some(at) = key.find('\u{FEFF}')
            {
                bom = Some((lineno, key.get(..at).map_or(0, |k| k.chars().count()) + 1));
            }
            let value = unescape_newlines(value);
            if let Some(meta_key) = key.strip_prefix(SOPS_PREFIX) {
                meta_items.push((meta_key.to_owned(), value));
            } else {
                data.push(key, Value::str(value));
            }
        }
        let meta = if meta_items.is_empty() {
            if let Some((line, col)) = bom {
                return Err(FormatError::at(
                    FORMAT,
                    "a byte-order mark (U+FEFF) in a key (sops would keep it as an \
                     invisible part of the name); save the file as UTF-8 without \
                     byte-order marks",
                    line,
                    col,
                ));
            }
            None
        } else {
            let m = flatten::unflatten(meta_items).map_err(|e| FormatError {
                format: FORMAT,
                ..e
            })?;
            Some(names::canonical_in_store(
                FORMAT,
                m,
                names::FieldNames::GoJsonText,
            )?)
        };
        Ok(Loaded {
            doc: Document::single(data),
            meta,
        })
    }

    fn emit(
        &self,
        doc: &Document,
        meta: Option<&Map>,
        _opts: &EmitOptions,
    ) -> Result<Output, FormatError> {
        let mut out = SecureBuf::with_capacity(1024);
        if doc.branches.len() > 1 {
            return Err(FormatError::new(
                FORMAT,
                "a dotenv file holds exactly one document",
            ));
        }
        if let Some(branch) = doc.branches.first() {
            for item in &branch.0 {
                match item {
                    Item::Comment(c) if c.text.as_str().contains(['\n', '\r']) => {
                        return Err(FormatError::new(
                            FORMAT,
                            "a comment holds a line break, which would start a line of \
                             its own in a dotenv file",
                        ));
                    }
                    Item::Entry(key, _) if !is_writable_key(key) => {
                        return Err(FormatError::new(
                            FORMAT,
                            "a key holds `=`, a line break or NUL, or starts with `#`: a dotenv \
                             file cannot hold it (it would read back as another key, a \
                             comment or another line)",
                        ));
                    }
                    Item::Comment(c) => {
                        out.byte(b'#');
                        out.push(c.text.as_bytes());
                        out.byte(b'\n');
                    }
                    Item::Entry(key, value) => {
                        let text = scalar_bytes(value).map_err(|mut e| {
                            e.message = format!("key `{key}`: {}", e.message);
                            e
                        })?;
                        out.push(key.as_bytes());
                        out.byte(b'=');
                        push_escaped(&mut out, &text);
                        out.byte(b'\n');
                    }
                }
            }
        }
        if let Some(meta) = meta {
            let flat = flatten::flatten(meta).map_err(|e| FormatError {
                format: FORMAT,
                ..e
            })?;
            for (key, value) in flat {
                out.push(SOPS_PREFIX.as_bytes());
                out.push(key.as_bytes());
                out.byte(b'=');
                push_escaped(&mut out, value.as_bytes());
                out.byte(b'\n');
            }
        }
        Ok(out.finish())
    }

    /// One value (`--extract`; sops refuses any but a string): as in the file, except a
    /// timestamp keeps its fractional seconds (the whole-file form drops them, as sops's
    /// does).
    fn emit_value(&self, value: &Value, _opts: &EmitOptions) -> Result<Output, FormatError> {
        if let Value::Time(t) = value {
            return Ok(Zeroizing::new(t.to_rfc3339_nano().into_bytes()));
        }
        scalar_bytes(value)
    }
}

#[cfg(test)]
mod tests;
