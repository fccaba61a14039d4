//! The loopback services of `doctor_probes.rs`: Google's token endpoint and Cloud KMS,
//! Entra ID and Key Vault, and a HuaweiCloud KMS that checks AK/SK signatures. Each
//! speaks the real REST shapes, including the key-metadata call the doctor makes, and
//! changes behaviour with a shared [`Mode`].

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU8;
use std::sync::atomic::Ordering;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Hmac;
use hmac::Mac;
use sha2::Digest;
use sha2::Sha256;

use super::support::hex;
use super::testhttp::Req;
use super::testhttp::Resp;
use super::testhttp::Server;

pub(crate) const GCP_RESOURCE: &str = "projects/p/locations/global/keyRings/r/cryptoKeys/k";

/// How a loopback server behaves: 0 everything works, 1 the metadata call is refused
/// (403), 2 the token endpoint refuses the credentials, 3 the key is gone / disabled.
pub(crate) type Mode = Arc<AtomicU8>;

pub(crate) fn mode() -> Mode {
    Arc::new(AtomicU8::new(0))
}

/// Google's token endpoint (refresh-token grant) and Cloud KMS for `GCP_RESOURCE`,
/// accepting only `Bearer user-token`.
pub(crate) fn google(mode: Mode) -> Server {
    Server::start(move |req: &Req| {
        let m = mode.load(Ordering::SeqCst);
        if req.method == "POST" && req.path() == "/token" {
            let form = req.form();
            let good = form.get("grant_type").map(String::as_str) == Some("refresh_token")
                && form.get("refresh_token").map(String::as_str) == Some("1//refresh");
            return if good && m != 2 {
                Resp::json(
                    200,
                    serde_json::json!({"access_token": "user-token", "expires_in": 3600}),
                )
            } else {
                Resp::json(
                    400,
                    serde_json::json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."}),
                )
            };
        }
        if req.header("authorization") != Some("Bearer user-token") {
            return Resp::json(
                401,
                serde_json::json!({"error": {"code": 401, "message": "wrong token", "status": "UNAUTHENTICATED"}}),
            );
        }
        let body = req.json();
        match (req.method.as_str(), req.path()) {
            ("GET", p) if p == format!("/v1/{GCP_RESOURCE}") => match m {
                1 => Resp::json(
                    403,
                    serde_json::json!({"error": {"code": 403, "message": "Permission 'cloudkms.cryptoKeys.get' denied", "status": "PERMISSION_DENIED"}}),
                ),
                3 => Resp::json(
                    404,
                    serde_json::json!({"error": {"code": 404, "message": "CryptoKey not found", "status": "NOT_FOUND"}}),
                ),
                _ => Resp::json(
                    200,
                    serde_json::json!({"name": GCP_RESOURCE, "purpose": "ENCRYPT_DECRYPT", "primary": {"name": format!("{GCP_RESOURCE}/cryptoKeyVersions/1"), "state": "ENABLED"}}),
                ),
            },
            ("POST", p) if p == format!("/v1/{GCP_RESOURCE}:encrypt") => {
                let plain = STANDARD
                    .decode(body["plaintext"].as_str().unwrap_or(""))
                    .unwrap_or_default();
                let mut wrapped = b"wrapped:".to_vec();
                wrapped.extend(plain);
                Resp::json(
                    200,
                    serde_json::json!({"ciphertext": STANDARD.encode(wrapped)}),
                )
            }
            ("POST", p) if p == format!("/v1/{GCP_RESOURCE}:decrypt") && m != 3 => {
                let c = STANDARD
                    .decode(body["ciphertext"].as_str().unwrap_or(""))
                    .unwrap_or_default();
                match c.strip_prefix(b"wrapped:") {
                    Some(p) => {
                        Resp::json(200, serde_json::json!({"plaintext": STANDARD.encode(p)}))
                    }
                    None => Resp::text(400, "bad ciphertext"),
                }
            }
            _ => Resp::json(
                404,
                serde_json::json!({"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}}),
            ),
        }
    })
}

pub(crate) const TENANT: &str = "tenant-1";
pub(crate) const CLIENT: &str = "app-id";
pub(crate) const AZ_SECRET: &str = "az-client-secret-value";

/// Entra ID's token endpoint (client secret) and Key Vault's key `k1/v1`, accepting only
/// `Bearer az-token`.
pub(crate) fn azure(mode: Mode) -> Server {
    Server::start(move |req: &Req| {
        let m = mode.load(Ordering::SeqCst);
        if req.method == "POST" && req.path() == format!("/{TENANT}/oauth2/v2.0/token") {
            let form = req.form();
            let f = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
            let good = f("grant_type") == "client_credentials"
                && f("client_id") == CLIENT
                && f("client_secret") == AZ_SECRET
                && f("scope") == "https://vault.azure.net/.default";
            return if good && m != 2 {
                Resp::json(
                    200,
                    serde_json::json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "az-token"}),
                )
            } else {
                Resp::json(
                    401,
                    serde_json::json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}),
                )
            };
        }
        if req.header("authorization") != Some("Bearer az-token") {
            return Resp::json(
                401,
                serde_json::json!({"error": {"code": "Unauthorized", "message": "wrong token"}}),
            );
        }
        let body = req.json();
        let value = URL_SAFE_NO_PAD
            .decode(body["value"].as_str().unwrap_or(""))
            .unwrap_or_default();
        match (req.method.as_str(), req.path()) {
            ("GET", "/keys/k1/v1") => {
                if req.query().get("api-version").map(String::as_str) != Some("7.4") {
                    return Resp::text(400, "api-version");
                }
                match m {
                    1 => Resp::json(
                        403,
                        serde_json::json!({"error": {"code": "Forbidden", "message": "The user does not have keys get permission on key vault"}}),
                    ),
                    3 => Resp::json(
                        200,
                        serde_json::json!({"key": {"kid": "k1", "kty": "RSA"}, "attributes": {"enabled": false}}),
                    ),
                    _ => Resp::json(
                        200,
                        serde_json::json!({"key": {"kid": "k1", "kty": "RSA", "key_ops": ["encrypt", "decrypt"]}, "attributes": {"enabled": true}}),
                    ),
                }
            }
            ("POST", "/keys/k1/v1/encrypt") => {
                let mut v = b"wrapped:".to_vec();
                v.extend(value);
                Resp::json(
                    200,
                    serde_json::json!({"kid": "k1", "value": URL_SAFE_NO_PAD.encode(v)}),
                )
            }
            ("POST", "/keys/k1/v1/decrypt") if m != 3 => match value.strip_prefix(b"wrapped:") {
                Some(p) => Resp::json(
                    200,
                    serde_json::json!({"kid": "k1", "value": URL_SAFE_NO_PAD.encode(p)}),
                ),
                None => Resp::text(400, "bad ciphertext"),
            },
            _ => Resp::json(
                403,
                serde_json::json!({"error": {"code": "Forbidden", "message": "Operation is not allowed"}}),
            ),
        }
    })
}

pub(crate) const AK: &str = "HPUAEXAMPLEACCESSKEY";
pub(crate) const SK: &str = "sk-never-printed-0123456789abcdef";
pub(crate) const PROJECT: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
pub(crate) const UUID: &str = "0d0466b0-e727-4d9c-b35d-f84bb474a37f";

/// Percent-encoding of the signing algorithm: unreserved kept, the rest `%XX`.
fn esc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Whether `req` carries a valid `SDK-HMAC-SHA256` signature made with `SK`, recomputed
/// here from the request as received.
fn signed_ok(req: &Req) -> bool {
    let Some(rest) = req
        .header("authorization")
        .and_then(|a| a.strip_prefix("SDK-HMAC-SHA256 "))
    else {
        return false;
    };
    let parts: HashMap<&str, &str> = rest.split(", ").filter_map(|p| p.split_once('=')).collect();
    if parts.get("Access") != Some(&AK) {
        return false;
    }
    let Some(signed) = parts.get("SignedHeaders") else {
        return false;
    };
    let signed: Vec<&str> = signed.split(';').collect();
    let mut headers = String::new();
    for name in &signed {
        let Some(v) = req.header(name) else {
            return false;
        };
        headers.push_str(&format!("{name}:{}\n", v.trim()));
    }
    let mut uri: String = req.path().split('/').map(esc).collect::<Vec<_>>().join("/");
    if !uri.ends_with('/') {
        uri.push('/');
    }
    let canonical = format!(
        "{}\n{uri}\n\n{headers}\n{}\n{:x}",
        req.method,
        signed.join(";"),
        Sha256::digest(&req.body)
    );
    let date = req.header("x-sdk-date").unwrap_or("");
    let sts = format!(
        "SDK-HMAC-SHA256\n{date}\n{:x}",
        Sha256::digest(canonical.as_bytes())
    );
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(SK.as_bytes()) else {
        return false;
    };
    mac.update(sts.as_bytes());
    parts.get("Signature") == Some(&hex(&mac.finalize().into_bytes()).as_str())
}

fn hw_err(status: u16, code: &str, msg: &str) -> Resp {
    Resp::json(
        status,
        serde_json::json!({"error": {"error_code": code, "error_msg": msg}}),
    )
}

/// A KMS holding key `UUID` ("encryption": base64 of `uuid|plaintext`) that answers
/// `describe-key`; mode 1 refuses it (403), mode 3 says the key is disabled.
pub(crate) fn huawei(mode: Mode) -> Server {
    Server::start(move |req: &Req| {
        if !signed_ok(req) {
            return hw_err(
                401,
                "APIGW.0301",
                "Incorrect IAM authentication information: verify aksk signature fail",
            );
        }
        let m = mode.load(Ordering::SeqCst);
        let body = req.json();
        if req.method != "POST" || req.header("x-project-id") != Some(PROJECT) {
            return hw_err(400, "KMS.0201", "bad request");
        }
        if body["key_id"] != UUID {
            return hw_err(404, "KMS.0207", "key not found");
        }
        let op = req
            .path()
            .strip_prefix(&format!("/v1.0/{PROJECT}/kms/"))
            .unwrap_or("");
        match op {
            "describe-key" => match m {
                1 => hw_err(403, "KMS.0303", "Forbidden: kms:cmk:get is not allowed"),
                3 => Resp::json(
                    200,
                    serde_json::json!({"key_info": {"key_id": UUID, "key_state": "3"}}),
                ),
                _ => Resp::json(
                    200,
                    serde_json::json!({"key_info": {"key_id": UUID, "key_state": "2", "key_alias": "sops"}}),
                ),
            },
            "encrypt-data" => {
                let plain = body["plain_text"].as_str().unwrap_or("");
                let ct = STANDARD.encode(format!("{UUID}|{plain}"));
                Resp::json(200, serde_json::json!({"key_id": UUID, "cipher_text": ct}))
            }
            "decrypt-data" => {
                let ct = STANDARD
                    .decode(body["cipher_text"].as_str().unwrap_or(""))
                    .unwrap_or_default();
                let ct = String::from_utf8_lossy(&ct).into_owned();
                match ct.split_once('|') {
                    Some((k, p)) if k == UUID && m != 3 => {
                        Resp::json(200, serde_json::json!({"key_id": UUID, "plain_text": p}))
                    }
                    _ => hw_err(400, "KMS.0206", "decryption failed"),
                }
            }
            _ => hw_err(404, "APIGW.0101", "The API does not exist"),
        }
    })
}
