//! [`Keys`]: where the library finds the keys that open files.

use std::path::Path;

use crate::keys::KeyContext;
use crate::keys::KeyKind;
use crate::ops::OpenOptions;

/// The key configuration for opening files: identities, key-source settings and the
/// opening rules, as a value the caller builds.
///
/// [`Keys::none`] starts from nothing: no environment variable, no home directory, so
/// no key file is found by accident. [`Keys::from_env`] reads the same variables as the
/// command line (`SOPS_AGE_KEY_FILE`, `AWS_PROFILE`, `VAULT_ADDR`, …). Either can then be
/// extended with the builder methods. Secret values given here are kept in memory only
/// and wiped when the value is dropped.
#[derive(Debug)]
pub struct Keys {
    pub(crate) ctx: KeyContext,
    pub(crate) open: OpenOptions,
}

impl Keys {
    /// No keys and no environment: add identities with the builder methods.
    pub fn none() -> Keys {
        Keys {
            ctx: KeyContext::with_vars(Default::default()),
            open: OpenOptions::default(),
        }
    }

    /// The process environment, as the command line reads it (key files under `HOME`,
    /// `SOPS_AGE_KEY`, gpg's keyring, cloud credentials, `SOPS_DECRYPTION_ORDER`,
    /// `LEAFSEAL_STRICT_INTEGRITY`).
    pub fn from_env() -> Keys {
        let ctx = KeyContext::from_env();
        let order = ctx
            .var("SOPS_DECRYPTION_ORDER")
            .and_then(|o| crate::ops::parse_order(o).ok())
            .unwrap_or_default();
        let strict = crate::ops::env_flag(ctx.var(crate::ops::STRICT_INTEGRITY_ENV));
        Keys {
            ctx,
            open: OpenOptions {
                order,
                strict_integrity: strict,
                ..OpenOptions::default()
            },
        }
    }

    /// Adds an age identity (`AGE-SECRET-KEY-1…`, or an `AGE-PLUGIN-…` identity); several
    /// may be added.
    #[must_use]
    pub fn age_identity(mut self, identity: &str) -> Keys {
        let joined = match self.ctx.var("SOPS_AGE_KEY") {
            Some(old) => format!("{old}\n{identity}"),
            None => identity.to_owned(),
        };
        self.ctx.set_var("SOPS_AGE_KEY", joined);
        self
    }

    /// Reads age identities from this file (as `SOPS_AGE_KEY_FILE`).
    #[must_use]
    pub fn age_identity_file(mut self, path: impl AsRef<Path>) -> Keys {
        self.ctx
            .set_var("SOPS_AGE_KEY_FILE", path.as_ref().display().to_string());
        self
    }

    /// Uses this gpg home directory for PGP keys (as `GNUPGHOME`).
    #[must_use]
    pub fn gnupg_home(mut self, path: impl AsRef<Path>) -> Keys {
        self.ctx
            .set_var("GNUPGHOME", path.as_ref().display().to_string());
        self
    }

    /// Sets one key-source setting by its environment variable name (`AWS_PROFILE`,
    /// `VAULT_ADDR`, `VAULT_TOKEN`, `GOOGLE_APPLICATION_CREDENTIALS`, …; docs/keys.md
    /// lists them), without touching the process environment.
    #[must_use]
    pub fn setting(mut self, name: &str, value: impl Into<String>) -> Keys {
        self.ctx.set_var(name, value.into());
        self
    }

    /// Key kinds to try first, in this order (as `--decryption-order`).
    #[must_use]
    pub fn decryption_order(mut self, order: &[KeyKind]) -> Keys {
        self.open.order = order.to_vec();
        self
    }

    /// Refuses files without a current integrity record (as `--strict-integrity`).
    #[must_use]
    pub fn strict_integrity(mut self, on: bool) -> Keys {
        self.open.strict_integrity = on;
        self
    }

    /// Also wraps and unwraps data keys through a key service (sops's gRPC protocol, as
    /// `--keyservice`): `tcp://HOST:PORT` or `unix:///PATH`; several may be added, and
    /// they are tried in order after this process's own keys.
    #[cfg(feature = "keyservice")]
    pub fn key_service(mut self, uri: &str) -> Result<Keys, crate::error::Error> {
        let mut services = self.ctx.key_services().to_vec();
        services.extend(crate::keyservice::services_from_uris(&[uri.to_owned()])?);
        let local = self.ctx.uses_local_keys();
        self.ctx = self.ctx.with_key_services(services, local);
        Ok(self)
    }

    /// Whether this process's own keys are tried before the key services (default: yes;
    /// as `--enable-local-keyservice=false` when off).
    #[must_use]
    pub fn local_keys(mut self, on: bool) -> Keys {
        let services = self.ctx.key_services().to_vec();
        self.ctx = self.ctx.with_key_services(services, on);
        self
    }

    /// The key context the operations use.
    pub fn context(&self) -> &KeyContext {
        &self.ctx
    }
}
