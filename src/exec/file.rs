//! `exec-file`: the plaintext in a FIFO (or a 0600 file) inside a private temporary
//! directory ([`Workspace`]), removed on every exit path.

use std::fs::File;
use std::fs::FileType;
use std::os::unix::fs::FileTypeExt;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

use rustix::event::PollFd;
use rustix::event::PollFlags;
use rustix::event::Timespec;
use rustix::io::Errno;
use zeroize::Zeroizing;

use super::CommandSpec;
use super::workspace;
use super::workspace::FileId;
use super::workspace::Workspace;
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
    /// `--user`: the command runs as this account, and the file (only the file: the
    /// private directory stays leafseal's) is given to it.
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

/// The thread writing the plaintext into the FIFO; stopped and joined on drop.
struct FifoWriter {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl FifoWriter {
    fn start(fifo: Fifo, data: Zeroizing<Vec<u8>>) -> FifoWriter {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || write_fifo(&fifo, &data, &flag));
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

/// The FIFO as the writer reaches it: its name in the private directory (opened once)
/// and its identity.
struct Fifo {
    dir: Arc<File>,
    name: String,
    id: FileId,
}

/// Opens the FIFO for writing without blocking; `None` when no reader has it open yet.
/// The entry is opened relative to the private directory without following a symlink,
/// and must still be the FIFO created (same device and inode), or the writer gives up.
fn open_writer(fifo: &Fifo) -> Result<Option<File>, Errno> {
    match workspace::open_checked(&fifo.dir, &fifo.name, fifo.id, FileType::is_fifo) {
        Ok(Some(f)) => Ok(Some(f)),
        Ok(None) => Err(Errno::NOENT),
        Err(Errno::NXIO | Errno::INTR) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Feeds the FIFO until `stop` is set (the command has exited): waits (polling, never
/// blocking) for a reader, writes the plaintext once and closes it; any later reader gets
/// an immediate end of file instead of hanging. Gives up when the FIFO disappears or is
/// replaced.
fn write_fifo(fifo: &Fifo, data: &[u8], stop: &AtomicBool) {
    let mut written = false;
    while !stop.load(Ordering::SeqCst) {
        match open_writer(fifo) {
            Ok(None) => std::thread::sleep(OPEN_POLL),
            Ok(Some(f)) => {
                if !written {
                    written = true;
                    write_all_nonblocking(&f, data, stop);
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
fn write_all_nonblocking(fd: &File, data: &[u8], stop: &AtomicBool) {
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
    // Caught before the directory and the plaintext file exist: a signal while they are
    // made is recorded, the command is not started, and `ws` removes them on the way out.
    let caught = super::child::Caught::catch()?;
    let mut ws = Workspace::create(name, opts.owner)?;
    let path = ws.file_path();
    let Some(path_str) = path.to_str() else {
        return Err(Error::new(
            exit::GENERIC,
            "the temporary directory's path is not valid UTF-8",
        )
        .hint("set TMPDIR (or XDG_RUNTIME_DIR) to a plain path"));
    };
    let resolved = spec.substitute(path_str)?;
    let mut cmd = resolved.command()?;
    if let Some(a) = opts.owner {
        super::user::apply(&mut cmd, a);
    }
    let _writer = match opts.delivery {
        Delivery::Fifo => {
            let id = ws.make_fifo()?;
            let fifo = Fifo {
                dir: ws.dir_handle(),
                name: ws.name().to_owned(),
                id,
            };
            Some(FifoWriter::start(fifo, plaintext))
        }
        Delivery::File => {
            ws.write_file(&plaintext)?;
            drop(plaintext);
            None
        }
    };
    let code = caught.run(cmd, resolved.program());
    // `_writer` stops before `ws` goes (reverse declaration order), then the clean-up.
    code
}
