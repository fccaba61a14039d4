//! Short-input fast paths for the standard base64 of `ENC[…]` fields.
//!
//! Every encrypted value has three base64 fields (data, IV, tag) of a few dozen
//! characters; the `base64` crate's general engine spends more on its set-up and its
//! suffix handling than on such short inputs. [`decode_into`] and [`decode_fixed`]
//! accept only canonical, padded standard base64 (length a multiple of four, `=` only at
//! the end, unused trailing bits zero) and decode it four characters at a time: one
//! look-up per character in a table of that position's bits already in place, the four
//! OR'ed into the three bytes, invalid characters checked once at the end. Anything
//! else gives `None`, and the caller asks the `base64` crate, whose `STANDARD` engine
//! accepts exactly that canonical form too: so whatever is accepted here decodes to the
//! same bytes, and every error stays the crate's.
//!
//! [`encode_append`] writes standard padded base64 (encoding has no error case: the
//! crate's `STANDARD` engine gives the same bytes for any input) three bytes at a time,
//! into room made once, without the crate's engine set-up per field.

/// The standard alphabet.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Set in a table entry for a byte outside the alphabet (above the 24 bits of a group).
const BAD: u32 = 1 << 24;

/// For the character at position `pos` (0 to 3) of a quad, its six bits placed where they
/// land in the group's three bytes read as a little-endian word (byte 0 lowest); `BAD`
/// for any byte outside the alphabet. The four entries of a quad OR'ed give the three
/// decoded bytes with no shifting at decode time.
const fn table(pos: usize) -> [u32; 256] {
    let mut t = [BAD; 256];
    let mut i = 0;
    while i < 64 {
        let v = i as u32;
        t[ALPHABET[i] as usize] = match pos {
            0 => v << 2,
            1 => (v >> 4) | ((v & 0xF) << 12),
            2 => ((v >> 2) << 8) | ((v & 0x3) << 22),
            _ => v << 16,
        };
        i += 1;
    }
    t
}

static D0: [u32; 256] = table(0);
static D1: [u32; 256] = table(1);
static D2: [u32; 256] = table(2);
static D3: [u32; 256] = table(3);

/// The three bytes of a quad as a little-endian word, with `BAD` set when a character is
/// not in the alphabet.
#[inline(always)]
fn word(a: u8, b: u8, c: u8, d: u8) -> u32 {
    D0[usize::from(a)] | D1[usize::from(b)] | D2[usize::from(c)] | D3[usize::from(d)]
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
/// hold); `None` for anything but canonical padded standard base64 (`out` may then hold
/// anything).
fn decode_to(s: &[u8], out: &mut [u8]) -> Option<usize> {
    let (n, pad) = shape(s)?;
    let out = out.get_mut(..n)?;
    let full = if pad == 0 { s.len() } else { s.len() - 4 };
    let (body, last) = s.split_at(full);
    let (head, tail) = out.split_at_mut(full / 4 * 3);
    // Invalid characters are collected and checked once, after the loop.
    let mut bad = 0u32;
    for (q, o) in body.chunks_exact(4).zip(head.chunks_exact_mut(3)) {
        let w = word(q[0], q[1], q[2], q[3]);
        bad |= w;
        o.copy_from_slice(&w.to_le_bytes()[..3]);
    }
    if bad & BAD != 0 {
        return None;
    }
    match (pad, last, tail) {
        (0, [], []) => {}
        (1, [a, b, c, _], [x, y]) => {
            let w = word(*a, *b, *c, b'A');
            // The unused low bits of the last character must be zero.
            if w & (BAD | 0xFF_0000) != 0 {
                return None;
            }
            [*x, *y] = [w as u8, (w >> 8) as u8];
        }
        (2, [a, b, _, _], [x]) => {
            let w = word(*a, *b, b'A', b'A');
            if w & (BAD | 0xFF_FF00) != 0 {
                return None;
            }
            *x = w as u8;
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

/// Appends the standard padded base64 of `bytes` to `out` (the `base64` crate's
/// `STANDARD` encoding, byte for byte).
pub(crate) fn encode_append(bytes: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + bytes.len().div_ceil(3) * 4, b'=');
    let Some(dst) = out.get_mut(start..) else {
        return;
    };
    let sym = |n: u32| ALPHABET[(n & 63) as usize];
    let mut quads = dst.chunks_exact_mut(4);
    let mut groups = bytes.chunks_exact(3);
    // Groups first: `zip` asks its first iterator first, so no quad is taken past the
    // last whole group (that quad is the remainder's).
    for (g, q) in (&mut groups).zip(&mut quads) {
        if let ([a, b, c], [w, x, y, z]) = (g, q) {
            let n = (u32::from(*a) << 16) | (u32::from(*b) << 8) | u32::from(*c);
            *w = sym(n >> 18);
            *x = sym(n >> 12);
            *y = sym(n >> 6);
            *z = sym(n);
        }
    }
    // The last one or two bytes: two or three characters, the rest stays `=`.
    if let Some(q) = quads.next() {
        let (n, chars) = match groups.remainder() {
            [a] => (u32::from(*a) << 16, 2),
            [a, b] => ((u32::from(*a) << 16) | (u32::from(*b) << 8), 3),
            _ => (0, 0),
        };
        for (i, d) in q.iter_mut().take(chars).enumerate() {
            *d = sym(n >> (18 - 6 * i));
        }
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    /// `len` bytes of a simple pattern: byte `i` is `i * step + offset` (wrapping).
    fn patterned(len: usize, step: u8, offset: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(step).wrapping_add(offset))
            .collect()
    }

    #[test]
    fn what_is_accepted_decodes_as_the_crate_decodes() {
        // Every length up to 70 bytes, and a few byte patterns each.
        for len in 0..70usize {
            for seed in 0..4u8 {
                let bytes = patterned(len, 37, seed.wrapping_mul(91));
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

    /// What the crate gives for `t`, and what `decode_into` gives (appending to two
    /// bytes already there, which must stay as they are either way).
    fn both(t: &[u8]) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
        let mut out = vec![1u8, 2];
        let ours = decode_into(t, &mut out).map(|()| out[2..].to_vec());
        if ours.is_none() {
            assert_eq!(out, [1, 2], "{t:?}: output unchanged");
        }
        (STANDARD.decode(t).ok(), ours)
    }

    /// Every byte value at every place of texts of 20, 36 and 52 characters (the lengths
    /// of the usual data, IV and tag fields are near): accepted exactly when the crate
    /// accepts it, with the same bytes.
    #[test]
    fn every_byte_at_every_place_is_judged_as_the_crate_judges_it() {
        let valid = STANDARD.encode(patterned(39, 53, 11)).into_bytes();
        assert_eq!(valid.len(), 52);
        for len in [20, 36, 52] {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut t = valid[..len].to_vec();
                    t[at] = b;
                    let (crate_says, ours) = both(&t);
                    assert_eq!(crate_says, ours, "byte {b:#04x} at {at} of {len}");
                }
            }
        }
    }

    /// Every byte value at every place of a 16-byte tag's and a 32-byte IV's text, and
    /// every length near theirs: `decode_fixed` accepts exactly what the crate decodes
    /// to that many bytes, with the same bytes.
    #[test]
    fn fixed_sizes_are_judged_as_the_crate_judges_them() {
        fn check<const N: usize>(t: &[u8]) {
            let crate_says = STANDARD.decode(t).ok().filter(|b| b.len() == N);
            let ours = decode_fixed::<N>(t).map(Vec::from);
            assert_eq!(crate_says, ours, "{t:?} as {N} bytes");
        }
        for seed in 0..3u8 {
            let tag = STANDARD.encode(patterned(16, 29, seed)).into_bytes();
            let iv = STANDARD
                .encode(patterned(32, 71, seed.wrapping_mul(5)))
                .into_bytes();
            assert_eq!((tag.len(), iv.len()), (24, 44));
            for at in 0..44 {
                for b in 0..=255u8 {
                    if at < 24 {
                        let mut t = tag.clone();
                        t[at] = b;
                        check::<16>(&t);
                        check::<32>(&t);
                    }
                    let mut t = iv.clone();
                    t[at] = b;
                    check::<32>(&t);
                    check::<16>(&t);
                }
            }
        }
        for len in 0..70usize {
            let text = STANDARD.encode(patterned(len, 13, 7)).into_bytes();
            check::<16>(&text);
            check::<32>(&text);
            check::<16>(text.get(..text.len().saturating_sub(1)).unwrap_or_default());
        }
        for bytes in [[0u8; 32], [0xFF; 32]] {
            check::<32>(STANDARD.encode(bytes).as_bytes());
            check::<16>(STANDARD.encode(&bytes[..16]).as_bytes());
        }
    }

    #[test]
    fn encoding_gives_the_crates_text_for_every_length() {
        for len in 0..100usize {
            for seed in 0..6u8 {
                let bytes = patterned(len, 73, seed.wrapping_mul(41));
                let mut out = b"kept".to_vec();
                encode_append(&bytes, &mut out);
                assert_eq!(&out[..4], b"kept");
                assert_eq!(&out[4..], STANDARD.encode(&bytes).as_bytes(), "{len}");
            }
        }
        let mut out = Vec::new();
        encode_append(&[0xFF; 5], &mut out);
        assert_eq!(out, b"//////8=");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 3000,
            ..proptest::prelude::ProptestConfig::default()
        })]

        /// Valid base64 of any bytes: decoded here, to the crate's bytes.
        #[test]
        fn valid_text_decodes_as_the_crate_decodes(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..120),
        ) {
            let text = STANDARD.encode(&bytes);
            let (crate_says, ours) = both(text.as_bytes());
            proptest::prop_assert_eq!(ours.as_ref(), Some(&bytes));
            proptest::prop_assert_eq!(crate_says, ours);
            if bytes.len() == 32 {
                proptest::prop_assert_eq!(decode_fixed::<32>(text.as_bytes()).map(Vec::from), Some(bytes));
            } else if bytes.len() == 16 {
                proptest::prop_assert_eq!(decode_fixed::<16>(text.as_bytes()).map(Vec::from), Some(bytes));
            }
        }

        /// Any bytes: encoded here to the crate's text.
        #[test]
        fn any_bytes_encode_as_the_crate_encodes(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
        ) {
            let mut out = Vec::new();
            encode_append(&bytes, &mut out);
            proptest::prop_assert_eq!(out, STANDARD.encode(&bytes).into_bytes());
        }

        /// Text over the alphabet, `=` and a few other bytes, of any length: accepted here
        /// exactly when the crate accepts it, with the same bytes.
        #[test]
        fn any_text_is_accepted_exactly_when_the_crate_accepts_it(
            t in "[A-Za-z0-9+/=]{0,40}",
            u in "[AQgw+/=\\-_ \\n.\\x00\\x7f\u{80}\u{e9}]{0,12}",
            pad in "={0,3}",
        ) {
            for t in [t.clone(), u.clone(), format!("{t}{pad}"), format!("{t}{u}")] {
                let (crate_says, ours) = both(t.as_bytes());
                proptest::prop_assert_eq!(crate_says, ours, "{:?}", t);
            }
        }

        /// One byte of valid text changed: accepted here exactly when the crate accepts it.
        #[test]
        fn a_changed_byte_is_judged_as_the_crate_judges_it(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..60),
            at in proptest::prelude::any::<proptest::sample::Index>(),
            to in proptest::prelude::any::<u8>(),
        ) {
            let mut text = STANDARD.encode(&bytes).into_bytes();
            let i = at.index(text.len());
            text[i] = to;
            let (crate_says, ours) = both(&text);
            proptest::prop_assert_eq!(crate_says, ours, "{:?}", text);
        }
    }
}
