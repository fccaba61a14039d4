//! Client-certificate authentication to Entra ID: the certificate of
//! `AZURE_CLIENT_CERTIFICATE_PATH` signs a JWT client assertion (RS256, with the
//! certificate's SHA-1 thumbprint as `x5t`, and the chain as `x5c` when
//! `AZURE_CLIENT_SEND_CERTIFICATE_CHAIN` is true), as Microsoft's libraries build it.
//!
//! The file is PEM (certificate(s) and an unencrypted PKCS#8 or PKCS#1 RSA private key,
//! in any order) or PKCS#12 (see [`super::pkcs12`]), with its password in
//! `AZURE_CLIENT_CERTIFICATE_PASSWORD`. Errors never quote the file.

use std::io::Read as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ureq::tls::PemItem;
use zeroize::Zeroizing;

use crate::keys::KeyContext;
use crate::keys::rest;

/// Largest certificate file read.
const MAX_FILE: u64 = 1024 * 1024;

/// A certificate chain (leaf first, DER) and the leaf's RSA private key (DER).
pub(super) struct CertKey {
    pub chain: Vec<Vec<u8>>,
    /// PKCS#8 or PKCS#1 (`RSAPrivateKey`).
    pub key: Zeroizing<Vec<u8>>,
}

/// The signed client assertion for `client_id` at the token endpoint `audience`.
pub(super) fn client_assertion(
    ctx: &KeyContext,
    path: &str,
    client_id: &str,
    audience: &str,
) -> Result<Zeroizing<String>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open it: {}", e.kind()))?;
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read it: {}", e.kind()))?;
    if bytes.len() as u64 > MAX_FILE {
        return Err("the file is larger than 1 MiB".to_owned());
    }
    let pem = bytes.windows(11).any(|w| w == b"-----BEGIN ");
    let ck = if pem {
        from_pem(&bytes)?
    } else {
        let password = ctx.var("AZURE_CLIENT_CERTIFICATE_PASSWORD").unwrap_or("");
        super::pkcs12::parse(&bytes, password)?
    };
    let send_chain = ctx
        .var("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN")
        .is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true"));
    sign(&ck, client_id, audience, send_chain, rest::now_secs())
}

fn from_pem(bytes: &[u8]) -> Result<CertKey, String> {
    let mut chain = Vec::new();
    let mut key = None;
    for item in ureq::tls::parse_pem(bytes) {
        match item.map_err(|_| "the file is not valid PEM".to_owned())? {
            PemItem::Certificate(c) => chain.push(c.der().to_vec()),
            PemItem::PrivateKey(k) if key.is_none() => {
                key = Some(Zeroizing::new(k.der().to_vec()));
            }
            _ => {}
        }
    }
    let key = key.ok_or_else(|| {
        "the file holds no unencrypted private key (-----BEGIN PRIVATE KEY----- or \
         -----BEGIN RSA PRIVATE KEY-----)"
            .to_owned()
    })?;
    if chain.is_empty() {
        return Err("the file holds no certificate (-----BEGIN CERTIFICATE-----)".to_owned());
    }
    Ok(CertKey { chain, key })
}

/// Builds and signs the assertion (valid ten minutes from `now`).
pub(super) fn sign(
    ck: &CertKey,
    client_id: &str,
    audience: &str,
    send_chain: bool,
    now: u64,
) -> Result<Zeroizing<String>, String> {
    let pair = crate::keys::rest::jwt::rsa_key(&ck.key, "the private key")?;
    let leaf = ck.chain.first().ok_or("no certificate")?;
    let thumb = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, leaf);
    let mut header = serde_json::json!({
        "alg": "RS256",
        "typ": "JWT",
        "x5t": URL_SAFE_NO_PAD.encode(thumb.as_ref()),
    });
    if send_chain {
        header["x5c"] = ck.chain.iter().map(|c| STANDARD.encode(c)).collect();
    }
    let mut jti = [0u8; 16];
    getrandom::fill(&mut jti).map_err(|_| "no randomness available".to_owned())?;
    let jti: String = jti.iter().map(|b| format!("{b:02x}")).collect();
    let claims = serde_json::json!({
        "aud": audience,
        "iss": client_id,
        "sub": client_id,
        "jti": jti,
        "nbf": now,
        "iat": now,
        "exp": now + 600,
    });
    crate::keys::rest::jwt::sign_rs256(&pair, &header, &claims)
}
