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
pub mod fields;
#[cfg(feature = "gcp")]
pub mod gcpkms;
pub mod group;
#[cfg(feature = "hckms")]
pub mod hckms;
#[cfg(feature = "vault")]
pub mod hcvault;
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

/// The environment, credentials and caches key sources work with.
pub struct KeyContext {
    vars: HashMap<String, String>,
    /// Names of variables skipped because their name or value is not valid UTF-8
    /// (lossily decoded, for warnings).
    not_utf8: Vec<String>,
    /// Whether a key source may ask on the terminal (the command line only).
    interactive: bool,
    cache: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    /// Remote key services, tried after the local one (sops's order).
    services: Vec<Arc<dyn KeyService>>,
    /// Whether keys are used on this machine (sops's local key service).
    local: bool,
}

impl fmt::Debug for KeyContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyContext { .. }")
    }
}

/// The copy of the environment holds key material (`SOPS_AGE_KEY`, `VAULT_TOKEN`,
/// `AWS_SECRET_ACCESS_KEY`, …): wiped when the context goes.
impl Drop for KeyContext {
    fn drop(&mut self) {
        for v in self.vars.values_mut() {
            zeroize::Zeroize::zeroize(v);
        }
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
            interactive: false,
            cache: Mutex::new(HashMap::new()),
            services: Vec::new(),
            local: true,
        }
    }

    /// Lets key sources ask on the terminal (an age passphrase): the command line turns
    /// this on; a library never prompts unless its caller does.
    pub fn set_interactive(&mut self, on: bool) {
        self.interactive = on;
    }

    /// Whether key sources may ask on the terminal.
    pub fn interactive(&self) -> bool {
        self.interactive
    }

    /// Sets a variable of this context (not of the process), replacing any earlier value
    /// (wiped) and forgetting what was cached from the old values.
    pub fn set_var(&mut self, name: &str, value: String) {
        if let Some(mut old) = self.vars.insert(name.to_owned(), value) {
            zeroize::Zeroize::zeroize(&mut old);
        }
        if let Ok(mut cache) = self.cache.lock() {
            cache.clear();
        }
    }

    /// Uses these remote key services for every wrap and unwrap, after the keys of this
    /// machine unless `local` is false (`--enable-local-keyservice=false`).
    pub fn with_key_services(mut self, services: Vec<Arc<dyn KeyService>>, local: bool) -> Self {
        self.services = services;
        self.local = local;
        self
    }

    /// Whether this machine's own keys are tried (`--enable-local-keyservice`).
    pub fn uses_local_keys(&self) -> bool {
        self.local
    }

    /// The remote key services configured.
    pub fn key_services(&self) -> &[Arc<dyn KeyService>] {
        &self.services
    }

    /// Wraps `secret` with `key`: on this machine (the local key service), then on each
    /// remote key service in order, until one succeeds (sops's order).
    pub fn wrap_key(&self, key: &dyn MasterKey, secret: &[u8]) -> Result<String, KeyError> {
        // Every wrapped key is checked before it can be written (`wrapped`).
        const LOCAL: &str = "by its key source";
        if self.services.is_empty() && self.local {
            return key
                .wrap(secret, self)
                .and_then(|enc| wrapped::checked(key, enc, LOCAL));
        }
        let mut errors = Vec::new();
        if self.local {
            match key
                .wrap(secret, self)
                .and_then(|enc| wrapped::checked(key, enc, LOCAL))
            {
                Ok(enc) => return Ok(enc),
                Err(e) => errors.push(format!("on this machine: {e}")),
            }
        }
        for svc in &self.services {
            let place = format!("by the key service at {}", svc.address());
            match svc
                .wrap(key, secret)
                .and_then(|enc| wrapped::checked(key, enc, &place))
            {
                Ok(enc) => return Ok(enc),
                Err(e) => errors.push(e.to_string()),
            }
        }
        Err(self.all_failed(errors))
    }

    /// Unwraps `enc` with `key`, trying the places in the order of
    /// [`KeyContext::wrap_key`].
    pub fn unwrap_key(
        &self,
        key: &dyn MasterKey,
        enc: &str,
    ) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        if self.services.is_empty() && self.local {
            return key.unwrap(enc, self);
        }
        let mut errors = Vec::new();
        if self.local {
            match key.unwrap(enc, self) {
                Ok(secret) => return Ok(secret),
                Err(e) => errors.push(format!("on this machine: {e}")),
            }
        }
        for svc in &self.services {
            match svc.unwrap(key, enc) {
                Ok(secret) => {
                    let served = self.cached(ServedBy::default);
                    if let Ok(mut m) = served.0.lock() {
                        m.insert(enc.to_owned(), svc.address().to_owned());
                    }
                    return Ok(secret);
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
        Err(self.all_failed(errors))
    }

    /// The address of the key service that unwrapped `enc` in this run, if one did (a
    /// key unwrapped on this machine has none): an error that a wrong data key explains
    /// names it.
    pub fn served_by(&self, enc: &str) -> Option<String> {
        let served = self.cached(ServedBy::default);
        let m = served.0.lock().ok()?;
        m.get(enc).cloned()
    }

    fn all_failed(&self, errors: Vec<String>) -> KeyError {
        if errors.is_empty() {
            return KeyError::with_hint(
                "no key service to use: the local key service is disabled and no remote one was given",
                "give --keyservice tcp://HOST:PORT or unix:///PATH, or drop --enable-local-keyservice=false (SOPS_ENABLE_LOCAL_KEYSERVICE)",
            );
        }
        KeyError::new(errors.join("; "))
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

/// Which key service unwrapped which wrapped key (`enc` → address) in this run.
#[derive(Default)]
struct ServedBy(Mutex<HashMap<String, String>>);

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
