//! Credential services: STS (`AssumeRole`, `AssumeRoleWithWebIdentity`), ECS container
//! credentials and EC2 instance metadata (IMDSv2).

use std::time::Duration;

use zeroize::Zeroizing;

use super::creds::Credentials;
use super::creds::profiles;
use super::http;
use super::http::Endpoint;
use super::http::Failure;
use super::http::Settings;
use super::sigv4;
use crate::keys::KeyContext;
use crate::keys::KeyError;

/// The DNS suffix of a region's partition.
pub(crate) fn dns_suffix(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else if region.starts_with("us-isob-") {
        "sc2s.sgov.gov"
    } else if region.starts_with("us-iso-") {
        "c2s.ic.gov"
    } else {
        "amazonaws.com"
    }
}

/// An endpoint set in the environment for `service`: `AWS_ENDPOINT_URL_<SERVICE>`, then
/// `AWS_ENDPOINT_URL` (as the AWS SDKs read them).
pub(crate) fn endpoint_override(
    ctx: &KeyContext,
    service: &str,
) -> Option<Result<Endpoint, KeyError>> {
    let specific = format!("AWS_ENDPOINT_URL_{}", service.to_ascii_uppercase());
    for var in [specific.as_str(), "AWS_ENDPOINT_URL"] {
        if let Some(url) = ctx.var(var) {
            return Some((|| {
                crate::keys::rest::check_plain_http(ctx, url).map_err(|e| KeyError {
                    message: format!("{} (the endpoint of {var})", e.message),
                    hint: e.hint,
                })?;
                Endpoint::parse(url).map_err(|e| {
                    KeyError::with_hint(format!("{e} (from {var})"), format!("fix {var}"))
                })
            })());
        }
    }
    None
}

/// Whether FIPS endpoints are asked for: `AWS_USE_FIPS_ENDPOINT`, else the active
/// profile's `use_fips_endpoint` (the entry's `aws_profile`, `AWS_PROFILE`, `default`).
pub(crate) fn use_fips(ctx: &KeyContext, profile: Option<&str>) -> bool {
    match ctx.var("AWS_USE_FIPS_ENDPOINT") {
        Some(v) => profiles::is_true(v),
        None => profiles::setting(ctx, profile, "use_fips_endpoint")
            .is_some_and(|v| profiles::is_true(&v)),
    }
}

/// The endpoint of `service` (`kms`, `sts`): [`endpoint_override`], else
/// `https://<service>[-fips].<region>.<partition suffix>/`.
pub(crate) fn service_endpoint(
    ctx: &KeyContext,
    service: &str,
    region: &str,
    fips: bool,
) -> Result<Endpoint, KeyError> {
    if let Some(ep) = endpoint_override(ctx, service) {
        return ep;
    }
    let host = if fips {
        format!("{service}-fips")
    } else {
        service.to_owned()
    };
    let url = format!("https://{host}.{region}.{}/", dns_suffix(region));
    Endpoint::parse(&url).map_err(KeyError::new)
}

/// The STS session name for the entry's `role`: `sops@<hostname>`, restricted to the
/// characters STS accepts and 64 characters.
pub(crate) fn session_name() -> String {
    let host = ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    let name: String = format!("sops@{host}")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(*c))
        .take(64)
        .collect();
    name
}

fn describe(f: &Failure, what: &str) -> KeyError {
    let hint = match f.code() {
        Some("AccessDenied") => "check that the role's trust policy allows these credentials",
        Some("InvalidIdentityToken" | "ExpiredTokenException" | "ExpiredToken") => {
            "the web identity token is invalid or expired; check AWS_WEB_IDENTITY_TOKEN_FILE"
        }
        Some(_) => "check the role ARN and your AWS credentials",
        None => "check network access to STS, or set AWS_ENDPOINT_URL_STS",
    };
    KeyError::with_hint(format!("{what} failed: {}", f.describe()), hint)
}

fn parse_sts_credentials(body: &[u8], source: String) -> Result<Credentials, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the STS response is not UTF-8".to_owned())?;
    let text = Zeroizing::new(text.to_owned());
    let block = http::xml_tag(&text, "Credentials")
        .map(Zeroizing::new)
        .ok_or_else(|| "the STS response has no <Credentials>".to_owned())?;
    let field = |tag: &str| {
        http::xml_tag(&block, tag)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("the STS response has no <{tag}>"))
    };
    Ok(Credentials {
        access_key_id: field("AccessKeyId")?,
        secret_access_key: Zeroizing::new(field("SecretAccessKey")?),
        session_token: Some(Zeroizing::new(field("SessionToken")?)),
        source,
    })
}

fn sts_call(
    ctx: &KeyContext,
    region: &str,
    form: &Zeroizing<String>,
    signer: Option<&Credentials>,
    secrets: &[&str],
    what: &str,
    source: String,
) -> Result<Credentials, KeyError> {
    let ep = service_endpoint(ctx, "sts", region, use_fips(ctx, None))?;
    let payload_hash = sigv4::sha256_hex(form.as_bytes());
    let headers = || {
        sigv4::signed_headers(
            signer,
            (region, "sts"),
            "POST",
            (&ep.authority, &ep.path),
            &[(
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )],
            &payload_hash,
        )
    };
    let settings = Settings::from_ctx(ctx);
    let resp = http::send(
        ctx,
        settings,
        "POST",
        &ep,
        &headers,
        form.as_bytes(),
        secrets,
    )
    .map_err(|f| describe(&f, what))?;
    parse_sts_credentials(&resp.body, source)
        .map_err(|e| KeyError::with_hint(format!("{what}: {e}"), "check AWS_ENDPOINT_URL_STS"))
}

/// STS `AssumeRole` with `base` credentials.
pub(crate) fn assume_role(
    ctx: &KeyContext,
    base: &Credentials,
    role_arn: &str,
    session: &str,
    external_id: Option<&str>,
    region: &str,
) -> Result<Credentials, KeyError> {
    let mut pairs = vec![
        ("Action", "AssumeRole"),
        ("Version", "2011-06-15"),
        ("RoleArn", role_arn),
        ("RoleSessionName", session),
    ];
    if let Some(id) = external_id {
        pairs.push(("ExternalId", id));
    }
    let form = Zeroizing::new(sigv4::form_encode(&pairs));
    let mut secrets = vec![base.secret_access_key.as_str()];
    if let Some(t) = &base.session_token {
        secrets.push(t.as_str());
    }
    // The role may come from a file's metadata (`role`): shown as key ids are.
    let shown = crate::redact::display_id(role_arn);
    sts_call(
        ctx,
        region,
        &form,
        Some(base),
        &secrets,
        &format!("assuming role {shown} with {}", base.source),
        format!("role {shown} assumed with {}", base.source),
    )
}

/// STS `AssumeRoleWithWebIdentity` (unsigned) with the token in `token_file`.
pub(crate) fn assume_role_with_web_identity(
    ctx: &KeyContext,
    role_arn: &str,
    token_file: &str,
    session: &str,
    region: &str,
) -> Result<Credentials, KeyError> {
    let token = std::fs::read_to_string(token_file)
        .map(Zeroizing::new)
        .map_err(|e| {
            KeyError::with_hint(
                format!(
                    "cannot read the web identity token file {token_file}: {}",
                    e.kind()
                ),
                "check AWS_WEB_IDENTITY_TOKEN_FILE / web_identity_token_file",
            )
        })?;
    let token = token.trim();
    let form = Zeroizing::new(sigv4::form_encode(&[
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", "2011-06-15"),
        ("RoleArn", role_arn),
        ("RoleSessionName", session),
        ("WebIdentityToken", token),
    ]));
    sts_call(
        ctx,
        region,
        &form,
        None,
        &[token],
        &format!("web identity (AssumeRoleWithWebIdentity for {role_arn})"),
        format!("web identity role {role_arn}"),
    )
}

fn json_credentials(body: &[u8], source: &str) -> Result<Credentials, KeyError> {
    let bad = || {
        KeyError::with_hint(
            format!("{source} returned a malformed credentials document"),
            "check the credentials endpoint",
        )
    };
    let mut v: serde_json::Value = serde_json::from_slice(body).map_err(|_| bad())?;
    let mut take = |k: &str| match v.get_mut(k).map(serde_json::Value::take) {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Some(Zeroizing::new(s)),
        _ => None,
    };
    let id = take("AccessKeyId").ok_or_else(bad)?;
    let secret = take("SecretAccessKey").ok_or_else(bad)?;
    let token = take("Token").or_else(|| take("SessionToken"));
    Ok(Credentials {
        access_key_id: id.as_str().to_owned(),
        secret_access_key: secret,
        session_token: token,
        source: source.to_owned(),
    })
}

/// Parses the JSON a `credential_process` prints.
pub(crate) fn process_credentials(body: &[u8], source: &str) -> Result<Credentials, KeyError> {
    json_credentials(body, source)
}

/// ECS/EKS container credentials (`AWS_CONTAINER_CREDENTIALS_FULL_URI` or
/// `_RELATIVE_URI`, optional `AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE]`).
pub(crate) fn container(ctx: &KeyContext) -> Option<Result<Credentials, KeyError>> {
    let source = if ctx.var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE").is_some()
        && ctx.var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").is_none()
    {
        "EKS Pod Identity / container credentials (AWS_CONTAINER_CREDENTIALS_FULL_URI)"
    } else if ctx.var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").is_some() {
        "ECS container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI)"
    } else {
        "container credentials (AWS_CONTAINER_CREDENTIALS_FULL_URI)"
    };
    let url = if let Some(rel) = ctx.var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
        format!("http://169.254.170.2{rel}")
    } else {
        ctx.var("AWS_CONTAINER_CREDENTIALS_FULL_URI")?.to_owned()
    };
    Some((|| {
        let ep = Endpoint::parse(&url).map_err(|e| KeyError::new(format!("{source}: {e}")))?;
        let allowed = ep.scheme == "https"
            || ep.is_loopback()
            || ["169.254.170.2", "169.254.170.23", "fd00:ec2::23"].contains(&ep.host.as_str());
        if !allowed {
            return Err(KeyError::with_hint(
                format!(
                    "{source}: plain-http endpoint {} is not a loopback or ECS/EKS address",
                    crate::redact::display_id(&ep.host)
                ),
                "use https or a loopback address in AWS_CONTAINER_CREDENTIALS_FULL_URI",
            ));
        }
        let token = match ctx.var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") {
            Some(f) => Some(Zeroizing::new(
                std::fs::read_to_string(f)
                    .map_err(|e| {
                        KeyError::new(format!(
                            "{source}: cannot read the token file {f}: {}",
                            e.kind()
                        ))
                    })?
                    .trim()
                    .to_owned(),
            )),
            None => ctx
                .var("AWS_CONTAINER_AUTHORIZATION_TOKEN")
                .map(|t| Zeroizing::new(t.to_owned())),
        };
        let headers = || {
            let mut h = vec![("Host".to_owned(), ep.authority.clone())];
            if let Some(t) = &token {
                h.push(("Authorization".to_owned(), t.as_str().to_owned()));
            }
            h
        };
        let secrets: Vec<&str> = token.iter().map(|t| t.as_str()).collect();
        let resp = http::send(
            ctx,
            Settings::from_ctx(ctx),
            "GET",
            &ep,
            &headers,
            &[],
            &secrets,
        )
        .map_err(|f| {
            KeyError::with_hint(
                format!("{source} failed: {}", f.describe()),
                "check AWS_CONTAINER_CREDENTIALS_* and AWS_CONTAINER_AUTHORIZATION_TOKEN",
            )
        })?;
        json_credentials(&resp.body, source)
    })())
}

/// EC2 instance role credentials through IMDSv2, with a short timeout; `None` when
/// `AWS_EC2_METADATA_DISABLED=true`.
pub(crate) fn instance_metadata(ctx: &KeyContext) -> Option<Result<Credentials, KeyError>> {
    if ctx
        .var("AWS_EC2_METADATA_DISABLED")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return None;
    }
    let source = "EC2 instance metadata (IMDSv2)";
    let base = ctx
        .var("AWS_EC2_METADATA_SERVICE_ENDPOINT")
        .unwrap_or("http://169.254.169.254")
        .trim_end_matches('/')
        .to_owned();
    let settings = Settings {
        timeout: Duration::from_secs(1),
        attempts: 1,
        base_delay: Duration::from_millis(0),
    };
    let fail = |f: Failure| {
        KeyError::with_hint(
            format!("{source}: {}", f.describe()),
            "not on EC2? set AWS_EC2_METADATA_DISABLED=true and configure credentials",
        )
    };
    Some((|| {
        let ep = |p: &str| {
            Endpoint::parse(&format!("{base}{p}"))
                .map_err(|e| KeyError::new(format!("{source}: {e}")))
        };
        let token_ep = ep("/latest/api/token")?;
        let resp = http::send(
            ctx,
            settings,
            "PUT",
            &token_ep,
            &|| {
                vec![
                    ("Host".to_owned(), token_ep.authority.clone()),
                    (
                        "X-aws-ec2-metadata-token-ttl-seconds".to_owned(),
                        "21600".to_owned(),
                    ),
                ]
            },
            &[],
            &[],
        )
        .map_err(fail)?;
        let token = Zeroizing::new(String::from_utf8_lossy(&resp.body).trim().to_owned());
        let get = |e: &Endpoint| {
            http::send(
                ctx,
                settings,
                "GET",
                e,
                &|| {
                    vec![
                        ("Host".to_owned(), e.authority.clone()),
                        (
                            "X-aws-ec2-metadata-token".to_owned(),
                            token.as_str().to_owned(),
                        ),
                    ]
                },
                &[],
                &[token.as_str()],
            )
            .map_err(fail)
        };
        let roles_ep = ep("/latest/meta-data/iam/security-credentials/")?;
        let roles = get(&roles_ep)?;
        let role = String::from_utf8_lossy(&roles.body)
            .lines()
            .next()
            .map(|l| l.trim().to_owned())
            .filter(|r| !r.is_empty() && !r.contains(['/', '?', '#']))
            .ok_or_else(|| KeyError::new(format!("{source}: no instance role attached")))?;
        let creds_ep = ep(&format!(
            "/latest/meta-data/iam/security-credentials/{role}"
        ))?;
        let creds = get(&creds_ep)?;
        json_credentials(&creds.body, source)
    })())
}
