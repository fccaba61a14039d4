//! The JSON store (spec 2.2).
//!
//! Reading: strict JSON whose top level is an object; member order and duplicate members
//! are kept; integers that fit an `i64` become ints, every other number a float when the
//! float holds it exactly (otherwise an error with its path); invalid UTF-8 and nesting
//! beyond [`crate::format::MAX_DEPTH`] are errors; the top-level `sops` member is split
//! off as the metadata. Writing: Go `encoding/json`
//! string and number encoding re-indented like `json.Indent` (TAB by default), the `sops`
//! object as the last member, and a final newline.

use crate::format::EmitOptions;
use crate::format::FormatError;
use crate::format::Loaded;
use crate::format::Output;
use crate::format::Store;
use crate::metadata::names::FieldNames;
use crate::metadata::names::canonical_in_store;
use crate::metadata::names::names_the_metadata;
use crate::metadata::names::overwritten_by_block;
use crate::metadata::names::shadows_metadata;
use crate::tree::Document;
use crate::tree::Item;
use crate::tree::Map;
use crate::tree::Value;

pub mod emit;
mod number;
pub(crate) use number::number_end;
pub(crate) use number::number_value;
pub mod parse;
mod parse_par;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_fixtures;
#[cfg(test)]
mod tests_par;

/// The key of the metadata member.
const SOPS_KEY: &str = "sops";

/// The json store.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonStore;

impl JsonStore {
    /// Parses JSON text into a document and the `sops` metadata, if any.
    ///
    /// As sops 3.11 reads it: the metadata is the exact `sops` member, removed from the
    /// data; failing that, a member that names it in another case (`SOPS`) and looks
    /// like metadata ([`shadows_metadata`]) is read as the metadata and, as sops leaves
    /// it, stays in the data too. A second member that would change the metadata sops
    /// reads is refused (duplicate metadata, exit 1).
    pub fn load_json(input: &[u8]) -> Result<Loaded, FormatError> {
        let mut map = parse::parse_top_object(input)?;
        let members = map
            .0
            .iter()
            .filter(|i| matches!(i, Item::Entry(k, _) if k == SOPS_KEY))
            .count();
        if members > 1 {
            return Err(duplicate_metadata(format!(
                "the file has {members} '{SOPS_KEY}' members"
            )));
        }
        let other_case: Vec<String> = map
            .entries()
            .filter(|(k, v)| *k != SOPS_KEY && names_the_metadata(k) && shadows_metadata(v))
            .map(|(k, _)| k.to_owned())
            .collect();
        // A `null` member naming the metadata after the block empties what sops's decoder
        // read (Go sets the block's pointer to nil): sops finds no metadata.
        if members == 1 {
            let block_at = position(&map, SOPS_KEY);
            if let Some(k) = map.0.iter().enumerate().find_map(|(i, item)| match item {
                Item::Entry(k, Value::Null)
                    if i > block_at && k != SOPS_KEY && names_the_metadata(k) =>
                {
                    Some(k)
                }
                _ => None,
            }) {
                return Err(FormatError::new(
                    "json",
                    format!(
                        "the member '{}' after the '{SOPS_KEY}' metadata is null, which sops's \
                         reader takes as no metadata at all (sops refuses the file too)",
                        crate::redact::display_id(k)
                    ),
                ));
            }
        }
        // A member written before the `sops` block whose fields the block all overwrites
        // is data only, as sops reads it (checked once the block is read, below).
        let before_block = match other_case.as_slice() {
            [one] if members == 1 => position(&map, one) < position(&map, SOPS_KEY),
            _ => false,
        };
        if members + other_case.len() > 1 && !before_block {
            let (first, other) = match other_case.as_slice() {
                [one] => (SOPS_KEY, one.as_str()),
                [one, two, ..] => (one.as_str(), two.as_str()),
                [] => (SOPS_KEY, SOPS_KEY),
            };
            return Err(duplicate_metadata(format!(
                "the members '{}' and '{}' both name it for sops's reader, which merges them",
                crate::redact::display_id(first),
                crate::redact::display_id(other)
            )));
        }
        let meta = match (members, other_case.first()) {
            (1, _) => map.remove(SOPS_KEY),
            (_, Some(other)) => map.get(other).cloned(),
            _ => None,
        };
        let meta = match meta {
            Some(Value::Map(m)) => {
                if let Some(k) = duplicate_key(&m) {
                    return Err(duplicate_metadata(format!(
                        "the key '{k}' appears twice in one object of the '{SOPS_KEY}' metadata"
                    )));
                }
                let block = canonical_in_store("json", m, FieldNames::GoJson)?;
                if before_block
                    && !other_case
                        .iter()
                        .all(|k| map.get(k).is_some_and(|v| overwritten_by_block(v, &block)))
                {
                    return Err(duplicate_metadata(format!(
                        "the members '{SOPS_KEY}' and '{}' both name it for sops's reader, \
                         which merges them",
                        crate::redact::display_id(other_case.first().map_or("", String::as_str))
                    )));
                }
                Some(block)
            }
            Some(other) => {
                return Err(FormatError::new(
                    "json",
                    format!(
                        "the 'sops' metadata must be an object, found a {}",
                        other.kind_name()
                    ),
                ));
            }
            None => None,
        };
        Ok(Loaded {
            doc: Document::single(map),
            meta,
        })
    }
}

/// Whether the data's root holds a member that names the metadata in another case and
/// would change it for sops's reader ([`shadows_metadata`]) although the `sops` block,
/// written after the data, follows it ([`overwritten_by_block`]).
fn metadata_named_in_data(root: &Map, block: &Map) -> bool {
    root.entries().any(|(k, v)| {
        k != SOPS_KEY
            && names_the_metadata(k)
            && shadows_metadata(v)
            && !overwritten_by_block(v, block)
    })
}

/// Where the root member `key` is among the root's items (`usize::MAX` when absent).
fn position(root: &Map, key: &str) -> usize {
    root.0
        .iter()
        .position(|i| matches!(i, Item::Entry(k, _) if k == key))
        .unwrap_or(usize::MAX)
}

/// Metadata that says two things: refused, as YAML (a duplicate key), INI (a second
/// `[sops]` section) and dotenv do (sops 3.11 stops on a second `sops` member too), rather
/// than read the first and ignore the rest.
fn duplicate_metadata(what: String) -> FormatError {
    FormatError::new(
        "json",
        format!(
            "duplicate metadata: {what}, so which keys and MAC apply is ambiguous; the file \
             was changed outside leafseal/sops: restore it from version control"
        ),
    )
}

/// The first key that appears twice in one object of `m`, at any depth (the streaming
/// decrypt leaves such metadata to the tree path, which refuses it).
pub(crate) fn duplicate_key(m: &Map) -> Option<&str> {
    let mut seen = std::collections::HashSet::new();
    for item in &m.0 {
        let Item::Entry(k, v) = item else { continue };
        if !seen.insert(k.as_str()) {
            return Some(k);
        }
        if let Some(d) = duplicate_in(v) {
            return Some(d);
        }
    }
    None
}

fn duplicate_in(v: &Value) -> Option<&str> {
    match v {
        Value::Map(m) => duplicate_key(m),
        Value::Seq(items) => items.iter().find_map(|i| match i {
            crate::tree::SeqItem::Value(v) => duplicate_in(v),
            crate::tree::SeqItem::Comment(_) => None,
        }),
        _ => None,
    }
}

/// Parses a whole JSON object on the calling thread only (the streaming decrypt reads
/// its parts with it, each on its own worker).
pub(crate) fn parse_object_one_thread(input: &[u8]) -> Result<Map, FormatError> {
    parse::parse_sequential(input)
}

impl Store for JsonStore {
    fn name(&self) -> &'static str {
        "json"
    }

    fn load(&self, input: &[u8]) -> Result<Loaded, FormatError> {
        JsonStore::load_json(input)
    }

    fn emit(
        &self,
        doc: &Document,
        meta: Option<&Map>,
        opts: &EmitOptions,
    ) -> Result<Output, FormatError> {
        let unit = emit::indent_unit(opts)?;
        match doc.branches.as_slice() {
            [branch] if meta.is_some_and(|m| metadata_named_in_data(branch, m)) => {
                Err(FormatError::new(
                    "json",
                    "a top-level key of the data names the sops metadata in another case (such \
                 as `SOPS`) and holds metadata fields: sops's reader would merge it into the \
                 `sops` block, so leafseal does not write the file; rename that key",
                ))
            }
            [branch] => emit::emit_top(branch, meta, &unit),
            _ => Err(FormatError::new(
                "json",
                format!(
                    "a JSON file holds exactly one document, this one has {}",
                    doc.branches.len()
                ),
            )),
        }
    }

    fn emit_value(&self, value: &Value, opts: &EmitOptions) -> Result<Output, FormatError> {
        let unit = emit::indent_unit(opts)?;
        emit::emit_single(value, &unit)
    }
}
