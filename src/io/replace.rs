//! How a [`super::Destination`]'s bytes reach the file: the atomic replacement through a
//! temporary file (created 0600, filled, flushed, given the owner and mode
//! [`super::owner`] decides, checked against what the lock saw, renamed over the target
//! under the signal lock), the forced write in place, and the writer that tracks the
//! first write error and starts writeback early.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::path::PathBuf;

use super::lock;
use super::owner;
use super::owner::Content;
use super::owner::Ownership;
use super::signals;
use super::target;
use super::target::Seen;
use super::target::Target;
use super::temp::remove_stale;
use super::temp::tmp_name;
use super::write::Held;
use crate::error::Error;
use crate::error::exit;

/// A file that keeps the first write error, so that it can be reported in this module's
/// words rather than the writer's. While a large file is written, the kernel is asked
/// every [`EARLY_WRITEBACK`] bytes to start writing what was written so far to the disk
/// (without waiting), so that the `fsync` before the rename finds little left to write.
pub(super) struct Tracked<'a> {
    file: &'a mut fs::File,
    error: Option<std::io::Error>,
    pub(super) written: u64,
    /// Where the range not yet handed to the kernel's writeback starts.
    pub(super) flushed: u64,
}

/// Bytes written between two requests for early writeback ([`Tracked`]).
pub(super) const EARLY_WRITEBACK: u64 = 4 << 20;

impl Tracked<'_> {
    pub(super) fn new(file: &mut fs::File) -> Tracked<'_> {
        Tracked {
            file,
            error: None,
            written: 0,
            flushed: 0,
        }
    }

    /// Starts the writeback of what was written since the last call, once that is
    /// [`EARLY_WRITEBACK`] bytes or more. `POSIX_FADV_DONTNEED` is Linux's way to start
    /// writeback without waiting for it (pages still being written stay in the cache);
    /// a failure is ignored: the `fsync` that follows writes and reports everything.
    fn start_writeback(&mut self) {
        let Some(len) = std::num::NonZeroU64::new(self.written - self.flushed) else {
            return;
        };
        if len.get() < EARLY_WRITEBACK {
            return;
        }
        let _ = rustix::fs::fadvise(
            &*self.file,
            self.flushed,
            Some(len),
            rustix::fs::Advice::DontNeed,
        );
        self.flushed = self.written;
    }
}

impl Write for Tracked<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // A large buffer is written in pieces, so that its writeback starts early too.
        let piece = buf.get(..EARLY_WRITEBACK as usize).unwrap_or(buf);
        let n = self.file.write(piece).inspect_err(|e| {
            self.error
                .get_or_insert_with(|| std::io::Error::new(e.kind(), e.to_string()));
        })?;
        self.written += n as u64;
        self.start_writeback();
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

pub(super) fn fail(t: &Target, what: &str, e: std::io::Error) -> Error {
    Error::new(
        exit::COULD_NOT_WRITE_OUTPUT,
        format!("cannot write {}: {what}: {e}", t.named.display()),
    )
    .hint("the original file was left unchanged")
}

pub(super) fn replace(
    t: &Target,
    content: Content,
    held: &mut Held,
    pieces: &[&[u8]],
) -> Result<(), Error> {
    replace_with(t, content, held, &mut |f: &mut (dyn Write + Send)| {
        pieces.iter().try_for_each(|data| {
            f.write_all(data)
                .map_err(|e| Error::new(exit::COULD_NOT_WRITE_OUTPUT, e.to_string()))
        })
    })
}

pub(super) fn replace_with(
    t: &Target,
    content: Content,
    held: &mut Held,
    fill: &mut dyn FnMut(&mut (dyn Write + Send)) -> Result<(), Error>,
) -> Result<(), Error> {
    replace_file(t, content, held, &mut |f| {
        let mut tracked = Tracked::new(f);
        match fill(&mut tracked) {
            Ok(()) => Ok(true),
            Err(e) => Err(match tracked.error {
                Some(io) => fail(t, "write failed", io),
                None => e,
            }),
        }
    })
    .map(|_| ())
}

/// The atomic replacement of the target by a temporary file that `fill` writes
/// (through the file itself, so positioned writes are possible); `fill` returning
/// `false` discards the temporary file and leaves the target alone. With a snapshot in
/// `held` (a locked destination), the target must still be what it was when it was locked, checked last before the rename
/// (after the `fsync`): otherwise the temporary file is removed and the target left as
/// the other program wrote it. Only the instant between that check and the rename,
/// which the kernel cannot make conditional, remains.
pub(super) fn replace_file(
    t: &Target,
    content: Content,
    held: &mut Held,
    fill: &mut dyn FnMut(&mut fs::File) -> Result<bool, Error>,
) -> Result<bool, Error> {
    signals::install()?;
    let dir = t
        .path
        .parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_owned);
    remove_stale(&dir);
    let name = t
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(tmp_name(&name).map_err(|e| fail(t, "cannot name a temporary file", e))?);
    let mut reg = signals::register(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(&tmp)
        .map_err(|e| fail(t, "cannot create a temporary file next to it", e))?;
    // The umask can only remove bits: make it 0600 exactly, before any byte is written.
    rustix::fs::fchmod(&f, rustix::fs::Mode::from_raw_mode(0o600))
        .map_err(|e| fail(t, "cannot restrict the temporary file", e.into()))?;
    // Locked while it lives: [`remove_stale`] of a process that cannot see this one's
    // process id (another PID namespace sharing the directory) leaves it alone.
    let _ = rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive);
    if !fill(&mut f)? {
        return Ok(false);
    }
    // The current metadata: the lock may have been waited for since the checks.
    let current = match fs::symlink_metadata(&t.path) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(fail(t, "cannot read its metadata", e)),
    };
    let current = current.filter(fs::Metadata::is_file);
    // What the new file takes from the one it replaces (nothing from no file).
    let inherited = match (&current, f.metadata()) {
        (Some(m), Ok(mine)) => {
            let mine = Ownership::of(&mine);
            let inherited = owner::inherit(Ownership::of(m), mine.uid, content);
            owner::give_owner(&f, mine, &inherited);
            Some(inherited)
        }
        (Some(_), Err(e)) => return Err(fail(t, "cannot read the temporary file's metadata", e)),
        (None, _) => None,
    };
    f.sync_all().map_err(|e| fail(t, "fsync failed", e))?;
    // The temporary file stays 0600 until it is the target: a SIGKILL never leaves a
    // copy with wider permissions. Under the signal lock, so only SIGKILL can come
    // between the rename and the mode (leaving the target 0600, never wider).
    // Set when the check before the rename fails: the target changed, or could not be
    // looked at.
    let mut refused: Option<Error> = None;
    // A locked destination keeps its new file locked once it is at the path (the
    // temporary file is locked from its creation, but only until this function returns):
    // a later write through it is still serialised with other leafseal processes.
    let new_lock = if held.lock.is_some() {
        lock::lock_created(&f)
    } else {
        None
    };
    signals::commit(&mut reg, || {
        if let Some(s) = held.seen.as_ref() {
            match s.holds(&t.path) {
                Ok(true) => {}
                Ok(false) => {
                    refused = Some(target::changed_error(t));
                    return Err(std::io::Error::other("the target was changed"));
                }
                Err(e) => {
                    refused = Some(fail(t, "cannot read its metadata", e));
                    return Err(std::io::Error::other("the target cannot be looked at"));
                }
            }
        }
        fs::rename(&tmp, &t.path)?;
        if let Some(inherited) = &inherited {
            // Past the rename the write has happened: a failure here leaves it 0600.
            let mode = rustix::fs::Mode::from_raw_mode(inherited.mode);
            if rustix::fs::fchmod(&f, mode).is_ok() {
                let _ = f.sync_all();
            }
        }
        // The file just put in place, as a later write through this destination must
        // find it (from its descriptor: nothing can come between).
        if held.seen.is_some() {
            held.seen = f.metadata().ok().map(|m| Seen::of_metadata(&m));
        }
        Ok(())
    })
    .map_err(|e| {
        refused
            .take()
            .unwrap_or_else(|| fail(t, "rename failed", e))
    })?;
    // The file renamed into place is the one locked now. Outside the signal section: a
    // name's lock file, dropped here, unregisters itself from the same registry.
    if new_lock.is_some() {
        held.lock = new_lock;
    }
    held.narrowed = inherited.and_then(|i| i.narrowed);
    if let Ok(d) = fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(true)
}

/// A forced write into the existing file: hard links keep sharing it, a device or FIFO
/// receives the bytes. Not atomic.
pub(super) fn in_place(t: &Target, held: &mut Held, pieces: &[&[u8]]) -> Result<(), Error> {
    let regular = t.existing.as_ref().is_some_and(fs::Metadata::is_file);
    let path = if regular { &t.path } else { &t.named };
    if let Some(s) = held.seen.as_ref() {
        match s.holds(&t.path) {
            Ok(true) => {}
            Ok(false) => return Err(target::changed_error(t)),
            Err(e) => return Err(fail(t, "cannot read its metadata", e)),
        }
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| fail(t, "cannot open it", e))?;
    let len: usize = pieces.iter().map(|p| p.len()).sum();
    let done = pieces
        .iter()
        .try_for_each(|data| f.write_all(data))
        .and_then(|()| {
            if regular {
                f.set_len(len as u64)?;
                f.sync_all()
            } else {
                f.flush()
            }
        });
    done.map_err(|e| {
        Error::new(
            exit::COULD_NOT_WRITE_OUTPUT,
            format!("cannot write {} in place: {e}", t.named.display()),
        )
        .hint("the file may now hold partial content: restore it from version control")
    })?;
    if held.seen.is_some() {
        held.seen = f.metadata().ok().map(|m| Seen::of_metadata(&m));
    }
    Ok(())
}
