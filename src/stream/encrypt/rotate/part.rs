//! One part of a streamed rotation: decrypted with the old data key and sealed again
//! with the new one, by a scan of its text where one takes it (YAML's line scan,
//! `stream::splice::direct`; JSON's direct scan, `stream::json::reseal_part`), else
//! through its tree.

use zeroize::Zeroizing;

use super::PreparedRotate;
use crate::crypto::document;
use crate::crypto::document::DocumentError;
use crate::crypto::value::ValueCipher;
use crate::stream::encrypt::layout::JsonLayout;
use crate::stream::encrypt::layout::Layout;
use crate::stream::encrypt::layout::YamlLayout;
use crate::stream::encrypt::tokens_of;
use crate::stream::json::split as json_split;
use crate::stream::split::Part;
use crate::walk::Selector;

/// One part's result.
pub(super) enum RotOut {
    Done {
        /// Encrypted text only (not wiped: a wipe of each part's text showed up in the
        /// profile).
        out: Vec<u8>,
        skip: usize,
        old_tokens: Vec<u8>,
        new_tokens: Vec<u8>,
        mac_input: Vec<Zeroizing<Vec<u8>>>,
        clear_comments: usize,
        entry_key: Option<String>,
        keys: Vec<String>,
        /// The buffers are the pools' (`PreparedRotate::pools`), handed back once folded.
        pooled: bool,
    },
    /// A value that does not decrypt (exit 25, as the tree path).
    Failed(DocumentError),
    /// Encryption failed (the random generator).
    EncryptFailed(DocumentError),
    Decline,
}

impl PreparedRotate<'_> {
    /// One YAML part whose text is in `src` (the layout's text): by the line scan when
    /// it takes the part, else through its tree.
    pub(super) fn rotate_yaml(
        &self,
        l: &YamlLayout<'_>,
        src: &[u8],
        part: &Part,
        ciphers: Ciphers<'_>,
    ) -> RotOut {
        if let Some(indent) = self.scan {
            match rotate_scanned(src, indent, part, ciphers, &self.sel) {
                Some(r) => return r,
                None if self.scan_required => return RotOut::Decline,
                None => {}
            }
        }
        rotate_part(l, part, ciphers, &self.sel, self.meta.mac_only_encrypted)
    }

    /// One JSON part: by the decrypt's direct scan when it takes the part (each `ENC[…]`
    /// value sealed again where it stands, the rest of the text copied), else through
    /// its tree.
    pub(super) fn rotate_json(
        &self,
        l: &JsonLayout<'_>,
        part: &json_split::Part,
        ciphers: Ciphers<'_>,
    ) -> RotOut {
        let mac_only = self.meta.mac_only_encrypted;
        // A second `sops` member cut into parts as the big member: see `rotate_part`.
        if !self.json_scan || l.is_sub(part) && l.big_key() == Some("sops") {
            return rotate_part(l, part, ciphers, &self.sel, mac_only);
        }
        let leaves = crate::stream::json::Leaves {
            cipher: ciphers.0,
            sel: &self.sel,
            mac_only_encrypted: mac_only,
            unit: l.unit(),
            pools: &self.pools,
        };
        let mut sealer = document::Sealer::new(ciphers.1);
        match l.resealed(part, &leaves, &mut sealer) {
            Some(r) => RotOut::Done {
                out: r.out,
                skip: 0,
                old_tokens: r.old_tokens,
                new_tokens: r.new_tokens,
                mac_input: r.mac_input,
                clear_comments: 0,
                entry_key: r.entry_key,
                keys: r.keys,
                pooled: true,
            },
            None if self.scan_required => RotOut::Decline,
            None => rotate_part(l, part, ciphers, &self.sel, mac_only),
        }
    }
}

/// The old and the new data key's ciphers.
pub(super) type Ciphers<'c> = (&'c ValueCipher, &'c ValueCipher);

/// What rotates one part (with a worker's scratch buffer, for a part read from a file).
pub(super) type Work<'a, P> = dyn Fn(&P, Ciphers<'_>, &mut Vec<u8>) -> RotOut + Sync + 'a;

/// Rotates one YAML part without its tree (`stream::splice::direct`): a part laid out
/// as the emitter lays it out, every value encrypted, is written back line for line with
/// each `ENC[…]` text sealed again under the new key; `None` for anything else (the
/// tree path then rotates the part, with the same result or its error).
fn rotate_scanned(
    src: &[u8],
    indent: usize,
    part: &Part,
    (old, new): Ciphers<'_>,
    sel: &Selector,
) -> Option<RotOut> {
    use crate::stream::splice::direct;
    let (header, body, sub) = part.scan_input(src);
    let cfg = direct::Scan {
        cipher: old,
        sel,
        indent,
        k0: None,
        k1: None,
    };
    let mut sealer = document::Sealer::new(new);
    let write = direct::Write::Sealed(&mut sealer);
    let d = direct::scan(&cfg, header, src.get(body.clone())?, sub, write)?;
    let rw = d.rewritten?;
    Some(RotOut::Done {
        out: rw.text,
        skip: 0,
        old_tokens: d.tokens,
        new_tokens: rw.tokens,
        mac_input: vec![d.mac],
        clear_comments: 0,
        entry_key: d.entry_key,
        keys: Vec::new(),
        pooled: false,
    })
}

/// Reads one encrypted part, decrypts it with the old key and encrypts it with the new
/// one, and writes it; with the old and new integrity tokens and the MAC input.
fn rotate_part<L: Layout>(
    l: &L,
    part: &L::Part,
    (old, new): Ciphers<'_>,
    sel: &Selector,
    mac_only: bool,
) -> RotOut {
    let Some((mut doc, keys)) = l.read(part) else {
        return RotOut::Decline;
    };
    let sub = l.is_sub(part);
    // A second `sops` member cut into parts as a large entry (the reader declines one
    // in a part of root members) is the tree path's to judge, as for `decrypt`: its
    // values failed to decrypt, exit 25 for the tree's exit 1 (round 23).
    if sub && l.big_key() == Some("sops") {
        return RotOut::Decline;
    }
    let Some((old_tokens, entry_key)) = tokens_of(&doc, sub, mac_only) else {
        return RotOut::Decline;
    };
    let dec = match document::decrypt_part(&mut doc, old, sel, mac_only) {
        Ok(d) => d,
        // (Values already decrypted are wiped as they are dropped.)
        Err(e) => return RotOut::Failed(e),
    };
    if let Err(e) = document::encrypt_part(&mut doc, new, sel, mac_only) {
        return RotOut::EncryptFailed(e);
    }
    let Some((new_tokens, _)) = tokens_of(&doc, sub, mac_only) else {
        return RotOut::Decline;
    };
    let Some((mut out, skip)) = l.write(part, &doc) else {
        return RotOut::Decline;
    };
    RotOut::Done {
        out: std::mem::take(&mut *out),
        skip,
        old_tokens,
        new_tokens,
        mac_input: dec.mac_input,
        clear_comments: dec.clear_comments,
        entry_key,
        keys,
        pooled: false,
    }
}
