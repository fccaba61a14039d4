//! The HuaweiCloud KMS key source (`hckms`), as sops 3.12+ has it.
//!
//! A key is `region:key-uuid` (e.g. `tr-west-1:1234abcd-…`). Wrapping posts the base64
//! data key as `plain_text` to `POST {endpoint}/v1.0/{project_id}/kms/encrypt-data`
//! (`encryption_algorithm` `SYMMETRIC_DEFAULT`) and stores the returned `cipher_text` as
//! `enc`; unwrapping posts `cipher_text` to `…/kms/decrypt-data` and base64-decodes the
//! returned `plain_text`. The metadata entry is `key_id`, `created_at`, `enc`.
//!
//! Requests are signed with the AK/SK algorithm `SDK-HMAC-SHA256` (the `sign` submodule).
//! Credentials come from the variables the HuaweiCloud SDK reads: `HUAWEICLOUD_SDK_AK`,
//! `HUAWEICLOUD_SDK_SK`, `HUAWEICLOUD_SDK_PROJECT_ID` and, for temporary credentials,
//! `HUAWEICLOUD_SDK_SECURITY_TOKEN`. The endpoint is the SDK's for the region
//! (`https://kms.{region}.myhuaweicloud.com`, `.eu` for `eu-west-101`), or the SDK's
//! per-region override `HUAWEICLOUD_SDK_REGION_KMS_{REGION}` (upper case, `-` → `_`; the
//! first of a comma-separated list).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::keys::FieldValue;
use crate::keys::KeyContext;
use crate::keys::KeyError;
use crate::keys::KeyFields;
use crate::keys::KeyKind;
use crate::keys::MasterKey;
use crate::keys::Probe;
use crate::keys::awskms::http::Endpoint;
use crate::keys::awskms::sigv4::amz_date;
use crate::keys::rest;
use crate::keys::rest::Client;
use crate::keys::rest::Request;
use crate::time::Timestamp;

mod probe;
pub(crate) mod sign;
#[cfg(test)]
mod tests;

/// The access-key variable (the HuaweiCloud SDK's name).
pub const AK_VAR: &str = "HUAWEICLOUD_SDK_AK";
/// The secret-key variable.
pub const SK_VAR: &str = "HUAWEICLOUD_SDK_SK";
/// The project-ID variable.
pub const PROJECT_VAR: &str = "HUAWEICLOUD_SDK_PROJECT_ID";
/// The security-token variable (temporary credentials).
pub const TOKEN_VAR: &str = "HUAWEICLOUD_SDK_SECURITY_TOKEN";
/// The variable sops reads `--hckms` from.
pub const IDS_VAR: &str = "SOPS_HUAWEICLOUD_KMS_IDS";

/// An `hckms` master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HckmsKey {
    key_id: String,
    region: String,
    key_uuid: String,
}

impl HckmsKey {
    /// Parses `region:key-uuid` (surrounding spaces removed, as sops does).
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        let id = s.trim();
        let bad = |why: &str| {
            KeyError::with_hint(
                format!(
                    "invalid HuaweiCloud KMS key ID `{}`: {why}",
                    crate::redact::display_id(id)
                ),
                "write it as region:key-uuid, e.g. tr-west-1:0d0466b0-e727-4d9c-b35d-f84bb474a37f \
                 (the region and the key ID shown in the KMS console)",
            )
        };
        let Some((region, uuid)) = id.split_once(':') else {
            return Err(bad("expected region:key-uuid"));
        };
        let (region, uuid) = (region.trim(), uuid.trim());
        if region.is_empty() {
            return Err(bad("the region is empty"));
        }
        if uuid.is_empty() {
            return Err(bad("the key UUID is empty"));
        }
        // Both end up in a host name or a request body: nothing that would change them.
        if !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(bad("the region may hold only a-z, 0-9 and -"));
        }
        if !uuid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(bad("the key UUID may hold only letters, digits, - and _"));
        }
        Ok(HckmsKey {
            key_id: id.to_owned(),
            region: region.to_owned(),
            key_uuid: uuid.to_owned(),
        })
    }

    /// Parses a metadata entry or a policy `key_groups` entry (`key_id`).
    pub fn from_fields(entry: &KeyFields) -> Result<Self, KeyError> {
        let id = entry
            .get("key_id")
            .and_then(FieldValue::as_str)
            .ok_or_else(|| KeyError::new("hckms entry without `key_id`"))?;
        Self::parse(id)
    }

    /// The region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The key's UUID.
    pub fn key_uuid(&self) -> &str {
        &self.key_uuid
    }

    fn fail(&self, op: &str, why: impl std::fmt::Display) -> String {
        let what = if op.starts_with("encrypt") {
            "encrypt the data key with"
        } else if op.starts_with("decrypt") {
            "decrypt the data key with"
        } else {
            "check"
        };
        format!(
            "cannot {what} HuaweiCloud KMS key {}: {why}",
            self.display_id()
        )
    }

    /// Signs and posts `body` to `kms/{op}` and returns the string field `field`.
    fn call(
        &self,
        ctx: &KeyContext,
        op: &str,
        body: Zeroizing<String>,
        field: &str,
    ) -> Result<Zeroizing<String>, KeyError> {
        let (reply, project) = self.post(ctx, op, body)?;
        if !reply.ok() {
            return Err(self.reply_error(op, &reply, &project));
        }
        let mut json = reply.json().map_err(|e| KeyError::new(self.fail(op, e)))?;
        rest::take_string(&mut json, field)
            .ok_or_else(|| KeyError::new(self.fail(op, format!("the response has no `{field}`"))))
    }

    /// Signs and posts `body` to `kms/{op}`; the reply whatever its status, with the
    /// project ID used. Errors: no credentials, a bad endpoint, no answer.
    fn post(
        &self,
        ctx: &KeyContext,
        op: &str,
        body: Zeroizing<String>,
    ) -> Result<(rest::Reply, String), KeyError> {
        let creds = Credentials::from_ctx(ctx).map_err(|e| KeyError {
            message: self.fail(op, e.message),
            hint: e.hint,
        })?;
        let (base, from) = endpoint(ctx, &self.region).map_err(|e| KeyError {
            message: self.fail(op, e.message),
            hint: e.hint,
        })?;
        rest::check_plain_http(ctx, &base).map_err(|e| KeyError {
            message: self.fail(op, e.message),
            hint: e.hint,
        })?;
        let ep = Endpoint::parse(&base).map_err(|e| {
            KeyError::with_hint(self.fail(op, &e), format!("fix {from} (an https:// URL)"))
        })?;
        let path = format!(
            "{}/v1.0/{}/kms/{op}",
            ep.path.trim_end_matches('/'),
            creds.project_id
        );
        let url = format!("{}://{}{path}", ep.scheme, ep.authority);
        let date = amz_date(&Timestamp::now_utc());
        let mut signed: Vec<(&str, &str)> = vec![
            ("Content-Type", "application/json"),
            ("Host", &ep.authority),
            ("X-Project-Id", &creds.project_id),
            (sign::DATE_HEADER, &date),
        ];
        if let Some(t) = &creds.token {
            signed.push(("X-Security-Token", t.as_str()));
        }
        let auth = sign::authorization(
            &creds.ak,
            &creds.sk,
            &sign::Request {
                method: "POST",
                path: &path,
                query: &[],
                headers: &signed,
                body: body.as_bytes(),
            },
        );
        let mut req = Request::post(&url, rest::Body::Json(body))
            .header("Authorization", &auth)
            .secret(&creds.sk);
        // Content-Type is set by the client for JSON bodies, Host from the URL.
        for (k, v) in signed.iter().skip(2) {
            req = req.header(k, v);
        }
        let reply = Client::get(ctx).send(&req).map_err(|e| {
            KeyError::with_hint(
                self.fail(op, e.about(&ep.url())),
                format!("check your network or proxy, and {from} if you set it"),
            )
        })?;
        Ok((reply, creds.project_id))
    }

    /// The error for a reply that is not 2xx.
    fn reply_error(&self, op: &str, reply: &rest::Reply, project: &str) -> KeyError {
        let (code, _) = huawei_error(&reply.body);
        let hint = match (reply.status, code.as_deref()) {
            (401, _) | (_, Some("APIGW.0301" | "APIGW.0101")) => format!(
                "the signature or the credentials were rejected: check {AK_VAR}/{SK_VAR} \
                 (and {TOKEN_VAR} for temporary credentials) and the clock"
            ),
            (403, _) => format!(
                "grant the user KMS permissions (kms:cmk:encrypt / kms:cmk:decrypt) on \
                 key {} in project {project}",
                self.key_uuid
            ),
            (404, _) => format!(
                "check the key ID, its region ({}) and {PROJECT_VAR}",
                self.region
            ),
            (400, _) if op == "decrypt-data" => {
                "the `enc` value may be damaged, or was made with another key".to_owned()
            }
            _ => "try again later".to_owned(),
        };
        KeyError::with_hint(self.fail(op, describe_reply(reply)), hint)
    }
}

/// `HTTP 403 KMS.0203: message` from a HuaweiCloud error reply.
fn describe_reply(reply: &rest::Reply) -> String {
    let (code, msg) = huawei_error(&reply.body);
    let mut what = format!("HTTP {}", reply.status);
    if let Some(c) = code.map(|c| reply.shown(&c)).filter(|c| !c.is_empty()) {
        what.push(' ');
        what.push_str(&c);
    }
    if let Some(m) = msg.map(|m| reply.shown(&m)).filter(|m| !m.is_empty()) {
        what.push_str(": ");
        what.push_str(&m);
    }
    what
}

/// The KMS endpoint for `region` and where it came from (a variable name or "the
/// HuaweiCloud region table").
pub fn endpoint(ctx: &KeyContext, region: &str) -> Result<(String, String), KeyError> {
    let var = format!(
        "HUAWEICLOUD_SDK_REGION_KMS_{}",
        region.to_ascii_uppercase().replace('-', "_")
    );
    if let Some(v) = ctx.var(&var)
        && let Some(first) = v.split(',').map(str::trim).find(|s| !s.is_empty())
    {
        let first = first.trim_end_matches('/');
        let url = if first.contains("://") {
            first.to_owned()
        } else {
            format!("https://{first}")
        };
        return Ok((url, var));
    }
    if !KNOWN_REGIONS.contains(&region) {
        return Err(KeyError::with_hint(
            format!("region `{region}` is not a HuaweiCloud KMS region this build knows"),
            format!(
                "use one of {}, or set {var} to the KMS endpoint of that region",
                KNOWN_REGIONS.join(", ")
            ),
        ));
    }
    let suffix = if region == "eu-west-101" {
        "myhuaweicloud.eu"
    } else {
        "myhuaweicloud.com"
    };
    Ok((
        format!("https://kms.{region}.{suffix}"),
        "the HuaweiCloud region table".to_owned(),
    ))
}

/// The regions of the HuaweiCloud SDK's KMS region table.
pub const KNOWN_REGIONS: [&str; 21] = [
    "af-south-1",
    "ae-ad-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "cn-east-2",
    "cn-east-3",
    "cn-north-1",
    "cn-north-2",
    "cn-north-4",
    "cn-north-9",
    "cn-south-1",
    "cn-south-2",
    "cn-southwest-2",
    "eu-west-101",
    "la-north-2",
    "la-south-2",
    "na-mexico-1",
    "sa-brazil-1",
    "tr-west-1",
];

/// The error code and message of a HuaweiCloud error body
/// (`{"error": {"error_code", "error_msg"}}` or the flat API Gateway form), as the server
/// wrote them: shown only through [`rest::Reply::shown`].
fn huawei_error(body: &str) -> (Option<String>, Option<String>) {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        return (None, None);
    };
    let obj = v.get("error").unwrap_or(&v);
    let text = |k: &str| obj.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    (text("error_code"), text("error_msg"))
}

/// AK/SK credentials from the environment.
struct Credentials {
    ak: String,
    sk: Zeroizing<String>,
    project_id: String,
    token: Option<Zeroizing<String>>,
}

impl Credentials {
    fn from_ctx(ctx: &KeyContext) -> Result<Credentials, KeyError> {
        let (Some(ak), Some(sk)) = (ctx.var(AK_VAR), ctx.var(SK_VAR)) else {
            return Err(KeyError::with_hint(
                format!("no HuaweiCloud credentials: {AK_VAR} and {SK_VAR} are not both set"),
                format!(
                    "export {AK_VAR}, {SK_VAR} and {PROJECT_VAR} (an access key of an IAM user \
                     allowed to use the key, and the project of the key's region)"
                ),
            ));
        };
        let Some(project) = ctx.var(PROJECT_VAR) else {
            return Err(KeyError::with_hint(
                format!("{PROJECT_VAR} is not set"),
                format!(
                    "export {PROJECT_VAR} with the ID of the project of the key's region \
                     (My Credentials → API Credentials in the console)"
                ),
            ));
        };
        let project = project.trim();
        if project.is_empty()
            || !project
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(KeyError::with_hint(
                format!("{PROJECT_VAR} is not a project ID"),
                "a project ID holds only letters, digits, - and _",
            ));
        }
        Ok(Credentials {
            ak: ak.trim().to_owned(),
            sk: Zeroizing::new(sk.trim().to_owned()),
            project_id: project.to_owned(),
            token: ctx
                .var(TOKEN_VAR)
                .map(|t| Zeroizing::new(t.trim().to_owned())),
        })
    }
}

impl MasterKey for HckmsKey {
    fn kind(&self) -> KeyKind {
        KeyKind::Hckms
    }

    fn id(&self) -> String {
        self.key_id.clone()
    }

    fn wrap(&self, secret: &[u8], ctx: &KeyContext) -> Result<String, KeyError> {
        let encoded = Zeroizing::new(STANDARD.encode(secret));
        let body = rest::json_object(&[
            ("key_id", self.key_uuid.as_str()),
            ("plain_text", encoded.as_str()),
            ("encryption_algorithm", "SYMMETRIC_DEFAULT"),
        ]);
        let ct = self.call(ctx, "encrypt-data", body, "cipher_text")?;
        Ok(ct.as_str().to_owned())
    }

    fn unwrap(&self, enc: &str, ctx: &KeyContext) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let enc = enc.trim();
        if enc.is_empty() {
            return Err(KeyError::with_hint(
                format!("the hckms `enc` of {} is empty", self.display_id()),
                "the metadata may have been edited or damaged",
            ));
        }
        let body = rest::json_object(&[
            ("cipher_text", enc),
            ("encryption_algorithm", "SYMMETRIC_DEFAULT"),
            ("key_id", self.key_uuid.as_str()),
        ]);
        let plain = self.call(ctx, "decrypt-data", body, "plain_text")?;
        STANDARD
            .decode(plain.trim().as_bytes())
            .map(Zeroizing::new)
            .map_err(|_| {
                KeyError::new(self.fail(
                    "decrypt-data",
                    "the returned plain_text is not base64 (not a data key sops or leafseal wrapped)",
                ))
            })
    }

    fn fields(&self) -> KeyFields {
        let mut entry = KeyFields::new();
        entry.push_str("key_id", self.key_id.as_str());
        entry
    }

    /// Credential presence (AK/SK, project), then a signed `describe-key` (see
    /// `hckms/probe.rs`).
    fn probe(&self, ctx: &KeyContext) -> Probe {
        self.probe_key(ctx)
    }
}
