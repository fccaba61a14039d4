//! The file MAC: SHA-512 over the plaintext byte forms of the leaves in walk order,
//! upper-case hex, stored encrypted with `lastmodified` as the AAD.

use sha2::Digest;
use sha2::Sha512;
use subtle::ConstantTimeEq;

use crate::crypto::CryptoError;
use crate::crypto::DataKey;
use crate::crypto::value;
use crate::crypto::value::EncValue;
use crate::crypto::value::ValueType;

/// SHA-256("sops"): fed first when `mac_only_encrypted` is set.
pub const MAC_ONLY_ENCRYPTED_SEED: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

/// An incremental MAC computation (cloned to share the hash of a common prefix).
#[derive(Clone)]
pub struct MacHasher(Sha512);

impl MacHasher {
    /// Starts a MAC; `mac_only_encrypted` feeds the seed first.
    pub fn new(mac_only_encrypted: bool) -> Self {
        let mut h = Sha512::new();
        if mac_only_encrypted {
            h.update(MAC_ONLY_ENCRYPTED_SEED);
        }
        MacHasher(h)
    }

    /// Feeds one leaf's plaintext byte form.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The upper-case hex digest (128 characters).
    pub fn finish(self) -> String {
        let digest = self.0.finalize();
        let mut s = String::with_capacity(128);
        for b in digest {
            s.push_str(&format!("{b:02X}"));
        }
        s
    }
}

/// Encrypts the MAC string with `lastmodified` (canonical RFC 3339) as AAD.
pub fn seal_mac(key: &DataKey, mac: &str, lastmodified: &str) -> Result<String, CryptoError> {
    Ok(value::seal(
        key,
        mac.as_bytes(),
        lastmodified.as_bytes(),
        ValueType::Str,
        None,
    )?
    .render())
}

/// Decrypts the stored MAC.
pub fn open_mac(key: &DataKey, stored: &str, lastmodified: &str) -> Result<String, CryptoError> {
    let enc = EncValue::parse(stored)?;
    // sops writes the MAC as a string and refuses any other type (the field is not
    // covered by the MAC itself).
    if enc.typ != ValueType::Str {
        return Err(CryptoError::Malformed("the MAC is not of type str"));
    }
    let plain = value::open(key, &enc, lastmodified.as_bytes())?;
    String::from_utf8(plain.to_vec()).map_err(|_| CryptoError::BadPlaintext("str"))
}

/// Constant-time comparison of two MAC strings.
pub fn mac_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_is_sha256_of_sops() {
        let d = sha2::Sha256::digest(b"sops");
        assert_eq!(d.as_slice(), &MAC_ONLY_ENCRYPTED_SEED);
    }

    #[test]
    fn empty_mac_is_upper_hex_sha512() {
        let m = MacHasher::new(false).finish();
        assert!(m.starts_with("CF83E1357EEFB8BD"));
        assert_eq!(m.len(), 128);
        assert!(mac_eq(&m, &m.clone()));
        assert!(!mac_eq(&m, &m.to_lowercase()));
    }
}
