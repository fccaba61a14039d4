//! `exec-file`: the plaintext in a FIFO (or a 0600 file) inside a private temporary
//! directory, removed on every exit path.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

use rustix::event::PollFd;
use rustix::event::PollFlags;
use rustix::event::Timespec;
use rustix::fs::Mode;
use rustix::fs::OFlags;
use rustix::io::Errno;
use zeroize::Zeroizing;

use super::CommandSpec;
use crate::error::Error;
use crate::error::exit;

/// The placeholder replaced by the file's path.
pub const PLACEHOLDER: &str = "{}";

/// The file's name when `--filename` is not given (sops's name).
pub const DEFAULT_NAME: &str = "tmp-file";

/// How often the FIFO writer checks for a reader.
const OPEN_POLL: Duration = Duration::from_millis(10);

/// How the plaintext is handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// A named pipe: the plaintext never touches a disk; it can be read once.
    Fifo,
    /// A 0600 regular file, overwritten with zeros and removed after the command exits.
    File,
}

/// Options of [`run_with_file`].
#[derive(Debug, Clone, Copy)]
pub struct FileOptions<'a> {
    /// FIFO or regular file.
    pub delivery: Delivery,
    /// The file's base name (default `DEFAULT_NAME`).
    pub filename: Option<&'a str>,
    /// `--user`: the private directory and the file are given to this account, which the
    /// command runs as.
    pub owner: Option<super::user::Account>,
}

/// Checks a `--filename`: one plain path component.
fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(Error::new(
            exit::GENERIC,
            "--filename must be a plain file name (no `/`, not `.` or `..`)",
        ));
    }
    Ok(())
}

/// The directories tried for the private temporary directory, best first: RAM-backed ones
/// (`$XDG_RUNTIME_DIR`, `/dev/shm`), then the system temp directory (`$TMPDIR`).
fn temp_roots() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    if let Some(x) = std::env::var_os("XDG_RUNTIME_DIR") {
        let p = PathBuf::from(x);
        if p.is_absolute() {
            roots.push(p);
        }
    }
    roots.push(PathBuf::from("/dev/shm"));
    roots.push(std::env::temp_dir());
    roots
}

/// Creates the private (0700) temporary directory in the first usable root.
fn private_dir() -> Result<tempfile::TempDir, Error> {
    let mut last = None;
    for root in temp_roots() {
        if !root.is_dir() {
            continue;
        }
        match tempfile::Builder::new()
            .prefix(".leafseal-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(&root)
        {
            Ok(d) => return Ok(d),
            Err(e) => last = Some(e),
        }
    }
    Err(Error::new(
        exit::GENERIC,
        match last {
            Some(e) => format!("cannot create a private temporary directory: {e}"),
            None => "cannot create a private temporary directory: no usable directory".to_owned(),
        },
    )
    .hint("set TMPDIR (or XDG_RUNTIME_DIR) to a writable directory"))
}

/// The temporary directory and, for a regular file, what to wipe before removing it.
/// Dropping it wipes the file (if it is still the one created) and removes the directory.
struct Workspace {
    /// The regular file and its (device, inode), to be overwritten with zeros.
    wipe: Option<(PathBuf, u64, u64)>,
    /// Removed on drop, after `wipe` has run.
    dir: tempfile::TempDir,
}

impl Drop for Workspace {
    fn drop(&mut self) {
        if let Some((path, dev, ino)) = self.wipe.take() {
            wipe_file(&path, dev, ino);
        }
        // `dir` is removed when the field drops, after this.
    }
}

/// Overwrites the file with zeros if it is still the regular file created (not a symlink,
/// not another file moved there), then removes it. Best effort.
fn wipe_file(path: &Path, dev: u64, ino: u64) {
    let opened = rustix::fs::open(
        path,
        OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    );
    if let Ok(fd) = opened {
        let mut f = File::from(fd);
        if let Ok(m) = f.metadata()
            && m.is_file()
            && m.dev() == dev
            && m.ino() == ino
        {
            let zeros = [0u8; 8192];
            let mut left = m.len();
            while left > 0 {
                let n = usize::try_from(left.min(zeros.len() as u64)).unwrap_or(zeros.len());
                if f.write_all(zeros.get(..n).unwrap_or(&zeros)).is_err() {
                    break;
                }
                left -= n as u64;
            }
            let _ = f.sync_all();
        }
    }
    let _ = std::fs::remove_file(path);
}

/// The thread writing the plaintext into the FIFO; stopped and joined on drop.
struct FifoWriter {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl FifoWriter {
    fn start(path: PathBuf, data: Zeroizing<Vec<u8>>) -> FifoWriter {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || write_fifo(&path, &data, &flag));
        FifoWriter {
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for FifoWriter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Opens the FIFO for writing without blocking; `None` when no reader has it open yet.
fn open_writer(path: &Path) -> Result<Option<rustix::fd::OwnedFd>, Errno> {
    match rustix::fs::open(
        path,
        OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::NXIO | Errno::INTR) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Feeds the FIFO until `stop` is set (the command has exited): waits (polling, never
/// blocking) for a reader, writes the plaintext once and closes it; any later reader gets
/// an immediate end of file instead of hanging. Gives up when the FIFO disappears.
fn write_fifo(path: &Path, data: &[u8], stop: &AtomicBool) {
    let mut written = false;
    while !stop.load(Ordering::SeqCst) {
        match open_writer(path) {
            Ok(None) => std::thread::sleep(OPEN_POLL),
            Ok(Some(fd)) => {
                if !written {
                    written = true;
                    write_all_nonblocking(&fd, data, stop);
                } else {
                    // Closing at once gives this reader end of file.
                    std::thread::sleep(OPEN_POLL);
                }
            }
            Err(_) => return,
        }
    }
}

/// Writes `data` to the non-blocking pipe, waiting for room; stops early when `stop` is set
/// or the reader goes away.
fn write_all_nonblocking(fd: &rustix::fd::OwnedFd, data: &[u8], stop: &AtomicBool) {
    let mut off = 0;
    while let Some(rest) = data.get(off..).filter(|r| !r.is_empty()) {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        match rustix::io::write(fd, rest) {
            Ok(n) => off += n,
            Err(Errno::AGAIN) => {
                let mut fds = [PollFd::new(fd, PollFlags::OUT)];
                let timeout = Timespec {
                    tv_sec: 0,
                    tv_nsec: 50_000_000,
                };
                let _ = rustix::event::poll(&mut fds, Some(&timeout));
            }
            Err(Errno::INTR) => {}
            Err(_) => return,
        }
    }
}

/// Runs the command with every `{}` replaced by the path of the plaintext (a FIFO or a
/// 0600 file in a private temporary directory) and returns its exit code. The directory
/// is removed afterwards on every path (errors, signals forwarded to the child).
pub fn run_with_file(
    plaintext: Zeroizing<Vec<u8>>,
    spec: &CommandSpec,
    opts: &FileOptions<'_>,
) -> Result<i32, Error> {
    let name = opts.filename.unwrap_or(DEFAULT_NAME);
    check_name(name)?;
    let mut ws = Workspace {
        wipe: None,
        dir: private_dir()?,
    };
    let path = ws.dir.path().join(name);
    let Some(path_str) = path.to_str() else {
        return Err(Error::new(
            exit::GENERIC,
            "the temporary directory's path is not valid UTF-8",
        )
        .hint("set TMPDIR (or XDG_RUNTIME_DIR) to a plain path"));
    };
    let resolved = spec.substitute(path_str)?;
    let mut cmd = resolved.command()?;
    let give = |p: &std::path::Path| -> Result<(), Error> {
        let Some(a) = opts.owner else { return Ok(()) };
        rustix::fs::chown(
            p,
            Some(rustix::process::Uid::from_raw(a.uid)),
            Some(rustix::process::Gid::from_raw(a.gid)),
        )
        .map_err(|e| {
            Error::new(
                exit::GENERIC,
                format!("cannot give the temporary file to the --user account: {e}"),
            )
        })
    };
    if let Some(a) = opts.owner {
        give(ws.dir.path())?;
        super::user::apply(&mut cmd, a);
    }
    let setup = |what: &str, e: &dyn std::fmt::Display| {
        Error::new(
            exit::GENERIC,
            format!("cannot create the temporary {what}: {e}"),
        )
    };
    let _writer = match opts.delivery {
        Delivery::Fifo => {
            rustix::fs::mkfifoat(rustix::fs::CWD, &path, Mode::RUSR | Mode::WUSR)
                .map_err(|e| setup("FIFO", &e))?;
            give(&path)?;
            Some(FifoWriter::start(path.clone(), plaintext))
        }
        Delivery::File => {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| setup("file", &e))?;
            give(&path)?;
            let m = f.metadata().map_err(|e| setup("file", &e))?;
            ws.wipe = Some((path.clone(), m.dev(), m.ino()));
            f.write_all(&plaintext)
                .and_then(|()| f.flush())
                .map_err(|e| setup("file", &e))?;
            drop(plaintext);
            None
        }
    };
    let code = super::run_child(cmd, resolved.program());
    // `_writer` stops before `ws` goes (reverse declaration order), then the clean-up.
    code
}
