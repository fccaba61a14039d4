//! The one write primitive every command uses: [`Destination`]: its checks, its lock,
//! and what it saw of the file (the bytes reach the file through `io::replace`).
//!
//! A temporary file `.<name>.leafseal-tmp.<pid>.<random>` is created next to the real
//! target (symbolic links followed) with `O_EXCL` and mode 0600, written, flushed, given
//! the target's mode and (where permitted) owner as [`super::owner`] decides (plaintext
//! over another user's file stays the writer's, 0600), and renamed over the target; then the
//! directory is flushed. The temporary file is registered with [`super::signals`] so a
//! signal removes it, and a later write in the same directory removes the ones left by a
//! killed process ([`super::temp::remove_stale`]).

use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::lock;
use super::lock::Absent;
use super::lock::Lock;
use super::lock::Taken;
use super::lock::Wait;
use super::owner::Content;
use super::owner::Narrowed;
use super::replace::fail;
use super::replace::in_place;
use super::replace::replace;
use super::replace::replace_file;
use super::replace::replace_with;
use super::signals;
use super::target;
use super::target::Mode;
use super::target::Seen;
use super::target::Target;
use super::target::WriteOptions;
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
pub(super) struct Held {
    /// What the target was when the lock was taken: compared again right before it is
    /// replaced or written in place, and taken again after each write (a second write
    /// through the same destination replaces leafseal's own file).
    pub(super) seen: Option<Seen>,
    /// The lock on the file now at the path: first the one found there, then each file
    /// this destination renamed over it (locked before the rename, so that another
    /// leafseal process waits until this one has finished with the new file; its mode is
    /// set after the rename, which changes its status change time).
    pub(super) lock: Option<Lock>,
    /// Set by a plaintext write that replaced another user's file ([`super::owner::inherit`]).
    pub(super) narrowed: Option<Narrowed>,
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
