//! Revocation: which keys of a file are the recipient being revoked, the key groups a
//! file is re-keyed for without it, and the key paths of the values it could read.
//! The command (`leafseal revoke`) is in `cli/revoke.rs`; `.sops.yaml` editing is in
//! `policy/revoke.rs`. No printing here.

use crate::error::Error;
use crate::error::Remedy;
use crate::error::exit;
use crate::keys;
use crate::keys::KeyKind;
use crate::keys::StoredKey;
use crate::metadata::KeyGroups;
use crate::tree::Document;
use crate::tree::Map;
use crate::tree::SeqItem;
use crate::tree::Value;

/// The recipient being revoked: the text given, and its normalized form for every key
/// kind that parses it (e.g. an upper-case PGP fingerprint).
#[derive(Debug, Clone)]
pub struct Recipient {
    /// As given (trimmed).
    pub raw: String,
    /// `(kind, id)` for every kind whose parser accepts it.
    pub ids: Vec<(KeyKind, String)>,
}

impl Recipient {
    /// Parses the command-line argument.
    pub fn new(s: &str) -> Result<Recipient, Error> {
        let raw = s.trim().to_owned();
        if raw.is_empty() {
            return Err(Error::new(exit::GENERIC, "the recipient to revoke is empty")
                .hint("give an age recipient, a PGP fingerprint, a KMS ARN or a GCP/Azure/Vault key id as `leafseal access` or the file's metadata prints it"));
        }
        let ids = KeyKind::ALL
            .iter()
            .filter_map(|k| keys::key_from_str(*k, &raw).ok().map(|key| (*k, key.id())))
            .collect();
        Ok(Recipient { raw, ids })
    }

    /// Whether a key (by kind and id) is this recipient.
    pub fn matches(&self, kind: KeyKind, id: &str) -> bool {
        id == self.raw
            || self.ids.iter().any(|(k, i)| *k == kind && i == id)
            || (kind == KeyKind::Pgp && id.eq_ignore_ascii_case(&self.raw))
    }

    /// Whether a file's key groups name this recipient.
    pub fn in_groups(&self, groups: &[Vec<StoredKey>]) -> bool {
        groups
            .iter()
            .flatten()
            .any(|s| self.matches(s.key.kind(), &s.key.id()))
    }
}

/// The key groups of a file without the recipient. A group left empty is an error, unless
/// `force`, which drops it when other groups remain (the threshold is capped by the
/// caller). Returns the groups and how many were dropped.
pub fn groups_without(
    groups: &[Vec<StoredKey>],
    who: &Recipient,
    force: bool,
) -> Result<(KeyGroups, usize), Error> {
    let mut out = super::current_groups(groups);
    for g in &mut out {
        g.retain(|k| !who.matches(k.kind(), &k.id()));
    }
    let empty = out.iter().filter(|g| g.is_empty()).count();
    if empty == out.len() {
        return Err(Error::new(
            exit::NO_ENCRYPTION_KEY_FOUND,
            "the recipient is the file's only key: without it nobody could open the file",
        )
        .remedy(Remedy::RevokeOnlyKey));
    }
    if empty > 0 && !force {
        return Err(Error::new(
            exit::NO_ENCRYPTION_KEY_FOUND,
            "the recipient is the only key of one of the file's key groups (Shamir): removing it leaves that group empty",
        )
        .remedy(Remedy::RevokeEmptiesGroup));
    }
    out.retain(|g| !g.is_empty());
    Ok((out, empty))
}

/// The key paths (`["db"]["password"]`, list items as `[0]`) of every encrypted value of
/// an encrypted document (values still `ENC[…]`): what a holder of its data key could
/// read. Never a value.
pub fn secret_paths(doc: &Document) -> Vec<String> {
    let mut out = Vec::new();
    let many = doc.branches.len() > 1;
    for (i, b) in doc.branches.iter().enumerate() {
        let prefix = if many {
            format!("(document {}) ", i + 1)
        } else {
            String::new()
        };
        walk_map(b, &prefix, &mut out, 0);
    }
    out
}

const MAX_DEPTH: usize = 512;

fn walk_map(m: &Map, at: &str, out: &mut Vec<String>, depth: usize) {
    for (k, v) in m.entries() {
        let key = serde_json::Value::String(k.to_owned()).to_string();
        walk_value(v, &format!("{at}[{key}]"), out, depth + 1);
    }
}

fn walk_value(v: &Value, at: &str, out: &mut Vec<String>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match v {
        Value::Map(m) => walk_map(m, at, out, depth),
        Value::Seq(items) => {
            let values = items.iter().filter_map(|i| match i {
                SeqItem::Value(v) => Some(v),
                SeqItem::Comment(_) => None,
            });
            for (i, v) in values.enumerate() {
                walk_value(v, &format!("{at}[{i}]"), out, depth + 1);
            }
        }
        Value::Str(s) if crate::crypto::value::is_encrypted(s) => out.push(at.to_owned()),
        _ => {}
    }
}
