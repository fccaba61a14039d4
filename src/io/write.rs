//! The one write primitive every command uses: [`Destination`].
//!
//! A temporary file `.<name>.leafseal-tmp.<pid>.<random>` is created next to the real
//! target (symbolic links followed) with `O_EXCL` and mode 0600, written, flushed, given
//! the target's mode and (where permitted) owner as [`super::owner`] decides (plaintext
//! over another user's file stays the writer's, 0600), and renamed over the target; then the
//! directory is flushed. The temporary file is registered with [`super::signals`] so a
//! signal removes it, and a later write in the same directory removes the ones left by a
//! killed process ([`remove_stale`]).

use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::path::PathBuf;

use super::lock;
use super::lock::Absent;
use super::lock::Lock;
use super::lock::Taken;
use super::lock::Wait;
use super::owner;
use super::owner::Content;
use super::owner::Narrowed;
use super::owner::Ownership;
use super::signals;
use super::target;
use super::target::Mode;
use super::target::Seen;
use super::target::Target;
use super::target::WriteOptions;
use super::temp::remove_stale;
use super::temp::tmp_name;
use crate::error::Error;
use crate::error::exit;

/// A checked place to write, optionally locked for a read-modify-write.
#[derive(Debug)]
pub struct Destination {
    target: Target,
    mode: Mode,
    /// What is written: decides what a replaced file's owner and mode pass on.
    content: Content,
    /// The lock and what the target was when it was taken ([`Destination::lock`]).
    held: std::sync::Mutex<Held>,
    /// Held for the whole of each write: two writes through one destination from two
    /// threads run one after the other, each with the lock and snapshot the other left.
    writing: std::sync::Mutex<()>,
}

/// What a locked destination holds between its writes.
#[derive(Debug, Default)]
struct Held {
    /// What the target was when the lock was taken: compared again right before it is
    /// replaced or written in place, and taken again after each write (a second write
    /// through the same destination replaces leafseal's own file).
    seen: Option<Seen>,
    /// The lock on the file now at the path: first the one found there, then each file
    /// this destination renamed over it (locked before the rename, so that another
    /// leafseal process waits until this one has finished with the new file; its mode is
    /// set after the rename, which changes its status change time).
    lock: Option<Lock>,
    /// Set by a plaintext write that replaced another user's file ([`owner::inherit`]).
    narrowed: Option<Narrowed>,
}

impl Destination {
    /// Resolves `named` (following symbolic links) and checks it against `opts`. Also
    /// starts catching signals ([`signals::install`]), so that from now on a signal ends
    /// the process cleanly (exit 128 + signal) instead of at an arbitrary point.
    pub fn open(named: &Path, opts: &WriteOptions) -> Result<Destination, Error> {
        signals::install()?;
        let t = target::resolve(named)?;
        let mode = target::check(&t, opts)?;
        Ok(Destination {
            target: t,
            mode,
            content: Content::Encrypted,
            held: std::sync::Mutex::new(Held::default()),
            writing: std::sync::Mutex::new(()),
        })
    }

    /// Marks what this destination writes as plaintext: a file of another user's that
    /// it replaces passes on neither its owner nor its mode ([`super::owner`]); see
    /// [`Destination::narrowed`].
    pub fn plaintext(mut self) -> Destination {
        self.content = Content::Plaintext;
        self
    }

    /// What the file replaced by the last plaintext write was, when it belonged to
    /// another user and the new file is therefore the writer's, mode 0600 (for the
    /// command to say so).
    pub fn narrowed(&self) -> Option<Narrowed> {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .narrowed
    }

    /// Takes the file's lock (see [`super::lock`]), waiting for another leafseal process
    /// that holds it; call before reading the file. Devices and FIFOs are not locked; a
    /// forced write into a hard-linked file is, and a file that does not exist yet is
    /// locked through a lock file for its name. What the file is once locked ([`Seen`]: identity,
    /// links, length, change times, or absent) is compared again right before the write:
    /// a file another program changed meanwhile is left as that program wrote it, and the
    /// write fails (exit 3).
    pub fn lock(mut self, on_wait: &dyn Fn()) -> Result<Destination, Error> {
        self.acquire(Wait::Block(on_wait), Absent::LockName)?;
        Ok(self)
    }

    /// [`Destination::lock`] for a file the command reads first and that must exist
    /// (`set`, `rotate -i`…): a file removed meanwhile is not locked at all (the read then
    /// fails), and no name's lock file is made for it.
    pub fn lock_existing(mut self, on_wait: &dyn Fn()) -> Result<Destination, Error> {
        self.acquire(Wait::Block(on_wait), Absent::Nothing)?;
        Ok(self)
    }

    /// [`Destination::lock`] for a pure output, one the command does not read (`--output`):
    /// an existing file is locked, so that the write waits for another leafseal process
    /// changing it; a file that does not exist yet is not. Neither is compared before the
    /// write: the command did not read it, so nothing it holds depends on it. Commands
    /// writing the same output at once (a deploy decrypting many files into one directory
    /// in parallel) neither wait for each other on a new file nor refuse each other's
    /// file: the last one written stays, as with any output.
    pub fn lock_output(mut self, on_wait: &dyn Fn()) -> Result<Destination, Error> {
        match fs::symlink_metadata(&self.target.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(self),
            _ => {
                self.acquire(Wait::Block(on_wait), Absent::Nothing)?;
                self.held_mut().seen = None;
                Ok(self)
            }
        }
    }

    /// Locks several destinations (`decrypt -i` of many files) without ever waiting
    /// while holding one of them: when one is busy, every lock taken is let go, that one
    /// is waited for, and the others are tried again. Two commands over the same files
    /// therefore cannot wait for each other, whatever order or names (hard links) they
    /// use. A file named twice (also through a symbolic or a hard link) is locked once.
    /// `on_wait` is called with the file waited for.
    pub fn lock_all(
        mut dests: Vec<Destination>,
        on_wait: &dyn Fn(&Path),
    ) -> Result<Vec<Destination>, Error> {
        // One lock per file (by real path, or device and inode): a second lock on a
        // file this process holds would wait for itself.
        let mut firsts = Vec::new();
        let mut seen_ids = std::collections::HashSet::new();
        let mut seen_paths = std::collections::HashSet::new();
        for (i, d) in dests.iter().enumerate() {
            let new_path = seen_paths.insert(d.target.path.clone());
            let new_id = d.file_id().is_none_or(|id| seen_ids.insert(id));
            if new_path && new_id {
                firsts.push(i);
            }
        }
        let mut wait_first: Option<usize> = None;
        'round: for _ in 0..10_000 {
            if let Some(k) = wait_first {
                let shown = dests[k].target.named.clone();
                dests[k].acquire(Wait::Block(&|| on_wait(&shown)), Absent::Nothing)?;
            }
            for &i in &firsts {
                if Some(i) == wait_first {
                    continue;
                }
                if !dests[i].acquire(Wait::Try, Absent::Nothing)? {
                    for d in &mut dests {
                        d.release();
                    }
                    wait_first = Some(i);
                    continue 'round;
                }
            }
            for (i, d) in dests.iter_mut().enumerate() {
                if !firsts.contains(&i) {
                    d.observe()?;
                }
            }
            return Ok(dests);
        }
        Err(Error::new(
            exit::COULD_NOT_WRITE_OUTPUT,
            "cannot lock the files: other leafseal processes keep taking their locks",
        )
        .hint("run the command again when the other commands have finished"))
    }

    /// Takes the lock and what the file is once locked; `false` when it is busy
    /// ([`Wait::Try`]).
    fn acquire(&mut self, wait: Wait<'_>, absent: Absent) -> Result<bool, Error> {
        let lockable = match &self.target.existing {
            None => true,
            Some(m) => m.is_file(),
        };
        let lock = if lockable {
            match lock::take(&self.target, wait, absent)? {
                Taken::Held(l) => l,
                Taken::Busy => return Ok(false),
            }
        } else {
            None
        };
        self.observe()?;
        self.held_mut().lock = lock;
        Ok(true)
    }

    /// Takes what the file is now as what the write must find.
    fn observe(&mut self) -> Result<(), Error> {
        let seen = Seen::of(&self.target.path)
            .map_err(|e| fail(&self.target, "cannot read its metadata", e))?;
        self.held_mut().seen = Some(seen);
        Ok(())
    }

    /// Lets the lock go (and forgets what was seen).
    fn release(&mut self) {
        let held = self.held_mut();
        held.seen = None;
        held.lock = None;
    }

    fn held_mut(&mut self) -> &mut Held {
        self.held
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The target, and what it was seen to be when locked (or last written) if it was.
    pub(super) fn seen_target(&self) -> (&Target, Option<Seen>) {
        let held = self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (&self.target, held.seen.clone())
    }

    /// The real file written.
    pub fn path(&self) -> &Path {
        &self.target.path
    }

    /// The device and inode of the existing file when the destination was opened (two
    /// names of one hard-linked file have the same).
    pub fn file_id(&self) -> Option<(u64, u64)> {
        self.target.existing.as_ref().map(|m| (m.dev(), m.ino()))
    }

    /// Writes `data` to the target (see the module docs). On failure the target is
    /// unchanged (except for a forced in-place write) and no temporary file remains.
    pub fn write(&self, data: &[u8]) -> Result<(), Error> {
        self.write_pieces(&[data])
    }

    /// [`Destination::write`] of the concatenation of `pieces` (a large file written
    /// from pieces of its input, without joining them in memory first).
    pub fn write_pieces(&self, pieces: &[&[u8]]) -> Result<(), Error> {
        match self.mode {
            Mode::Replace => self.guarded(|held| replace(&self.target, self.content, held, pieces)),
            Mode::InPlace => self.guarded(|held| in_place(&self.target, held, pieces)),
        }
    }
}

impl Destination {
    /// Runs a write with what the target was seen to be (see [`Destination::lock`]); a
    /// write that replaced the target leaves in `seen` the file it wrote, so that a
    /// second write through this destination compares against leafseal's own file. The
    /// mutex is not held while the write runs (`edit`'s fill runs the editor); the lock
    /// on the file is, in this function's frame.
    fn guarded<R>(&self, write: impl FnOnce(&mut Held) -> Result<R, Error>) -> Result<R, Error> {
        let _writing = self
            .writing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let held = || {
            self.held
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        let mut now = std::mem::take(&mut *held());
        let r = write(&mut now);
        *held() = now;
        r
    }

    /// Writes what `fill` produces, piece by piece, to the target (see the module docs):
    /// to the temporary file, which is renamed over the target only when `fill`
    /// succeeded, so that a failure leaves the target unchanged. A forced in-place
    /// write (hard links, devices) is gathered in memory first and written as by
    /// [`Destination::write`]. A write error of the temporary file is reported as
    /// [`Destination::write`] reports it.
    pub fn write_with(
        &self,
        fill: &mut dyn FnMut(&mut dyn Write) -> Result<(), Error>,
    ) -> Result<(), Error> {
        match self.mode {
            Mode::Replace => self
                .guarded(|held| replace_with(&self.target, self.content, held, &mut |w| fill(w))),
            Mode::InPlace => {
                let mut buf = Vec::new();
                fill(&mut buf)?;
                self.guarded(|held| in_place(&self.target, held, &[&buf]))
            }
        }
    }
}

impl Destination {
    /// [`Destination::write_with`] for a `fill` that writes from another thread (the
    /// splicing `set`/`unset` write the new file while it is still being verified): the
    /// temporary file becomes the target only when `fill` succeeded; a failure, or a
    /// `fill` that gives up, removes it and leaves the target unchanged.
    pub fn write_with_send(
        &self,
        fill: &mut dyn FnMut(&mut (dyn Write + Send)) -> Result<(), Error>,
    ) -> Result<(), Error> {
        match self.mode {
            Mode::Replace => self
                .guarded(|held| replace_with(&self.target, self.content, held, &mut |w| fill(w))),
            Mode::InPlace => {
                let mut buf = Vec::new();
                fill(&mut buf)?;
                self.guarded(|held| in_place(&self.target, held, &[&buf]))
            }
        }
    }
}

impl Destination {
    /// Whether [`Destination::write_file`] can be used: the target is replaced through a
    /// temporary file (not a forced in-place write).
    pub fn replaces(&self) -> bool {
        matches!(self.mode, Mode::Replace)
    }

    /// The atomic write of [`Destination::write`] for a `fill` that needs the temporary
    /// file itself (positioned writes, truncation, an early `sync_data` while the caller
    /// still waits for its content, e.g. `edit` copying the encrypted input while the
    /// editor runs and patching the changed ranges afterwards). `fill` returning
    /// `Ok(false)` or an error removes the temporary file and leaves the target unchanged
    /// (`Ok(false)` is returned then). Only for a destination that
    /// [`replaces`](Destination::replaces) its target; otherwise an error.
    pub fn write_file(
        &self,
        fill: &mut dyn FnMut(&mut fs::File) -> Result<bool, Error>,
    ) -> Result<bool, Error> {
        match self.mode {
            Mode::Replace => {
                self.guarded(|held| replace_file(&self.target, self.content, held, fill))
            }
            Mode::InPlace => Err(Error::new(
                exit::GENERIC,
                "internal error: a positioned write into a file written in place",
            )),
        }
    }

    /// Reports an I/O error of a [`Destination::write_file`] fill in this module's words.
    pub fn write_error(&self, what: &str, e: std::io::Error) -> Error {
        fail(&self.target, what, e)
    }
}

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

fn fail(t: &Target, what: &str, e: std::io::Error) -> Error {
    Error::new(
        exit::COULD_NOT_WRITE_OUTPUT,
        format!("cannot write {}: {what}: {e}", t.named.display()),
    )
    .hint("the original file was left unchanged")
}

fn replace(t: &Target, content: Content, held: &mut Held, pieces: &[&[u8]]) -> Result<(), Error> {
    replace_with(t, content, held, &mut |f: &mut (dyn Write + Send)| {
        pieces.iter().try_for_each(|data| {
            f.write_all(data)
                .map_err(|e| Error::new(exit::COULD_NOT_WRITE_OUTPUT, e.to_string()))
        })
    })
}

fn replace_with(
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
fn replace_file(
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
fn in_place(t: &Target, held: &mut Held, pieces: &[&[u8]]) -> Result<(), Error> {
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
