//! The `kms` key source: AWS KMS `Encrypt`/`Decrypt` over the JSON 1.1 protocol, signed
//! with SigV4, over blocking HTTP.
//!
//! Credentials come from [`KeyContext`] only (see the `creds` module for the order). Endpoints can
//! be overridden with `AWS_ENDPOINT_URL_KMS` / `AWS_ENDPOINT_URL` (and `_STS`). Calls time
//! out after `LEAFSEAL_AWS_TIMEOUT_SECS` (10 s) and are retried up to `AWS_MAX_ATTEMPTS`
//! (3) times on network errors, 5xx and throttling, with exponential backoff starting at
//! `LEAFSEAL_AWS_RETRY_DELAY_MS` (200 ms). Errors name the key, the credential source,
//! the HTTP status and the AWS error code, never a secret.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::keys::FieldValue;
use crate::keys::KeyContext;
use crate::keys::KeyError;
use crate::keys::KeyFields;
use crate::keys::KeyKind;
use crate::keys::MasterKey;
use crate::keys::Probe;
use crate::keys::ProbeStatus;

pub(crate) mod creds;
pub(crate) mod http;
pub(crate) mod sigv4;
pub(crate) mod sts;
pub(crate) use sts::dns_suffix;
#[cfg(test)]
mod tests;

/// An AWS KMS master key: a key ARN, an optional role to assume, an encryption context
/// and an optional named profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsKey {
    arn: String,
    region: String,
    role: Option<String>,
    context: BTreeMap<String, String>,
    aws_profile: Option<String>,
}

const ARN_HINT: &str = "expected arn:aws:kms:<region>:<account>:key/<id> or …:alias/<name>, \
                        optionally followed by +<role ARN>";

/// The region of a KMS key ARN (`arn:aws[-*]:kms:<region>:<account>:(key|alias)/…`).
fn arn_region(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("kms"), Some(region), Some(account), Some(res)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let partition_ok = partition == "aws"
        || partition.strip_prefix("aws-").is_some_and(|p| {
            !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    let region_ok = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let account_ok = !account.is_empty() && account.bytes().all(|b| b.is_ascii_digit());
    let res_ok = ["key/", "alias/"]
        .iter()
        .any(|p| res.strip_prefix(p).is_some_and(|r| !r.is_empty()));
    let clean = !arn
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control());
    (partition_ok && region_ok && account_ok && res_ok && clean).then_some(region)
}

fn valid_role(role: &str) -> bool {
    let mut parts = role.splitn(6, ':');
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next()),
        (Some("arn"), Some(p), Some("iam"), Some(""), Some(_), Some(res))
            if p.starts_with("aws") && res.starts_with("role/") && res.len() > 5
    ) && !role
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
}

pub use super::kms_context::parse as parse_context;

/// A field of a metadata entry by its exact name (a JSON store renamed other cases of
/// it, as sops's JSON decoder reads them; go-yaml matches YAML names exactly).
fn field<'m>(entry: &'m KeyFields, name: &str) -> Option<&'m FieldValue> {
    entry.get(name)
}

impl KmsKey {
    /// A key from its parts. `arn` must be a KMS key or alias ARN (its region is used),
    /// `role` an IAM role ARN; an empty role or profile counts as none.
    pub fn new(
        arn: impl Into<String>,
        role: Option<String>,
        context: BTreeMap<String, String>,
        aws_profile: Option<String>,
    ) -> Result<KmsKey, KeyError> {
        let arn = arn.into().trim().to_owned();
        let region = arn_region(&arn)
            .ok_or_else(|| KeyError::with_hint("invalid AWS KMS key ARN", ARN_HINT))?
            .to_owned();
        let role = role.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
        if let Some(r) = &role
            && !valid_role(r)
        {
            return Err(KeyError::with_hint(
                format!(
                    "invalid IAM role ARN for KMS key {}",
                    crate::redact::display_id(&arn)
                ),
                "expected arn:aws:iam::<account>:role/<name>",
            ));
        }
        Ok(KmsKey {
            arn,
            region,
            role,
            context,
            aws_profile: aws_profile.filter(|p| !p.is_empty()),
        })
    }

    /// Parses the command-line / policy form `ARN` or `ARN+ROLE_ARN`.
    pub fn parse(s: &str) -> Result<KmsKey, KeyError> {
        let s = s.trim();
        let (arn, role) = match s.split_once('+') {
            Some((a, r)) => (a, Some(r.to_owned())),
            None => (s, None),
        };
        KmsKey::new(arn, role, BTreeMap::new(), None)
    }

    /// Parses `--kms` / `SOPS_KMS_ARN` (comma-separated `ARN[+ROLE]`), giving every key
    /// the same encryption context and profile (`--encryption-context`, `--aws-profile`).
    pub fn list_from_str(
        s: &str,
        context: &BTreeMap<String, String>,
        aws_profile: Option<&str>,
    ) -> Result<Vec<KmsKey>, KeyError> {
        s.split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| {
                Ok(KmsKey::parse(a)?
                    .with_context(context.clone())
                    .with_profile(aws_profile.map(str::to_owned)))
            })
            .collect()
    }

    /// The same key with this encryption context.
    pub fn with_context(mut self, context: BTreeMap<String, String>) -> KmsKey {
        self.context = context;
        self
    }

    /// The same key with this named profile (`None` or empty: the default chain).
    pub fn with_profile(mut self, aws_profile: Option<String>) -> KmsKey {
        self.aws_profile = aws_profile.filter(|p| !p.is_empty());
        self
    }

    /// Reads a metadata entry (`arn`, `role`, `context`, `aws_profile`), or a policy
    /// `key_groups` entry of the same shape.
    pub fn from_fields(entry: &KeyFields) -> Result<KmsKey, KeyError> {
        let arn = field(entry, "arn")
            .and_then(FieldValue::as_str)
            .ok_or_else(|| KeyError::new("kms entry without `arn`"))?;
        let string = |name: &str| -> Result<Option<String>, KeyError> {
            match field(entry, name) {
                None | Some(FieldValue::Null) => Ok(None),
                Some(v) => v
                    .scalar_text()
                    .map(Some)
                    .ok_or_else(|| KeyError::new(format!("kms entry: `{name}` must be a string"))),
            }
        };
        let role = string("role")?;
        let aws_profile = string("aws_profile")?;
        let mut context = BTreeMap::new();
        match field(entry, "context") {
            None | Some(FieldValue::Null) => {}
            Some(FieldValue::Map(m)) => {
                for (k, v) in m.iter() {
                    match v {
                        FieldValue::Null => {}
                        v => {
                            let v = v.scalar_text().ok_or_else(|| {
                                KeyError::new("kms entry: `context` values must be strings")
                            })?;
                            context.insert(k.to_owned(), v);
                        }
                    }
                }
            }
            Some(_) => return Err(KeyError::new("kms entry: `context` must be a mapping")),
        }
        KmsKey::new(arn, role, context, aws_profile)
    }

    /// The key ARN.
    pub fn arn(&self) -> &str {
        &self.arn
    }
    /// The region, from the ARN.
    pub fn region(&self) -> &str {
        &self.region
    }
    /// The role to assume first, if any.
    pub fn role(&self) -> Option<&str> {
        self.role.as_deref()
    }
    /// The encryption context.
    pub fn context(&self) -> &BTreeMap<String, String> {
        &self.context
    }
    /// The named profile, if any.
    pub fn aws_profile(&self) -> Option<&str> {
        self.aws_profile.as_deref()
    }

    fn context_json(&self) -> String {
        let obj: serde_json::Map<String, serde_json::Value> = self
            .context
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        serde_json::Value::Object(obj).to_string()
    }

    /// The ARN as messages show it ([`crate::redact::display_id`]).
    fn shown_arn(&self) -> std::borrow::Cow<'_, str> {
        crate::redact::display_id(&self.arn)
    }

    fn json_str(s: &str) -> String {
        serde_json::Value::String(s.to_owned()).to_string()
    }

    /// One KMS call (`Encrypt`, `Decrypt` or `DescribeKey`); `blob` is the field name and
    /// base64 value of the plaintext or ciphertext.
    fn call(
        &self,
        ctx: &KeyContext,
        action: &str,
        blob: Option<(&str, &str)>,
    ) -> Result<http::Response, KeyError> {
        let verb = match action {
            "Encrypt" => "encrypt the data key with",
            "Decrypt" => "decrypt the data key with",
            _ => "describe",
        };
        let creds =
            creds::resolve(ctx, self.aws_profile(), self.role(), &self.region).map_err(|e| {
                KeyError {
                    message: format!(
                        "cannot {verb} AWS KMS key {}: no usable credentials: {}",
                        self.shown_arn(),
                        e.message
                    ),
                    hint: e
                        .hint
                        .or_else(|| Some("check AWS_PROFILE / credentials".to_owned())),
                }
            })?;
        let ep = sts::service_endpoint(
            ctx,
            "kms",
            &self.region,
            sts::use_fips(ctx, self.aws_profile()),
        )?;
        let mut body = Zeroizing::new(format!("{{\"KeyId\":{}", Self::json_str(&self.arn)));
        if let Some((field, b64)) = blob {
            body.push_str(&format!(",\"{field}\":\"{b64}\""));
        }
        if !self.context.is_empty() && blob.is_some() {
            body.push_str(",\"EncryptionContext\":");
            body.push_str(&self.context_json());
        }
        body.push('}');
        let payload_hash = sigv4::sha256_hex(body.as_bytes());
        let target = format!("TrentService.{action}");
        let headers = || {
            sigv4::signed_headers(
                Some(&creds),
                (&self.region, "kms"),
                "POST",
                (&ep.authority, &ep.path),
                &[
                    ("Content-Type", "application/x-amz-json-1.1"),
                    ("X-Amz-Target", &target),
                ],
                &payload_hash,
            )
        };
        let mut secrets = vec![creds.secret_access_key.as_str()];
        if let Some((_, b64)) = blob {
            secrets.push(b64);
        }
        if let Some(t) = &creds.session_token {
            secrets.push(t.as_str());
        }
        let settings = http::Settings::from_ctx(ctx);
        http::send(ctx, settings, "POST", &ep, &headers, body.as_bytes(), &secrets).map_err(|f| {
            let hint = match (f.code(), f.status()) {
                (Some("InvalidCiphertextException"), _) => {
                    "the encryption context must match the one used to encrypt, and the data \
                     key must have been encrypted under this key"
                        .to_owned()
                }
                (Some("NotFoundException" | "InvalidArnException"), _) => {
                    format!("check the key ARN and its region ({})", self.region)
                }
                (Some("DisabledException" | "KMSInvalidStateException"), _) => {
                    "the key is disabled or pending deletion".to_owned()
                }
                (Some(c), _) if http::is_throttling(c) => {
                    "AWS KMS is throttling requests; retry later".to_owned()
                }
                (_, Some(429)) => "AWS KMS is throttling requests; retry later".to_owned(),
                (_, Some(s)) if s >= 500 => "AWS KMS had a server error; retry later".to_owned(),
                (Some(_), _) | (None, Some(_)) => format!(
                    "check AWS_PROFILE / credentials (used: {}) and that the key policy allows kms:{action}",
                    creds.source
                ),
                (None, None) => format!(
                    "check network access to {}, or set AWS_ENDPOINT_URL_KMS",
                    ep.url()
                ),
            };
            KeyError::with_hint(
                format!(
                    "cannot {verb} AWS KMS key {} (credentials: {}): {}",
                    self.shown_arn(),
                    creds.source,
                    f.describe()
                ),
                hint,
            )
        })
    }

    /// Takes a base64 string field out of a JSON response.
    fn response_field(
        &self,
        resp: &http::Response,
        name: &str,
        what: &str,
    ) -> Result<Zeroizing<String>, KeyError> {
        let malformed = || {
            KeyError::with_hint(
                format!(
                    "AWS KMS returned a malformed {what} response for key {}",
                    self.shown_arn()
                ),
                "check AWS_ENDPOINT_URL_KMS points at AWS KMS or a compatible service",
            )
        };
        let mut v: serde_json::Value =
            serde_json::from_slice(&resp.body).map_err(|_| malformed())?;
        match v.get_mut(name).map(serde_json::Value::take) {
            Some(serde_json::Value::String(s)) => Ok(Zeroizing::new(s)),
            _ => Err(malformed()),
        }
    }
}

impl MasterKey for KmsKey {
    fn kind(&self) -> KeyKind {
        KeyKind::Kms
    }

    fn id(&self) -> String {
        match &self.role {
            Some(r) => format!("{}+{r}", self.arn),
            None => self.arn.clone(),
        }
    }

    fn wrap(&self, secret: &[u8], ctx: &KeyContext) -> Result<String, KeyError> {
        let plain = Zeroizing::new(STANDARD.encode(secret));
        let resp = self.call(ctx, "Encrypt", Some(("Plaintext", &plain)))?;
        let blob = self.response_field(&resp, "CiphertextBlob", "Encrypt")?;
        match STANDARD.decode(blob.as_bytes()) {
            Ok(b) if !b.is_empty() => Ok(blob.as_str().to_owned()),
            _ => Err(KeyError::with_hint(
                format!(
                    "AWS KMS returned a malformed Encrypt response for key {}",
                    self.shown_arn()
                ),
                "check AWS_ENDPOINT_URL_KMS points at AWS KMS or a compatible service",
            )),
        }
    }

    fn unwrap(&self, enc: &str, ctx: &KeyContext) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let enc = enc.trim();
        if enc.is_empty() || STANDARD.decode(enc).is_err() {
            return Err(KeyError::with_hint(
                format!(
                    "the `enc` of AWS KMS key {} is not base64",
                    self.shown_arn()
                ),
                "the file's metadata is damaged",
            ));
        }
        let resp = self.call(ctx, "Decrypt", Some(("CiphertextBlob", enc)))?;
        let plain = self.response_field(&resp, "Plaintext", "Decrypt")?;
        STANDARD
            .decode(plain.as_bytes())
            .map(Zeroizing::new)
            .map_err(|_| {
                KeyError::with_hint(
                    format!(
                        "AWS KMS returned a malformed Decrypt response for key {}",
                        self.shown_arn()
                    ),
                    "check AWS_ENDPOINT_URL_KMS points at AWS KMS or a compatible service",
                )
            })
    }

    /// The credential chain's answer for this key (its `aws_profile`, `role`), then a
    /// `DescribeKey` call: it needs `kms:DescribeKey`, reads no key material and changes
    /// nothing.
    fn probe(&self, ctx: &KeyContext) -> Probe {
        let creds = match creds::resolve(ctx, self.aws_profile(), self.role(), &self.region) {
            Ok(c) => c,
            Err(e) => {
                return Probe {
                    source: None,
                    status: ProbeStatus::Failed(e),
                };
            }
        };
        let source = Some(creds.source.clone());
        let status = match self.call(ctx, "DescribeKey", None) {
            Ok(_) => ProbeStatus::Ok("KMS DescribeKey answered".to_owned()),
            Err(e) => ProbeStatus::Failed(e),
        };
        Probe { source, status }
    }

    fn fields(&self) -> KeyFields {
        let mut entry = KeyFields::new();
        entry.push_str("arn", self.arn.as_str());
        entry.push_str("aws_profile", self.aws_profile.as_deref().unwrap_or(""));
        if !self.context.is_empty() {
            let mut m = KeyFields::new();
            for (k, v) in &self.context {
                m.push_str(k.clone(), v.as_str());
            }
            entry.push("context", FieldValue::Map(m));
        }
        if let Some(r) = &self.role {
            entry.push_str("role", r.as_str());
        }
        entry
    }
}
