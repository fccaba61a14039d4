//! The value types of a `sops` block's fields as sops's typed readers require them.
//!
//! sops 3.11 decodes the block of a JSON or binary file with Go's `encoding/json` into
//! a struct, and of a YAML file with go-yaml: a field of the wrong type stops the load
//! (exit 1, "cannot unmarshal …") before any key is used. Go's JSON decoder takes only
//! a JSON string (or `null`) for a text field, a `true`/`false` for
//! `mac_only_encrypted`, a whole number without a fraction for `shamir_threshold`, and
//! lists (of objects) for `key_groups` and the key lists; go-yaml takes any scalar for a
//! text field and a whole number (`2.0` too) for `shamir_threshold`, and refuses a
//! quoted `"true"` for `mac_only_encrypted`. Both refuse a key list or `key_groups`
//! written as a single map. dotenv and INI blocks hold only text and are turned into
//! typed values first (sops's `DecodeNonStrings`), so they are not checked here.
//! Measured with sops 3.11.0 (`tests/sops_diff/metadata_names.rs`).
//!
//! Fields sops does not read (leafseal's integrity record, unknown keys, the values of
//! a KMS `context`) are not checked.

use super::MetadataError;
use super::field_err;
use super::names::entry_fields;
use crate::keys::KeyKind;
use crate::tree::Map;
use crate::tree::SeqItem;
use crate::tree::Value;

/// Which of sops's decoders the block is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decoder {
    /// Go's `encoding/json` (JSON and binary files).
    GoJson,
    /// go-yaml (YAML files).
    GoYaml,
}

/// The top-level text fields of sops's metadata struct.
const TEXT_FIELDS: [&str; 9] = [
    "lastmodified",
    "mac",
    "version",
    "unencrypted_suffix",
    "encrypted_suffix",
    "unencrypted_regex",
    "encrypted_regex",
    "unencrypted_comment_regex",
    "encrypted_comment_regex",
];

/// Refuses a block (already renamed, [`super::names::canonical`]) whose fields have a
/// type `decoder` refuses.
pub(super) fn check(m: &Map, decoder: Decoder) -> Result<(), MetadataError> {
    for (key, value) in m.entries() {
        if TEXT_FIELDS.contains(&key) {
            text(key, value, decoder)?;
        } else if key == "mac_only_encrypted" {
            if !matches!(value, Value::Bool(_) | Value::Null) {
                return Err(wrong(key, value, "true or false"));
            }
        } else if key == "shamir_threshold" {
            let whole = match value {
                Value::Int(_) | Value::Null => true,
                Value::Float(f) if decoder == Decoder::GoYaml && f.fract() != 0.0 => {
                    // go-yaml cuts the fraction off; a threshold that says two things
                    // is refused here, a deliberate difference (docs/compatibility.md).
                    return Err(field_err(
                        key,
                        "expected a whole number, found a number with a fraction (sops \
                         would cut the fraction off; leafseal refuses a threshold that is \
                         not whole): write the threshold as a whole number"
                            .to_owned(),
                    ));
                }
                Value::Float(f) => decoder == Decoder::GoYaml && f.fract() == 0.0,
                _ => false,
            };
            if !whole {
                return Err(wrong(key, value, "a whole number"));
            }
        } else if key == "key_groups" {
            for group in maps_of(key, value)? {
                key_lists(group, decoder, "key_groups: ")?;
            }
        }
    }
    key_lists(m, decoder, "")
}

/// Whether `field` is one of the scalar fields of sops's metadata struct (text,
/// `mac_only_encrypted`, `shamir_threshold`) and `value` a non-`null` value Go's JSON
/// decoder stores in it.
pub(super) fn go_json_scalar(field: &str, value: &Value) -> bool {
    if TEXT_FIELDS.contains(&field) {
        matches!(value, Value::Str(_))
    } else if field == "mac_only_encrypted" {
        matches!(value, Value::Bool(_))
    } else if field == "shamir_threshold" {
        matches!(value, Value::Int(_))
    } else {
        false
    }
}

/// Checks the key lists (`age`, `pgp`, …) of a group or of the top level.
fn key_lists(m: &Map, decoder: Decoder, at: &str) -> Result<(), MetadataError> {
    for (key, value) in m.entries() {
        let Some(kind) = KeyKind::from_field(key) else {
            continue;
        };
        let label = format!("{at}{key}");
        for entry in maps_of(&label, value)? {
            for (name, v) in entry.entries() {
                if name != "context" && entry_fields(kind).contains(&name) {
                    text(&format!("{label} entry: {name}"), v, decoder)?;
                }
            }
        }
    }
    Ok(())
}

/// The maps of a list field (`null` items and a `null` list hold none); anything else
/// is refused.
fn maps_of<'a>(field: &str, value: &'a Value) -> Result<Vec<&'a Map>, MetadataError> {
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Seq(items) => items,
        other => return Err(wrong(field, other, "a list of key entries")),
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            SeqItem::Value(Value::Map(one)) => out.push(one),
            SeqItem::Value(Value::Null) | SeqItem::Comment(_) => {}
            SeqItem::Value(other) => return Err(wrong(field, other, "a list of maps")),
        }
    }
    Ok(out)
}

/// A text field: a string (or `null`) for Go's JSON decoder, any scalar for go-yaml.
fn text(field: &str, value: &Value, decoder: Decoder) -> Result<(), MetadataError> {
    let ok = match value {
        Value::Str(_) | Value::Null => true,
        Value::Map(_) | Value::Seq(_) => false,
        _ => decoder == Decoder::GoYaml,
    };
    if ok {
        Ok(())
    } else {
        Err(wrong(field, value, "a string"))
    }
}

fn wrong(field: &str, found: &Value, expected: &str) -> MetadataError {
    field_err(
        field,
        format!(
            "expected {expected}, found a {}; sops refuses it too",
            found.kind_name()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(field: &str, value: Value) -> Map {
        let mut m = Map::new();
        m.push("mac", Value::str("ENC[…]"));
        m.push(field, value);
        m
    }

    #[test]
    fn wrong_types_are_refused_as_go_refuses_them() {
        for (field, value) in [
            ("mac_only_encrypted", Value::str("true")),
            ("mac_only_encrypted", Value::Int(1)),
            ("shamir_threshold", Value::Float(1.0)),
            ("shamir_threshold", Value::str("2")),
            ("mac", Value::Int(5)),
            ("unencrypted_suffix", Value::Bool(false)),
            ("key_groups", Value::Map(Map::new())),
            ("pgp", Value::Map(Map::new())),
        ] {
            let err = check(&block(field, value), Decoder::GoJson).expect_err(field);
            assert!(err.to_string().contains(field), "{err}");
        }
    }

    #[test]
    fn go_yaml_takes_any_scalar_for_text_and_a_whole_float_threshold() {
        for (field, value) in [
            ("unencrypted_suffix", Value::Int(5)),
            ("version", Value::Float(3.11)),
            ("shamir_threshold", Value::Float(1.0)),
            ("mac_only_encrypted", Value::Bool(true)),
        ] {
            assert!(
                check(&block(field, value), Decoder::GoYaml).is_ok(),
                "{field}"
            );
        }
        for (field, value) in [
            ("mac_only_encrypted", Value::str("true")),
            ("unencrypted_suffix", Value::Map(Map::new())),
            ("key_groups", Value::Map(Map::new())),
        ] {
            assert!(
                check(&block(field, value), Decoder::GoYaml).is_err(),
                "{field}"
            );
        }
    }

    /// go-yaml cuts `2.5` to 2 where leafseal refuses it: the message must not claim
    /// that sops refuses it too (round 25's review).
    #[test]
    fn a_yaml_threshold_with_a_fraction_is_refused_without_claiming_sops_does() {
        let err = check(
            &block("shamir_threshold", Value::Float(2.5)),
            Decoder::GoYaml,
        )
        .expect_err("2.5");
        let said = err.to_string();
        assert!(!said.contains("sops refuses it too"), "{said}");
        assert!(said.contains("would cut the fraction off"), "{said}");
    }
}
