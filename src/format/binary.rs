//! The binary store (spec 2.5): any file as one `data` value.
//!
//! A plaintext file becomes a document with the single entry `data` holding the file's
//! bytes exactly (a string when they are UTF-8, else bytes). An encrypted file is a JSON
//! envelope `{"data": "ENC[…]", "sops": {…}}`, read and written by the JSON store. Input
//! that is a JSON object with a `sops` object member and either a `data` member or a
//! `mac` in its metadata is taken as an envelope; anything else is plaintext. Decrypted
//! output is exactly the bytes of `data`.
//!
//! An envelope may hold any tree: `encrypt --output-type binary` of a YAML or JSON file
//! writes that tree in the JSON envelope (as sops does), and sops reads it back with
//! `decrypt --output-type yaml` (a `mac` is in every file sops or leafseal encrypts).

use crate::format::EmitOptions;
use crate::format::FormatError;
use crate::format::Loaded;
use crate::format::Output;
use crate::format::Store;
use crate::format::json::JsonStore;
use crate::tree::Bytes;
use crate::tree::Document;
use crate::tree::Item;
use crate::tree::Map;
use crate::tree::Text;
use crate::tree::Value;

/// The one key of a binary document.
const DATA_KEY: &str = "data";

/// The binary store.
#[derive(Debug, Clone, Copy, Default)]
pub struct BinaryStore;

/// Whether the input starts (after JSON whitespace) with `{`: only then can it be an
/// envelope, so other files skip the JSON parse.
fn may_be_envelope(input: &[u8]) -> bool {
    input
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .is_some_and(|&b| b == b'{')
}

impl Store for BinaryStore {
    fn name(&self) -> &'static str {
        "binary"
    }

    fn load(&self, input: &[u8]) -> Result<Loaded, FormatError> {
        if may_be_envelope(input)
            && let Ok(loaded) = JsonStore::load_json(input)
            && let Some(meta) = &loaded.meta
            && (meta.get("mac").is_some()
                || loaded
                    .doc
                    .branches
                    .first()
                    .is_some_and(|b| b.get(DATA_KEY).is_some()))
        {
            return Ok(loaded);
        }
        let value = match std::str::from_utf8(input) {
            Ok(s) => Value::Str(Text::from(s)),
            Err(_) => Value::Bytes(Bytes::new(input.to_vec())),
        };
        let mut map = Map::new();
        map.push(DATA_KEY, value);
        Ok(Loaded {
            doc: Document::single(map),
            meta: None,
        })
    }

    fn emit(
        &self,
        doc: &Document,
        meta: Option<&Map>,
        opts: &EmitOptions,
    ) -> Result<Output, FormatError> {
        if meta.is_some() {
            return JsonStore.emit(doc, meta, opts).map_err(|e| FormatError {
                format: "binary",
                ..e
            });
        }
        let [branch] = doc.branches.as_slice() else {
            return Err(FormatError::new(
                "binary",
                "error emitting binary store: there must be exactly one tree branch",
            ));
        };
        let data = branch.0.iter().find_map(|i| match i {
            Item::Entry(k, v) if k == DATA_KEY => Some(v),
            _ => None,
        });
        match data {
            Some(Value::Str(s)) => Ok(Output::new(s.as_bytes().to_vec())),
            Some(Value::Bytes(b)) => Ok(Output::new(b.to_vec())),
            Some(other) => Err(FormatError::new(
                "binary",
                format!(
                    "error emitting binary store: 'data' holds a {}, not a string",
                    other.kind_name()
                ),
            )),
            None => Err(FormatError::new(
                "binary",
                "error emitting binary store: no binary data found in tree",
            )),
        }
    }

    fn emit_value(&self, _value: &Value, _opts: &EmitOptions) -> Result<Output, FormatError> {
        Err(FormatError::new(
            "binary",
            "binary files are not structured: extracting a single value (--extract) is not \
             supported",
        ))
    }
}

#[cfg(test)]
mod tests;
