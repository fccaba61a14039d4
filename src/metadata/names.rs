//! The field names of a `sops` block as sops's readers match them, so that every path
//! (tree, streaming, splice, rotate, check) reads one file one way.
//!
//! sops 3.11 reads the block of a JSON or binary file, and of a dotenv or INI file (after
//! turning it into JSON), with Go's JSON decoder: an object key names a struct field
//! when it equals the field's name ignoring case, with Unicode's simple folding (so
//! `Version`, `MAC`, `AGE`, `verſion` and `\u{212A}ms` all count). Its YAML reader is
//! case-sensitive: `VERSION:` is an unknown field there. [`canonical`] renames every
//! matching key to the field's own name (in the top level, in `key_groups` and in each
//! key entry), so the rest of leafseal looks fields up by exact name.
//!
//! Two keys that name one field (`version` and `Version`) are refused: sops keeps the
//! last one that is not `null`, but such a block reads differently to a person and to
//! other tools, and nothing writes it (docs/compatibility.md).

use super::MetadataError;
use super::field_err;
use super::field_types;
use super::field_types::Decoder;
use crate::format::Format;
use crate::keys::KeyKind;
use crate::tree::Item;
use crate::tree::Map;
use crate::tree::SeqItem;
use crate::tree::Value;

/// How a format's sops reader matches metadata field names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldNames {
    /// Only the field's own name (go-yaml).
    Exact,
    /// The name ignoring case, with Unicode simple folding (Go's encoding/json), and
    /// the values typed as that decoder requires (`metadata::field_types`).
    GoJson,
    /// Names as [`FieldNames::GoJson`], values not checked: a dotenv or INI block holds
    /// only text, which its reader types first (sops's `DecodeNonStrings`).
    GoJsonText,
}

impl FieldNames {
    /// The rule of a format's reader: exact for YAML, Go's JSON rule for JSON and
    /// binary, and its names only for the text formats (TOML, which sops does not read,
    /// keeps the lenient rule leafseal always applied to it).
    pub fn of(format: Format) -> FieldNames {
        match format {
            Format::Yaml => FieldNames::Exact,
            Format::Json | Format::Binary => FieldNames::GoJson,
            _ => FieldNames::GoJsonText,
        }
    }
}

/// The top-level fields of sops's metadata, and leafseal's own record.
const TOP_FIELDS: [&str; 20] = super::KNOWN_FIELDS;

/// The fields sops reads in a key entry of each kind.
pub(super) fn entry_fields(kind: KeyKind) -> &'static [&'static str] {
    match kind {
        KeyKind::Age => &["recipient", "enc"],
        KeyKind::Pgp => &["created_at", "enc", "fp"],
        KeyKind::Kms => &["arn", "role", "context", "created_at", "enc", "aws_profile"],
        KeyKind::GcpKms => &["resource_id", "created_at", "enc"],
        KeyKind::AzureKv => &["vault_url", "name", "version", "created_at", "enc"],
        KeyKind::HcVault => &[
            "vault_address",
            "engine_path",
            "key_name",
            "created_at",
            "enc",
        ],
        KeyKind::Hckms => &["key_id", "created_at", "enc"],
    }
}

/// Whether `key` names `field` for Go's JSON decoder: equal under Unicode simple case
/// folding. `field` is lower-case ASCII; the only non-ASCII characters that fold to an
/// ASCII letter are the Kelvin sign (k) and the long s (s).
pub fn go_json_names(key: &str, field: &str) -> bool {
    let mut chars = key.chars();
    for want in field.chars() {
        let folded = match chars.next() {
            Some('\u{212A}') => 'k',
            Some('\u{17F}') => 's',
            Some(c) => c.to_ascii_lowercase(),
            None => return false,
        };
        if folded != want {
            return false;
        }
    }
    chars.next().is_none()
}

/// Whether a root member's key names the metadata for Go's JSON decoder (`sops`,
/// `SOPS`, `Sops`, `ſops`): sops 3.11's JSON store reads the block from such a member
/// but removes only the exact `sops` from the data.
pub fn names_the_metadata(key: &str) -> bool {
    go_json_names(key, "sops")
}

/// Whether a root member that names the metadata in another case (`SOPS`) would change
/// what sops's JSON decoder reads as the metadata: a value that is not an object
/// (a type error for sops) or an object with a key that names a metadata field (merged
/// into the block field by field). `null` and an object of other keys (data that
/// happens to be called `SOPS`, as sops and leafseal write it) change nothing.
pub fn shadows_metadata(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Map(m) => m
            .entries()
            .any(|(k, _)| TOP_FIELDS.iter().any(|f| go_json_names(k, f))),
        _ => true,
    }
}

/// Whether sops's JSON decoder still reads exactly `block` when a root member that names
/// the metadata in another case (`shadow`, such as `SOPS`) comes before the `sops`
/// member, as sops and leafseal write a file whose data has such a key. The decoder fills
/// one metadata struct from both members in file order, so the block overwrites each
/// field the member sets when that field is a scalar (text, `mac_only_encrypted`,
/// `shamir_threshold`) of a type Go's decoder takes and the block sets it to a value
/// that is not `null` (which the decoder skips). A member that sets a key list or
/// `key_groups` (Go decodes into the list's existing elements), a field the block lacks,
/// or a value of a type sops refuses is not overwritten. Keys that name no field and
/// `null` values change nothing.
pub fn overwritten_by_block(shadow: &Value, block: &Map) -> bool {
    let Value::Map(member) = shadow else {
        return matches!(shadow, Value::Null);
    };
    member.entries().all(|(key, value)| {
        let Some(field) = TOP_FIELDS.iter().find(|f| go_json_names(key, f)) else {
            return true;
        };
        if matches!(value, Value::Null) {
            return true;
        }
        field_types::go_json_scalar(field, value)
            && block
                .entries()
                .any(|(k, v)| k == *field && !matches!(v, Value::Null))
    })
}

/// The block with every key that names a field (under `rule`) renamed to the field's
/// name; refuses two keys that name one field, and a field whose value has a type the
/// format's sops decoder refuses (`metadata::field_types`).
pub fn canonical(m: Map, rule: FieldNames) -> Result<Map, MetadataError> {
    let m = match rule {
        FieldNames::Exact => m,
        FieldNames::GoJson | FieldNames::GoJsonText => renamed(m)?,
    };
    match rule {
        FieldNames::Exact => field_types::check(&m, Decoder::GoYaml)?,
        FieldNames::GoJson => field_types::check(&m, Decoder::GoJson)?,
        FieldNames::GoJsonText => {}
    }
    Ok(m)
}

/// The block with every key that names a field under Go's JSON rule renamed.
fn renamed(m: Map) -> Result<Map, MetadataError> {
    rename_fields(m, &TOP_FIELDS, "", &|field, v| {
        if field == "key_groups" {
            each_map(v, &|g| {
                let kinds = KeyKind::ALL.map(KeyKind::field);
                rename_fields(g, &kinds, "key_groups: ", &|kind, v| kind_entries(kind, v))
            })
        } else {
            kind_entries(field, v)
        }
    })
}

/// The entries of a key list (`field` names a key kind), each renamed; other values as
/// they are.
fn kind_entries(field: &str, v: Value) -> Result<Value, MetadataError> {
    let Some(kind) = KeyKind::from_field(field) else {
        return Ok(v);
    };
    let names = entry_fields(kind);
    let at = format!("{field} entry: ");
    let rename = |e: Map| rename_fields(e, names, &at, &|_, v| Ok(v));
    match v {
        Value::Map(one) => rename(one).map(Value::Map),
        v => each_map(v, &rename),
    }
}

/// Applies `f` to every map of a list (other values and non-lists as they are).
fn each_map(
    v: Value,
    f: &dyn Fn(Map) -> Result<Map, MetadataError>,
) -> Result<Value, MetadataError> {
    let Value::Seq(items) = v else { return Ok(v) };
    items
        .into_iter()
        .map(|item| match item {
            SeqItem::Value(Value::Map(m)) => f(m).map(|m| SeqItem::Value(Value::Map(m))),
            other => Ok(other),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Seq)
}

/// Renames the keys of `m` that name one of `fields`, passing each such value through
/// `inner`; `at` prefixes the field in an error.
fn rename_fields(
    m: Map,
    fields: &[&'static str],
    at: &str,
    inner: &dyn Fn(&str, Value) -> Result<Value, MetadataError>,
) -> Result<Map, MetadataError> {
    let mut seen: Vec<(&'static str, String)> = Vec::new();
    let mut out = Vec::with_capacity(m.0.len());
    for item in m.0 {
        let Item::Entry(key, value) = item else {
            out.push(item);
            continue;
        };
        let Some(field) = fields.iter().copied().find(|f| go_json_names(&key, f)) else {
            out.push(Item::Entry(key, value));
            continue;
        };
        if let Some((_, first)) = seen.iter().find(|(f, _)| *f == field) {
            return Err(field_err(
                &format!("{at}{field}"),
                format!(
                    "two keys name it (`{first}` and `{key}`): sops reads the last one, \
                     leafseal refuses the file rather than guess; keep one of them"
                ),
            ));
        }
        seen.push((field, key));
        out.push(Item::Entry(field.to_owned(), inner(field, value)?));
    }
    Ok(Map(out))
}

/// [`canonical`] for a store's `load`: a refusal is a parse error of `store` (exit 1 on
/// every path, as the stores' other metadata errors).
pub fn canonical_in_store(
    store: &'static str,
    m: Map,
    rule: FieldNames,
) -> Result<Map, crate::format::FormatError> {
    canonical(m, rule).map_err(|e| {
        crate::format::FormatError::new(store, format!("the sops metadata block is invalid: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry_map(pairs: &[(&str, &str)]) -> Map {
        let mut m = Map::new();
        for (k, v) in pairs {
            m.push(*k, Value::str(*v));
        }
        m
    }

    #[test]
    fn a_member_is_overwritten_only_by_scalars_the_block_sets() {
        let block = entry_map(&[("mac", "ENC[…]"), ("version", "3.11.0")]);
        let member = |pairs: &[(&str, Value)]| {
            let mut m = Map::new();
            for (k, v) in pairs {
                m.push(*k, v.clone());
            }
            Value::Map(m)
        };
        for shadow in [
            member(&[("MAC", Value::str("x")), ("Version", Value::str("1"))]),
            member(&[("note", Value::Int(1)), ("lastmodified", Value::Null)]),
            Value::Null,
        ] {
            assert!(overwritten_by_block(&shadow, &block), "{shadow:?}");
        }
        for shadow in [
            member(&[("encrypted_regex", Value::str("^a$"))]),
            member(&[("mac", Value::Int(1))]),
            member(&[("age", Value::Seq(Vec::new()))]),
            Value::str("x"),
        ] {
            assert!(!overwritten_by_block(&shadow, &block), "{shadow:?}");
        }
        let null_mac = entry_map(&[("version", "3.11.0")]);
        assert!(!overwritten_by_block(
            &member(&[("mac", Value::str("x"))]),
            &null_mac
        ));
    }

    #[test]
    fn go_json_names_fold_case_and_the_two_non_ascii_letters() {
        for key in ["version", "Version", "VERSION", "verſion", "VERſION"] {
            assert!(go_json_names(key, "version"), "{key}");
        }
        assert!(go_json_names("\u{212A}MS", "kms"));
        for key in ["versions", "versio", "vérsion", "version ", "ver_sion", ""] {
            assert!(!go_json_names(key, "version"), "{key}");
        }
    }

    #[test]
    fn json_names_are_renamed_at_every_level_and_yaml_ones_kept() {
        let mut group = Map::new();
        let age = entry_map(&[("Recipient", "age1x"), ("ENC", "e")]);
        group.push("AGE", Value::Seq(vec![SeqItem::Value(Value::Map(age))]));
        let mut m = Map::new();
        m.push(
            "Key_Groups",
            Value::Seq(vec![SeqItem::Value(Value::Map(group))]),
        );
        m.push("MAC", Value::str("m"));
        m.push("verſion", Value::str("3.11.0"));
        m.push("Future_Field", Value::Int(1));
        let yaml = canonical(m.clone(), FieldNames::Exact).expect("yaml");
        assert_eq!(yaml, m, "YAML names are exact: nothing renamed");
        let json = canonical(m, FieldNames::GoJson).expect("json");
        let names: Vec<&str> = json.entries().map(|(k, _)| k).collect();
        assert_eq!(names, ["key_groups", "mac", "version", "Future_Field"]);
        let Some(Value::Seq(groups)) = json.get("key_groups") else {
            panic!("key_groups")
        };
        let SeqItem::Value(Value::Map(g)) = &groups[0] else {
            panic!("group")
        };
        let Some(Value::Seq(ages)) = g.get("age") else {
            panic!("age")
        };
        let SeqItem::Value(Value::Map(e)) = &ages[0] else {
            panic!("entry")
        };
        let fields: Vec<&str> = e.entries().map(|(k, _)| k).collect();
        assert_eq!(fields, ["recipient", "enc"]);
    }

    #[test]
    fn two_keys_that_name_one_field_are_refused() {
        let mut m = entry_map(&[("version", "3.11.0"), ("Version", "3.9")]);
        let err = canonical(m.clone(), FieldNames::GoJson).expect_err("refused");
        assert!(err.to_string().contains("`version` and `Version`"), "{err}");
        assert!(
            canonical(m.clone(), FieldNames::Exact).is_ok(),
            "YAML: two fields"
        );
        m = Map::new();
        let entry = entry_map(&[("enc", "a"), ("Enc", "b")]);
        m.push("age", Value::Seq(vec![SeqItem::Value(Value::Map(entry))]));
        let err = canonical(m, FieldNames::GoJson).expect_err("refused");
        assert!(err.to_string().contains("`age entry: enc`"), "{err}");
    }
}
