//! `leafseal doctor`'s check of a Vault transit key: the token source the chain picks,
//! a token lookup (`GET /v1/auth/token/lookup-self`), then a read of the transit key's
//! metadata (`GET /v1/{engine}/keys/{name}`). Neither call reads or changes key
//! material; the token itself is never returned or shown.

use super::VaultKey;
use super::auth;
use super::vault_client;
use crate::keys::KeyContext;
use crate::keys::KeyError;
use crate::keys::MasterKey;
use crate::keys::Probe;
use crate::keys::ProbeStatus;
use crate::keys::rest;
use crate::keys::rest::Request;

/// What was checked, for messages.
const WHAT: &str = "check";

impl VaultKey {
    /// The doctor's probe (see the module documentation).
    pub(super) fn probe_key(&self, ctx: &KeyContext) -> Probe {
        let failed = |source: Option<String>, e: KeyError| Probe {
            source,
            status: ProbeStatus::Failed(e),
        };
        // The allow-list first: a file must not make the doctor send a token anywhere.
        if let Err(e) = self.check_allowed(ctx) {
            return failed(None, e);
        }
        if let Err(e) = rest::check_plain_http(ctx, &self.address) {
            return failed(None, self.wrap_err(e));
        }
        let http = vault_client(ctx);
        let client = match http.client.clone() {
            Ok(c) => c,
            Err(e) => return failed(None, e),
        };
        let (token, source) = match auth::token(ctx, &http, &self.address) {
            Ok(t) => t,
            Err(e) => return failed(None, self.wrap_err(e)),
        };
        let send = |url: &str| {
            let mut req = Request::get(url).header("X-Vault-Token", &token);
            if let Some(ns) = ctx.var("VAULT_NAMESPACE") {
                req = req.header("X-Vault-Namespace", ns);
            }
            client
                .send(&req)
                .map_err(|e| self.net_error(&http, WHAT, &e))
        };

        // 1. The token itself.
        let lookup_url = format!("{}/v1/auth/token/lookup-self", self.address);
        let reply = match send(&lookup_url) {
            Ok(r) => r,
            Err(e) => return failed(Some(source), e),
        };
        if !reply.ok() {
            let hint = match reply.status {
                401 | 403 => format!(
                    "the token from {source} is not valid on this server (expired, revoked, \
                     or for another server or namespace): log in again (`vault login` / \
                     `bao login`) or set VAULT_TOKEN to a valid token"
                ),
                _ => "try again later, or check the server's status".to_owned(),
            };
            let e = KeyError::with_hint(
                format!(
                    "the Vault token from {source} was refused by {} (token lookup: {})",
                    crate::redact::display_id(&self.address),
                    reply.describe()
                ),
                hint,
            );
            return failed(Some(source.clone()), e);
        }
        let token_info = describe_token(&reply);

        // 2. The transit key's metadata.
        let key_url = format!(
            "{}/v1/{}/keys/{}",
            self.address, self.engine_path, self.key_name
        );
        let reply = match send(&key_url) {
            Ok(r) => r,
            Err(e) => return failed(Some(source), e),
        };
        let status = match reply.status {
            200..=299 => ProbeStatus::Ok(format!(
                "token lookup answered ({token_info}); transit key readable{}",
                describe_key(&reply)
            )),
            403 => ProbeStatus::Ok(format!(
                "token lookup answered ({token_info}), but the token lacks permission to \
                 read the transit key ({}/keys/{}: {}); encrypting and decrypting need \
                 only `update` on {0}/encrypt/{1} and {0}/decrypt/{1}, so they may still work",
                self.engine_path,
                crate::redact::display_id(&self.key_name),
                reply.describe()
            )),
            404 => ProbeStatus::Failed(KeyError::with_hint(
                format!(
                    "the token from {source} works, but the transit key {} was not found \
                     ({})",
                    self.display_id(),
                    reply.describe()
                ),
                format!(
                    "check that the transit engine is mounted at `{}` and the key `{}` \
                     exists (and VAULT_NAMESPACE, if the server uses namespaces)",
                    self.engine_path,
                    crate::redact::display_id(&self.key_name)
                ),
            )),
            _ => ProbeStatus::Failed(KeyError::with_hint(
                format!(
                    "cannot read the transit key {} (token from {source}): {}",
                    self.display_id(),
                    reply.describe()
                ),
                "try again later, or check the server's status",
            )),
        };
        Probe {
            source: Some(source),
            status,
        }
    }

    fn wrap_err(&self, e: KeyError) -> KeyError {
        KeyError {
            message: format!(
                "cannot {WHAT} Vault key {}: {}",
                self.display_id(),
                e.message
            ),
            hint: e.hint,
        }
    }
}

/// The harmless facts of a `lookup-self` answer: time to live and policies. The token
/// (`id`) and its accessor are taken out and wiped first.
fn describe_token(reply: &rest::Reply) -> String {
    let Ok(mut json) = reply.json() else {
        return "valid token".to_owned();
    };
    let Some(data) = json.get_mut("data") else {
        return "valid token".to_owned();
    };
    drop(rest::take_string(data, "id"));
    drop(rest::take_string(data, "accessor"));
    let mut parts = vec!["valid token".to_owned()];
    match data.get("ttl").and_then(serde_json::Value::as_u64) {
        Some(0) => parts.push("no expiry".to_owned()),
        Some(s) => parts.push(format!("expires in {}", human_secs(s))),
        None => {}
    }
    if let Some(p) = data.get("policies").and_then(|p| p.as_array()) {
        let names: Vec<&str> = p.iter().filter_map(|v| v.as_str()).collect();
        if !names.is_empty() {
            parts.push(format!("policies {}", reply.shown(&names.join(", "))));
        }
    }
    parts.join(", ")
}

/// ` (type …, latest version …)` from a transit key read, or nothing.
fn describe_key(reply: &rest::Reply) -> String {
    let Ok(json) = reply.json() else {
        return String::new();
    };
    let data = &json["data"];
    let mut parts = Vec::new();
    if let Some(t) = data["type"].as_str() {
        parts.push(format!("type {}", reply.shown(t)));
    }
    if let Some(v) = data["latest_version"].as_u64() {
        parts.push(format!("latest version {v}"));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

/// `3h20m`, `45m`, `30s`.
fn human_secs(s: u64) -> String {
    let (h, m) = (s / 3600, s % 3600 / 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h{m}m"),
    }
}

#[cfg(test)]
mod tests {
    use zeroize::Zeroizing;

    use super::describe_key;
    use super::describe_token;
    use super::human_secs;
    use crate::keys::rest::Reply;

    fn reply(body: &str) -> Reply {
        Reply::new(200, Zeroizing::new(body.to_owned()))
    }

    #[test]
    fn token_facts_never_include_the_token_or_accessor() {
        let r = reply(
            r#"{"data":{"id":"hvs.SECRET","accessor":"ACC123","ttl":5400,"policies":["default","ci"]}}"#,
        );
        let d = describe_token(&r);
        assert_eq!(d, "valid token, expires in 1h30m, policies default, ci");
        assert!(!d.contains("SECRET") && !d.contains("ACC123"));
        assert_eq!(describe_token(&reply("not json")), "valid token");
        assert_eq!(
            describe_token(&reply(r#"{"data":{"ttl":0}}"#)),
            "valid token, no expiry"
        );
    }

    #[test]
    fn key_facts_and_durations() {
        assert_eq!(
            describe_key(&reply(
                r#"{"data":{"type":"aes256-gcm96","latest_version":3,"keys":{"1":1}}}"#
            )),
            " (type aes256-gcm96, latest version 3)"
        );
        assert_eq!(describe_key(&reply("{}")), "");
        assert_eq!(human_secs(30), "30s");
        assert_eq!(human_secs(120), "2m");
        assert_eq!(human_secs(7200), "2h");
        assert_eq!(human_secs(2_764_799), "767h59m");
    }

    #[test]
    fn server_fields_are_shown_on_one_bounded_line() {
        let long = "p".repeat(5000);
        let body = serde_json::json!({"data": {
            "ttl": 60,
            "policies": ["default\nhint: run evil", "\u{1b}[2J", long],
        }});
        let d = describe_token(&reply(&body.to_string()));
        assert!(
            d.contains("policies default hint: run evil, ?[2J, ppp"),
            "{d}"
        );
        assert!(!d.contains('\n') && !d.contains('\u{1b}'), "{d}");
        assert!(d.chars().count() < 400 && d.ends_with('…'), "{d}");
        let body = serde_json::json!({"data": {"type": "aes\r\nleafseal: error: x"}});
        let k = describe_key(&reply(&body.to_string()));
        assert_eq!(k, " (type aes  leafseal: error: x)");
    }
}
