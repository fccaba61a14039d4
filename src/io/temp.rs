//! The temporary files of [`super::write`]: their names
//! (`.<name>.leafseal-tmp.<pid>.<random>`) and the removal of the ones a killed process
//! left behind.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The marker in every temporary file's name.
pub const TMP_MARK: &str = ".leafseal-tmp.";

fn random_hex() -> Result<String, std::io::Error> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// `.<name>.leafseal-tmp.<pid>.<random>`, the name shortened to stay under NAME_MAX.
pub(super) fn tmp_name(name: &str) -> Result<String, std::io::Error> {
    let mut end = name.len().min(200);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let short = name.get(..end).unwrap_or("leafseal");
    Ok(format!(
        ".{short}{TMP_MARK}{}.{}",
        std::process::id(),
        random_hex()?
    ))
}

/// The process id in a temporary file's name, when the name is one of ours.
pub fn tmp_pid(file_name: &str) -> Option<u32> {
    let mut parts = file_name.rsplitn(3, '.');
    let random = parts.next()?;
    let pid = parts.next()?;
    let rest = parts.next()?;
    let ours = rest.starts_with('.')
        && format!("{rest}.").ends_with(TMP_MARK)
        && random.len() == 16
        && random.bytes().all(|b| b.is_ascii_hexdigit())
        && !pid.is_empty()
        && pid.bytes().all(|b| b.is_ascii_digit());
    if ours { pid.parse().ok() } else { None }
}

fn alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    let Some(p) = rustix::process::Pid::from_raw(raw) else {
        return false;
    };
    !matches!(
        rustix::process::test_kill_process(p),
        Err(rustix::io::Errno::SRCH)
    )
}

/// Removes the temporary files (and the names' lock files, see [`super::lock`]) in `dir`
/// left by leafseal processes that no longer run
/// (killed with SIGKILL, or the machine stopped): regular files named as ours, owned by
/// the current user, whose process id is not alive, not locked (a live writer locks its
/// temporary file from the microseconds after it created it: its process id may be
/// another PID namespace's, a container's sharing the directory). Returns how many were
/// removed.
pub fn remove_stale(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let me = rustix::process::geteuid().as_raw();
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        // A name's lock file left by a killed process: removed when no one holds it (one
        // about to lock it finds it gone and makes another).
        let name_lock = name.starts_with('.') && name.ends_with(super::lock::LOCK_SUFFIX);
        if !name_lock {
            let Some(pid) = tmp_pid(name) else { continue };
            if pid == std::process::id() || alive(pid) {
                continue;
            }
        }
        let path = e.path();
        if remove_if_unlocked(&path, me) {
            removed += 1;
        }
    }
    removed
}

/// Removes `path` if it is a regular file of user `me` that no process holds locked:
/// locked exclusively here first, checked to be still what the path names, and unlinked
/// while the lock is held (as every holder unlinks its own), so that a process that
/// locks it meanwhile finds it gone and makes another.
fn remove_if_unlocked(path: &Path, me: u32) -> bool {
    let Ok(f) = fs::OpenOptions::new()
        .read(true)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(path)
    else {
        return false;
    };
    let Ok(m) = f.metadata() else { return false };
    if !m.is_file() || m.uid() != me {
        return false;
    }
    if rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err() {
        return false;
    }
    let still =
        fs::symlink_metadata(path).is_ok_and(|now| now.dev() == m.dev() && now.ino() == m.ino());
    still && fs::remove_file(path).is_ok()
}
