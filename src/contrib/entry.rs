//! The on-disk form of pending contributions: a list of maps under `sops.leafseal_pending`,
//! each with `id`, `path`, `created`, `binding`, `base` (absent in entries of the first
//! format), `value`, an optional `signature`, and the
//! wrapped contribution key in the `sops` block's own key fields (`age`, `pgp`, `kms`, …,
//! or `key_groups` plus `shamir_threshold`).

use super::Pending;
use super::refused;
use crate::error::Error;
use crate::metadata::Metadata;
use crate::tree::Item;
use crate::tree::Map;
use crate::tree::SeqItem;
use crate::tree::Value;

/// Metadata fields `Metadata::to_map` always writes that a contribution does not use.
const UNUSED: [&str; 3] = ["lastmodified", "mac", "version"];

/// Writes contributions as the metadata field's value.
pub fn to_raw(pending: &[Pending]) -> Value {
    Value::Seq(
        pending
            .iter()
            .map(|p| SeqItem::Value(Value::Map(one(p))))
            .collect(),
    )
}

fn one(p: &Pending) -> Map {
    let keys = Metadata {
        key_groups: p.key_groups.clone(),
        shamir_threshold: p.shamir_threshold,
        lastmodified: String::new(),
        mac: String::new(),
        mac_only_encrypted: false,
        selector: None,
        version: String::new(),
        integrity: None,
        extra: Vec::new(),
    }
    .to_map();
    let mut items: Vec<(String, Value)> = keys
        .0
        .into_iter()
        .filter_map(|i| match i {
            Item::Entry(k, v) if !UNUSED.contains(&k.as_str()) => Some((k, v)),
            _ => None,
        })
        .collect();
    if let Some(b) = &p.base {
        items.push(("base".to_owned(), Value::str(b.as_str())));
    }
    items.push(("binding".to_owned(), Value::str(p.binding.as_str())));
    items.push(("created".to_owned(), Value::str(p.created.as_str())));
    items.push(("id".to_owned(), Value::str(p.id.as_str())));
    items.push(("path".to_owned(), Value::str(p.path.as_str())));
    if let Some(s) = &p.signature {
        items.push(("signature".to_owned(), Value::str(s.as_str())));
    }
    items.push(("value".to_owned(), Value::str(p.value.as_str())));
    items.sort_by(|a, b| a.0.cmp(&b.0));
    Map(items.into_iter().map(|(k, v)| Item::Entry(k, v)).collect())
}

fn text(m: &Map, field: &str, required: bool) -> Result<Option<String>, Error> {
    match m.get(field) {
        Some(Value::Str(s)) => Ok(Some(s.as_str().to_owned())),
        Some(Value::Time(t)) => Ok(Some(t.to_rfc3339())),
        None | Some(Value::Null) if !required => Ok(None),
        _ => Err(malformed(&format!("its `{field}` is missing or not text"))),
    }
}

fn malformed(why: &str) -> Error {
    refused(format!(
        "a pending contribution in the `{}` metadata field is malformed: {why}",
        super::FIELD
    ))
    .hint("restore the file from version control, or ask the contributor to contribute again")
}

/// Reads the metadata field's value.
pub fn from_raw(v: &Value) -> Result<Vec<Pending>, Error> {
    let items = match v {
        Value::Null => return Ok(Vec::new()),
        Value::Seq(items) => items,
        _ => return Err(malformed("the field is not a list")),
    };
    let mut out = Vec::new();
    for item in items {
        let SeqItem::Value(v) = item else { continue };
        let Value::Map(m) = v else {
            return Err(malformed("an entry is not a map"));
        };
        let keys = Metadata::from_map(m).map_err(|e| malformed(&e.to_string()))?;
        let get = |f| text(m, f, true).map(Option::unwrap_or_default);
        out.push(Pending {
            id: get("id")?,
            path: get("path")?,
            created: get("created")?,
            binding: get("binding")?,
            base: text(m, "base", false)?,
            value: get("value")?,
            key_groups: keys.key_groups,
            shamir_threshold: keys.shamir_threshold,
            signature: text(m, "signature", false)?,
        });
    }
    Ok(out)
}
