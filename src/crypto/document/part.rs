//! The two passes of the streaming writer over one part of a plaintext document (a
//! document whose root holds some of the entries of the whole, with the same paths):
//! first the MAC input alone, then the encryption. Both walk the part exactly as
//! [`encrypt_document`](super::encrypt_document) walks the whole, so that the parts
//! taken in document order give the same MAC input and the same AADs.

use super::*;
use encrypt::LeafEncryptor;
use encrypt::NonceSource;

/// The MAC input of one plaintext part (wiped on drop), in walk order, without
/// encrypting anything: what [`encrypt_document`](super::encrypt_document) would hash
/// for these leaves.
pub fn mac_input_part(
    doc: &mut Document,
    sel: &Selector,
    mac_only_encrypted: bool,
) -> Result<Vec<Zeroizing<Vec<u8>>>, DocumentError> {
    let mut mac = MacChunks::default();
    walk::walk::<DocumentError>(doc, sel, Direction::Encrypting, &mut |info, leaf| {
        if let Leaf::Value(v) = leaf
            && (!mac_only_encrypted || info.encrypt)
        {
            value::with_plaintext(v, |plain, _| mac.extend(plain));
        }
        Ok(())
    })?;
    Ok(mac.0)
}

/// Encrypts, in place and on the calling thread, every leaf and comment of one part that
/// the selector picks, with fresh nonces (no IV stash), as
/// [`encrypt_document`](super::encrypt_document) does for the whole document; the MAC
/// is not computed (see [`mac_input_part`]).
pub fn encrypt_part(
    doc: &mut Document,
    cipher: &ValueCipher,
    sel: &Selector,
    mac_only_encrypted: bool,
) -> Result<(), DocumentError> {
    let mut e = LeafEncryptor {
        cipher,
        mac_only_encrypted,
        mac: MacSink::Discard,
        cursor: None,
        nonces: NonceSource::new(),
        sel,
    };
    walk::walk(doc, sel, Direction::Encrypting, &mut |info, leaf| {
        e.visit(info, leaf)
    })
}

/// Seals single values with fresh nonces from its own generator, as [`encrypt_part`]
/// seals each leaf: for a reader that re-encrypts a part without its tree (the streaming
/// `rotate`'s line scan).
pub struct Sealer<'a> {
    cipher: &'a ValueCipher,
    nonces: NonceSource,
}

impl<'a> Sealer<'a> {
    /// A sealer for the key of `cipher`.
    pub fn new(cipher: &'a ValueCipher) -> Sealer<'a> {
        Sealer {
            cipher,
            nonces: NonceSource::new(),
        }
    }

    /// The `ENC[…]` text of `plain` (of type `typ`) under the path `aad`, with a fresh
    /// nonce.
    pub fn seal(
        &mut self,
        aad: &str,
        plain: &[u8],
        typ: ValueType,
    ) -> Result<String, DocumentError> {
        let err = |source| DocumentError::Encrypt {
            path: aad.to_owned(),
            source,
        };
        let iv = self.nonces.next().map_err(err)?;
        value::seal_text(self.cipher, plain, aad.as_bytes(), typ, iv).map_err(err)
    }

    /// [`Sealer::seal`]'s text appended to `out` (see [`value::seal_append`]).
    pub fn seal_append(
        &mut self,
        aad: &str,
        plain: &[u8],
        typ: ValueType,
        out: &mut Vec<u8>,
    ) -> Result<value::SealedSpan, DocumentError> {
        let err = |source| DocumentError::Encrypt {
            path: aad.to_owned(),
            source,
        };
        let iv = self.nonces.next().map_err(err)?;
        value::seal_append(self.cipher, plain, aad.as_bytes(), typ, iv, out).map_err(err)
    }
}
