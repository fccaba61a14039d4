//! The copy of the encrypted input into the destination's temporary file while the
//! editor runs (see [`super::session`]).
//!
//! The input is not held in memory: it is read from its file (from the page cache,
//! where the open left it) a block at a time into one buffer.
//!
//! By default the copy bypasses the page cache (`O_DIRECT`, through a second descriptor
//! of the same temporary file opened via `/proc/self/fd`): the device reads the bytes
//! from the copy's buffer, so the copy costs little CPU and no fresh page
//! cache (43 MB of new page-cache pages were the copy's main cost on a busy machine:
//! the kernel's copy into them competed with the editor for the cores, and the final
//! `fdatasync` had all of them to write). Only the 4 KiB-aligned prefix of the input
//! goes that way; the unaligned tail, and everything after a direct write that fails
//! (a file system without `O_DIRECT`, an alignment it refuses), is written through the
//! page cache as before. The descriptor the caller owns is never switched to direct
//! I/O, so its later positioned writes (the patch) are ordinary buffered writes; the
//! kernel keeps the two views of the file coherent. The file is flushed
//! (`fdatasync`) at the end either way, and again before the rename by
//! [`crate::io::Destination::write_file`]: durability is as before.
//!
//! `LEAFSEAL_EDIT_COPY=buffered` (hidden, for tests and comparisons) writes everything
//! through the page cache.

use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;

/// The variable that picks the copy's mode.
pub(super) const COPY_ENV: &str = "LEAFSEAL_EDIT_COPY";

/// The block size of the copy (checked for a stop between blocks).
const BLOCK: usize = 4 << 20;

/// The alignment of direct writes: memory address, file offset and length (covers
/// devices with 512-byte and 4 KiB logical blocks).
const ALIGN: usize = 4096;

/// How the copy is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// The aligned prefix bypasses the page cache when the file system allows it.
    Direct,
    /// Everything through the page cache.
    Buffered,
}

impl Mode {
    /// The mode `LEAFSEAL_EDIT_COPY` asks for (default: direct).
    pub(super) fn from_env(value: Option<&str>) -> Mode {
        match value {
            Some(v) if v.eq_ignore_ascii_case("buffered") => Mode::Buffered,
            _ => Mode::Direct,
        }
    }
}

/// Copies `input` into `file` from its start, then flushes it to the device, unless
/// `stop` is set meanwhile; returns how many bytes of `input` the file holds (from its
/// start).
pub(super) fn prefill(file: &fs::File, input: &dyn Source, stop: &AtomicBool, mode: Mode) -> usize {
    let len = input.len();
    // Allocated zeroed, so its pages are touched only as far as they are used; only
    // ciphertext passes through it.
    let mut buf = vec![0u8; BLOCK.min(len) + ALIGN];
    let mut at = 0;
    if mode == Mode::Direct {
        at = direct(file, input, stop, &mut buf);
    }
    while at < len {
        let end = (at + BLOCK).min(len);
        let chunk = &mut buf[..end - at];
        if stop.load(Ordering::Relaxed)
            || input.fill(at, chunk).is_err()
            || file.write_all_at(chunk, at as u64).is_err()
        {
            return at;
        }
        at = end;
    }
    if !stop.load(Ordering::Relaxed) {
        let _ = file.sync_data();
    }
    at
}

/// Where the copy reads from.
pub(super) trait Source: Sync {
    /// The length of the text.
    fn len(&self) -> usize;
    /// Fills `buf` with the text from offset `at` on.
    fn fill(&self, at: usize, buf: &mut [u8]) -> std::io::Result<()>;
}

impl Source for crate::lifecycle::splice::EditInput<'_> {
    fn len(&self) -> usize {
        crate::lifecycle::splice::EditInput::len(self)
    }
    fn fill(&self, at: usize, buf: &mut [u8]) -> std::io::Result<()> {
        crate::lifecycle::splice::EditInput::fill(self, at, buf)
    }
}

/// A second descriptor of `file` with `O_DIRECT`, when the system gives one.
fn direct_handle(file: &fs::File) -> Option<fs::File> {
    let path = format!("/proc/self/fd/{}", file.as_raw_fd());
    fs::OpenOptions::new()
        .write(true)
        .custom_flags(rustix::fs::OFlags::DIRECT.bits() as i32)
        .open(path)
        .ok()
}

/// Writes the 4 KiB-aligned prefix of `input` with direct I/O, in blocks read into the
/// aligned part of `buf` (at least a block and an alignment long); stops at the first
/// failure. Returns how many bytes from the start were written.
fn direct(file: &fs::File, input: &dyn Source, stop: &AtomicBool, buf: &mut [u8]) -> usize {
    let aligned = input.len() / ALIGN * ALIGN;
    if aligned == 0 {
        return 0;
    }
    let Some(handle) = direct_handle(file) else {
        return 0;
    };
    let offset = match buf.as_ptr().align_offset(ALIGN) {
        o if o < ALIGN => o,
        _ => return 0,
    };
    let mut at = 0;
    while at < aligned {
        if stop.load(Ordering::Relaxed) {
            return at;
        }
        let end = (at + BLOCK).min(aligned);
        let Some(chunk) = buf.get_mut(offset..offset + (end - at)) else {
            return at;
        };
        if input.fill(at, chunk).is_err() || handle.write_all_at(chunk, at as u64).is_err() {
            // The rest (this block included) goes through the page cache.
            return at;
        }
        at = end;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Source for &[u8] {
        fn len(&self) -> usize {
            <[u8]>::len(self)
        }
        fn fill(&self, at: usize, buf: &mut [u8]) -> std::io::Result<()> {
            let n = buf.len();
            buf.copy_from_slice(&self[at..at + n]);
            Ok(())
        }
    }

    /// Both modes give the input's bytes, for lengths around the alignment and the
    /// block, from an aligned and an unaligned start in memory.
    #[test]
    fn both_modes_copy_the_input_exactly() {
        let dir = tempfile::tempdir().expect("dir");
        let whole: Vec<u8> = (0..BLOCK + 5 * ALIGN + 1)
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        // A start aligned in memory (the input written as it is) and one that is not
        // (through the aligned buffer).
        let aligned = whole.as_ptr().align_offset(ALIGN);
        assert!(aligned < ALIGN);
        let lens = [0, 1, ALIGN - 1, ALIGN, ALIGN + 1, BLOCK, BLOCK + ALIGN + 7];
        let stop = AtomicBool::new(false);
        for mode in [Mode::Direct, Mode::Buffered] {
            for skip in [aligned, aligned + 1] {
                for len in lens {
                    let input = &whole[skip..skip + len];
                    let p = dir.path().join(format!("{mode:?}-{skip}-{len}"));
                    let f = fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&p)
                        .expect("create");
                    assert_eq!(prefill(&f, &input, &stop, mode), len, "{mode:?} {len}");
                    drop(f);
                    assert!(
                        fs::read(&p).expect("read") == input,
                        "{mode:?} {skip} {len}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_stop_before_the_copy_writes_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let input = vec![7u8; 3 * ALIGN];
        let stop = AtomicBool::new(true);
        for mode in [Mode::Direct, Mode::Buffered] {
            let p = dir.path().join(format!("{mode:?}"));
            let f = fs::File::create(&p).expect("create");
            assert_eq!(prefill(&f, &&input[..], &stop, mode), 0);
        }
    }

    #[test]
    fn the_mode_comes_from_the_variable() {
        assert_eq!(Mode::from_env(None), Mode::Direct);
        assert_eq!(Mode::from_env(Some("direct")), Mode::Direct);
        assert_eq!(Mode::from_env(Some("Buffered")), Mode::Buffered);
    }
}
