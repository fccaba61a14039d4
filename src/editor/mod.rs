//! The private workspace `leafseal edit` hands to an editor, and the editor itself.
//!
//! [`Workspace`] is a fresh 0700 directory on a RAM-backed filesystem when one exists
//! (`$XDG_RUNTIME_DIR`, else `/dev/shm`, else the system temp dir), never inside the work
//! tree of the file being edited, holding one 0600 file with the same base name as the
//! target (so editors pick the right syntax). It is wiped (every file overwritten with
//! zeros, then unlinked) and removed when dropped, and also from a panic hook, so it goes
//! away on every exit path — including `panic = "abort"` builds where drops do not run.
//!
//! [`Signals`] catches every catchable terminating signal (SIGINT, SIGTERM, SIGHUP,
//! SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM and the rest of [`HANDLED_SIGNALS`]) instead of
//! dying with the plaintext left behind, so the caller can clean up and exit with
//! 128 + signal.
//! [`command`] finds and runs the editor. Nothing here prints.

use std::fs;
use std::io::Read;
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::Once;

use sha2::Digest;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::Error;
use crate::error::exit;

pub mod command;

#[cfg(test)]
mod tests;

/// The prefix of every workspace directory's name (`leafseal-edit-<random hex>`).
pub const DIR_PREFIX: &str = "leafseal-edit-";

/// The signals that end an edit session cleanly: every catchable signal whose default
/// action ends the process ([`crate::io::signals::CAUGHT`], plus the Linux real-time ones).
pub const HANDLED_SIGNALS: [i32; 15] = crate::io::signals::CAUGHT;

/// Catches [`HANDLED_SIGNALS`] for the rest of the process's life: instead of killing the
/// process, a signal is recorded and [`Signals::caught`] reports it. Polling loops
/// ([`command::run`], [`wait_for_enter`]) return as soon as one arrives. This also covers
/// the final write of the file: its temporary file is completed and renamed or removed
/// before the caller acts on the signal.
#[derive(Debug, Clone)]
pub struct Signals {
    _private: (),
}

impl Signals {
    /// Installs the handlers (in the recording mode of [`crate::io::signals::defer`]).
    pub fn install() -> Result<Signals, Error> {
        crate::io::signals::defer()?;
        Ok(Signals { _private: () })
    }

    /// The last signal received since [`Signals::install`], if any.
    pub fn caught(&self) -> Option<i32> {
        crate::io::signals::caught()
    }
}

/// The exit code for a process that stopped because of `signal`: 128 + signal.
pub fn signal_exit_code(signal: i32) -> i32 {
    128_i32.saturating_add(signal)
}

/// What [`wait_for_enter`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// A line (the user pressed Enter).
    Enter,
    /// End of input (Ctrl-D) or a read error.
    Eof,
    /// A handled signal arrived (Ctrl-C).
    Interrupted(i32),
}

/// Waits for a line on standard input, returning early when a handled signal arrives.
/// Standard input is polled (50 ms at a time, between looks at the signals) and read a
/// byte at a time when it has one, so nothing after the line is consumed and no thread
/// is left blocked in a read (before round 26 a detached thread read the line).
pub fn wait_for_enter(signals: &Signals) -> Answer {
    use rustix::event::PollFd;
    use rustix::event::PollFlags;
    use rustix::event::Timespec;
    use rustix::io::Errno;
    let stdin = std::io::stdin();
    let tick = Timespec {
        tv_sec: 0,
        tv_nsec: 50_000_000,
    };
    loop {
        if let Some(sig) = signals.caught() {
            return Answer::Interrupted(sig);
        }
        let mut fds = [PollFd::new(&stdin, PollFlags::IN)];
        match rustix::event::poll(&mut fds, Some(&tick)) {
            Ok(0) | Err(Errno::INTR) => continue,
            Ok(_) => {}
            Err(_) => return Answer::Eof,
        }
        let mut byte = [0u8; 1];
        match rustix::io::read(&stdin, &mut byte) {
            Ok(0) => return Answer::Eof,
            Ok(_) if byte[0] == b'\n' => return Answer::Enter,
            Ok(_) | Err(Errno::INTR | Errno::AGAIN) => {}
            Err(_) => return Answer::Eof,
        }
    }
}

/// Where a workspace may be created, best first: `$XDG_RUNTIME_DIR` (when set to an
/// absolute directory), `/dev/shm` (when it is a directory), then the system temp dir
/// (`$TMPDIR`, else `/tmp`). `var` reads the environment.
pub fn temp_roots(var: &dyn Fn(&str) -> Option<std::ffi::OsString>) -> Vec<PathBuf> {
    let mut roots = Vec::new();
    if let Some(x) = var("XDG_RUNTIME_DIR") {
        let p = PathBuf::from(x);
        if p.is_absolute() && p.is_dir() {
            roots.push(p);
        }
    }
    let shm = PathBuf::from("/dev/shm");
    if shm.is_dir() {
        roots.push(shm);
    }
    let tmp = var("TMPDIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    roots.push(tmp);
    roots
}

/// The work tree a target belongs to: the nearest ancestor of its directory that holds a
/// `.git` entry, else the target's directory itself. `None` when the directory does not
/// exist.
pub fn work_tree_of(target: &Path) -> Option<PathBuf> {
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = fs::canonicalize(parent).ok()?;
    for a in dir.ancestors() {
        if a.join(".git").symlink_metadata().is_ok() {
            return Some(a.to_owned());
        }
    }
    Some(dir)
}

/// Workspace directories alive in this process, wiped by the panic hook and by a signal
/// that ends the process ([`crate::io::signals::set_cleanup`]).
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static HOOK: Once = Once::new();

/// Wipes every live workspace directory.
fn wipe_live() {
    let dirs: Vec<PathBuf> = match LIVE.lock() {
        Ok(mut l) => l.drain(..).collect(),
        Err(poisoned) => poisoned.into_inner().drain(..).collect(),
    };
    for d in dirs {
        let _ = wipe_dir(&d);
    }
}

fn install_panic_hook() {
    HOOK.call_once(|| {
        crate::io::signals::set_cleanup(wipe_live);
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            wipe_live();
            previous(info);
        }));
    });
}

fn set_live(dir: &Path, live: bool) {
    let mut l = match LIVE.lock() {
        Ok(l) => l,
        Err(poisoned) => poisoned.into_inner(),
    };
    if live {
        l.push(dir.to_owned());
    } else {
        l.retain(|d| d != dir);
    }
}

/// The size of each write of zeros that wipes a file.
const ZERO_BLOCK: usize = 256 * 1024;

/// Overwrites a regular file's content with zeros and flushes it to the device. A file
/// with another hard link is left alone (it is only unlinked by the caller): its content
/// belongs to that other name too, which may be any file the user owns.
fn zero_file(path: &Path) -> std::io::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(path)?;
    let m = f.metadata()?;
    if !m.is_file() || std::os::unix::fs::MetadataExt::nlink(&m) != 1 {
        return Ok(());
    }
    // Large writes (a few dozen for a 10 MB file, not a thousand); allocated zeroed, so
    // its pages are never written.
    let zeros = vec![0u8; ZERO_BLOCK];
    let mut left = m.len();
    while left > 0 {
        let n = usize::try_from(left.min(zeros.len() as u64)).unwrap_or(zeros.len());
        let chunk = zeros.get(..n).unwrap_or(&zeros);
        f.write_all(chunk)?;
        left -= n as u64;
    }
    f.sync_data()
}

/// Wipes a directory tree: every regular file is overwritten with zeros before it is
/// unlinked; links and other entries are unlinked; then the directories are removed.
/// Symbolic links are never followed. A missing directory is not an error.
pub fn wipe_dir(dir: &Path) -> std::io::Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut first_err = None;
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = path.symlink_metadata() else {
            continue;
        };
        let r = if meta.is_dir() {
            wipe_dir(&path)
        } else {
            if meta.is_file() && meta.len() > 0 {
                let _ = zero_file(&path);
            }
            fs::remove_file(&path)
        };
        if let Err(e) = r {
            first_err.get_or_insert(e);
        }
    }
    match fs::remove_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(_) => fs::remove_dir_all(dir)?,
    }
    match first_err {
        Some(e) if dir.exists() => Err(e),
        _ => Ok(()),
    }
}

fn random_hex() -> Result<String, Error> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| {
        Error::new(
            exit::GENERIC,
            format!("cannot get random bytes for a temporary name: {e}"),
        )
    })?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// A private directory holding the plaintext being edited. Wiped and removed on drop.
#[derive(Debug)]
pub struct Workspace {
    dir: PathBuf,
    file: PathBuf,
    /// The SHA-256 of the content first written (none for
    /// [`Workspace::create_unhashed`]).
    hash: Option<[u8; 32]>,
    /// The most read back ([`Workspace::open`]): eight times the plaintext written, and
    /// never less than [`crate::io::MAX_UNSIZED_INPUT`].
    limit: u64,
}

impl Workspace {
    /// Creates the directory (mode 0700) under the first of `roots` that works and is not
    /// inside `work_tree`, and writes `content` to `<dir>/<base_name>` (mode 0600).
    pub fn create(
        base_name: &std::ffi::OsStr,
        content: &[u8],
        roots: &[PathBuf],
        work_tree: &Path,
    ) -> Result<Workspace, Error> {
        Self::create_with(base_name, content, roots, work_tree, true)
    }

    /// [`Workspace::create`] for a caller that keeps `content` and compares the edited
    /// text with it itself: no digest is taken, and [`Workspace::is_unchanged`] is
    /// always false.
    pub fn create_unhashed(
        base_name: &std::ffi::OsStr,
        content: &[u8],
        roots: &[PathBuf],
        work_tree: &Path,
    ) -> Result<Workspace, Error> {
        Self::create_with(base_name, content, roots, work_tree, false)
    }

    fn create_with(
        base_name: &std::ffi::OsStr,
        content: &[u8],
        roots: &[PathBuf],
        work_tree: &Path,
        hashed: bool,
    ) -> Result<Workspace, Error> {
        let name_ok = !base_name.is_empty()
            && Path::new(base_name).file_name() == Some(base_name)
            && base_name != "."
            && base_name != "..";
        if !name_ok {
            return Err(Error::new(
                exit::GENERIC,
                "the file to edit has no usable file name",
            ));
        }
        install_panic_hook();
        let mut last_err = None;
        for root in roots {
            let Ok(root) = fs::canonicalize(root) else {
                continue;
            };
            if root.starts_with(work_tree) {
                continue;
            }
            match Self::create_dir(&root) {
                Ok(dir) => {
                    let mut ws = Workspace {
                        file: dir.join(base_name),
                        dir,
                        hash: None,
                        limit: (content.len() as u64)
                            .saturating_mul(8)
                            .max(crate::io::MAX_UNSIZED_INPUT),
                    };
                    if hashed {
                        ws.hash = Some(Sha256::digest(content).into());
                    }
                    ws.write_file(content)?;
                    return Ok(ws);
                }
                Err(e) => last_err = Some(e),
            }
        }
        let why = last_err.map_or_else(
            || "none of them is usable outside the work tree".to_owned(),
            |e| e.to_string(),
        );
        Err(Error::new(
            exit::GENERIC,
            format!("cannot create a private temporary directory for the plaintext: {why}"),
        )
        .hint("set XDG_RUNTIME_DIR or TMPDIR to a writable directory outside the repository"))
    }

    fn create_dir(root: &Path) -> Result<PathBuf, Error> {
        let mut tries = 0;
        loop {
            let dir = root.join(format!("{DIR_PREFIX}{}", random_hex()?));
            match fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {
                    set_live(&dir, true);
                    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(|e| {
                        let _ = wipe_dir(&dir);
                        set_live(&dir, false);
                        Error::new(
                            exit::GENERIC,
                            format!("cannot restrict {}: {e}", dir.display()),
                        )
                    })?;
                    return Ok(dir);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && tries < 8 => {
                    tries += 1;
                }
                Err(e) => {
                    return Err(Error::new(
                        exit::GENERIC,
                        format!("{}: {e}", root.display()),
                    ));
                }
            }
        }
    }

    fn write_file(&self, content: &[u8]) -> Result<(), Error> {
        let fail = |e: std::io::Error| {
            Error::new(
                exit::COULD_NOT_WRITE_OUTPUT,
                format!("cannot write the temporary file: {e}"),
            )
        };
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&self.file)
            .map_err(fail)?;
        f.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(fail)?;
        f.write_all(content).map_err(fail)?;
        f.sync_all().map_err(fail)
    }

    /// The private directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The plaintext file handed to the editor.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Reads the file back after editing ([`Workspace::open`]), at most its limit.
    pub fn read(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        let f = self.open()?;
        let mut buf = Zeroizing::new(Vec::new());
        f.take(self.limit.saturating_add(1))
            .read_to_end(&mut buf)
            .map_err(Self::read_error)?;
        if buf.len() as u64 > self.limit {
            return Err(self.too_large());
        }
        Ok(buf)
    }

    /// Opens the file for reading after editing (for a caller that reads it in blocks).
    /// Whatever the editor left at its name: a symbolic link is not followed, a FIFO is
    /// not waited on (`O_NONBLOCK`), and only a regular file no larger than eight times
    /// the plaintext (at least [`crate::io::MAX_UNSIZED_INPUT`]) is accepted, so that
    /// `edit` neither hangs holding its lock nor reads a link to `/dev/zero` without end.
    pub fn open(&self) -> Result<fs::File, Error> {
        let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
        let f = fs::OpenOptions::new()
            .read(true)
            .custom_flags(flags.bits() as i32)
            .open(&self.file)
            .map_err(Self::read_error)?;
        let m = f.metadata().map_err(Self::read_error)?;
        if !m.is_file() {
            return Err(Self::read_error(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the editor left something other than a regular file there (a FIFO, a device or a directory)",
            )));
        }
        if m.len() > self.limit {
            return Err(self.too_large());
        }
        Ok(f)
    }

    fn too_large(&self) -> Error {
        Self::read_error(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!("it holds more than {} MiB", self.limit >> 20),
        ))
    }

    /// The error of a failed read of the edited file.
    pub fn read_error(e: std::io::Error) -> Error {
        Error::new(
            exit::COULD_NOT_READ_INPUT,
            format!("cannot read the edited temporary file back: {e}"),
        )
        .hint("the editor may have deleted or renamed it; the encrypted file was not changed")
    }

    /// True when `content` has the SHA-256 of the plaintext first written.
    pub fn is_unchanged(&self, content: &[u8]) -> bool {
        self.hash.is_some_and(|want| {
            let h: [u8; 32] = Sha256::digest(content).into();
            h == want
        })
    }

    /// Wipes and removes the directory now, reporting failure (drop does it silently).
    pub fn remove(self) -> Result<(), Error> {
        let r = wipe_dir(&self.dir);
        set_live(&self.dir, false);
        r.map_err(|e| {
            Error::new(
                exit::GENERIC,
                format!(
                    "cannot remove the temporary directory {}: {e}",
                    self.dir.display()
                ),
            )
            .hint("delete it by hand: it holds plaintext")
        })
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = wipe_dir(&self.dir);
        set_live(&self.dir, false);
    }
}
