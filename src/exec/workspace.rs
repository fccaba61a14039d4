//! `exec-file`'s private temporary directory: created 0700 by leafseal, opened once, and
//! from then on used only through that handle. The plaintext's entry is made, opened,
//! wiped and removed relative to the directory's handle and checked by device and inode,
//! so a path component replaced while the command runs is never followed.
//!
//! With `--user` the directory stays leafseal's (mode 0710, group of the account: the
//! account can reach the file by its name, but cannot list, add, rename or remove
//! entries), and only the file itself is given to the account. Before round 19 the whole
//! directory was given away, so the account could replace the FIFO with a symlink (root
//! then wrote the plaintext into any file) or move the directory and leave a symlink in
//! its place (root then removed a file in any directory, and the plaintext stayed).

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;

use rustix::fs::AtFlags;
use rustix::fs::Mode;
use rustix::fs::OFlags;
use rustix::process::Gid;
use rustix::process::Uid;

use super::user::Account;
use crate::error::Error;
use crate::error::exit;

/// A file system object's identity: (device, inode).
pub(super) type FileId = (u64, u64);

/// The identity of an open file.
fn id_of(f: &File) -> std::io::Result<(FileId, std::fs::FileType)> {
    let m = f.metadata()?;
    Ok(((m.dev(), m.ino()), m.file_type()))
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

/// What was created in the directory.
#[derive(Debug, Clone, Copy)]
struct Created {
    id: FileId,
    /// For a regular file: wiped before removal, at most this many bytes (`None`: its
    /// whole length). With `--user` the account owns the file and could grow it, so only
    /// what leafseal wrote is wiped.
    wipe: Option<Option<u64>>,
}

/// The private directory and the one file in it. Dropping it wipes the file (if it is
/// still the one created), removes it through the directory's handle, then removes the
/// directory if its path still names it.
pub(super) struct Workspace {
    path: PathBuf,
    /// The directory, opened right after it was created (`O_DIRECTORY | O_NOFOLLOW`).
    dir: Arc<File>,
    dir_id: FileId,
    name: String,
    owner: Option<Account>,
    created: Option<Created>,
}

impl Workspace {
    /// Creates the private (0700) directory in the first usable root. With `owner`, the
    /// directory's group becomes the account's and its mode 0710.
    pub(super) fn create(name: &str, owner: Option<Account>) -> Result<Workspace, Error> {
        let mut last = None;
        for root in temp_roots() {
            if !root.is_dir() {
                continue;
            }
            match Self::create_in(&root, name, owner) {
                Ok(ws) => return Ok(ws),
                Err(e) => last = Some(e),
            }
        }
        Err(Error::new(
            exit::GENERIC,
            match last {
                Some(e) => format!("cannot create a private temporary directory: {e}"),
                None => {
                    "cannot create a private temporary directory: no usable directory".to_owned()
                }
            },
        )
        .hint("set TMPDIR (or XDG_RUNTIME_DIR) to a writable directory"))
    }

    fn create_in(root: &Path, name: &str, owner: Option<Account>) -> std::io::Result<Workspace> {
        use std::os::unix::fs::PermissionsExt;
        let td = tempfile::Builder::new()
            .prefix(".leafseal-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(root)?;
        // Opened before anyone else can reach it: the mode is 0700 and it is ours. On an
        // error `td` removes it.
        let fd = rustix::fs::open(
            td.path(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let dir = File::from(fd);
        let (dir_id, kind) = id_of(&dir)?;
        if !kind.is_dir() {
            return Err(std::io::Error::other("not a directory"));
        }
        if let Some(a) = owner {
            rustix::fs::fchown(&dir, None, Some(Gid::from_raw(a.gid)))?;
            rustix::fs::fchmod(&dir, Mode::from_raw_mode(0o710))?;
        }
        Ok(Workspace {
            path: td.keep(),
            dir: Arc::new(dir),
            dir_id,
            name: name.to_owned(),
            owner,
            created: None,
        })
    }

    /// The file's path, for the command.
    pub(super) fn file_path(&self) -> PathBuf {
        self.path.join(&self.name)
    }

    /// The directory's handle and the file's name, for the FIFO writer.
    pub(super) fn dir_handle(&self) -> Arc<File> {
        Arc::clone(&self.dir)
    }

    /// The file's name in the directory.
    pub(super) fn name(&self) -> &str {
        &self.name
    }

    /// Gives the entry `name` (not following a symlink) to the `--user` account.
    fn give(&self) -> Result<(), Error> {
        let Some(a) = self.owner else { return Ok(()) };
        rustix::fs::chownat(
            &*self.dir,
            self.name.as_str(),
            Some(Uid::from_raw(a.uid)),
            Some(Gid::from_raw(a.gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| {
            Error::new(
                exit::GENERIC,
                format!("cannot give the temporary file to the account the command runs as: {e}"),
            )
        })
    }

    /// Makes the FIFO (mode 0600, given to the account) and returns its identity.
    pub(super) fn make_fifo(&mut self) -> Result<FileId, Error> {
        let fail = |e: &dyn std::fmt::Display| setup_error("FIFO", e);
        rustix::fs::mkfifoat(&*self.dir, self.name.as_str(), Mode::RUSR | Mode::WUSR)
            .map_err(|e| fail(&e))?;
        let fd = rustix::fs::openat(
            &*self.dir,
            self.name.as_str(),
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| fail(&e))?;
        let (id, kind) = id_of(&File::from(fd)).map_err(|e| fail(&e))?;
        if !kind.is_fifo() {
            return Err(fail(&"it is not the FIFO just made"));
        }
        self.created = Some(Created { id, wipe: None });
        self.give()?;
        Ok(id)
    }

    /// Writes `data` to a new 0600 regular file (given to the account).
    pub(super) fn write_file(&mut self, data: &[u8]) -> Result<(), Error> {
        let fail = |e: &dyn std::fmt::Display| setup_error("file", e);
        let fd = rustix::fs::openat(
            &*self.dir,
            self.name.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::RUSR | Mode::WUSR,
        )
        .map_err(|e| fail(&e))?;
        let mut f = File::from(fd);
        let (id, _) = id_of(&f).map_err(|e| fail(&e))?;
        let limit = self.owner.map(|_| data.len() as u64);
        self.created = Some(Created {
            id,
            wipe: Some(limit),
        });
        if let Some(a) = self.owner {
            rustix::fs::fchown(&f, Some(Uid::from_raw(a.uid)), Some(Gid::from_raw(a.gid)))
                .map_err(|e| fail(&e))?;
        }
        f.write_all(data)
            .and_then(|()| f.flush())
            .map_err(|e| fail(&e))
    }
}

fn setup_error(what: &str, e: &dyn std::fmt::Display) -> Error {
    Error::new(
        exit::GENERIC,
        format!("cannot create the temporary {what}: {e}"),
    )
}

/// Opens the entry `name` of `dir` for writing without following a symlink and without
/// blocking, and checks that it is the object `want` (device and inode) of the kind
/// `kind_ok` accepts. `Ok(None)`: it is something else.
pub(super) fn open_checked(
    dir: &File,
    name: &str,
    want: FileId,
    kind_ok: fn(&std::fs::FileType) -> bool,
) -> rustix::io::Result<Option<File>> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::WRONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let f = File::from(fd);
    Ok(match id_of(&f) {
        Ok((id, kind)) if id == want && kind_ok(&kind) => Some(f),
        _ => None,
    })
}

/// Overwrites the regular file with zeros (at most `limit` bytes). Best effort.
fn wipe(mut f: File, limit: Option<u64>) {
    let Ok(m) = f.metadata() else { return };
    let zeros = [0u8; 8192];
    let mut left = limit.map_or(m.len(), |l| l.min(m.len()));
    while left > 0 {
        let n = usize::try_from(left.min(zeros.len() as u64)).unwrap_or(zeros.len());
        if f.write_all(zeros.get(..n).unwrap_or(&zeros)).is_err() {
            break;
        }
        left -= n as u64;
    }
    let _ = f.sync_all();
}

impl Drop for Workspace {
    fn drop(&mut self) {
        if let Some(c) = self.created.take() {
            if let Some(limit) = c.wipe
                && let Ok(Some(f)) =
                    open_checked(&self.dir, &self.name, c.id, std::fs::FileType::is_file)
            {
                wipe(f, limit);
            }
            // Through the directory's handle: removes the entry in this directory, even
            // if its path now leads elsewhere.
            let _ = rustix::fs::unlinkat(&*self.dir, self.name.as_str(), AtFlags::empty());
        }
        // The directory itself goes by path, so only while the path still names it (a
        // symlink or another directory put in its place is left alone). Its content is
        // removed without following links.
        let same = std::fs::symlink_metadata(&self.path)
            .is_ok_and(|m| m.is_dir() && (m.dev(), m.ino()) == self.dir_id);
        if same {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
