//! The Azure Key Vault key source (`azure_kv`), over the REST API (api-version 7.4).
//!
//! Like sops, the data key is encrypted with the vault's `encrypt` operation and
//! RSA-OAEP-256 (`POST {vault}/keys/{name}/{version}/encrypt`), and `enc` is the result
//! in **base64url without padding**; unwrapping uses `decrypt` (spec 7.3). A key given
//! without a version gets the current one (`GET {vault}/keys/{name}` → `key.kid`) when it
//! is first used, and that version is what the metadata records.
//!
//! Because a file's metadata names the vault the token is sent to, only Key Vault hosts
//! (`*.vault.azure.net`, the sovereign clouds' equivalents, `*.managedhsm.azure.net`)
//! are accepted, plus loopback addresses for tests and compatible local services.
//! Tokens come from the sources described in [`token`].

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use zeroize::Zeroizing;

use crate::keys::FieldValue;
use crate::keys::KeyContext;
use crate::keys::KeyError;
use crate::keys::KeyFields;
use crate::keys::KeyKind;
use crate::keys::MasterKey;
use crate::keys::Probe;
use crate::keys::rest;
use crate::keys::rest::Client;
use crate::keys::rest::Request;

mod assertion;
mod azcli;
mod pkcs12;
mod probe;
#[cfg(test)]
mod tests;
pub mod token;

const API_VERSION: &str = "7.4";
const ALG: &str = "RSA-OAEP-256";

/// Key Vault DNS suffixes and the token resource of each cloud.
const VAULT_SUFFIXES: [(&str, &str); 6] = [
    (".vault.azure.net", "https://vault.azure.net"),
    (".vault.azure.cn", "https://vault.azure.cn"),
    (
        ".vault.usgovcloudapi.net",
        "https://vault.usgovcloudapi.net",
    ),
    (
        ".vault.microsoftazure.de",
        "https://vault.microsoftazure.de",
    ),
    (".managedhsm.azure.net", "https://managedhsm.azure.net"),
    (".managedhsm.azure.cn", "https://managedhsm.azure.cn"),
];

/// An `azure_kv` master key: a Key Vault RSA key.
#[derive(Debug, Clone)]
pub struct AzureKey {
    vault_url: String,
    name: String,
    version: Option<String>,
    /// The current version, looked up on first use when none was given.
    resolved: OnceLock<String>,
    /// The token resource (`https://vault.azure.net` …) for this vault's cloud.
    resource: &'static str,
}

impl PartialEq for AzureKey {
    fn eq(&self, other: &Self) -> bool {
        self.vault_url == other.vault_url
            && self.name == other.name
            && self.version() == other.version()
    }
}

impl AzureKey {
    /// Parses the command-line / policy form
    /// `https://<vault>.vault.azure.net/keys/<name>[/<version>]`.
    pub fn parse(url: &str) -> Result<Self, KeyError> {
        let url = url.trim();
        let bad = || {
            KeyError::with_hint(
                format!(
                    "invalid Azure Key Vault key URL `{}`",
                    crate::redact::display_id(url)
                ),
                "write it as https://<vault>.vault.azure.net/keys/<name>[/<version>]",
            )
        };
        let lower = url.to_ascii_lowercase();
        let scheme_len = if lower.starts_with("https://") {
            8
        } else if lower.starts_with("http://") {
            7
        } else {
            return Err(bad());
        };
        let rest_part = url.get(scheme_len..).ok_or_else(bad)?;
        let (host, path) = rest_part.split_once('/').ok_or_else(bad)?;
        let parts: Vec<&str> = path.split('/').collect();
        let (name, version) = match parts.as_slice() {
            ["keys", name] => (*name, ""),
            ["keys", name, version] => (*name, *version),
            _ => return Err(bad()),
        };
        let vault = url.get(..scheme_len + host.len()).ok_or_else(bad)?;
        Self::new(vault, name, version)
    }

    /// A key from its parts; an empty `version` means "the current version".
    pub fn new(vault_url: &str, name: &str, version: &str) -> Result<Self, KeyError> {
        let vault_url = vault_url.trim().trim_end_matches('/');
        let host = rest::url_host(vault_url).to_ascii_lowercase();
        let lower = vault_url.to_ascii_lowercase();
        let authority = vault_url.split_once("://").map_or("", |(_, a)| a);
        let resource = if rest::is_loopback_host(&host) {
            Some("https://vault.azure.net")
        } else if lower.starts_with("https://") {
            VAULT_SUFFIXES
                .iter()
                .find(|(suffix, _)| host.ends_with(suffix) && host.len() > suffix.len())
                .map(|(_, r)| *r)
        } else {
            None
        };
        let Some(resource) = resource
            .filter(|_| !authority.is_empty() && !authority.contains(['/', '?', '#', '@', ' ']))
        else {
            return Err(KeyError::with_hint(
                format!(
                    "`{}` is not an Azure Key Vault address",
                    crate::redact::display_id(vault_url)
                ),
                "use https://<vault>.vault.azure.net (or a sovereign cloud's vault domain); \
                 http is accepted only for loopback test services",
            ));
        };
        let name = name.trim();
        let version = version.trim();
        if !valid_segment(name) || !(version.is_empty() || valid_segment(version)) {
            return Err(KeyError::with_hint(
                "invalid Azure Key Vault key name or version",
                "names and versions use letters, digits and `-`",
            ));
        }
        Ok(AzureKey {
            vault_url: vault_url.to_owned(),
            name: name.to_owned(),
            version: (!version.is_empty()).then(|| version.to_owned()),
            resolved: OnceLock::new(),
            resource,
        })
    }

    /// Parses a metadata entry (`vault_url`, `name`, `version`).
    pub fn from_fields(entry: &KeyFields) -> Result<Self, KeyError> {
        Self::read_fields(entry, "vault_url", "name", "azure_kv entry")
    }

    /// Parses a policy `key_groups` entry (`vaultUrl`, `key`, `version`).
    pub fn from_policy_fields(entry: &KeyFields) -> Result<Self, KeyError> {
        Self::read_fields(entry, "vaultUrl", "key", "azure_keyvault entry")
    }

    fn read_fields(entry: &KeyFields, url: &str, name: &str, what: &str) -> Result<Self, KeyError> {
        let field = |n: &str| entry.get(n).and_then(FieldValue::as_str);
        let get = |n: &str| field(n).ok_or_else(|| KeyError::new(format!("{what} without `{n}`")));
        Self::new(get(url)?, get(name)?, field("version").unwrap_or(""))
    }

    /// The vault URL, e.g. `https://myvault.vault.azure.net`.
    pub fn vault_url(&self) -> &str {
        &self.vault_url
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key version, if given or already looked up.
    pub fn version(&self) -> Option<&str> {
        self.version
            .as_deref()
            .or_else(|| self.resolved.get().map(String::as_str))
    }

    /// The version to use, looking up the current one if none was given.
    fn ensure_version(&self, ctx: &KeyContext, tok: &rest::Token) -> Result<String, KeyError> {
        if let Some(v) = self.version() {
            return Ok(v.to_owned());
        }
        let url = format!(
            "{}/keys/{}?api-version={API_VERSION}",
            self.vault_url, self.name
        );
        let reply = self.send(
            ctx,
            tok,
            Request::get(&url),
            "look up the current version of",
        )?;
        let json = reply
            .json()
            .map_err(|why| self.bad("look up the current version of", &why))?;
        let kid = json
            .get("key")
            .and_then(|k| k.get("kid"))
            .and_then(|k| k.as_str())
            .ok_or_else(|| {
                self.bad(
                    "look up the current version of",
                    "the response has no `key.kid`",
                )
            })?;
        let version = kid.rsplit('/').next().unwrap_or("");
        if !valid_segment(version) || !kid.contains(&format!("/keys/{}/", self.name)) {
            return Err(self.bad("look up the current version of", "`key.kid` has no version"));
        }
        Ok(self.resolved.get_or_init(|| version.to_owned()).clone())
    }

    fn bad(&self, what: &str, why: &str) -> KeyError {
        KeyError::new(format!(
            "cannot {what} Azure Key Vault key {}: {why}",
            self.display_id()
        ))
    }

    /// Sends a request with the token; maps failures to errors naming the key.
    fn send(
        &self,
        ctx: &KeyContext,
        tok: &rest::Token,
        req: Request<'_>,
        what: &str,
    ) -> Result<rest::Reply, KeyError> {
        let auth = Zeroizing::new(format!("Bearer {}", tok.value.as_str()));
        let req = req.header("Authorization", &auth);
        let reply = Client::get(ctx).send(&req).map_err(|e| {
            KeyError::with_hint(
                format!(
                    "cannot {what} Azure Key Vault key {}: {}",
                    self.display_id(),
                    e.about(&crate::redact::display_id(&self.vault_url))
                ),
                "check the vault name, your network or proxy",
            )
        })?;
        if reply.ok() {
            return Ok(reply);
        }
        let hint = match reply.status {
            401 => {
                "the token was rejected: check the tenant and the credentials (AZURE_TENANT_ID, \
                    AZURE_CLIENT_ID, …) or log in again"
                    .to_owned()
            }
            403 => format!(
                "grant the identity the `encrypt` and `decrypt` key permissions (access policy) or \
                 the Key Vault Crypto User role (RBAC) on {}",
                crate::redact::display_id(&self.vault_url)
            ),
            404 => "check the vault URL, key name and version".to_owned(),
            400 if what.starts_with("decrypt") => {
                "the `enc` value may be damaged, or was made with another key".to_owned()
            }
            _ => "try again later".to_owned(),
        };
        Err(KeyError::with_hint(
            format!(
                "cannot {what} Azure Key Vault key {} (token from {}): {}",
                self.display_id(),
                tok.source,
                reply.describe()
            ),
            hint,
        ))
    }

    /// Runs the `encrypt` or `decrypt` operation on `value` (base64url).
    fn operate(&self, ctx: &KeyContext, op: &str, value: &str) -> Result<Vec<u8>, KeyError> {
        let what = if op == "encrypt" {
            "encrypt the data key with"
        } else {
            "decrypt the data key with"
        };
        rest::check_plain_http(ctx, &self.vault_url).map_err(|e| KeyError {
            message: format!(
                "cannot {what} Azure Key Vault key {}: {}",
                self.display_id(),
                e.message
            ),
            hint: e.hint,
        })?;
        let tok = token::access_token(ctx, self.resource).map_err(|e| KeyError {
            message: format!(
                "cannot {what} Azure Key Vault key {}: {}",
                self.display_id(),
                e.message
            ),
            hint: e.hint,
        })?;
        let version = self.ensure_version(ctx, &tok)?;
        let url = format!(
            "{}/keys/{}/{version}/{op}?api-version={API_VERSION}",
            self.vault_url, self.name
        );
        let body = rest::json_object(&[("alg", ALG), ("value", value)]);
        let reply = self.send(ctx, &tok, Request::post(&url, rest::Body::Json(body)), what)?;
        let mut json = reply.json().map_err(|why| self.bad(what, &why))?;
        let out = rest::take_string(&mut json, "value")
            .ok_or_else(|| self.bad(what, "the response has no `value`"))?;
        decode_b64url(&out).ok_or_else(|| self.bad(what, "the `value` is not base64url"))
    }
}

/// base64url with or without padding.
fn decode_b64url(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .ok()
        .or_else(|| URL_SAFE.decode(s).ok())
}

fn valid_segment(s: &str) -> bool {
    !s.is_empty() && s.len() <= 127 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

impl MasterKey for AzureKey {
    fn kind(&self) -> KeyKind {
        KeyKind::AzureKv
    }

    /// `{vault_url}/keys/{name}/{version}` (sops's form), or without the version while
    /// it is not known yet.
    fn id(&self) -> String {
        match self.version() {
            Some(v) => format!("{}/keys/{}/{v}", self.vault_url, self.name),
            None => format!("{}/keys/{}", self.vault_url, self.name),
        }
    }

    fn wrap(&self, secret: &[u8], ctx: &KeyContext) -> Result<String, KeyError> {
        let value = Zeroizing::new(URL_SAFE_NO_PAD.encode(secret));
        let out = self.operate(ctx, "encrypt", &value)?;
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    fn unwrap(&self, enc: &str, ctx: &KeyContext) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let raw = decode_b64url(enc)
            .filter(|r| !r.is_empty())
            .ok_or_else(|| {
                KeyError::with_hint(
                    format!(
                        "the azure_kv `enc` of {} is not base64url",
                        self.display_id()
                    ),
                    "the metadata may have been edited or damaged",
                )
            })?;
        let value = URL_SAFE_NO_PAD.encode(raw);
        self.operate(ctx, "decrypt", &value).map(Zeroizing::new)
    }

    fn fields(&self) -> KeyFields {
        let mut entry = KeyFields::new();
        entry.push_str("vault_url", self.vault_url.as_str());
        entry.push_str("name", self.name.as_str());
        entry.push_str("version", self.version().unwrap_or(""));
        entry
    }
    /// The credential source the chain picks, then a read of the key's metadata (see `azkv/probe.rs`).
    fn probe(&self, ctx: &KeyContext) -> Probe {
        self.probe_key(ctx)
    }
}
