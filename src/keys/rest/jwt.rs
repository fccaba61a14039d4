//! RS256-signed JSON Web Tokens, the one signer behind Azure's client assertion and Google's
//! service-account grant.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use zeroize::Zeroizing;

/// Parses a PKCS#8 or PKCS#1 DER RSA private key; `what` names it in the error.
pub(crate) fn rsa_key(der: &[u8], what: &str) -> Result<ring::signature::RsaKeyPair, String> {
    ring::signature::RsaKeyPair::from_pkcs8(der)
        .or_else(|_| ring::signature::RsaKeyPair::from_der(der))
        .map_err(|e| format!("{what} is not a usable RSA key ({e})"))
}

/// `base64url(header).base64url(claims).base64url(RS256 signature)`.
pub(crate) fn sign_rs256(
    key: &ring::signature::RsaKeyPair,
    header: &serde_json::Value,
    claims: &serde_json::Value,
) -> Result<Zeroizing<String>, String> {
    let mut jwt = Zeroizing::new(format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    ));
    let mut sig = vec![0u8; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        jwt.as_bytes(),
        &mut sig,
    )
    .map_err(|_| "signing failed".to_owned())?;
    jwt.push('.');
    jwt.push_str(&URL_SAFE_NO_PAD.encode(sig));
    Ok(jwt)
}
