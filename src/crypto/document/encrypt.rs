//! Encrypting a whole document: every leaf and comment the selector picks, with the MAC
//! over the plaintext leaves. Large documents are encrypted on all cores (the runs of
//! `parallel`, MAC input hashed in walk order), like decryption.

use super::*;
use crate::crypto::nonces::StashCursor;
use parallel::Run;

/// Fresh nonces from a user-space generator seeded once from the operating system
/// (`crypto::ivgen`), made on the first nonce: one system call per walker instead of
/// one per 256 values.
pub(super) struct NonceSource {
    gen_: Option<crate::crypto::ivgen::IvGenerator>,
}

impl NonceSource {
    pub(super) fn new() -> NonceSource {
        NonceSource { gen_: None }
    }

    /// The next fresh 32-byte nonce.
    pub(super) fn next(&mut self) -> Result<[u8; 32], CryptoError> {
        let g = match &mut self.gen_ {
            Some(g) => g,
            None => self.gen_.insert(crate::crypto::ivgen::IvGenerator::new()?),
        };
        Ok(g.next_iv())
    }
}

/// Encrypts leaves one at a time, as the walker hands them over.
pub(super) struct LeafEncryptor<'a> {
    pub(super) cipher: &'a ValueCipher,
    pub(super) mac_only_encrypted: bool,
    pub(super) mac: MacSink,
    pub(super) cursor: Option<StashCursor<'a>>,
    pub(super) nonces: NonceSource,
    /// The selector, for the check of each encrypted comment
    /// ([`Selector::refuses_encrypted_comment`]).
    pub(super) sel: &'a Selector,
}

impl LeafEncryptor<'_> {
    fn seal(&mut self, aad: &str, plain: &[u8], typ: ValueType) -> Result<String, DocumentError> {
        let err = |source| DocumentError::Encrypt {
            path: aad.to_owned(),
            source,
        };
        let iv = match self
            .cursor
            .as_ref()
            .and_then(|c| c.next(aad.as_bytes(), typ, plain))
        {
            Some(iv) => iv,
            None => self.nonces.next().map_err(err)?,
        };
        value::seal_text(self.cipher, plain, aad.as_bytes(), typ, iv).map_err(err)
    }

    pub(super) fn visit(
        &mut self,
        info: LeafInfo<'_>,
        leaf: Leaf<'_>,
    ) -> Result<(), DocumentError> {
        match leaf {
            Leaf::Value(v) => {
                let sealed = value::with_plaintext(v, |plain, typ| {
                    if !self.mac_only_encrypted || info.encrypt {
                        self.mac.update(plain);
                    }
                    if info.encrypt && !plain.is_empty() {
                        self.seal(info.aad, plain, typ).map(Some)
                    } else {
                        Ok(None)
                    }
                });
                if let Some(text) = sealed.transpose()?.flatten() {
                    *v = Value::Str(Text::from(text));
                }
            }
            Leaf::Comment(c) => {
                if info.encrypt && !c.text.is_empty() {
                    let text = self.seal(info.aad, c.text.as_bytes(), ValueType::Comment)?;
                    if self.sel.refuses_encrypted_comment(&text) {
                        return Err(DocumentError::CommentMatchesSelector {
                            path: info.aad.to_owned(),
                        });
                    }
                    c.text = Text::from(text);
                }
            }
        }
        Ok(())
    }
}

/// Encrypts, in place, every leaf and comment the selector picks, and returns the MAC
/// over the plaintext leaves. With a stash, unchanged (path, plaintext) pairs reuse their
/// previous nonce — only valid with the same data key the stash was filled with. Large
/// documents are encrypted on all cores; the result is the one of a sequential walk (the
/// same MAC, the same ciphertext for every value that reuses a nonce).
pub fn encrypt_document(
    doc: &mut Document,
    key: &DataKey,
    sel: &Selector,
    mac_only_encrypted: bool,
    stash: Option<&NonceStash>,
) -> Result<String, DocumentError> {
    let cipher = ValueCipher::new(key);
    let threads = parallel::threads_for(doc, 8, crate::io::cores);
    if threads > 1
        && !sel.is_comment_based()
        && let Some(mac) = encrypt_parallel(doc, &cipher, sel, mac_only_encrypted, stash, threads)
    {
        return mac;
    }
    encrypt_sequential(doc, &cipher, sel, mac_only_encrypted, stash)
}

/// The plain one-thread walk.
pub(super) fn encrypt_sequential(
    doc: &mut Document,
    cipher: &ValueCipher,
    sel: &Selector,
    mac_only_encrypted: bool,
    stash: Option<&NonceStash>,
) -> Result<String, DocumentError> {
    let mut e = LeafEncryptor {
        cipher,
        mac_only_encrypted,
        mac: MacSink::Hash(MacHasher::new(mac_only_encrypted)),
        cursor: stash.map(NonceStash::cursor),
        nonces: NonceSource::new(),
        sel,
    };
    walk::walk(doc, sel, Direction::Encrypting, &mut |info, leaf| {
        e.visit(info, leaf)
    })?;
    Ok(match e.mac {
        MacSink::Hash(h) => h.finish(),
        MacSink::Buffer(_) | MacSink::Discard => String::new(),
    })
}

/// The walk cut into runs encrypted on `threads` workers. `None` (nothing done) when the
/// document is too small, or when a stash is given and an AAD could occur in two runs
/// (the stash hands out equal values' nonces in walk order, across runs).
pub(super) fn encrypt_parallel(
    doc: &mut Document,
    cipher: &ValueCipher,
    sel: &Selector,
    mac_only_encrypted: bool,
    stash: Option<&NonceStash>,
    threads: usize,
) -> Option<Result<String, DocumentError>> {
    let runs = parallel::cut(doc, sel, threads)?;
    if stash.is_some() && !runs.disjoint {
        return None;
    }
    // One pass shared by every run: no AAD occurs in two runs.
    let cursor = stash.map(NonceStash::cursor);
    let mut mac = MacHasher::new(mac_only_encrypted);
    let work = |mut run: Run<'_>| {
        let mut e = LeafEncryptor {
            cipher,
            mac_only_encrypted,
            mac: MacSink::Buffer(MacChunks::default()),
            cursor,
            nonces: NonceSource::new(),
            sel,
        };
        parallel::walk_run(&mut run, sel, Direction::Encrypting, &mut |info, leaf| {
            e.visit(info, leaf)
        })?;
        match e.mac {
            MacSink::Buffer(b) => Ok((b, ())),
            MacSink::Hash(_) | MacSink::Discard => Ok((MacChunks::default(), ())),
        }
    };
    Some(parallel::drive(runs, threads, &mut mac, &work, |()| {}).map(|()| mac.finish()))
}
