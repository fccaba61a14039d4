//! The IV stash: re-encrypting an unchanged (path, plaintext) pair with the same data key
//! reuses its previous nonce, so the ciphertext stays byte-identical and git diffs stay
//! minimal. Entries are keyed by a SHA-256 of (a per-process random salt, AAD, type,
//! plaintext), never by the plaintext itself. The digest is uniformly distributed and
//! unpredictable without the salt, so the maps use its first eight bytes as their hash
//! instead of hashing it again with SipHash.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::BuildHasherDefault;
use std::hash::Hasher;
use std::sync::OnceLock;
use std::sync::atomic::AtomicU32;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;

use sha2::Digest;
use sha2::Sha256;

use crate::crypto::value::ValueType;

/// Remembered nonces, by (AAD, type, plaintext) digest. Equal values under the same path
/// (e.g. repeated list items) keep one nonce each, in walk order, so each keeps its own
/// ciphertext (sops keeps only the last one, so such items change on every write).
#[derive(Default, Clone, PartialEq)]
pub struct NonceStash(HashMap<[u8; 32], Nonces, DigestHash>);

/// The maps' hasher: the first eight bytes of the salted SHA-256 digest that is the key.
type DigestHash = BuildHasherDefault<DigestHasher>;

/// The stash maps' hasher: the first eight bytes of the salted SHA-256 digest that is the
/// key (already uniformly distributed, so hashing it again is wasted work).
#[derive(Default)]
pub struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn write(&mut self, bytes: &[u8]) {
        // A `[u8; 32]` key is hashed as its length, then its bytes: the bytes set the hash.
        if let Some(first) = bytes.first_chunk::<8>() {
            self.0 = u64::from_le_bytes(*first);
        }
    }

    fn write_usize(&mut self, _: usize) {}

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The nonces of one (AAD, type, plaintext) digest, in walk order: the first one inline,
/// so that the usual single occurrence costs no allocation of its own. `used` counts the
/// occurrences handed out in the current pass (the pass number in the high 32 bits, the
/// count in the low ones), so that a pass needs no table of its own.
struct Nonces {
    first: [u8; 32],
    rest: Vec<[u8; 32]>,
    used: AtomicU64,
}

impl Clone for Nonces {
    fn clone(&self) -> Self {
        Nonces {
            first: self.first,
            rest: self.rest.clone(),
            used: AtomicU64::new(self.used.load(Ordering::Relaxed)),
        }
    }
}

impl PartialEq for Nonces {
    fn eq(&self, other: &Self) -> bool {
        self.first == other.first && self.rest == other.rest
    }
}

impl Nonces {
    /// Takes the next occurrence of this value in pass `pass`: its index in walk order.
    fn take(&self, pass: u32) -> usize {
        let mut n = 0;
        let _ = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                let (p, c) = ((u >> 32) as u32, u as u32);
                n = if p == pass { c } else { 0 };
                Some((u64::from(pass) << 32) | u64::from(n.saturating_add(1)))
            });
        n as usize
    }

    fn get(&self, n: usize) -> Option<[u8; 32]> {
        match n {
            0 => Some(self.first),
            _ => self.rest.get(n - 1).copied(),
        }
    }

    fn len(&self) -> usize {
        1 + self.rest.len()
    }

    fn push_all(&mut self, other: Nonces) {
        self.rest.push(other.first);
        self.rest.extend(other.rest);
    }
}

/// A pass over the stash during one encryption: hands out each remembered nonce once.
/// Copies of one cursor share its pass (the runs of a parallel encryption, whose AADs
/// never meet); one pass over a stash at a time.
#[derive(Debug, Clone, Copy)]
pub struct StashCursor<'a> {
    stash: &'a NonceStash,
    pass: u32,
}

impl StashCursor<'_> {
    /// The nonce to reuse for the next occurrence of an unchanged value, if any.
    pub fn next(&self, aad: &[u8], typ: ValueType, plaintext: &[u8]) -> Option<[u8; 32]> {
        let d = digest(aad, typ, plaintext);
        let list = self.stash.0.get(&d)?;
        list.get(list.take(self.pass))
    }
}

/// Pass numbers: a new pass starts every count at zero without touching the entries.
/// Entries start at pass 0, which no cursor has.
static PASSES: AtomicU32 = AtomicU32::new(0);

impl std::fmt::Debug for NonceStash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NonceStash({} entries)", self.0.len())
    }
}

/// A random salt for this process's digests: without it, digests are predictable and
/// anyone who writes values into a file could make many of them share a hash bucket.
fn salt() -> &'static [u8; 16] {
    static SALT: OnceLock<[u8; 16]> = OnceLock::new();
    SALT.get_or_init(|| {
        let mut s = [0u8; 16];
        // Without a random generator nothing can be encrypted anyway; the stash then
        // works as before, only with predictable buckets.
        let _ = crate::crypto::random_bytes(&mut s);
        s
    })
}

fn digest(aad: &[u8], typ: ValueType, plaintext: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt());
    h.update((aad.len() as u64).to_le_bytes());
    h.update(aad);
    h.update(typ.name().as_bytes());
    h.update([0]);
    h.update(plaintext);
    h.finalize().into()
}

impl NonceStash {
    /// An empty stash.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty stash with room for `values` distinct values (no growth, which would
    /// rehash into fresh memory, until then).
    pub fn with_capacity(values: usize) -> Self {
        NonceStash(HashMap::with_capacity_and_hasher(
            values,
            DigestHash::default(),
        ))
    }

    /// Records the nonce a value was decrypted with.
    pub fn remember(&mut self, aad: &[u8], typ: ValueType, plaintext: &[u8], iv: [u8; 32]) {
        let nonces = Nonces {
            first: iv,
            rest: Vec::new(),
            used: AtomicU64::new(0),
        };
        match self.0.entry(digest(aad, typ, plaintext)) {
            Entry::Occupied(mut e) => e.get_mut().push_all(nonces),
            Entry::Vacant(e) => {
                e.insert(nonces);
            }
        }
    }

    /// Appends another stash's nonces after this one's (walk order is kept per value).
    pub fn append(&mut self, other: NonceStash) {
        // The parts of a parallel decrypt are merged here: the first one is taken as it
        // is, and room for the others is made once instead of by repeated growth.
        if self.0.is_empty() && self.0.capacity() < other.0.len() {
            *self = other;
            return;
        }
        self.0.reserve(other.0.len());
        for (k, v) in other.0 {
            match self.0.entry(k) {
                Entry::Occupied(mut e) => e.get_mut().push_all(v),
                Entry::Vacant(e) => {
                    e.insert(v);
                }
            }
        }
    }

    /// Starts handing out the remembered nonces for one encryption pass.
    pub fn cursor(&self) -> StashCursor<'_> {
        // Never 0 (the state of a new entry), also after wrapping.
        let mut pass = PASSES.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        if pass == 0 {
            pass = PASSES.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        }
        StashCursor { stash: self, pass }
    }

    /// Number of remembered values.
    pub fn len(&self) -> usize {
        self.0.values().map(Nonces::len).sum()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_stashes_keep_walk_order_per_value() {
        let mut a = NonceStash::new();
        a.remember(b"l:", ValueType::Str, b"x", [1; 32]);
        let mut b = NonceStash::new();
        b.remember(b"l:", ValueType::Str, b"x", [2; 32]);
        b.remember(b"l:", ValueType::Str, b"y", [3; 32]);
        let mut c = NonceStash::new();
        c.remember(b"l:", ValueType::Str, b"x", [4; 32]);
        c.remember(b"l:", ValueType::Str, b"x", [5; 32]);
        let mut all = NonceStash::new();
        all.append(a);
        all.append(b);
        all.append(c);
        assert_eq!(all.len(), 5);
        let cur = all.cursor();
        for iv in 1..=5u8 {
            if iv == 3 {
                continue;
            }
            assert_eq!(cur.next(b"l:", ValueType::Str, b"x"), Some([iv; 32]));
        }
        assert_eq!(cur.next(b"l:", ValueType::Str, b"x"), None);
        assert_eq!(cur.next(b"l:", ValueType::Str, b"y"), Some([3; 32]));
    }

    #[test]
    fn equal_values_keep_their_own_nonces_in_order() {
        let mut s = NonceStash::new();
        s.remember(b"l:", ValueType::Str, b"a", [1; 32]);
        s.remember(b"l:", ValueType::Str, b"b", [2; 32]);
        s.remember(b"l:", ValueType::Str, b"a", [3; 32]);
        let c = s.cursor();
        assert_eq!(c.next(b"l:", ValueType::Str, b"a"), Some([1; 32]));
        assert_eq!(c.next(b"l:", ValueType::Str, b"a"), Some([3; 32]));
        assert_eq!(
            c.next(b"l:", ValueType::Str, b"a"),
            None,
            "a third copy gets a fresh nonce"
        );
        assert_eq!(c.next(b"l:", ValueType::Str, b"b"), Some([2; 32]));
        assert_eq!(
            c.next(b"m:", ValueType::Str, b"b"),
            None,
            "another path never reuses"
        );
        assert_eq!(
            s.cursor().next(b"l:", ValueType::Str, b"a"),
            Some([1; 32]),
            "each pass starts over"
        );
    }
}
