//! Fresh 32-byte value nonces from a user-space generator: AES-256 in counter mode under
//! a key drawn from the operating system's generator when the generator is made. One
//! system call (48 bytes) per generator instead of 32 bytes of kernel output per value;
//! the keystream costs a few AES-NI rounds per nonce.
//!
//! Security argument (docs/security.md, "Value nonces, round 6"):
//!
//! - **Uniqueness.** Within one generator the counter blocks are distinct (a 128-bit
//!   counter that would need 2^128 blocks to wrap) and AES is a permutation, so no two
//!   keystream blocks, hence no two nonces, are equal. Two generators have independent
//!   random keys and starting counters: a collision of two 32-byte nonces across them is
//!   as unlikely as between two nonces taken straight from the operating system.
//! - **Unpredictability.** The key never leaves the generator; under AES-256's security
//!   as a pseudorandom permutation the nonces are indistinguishable from random ones far
//!   beyond any number a file can hold (the distinguishing bound is about 2^64 blocks).
//! - **No reuse across threads or forks.** A generator is owned by one walker (one per
//!   part and worker), never shared or copied (`Clone` is not implemented), and each is
//!   seeded from the operating system when it is made; the process does not fork while
//!   encrypting.
//! - **Wiping.** The expanded key is wiped when the generator is dropped (the `aes`
//!   crate's `zeroize` feature), the seed right after the key expansion, and every
//!   keystream block as soon as it was handed out; unused blocks are wiped on drop.

use aes::Aes256;
use aes::Block;
use aes::cipher::BlockEncrypt;
use aes::cipher::KeyInit;
use aes::cipher::generic_array::GenericArray;
use zeroize::Zeroize;
use zeroize::Zeroizing;

use crate::crypto::CryptoError;

/// Keystream blocks computed at once (AES-NI encrypts several blocks in parallel).
const BLOCKS: usize = 32;

/// A generator of fresh, unique, unpredictable 32-byte nonces (see the module docs).
pub struct IvGenerator {
    cipher: Aes256,
    counter: u128,
    blocks: [Block; BLOCKS],
    /// The next unused block of `blocks` (`BLOCKS`: none left).
    pos: usize,
}

impl IvGenerator {
    /// A generator under a fresh key from the operating system's random generator.
    pub fn new() -> Result<IvGenerator, CryptoError> {
        let mut seed = Zeroizing::new([0u8; 48]);
        crate::crypto::random_bytes(&mut seed[..])?;
        let (key, start) = seed.split_at(32);
        let cipher = Aes256::new(GenericArray::from_slice(key));
        let mut counter = [0u8; 16];
        counter.copy_from_slice(start);
        Ok(IvGenerator {
            cipher,
            counter: u128::from_le_bytes(counter),
            blocks: [Block::default(); BLOCKS],
            pos: BLOCKS,
        })
    }

    /// The next nonce: two keystream blocks, wiped in the generator as they are taken.
    pub fn next_iv(&mut self) -> [u8; 32] {
        if self.pos + 2 > BLOCKS {
            self.refill();
        }
        let mut iv = [0u8; 32];
        let (lo, hi) = iv.split_at_mut(16);
        if let Some([a, b]) = self.blocks.get_mut(self.pos..self.pos + 2) {
            lo.copy_from_slice(a);
            hi.copy_from_slice(b);
            // Plain stores kept by the barrier: `Zeroize` on a byte slice is one volatile
            // store per byte, 32 for every value sealed.
            *a = Block::default();
            *b = Block::default();
            zeroize::optimization_barrier(&self.blocks);
        }
        self.pos += 2;
        iv
    }

    fn refill(&mut self) {
        for b in &mut self.blocks {
            b.copy_from_slice(&self.counter.to_le_bytes());
            self.counter = self.counter.wrapping_add(1);
        }
        self.cipher.encrypt_blocks(&mut self.blocks);
        self.pos = 0;
    }
}

impl Drop for IvGenerator {
    fn drop(&mut self) {
        for b in &mut self.blocks {
            b.as_mut_slice().zeroize();
        }
        self.counter.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn nonces_of_one_generator_are_distinct_and_not_the_counter() {
        let mut g = IvGenerator::new().expect("rng");
        let start = g.counter;
        let mut seen = HashSet::new();
        for _ in 0..5000 {
            let iv = g.next_iv();
            assert!(seen.insert(iv));
            assert_ne!(iv[..16], start.to_le_bytes());
        }
    }

    #[test]
    fn generators_in_threads_and_in_turn_give_different_nonces() {
        let firsts: Vec<Vec<[u8; 32]>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        let mut g = IvGenerator::new().expect("rng");
                        (0..300).map(|_| g.next_iv()).collect::<Vec<_>>()
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().expect("thread")).collect()
        });
        let mut seen = HashSet::new();
        for iv in firsts.iter().flatten() {
            assert!(seen.insert(*iv), "a nonce repeated across generators");
        }
        // A generator made later (a later run) starts elsewhere.
        let mut again = IvGenerator::new().expect("rng");
        assert!(!seen.contains(&again.next_iv()));
    }

    #[test]
    fn taken_blocks_are_wiped() {
        let mut g = IvGenerator::new().expect("rng");
        let _ = g.next_iv();
        assert!(g.blocks[..2].iter().all(|b| b.iter().all(|&x| x == 0)));
        assert!(g.blocks[2..].iter().any(|b| b.iter().any(|&x| x != 0)));
    }
}
