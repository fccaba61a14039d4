//! The commands' audit events ([`crate::audit`]): one per command and file.
//!
//! A command announces the files it will work on ([`expect`]) and records the event
//! ([`record`]) once the file is open and just before anything leaves the process
//! (plaintext to stdout, a file, an editor or a child; a changed file to disk), so a
//! required sink that fails stops it with nothing released. A file whose command fails
//! before that point gets its event, with the exit code, from [`finish`] at the end of
//! [`crate::cli::run`].

use std::sync::Mutex;

use crate::audit;
use crate::audit::Event;
use crate::audit::Outcome;
use crate::error::Error;

struct Pending {
    action: &'static str,
    file: String,
    paths: Vec<String>,
}

static PENDING: Mutex<Vec<Pending>> = Mutex::new(Vec::new());

fn pending() -> std::sync::MutexGuard<'static, Vec<Pending>> {
    PENDING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Announces that `action` will work on `file`, touching `paths`. Costs nothing without an
/// audit configuration.
pub fn expect(action: &'static str, file: &str, paths: &[String]) -> Result<(), Error> {
    if !audit::enabled()? {
        return Ok(());
    }
    pending().push(Pending {
        action,
        file: file.to_owned(),
        paths: paths.to_vec(),
    });
    Ok(())
}

fn take(action: &str, file: &str) -> Option<Pending> {
    let mut p = pending();
    let i = p
        .iter()
        .position(|x| x.action == action && x.file == file)?;
    Some(p.remove(i))
}

/// Records the successful event of `action` on `file`, opened with `keys` (from
/// [`crate::ops::Opened::unwrapped_by`]). Call it before releasing anything: an error here
/// (a required sink failed) must stop the command.
pub fn record(action: &'static str, file: &str, keys: &[String]) -> Result<(), Error> {
    let Some(p) = take(action, file) else {
        return Ok(());
    };
    let ev = Event::new(action, file).keys(keys.to_vec()).paths(p.paths);
    for w in audit::record(&ev)? {
        super::warn(&w);
    }
    Ok(())
}

/// Records the end of `action` on `file` with an exit code, when it was announced and
/// not recorded yet (the command released nothing: it failed, or had nothing to do), so
/// sink errors are only warnings.
pub fn done(action: &'static str, file: &str, code: i32) {
    if let Some(p) = take(action, file) {
        submit_failure(p, code);
    }
}

/// Drops an announced event: the file turned out not to be one the command works on.
pub fn forget(action: &'static str, file: &str) {
    take(action, file);
}

fn submit_failure(p: Pending, code: i32) {
    let outcome = if code == 0 {
        Outcome::Success
    } else {
        Outcome::Failed(code)
    };
    let ev = Event::new(p.action, &p.file)
        .paths(p.paths)
        .outcome(outcome);
    match audit::record(&ev) {
        Ok(ws) => ws.iter().for_each(|w| super::warn(w)),
        Err(e) => super::warn(&e.message),
    }
}

/// Records every announced event not recorded yet, with the command's result: a command
/// that ended before releasing anything (an error, or nothing to change).
pub fn finish(result: &Result<i32, Error>) {
    let left: Vec<Pending> = std::mem::take(&mut *pending());
    let code = match result {
        Ok(c) => *c,
        Err(e) => e.code,
    };
    for p in left {
        submit_failure(p, code);
    }
}
