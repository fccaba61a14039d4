//! Splitting the text of an `ENC[…]` value after its prefix into its four fields.

use super::CryptoError;

/// The fields of a well-formed value by position (a 44-character IV and a 24-character
/// tag), without searching; `None` sends odd values to [`split_fields`].
pub(super) fn split_fast(rest: &str) -> Option<(&str, &str, &str, &str)> {
    let b = rest.as_bytes();
    let comma = crate::find::byte(b',', b)?;
    let data = rest.get(..comma)?;
    let after = rest.get(comma..)?;
    let iv = after.strip_prefix(",iv:")?;
    let (iv, after) = (iv.get(..44)?, iv.get(44..)?);
    let tag = after.strip_prefix(",tag:")?;
    let (tag, after) = (tag.get(..24)?, tag.get(24..)?);
    let typ = after.strip_prefix(",type:")?;
    Some((data, iv, tag, typ))
}

/// The fields of any value: base64 never contains a comma, so the four fields are the
/// comma-separated parts.
pub(super) fn split_fields(rest: &str) -> Result<(&str, &str, &str, &str), CryptoError> {
    let mut parts = rest.splitn(4, ',');
    let data = parts.next().unwrap_or_default();
    let iv = parts
        .next()
        .and_then(|p| p.strip_prefix("iv:"))
        .ok_or(CryptoError::Malformed("missing iv field"))?;
    let tag = parts
        .next()
        .and_then(|p| p.strip_prefix("tag:"))
        .ok_or(CryptoError::Malformed("missing tag field"))?;
    let typ = parts
        .next()
        .and_then(|p| p.strip_prefix("type:"))
        .ok_or(CryptoError::Malformed("missing type field"))?;
    Ok((data, iv, tag, typ))
}
