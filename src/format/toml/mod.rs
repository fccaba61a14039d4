//! The TOML store (not in sops; see the spec, section 2.6).
//!
//! sops reads `.toml` files with its binary store, so this store is used only when asked
//! for (`--input-type toml`, a config switch) or when [`sniff`] finds a `[sops]` table in
//! a `.toml` file. The on-disk layout is the one `rops` (used by mise for TOML secrets)
//! writes and reads: leaf values as `"ENC[…]"` strings, comments as `# ENC[…]` comments,
//! and a `[sops]` table at the end with `[[sops.age]]` entries.
//!
//! Mapping (load; emit is the mirror image):
//!
//! | TOML | tree |
//! |---|---|
//! | table, dotted keys, inline table | `Map` (document order; `[a.b]` attaches to `a`) |
//! | array, array of tables | `Seq` (of maps) |
//! | string / integer / float / boolean | `Str` / `Int` / `Float` / `Bool` |
//! | offset date-time | `Time` |
//! | local date-time, local date, local time | `Str` with the original text |
//! | `# comment` | comment marker (before the entry it precedes or ends the line of) |
//!
//! TOML has no null and no byte strings: emitting a tree that holds them is an error.

use crate::format::EmitOptions;
use crate::format::FormatError;
use crate::format::Loaded;
use crate::format::Output;
use crate::format::Store;
use crate::tree::Document;
use crate::tree::Map;
use crate::tree::Value;

mod budget;
mod emit;
mod emit_scalar;
mod parse;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

#[cfg(test)]
mod rops_tests;

const FORMAT: &str = "toml";

/// Nesting limit when loading (toml_edit's parser stops at 80 levels anyway).
const MAX_DEPTH: usize = 256;

/// Nesting limit when emitting: deeper output could not be parsed back.
const EMIT_MAX_DEPTH: usize = 64;

/// The TOML store.
#[derive(Debug, Clone, Copy, Default)]
pub struct TomlStore;

/// Whether `input` is a TOML document with a top-level `sops` table (an encrypted TOML
/// file, as opposed to sops's JSON envelope for binary files, which is not TOML), or a
/// text beyond the TOML structure budget with a `[sops]` header.
pub fn sniff(input: &[u8]) -> bool {
    match parse::parse_document(input) {
        Ok(doc) => matches!(
            doc.as_table().get("sops"),
            Some(toml_edit::Item::Table(_))
                | Some(toml_edit::Item::Value(toml_edit::Value::InlineTable(_)))
        ),
        // Beyond the structure budget: still the TOML store's, so that reading it says why.
        Err(_) => std::str::from_utf8(input).is_ok_and(budget::refused_with_sops_table),
    }
}

impl Store for TomlStore {
    fn name(&self) -> &'static str {
        FORMAT
    }

    fn load(&self, input: &[u8]) -> Result<Loaded, FormatError> {
        parse::load(input)
    }

    fn emit(
        &self,
        doc: &Document,
        meta: Option<&Map>,
        _opts: &EmitOptions,
    ) -> Result<Output, FormatError> {
        emit::emit(doc, meta)
    }

    /// A map is written as a TOML document; any other value as a TOML value followed by
    /// a newline (a string comes out quoted).
    fn emit_value(&self, value: &Value, _opts: &EmitOptions) -> Result<Output, FormatError> {
        emit::emit_value(value)
    }
}
