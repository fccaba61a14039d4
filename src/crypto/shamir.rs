//! Shamir secret sharing over GF(2^8), compatible with sops's key groups.
//!
//! The field is GF(2^8) with the reduction polynomial x^8 + x^4 + x^3 + x + 1 (0x11B).
//! Every byte of the secret gets its own random polynomial of degree `threshold - 1`
//! whose constant term is that byte. Share `i` (0-based) holds the evaluations of all
//! polynomials at x = i + 1, followed by one trailing byte holding x. Combining is
//! Lagrange interpolation at x = 0.
//!
//! Field arithmetic on secret values is constant time: multiplication uses masks instead
//! of branches or lookup tables, and inversion is exponentiation to the fixed power 254.

use zeroize::Zeroizing;

use crate::crypto::random_bytes;

/// Errors of splitting and combining.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShamirError {
    /// The secret to split is empty.
    #[error("cannot split an empty secret")]
    EmptySecret,
    /// The threshold or the number of parts is out of range.
    #[error(
        "invalid Shamir parameters: need 2 <= threshold <= parts <= 255 (threshold {threshold}, parts {parts})"
    )]
    InvalidParameters {
        /// The requested number of parts.
        parts: usize,
        /// The requested threshold.
        threshold: usize,
    },
    /// The operating system's random generator failed.
    #[error("the operating system's random number generator failed")]
    Random,
    /// Fewer than two shares were given.
    #[error("at least two shares are needed to recover the secret (got {0})")]
    TooFewShares(usize),
    /// A share is shorter than two bytes (one data byte and the x byte).
    #[error("share {0} is too short to be a Shamir share")]
    ShareTooShort(usize),
    /// The shares do not all have the same length.
    #[error("the shares have different lengths")]
    UnequalLengths,
    /// Two shares have the same x coordinate.
    #[error("two shares have the same x coordinate ({0})")]
    DuplicateX(u8),
    /// A share has the x coordinate 0 (which would be the secret itself).
    #[error("share {0} has the invalid x coordinate 0")]
    ZeroX(usize),
}

/// Addition (and subtraction) in GF(2^8).
#[inline]
fn add(a: u8, b: u8) -> u8 {
    a ^ b
}

/// Multiplication in GF(2^8) mod 0x11B, without secret-dependent branches or tables.
#[inline]
fn mul(a: u8, b: u8) -> u8 {
    let mut a = a;
    let mut r = 0u8;
    for i in 0..8 {
        // All ones when bit i of b is set, else zero.
        let take = 0u8.wrapping_sub((b >> i) & 1);
        r ^= a & take;
        // Multiply a by x, reducing by 0x1B when the top bit falls out.
        let carry = 0u8.wrapping_sub(a >> 7);
        a = (a << 1) ^ (0x1B & carry);
    }
    r
}

/// Multiplicative inverse in GF(2^8) as a^254 (0 maps to 0), with a fixed sequence of
/// operations.
#[inline]
fn inv(a: u8) -> u8 {
    // 254 = 0b1111_1110: a^254 = a^2 * a^4 * ... * a^128.
    let mut result = 1u8;
    let mut power = a;
    for _ in 0..7 {
        power = mul(power, power);
        result = mul(result, power);
    }
    result
}

/// Division in GF(2^8) (`b` must not be 0 for a meaningful result).
#[inline]
fn div(a: u8, b: u8) -> u8 {
    mul(a, inv(b))
}

/// Evaluates the polynomial `constant + coeffs[0] x + coeffs[1] x^2 + …` at `x` (Horner).
fn evaluate(constant: u8, coeffs: &[u8], x: u8) -> u8 {
    let mut acc = 0u8;
    for &c in coeffs.iter().rev() {
        acc = add(mul(acc, x), c);
    }
    add(mul(acc, x), constant)
}

fn check_parameters(secret: &[u8], parts: usize, threshold: usize) -> Result<(), ShamirError> {
    if secret.is_empty() {
        return Err(ShamirError::EmptySecret);
    }
    if threshold < 2 || threshold > parts || parts > 255 {
        return Err(ShamirError::InvalidParameters { parts, threshold });
    }
    Ok(())
}

/// Splits `secret` into `parts` shares, any `threshold` of which recover it.
///
/// Requires `2 <= threshold <= parts <= 255` and a non-empty secret. Share `i` is the
/// evaluations at x = i + 1 followed by the byte x, so each share is one byte longer
/// than the secret.
pub fn split(
    secret: &[u8],
    parts: usize,
    threshold: usize,
) -> Result<Vec<Zeroizing<Vec<u8>>>, ShamirError> {
    check_parameters(secret, parts, threshold)?;
    let per_byte = threshold - 1;
    let mut coeffs = Zeroizing::new(vec![0u8; secret.len() * per_byte]);
    random_bytes(&mut coeffs).map_err(|_| ShamirError::Random)?;
    split_with_coefficients(secret, parts, threshold, &coeffs)
}

/// [`split`] with given coefficients: `coeffs` holds, for every secret byte in order,
/// the `threshold - 1` coefficients of x^1, x^2, … of its polynomial.
fn split_with_coefficients(
    secret: &[u8],
    parts: usize,
    threshold: usize,
    coeffs: &[u8],
) -> Result<Vec<Zeroizing<Vec<u8>>>, ShamirError> {
    check_parameters(secret, parts, threshold)?;
    let per_byte = threshold - 1;
    if coeffs.len() != secret.len() * per_byte {
        return Err(ShamirError::InvalidParameters { parts, threshold });
    }
    let mut shares = Vec::with_capacity(parts);
    for i in 0..parts {
        // parts <= 255, so i + 1 fits in a byte.
        let x =
            u8::try_from(i + 1).map_err(|_| ShamirError::InvalidParameters { parts, threshold })?;
        let mut share = Zeroizing::new(Vec::with_capacity(secret.len() + 1));
        for (&byte, poly) in secret.iter().zip(coeffs.chunks_exact(per_byte)) {
            share.push(evaluate(byte, poly, x));
        }
        share.push(x);
        shares.push(share);
    }
    Ok(shares)
}

/// Recovers the secret from shares made by [`split`] (Lagrange interpolation at 0).
///
/// All shares must have the same length (at least 2 bytes), distinct non-zero x bytes,
/// and there must be at least two. With fewer shares than the threshold the result is
/// an unrelated value; the caller cannot tell (there is no checksum here — the data key
/// is checked by the MAC and the value tags).
pub fn combine(shares: &[&[u8]]) -> Result<Zeroizing<Vec<u8>>, ShamirError> {
    if shares.len() < 2 {
        return Err(ShamirError::TooFewShares(shares.len()));
    }
    let len = shares.first().map_or(0, |s| s.len());
    let mut xs = Vec::with_capacity(shares.len());
    for (i, share) in shares.iter().enumerate() {
        if share.len() < 2 {
            return Err(ShamirError::ShareTooShort(i));
        }
        if share.len() != len {
            return Err(ShamirError::UnequalLengths);
        }
        let x = share.last().copied().ok_or(ShamirError::ShareTooShort(i))?;
        if x == 0 {
            return Err(ShamirError::ZeroX(i));
        }
        if xs.contains(&x) {
            return Err(ShamirError::DuplicateX(x));
        }
        xs.push(x);
    }
    // Lagrange basis values at 0: l_j = prod_{m != j} x_m / (x_m - x_j). The x
    // coordinates are public, so this needs no special care.
    let mut basis = Vec::with_capacity(xs.len());
    for (j, &xj) in xs.iter().enumerate() {
        let mut l = 1u8;
        for (m, &xm) in xs.iter().enumerate() {
            if m != j {
                l = mul(l, div(xm, add(xm, xj)));
            }
        }
        basis.push(l);
    }
    let mut secret = Zeroizing::new(vec![0u8; len - 1]);
    for (share, &l) in shares.iter().zip(&basis) {
        for (out, &y) in secret.iter_mut().zip(share.iter()) {
            *out = add(*out, mul(y, l));
        }
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Slow reference multiplication ("Russian peasant" with branches), test only.
    fn mul_ref(mut a: u8, mut b: u8) -> u8 {
        let mut r = 0u8;
        while b != 0 {
            if b & 1 == 1 {
                r ^= a;
            }
            let hi = a & 0x80 != 0;
            a <<= 1;
            if hi {
                a ^= 0x1B;
            }
            b >>= 1;
        }
        r
    }

    #[test]
    fn field_multiplication_matches_reference_and_known_values() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                assert_eq!(mul(a, b), mul_ref(a, b), "{a} * {b}");
            }
        }
        // FIPS-197 section 4.2: {57} * {83} = {c1}, {57} * {13} = {fe}.
        assert_eq!(mul(0x57, 0x83), 0xC1);
        assert_eq!(mul(0x57, 0x13), 0xFE);
    }

    #[test]
    fn field_inverse() {
        assert_eq!(inv(0), 0);
        assert_eq!(inv(1), 1);
        // FIPS-197 section 4.4 / AES S-box: inverse of {53} is {ca}.
        assert_eq!(inv(0x53), 0xCA);
        for a in 1..=255u8 {
            assert_eq!(mul(a, inv(a)), 1, "a = {a}");
        }
    }

    #[test]
    fn known_answer_split_with_fixed_coefficients() {
        // Secret [0x53, 0x07], threshold 3, parts 3.
        // Byte 0: f(x) = 0x53 + 0x02 x + 0x03 x^2; byte 1: g(x) = 0x07 + 0x01 x + 0x00 x^2.
        // By hand: f(1) = 53^02^03 = 0x52; f(2) = 53 ^ 04 ^ (03*04 = 0x0C) = 0x5B;
        // f(3) = 53 ^ (02*03 = 06) ^ (03*(03*03 = 05) = 0x0F) = 0x5A.
        // g(1) = 07^01 = 0x06; g(2) = 07^02 = 0x05; g(3) = 07^03 = 0x04.
        let shares =
            split_with_coefficients(&[0x53, 0x07], 3, 3, &[0x02, 0x03, 0x01, 0x00]).unwrap();
        let shares: Vec<Vec<u8>> = shares.iter().map(|s| s.to_vec()).collect();
        assert_eq!(
            shares,
            vec![
                vec![0x52, 0x06, 0x01],
                vec![0x5B, 0x05, 0x02],
                vec![0x5A, 0x04, 0x03],
            ]
        );
        let refs: Vec<&[u8]> = shares.iter().map(Vec::as_slice).collect();
        assert_eq!(combine(&refs).unwrap().as_slice(), &[0x53, 0x07]);
        // Two of three shares of a degree-2 polynomial give something else.
        assert_ne!(combine(&refs[..2]).unwrap().as_slice(), &[0x53, 0x07]);
    }

    #[test]
    fn parameter_and_share_errors() {
        assert_eq!(split(&[], 3, 2).unwrap_err(), ShamirError::EmptySecret);
        for (p, t) in [(3, 1), (2, 3), (256, 2), (0, 0)] {
            assert!(matches!(
                split(&[1], p, t).unwrap_err(),
                ShamirError::InvalidParameters { .. }
            ));
        }
        assert_eq!(split(&[9; 32], 255, 255).unwrap().len(), 255);
        let a = [1u8, 2, 1];
        let b = [3u8, 4, 2];
        assert_eq!(combine(&[]).unwrap_err(), ShamirError::TooFewShares(0));
        assert_eq!(combine(&[&a]).unwrap_err(), ShamirError::TooFewShares(1));
        assert_eq!(
            combine(&[&a, &[1, 2, 3, 4]]).unwrap_err(),
            ShamirError::UnequalLengths
        );
        assert_eq!(
            combine(&[&a, &[5, 6, 1]]).unwrap_err(),
            ShamirError::DuplicateX(1)
        );
        assert_eq!(
            combine(&[&a, &[5, 6, 0]]).unwrap_err(),
            ShamirError::ZeroX(1)
        );
        assert_eq!(
            combine(&[&[7], &[8]]).unwrap_err(),
            ShamirError::ShareTooShort(0)
        );
        assert!(combine(&[&a, &b]).is_ok());
    }

    #[test]
    fn share_layout() {
        let shares = split(&[0xAA; 32], 5, 3).unwrap();
        for (i, s) in shares.iter().enumerate() {
            assert_eq!(s.len(), 33);
            assert_eq!(s[32] as usize, i + 1);
        }
    }

    /// All subsets of `0..n` (as index lists).
    fn subsets(n: usize) -> Vec<Vec<usize>> {
        (0u32..(1 << n))
            .map(|mask| (0..n).filter(|i| mask & (1 << i) != 0).collect())
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn split_combine_round_trip(
            secret in proptest::collection::vec(any::<u8>(), 1..40),
            parts in 2usize..=6,
            threshold_seed in any::<usize>(),
        ) {
            let threshold = 2 + threshold_seed % (parts - 1);
            let shares = split(&secret, parts, threshold).unwrap();
            prop_assert_eq!(shares.len(), parts);
            for subset in subsets(parts) {
                let refs: Vec<&[u8]> = subset.iter().map(|&i| shares[i].as_slice()).collect();
                if subset.len() >= threshold {
                    let got = combine(&refs).unwrap();
                    prop_assert_eq!(got.as_slice(), secret.as_slice());
                } else if subset.len() >= 2 && secret.len() >= 16 {
                    // Too few shares: the result is uniformly random, equal to the secret
                    // with probability 2^-128 at most.
                    let got = combine(&refs).unwrap();
                    prop_assert_ne!(got.as_slice(), secret.as_slice());
                } else if subset.len() < 2 {
                    prop_assert!(combine(&refs).is_err());
                }
            }
        }

        #[test]
        fn tampered_share_gives_another_secret(
            secret in proptest::collection::vec(any::<u8>(), 1..40),
            parts in 2usize..=6,
            pos_seed in any::<usize>(),
            flip in 1u8..=255,
        ) {
            let threshold = parts;
            let mut shares: Vec<Vec<u8>> =
                split(&secret, parts, threshold).unwrap().iter().map(|s| s.to_vec()).collect();
            let pos = pos_seed % secret.len();
            shares[0][pos] ^= flip;
            let refs: Vec<&[u8]> = shares.iter().map(Vec::as_slice).collect();
            let got = combine(&refs).unwrap();
            prop_assert_ne!(got.as_slice(), secret.as_slice());
            // Only the tampered byte changes.
            prop_assert_eq!(got.len(), secret.len());
            for (i, (g, s)) in got.iter().zip(&secret).enumerate() {
                if i != pos {
                    prop_assert_eq!(g, s);
                }
            }
        }
    }
}
