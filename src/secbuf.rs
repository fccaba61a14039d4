//! A growable byte buffer for plaintext that never leaves copies of its contents in freed
//! memory. `Vec` growth (and so `Zeroizing<Vec<u8>>`) reallocates and frees the old
//! allocation as it is; this buffer copies into a larger one and wipes the old one first.

use zeroize::Zeroizing;

use crate::format::Output;

/// An output buffer that never leaves copies of its contents in freed memory: every
/// buffer that held output is overwritten with zeros before it is freed (when it grows,
/// when it is dropped).
pub struct SecureBuf {
    buf: Vec<u8>,
}

/// Overwrites the written part of a buffer with zeros and empties it. Only `..len` is
/// wiped: the writer never truncates, so nothing was ever written past `len`. A plain
/// `fill` (a vectorised `memset`) followed by an optimisation barrier, so the stores are
/// kept although the memory is freed right after; several times faster than a volatile
/// byte loop on megabytes of output.
pub(crate) fn wipe(buf: &mut Vec<u8>) {
    buf.fill(0);
    zeroize::optimization_barrier(buf.as_slice());
    buf.clear();
}

/// Appends `b` to a plaintext buffer that is only ever appended to (MAC input). When it
/// must grow, the bytes are copied into a larger allocation and the old one is wiped
/// before it is freed: `Vec` growth would free it with the plaintext in it.
pub(crate) fn extend_wiped(buf: &mut Zeroizing<Vec<u8>>, b: &[u8]) {
    if buf.capacity() - buf.len() < b.len() {
        let cap = (buf.len() + b.len()).max(buf.capacity().saturating_mul(2));
        let mut grown = Vec::with_capacity(cap);
        grown.extend_from_slice(buf);
        let mut old = std::mem::replace(&mut **buf, grown);
        wipe(&mut old);
    }
    buf.extend_from_slice(b);
}

/// The most a size estimate reserves up front (1 GiB). Output larger than that is still
/// written: the buffer grows as it is filled. A finished buffer is wiped over its whole
/// capacity ([`discard`]), so an over-estimate costs memory that is really touched.
pub(crate) const HINT_MAX: usize = 1 << 30;

impl SecureBuf {
    /// An empty buffer with some initial capacity.
    pub fn with_capacity(cap: usize) -> Self {
        SecureBuf {
            buf: Vec::with_capacity(cap),
        }
    }

    /// An empty buffer sized from `est`, an estimate of what will be written. An estimate
    /// is only a hint and is never trusted whole: it is capped at [`HINT_MAX`], and when
    /// even that much memory cannot be had the buffer starts small and grows as bytes are
    /// actually written (a guess that cannot be allocated is not an error, and must not
    /// abort the process as `Vec::with_capacity` would).
    pub(crate) fn with_capacity_hint(est: usize) -> Self {
        let mut b = SecureBuf { buf: Vec::new() };
        b.reserve_hint(est);
        b
    }

    /// As [`SecureBuf::reserve`] for an estimate: makes room for about `extra` more
    /// bytes, capped at [`HINT_MAX`]; does nothing when that allocation fails.
    pub(crate) fn reserve_hint(&mut self, extra: usize) {
        let want = extra.min(HINT_MAX);
        if want <= self.buf.capacity() - self.buf.len() {
            return;
        }
        let mut grown = Vec::new();
        if grown
            .try_reserve_exact(self.buf.len().saturating_add(want))
            .is_ok()
        {
            grown.extend_from_slice(&self.buf);
            let mut old = std::mem::replace(&mut self.buf, grown);
            wipe(&mut old);
        }
    }

    /// A buffer that writes into `v`'s allocation (a recycled one; whatever it holds is
    /// wiped first).
    pub(crate) fn reusing(mut v: Vec<u8>) -> Self {
        wipe(&mut v);
        SecureBuf { buf: v }
    }

    /// Wipes and drops everything from byte `at` on (the allocation is kept).
    pub(crate) fn wipe_from(&mut self, at: usize) {
        if let Some(tail) = self.buf.get_mut(at..) {
            tail.fill(0);
            zeroize::optimization_barrier(&*tail);
            self.buf.truncate(at);
        }
    }

    /// Makes room for `extra` more bytes (growing wipes the old buffer).
    #[inline]
    pub fn reserve(&mut self, extra: usize) {
        if extra > self.buf.capacity() - self.buf.len() {
            self.grow(extra);
        }
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, extra: usize) {
        let need = self.buf.len().saturating_add(extra);
        let cap = need.max(self.buf.capacity().saturating_mul(2)).max(256);
        let mut grown = Vec::with_capacity(cap);
        grown.extend_from_slice(&self.buf);
        let mut old = std::mem::replace(&mut self.buf, grown);
        wipe(&mut old);
    }

    /// Appends bytes.
    #[inline]
    pub fn push(&mut self, b: &[u8]) {
        self.reserve(b.len());
        self.buf.extend_from_slice(b);
    }

    /// Reserves `max` more bytes, then lets `f` append to the buffer directly. `f` must
    /// append at most `max` bytes (a `Vec` that grew would free the old allocation
    /// unwiped; more than `max` is debug-asserted against).
    #[inline]
    pub(crate) fn append_with<T>(&mut self, max: usize, f: impl FnOnce(&mut Vec<u8>) -> T) -> T {
        self.reserve(max);
        let cap = self.buf.capacity();
        let r = f(&mut self.buf);
        debug_assert_eq!(
            cap,
            self.buf.capacity(),
            "append_with grew past what it reserved"
        );
        r
    }

    /// Appends one byte.
    #[inline]
    pub fn byte(&mut self, b: u8) {
        self.reserve(1);
        self.buf.push(b);
    }

    /// Appends `n` copies of a byte.
    pub fn repeat(&mut self, b: u8, n: usize) {
        self.reserve(n);
        self.buf.resize(self.buf.len() + n, b);
    }

    /// Appends another buffer's bytes and wipes it.
    pub(crate) fn append(&mut self, mut other: SecureBuf) {
        self.push(&other.buf);
        wipe(&mut other.buf);
    }

    /// How many bytes it holds without growing.
    pub(crate) fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The bytes written so far.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    /// Reads a whole stream into the buffer (standard input: no size is known, and a
    /// growing `Vec` would leave copies of what was read in the memory it frees).
    pub fn read_all(&mut self, r: &mut impl std::io::Read) -> std::io::Result<()> {
        let mut chunk = zeroize::Zeroizing::new([0u8; 64 * 1024]);
        loop {
            match r.read(&mut chunk[..]) {
                Ok(0) => return Ok(()),
                Ok(n) => self.push(chunk.get(..n).unwrap_or(&[])),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The finished output.
    pub fn finish(mut self) -> Output {
        Zeroizing::new(std::mem::take(&mut self.buf))
    }
}

impl Drop for SecureBuf {
    fn drop(&mut self) {
        wipe(&mut self.buf);
    }
}

/// Wipes an output buffer (its whole capacity) with a fast `memset` and frees it, instead
/// of `Zeroizing`'s byte-by-byte volatile loop, which costs milliseconds per ten
/// megabytes.
pub fn discard(mut out: Output) {
    let mut v = std::mem::take(&mut *out);
    let cap = v.capacity();
    v.fill(0);
    v.resize(cap, 0);
    zeroize::optimization_barrier(v.as_slice());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extend_wiped_keeps_every_byte_and_grows_past_its_capacity() {
        let mut b = Zeroizing::new(Vec::with_capacity(4));
        let mut want = Vec::new();
        for i in 0..2_000u32 {
            let piece = i.to_string();
            extend_wiped(&mut b, piece.as_bytes());
            want.extend_from_slice(piece.as_bytes());
        }
        assert_eq!(b.as_slice(), &want[..]);
        assert!(b.capacity() >= want.len());
    }

    #[test]
    fn growth_keeps_every_byte_in_order() {
        let mut b = SecureBuf::with_capacity(0);
        let mut want = Vec::new();
        for i in 0..10_000u32 {
            let piece = i.to_string();
            b.push(piece.as_bytes());
            b.byte(b',');
            b.repeat(b' ', (i % 3) as usize);
            want.extend_from_slice(piece.as_bytes());
            want.push(b',');
            want.extend(std::iter::repeat_n(b' ', (i % 3) as usize));
        }
        assert_eq!(b.as_slice(), &want[..]);
        assert_eq!(&b.finish()[..], &want[..]);
    }

    #[test]
    fn read_all_reads_a_stream_in_chunks() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut b = SecureBuf::with_capacity(16);
        b.read_all(&mut &data[..]).unwrap();
        assert_eq!(b.as_slice(), &data[..]);
        discard(b.finish());
    }
}
