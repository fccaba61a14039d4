//! GHASH as two POLYVAL chains by `H²` (the `polyval` crate, any processor).

use polyval::Polyval;
use polyval::universal_hash::KeyInit;
use polyval::universal_hash::UniversalHash;
use zeroize::Zeroize;

use super::lengths_block;
use super::padded_element;

/// POLYVAL keyed with the GHASH key's first two powers.
pub(super) struct Ghash {
    /// Multiplies by `H`.
    by_h: Polyval,
    /// Multiplies by `H²`.
    by_h2: Polyval,
    /// `L·H`, for the 32-byte nonce's length block `L`.
    nonce_length_term: u128,
}

impl Drop for Ghash {
    fn drop(&mut self) {
        self.nonce_length_term.zeroize();
        // polyval 0.6's `Polyval` on x86 and x86_64 (aarch64 with `polyval_armv8`) is the
        // runtime-detected backend: a `ManuallyDrop` union without a `Drop` of its own, so
        // the backends' zeroizing `Drop` (the `zeroize` feature) never runs and `H`, `H²`
        // would stay in memory. Overwritten with POLYVAL keyed by zero; `black_box` keeps
        // the stores from being removed as dead (best effort: no volatile write without
        // `unsafe`; the `aes-gcm` crate's GHASH has the same gap).
        let zero = polyval::Key::default();
        self.by_h = Polyval::new(&zero);
        self.by_h2 = Polyval::new(&zero);
        core::hint::black_box(&self.by_h);
        core::hint::black_box(&self.by_h2);
    }
}

impl Ghash {
    /// From `H` as a POLYVAL element (`mulX_POLYVAL(ByteReverse(H))`).
    pub(super) fn new(h_key: u128) -> Ghash {
        let by_h = Polyval::new(&h_key.to_le_bytes().into());
        let mut h2 = times(&by_h, h_key).to_le_bytes();
        let by_h2 = Polyval::new(&h2.into());
        h2.zeroize();
        let nonce_length_term = times(&by_h, 256);
        Ghash {
            by_h,
            by_h2,
            nonce_length_term,
        }
    }

    /// `J0` for a 32-byte nonce `X1 X2`: `(X1·H + X2)·H² + L·H`.
    pub(super) fn counter_block(&self, x1: u128, x2: u128) -> u128 {
        times(&self.by_h2, times(&self.by_h, x1) ^ x2) ^ self.nonce_length_term
    }

    /// GHASH over the AAD, the text (each padded to whole blocks) and the length block
    /// `L`: `S = B1·H^n + … + Bk·H² + L·H` with `k = n - 1`. The blocks times an even
    /// power (`Bk`, `Bk-2`, …) are one chain by `H²`; those times an odd power (`Bk-1`,
    /// `Bk-3`, …) another, whose sum is multiplied by `H` once at the end.
    pub(super) fn tag_hash(&self, aad: &[u8], text: &[u8]) -> u128 {
        let count = aad.len().div_ceil(16) + text.len().div_ceil(16);
        let mut blocks = aad
            .chunks(16)
            .chain(text.chunks(16))
            .map(|c| polyval::Block::from(padded_element(c).to_le_bytes()));
        let mut even = self.by_h2.clone();
        let mut odd = self.by_h2.clone();
        if count % 2 == 1
            && let Some(b) = blocks.next()
        {
            even.update(core::slice::from_ref(&b));
        }
        while let (Some(x), Some(y)) = (blocks.next(), blocks.next()) {
            odd.update(core::slice::from_ref(&x));
            even.update(core::slice::from_ref(&y));
        }
        let even = element_of(even.finalize());
        let odd = element_of(odd.finalize());
        even ^ times(&self.by_h, odd ^ lengths_block(aad, text))
    }
}

fn element_of(polyval_bytes: polyval::Block) -> u128 {
    u128::from_le_bytes(polyval_bytes.into())
}

/// `x` times the key of `by` (one POLYVAL step from zero).
fn times(by: &Polyval, x: u128) -> u128 {
    let mut p = by.clone();
    p.update(&[polyval::Block::from(x.to_le_bytes())]);
    element_of(p.finalize())
}
