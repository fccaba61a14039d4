//! Encrypting and decrypting a whole document: every leaf the selector picks, the
//! comments, and the MAC over the leaves.

use zeroize::Zeroizing;

use crate::crypto::CryptoError;
use crate::crypto::DataKey;
use crate::crypto::mac::MacHasher;
use crate::crypto::nonces::NonceStash;
use crate::crypto::value;
use crate::crypto::value::EncFields;
use crate::crypto::value::EncValue;
use crate::crypto::value::ValueCipher;
use crate::crypto::value::ValueType;
use crate::tree::Bytes;
use crate::tree::Document;
use crate::tree::Text;
use crate::tree::Value;
use crate::walk;
use crate::walk::Direction;
use crate::walk::Leaf;
use crate::walk::LeafInfo;
use crate::walk::Selector;

/// A value that could not be encrypted or decrypted. Carries the key path, never a value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DocumentError {
    /// The cipher failed on the value at this path.
    #[error(
        "the value at {} could not be decrypted: {source}",
        crate::treepath::from_aad(path)
    )]
    Value {
        /// The AAD path of the value.
        path: String,
        /// Why.
        #[source]
        source: CryptoError,
    },
    /// The comment at this path is `ENC[...]` but does not decrypt.
    #[error(
        "an encrypted comment at {} could not be decrypted: {source}",
        crate::treepath::from_aad(path)
    )]
    Comment {
        /// The AAD path of the comment.
        path: String,
        /// Why.
        #[source]
        source: CryptoError,
    },
    /// A value the selector says is encrypted is stored in clear.
    #[error(
        "the value at {} should be encrypted but is stored in clear ({kind}); the file was edited by hand or tampered with",
        crate::treepath::from_aad(path)
    )]
    NotEncrypted {
        /// The AAD path of the value.
        path: String,
        /// The kind of value found.
        kind: &'static str,
    },
    /// Encryption failed (random generator).
    #[error(
        "encrypting the value at {} failed: {source}",
        crate::treepath::from_aad(path)
    )]
    Encrypt {
        /// The AAD path of the value.
        path: String,
        /// Why.
        #[source]
        source: CryptoError,
    },
    /// A value (not a comment) is typed `comment`. sops writes that type only for
    /// comments, which the MAC does not cover, so a value so typed is an edit: a copied
    /// ciphertext (list items share a path) or a changed type. Refused outright: left
    /// out of the MAC it would let an entry be added to a list unseen.
    #[error(
        "the value at {} is typed as a comment (type:comment), which only comments are; the file was altered (a value copied into it, or its type changed)",
        crate::treepath::from_aad(path)
    )]
    CommentTyped {
        /// The AAD path of the value.
        path: String,
    },
    /// An encrypted comment is typed other than `comment` (`type:str`, …). sops writes
    /// only `comment` for comments, which the MAC does not cover; a comment so retyped is
    /// an edit (sops then decrypts it as a value, adds it to the MAC and fails with 51).
    /// Refused, also with `--ignore-mac`, as a value typed `comment` is.
    #[error(
        "the encrypted comment at {} is typed `{typ}`, but comments are always typed `comment`; the file was altered (a comment's type changed, or a value copied in as a comment)",
        crate::treepath::from_aad(path)
    )]
    CommentRetyped {
        /// The AAD path of the comment.
        path: String,
        /// The type it has.
        typ: &'static str,
    },
    /// An encrypted comment matches `unencrypted_comment_regex` (sops: "Encrypted comment
    /// matches UnencryptedCommentRegex"): written, it would never be decrypted and the
    /// values after it would be read as clear text. Nothing is written.
    #[error(
        "an encrypted comment at {} matches unencrypted_comment_regex, so it could not be decrypted again; choose a pattern that cannot match encrypted text (ENC[AES256_GCM,…])",
        crate::treepath::from_aad(path)
    )]
    CommentMatchesSelector {
        /// The AAD path of the comment.
        path: String,
    },
    /// A comment holds ciphertext (`ENC[…,type:comment]`) where the selector says comments
    /// are clear text: the file was written with an `unencrypted_comment_regex` that
    /// matches encrypted text (or altered). Refused, so ciphertext is never shown as if
    /// it were the comment.
    #[error(
        "the comment at {} holds encrypted text but the file's settings (its selector in the metadata) leave it in clear: the file was written with a pattern that matches encrypted text, or altered; it cannot be decrypted reliably",
        crate::treepath::from_aad(path)
    )]
    EncryptedCommentInClear {
        /// The AAD path of the comment.
        path: String,
    },
    /// A decryption worker thread failed (a poisoned lock); nothing is trusted.
    #[error("internal error: a decryption worker failed; the file was not decrypted")]
    Worker,
}

/// What decryption found besides the plaintext.
#[derive(Debug, Default)]
pub struct Decrypted {
    /// The MAC recomputed over the decrypted leaves (upper-case hex).
    pub mac: String,
    /// Comments that were kept as they are because they were never encrypted.
    pub clear_comments: usize,
}

/// Where MAC input goes: straight into the hash, or into a buffer that is hashed later, in
/// walk order, when parts of the document are decrypted in parallel.
enum MacSink {
    Hash(MacHasher),
    Buffer(MacChunks),
    /// Not wanted (a part encrypted by the streaming writer, whose MAC was computed
    /// before).
    Discard,
}

/// MAC input kept for later hashing, in fixed-capacity chunks: a growing `Vec` would
/// leave copies of the plaintext in the memory it frees when it reallocates.
#[derive(Default)]
struct MacChunks(Vec<Zeroizing<Vec<u8>>>);

impl MacChunks {
    const CHUNK: usize = 64 * 1024;

    fn extend(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let room = self.0.last().map_or(0, |c| c.capacity() - c.len());
            if room == 0 {
                self.0.push(Zeroizing::new(Vec::with_capacity(Self::CHUNK)));
                continue;
            }
            let (now, rest) = bytes.split_at(room.min(bytes.len()));
            if let Some(c) = self.0.last_mut() {
                c.extend_from_slice(now);
            }
            bytes = rest;
        }
    }
}

impl MacSink {
    fn update(&mut self, bytes: &[u8]) {
        match self {
            MacSink::Hash(h) => h.update(bytes),
            MacSink::Buffer(b) => b.extend(bytes),
            MacSink::Discard => {}
        }
    }
}

/// Decrypts leaves one at a time, as the walker hands them over.
struct LeafDecryptor<'a> {
    cipher: &'a ValueCipher,
    mac_only_encrypted: bool,
    mac: MacSink,
    stash: Option<NonceStash>,
    clear_comments: usize,
    /// Values and comments whose re-encryption with their own nonce would not give their
    /// text back (see [`DecryptedPart::noncanonical`]).
    noncanonical: usize,
    /// Reused for every value's plaintext; wiped on drop.
    scratch: Zeroizing<Vec<u8>>,
}

impl LeafDecryptor<'_> {
    fn visit(&mut self, info: LeafInfo<'_>, leaf: Leaf<'_>) -> Result<(), DocumentError> {
        match leaf {
            Leaf::Value(v) => {
                if matches!(v, Value::Null) {
                    return Ok(());
                }
                if info.encrypt {
                    let text = match v {
                        Value::Str(s) if s.is_empty() => return Ok(()),
                        Value::Str(s) => s,
                        other => {
                            return Err(DocumentError::NotEncrypted {
                                path: info.aad.to_owned(),
                                kind: other.kind_name(),
                            });
                        }
                    };
                    if !value::is_encrypted(text) {
                        return Err(DocumentError::NotEncrypted {
                            path: info.aad.to_owned(),
                            kind: "string",
                        });
                    }
                    let err = |source| DocumentError::Value {
                        path: info.aad.to_owned(),
                        source,
                    };
                    let f = EncFields::parse(text).map_err(err)?;
                    let shape = canonical::Shape::of(text.len(), &f);
                    if f.typ == ValueType::Comment {
                        return Err(DocumentError::CommentTyped {
                            path: info.aad.to_owned(),
                        });
                    }
                    let typ = f.typ;
                    let iv = f.iv;
                    f.open_into(self.cipher, info.aad.as_bytes(), &mut self.scratch)
                        .map_err(err)?;
                    let plain: &[u8] = &self.scratch;
                    match (typ, std::str::from_utf8(plain)) {
                        (ValueType::Str | ValueType::Bytes, Ok(p)) => {
                            // The plaintext is shorter than its `ENC[...]` text: it goes into
                            // that string's own buffer, so nothing is allocated or freed (a
                            // free on another thread than the allocating one is costly).
                            let s = text.as_mut_string();
                            s.clear();
                            s.push_str(p);
                        }
                        (ValueType::Str | ValueType::Bytes, Err(_)) => {
                            *v = Value::Bytes(Bytes::new(plain.to_vec()));
                        }
                        _ => *v = value::value_from_plaintext(plain, typ).map_err(err)?,
                    }
                    if !shape.holds(&self.scratch, v) {
                        self.noncanonical += 1;
                    }
                    if let Some(s) = self.stash.as_mut() {
                        value::with_plaintext(v, |canon, ctyp| {
                            s.remember(info.aad.as_bytes(), ctyp, canon, iv)
                        });
                    }
                }
                if !self.mac_only_encrypted || info.encrypt {
                    let mac = &mut self.mac;
                    value::with_plaintext(v, |plain, _| mac.update(plain));
                }
            }
            Leaf::Comment(c) => {
                if !info.encrypt
                    && value::is_encrypted(&c.text)
                    && EncValue::parse(&c.text).is_ok_and(|e| e.typ == ValueType::Comment)
                {
                    return Err(DocumentError::EncryptedCommentInClear {
                        path: info.aad.to_owned(),
                    });
                }
                if !info.encrypt || !value::is_encrypted(&c.text) {
                    if info.encrypt && !c.text.is_empty() {
                        self.clear_comments += 1;
                    }
                    return Ok(());
                }
                let err = |source| DocumentError::Comment {
                    path: info.aad.to_owned(),
                    source,
                };
                let enc = EncValue::parse(&c.text).map_err(err)?;
                if enc.typ != ValueType::Comment {
                    return Err(DocumentError::CommentRetyped {
                        path: info.aad.to_owned(),
                        typ: enc.typ.name(),
                    });
                }
                let plain =
                    value::open_with(self.cipher, &enc, info.aad.as_bytes()).map_err(err)?;
                let text = String::from_utf8(plain.to_vec())
                    .map_err(|_| err(CryptoError::BadPlaintext("comment")))?;
                if !canonical::comment(c.text.len(), &enc, &text) {
                    self.noncanonical += 1;
                }
                if let Some(s) = self.stash.as_mut() {
                    s.remember(
                        info.aad.as_bytes(),
                        ValueType::Comment,
                        text.as_bytes(),
                        enc.iv,
                    );
                }
                c.text = Text::from(text);
            }
        }
        Ok(())
    }
}

/// Decrypts, in place, every leaf and comment the selector picks, filling the stash with
/// the nonces seen, and returns the recomputed MAC. Large documents are decrypted on all
/// cores (see the `parallel` module); the result is the same as a sequential walk.
pub fn decrypt_document(
    doc: &mut Document,
    key: &DataKey,
    sel: &Selector,
    mac_only_encrypted: bool,
    stash: Option<&mut NonceStash>,
) -> Result<Decrypted, DocumentError> {
    crate::tree::lift_list_comments(doc);
    let cipher = ValueCipher::new(key);
    let threads = parallel::threads_for(doc, 8, crate::io::cores);
    if threads > 1
        && !sel.is_comment_based()
        && let Some(result) = parallel::decrypt(
            doc,
            &cipher,
            sel,
            mac_only_encrypted,
            stash.is_some(),
            threads,
        )
    {
        let (dec, local) = result?;
        if let (Some(s), Some(local)) = (stash, local) {
            s.append(local);
        }
        return Ok(dec);
    }
    decrypt_sequential(doc, &cipher, sel, mac_only_encrypted, stash)
}

/// The plain one-thread walk.
fn decrypt_sequential(
    doc: &mut Document,
    cipher: &ValueCipher,
    sel: &Selector,
    mac_only_encrypted: bool,
    stash: Option<&mut NonceStash>,
) -> Result<Decrypted, DocumentError> {
    let mut d = LeafDecryptor {
        cipher,
        mac_only_encrypted,
        mac: MacSink::Hash(MacHasher::new(mac_only_encrypted)),
        stash: stash.is_some().then(NonceStash::new),
        clear_comments: 0,
        noncanonical: 0,
        scratch: Zeroizing::new(Vec::new()),
    };
    walk::walk(doc, sel, Direction::Decrypting, &mut |info, leaf| {
        d.visit(info, leaf)
    })?;
    if let (Some(s), Some(local)) = (stash, d.stash.take()) {
        s.append(local);
    }
    let mac = match d.mac {
        MacSink::Hash(h) => h.finish(),
        MacSink::Buffer(_) | MacSink::Discard => String::new(),
    };
    Ok(Decrypted {
        mac,
        clear_comments: d.clear_comments,
    })
}

/// One part of a document that is read in parts (see `crate::stream`), decrypted in
/// place on the calling thread: its MAC input, to be hashed in document order with the
/// other parts, and the number of clear comments kept as they are.
pub struct DecryptedPart {
    /// The MAC input of the part's leaves (plaintext: wiped on drop).
    pub mac_input: Vec<Zeroizing<Vec<u8>>>,
    /// Comments kept as they are because they were never encrypted.
    pub clear_comments: usize,
    /// Values and comments whose text re-encryption with their own nonce, type and path
    /// would not reproduce byte for byte (a plaintext in another form than the one its
    /// type is written in, a type written otherwise, an `ENC[…]` text with anything
    /// besides its four canonical fields): writing the part back changes them.
    pub noncanonical: usize,
}

/// Decrypts one part of a document (a document whose root holds some of the entries of
/// the whole, with the same paths): like [`decrypt_document`] on one thread, without the
/// IV stash, and returning the MAC input instead of the MAC.
pub fn decrypt_part(
    doc: &mut Document,
    cipher: &ValueCipher,
    sel: &Selector,
    mac_only_encrypted: bool,
) -> Result<DecryptedPart, DocumentError> {
    crate::tree::lift_list_comments(doc);
    let mut d = LeafDecryptor {
        cipher,
        mac_only_encrypted,
        mac: MacSink::Buffer(MacChunks::default()),
        stash: None,
        clear_comments: 0,
        noncanonical: 0,
        scratch: Zeroizing::new(Vec::new()),
    };
    walk::walk(doc, sel, Direction::Decrypting, &mut |info, leaf| {
        d.visit(info, leaf)
    })?;
    let mac_input = match d.mac {
        MacSink::Buffer(b) => b.0,
        MacSink::Hash(_) | MacSink::Discard => Vec::new(),
    };
    Ok(DecryptedPart {
        mac_input,
        clear_comments: d.clear_comments,
        noncanonical: d.noncanonical,
    })
}

/// Whether a decrypted value's text is the one re-encryption writes.
mod canonical;
/// Encryption of whole documents.
mod encrypt;
/// Decryption and encryption of large documents on all cores.
mod parallel;
/// Encryption of the parts of a document the streaming writer cuts (`crate::stream`).
mod part;

pub(crate) use canonical::comment_holds;
pub(crate) use canonical::value_holds;
pub use encrypt::encrypt_document;
pub use part::Sealer;
pub use part::encrypt_part;
pub use part::mac_input_part;

#[cfg(test)]
mod tests;
