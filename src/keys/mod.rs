//! Key sources ("master keys"): one file per source behind the [`MasterKey`] trait.
//!
//! A master key is configuration only (a recipient, a fingerprint, an ARN). The wrapped
//! data key (`enc`) and `created_at` live beside it in [`StoredKey`]. Credentials, the
//! environment and caches come in through [`KeyContext`], so tests can point a source at
//! a loopback server or a temporary keyring.

use std::any::Any;
use std::any::TypeId;
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;

use zeroize::Zeroizing;

use crate::tree::Map;

pub mod age;
pub mod awskms;
pub mod azkv;
pub mod gcpkms;
pub mod group;
pub mod hcvault;
pub mod opaque;
pub mod pgp;
pub(crate) mod rest;
#[cfg(test)]
mod testhttp;

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
    /// (`ARN+ROLE`), … Used to display the key and to match `--rm-*` flags.
    fn id(&self) -> String;

    /// Wraps `secret` (32-byte data key or 33-byte share) and returns the `enc` text.
    fn wrap(&self, secret: &[u8], ctx: &KeyContext) -> Result<String, KeyError>;

    /// Unwraps an `enc` text written by [`MasterKey::wrap`] (or by sops).
    fn unwrap(&self, enc: &str, ctx: &KeyContext) -> Result<Zeroizing<Vec<u8>>, KeyError>;

    /// Writes the key's identifying fields of its metadata entry (not `enc` and not
    /// `created_at`, which the caller adds), e.g. `recipient` for age or `fp` for PGP.
    fn write_fields(&self, entry: &mut Map);

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

/// The environment, credentials and caches key sources work with.
pub struct KeyContext {
    vars: HashMap<String, String>,
    /// Names of variables skipped because their name or value is not valid UTF-8
    /// (lossily decoded, for warnings).
    not_utf8: Vec<String>,
    cache: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl fmt::Debug for KeyContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyContext { .. }")
    }
}

impl KeyContext {
    /// A context over the process environment.
    ///
    /// Variables whose name or value is not valid UTF-8 (common on CI runners) are left
    /// out, never a reason to fail; [`KeyContext::not_utf8_vars`] names them.
    pub fn from_env() -> Self {
        Self::from_os_vars(std::env::vars_os())
    }

    /// A context over the given variables, skipping those that are not valid UTF-8.
    pub fn from_os_vars(
        vars: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
    ) -> Self {
        let mut map = HashMap::new();
        let mut not_utf8 = Vec::new();
        for (k, v) in vars {
            match (k.into_string(), v.into_string()) {
                (Ok(k), Ok(v)) => {
                    map.insert(k, v);
                }
                (Ok(k), Err(_)) => not_utf8.push(k),
                (Err(k), _) => not_utf8.push(k.to_string_lossy().into_owned()),
            }
        }
        let mut ctx = Self::with_vars(map);
        ctx.not_utf8 = not_utf8;
        ctx
    }

    /// A context over the given variables only (tests).
    pub fn with_vars(vars: HashMap<String, String>) -> Self {
        KeyContext {
            vars,
            not_utf8: Vec::new(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The names of the environment variables left out because their name or value is
    /// not valid UTF-8 (names lossily decoded).
    pub fn not_utf8_vars(&self) -> &[String] {
        &self.not_utf8
    }

    /// An environment variable (empty values count as unset).
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// All variables (to pass on to child processes such as gpg).
    pub fn vars(&self) -> &HashMap<String, String> {
        &self.vars
    }

    /// The user's home directory.
    pub fn home(&self) -> Option<PathBuf> {
        self.var("HOME").map(PathBuf::from)
    }

    /// A per-run cached value of type `T`, created on first use (e.g. loaded identities).
    pub fn cached<T: Any + Send + Sync>(&self, init: impl FnOnce() -> T) -> Arc<T> {
        let id = TypeId::of::<T>();
        if let Ok(map) = self.cache.lock()
            && let Some(v) = map.get(&id)
            && let Ok(t) = Arc::clone(v).downcast::<T>()
        {
            return t;
        }
        let value = Arc::new(init());
        if let Ok(mut map) = self.cache.lock() {
            map.insert(id, Arc::clone(&value) as Arc<dyn Any + Send + Sync>);
        }
        value
    }
}

/// Parses one metadata entry (a map under `age:`, `pgp:`, …) into a master key.
pub fn key_from_entry(kind: KeyKind, entry: &Map) -> Result<Arc<dyn MasterKey>, KeyError> {
    match kind {
        KeyKind::Age => match age::AgeKey::from_entry(entry) {
            Ok(k) => Ok(Arc::new(k)),
            // An age recipient this build cannot use (post-quantum, plugin): keep the
            // entry so another key of the file can still open it.
            Err(e) if entry.get("recipient").is_some() => {
                Ok(Arc::new(opaque::OpaqueKey::unusable(kind, entry, e)))
            }
            Err(e) => Err(e),
        },
        KeyKind::Pgp => pgp::PgpKey::from_entry(entry).map(|k| Arc::new(k) as Arc<dyn MasterKey>),
        KeyKind::Kms => match awskms::KmsKey::from_entry(entry) {
            Ok(k) => Ok(Arc::new(k)),
            // An ARN this build cannot parse: keep the entry for the other keys' sake.
            Err(e) if entry.get("arn").is_some() => {
                Ok(Arc::new(opaque::OpaqueKey::unusable(kind, entry, e)))
            }
            Err(e) => Err(e),
        },
        KeyKind::HcVault => {
            hcvault::VaultKey::from_entry(entry).map(|k| Arc::new(k) as Arc<dyn MasterKey>)
        }
        KeyKind::GcpKms => {
            gcpkms::GcpKmsKey::from_entry(entry).map(|k| Arc::new(k) as Arc<dyn MasterKey>)
        }
        KeyKind::AzureKv => {
            azkv::AzureKey::from_entry(entry).map(|k| Arc::new(k) as Arc<dyn MasterKey>)
        }
        other => Ok(Arc::new(opaque::OpaqueKey::from_entry(other, entry))),
    }
}

/// Parses a key given on the command line or in a policy (`--age`, `pgp:` …).
pub fn key_from_str(kind: KeyKind, s: &str) -> Result<Arc<dyn MasterKey>, KeyError> {
    match kind {
        KeyKind::Age => age::AgeKey::parse(s).map(|k| Arc::new(k) as Arc<dyn MasterKey>),
        KeyKind::Pgp => pgp::PgpKey::parse(s).map(|k| Arc::new(k) as Arc<dyn MasterKey>),
        KeyKind::Kms => awskms::KmsKey::parse(s).map(|k| Arc::new(k) as Arc<dyn MasterKey>),
        KeyKind::HcVault => hcvault::VaultKey::parse(s).map(|k| Arc::new(k) as Arc<dyn MasterKey>),
        KeyKind::GcpKms => gcpkms::GcpKmsKey::parse(s).map(|k| Arc::new(k) as Arc<dyn MasterKey>),
        KeyKind::AzureKv => azkv::AzureKey::parse(s).map(|k| Arc::new(k) as Arc<dyn MasterKey>),
        other => Err(KeyError::new(format!(
            "`{}` keys are not supported yet",
            other.field()
        ))),
    }
}

/// Parses a key written as a map in a policy's `key_groups` (`kms: [{arn: …}]`,
/// `azure_keyvault: [{vaultUrl: …}]`, …).
pub fn key_from_policy_entry(
    kind: KeyKind,
    entry: &crate::tree::Value,
) -> Result<Arc<dyn MasterKey>, KeyError> {
    match (kind, entry.as_map()) {
        (KeyKind::Kms, Some(m)) => {
            awskms::KmsKey::from_entry(m).map(|k| Arc::new(k) as Arc<dyn MasterKey>)
        }
        // `gcp_kms: [{resource_id: …}]`
        (KeyKind::GcpKms, Some(m)) => {
            gcpkms::GcpKmsKey::from_entry(m).map(|k| Arc::new(k) as Arc<dyn MasterKey>)
        }
        // `azure_keyvault: [{vaultUrl: …, key: …, version: …}]`
        (KeyKind::AzureKv, Some(m)) => {
            azkv::AzureKey::from_policy_entry(m).map(|k| Arc::new(k) as Arc<dyn MasterKey>)
        }
        _ => Err(KeyError::new(format!(
            "`{}` keys are not supported yet",
            kind.field()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;

    use super::KeyContext;

    #[test]
    fn variables_that_are_not_utf8_are_skipped_and_named() {
        let bad = || OsString::from_vec(vec![0xff, 0xfe]);
        let ctx = KeyContext::from_os_vars([
            (OsString::from("SOPS_AGE_KEY_FILE"), OsString::from("/k")),
            (OsString::from("AWS_PROFILE"), bad()),
            (bad(), OsString::from("x")),
        ]);
        assert_eq!(ctx.var("SOPS_AGE_KEY_FILE"), Some("/k"));
        assert_eq!(ctx.var("AWS_PROFILE"), None);
        assert_eq!(ctx.vars().len(), 1);
        assert_eq!(ctx.not_utf8_vars(), ["AWS_PROFILE", "\u{FFFD}\u{FFFD}"]);
    }
}
