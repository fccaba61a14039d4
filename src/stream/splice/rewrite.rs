//! The part that holds the path, for `set`/`unset` by splicing: whether a part holds it,
//! and the part written again by the whole-tree path's code.

use crate::crypto::document;
use crate::crypto::nonces::NonceStash;
use crate::tree::Document;
use crate::tree::Map;
use crate::tree::Value;
use crate::treepath;
use crate::treepath::Step;

use super::Change;
use super::Job;
use super::NewPart;
use super::emitted;
use super::sub_entry;
use super::tokens_of;
use crate::stream::split::Part;

/// Whether this part holds the path's first step (and, in a part of an entry, its
/// second); `None` when the path names something cut into parts.
pub(super) fn holds(root: &Map, part: &Part, path: &[Step]) -> Option<bool> {
    let Some(Step::Key(k0)) = path.first() else {
        return None;
    };
    match part {
        Part::Top(_) => Some(root.get(k0).is_some()),
        Part::Sub { .. } => {
            let (k, inner) = sub_entry(root)?;
            if k != k0.as_str() {
                return Some(false);
            }
            match path.get(1) {
                Some(Step::Key(k1)) => Some(inner.get(k1).is_some()),
                _ => None,
            }
        }
    }
}

/// The part that holds the path, written again as the whole-tree path writes it:
/// decrypted with its IV stash, changed, encrypted, emitted. `Some(None)` when `set`
/// finds the value already set; `None` when the change cannot be spliced.
#[allow(clippy::option_option)]
pub(super) fn rewrite(job: &Job<'_>, part: &Part, mut doc: Document) -> Option<Option<NewPart>> {
    let mut stash = NonceStash::new();
    let r = rewrite_in(job, part, &mut doc, &mut stash);
    // Plaintext when the rewrite stopped half-way.
    doc.wipe_in_place();
    r
}

/// The entry of a new first key, written as a part of its own (from an empty tree) that
/// goes at `at`, right before the `sops` block; `None` when it cannot be.
pub(super) fn new_first_key(job: &Job<'_>, at: usize) -> Option<NewPart> {
    let empty = Document {
        branches: vec![Map::new()],
    };
    rewrite(job, &Part::Top(at..at), empty).flatten()
}

#[allow(clippy::option_option)]
fn rewrite_in(
    job: &Job<'_>,
    part: &Part,
    doc: &mut Document,
    stash: &mut NonceStash,
) -> Option<Option<NewPart>> {
    document::decrypt_document(doc, job.key, job.sel, job.mac_only_encrypted, Some(stash)).ok()?;
    match job.change {
        Change::Set(path, value) => {
            // A path that is not there yet (below a first key this part holds) is added
            // by `treepath::set` as the whole-tree path adds it: at the end of its map,
            // with any maps on the way. A path that cannot be set fails there, and the
            // whole-tree path reports it.
            if let Ok(old) = treepath::get(doc, path) {
                if matches!(old, Value::Map(_) | Value::Seq(_)) {
                    return None;
                }
                if old == value {
                    return Some(None);
                }
            }
            treepath::set(doc, path, value.clone()).ok()?;
        }
        Change::Unset(path) => {
            // The last entry of a map (or list) that also holds comments takes them with
            // it on the whole-tree path; here the part may hold only some of that map,
            // so the whole-tree path does it.
            let (_, parent) = path.split_last()?;
            if treepath::one_left_with_comments(doc, parent) {
                return None;
            }
            // (The removed value's text is wiped as it is dropped.)
            treepath::unset(doc, path)?;
            let root = doc.branches.first()?;
            let left = match part {
                Part::Top(_) => root,
                Part::Sub { .. } => sub_entry(root)?.1,
            };
            if left.0.is_empty() && !matches!(part, Part::Sub { first: true, .. }) {
                // The part's only entry was removed: its lines go, nothing else (the
                // first part of an entry holds the entry's own line, which stays).
                return Some(Some(NewPart {
                    text: Vec::new(),
                    mac_input: Vec::new(),
                    tokens: Vec::new(),
                }));
            }
            // A part left with no entries would be written as `{}`.
            left.entries().next()?;
        }
    }
    document::encrypt_document(doc, job.key, job.sel, job.mac_only_encrypted, Some(stash)).ok()?;
    let text = emitted(doc, part, job.emit)?;
    let (tokens, _) = tokens_of(doc.branches.first()?, part, job.mac_only_encrypted)?;
    let mut copy = doc.clone();
    let dec = document::decrypt_part(&mut copy, &job.cipher, job.sel, job.mac_only_encrypted);
    copy.wipe_in_place();
    let dec = dec.ok()?;
    Some(Some(NewPart {
        text,
        mac_input: dec.mac_input,
        tokens,
    }))
}
