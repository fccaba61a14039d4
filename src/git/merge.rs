//! The merge driver (`merge.leafseal.driver = leafseal git merge-driver %O %A %B %P`).
//!
//! The three versions are decrypted in memory and merged by key path (see
//! [`crate::ops::tree_merge`]). The result is encrypted with the data key of the side
//! whose key set wins (ours unless only theirs changed the recipients or rotated the data
//! key) and that side's nonce stash, so every value equal to that side keeps its exact
//! ciphertext; when both sides share the data key, theirs' changes keep theirs'
//! ciphertext too. The MAC and `lastmodified` are recomputed once and the result is
//! checked (it decrypts and its MAC verifies) before it replaces `%A` atomically.
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
        for r in &self.reasons {
            writeln!(f, "  {r}")?;
        }
        for c in &self.paths {
            writeln!(f, "  {}: {}", c.path, c.why)?;
        }
        Ok(())
    }
}

/// The result of merging three versions.
#[derive(Debug)]
pub enum Outcome {
    /// The merged, encrypted file to write over `%A`.
    Merged(Output),
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

/// Which side's key set (recipients and data key) the result uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySide {
    /// Ours (`%A`).
    Ours,
    /// Theirs (`%B`).
    Theirs,
}

/// Decides the key set: a side that did not change recipients or data key defers to the
/// other; when both changed, the same recipients are fine (the side that rotated the data
/// key wins, ours when both did); different recipients are a conflict (`None`).
fn choose_keys(base: Option<&Side>, ours: &Side, theirs: &Side) -> Option<KeySide> {
    let (ro, rt) = (recipients(&ours.meta), recipients(&theirs.meta));
    let changed = |s: &Side, r: &Recipients| match base {
        Some(b) => *r != recipients(&b.meta) || !s.same_key(b),
        None => true,
    };
    if !changed(theirs, &rt) {
        return Some(KeySide::Ours);
    }
    if !changed(ours, &ro) {
        return Some(KeySide::Theirs);
    }
    if ro != rt {
        return None;
    }
    let rotated = |s: &Side| base.is_none_or(|b| !s.same_key(b));
    if rotated(ours) || !rotated(theirs) {
        Some(KeySide::Ours)
    } else {
        Some(KeySide::Theirs)
    }
}

fn three_way<T: PartialEq + Clone>(b: Option<&T>, o: &T, t: &T) -> Option<T> {
    if o == t || b == Some(t) {
        Some(o.clone())
    } else if b == Some(o) {
        Some(t.clone())
    } else {
        None
    }
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
) -> Outcome {
    let fmt = ops::format_of_stored(name, ours);
    // An empty version is a file that did not exist (add/add, deleted).
    let classify = |b: &[u8]| (!b.is_empty()).then(|| ops::classify(b, fmt));
    let (vb, vo, vt) = (classify(base), classify(ours), classify(theirs));
    let enc = |v: &Option<Kind>| matches!(v, Some(Kind::Encrypted(_)));
    if !enc(&vb) && !enc(&vo) && !enc(&vt) {
        return Outcome::NotEncrypted;
    }
    let (Some(Kind::Encrypted(lo)), Some(Kind::Encrypted(lt))) = (vo, vt) else {
        return conflict(
            "the file is encrypted in one version and not in another (or was deleted); resolve by hand",
        );
    };
    let (ours, theirs) = match (open_side(lo, ctx, "ours"), open_side(lt, ctx, "theirs")) {
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
        Some(Kind::Encrypted(l)) => match open_side(l, ctx, "the merge base") {
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
    let side = choose_keys(base_side.as_ref(), &ours, &theirs);
    if side.is_none() {
        report.reasons.push(
            "both sides changed the recipients (key groups) differently; run `leafseal updatekeys`/rotate after resolving"
                .to_owned(),
        );
    }
    let set = three_way(
        base_side.as_ref().map(|b| settings(&b.meta)).as_ref(),
        &settings(&ours.meta),
        &settings(&theirs.meta),
    );
    if set.is_none() {
        report.reasons.push(
            "both sides changed the encryption settings (selector or mac_only_encrypted) differently"
                .to_owned(),
        );
    }
    let (Some(mut doc), Some(side), Some(set)) = (merged, side, set) else {
        return Outcome::Conflict(report);
    };
    let (chosen, other) = match side {
        KeySide::Ours => (ours, theirs),
        KeySide::Theirs => (theirs, ours),
    };
    match ops::merge::seal_merged(&mut doc, chosen, &other, set, fmt, opts) {
        Ok(bytes) => Outcome::Merged(bytes),
        Err(e) => conflict(e),
    }
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
