//! Starting the child, forwarding signals to it, and waiting for its exit code.

use std::os::unix::process::CommandExt;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::process::ExitStatus;
use std::sync::Arc;
use std::sync::Mutex;

use rustix::io::Errno;
use rustix::process::Pid;
use rustix::process::Signal;
use rustix::process::WaitId;
use rustix::process::WaitIdOptions;
use signal_hook::iterator::SignalsInfo;
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::low_level::siginfo::Cause;
use signal_hook::low_level::siginfo::Origin;

use crate::error::Error;
use crate::error::exit;

/// The signals leafseal catches while the child runs and passes on to it: every one
/// whose default action would end leafseal and leave `exec-file`'s plaintext file behind
/// (SIGUSR1, SIGALRM and the like were not caught before the round-16 review).
const FORWARDED: [i32; 15] = crate::io::signals::CAUGHT;

/// leafseal's exit code for the child's status: its exit code, or 128 + the signal that
/// killed it.
pub fn exit_code(status: ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(s)) => 128 + s,
        (None, None) => exit::GENERIC,
    }
}

/// Whether a caught signal must be passed on. A signal the kernel generated (Ctrl-C,
/// Ctrl-\, terminal hang-up) went to the whole foreground process group, child included,
/// so it is not sent again (a second Ctrl-C means "force quit" to many programs).
fn should_forward(origin: &Origin) -> bool {
    !matches!(origin.cause, Cause::Kernel)
}

/// The signal the child is sent for `caught`: the same one, except for a real-time
/// signal (and SIGSTKFLT, SIGPWR), which the child is asked to end with SIGTERM: each ends
/// a process by default, and no safe interface sends one by number (`rustix` builds only
/// the named signals without `unsafe`, which the library forbids). Before round 26 these
/// were not caught here: one ended leafseal at once (the command left running, the
/// plaintext file of `exec-file --no-fifo` left behind), or, once a credential helper had
/// started the signal thread, was only recorded there and the command never learnt of it.
fn forwarded_as(caught: i32) -> Signal {
    Signal::from_named_raw(caught)
        .filter(|s| FORWARDED.contains(&s.as_raw()))
        .unwrap_or(Signal::TERM)
}

/// Runs the command to completion and returns its exit code (`Caught::run` with the
/// signals caught from now on).
pub fn run_child(cmd: Command, program: &str) -> Result<i32, Error> {
    Caught::catch()?.run(cmd, program)
}

/// The signals of `FORWARDED`, caught: from [`Caught::catch`] on they no longer end
/// leafseal. `exec-file` catches them before it creates its private directory and writes
/// the plaintext file, so a signal meanwhile is only recorded: the command is then not
/// started ([`Caught::run`]) and the file is removed on the way out.
pub struct Caught {
    signals: SignalsInfo<WithOrigin>,
}

impl Caught {
    /// Starts catching the signals of `FORWARDED`.
    pub fn catch() -> Result<Caught, Error> {
        // Signals are this module's from now on, not the signal thread's.
        crate::io::signals::leave_to_caller();
        let signals = SignalsInfo::<WithOrigin>::new(FORWARDED).map_err(|e| {
            Error::new(
                exit::GENERIC,
                format!("cannot set up signal forwarding: {e}"),
            )
        })?;
        for realtime in crate::io::signals::realtime() {
            // One the C library keeps for itself cannot be caught; it is not ours.
            let _ = signals.add_signal(realtime);
        }
        Ok(Caught { signals })
    }

    /// Runs the command to completion and returns its exit code. A signal caught before
    /// it starts ends the run there (exit 128 + signal, the command not started). While it
    /// runs, the signals of `FORWARDED` (SIGHUP, SIGINT, SIGTERM, SIGQUIT, SIGUSR1, …) do not
    /// stop leafseal: they are forwarded to the child (see `should_forward`), so the
    /// caller's clean-up runs after the child is gone. After the child has exited these
    /// signals stay caught (and are dropped) until leafseal exits.
    pub fn run(self, cmd: Command, program: &str) -> Result<i32, Error> {
        let mut signals = self.signals;
        if let Some(origin) = signals.pending().next() {
            let sig = origin.signal;
            return Err(Error::new(
                128_i32.saturating_add(sig),
                format!("interrupted by signal {sig} before `{program}` started; it was not run"),
            ));
        }
        spawn_and_wait(signals, cmd, program)
    }
}

/// [`Caught::run`] once no signal came before the start.
fn spawn_and_wait(
    mut signals: SignalsInfo<WithOrigin>,
    mut cmd: Command,
    program: &str,
) -> Result<i32, Error> {
    let handle = signals.handle();
    let mut child = cmd.spawn().map_err(|e| super::spawn_error(program, &e))?;
    let pid = Pid::from_child(&child);
    // `true` once the child is about to be reaped: from then on its pid may be reused, so
    // nothing is sent to it. Checked and set under the lock.
    let reaped = Arc::new(Mutex::new(false));
    let forwarder = {
        let reaped = Arc::clone(&reaped);
        std::thread::spawn(move || {
            for origin in signals.forever() {
                if !should_forward(&origin) {
                    continue;
                }
                let sig = forwarded_as(origin.signal);
                let guard = reaped.lock().unwrap_or_else(|p| p.into_inner());
                if !*guard {
                    // The child may already be gone (ESRCH); nothing to do then.
                    let _ = rustix::process::kill_process(pid, sig);
                }
                drop(guard);
            }
        })
    };
    // Wait for the exit without reaping, so the pid stays ours while signals may be sent.
    while let Err(Errno::INTR) = rustix::process::waitid(
        WaitId::Pid(pid),
        WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
    ) {}
    let status = {
        let mut guard = reaped.lock().unwrap_or_else(|p| p.into_inner());
        *guard = true;
        child.wait()
    };
    handle.close();
    let _ = forwarder.join();
    let status = status
        .map_err(|e| Error::new(exit::GENERIC, format!("cannot wait for `{program}`: {e}")))?;
    Ok(exit_code(status))
}

/// Replaces leafseal with the command (`--same-process`); returns only on failure.
pub fn exec_replace(mut cmd: Command, program: &str) -> Error {
    let e = cmd.exec();
    super::spawn_error(program, &e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_is_passed_on_as_itself_and_a_real_time_one_as_sigterm() {
        for caught in FORWARDED {
            assert_eq!(forwarded_as(caught).as_raw(), caught);
        }
        for caught in [34, 50, 64, 16, 30] {
            assert_eq!(forwarded_as(caught), Signal::TERM, "{caught}");
        }
    }
}
