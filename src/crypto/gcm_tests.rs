//! The value cipher against the `aes-gcm` crate, which it must match byte for byte.

use aes_gcm::AesGcm;
use aes_gcm::KeyInit;
use aes_gcm::aead::AeadInPlace;
use aes_gcm::aead::consts::U32;
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aes::Aes256;
use proptest::prelude::*;

use super::Gcm;
use super::Rejected;

type Reference = AesGcm<Aes256, U32>;

fn reference_seal(key: &[u8; 32], iv: &[u8; 32], aad: &[u8], text: &[u8]) -> (Vec<u8>, [u8; 16]) {
    let mut buf = text.to_vec();
    let tag = Reference::new(GenericArray::from_slice(key))
        .encrypt_in_place_detached(GenericArray::from_slice(iv), aad, &mut buf)
        .unwrap();
    (buf, tag.into())
}

/// Every length from 0 to 300 bytes (the first run of counter blocks and the ones
/// after it, partial last blocks), key paths from empty to several GHASH runs long.
#[test]
fn every_length_matches_the_aes_gcm_crate() {
    let mut key = [0u8; 32];
    let mut iv = [0u8; 32];
    for len in 0..=300usize {
        for aad_len in [0usize, 1, 15, 16, 17, 40, 127, 128, 129, 300] {
            key[len % 32] = key[len % 32].wrapping_add(len as u8 ^ 0x5a);
            iv[aad_len % 32] ^= (len as u8).wrapping_mul(31) | 1;
            let text: Vec<u8> = (0..len).map(|i| (i * 7 + aad_len) as u8).collect();
            let aad: Vec<u8> = (0..aad_len).map(|i| (i * 13 + len) as u8).collect();
            let (want, want_tag) = reference_seal(&key, &iv, &aad, &text);
            let gcm = Gcm::new(&key);
            let mut got = text.clone();
            let tag = gcm.seal_in_place(&iv, &aad, &mut got).unwrap();
            assert_eq!(got, want, "ciphertext, len {len}, aad {aad_len}");
            assert_eq!(tag, want_tag, "tag, len {len}, aad {aad_len}");
            gcm.open_in_place(&iv, &aad, &mut got, &tag).unwrap();
            assert_eq!(got, text, "round trip, len {len}, aad {aad_len}");
        }
    }
}

/// A value of several kilobytes crosses many runs of eight blocks.
#[test]
fn long_values_match() {
    let key = [7u8; 32];
    let iv = [9u8; 32];
    for len in [1000usize, 4096, 4097, 65_536 + 5] {
        let text: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let aad = vec![b'k'; len / 3];
        let (want, want_tag) = reference_seal(&key, &iv, &aad, &text);
        let mut got = text.clone();
        let tag = Gcm::new(&key).seal_in_place(&iv, &aad, &mut got).unwrap();
        assert_eq!((got, tag), (want, want_tag), "len {len}");
    }
}

/// Texts long enough to cross several runs of counter blocks, under many nonces.
#[test]
fn many_nonces_over_long_texts_match() {
    let key = [3u8; 32];
    for seed in 0u8..64 {
        let iv = [seed; 32];
        let text = vec![seed; 16 * 20 + 3];
        let (want, want_tag) = reference_seal(&key, &iv, b"a:", &text);
        let mut got = text.clone();
        let tag = Gcm::new(&key).seal_in_place(&iv, b"a:", &mut got).unwrap();
        assert_eq!((got, tag), (want, want_tag));
    }
}

/// The counter's last 32 bits wrap to zero and the first 96 stay (GCM's `inc32`); a
/// random nonce reaches the wrap too rarely for the comparisons above to meet it.
#[test]
fn the_counter_wraps_as_inc32() {
    let mut j0 = [0xabu8; 16];
    j0[12..].copy_from_slice(&[0xff; 4]);
    let next = super::counter_at(j0, 1);
    assert_eq!(next[..12], [0xab; 12]);
    assert_eq!(next[12..], [0, 0, 0, 0]);
    assert_eq!(super::counter_at(j0, 3)[12..], [0, 0, 0, 2]);
}

/// Any changed bit of the ciphertext, tag, nonce or key path is refused, and the buffer
/// keeps the ciphertext.
#[test]
fn tampering_is_refused_and_the_buffer_is_unchanged() {
    let key = [1u8; 32];
    let iv = [2u8; 32];
    let aad = b"services:db:password:".to_vec();
    let text = b"correct horse battery staple, and some more text".to_vec();
    let gcm = Gcm::new(&key);
    let mut sealed = text.clone();
    let tag = gcm.seal_in_place(&iv, &aad, &mut sealed).unwrap();
    for bit in 0..sealed.len() * 8 {
        let mut c = sealed.clone();
        c[bit / 8] ^= 1 << (bit % 8);
        let before = c.clone();
        assert_eq!(gcm.open_in_place(&iv, &aad, &mut c, &tag), Err(Rejected));
        assert_eq!(c, before);
    }
    for bit in 0..128 {
        let mut t = tag;
        t[bit / 8] ^= 1 << (bit % 8);
        let mut c = sealed.clone();
        assert_eq!(gcm.open_in_place(&iv, &aad, &mut c, &t), Err(Rejected));
        assert_eq!(c, sealed);
    }
    for bit in 0..256 {
        let mut n = iv;
        n[bit / 8] ^= 1 << (bit % 8);
        let mut c = sealed.clone();
        assert_eq!(gcm.open_in_place(&n, &aad, &mut c, &tag), Err(Rejected));
    }
    for bit in 0..aad.len() * 8 {
        let mut a = aad.clone();
        a[bit / 8] ^= 1 << (bit % 8);
        let mut c = sealed.clone();
        assert_eq!(gcm.open_in_place(&iv, &a, &mut c, &tag), Err(Rejected));
    }
    let mut a = aad.clone();
    a.push(0);
    let mut c = sealed.clone();
    assert_eq!(
        gcm.open_in_place(&iv, &a, &mut c, &tag),
        Err(Rejected),
        "AAD padded with a zero"
    );
    let mut c = sealed.clone();
    c.push(0);
    assert_eq!(
        gcm.open_in_place(&iv, &aad, &mut c, &tag),
        Err(Rejected),
        "text with a zero more"
    );
    let mut wrong_key = key;
    wrong_key[31] ^= 0x80;
    let mut c = sealed.clone();
    assert_eq!(
        Gcm::new(&wrong_key).open_in_place(&iv, &aad, &mut c, &tag),
        Err(Rejected)
    );
}

/// Vectors from an independent implementation, OpenSSL 4.1.1 through Python's
/// `cryptography` 51.0.1 (the comparisons above are all with one other RustCrypto
/// composition of the same `aes` and `polyval` crates). Produced by
///
/// ```text
/// python3 -m venv /tmp/rv-venv && /tmp/rv-venv/bin/pip install cryptography
/// /tmp/rv-venv/bin/python vec.py
/// ```
///
/// with this `vec.py`; the last two nonces are solved for in GF(2^128) so that `J0`
/// ends in `fffffffd` and `fffffff5`: the 32-bit counter wraps to zero at text block 2
/// (inside the first run of eight counter blocks) and at text block 10 (in
/// `rest_of_keystream`), which random nonces never reach. The script's last part checks
/// that OpenSSL's keystream there is `E(J0)` with only the low 32 bits wrapped.
///
/// ```text
/// # AES-256-GCM vectors with 32-byte nonces from OpenSSL (Python cryptography), and
/// # nonces whose J0 ends near 0xffffffff, so the 32-bit counter wraps inside the text.
/// import sys
/// from cryptography.hazmat.primitives.ciphers.aead import AESGCM
/// from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
///
/// R = 0xE1 << 120
/// def gmul(x, y):  # SP 800-38D algorithm 1, blocks as big-endian integers
///     z, v = 0, y
///     for i in range(127, -1, -1):
///         if (x >> i) & 1:
///             z ^= v
///         v = (v >> 1) ^ R if v & 1 else v >> 1
///     return z
/// def gpow(x, e):
///     r = 1 << 127  # the field's 1
///     while e:
///         if e & 1: r = gmul(r, x)
///         x = gmul(x, x); e >>= 1
///     return r
/// def ginv(x): return gpow(x, (1 << 128) - 2)
///
/// key = bytes(range(32))
/// enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
/// H = int.from_bytes(enc.update(bytes(16)), 'big')
/// L = 256
/// def j0(iv):
///     x1, x2 = int.from_bytes(iv[:16], 'big'), int.from_bytes(iv[16:], 'big')
///     return gmul(gmul(gmul(x1, H) ^ x2, H) ^ L, H)
/// def iv_for(low32):
///     # X1 fixed, target J0 = 0x0102..0c || low32; X2 = (J0 + L·H + X1·H³)·H⁻²
///     x1 = int.from_bytes(bytes(range(0xa0, 0xb0)), 'big')
///     target = (int.from_bytes(bytes(range(1, 13)), 'big') << 32) | low32
///     h2 = gmul(H, H)
///     x2 = gmul(target ^ gmul(L, H) ^ gmul(x1, gmul(h2, H)), ginv(h2))
///     iv = x1.to_bytes(16, 'big') + x2.to_bytes(16, 'big')
///     assert j0(iv) == target
///     return iv
///
/// base_iv = bytes(range(32, 64))
/// cases = [  # (iv, aad length, text length)
///     (base_iv, 0, 0), (base_iv, 0, 1), (base_iv, 16, 15), (base_iv, 5, 113),
///     (base_iv, 31, 247), (base_iv, 48, 128),
///     (iv_for(0xfffffffd), 3, 100),   # wraps in the first run of 8 (text block 2 uses counter 0)
///     (iv_for(0xfffffff5), 20, 200),  # wraps past the first run (text block 10 uses counter 0)
/// ]
/// a = AESGCM(key)
/// for iv, alen, tlen in cases:
///     aad = bytes((i * 13 + 1) % 256 for i in range(alen))
///     text = bytes((i * 7 + 3) % 256 for i in range(tlen))
///     out = a.encrypt(iv, text, aad)
///     print(f"(\"{iv.hex()}\", {alen}, {tlen}, \"{out[:-16].hex()}\", \"{out[-16:].hex()}\"),")
///
/// # Check: in the wrap cases OpenSSL's keystream is E(J0 with inc32), the top 96 bits fixed.
/// for iv, alen, tlen, blk in [(iv_for(0xfffffffd), 3, 100, 2), (iv_for(0xfffffff5), 20, 200, 10)]:
///     aad = bytes((i * 13 + 1) % 256 for i in range(alen))
///     text = bytes((i * 7 + 3) % 256 for i in range(tlen))
///     ct = a.encrypt(iv, text, aad)
///     top = bytes(range(1, 13))
///     for b, ctr in [(blk - 1, 0xffffffff), (blk, 0), (blk + 1, 1)]:
///         ks = Cipher(algorithms.AES(key), modes.ECB()).encryptor().update(top + ctr.to_bytes(4, 'big'))
///         assert bytes(x ^ y for x, y in zip(ct[16*b:16*b+16], text[16*b:16*b+16])) == ks, (b, ctr)
/// print("wrap checked", file=sys.stderr)
/// ```
#[test]
fn openssl_vectors_with_32_byte_nonces() {
    // (nonce, AAD length, text length, ciphertext, tag); key = 00 01 … 1f, AAD byte i =
    // (13·i + 1) mod 256, text byte i = (7·i + 3) mod 256.
    #[rustfmt::skip]
    const VECTORS: [(&str, usize, usize, &str, &str); 8] = [
        ("202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f", 0, 0, "", "6d1e1f971418d98619cc7a94f9a96925"),
        ("202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f", 0, 1, "14", "501c9f476bdcbe473ddf7f937ef29382"),
        ("202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f", 16, 15, "14cbe0509229fb17fd132f27b1de04", "f46963c83a1f9757842bb1862d127a6a"),
        ("202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f", 5, 113, "14cbe0509229fb17fd132f27b1de0493f4eb362ce461b4f40c82841758c12d2d17079142bcf9feaa3fa25dafb06bdd035122e032cb7a48184093db5d97233f4f0c769b91a689a04202b36711c7aad1cc8e65e837c55700d2d7b0309034a84e251975046673a54c01adef39eaa54e904fe6", "0e8c993d0ab48653e8d58a6eef471501"),
        ("202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f", 31, 247, "14cbe0509229fb17fd132f27b1de0493f4eb362ce461b4f40c82841758c12d2d17079142bcf9feaa3fa25dafb06bdd035122e032cb7a48184093db5d97233f4f0c769b91a689a04202b36711c7aad1cc8e65e837c55700d2d7b0309034a84e251975046673a54c01adef39eaa54e904fe661ded94c456fba339ae55137b87ae5823dc27410190d181e53731f94ec22e57a0ea6576d0f85ffccbe7539941510c0a05e23371df461ed1366af26a945eae2949e6e863d99f70399dde662ab7823cf9b0fe6715011d38359b33aa42d7d3aeb46813e50ad38b3c86c5b974742456c853b7db40963409b6c3df3259905f2d9cfa8655b3c07b87f", "fda54bbbb41e6df5e9a062fd9e6cc1e9"),
        ("202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f", 48, 128, "14cbe0509229fb17fd132f27b1de0493f4eb362ce461b4f40c82841758c12d2d17079142bcf9feaa3fa25dafb06bdd035122e032cb7a48184093db5d97233f4f0c769b91a689a04202b36711c7aad1cc8e65e837c55700d2d7b0309034a84e251975046673a54c01adef39eaa54e904fe661ded94c456fba339ae55137b87ae5", "0ce3f72b4a3b61253de43106a1caaea9"),
        ("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf23d652237f36efd1206e549a1fc45345", 3, 100, "412462dc90152e66b2fe842e19de06fe66935067d181573185786ecfa9b167efdd874df327658eed352982d1a1a9f42a7eba5cc609460c0793cb762b3a07804ac6208b0d33721d72b7a06a57070dcf047179a0b6d83b0da1ca2d80a41938e359274e2a67", "ebf19685b4c7bf76b3646dd0855c3aed"),
        ("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf6b94d2dcabf07b8c1924b41d135589a3", 20, 200, "4e6afd26752bd657a62f07551fcaf7e1a58c287c1256f9702ad5f0849bf8bbce168dbfce51f106d954c9073bb04fa3b0d10c41e08c6c75837b5582f4d601ee4960cff9fcdeb0e9ad15278489c66ed105d3dd37da88db8d61e5aad4601b509411056a806975aa5791e673a65218ea6459e90843ef9f4f1e16c51b898404d27e1cc1a4e25c1095aee6327e04ae995e867ee613d0e75101d7b105f8ee4f2931e76f5d07cd73a7e50e6db5a90251212974aafe3adc4689c68c87134bf6abba8700ca46a00b8db3f29df2", "bda8b9e7f1044f81ab41c58fe83798f8"),
    ];
    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
    let key: [u8; 32] = core::array::from_fn(|i| i as u8);
    let gcm = Gcm::new(&key);
    for (iv, aad_len, text_len, want, want_tag) in VECTORS {
        let iv: [u8; 32] = hex(iv).try_into().unwrap();
        let aad: Vec<u8> = (0..aad_len).map(|i| (i * 13 + 1) as u8).collect();
        let text: Vec<u8> = (0..text_len).map(|i| (i * 7 + 3) as u8).collect();
        let mut buf = text.clone();
        let tag = gcm.seal_in_place(&iv, &aad, &mut buf).unwrap();
        assert_eq!(buf, hex(want), "ciphertext, aad {aad_len}, text {text_len}");
        assert_eq!(hex(want_tag), tag, "tag, aad {aad_len}, text {text_len}");
        gcm.open_in_place(&iv, &aad, &mut buf, &tag).unwrap();
        assert_eq!(buf, text, "opened, aad {aad_len}, text {text_len}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Random keys, nonces, key paths and values: the same ciphertext and tag as the
    /// crate, and the crate opens what this seals.
    #[test]
    fn random_inputs_match(
        key in proptest::array::uniform32(any::<u8>()),
        iv in proptest::array::uniform32(any::<u8>()),
        aad in proptest::collection::vec(any::<u8>(), 0..200),
        text in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let (want, want_tag) = reference_seal(&key, &iv, &aad, &text);
        let mut got = text.clone();
        let tag = Gcm::new(&key).seal_in_place(&iv, &aad, &mut got).unwrap();
        prop_assert_eq!(&got, &want);
        prop_assert_eq!(tag, want_tag);
        let mut opened = want.clone();
        Reference::new(GenericArray::from_slice(&key))
            .decrypt_in_place_detached(GenericArray::from_slice(&iv), &aad, &mut opened, GenericArray::from_slice(&tag))
            .unwrap();
        prop_assert_eq!(opened, text);
    }
}

/// The two GHASH forms give the same counter blocks and tags for any key (the release
/// build uses `wide`; every other build `chains`, compared with `aes-gcm` through
/// `Gcm` above when it is the one built).
#[cfg(all(target_arch = "x86_64", target_feature = "pclmulqdq"))]
mod both_forms {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn agree(
            h in any::<u128>(),
            x1 in any::<u128>(),
            x2 in any::<u128>(),
            aad in proptest::collection::vec(any::<u8>(), 0..300),
            text in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let chains = super::super::chains::Ghash::new(h);
            let wide = super::super::wide::Ghash::new(h);
            prop_assert_eq!(chains.counter_block(x1, x2), wide.counter_block(x1, x2));
            prop_assert_eq!(chains.tag_hash(&aad, &text), wide.tag_hash(&aad, &text));
        }
    }

    /// Every block count from 0 to 40 on either side (runs of eight and their remainders).
    #[test]
    fn agree_on_every_block_count() {
        let h = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210u128;
        let chains = super::super::chains::Ghash::new(h);
        let wide = super::super::wide::Ghash::new(h);
        for a in 0..=40usize {
            for t in 0..=40usize {
                let aad: Vec<u8> = (0..a * 8 + a % 3).map(|i| i as u8).collect();
                let text: Vec<u8> = (0..t * 8 + t % 5).map(|i| (i * 3) as u8).collect();
                assert_eq!(
                    chains.tag_hash(&aad, &text),
                    wide.tag_hash(&aad, &text),
                    "{a} {t}"
                );
            }
        }
    }
}

/// Not a test: `cargo test --release --lib crypto::gcm::tests::timing -- --ignored
/// --nocapture` prints ns per open of a corpus-like value, this module against the crate,
/// and per seal.
#[test]
#[ignore]
#[allow(clippy::disallowed_macros)] // test output
fn timing() {
    use std::time::Instant;
    let key = [5u8; 32];
    let aad = b"services:infra-basalt-00000:image:registry:";
    for len in [8usize, 40, 200] {
        let ivs: Vec<[u8; 32]> = (0..64u8).map(|i| [i; 32]).collect();
        let gcm = Gcm::new(&key);
        let reference = Reference::new(GenericArray::from_slice(&key));
        let sealed: Vec<(Vec<u8>, [u8; 16])> = ivs
            .iter()
            .map(|iv| reference_seal(&key, iv, aad, &vec![b'x'; len]))
            .collect();
        let mut buf = vec![0u8; len];
        for round in 0..3 {
            let t = Instant::now();
            for _ in 0..20_000 {
                for (iv, (c, tag)) in ivs.iter().zip(&sealed) {
                    buf.copy_from_slice(c);
                    gcm.open_in_place(iv, aad, &mut buf, tag).unwrap();
                }
            }
            let ours = t.elapsed().as_nanos() as f64 / (20_000.0 * 64.0);
            let t = Instant::now();
            for _ in 0..20_000 {
                for (iv, (c, tag)) in ivs.iter().zip(&sealed) {
                    buf.copy_from_slice(c);
                    reference
                        .decrypt_in_place_detached(
                            GenericArray::from_slice(iv),
                            aad,
                            &mut buf,
                            GenericArray::from_slice(tag),
                        )
                        .unwrap();
                }
            }
            let theirs = t.elapsed().as_nanos() as f64 / (20_000.0 * 64.0);
            let t = Instant::now();
            for _ in 0..20_000 {
                for iv in &ivs {
                    gcm.seal_in_place(iv, aad, &mut buf).unwrap();
                }
            }
            let seal = t.elapsed().as_nanos() as f64 / (20_000.0 * 64.0);
            println!(
                "len {len} round {round}: open {ours:.1} ns (aes-gcm {theirs:.1} ns), seal {seal:.1} ns"
            );
        }
    }
}
