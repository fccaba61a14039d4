//! Google OAuth access tokens for Cloud KMS, from the first source that is configured
//! (sops's order, then Google's application-default chain):
//!
//! 1. `GOOGLE_CREDENTIALS`: a path to a credentials JSON file, or the JSON itself;
//! 2. `GOOGLE_OAUTH_ACCESS_TOKEN`: an access token used as is;
//! 3. `GOOGLE_APPLICATION_CREDENTIALS`: a path to a credentials JSON file;
//! 4. gcloud's application-default credentials,
//!    `$CLOUDSDK_CONFIG/application_default_credentials.json` (default
//!    `~/.config/gcloud/…`);
//! 5. the metadata server (`GCE_METADATA_HOST`, default `169.254.169.254`).
//!
//! Credentials JSON of type `service_account` is exchanged for a token with an RS256
//! JWT (signed with `ring`) at its `token_uri`; `authorized_user` (what
//! `gcloud auth application-default login` writes) with its refresh token;
//! `external_account` (workload identity federation) and `impersonated_service_account`
//! as described in `gcpkms/external.rs`. Token endpoints come from the JSON (`token_uri`,
//! `token_url`, `service_account_impersonation_url`). Only the first configured source
//! is used; when none is, the error lists every source tried with why it was skipped.
//! The token is cached for the run in the [`KeyContext`].

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::keys::KeyContext;
use crate::keys::KeyError;
use crate::keys::rest;
use crate::keys::rest::Client;
use crate::keys::rest::Request;
use crate::keys::rest::Token;

/// The OAuth scope requested.
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloudkms";
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The run's cached token.
#[derive(Default)]
struct Cache(Mutex<Option<Token>>);

/// An access token for Cloud KMS (cached for the run).
pub(crate) fn access_token(ctx: &KeyContext) -> Result<Token, KeyError> {
    let cache = ctx.cached(Cache::default);
    if let Ok(slot) = cache.0.lock()
        && let Some(t) = slot.as_ref().filter(|t| t.fresh())
    {
        return Ok(t.clone());
    }
    let token = fetch(ctx)?;
    if let Ok(mut slot) = cache.0.lock() {
        *slot = Some(token.clone());
    }
    Ok(token)
}

fn fetch(ctx: &KeyContext) -> Result<Token, KeyError> {
    // Sources that are not configured, with why, for the error when none works.
    let mut tried: Vec<String> = Vec::new();
    if let Some(v) = ctx.var("GOOGLE_CREDENTIALS") {
        let path = PathBuf::from(v);
        return if path.is_file() {
            let label = format!("GOOGLE_CREDENTIALS (file {})", path.display());
            let json = read_file(&path, &label)?;
            from_json(ctx, &json, &label)
        } else {
            from_json(ctx, v, "GOOGLE_CREDENTIALS (inline JSON)")
        };
    }
    tried.push("GOOGLE_CREDENTIALS: not set".to_owned());
    if let Some(t) = ctx.var("GOOGLE_OAUTH_ACCESS_TOKEN") {
        return Ok(Token {
            value: Zeroizing::new(t.trim().to_owned()),
            expires_at: u64::MAX,
            source: "GOOGLE_OAUTH_ACCESS_TOKEN".to_owned(),
        });
    }
    tried.push("GOOGLE_OAUTH_ACCESS_TOKEN: not set".to_owned());
    if let Some(p) = ctx.var("GOOGLE_APPLICATION_CREDENTIALS") {
        let path = PathBuf::from(p);
        let label = format!("GOOGLE_APPLICATION_CREDENTIALS (file {})", path.display());
        let json = read_file(&path, &label)?;
        return from_json(ctx, &json, &label);
    }
    tried.push("GOOGLE_APPLICATION_CREDENTIALS: not set".to_owned());
    let adc = ctx
        .var("CLOUDSDK_CONFIG")
        .map(PathBuf::from)
        .or_else(|| ctx.home().map(|h| h.join(".config/gcloud")))
        .map(|d| d.join("application_default_credentials.json"));
    match adc {
        Some(path) if path.is_file() => {
            let label = format!(
                "gcloud application-default credentials ({})",
                path.display()
            );
            let json = read_file(&path, &label)?;
            return from_json(ctx, &json, &label);
        }
        Some(path) => tried.push(format!(
            "gcloud application-default credentials: no file {}",
            path.display()
        )),
        None => tried.push(
            "gcloud application-default credentials: neither CLOUDSDK_CONFIG nor HOME is set"
                .to_owned(),
        ),
    }
    metadata_server(ctx, tried)
}

fn read_file(path: &std::path::Path, label: &str) -> Result<Zeroizing<String>, KeyError> {
    std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|e| KeyError::new(format!("cannot read {label}: {}", e.kind())))
}

/// A token from a credentials JSON document.
pub(super) fn from_json(ctx: &KeyContext, json: &str, label: &str) -> Result<Token, KeyError> {
    let mut v: serde_json::Value = serde_json::from_str(json).map_err(|e| {
        KeyError::with_hint(
            format!(
                "{label} is not valid credentials JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
            "GOOGLE_CREDENTIALS takes the path of a credentials JSON file or its content",
        )
    })?;
    let field = |v: &serde_json::Value, name: &str| -> Result<String, KeyError> {
        v.get(name)
            .and_then(|s| s.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| KeyError::new(format!("{label} has no `{name}`")))
    };
    let kind = field(&v, "type")?;
    let token_uri = v
        .get("token_uri")
        .and_then(|s| s.as_str())
        .unwrap_or(DEFAULT_TOKEN_URI)
        .to_owned();
    match kind.as_str() {
        "service_account" => {
            let email = field(&v, "client_email")?;
            let kid = v
                .get("private_key_id")
                .and_then(|s| s.as_str())
                .map(str::to_owned);
            let pem = rest::take_string(&mut v, "private_key")
                .ok_or_else(|| KeyError::new(format!("{label} has no `private_key`")))?;
            let jwt = sign_jwt(&pem, &email, kid.as_deref(), &token_uri, rest::now_secs())
                .map_err(|why| KeyError::new(format!("cannot use the key in {label}: {why}")))?;
            let body = rest::form(&[("grant_type", JWT_BEARER), ("assertion", &jwt)]);
            exchange(
                ctx,
                &token_uri,
                body,
                &format!("{label}, service account {email}"),
            )
        }
        "authorized_user" => {
            let client_id = field(&v, "client_id")?;
            let secret = rest::take_string(&mut v, "client_secret")
                .ok_or_else(|| KeyError::new(format!("{label} has no `client_secret`")))?;
            let refresh = rest::take_string(&mut v, "refresh_token")
                .ok_or_else(|| KeyError::new(format!("{label} has no `refresh_token`")))?;
            let body = rest::form(&[
                ("grant_type", "refresh_token"),
                ("client_id", &client_id),
                ("client_secret", &secret),
                ("refresh_token", &refresh),
            ]);
            exchange(ctx, &token_uri, body, &format!("{label}, authorized user"))
        }
        "external_account" => super::external::external_account(ctx, &v, label),
        "impersonated_service_account" => {
            super::external::impersonated_service_account(ctx, &v, label)
        }
        other => Err(KeyError::with_hint(
            format!("{label}: credentials of type `{other}` are not supported"),
            "use a service-account key, an external-account (workload identity federation) \
             configuration or `gcloud auth application-default login`, or set \
             GOOGLE_OAUTH_ACCESS_TOKEN=$(gcloud auth print-access-token)",
        )),
    }
}

/// Posts a token request to `token_uri`.
pub(super) fn exchange(
    ctx: &KeyContext,
    token_uri: &str,
    body: Zeroizing<String>,
    source: &str,
) -> Result<Token, KeyError> {
    let lower = token_uri.to_ascii_lowercase();
    if !(lower.starts_with("https://")
        || (lower.starts_with("http://") && rest::is_loopback_host(rest::url_host(token_uri))))
    {
        return Err(KeyError::new(format!(
            "{source}: the token_uri must be an https URL"
        )));
    }
    let req = Request::post(token_uri, rest::Body::Form(body));
    let reply = Client::get(ctx).send(&req).map_err(|e| {
        KeyError::with_hint(
            format!(
                "cannot get a Google access token from {source}: {}",
                e.about(token_uri)
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
            "the key or refresh token may be revoked or expired: create a new key, or run \
             `gcloud auth application-default login`",
        ));
    }
    rest::parse_token_reply(&reply, source).map_err(|why| {
        KeyError::new(format!(
            "cannot get a Google access token from {source}: {why}"
        ))
    })
}

/// A token from the GCE/GKE metadata server (last resort; one quick attempt).
fn metadata_server(ctx: &KeyContext, mut tried: Vec<String>) -> Result<Token, KeyError> {
    let host = ctx.var("GCE_METADATA_HOST").unwrap_or("169.254.169.254");
    let mut url = format!(
        "http://{}/computeMetadata/v1/instance/service-accounts/default/token?scopes=",
        host.trim().trim_end_matches('/')
    );
    rest::encode_component(&mut url, SCOPE);
    let req = Request::get(&url).header("Metadata-Flavor", "Google");
    let source = format!("the metadata server ({host})");
    let mut none_found = |why: String| {
        tried.push(format!("{source}: {why}"));
        KeyError::with_hint(
            format!(
                "no Google credentials found; tried, in order: {}",
                tried.join("; ")
            ),
            "run `gcloud auth application-default login`, set GOOGLE_APPLICATION_CREDENTIALS \
             to a service-account key or external-account (workload identity federation) \
             file, or set GOOGLE_OAUTH_ACCESS_TOKEN",
        )
    };
    let reply = Client::get(ctx)
        .send_once(&req, Duration::from_secs(2))
        .map_err(|e| none_found(e.0))?;
    if !reply.ok() {
        return Err(none_found(reply.describe()));
    }
    rest::parse_token_reply(&reply, &source).map_err(|why| {
        KeyError::new(format!(
            "cannot get a Google access token from {source}: {why}"
        ))
    })
}

/// An RS256-signed JWT asserting `email` for [`SCOPE`], valid for one hour from `now`.
pub(crate) fn sign_jwt(
    pem: &str,
    email: &str,
    kid: Option<&str>,
    audience: &str,
    now: u64,
) -> Result<Zeroizing<String>, String> {
    let der = pem_to_der(pem)?;
    let key = crate::keys::rest::jwt::rsa_key(&der, "the private key")?;
    let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
    if let Some(kid) = kid {
        header["kid"] = serde_json::Value::String(kid.to_owned());
    }
    let claims = serde_json::json!({
        "iss": email,
        "scope": SCOPE,
        "aud": audience,
        "iat": now,
        "exp": now + 3600,
    });
    crate::keys::rest::jwt::sign_rs256(&key, &header, &claims)
}

/// The DER bytes of a `-----BEGIN … PRIVATE KEY-----` PEM block.
fn pem_to_der(pem: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    let body: Zeroizing<String> = Zeroizing::new(
        pem.lines()
            .map(str::trim)
            .skip_while(|l| !l.starts_with("-----BEGIN"))
            .skip(1)
            .take_while(|l| !l.starts_with("-----END"))
            .collect(),
    );
    if body.is_empty() {
        return Err("`private_key` is not a PEM private key".to_owned());
    }
    STANDARD
        .decode(body.as_bytes())
        .map(Zeroizing::new)
        .map_err(|_| "`private_key` is not valid PEM".to_owned())
}
