//! `edit` of a large block-YAML file by splicing: the file is opened by streaming (its
//! parts decrypted on all cores, the MAC and the integrity record verified in order, the
//! plaintext for the editor joined from the parts), and when the editor changed values
//! within one part, only that part is read back, checked to hold the same keys,
//! comments and containers as before, encrypted again with its IV stash and spliced into
//! the encrypted text with a new `sops` block. Every part proves on its worker that the
//! whole-tree path would write its text as it stands (as for `set`, see
//! [`super::splice`]); anything else — a change across parts, a new or removed key, a
//! comment, a parse the part reader declines — is handed back to the whole-tree path.

use std::ops::Range;

use zeroize::Zeroizing;

use crate::crypto::DataKey;
use crate::crypto::document;
use crate::crypto::integrity;
use crate::crypto::mac::MacHasher;
use crate::crypto::nonces::NonceStash;
use crate::crypto::value::ValueCipher;
use crate::format::EmitOptions;
use crate::format::Output;
use crate::metadata::Metadata;
use crate::tree::Document;
use crate::tree::Item;
use crate::tree::Map;
use crate::tree::SeqItem;
use crate::tree::Value;

use super::splice::PartTokens;
use super::splice::Splice;
use super::split::Part;

mod compare;
mod input;
mod open;

pub use input::EditInput;

pub use open::open_yaml_for_edit;

/// A file opened for editing by streaming.
pub struct EditSession {
    /// The plaintext for the editor (MAC and record verified).
    plaintext: Output,
    parts: Vec<Part>,
    /// Per part: its range in the plaintext, its MAC input, its record tokens.
    kept: Vec<Kept>,
    meta: Metadata,
    meta_range: Range<usize>,
    key: DataKey,
    emit: EmitOptions,
    /// Non-fatal notes, as [`crate::ops::Opened::warnings`].
    pub warnings: Vec<String>,
    /// The master key(s) that unwrapped the data key (`kind id`).
    pub unwrapped_by: Vec<String>,
}

impl std::fmt::Debug for EditSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EditSession({} parts)", self.parts.len())
    }
}

struct Kept {
    plain: Range<usize>,
    mac_input: Vec<Zeroizing<Vec<u8>>>,
    /// The MAC's hash state before this part (a checkpoint: sealing an edit of this
    /// part hashes only this part and the ones after it).
    mac_at: MacHasher,
    /// The record's hash state before this part, likewise (`None` when the file's
    /// record is a v1 one, whose input starts with the MAC: its seal hashes every part).
    record_at: Option<integrity::Streamed>,
    tokens: PartTokens,
}

/// What the editor left, as [`EditSession::seal_file`] found it.
#[derive(Debug)]
pub enum FileSeal {
    /// The plaintext as it was given.
    Unchanged,
    /// The change, spliced into the encrypted text.
    Spliced(Splice),
    /// A change the whole-tree path must seal.
    Declined,
}

/// What opening for editing did.
#[derive(Debug)]
pub enum EditOpen {
    /// The file was opened by streaming.
    Opened(Box<EditSession>),
    /// The whole-tree path must open it; the data key when it was already recovered.
    Declined(Option<(DataKey, Vec<String>)>),
}

impl EditSession {
    /// The file's metadata (e.g. to raise its `version` before sealing).
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.meta
    }

    /// The data key and the master keys that unwrapped it, for the whole-tree path.
    pub fn into_key(self) -> (DataKey, Vec<String>) {
        (self.key, self.unwrapped_by)
    }

    /// Wipes what the session holds of the plaintext (each part's MAC input, the
    /// plaintext if it was not taken out) and leaves its buffers to the end of the
    /// process instead of freeing them, for a command that exits right after its write:
    /// freeing tens of megabytes made the allocator hand them back to the system just
    /// before the exit did it all at once. The data key is dropped (and zeroed) as usual.
    pub fn wipe_and_leave(self) {
        let EditSession {
            mut plaintext,
            parts,
            mut kept,
            meta,
            key,
            ..
        } = self;
        drop((key, meta));
        // The written bytes only, with a vectorised fill: `Zeroize` on a `Vec` writes
        // every byte of its capacity one volatile store at a time, and touches the
        // capacity never written (fresh pages the kernel must zero first) on the way.
        for k in &mut kept {
            for m in &mut k.mac_input {
                crate::secbuf::wipe(m);
            }
        }
        crate::secbuf::wipe(&mut plaintext);
        std::mem::forget((plaintext, parts, kept));
    }

    /// The plaintext to edit, taken out of the session (which keeps nothing of it): the
    /// caller hands it back to [`EditSession::seal_file`].
    pub fn take_plaintext(&mut self) -> Output {
        std::mem::take(&mut self.plaintext)
    }

    /// What the editor left in `file`, compared with `old` (the plaintext it was given,
    /// see [`EditSession::take_plaintext`]) by reading the file in blocks from both ends:
    /// the same text, or a change sealed and spliced into `input` (the file the session
    /// was opened from) reading only the text of the one part that changed, or a change
    /// the whole-tree path must seal (the caller then reads the file whole).
    pub fn seal_file(
        &mut self,
        old: &[u8],
        input: EditInput<'_>,
        file: &std::fs::File,
    ) -> std::io::Result<FileSeal> {
        let (len, prefix, suffix) = match compare::compare_file(old, file)? {
            compare::InFile::Same => return Ok(FileSeal::Unchanged),
            compare::InFile::Changed {
                len,
                prefix,
                suffix,
            } => (len, prefix, suffix),
        };
        let Some((i, range)) = self.changed_part(old.len(), len, prefix, suffix) else {
            return Ok(FileSeal::Declined);
        };
        let text = compare::read_range(file, range)?;
        Ok(self
            .seal_part(input, i, &text)
            .map_or(FileSeal::Declined, FileSeal::Spliced))
    }

    /// The part that holds every changed byte (between the common prefix and suffix of
    /// the old text, `old_len` bytes, and the new one, `new_len`), and its range in the
    /// new text; `None` when the change is not within one part.
    fn changed_part(
        &self,
        old_len: usize,
        new_len: usize,
        prefix: usize,
        suffix: usize,
    ) -> Option<(usize, Range<usize>)> {
        let old_end = old_len.checked_sub(suffix)?;
        let i = self
            .kept
            .iter()
            .position(|k| k.plain.start <= prefix && prefix < k.plain.end)?;
        let kept = &self.kept[i];
        if old_end > kept.plain.end {
            return None;
        }
        let new_end = (kept.plain.end + new_len).checked_sub(old_len)?;
        Some((i, kept.plain.start..new_end))
    }

    /// The file with part `i` replaced by the edited plaintext `new_text`, encrypted
    /// again, and a new `sops` block.
    fn seal_part(&mut self, input: EditInput<'_>, i: usize, new_text: &[u8]) -> Option<Splice> {
        let part = self.parts.get(i)?;
        let new = self.reseal_part(input, part, new_text)?;
        let kept = &self.kept;
        // From the record's checkpoint before part `i`, or from the start.
        let (record, from) = match kept.get(i)?.record_at.as_ref() {
            Some(at) => (at.clone(), i),
            None => (
                integrity::Streamed::new(&self.key, self.meta.mac_only_encrypted),
                0,
            ),
        };
        let tokens = kept.iter().enumerate().skip(from).map(|(j, k)| {
            let t = if j == i { &new.tokens } else { &k.tokens.1 };
            (k.tokens.0.as_deref(), t.as_slice(), k.tokens.2)
        });
        let mac_input = &new.mac_input;
        let (meta_text, signature_dropped) = super::splice::seal_meta(
            &mut self.meta,
            &self.key,
            || Some(mac_from(kept, i, mac_input)?.finish()),
            record,
            tokens,
            &self.emit,
        )?;
        let body = match part {
            Part::Top(r) | Part::Sub { body: r, .. } => r.clone(),
        };
        Some(Splice {
            edits: vec![(body, new.text), (self.meta_range.clone(), meta_text)],
            warnings: Vec::new(),
            unwrapped_by: self.unwrapped_by.clone(),
            signature_dropped,
        })
    }

    /// The part `part` with its edited plaintext `text` encrypted again, or `None`.
    fn reseal_part(&self, input: EditInput<'_>, part: &Part, text: &[u8]) -> Option<NewPart> {
        let sel = self.meta.selector();
        let moe = self.meta.mac_only_encrypted;
        // The old part (read again from the file), decrypted with its stash.
        let mut enc = Vec::new();
        let (enc_text, _) = input.read_part(part, &mut enc).ok()?;
        let header_text = match part {
            Part::Sub {
                header,
                first: false,
                ..
            } => enc_text.get(..header.len())?.to_vec(),
            _ => Vec::new(),
        };
        let mut old = Document {
            branches: crate::format::yaml::load_fast_encrypted(enc_text)?,
        };
        drop(enc);
        let mut stash = NonceStash::new();
        let decrypted =
            document::decrypt_document(&mut old, &self.key, &sel, moe, Some(&mut stash));
        // The edited part, read as the part reader reads it (with its entry's line).
        // Sized for the header line too: growing would free a copy of the plaintext.
        let header_len = match part {
            Part::Sub { header, .. } => header.len() + 1,
            Part::Top(_) => 0,
        };
        let mut edited = Zeroizing::new(Vec::with_capacity(text.len() + header_len));
        if let Part::Sub {
            header,
            first: false,
            ..
        } = part
        {
            debug_assert_eq!(header.len(), header_text.len());
            edited.extend_from_slice(&header_text);
            edited.push(b'\n');
        }
        edited.extend_from_slice(text);
        let new = crate::format::yaml::load_fast(&edited);
        drop(edited);
        let r = match (decrypted, new) {
            (Ok(_), Some(branches)) => {
                let mut new = Document { branches };
                let r = self.encrypt_part(part, &old, &mut new, &stash);
                new.wipe_in_place();
                r
            }
            _ => None,
        };
        old.wipe_in_place();
        r
    }

    /// Encrypts the edited part `new` (when it has the shape of `old`) with the part's
    /// stash, as the whole-tree path would.
    fn encrypt_part(
        &self,
        part: &Part,
        old: &Document,
        new: &mut Document,
        stash: &NonceStash,
    ) -> Option<NewPart> {
        let ([o], [n]) = (old.branches.as_slice(), new.branches.as_slice()) else {
            return None;
        };
        if !same_shape(o, n) {
            return None;
        }
        let sel = self.meta.selector();
        let moe = self.meta.mac_only_encrypted;
        document::encrypt_document(new, &self.key, &sel, moe, Some(stash)).ok()?;
        let text = super::splice::emitted(new, part, &self.emit)?;
        let (tokens, _) = super::splice::tokens_of(new.branches.first()?, part, moe)?;
        let mut copy = new.clone();
        let dec = document::decrypt_part(&mut copy, &ValueCipher::new(&self.key), &sel, moe);
        copy.wipe_in_place();
        Some(NewPart {
            text,
            mac_input: dec.ok()?.mac_input,
            tokens,
        })
    }
}

/// The MAC of the file whose part `i` now has the MAC input `changed`: hashed from the
/// checkpoint before part `i` (the parts before it are not hashed again).
fn mac_from(kept: &[Kept], i: usize, changed: &[Zeroizing<Vec<u8>>]) -> Option<MacHasher> {
    let mut mac = kept.get(i)?.mac_at.clone();
    for m in changed {
        mac.update(m);
    }
    for k in kept.get(i + 1..)? {
        for m in &k.mac_input {
            mac.update(m);
        }
    }
    Some(mac)
}

/// An edited part encrypted again.
struct NewPart {
    text: Vec<u8>,
    mac_input: Vec<Zeroizing<Vec<u8>>>,
    tokens: Vec<u8>,
}

/// Whether two maps hold the same keys, comments and containers in the same order (their
/// scalars may differ).
fn same_shape(a: &Map, b: &Map) -> bool {
    let mut stack: Vec<(&Value, &Value)> = Vec::new();
    let mut maps: Vec<(&Map, &Map)> = vec![(a, b)];
    loop {
        if let Some((x, y)) = maps.pop() {
            if x.0.len() != y.0.len() {
                return false;
            }
            for pair in x.0.iter().zip(&y.0) {
                match pair {
                    (Item::Entry(k, v), Item::Entry(l, w)) if k == l => stack.push((v, w)),
                    (Item::Comment(c), Item::Comment(d)) if c == d => {}
                    _ => return false,
                }
            }
            continue;
        }
        let Some(pair) = stack.pop() else {
            return true;
        };
        match pair {
            (Value::Map(x), Value::Map(y)) => maps.push((x, y)),
            (Value::Seq(x), Value::Seq(y)) => {
                if x.len() != y.len() {
                    return false;
                }
                for items in x.iter().zip(y) {
                    match items {
                        (SeqItem::Value(v), SeqItem::Value(w)) => stack.push((v, w)),
                        (SeqItem::Comment(c), SeqItem::Comment(d)) if c == d => {}
                        _ => return false,
                    }
                }
            }
            (Value::Map(_) | Value::Seq(_), _) | (_, Value::Map(_) | Value::Seq(_)) => {
                return false;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
#[path = "edit/tests.rs"]
mod tests;
