//! GHASH with PCLMULQDQ and one reduction per eight blocks.
//!
//! Each block is multiplied by its own power of `H` (`H^8 … H^1`, computed once per data
//! key); the 256-bit carry-less products are summed and the sum is reduced once. The
//! `polyval` crate multiplies and reduces block after block; here a value's few blocks
//! cost one reduction, and the counter block of a 32-byte nonce one more.
//!
//! Elements are POLYVAL's (RFC 8452): a GHASH block's bytes reversed, read as a
//! little-endian number; a product of two elements carries POLYVAL's `x^-128`, so the
//! powers `P(k+1) = P(k)·P(1)` are the factors a block `k` places from the end of a run
//! is multiplied by. The intrinsics come through `safe_arch`, whose wrappers exist only
//! where the build enables PCLMULQDQ; leafseal has no `unsafe` code.

use safe_arch::bitxor_m128i;
use safe_arch::m128i;
use safe_arch::mul_i64_carryless_m128i;
use zeroize::Zeroize;

use super::lengths_block;
use super::padded_element;

/// Blocks multiplied before one reduction.
const WIDTH: usize = 8;

/// The powers of the GHASH key.
pub(super) struct Ghash {
    /// `powers[k]` is `H^(k+1)`, each with the XOR of its halves beside it (Karatsuba's
    /// middle factor).
    powers: [(u128, u128); WIDTH],
    /// `L·H`, for the 32-byte nonce's length block `L`.
    nonce_length_term: u128,
}

impl Drop for Ghash {
    fn drop(&mut self) {
        for (p, f) in &mut self.powers {
            p.zeroize();
            f.zeroize();
        }
        self.nonce_length_term.zeroize();
    }
}

impl Ghash {
    /// From `H` as a POLYVAL element (`mulX_POLYVAL(ByteReverse(H))`).
    pub(super) fn new(h_key: u128) -> Ghash {
        let mut powers = [(0u128, 0u128); WIDTH];
        let mut p = h_key;
        for slot in &mut powers {
            *slot = (p, fold(p));
            p = dot(p, h_key);
        }
        p.zeroize();
        let mut g = Ghash {
            powers,
            nonce_length_term: 0,
        };
        g.nonce_length_term = g.times(256, 1);
        g
    }

    /// `J0` for a 32-byte nonce `X1 X2`: `X1·H³ + X2·H² + L·H`, one reduction.
    pub(super) fn counter_block(&self, x1: u128, x2: u128) -> u128 {
        let mut sum = Sum::zero();
        sum.add(x1, self.powers[2]);
        sum.add(x2, self.powers[1]);
        sum.reduce() ^ self.nonce_length_term
    }

    /// GHASH over the AAD, the text (each padded to whole blocks) and the length block.
    /// The first run takes what is left over from runs of eight, so that every run
    /// after it is full and the length block ends the last.
    pub(super) fn tag_hash(&self, aad: &[u8], text: &[u8]) -> u128 {
        let count = aad.len().div_ceil(16) + text.len().div_ceil(16) + 1;
        let mut run = Run {
            powers: &self.powers,
            state: 0,
            sum: Sum::zero(),
            left: count - (count - 1) / WIDTH * WIDTH,
            first: true,
        };
        for c in aad.chunks(16).chain(text.chunks(16)) {
            run.push(padded_element(c));
        }
        run.push(lengths_block(aad, text));
        std::mem::take(&mut run.state)
    }

    /// `x·H^power`, reduced.
    fn times(&self, x: u128, power: usize) -> u128 {
        let mut sum = Sum::zero();
        sum.add(x, self.powers[power - 1]);
        sum.reduce()
    }
}

/// A run of blocks being summed for one reduction, and the hash before it.
struct Run<'a> {
    powers: &'a [(u128, u128); WIDTH],
    state: u128,
    sum: Sum,
    /// Blocks left in this run, the one pushed next included.
    left: usize,
    /// The next block opens the run (the hash so far is added to it).
    first: bool,
}

impl Run<'_> {
    /// `state = (state + b1)·H^n + b2·H^(n-1) + … + bn·H` over a run, one reduction at
    /// its end.
    #[inline(always)]
    fn push(&mut self, block: u128) {
        let x = if self.first {
            block ^ self.state
        } else {
            block
        };
        self.first = false;
        self.sum.add(x, self.powers[self.left - 1]);
        self.left -= 1;
        if self.left == 0 {
            self.state = std::mem::replace(&mut self.sum, Sum::zero()).reduce();
            self.left = WIDTH;
            self.first = true;
        }
    }
}

impl Drop for Run<'_> {
    fn drop(&mut self) {
        self.state.zeroize();
    }
}

/// A sum of unreduced 256-bit carry-less products, as Karatsuba's three terms.
struct Sum {
    low: m128i,
    high: m128i,
    middle: m128i,
}

impl Sum {
    fn zero() -> Sum {
        Sum {
            low: m128i::from(0u128),
            high: m128i::from(0u128),
            middle: m128i::from(0u128),
        }
    }

    /// Adds `x·p` for a power `p` given with its folded halves.
    fn add(&mut self, x: u128, (p, p_fold): (u128, u128)) {
        let xv = m128i::from(x);
        let pv = m128i::from(p);
        self.low = bitxor_m128i(self.low, mul_i64_carryless_m128i::<0x00>(xv, pv));
        self.high = bitxor_m128i(self.high, mul_i64_carryless_m128i::<0x11>(xv, pv));
        self.middle = bitxor_m128i(
            self.middle,
            mul_i64_carryless_m128i::<0x00>(m128i::from(fold(x)), m128i::from(p_fold)),
        );
    }

    /// The sum times `x^-128` modulo `x^128 + x^127 + x^126 + x^121 + 1` (POLYVAL's
    /// reduction, two folds of 64 bits).
    fn reduce(self) -> u128 {
        let low = u128::from(self.low);
        let high = u128::from(self.high);
        let middle = u128::from(self.middle) ^ low ^ high;
        // The 256-bit product, 64 bits at a time from the lowest.
        let v0 = low as u64;
        let mut v1 = (low >> 64) as u64 ^ middle as u64;
        let mut v2 = high as u64 ^ (middle >> 64) as u64;
        let mut v3 = (high >> 64) as u64;
        v2 ^= v0 ^ (v0 >> 1) ^ (v0 >> 2) ^ (v0 >> 7);
        v1 ^= (v0 << 63) ^ (v0 << 62) ^ (v0 << 57);
        v3 ^= v1 ^ (v1 >> 1) ^ (v1 >> 2) ^ (v1 >> 7);
        v2 ^= (v1 << 63) ^ (v1 << 62) ^ (v1 << 57);
        (u128::from(v3) << 64) | u128::from(v2)
    }
}

/// The XOR of an element's two halves, in the low half.
fn fold(x: u128) -> u128 {
    u128::from(x as u64 ^ (x >> 64) as u64)
}

/// POLYVAL's product `a·b·x^-128`.
fn dot(a: u128, b: u128) -> u128 {
    let mut sum = Sum::zero();
    sum.add(a, (b, fold(b)));
    sum.reduce()
}
