//! File input and output: reading files or stdin, atomic in-place replacement (temp file
//! in the same directory, fsync, rename), and writing to stdout.

use std::fs;
use std::io::Read;
use std::io::Write;
use std::path::Path;

use zeroize::Zeroizing;

use crate::error::Error;
use crate::error::exit;

/// Reads a file, or stdin for `-`.
pub fn read_input(path: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
    if path == "-" {
        let mut buf = crate::secbuf::SecureBuf::with_capacity(64 * 1024);
        buf.read_all(&mut std::io::stdin().lock()).map_err(|e| {
            Error::new(
                exit::COULD_NOT_READ_INPUT,
                format!("cannot read standard input: {e}"),
            )
        })?;
        return Ok(buf.finish());
    }
    // A file's size is known: `read_to_end` allocates once, so no copy is left behind.
    let mut buf = Zeroizing::new(Vec::new());
    let mut f = fs::File::open(path).map_err(|e| {
        let code = if e.kind() == std::io::ErrorKind::NotFound {
            exit::NO_FILE_SPECIFIED
        } else {
            exit::COULD_NOT_READ_INPUT
        };
        Error::new(code, format!("cannot read {path}: {e}"))
    })?;
    f.read_to_end(&mut buf).map_err(|e| {
        Error::new(
            exit::COULD_NOT_READ_INPUT,
            format!("cannot read {path}: {e}"),
        )
    })?;
    Ok(buf)
}

/// Replaces `path` atomically with `data`: a temp file in the same directory is written,
/// flushed to disk and renamed over the target, then the directory is synced. The
/// original permissions are kept. On any failure the original file is untouched and the
/// temp file removed.
pub fn atomic_write(path: &Path, data: &[u8]) -> Result<(), Error> {
    let fail = |what: &str, e: std::io::Error| {
        Error::new(
            exit::COULD_NOT_WRITE_OUTPUT,
            format!("cannot write {}: {what}: {e}", path.display()),
        )
        .hint("the original file was left unchanged")
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "leafseal".to_owned());
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(|e| fail("cannot create a temporary file next to it", e))?;
    if let Ok(meta) = fs::metadata(path) {
        tmp.as_file()
            .set_permissions(meta.permissions())
            .map_err(|e| fail("cannot copy permissions", e))?;
    }
    tmp.write_all(data).map_err(|e| fail("write failed", e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| fail("fsync failed", e))?;
    tmp.persist(path)
        .map_err(|e| fail("rename failed", e.error))?;
    if let Ok(d) = fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
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
