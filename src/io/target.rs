//! Where a write lands: symbolic links resolved to the real file, the root check, the
//! refusal of hard-linked and non-regular targets, and what a command saw of the file
//! when it took its lock ([`Seen`], the lock is [`super::lock`]'s), compared again right
//! before the file is replaced.

use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::fs::MetadataExt;
use std::path::Component;
use std::path::Path;
use std::path::PathBuf;

use crate::error::Error;
use crate::error::exit;

/// How many symbolic links are followed before giving up (as the kernel does).
const MAX_LINKS: usize = 40;

/// What a write may do beyond the safe default.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// Write through a symbolic link even when the real file lies outside the root (the
    /// git work tree, else the policy's directory, else the named file's directory).
    pub allow_outside_root: bool,
    /// Write into a hard-linked file or a non-regular file (device, FIFO) in place
    /// instead of refusing: every link sees the new content; not atomic.
    pub force_target: bool,
    /// The directory of the policy file in force, if any: the root outside git.
    pub policy_dir: Option<PathBuf>,
}

/// A resolved write target.
#[derive(Debug, Clone)]
pub struct Target {
    /// The path as the user gave it (for messages).
    pub named: PathBuf,
    /// The real file: symbolic links followed, directory canonical.
    pub path: PathBuf,
    /// Its metadata when it exists (never a symbolic link).
    pub existing: Option<fs::Metadata>,
}

fn shown(p: &Path) -> String {
    p.display().to_string()
}

pub(super) fn write_error(named: &Path, msg: String) -> Error {
    Error::new(
        exit::COULD_NOT_WRITE_OUTPUT,
        format!("cannot write {}: {msg}", shown(named)),
    )
}

pub(super) fn parent_of(p: &Path) -> &Path {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Follows symbolic links (also dangling ones: the file they name is created).
pub fn resolve(named: &Path) -> Result<Target, Error> {
    let mut p = named.to_path_buf();
    for _ in 0..MAX_LINKS {
        let existing = match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = fs::read_link(&p)
                    .map_err(|e| write_error(named, format!("cannot read the link: {e}")))?;
                p = if to.is_absolute() {
                    to
                } else {
                    parent_of(&p).join(to)
                };
                continue;
            }
            Ok(m) => Some(m),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(write_error(named, e.to_string())),
        };
        let name = match p.components().next_back() {
            Some(Component::Normal(n)) => n.to_owned(),
            _ => return Err(write_error(named, "it does not name a file".to_owned())),
        };
        let dir = fs::canonicalize(parent_of(&p)).map_err(|e| {
            write_error(
                named,
                format!("its directory {} is not usable: {e}", shown(parent_of(&p))),
            )
        })?;
        return Ok(Target {
            named: named.to_owned(),
            path: dir.join(name),
            existing,
        });
    }
    Err(write_error(
        named,
        "too many levels of symbolic links".to_owned(),
    ))
}

/// `p` made absolute against the current directory, `.` and `..` removed by name.
fn lexical_absolute(p: &Path) -> PathBuf {
    let abs = if p.is_absolute() {
        p.to_owned()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    };
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The root a target must stay in: the git work tree holding the named path (nearest
/// ancestor with a `.git` entry), else the policy's directory when it holds the named
/// path, else the named path's own directory. Found from the path as named, so a link
/// cannot choose its own root.
pub fn root_of(named: &Path, policy_dir: Option<&Path>) -> PathBuf {
    let abs = lexical_absolute(named);
    let dir = abs.parent().unwrap_or(Path::new("/")).to_owned();
    let pick = dir
        .ancestors()
        .find(|a| a.join(".git").symlink_metadata().is_ok())
        .map(Path::to_owned)
        .or_else(|| {
            policy_dir
                .map(lexical_absolute)
                .filter(|pd| dir.starts_with(pd))
        })
        .unwrap_or(dir);
    fs::canonicalize(&pick).unwrap_or(pick)
}

/// How the content gets to the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A temporary file renamed over the target (the default).
    Replace,
    /// Written into the existing file (forced: hard links, devices, FIFOs).
    InPlace,
}

fn kind_name(m: &fs::Metadata) -> &'static str {
    let t = m.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Checks a resolved target against the options: the root, hard links, file type.
pub fn check(t: &Target, opts: &WriteOptions) -> Result<Mode, Error> {
    let root = root_of(&t.named, opts.policy_dir.as_deref());
    if !opts.allow_outside_root && !t.path.starts_with(&root) {
        return Err(write_error(
            &t.named,
            format!(
                "it leads to {}, which is outside {} (the repository or policy root it was named in); nothing was written",
                shown(&t.path),
                shown(&root)
            ),
        )
        .hint("a symbolic link must not make leafseal write (or re-encrypt) a file elsewhere")
        .hint("check where the link points; pass --allow-outside-root to write there anyway"));
    }
    let Some(m) = &t.existing else {
        return Ok(Mode::Replace);
    };
    if m.is_dir() || m.file_type().is_socket() {
        return Err(
            write_error(&t.named, format!("{} is {}", shown(&t.path), kind_name(m)))
                .hint("name a regular file"),
        );
    }
    if !m.is_file() {
        if opts.force_target {
            return Ok(Mode::InPlace);
        }
        return Err(write_error(
            &t.named,
            format!(
                "{} is {}; nothing was written",
                shown(&t.path),
                kind_name(m)
            ),
        )
        .hint("name a regular file, or pass --force-target to write the bytes into it as it is"));
    }
    if m.nlink() > 1 {
        if opts.force_target {
            return Ok(Mode::InPlace);
        }
        return Err(write_error(
            &t.named,
            format!(
                "{} has {} hard links; replacing it would leave the other names with the old content, so nothing was written",
                shown(&t.path),
                m.nlink()
            ),
        )
        .hint("pass --force-target to write into the file itself (every link sees the new content; the write is then not atomic)")
        .hint("or remove the other links first (`find -samefile` lists them)"));
    }
    Ok(Mode::Replace)
}

/// What a read-modify-write saw of its target when it took the lock: its identity, link
/// count, length and change times, or that it did not exist. Compared again right before
/// the new content replaces the target: a program that does not take leafseal's lock (a
/// git checkout, an editor, sops) and wrote the file meanwhile changed at least one of
/// them, and its change must not be overwritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// No file at the path.
    Absent,
    /// A regular file.
    File {
        /// Device and inode: a file renamed over the path has other ones.
        id: (u64, u64),
        /// Link count: a link added or removed.
        nlink: u64,
        /// Length.
        len: u64,
        /// Modification and status change times, in nanoseconds: any write, truncation,
        /// `chmod` or `touch`.
        times: ((i64, i64), (i64, i64)),
    },
    /// Not a regular file (a device or FIFO written in place): not compared.
    Other,
}

impl Seen {
    /// The path as it is now (symbolic links not followed: `path` is the real file).
    pub fn of(path: &Path) -> std::io::Result<Seen> {
        match fs::symlink_metadata(path) {
            Ok(m) => Ok(Seen::of_metadata(&m)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Seen::Absent),
            Err(e) => Err(e),
        }
    }

    /// A file's metadata as seen.
    pub fn of_metadata(m: &fs::Metadata) -> Seen {
        if !m.is_file() {
            return Seen::Other;
        }
        Seen::File {
            id: (m.dev(), m.ino()),
            nlink: m.nlink(),
            len: m.len(),
            times: ((m.mtime(), m.mtime_nsec()), (m.ctime(), m.ctime_nsec())),
        }
    }

    /// Whether the path still shows what was seen (always, for a non-regular file); an
    /// error when it cannot be looked at.
    pub fn holds(&self, path: &Path) -> std::io::Result<bool> {
        match self {
            Seen::Other => Ok(true),
            seen => Ok(Seen::of(path)? == *seen),
        }
    }
}

/// The error for a target another program changed after leafseal read it.
pub fn changed_error(t: &Target) -> Error {
    let name = shown(&t.named);
    Error::new(
        exit::COULD_NOT_WRITE_OUTPUT,
        format!(
            "{name} was changed by another program while leafseal was changing it; the new content was not written, and {name} is as that program left it"
        ),
    )
    .hint("run the command again; leafseal's own commands wait for each other, but a program that does not take leafseal's lock (a git checkout, an editor, sops) must not write the file meanwhile")
}
