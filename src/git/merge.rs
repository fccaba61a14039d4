//! The merge driver (`merge.leafseal.driver = leafseal git merge-driver %O %A %B %P`).
//!
//! The three versions are decrypted in memory and merged by key path (see
//! [`crate::git::tree_merge`]). The result is encrypted with the data key of the side
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

use zeroize::Zeroizing;

use crate::crypto::DataKey;
use crate::crypto::document;
use crate::crypto::nonces::NonceStash;
use crate::format::EmitOptions;
use crate::format::Format;
use crate::git::diff::format_for;
use crate::git::tree_merge;
use crate::git::tree_merge::Conflict;
use crate::keys::KeyContext;
use crate::metadata::FORMAT_VERSION;
use crate::metadata::Metadata;
use crate::ops;
use crate::ops::OpenOptions;
use crate::tree::Document;

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
    Merged(Zeroizing<Vec<u8>>),
    /// None of the versions is encrypted: use git's text merge.
    NotEncrypted,
    /// A conflict: `%A` stays as it is.
    Conflict(ConflictReport),
}

/// One decrypted version.
struct Side {
    doc: Document,
    /// The encrypted tree, to refill a shared nonce stash.
    raw: Document,
    meta: Metadata,
    key: DataKey,
    stash: NonceStash,
}

enum Version {
    /// Empty file: the path did not exist (add/add).
    Absent,
    /// Parsed but without sops metadata.
    Plain(Document),
    /// Not parseable in the file's format.
    Unparseable,
    /// Has sops metadata.
    Encrypted(crate::format::Loaded),
}

fn classify(bytes: &[u8], fmt: Format) -> Version {
    if bytes.is_empty() {
        return Version::Absent;
    }
    match fmt.store().load(bytes) {
        Ok(l) if l.meta.is_some() => Version::Encrypted(l),
        Ok(l) => Version::Plain(l.doc),
        Err(_) => Version::Unparseable,
    }
}

fn open_side(loaded: crate::format::Loaded, ctx: &KeyContext, label: &str) -> Result<Side, String> {
    let raw = loaded.doc.clone();
    let o = ops::open(loaded, ctx, &OpenOptions::default()).map_err(|e| {
        let first = e.message.lines().next().unwrap_or("").to_owned();
        format!("{label} cannot be decrypted: {first}")
    })?;
    Ok(Side {
        doc: o.doc,
        raw,
        meta: o.meta,
        key: o.key,
        stash: o.stash,
    })
}

type Recipients = (Vec<Vec<(&'static str, String)>>, usize);

fn recipients(m: &Metadata) -> Recipients {
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

type Settings = (Option<(&'static str, String)>, bool);

fn settings(m: &Metadata) -> Settings {
    (
        m.selector
            .as_ref()
            .map(|s| (s.field(), s.pattern().to_owned())),
        m.mac_only_encrypted,
    )
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
        Some(b) => *r != recipients(&b.meta) || s.key.expose() != b.key.expose(),
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
    let rotated = |s: &Side| base.is_none_or(|b| s.key.expose() != b.key.expose());
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
    let fmt = format_for(name, ours);
    let (vb, vo, vt) = (
        classify(base, fmt),
        classify(ours, fmt),
        classify(theirs, fmt),
    );
    let enc = |v: &Version| matches!(v, Version::Encrypted(_));
    if !enc(&vb) && !enc(&vo) && !enc(&vt) {
        return Outcome::NotEncrypted;
    }
    let (Version::Encrypted(lo), Version::Encrypted(lt)) = (vo, vt) else {
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
        Version::Absent => (None, None),
        Version::Plain(d) => (None, Some(d)),
        Version::Unparseable => {
            return conflict(format!("the merge base cannot be parsed as {}", fmt.name()));
        }
        Version::Encrypted(l) => match open_side(l, ctx, "the merge base") {
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
    let (Some(mut doc), Some(side), Some((selector, mac_only))) = (merged, side, set) else {
        return Outcome::Conflict(report);
    };
    let (chosen, other) = match side {
        KeySide::Ours => (ours, theirs),
        KeySide::Theirs => (theirs, ours),
    };
    match seal(&mut doc, chosen, &other, selector, mac_only, fmt, opts) {
        Ok(bytes) => Outcome::Merged(bytes),
        Err(e) => conflict(e),
    }
}

fn seal(
    doc: &mut Document,
    chosen: Side,
    other: &Side,
    selector: Option<(&'static str, String)>,
    mac_only: bool,
    fmt: Format,
    opts: &EmitOptions,
) -> Result<Zeroizing<Vec<u8>>, String> {
    let Side {
        raw,
        mut meta,
        key,
        stash,
        ..
    } = chosen;
    // The merged selector must be the one both sides agreed on: one that does not parse
    // again is a conflict, never silently dropped (the file would be sealed with every
    // value encrypted and a different MAC scope).
    meta.selector = match selector {
        Some((field, pattern)) => Some(
            crate::walk::Selector::from_field(field, &pattern)
                .ok()
                .flatten()
                .ok_or_else(|| {
                    format!("the merged {field} setting cannot be used; resolve the merge by hand")
                })?,
        ),
        None => None,
    };
    meta.mac_only_encrypted = mac_only;
    meta.version = FORMAT_VERSION.to_owned();
    // With a shared data key, theirs' changed values keep theirs' ciphertext as well;
    // the chosen side is decrypted last so its nonces win for equal values.
    let stash = if other.key.expose() == key.expose() {
        let mut shared = NonceStash::new();
        let mut fill = |raw: &Document, m: &Metadata| {
            let mut d = raw.clone();
            document::decrypt_document(
                &mut d,
                &key,
                &m.selector(),
                m.mac_only_encrypted,
                Some(&mut shared),
            )
            .map(|_| ())
        };
        match fill(&other.raw, &other.meta).and_then(|()| fill(&raw, &meta)) {
            Ok(()) => shared,
            Err(_) => stash,
        }
    } else {
        stash
    };
    let map = ops::reseal(doc, &mut meta, &key, Some(&stash))
        .map_err(|e| format!("cannot encrypt the merged file: {}", e.message))?;
    let bytes = fmt
        .store()
        .emit(doc, Some(&map), opts)
        .map_err(|e| format!("cannot write the merged file as {}: {e}", fmt.name()))?;
    check(&bytes, fmt, &key)?;
    Ok(bytes)
}

/// Re-reads the merged bytes and verifies they decrypt and carry a valid MAC.
fn check(bytes: &[u8], fmt: Format, key: &DataKey) -> Result<(), String> {
    let bad = |why: &str| {
        format!("internal check of the merged file failed ({why}); nothing was written")
    };
    let loaded = fmt
        .store()
        .load(bytes)
        .map_err(|_| bad("cannot parse it"))?;
    let meta = ops::metadata_of(&loaded).map_err(|_| bad("no metadata"))?;
    let record = crate::crypto::integrity::verify(
        meta.integrity.as_deref(),
        &loaded.doc,
        &meta.integrity_binding(),
        key,
    );
    if record != crate::crypto::integrity::Status::Valid {
        return Err(bad("integrity record"));
    }
    let mut doc = loaded.doc;
    let dec = document::decrypt_document(
        &mut doc,
        key,
        &meta.selector(),
        meta.mac_only_encrypted,
        None,
    )
    .map_err(|_| bad("cannot decrypt it"))?;
    ops::verify_mac(&meta, key, &dec.mac).map_err(|_| bad("MAC mismatch"))
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
