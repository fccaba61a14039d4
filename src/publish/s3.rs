//! S3 `PutObject` with AWS Signature Version 4, through the AWS key source's credential
//! chain, signer and HTTP layer.
//!
//! The region is `AWS_REGION`, else `AWS_DEFAULT_REGION`, else `us-east-1`. The endpoint
//! is `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL` (path-style:
//! `ENDPOINT/BUCKET/KEY`, as S3-compatible servers expect), else the regional AWS
//! endpoint (virtual-hosted: `https://BUCKET.s3.REGION.amazonaws.com/KEY`; path-style
//! for bucket names with dots, which the wildcard certificate does not cover).

use crate::error::Error;
use crate::error::exit;
use crate::keys::KeyContext;
use crate::keys::awskms::creds;
use crate::keys::awskms::http;
use crate::keys::awskms::http::Endpoint;
use crate::keys::awskms::sigv4;
use crate::keys::awskms::sts;

/// The region of S3 calls.
fn region(ctx: &KeyContext) -> String {
    ctx.var("AWS_REGION")
        .or_else(|| ctx.var("AWS_DEFAULT_REGION"))
        .unwrap_or("us-east-1")
        .trim()
        .to_owned()
}

/// `/`-separated segments, each SigV4-encoded.
fn encode_key(key: &str) -> String {
    key.split('/')
        .map(sigv4::uri_encode)
        .collect::<Vec<_>>()
        .join("/")
}

/// The endpoint of the object `bucket`/`key`.
pub(crate) fn object_endpoint(
    ctx: &KeyContext,
    region: &str,
    bucket: &str,
    key: &str,
) -> Result<Endpoint, Error> {
    let overridden =
        ctx.var("AWS_ENDPOINT_URL_S3").is_some() || ctx.var("AWS_ENDPOINT_URL").is_some();
    let base = sts::service_endpoint(ctx, "s3", region, sts::use_fips(ctx, None))
        .map_err(|e| Error::new(exit::GENERIC, e.message).hint(e.hint.unwrap_or_default()))?;
    let url = if overridden || bucket.contains('.') {
        format!(
            "{}://{}{}/{}/{}",
            base.scheme,
            base.authority,
            base.path.trim_end_matches('/'),
            sigv4::uri_encode(bucket),
            encode_key(key)
        )
    } else {
        format!(
            "{}://{}.{}{}{}",
            base.scheme,
            bucket,
            base.authority,
            base.path,
            encode_key(key)
        )
    };
    Endpoint::parse(&url).map_err(|e| Error::new(exit::GENERIC, e))
}

/// Uploads `body` as `s3://bucket/key`.
pub fn put_object(ctx: &KeyContext, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), Error> {
    let shown = format!("s3://{bucket}/{key}");
    if bucket.is_empty()
        || !bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    {
        return Err(Error::new(
            exit::GENERIC,
            format!("cannot publish to {shown}: `{bucket}` is not a valid S3 bucket name"),
        )
        .hint("fix s3_bucket in the destination rule (lower-case letters, digits, - and .)"));
    }
    let region = region(ctx);
    if region.is_empty()
        || !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(Error::new(
            exit::GENERIC,
            format!("cannot publish to {shown}: `{region}` is not an AWS region"),
        )
        .hint("fix AWS_REGION (or AWS_DEFAULT_REGION), e.g. eu-west-1"));
    }
    let creds = creds::resolve(ctx, None, None, &region).map_err(|e| {
        Error::new(
            exit::GENERIC,
            format!(
                "cannot publish to {shown}: no usable AWS credentials: {}",
                e.message
            ),
        )
        .hint(e.hint.unwrap_or_else(|| {
            "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY".to_owned()
        }))
    })?;
    let ep = object_endpoint(ctx, &region, bucket, key)?;
    let payload_hash = sigv4::sha256_hex(&body);
    let headers = || {
        sigv4::signed_headers(
            Some(&creds),
            (&region, "s3"),
            "PUT",
            (&ep.authority, &ep.path),
            &[
                ("Content-Type", "application/octet-stream"),
                ("X-Amz-Content-Sha256", &payload_hash),
            ],
            &payload_hash,
        )
    };
    let mut secrets = vec![creds.secret_access_key.as_str()];
    if let Some(t) = &creds.session_token {
        secrets.push(t.as_str());
    }
    http::send(
        ctx,
        http::Settings::from_ctx(ctx),
        "PUT",
        &ep,
        &headers,
        &body,
        &secrets,
    )
    .map(|_| ())
    .map_err(|f| {
        let hint = match (f.code(), f.status()) {
            (Some("NoSuchBucket"), _) => format!("create the bucket `{bucket}` or fix s3_bucket"),
            (Some("AccessDenied"), _) | (_, Some(403)) => format!(
                "the credentials ({}) need s3:PutObject on arn:aws:s3:::{bucket}/*",
                creds.source
            ),
            (_, Some(s)) if s >= 500 => "S3 had a server error; retry later".to_owned(),
            (_, None) => format!(
                "check network access to {}, or set AWS_ENDPOINT_URL_S3",
                ep.url()
            ),
            _ => format!("check the bucket, its region ({region}) and the credentials"),
        };
        Error::new(
            exit::GENERIC,
            format!(
                "cannot publish to {shown} (credentials: {}): {}",
                creds.source,
                f.describe()
            ),
        )
        .hint(hint)
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn endpoints() {
        let ctx = KeyContext::with_vars(HashMap::new());
        assert_eq!(
            object_endpoint(&ctx, "eu-west-1", "b", "p/a b.yaml")
                .expect("test value")
                .url(),
            "https://b.s3.eu-west-1.amazonaws.com/p/a%20b.yaml"
        );
        assert_eq!(
            object_endpoint(&ctx, "eu-west-1", "b.c", "k")
                .expect("test value")
                .url(),
            "https://s3.eu-west-1.amazonaws.com/b.c/k"
        );
        let ctx = KeyContext::with_vars(HashMap::from([(
            "AWS_ENDPOINT_URL_S3".to_owned(),
            "http://127.0.0.1:9000".to_owned(),
        )]));
        assert_eq!(
            object_endpoint(&ctx, "us-east-1", "b", "d/k.yaml")
                .expect("test value")
                .url(),
            "http://127.0.0.1:9000/b/d/k.yaml"
        );
    }
}
