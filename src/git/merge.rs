//! The merge driver (`merge.leafseal.driver = leafseal git merge-driver %O %A %B %P`).
//!
//! The three versions are decrypted in memory and merged by key path (see
//! [`crate::ops::tree_merge`]). The result is always encrypted with **ours'** data key,
//! recipients and encryption settings, and ours' nonce stash, so every value equal to
//! ours keeps its exact ciphertext; when both sides share the data key, theirs' changes
//! keep theirs' ciphertext too. The MAC and `lastmodified` are recomputed once and the
//! result is checked (it decrypts and its MAC verifies) before it replaces `%A`
//! atomically.
//!
//! **Keys and settings never come from theirs.** Whoever wrote theirs may know its data
//! key without being a listed recipient (they made it, and removed their own entry), and
//! may have narrowed which values are encrypted: taking either would hand them, or leave
//! in clear, what ours adds. A change theirs made to the recipients, the data key or the
//! settings that ours does not share is a conflict, resolved by hand (round-18 review);
//! so is a data key neither the base nor ours has, even when ours rotated too: values
//! from a fresh encryption by someone without the key must not replace ours' unseen.
//! So is a side without a valid integrity record under `strict_integrity`; without it,
//! the merge goes on with a warning, since the record written for the result vouches for
//! a structure the MAC alone did not cover.
//!
//! A conflict never writes anything: `%A` keeps ours' encrypted bytes, and the report
//! (paths only, never values) is for stderr — git shows the driver's stderr, and `%A` is
//! a temporary file, so a report file next to it would be lost. Files that are encrypted
//! in none of the three versions (a pattern that matches too much) are not ours to merge:
//! the caller hands them to `git merge-file`.

use std::fmt;

use crate::ops;
use crate::ops::EmitOptions;
use crate::ops::KeyContext;
use crate::ops::Kind;
use crate::ops::Output;
use crate::ops::merge::Side;
use crate::ops::merge::open_side;
use crate::ops::merge::settings;
use crate::ops::tree_merge;
use crate::ops::tree_merge::Conflict;

/// Why a merge did not produce a file.
#[derive(Debug, Default)]
pub struct ConflictReport {
    /// Conflicting paths.
    pub paths: Vec<Conflict>,
    /// Whole-file reasons (cannot decrypt, keys changed on both sides, …).
    pub reasons: Vec<String>,
}

impl fmt::Display for ConflictReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Key paths and reasons come from the files: shown without control, bidi or
        // line-separator characters (the rest of the CLI escapes them the same way).
        for r in &self.reasons {
            writeln!(f, "  {}", crate::redact::inert(r))?;
        }
        for c in &self.paths {
            writeln!(
                f,
                "  {}: {}",
                crate::redact::inert(&c.path),
                crate::redact::inert(c.why)
            )?;
        }
        Ok(())
    }
}

/// The result of merging three versions.
#[derive(Debug)]
pub enum Outcome {
    /// The merged, encrypted file to write over `%A`, and notes for the user (never a
    /// value).
    Merged(Output, Vec<String>),
    /// None of the versions is encrypted: use git's text merge.
    NotEncrypted,
    /// A conflict: `%A` stays as it is.
    Conflict(ConflictReport),
}

type Recipients = (Vec<Vec<(&'static str, String)>>, usize);

fn recipients(m: &crate::metadata::Metadata) -> Recipients {
    let groups = m
        .key_groups
        .iter()
        .map(|g| {
            let mut ids: Vec<(&'static str, String)> = g
                .iter()
                .map(|k| (k.key.kind().field(), k.key.id()))
                .collect();
            ids.sort();
            ids
        })
        .collect();
    (groups, m.threshold())
}

/// Why theirs' key set cannot stand beside ours' (`None`: it can). The result is sealed
/// with ours' keys either way; a key set theirs did not take from the base or from ours
/// is a conflict all the same: a data key neither side shares may come from someone who
/// does not hold the file's key (a fresh encryption), whose values would otherwise
/// replace ours' silently, and a recipient change would be dropped unseen.
fn theirs_key_change(base: Option<&Side>, ours: &Side, theirs: &Side) -> Option<&'static str> {
    let (ro, rt) = (recipients(&ours.meta), recipients(&theirs.meta));
    let kept_base = base.is_some_and(|b| rt == recipients(&b.meta) && theirs.same_key(b));
    if kept_base || (rt == ro && theirs.same_key(ours)) {
        return None;
    }
    Some(
        if base.is_some_and(|b| rt == recipients(&b.meta)) || rt == ro {
            "theirs has a data key neither the merge base nor ours has (it was rotated, or the file was encrypted anew, possibly by someone without the key); a merge never takes a data key from the other branch: resolve by hand, e.g. check who wrote theirs, take it and re-apply our changes, or keep ours and rotate after the merge"
        } else {
            "theirs changed the recipients (key groups); a merge never takes keys from the other branch: resolve by hand, then apply the recipient change with updatekeys"
        },
    )
}

fn conflict(reason: impl Into<String>) -> Outcome {
    Outcome::Conflict(ConflictReport {
        paths: Vec::new(),
        reasons: vec![reason.into()],
    })
}

/// Merges the three versions of the file stored at `name` (its extension picks the
/// format). `base` is empty when the file did not exist in the merge base.
pub fn merge(
    base: &[u8],
    ours: &[u8],
    theirs: &[u8],
    name: &str,
    ctx: &KeyContext,
    opts: &EmitOptions,
    strict_integrity: bool,
) -> Outcome {
    let fmt = ops::format_of_stored(name, ours);
    // An empty version is a file that did not exist (add/add, deleted).
    let classify = |b: &[u8]| (!b.is_empty()).then(|| ops::classify(b, fmt));
    let (vb, vo, vt) = (classify(base), classify(ours), classify(theirs));
    let enc = |v: &Option<Kind>| matches!(v, Some(Kind::Encrypted(_)));
    if !enc(&vb) && !enc(&vo) && !enc(&vt) {
        return Outcome::NotEncrypted;
    }
    // A `version` sops and `decrypt` refuse is not merged either.
    for (label, v) in [("ours", &vo), ("theirs", &vt), ("the merge base", &vb)] {
        if let Some(Kind::Encrypted(l)) = v
            && let Some(raw) = &l.meta
            && let Err(e) = ops::check_stored_version(fmt, raw)
        {
            return conflict(format!("{label}: {}", e.message));
        }
    }
    let (Some(Kind::Encrypted(lo)), Some(Kind::Encrypted(lt))) = (vo, vt) else {
        return conflict(
            "the file is encrypted in one version and not in another (or was deleted); resolve by hand",
        );
    };
    let (ours, theirs) = match (
        open_side(lo, ctx, "ours", strict_integrity),
        open_side(lt, ctx, "theirs", strict_integrity),
    ) {
        (Ok(o), Ok(t)) => (o, t),
        (o, t) => {
            let reasons = [o.err(), t.err()].into_iter().flatten().collect();
            return Outcome::Conflict(ConflictReport {
                paths: Vec::new(),
                reasons,
            });
        }
    };
    let (base_side, base_doc) = match vb {
        None => (None, None),
        Some(Kind::Plain(l)) => (None, Some(l.doc)),
        Some(Kind::Unparseable(_)) => {
            return conflict(format!("the merge base cannot be parsed as {}", fmt.name()));
        }
        Some(Kind::Encrypted(l)) => match open_side(l, ctx, "the merge base", strict_integrity) {
            Ok(s) => (Some(s), None),
            Err(e) => return conflict(e),
        },
    };
    let base_doc = base_side.as_ref().map(|s| &s.doc).or(base_doc.as_ref());
    let mut report = ConflictReport::default();
    let merged = match tree_merge::merge_documents(base_doc, &ours.doc, &theirs.doc) {
        Ok(d) => Some(d),
        Err(c) => {
            report.paths = c;
            None
        }
    };
    if let Some(why) = theirs_key_change(base_side.as_ref(), &ours, &theirs) {
        report.reasons.push(why.to_owned());
    }
    let (so, st) = (settings(&ours.meta), settings(&theirs.meta));
    if st != so && base_side.as_ref().is_none_or(|b| settings(&b.meta) != st) {
        report.reasons.push(
            "theirs changed which values are encrypted (selector or mac_only_encrypted) and ours did not do the same; a merge never takes encryption settings from the other branch (values ours added could be left in clear): resolve by hand"
                .to_owned(),
        );
    }
    let mut warnings = Vec::new();
    for (side, label) in [
        (Some(&ours), "ours"),
        (Some(&theirs), "theirs"),
        (base_side.as_ref(), "the merge base"),
    ] {
        if let Some(s) = side
            && !s.integrity_valid()
        {
            warnings.push(format!(
                "{label} has no valid leafseal integrity record: changes the sops MAC cannot see (empty or null values, how clear values are split, value types) were merged unchecked, and the merged file's new record covers them; review the merged file"
            ));
        }
    }
    let Some(mut doc) = merged else {
        return Outcome::Conflict(report);
    };
    if !report.reasons.is_empty() {
        return Outcome::Conflict(report);
    }
    match ops::merge::seal_merged(&mut doc, ours, &theirs, so, fmt, opts) {
        Ok(bytes) => Outcome::Merged(bytes, warnings),
        Err(e) => conflict(e),
    }
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
