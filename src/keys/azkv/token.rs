//! Microsoft Entra ID (Azure AD) access tokens for Key Vault, in the order of the Azure
//! SDKs' default credential chain (`DefaultAzureCredential`):
//!
//! 1. environment: `AZURE_TENANT_ID` and `AZURE_CLIENT_ID` with `AZURE_CLIENT_SECRET`
//!    (client secret), else `AZURE_CLIENT_CERTIFICATE_PATH` (a PEM or PKCS#12 file,
//!    `AZURE_CLIENT_CERTIFICATE_PASSWORD` for the latter; see `azkv/assertion.rs`),
//!    else `AZURE_USERNAME` + `AZURE_PASSWORD`;
//! 2. workload identity: `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
//!    `AZURE_FEDERATED_TOKEN_FILE` (the file's token is the client assertion);
//! 3. managed identity: App Service's `IDENTITY_ENDPOINT` + `IDENTITY_HEADER`, else the
//!    instance metadata service (`http://169.254.169.254`, or
//!    `AZURE_POD_IDENTITY_AUTHORITY_HOST`), tried once with a short timeout;
//!    `AZURE_CLIENT_ID` selects a user-assigned identity;
//! 4. the Azure CLI: `az account get-access-token --output json --resource …` (with
//!    `--tenant` when `AZURE_TENANT_ID` is set), see `azkv/azcli.rs`.
//!
//! 1 and 2 post to `{AZURE_AUTHORITY_HOST or https://login.microsoftonline.com}/{tenant}/
//! oauth2/v2.0/token` with the scope `{resource}/.default`, the resource being the
//! vault's cloud (`https://vault.azure.cn` for a vault in `*.vault.azure.cn`, …). A
//! source that is configured and fails ends the chain with its error (as in the SDK);
//! sources that are not configured or not available are skipped, and when none gives a
//! token the error lists each with why. Tokens are cached per resource for the run in
//! the [`KeyContext`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::keys::KeyContext;
use crate::keys::KeyError;
use crate::keys::rest;
use crate::keys::rest::Client;
use crate::keys::rest::Request;
use crate::keys::rest::Token;

const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
const IMDS: &str = "http://169.254.169.254";
pub(super) const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The run's cached tokens, by resource.
#[derive(Default)]
struct Cache(Mutex<HashMap<String, Token>>);

/// An access token for `resource` (e.g. `https://vault.azure.net`), cached for the run.
pub(crate) fn access_token(ctx: &KeyContext, resource: &str) -> Result<Token, KeyError> {
    let cache = ctx.cached(Cache::default);
    if let Ok(map) = cache.0.lock()
        && let Some(t) = map.get(resource).filter(|t| t.fresh())
    {
        return Ok(t.clone());
    }
    let token = fetch(ctx, resource)?;
    if let Ok(mut map) = cache.0.lock() {
        map.insert(resource.to_owned(), token.clone());
    }
    Ok(token)
}

fn fetch(ctx: &KeyContext, resource: &str) -> Result<Token, KeyError> {
    let scope = format!("{resource}/.default");
    let tenant = ctx.var("AZURE_TENANT_ID");
    let client = ctx.var("AZURE_CLIENT_ID");
    let mut tried: Vec<String> = Vec::new();
    // 1. Environment.
    match (tenant, client) {
        (Some(tenant), Some(client)) => {
            if let Some(secret) = ctx.var("AZURE_CLIENT_SECRET") {
                let body = rest::form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", client),
                    ("client_secret", secret),
                    ("scope", &scope),
                ]);
                return entra(ctx, tenant, body, "AZURE_CLIENT_SECRET (client secret)");
            }
            if let Some(path) = ctx.var("AZURE_CLIENT_CERTIFICATE_PATH") {
                let source = "AZURE_CLIENT_CERTIFICATE_PATH (client certificate)";
                let url = token_url(ctx, tenant)?;
                let jwt =
                    super::assertion::client_assertion(ctx, path, client, &url).map_err(|why| {
                        KeyError::with_hint(
                            format!("cannot use {source} {path}: {why}"),
                            "AZURE_CLIENT_CERTIFICATE_PATH must name a PEM file holding the \
                         certificate and its unencrypted RSA private key, or a PKCS#12 (.pfx) \
                         file whose password is in AZURE_CLIENT_CERTIFICATE_PASSWORD",
                        )
                    })?;
                let body = rest::form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", client),
                    ("client_assertion_type", ASSERTION_TYPE),
                    ("client_assertion", &jwt),
                    ("scope", &scope),
                ]);
                return entra(ctx, tenant, body, source);
            }
            if let (Some(user), Some(password)) =
                (ctx.var("AZURE_USERNAME"), ctx.var("AZURE_PASSWORD"))
            {
                let body = rest::form(&[
                    ("grant_type", "password"),
                    ("client_id", client),
                    ("username", user),
                    ("password", password),
                    ("scope", &format!("{scope} openid profile offline_access")),
                ]);
                return entra(ctx, tenant, body, "AZURE_USERNAME (user password)");
            }
            tried.push(
                "environment: none of AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH, \
                 AZURE_USERNAME/AZURE_PASSWORD is set"
                    .to_owned(),
            );
        }
        _ => tried.push("environment: AZURE_TENANT_ID or AZURE_CLIENT_ID is not set".to_owned()),
    }
    // 2. Workload identity.
    match (tenant, client, ctx.var("AZURE_FEDERATED_TOKEN_FILE")) {
        (Some(tenant), Some(client), Some(file)) => {
            let source = "AZURE_FEDERATED_TOKEN_FILE (workload identity)";
            let assertion = std::fs::read_to_string(file)
                .map(Zeroizing::new)
                .map_err(|e| KeyError::new(format!("cannot read {source} {file}: {}", e.kind())))?;
            let body = rest::form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", assertion.trim()),
                ("scope", &scope),
            ]);
            return entra(ctx, tenant, body, source);
        }
        _ => tried.push(
            "workload identity: AZURE_TENANT_ID, AZURE_CLIENT_ID and \
             AZURE_FEDERATED_TOKEN_FILE are not all set"
                .to_owned(),
        ),
    }
    // 3. Managed identity.
    match managed_identity(ctx, resource)? {
        Ok(t) => return Ok(t),
        Err(why) => tried.push(why),
    }
    // 4. Azure CLI.
    match super::azcli::token(ctx, resource)? {
        Ok(t) => return Ok(t),
        Err(why) => tried.push(why),
    }
    Err(KeyError::with_hint(
        format!(
            "no Azure credentials found; tried, in order: {}",
            tried.join("; ")
        ),
        "set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or \
         AZURE_CLIENT_CERTIFICATE_PATH) for a service principal, use workload identity \
         federation (AZURE_FEDERATED_TOKEN_FILE), run where a managed identity is available, \
         or log in with `az login`",
    ))
}

/// The tenant's token endpoint.
pub(super) fn token_url(ctx: &KeyContext, tenant: &str) -> Result<String, KeyError> {
    if !tenant
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.'))
    {
        return Err(KeyError::new(
            "AZURE_TENANT_ID is not a tenant ID or domain",
        ));
    }
    let authority = ctx
        .var("AZURE_AUTHORITY_HOST")
        .unwrap_or(DEFAULT_AUTHORITY)
        .trim()
        .trim_end_matches('/');
    Ok(format!("{authority}/{tenant}/oauth2/v2.0/token"))
}

/// Posts a token request to the tenant's token endpoint.
fn entra(
    ctx: &KeyContext,
    tenant: &str,
    body: Zeroizing<String>,
    source: &str,
) -> Result<Token, KeyError> {
    let url = token_url(ctx, tenant)?;
    let reply = Client::get(ctx)
        .send(&Request::post(&url, rest::Body::Form(body)))
        .map_err(|e| {
            KeyError::with_hint(
                format!(
                    "cannot get an Azure access token from {source}: {}",
                    e.about(url.trim_end_matches("/oauth2/v2.0/token"))
                ),
                "check your network or proxy, and AZURE_AUTHORITY_HOST if you set it",
            )
        })?;
    if !reply.ok() {
        return Err(KeyError::with_hint(
            format!(
                "cannot get an Azure access token from {source}: {}",
                reply.describe()
            ),
            "check AZURE_TENANT_ID, AZURE_CLIENT_ID and the secret, certificate or federated \
             token (it may have expired)",
        ));
    }
    rest::parse_token_reply(&reply, source).map_err(|why| {
        KeyError::new(format!(
            "cannot get an Azure access token from {source}: {why}"
        ))
    })
}

/// A managed-identity token (App Service endpoint or the instance metadata service).
/// The inner `Err` says why none is available (the chain goes on); the outer one is a
/// configured App Service endpoint that failed.
fn managed_identity(ctx: &KeyContext, resource: &str) -> Result<Result<Token, String>, KeyError> {
    let mut query = String::new();
    let app_service = ctx.var("IDENTITY_ENDPOINT").zip(ctx.var("IDENTITY_HEADER"));
    let (base, api, header, source) = match app_service {
        Some((endpoint, h)) => (
            endpoint.trim().to_owned(),
            "2019-08-01",
            ("X-IDENTITY-HEADER", h),
            "managed identity (IDENTITY_ENDPOINT, App Service)".to_owned(),
        ),
        None => {
            let host = ctx
                .var("AZURE_POD_IDENTITY_AUTHORITY_HOST")
                .unwrap_or(IMDS)
                .trim()
                .trim_end_matches('/');
            (
                format!("{host}/metadata/identity/oauth2/token"),
                "2018-02-01",
                ("Metadata", "true"),
                format!("managed identity ({host})"),
            )
        }
    };
    query.push_str("?api-version=");
    query.push_str(api);
    query.push_str("&resource=");
    rest::encode_component(&mut query, resource);
    if let Some(id) = ctx.var("AZURE_CLIENT_ID") {
        query.push_str("&client_id=");
        rest::encode_component(&mut query, id);
    }
    let url = format!("{base}{query}");
    let timeout = Duration::from_secs(if app_service.is_some() { 10 } else { 2 });
    let result =
        Client::get(ctx).send_once(&Request::get(&url).header(header.0, header.1), timeout);
    let fail = |why: String| -> Result<Result<Token, String>, KeyError> {
        if app_service.is_some() {
            Err(KeyError::with_hint(
                format!("cannot get an Azure access token from {source}: {why}"),
                "check that the App Service or Functions app has a managed identity with \
                 access to the vault",
            ))
        } else {
            Ok(Err(format!("{source}: {why}")))
        }
    };
    let reply = match result {
        Ok(r) => r,
        Err(e) => return fail(e.0),
    };
    if !reply.ok() {
        return fail(reply.describe());
    }
    match rest::parse_token_reply(&reply, &source) {
        Ok(t) => Ok(Ok(t)),
        Err(why) => fail(why),
    }
}
