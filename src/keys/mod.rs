//! Key sources ("master keys"): one file per source behind the [`MasterKey`] trait.
//!
//! A master key is configuration only (a recipient, a fingerprint, an ARN). The wrapped
//! data key (`enc`) and `created_at` live beside it in [`StoredKey`]. Credentials, the
//! environment and caches come in through [`KeyContext`], so tests can point a source at
//! a loopback server or a temporary keyring.

use std::fmt;
use std::sync::Arc;

use zeroize::Zeroizing;

pub use context::KeyContext;
pub use fields::FieldValue;
pub use fields::KeyFields;
pub use probe::Probe;
pub use probe::ProbeStatus;

pub mod address;
#[cfg(feature = "age")]
pub mod age;
#[cfg(feature = "aws")]
pub mod awskms;
#[cfg(feature = "azure")]
pub mod azkv;
mod context;
pub mod deadline;
pub mod fields;
#[cfg(feature = "gcp")]
pub mod gcpkms;
pub mod group;
#[cfg(feature = "hckms")]
pub mod hckms;
#[cfg(feature = "vault")]
pub mod hcvault;
pub mod kms_context;
pub mod opaque;
#[cfg(feature = "pgp")]
pub mod pgp;
pub mod probe;
#[cfg(feature = "http")]
pub(crate) mod rest;
#[cfg(all(test, feature = "http"))]
mod testhttp;
mod wrapped;

/// Describes why a program could not be started.
#[cfg(any(feature = "age", feature = "pgp", feature = "vault"))]
pub(crate) fn spawn_error(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "program not found".to_owned(),
        kind => kind.to_string(),
    }
}

/// The kinds of master key sops knows, in the metadata's field names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyKind {
    /// age X25519 / SSH recipients (`age`).
    Age,
    /// OpenPGP through gpg (`pgp`).
    Pgp,
    /// AWS KMS (`kms`).
    Kms,
    /// GCP Cloud KMS (`gcp_kms`).
    GcpKms,
    /// Azure Key Vault (`azure_kv`).
    AzureKv,
    /// HashiCorp Vault / OpenBao transit (`hc_vault`).
    HcVault,
    /// HuaweiCloud KMS (`hckms`).
    Hckms,
}

impl KeyKind {
    /// Every kind, in sops's default decryption order (local keys first).
    pub const ALL: [KeyKind; 7] = [
        KeyKind::Age,
        KeyKind::Pgp,
        KeyKind::Kms,
        KeyKind::GcpKms,
        KeyKind::AzureKv,
        KeyKind::HcVault,
        KeyKind::Hckms,
    ];

    /// The metadata field name (`age`, `pgp`, `kms`, `gcp_kms`, `azure_kv`, `hc_vault`, `hckms`).
    pub fn field(self) -> &'static str {
        match self {
            KeyKind::Age => "age",
            KeyKind::Pgp => "pgp",
            KeyKind::Kms => "kms",
            KeyKind::GcpKms => "gcp_kms",
            KeyKind::AzureKv => "azure_kv",
            KeyKind::HcVault => "hc_vault",
            KeyKind::Hckms => "hckms",
        }
    }

    /// Parses a metadata field name or a `--decryption-order` entry.
    pub fn from_field(s: &str) -> Option<KeyKind> {
        KeyKind::ALL.into_iter().find(|k| k.field() == s)
    }

    /// Whether unwrapping needs a network call.
    pub fn is_network(self) -> bool {
        !matches!(self, KeyKind::Age | KeyKind::Pgp)
    }
}

/// A key-source error: what failed, and what to do about it. Never carries a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError {
    /// What went wrong.
    pub message: String,
    /// What the user can do next.
    pub hint: Option<String>,
}

impl KeyError {
    /// An error without a hint.
    pub fn new(message: impl Into<String>) -> Self {
        KeyError {
            message: message.into(),
            hint: None,
        }
    }
    /// An error with a hint.
    pub fn with_hint(message: impl Into<String>, hint: impl Into<String>) -> Self {
        KeyError {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(h) = &self.hint {
            write!(f, " ({h})")?;
        }
        Ok(())
    }
}

impl std::error::Error for KeyError {}

/// One master key: wraps and unwraps the data key (or a Shamir share).
pub trait MasterKey: Send + Sync + fmt::Debug {
    /// The kind of key.
    fn kind(&self) -> KeyKind;

    /// The key's string form: the age recipient, the PGP fingerprint, the KMS ARN
    /// (`ARN+ROLE`), … exactly as the file or the user gave it: for comparing keys and
    /// matching `--rm-*` flags. Never put it in a message or a report: that is
    /// [`MasterKey::display_id`].
    fn id(&self) -> String;

    /// The key's id as messages and reports show it: [`crate::redact::display_id`] of
    /// [`MasterKey::id`] (an id read from a file may hold terminal escapes, a
    /// bidirectional override or pasted key material; a well-formed id is unchanged).
    fn display_id(&self) -> String {
        crate::redact::display_id(&self.id()).into_owned()
    }

    /// Wraps `secret` (32-byte data key or 33-byte share) and returns the `enc` text.
    fn wrap(&self, secret: &[u8], ctx: &KeyContext) -> Result<String, KeyError>;

    /// Unwraps an `enc` text written by [`MasterKey::wrap`] (or by sops).
    fn unwrap(&self, enc: &str, ctx: &KeyContext) -> Result<Zeroizing<Vec<u8>>, KeyError>;

    /// The key's identifying fields of its metadata entry, in order (not `enc` and not
    /// `created_at`, which the metadata adds), e.g. `recipient` for age or `fp` for PGP.
    /// `crate::metadata` turns them into the entry.
    fn fields(&self) -> KeyFields;

    /// For `leafseal doctor`: which credential source or identity this key would use and
    /// whether a harmless check with it works (never wrapping or unwrapping a real data
    /// key, never returning a secret). Key sources without a check keep this default.
    fn probe(&self, _ctx: &KeyContext) -> Probe {
        Probe::not_checked()
    }

    /// Whether this kind of entry carries `created_at` (every kind but age).
    fn has_created_at(&self) -> bool {
        self.kind() != KeyKind::Age
    }
}

/// A master key together with its wrapped data key, as stored in the metadata.
#[derive(Debug, Clone)]
pub struct StoredKey {
    /// The key.
    pub key: Arc<dyn MasterKey>,
    /// The wrapped data key (or share).
    pub enc: String,
    /// When it was wrapped (RFC 3339), for the kinds that record it.
    pub created_at: Option<String>,
}

/// A remote key service (sops's gRPC `KeyService`): wraps and unwraps with a master key
/// that lives on another machine. Implemented in `crate::keyservice`.
pub trait KeyService: Send + Sync + fmt::Debug {
    /// The service's address as the user wrote it (`tcp://host:port`, `unix:///path`).
    fn address(&self) -> &str;

    /// Wraps `secret` with `key` on the service; returns the `enc` text.
    fn wrap(&self, key: &dyn MasterKey, secret: &[u8]) -> Result<String, KeyError>;

    /// Unwraps `enc` with `key` on the service.
    fn unwrap(&self, key: &dyn MasterKey, enc: &str) -> Result<Zeroizing<Vec<u8>>, KeyError>;
}

/// The cargo feature that builds a kind's key source, if this build lacks it.
pub fn missing_feature(kind: KeyKind) -> Option<&'static str> {
    let (feature, on) = match kind {
        KeyKind::Age => ("age", cfg!(feature = "age")),
        KeyKind::Pgp => ("pgp", cfg!(feature = "pgp")),
        KeyKind::Kms => ("aws", cfg!(feature = "aws")),
        KeyKind::GcpKms => ("gcp", cfg!(feature = "gcp")),
        KeyKind::AzureKv => ("azure", cfg!(feature = "azure")),
        KeyKind::HcVault => ("vault", cfg!(feature = "vault")),
        KeyKind::Hckms => ("hckms", cfg!(feature = "hckms")),
    };
    (!on).then_some(feature)
}

/// The error for a key kind whose source this build leaves out.
fn not_built(kind: KeyKind) -> KeyError {
    match missing_feature(kind) {
        Some(feature) => KeyError::with_hint(
            format!(
                "this build of leafseal has no `{}` key source",
                kind.field()
            ),
            format!("build leafseal with the `{feature}` cargo feature"),
        ),
        None => KeyError::new(format!("`{}` keys are not supported yet", kind.field())),
    }
}

/// Parses one metadata entry (a map under `age:`, `pgp:`, …, as plain fields: see
/// `crate::metadata`) into a master key.
///
/// An entry of a kind this build cannot use is kept verbatim ([`opaque::OpaqueKey`]), so
/// the file's other keys still open it and a rewrite keeps the entry.
pub fn key_from_entry(kind: KeyKind, entry: &KeyFields) -> Result<Arc<dyn MasterKey>, KeyError> {
    match kind {
        #[cfg(feature = "age")]
        KeyKind::Age => match age::AgeKey::from_fields(entry) {
            Ok(k) => Ok(Arc::new(k)),
            // An age recipient this build cannot use (post-quantum, plugin): keep the
            // entry so another key of the file can still open it.
            Err(e) if entry.get("recipient").is_some() => {
                Ok(Arc::new(opaque::OpaqueKey::unusable(kind, entry, e)))
            }
            Err(e) => Err(e),
        },
        #[cfg(feature = "pgp")]
        KeyKind::Pgp => match pgp::PgpKey::from_fields(entry) {
            Ok(k) => Ok(Arc::new(k)),
            // An entry without `fp`: sops reads it (gpg decrypts without the fingerprint
            // on the other paths); keep it so the file's other keys still open it.
            Err(e) => Ok(Arc::new(opaque::OpaqueKey::unusable(kind, entry, e))),
        },
        #[cfg(feature = "aws")]
        KeyKind::Kms => match awskms::KmsKey::from_fields(entry) {
            Ok(k) => Ok(Arc::new(k)),
            // An ARN this build cannot parse: keep the entry for the other keys' sake.
            Err(e) if entry.get("arn").is_some() => {
                Ok(Arc::new(opaque::OpaqueKey::unusable(kind, entry, e)))
            }
            Err(e) => Err(e),
        },
        #[cfg(feature = "vault")]
        KeyKind::HcVault => {
            hcvault::VaultKey::from_fields(entry).map(|k| Arc::new(k) as Arc<dyn MasterKey>)
        }
        #[cfg(feature = "gcp")]
        KeyKind::GcpKms => {
            gcpkms::GcpKmsKey::from_fields(entry).map(|k| Arc::new(k) as Arc<dyn MasterKey>)
        }
        #[cfg(feature = "azure")]
        KeyKind::AzureKv => {
            azkv::AzureKey::from_fields(entry).map(|k| Arc::new(k) as Arc<dyn MasterKey>)
        }
        #[cfg(feature = "hckms")]
        KeyKind::Hckms => match hckms::HckmsKey::from_fields(entry) {
            Ok(k) => Ok(Arc::new(k)),
            // A key ID this build refuses (odd characters): keep the entry.
            Err(e) if entry.get("key_id").is_some() => {
                Ok(Arc::new(opaque::OpaqueKey::unusable(kind, entry, e)))
            }
            Err(e) => Err(e),
        },
        #[allow(unreachable_patterns)] // every kind is built
        other => match missing_feature(other) {
            Some(_) => Ok(Arc::new(opaque::OpaqueKey::unusable(
                other,
                entry,
                not_built(other),
            ))),
            None => Ok(Arc::new(opaque::OpaqueKey::from_fields(other, entry))),
        },
    }
}

/// Parses a key given on the command line or in a policy (`--age`, `pgp:` …).
pub fn key_from_str(kind: KeyKind, s: &str) -> Result<Arc<dyn MasterKey>, KeyError> {
    #[cfg(not(all(
        feature = "age",
        feature = "pgp",
        feature = "aws",
        feature = "gcp",
        feature = "azure",
        feature = "vault",
        feature = "hckms"
    )))]
    let _ = s;
    match kind {
        #[cfg(feature = "age")]
        KeyKind::Age => age::AgeKey::parse(s).map(|k| Arc::new(k) as Arc<dyn MasterKey>),
        #[cfg(feature = "pgp")]
        KeyKind::Pgp => pgp::PgpKey::parse(s).map(|k| Arc::new(k) as Arc<dyn MasterKey>),
        #[cfg(feature = "aws")]
        KeyKind::Kms => awskms::KmsKey::parse(s).map(|k| Arc::new(k) as Arc<dyn MasterKey>),
        #[cfg(feature = "vault")]
        KeyKind::HcVault => hcvault::VaultKey::parse(s).map(|k| Arc::new(k) as Arc<dyn MasterKey>),
        #[cfg(feature = "gcp")]
        KeyKind::GcpKms => gcpkms::GcpKmsKey::parse(s).map(|k| Arc::new(k) as Arc<dyn MasterKey>),
        #[cfg(feature = "azure")]
        KeyKind::AzureKv => azkv::AzureKey::parse(s).map(|k| Arc::new(k) as Arc<dyn MasterKey>),
        #[cfg(feature = "hckms")]
        KeyKind::Hckms => hckms::HckmsKey::parse(s).map(|k| Arc::new(k) as Arc<dyn MasterKey>),
        #[allow(unreachable_patterns)] // every kind is built
        other => Err(not_built(other)),
    }
}

/// Parses a key written as a map in a policy's `key_groups` (`kms: [{arn: …}]`,
/// `azure_keyvault: [{vaultUrl: …}]`, …).
pub fn key_from_policy_entry(
    kind: KeyKind,
    entry: &KeyFields,
) -> Result<Arc<dyn MasterKey>, KeyError> {
    #[cfg(not(any(feature = "aws", feature = "gcp", feature = "azure", feature = "hckms")))]
    let _ = entry;
    match kind {
        #[cfg(feature = "aws")]
        KeyKind::Kms => {
            awskms::KmsKey::from_fields(entry).map(|k| Arc::new(k) as Arc<dyn MasterKey>)
        }
        // `gcp_kms: [{resource_id: …}]`
        #[cfg(feature = "gcp")]
        KeyKind::GcpKms => {
            gcpkms::GcpKmsKey::from_fields(entry).map(|k| Arc::new(k) as Arc<dyn MasterKey>)
        }
        // `azure_keyvault: [{vaultUrl: …, key: …, version: …}]`
        #[cfg(feature = "azure")]
        KeyKind::AzureKv => {
            azkv::AzureKey::from_policy_fields(entry).map(|k| Arc::new(k) as Arc<dyn MasterKey>)
        }
        // `hckms: [{key_id: region:uuid}]`
        #[cfg(feature = "hckms")]
        KeyKind::Hckms => {
            hckms::HckmsKey::from_fields(entry).map(|k| Arc::new(k) as Arc<dyn MasterKey>)
        }
        _ => Err(not_built(kind)),
    }
}

#[cfg(test)]
mod tests;
