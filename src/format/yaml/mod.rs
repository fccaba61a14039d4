//! The YAML store: go-yaml v3 compatible reading and writing of sops trees.
//!
//! Reading first tries a line-based fast path (`fast.rs`) for the common block subset
//! and otherwise uses `granit-parser` events; both feed the same tree builder. Reading
//! uses `granit-parser` events (comments, styles, tags, anchors) and builds the
//! tree directly: one branch per document, comments as [`crate::tree::Comment`] markers,
//! aliases expanded by deep copy, plain scalars typed like go-yaml v3. Writing is a
//! block-style emitter that reproduces go-yaml v3's output byte for byte for the trees
//! sops produces (indentation, quoting, literal blocks, comments).

mod breaks;
mod builder;
mod emit;
mod fast;
mod fast_scalar;
mod feet;
mod parse;
mod resolve;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_alias;
#[cfg(test)]
mod tests_fast;
#[cfg(test)]
mod tests_more;
#[cfg(test)]
mod tests_placement;
#[cfg(test)]
mod tests_prop;

use crate::format::json::emit as json_est;

use crate::format::EmitOptions;
use crate::format::FormatError;
use crate::format::Loaded;
use crate::format::Output;
use crate::format::Store;
use crate::metadata::names::FieldNames;
use crate::metadata::names::canonical_in_store;
use crate::tree::Document;
use crate::tree::Map;
use crate::tree::Value;

/// The yaml store.
#[derive(Debug, Clone, Copy, Default)]
pub struct YamlStore;

/// The block indentation the emitter uses under `opts`, or `None` when it refuses them
/// (for the direct streamed decrypt, which checks the layout against it).
pub(crate) fn emit_indent(opts: &EmitOptions) -> Option<usize> {
    indent_of(opts).ok()
}

pub(crate) use emit::inline_string;
pub(crate) use emit::inline_value;
pub(crate) use emit::is_plain_key;
pub(crate) use emit::push_string_line;
pub(crate) use emit::scalar_after;

/// The fast reader's line and scalar helpers and the scalar typing, for the tree-free
/// streaming encrypt (`crate::stream`), which reads the same subset line by line.
pub(crate) mod scan {
    pub(crate) use super::fast_scalar::block_header;
    pub(crate) use super::fast_scalar::chomp_block;
    pub(crate) use super::fast_scalar::is_dash;
    pub(crate) use super::fast_scalar::line_at;
    pub(crate) use super::fast_scalar::plain_key;
    pub(crate) use super::fast_scalar::plain_start_ok;
    pub(crate) use super::fast_scalar::plain_value;
    pub(crate) use super::fast_scalar::quoted;
    pub(crate) use super::fast_scalar::scan_line;
    pub(crate) use super::fast_scalar::spaces;
    pub(crate) use super::feet::end_of_document_feet;
    pub(crate) use super::feet::mid_document_feet;
    pub(crate) use super::resolve::plain_resolves_to_str;
    pub(crate) use super::resolve::resolve_plain;
}

fn indent_of(opts: &EmitOptions) -> Result<usize, FormatError> {
    match opts.indent {
        None => Ok(4),
        Some(i) if i < 0 => Err(FormatError::new(
            "yaml",
            "YAML indentation cannot be negative",
        )),
        Some(i) if !(2..=9).contains(&i) => Ok(2),
        Some(i) => Ok(i as usize),
    }
}

/// Reads `input` with the fast line-based reader only (no byte-order mark handling, no
/// `sops` entry split off): `None` when it is outside the reader's block subset. Used to
/// read a large document in parts (`crate::stream`).
pub fn load_fast(input: &[u8]) -> Option<Vec<Map>> {
    fast::parse(input)
}

/// [`load_fast`] for text of an encrypted file (a part of one, or its metadata): its
/// comments are read where they stand, as on the whole file (no go-yaml foot rule).
pub(crate) fn load_fast_encrypted(input: &[u8]) -> Option<Vec<Map>> {
    fast::parse_with(input, false)
}

impl Store for YamlStore {
    fn name(&self) -> &'static str {
        "yaml"
    }

    fn load(&self, input: &[u8]) -> Result<Loaded, FormatError> {
        let body = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
        let mut branches = match fast::parse(body) {
            Some(b) => b,
            None => {
                let text = std::str::from_utf8(input).map_err(|e| {
                    FormatError::new(
                        "yaml",
                        format!("input is not valid UTF-8 (byte {})", e.valid_up_to()),
                    )
                })?;
                let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
                parse::parse(text)?
            }
        };
        let mut meta = None;
        for (i, b) in branches.iter_mut().enumerate() {
            let m = b.remove("sops");
            if i == 0 {
                meta = match m {
                    None => None,
                    // Field types as go-yaml requires them (names match exactly).
                    Some(Value::Map(m)) => Some(canonical_in_store("yaml", m, FieldNames::Exact)?),
                    Some(_) => {
                        return Err(FormatError::new(
                            "yaml",
                            "the sops metadata must be a mapping",
                        ));
                    }
                };
            }
        }
        Ok(Loaded {
            doc: Document { branches },
            meta,
        })
    }

    fn emit(
        &self,
        doc: &Document,
        meta: Option<&Map>,
        opts: &EmitOptions,
    ) -> Result<Output, FormatError> {
        let n = indent_of(opts)?;
        // A tree read from JSON may repeat a key in a map; written as YAML, that file could
        // not be read back by either tool (round-18 fuzz).
        if let Some(k) = doc.branches.iter().find_map(Map::repeated_key) {
            return Err(FormatError::new(
                "yaml",
                format!(
                    "the key {} appears twice in one map; a YAML map holds each key once (JSON allows a repeat): rename or remove one",
                    serde_json::Value::from(k)
                ),
            ));
        }
        let mut e = emit::Emitter::new(n);
        // Sized once from the JSON writer's estimate (close for block YAML; comments are
        // not counted, so a heavily commented file may grow the buffer once).
        let est = doc
            .branches
            .iter()
            .map(|b| json_est::estimate_items_capped(&b.0, 0, n))
            .chain(meta.map(|m| json_est::estimate_items_capped(&m.0, 1, n)))
            .fold(0usize, usize::saturating_add);
        e.reserve(json_est::with_slack(est));
        let empty = [Map::new()];
        let branches: &[Map] = if doc.branches.is_empty() && meta.is_some() {
            &empty
        } else {
            &doc.branches
        };
        let sops = meta.map(|m| Value::Map(m.clone()));
        for (i, b) in branches.iter().enumerate() {
            e.document(b, sops.as_ref().map(|v| ("sops", v)), i == 0);
        }
        Ok(e.finish())
    }

    fn emit_value(&self, value: &Value, opts: &EmitOptions) -> Result<Output, FormatError> {
        let n = indent_of(opts)?;
        let mut e = emit::Emitter::new(n);
        e.root_value(value);
        Ok(e.finish())
    }
}
