//! IAM Identity Center (AWS SSO) credentials: the access token `aws sso login` caches in
//! `~/.aws/sso/cache/<sha1 hex of the sso-session name, or of the legacy start URL>.json`,
//! exchanged for role credentials with `GET /federation/credentials` on the access
//! portal (`https://portal.sso.<region>.amazonaws.com`, or `AWS_ENDPOINT_URL_SSO` /
//! `AWS_ENDPOINT_URL`). leafseal never refreshes or creates the token: when it is
//! missing or expired, the message says to run `aws sso login`.

use zeroize::Zeroizing;

use super::Credentials;
use super::profiles::Profiles;
use super::profiles::Section;
use crate::keys::KeyContext;
use crate::keys::KeyError;
use crate::keys::awskms::http;
use crate::keys::awskms::http::Endpoint;
use crate::keys::awskms::sigv4;
use crate::keys::awskms::sts;
use crate::time::Timestamp;

/// Whether a profile is configured for SSO.
pub(super) fn configured(p: &Section) -> bool {
    p.contains_key("sso_session") || p.contains_key("sso_start_url")
}

/// The cache file name for a session name or start URL.
fn cache_name(key: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, key.as_bytes());
    format!("{}.json", sigv4::hex(d.as_ref()))
}

/// The role credentials of SSO profile `name`.
pub(super) fn credentials(
    ctx: &KeyContext,
    profiles: &Profiles,
    name: &str,
    p: &Section,
) -> Result<Credentials, KeyError> {
    let login = format!("run `aws sso login --profile {name}`, then retry");
    let fix = "check the profile's sso_session, sso_account_id and sso_role_name";
    let what = format!("SSO (IAM Identity Center) profile `{name}`");
    let get = |s: &Section, k: &str| s.get(k).filter(|v| !v.is_empty()).cloned();
    let (cache_key, region) = match get(p, "sso_session") {
        Some(session) => {
            let sec = profiles.sso_session(&session).ok_or_else(|| {
                KeyError::with_hint(
                    format!("{what} names sso_session `{session}`, but [sso-session {session}] is not in the config file"),
                    fix,
                )
            })?;
            let region = get(sec, "sso_region").or_else(|| get(p, "sso_region"));
            (session, region)
        }
        None => {
            let url = get(p, "sso_start_url")
                .ok_or_else(|| KeyError::with_hint(format!("{what} has no sso_start_url"), fix))?;
            (url, get(p, "sso_region"))
        }
    };
    let region =
        region.ok_or_else(|| KeyError::with_hint(format!("{what} has no sso_region"), fix))?;
    let account = get(p, "sso_account_id")
        .ok_or_else(|| KeyError::with_hint(format!("{what} has no sso_account_id"), fix))?;
    let role = get(p, "sso_role_name")
        .ok_or_else(|| KeyError::with_hint(format!("{what} has no sso_role_name"), fix))?;
    let home = ctx.home().ok_or_else(|| {
        KeyError::with_hint(
            format!("{what}: HOME is not set, so the SSO token cache cannot be found"),
            "set HOME",
        )
    })?;
    let file = home
        .join(".aws")
        .join("sso")
        .join("cache")
        .join(cache_name(&cache_key));
    let text = std::fs::read(&file).map(Zeroizing::new).map_err(|e| {
        KeyError::with_hint(
            format!(
                "{what}: no cached SSO token ({}: {})",
                file.display(),
                e.kind()
            ),
            login.clone(),
        )
    })?;
    let mut json: serde_json::Value = serde_json::from_slice(&text).map_err(|_| {
        KeyError::with_hint(
            format!("{what}: the SSO token cache {} is not JSON", file.display()),
            login.clone(),
        )
    })?;
    let token = match json.get_mut("accessToken").map(serde_json::Value::take) {
        Some(serde_json::Value::String(t)) if !t.is_empty() => Zeroizing::new(t),
        _ => {
            return Err(KeyError::with_hint(
                format!(
                    "{what}: the SSO token cache {} has no accessToken",
                    file.display()
                ),
                login,
            ));
        }
    };
    let expires = json
        .get("expiresAt")
        .and_then(serde_json::Value::as_str)
        .map(|s| s.trim().replace("UTC", "Z"))
        .and_then(|s| Timestamp::parse_rfc3339(&s));
    match expires {
        Some(t) if t.to_unix() > Timestamp::now_utc().to_unix() => {}
        Some(t) => {
            return Err(KeyError::with_hint(
                format!("{what}: the cached SSO token expired at {}", t.to_rfc3339()),
                login,
            ));
        }
        None => {
            return Err(KeyError::with_hint(
                format!(
                    "{what}: the SSO token cache {} has no valid expiresAt",
                    file.display()
                ),
                login,
            ));
        }
    }
    let mut ep = match sts::endpoint_override(ctx, "sso") {
        Some(ep) => ep?,
        None => Endpoint::parse(&format!(
            "https://portal.sso.{region}.{}/",
            sts::dns_suffix(&region)
        ))
        .map_err(KeyError::new)?,
    };
    ep.path = format!(
        "{}/federation/credentials?{}",
        ep.path.trim_end_matches('/'),
        sigv4::form_encode(&[("account_id", &account), ("role_name", &role)])
    );
    let headers = || {
        vec![
            ("Host".to_owned(), ep.authority.clone()),
            (
                "x-amz-sso_bearer_token".to_owned(),
                token.as_str().to_owned(),
            ),
        ]
    };
    let resp = http::send(
        ctx,
        http::Settings::from_ctx(ctx),
        "GET",
        &ep,
        &headers,
        &[],
        &[token.as_str()],
    )
    .map_err(|f| {
        let hint = match f.status() {
            Some(401 | 403) => login.clone(),
            Some(_) => fix.to_owned(),
            None => {
                "check network access to the SSO portal, or set AWS_ENDPOINT_URL_SSO".to_owned()
            }
        };
        KeyError::with_hint(
            format!(
                "{what}: GetRoleCredentials for role {role} in account {account} failed: {}",
                f.describe()
            ),
            hint,
        )
    })?;
    let bad = || {
        KeyError::with_hint(
            format!("{what}: the SSO portal returned a malformed credentials document"),
            "check AWS_ENDPOINT_URL_SSO",
        )
    };
    let mut v: serde_json::Value = serde_json::from_slice(&resp.body).map_err(|_| bad())?;
    let rc = v.get_mut("roleCredentials").ok_or_else(bad)?;
    let mut take = |k: &str| match rc.get_mut(k).map(serde_json::Value::take) {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Some(Zeroizing::new(s)),
        _ => None,
    };
    let id = take("accessKeyId").ok_or_else(bad)?;
    let secret = take("secretAccessKey").ok_or_else(bad)?;
    let session = take("sessionToken");
    Ok(Credentials {
        access_key_id: id.as_str().to_owned(),
        secret_access_key: secret,
        session_token: session,
        source: format!("SSO profile `{name}` (role {role} in account {account})"),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn cache_file_names_are_the_sha1_of_the_session_or_url() {
        assert_eq!(
            super::cache_name("my-sso"),
            "0ad374308c5a4e22f723adf10145eafad7c4031c.json"
        );
        assert_eq!(
            super::cache_name("https://my-sso-portal.awsapps.com/start"),
            "c7aaaf71fcc8777ae2475525ed049d39fe16c484.json"
        );
    }
}
