//! File input and output: reading files or stdin, writing files ([`Destination`]: links
//! resolved and checked, a 0600 temporary file renamed over the real target, a lock for
//! read-modify-write commands, cleanup on signals), and writing to stdout.

use std::fs;
use std::io::Read;
use std::io::Write;
use std::path::Path;

use zeroize::Zeroizing;

use crate::error::Error;
use crate::error::exit;

pub mod lock;
mod locked;
pub mod owner;
mod replace;
pub mod signals;
pub mod target;
pub mod temp;
pub mod workers;
pub mod write;

pub use locked::read_input_via;
pub use owner::Content;
pub use owner::Narrowed;
pub use target::WriteOptions;
pub use write::Destination;

/// The error for a directory named where a file is expected. Every command that reads
/// a file gives it, with the same exit code (2, as sops when it cannot read its input);
/// only `check` and `updatekeys` take directories.
pub fn directory_error(path: &str) -> Error {
    Error::new(
        exit::COULD_NOT_READ_INPUT,
        format!("{path} is a directory, not a file"),
    )
    .hint("name a file inside it; `leafseal check DIR` and `leafseal updatekeys DIR` are the commands that take a directory")
}

/// The most read from an input whose size is not known beforehand (standard input, a
/// pipe, a terminal, a `/proc` file that reports no size): 256 MiB, which holds any
/// secrets document and keeps the buffer (which doubles as it grows) well inside memory. A regular file is read
/// whole, whatever its size; an endless source (`yes |`, `/dev/stdin` redirected from
/// `/dev/zero`) stops here instead of growing until allocation fails.
pub const MAX_UNSIZED_INPUT: u64 = 256 << 20;

/// The error for an input of unknown size that went past [`MAX_UNSIZED_INPUT`].
fn unsized_too_large() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::FileTooLarge,
        format!(
            "more than {} MiB from a source of unknown size (a pipe, a terminal or a device); \
             nothing was used. Write the document to a regular file and name that file: \
             regular files are read whatever their size",
            MAX_UNSIZED_INPUT >> 20
        ),
    )
}

/// Whether `path` names this process's own standard input or an inherited descriptor
/// (`/dev/stdin`, `/dev/fd/N`, `/proc/self/fd/N`: a shell's `<(...)` gives these), which
/// may be a terminal or a device the caller chose; they are read up to the limit.
fn names_own_descriptor(path: &Path) -> bool {
    let plain = !path
        .components()
        .any(|c| c == std::path::Component::ParentDir);
    plain
        && (path == Path::new("/dev/stdin")
            || path.starts_with("/dev/fd/")
            || path.starts_with("/proc/self/fd/"))
}

/// Whether `meta` is the null device (character device 1:3), which reads as empty:
/// `--config /dev/null` is the usual way to use no policy, in sops too.
fn is_null_device(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    use std::os::unix::fs::MetadataExt;
    let rdev = meta.rdev();
    let major = (rdev >> 8) & 0xfff;
    let minor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
    meta.file_type().is_char_device() && major == 1 && minor == 3
}

/// Refuses a named input that is a character or block device other than the null
/// device, or a named pipe or socket reached through a symbolic link. A secrets file
/// never is a device: a symbolic link to `/dev/zero` or `/dev/urandom` committed to a
/// repository (which `check`, the diff driver or a CI `decrypt` would follow) reads
/// without end. A link to a named pipe blocks on opening until something writes to it;
/// a named pipe the user names itself (`mkfifo p`, a writer, `decrypt p`) is read, as a
/// repository cannot hold one. Standard input and a shell's `<(...)` are named by the
/// process's own descriptors and stay readable.
fn refuse_device(path: &Path, meta: &fs::Metadata) -> std::io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    let via_link = || fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    let what = if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_fifo() && via_link() {
        "a named pipe (FIFO)"
    } else if t.is_socket() && via_link() {
        "a socket"
    } else {
        return Ok(());
    };
    if names_own_descriptor(path) || is_null_device(meta) {
        return Ok(());
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!(
            "it is {what}, not a file (a symbolic link to /dev/zero, /dev/urandom, a disk or \
             a pipe resolves to one); nothing was read. Name the regular file that holds the \
             document (or `-` for standard input), or check where the link points with `ls -l`"
        ),
    ))
}

/// [`refuse_device`] before opening `path` (opening a named pipe blocks); a path whose
/// metadata cannot be read is left to the open to report.
fn refuse_device_before_open(path: &Path) -> std::io::Result<()> {
    match fs::metadata(path) {
        Ok(m) => refuse_device(path, &m),
        Err(_) => Ok(()),
    }
}

/// Reads `r` to its end into `buf`, refusing more than `limit` bytes from it.
fn read_all_bounded(
    buf: &mut crate::secbuf::SecureBuf,
    r: &mut impl std::io::Read,
    limit: u64,
) -> std::io::Result<()> {
    buf.read_all(&mut r.take(limit))?;
    // One byte more says whether the source ended within the limit (reading the limit
    // plus one would double the buffer's capacity for that byte).
    let mut probe = [0u8; 1];
    loop {
        match r.read(&mut probe) {
            Ok(0) => return Ok(()),
            Ok(_) => return Err(unsized_too_large()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Reads the whole file at `path` for the readers that report plain I/O errors (the
/// policy, `check`, the git drivers): a device is refused (see [`read_input`]) and a
/// source without a size stops at [`MAX_UNSIZED_INPUT`]; a regular file is read whole.
pub fn read_path(path: &Path) -> std::io::Result<Zeroizing<Vec<u8>>> {
    refuse_device_before_open(path)?;
    let mut f = fs::File::open(path)?;
    let meta = f.metadata()?;
    if meta.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "it is a directory, not a file",
        ));
    }
    refuse_device(path, &meta)?;
    let len = if meta.is_file() {
        usize::try_from(meta.len()).unwrap_or(0)
    } else {
        0
    };
    read_sized(&mut f, len)
}

/// Reads a file, or stdin for `-`. A named device is refused (exit 2): a symbolic link
/// to `/dev/zero` planted in a repository would otherwise be read until memory ran out.
/// Standard input, pipes and other sources of unknown size are read up to
/// [`MAX_UNSIZED_INPUT`]; regular files whatever their size.
pub fn read_input(path: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
    if path == "-" {
        // Of unknown size: possibly large.
        crate::process::note_input(None);
        let mut buf = crate::secbuf::SecureBuf::with_capacity(64 * 1024);
        read_all_bounded(&mut buf, &mut std::io::stdin().lock(), MAX_UNSIZED_INPUT).map_err(
            |e| {
                Error::new(
                    exit::COULD_NOT_READ_INPUT,
                    format!("cannot read standard input: {e}"),
                )
            },
        )?;
        return Ok(buf.finish());
    }
    let (f, meta) = open_input(path)?;
    read_opened(path, f, meta.as_ref())
}

/// Opens the file `path` (a name, never standard input) for reading, with its metadata
/// when it could be read; a directory, or a file that cannot be opened, is the error
/// [`read_input`] gives.
pub fn open_input(path: &str) -> Result<(fs::File, Option<fs::Metadata>), Error> {
    refuse_device_before_open(Path::new(path)).map_err(|e| {
        Error::new(
            exit::COULD_NOT_READ_INPUT,
            format!("cannot read {path}: {e}"),
        )
    })?;
    let f = fs::File::open(path).map_err(|e| {
        let code = if e.kind() == std::io::ErrorKind::NotFound {
            exit::NO_FILE_SPECIFIED
        } else {
            exit::COULD_NOT_READ_INPUT
        };
        Error::new(code, format!("cannot read {path}: {e}"))
    })?;
    let meta = f.metadata().ok();
    if meta.as_ref().is_some_and(fs::Metadata::is_dir) {
        return Err(directory_error(path));
    }
    if let Some(m) = &meta {
        refuse_device(Path::new(path), m).map_err(|e| {
            Error::new(
                exit::COULD_NOT_READ_INPUT,
                format!("cannot read {path}: {e}"),
            )
        })?;
    }
    crate::process::note_input(meta.as_ref());
    Ok((f, meta))
}

/// Reads the rest of a file `path` that is open already, with its metadata when it could
/// be read (a directory is refused before this is called). A file's size is known: the
/// buffer is allocated once, at that size, so no copy is left behind, and no further
/// `stat` is made (`read_to_end` on a `File` asks for the size again).
pub fn read_opened(
    path: &str,
    mut f: fs::File,
    meta: Option<&fs::Metadata>,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let failed = |e: std::io::Error| {
        Error::new(
            exit::COULD_NOT_READ_INPUT,
            format!("cannot read {path}: {e}"),
        )
    };
    crate::process::note_input(meta);
    let len = meta.filter(|m| m.is_file()).map_or(0, fs::Metadata::len);
    if len >= PARALLEL_READ_MIN as u64 {
        if let Some(whole) = read_in_parallel(&mut f, len) {
            return Ok(whole);
        }
        // Read from the start as usual.
        std::io::Seek::rewind(&mut f).map_err(failed)?;
    }
    read_sized(&mut f, usize::try_from(len).unwrap_or(0)).map_err(failed)
}

/// Reads `f` to its end into a buffer of the `len` bytes its metadata gave (0 when that
/// is unknown), read straight into; what a file that grew meanwhile (or one whose size
/// says nothing, as in /proc) holds past `len` is read on after it.
fn read_sized(f: &mut fs::File, len: usize) -> std::io::Result<Zeroizing<Vec<u8>>> {
    let mut buf = Zeroizing::new(vec![0u8; len]);
    let mut n = 0;
    while n < len {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(n);
    if n < len {
        return Ok(buf);
    }
    // The end, or more than the size said.
    let mut probe = Zeroizing::new([0u8; 64]);
    let k = loop {
        match f.read(&mut probe[..]) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            r => break r?,
        }
    };
    if k > 0 {
        // Past the size the metadata gave (a file that grew, a pipe, a `/proc` file), so
        // bounded: an endless source stops at the limit.
        let mut more = crate::secbuf::SecureBuf::with_capacity(64 * 1024);
        more.push(&buf);
        more.push(&probe[..k]);
        // The probe's bytes count against the limit (so that a source of exactly the
        // limit fills the buffer's capacity instead of doubling it).
        read_all_bounded(&mut more, f, MAX_UNSIZED_INPUT - k as u64)?;
        return Ok(more.finish());
    }
    Ok(buf)
}

/// The size from which a regular file is read by several threads at once.
const PARALLEL_READ_MIN: usize = 8 << 20;

/// Reads a large regular file of `len` bytes (as its metadata said) in ranges on all
/// cores, into one buffer, and then whatever follows them (the file may have grown).
/// The memory a large buffer takes is fresh, and on this kind of machine the kernel's
/// zeroing of each fresh page is much of the cost of reading: the threads share it.
/// `None` (nothing kept) when a range could not be read whole, e.g. the file shrank: the
/// caller then reads it from the start as usual.
fn read_in_parallel(f: &mut fs::File, len: u64) -> Option<Zeroizing<Vec<u8>>> {
    use std::os::unix::fs::FileExt;
    let len = usize::try_from(len).ok()?;
    let threads = cores().clamp(1, 4);
    let chunk = len.div_ceil(threads).max(1);
    // Zeroed memory straight from the allocator: the pages are first touched by the
    // reads, on the reading threads.
    let mut buf = Zeroizing::new(vec![0u8; len]);
    let file: &fs::File = f;
    let whole = std::thread::scope(|s| {
        let readers: Vec<_> = buf
            .chunks_mut(chunk)
            .enumerate()
            .map(|(i, c)| s.spawn(move || file.read_exact_at(c, (i * chunk) as u64)))
            .collect();
        readers
            .into_iter()
            .all(|r| r.join().is_ok_and(|r| r.is_ok()))
    });
    if !whole {
        return None;
    }
    let mut rest = Zeroizing::new(Vec::new());
    std::io::Seek::seek(f, std::io::SeekFrom::Start(len as u64)).ok()?;
    f.read_to_end(&mut rest).ok()?;
    if !rest.is_empty() {
        // (A file that grew while it was read: rare, so the copy does not matter.)
        let mut joined = Zeroizing::new(Vec::with_capacity(len + rest.len()));
        joined.extend_from_slice(&buf);
        joined.extend_from_slice(&rest);
        return Some(joined);
    }
    Some(buf)
}

/// Replaces `path` with `data` through [`Destination`] with the default (strict)
/// options: see [`write`](mod@write) for the rules.
pub fn atomic_write(path: &Path, data: &[u8]) -> Result<(), Error> {
    Destination::open(path, &WriteOptions::default())?.write(data)
}

/// Writes to stdout. A closed pipe (`| head`) is not an error.
pub fn write_stdout(data: &[u8]) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    match out.write_all(data).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::new(
            exit::COULD_NOT_WRITE_OUTPUT,
            format!("cannot write to standard output: {e}"),
        )),
    }
}

/// Writes what `fill` produces to standard output, piece by piece (a closed pipe ends
/// the output quietly, as [`write_stdout`]; other errors are reported as it reports them).
pub fn write_stdout_with(
    fill: &mut dyn FnMut(&mut dyn Write) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut out = Quiet {
        out: std::io::stdout().lock(),
        closed: false,
        error: None,
    };
    let r = fill(&mut out);
    match (r, out.error) {
        (_, Some(e)) => Err(Error::new(
            exit::COULD_NOT_WRITE_OUTPUT,
            format!("cannot write to standard output: {e}"),
        )),
        (r, None) => r,
    }
}

/// Standard output that takes everything once the reader has gone (`EPIPE`).
struct Quiet<W: Write> {
    out: W,
    closed: bool,
    error: Option<std::io::Error>,
}

impl<W: Write> Write for Quiet<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        match self.out.write(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(buf.len())
            }
            Err(e) => {
                self.error
                    .get_or_insert_with(|| std::io::Error::new(e.kind(), e.to_string()));
                Err(e)
            }
            ok => ok,
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.closed {
            return Ok(());
        }
        match self.out.flush() {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            r => r,
        }
    }
}

#[cfg(test)]
mod tests;

/// The number of threads that can run at once (at least 1), looked up once per process:
/// `std::thread::available_parallelism` reads several cgroup files on every call, which
/// showed up in the start-up of a tiny file's decrypt.
pub fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}
