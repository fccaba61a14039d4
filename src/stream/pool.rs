//! Buffers recycled from the folding thread back to the workers.
//!
//! Each part of a streamed decrypt needs an output buffer, MAC input and integrity
//! tokens. Allocated fresh for every part, they are memory the process touches for the
//! first time (or again after the allocator gave it back): the kernel zeroes every such
//! page, which was a quarter of the CPU time of a streamed JSON decrypt. Instead the
//! fold hands each part's buffers back here once it has taken their bytes, and the
//! workers take them for later parts. A buffer that held plaintext is wiped (every byte
//! written, with a fast `memset`) before it is put back, so the pool holds only zeros and
//! text that stands in the encrypted file.

use std::sync::Mutex;

/// The step new buffers' capacities are rounded up to.
pub(super) const GRAIN: usize = 64 * 1024;

/// `cap` rounded up to a multiple of [`GRAIN`] (`cap` itself when that overflows).
fn grain(cap: usize) -> usize {
    cap.checked_next_multiple_of(GRAIN).unwrap_or(cap)
}

/// A few emptied buffers of one kind.
pub(super) struct Pool {
    free: Mutex<Vec<Vec<u8>>>,
    /// How many buffers are kept at most (the parts in flight); more are freed.
    keep: usize,
}

impl Pool {
    /// An empty pool that keeps at most `keep` buffers.
    pub(super) fn new(keep: usize) -> Pool {
        Pool {
            free: Mutex::new(Vec::new()),
            keep,
        }
    }

    /// An empty buffer of at least `cap` bytes' capacity: a recycled one when one is
    /// large enough, else a new one of `cap` rounded up to [`GRAIN`] (parts differ in
    /// size by a few percent: a buffer of exactly one part's size is too small for
    /// half of the later ones, each of which then takes fresh memory).
    pub(super) fn take(&self, cap: usize) -> Vec<u8> {
        let mut free = self
            .free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(i) = free.iter().position(|b| b.capacity() >= cap) {
            return free.swap_remove(i);
        }
        drop(free);
        Vec::with_capacity(grain(cap))
    }

    /// Puts a buffer back, emptied; `wipe`: it held plaintext, which is overwritten
    /// first (only `..len`: the buffers handed out here are only ever appended to, so
    /// nothing was written past their length).
    pub(super) fn give(&self, mut b: Vec<u8>, wipe: bool) {
        if wipe {
            crate::secbuf::wipe(&mut b);
        }
        b.clear();
        let mut free = self
            .free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if free.len() < self.keep {
            free.push(b);
        }
    }
}

/// The pools of one streamed decrypt.
pub(super) struct Pools {
    /// Parts' output (plaintext).
    pub out: Pool,
    /// Parts' MAC input (plaintext).
    pub mac: Pool,
    /// Parts' integrity tokens (what stands in the encrypted file).
    pub tokens: Pool,
}

impl Pools {
    /// Pools for `threads` workers (each at most a few parts ahead of the fold).
    pub(super) fn new(threads: usize) -> Pools {
        let keep = threads * 3 + 2;
        Pools {
            out: Pool::new(keep),
            mac: Pool::new(keep * 2),
            tokens: Pool::new(keep),
        }
    }
}

/// Memory for the output of a file, touched on another thread while the file is
/// planned on the calling one ([`touch_ahead`]).
pub(super) type Ahead = std::cell::Cell<Option<Touching>>;

/// The thread of [`touch_ahead`]: joined when its memory is taken ([`Touching::join`])
/// and also when it is dropped unused (a declined plan), never detached (see
/// `crate::threads` for why a detach is avoided).
pub(super) struct Touching(Option<std::thread::JoinHandle<Vec<u8>>>);

impl Touching {
    /// Waits for the thread and takes the memory it touched.
    pub(super) fn join(mut self) -> std::thread::Result<Vec<u8>> {
        self.0.take().map_or_else(|| Ok(Vec::new()), |h| h.join())
    }
}

impl Drop for Touching {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            let _ = h.join();
        }
    }
}

/// Starts touching memory for the output of a file of `len` encrypted bytes (about a
/// third of it: the plaintext of an `ENC[…]` value is shorter than a third of its text
/// but for its key) on another thread. The kernel zeroes every page a process touches
/// for the first time, and on this machine that was a tenth of the CPU time of a large
/// decrypt, all of it on the folding thread: here it runs while the file is planned,
/// when only one core works. The buffer holds no plaintext (its bytes are spaces).
pub(super) fn touch_ahead(len: usize) -> Ahead {
    let cap = len / 20 * 7;
    let handle = std::thread::Builder::new()
        .name("touch-ahead".to_owned())
        .spawn(move || {
            let mut v = Vec::with_capacity(cap);
            // Not zeros: an allocation filled with zeros may be taken from memory the
            // kernel has not handed out yet, which would touch nothing.
            v.resize(cap, b' ');
            v.clear();
            v
        })
        .ok();
    std::cell::Cell::new(handle.map(|h| Touching(Some(h))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_comes_back_empty_and_wiped() {
        let pool = Pool::new(2);
        let mut b = pool.take(64);
        b.extend_from_slice(b"secret");
        let cap = b.capacity();
        pool.give(b, true);
        let b = pool.take(16);
        assert!(b.is_empty());
        assert_eq!(b.capacity(), cap, "the same buffer");
        // A buffer too small for the request is not handed out.
        pool.give(b, true);
        assert!(pool.take(cap + 1).capacity() > cap);
    }

    #[test]
    fn new_buffers_are_rounded_up_so_that_parts_of_nearly_one_size_share_them() {
        let pool = Pool::new(2);
        let b = pool.take(131_100);
        assert_eq!(b.capacity(), 3 * GRAIN);
        pool.give(b, false);
        // A part a few percent larger takes the same buffer back.
        let b = pool.take(133_900);
        assert_eq!(b.capacity(), 3 * GRAIN, "the recycled buffer");
        assert_eq!(grain(0), 0);
        assert_eq!(grain(1), GRAIN);
        assert_eq!(grain(GRAIN), GRAIN);
        assert_eq!(grain(usize::MAX), usize::MAX);
    }

    #[test]
    fn it_keeps_only_so_many() {
        let pool = Pool::new(1);
        pool.give(Vec::with_capacity(8), false);
        pool.give(Vec::with_capacity(8), false);
        let free = pool.free.lock().expect("lock");
        assert_eq!(free.len(), 1);
    }
}
