//! The IV stash: re-encrypting an unchanged (path, plaintext) pair with the same data key
//! reuses its previous nonce, so the ciphertext stays byte-identical and git diffs stay
//! minimal. Entries are keyed by a SHA-256 of (AAD, type, plaintext), never by the
//! plaintext itself.

use std::collections::HashMap;

use sha2::Digest;
use sha2::Sha256;

use crate::crypto::value::ValueType;

/// Remembered nonces, by (AAD, type, plaintext) digest.
#[derive(Default)]
pub struct NonceStash(HashMap<[u8; 32], [u8; 32]>);

impl std::fmt::Debug for NonceStash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NonceStash({} entries)", self.0.len())
    }
}

fn digest(aad: &[u8], typ: ValueType, plaintext: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((aad.len() as u64).to_le_bytes());
    h.update(aad);
    h.update(typ.name().as_bytes());
    h.update([0]);
    h.update(plaintext);
    h.finalize().into()
}

impl NonceStash {
    /// An empty stash.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the nonce a value was decrypted with.
    pub fn remember(&mut self, aad: &[u8], typ: ValueType, plaintext: &[u8], iv: [u8; 32]) {
        self.0.insert(digest(aad, typ, plaintext), iv);
    }

    /// The nonce to reuse for an unchanged value, if any.
    pub fn lookup(&self, aad: &[u8], typ: ValueType, plaintext: &[u8]) -> Option<[u8; 32]> {
        self.0.get(&digest(aad, typ, plaintext)).copied()
    }

    /// Number of remembered values.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
