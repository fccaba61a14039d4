//! The `sops` metadata block: the on-disk map (as every store hands it over) to and from
//! the domain [`Metadata`].
//!
//! Reading accepts every layout sops has written (any field order, `[]`/`null` empty key
//! lists, booleans as strings). Field names are looked up exactly: each store first
//! renames them as sops's reader for its format matches them ([`names::canonical`]: Go's
//! case-insensitive JSON rule, or YAML's exact one). `shamir_threshold` must be a
//! number, as sops requires in JSON and YAML; the dotenv and INI readers, which hold only
//! text, turn it into one first ([`crate::format::flatten::unflatten`], sops's
//! `DecodeNonStrings`). Writing uses the sops ≥ 3.13 layout: every map sorted by key.

use std::sync::Arc;

use crate::crypto::integrity;
use crate::keys;
use crate::keys::KeyKind;
use crate::keys::MasterKey;
use crate::keys::StoredKey;
use crate::tree::Item;
use crate::tree::Map;
use crate::tree::SeqItem;
use crate::tree::Timestamp;
use crate::tree::Value;
use crate::walk::Selector;

mod field_types;
mod key_fields;
pub mod names;
pub(crate) use key_fields::fields_from_map;
pub(crate) use key_fields::map_from_fields;

/// Checks a file's `version` as sops does when it loads an encrypted file (its
/// `AIsNewerThanB`, used for the KMS encryption-context fix): a version starting with
/// `1.` passes; else, without a leading `v`, it must be strict semantic versioning
/// (`MAJOR.MINOR.PATCH`, numbers without leading zeros, optional `-pre` and `+build`).
/// The error says what is wrong, without the value.
pub fn check_version(version: &str) -> Result<(), &'static str> {
    if version.starts_with("1.") {
        return Ok(());
    }
    let v = version.strip_prefix('v').unwrap_or(version);
    if v.is_empty() {
        return Err("`version` is missing or empty");
    }
    let bad = Err("`version` is not a semantic version (MAJOR.MINOR.PATCH)");
    let ident_ok = |s: &str, numeric_strict: bool| {
        !s.is_empty()
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !(numeric_strict
                && s.len() > 1
                && s.starts_with('0')
                && s.bytes().all(|b| b.is_ascii_digit()))
    };
    let (rest, build) = match v.split_once('+') {
        Some((r, b)) => (r, Some(b)),
        None => (v, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (rest, None),
    };
    let nums: Vec<&str> = core.split('.').collect();
    let num_ok = |s: &&str| {
        !s.is_empty()
            && s.bytes().all(|b| b.is_ascii_digit())
            && (s.len() == 1 || !s.starts_with('0'))
            && s.parse::<u64>().is_ok()
    };
    if nums.len() != 3 || !nums.iter().all(num_ok) {
        return bad;
    }
    if pre.is_some_and(|p| !p.split('.').all(|i| ident_ok(i, true))) {
        return bad;
    }
    if build.is_some_and(|b| !b.split('.').all(|i| ident_ok(i, false))) {
        return bad;
    }
    Ok(())
}

/// The sops release whose file format leafseal writes (`version` must stay strict semver).
pub const FORMAT_VERSION: &str = "3.13.2";

/// A metadata block that cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MetadataError {
    /// A field has the wrong shape.
    #[error("metadata field `{field}` is malformed: {why}")]
    Field {
        /// The field.
        field: String,
        /// What is wrong.
        why: String,
    },
    /// No key of any kind is listed.
    #[error("the metadata lists no keys (no age, pgp, kms, … entries and no key_groups)")]
    NoKeys,
    /// More than one partial-encryption selector is set.
    #[error(
        "the metadata sets more than one of unencrypted_suffix, encrypted_suffix, unencrypted_regex, encrypted_regex and the comment regexes"
    )]
    ConflictingSelectors,
    /// `lastmodified` is missing or not RFC 3339.
    #[error("metadata field `lastmodified` is missing or not an RFC 3339 timestamp")]
    LastModified,
}

/// `why` often quotes the file (a key source's refusal names the id, a regex error
/// shows the pattern): shown as [`crate::redact::shown_text`] makes it.
fn field_err(field: &str, why: impl Into<String>) -> MetadataError {
    let why = why.into();
    MetadataError::Field {
        field: field.to_owned(),
        why: crate::redact::shown_text(&why).into_owned(),
    }
}

/// The domain form of the `sops` block.
#[derive(Debug)]
pub struct Metadata {
    /// Key groups; one group means the keys are written at the top level.
    pub key_groups: Vec<Vec<StoredKey>>,
    /// Shamir threshold (0 = unset: number of groups).
    pub shamir_threshold: usize,
    /// `lastmodified` as stored.
    pub lastmodified: String,
    /// The encrypted MAC (`ENC[...]`), or empty when absent.
    pub mac: String,
    /// Whether only encrypted values enter the MAC.
    pub mac_only_encrypted: bool,
    /// The partial-encryption selector in force (`None` only for binary files written by
    /// sops ≥ 3.11, which then means the default).
    pub selector: Option<Selector>,
    /// The sops version that wrote the file.
    pub version: String,
    /// The leafseal integrity record (`leafseal_integrity`), when the file has one.
    pub integrity: Option<String>,
    /// Top-level fields leafseal does not know (e.g. a key kind of a newer sops): kept and
    /// written back as they are, so nobody loses access through a rewrite.
    pub extra: Vec<(String, Value)>,
}

/// The top-level fields leafseal reads.
const KNOWN_FIELDS: [&str; 20] = [
    "age",
    "azure_kv",
    "encrypted_comment_regex",
    "encrypted_regex",
    "encrypted_suffix",
    "gcp_kms",
    "hc_vault",
    "hckms",
    "key_groups",
    "kms",
    "lastmodified",
    "leafseal_integrity",
    "mac",
    "mac_only_encrypted",
    "pgp",
    "shamir_threshold",
    "unencrypted_comment_regex",
    "unencrypted_regex",
    "unencrypted_suffix",
    "version",
];

/// A field by its exact name (the store renamed the others, [`names::canonical`]).
fn get<'a>(m: &'a Map, name: &str) -> Option<&'a Value> {
    m.entries().find(|(k, _)| *k == name).map(|(_, v)| v)
}

fn get_str(m: &Map, name: &str) -> Result<Option<String>, MetadataError> {
    match get(m, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s.as_str().to_owned())),
        Some(Value::Int(i)) => Ok(Some(i.to_string())),
        Some(Value::Float(f)) => Ok(Some(crate::crypto::value::format_float(*f))),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(Value::Time(t)) => Ok(Some(t.to_rfc3339_nano())),
        Some(other) => Err(field_err(
            name,
            format!("expected a string, found a {}", other.kind_name()),
        )),
    }
}

fn get_bool(m: &Map, name: &str) -> Result<bool, MetadataError> {
    match get(m, name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::Str(s)) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "t" => Ok(true),
            "false" | "0" | "f" | "" => Ok(false),
            _ => Err(field_err(name, "expected true or false")),
        },
        Some(_) => Err(field_err(name, "expected true or false")),
    }
}

fn get_usize(m: &Map, name: &str) -> Result<usize, MetadataError> {
    match get(m, name) {
        None | Some(Value::Null) => Ok(0),
        // sops 3.11 writes a negative threshold itself (`encrypt
        // --shamir-secret-sharing-threshold -1`) and reads it as none: so does leafseal,
        // which then needs every group (never fewer keys than the file asks for).
        Some(Value::Int(i)) if *i < 0 => Ok(0),
        Some(Value::Int(i)) => usize::try_from(*i).map_err(|_| field_err(name, "too large")),
        Some(Value::Float(f)) if f.fract() == 0.0 && *f >= 0.0 && *f < 256.0 => Ok(*f as usize),
        // A string is refused, as sops refuses it in JSON and YAML (Go's decoders do not
        // turn "2" into an int); dotenv and INI hold only text, and their readers turn
        // the number into an int first, as sops's DecodeNonStrings does.
        Some(Value::Str(_)) => Err(field_err(
            name,
            "expected a whole number, found a string; sops refuses it too",
        )),
        Some(_) => Err(field_err(name, "expected a whole number")),
    }
}

/// Reads the key lists of one group (or of the top level).
fn read_group(m: &Map) -> Result<Vec<StoredKey>, MetadataError> {
    let mut out = Vec::new();
    for kind in KeyKind::ALL {
        let list = match get(m, kind.field()) {
            None | Some(Value::Null) => continue,
            Some(Value::Seq(items)) => items,
            Some(Value::Map(one)) if kind != KeyKind::Age => {
                // Never written by sops; tolerate a single entry written as a map.
                out.push(read_entry(kind, one)?);
                continue;
            }
            Some(_) => return Err(field_err(kind.field(), "expected a list of key entries")),
        };
        for item in list {
            let SeqItem::Value(v) = item else { continue };
            let Value::Map(entry) = v else {
                return Err(field_err(kind.field(), "expected a list of key entries"));
            };
            out.push(read_entry(kind, entry)?);
        }
    }
    Ok(out)
}

fn read_entry(kind: KeyKind, entry: &Map) -> Result<StoredKey, MetadataError> {
    let key = keys::key_from_entry(kind, &fields_from_map(entry))
        .map_err(|e| field_err(kind.field(), e.message))?;
    let enc = get_str(entry, "enc")?.unwrap_or_default();
    let created_at = get_str(entry, "created_at")?;
    Ok(StoredKey {
        key,
        enc,
        created_at,
    })
}

impl Metadata {
    /// Reads the raw metadata map a store produced.
    pub fn from_map(m: &Map) -> Result<Metadata, MetadataError> {
        let top = read_group(m)?;
        let key_groups = if !top.is_empty() {
            vec![top]
        } else {
            let mut groups = Vec::new();
            match get(m, "key_groups") {
                None | Some(Value::Null) => {}
                Some(Value::Seq(items)) => {
                    for item in items {
                        let SeqItem::Value(Value::Map(g)) = item else {
                            return Err(field_err("key_groups", "expected a list of maps"));
                        };
                        groups.push(read_group(g)?);
                    }
                }
                Some(_) => return Err(field_err("key_groups", "expected a list of maps")),
            }
            groups.retain(|g| !g.is_empty());
            groups
        };
        if key_groups.is_empty() {
            return Err(MetadataError::NoKeys);
        }
        let mut selector = None;
        for field in Selector::FIELDS {
            if let Some(v) = get_str(m, field)? {
                if v.is_empty() {
                    continue;
                }
                if selector.is_some() {
                    return Err(MetadataError::ConflictingSelectors);
                }
                selector = Selector::from_field(field, &v)
                    .map_err(|e| field_err(field, format!("invalid regular expression: {e}")))?;
            }
        }
        Ok(Metadata {
            key_groups,
            shamir_threshold: get_usize(m, "shamir_threshold")?,
            lastmodified: get_str(m, "lastmodified")?.unwrap_or_default(),
            mac: get_str(m, "mac")?.unwrap_or_default(),
            mac_only_encrypted: get_bool(m, "mac_only_encrypted")?,
            selector,
            version: get_str(m, "version")?.unwrap_or_default(),
            integrity: get_str(m, integrity::FIELD)?,
            extra: m
                .entries()
                // A YAML key that names a field in another case is ignored, as go-yaml
                // ignores it, and not written back (sops drops it too).
                .filter(|(k, _)| !KNOWN_FIELDS.iter().any(|f| names::go_json_names(k, f)))
                .map(|(k, v)| (k.to_owned(), v.clone()))
                .collect(),
        })
    }

    /// The selector in force (the default suffix when the file names none).
    pub fn selector(&self) -> Selector {
        self.selector.clone().unwrap_or_default()
    }

    /// `lastmodified` re-serialized canonically: the AAD of the MAC.
    pub fn mac_aad(&self) -> Result<String, MetadataError> {
        // Not trimmed: sops (Go's time.Parse) refuses a trailing space or CR.
        Timestamp::parse_rfc3339(&self.lastmodified)
            .map(|t| t.to_rfc3339())
            .ok_or(MetadataError::LastModified)
    }

    /// What the integrity record is bound to besides the document.
    pub fn integrity_binding(&self) -> integrity::Binding<'_> {
        let (selector_field, selector_pattern) = self
            .selector
            .as_ref()
            .map_or(("", ""), |s| (s.field(), s.pattern()));
        integrity::Binding {
            selector_field,
            selector_pattern,
            mac_only_encrypted: self.mac_only_encrypted,
            lastmodified: &self.lastmodified,
            mac: &self.mac,
        }
    }

    /// The effective Shamir threshold: the stored one, or the number of groups.
    pub fn threshold(&self) -> usize {
        if self.shamir_threshold == 0 {
            self.key_groups.len()
        } else {
            self.shamir_threshold
        }
    }

    /// How many key groups must give their share to recover the data key: 1 with one
    /// group; with several, the threshold but at least 2 (a stored 1 over several groups,
    /// which sops 3.11 writes after `groups add --shamir-secret-sharing-threshold 1`,
    /// still takes two shares to combine).
    pub fn groups_needed(&self) -> usize {
        if self.key_groups.len() <= 1 {
            1
        } else {
            self.threshold().max(2)
        }
    }

    /// Writes the map every store appends (sops ≥ 3.13 layout: keys sorted).
    pub fn to_map(&self) -> Map {
        let mut items: Vec<(String, Value)> = Vec::new();
        if self.key_groups.len() == 1 {
            for (kind, list) in group_lists(&self.key_groups[0]) {
                items.push((kind.field().to_owned(), list));
            }
        } else {
            let groups = self
                .key_groups
                .iter()
                .map(|g| {
                    let mut entries = group_lists(g);
                    for always in [KeyKind::Age, KeyKind::HcVault] {
                        if !entries.iter().any(|(k, _)| *k == always) {
                            entries.push((always, Value::Seq(Vec::new())));
                        }
                    }
                    SeqItem::Value(Value::Map(sorted(
                        entries
                            .into_iter()
                            .map(|(k, v)| (k.field().to_owned(), v))
                            .collect(),
                    )))
                })
                .collect();
            items.push(("key_groups".to_owned(), Value::Seq(groups)));
        }
        if self.key_groups.len() > 1 || self.shamir_threshold > 0 {
            items.push((
                "shamir_threshold".to_owned(),
                Value::Int(self.threshold() as i64),
            ));
        }
        items.push((
            "lastmodified".to_owned(),
            Value::str(self.lastmodified.as_str()),
        ));
        items.push(("mac".to_owned(), Value::str(self.mac.as_str())));
        if self.mac_only_encrypted {
            items.push(("mac_only_encrypted".to_owned(), Value::Bool(true)));
        }
        if let Some(sel) = &self.selector {
            items.push((sel.field().to_owned(), Value::str(sel.pattern())));
        }
        items.push(("version".to_owned(), Value::str(self.version.as_str())));
        if let Some(record) = &self.integrity {
            items.push((integrity::FIELD.to_owned(), Value::str(record.as_str())));
        }
        items.extend(self.extra.iter().cloned());
        sorted(items)
    }
}

fn sorted(mut items: Vec<(String, Value)>) -> Map {
    items.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Map(items.into_iter().map(|(k, v)| Item::Entry(k, v)).collect())
}

/// The non-empty per-kind lists of a group, each entry sorted.
fn group_lists(group: &[StoredKey]) -> Vec<(KeyKind, Value)> {
    let mut out = Vec::new();
    for kind in KeyKind::ALL {
        let entries: Vec<SeqItem> = group
            .iter()
            .filter(|s| s.key.kind() == kind)
            .map(|s| SeqItem::Value(Value::Map(entry_map(s))))
            .collect();
        if !entries.is_empty() {
            out.push((kind, Value::Seq(entries)));
        }
    }
    out
}

fn entry_map(s: &StoredKey) -> Map {
    let fields = map_from_fields(&s.key.fields());
    let mut items: Vec<(String, Value)> = fields
        .0
        .into_iter()
        .filter_map(|i| match i {
            Item::Entry(k, v) => Some((k, v)),
            Item::Comment(_) => None,
        })
        .collect();
    if s.key.has_created_at() {
        let at = s.created_at.clone().unwrap_or_default();
        items.push(("created_at".to_owned(), Value::str(at)));
    }
    items.push(("enc".to_owned(), Value::str(s.enc.as_str())));
    sorted(items)
}

/// Groups of master keys to encrypt for (before wrapping).
pub type KeyGroups = Vec<Vec<Arc<dyn MasterKey>>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_checked_as_sops_checks_them() {
        for ok in [
            "3.9.0",
            "v3.9.0",
            "1.14",
            "1.",
            "3.9.0-rc.1",
            "3.9.0+b.01",
            "0.0.0",
        ] {
            assert_eq!(check_version(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "v",
            "abc",
            "3.9",
            "3.09.0",
            "03.1.0",
            "3.9.0-01",
            "3.9.0-rc_1",
            "3.9.0.1",
        ] {
            assert!(check_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_threshold_of_one_over_several_groups_still_needs_two() {
        let recipient = "age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw";
        let group = |enc: &str| {
            let mut entry = Map::new();
            entry.push("recipient", Value::str(recipient));
            entry.push("enc", Value::str(enc));
            let mut g = Map::new();
            g.push("age", Value::Seq(vec![SeqItem::Value(Value::Map(entry))]));
            SeqItem::Value(Value::Map(g))
        };
        let mut m = Map::new();
        m.push(
            "key_groups",
            Value::Seq(vec![group("x"), group("y"), group("z")]),
        );
        m.push("shamir_threshold", Value::Int(1));
        m.push("lastmodified", Value::str("2026-01-01T00:00:00Z"));
        m.push("mac", Value::str(""));
        m.push("version", Value::str("3.11.0"));
        let meta = Metadata::from_map(&m).expect("reads");
        assert_eq!((meta.threshold(), meta.groups_needed()), (1, 2));
    }

    #[test]
    fn unknown_fields_survive_a_rewrite() {
        let mut m = Map::new();
        let mut entry = Map::new();
        entry.push("fp", Value::str("FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4"));
        entry.push("created_at", Value::str("2026-01-01T00:00:00Z"));
        entry.push("enc", Value::str("x"));
        m.push("pgp", Value::Seq(vec![SeqItem::Value(Value::Map(entry))]));
        m.push("lastmodified", Value::str("2026-01-01T00:00:00Z"));
        m.push("mac", Value::str(""));
        m.push(
            "future_kms",
            Value::Seq(vec![SeqItem::Value(Value::str("keep me"))]),
        );
        m.push("version", Value::str("3.99.0"));
        let meta = Metadata::from_map(&m).expect("reads");
        assert_eq!(meta.extra.len(), 1);
        let out = meta.to_map();
        assert_eq!(out.get("future_kms"), m.get("future_kms"));
    }
}
