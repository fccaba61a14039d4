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
/// --nocapture` prints ns per open of a corpus-like value, this module against the crate.
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
            println!("len {len} round {round}: ours {ours:.1} ns, aes-gcm {theirs:.1} ns");
        }
    }
}
