//! The advisory locks that serialise leafseal's read-modify-write commands on one file.
//!
//! An exclusive `flock` on the file itself, or, while the file does not exist yet, on
//! its directory (two commands creating the same file then take turns instead of the
//! second being refused as "changed by another program"). A lock is taken again when
//! the path names another file once it was granted: a writer renames its new file over
//! the old one, and the waiter must lock the new one. Several files are locked
//! together without ever waiting while holding one ([`take`] with [`Wait::Try`], used
//! by `Destination::lock_all`), so two commands over the same files, even through hard
//! links, cannot wait for each other. Only a command that creates the file locks the
//! directory ([`Absent`]).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::os::unix::fs::OpenOptionsExt;

use super::target::Target;
use super::target::parent_of;
use super::target::write_error;
use crate::error::Error;

/// An exclusive `flock` on a file or a directory, held until dropped.
#[derive(Debug)]
pub struct Lock {
    _file: fs::File,
}

/// What [`take`] locks while the target does not exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Absent {
    /// Its directory: the command creates the file (`edit` of a new file).
    LockDirectory,
    /// Nothing: the command only writes a file that exists (its read fails otherwise).
    /// A directory lock there could wait for one this process holds.
    Nothing,
}

/// Whether [`take`] waits for a lock another process holds.
#[derive(Clone, Copy)]
pub enum Wait<'a> {
    /// Wait; the function is called once, before waiting.
    Block(&'a dyn Fn()),
    /// Do not wait: [`Taken::Busy`].
    Try,
}

/// What [`take`] got.
#[derive(Debug)]
pub enum Taken {
    /// The lock, or `None` where nothing can be locked (not a regular file, a file system
    /// without `flock`, a directory that cannot be opened).
    Held(Option<Lock>),
    /// Another process holds it ([`Wait::Try`] only).
    Busy,
}

/// Locks the target: its file, or its directory while it does not exist. See the module
/// docs.
pub fn take(t: &Target, wait: Wait<'_>, absent: Absent) -> Result<Taken, Error> {
    use rustix::fs::FlockOperation;
    let fail = |e: std::io::Error| write_error(&t.named, format!("cannot lock it: {e}"));
    let mut waited = false;
    for _ in 0..100_000 {
        let (file, directory) = match fs::OpenOptions::new()
            .read(true)
            .custom_flags(
                (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32,
            )
            .open(&t.path)
        {
            Ok(f) => (f, false),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if absent == Absent::Nothing {
                    return Ok(Taken::Held(None));
                }
                match fs::File::open(parent_of(&t.path)) {
                    Ok(d) => (d, true),
                    Err(_) => return Ok(Taken::Held(None)),
                }
            }
            Err(e) => return Err(fail(e)),
        };
        let opened = file.metadata().map_err(fail)?;
        if !directory && !opened.is_file() {
            return Ok(Taken::Held(None));
        }
        match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            // A file system without `flock` (some FUSE and network mounts): no lock.
            Err(
                rustix::io::Errno::NOLCK | rustix::io::Errno::OPNOTSUPP | rustix::io::Errno::NOSYS,
            ) => {
                return Ok(Taken::Held(None));
            }
            Err(rustix::io::Errno::WOULDBLOCK) => match wait {
                Wait::Try => return Ok(Taken::Busy),
                Wait::Block(on_wait) => {
                    if !waited {
                        on_wait();
                        waited = true;
                    }
                    rustix::fs::flock(&file, FlockOperation::LockExclusive)
                        .map_err(|e| fail(e.into()))?;
                }
            },
            Err(e) => return Err(fail(e.into())),
        }
        // Still what was locked: the same file, or still no file under the locked
        // directory; otherwise lock again what is there now.
        let still = match fs::symlink_metadata(&t.path) {
            Ok(now) => !directory && now.dev() == opened.dev() && now.ino() == opened.ino(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => directory,
            Err(e) => return Err(fail(e)),
        };
        if still {
            return Ok(Taken::Held(Some(Lock { _file: file })));
        }
    }
    Err(write_error(
        &t.named,
        "it keeps being replaced while waiting for its lock".to_owned(),
    ))
}

/// Locks a file this process has just created (the temporary file of a locked write,
/// before it is renamed over the target), so that another leafseal process that finds
/// it at the path waits until this one has finished with it. `None` where the file
/// system has no `flock`: the write then goes on without it.
pub fn lock_created(file: &fs::File) -> Option<Lock> {
    let own = file.try_clone().ok()?;
    rustix::fs::flock(&own, rustix::fs::FlockOperation::NonBlockingLockExclusive).ok()?;
    Some(Lock { _file: own })
}
