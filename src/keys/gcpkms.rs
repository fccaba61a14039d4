//! The GCP Cloud KMS key source (`gcp_kms`), over the REST API.
//!
//! `enc` is the standard base64 `ciphertext` that
//! `POST {endpoint}/v1/{resource_id}:encrypt` returns for the base64 data key; unwrapping
//! posts it to `:decrypt` (spec 7.3). The endpoint is `https://cloudkms.googleapis.com`,
//! or `SOPS_GCP_KMS_ENDPOINT`, or `https://cloudkms.<SOPS_GCP_KMS_UNIVERSE_DOMAIN>`.
//! Access tokens come from the sources described in [`token`].

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
use crate::keys::rest;
use crate::keys::rest::Client;
use crate::keys::rest::Request;

mod external;
mod probe;
#[cfg(test)]
mod tests;
pub mod token;

/// The endpoint variable (sops's name).
pub const ENDPOINT_VAR: &str = "SOPS_GCP_KMS_ENDPOINT";
/// The universe-domain variable (sops's name).
pub const UNIVERSE_VAR: &str = "SOPS_GCP_KMS_UNIVERSE_DOMAIN";
/// The Cloud KMS endpoint used when `SOPS_GCP_KMS_ENDPOINT` is not set.
pub const DEFAULT_ENDPOINT: &str = "https://cloudkms.googleapis.com";

/// A `gcp_kms` master key: a Cloud KMS crypto key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcpKmsKey {
    resource_id: String,
}

impl GcpKmsKey {
    /// Parses a resource ID `projects/P/locations/L/keyRings/R/cryptoKeys/K` (spaces
    /// removed, as sops does).
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        let id: String = s.chars().filter(|c| *c != ' ').collect();
        let id = id.trim();
        let parts: Vec<&str> = id.split('/').collect();
        let shape_ok = parts.len() == 8
            && parts.iter().step_by(2).copied().eq([
                "projects",
                "locations",
                "keyRings",
                "cryptoKeys",
            ])
            && parts.iter().skip(1).step_by(2).all(|p| valid_segment(p));
        if !shape_ok {
            return Err(KeyError::with_hint(
                format!(
                    "invalid GCP KMS resource ID `{}`",
                    crate::redact::display_id(id)
                ),
                "write it as projects/<project>/locations/<location>/keyRings/<ring>/cryptoKeys/<key> \
                 (`gcloud kms keys list --format='value(name)'` prints it)",
            ));
        }
        Ok(GcpKmsKey {
            resource_id: id.to_owned(),
        })
    }

    /// Parses a metadata entry (`resource_id`).
    pub fn from_fields(entry: &KeyFields) -> Result<Self, KeyError> {
        let id = entry
            .get("resource_id")
            .and_then(FieldValue::as_str)
            .ok_or_else(|| KeyError::new("gcp_kms entry without `resource_id`"))?;
        Self::parse(id)
    }

    /// The resource ID.
    pub fn resource_id(&self) -> &str {
        &self.resource_id
    }

    /// Posts `body` to `:{op}` and returns the string field `field` of the reply.
    fn call(
        &self,
        ctx: &KeyContext,
        op: &str,
        body: Zeroizing<String>,
        field: &str,
    ) -> Result<Zeroizing<String>, KeyError> {
        let what = super::rest::op_phrase(op);
        rest::check_plain_http(ctx, &endpoint(ctx)).map_err(|e| KeyError {
            message: format!(
                "cannot {what} with GCP KMS key {}: {}",
                self.display_id(),
                e.message
            ),
            hint: e.hint,
        })?;
        let tok = token::access_token(ctx).map_err(|e| KeyError {
            message: format!(
                "cannot {what} with GCP KMS key {}: {}",
                self.display_id(),
                e.message
            ),
            hint: e.hint,
        })?;
        let url = format!("{}/v1/{}:{op}", endpoint(ctx), self.resource_id);
        let auth = Zeroizing::new(format!("Bearer {}", tok.value.as_str()));
        let req = Request::post(&url, rest::Body::Json(body)).header("Authorization", &auth);
        let reply = Client::get(ctx).send(&req).map_err(|e| {
            KeyError::with_hint(
                format!(
                    "cannot {what} with GCP KMS key {}: {}",
                    self.display_id(),
                    e.about(&endpoint(ctx))
                ),
                format!("check your network or proxy, and {ENDPOINT_VAR} if you set it"),
            )
        })?;
        if !reply.ok() {
            let hint = match reply.status {
                401 => "the access token was rejected: refresh your credentials \
                        (`gcloud auth application-default login`) or check GOOGLE_CREDENTIALS"
                    .to_owned(),
                403 => format!(
                    "grant the caller the Cloud KMS CryptoKey Encrypter/Decrypter role \
                     (roles/cloudkms.cryptoKeyEncrypterDecrypter) on {}",
                    self.display_id()
                ),
                404 => {
                    "check the resource ID (project, location, key ring and key name)".to_owned()
                }
                400 if op == "decrypt" => "the `enc` value may be damaged, or was made with \
                                           another key"
                    .to_owned(),
                _ => "try again later".to_owned(),
            };
            return Err(KeyError::with_hint(
                format!(
                    "cannot {what} with GCP KMS key {} (token from {}): {}",
                    self.display_id(),
                    tok.source,
                    reply.describe()
                ),
                hint,
            ));
        }
        let bad = |why: String| {
            KeyError::new(format!(
                "cannot {what} with GCP KMS key {}: {why}",
                self.display_id()
            ))
        };
        let mut json = reply.json().map_err(bad)?;
        rest::take_string(&mut json, field)
            .ok_or_else(|| bad(format!("the response has no `{field}`")))
    }
}

/// The KMS endpoint of this context, without a trailing `/`.
pub fn endpoint(ctx: &KeyContext) -> String {
    if let Some(e) = ctx.var(ENDPOINT_VAR) {
        let e = e.trim().trim_end_matches('/');
        return if e.contains("://") {
            e.to_owned()
        } else {
            format!("https://{e}")
        };
    }
    if let Some(ud) = ctx.var(UNIVERSE_VAR) {
        return format!("https://cloudkms.{}", ud.trim().trim_matches('.'));
    }
    DEFAULT_ENDPOINT.to_owned()
}

/// A resource-name segment: letters, digits, `-`, `_`, `.` and `:` (legacy
/// `domain:project` IDs); nothing that would change the URL.
fn valid_segment(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

impl MasterKey for GcpKmsKey {
    fn kind(&self) -> KeyKind {
        KeyKind::GcpKms
    }

    fn id(&self) -> String {
        self.resource_id.clone()
    }

    fn wrap(&self, secret: &[u8], ctx: &KeyContext) -> Result<String, KeyError> {
        let encoded = Zeroizing::new(STANDARD.encode(secret));
        let body = rest::json_object(&[("plaintext", encoded.as_str())]);
        let ct = self.call(ctx, "encrypt", body, "ciphertext")?;
        let raw = STANDARD.decode(ct.as_bytes()).map_err(|_| {
            KeyError::new(format!(
                "cannot encrypt the data key with GCP KMS key {}: the ciphertext is not base64",
                self.display_id()
            ))
        })?;
        Ok(STANDARD.encode(raw))
    }

    fn unwrap(&self, enc: &str, ctx: &KeyContext) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let enc = enc.trim();
        if enc.is_empty() || STANDARD.decode(enc).is_err() {
            return Err(KeyError::with_hint(
                format!("the gcp_kms `enc` of {} is not base64", self.display_id()),
                "the metadata may have been edited or damaged",
            ));
        }
        let body = rest::json_object(&[("ciphertext", enc)]);
        let plain = self.call(ctx, "decrypt", body, "plaintext")?;
        STANDARD
            .decode(plain.as_bytes())
            .map(Zeroizing::new)
            .map_err(|_| {
                KeyError::new(format!(
                    "cannot decrypt the data key with GCP KMS key {}: the plaintext is not base64",
                    self.display_id()
                ))
            })
    }

    fn fields(&self) -> KeyFields {
        let mut entry = KeyFields::new();
        entry.push_str("resource_id", self.resource_id.as_str());
        entry
    }
    /// The credential source the chain picks, then a `cryptoKeys.get` of the key (see `gcpkms/probe.rs`).
    fn probe(&self, ctx: &KeyContext) -> Probe {
        self.probe_key(ctx)
    }
}
