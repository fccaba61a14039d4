//! Cryptography: the data key, the `ENC[...]` value codec, the MAC, the IV stash and
//! Shamir secret sharing. Nothing here reads files or the environment.

use std::fmt;

use zeroize::Zeroizing;

mod b64;
pub mod document;
mod gcm;
pub mod integrity;
pub mod ivgen;
pub mod mac;
pub mod nonces;
pub mod shamir;
pub mod value;

/// Errors of the value cipher and the `ENC[...]` codec. Never carries plaintext.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// The text is not a well-formed `ENC[AES256_GCM,...]` value.
    #[error("malformed encrypted value: {0}")]
    Malformed(&'static str),
    /// The `type:` field names a type leafseal does not know.
    #[error("unknown value type in encrypted value")]
    UnknownType,
    /// GCM authentication failed: wrong key, wrong path (AAD) or tampered data.
    #[error("authentication failed (wrong data key, value moved to another key, or tampered)")]
    Authentication,
    /// The decrypted plaintext does not parse as the declared type.
    #[error("decrypted value does not parse as its declared type `{0}`")]
    BadPlaintext(&'static str),
    /// The operating system's random generator failed.
    #[error("the operating system's random number generator failed")]
    Random,
}

/// The 32-byte AES-256 data key of a file. Wiped on drop; `Debug` prints `[REDACTED]`.
#[derive(Clone)]
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    /// A fresh random key.
    pub fn generate() -> Result<DataKey, CryptoError> {
        let mut k = Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut k[..]).map_err(|_| CryptoError::Random)?;
        Ok(DataKey(k))
    }

    /// A key from exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<DataKey> {
        let arr: [u8; 32] = bytes.try_into().ok()?;
        Some(DataKey(Zeroizing::new(arr)))
    }

    /// The raw key bytes.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey([REDACTED])")
    }
}

/// Fills a buffer from the OS random generator.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), CryptoError> {
    getrandom::fill(buf).map_err(|_| CryptoError::Random)
}
