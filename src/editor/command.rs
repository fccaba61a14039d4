//! Finding and running the editor.
//!
//! The editor comes from `SOPS_EDITOR`, else `EDITOR`, else `VISUAL`, split into words
//! the way a POSIX shell would (quotes and backslashes, no expansions), else the first of
//! `vim`, `nano`, `vi`. A program name without `/` is looked up in the absolute entries of
//! `PATH` only — never in the current directory (empty and relative `PATH` entries are
//! skipped), so a file called `vim` in a cloned repository is never run.

use std::ffi::OsStr;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::path::PathBuf;
use std::process::Child;
use std::sync::mpsc;
use std::time::Duration;
use std::time::Instant;

use crate::editor::Signals;
use crate::error::Error;
use crate::error::exit;

/// The environment variables naming the editor, in order of preference.
pub const EDITOR_VARS: [&str; 3] = ["SOPS_EDITOR", "EDITOR", "VISUAL"];

/// The editors tried when none is configured.
pub const FALLBACK_EDITORS: [&str; 3] = ["vim", "nano", "vi"];

/// How long an editor gets to exit after a forwarded signal before it is killed.
const GRACE: Duration = Duration::from_secs(2);

/// A resolved editor command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditorCommand {
    /// The program, as a path (absolute when found on `PATH`).
    pub program: PathBuf,
    /// Arguments before the file name.
    pub args: Vec<OsString>,
}

/// Splits a command line into words like a POSIX shell: blanks separate words; `'…'`
/// keeps everything literally; `"…"` keeps everything except that `\` escapes `"`, `\`,
/// `$`, `` ` `` and a newline; outside quotes `\` escapes the next character. No variable,
/// glob or tilde expansion. An unterminated quote or trailing `\` is an error.
pub fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err("unterminated single quote".to_owned()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some('\n') => {}
                            Some(x @ ('"' | '\\' | '$' | '`')) => cur.push(x),
                            Some(x) => {
                                cur.push('\\');
                                cur.push(x);
                            }
                            None => return Err("unterminated double quote".to_owned()),
                        },
                        Some(x) => cur.push(x),
                        None => return Err("unterminated double quote".to_owned()),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(x) => {
                    in_word = true;
                    cur.push(x);
                }
                None => return Err("trailing backslash".to_owned()),
            },
            x => {
                in_word = true;
                cur.push(x);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

fn is_executable_file(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Resolves a program name: a name containing `/` is a path and is used as given (when it
/// is an executable file); any
/// other name is searched in the absolute directories of `path_var` only (empty entries,
/// which a shell would treat as the current directory, and relative entries are skipped).
pub fn resolve_program(name: &OsStr, path_var: Option<&OsStr>) -> Option<PathBuf> {
    if name.is_empty() {
        return None;
    }
    if name.as_encoded_bytes().contains(&b'/') {
        let p = PathBuf::from(name);
        return is_executable_file(&p).then_some(p);
    }
    let path_var = path_var?;
    std::env::split_paths(path_var)
        .filter(|d| d.is_absolute())
        .map(|d| d.join(name))
        .find(|c| is_executable_file(c))
}

/// Picks the editor from the environment (`var` reads it). A configured editor that
/// cannot be found is an error (exit 201) rather than a silent fall-back.
pub fn find_editor(var: &dyn Fn(&str) -> Option<OsString>) -> Result<EditorCommand, Error> {
    let path_var = var("PATH");
    for name in EDITOR_VARS {
        let Some(value) = var(name) else { continue };
        let text = value.to_string_lossy();
        if text.trim().is_empty() {
            continue;
        }
        let mut words = split_words(&text)
            .map_err(|why| {
                Error::new(
                    exit::NO_EDITOR_FOUND,
                    format!("cannot parse ${name}: {why}"),
                )
                .hint("quote the editor command like a shell command, e.g. EDITOR='code --wait'")
            })?
            .into_iter();
        let Some(program) = words.next() else {
            continue;
        };
        let Some(resolved) = resolve_program(OsStr::new(&program), path_var.as_deref()) else {
            return Err(Error::new(
                exit::NO_EDITOR_FOUND,
                format!("the editor `{program}` named in ${name} was not found on PATH"),
            )
            .hint("give the editor's absolute path, or a program on PATH (the current directory is never searched)"));
        };
        return Ok(EditorCommand {
            program: resolved,
            args: words.map(OsString::from).collect(),
        });
    }
    for name in FALLBACK_EDITORS {
        if let Some(p) = resolve_program(OsStr::new(name), path_var.as_deref()) {
            return Ok(EditorCommand {
                program: p,
                args: Vec::new(),
            });
        }
    }
    Err(Error::new(
        exit::NO_EDITOR_FOUND,
        "no editor found: SOPS_EDITOR, EDITOR and VISUAL are unset and none of vim, nano, vi is on PATH",
    )
    .hint("set SOPS_EDITOR or EDITOR, e.g. EDITOR=nano or EDITOR='code --wait'"))
}

/// How an editor run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditorExit {
    /// The editor exited with status 0.
    Success,
    /// The editor exited with a non-zero status (`Some(code)`) or was killed by a signal
    /// (`None`, with the signal in the second field).
    Failed(Option<i32>, Option<i32>),
    /// leafseal received this handled signal; the editor was asked to stop (and killed if
    /// it did not within a grace period) and has exited.
    Interrupted(i32),
}

fn stop_child(child: &mut Child, sig: i32) {
    // Forward a terminating signal so the editor can restore the terminal; SIGINT is
    // ignored by most editors, so it becomes SIGTERM.
    let forward = if sig == signal_hook::consts::SIGHUP {
        rustix::process::Signal::HUP
    } else {
        rustix::process::Signal::TERM
    };
    let _ = rustix::process::kill_process(rustix::process::Pid::from_child(child), forward);
    let start = Instant::now();
    while start.elapsed() < GRACE {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A channel that receives a message as soon as `child` has exited (a thread waits for
/// it without reaping it: the caller's `try_wait` does), so the polling loop of [`run`]
/// wakes at once instead of at its next tick, and the thread, to be joined once the
/// child has been reaped (its wait has ended by then). The sender is dropped when the
/// thread cannot be started or the wait fails.
fn exit_notice(child: &Child) -> (mpsc::Receiver<()>, Option<std::thread::JoinHandle<()>>) {
    let (tx, rx) = mpsc::channel();
    let pid = rustix::process::Pid::from_child(child);
    let waiter = std::thread::Builder::new()
        .name("leafseal-editor-wait".to_owned())
        .spawn(move || {
            let how =
                rustix::process::WaitIdOptions::EXITED | rustix::process::WaitIdOptions::NOWAIT;
            if rustix::process::waitid(rustix::process::WaitId::Pid(pid), how).is_ok() {
                let _ = tx.send(());
            }
        });
    (rx, waiter.ok())
}

/// Runs the editor on `file` with the terminal inherited and waits for it. When one of
/// the handled signals arrives meanwhile, the editor is stopped and
/// [`EditorExit::Interrupted`] returned, so the caller can clean up.
pub fn run(cmd: &EditorCommand, file: &Path, signals: &Signals) -> Result<EditorExit, Error> {
    if let Some(sig) = signals.caught() {
        return Ok(EditorExit::Interrupted(sig));
    }
    let mut child = crate::process::command(&cmd.program)
        .args(&cmd.args)
        .arg(file)
        .spawn()
        .map_err(|e| {
            Error::new(
                exit::NO_EDITOR_FOUND,
                format!("cannot run the editor {}: {e}", cmd.program.display()),
            )
            .hint("set SOPS_EDITOR or EDITOR to an installed editor")
        })?;
    let (exited, waiter) = exit_notice(&child);
    let outcome = watch(&mut child, &exited, signals);
    // Every way out of `watch` has reaped the child (or failed to wait for it), which
    // ends the waiter's wait.
    if let Some(waiter) = waiter {
        let _ = waiter.join();
    }
    outcome
}

/// Polls `child` until it exits or a handled signal stops it; `exited` wakes the poll.
fn watch(
    child: &mut Child,
    exited: &mpsc::Receiver<()>,
    signals: &Signals,
) -> Result<EditorExit, Error> {
    loop {
        if let Some(sig) = signals.caught() {
            stop_child(child, sig);
            return Ok(EditorExit::Interrupted(sig));
        }
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(EditorExit::Success),
            Ok(Some(status)) => return Ok(EditorExit::Failed(status.code(), status.signal())),
            Ok(None) => match exited.recv_timeout(Duration::from_millis(25)) {
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(Duration::from_millis(25));
                }
                Ok(()) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            },
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::new(
                    exit::NO_EDITOR_FOUND,
                    format!("cannot wait for the editor: {e}"),
                ));
            }
        }
    }
}
