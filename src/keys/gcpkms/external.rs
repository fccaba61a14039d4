//! Google credentials that are exchanged for other credentials first:
//!
//! * `external_account` (workload identity federation): a subject token (an OIDC or
//!   SAML token a CI system or another cloud issues) is read from
//!   `credential_source.file` or fetched from `credential_source.url` (with its
//!   `headers`; `format.type` `text`, or `json` with `subject_token_field_name`), then
//!   exchanged at the security token service (`token_url`, RFC 8693 token exchange with
//!   the file's `audience` and `subject_token_type`). When
//!   `service_account_impersonation_url` is present, the STS token is used once more to
//!   call that `generateAccessToken` URL, and the service account's token is the result.
//! * `impersonated_service_account` (what `gcloud auth application-default login
//!   --impersonate-service-account` writes): the `source_credentials` give a token that
//!   calls `service_account_impersonation_url`.
//!
//! Executable-sourced and AWS-sourced external accounts are not supported (the error
//! says so).

use std::time::Duration;

use zeroize::Zeroizing;

use crate::keys::KeyContext;
use crate::keys::KeyError;
use crate::keys::rest;
use crate::keys::rest::Client;
use crate::keys::rest::Request;
use crate::keys::rest::Token;

/// The scope external accounts and impersonation ask for (as Google's libraries do).
const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const DEFAULT_STS: &str = "https://sts.googleapis.com/v1/token";

fn field<'a>(v: &'a serde_json::Value, name: &str, label: &str) -> Result<&'a str, KeyError> {
    v.get(name)
        .and_then(|s| s.as_str())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| KeyError::new(format!("{label} has no `{name}`")))
}

/// Only https, or http to a loopback address (test servers, local token services).
fn check_url(url: &str, what: &str, label: &str) -> Result<(), KeyError> {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("https://")
        || (lower.starts_with("http://") && rest::is_loopback_host(rest::url_host(url)))
    {
        return Ok(());
    }
    Err(KeyError::new(format!(
        "{label}: the {what} must be an https URL"
    )))
}

/// A token for an `external_account` credentials document.
pub(super) fn external_account(
    ctx: &KeyContext,
    v: &serde_json::Value,
    label: &str,
) -> Result<Token, KeyError> {
    let audience = field(v, "audience", label)?;
    let token_type = field(v, "subject_token_type", label)?;
    let token_url = v
        .get("token_url")
        .and_then(|s| s.as_str())
        .unwrap_or(DEFAULT_STS);
    check_url(token_url, "token_url", label)?;
    let source = v
        .get("credential_source")
        .ok_or_else(|| KeyError::new(format!("{label} has no `credential_source`")))?;
    let subject = subject_token(ctx, source, label)?;
    let impersonate = v
        .get("service_account_impersonation_url")
        .and_then(|s| s.as_str())
        .filter(|s| !s.is_empty());
    let scope = if impersonate.is_some() {
        CLOUD_PLATFORM
    } else {
        super::token::SCOPE
    };
    let body = rest::form(&[
        ("grant_type", TOKEN_EXCHANGE),
        ("audience", audience),
        ("scope", scope),
        ("requested_token_type", ACCESS_TOKEN_TYPE),
        ("subject_token", subject.as_str()),
        ("subject_token_type", token_type),
    ]);
    let sts_label = format!("{label}, workload identity federation");
    let sts = super::token::exchange(ctx, token_url, body, &sts_label)?;
    match impersonate {
        None => Ok(sts),
        Some(url) => impersonated(ctx, &sts, url, label),
    }
}

/// A token for an `impersonated_service_account` credentials document.
pub(super) fn impersonated_service_account(
    ctx: &KeyContext,
    v: &serde_json::Value,
    label: &str,
) -> Result<Token, KeyError> {
    let url = field(v, "service_account_impersonation_url", label)?.to_owned();
    let source = v
        .get("source_credentials")
        .ok_or_else(|| KeyError::new(format!("{label} has no `source_credentials`")))?;
    let inner = Zeroizing::new(source.to_string());
    let base = super::token::from_json(ctx, &inner, &format!("{label}, source credentials"))?;
    impersonated(ctx, &base, &url, label)
}

/// Calls `generateAccessToken` at `url` with `base` and returns the service account's
/// token.
fn impersonated(ctx: &KeyContext, base: &Token, url: &str, label: &str) -> Result<Token, KeyError> {
    check_url(url, "service_account_impersonation_url", label)?;
    let account = url
        .rsplit_once("/serviceAccounts/")
        .map(|(_, a)| a.trim_end_matches(":generateAccessToken"))
        .unwrap_or("?")
        .to_owned();
    let source = format!("{label}, impersonating {account}");
    let body = Zeroizing::new(
        serde_json::json!({"scope": [CLOUD_PLATFORM], "lifetime": "3600s"}).to_string(),
    );
    let auth = Zeroizing::new(format!("Bearer {}", base.value.as_str()));
    let req = Request::post(url, rest::Body::Json(body)).header("Authorization", &auth);
    let reply = Client::get(ctx).send(&req).map_err(|e| {
        KeyError::with_hint(
            format!(
                "cannot get a Google access token from {source}: {}",
                e.about(url)
            ),
            "check your network or proxy",
        )
    })?;
    if !reply.ok() {
        return Err(KeyError::with_hint(
            format!(
                "cannot get a Google access token from {source}: {}",
                reply.describe()
            ),
            "the federated identity needs the Service Account Token Creator role \
             (roles/iam.serviceAccountTokenCreator) on the service account",
        ));
    }
    let bad = |why: String| {
        KeyError::new(format!(
            "cannot get a Google access token from {source}: {why}"
        ))
    };
    let mut json = reply.json().map_err(bad)?;
    let value = rest::take_string(&mut json, "accessToken")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| bad("the response has no `accessToken`".to_owned()))?;
    // Tokens live for the run only; one hour is what was asked for.
    Ok(Token {
        value,
        expires_at: rest::now_secs().saturating_add(3000),
        source,
    })
}

/// The subject token named by `credential_source`.
fn subject_token(
    ctx: &KeyContext,
    source: &serde_json::Value,
    label: &str,
) -> Result<Zeroizing<String>, KeyError> {
    let format = source.get("format");
    let kind = format
        .and_then(|f| f.get("type"))
        .and_then(|t| t.as_str())
        .unwrap_or("text");
    let raw = if let Some(path) = source.get("file").and_then(|f| f.as_str()) {
        std::fs::read_to_string(path)
            .map(Zeroizing::new)
            .map_err(|e| {
                KeyError::with_hint(
                    format!(
                        "{label}: cannot read the subject token file {path}: {}",
                        e.kind()
                    ),
                    "the CI job must write its OIDC token to that file before leafseal runs",
                )
            })?
    } else if let Some(url) = source.get("url").and_then(|u| u.as_str()) {
        fetch_subject(ctx, url, source.get("headers"), label)?
    } else if source.get("executable").is_some() {
        return Err(KeyError::with_hint(
            format!("{label}: executable-sourced credentials are not supported"),
            "write the token to a file and use a file-sourced credential configuration",
        ));
    } else if source.get("environment_id").is_some() {
        return Err(KeyError::with_hint(
            format!("{label}: AWS-sourced credentials are not supported"),
            "use a file- or URL-sourced credential configuration",
        ));
    } else {
        return Err(KeyError::new(format!(
            "{label}: `credential_source` has neither `file` nor `url`"
        )));
    };
    let token = match kind {
        "text" => Zeroizing::new(raw.trim().to_owned()),
        "json" => {
            let name = format
                .and_then(|f| f.get("subject_token_field_name"))
                .and_then(|n| n.as_str())
                .ok_or_else(|| {
                    KeyError::new(format!(
                        "{label}: `format` of type json has no `subject_token_field_name`"
                    ))
                })?;
            let mut v: serde_json::Value = serde_json::from_str(&raw)
                .map_err(|_| KeyError::new(format!("{label}: the subject token is not JSON")))?;
            rest::take_string(&mut v, name).ok_or_else(|| {
                KeyError::new(format!(
                    "{label}: the subject token JSON has no string field `{name}`"
                ))
            })?
        }
        other => {
            return Err(KeyError::new(format!(
                "{label}: unknown subject token format `{other}` (expected text or json)"
            )));
        }
    };
    if token.is_empty() {
        return Err(KeyError::new(format!(
            "{label}: the subject token is empty"
        )));
    }
    Ok(token)
}

/// Fetches a URL-sourced subject token (often a local or link-local metadata endpoint,
/// hence plain http is accepted here: nothing secret is sent).
fn fetch_subject(
    ctx: &KeyContext,
    url: &str,
    headers: Option<&serde_json::Value>,
    label: &str,
) -> Result<Zeroizing<String>, KeyError> {
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        return Err(KeyError::new(format!(
            "{label}: the credential_source url must be an http(s) URL"
        )));
    }
    let pairs: Vec<(String, String)> = headers
        .and_then(|h| h.as_object())
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    let mut req = Request::get(url);
    for (k, v) in &pairs {
        req = req.header(k, v);
    }
    let reply = Client::get(ctx)
        .send_once(&req, Duration::from_secs(10))
        .map_err(|e| {
            KeyError::new(format!(
                "{label}: cannot fetch the subject token from {url}: {}",
                e.0
            ))
        })?;
    if !reply.ok() {
        return Err(KeyError::new(format!(
            "{label}: cannot fetch the subject token from {url}: {}",
            reply.describe()
        )));
    }
    Ok(Zeroizing::new(reply.body.as_str().to_owned()))
}
