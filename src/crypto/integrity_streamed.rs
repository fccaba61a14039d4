//! [`Streamed`]: the record of a one-branch document computed from its parts in document
//! order, without the whole tree.

use subtle::ConstantTimeEq;

use super::Binding;
use super::Encoder;
use super::Keyed;
use super::Status;
use super::Version;
use crate::crypto::DataKey;

/// The record of a one-branch document computed from its parts in document order, without
/// the whole tree: the same bytes as [`super::verify`] hashes for that document.
///
/// A record to write ([`Streamed::new`]) is a v2 record: its binding is hashed last, by
/// [`Streamed::record`], so the parts can be fed before the MAC is known. A record to
/// verify ([`Streamed::verifier`]) follows the stored record's version.
#[derive(Clone)]
pub struct Streamed {
    enc: Encoder,
    version: Version,
    /// A v1 record's binding is hashed first; [`Streamed::verify`] checks that it is
    /// given the same MAC.
    v1_mac: Option<String>,
}

impl Streamed {
    /// Starts a record to write (in the version written, v3): its label, the branch and
    /// its root map. The binding comes last ([`Streamed::record`]).
    pub fn new(key: &DataKey, mac_only_encrypted: bool) -> Self {
        Self::binding_last(key, mac_only_encrypted, Version::WRITTEN)
    }

    /// Starts a record whose binding comes last (v2 or v3).
    fn binding_last(key: &DataKey, mac_only_encrypted: bool, version: Version) -> Self {
        let mut enc = Encoder::new(Keyed::record(key, version), mac_only_encrypted);
        enc.bytes(version.label());
        enc.tag(b'D');
        enc.tag(b'M');
        Streamed {
            enc,
            version,
            v1_mac: None,
        }
    }

    /// Starts the record that checks `stored` (in the layout and keyed hash of its
    /// version; the version written when it is missing or malformed, which
    /// [`Streamed::verify`] reports without hashing). A splice that resumes a record from
    /// this one ([`Streamed::checkpoint`]) keeps the stored version.
    pub fn verifier(key: &DataKey, binding: &Binding<'_>, stored: Option<&str>) -> Self {
        match stored.and_then(super::parse) {
            Some((Version::V1, _, _)) => {
                let mut enc =
                    Encoder::new(Keyed::record(key, Version::V1), binding.mac_only_encrypted);
                super::header(&mut enc, binding);
                enc.tag(b'D');
                enc.tag(b'M');
                Streamed {
                    enc,
                    version: Version::V1,
                    v1_mac: Some(binding.mac.trim().to_owned()),
                }
            }
            Some((Version::V2, _, _)) => {
                Self::binding_last(key, binding.mac_only_encrypted, Version::V2)
            }
            _ => Self::new(key, binding.mac_only_encrypted),
        }
    }

    /// Opens the map value of the entry `key`, whose entries follow in parts.
    pub fn open_map_entry(&mut self, key: &str) {
        self.enc.tag(b'K');
        self.enc.bytes(key.as_bytes());
        self.enc.tag(b'M');
    }

    /// Closes the map opened by [`Streamed::open_map_entry`].
    pub fn close_map(&mut self) {
        self.enc.tag(b'm');
    }

    /// The tokens of some entries ([`super::entry_tokens`]).
    pub fn feed(&mut self, tokens: &[u8]) {
        self.enc.put(tokens);
    }

    /// A copy of the record so far, to resume a record to write from (as a v2 or v3
    /// record hashes what follows the same way whatever the MAC, the copy goes on as a
    /// record of the same version started anew and fed the same tokens would); `None`
    /// for a v1 record, whose input starts with the old MAC.
    /// The gathered tokens are hashed first, so the copy is the hash state alone.
    pub fn checkpoint(&mut self) -> Option<Self> {
        if !self.version.binding_last() {
            return None;
        }
        let mac = self.enc.mac.as_mut()?;
        mac.update(&self.enc.buf);
        self.enc.buf.clear();
        Some(Streamed {
            enc: Encoder {
                mac: Some(mac.clone()),
                buf: Vec::new(),
                mac_only_encrypted: self.enc.mac_only_encrypted,
                whole_ciphertexts: self.enc.whole_ciphertexts,
            },
            version: self.version,
            v1_mac: None,
        })
    }

    /// Closes the document and gives the record to store for it (as [`super::compute`]
    /// gives for the whole tree), bound to `binding` (with the file's new MAC).
    pub fn record(mut self, binding: &Binding<'_>) -> String {
        let tag = self.close(binding);
        super::stored_text(self.version, binding.mac, &tag)
    }

    /// Closes the document and checks the stored record against it.
    pub fn verify(mut self, stored: Option<&str>, binding: &Binding<'_>) -> Status {
        match super::status_without_key(stored, binding.mac) {
            Status::Valid => {}
            other => return other,
        }
        let Some((version, _, want)) = stored.and_then(super::parse) else {
            return Status::Malformed;
        };
        // Started for another version or binding (the caller's error): not a match.
        if version != self.version
            || self
                .v1_mac
                .as_deref()
                .is_some_and(|m| m != binding.mac.trim())
        {
            return Status::Mismatch;
        }
        let got = self.close(binding);
        if bool::from(got.ct_eq(&want)) {
            Status::Valid
        } else {
            Status::Mismatch
        }
    }

    /// The tag: the root map and the document closed, then (v2) the binding.
    fn close(&mut self, binding: &Binding<'_>) -> [u8; 32] {
        self.enc.tag(b'm');
        self.enc.tag(b'E');
        if self.version.binding_last() {
            super::trailer_v2(&mut self.enc, binding);
        }
        let enc = std::mem::replace(
            &mut self.enc,
            Encoder {
                mac: None,
                buf: Vec::new(),
                mac_only_encrypted: false,
                whole_ciphertexts: false,
            },
        );
        enc.finish()
    }
}
