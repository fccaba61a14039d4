//! Reading the file a read-modify-write command locked: the input of `set`, `unset`,
//! `rotate -i`, `decrypt -i`, `encrypt -i`, `updatekeys`, `contribute`, `edit`…
//!
//! [`super::Destination::open`] resolves symbolic links once; the lock, what was seen of
//! the file and the final rename all use that resolved file. Reading the input again by
//! the name the user typed would follow the link a second time, and a link swapped in
//! between would make the command read one file and write its result over another (the
//! plaintext of a file elsewhere written into the link owner's file, or two repository
//! files mixed up). So the input is opened here, at the resolved path without following
//! a link, and must be the very file (device and inode) that was locked.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::os::unix::fs::OpenOptionsExt;

use zeroize::Zeroizing;

use super::Destination;
use super::target::Seen;
use crate::error::Error;
use crate::error::exit;

impl Destination {
    /// Opens the locked file for reading, with its metadata: the resolved file, opened
    /// without following a symbolic link, and the same file (device and inode) as the
    /// one locked ([`Destination::lock`]). A file that was absent when locked gives the
    /// error reading a missing file gives (exit 2); one replaced since, exit 3.
    /// A device or FIFO written in place (`--force-target`) is opened as any input is.
    pub fn open_locked(&self) -> Result<(fs::File, Option<fs::Metadata>), Error> {
        let (target, seen) = self.seen_target();
        let named = target.named.display().to_string();
        let expected = match seen {
            Some(Seen::File { id, .. }) => Some(id),
            Some(Seen::Other) => {
                return super::open_input(&target.path.display().to_string());
            }
            Some(Seen::Absent) => None,
            // Not observed (not locked): the file as it was resolved.
            None => self.file_id(),
        };
        let missing = |e: std::io::Error| {
            Error::new(exit::NO_FILE_SPECIFIED, format!("cannot read {named}: {e}"))
        };
        let Some(expected) = expected else {
            return Err(missing(std::io::ErrorKind::NotFound.into()));
        };
        let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
        let f = match fs::OpenOptions::new()
            .read(true)
            .custom_flags(flags.bits() as i32)
            .open(&target.path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(missing(e)),
            // ELOOP: a symbolic link now stands where the locked file was.
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
                return Err(super::target::changed_error(target));
            }
            Err(e) => {
                return Err(Error::new(
                    exit::COULD_NOT_READ_INPUT,
                    format!("cannot read {named}: {e}"),
                ));
            }
        };
        let meta = f.metadata().map_err(|e| {
            Error::new(
                exit::COULD_NOT_READ_INPUT,
                format!("cannot read {named}: {e}"),
            )
        })?;
        if !meta.is_file() || (meta.dev(), meta.ino()) != expected {
            return Err(super::target::changed_error(target));
        }
        crate::process::note_input(Some(&meta));
        Ok((f, Some(meta)))
    }

    /// Reads the whole locked file ([`Destination::open_locked`]), as
    /// [`super::read_input`] reads a named file.
    pub fn read_locked(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        let (f, meta) = self.open_locked()?;
        let named = self.seen_target().0.named.display().to_string();
        super::read_opened(&named, f, meta.as_ref())
    }
}

/// Reads the input `file` of a command: through `locked` when that is the input's own
/// locked destination (an in-place write), else by name ([`super::read_input`]).
pub fn read_input_via(
    file: &str,
    locked: Option<&Destination>,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    match locked {
        Some(d) => d.read_locked(),
        None => super::read_input(file),
    }
}
