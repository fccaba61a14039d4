//! `leafseal history`: which key paths each commit added, changed or removed, without any
//! key. leafseal re-encrypts only the values that change (untouched ciphertext stays
//! byte-identical), so comparing the stored text of each leaf between two versions of a
//! file shows which values a commit touched. A commit in which every wrapped data key
//! (`enc`) changed rotated the data key (every value re-encrypted); one whose key list
//! changed changed the recipients. Nothing here prints, and no value is kept: leaves are
//! compared by a SHA-256 digest of their stored text.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::path::Path;

use sha2::Digest;
use sha2::Sha256;

use crate::format::Loaded;
use crate::metadata::Metadata;
use crate::tree::Item;
use crate::tree::Map;
use crate::tree::SeqItem;
use crate::tree::Value;
use crate::treepath::Step;

pub mod git;
pub mod values;

pub use git::Commit;
pub use git::Version;

/// What a commit did to one key path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The key path appeared.
    Added,
    /// Its stored value changed.
    Changed,
    /// Its stored value changed in a commit that rotated the data key, where every
    /// encrypted value is re-encrypted: whether the value itself changed needs the key
    /// (`--values`).
    Reencrypted,
    /// The key path disappeared.
    Removed,
}

impl Action {
    /// `added`, `changed`, `re-encrypted` or `removed`.
    pub fn name(self) -> &'static str {
        match self {
            Action::Added => "added",
            Action::Changed => "changed",
            Action::Reencrypted => "re-encrypted",
            Action::Removed => "removed",
        }
    }
}

/// The key-free view of one version of the file.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// Key path (`["a"][0]`) → digest of the stored value text.
    pub leaves: BTreeMap<String, [u8; 32]>,
    /// Whether the file had sops metadata.
    pub encrypted: bool,
    /// `kind id` of every key, per group, the id as the file has it (compared, never
    /// shown: [`RecipientChange`] shows them).
    pub keys: Vec<BTreeSet<String>>,
    /// Every wrapped data key (`enc`).
    pub encs: BTreeSet<String>,
    /// The key paths whose stored value is encrypted (`ENC[…]`).
    pub encrypted_paths: BTreeSet<String>,
    /// Why the version could not be read, if it could not.
    pub unreadable: Option<String>,
}

/// Renders a tree path as `["key"][0]`.
pub fn render_path(steps: &[Step]) -> String {
    let mut s = String::new();
    for st in steps {
        match st {
            Step::Key(k) => {
                s.push_str("[\"");
                s.push_str(k);
                s.push_str("\"]");
            }
            Step::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

fn branch_prefix(i: usize, n: usize) -> String {
    if n > 1 {
        format!("(document {}) ", i + 1)
    } else {
        String::new()
    }
}

/// Calls `f(path, value)` for every scalar leaf (nulls included) of a loaded document.
pub(crate) fn for_each_leaf(doc: &crate::tree::Document, f: &mut dyn FnMut(String, &Value)) {
    let n = doc.branches.len();
    for (i, b) in doc.branches.iter().enumerate() {
        let prefix = branch_prefix(i, n);
        let mut steps = Vec::new();
        walk_map(b, &mut steps, &prefix, f);
    }
}

fn walk_map(m: &Map, steps: &mut Vec<Step>, prefix: &str, f: &mut dyn FnMut(String, &Value)) {
    for it in &m.0 {
        if let Item::Entry(k, v) = it {
            steps.push(Step::Key(k.clone()));
            walk_value(v, steps, prefix, f);
            steps.pop();
        }
    }
}

fn walk_value(v: &Value, steps: &mut Vec<Step>, prefix: &str, f: &mut dyn FnMut(String, &Value)) {
    match v {
        Value::Map(m) => walk_map(m, steps, prefix, f),
        Value::Seq(items) => {
            let mut i = 0;
            for it in items {
                if let SeqItem::Value(v) = it {
                    steps.push(Step::Index(i));
                    walk_value(v, steps, prefix, f);
                    steps.pop();
                    i += 1;
                }
            }
        }
        leaf => f(format!("{prefix}{}", render_path(steps)), leaf),
    }
}

fn digest(v: &Value) -> [u8; 32] {
    let mut h = Sha256::new();
    match v {
        Value::Str(s) => {
            h.update(b"s");
            h.update(s.as_str().as_bytes());
        }
        Value::Bytes(b) => {
            h.update(b"b");
            h.update(&b[..]);
        }
        Value::Int(i) => h.update(format!("i{i}").as_bytes()),
        Value::Float(x) => h.update(format!("f{}", x.to_bits()).as_bytes()),
        Value::Bool(b) => h.update(format!("t{b}").as_bytes()),
        Value::Time(t) => h.update(format!("d{}", t.to_rfc3339_nano()).as_bytes()),
        Value::Null => h.update(b"n"),
        Value::Map(_) | Value::Seq(_) => {}
    }
    h.finalize().into()
}

/// Key-free snapshot of a file's content (`path` picks the format).
pub fn snapshot(path: &Path, bytes: &[u8]) -> Snapshot {
    let format = crate::check::format_of(path, bytes);
    let loaded: Loaded = match format.store().load(bytes) {
        Ok(l) => l,
        Err(e) => {
            return Snapshot {
                unreadable: Some(format!("cannot be parsed as {}: {e}", format.name())),
                ..Snapshot::default()
            };
        }
    };
    let mut s = Snapshot::default();
    for_each_leaf(&loaded.doc, &mut |p, v| {
        if let Value::Str(t) = v
            && crate::crypto::value::is_encrypted(t.as_str())
        {
            s.encrypted_paths.insert(p.clone());
        }
        s.leaves.insert(p, digest(v));
    });
    if let Some(raw) = &loaded.meta {
        s.encrypted = true;
        match Metadata::from_map(raw) {
            Ok(meta) => {
                for g in &meta.key_groups {
                    s.keys.push(
                        g.iter()
                            .map(|k| format!("{} {}", k.key.kind().field(), k.key.id()))
                            .collect(),
                    );
                    s.encs.extend(g.iter().map(|k| k.enc.trim().to_owned()));
                }
            }
            Err(e) => s.unreadable = Some(format!("its sops metadata cannot be read: {e}")),
        }
    }
    s
}

/// Whether `cur` has a new data key compared with `prev`: both encrypted, no wrapped data
/// key (`enc`) of `prev` is left in `cur`, and every value encrypted in both versions was
/// re-encrypted. (Re-wrapping the same data key for new recipients, as `updatekeys` does,
/// changes every `enc` too, but leaves the values' ciphertext as it was.)
pub fn rotated(prev: &Snapshot, cur: &Snapshot) -> bool {
    let encs_changed = prev.encrypted
        && cur.encrypted
        && !prev.encs.is_empty()
        && !cur.encs.is_empty()
        && prev.encs.is_disjoint(&cur.encs);
    encs_changed
        && prev
            .encrypted_paths
            .intersection(&cur.encrypted_paths)
            .all(|p| prev.leaves.get(p) != cur.leaves.get(p))
}

/// A recipient change: keys added and removed (`kind id`, the id as
/// [`crate::redact::display_id`] shows it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecipientChange {
    /// Keys in the new version only.
    pub added: Vec<String>,
    /// Keys in the old version only.
    pub removed: Vec<String>,
    /// Whether the grouping changed (number of groups, or a key moved between groups).
    pub regrouped: bool,
}

fn recipient_change(prev: &Snapshot, cur: &Snapshot) -> Option<RecipientChange> {
    if !prev.encrypted || !cur.encrypted || prev.keys == cur.keys {
        return None;
    }
    let all = |s: &Snapshot| {
        s.keys
            .iter()
            .flatten()
            .cloned()
            .collect::<BTreeSet<String>>()
    };
    let (a, b) = (all(prev), all(cur));
    // `kind` is a metadata field name: the id starts after the first space.
    let shown = |k: &String| match k.split_once(' ') {
        Some((kind, id)) => format!("{kind} {}", crate::redact::display_id(id)),
        None => crate::redact::display_id(k).into_owned(),
    };
    Some(RecipientChange {
        added: b.difference(&a).map(shown).collect(),
        removed: a.difference(&b).map(shown).collect(),
        regrouped: a == b,
    })
}

/// One commit of the file's history.
#[derive(Debug, Clone)]
pub struct CommitEntry {
    /// The commit.
    pub commit: Commit,
    /// The file's path at that commit.
    pub path: String,
    /// The file appeared (first version, or re-added after a deletion).
    pub created: bool,
    /// The commit deleted the file.
    pub deleted: bool,
    /// The data key was rotated.
    pub rotated: bool,
    /// The file had sops metadata in this version and not in the one before (a first
    /// data key).
    pub became_encrypted: bool,
    /// The recipients changed.
    pub recipients: Option<RecipientChange>,
    /// (key path, action) for every key path touched, in path order.
    pub changes: Vec<(String, Action)>,
    /// Why this version could not be read, if so.
    pub unreadable: Option<String>,
}

/// The whole history of a file, oldest commit first.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Every commit touching the file.
    pub commits: Vec<CommitEntry>,
}

impl History {
    /// Per key path, the (commit index, action) list, in commit order.
    pub fn by_path(&self) -> BTreeMap<&str, Vec<(usize, Action)>> {
        let mut m: BTreeMap<&str, Vec<(usize, Action)>> = BTreeMap::new();
        for (i, c) in self.commits.iter().enumerate() {
            for (p, a) in &c.changes {
                m.entry(p.as_str()).or_default().push((i, *a));
            }
        }
        m
    }
}

/// Compares consecutive versions (given newest first, as git lists them).
pub fn analyze(versions: &[Version]) -> Result<History, crate::error::Error> {
    let mut prev = Snapshot::default();
    let mut had = false;
    let mut commits = Vec::new();
    for v in versions.iter().rev() {
        // One version's content at a time: only the two snapshots are kept.
        let bytes = v.bytes()?;
        let cur = match &bytes {
            Some(b) => snapshot(Path::new(&v.path), b),
            None => Snapshot::default(),
        };
        let exists = bytes.is_some();
        drop(bytes);
        let rot = rotated(&prev, &cur);
        let mut changes = Vec::new();
        for (p, d) in &cur.leaves {
            match prev.leaves.get(p) {
                None => changes.push((p.clone(), Action::Added)),
                Some(old) if old != d => changes.push((
                    p.clone(),
                    if rot {
                        Action::Reencrypted
                    } else {
                        Action::Changed
                    },
                )),
                Some(_) => {}
            }
        }
        for p in prev.leaves.keys() {
            if !cur.leaves.contains_key(p) {
                changes.push((p.clone(), Action::Removed));
            }
        }
        changes.sort_by(|a, b| a.0.cmp(&b.0));
        commits.push(CommitEntry {
            commit: v.commit.clone(),
            path: v.path.clone(),
            created: !had && exists,
            deleted: !exists,
            rotated: rot,
            became_encrypted: cur.encrypted && !prev.encrypted,
            recipients: recipient_change(&prev, &cur),
            changes,
            unreadable: cur.unreadable.clone(),
        });
        had = exists;
        prev = cur;
    }
    Ok(History { commits })
}

/// Keeps only the changes of one key path (and the commits that touch it, rotate the data
/// key or change the recipients).
pub fn filter(h: &mut History, path: &str) {
    for c in &mut h.commits {
        c.changes.retain(|(p, _)| p == path);
    }
}

/// Normalizes a user-given key path (`["db"]['password']`) to the form history shows.
pub fn normalize_path(s: &str) -> Result<String, crate::error::Error> {
    Ok(render_path(&crate::treepath::parse(s)?))
}

/// The newest commit that rotated the data key (or created the file), from versions given
/// newest first; `None` when git has no version with sops metadata.
pub fn last_rotation(versions: &[Version]) -> Result<Option<CommitEntry>, crate::error::Error> {
    Ok(analyze(versions)?
        .commits
        .into_iter()
        .rev()
        .find(|c| c.rotated || c.became_encrypted))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(ids: &[&str]) -> Snapshot {
        Snapshot {
            encrypted: true,
            keys: vec![ids.iter().map(|s| (*s).to_owned()).collect()],
            ..Snapshot::default()
        }
    }

    #[test]
    fn recipient_changes_are_compared_raw_and_shown_inert() {
        // Two ids that differ only in a hidden character are two keys (a change is
        // seen), and each is shown without it.
        let prev = keys(&["age age1x", "kms arn:aws:kms:r:1:key/a\u{1b}[2J"]);
        let cur = keys(&["age age1x", "kms arn:aws:kms:r:1:key/a\u{202e}[2J"]);
        let c = recipient_change(&prev, &cur).expect("a change");
        assert_eq!(c.added, ["kms arn:aws:kms:r:1:key/a?[2J"]);
        assert_eq!(c.removed, ["kms arn:aws:kms:r:1:key/a?[2J"]);
        let secret = format!(
            "hc_vault https://v/v1/t/keys/AGE-SECRET-KEY-1{}",
            "Q".repeat(58)
        );
        let c = recipient_change(&prev, &keys(&["age age1x", &secret])).expect("a change");
        assert_eq!(
            c.added,
            [format!("hc_vault {}", crate::redact::KEY_ID_MASK)]
        );
    }
}
