//! `leafseal doctor`'s check of an Azure Key Vault key: the credential source the chain
//! picks (getting a token), then `GET {vault}/keys/{name}/{version}?api-version=…` (the
//! key's public metadata; needs the `get` key permission or a role that grants it).

use super::API_VERSION;
use super::AzureKey;
use super::token;
use crate::keys::KeyContext;
use crate::keys::KeyError;
use crate::keys::MasterKey;
use crate::keys::Probe;
use crate::keys::ProbeStatus;
use crate::keys::rest;
use crate::keys::rest::Client;
use crate::keys::rest::Request;

impl AzureKey {
    /// The doctor's probe (see the module documentation).
    pub(super) fn probe_key(&self, ctx: &KeyContext) -> Probe {
        let failed = |source: Option<String>, e: KeyError| Probe {
            source,
            status: ProbeStatus::Failed(e),
        };
        let wrap = |e: KeyError| KeyError {
            message: format!(
                "cannot check Azure Key Vault key {}: {}",
                self.display_id(),
                e.message
            ),
            hint: e.hint,
        };
        if let Err(e) = rest::check_plain_http(ctx, &self.vault_url) {
            return failed(None, wrap(e));
        }
        let tok = match token::access_token(ctx, self.resource) {
            Ok(t) => t,
            Err(e) => return failed(None, wrap(e)),
        };
        let source = tok.source.clone();
        let path = match self.version() {
            Some(v) => format!("{}/{v}", self.name),
            None => self.name.clone(),
        };
        let url = format!("{}/keys/{path}?api-version={API_VERSION}", self.vault_url);
        let auth = zeroize::Zeroizing::new(format!("Bearer {}", tok.value.as_str()));
        let req = Request::get(&url).header("Authorization", &auth);
        let reply = match Client::get(ctx).send(&req) {
            Ok(r) => r,
            Err(e) => {
                return failed(
                    Some(source),
                    KeyError::with_hint(
                        format!(
                            "cannot check Azure Key Vault key {}: {}",
                            self.display_id(),
                            e.about(&crate::redact::display_id(&self.vault_url))
                        ),
                        "check the vault name, your network or proxy",
                    ),
                );
            }
        };
        let status = match reply.status {
            200..=299 => match reply.json() {
                Ok(json) if json["attributes"]["enabled"] == serde_json::Value::Bool(false) => {
                    ProbeStatus::Failed(KeyError::with_hint(
                        format!("Azure Key Vault key {} is disabled", self.display_id()),
                        "enable the key (or this version of it) in the vault",
                    ))
                }
                Ok(json) => ProbeStatus::Ok(format!(
                    "Key Vault get key answered{}",
                    json["key"]["kty"]
                        .as_str()
                        .map(|k| format!(" (key type {}, enabled)", reply.shown(k)))
                        .unwrap_or_default()
                )),
                Err(_) => ProbeStatus::Ok("Key Vault get key answered".to_owned()),
            },
            403 => ProbeStatus::Ok(format!(
                "credentials work (a token was obtained), permission to read key metadata \
                 missing (the `get` key permission: {}); decrypt may still work",
                reply.describe()
            )),
            401 => ProbeStatus::Failed(KeyError::with_hint(
                format!(
                    "the access token from {source} was rejected by {} ({})",
                    crate::redact::display_id(&self.vault_url),
                    reply.describe()
                ),
                "check the tenant and the credentials (AZURE_TENANT_ID, AZURE_CLIENT_ID, …) \
                 or log in again",
            )),
            404 => ProbeStatus::Failed(KeyError::with_hint(
                format!(
                    "Azure Key Vault key {} was not found ({})",
                    self.display_id(),
                    reply.describe()
                ),
                "check the vault URL, key name and version",
            )),
            _ => ProbeStatus::Failed(KeyError::with_hint(
                format!(
                    "cannot check Azure Key Vault key {} (token from {source}): {}",
                    self.display_id(),
                    reply.describe()
                ),
                "try again later",
            )),
        };
        Probe {
            source: Some(source),
            status,
        }
    }
}
