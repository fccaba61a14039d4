//! Google Cloud Storage: one JSON-API media upload,
//! `POST {endpoint}/upload/storage/v1/b/{bucket}/o?uploadType=media&name={object}`, with
//! an OAuth access token from the Google credential chain of the GCP KMS key source.
//!
//! The endpoint is `https://storage.googleapis.com`, or `LEAFSEAL_GCS_ENDPOINT` (same
//! request, token included), or `STORAGE_EMULATOR_HOST` (`host:port` or a URL; as
//! Google's client libraries do for the storage emulator, no token is sent).

use crate::error::Error;
use crate::error::exit;
use crate::keys::KeyContext;
use crate::keys::gcpkms::token;
use crate::keys::rest;
use crate::keys::rest::Client;
use crate::keys::rest::Request;

/// The default endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://storage.googleapis.com";
/// leafseal's endpoint override (the token is still sent).
pub const ENDPOINT_VAR: &str = "LEAFSEAL_GCS_ENDPOINT";
/// The storage emulator variable of Google's client libraries (no token is sent).
pub const EMULATOR_VAR: &str = "STORAGE_EMULATOR_HOST";

/// The endpoint, whether to send a token, and where the endpoint came from.
fn endpoint(ctx: &KeyContext) -> (String, bool, &'static str) {
    let norm = |s: &str, scheme: &str| {
        let s = s.trim().trim_end_matches('/');
        if s.contains("://") {
            s.to_owned()
        } else {
            format!("{scheme}://{s}")
        }
    };
    if let Some(e) = ctx.var(ENDPOINT_VAR) {
        return (norm(e, "https"), true, ENDPOINT_VAR);
    }
    if let Some(e) = ctx.var(EMULATOR_VAR) {
        return (norm(e, "http"), false, EMULATOR_VAR);
    }
    (DEFAULT_ENDPOINT.to_owned(), true, "the default endpoint")
}

/// The upload URL of `object` in `bucket`.
pub(crate) fn upload_url(base: &str, bucket: &str, object: &str) -> String {
    let mut url = format!("{base}/upload/storage/v1/b/");
    rest::encode_component(&mut url, bucket);
    url.push_str("/o?uploadType=media&name=");
    rest::encode_component(&mut url, object);
    url
}

/// Uploads `body` as `gcs://bucket/object`.
pub fn upload(ctx: &KeyContext, bucket: &str, object: &str, body: Vec<u8>) -> Result<(), Error> {
    let shown = format!("gcs://{bucket}/{object}");
    let fail = |why: String| Error::new(exit::GENERIC, format!("cannot publish to {shown}: {why}"));
    let (base, with_token, from) = endpoint(ctx);
    rest::check_plain_http(ctx, &base)
        .map_err(|e| fail(e.message).hint(e.hint.unwrap_or_default()))?;
    let tok = if with_token {
        Some(token::access_token(ctx).map_err(|e| {
            fail(e.message).hint(e.hint.unwrap_or_else(|| {
                "run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS"
                    .to_owned()
            }))
        })?)
    } else {
        None
    };
    let url = upload_url(&base, bucket, object);
    let auth = tok
        .as_ref()
        .map(|t| zeroize::Zeroizing::new(format!("Bearer {}", t.value.as_str())));
    let mut req = Request::post(&url, rest::Body::Raw(body, "application/octet-stream"));
    if let Some(a) = &auth {
        req = req.header("Authorization", a);
    }
    let reply = Client::get(ctx).send(&req).map_err(|e| {
        fail(e.about(&base)).hint(format!("check your network or proxy, and {from}"))
    })?;
    if !reply.ok() {
        let hint = match reply.status {
            401 => "the access token was rejected: refresh your credentials".to_owned(),
            403 => format!(
                "the caller needs storage.objects.create on the bucket `{bucket}` (Storage \
                 Object Creator), and storage.objects.delete to replace an existing object"
            ),
            404 => format!("check that the bucket `{bucket}` exists (gcs_bucket)"),
            _ => "try again later".to_owned(),
        };
        let source = tok.as_ref().map(|t| format!(" (token from {})", t.source));
        return Err(fail(format!(
            "{}{}",
            reply.describe(),
            source.unwrap_or_default()
        ))
        .hint(hint));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            upload_url("https://h", "my-bucket", "p/a b.yaml"),
            "https://h/upload/storage/v1/b/my-bucket/o?uploadType=media&name=p%2Fa%20b.yaml"
        );
    }
}
