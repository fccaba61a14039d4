//! Signals while files are being written: the registry of live temporary files and the
//! thread that removes them when a terminating signal arrives.
//!
//! [`install`] starts one thread (once per process) that receives every signal whose
//! default action ends the process and that a program may catch ([`CAUGHT`]). On a signal
//! it takes the registry lock, removes every registered temporary file and ends the
//! process with 128 + signal through the hook the command line set ([`set_exit_hook`]).
//! Because a temporary file is renamed over its target under the same lock
//! ([`commit`]), a signal either comes before the rename (the temporary file is removed,
//! the target keeps its old content) or after it (the target has the new content):
//! never a partial target and never a leftover temporary file.
//!
//! `edit` runs the editor and must stop it and wipe its workspace itself, so it asks for
//! [`defer`]: signals are then only recorded ([`caught`]) and the caller cleans up.
//! SIGPIPE is not in the list: Rust programs ignore it, so it never ends the process
//! (a closed pipe is an ordinary write error). SIGKILL and SIGSTOP cannot be caught;
//! SIGSEGV, SIGBUS, SIGFPE and SIGILL are faults of the program itself, not requests.

use std::path::Path;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::MutexGuard;
use std::sync::OnceLock;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::AtomicI32;
use std::sync::atomic::Ordering;

#[cfg(feature = "cli")]
use signal_hook::consts::signal as sig;

use crate::error::Error;
#[cfg(feature = "cli")]
use crate::error::exit;

#[cfg(feature = "cli")]
/// The signals caught while leafseal writes files or runs an editor or a command: every catchable
/// signal whose default action ends the process (SIGPIPE aside, see the module docs).
/// On Linux the real-time signals are caught too ([`realtime`]).
pub const CAUGHT: [i32; 15] = [
    sig::SIGINT,
    sig::SIGTERM,
    sig::SIGHUP,
    sig::SIGQUIT,
    sig::SIGUSR1,
    sig::SIGUSR2,
    sig::SIGALRM,
    sig::SIGVTALRM,
    sig::SIGPROF,
    sig::SIGXCPU,
    sig::SIGXFSZ,
    sig::SIGIO,
    sig::SIGSYS,
    sig::SIGTRAP,
    sig::SIGABRT,
];

/// The Linux real-time signals a program may use (glibc keeps 32 and 33 for itself), and
/// the two other signals glibc's list leaves out (SIGSTKFLT, SIGPWR): each ends a process
/// by default, so the signal thread catches them with [`CAUGHT`], and the commands that
/// take the signals over (`exec-env`, `exec-file`, `edit`, `keyservice`) act on them too.
pub fn realtime() -> Vec<i32> {
    if cfg!(all(target_os = "linux", target_env = "gnu")) {
        let mut v: Vec<i32> = (34..=64).collect();
        if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
            v.extend([16, 30]); // SIGSTKFLT, SIGPWR
        }
        v
    } else {
        Vec::new()
    }
}

/// The temporary files alive in this process.
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
/// The last signal caught (0: none).
static LAST: AtomicI32 = AtomicI32::new(0);
/// Set by [`defer`]: record signals only.
#[cfg(feature = "cli")]
static DEFERRED: AtomicBool = AtomicBool::new(false);
/// The outcome of starting the thread, once.
#[cfg(feature = "cli")]
static STARTED: OnceLock<Result<(), String>> = OnceLock::new();
/// The signal thread's handle, held for the life of the process.
#[cfg(feature = "cli")]
static SIGNAL_THREAD: OnceLock<std::thread::JoinHandle<()>> = OnceLock::new();
/// How the process ends after a signal (set by the command line).
static EXIT_HOOK: OnceLock<fn(i32)> = OnceLock::new();
/// What else a signal that ends the process removes (`edit`'s workspaces).
static CLEANUP: OnceLock<fn()> = OnceLock::new();

fn live() -> MutexGuard<'static, Vec<PathBuf>> {
    match LIVE.lock() {
        Ok(l) => l,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Sets what happens after the temporary files are removed on a signal: the command
/// line prints a line and exits with 128 + signal. Without a hook the process exits
/// with that code silently.
pub fn set_exit_hook(hook: fn(i32)) {
    let _ = EXIT_HOOK.set(hook);
}

/// Sets what a signal that ends the process removes besides the registered temporary
/// files (once: the editor's live workspace directories).
pub fn set_cleanup(cleanup: fn()) {
    let _ = CLEANUP.set(cleanup);
}

/// Set by [`enable`]: only a program that owns its process catches signals.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Lets [`install`] catch signals: called by the command line, which owns the process. A
/// program that uses leafseal as a library keeps its own signal handling; its temporary
/// files are still removed on every error and unwinding path (see [`Registered`]).
pub fn enable() {
    ENABLED.store(true, Ordering::SeqCst);
}

/// Starts the signal thread (once; later calls return the first result). Does nothing
/// unless [`enable`] was called (the command line) or the `cli` feature is off.
pub fn install() -> Result<(), Error> {
    if !ENABLED.load(Ordering::SeqCst) {
        return Ok(());
    }
    start()
}

#[cfg(not(feature = "cli"))]
fn start() -> Result<(), Error> {
    Ok(())
}

#[cfg(feature = "cli")]
fn start() -> Result<(), Error> {
    let r = STARTED.get_or_init(|| {
        let mut signals = signal_hook::iterator::Signals::new(CAUGHT).map_err(|e| e.to_string())?;
        for rt in realtime() {
            // A signal the C library reserves cannot be registered; it is not ours to catch.
            let _ = signals.add_signal(rt);
        }
        std::thread::Builder::new()
            .name("leafseal-signals".to_owned())
            .spawn(move || {
                for s in signals.forever() {
                    LAST.store(s, Ordering::SeqCst);
                    // The programs waited for in groups of their own would not get the
                    // signal that ends leafseal: they end with it (`process::groups`).
                    crate::process::groups::stop_all();
                    // Held until the process ends: no rename can follow, and [`defer`]
                    // (which sets DEFERRED under it) cannot switch to recording between
                    // this check and the exit: a command that asked for it has made
                    // nothing it must clean up itself yet (`edit`'s workspace).
                    let files = live();
                    if DEFERRED.load(Ordering::SeqCst) {
                        continue;
                    }
                    for f in files.iter() {
                        let _ = std::fs::remove_file(f);
                    }
                    if let Some(cleanup) = CLEANUP.get() {
                        cleanup();
                    }
                    if let Some(hook) = EXIT_HOOK.get() {
                        hook(s);
                    }
                    std::process::exit(128_i32.saturating_add(s));
                }
            })
            // Kept, not dropped: dropping the handle would detach the thread (see
            // `crate::threads`). It runs until the process ends, so it is never joined.
            .map(|handle| {
                let _ = SIGNAL_THREAD.set(handle);
            })
            .map_err(|e| e.to_string())
    });
    r.clone().map_err(|e| {
        Error::new(
            exit::GENERIC,
            format!("cannot install the signal handlers: {e}"),
        )
    })
}

/// Switches to recording: signals no longer end the process; [`caught`] reports them
/// and the caller cleans up and exits (used by `edit`). Starts the thread if needed.
#[cfg(feature = "cli")]
pub fn defer() -> Result<(), Error> {
    leave_to_caller();
    start()
}

/// Leaves the signals to the caller from now on, without starting the thread: if it runs
/// (or starts later) it only records them ([`caught`]), as after [`defer`]. `exec-env` and
/// `exec-file` call this before their command starts: they pass the signals on to it and
/// clean up after it has ended, so the thread must not end leafseal first (it had been
/// started by a credential helper in a group of its own, `process::groups`).
pub fn leave_to_caller() {
    #[cfg(feature = "cli")]
    {
        // Under the registry lock: see the signal thread in [`start`].
        let files = live();
        DEFERRED.store(true, Ordering::SeqCst);
        drop(files);
    }
}

/// The last signal received since [`install`], if any.
pub fn caught() -> Option<i32> {
    match LAST.load(Ordering::SeqCst) {
        0 => None,
        n => Some(n),
    }
}

/// How `process::groups` catches signals with this module: it starts the thread (once,
/// when enabled) and asks whether a signal is ending the process.
pub fn catcher() -> crate::process::groups::Catcher {
    crate::process::groups::Catcher {
        start: || drop(install()),
        ending,
    }
}

/// Whether the signal thread caught a signal it acts on (not [`defer`]red, not
/// [`leave_to_caller`]): it then kills the registered groups and ends the process.
pub fn ending() -> bool {
    #[cfg(feature = "cli")]
    {
        caught().is_some() && !DEFERRED.load(Ordering::SeqCst) && STARTED.get().is_some()
    }
    #[cfg(not(feature = "cli"))]
    {
        false
    }
}

/// Waits for the signal thread to end the process when a signal has been caught that it
/// is acting on (not [`defer`]red): the command line calls this before it reports an
/// outcome, so that a failure the signal itself caused (a credential helper killed with
/// leafseal, `process::groups`) is not reported, nor its exit code used, in place of
/// 128 + signal. Returns at once when no such signal was caught.
pub fn await_signal_exit() {
    if ending() {
        // The signal thread ends the process (it never returns once it has begun).
        loop {
            std::thread::park();
        }
    }
}

/// Removes every registered temporary file, for a panic hook: with `panic = "abort"` the
/// process ends without running the destructors that would. Skipped when the registry is
/// held (a panic in the middle of a rename): waiting for it would never end.
pub fn remove_registered() {
    let mut files = match LIVE.try_lock() {
        Ok(l) => l,
        Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
        Err(std::sync::TryLockError::WouldBlock) => return,
    };
    for f in files.drain(..) {
        let _ = std::fs::remove_file(f);
    }
}

/// A registered temporary file: removed (if still there) and unregistered on drop.
#[derive(Debug)]
pub struct Registered {
    path: PathBuf,
    done: bool,
}

/// Registers a temporary file before it is created, so a signal at any moment after
/// its creation removes it.
pub fn register(path: &Path) -> Registered {
    live().push(path.to_owned());
    Registered {
        path: path.to_owned(),
        done: false,
    }
}

/// Runs `rename` (the step that turns the temporary file into the target) under the
/// registry lock, and unregisters the file when it succeeds.
pub fn commit(
    reg: &mut Registered,
    rename: impl FnOnce() -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut files = live();
    rename()?;
    files.retain(|p| p != &reg.path);
    reg.done = true;
    Ok(())
}

impl Drop for Registered {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut files = live();
        let _ = std::fs::remove_file(&self.path);
        files.retain(|p| p != &self.path);
    }
}
