//! Signed files: an SSH signature (OpenSSH's SSHSIG format, made and checked by
//! `ssh-keygen -Y`) over a canonical text of an encrypted file's state, stored in the
//! metadata field [`FIELD`], which sops ignores (and drops when it rewrites a file).
//!
//! The signed message ([`message`], version [`MESSAGE_VERSION`]) names the public digest
//! of the encrypted document (the integrity record's canonical encoding, hashed without
//! a key: every key, ciphertext, clear value, order and container), the stored MAC,
//! `lastmodified`, the integrity record, the selector, `mac_only_encrypted`, the Shamir
//! threshold and the ids of every key in every group. The signature itself is outside
//! what the MAC and the integrity record cover, so adding it changes neither; every
//! leafseal write that changes the file's state drops it ([`remove`], called by
//! [`crate::ops::reseal`] and [`crate::ops::certify`]). Checking needs no private key
//! and no data key, only an allowed-signers file in git's format.

use std::path::Path;
use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::crypto::integrity;
use crate::keys::KeyContext;
use crate::metadata::Metadata;
use crate::tree::Document;
use crate::tree::Value;

mod ssh;

pub use ssh::SignError;
pub use ssh::signing_key;

/// The metadata field that holds the signature (ignored by sops).
pub const FIELD: &str = "leafseal_signature";
/// The SSHSIG namespace of file signatures.
pub const NAMESPACE: &str = "leafseal";
/// The version of the signed message and of the stored field that `sign` writes.
pub const MESSAGE_VERSION: &str = "v2";
/// The version before round 25, still checked: its document digest takes each
/// ciphertext's type, length and tag only, so a ciphertext or IV altered in place (the
/// value then no longer decrypts) kept a v1 signature valid. Sign again to move a file
/// to v2.
pub const LEGACY_MESSAGE_VERSION: &str = "v1";
/// The version prefix of a contribution's stored signature (its message,
/// [`crate::contrib::message`], holds the whole encrypted value).
pub const CONTRIBUTION_VERSION: &str = "v1";

/// The canonical text a signature covers, for an encrypted document (values still
/// encrypted) and its metadata: version [`MESSAGE_VERSION`].
pub fn message(doc: &Document, meta: &Metadata) -> String {
    message_of(MESSAGE_VERSION, doc, meta)
}

/// The text of a given version ([`MESSAGE_VERSION`] or [`LEGACY_MESSAGE_VERSION`]): the
/// same lines, but v2's document digest holds every ciphertext whole.
fn message_of(version: &str, doc: &Document, meta: &Metadata) -> String {
    let q = |s: &str| serde_json::Value::String(s.to_owned()).to_string();
    let digest = if version == LEGACY_MESSAGE_VERSION {
        integrity::public_digest(doc, &meta.integrity_binding())
    } else {
        integrity::public_digest_whole(doc, &meta.integrity_binding())
    };
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let mut s = format!("leafseal signed file {version}\n");
    s.push_str(&format!("document-digest {hex}\n"));
    s.push_str(&format!("mac {}\n", q(meta.mac.trim())));
    s.push_str(&format!("lastmodified {}\n", q(meta.lastmodified.trim())));
    s.push_str(&format!(
        "integrity {}\n",
        q(meta.integrity.as_deref().unwrap_or("").trim())
    ));
    match &meta.selector {
        Some(sel) => s.push_str(&format!(
            "selector {} {}\n",
            q(sel.field()),
            q(sel.pattern())
        )),
        None => s.push_str("selector none\n"),
    }
    s.push_str(&format!("mac_only_encrypted {}\n", meta.mac_only_encrypted));
    s.push_str(&format!("threshold {}\n", meta.threshold()));
    for (i, group) in meta.key_groups.iter().enumerate() {
        let mut ids: Vec<(&str, String)> = group
            .iter()
            .map(|k| (k.key.kind().field(), k.key.id()))
            .collect();
        ids.sort();
        s.push_str(&format!("group {} {}\n", i + 1, ids.len()));
        for (kind, id) in ids {
            s.push_str(&format!("key {kind} {}\n", q(&id)));
        }
    }
    s.push_str("end\n");
    s
}

/// The stored signature of a file, if any.
pub fn stored(meta: &Metadata) -> Option<&str> {
    meta.extra.iter().find_map(|(k, v)| match v {
        Value::Str(s) if k.eq_ignore_ascii_case(FIELD) => Some(s.as_str()),
        _ => None,
    })
}

/// Whether the metadata names a signature field at all (of any shape).
pub fn present(meta: &Metadata) -> bool {
    meta.extra
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case(FIELD))
}

/// Removes the signature; returns whether there was one.
pub fn remove(meta: &mut Metadata) -> bool {
    let before = meta.extra.len();
    meta.extra.retain(|(k, _)| !k.eq_ignore_ascii_case(FIELD));
    meta.extra.len() != before
}

/// Stores a signature made by [`sign`] (replacing any other).
pub fn store(meta: &mut Metadata, value: String) {
    remove(meta);
    meta.extra.push((FIELD.to_owned(), Value::str(value)));
}

/// Signs a file's current state with the SSH key at `key` (a private key, or a public key
/// whose private half is in ssh-agent); returns the value to [`store`].
pub fn sign(
    doc: &Document,
    meta: &Metadata,
    key: &Path,
    ctx: &KeyContext,
) -> Result<String, SignError> {
    sign_versioned(MESSAGE_VERSION, &message(doc, meta), key, ctx)
}

/// Signs an arbitrary leafseal message (e.g. a contribution's, see [`crate::contrib`])
/// with the SSH key at `key`; returns the stored form `v1:TYPE:KEY:SIGNATURE`.
pub fn sign_message(message: &str, key: &Path, ctx: &KeyContext) -> Result<String, SignError> {
    sign_versioned(CONTRIBUTION_VERSION, message, key, ctx)
}

fn sign_versioned(
    version: &str,
    message: &str,
    key: &Path,
    ctx: &KeyContext,
) -> Result<String, SignError> {
    let armored = ssh::sign(message.as_bytes(), key, ctx)?;
    let blob = ssh::dearmor(&armored).ok_or_else(|| SignError {
        message: "ssh-keygen returned a signature leafseal cannot read".to_owned(),
    })?;
    let parsed = ssh::parse_blob(&blob).ok_or_else(|| SignError {
        message: "ssh-keygen returned a signature leafseal cannot read".to_owned(),
    })?;
    Ok(format!(
        "{version}:{}:{}:{}",
        parsed.key_type,
        STANDARD.encode(&parsed.public_key),
        STANDARD.encode(&blob)
    ))
}

/// Checks a stored signature (from [`sign_message`]) over `message` against an
/// allowed-signers file.
pub fn verify_message(
    message: &str,
    stored: &str,
    allowed_signers: &Path,
    ctx: &KeyContext,
) -> Result<Verdict, SignError> {
    let parsed = match parse_stored(stored, &[CONTRIBUTION_VERSION]) {
        Ok(p) => p,
        Err(why) => return Ok(Verdict::Invalid { why }),
    };
    let key = format!(
        "{} {}",
        parsed.key_type,
        STANDARD.encode(&parsed.public_key)
    );
    ssh::verify(message.as_bytes(), &parsed.blob, key, allowed_signers, ctx)
}

/// The outcome of checking a file's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The file has no signature.
    Unsigned,
    /// The signature is good and its key is in the allowed-signers file.
    Valid {
        /// The principal the allowed-signers file gives the key.
        principal: String,
        /// The signer's public key (`TYPE BASE64`).
        key: String,
        /// A [`LEGACY_MESSAGE_VERSION`] signature: good, but it does not cover each
        /// value's ciphertext bytes and IV (sign the file again).
        legacy: bool,
    },
    /// The signature was made by a key the allowed-signers file does not list.
    UnknownSigner {
        /// The signer's public key (`TYPE BASE64`).
        key: String,
    },
    /// The signature does not match the file (changed since it was signed), or it is
    /// malformed.
    Invalid {
        /// Why.
        why: String,
    },
}

impl Verdict {
    /// Whether the file is validly signed by an allowed signer.
    pub fn is_valid(&self) -> bool {
        matches!(self, Verdict::Valid { .. })
    }

    /// A one-line description (never key material beyond the public key).
    pub fn describe(&self) -> String {
        match self {
            Verdict::Unsigned => "not signed".to_owned(),
            Verdict::Valid {
                principal,
                key,
                legacy: false,
            } => format!("good signature by {principal} ({})", short_key(key)),
            Verdict::Valid {
                principal,
                key,
                legacy: true,
            } => format!(
                "good signature by {principal} ({}), of version {LEGACY_MESSAGE_VERSION}, which \
                 does not cover each value's ciphertext bytes and IV: run `leafseal sign` on \
                 the file again",
                short_key(key)
            ),
            Verdict::UnknownSigner { key } => format!(
                "signed by a key that is not in the allowed-signers file ({})",
                short_key(key)
            ),
            Verdict::Invalid { why } => format!("bad signature: {why}"),
        }
    }
}

/// `TYPE` plus the SHA-256 fingerprint of a `TYPE BASE64` public key, as ssh-keygen -l
/// prints it.
pub fn short_key(key: &str) -> String {
    use sha2::Digest;
    let mut parts = key.split_whitespace();
    let (Some(t), Some(b)) = (parts.next(), parts.next()) else {
        return key.to_owned();
    };
    match STANDARD.decode(b) {
        Ok(raw) => {
            let d = sha2::Sha256::digest(&raw);
            let fp = base64::engine::general_purpose::STANDARD_NO_PAD.encode(d);
            format!("{t} SHA256:{fp}")
        }
        Err(_) => key.to_owned(),
    }
}

/// Checks a file's signature against an allowed-signers file (git's format). Needs
/// neither a private key nor the data key.
pub fn verify(
    doc: &Document,
    meta: &Metadata,
    allowed_signers: &Path,
    ctx: &KeyContext,
) -> Result<Verdict, SignError> {
    if !present(meta) {
        return Ok(Verdict::Unsigned);
    }
    let Some(stored) = stored(meta) else {
        return Ok(Verdict::Invalid {
            why: format!("the `{FIELD}` field is not a string"),
        });
    };
    let parsed = match parse_stored(stored, &[MESSAGE_VERSION, LEGACY_MESSAGE_VERSION]) {
        Ok(p) => p,
        Err(why) => return Ok(Verdict::Invalid { why }),
    };
    let key = format!(
        "{} {}",
        parsed.key_type,
        STANDARD.encode(&parsed.public_key)
    );
    let verdict = ssh::verify(
        message_of(&parsed.version, doc, meta).as_bytes(),
        &parsed.blob,
        key,
        allowed_signers,
        ctx,
    )?;
    Ok(match verdict {
        Verdict::Valid { principal, key, .. } => Verdict::Valid {
            principal,
            key,
            legacy: parsed.version == LEGACY_MESSAGE_VERSION,
        },
        other => other,
    })
}

/// A stored signature, checked for shape.
struct Stored {
    version: String,
    key_type: String,
    public_key: Vec<u8>,
    blob: Vec<u8>,
}

fn parse_stored(s: &str, versions: &[&str]) -> Result<Stored, String> {
    let mut parts = s.trim().split(':');
    let (Some(v), Some(t), Some(k), Some(b), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(format!(
            "the `{FIELD}` field is not in the form v1:TYPE:KEY:SIGNATURE"
        ));
    };
    if !versions.contains(&v) {
        return Err(format!(
            "signature version `{v}` is not one this leafseal reads ({})",
            versions.join(", ")
        ));
    }
    let public_key = STANDARD
        .decode(k)
        .map_err(|_| "the signer's public key is not valid base64".to_owned())?;
    let blob = STANDARD
        .decode(b)
        .map_err(|_| "the signature is not valid base64".to_owned())?;
    let inner = ssh::parse_blob(&blob).ok_or("the signature is not an SSH signature (SSHSIG)")?;
    if inner.namespace != NAMESPACE {
        return Err(format!(
            "the signature is for namespace `{}`, not `{NAMESPACE}`",
            inner.namespace
        ));
    }
    if inner.public_key != public_key || inner.key_type != t {
        return Err(
            "the public key stored with the signature is not the one that signed".to_owned(),
        );
    }
    Ok(Stored {
        version: v.to_owned(),
        key_type: t.to_owned(),
        public_key,
        blob,
    })
}

/// Where `verify` finds the allowed-signers file: the explicit path, else the policy's.
pub fn allowed_signers_path(
    explicit: Option<&Path>,
    policy: Option<&crate::policy::Policy>,
) -> Option<PathBuf> {
    explicit
        .map(Path::to_owned)
        .or_else(|| policy.and_then(|p| p.allowed_signers.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyKind;
    use crate::keys::StoredKey;
    use crate::tree::Map;

    const AGE: &str = "age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw";
    const FP: &str = "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4";

    fn meta() -> Metadata {
        let key = |kind, s| StoredKey {
            key: crate::keys::key_from_str(kind, s).expect("key"),
            enc: "x".to_owned(),
            created_at: None,
        };
        Metadata {
            key_groups: vec![vec![key(KeyKind::Pgp, FP), key(KeyKind::Age, AGE)]],
            shamir_threshold: 0,
            lastmodified: "2026-01-01T00:00:00Z".to_owned(),
            mac: "ENC[mac]".to_owned(),
            mac_only_encrypted: false,
            selector: None,
            version: "3.13.2".to_owned(),
            integrity: Some("v1:r:t".to_owned()),
            extra: Vec::new(),
        }
    }

    fn doc(v: &str) -> Document {
        let mut m = Map::new();
        m.push("a", Value::str(v));
        Document::single(m)
    }

    #[test]
    fn the_v1_message_is_canonical_and_covers_the_document_and_the_keys() {
        let m = message(&doc("ENC[x]"), &meta());
        let lines: Vec<&str> = m.lines().collect();
        assert_eq!(lines[0], "leafseal signed file v2");
        assert!(lines[1].starts_with("document-digest ") && lines[1].len() == 16 + 64);
        assert_eq!(
            &lines[2..],
            [
                "mac \"ENC[mac]\"",
                "lastmodified \"2026-01-01T00:00:00Z\"",
                "integrity \"v1:r:t\"",
                "selector none",
                "mac_only_encrypted false",
                "threshold 1",
                "group 1 2",
                &format!("key age \"{AGE}\""),
                &format!("key pgp \"{FP}\""),
                "end",
            ]
        );
        // Another ciphertext, or another recipient, is another message.
        assert_ne!(message(&doc("ENC[y]"), &meta()), m);
        let mut fewer = meta();
        fewer.key_groups[0].pop();
        assert_ne!(message(&doc("ENC[x]"), &fewer), m);
        // The stored signature itself is not part of it.
        let mut signed = meta();
        store(&mut signed, "v1:a:b:c".to_owned());
        assert_eq!(message(&doc("ENC[x]"), &signed), m);
        assert!(remove(&mut signed) && !present(&signed));
    }

    #[test]
    fn stored_values_of_another_version_or_shape_are_rejected() {
        let file = [MESSAGE_VERSION, LEGACY_MESSAGE_VERSION];
        assert!(parse_stored("v3:ssh-ed25519:AAAA:AAAA", &file).is_err());
        assert!(parse_stored("v2:ssh-ed25519:AAAA:AAAA", &[CONTRIBUTION_VERSION]).is_err());
        assert!(parse_stored("v1:ssh-ed25519:AAAA", &file).is_err());
        assert!(parse_stored("v1:ssh-ed25519:AAAA:bm90IGEgc2ln", &file).is_err());
    }

    /// Round 25: the v1 digest took a ciphertext's type, length and tag only, so a
    /// ciphertext, an IV or text after the closing bracket changed in place (the value
    /// then no longer decrypts) left the signed message, and the signature, unchanged.
    #[test]
    fn the_message_changes_with_any_byte_of_a_ciphertext_or_its_iv() {
        let enc = |data: &str, iv: &str, tail: &str| {
            format!("ENC[AES256_GCM,data:{data},iv:{iv},tag:T0l4bWdPREpaUT09,type:str]{tail}")
        };
        let signed = message(&doc(&enc("Y9MFrB4npg==", "3lw/lb6qDY6e", "")), &meta());
        for altered in [
            enc("AAAAAAAAAA==", "3lw/lb6qDY6e", ""),
            enc("Y9MFrB4npg==", "AAAAAAAAAAAA", ""),
            enc("Y9MFrB4npg==", "3lw/lb6qDY6e", "junk"),
        ] {
            assert_ne!(message(&doc(&altered), &meta()), signed, "{altered}");
        }
        // A v1 signature is still checked over the v1 text, which does not see it.
        assert_eq!(
            message_of(
                LEGACY_MESSAGE_VERSION,
                &doc(&enc("AAAAAAAAAA==", "x", "")),
                &meta()
            ),
            message_of(
                LEGACY_MESSAGE_VERSION,
                &doc(&enc("Y9MFrB4npg==", "y", "")),
                &meta()
            ),
        );
    }
}
