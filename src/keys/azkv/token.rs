//! Microsoft Entra ID (Azure AD) access tokens for Key Vault, from the first source that
//! is configured (the order of the Azure SDKs' default credential):
//!
//! 1. client secret: `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`;
//! 2. workload identity: `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
//!    `AZURE_FEDERATED_TOKEN_FILE` (the file's token is the client assertion);
//! 3. managed identity: App Service's `IDENTITY_ENDPOINT` + `IDENTITY_HEADER`, else the
//!    instance metadata service (`http://169.254.169.254`, or
//!    `AZURE_POD_IDENTITY_AUTHORITY_HOST`), tried once with a short timeout;
//!    `AZURE_CLIENT_ID` selects a user-assigned identity.
//!
//! 1 and 2 post to `{AZURE_AUTHORITY_HOST or https://login.microsoftonline.com}/{tenant}/
//! oauth2/v2.0/token` with the scope `{resource}/.default`. Tokens are cached per
//! resource for the run in the [`KeyContext`].

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
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

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
    if let (Some(tenant), Some(client), Some(secret)) =
        (tenant, client, ctx.var("AZURE_CLIENT_SECRET"))
    {
        let body = rest::form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client),
            ("client_secret", secret),
            ("scope", &scope),
        ]);
        return entra(ctx, tenant, body, "AZURE_CLIENT_SECRET (client secret)");
    }
    if let (Some(tenant), Some(client), Some(file)) =
        (tenant, client, ctx.var("AZURE_FEDERATED_TOKEN_FILE"))
    {
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
    managed_identity(ctx, resource)
}

/// Posts a client-credentials request to the tenant's token endpoint.
fn entra(
    ctx: &KeyContext,
    tenant: &str,
    body: Zeroizing<String>,
    source: &str,
) -> Result<Token, KeyError> {
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
    let url = format!("{authority}/{tenant}/oauth2/v2.0/token");
    let reply = Client::get(ctx)
        .send(&Request::post(&url, rest::Body::Form(body)))
        .map_err(|e| {
            KeyError::with_hint(
                format!("cannot get an Azure access token from {source}: {authority} is unreachable: {}", e.0),
                "check your network or proxy, and AZURE_AUTHORITY_HOST if you set it",
            )
        })?;
    if !reply.ok() {
        return Err(KeyError::with_hint(
            format!(
                "cannot get an Azure access token from {source}: {}",
                reply.describe()
            ),
            "check AZURE_TENANT_ID, AZURE_CLIENT_ID and the secret or federated token \
             (it may have expired)",
        ));
    }
    rest::parse_token_reply(&reply, source).map_err(|why| {
        KeyError::new(format!(
            "cannot get an Azure access token from {source}: {why}"
        ))
    })
}

/// A managed-identity token (App Service endpoint or the instance metadata service).
fn managed_identity(ctx: &KeyContext, resource: &str) -> Result<Token, KeyError> {
    let mut query = String::new();
    let (base, api, header, source) =
        match (ctx.var("IDENTITY_ENDPOINT"), ctx.var("IDENTITY_HEADER")) {
            (Some(endpoint), Some(h)) => (
                endpoint.trim().to_owned(),
                "2019-08-01",
                ("X-IDENTITY-HEADER", h),
                "managed identity (IDENTITY_ENDPOINT)".to_owned(),
            ),
            _ => {
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
    let none_found = |why: String| {
        KeyError::with_hint(
            format!(
                "no Azure credentials found (tried AZURE_CLIENT_SECRET, AZURE_FEDERATED_TOKEN_FILE \
                 and {source}: {why})"
            ),
            "set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (service principal), \
             or run where a managed or workload identity is available",
        )
    };
    let reply = Client::get(ctx)
        .send_once(
            &Request::get(&url).header(header.0, header.1),
            Duration::from_secs(2),
        )
        .map_err(|e| none_found(e.0))?;
    if !reply.ok() {
        return Err(none_found(reply.describe()));
    }
    rest::parse_token_reply(&reply, &source).map_err(|why| {
        KeyError::new(format!(
            "cannot get an Azure access token from {source}: {why}"
        ))
    })
}
