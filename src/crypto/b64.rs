//! A short-input fast path for decoding the standard base64 of `ENC[…]` fields.
//!
//! Every encrypted value has three base64 fields (data, IV, tag) of a few dozen
//! characters; the `base64` crate's general engine spends more on its set-up and its
//! suffix handling than on such short inputs. [`decode_into`] and [`decode_fixed`]
//! accept only canonical, padded standard base64 (length a multiple of four, `=` only at
//! the end, unused trailing bits zero) and decode it with one table look-up per
//! character. Anything else gives `None`, and the caller asks the `base64` crate, whose
//! `STANDARD` engine accepts exactly that canonical form too: so whatever is accepted
//! here decodes to the same bytes, and every error stays the crate's.

/// The value of each standard-alphabet character; `INVALID` for any other byte.
const TABLE: [u8; 256] = {
    let mut t = [INVALID; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < 64 {
        t[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    t
};

const INVALID: u8 = 0x80;

/// The values of four characters as one 24-bit group, or `None` when one is not in the
/// alphabet.
#[inline(always)]
fn group(q: &[u8]) -> Option<u32> {
    let (a, b, c, d) = (
        TABLE[usize::from(q[0])],
        TABLE[usize::from(q[1])],
        TABLE[usize::from(q[2])],
        TABLE[usize::from(q[3])],
    );
    if (a | b | c | d) & INVALID != 0 {
        return None;
    }
    Some(u32::from(a) << 18 | u32::from(b) << 12 | u32::from(c) << 6 | u32::from(d))
}

/// The decoded length of canonical padded base64 `s` and its last quad's padding count,
/// or `None` when `s` cannot be canonical.
fn shape(s: &[u8]) -> Option<(usize, usize)> {
    if !s.len().is_multiple_of(4) {
        return None;
    }
    let pad = match s {
        [.., b'=', b'='] => 2,
        [.., b'='] => 1,
        _ => 0,
    };
    Some((s.len() / 4 * 3 - pad, pad))
}

/// Decodes `s` into `out` (its first `n` bytes, `n` the decoded length, which `out` must
/// hold); `None` for anything but canonical padded standard base64.
fn decode_to(s: &[u8], out: &mut [u8]) -> Option<usize> {
    let (n, pad) = shape(s)?;
    let out = out.get_mut(..n)?;
    let full = if pad == 0 { s.len() } else { s.len() - 4 };
    let (body, last) = s.split_at(full);
    let mut o = 0;
    for q in body.chunks_exact(4) {
        let v = group(q)?;
        let dst = out.get_mut(o..o + 3)?;
        dst[0] = (v >> 16) as u8;
        dst[1] = (v >> 8) as u8;
        dst[2] = v as u8;
        o += 3;
    }
    match (pad, last) {
        (0, _) => {}
        (1, [a, b, c, _]) => {
            let v = group(&[*a, *b, *c, b'A'])?;
            if v & 0xFF != 0 {
                return None;
            }
            let dst = out.get_mut(o..o + 2)?;
            dst[0] = (v >> 16) as u8;
            dst[1] = (v >> 8) as u8;
        }
        (2, [a, b, _, _]) => {
            let v = group(&[*a, *b, b'A', b'A'])?;
            if v & 0xFFFF != 0 {
                return None;
            }
            *out.get_mut(o)? = (v >> 16) as u8;
        }
        _ => return None,
    }
    Some(n)
}

/// Decodes `s` and appends the bytes to `out` without growing it past its capacity when
/// that is large enough (`None`: not canonical, `out` unchanged).
pub(crate) fn decode_into(s: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let (n, _) = shape(s)?;
    let start = out.len();
    out.resize(start + n, 0);
    match out.get_mut(start..).and_then(|dst| decode_to(s, dst)) {
        Some(_) => Some(()),
        None => {
            out.truncate(start);
            None
        }
    }
}

/// Decodes `s` into exactly `N` bytes (`None`: not canonical or another length).
pub(crate) fn decode_fixed<const N: usize>(s: &[u8]) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    (decode_to(s, &mut out)? == N && shape(s)?.0 == N).then_some(out)
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    #[test]
    fn what_is_accepted_decodes_as_the_crate_decodes() {
        // Every length up to 70 bytes, and a few byte patterns each.
        for len in 0..70usize {
            for seed in 0..4u8 {
                let bytes: Vec<u8> = (0..len)
                    .map(|i| {
                        (i as u8)
                            .wrapping_mul(37)
                            .wrapping_add(seed.wrapping_mul(91))
                    })
                    .collect();
                let text = STANDARD.encode(&bytes);
                let mut out = vec![9u8];
                assert_eq!(decode_into(text.as_bytes(), &mut out), Some(()), "{text}");
                assert_eq!(&out[1..], &bytes[..], "{text}");
            }
        }
        assert_eq!(
            decode_fixed::<16>(STANDARD.encode([7u8; 16]).as_bytes()),
            Some([7u8; 16])
        );
        assert_eq!(
            decode_fixed::<16>(STANDARD.encode([7u8; 15]).as_bytes()),
            None
        );
        assert_eq!(
            decode_fixed::<16>(STANDARD.encode([7u8; 17]).as_bytes()),
            None
        );
    }

    #[test]
    fn anything_else_is_left_to_the_crate() {
        // Non-canonical trailing bits, missing or misplaced padding, other alphabets,
        // spaces, bytes outside ASCII: never accepted here (the crate then decides).
        for bad in [
            "QQ", "QR==", "QUJ=", "QUI", "Q===", "=QUJ", "QU=J", "QUJD=", "QU-_", "QU J", "QUJD\n",
            "QUé=", "====", "A",
        ] {
            let mut out = vec![1u8, 2];
            assert_eq!(decode_into(bad.as_bytes(), &mut out), None, "{bad:?}");
            assert_eq!(out, [1, 2], "{bad:?}: output unchanged");
        }
        // And every 4-character text over a small alphabet that is accepted here is
        // accepted by the crate with the same bytes.
        let chars = b"AQgw+/=-";
        for a in chars {
            for b in chars {
                for c in chars {
                    for d in chars {
                        let t = [*a, *b, *c, *d];
                        let mut out = Vec::new();
                        if decode_into(&t, &mut out).is_some() {
                            assert_eq!(STANDARD.decode(t).ok(), Some(out), "{t:?}");
                        }
                    }
                }
            }
        }
    }
}
