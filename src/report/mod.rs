//! `leafseal access`: who can open what, from the metadata and git alone (no private key).
//!
//! For every encrypted file: its key groups and the Shamir threshold resolved into the
//! combinations of groups that suffice; the inverse view per recipient (the files it opens
//! alone, and those it opens only together with other groups); drift from `.sops.yaml`
//! (the same comparison as `check`'s `recipient-drift`); and the data key's age, from
//! the metadata (`created_at`/`lastmodified`) and from git (the newest commit in which
//! every wrapped data key changed). Nothing here prints; [`render`] and [`html`] build
//! the text the CLI writes.

use std::collections::BTreeMap;
use std::path::Path;

use crate::check;
use crate::check::Source;
use crate::check::Target;
use crate::history;
use crate::history::Commit;
use crate::metadata::Metadata;
use crate::policy::Policy;

pub mod html;
pub mod render;

/// One key, as `kind` and id (age recipient, PGP fingerprint, KMS ARN, Vault URI, …).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyRef {
    /// The metadata field name of its kind (`age`, `pgp`, `kms`, …).
    pub kind: String,
    /// Its id as shown ([`crate::keys::MasterKey::display_id`]: the report is for
    /// reading, and the ids come from files anyone with write access controls).
    pub id: String,
}

impl KeyRef {
    /// `kind id`.
    pub fn label(&self) -> String {
        format!("{} {}", self.kind, self.id)
    }
}

/// The data key's last rotation as git records it.
#[derive(Debug, Clone)]
pub struct GitRotation {
    /// The commit that wrote the current data key (or first encrypted the file).
    pub commit: Commit,
    /// Whether the work tree's file has a data key no commit has yet.
    pub uncommitted: bool,
}

/// Access to one encrypted file.
#[derive(Debug, Clone)]
pub struct FileAccess {
    /// The file, as listed.
    pub path: String,
    /// The keys of each group (group 1 first).
    pub groups: Vec<Vec<KeyRef>>,
    /// How many groups must contribute (the effective Shamir threshold).
    pub threshold: usize,
    /// The drift from the `.sops.yaml` rule, if any.
    pub drift: Option<String>,
    /// Whether a `.sops.yaml` rule governs the file.
    pub has_rule: bool,
    /// `lastmodified` as stored.
    pub lastmodified: String,
    /// The data key's birth from the metadata (RFC 3339) and where it was read from.
    pub key_born: Option<(String, &'static str)>,
    /// The data key's last rotation in git, when the file is in a repository.
    pub git_rotation: Option<GitRotation>,
    /// Pending write-only contributions (`id path`, signed or not), see [`crate::contrib`].
    pub pending: Vec<String>,
}

impl FileAccess {
    /// The combinations of groups that open the data key, in words.
    pub fn combinations(&self) -> String {
        combinations(self.groups.len(), self.threshold)
    }

    /// How `key` reaches this file, if it does.
    pub fn reach(&self, key: &KeyRef) -> Option<Reach> {
        let have: Vec<usize> = self
            .groups
            .iter()
            .enumerate()
            .filter(|(_, g)| g.contains(key))
            .map(|(i, _)| i + 1)
            .collect();
        if have.is_empty() {
            return None;
        }
        if have.len() >= self.threshold {
            return Some(Reach::Alone);
        }
        let others: Vec<usize> = (1..=self.groups.len())
            .filter(|g| !have.contains(g))
            .collect();
        Some(Reach::WithOthers {
            groups: have.clone(),
            more: self.threshold - have.len(),
            of: others,
        })
    }
}

/// The combinations of `n` groups with threshold `t`, in words.
pub fn combinations(n: usize, t: usize) -> String {
    let list = |n: usize| {
        (1..=n)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (n, t) {
        (0, _) => "no key: nobody can open the data key".to_owned(),
        (1, _) => "any one key of the file's only group".to_owned(),
        (n, t) if t >= n => format!("one key from each of all {n} groups ({})", list(n)),
        (n, t) => format!("one key from each of any {t} of groups {}", list(n)),
    }
}

/// How a recipient reaches a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// The key alone opens the data key.
    Alone,
    /// Only with keys of other groups.
    WithOthers {
        /// The groups (1-based) the key is in.
        groups: Vec<usize>,
        /// How many more groups must contribute.
        more: usize,
        /// The groups it may take them from.
        of: Vec<usize>,
    },
}

impl Reach {
    /// A short form for tables: `alone`, or `+1 of groups 2, 3`.
    pub fn short(&self) -> String {
        match self {
            Reach::Alone => "alone".to_owned(),
            Reach::WithOthers { more, of, .. } => format!(
                "+{more} of group{} {}",
                if of.len() == 1 { "" } else { "s" },
                of.iter()
                    .map(|g| g.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

pub use crate::check::Skipped;

/// The report.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// Every encrypted file, in listing order.
    pub files: Vec<FileAccess>,
    /// Encrypted files whose metadata cannot be read.
    pub skipped: Vec<Skipped>,
}

/// One recipient's view.
#[derive(Debug, Clone)]
pub struct RecipientAccess {
    /// The key.
    pub key: KeyRef,
    /// (index into [`Access::files`], how it reaches it).
    pub files: Vec<(usize, Reach)>,
}

impl Access {
    /// Every key named by any file, sorted by kind and id, with the files it reaches.
    pub fn recipients(&self) -> Vec<RecipientAccess> {
        let mut keys: BTreeMap<KeyRef, Vec<(usize, Reach)>> = BTreeMap::new();
        for f in &self.files {
            for k in f.groups.iter().flatten() {
                keys.entry(k.clone()).or_default();
            }
        }
        for (k, v) in &mut keys {
            for (i, f) in self.files.iter().enumerate() {
                if let Some(r) = f.reach(k) {
                    v.push((i, r));
                }
            }
        }
        keys.into_iter()
            .map(|(key, files)| RecipientAccess { key, files })
            .collect()
    }
}

/// Options of a run.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccessOptions {
    /// Ask git for the last rotation of each file.
    pub git: bool,
}

fn keyrefs(meta: &Metadata) -> Vec<Vec<KeyRef>> {
    meta.key_groups
        .iter()
        .map(|g| {
            g.iter()
                .map(|s| KeyRef {
                    kind: s.key.kind().field().to_owned(),
                    id: s.key.display_id(),
                })
                .collect()
        })
        .collect()
}

fn git_rotation(path: &Path, bytes: &[u8]) -> Option<GitRotation> {
    if !history::git::in_repository(path) {
        return None;
    }
    let versions = history::git::versions(path).ok()?;
    // A version git cannot give leaves the rotation unknown, as outside a repository.
    let last = history::last_rotation(&versions).ok()??;
    let committed = match versions.first().map(history::Version::bytes) {
        Some(Err(_)) => return None,
        Some(Ok(b)) => b.map(|b| history::snapshot(Path::new(&versions[0].path), &b)),
        None => None,
    };
    let now = history::snapshot(path, bytes);
    let uncommitted = committed.is_some_and(|c| history::rotated(&c, &now));
    Some(GitRotation {
        commit: last.commit,
        uncommitted,
    })
}

/// Builds the report over `targets`, read through `source`.
pub fn collect(
    policy: Option<&Policy>,
    targets: &[Target],
    source: &dyn Source,
    opts: AccessOptions,
) -> Access {
    let mut out = Access::default();
    check::each_sealed(targets, source, &mut out.skipped, |t, bytes, meta| {
        out.files.push(FileAccess {
            path: t.display.clone(),
            groups: keyrefs(&meta),
            threshold: meta.groups_needed(),
            drift: check::recipient_drift(policy, &t.path, &meta),
            has_rule: check::has_rule(policy, &t.path),
            lastmodified: meta.lastmodified.trim().to_owned(),
            key_born: check::key_birth(&meta).map(|(t, from)| (t.to_rfc3339(), from)),
            git_rotation: if opts.git {
                git_rotation(&t.path, bytes)
            } else {
                None
            },
            pending: pending_list(&meta),
        });
    });
    out
}

/// The pending contributions of a file, one line each (a malformed field is one line),
/// as text from the file is shown ([`crate::redact::shown_text`]).
fn pending_list(meta: &Metadata) -> Vec<String> {
    let lines = match crate::contrib::list(meta) {
        Ok(list) => list
            .iter()
            .map(|p| {
                format!(
                    "{} {} ({}, {})",
                    p.id,
                    p.path,
                    p.created,
                    if p.signature.is_some() {
                        "signed"
                    } else {
                        "unsigned"
                    }
                )
            })
            .collect(),
        Err(e) => vec![e.message],
    };
    lines
        .iter()
        .map(|l| crate::redact::shown_text(l).into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> KeyRef {
        KeyRef {
            kind: "age".to_owned(),
            id: id.to_owned(),
        }
    }

    fn file(groups: Vec<Vec<KeyRef>>, threshold: usize) -> FileAccess {
        FileAccess {
            path: "f".to_owned(),
            groups,
            threshold,
            drift: None,
            has_rule: true,
            lastmodified: String::new(),
            key_born: None,
            git_rotation: None,
            pending: Vec::new(),
        }
    }

    #[test]
    fn thresholds_resolve_into_combinations_and_reach() {
        assert_eq!(combinations(1, 1), "any one key of the file's only group");
        assert_eq!(
            combinations(3, 3),
            "one key from each of all 3 groups (1, 2, 3)"
        );
        assert_eq!(
            combinations(3, 2),
            "one key from each of any 2 of groups 1, 2, 3"
        );
        let f = file(
            vec![vec![key("a"), key("b")], vec![key("b")], vec![key("c")]],
            2,
        );
        // b is in two groups: enough for a threshold of 2 on its own.
        assert_eq!(f.reach(&key("b")), Some(Reach::Alone));
        assert_eq!(
            f.reach(&key("a")),
            Some(Reach::WithOthers {
                groups: vec![1],
                more: 1,
                of: vec![2, 3]
            })
        );
        assert_eq!(f.reach(&key("z")), None);
        let all = file(vec![vec![key("a")], vec![key("c")], vec![key("d")]], 3);
        assert_eq!(
            all.reach(&key("c")).map(|r| r.short()),
            Some("+2 of groups 1, 3".to_owned())
        );
    }
}
