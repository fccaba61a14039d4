//! Vault / OpenBao KV (v1 and v2): the decrypted data written as a secret, as sops's
//! publish does.
//!
//! The secret path is `mount + vault_path + name` (KV v1) or `mount + "data/" +
//! vault_path + name` (KV v2). The address is the rule's `vault_address`, else
//! `VAULT_ADDR` (or `BAO_ADDR`), else `https://127.0.0.1:8200` (the Vault client's
//! default); the token is `VAULT_TOKEN`, else `~/.vault-token`; `VAULT_NAMESPACE` and the
//! TLS variables of the transit key source apply. The current secret is read first: when
//! it already holds the same data, nothing is written (no new KV v2 version).

use zeroize::Zeroizing;

use crate::error::Error;
use crate::error::exit;
use crate::keys::KeyContext;
use crate::keys::hcvault;
use crate::keys::rest;
use crate::keys::rest::Request;
use crate::policy::destination::Destination;

/// The Vault client's default address.
pub const DEFAULT_ADDRESS: &str = "https://127.0.0.1:8200";

/// The address of a Vault destination (without a trailing `/`).
pub fn address(dest: &Destination, ctx: &KeyContext) -> String {
    let from_rule = match dest {
        Destination::Vault { address, .. } if !address.trim().is_empty() => Some(address.trim()),
        _ => None,
    };
    from_rule
        .or_else(|| ctx.var("VAULT_ADDR"))
        .or_else(|| ctx.var("BAO_ADDR"))
        .unwrap_or(DEFAULT_ADDRESS)
        .trim()
        .trim_end_matches('/')
        .to_owned()
}

/// The secret's API path (after `/v1/`).
pub fn secret_path(dest: &Destination, name: &str) -> String {
    match dest {
        Destination::Vault {
            path,
            mount,
            version: 1,
            ..
        } => format!("{mount}{path}{name}"),
        Destination::Vault { path, mount, .. } => format!("{mount}data/{path}{name}"),
        _ => name.to_owned(),
    }
}

/// What [`write()`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The secret was written.
    Written,
    /// The secret already held this data.
    Unchanged,
}

/// Writes `data_json` (a JSON object) as the secret for `name`.
pub fn write(
    dest: &Destination,
    ctx: &KeyContext,
    name: &str,
    data_json: &[u8],
) -> Result<Outcome, Error> {
    let Destination::Vault { version, .. } = dest else {
        return Err(Error::new(exit::GENERIC, "not a Vault destination"));
    };
    let addr = address(dest, ctx);
    let path = secret_path(dest, name);
    let url = format!("{addr}/v1/{path}");
    let fail = |why: String| Error::new(exit::GENERIC, format!("cannot publish to {url}: {why}"));
    for seg in path.split('/') {
        if seg == "." || seg == ".." {
            return Err(fail("the secret path holds `.` or `..`".to_owned())
                .hint("fix vault_path / vault_kv_mount_name, or the file's name"));
        }
    }
    rest::check_plain_http(ctx, &addr)
        .map_err(|e| fail(e.message).hint(e.hint.unwrap_or_default()))?;
    let http = hcvault::vault_client(ctx);
    let client = http
        .http()
        .map_err(|e| fail(e.message).hint(e.hint.unwrap_or_default()))?;
    let (token, source) = hcvault::token_for(ctx, &addr)
        .map_err(|e| fail(e.message).hint(e.hint.unwrap_or_default()))?;
    let namespace = ctx.var("VAULT_NAMESPACE");
    let net = |e: rest::NetError| {
        let hint = if e.is_tls() {
            match http.ca_source() {
                Some(src) => format!("the server's certificate is not signed by the CA of {src}"),
                None => "if the server's certificate is signed by a private CA, set VAULT_CACERT"
                    .to_owned(),
            }
        } else {
            "check the address (vault_address or VAULT_ADDR), that the server is running, and \
             your network or proxy"
                .to_owned()
        };
        fail(e.about(&addr)).hint(hint)
    };
    let new: serde_json::Value = serde_json::from_slice(data_json)
        .map_err(|_| fail("the decrypted data is not a JSON object".to_owned()))?;

    // The current secret: unchanged data is not written again.
    let mut get = Request::get(&url).header("X-Vault-Token", &token);
    if let Some(ns) = namespace {
        get = get.header("X-Vault-Namespace", ns);
    }
    let current = client.send(&get).map_err(net)?;
    if current.ok()
        && let Ok(v) = current.json()
    {
        let existing = if *version == 1 {
            v.get("data")
        } else {
            v.get("data").and_then(|d| d.get("data"))
        };
        if existing == Some(&new) {
            return Ok(Outcome::Unchanged);
        }
    }
    // The request carries the decrypted values: a server (or proxy) that quotes the
    // request in its error must not put them on the terminal.
    let values = shown_forms_of_values(&new);
    drop(new);

    let mut body = Zeroizing::new(String::with_capacity(data_json.len() + 10));
    let text = std::str::from_utf8(data_json)
        .map_err(|_| fail("the decrypted data is not UTF-8 JSON".to_owned()))?;
    if *version == 1 {
        body.push_str(text);
    } else {
        body.push_str("{\"data\":");
        body.push_str(text);
        body.push('}');
    }
    let mut post = Request::post(&url, rest::Body::Json(body)).header("X-Vault-Token", &token);
    for value in &values {
        post = post.secret(value.as_str());
    }
    if let Some(ns) = namespace {
        post = post.header("X-Vault-Namespace", ns);
    }
    let reply = client.send(&post).map_err(net)?;
    if !reply.ok() {
        let hint = match reply.status {
            401 | 403 => format!(
                "the token (from {source}) needs the `create` and `update` capabilities on {path}"
            ),
            404 => "check vault_kv_mount_name and that a KV engine is mounted there".to_owned(),
            400 if *version == 2 => {
                "check vault_kv_version: the mount may be a KV version 1 engine".to_owned()
            }
            _ => "try again later, or check the server's status".to_owned(),
        };
        return Err(fail(format!("{} (token from {source})", reply.describe())).hint(hint));
    }
    Ok(Outcome::Written)
}

/// Every string value of `data` as it may appear in a server's message: as it is and as
/// JSON writes it (escaped, without the quotes). A reply's text is shown only with these
/// masked ([`rest::Reply::describe`]). A value shorter than the scrubber's minimum (4
/// characters) is matched only as a whole quoted string (`"123"`, as JSON and Go's `%q`
/// write it): unquoted, it would mask parts of ordinary words and numbers. Numbers and
/// booleans are not matched.
fn shown_forms_of_values(data: &serde_json::Value) -> Vec<Zeroizing<String>> {
    let mut out = Vec::new();
    let mut pending = vec![data];
    while let Some(value) = pending.pop() {
        match value {
            serde_json::Value::String(text) if text.chars().count() < 4 => {
                if !text.is_empty()
                    && let Ok(quoted) = serde_json::to_string(text.as_str())
                {
                    out.push(Zeroizing::new(quoted));
                }
            }
            serde_json::Value::String(text) => {
                if let Ok(quoted) = serde_json::to_string(text.as_str()).map(Zeroizing::new)
                    && let Some(escaped) = quoted.get(1..quoted.len().saturating_sub(1))
                    && escaped != text
                {
                    out.push(Zeroizing::new(escaped.to_owned()));
                }
                out.push(Zeroizing::new(text.clone()));
            }
            serde_json::Value::Array(items) => pending.extend(items),
            serde_json::Value::Object(map) => pending.extend(map.values()),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn paths_and_addresses() {
        let v2 = Destination::Vault {
            address: String::new(),
            path: "app/".into(),
            mount: "secret/".into(),
            version: 2,
        };
        let v1 = Destination::Vault {
            address: "http://v:8200/".into(),
            path: "app/".into(),
            mount: "kv/".into(),
            version: 1,
        };
        assert_eq!(secret_path(&v2, "a.yaml"), "secret/data/app/a.yaml");
        assert_eq!(secret_path(&v1, "a"), "kv/app/a");
        let none = KeyContext::with_vars(HashMap::new());
        assert_eq!(address(&v2, &none), DEFAULT_ADDRESS);
        assert_eq!(address(&v1, &none), "http://v:8200");
        let env = KeyContext::with_vars(HashMap::from([(
            "VAULT_ADDR".to_owned(),
            "https://e:8200".to_owned(),
        )]));
        assert_eq!(address(&v2, &env), "https://e:8200");
    }
}
