//! The advisory locks that serialise leafseal's read-modify-write commands on one file.
//!
//! An exclusive `flock` on the file itself, or, while a file the command creates does not
//! exist yet, on a lock file for its name (`.<name>.leafseal-lock` next to it, removed
//! when the lock is let go): two commands creating the same file then take turns instead
//! of the second being refused as "changed by another program", and commands creating
//! other files in that directory do not wait. A lock is taken again when the path names
//! another file once it was granted: a writer renames its new file over the old one, and
//! the waiter must lock the new one (the same for a name's lock file its holder removed).
//! Several files are locked together without ever waiting while holding one ([`take`]
//! with [`Wait::Try`], used by `Destination::lock_all`), so two commands over the same
//! files, even through hard links, cannot wait for each other. Only a command that
//! creates the file locks its name ([`Absent`]).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::path::PathBuf;

use super::signals;
use super::target::Target;
use super::target::parent_of;
use super::target::write_error;
use crate::error::Error;

/// The end of a name lock's file name (`.<name>.leafseal-lock`).
pub const LOCK_SUFFIX: &str = ".leafseal-lock";

/// An exclusive `flock` on a file or on a name's lock file, held until dropped.
#[derive(Debug)]
pub struct Lock {
    /// A name's lock file, removed when the lock is dropped (before it is let go: the
    /// fields drop in order) and on a signal.
    _name: Option<signals::Registered>,
    _file: fs::File,
}

/// What [`take`] locks while the target does not exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Absent {
    /// A lock file for its name, `.<name>.leafseal-lock` next to it, removed when the
    /// lock is let go: the command creates the file (`edit` of a new file).
    LockName,
    /// Nothing: the command only writes a file that exists (its read fails otherwise).
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
    /// without `flock`, a name's lock file that cannot be made).
    Held(Option<Lock>),
    /// Another process holds it ([`Wait::Try`] only).
    Busy,
}

/// Locks the target: its file, or its name's lock file while it does not exist. See the
/// module docs.
pub fn take(t: &Target, wait: Wait<'_>, absent: Absent) -> Result<Taken, Error> {
    use rustix::fs::FlockOperation;
    let fail = |e: std::io::Error| write_error(&t.named, format!("cannot lock it: {e}"));
    let mut waited = false;
    for _ in 0..100_000 {
        let (file, name_lock) = match open_nonblocking(&t.path, false) {
            Ok(f) => (f, None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if absent == Absent::Nothing {
                    return Ok(Taken::Held(None));
                }
                let Some(lock_path) = name_lock_path(&t.path) else {
                    return Ok(Taken::Held(None));
                };
                // A directory this user cannot write, a symbolic link planted under the
                // lock's name: no lock (it is advisory; the write's own checks still hold).
                match open_nonblocking(&lock_path, true) {
                    Ok(f) => (f, Some(lock_path)),
                    Err(_) => return Ok(Taken::Held(None)),
                }
            }
            Err(e) => return Err(fail(e)),
        };
        let opened = file.metadata().map_err(fail)?;
        if !opened.is_file() {
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
        let same = |p: &Path| -> Result<bool, Error> {
            match fs::symlink_metadata(p) {
                Ok(now) => Ok(now.dev() == opened.dev() && now.ino() == opened.ino()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(fail(e)),
            }
        };
        let Some(lock_path) = name_lock else {
            // Still the file that was locked; otherwise lock what the path names now.
            if same(&t.path)? {
                return Ok(Taken::Held(Some(Lock {
                    _name: None,
                    _file: file,
                })));
            }
            continue;
        };
        // The name's lock: still the lock file that was locked (its holder removes it
        // when done), and still no file.
        if !same(&lock_path)? {
            continue;
        }
        match fs::symlink_metadata(&t.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Taken::Held(Some(Lock {
                    _name: Some(signals::register(&lock_path)),
                    _file: file,
                })));
            }
            Err(e) => return Err(fail(e)),
            // Created meanwhile: lock the file instead (the lock file is this
            // process's to remove now).
            Ok(_) => {
                let _ = fs::remove_file(&lock_path);
            }
        }
    }
    Err(write_error(
        &t.named,
        "it keeps being replaced while waiting for its lock".to_owned(),
    ))
}

/// Opens `path` for locking (read-only: `flock` needs no more), without following a
/// symbolic link or blocking on a FIFO; `create` makes it when it is not there, empty and
/// readable by all (0644 less the umask), so that another user sharing the directory can
/// open and wait on it too.
fn open_nonblocking(path: &Path, create: bool) -> std::io::Result<fs::File> {
    let mut flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    if create {
        flags |= rustix::fs::OFlags::CREATE;
    }
    fs::OpenOptions::new()
        .read(true)
        .mode(0o644)
        .custom_flags(flags.bits() as i32)
        .open(path)
}

/// `.<name>.leafseal-lock` next to the file a command creates: the lock of that name
/// until the file exists (removed by its holder when it is done).
fn name_lock_path(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    Some(parent_of(path).join(format!(".{name}{LOCK_SUFFIX}")))
}

/// Locks a file this process has just created (the temporary file of a locked write,
/// before it is renamed over the target), so that another leafseal process that finds
/// it at the path waits until this one has finished with it. `None` where the file
/// system has no `flock`: the write then goes on without it.
pub fn lock_created(file: &fs::File) -> Option<Lock> {
    let own = file.try_clone().ok()?;
    rustix::fs::flock(&own, rustix::fs::FlockOperation::NonBlockingLockExclusive).ok()?;
    Some(Lock {
        _name: None,
        _file: own,
    })
}
