//! Key groups on existing files: wrapping a kept data key for new groups, the
//! `updatekeys` plan (what the policy now names versus what the file has), and
//! `groups add|delete`.

use std::sync::Arc;

use crate::crypto::DataKey;
use crate::error::Error;
use crate::error::Remedy;
use crate::error::exit;
use crate::keys::KeyContext;
use crate::keys::KeyKind;
use crate::keys::MasterKey;
use crate::keys::StoredKey;
use crate::keys::group;
use crate::metadata::KeyGroups;
use crate::metadata::Metadata;
use crate::tree::Map;

use super::capped_threshold;
use super::current_groups;

/// Checks a threshold for a number of groups and returns the one to store (0 for a
/// single group). With several groups it must be between 2 and the number of groups; 0
/// means "all groups".
fn checked_threshold(threshold: usize, groups: usize) -> Result<usize, Error> {
    if groups <= 1 {
        return Ok(0);
    }
    let t = if threshold == 0 { groups } else { threshold };
    if t < 2 || t > groups || groups > 255 {
        return Err(Error::new(
            exit::CONFLICTING_PARAMETERS,
            format!("invalid Shamir threshold {t} for {groups} key groups"),
        )
        .hint("the threshold must be between 2 and the number of key groups"));
    }
    Ok(t)
}

/// Wraps a kept (or new) data key for `groups` and stores them, with the threshold, in
/// `meta`. Values, the MAC and `lastmodified` are not touched. Every key must succeed;
/// on error `meta` is unchanged.
pub fn rewrap(
    meta: &mut Metadata,
    groups: &KeyGroups,
    threshold: usize,
    key: &DataKey,
    ctx: &KeyContext,
) -> Result<(), Error> {
    if groups.is_empty() || groups.iter().all(Vec::is_empty) {
        return Err(Error::new(
            exit::NO_ENCRYPTION_KEY_FOUND,
            "the file would have no keys left",
        )
        .hint("keep at least one key, or add one in the same command"));
    }
    if let Some(i) = groups.iter().position(Vec::is_empty) {
        return Err(Error::new(
            exit::GENERIC,
            format!("key group {i} would have no keys left"),
        )
        .hint("delete the group with `leafseal groups delete`, or keep one of its keys"));
    }
    let t = checked_threshold(threshold, groups.len())?;
    let wrapped = group::wrap(groups, t, key, ctx).map_err(|e| {
        // An age entry of the file whose recipient does not parse (empty, as sops writes
        // an entry without one back) is a defect of the file, not a key that failed:
        // exit 1, as sops (`rotate`, `updatekeys --rotate`). A recipient given on the
        // command line that does not parse was refused before, also with exit 1.
        let code = if e.kind == KeyKind::Age.field()
            && crate::keys::key_from_str(KeyKind::Age, &e.id).is_err()
        {
            exit::GENERIC
        } else {
            exit::ERROR_ENCRYPTING_TREE
        };
        Error::new(code, e.to_string())
            .hint("check that every recipient is valid and available (age recipient, PGP key in the keyring); nothing was written")
    })?;
    meta.key_groups = wrapped;
    meta.shamir_threshold = t;
    Ok(())
}

/// The change of one group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupDiff {
    /// Keys the group gains (kind, [`MasterKey::id`]; shown with [`shown_key`]).
    pub added: Vec<(KeyKind, String)>,
    /// Keys the group loses.
    pub removed: Vec<(KeyKind, String)>,
    /// Keys it keeps.
    pub kept: Vec<(KeyKind, String)>,
}

/// What `updatekeys` would do to one file.
#[derive(Debug)]
pub struct UpdatePlan {
    /// Per group index (the longer of old and new).
    pub diffs: Vec<GroupDiff>,
    /// The effective threshold now (0 for a single group).
    pub old_threshold: usize,
    /// The effective threshold after the update (0 for a single group).
    pub new_threshold: usize,
    /// The groups to wrap for.
    pub groups: KeyGroups,
}

impl UpdatePlan {
    /// Whether the file already has these groups and threshold.
    pub fn is_noop(&self) -> bool {
        self.old_threshold == self.new_threshold
            && self
                .diffs
                .iter()
                .all(|d| d.added.is_empty() && d.removed.is_empty())
    }

    /// Keys that lose access entirely (in no group any more). They had the data key,
    /// so they can still read the values as they are now.
    pub fn revoked(&self) -> Vec<(KeyKind, String)> {
        let mut out: Vec<(KeyKind, String)> = Vec::new();
        for d in &self.diffs {
            for r in &d.removed {
                let still = self
                    .groups
                    .iter()
                    .flatten()
                    .any(|k| k.kind() == r.0 && k.id() == r.1);
                if !still && !out.contains(r) {
                    out.push(r.clone());
                }
            }
        }
        out
    }
}

fn ids(group: &[Arc<dyn MasterKey>]) -> Vec<(KeyKind, String)> {
    let mut v: Vec<(KeyKind, String)> = Vec::new();
    for k in group {
        let id = (k.kind(), k.id());
        if !v.contains(&id) {
            v.push(id);
        }
    }
    v
}

fn effective(threshold: usize, groups: usize) -> usize {
    if groups <= 1 {
        0
    } else if threshold == 0 {
        groups
    } else {
        threshold.min(groups)
    }
}

/// Compares a file's groups with the groups a creation rule names. The new threshold is
/// the flag, else the rule's (when it sets one), else the file's, capped at the number
/// of groups.
pub fn plan_update(
    meta: &Metadata,
    rule_groups: &KeyGroups,
    threshold_flag: Option<usize>,
    rule_threshold: usize,
) -> UpdatePlan {
    let old = current_groups(&meta.key_groups);
    let n = old.len().max(rule_groups.len());
    let mut diffs = Vec::with_capacity(n);
    for i in 0..n {
        let o = old.get(i).map(|g| ids(g)).unwrap_or_default();
        let nw = rule_groups.get(i).map(|g| ids(g)).unwrap_or_default();
        diffs.push(GroupDiff {
            added: nw.iter().filter(|k| !o.contains(k)).cloned().collect(),
            removed: o.iter().filter(|k| !nw.contains(k)).cloned().collect(),
            kept: o.iter().filter(|k| nw.contains(k)).cloned().collect(),
        });
    }
    // A flag of 0 is no flag, as sops reads `--shamir-secret-sharing-threshold 0`.
    let wanted = threshold_flag
        .filter(|t| *t != 0)
        .or((rule_threshold != 0).then_some(rule_threshold))
        .unwrap_or(meta.shamir_threshold);
    UpdatePlan {
        diffs,
        old_threshold: effective(meta.shamir_threshold, old.len()),
        new_threshold: effective(wanted, rule_groups.len()),
        groups: rule_groups.clone(),
    }
}

/// Applies an update plan with the file's data key (kept): every key re-wrapped (new
/// `enc` and `created_at`). Returns the metadata map to write.
pub fn apply_update(
    meta: &mut Metadata,
    plan: &UpdatePlan,
    key: &DataKey,
    ctx: &KeyContext,
) -> Result<Map, Error> {
    rewrap(meta, &plan.groups, plan.new_threshold, key, ctx)?;
    Ok(meta.to_map())
}

/// `groups add`: appends a group, keeps the data key, re-splits and re-wraps for every
/// group. The threshold is the flag, else the file's (a flag of 0 is no flag; a file's
/// 0 means all groups).
pub fn add_group(
    meta: &mut Metadata,
    key: &DataKey,
    new_group: Vec<Arc<dyn MasterKey>>,
    threshold: Option<usize>,
    ctx: &KeyContext,
) -> Result<Map, Error> {
    if new_group.is_empty() {
        return Err(Error::new(exit::GENERIC, "the new key group has no keys")
            .remedy(Remedy::NewGroupWithoutKeys));
    }
    let mut groups = current_groups(&meta.key_groups);
    groups.push(new_group);
    // A flag of 0 is no flag, as in sops: the file's threshold stays.
    let t = threshold
        .filter(|t| *t != 0)
        .unwrap_or(meta.shamir_threshold);
    rewrap(meta, &groups, t, key, ctx)?;
    Ok(meta.to_map())
}

/// `groups delete`: removes the group at `index` (0-based), keeps the data key,
/// re-splits and re-wraps for the remaining groups. The threshold is the flag, else the
/// file's capped at the number of groups left.
pub fn delete_group(
    meta: &mut Metadata,
    key: &DataKey,
    index: usize,
    threshold: Option<usize>,
    ctx: &KeyContext,
) -> Result<Map, Error> {
    let mut groups = current_groups(&meta.key_groups);
    if index >= groups.len() {
        return Err(Error::new(
            exit::GENERIC,
            format!(
                "the file has {} key group(s); there is no group {index}",
                groups.len()
            ),
        )
        .hint("groups are numbered from 0"));
    }
    if groups.len() == 1 {
        return Err(Error::new(
            exit::GENERIC,
            "cannot delete the only key group of a file",
        ));
    }
    groups.remove(index);
    let threshold = threshold.filter(|t| *t != 0);
    // As sops: the (new or stored) threshold must still be reachable with the groups
    // that remain; it is never lowered silently.
    let wanted = threshold.unwrap_or(meta.shamir_threshold);
    if wanted > groups.len() {
        return Err(Error::new(
            exit::GENERIC,
            format!(
                "removing this key group would leave {} group(s), fewer than the Shamir threshold {wanted}",
                groups.len()
            ),
        )
        .remedy(Remedy::ThresholdTooHigh));
    }
    let t = match threshold {
        Some(t) => t,
        None => capped_threshold(meta.shamir_threshold, groups.len()),
    };
    rewrap(meta, &groups, t, key, ctx)?;
    Ok(meta.to_map())
}

/// The stored keys per group as shown (ids as [`MasterKey::display_id`] shows them).
pub fn describe(groups: &[Vec<StoredKey>]) -> Vec<Vec<(KeyKind, String)>> {
    groups
        .iter()
        .map(|g| {
            g.iter()
                .map(|s| (s.key.kind(), s.key.display_id()))
                .collect()
        })
        .collect()
}

/// `kind id` of a key of a plan or a report (kind and id as the file or the user has
/// it), the id as [`crate::redact::display_id`] shows it.
pub fn shown_key((kind, id): &(KeyKind, String)) -> String {
    format!("{} {}", kind.field(), crate::redact::display_id(id))
}

/// What [`update_keys`] produced: the document and metadata map to write, the master
/// keys that unwrapped the data key (for the audit trail) and notes for the user.
#[derive(Debug)]
pub struct Updated {
    /// The document to write: the same ciphertexts, or all new ones after a re-key.
    pub doc: crate::tree::Document,
    /// The metadata map to write.
    pub meta: crate::tree::Map,
    /// `kind id` of the master key(s) that unwrapped the data key.
    pub unwrapped_by: Vec<String>,
    /// Non-fatal notes (never a value).
    pub warnings: Vec<String>,
}

/// Applies an update plan to a loaded encrypted file (`updatekeys`). Without `rotate`
/// the data key and every ciphertext are kept: the key is recovered, the file's MAC and
/// integrity record are checked (without keeping any plaintext) and the key is wrapped
/// for the plan's groups. With `rotate` the file is opened and re-keyed. The returned
/// document is always the encrypted one; `format` is the format it is written in.
pub fn update_keys(
    loaded: crate::format::Loaded,
    plan: &UpdatePlan,
    rotate: bool,
    ctx: &KeyContext,
    opts: &crate::ops::OpenOptions,
    format: crate::format::Format,
) -> Result<Updated, Error> {
    if rotate {
        let mut opened = crate::ops::open(loaded, ctx, opts)?;
        let meta = super::rekey(&mut opened, &plan.groups, plan.new_threshold, ctx, format)?;
        return Ok(Updated {
            doc: std::mem::take(&mut opened.doc),
            meta,
            unwrapped_by: std::mem::take(&mut opened.unwrapped_by),
            warnings: std::mem::take(&mut opened.warnings),
        });
    }
    let mut meta = crate::ops::metadata_of(&loaded)?;
    let (key, unwrapped_by) = super::data_key_with_source(&meta, ctx, &opts.order)?;
    let mut warnings = Vec::new();
    crate::ops::certify(
        &loaded.doc,
        &mut meta,
        &key,
        opts.strict_integrity,
        &mut warnings,
    )?;
    let map = apply_update(&mut meta, plan, &key, ctx)?;
    Ok(Updated {
        doc: loaded.doc,
        meta: map,
        unwrapped_by,
        warnings,
    })
}
