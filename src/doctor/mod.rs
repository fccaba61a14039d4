//! `leafseal doctor`: "why can't I decrypt?" in one command.
//!
//! For the encrypted files in scope (and the keys the `.sops.yaml` rules name), it lists
//! every master key, asks each key source which credential source or identity it would
//! use and whether a harmless check works ([`crate::keys::MasterKey::probe`]), then tries
//! each file's wrapped data keys for real and judges, with the Shamir threshold, whether
//! this user can open the file. Nothing here prints; [`render`] builds the text and JSON.
//! No secret ever enters the report: recovered data keys are wiped on the spot.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::check;
use crate::check::Source;
use crate::check::Target;
use crate::keys::KeyContext;
use crate::keys::KeyError;
use crate::keys::KeyKind;
use crate::keys::MasterKey;
use crate::keys::ProbeStatus;
use crate::metadata::Metadata;
use crate::policy::Policy;

pub mod render;

/// How a check went, in plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// It worked; what was checked.
    Ok(String),
    /// It failed: the message and what to do.
    Failed {
        /// What went wrong.
        message: String,
        /// What to do next.
        hint: Option<String>,
    },
    /// Not checked, and why.
    NotChecked(String),
}

/// A key source's text (it names the key, may quote its service) as the report shows
/// it: see [`crate::redact::shown_text`].
fn shown(s: &str) -> String {
    crate::redact::shown_text(s).into_owned()
}

impl Status {
    fn failed(e: KeyError) -> Status {
        Status::Failed {
            message: shown(&e.message),
            hint: e.hint.as_deref().map(shown),
        }
    }

    /// `ok`, `failed` or `not checked`.
    pub fn word(&self) -> &'static str {
        match self {
            Status::Ok(_) => "ok",
            Status::Failed { .. } => "failed",
            Status::NotChecked(_) => "not checked",
        }
    }
}

/// One master key the files in scope (or the policy) name.
#[derive(Debug, Clone)]
pub struct KeyCheck {
    /// The metadata field of its kind (`age`, `pgp`, `kms`, …).
    pub kind: String,
    /// Its id (recipient, fingerprint, ARN, …) as shown ([`MasterKey::display_id`]).
    pub id: String,
    /// Where its credentials or identity come from, when the key source tells.
    pub source: Option<String>,
    /// The probe's outcome.
    pub status: Status,
    /// How many files in scope name it.
    pub files: usize,
    /// Whether a `.sops.yaml` rule names it (needed to encrypt new files).
    pub in_policy: bool,
}

/// One key of one file, tried for real.
#[derive(Debug, Clone)]
pub struct FileKey {
    /// Kind field name.
    pub kind: String,
    /// Id, as shown ([`MasterKey::display_id`]).
    pub id: String,
    /// Whether it unwrapped this file's data key (or share).
    pub status: Status,
}

/// One encrypted file.
#[derive(Debug, Clone)]
pub struct FileCheck {
    /// The file as listed.
    pub path: String,
    /// Its keys, per group.
    pub groups: Vec<Vec<FileKey>>,
    /// How many groups must contribute.
    pub needed: usize,
    /// How many groups this user can open.
    pub opened: usize,
}

impl FileCheck {
    /// Whether this user can open the file.
    pub fn decryptable(&self) -> bool {
        self.opened >= self.needed
    }
}

pub use crate::check::Skipped;

/// The whole report.
#[derive(Debug, Clone, Default)]
pub struct Doctor {
    /// The `.sops.yaml` used, if any.
    pub policy: Option<String>,
    /// Every key, sorted by kind and id.
    pub keys: Vec<KeyCheck>,
    /// Every encrypted file in scope, in listing order.
    pub files: Vec<FileCheck>,
    /// Encrypted files that could not be read.
    pub skipped: Vec<Skipped>,
}

impl Doctor {
    /// Files this user cannot open (skipped ones included).
    pub fn failures(&self) -> usize {
        self.files.iter().filter(|f| !f.decryptable()).count() + self.skipped.len()
    }
}

/// A key by kind and [`MasterKey::id`] (compared as the file has it, shown only through
/// [`MasterKey::display_id`]).
type KeyId = (KeyKind, String);

/// What the run learnt about one key.
struct Seen {
    /// A key to probe.
    key: Arc<dyn MasterKey>,
    /// Files in scope naming it.
    files: usize,
    /// Named by the policy.
    in_policy: bool,
    /// Files whose data key (or share) it opened.
    opened: usize,
}

impl Seen {
    fn new(key: &Arc<dyn MasterKey>) -> Seen {
        Seen {
            key: Arc::clone(key),
            files: 0,
            in_policy: false,
            opened: 0,
        }
    }
}

/// Builds the report over `targets` (read through `source`) and the keys of `policy`.
pub fn run(
    policy: Option<&Policy>,
    targets: &[Target],
    source: &dyn Source,
    ctx: &KeyContext,
) -> Doctor {
    let mut out = Doctor {
        policy: policy.map(|p| p.path.display().to_string()),
        ..Doctor::default()
    };
    let mut keys: BTreeMap<KeyId, Seen> = BTreeMap::new();
    check::each_sealed(targets, source, &mut out.skipped, |t, _, meta| {
        out.files
            .push(check_file(&t.display, &meta, ctx, &mut keys));
    });
    if let Some(p) = policy {
        for k in p.rules.iter().flat_map(|r| r.key_groups.iter().flatten()) {
            keys.entry((k.kind(), k.id()))
                .or_insert_with(|| Seen::new(k))
                .in_policy = true;
        }
    }
    out.keys = keys
        .into_iter()
        .map(|((kind, _), seen)| {
            let Seen {
                key,
                files,
                in_policy,
                opened,
            } = seen;
            let (source, status) = if files == 0 && kind == KeyKind::Age {
                (
                    None,
                    Status::NotChecked(
                        "named only by .sops.yaml: encrypting to it needs no identity".to_owned(),
                    ),
                )
            } else {
                let p = key.probe(ctx);
                let status = match p.status {
                    ProbeStatus::Ok(what) => Status::Ok(shown(&what)),
                    // The probe may need a permission decrypting does not (kms:DescribeKey):
                    // what the key really did wins.
                    ProbeStatus::Failed(e) if opened > 0 => Status::Ok(format!(
                        "opens {opened} file(s) in scope (the probe itself failed: {})",
                        shown(&e.message)
                    )),
                    ProbeStatus::Failed(e) => Status::failed(e),
                    ProbeStatus::NotChecked(why) if opened > 0 => {
                        Status::Ok(format!("opens {opened} file(s) in scope ({})", shown(&why)))
                    }
                    ProbeStatus::NotChecked(why) => Status::NotChecked(shown(&why)),
                };
                (p.source.as_deref().map(shown), status)
            };
            KeyCheck {
                kind: kind.field().to_owned(),
                id: key.display_id(),
                source,
                status,
                files,
                in_policy,
            }
        })
        .collect();
    out
}

fn check_file(
    path: &str,
    meta: &Metadata,
    ctx: &KeyContext,
    keys: &mut BTreeMap<KeyId, Seen>,
) -> FileCheck {
    let mut groups = Vec::new();
    let mut opened = 0;
    let mut named: Vec<KeyId> = Vec::new();
    for g in &meta.key_groups {
        let mut row = Vec::new();
        let mut any = false;
        for stored in g {
            let id = (stored.key.kind(), stored.key.id());
            let seen = keys
                .entry(id.clone())
                .or_insert_with(|| Seen::new(&stored.key));
            if !named.contains(&id) {
                named.push(id);
                seen.files += 1;
            }
            // The recovered part is wiped when it goes out of scope here.
            let status = match stored.key.unwrap(&stored.enc, ctx) {
                Ok(_) => {
                    any = true;
                    seen.opened += 1;
                    Status::Ok("opens this file's data key".to_owned())
                }
                Err(e) => Status::failed(e),
            };
            row.push(FileKey {
                kind: stored.key.kind().field().to_owned(),
                id: stored.key.display_id(),
                status,
            });
        }
        if any {
            opened += 1;
        }
        groups.push(row);
    }
    let needed = meta.groups_needed();
    FileCheck {
        path: path.to_owned(),
        groups,
        needed,
        opened,
    }
}
