//! AWS Signature Version 4 (header form), written against the published AWS SigV4 test
//! suite (see the tests at the end of this file).
//!
//! Only what KMS and STS need: any method, an already-normalised path, query pairs, headers
//! and a payload hash. The secret key never leaves this module except as an HMAC key.

use hmac::Hmac;
use hmac::Mac;
use sha2::Digest;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::creds::Credentials;
use crate::time::Timestamp;

/// The hex SHA-256 of `data`.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// Lower-case hexadecimal.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Zeroizing<[u8; 32]> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut out = Zeroizing::new([0u8; 32]);
    if let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key) {
        mac.update(data);
        out.copy_from_slice(&mac.finalize().into_bytes());
    }
    out
}

/// URI-encodes per SigV4: everything but `A-Za-z0-9-_.~` as `%XX` (upper-case hex),
/// the same encoding as a credential's form in a body (`redact::percent_encoded`).
pub(crate) fn uri_encode(s: &str) -> String {
    crate::redact::percent_encoded(s)
}

/// `application/x-www-form-urlencoded` body of `pairs` (SigV4 encoding, which AWS's
/// query protocol accepts).
pub(crate) fn form_encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", uri_encode(k), uri_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `YYYYMMDDTHHMMSSZ` of a UTC time.
pub(crate) fn amz_date(t: &Timestamp) -> String {
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

/// The parts of a request that are signed.
pub(crate) struct Request<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Normalised absolute path (`/`).
    pub path: &'a str,
    /// Decoded query parameters.
    pub query: &'a [(&'a str, &'a str)],
    /// Headers to sign, including `host` and `x-amz-date`.
    pub headers: &'a [(&'a str, &'a str)],
    /// Hex SHA-256 of the body.
    pub payload_hash: &'a str,
}

/// The credential scope and key material.
pub(crate) struct Signer<'a> {
    /// Access key ID (not secret; it appears in the Authorization header).
    pub access_key_id: &'a str,
    /// Secret access key.
    pub secret_access_key: &'a str,
    /// Region of the scope.
    pub region: &'a str,
    /// Service of the scope (`kms`, `sts`).
    pub service: &'a str,
    /// `YYYYMMDDTHHMMSSZ`.
    pub amz_date: &'a str,
}

/// The headers of an AWS request signed now: `Host`, `fixed` in order, `X-Amz-Date`, the
/// session token when `creds` has one, and `Authorization`. Without `creds` (STS's web
/// identity call) the request goes unsigned.
pub(crate) fn signed_headers(
    creds: Option<&Credentials>,
    scope: (&str, &str),
    method: &str,
    (authority, path): (&str, &str),
    fixed: &[(&str, &str)],
    payload_hash: &str,
) -> Vec<(String, String)> {
    let amz_date = amz_date(&Timestamp::now_utc());
    let mut h = vec![("Host".to_owned(), authority.to_owned())];
    h.extend(
        fixed
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    h.push(("X-Amz-Date".to_owned(), amz_date.clone()));
    let Some(c) = creds else {
        return h;
    };
    if let Some(t) = &c.session_token {
        h.push(("X-Amz-Security-Token".to_owned(), t.as_str().to_owned()));
    }
    let refs: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let auth = Signer {
        access_key_id: &c.access_key_id,
        secret_access_key: &c.secret_access_key,
        region: scope.0,
        service: scope.1,
        amz_date: &amz_date,
    }
    .authorization(&Request {
        method,
        path,
        query: &[],
        headers: &refs,
        payload_hash,
    });
    h.push(("Authorization".to_owned(), auth));
    h
}

/// Collapses runs of spaces and trims, as the canonical header form requires.
fn canonical_value(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The canonical request and the signed-headers list.
pub(crate) fn canonical_request(req: &Request<'_>) -> (String, String) {
    let mut query: Vec<(String, String)> = req
        .query
        .iter()
        .map(|(k, v)| (uri_encode(k), uri_encode(v)))
        .collect();
    query.sort();
    let query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    // Lower-case names, sorted; repeated names joined with commas in order.
    let mut headers: Vec<(String, String)> = Vec::new();
    for (name, value) in req.headers {
        let name = name.to_ascii_lowercase();
        let value = canonical_value(value);
        match headers.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => {
                v.push(',');
                v.push_str(&value);
            }
            None => headers.push((name, value)),
        }
    }
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    let signed = headers
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let mut canonical = format!("{}\n{}\n{}\n", req.method, req.path, query);
    for (n, v) in &headers {
        canonical.push_str(n);
        canonical.push(':');
        canonical.push_str(v);
        canonical.push('\n');
    }
    canonical.push('\n');
    canonical.push_str(&signed);
    canonical.push('\n');
    canonical.push_str(req.payload_hash);
    (canonical, signed)
}

impl Signer<'_> {
    fn date(&self) -> &str {
        self.amz_date.get(..8).unwrap_or(self.amz_date)
    }

    fn scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date(),
            self.region,
            self.service
        )
    }

    /// The string to sign for a canonical request.
    pub(crate) fn string_to_sign(&self, canonical: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256\n{}\n{}\n{}",
            self.amz_date,
            self.scope(),
            sha256_hex(canonical.as_bytes())
        )
    }

    /// The hex signature of a string to sign.
    pub(crate) fn signature(&self, string_to_sign: &str) -> String {
        let mut secret = Zeroizing::new(String::from("AWS4"));
        secret.push_str(self.secret_access_key);
        let k_date = hmac_sha256(secret.as_bytes(), self.date().as_bytes());
        let k_region = hmac_sha256(&*k_date, self.region.as_bytes());
        let k_service = hmac_sha256(&*k_region, self.service.as_bytes());
        let k_signing = hmac_sha256(&*k_service, b"aws4_request");
        hex(&*hmac_sha256(&*k_signing, string_to_sign.as_bytes()))
    }

    /// The `Authorization` header value for `req`.
    pub(crate) fn authorization(&self, req: &Request<'_>) -> String {
        let (canonical, signed) = canonical_request(req);
        let sts = self.string_to_sign(&canonical);
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{}, SignedHeaders={}, Signature={}",
            self.access_key_id,
            self.scope(),
            signed,
            self.signature(&sts)
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    //! Vectors from the AWS Signature Version 4 test suite (credentials `AKIDEXAMPLE`,
    //! region `us-east-1`, service `service`, 2015-08-30T12:36:00Z).

    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const HOST: (&str, &str) = ("Host", "example.amazonaws.com");
    const DATE: (&str, &str) = ("X-Amz-Date", "20150830T123600Z");

    fn signer() -> Signer<'static> {
        Signer {
            access_key_id: "AKIDEXAMPLE",
            secret_access_key: SECRET,
            region: "us-east-1",
            service: "service",
            amz_date: "20150830T123600Z",
        }
    }

    fn auth(signed: &str, sig: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders={signed}, Signature={sig}"
        )
    }

    #[test]
    fn get_vanilla() {
        let req = Request {
            method: "GET",
            path: "/",
            query: &[],
            headers: &[HOST, DATE],
            payload_hash: EMPTY,
        };
        let (creq, _) = canonical_request(&req);
        assert_eq!(
            creq,
            format!(
                "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n{EMPTY}"
            )
        );
        assert_eq!(
            signer().authorization(&req),
            auth(
                "host;x-amz-date",
                "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
            )
        );
    }

    #[test]
    fn get_vanilla_query_order_key_case() {
        let req = Request {
            method: "GET",
            path: "/",
            query: &[("Param2", "value2"), ("Param1", "value1")],
            headers: &[HOST, DATE],
            payload_hash: EMPTY,
        };
        assert_eq!(
            signer().authorization(&req),
            auth(
                "host;x-amz-date",
                "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
            )
        );
    }

    #[test]
    fn post_vanilla_and_query() {
        let mut req = Request {
            method: "POST",
            path: "/",
            query: &[],
            headers: &[HOST, DATE],
            payload_hash: EMPTY,
        };
        assert_eq!(
            signer().authorization(&req),
            auth(
                "host;x-amz-date",
                "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
            )
        );
        req.query = &[("Param1", "value1")];
        let (creq, _) = canonical_request(&req);
        assert_eq!(
            signer().string_to_sign(&creq),
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n\
             9d659678c1756bb3113e2ce898845a0a79dbbc57b740555917687f1b3340fbbd"
        );
        assert_eq!(
            signer().authorization(&req),
            auth(
                "host;x-amz-date",
                "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"
            )
        );
    }

    #[test]
    fn post_header_key_case_and_value_trim() {
        let req = Request {
            method: "POST",
            path: "/",
            query: &[],
            headers: &[HOST, ("MY-HEADER1", "  value1  "), DATE],
            payload_hash: EMPTY,
        };
        assert_eq!(
            signer().authorization(&req),
            auth(
                "host;my-header1;x-amz-date",
                "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"
            )
        );
    }

    #[test]
    fn post_x_www_form_urlencoded() {
        let body = b"Param1=value1";
        let hash = sha256_hex(body);
        let req = Request {
            method: "POST",
            path: "/",
            query: &[],
            headers: &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                HOST,
                DATE,
            ],
            payload_hash: &hash,
        };
        let (creq, _) = canonical_request(&req);
        assert_eq!(
            signer().string_to_sign(&creq),
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n\
             42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281"
        );
        assert_eq!(
            signer().authorization(&req),
            auth(
                "content-type;host;x-amz-date",
                "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"
            )
        );
    }

    #[test]
    fn post_sts_header_before() {
        let token = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";
        let req = Request {
            method: "POST",
            path: "/",
            query: &[],
            headers: &[HOST, DATE, ("X-Amz-Security-Token", token)],
            payload_hash: EMPTY,
        };
        let (creq, _) = canonical_request(&req);
        assert_eq!(
            signer().string_to_sign(&creq),
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n\
             c237e1b440d4c63c32ca95b5b99481081cb7b13c7e40434868e71567c1a882f6"
        );
        assert_eq!(
            signer().authorization(&req),
            auth(
                "host;x-amz-date;x-amz-security-token",
                "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"
            )
        );
    }

    #[test]
    fn encoding_helpers() {
        assert_eq!(
            uri_encode("a b/c~d_e.f-g+h=é"),
            "a%20b%2Fc~d_e.f-g%2Bh%3D%C3%A9"
        );
        assert_eq!(
            form_encode(&[("Action", "AssumeRole"), ("RoleSessionName", "sops@host")]),
            "Action=AssumeRole&RoleSessionName=sops%40host"
        );
        let t = Timestamp::from_unix(1_440_938_160);
        assert_eq!(amz_date(&t), "20150830T123600Z");
    }
}
