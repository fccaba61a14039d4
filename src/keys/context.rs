//! [`KeyContext`]: what key sources work with beyond their configuration: a wiped copy
//! of the environment, whether they may ask on the terminal, the remote key services
//! and whether local keys are used, per-run caches (identities, clients), and which key
//! service unwrapped which key.

use std::any::Any;
use std::any::TypeId;
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;

use zeroize::Zeroizing;

use super::KeyError;
use super::KeyService;
use super::MasterKey;
use super::wrapped;

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
