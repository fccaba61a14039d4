//! AES-256-GCM with sops's 32-byte nonces, for many short values under one key.
//!
//! The mode (counter blocks, keystream, tag, its check) is here; the block cipher is
//! the `aes` crate's. GHASH, most of the cipher's time for a value of a few blocks,
//! comes in two forms that give the same results:
//!
//! - `wide` (x86-64 builds with PCLMULQDQ, the release build): every block times its
//!   own power of `H` (computed once per data key), the products summed and reduced
//!   once per eight blocks; the 32-byte nonce's counter block
//!   `J0 = X1·H³ + X2·H² + L·H` is two products and one reduction.
//! - `chains` (any other build): the `polyval` crate, the tag's blocks in two chains by
//!   `H²` side by side and `J0` as `(X1·H + X2)·H² + L·H`.
//!
//! The `aes-gcm` crate runs one chain instead: three dependent multiplications and
//! reductions for `J0`, then one per block of the key path and the value. GHASH is
//! computed as POLYVAL (RFC 8452, appendix A): a GHASH block `X` is the POLYVAL element
//! `ByteReverse(X)`, the key is `mulX_POLYVAL(ByteReverse(H))`, and the result is
//! reversed back. Every result equals the `aes-gcm` crate's, byte for byte, for both
//! forms: `gcm_tests.rs` compares them on every length up to 300 bytes, on random
//! inputs, and on tampered ones.

use aes::Aes256Enc;
use aes::Block;
use aes::cipher::BlockEncrypt;
use aes::cipher::KeyInit;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// The tag did not verify (wrong key, wrong AAD, or tampered ciphertext, nonce or
/// tag), or a length is beyond what GCM allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rejected;

/// The longest plaintext GCM allows (2^32 - 2 blocks).
const MAX_TEXT: u64 = (1 << 36) - 32;

/// Counter blocks encrypted in one call (the `aes` crate's AES-NI width).
const RUN: usize = 8;

#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "pclmulqdq"))))]
mod chains;
#[cfg(all(target_arch = "x86_64", target_feature = "pclmulqdq"))]
mod wide;

#[cfg(all(target_arch = "x86_64", target_feature = "pclmulqdq"))]
use wide::Ghash;

#[cfg(not(all(target_arch = "x86_64", target_feature = "pclmulqdq")))]
use chains::Ghash;

/// The expanded AES key and the GHASH key's state.
pub(crate) struct Gcm {
    aes: Aes256Enc,
    ghash: Ghash,
}

impl Gcm {
    pub(crate) fn new(key: &[u8; 32]) -> Gcm {
        let aes = Aes256Enc::new(key.into());
        let mut h_key = hash_key(&aes);
        let ghash = Ghash::new(h_key);
        h_key.zeroize();
        Gcm { aes, ghash }
    }

    /// Encrypts `buf` in place and gives the tag.
    pub(crate) fn seal_in_place(
        &self,
        iv: &[u8; 32],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; 16], Rejected> {
        check_lengths(aad, buf)?;
        let j0 = self.counter_block(iv);
        let mut first = [Block::default(); RUN];
        let mask = self.first_run(j0, buf.len(), &mut first);
        apply(&first[1..], buf);
        wipe(&mut first[..first_run_len(buf.len())]);
        self.rest_of_keystream(j0, buf);
        let hash = self.ghash(aad, buf);
        Ok((hash ^ mask).to_be_bytes())
    }

    /// Checks the tag over `aad` and the ciphertext in `buf`, then decrypts `buf` in
    /// place. On [`Rejected`], `buf` is unchanged.
    pub(crate) fn open_in_place(
        &self,
        iv: &[u8; 32],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), Rejected> {
        check_lengths(aad, buf)?;
        // The keystream's first run before the tag's GHASH: the two are independent, and
        // in this order the AES rounds overlap the hash and the ciphertext just decoded
        // into `buf` is read later (a fifth less time for a short value).
        let j0 = self.counter_block(iv);
        let mut first = [Block::default(); RUN];
        let mask = self.first_run(j0, buf.len(), &mut first);
        let hash = self.ghash(aad, buf);
        let mut expected = hash ^ mask;
        let same = bool::from(expected.ct_eq(&u128::from_be_bytes(*tag)));
        expected.zeroize();
        if !same {
            wipe(&mut first[..first_run_len(buf.len())]);
            return Err(Rejected);
        }
        apply(&first[1..], buf);
        wipe(&mut first[..first_run_len(buf.len())]);
        self.rest_of_keystream(j0, buf);
        Ok(())
    }

    /// `J0` for a 32-byte nonce.
    fn counter_block(&self, iv: &[u8; 32]) -> [u8; 16] {
        let (x1, x2) = iv.split_at(16);
        self.ghash
            .counter_block(element(x1), element(x2))
            .to_be_bytes()
    }

    /// Encrypts `J0` (the tag's mask, returned) and `J0 + 1 …` for the first blocks of a
    /// text of `len` bytes into `run[0..]`; the blocks not needed stay zero.
    fn first_run(&self, j0: [u8; 16], len: usize, run: &mut [Block; RUN]) -> u128 {
        let n = first_run_len(len);
        for (i, b) in run.iter_mut().take(n).enumerate() {
            *b = counter_at(j0, i as u32).into();
        }
        self.aes.encrypt_blocks(&mut run[..n]);
        u128::from_be_bytes(run[0].into())
    }

    /// XORs the keystream from `J0 + RUN` on over the text past the first run.
    fn rest_of_keystream(&self, j0: [u8; 16], text: &mut [u8]) {
        let Some(rest) = text.get_mut(16 * (RUN - 1)..) else {
            return;
        };
        let mut blocks = [Block::default(); RUN];
        let mut counter = RUN as u32;
        for chunk in rest.chunks_mut(16 * RUN) {
            let n = chunk.len().div_ceil(16);
            for b in blocks.iter_mut().take(n) {
                *b = counter_at(j0, counter).into();
                counter = counter.wrapping_add(1);
            }
            self.aes.encrypt_blocks(&mut blocks[..n]);
            apply(&blocks[..n], chunk);
        }
        wipe(&mut blocks);
    }

    fn ghash(&self, aad: &[u8], text: &[u8]) -> u128 {
        self.ghash.tag_hash(aad, text)
    }
}

/// `H = E(0^128)` as a POLYVAL key: `mulX_POLYVAL(ByteReverse(H))`.
fn hash_key(aes: &Aes256Enc) -> u128 {
    let mut h = Block::default();
    aes.encrypt_block(&mut h);
    h.reverse();
    let mut key = polyval::mulx(&h);
    h.as_mut_slice().zeroize();
    let k = u128::from_le_bytes(key.into());
    key.as_mut_slice().zeroize();
    k
}

/// GCM's last GHASH block: the AAD's and the text's lengths in bits.
fn lengths_block(aad: &[u8], text: &[u8]) -> u128 {
    (u128::from(aad.len() as u64 * 8) << 64) | u128::from(text.len() as u64 * 8)
}

/// How many blocks the first run encrypts for a text of `len` bytes: `J0`, then one
/// per block of the text, up to [`RUN`] in all.
fn first_run_len(len: usize) -> usize {
    1 + len.div_ceil(16).min(RUN - 1)
}

fn check_lengths(aad: &[u8], text: &[u8]) -> Result<(), Rejected> {
    if text.len() as u64 > MAX_TEXT || aad.len() as u64 >= 1 << 61 {
        return Err(Rejected);
    }
    Ok(())
}

/// A GHASH block of 16 bytes as a POLYVAL element (its bytes reversed, read as a
/// little-endian number).
fn element(ghash_block: &[u8]) -> u128 {
    let mut b = [0u8; 16];
    b.copy_from_slice(ghash_block);
    u128::from_be_bytes(b)
}

/// [`element`] of a block of up to 16 bytes, padded with zeros. Read in pieces of 8,
/// 4, 2 and 1 bytes: copying a short block into a zeroed array and reading that back
/// stalls on the store (it was about a tenth of the cipher's time).
fn padded_element(bytes: &[u8]) -> u128 {
    let (high, low) = match bytes.split_at_checked(8) {
        Some((high, low)) => (u64::from_be_bytes(high.try_into().unwrap_or_default()), low),
        None => (partial_from_top(bytes), &[][..]),
    };
    (u128::from(high) << 64) | u128::from(partial_from_top(low))
}

/// Up to 8 bytes as the top bytes of a big-endian `u64`, the rest zero.
fn partial_from_top(bytes: &[u8]) -> u64 {
    if let Ok(all) = <[u8; 8]>::try_from(bytes) {
        return u64::from_be_bytes(all);
    }
    let mut v = 0u64;
    let mut shift = 56;
    let mut rest = bytes;
    if let Some((four, tail)) = rest.split_first_chunk::<4>() {
        v |= u64::from(u32::from_be_bytes(*four)) << 32;
        rest = tail;
        shift = 24;
    }
    if let Some((two, tail)) = rest.split_first_chunk::<2>() {
        v |= u64::from(u16::from_be_bytes(*two)) << (shift - 8);
        rest = tail;
        shift -= 16;
    }
    if let Some(&one) = rest.first() {
        v |= u64::from(one) << shift;
    }
    v
}

/// `J0` with its last 32 bits increased by `by` (mod 2^32), as GCM's `inc32`.
pub(super) fn counter_at(j0: [u8; 16], by: u32) -> [u8; 16] {
    let mut c = j0;
    let low = u32::from_be_bytes([j0[12], j0[13], j0[14], j0[15]]).wrapping_add(by);
    c[12..].copy_from_slice(&low.to_be_bytes());
    c
}

/// XORs encrypted counter blocks onto `text`, as far as both go (the last block of
/// the text may be partial).
fn apply(stream: &[Block], text: &mut [u8]) {
    for (block, chunk) in stream.iter().zip(text.chunks_mut(16)) {
        for (t, k) in chunk.iter_mut().zip(block.iter()) {
            *t ^= k;
        }
    }
}

/// Overwrites keystream blocks with zeros: plain stores (a few vector moves) kept by
/// `zeroize`'s optimisation barrier, as `secbuf::wipe` does for output buffers. The
/// `Zeroize` of a byte slice writes one volatile byte at a time: 16 stores per block,
/// a fifth of a short value's seal.
fn wipe(blocks: &mut [Block]) {
    for b in blocks.iter_mut() {
        *b = Block::default();
    }
    zeroize::optimization_barrier(&*blocks);
}

#[cfg(test)]
#[path = "gcm_tests.rs"]
mod tests;
