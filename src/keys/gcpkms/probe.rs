//! `leafseal doctor`'s check of a Cloud KMS key: the credential source the chain picks
//! (getting a token), then `GET {endpoint}/v1/{resource_id}` (`cryptoKeys.get`, which
//! needs `cloudkms.cryptoKeys.get`; it reads metadata only).

use super::GcpKmsKey;
use super::endpoint;
use super::token;
use crate::keys::KeyContext;
use crate::keys::KeyError;
use crate::keys::MasterKey;
use crate::keys::Probe;
use crate::keys::ProbeStatus;
use crate::keys::rest;
use crate::keys::rest::Client;
use crate::keys::rest::Request;

impl GcpKmsKey {
    /// The doctor's probe (see the module documentation).
    pub(super) fn probe_key(&self, ctx: &KeyContext) -> Probe {
        let failed = |source: Option<String>, e: KeyError| Probe {
            source,
            status: ProbeStatus::Failed(e),
        };
        let wrap = |e: KeyError| KeyError {
            message: format!(
                "cannot check GCP KMS key {}: {}",
                self.display_id(),
                e.message
            ),
            hint: e.hint,
        };
        let base = endpoint(ctx);
        if let Err(e) = rest::check_plain_http(ctx, &base) {
            return failed(None, wrap(e));
        }
        let tok = match token::access_token(ctx) {
            Ok(t) => t,
            Err(e) => return failed(None, wrap(e)),
        };
        let source = tok.source.clone();
        let url = format!("{base}/v1/{}", self.resource_id);
        let auth = zeroize::Zeroizing::new(format!("Bearer {}", tok.value.as_str()));
        let req = Request::get(&url).header("Authorization", &auth);
        let reply = match Client::get(ctx).send(&req) {
            Ok(r) => r,
            Err(e) => {
                return failed(
                    Some(source),
                    KeyError::with_hint(
                        format!(
                            "cannot check GCP KMS key {}: {}",
                            self.display_id(),
                            e.about(&base)
                        ),
                        format!(
                            "check your network or proxy, and {} if you set it",
                            super::ENDPOINT_VAR
                        ),
                    ),
                );
            }
        };
        let status = match reply.status {
            200..=299 => ProbeStatus::Ok(format!(
                "Cloud KMS cryptoKeys.get answered{}",
                describe(&reply)
            )),
            403 => ProbeStatus::Ok(format!(
                "credentials work (a token was obtained), permission to read key metadata \
                 missing (cloudkms.cryptoKeys.get: {}); decrypt may still work",
                reply.describe()
            )),
            401 => ProbeStatus::Failed(KeyError::with_hint(
                format!(
                    "the access token from {source} was rejected by Cloud KMS ({})",
                    reply.describe()
                ),
                "refresh your credentials (`gcloud auth application-default login`) or check \
                 GOOGLE_CREDENTIALS / GOOGLE_APPLICATION_CREDENTIALS",
            )),
            404 => ProbeStatus::Failed(KeyError::with_hint(
                format!(
                    "GCP KMS key {} was not found ({})",
                    self.display_id(),
                    reply.describe()
                ),
                "check the resource ID (project, location, key ring and key name)",
            )),
            _ => ProbeStatus::Failed(KeyError::with_hint(
                format!(
                    "cannot check GCP KMS key {} (token from {source}): {}",
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

/// ` (purpose …, primary version …)` from a CryptoKey, or nothing.
fn describe(reply: &rest::Reply) -> String {
    let Ok(json) = reply.json() else {
        return String::new();
    };
    let mut parts = Vec::new();
    if let Some(p) = json["purpose"].as_str() {
        parts.push(format!("purpose {}", reply.shown(p)));
    }
    if let Some(s) = json["primary"]["state"].as_str() {
        parts.push(format!("primary version {}", reply.shown(s)));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use zeroize::Zeroizing;

    use crate::keys::rest::Reply;

    #[test]
    fn server_fields_are_shown_on_one_bounded_line() {
        let body = serde_json::json!({
            "purpose": "ENCRYPT_DECRYPT\nhint: run evil",
            "primary": {"state": "E".repeat(5000)},
        });
        let d = super::describe(&Reply::new(200, Zeroizing::new(body.to_string())));
        assert!(
            d.starts_with(" (purpose ENCRYPT_DECRYPT hint: run evil, primary version EEE"),
            "{d}"
        );
        assert!(!d.contains('\n') && d.chars().count() < 400, "{d}");
    }
}
