//! Encrypting and decrypting a whole document: every leaf the selector picks, the
//! comments, and the MAC over the leaves.

use crate::crypto::CryptoError;
use crate::crypto::DataKey;
use crate::crypto::mac::MacHasher;
use crate::crypto::nonces::NonceStash;
use crate::crypto::value;
use crate::crypto::value::EncValue;
use crate::crypto::value::ValueCipher;
use crate::crypto::value::ValueType;
use crate::tree::Document;
use crate::tree::Text;
use crate::tree::Value;
use crate::walk;
use crate::walk::Direction;
use crate::walk::Leaf;
use crate::walk::Selector;

/// A value that could not be encrypted or decrypted. Carries the key path, never a value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DocumentError {
    /// The cipher failed on the value at this path.
    #[error("the value at path `{path}` could not be decrypted: {source}")]
    Value {
        /// The AAD path of the value.
        path: String,
        /// Why.
        #[source]
        source: CryptoError,
    },
    /// The comment at this path is `ENC[...]` but does not decrypt.
    #[error("an encrypted comment at path `{path}` could not be decrypted: {source}")]
    Comment {
        /// The AAD path of the comment.
        path: String,
        /// Why.
        #[source]
        source: CryptoError,
    },
    /// A value the selector says is encrypted is stored in clear.
    #[error(
        "the value at path `{path}` should be encrypted but is stored in clear ({kind}); the file was edited by hand or tampered with"
    )]
    NotEncrypted {
        /// The AAD path of the value.
        path: String,
        /// The kind of value found.
        kind: &'static str,
    },
    /// Encryption failed (random generator).
    #[error("encrypting the value at path `{path}` failed: {source}")]
    Encrypt {
        /// The AAD path of the value.
        path: String,
        /// Why.
        #[source]
        source: CryptoError,
    },
}

/// What decryption found besides the plaintext.
#[derive(Debug, Default)]
pub struct Decrypted {
    /// The MAC recomputed over the decrypted leaves (upper-case hex).
    pub mac: String,
    /// Comments that were kept as they are because they were never encrypted.
    pub clear_comments: usize,
}

/// Encrypts, in place, every leaf and comment the selector picks, and returns the MAC
/// over the plaintext leaves. With a stash, unchanged (path, plaintext) pairs reuse their
/// previous nonce — only valid with the same data key the stash was filled with.
pub fn encrypt_document(
    doc: &mut Document,
    key: &DataKey,
    sel: &Selector,
    mac_only_encrypted: bool,
    stash: Option<&NonceStash>,
) -> Result<String, DocumentError> {
    let mut mac = MacHasher::new(mac_only_encrypted);
    let cipher = ValueCipher::new(key);
    let mut cursor = stash.map(NonceStash::cursor);
    walk::walk(doc, sel, Direction::Encrypting, &mut |info, leaf| {
        let mut seal = |plain: &[u8], typ: ValueType| -> Result<String, DocumentError> {
            let iv = cursor
                .as_mut()
                .and_then(|c| c.next(info.aad.as_bytes(), typ, plain));
            value::seal_with(&cipher, plain, info.aad.as_bytes(), typ, iv)
                .map(|e| e.render())
                .map_err(|source| DocumentError::Encrypt {
                    path: info.aad.to_owned(),
                    source,
                })
        };
        match leaf {
            Leaf::Value(v) => {
                let Some((plain, typ)) = value::plaintext_of(v) else {
                    return Ok(());
                };
                if !mac_only_encrypted || info.encrypt {
                    mac.update(&plain);
                }
                if info.encrypt && !plain.is_empty() {
                    *v = Value::Str(Text::from(seal(&plain, typ)?));
                }
            }
            Leaf::Comment(c) => {
                if info.encrypt && !c.text.is_empty() {
                    c.text = Text::from(seal(c.text.as_bytes(), ValueType::Comment)?);
                }
            }
        }
        Ok(())
    })?;
    Ok(mac.finish())
}

/// Decrypts, in place, every leaf and comment the selector picks, filling the stash with
/// the nonces seen, and returns the recomputed MAC.
pub fn decrypt_document(
    doc: &mut Document,
    key: &DataKey,
    sel: &Selector,
    mac_only_encrypted: bool,
    mut stash: Option<&mut NonceStash>,
) -> Result<Decrypted, DocumentError> {
    let mut mac = MacHasher::new(mac_only_encrypted);
    let mut clear_comments = 0usize;
    let cipher = ValueCipher::new(key);
    walk::walk(doc, sel, Direction::Decrypting, &mut |info, leaf| {
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
                    let enc = EncValue::parse(text).map_err(err)?;
                    let typ = if enc.typ == ValueType::Comment {
                        ValueType::Str
                    } else {
                        enc.typ
                    };
                    let iv = enc.iv;
                    let plain =
                        value::open_owned(&cipher, enc, info.aad.as_bytes()).map_err(err)?;
                    let new = value::value_from_owned(plain, typ).map_err(err)?;
                    if let Some(s) = stash.as_deref_mut() {
                        value::with_plaintext(&new, |canon, ctyp| {
                            s.remember(info.aad.as_bytes(), ctyp, canon, iv)
                        });
                    }
                    *v = new;
                }
                if !mac_only_encrypted || info.encrypt {
                    value::with_plaintext(v, |plain, _| mac.update(plain));
                }
            }
            Leaf::Comment(c) => {
                if !info.encrypt || !value::is_encrypted(&c.text) {
                    if info.encrypt && !c.text.is_empty() {
                        clear_comments += 1;
                    }
                    return Ok(());
                }
                let err = |source| DocumentError::Comment {
                    path: info.aad.to_owned(),
                    source,
                };
                let enc = EncValue::parse(&c.text).map_err(err)?;
                let plain = value::open_with(&cipher, &enc, info.aad.as_bytes()).map_err(err)?;
                let text = String::from_utf8(plain.to_vec())
                    .map_err(|_| err(CryptoError::BadPlaintext("comment")))?;
                if let Some(s) = stash.as_deref_mut() {
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
    })?;
    Ok(Decrypted {
        mac: mac.finish(),
        clear_comments,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Comment;
    use crate::tree::Map;
    use crate::tree::SeqItem;

    fn sample() -> Document {
        let mut m = Map::new();
        m.push_comment(Comment::line(" hello"));
        m.push("s", Value::str("secret"));
        m.push("i", Value::Int(-42));
        m.push("f", Value::Float(1.5));
        m.push("b", Value::Bool(true));
        m.push("e", Value::str(""));
        m.push("n", Value::Null);
        m.push("x_unencrypted", Value::Int(5));
        m.push(
            "l",
            Value::Seq(vec![
                SeqItem::Value(Value::str("a")),
                SeqItem::Value(Value::Int(1)),
            ]),
        );
        Document::single(m)
    }

    #[test]
    fn round_trip_and_mac_agree() {
        let key = DataKey::generate().expect("rng");
        let sel = Selector::default();
        let mut doc = sample();
        let mac1 = encrypt_document(&mut doc, &key, &sel, false, None).expect("enc");
        let m = &doc.branches[0];
        assert!(
            m.get("s")
                .and_then(Value::as_str)
                .is_some_and(value::is_encrypted)
        );
        assert_eq!(m.get("e"), Some(&Value::str("")));
        assert_eq!(m.get("x_unencrypted"), Some(&Value::Int(5)));
        let mut stash = NonceStash::new();
        let dec = decrypt_document(&mut doc, &key, &sel, false, Some(&mut stash)).expect("dec");
        assert_eq!(dec.mac, mac1);
        assert_eq!(doc, sample());
        // Re-encrypting with the stash reproduces the same ciphertext.
        let mut a = sample();
        let mut b = sample();
        encrypt_document(&mut a, &key, &sel, false, Some(&stash)).expect("enc");
        encrypt_document(&mut b, &key, &sel, false, Some(&stash)).expect("enc");
        assert_eq!(a, b);
    }

    #[test]
    fn moved_value_fails() {
        let key = DataKey::generate().expect("rng");
        let sel = Selector::default();
        let mut doc = sample();
        encrypt_document(&mut doc, &key, &sel, false, None).expect("enc");
        let s = doc.branches[0].get("s").cloned().expect("s");
        *doc.branches[0].get_mut("i").expect("i") = s;
        let err = decrypt_document(&mut doc, &key, &sel, false, None).expect_err("must fail");
        assert!(matches!(err, DocumentError::Value { ref path, .. } if path == "i:"));
    }

    #[test]
    fn clear_value_where_encrypted_expected_fails() {
        let key = DataKey::generate().expect("rng");
        let sel = Selector::default();
        let mut doc = sample();
        encrypt_document(&mut doc, &key, &sel, false, None).expect("enc");
        *doc.branches[0].get_mut("i").expect("i") = Value::Int(7);
        let err = decrypt_document(&mut doc, &key, &sel, false, None).expect_err("must fail");
        assert!(matches!(err, DocumentError::NotEncrypted { .. }));
    }

    #[test]
    fn mac_only_encrypted_ignores_clear_values() {
        let key = DataKey::generate().expect("rng");
        let sel = Selector::default();
        let mut a = sample();
        let mut b = sample();
        *b.branches[0].get_mut("x_unencrypted").expect("x") = Value::Int(6);
        let ma = encrypt_document(&mut a, &key, &sel, true, None).expect("enc");
        let mb = encrypt_document(&mut b, &key, &sel, true, None).expect("enc");
        assert_eq!(ma, mb);
        let mut c = sample();
        let mut d = sample();
        *d.branches[0].get_mut("x_unencrypted").expect("x") = Value::Int(6);
        let mc = encrypt_document(&mut c, &key, &sel, false, None).expect("enc");
        let md = encrypt_document(&mut d, &key, &sel, false, None).expect("enc");
        assert_ne!(mc, md);
    }
}
