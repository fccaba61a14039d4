//! Shamir secret sharing over GF(2^8), compatible with sops's key groups.
//! (Placeholder: replaced by the real implementation.)

use zeroize::Zeroizing;

/// Shamir errors.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShamirError {
    /// Not implemented.
    #[error("Shamir secret sharing is not implemented yet")]
    Unimplemented,
}

/// Splits a secret.
pub fn split(
    _secret: &[u8],
    _parts: usize,
    _threshold: usize,
) -> Result<Vec<Zeroizing<Vec<u8>>>, ShamirError> {
    Err(ShamirError::Unimplemented)
}

/// Combines shares.
pub fn combine(_shares: &[&[u8]]) -> Result<Zeroizing<Vec<u8>>, ShamirError> {
    Err(ShamirError::Unimplemented)
}
