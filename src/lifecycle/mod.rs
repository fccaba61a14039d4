//! Changing encrypted files: `set`/`unset` and re-encryption with minimal diffs, `rotate`,
//! `updatekeys` and key groups (spec 7.1, 7.2, 10, 10.1). No printing here.
//!
//! The minimal-diff contract: a value whose path and plaintext did not change keeps its
//! exact ciphertext (its nonce comes from the stash filled when the file was opened);
//! `lastmodified` and the MAC change only when the plaintext document changed; re-keying
//! the file's recipients (`updatekeys`, `groups`) touches only the key metadata.

use std::sync::Arc;

use crate::crypto::DataKey;
use crate::error::Error;
use crate::error::exit;
use crate::format::Format;
use crate::keys;
use crate::keys::KeyContext;
use crate::keys::KeyKind;
use crate::keys::MasterKey;
use crate::keys::StoredKey;
use crate::metadata::KeyGroups;
use crate::metadata::Metadata;
use crate::ops;
use crate::ops::Opened;
use crate::tree::Document;
use crate::tree::Map;
use crate::tree::Value;

mod groups;
pub mod reserved;
pub mod revoke;
pub mod splice;
#[cfg(test)]
mod tests;

pub use groups::GroupDiff;
pub use groups::UpdatePlan;
pub use groups::Updated;
pub use groups::add_group;
pub use groups::apply_update;
pub use groups::delete_group;
pub use groups::describe;
pub use groups::plan_update;
pub use groups::rewrap;
pub use groups::shown_key;
pub use groups::update_keys;

/// Parses a `set` value: JSON text. A bare number becomes a float (as in sops); strings,
/// booleans and null become those values; objects and arrays become maps and lists with
/// their member order kept (numbers inside them follow the JSON store: integers stay
/// integers). Invalid JSON is exit 7; the error never repeats the value.
pub fn parse_set_value(text: &[u8]) -> Result<Value, Error> {
    let invalid = |why: &str| {
        Error::new(
            exit::INVALID_SET_FORMAT,
            format!("the value is not valid JSON: {why}"),
        )
        .hint(r#"give a JSON value: '"text"' (with the double quotes), 5, true, null, '{"a":1}' or '[1,2]'"#)
    };
    let trimmed = text.trim_ascii();
    if trimmed.is_empty() {
        return Err(invalid("it is empty"));
    }
    // Parse it as the only member of an object with the JSON store's strict parser.
    let mut wrapped = zeroize::Zeroizing::new(Vec::with_capacity(trimmed.len() + 8));
    wrapped.extend_from_slice(b"{\"v\":\n");
    wrapped.extend_from_slice(trimmed);
    wrapped.extend_from_slice(b"\n}");
    let map = crate::format::json::parse::parse_top_object(&wrapped).map_err(|e| {
        if e.to_string().contains("cannot be kept exactly") {
            Error::new(
                exit::INVALID_SET_FORMAT,
                "the value is a number that cannot be kept exactly (an integer beyond 64 bits, or more digits than a 64-bit float keeps)",
            )
            .hint(r#"give it as a string to keep every digit: '"12345678901234567890"'"#)
        } else {
            invalid("check the quoting and brackets")
        }
    })?;
    let mut entries = map.0.into_iter();
    let (Some(crate::tree::Item::Entry(k, v)), None) = (entries.next(), entries.next()) else {
        return Err(invalid("it is more than one value"));
    };
    if k != "v" {
        return Err(invalid("it is more than one value"));
    }
    // A JSON object may repeat a key; a YAML map may not, and a file holding one would
    // not be read back (round-18 fuzz: `set F '["b"]' '{"k":1,"k":2}'`).
    if let Some(key) = v.repeated_key() {
        return Err(Error::new(
            exit::INVALID_SET_FORMAT,
            format!(
                "the value cannot be stored: an object in it has the key {} twice, which a YAML file cannot hold",
                serde_json::Value::from(key)
            ),
        )
        .hint("give each key of an object once"));
    }
    Ok(match v {
        Value::Int(i) => Value::Float(i as f64),
        other => other,
    })
}

/// Re-encrypts an opened file after its plaintext was changed in place, with the same
/// data key and the stash (unchanged values keep their ciphertext). Returns `None` when
/// the document equals `before` (nothing to write: `lastmodified` and the MAC stay),
/// else the metadata map to write; `opened.doc` is then the encrypted document. `format`
/// is the format it is written in ([`ops::reseal`]).
pub fn seal_changes(
    before: &Document,
    opened: &mut Opened,
    format: Format,
) -> Result<Option<Map>, Error> {
    if &opened.doc == before {
        return Ok(None);
    }
    ops::reseal(
        &mut opened.doc,
        &mut opened.meta,
        &opened.key,
        Some(&opened.stash),
        format,
    )
    .map(Some)
}

/// [`seal_changes`] for a caller that knows whether the document changed (`set`, `unset`
/// compare only the value at their path), so that no copy of the whole document is kept.
pub fn seal_if_changed(
    changed: bool,
    opened: &mut Opened,
    format: Format,
) -> Result<Option<Map>, Error> {
    if !changed {
        return Ok(None);
    }
    ops::reseal(
        &mut opened.doc,
        &mut opened.meta,
        &opened.key,
        Some(&opened.stash),
        format,
    )
    .map(Some)
}

/// Makes a re-read plaintext keep the types of the values it did not change: a float
/// with an integral value (`5.0`) is written as `5` in plaintext and reads back as an
/// int; where the existing document has that float at the same place, the int becomes
/// the float again, so the value keeps its type and its ciphertext (as after an `edit`
/// that did not touch it). Maps are matched by key, lists by position; very deep
/// structures are left as they are.
pub fn adopt_types(old: &Document, new: &mut Document) {
    for (o, n) in old.branches.iter().zip(new.branches.iter_mut()) {
        adopt_map(o, n, 0);
    }
}

const ADOPT_MAX_DEPTH: usize = 256;

fn adopt_map(old: &Map, new: &mut Map, depth: usize) {
    for item in &mut new.0 {
        if let crate::tree::Item::Entry(k, v) = item
            && let Some(o) = old.get(k)
        {
            adopt_value(o, v, depth + 1);
        }
    }
}

fn adopt_value(old: &Value, new: &mut Value, depth: usize) {
    if depth > ADOPT_MAX_DEPTH {
        return;
    }
    match (old, new) {
        (Value::Float(f), n @ Value::Int(_)) => {
            if let Value::Int(i) = n
                && (*i as f64) == *f
                && f.fract() == 0.0
            {
                *n = Value::Float(*f);
            }
        }
        (Value::Map(o), Value::Map(n)) => adopt_map(o, n, depth),
        (Value::Seq(o), Value::Seq(n)) => {
            let olds = o.iter().filter_map(|it| match it {
                crate::tree::SeqItem::Value(v) => Some(v),
                crate::tree::SeqItem::Comment(_) => None,
            });
            let news = n.iter_mut().filter_map(|it| match it {
                crate::tree::SeqItem::Value(v) => Some(v),
                crate::tree::SeqItem::Comment(_) => None,
            });
            for (ov, nv) in olds.zip(news) {
                adopt_value(ov, nv, depth + 1);
            }
        }
        _ => {}
    }
}

/// Keys to add to (first group) and remove from (every group) a file, generic over the
/// key kinds: a new kind only needs its CLI flags.
#[derive(Debug, Default)]
pub struct KeyChanges {
    /// Keys to add to the first group.
    pub add: Vec<Arc<dyn MasterKey>>,
    /// Keys to remove from every group, by kind and string form ([`MasterKey::id`]).
    pub remove: Vec<(KeyKind, String)>,
}

impl KeyChanges {
    /// Parses a comma-separated list for one kind and adds it to the additions.
    pub fn add_list(&mut self, kind: KeyKind, list: &str) -> Result<(), Error> {
        no_empty_age_item(kind, list)?;
        for s in split_list(list) {
            let key = keys::key_from_str(kind, s).map_err(|e| {
                Error::new(
                    exit::GENERIC,
                    format!(
                        "invalid {} key `{}`: {e}",
                        kind.field(),
                        crate::redact::redact(s)
                    ),
                )
            })?;
            self.add.push(key);
        }
        Ok(())
    }

    /// Adds a comma-separated list for one kind to the removals (normalized the way the
    /// key source writes its string form, e.g. upper-case PGP fingerprints). An age
    /// recipient, Vault transit URI or Azure Key Vault URL that does not parse is refused
    /// (exit 1), as sops refuses it; other kinds are removed by the text given, as sops
    /// removes them.
    pub fn remove_list(&mut self, kind: KeyKind, list: &str) -> Result<(), Error> {
        no_empty_age_item(kind, list)?;
        for s in split_list(list) {
            let id = match keys::key_from_str(kind, s) {
                Ok(key) => key.id(),
                Err(e) if matches!(kind, KeyKind::Age | KeyKind::HcVault | KeyKind::AzureKv) => {
                    return Err(Error::new(
                        exit::GENERIC,
                        format!(
                            "invalid {} key `{}` to remove: {e}",
                            kind.field(),
                            crate::redact::redact(s)
                        ),
                    ));
                }
                Err(_) => s.to_owned(),
            };
            self.remove.push((kind, id));
        }
        Ok(())
    }

    /// Whether nothing is asked.
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }
}

/// Refuses an empty item in a comma-separated age list (`R,`, `,R`, `R,,R`, ` `), as
/// sops's `--age`, `--add-age` and `--rm-age` refuse it (exit 1: an empty recipient);
/// other kinds skip empty items. An empty list (`--age ''`) names no recipient and is
/// taken, as sops takes it (no key from the flag: the policy's rule applies).
pub fn no_empty_age_item(kind: KeyKind, list: &str) -> Result<(), Error> {
    if kind == KeyKind::Age && !list.is_empty() && list.split(',').any(|s| s.trim().is_empty()) {
        return Err(Error::new(
            exit::GENERIC,
            "invalid age recipient list: an item is empty (a comma too many, or a blank list)",
        )
        .hint("separate the recipients with single commas: age1…,age1…"));
    }
    Ok(())
}

fn split_list(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// The master keys of stored groups (without their wrapped data keys).
pub fn current_groups(groups: &[Vec<StoredKey>]) -> KeyGroups {
    groups
        .iter()
        .map(|g| g.iter().map(|s| Arc::clone(&s.key)).collect())
        .collect()
}

/// Applies [`KeyChanges`] to a file's groups. Returns the new groups and the removals
/// that matched no key of the file.
pub fn apply_changes(
    groups: &[Vec<StoredKey>],
    changes: &KeyChanges,
) -> Result<(KeyGroups, Vec<(KeyKind, String)>), Error> {
    let mut out = current_groups(groups);
    let mut unmatched = Vec::new();
    for (kind, id) in &changes.remove {
        let mut found = false;
        for g in &mut out {
            let before = g.len();
            g.retain(|k| !(k.kind() == *kind && k.id() == *id));
            found |= g.len() != before;
        }
        if !found {
            unmatched.push((*kind, id.clone()));
        }
    }
    if !changes.add.is_empty() {
        if out.is_empty() {
            out.push(Vec::new());
        }
        if let Some(first) = out.first_mut() {
            for k in &changes.add {
                if !first
                    .iter()
                    .any(|e| e.kind() == k.kind() && e.id() == k.id())
                {
                    first.push(Arc::clone(k));
                }
            }
        }
    }
    Ok((out, unmatched))
}

/// What [`rotate`] did besides re-keying.
#[derive(Debug, Default)]
pub struct RotateReport {
    /// `--rm-*` keys that are not in the file (ignored).
    pub unmatched_removals: Vec<(KeyKind, String)>,
}

/// Rotates an opened file: a new data key, every value re-encrypted with fresh nonces,
/// the key wrapped for every recipient after `changes`. `version` is kept. Returns the
/// metadata map to write; `opened.doc` is then the encrypted document. On any error
/// nothing usable is left in `opened` and the caller must write nothing. `format` is the
/// format it is written in ([`ops::reseal`]).
pub fn rotate(
    opened: &mut Opened,
    changes: &KeyChanges,
    ctx: &KeyContext,
    format: Format,
) -> Result<(Map, RotateReport), Error> {
    let (groups, unmatched) = apply_changes(&opened.meta.key_groups, changes)?;
    let threshold = capped_threshold(opened.meta.shamir_threshold, groups.len());
    let map = rekey(opened, &groups, threshold, ctx, format)?;
    Ok((
        map,
        RotateReport {
            unmatched_removals: unmatched,
        },
    ))
}

/// Re-keys an opened file for `groups`: a new data key, wrapped for every key, and every
/// value re-encrypted with fresh nonces (no stash). Used by `rotate` and
/// `updatekeys --rotate`.
pub fn rekey(
    opened: &mut Opened,
    groups: &KeyGroups,
    threshold: usize,
    ctx: &KeyContext,
    format: Format,
) -> Result<Map, Error> {
    let key = DataKey::generate().map_err(|e| {
        Error::new(
            exit::ERROR_ENCRYPTING_TREE,
            format!("cannot create a data key: {e}"),
        )
    })?;
    rewrap(&mut opened.meta, groups, threshold, &key, ctx)?;
    let map = ops::reseal(&mut opened.doc, &mut opened.meta, &key, None, format)?;
    opened.key = key;
    opened.stash = Default::default();
    Ok(map)
}

/// A stored threshold kept for a new number of groups: capped at the number of groups,
/// 0 (unset) for a single group.
pub fn capped_threshold(stored: usize, groups: usize) -> usize {
    if groups <= 1 { 0 } else { stored.min(groups) }
}

/// Recovers the data key of a file without decrypting its values (for `updatekeys` and
/// `groups`, which do not touch values, the MAC or `lastmodified`).
pub fn data_key(meta: &Metadata, ctx: &KeyContext, order: &[KeyKind]) -> Result<DataKey, Error> {
    ops::recover_key(meta, ctx, order)
}

/// [`data_key`], also naming the master key(s) that unwrapped it (for the audit trail).
pub fn data_key_with_source(
    meta: &Metadata,
    ctx: &KeyContext,
    order: &[KeyKind],
) -> Result<(DataKey, Vec<String>), Error> {
    ops::recover_key_with_source(meta, ctx, order)
}
