//! Key groups: wrapping the data key for every master key, and recovering it — one group
//! directly, several groups through Shamir shares up to the threshold.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use zeroize::Zeroizing;

use crate::crypto::DataKey;
use crate::crypto::shamir;
use crate::keys::KeyContext;
use crate::keys::KeyError;
use crate::keys::KeyKind;
use crate::keys::MasterKey;
use crate::keys::StoredKey;
use crate::keys::deadline::KeyServiceBudget;
use crate::time::Timestamp;

/// One key's failure, for the report.
#[derive(Debug, Clone)]
pub struct KeyAttempt {
    /// Group index (0-based).
    pub group: usize,
    /// Kind of key.
    pub kind: KeyKind,
    /// The key's id as shown ([`MasterKey::display_id`]).
    pub id: String,
    /// What happened.
    pub error: KeyError,
}

/// The data key could not be recovered; lists every key tried and why it failed.
#[derive(Debug, Clone)]
pub struct RecoverError {
    /// Every failed attempt, in the order tried.
    pub attempts: Vec<KeyAttempt>,
    /// Number of groups in the file.
    pub groups: usize,
    /// Parts (groups) that succeeded.
    pub recovered: usize,
    /// How many were needed.
    pub threshold: usize,
    /// A problem combining the shares, if that is what failed.
    pub combine: Option<String>,
}

/// Where a key error's list of consulted key sources starts (see `keys::age`).
const SOURCES: &str = "; sources consulted: ";

impl fmt::Display for RecoverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(c) = &self.combine {
            if self.groups <= 1 {
                return write!(f, "the data key could not be recovered: {c}");
            }
            return write!(f, "the key group shares could not be combined: {c}");
        }
        if self.groups == 1 {
            writeln!(f, "no key could decrypt the data key. Tried:")?;
        } else {
            writeln!(
                f,
                "only {} of {} key groups could be decrypted, {} needed (Shamir threshold). Tried:",
                self.recovered, self.groups, self.threshold
            )?;
        }
        // Keys of one kind usually fail for the same reason (no identity at all): the list
        // of key sources and the hint are written once, not once per recipient.
        let mut seen_sources: Vec<String> = Vec::new();
        let mut seen_hints: Vec<&str> = Vec::new();
        for a in &self.attempts {
            if self.groups > 1 {
                write!(f, "  group {}: ", a.group)?;
            } else {
                f.write_str("  ")?;
            }
            write!(f, "{} {}: ", a.kind.field(), a.id)?;
            let redundant = format!("cannot decrypt the age data key for {}: ", a.id);
            // A key source's message names the key and may quote what its service said:
            // shown like the id (no terminal escapes, no key material).
            let message = crate::redact::shown_text(&a.error.message);
            let msg = message.strip_prefix(&redundant).unwrap_or(&message);
            match msg.split_once(SOURCES) {
                Some((what, sources)) if seen_sources.iter().any(|s| s == sources) => {
                    write!(f, "{what} (the same key sources as above)")?;
                }
                Some((_, sources)) => {
                    seen_sources.push(sources.to_owned());
                    f.write_str(msg)?;
                }
                None => f.write_str(msg)?,
            }
            if let Some(h) = a.error.hint.as_deref()
                && !seen_hints.contains(&h)
            {
                seen_hints.push(h);
                write!(f, " ({})", crate::redact::shown_text(h))?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

impl std::error::Error for RecoverError {}

/// Orders a group's keys for decryption: kinds in `order` first (in that order), then the
/// rest in file order.
fn ordered<'a>(group: &'a [StoredKey], order: &[KeyKind]) -> Vec<&'a StoredKey> {
    let mut out: Vec<&StoredKey> = Vec::with_capacity(group.len());
    for kind in order {
        out.extend(group.iter().filter(|s| s.key.kind() == *kind));
    }
    out.extend(group.iter().filter(|s| !order.contains(&s.key.kind())));
    out
}

/// The default decryption order: local keys (age, then PGP) before network ones.
pub const DEFAULT_ORDER: [KeyKind; 2] = [KeyKind::Age, KeyKind::Pgp];

/// Recovers the data key. Stops at the first key that works in each group, and stops
/// trying groups once the threshold is reached, so a file with many recipients makes at
/// most the calls it needs (a threshold below 2 with several groups visits every group,
/// as sops does).
pub fn recover(
    groups: &[Vec<StoredKey>],
    threshold: usize,
    order: &[KeyKind],
    ctx: &KeyContext,
) -> Result<DataKey, RecoverError> {
    recover_with_keys(groups, threshold, order, ctx).map(|(key, _)| key)
}

/// [`recover`], also naming the master key that unwrapped each part used (`kind id`, in
/// group order), for the audit trail.
pub fn recover_with_keys(
    groups: &[Vec<StoredKey>],
    threshold: usize,
    order: &[KeyKind],
    ctx: &KeyContext,
) -> Result<(DataKey, Vec<String>), RecoverError> {
    let mut used = Vec::new();
    // A threshold below 2 with several groups is what sops 3.11 writes after `groups add`
    // or `groups delete --shamir-secret-sharing-threshold 1`: its split fails and the
    // file keeps the shares of the old split. sops reads such a file by visiting every
    // group and combining every share it gets; so does this (the shares' real threshold
    // is not known, and a wrong combination fails the data's authentication later).
    let every_group = groups.len() > 1 && threshold < 2;
    let needed = if groups.len() <= 1 {
        1
    } else if every_group {
        2
    } else {
        threshold
    };
    // A part of another length is that key's failure (a damaged or foreign `enc`, a
    // key service answering wrongly): the next key of the group may still work.
    let (part_len, part_name) = if groups.len() <= 1 {
        (DATA_KEY_LEN, "a data key")
    } else {
        (DATA_KEY_LEN + 1, "a key group share")
    };
    let mut attempts = Vec::new();
    let mut parts: Vec<Zeroizing<Vec<u8>>> = Vec::new();
    let mut budget = KeyServiceBudget::new(ctx);
    for (gi, group) in groups.iter().enumerate() {
        if parts.len() >= needed && !every_group {
            break;
        }
        for stored in ordered(group, order) {
            let kind = stored.key.kind();
            if let Some(error) = budget.refuse(kind, ctx) {
                attempts.push(KeyAttempt {
                    group: gi,
                    kind,
                    id: stored.key.display_id(),
                    error,
                });
                continue;
            }
            let started = Instant::now();
            let scope = budget.scope(kind, ctx);
            let unwrapped = ctx.unwrap_key(stored.key.as_ref(), &stored.enc);
            drop(scope);
            budget.spend(kind, ctx, started);
            let unwrapped = unwrapped.and_then(|part| {
                if part.len() == part_len {
                    Ok(part)
                } else {
                    Err(wrong_length(part.len(), part_len, part_name))
                }
            });
            match unwrapped {
                Ok(part) => {
                    parts.push(part);
                    used.push(format!(
                        "{} {}",
                        stored.key.kind().field(),
                        stored.key.display_id()
                    ));
                    break;
                }
                Err(error) => attempts.push(KeyAttempt {
                    group: gi,
                    kind: stored.key.kind(),
                    id: stored.key.display_id(),
                    error,
                }),
            }
        }
    }
    let fail = |combine: Option<String>, attempts: Vec<KeyAttempt>, recovered| RecoverError {
        attempts,
        groups: groups.len(),
        recovered,
        threshold: needed,
        combine,
    };
    if parts.len() < needed {
        return Err(fail(None, attempts, parts.len()));
    }
    let key_bytes = if groups.len() <= 1 {
        parts.swap_remove(0)
    } else {
        let refs: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
        shamir::combine(&refs).map_err(|e| fail(Some(e.to_string()), Vec::new(), parts.len()))?
    };
    let key = DataKey::from_slice(&key_bytes).ok_or_else(|| {
        fail(
            Some("the unwrapped data key is not 32 bytes long".to_owned()),
            Vec::new(),
            parts.len(),
        )
    })?;
    Ok((key, used))
}

/// Length of a data key (a Shamir share is one byte longer: its x coordinate).
const DATA_KEY_LEN: usize = 32;

fn wrong_length(got: usize, want: usize, what: &str) -> KeyError {
    KeyError::with_hint(
        format!("it unwrapped to {got} bytes, not the {want} bytes of {what}"),
        "the `enc` value of this key may be damaged or copied from another file, or its key \
         source or key service answered wrongly; another key of the file may still work",
    )
}

/// A key that could not wrap the data key.
#[derive(Debug, thiserror::Error)]
#[error(
    "could not encrypt the data key for {kind} key {id}: {}",
    crate::redact::shown_text(&error.to_string())
)]
pub struct WrapError {
    /// Kind of key.
    pub kind: &'static str,
    /// The key's id as shown ([`MasterKey::display_id`]).
    pub id: String,
    /// Why.
    pub error: KeyError,
}

/// Wraps the data key for every key of every group (Shamir shares for several groups).
/// All keys must succeed; on any failure nothing is returned. An empty group is refused
/// (its share would be wrapped for nobody), as sops refuses it.
pub fn wrap(
    groups: &[Vec<Arc<dyn MasterKey>>],
    threshold: usize,
    data_key: &DataKey,
    ctx: &KeyContext,
) -> Result<Vec<Vec<StoredKey>>, WrapError> {
    if let Some(i) = groups.iter().position(Vec::is_empty) {
        return Err(WrapError {
            kind: "group",
            id: i.to_string(),
            error: KeyError::new("empty key group provided".to_owned()),
        });
    }
    let secrets: Vec<Zeroizing<Vec<u8>>> = if groups.len() <= 1 {
        vec![Zeroizing::new(data_key.expose().to_vec())]
    } else {
        let t = if threshold == 0 {
            groups.len()
        } else {
            threshold
        };
        shamir::split(data_key.expose(), groups.len(), t).map_err(|e| WrapError {
            kind: "shamir",
            id: format!("{} groups, threshold {t}", groups.len()),
            error: KeyError::new(e.to_string()),
        })?
    };
    let now = Timestamp::now_utc().to_rfc3339();
    let mut out = Vec::with_capacity(groups.len());
    for (group, secret) in groups.iter().zip(secrets.iter()) {
        let mut stored = Vec::with_capacity(group.len());
        for key in group {
            let enc = ctx
                .wrap_key(key.as_ref(), secret)
                .map_err(|error| WrapError {
                    kind: key.kind().field(),
                    id: key.display_id(),
                    error,
                })?;
            stored.push(StoredKey {
                key: Arc::clone(key),
                enc,
                created_at: key.has_created_at().then(|| now.clone()),
            });
        }
        out.push(stored);
    }
    Ok(out)
}
