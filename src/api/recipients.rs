//! [`Recipients`]: who a new file is encrypted for, and how.

use std::path::Path;
use std::sync::Arc;

use crate::error::Error;
use crate::error::exit;
use crate::format::Format;
use crate::keys;
use crate::keys::KeyKind;
use crate::keys::MasterKey;
use crate::ops::SealPlan;
use crate::policy::Policy;
use crate::walk::Selector;

/// The keys (in key groups) and settings a new file is encrypted with: built key by key,
/// or taken from the `.sops.yaml` creation rule that matches a path.
#[derive(Debug, Clone, Default)]
pub struct Recipients {
    groups: Vec<Vec<Arc<dyn MasterKey>>>,
    threshold: usize,
    selector: Option<Selector>,
    mac_only_encrypted: bool,
    indent: Option<i64>,
}

impl Recipients {
    /// No recipients yet.
    pub fn new() -> Recipients {
        Recipients::default()
    }

    /// Adds a key to the current (last) key group: `kind` and its command-line form
    /// (an age recipient, a PGP fingerprint, a KMS ARN, a Vault transit URI, …).
    pub fn key(mut self, kind: KeyKind, id: &str) -> Result<Recipients, Error> {
        let key = keys::key_from_str(kind, id).map_err(|e| {
            Error::new(
                exit::GENERIC,
                format!(
                    "invalid {} key `{}`: {e}",
                    kind.field(),
                    crate::redact::redact(id)
                ),
            )
        })?;
        if self.groups.is_empty() {
            self.groups.push(Vec::new());
        }
        if let Some(group) = self.groups.last_mut()
            && !group.iter().any(|k| k.kind() == kind && k.id() == key.id())
        {
            group.push(key);
        }
        Ok(self)
    }

    /// Adds an age recipient (`age1…`, `ssh-ed25519 …`, `ssh-rsa …`).
    pub fn age(self, recipient: &str) -> Result<Recipients, Error> {
        self.key(KeyKind::Age, recipient)
    }

    /// Adds a PGP key by fingerprint.
    pub fn pgp(self, fingerprint: &str) -> Result<Recipients, Error> {
        self.key(KeyKind::Pgp, fingerprint)
    }

    /// Starts a new key group (Shamir): later keys go into it.
    #[must_use]
    pub fn new_group(mut self) -> Recipients {
        self.groups.push(Vec::new());
        self
    }

    /// How many key groups are needed to decrypt (0 = all of them).
    #[must_use]
    pub fn threshold(mut self, n: usize) -> Recipients {
        self.threshold = n;
        self
    }

    /// Encrypts only some values, as `--encrypted-regex` and the other selector flags
    /// (`field` is the metadata name: `encrypted_regex`, `unencrypted_suffix`, …). An
    /// empty `value` clears the selector (the default `_unencrypted` suffix applies), as
    /// sops treats an empty setting as none.
    pub fn selector(mut self, field: &str, value: &str) -> Result<Recipients, Error> {
        if value.is_empty() {
            self.selector = None;
            return Ok(self);
        }
        self.selector = Selector::from_field(field, value)
            .map_err(|e| Error::new(exit::GENERIC, format!("invalid {field}: {e}")))?;
        Ok(self)
    }

    /// The MAC covers encrypted values only (as `--mac-only-encrypted`).
    #[must_use]
    pub fn mac_only_encrypted(mut self, on: bool) -> Recipients {
        self.mac_only_encrypted = on;
        self
    }

    /// The keys and settings of the creation rule in `policy` (a `.sops.yaml`) that
    /// matches `file` (a path relative to the policy's directory, or absolute), with the
    /// policy's indentation for the output format.
    pub fn from_policy(policy: &Path, file: &Path) -> Result<Recipients, Error> {
        let p = Policy::load(policy)
            .map_err(|e| Error::new(exit::GENERIC, e.to_string()).hint("fix the policy file"))?;
        let format = Format::for_input(&file.display().to_string(), None);
        let plan = Policy::seal_plan(
            Some(&p),
            file,
            SealPlan {
                groups: Vec::new(),
                threshold: 0,
                selector: None,
                mac_only_encrypted: false,
                binary: format == Format::Binary,
            },
        )
        .map_err(|e| {
            Error::new(exit::GENERIC, e.to_string())
                .hint("add a creation rule whose path_regex matches this file")
        })?;
        if plan.groups.iter().all(Vec::is_empty) {
            return Err(Error::new(
                exit::NO_ENCRYPTION_KEY_FOUND,
                format!(
                    "no creation rule of {} with keys matches {}",
                    policy.display(),
                    file.display()
                ),
            )
            .hint("add a creation rule with keys whose path_regex matches this file"));
        }
        Ok(Recipients {
            groups: plan.groups,
            threshold: plan.threshold,
            selector: plan.selector,
            mac_only_encrypted: plan.mac_only_encrypted,
            indent: p.stores.indent_for(format),
        })
    }

    /// [`Recipients::from_policy`] with the `.sops.yaml` found from the file's directory
    /// upwards, as the command line finds it.
    pub fn for_path(file: &Path) -> Result<Recipients, Error> {
        let abs = std::path::absolute(file).map_err(|e| {
            Error::new(
                exit::GENERIC,
                format!("cannot resolve {}: {e}", file.display()),
            )
        })?;
        let dir = abs.parent().unwrap_or(Path::new("/"));
        let policy = crate::policy::find(dir).ok_or_else(|| {
            Error::new(
                exit::GENERIC,
                format!(
                    "no .sops.yaml found in {} or any directory above it",
                    dir.display()
                ),
            )
            .hint("give the recipients explicitly, or create a .sops.yaml")
        })?;
        Recipients::from_policy(&policy, &abs)
    }

    /// Whether no key was given.
    pub fn is_empty(&self) -> bool {
        self.groups.iter().all(Vec::is_empty)
    }

    pub(crate) fn plan(&self, format: Format) -> SealPlan {
        SealPlan {
            groups: self
                .groups
                .iter()
                .filter(|g| !g.is_empty())
                .cloned()
                .collect(),
            threshold: self.threshold,
            selector: self.selector.clone(),
            mac_only_encrypted: self.mac_only_encrypted,
            binary: format == Format::Binary,
        }
    }

    pub(crate) fn indent(&self) -> Option<i64> {
        self.indent
    }
}
