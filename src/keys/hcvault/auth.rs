//! Where the Vault token comes from, in the Vault CLI's order:
//!
//! 1. `VAULT_TOKEN` (or `BAO_TOKEN`);
//! 2. the token helper: the `token_helper` named in the CLI configuration file
//!    (`VAULT_CONFIG_PATH`, default `~/.vault`) is run as `<helper> get` and prints the
//!    token; without one, the default helper's file `~/.vault-token`;
//! 3. TLS certificate login: when a client certificate is configured
//!    (`VAULT_CLIENT_CERT`/`VAULT_CLIENT_KEY`) and no token was found, `POST
//!    /v1/auth/cert/login` over mutual TLS returns a token (the cert auth method mounted
//!    at `cert`; a role can be chosen with `VAULT_CERT_ROLE`). Tokens from a login are
//!    cached per server for the run.
//!
//! When nothing gives a token, the error lists every source with why it gave none.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex;

use zeroize::Zeroizing;

use super::client::VaultClient;
use super::client::vault_or_bao;
use crate::keys::KeyContext;
use crate::keys::KeyError;
use crate::keys::rest;
use crate::keys::rest::Request;

/// Tokens from certificate logins, by server address.
#[derive(Default)]
struct LoginCache(Mutex<HashMap<String, Zeroizing<String>>>);

/// The token for `address` and where it came from.
pub(super) fn token(
    ctx: &KeyContext,
    http: &VaultClient,
    address: &str,
) -> Result<(Zeroizing<String>, String), KeyError> {
    let mut tried = Vec::new();
    if let Some((var, t)) = vault_or_bao(ctx, "VAULT_TOKEN", "BAO_TOKEN") {
        return Ok((Zeroizing::new(t.trim().to_owned()), var.to_owned()));
    }
    tried.push("VAULT_TOKEN: not set".to_owned());
    match helper(ctx)? {
        Some(helper) => {
            if let Some(t) = run_helper(ctx, &helper)? {
                return Ok((t, format!("the token helper {helper}")));
            }
            tried.push(format!("the token helper {helper}: it printed no token"));
        }
        None => match token_file(ctx)? {
            Found::Token(t, label) => return Ok((t, label)),
            Found::Nothing(why) => tried.push(why),
        },
    }
    if let Some(cert) = &http.client_cert {
        return cert_login(ctx, http, address, cert);
    }
    tried.push("TLS certificate login: VAULT_CLIENT_CERT is not set".to_owned());
    Err(KeyError::with_hint(
        format!(
            "no Vault token for {address}; tried, in order: {}",
            tried.join("; ")
        ),
        "set VAULT_TOKEN, log in with `vault login` / `bao login` (writes ~/.vault-token), or \
         set VAULT_CLIENT_CERT and VAULT_CLIENT_KEY to log in with the cert auth method",
    ))
}

enum Found {
    Token(Zeroizing<String>, String),
    Nothing(String),
}

/// `~/.vault-token`.
fn token_file(ctx: &KeyContext) -> Result<Found, KeyError> {
    let Some(home) = ctx.home() else {
        return Ok(Found::Nothing("~/.vault-token: HOME is not set".to_owned()));
    };
    let path = home.join(".vault-token");
    match std::fs::read_to_string(&path) {
        Ok(s) => {
            let s = Zeroizing::new(s);
            if s.trim().is_empty() {
                Ok(Found::Nothing(format!("{} is empty", path.display())))
            } else {
                Ok(Found::Token(
                    Zeroizing::new(s.trim().to_owned()),
                    "~/.vault-token".to_owned(),
                ))
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Ok(Found::Nothing(format!("{}: no such file", path.display())))
        }
        Err(e) => Err(KeyError::new(format!(
            "cannot read the Vault token file {}: {}",
            path.display(),
            e.kind()
        ))),
    }
}

/// The `token_helper` of the CLI configuration file, if one is configured.
fn helper(ctx: &KeyContext) -> Result<Option<String>, KeyError> {
    let path = match ctx.var("VAULT_CONFIG_PATH") {
        Some(p) => PathBuf::from(p),
        None => match ctx.home() {
            Some(h) => h.join(".vault"),
            None => return Ok(None),
        },
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(KeyError::new(format!(
                "cannot read the Vault configuration file {}: {}",
                path.display(),
                e.kind()
            )));
        }
    };
    Ok(parse_token_helper(&text))
}

/// `token_helper = "…"` from the (HCL) configuration text.
pub(super) fn parse_token_helper(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let line = line.trim();
        let rest = line.strip_prefix("token_helper")?.trim_start();
        let value = rest.strip_prefix('=')?.trim();
        let value = value.strip_prefix('"')?;
        let end = value.find('"')?;
        let v = &value[..end];
        (!v.is_empty()).then(|| v.replace("\\\\", "\\"))
    })
}

/// The most a token helper may print (a Vault token is about a hundred bytes).
const HELPER_OUTPUT_MAX: usize = 64 * 1024;

/// Runs `<helper> get`; its standard output (trimmed) is the token.
fn run_helper(ctx: &KeyContext, helper: &str) -> Result<Option<Zeroizing<String>>, KeyError> {
    let hint = "check the token_helper in your Vault configuration (VAULT_CONFIG_PATH or \
                ~/.vault), or set VAULT_TOKEN";
    let mut child = crate::process::command_for_helper(helper)
        .arg("get")
        .env_clear()
        .envs(ctx.vars())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| {
            KeyError::with_hint(
                format!(
                    "cannot run the Vault token helper {helper}: {}",
                    crate::keys::spawn_error(&e)
                ),
                hint,
            )
        })?;
    let limit = crate::keys::deadline::helper_timeout(ctx);
    let output =
        crate::process::capture::capture_within(&mut child, &[], HELPER_OUTPUT_MAX, Some(limit))
            .map_err(|e| {
                KeyError::with_hint(
                    format!(
                        "reading the Vault token helper {helper}'s output failed: {}",
                        e.kind()
                    ),
                    hint,
                )
            })?;
    if output.deadline_passed {
        return Err(KeyError::with_hint(
            crate::keys::deadline::program_deadline_message(&format!(
                "the Vault token helper {helper}"
            )),
            hint,
        ));
    }
    if output.timed_out {
        return Err(KeyError::with_hint(
            crate::keys::deadline::helper_timeout_message(
                &format!("the Vault token helper {helper}"),
                limit,
            ),
            hint,
        ));
    }
    if output.too_long {
        return Err(KeyError::with_hint(
            format!(
                "the Vault token helper {helper} printed more than {HELPER_OUTPUT_MAX} bytes and \
                 was stopped; it should print one token"
            ),
            hint,
        ));
    }
    let out = output.stdout;
    if !output.status.success() {
        return Err(KeyError::with_hint(
            format!("the Vault token helper {helper} failed ({})", output.status),
            hint,
        ));
    }
    let text = std::str::from_utf8(&out).map_err(|_| {
        KeyError::with_hint(
            format!("the Vault token helper {helper} printed something that is not text"),
            hint,
        )
    })?;
    let t = text.trim();
    Ok((!t.is_empty()).then(|| Zeroizing::new(t.to_owned())))
}

/// Logs in with the cert auth method over mutual TLS.
fn cert_login(
    ctx: &KeyContext,
    http: &VaultClient,
    address: &str,
    cert: &str,
) -> Result<(Zeroizing<String>, String), KeyError> {
    let source = format!("TLS certificate login ({cert})");
    let cache = ctx.cached(LoginCache::default);
    if let Ok(map) = cache.0.lock()
        && let Some(t) = map.get(address)
    {
        return Ok((t.clone(), source));
    }
    let client = http.client.clone()?;
    let url = format!("{address}/v1/auth/cert/login");
    let body = match ctx.var("VAULT_CERT_ROLE") {
        Some(role) => rest::json_object(&[("name", role)]),
        None => Zeroizing::new("{}".to_owned()),
    };
    let mut req = Request::post(&url, rest::Body::Json(body));
    if let Some(ns) = ctx.var("VAULT_NAMESPACE") {
        req = req.header("X-Vault-Namespace", ns);
    }
    let reply = client.send(&req).map_err(|e| {
        KeyError::with_hint(
            format!("cannot log in to {address} with {source}: {}", e.0),
            "check the address, VAULT_CACERT, and that the server accepts client certificates",
        )
    })?;
    if !reply.ok() {
        return Err(KeyError::with_hint(
            format!(
                "cannot log in to {address} with {source}: {}",
                reply.describe()
            ),
            "the cert auth method must be enabled at auth/cert with a role that trusts this \
             certificate's CA (VAULT_CERT_ROLE picks the role); or set VAULT_TOKEN",
        ));
    }
    let bad =
        |why: String| KeyError::new(format!("cannot log in to {address} with {source}: {why}"));
    let mut json = reply.json().map_err(bad)?;
    let auth = json
        .get_mut("auth")
        .ok_or_else(|| bad("the response has no `auth`".to_owned()))?;
    let token = rest::take_string(auth, "client_token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| bad("the response has no `auth.client_token`".to_owned()))?;
    if let Ok(mut map) = cache.0.lock() {
        map.insert(address.to_owned(), token.clone());
    }
    Ok((token, source))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::parse_token_helper;

    #[test]
    fn a_token_helper_that_never_ends_is_stopped() {
        // Before round 22 leafseal waited for it for ever (here: the whole minute).
        let dir = tempfile::tempdir().unwrap();
        let helper = dir.path().join("helper.sh");
        std::fs::write(&helper, "#!/bin/sh\nexec sleep 60\n").unwrap();
        std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let vars = [
            ("PATH", std::env::var("PATH").unwrap_or_default()),
            (crate::keys::deadline::HELPER_TIMEOUT_VAR, "1".to_owned()),
        ];
        let ctx = crate::keys::KeyContext::with_vars(
            vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        );
        let path = helper.display().to_string();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(super::run_helper(&ctx, &path).map(|_| ()));
        });
        let got = rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("the token helper was not stopped within 20 seconds");
        let e = got.expect_err("no token");
        assert!(
            e.message.contains("did not finish within 1 seconds")
                && e.message
                    .contains(crate::keys::deadline::HELPER_TIMEOUT_VAR),
            "{e}"
        );
    }

    #[test]
    fn token_helper_lines() {
        assert_eq!(
            parse_token_helper("# x\ntoken_helper = \"/usr/local/bin/h\"\n").as_deref(),
            Some("/usr/local/bin/h")
        );
        assert_eq!(
            parse_token_helper("token_helper=\"h b\"").as_deref(),
            Some("h b")
        );
        assert_eq!(parse_token_helper("token_helper_x = \"a\""), None);
        assert_eq!(parse_token_helper("token_helper = \"\""), None);
        assert_eq!(parse_token_helper("token_helper = "), None);
        assert_eq!(parse_token_helper(""), None);
    }
}
