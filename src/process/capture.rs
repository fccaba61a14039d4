//! Reading what a started program prints: a hard bound on its standard output, a bounded
//! and cleaned standard error, and, for the programs that must answer on their own, a
//! time limit.
//!
//! `Command::output` and `Child::wait_with_output` keep everything a program prints and
//! wait for as long as it runs. The programs leafseal reads from (`gpg --decrypt`,
//! `SOPS_AGE_KEY_CMD`, an AWS `credential_process`, a Vault token helper, `az`, `git`,
//! `ssh-keygen`) are not under leafseal's control: `gpg --decrypt` of a planted 2 KB
//! compressed OpenPGP message prints 512 MiB (the audit's pgp_decompression_bomb case),
//! and a helper may never end. [`capture_within`] keeps at most a given number of bytes
//! of standard output and stops the program when it prints more, keeps at most
//! [`STDERR_MAX`] bytes of its errors (the rest is read and dropped, so the program never
//! blocks on a full pipe), stops it when a time limit passes, and stops reading once the
//! program has exited even when a program it started keeps the pipes open. Every program
//! leafseal reads output from goes through it.
//!
//! The pipes are read with `poll` from the calling thread (no reader threads): a pipe that
//! a left-behind grandchild holds open can therefore never keep leafseal waiting.
//!
//! While a key is tried under the key services' deadline (`keys::deadline`, on the
//! calling thread), every capture's time limit is the shorter of its own (none for `gpg`
//! and the age key commands) and the time left before the deadline
//! ([`Captured::deadline_passed`] says which stopped the program).

use std::process::Child;
use std::process::ExitStatus;
use std::time::Duration;
use std::time::Instant;

use rustix::event::PollFd;
use rustix::event::PollFlags;
use rustix::event::Timespec;
use rustix::io::Errno;
use zeroize::Zeroizing;

/// The most of a program's standard error that is kept (its first lines are what an
/// error message quotes).
pub const STDERR_MAX: usize = 64 * 1024;

/// The most `git` may print to leafseal (a blob of an encrypted file at some commit, or
/// the list of a repository's tracked files): 256 MiB, the most leafseal reads from any
/// input of unknown size (standard input, a FIFO). The buffer grows with the output; it
/// is not allocated up front.
pub const GIT_OUTPUT_MAX: usize = 256 << 20;

/// The most a small tool's answer may hold (`ssh-keygen`'s signatures and
/// verifications, `git config` values, `az`'s access-token JSON): 1 MiB.
pub const TOOL_OUTPUT_MAX: usize = 1 << 20;

/// The first buffer for standard output; it doubles (never past the bound) as needed.
const FIRST_BUFFER: usize = 64 * 1024;

/// How often a program that prints nothing is checked for having exited.
const EXIT_CHECK: Duration = Duration::from_millis(50);

/// How often a program under a time limit whose pipes are all closed is checked for
/// having exited (it usually exits at once: its pipes close as it exits).
const PIPES_CLOSED_CHECK: Duration = Duration::from_millis(2);

/// What a program printed, within the bounds.
pub struct Captured {
    /// How it ended (killed, when its output was too long or it ran out of time).
    pub status: ExitStatus,
    /// Its standard output (wiped when dropped: it is usually a secret), at most the
    /// bound given to [`capture_within`].
    pub stdout: Zeroizing<Vec<u8>>,
    /// The first [`STDERR_MAX`] bytes of its standard error, when it was piped.
    pub stderr: Vec<u8>,
    /// Whether it printed more than the bound (it was then stopped, and `stdout` holds
    /// only the first bytes).
    pub too_long: bool,
    /// Whether it was stopped because the time limit passed.
    pub timed_out: bool,
    /// Whether that limit was the key services' deadline, shorter than the program's own
    /// (its message then names the deadline, not the program's own setting).
    pub deadline_passed: bool,
}

impl Captured {
    /// The first line of its standard error that says something, at most `max_chars`
    /// characters, with control characters and key material masked (see
    /// `redact::shown_text`): what an error message may quote.
    pub fn stderr_line(&self, max_chars: usize) -> Option<String> {
        first_line(&self.stderr, max_chars)
    }
}

/// [`capture_within`] without a time limit of its own: for programs that may rightly wait
/// for the user (gpg asking for a passphrase, an age key command unlocking a password
/// store). The key services' deadline still stops them while one is in force.
pub fn capture(child: &mut Child, input: &[u8], stdout_max: usize) -> std::io::Result<Captured> {
    capture_within(child, input, stdout_max, None)
}

/// A bounded `Command::output`: runs `cmd` with standard input closed and its output
/// piped, through [`capture_within`]. A program that printed more than `stdout_max`
/// bytes, or was still running after `timeout`, is an error that says so (kind
/// `InvalidData` or `TimedOut`); otherwise the result is returned whatever the exit status.
pub fn output_within(
    cmd: &mut std::process::Command,
    stdout_max: usize,
    timeout: Option<Duration>,
) -> std::io::Result<Captured> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let got = capture_within(&mut child, &[], stdout_max, timeout)?;
    if got.too_long {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("`{program}` printed more than {stdout_max} bytes and was stopped"),
        ));
    }
    if got.deadline_passed {
        return Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            crate::keys::deadline::program_deadline_message(&format!("`{program}`")),
        ));
    }
    if got.timed_out {
        let secs = timeout.unwrap_or_default().as_secs();
        return Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("`{program}` did not finish within {secs} seconds and was stopped"),
        ));
    }
    Ok(got)
}

/// How long the pipes are still read once the program has exited: what it printed is
/// already in them; a program it started that keeps printing is not waited for.
const AFTER_EXIT: Duration = Duration::from_secs(1);

/// Writes `input` to `child`'s standard input (when it is piped; then closes it), reads
/// at most `stdout_max` bytes of its standard output and keeps the first [`STDERR_MAX`]
/// bytes of its standard error (when piped), and waits for it, for at most `timeout` when
/// one is given. A program that prints more than `stdout_max` bytes, or still runs when
/// `timeout` has passed, is killed; the result says which ([`Captured::too_long`],
/// [`Captured::timed_out`]). Once the program has exited, what is left in its pipes is
/// read and they are let go, even when a program it started holds them open. Standard
/// output must be piped. While the key services' deadline is in force on this thread,
/// `timeout` is shortened to the time left before it (see the module's documentation).
pub fn capture_within(
    child: &mut Child,
    input: &[u8],
    stdout_max: usize,
    timeout: Option<Duration>,
) -> std::io::Result<Captured> {
    let started = Instant::now();
    let (timeout, by_deadline) = crate::keys::deadline::limit_now(timeout);
    let mut stdin = child.stdin.take().filter(|_| !input.is_empty());
    let mut stderr = child.stderr.take();
    let mut stdout = Some(
        child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("standard output is not piped"))?,
    );
    if let Some(p) = &stdin {
        rustix::io::ioctl_fionbio(p, true)?;
    }
    if let Some(p) = &stdout {
        rustix::io::ioctl_fionbio(p, true)?;
    }
    if let Some(p) = &stderr {
        rustix::io::ioctl_fionbio(p, true)?;
    }
    // A program in a group of its own is killed with its group when a signal ends
    // leafseal (`groups`); registered until just before it is reaped.
    let mut live = super::groups::LiveGroup::enter_if_leader(child);
    let mut out = Bounded::new(stdout_max);
    let mut err = Vec::new();
    let mut written = 0;
    let mut exited: Option<(ExitStatus, Instant)> = None;
    let mut timed_out = false;
    loop {
        let all_closed = stdin.is_none() && stdout.is_none() && stderr.is_none();
        if exited.is_none() {
            exited = if all_closed && timeout.is_none() {
                // Nothing left to read and no time limit: wait as `wait` does, without
                // the polling delay (a program's pipes close just before it exits).
                Some((wait(child, &mut live)?, Instant::now()))
            } else {
                try_wait(child, &mut live)?.map(|s| (s, Instant::now()))
            };
        }
        let check_every = if all_closed {
            PIPES_CLOSED_CHECK
        } else {
            EXIT_CHECK
        };
        let wait = match (exited, timeout) {
            (Some((_, at)), _) if at.elapsed() >= AFTER_EXIT => break,
            (Some(_), _) => Duration::ZERO,
            (None, Some(limit)) => match limit.checked_sub(started.elapsed()) {
                Some(left) if !left.is_zero() => left.min(check_every),
                _ => {
                    timed_out = true;
                    break;
                }
            },
            (None, None) => EXIT_CHECK,
        };
        if exited.is_some() {
            // Nobody reads the input any more.
            stdin = None;
        }
        let (input_ready, output_ready, errors_ready) = {
            let mut fds = Vec::with_capacity(3);
            if let Some(p) = &stdin {
                fds.push(PollFd::new(p, PollFlags::OUT));
            }
            if let Some(p) = &stdout {
                fds.push(PollFd::new(p, PollFlags::IN));
            }
            if let Some(p) = &stderr {
                fds.push(PollFd::new(p, PollFlags::IN));
            }
            let timespec = Timespec {
                tv_sec: 0,
                tv_nsec: i64::from(wait.subsec_nanos()),
            };
            match rustix::event::poll(&mut fds, Some(&timespec)) {
                Ok(_) | Err(Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
            let mut flags = fds.iter().map(|f| !f.revents().is_empty());
            (
                stdin.is_some() && flags.next().unwrap_or(false),
                stdout.is_some() && flags.next().unwrap_or(false),
                stderr.is_some() && flags.next().unwrap_or(false),
            )
        };
        if exited.is_some() && !(input_ready || output_ready || errors_ready) {
            break;
        }
        if input_ready && let Some(p) = &mut stdin {
            match write_some(p, input.get(written..).unwrap_or_default()) {
                Ok(n) => written += n,
                // A program that exits without reading its input closes the pipe: that
                // is its answer, not an error here.
                Err(_) => written = input.len(),
            }
            if written >= input.len() {
                // Dropping the handle closes the pipe: the program sees the end of input.
                stdin = None;
            }
        }
        if output_ready && let Some(p) = &mut stdout {
            match out.read_from(p) {
                Ok(true) => {}
                Ok(false) => stdout = None,
                Err(e) => return Err(e),
            }
            if out.too_long() {
                break;
            }
        }
        if errors_ready
            && let Some(p) = &mut stderr
            && !keep_some(p, &mut err)
        {
            stderr = None;
        }
    }
    let status = match exited {
        Some((status, _)) => status,
        None => {
            // Output too long, or out of time: stopped, with the programs it started when
            // it leads a process group of its own (`command_in_own_group`). Otherwise a
            // program it started may live on; its pipes are closed here, so it cannot
            // keep leafseal waiting.
            let orphans = stop(child, live.is_some());
            drop(live.take());
            let status = child.wait()?;
            super::groups::reap_adopted(&orphans, ORPHANS_REAPED_WITHIN);
            status
        }
    };
    let too_long = out.too_long();
    Ok(Captured {
        status,
        stdout: out.into_kept(),
        stderr: err,
        too_long,
        timed_out,
        deadline_passed: timed_out && by_deadline,
    })
}

/// `child.try_wait()`, except that a registered group is unregistered before its leader
/// is reaped ([`super::groups`]).
fn try_wait(
    child: &mut Child,
    live: &mut Option<super::groups::LiveGroup>,
) -> std::io::Result<Option<ExitStatus>> {
    if live.is_some() {
        if !super::groups::has_exited(child, false)? {
            return Ok(None);
        }
        *live = None;
    }
    child.try_wait()
}

/// `child.wait()`, with the same order as [`try_wait`].
fn wait(
    child: &mut Child,
    live: &mut Option<super::groups::LiveGroup>,
) -> std::io::Result<ExitStatus> {
    if live.is_some() {
        super::groups::has_exited(child, true)?;
        *live = None;
    }
    child.wait()
}

/// How long the orphans a stopped helper left (killed with it) are waited for, to be
/// reaped; one still there after it is reaped when no helper runs any more.
const ORPHANS_REAPED_WITHIN: Duration = Duration::from_secs(1);

/// Kills `child`, which has not been waited for (its process id is still its own), and,
/// when it leads a process group of its own, every process of that group; when that group
/// is `registered` (`groups`), also every process of its tree that left the group
/// (`setsid`) and the orphans leafseal adopted, which are returned to be reaped.
fn stop(child: &mut Child, registered: bool) -> Vec<rustix::process::Pid> {
    let pid = rustix::process::Pid::from_child(child);
    let orphans = if registered {
        super::groups::stop_tree(pid)
    } else {
        Vec::new()
    };
    if rustix::process::getpgid(Some(pid)) == Ok(pid)
        && rustix::process::kill_process_group(pid, rustix::process::Signal::KILL).is_ok()
    {
        return orphans;
    }
    let _ = child.kill();
    orphans
}

/// Standard output as it is read: a buffer that starts small and doubles up to one byte
/// past the bound, each copy wiped when replaced (a growing `Vec` would free copies of a
/// secret unwiped).
struct Bounded {
    buf: Zeroizing<Vec<u8>>,
    filled: usize,
    max: usize,
}

impl Bounded {
    fn new(max: usize) -> Bounded {
        let first = FIRST_BUFFER.min(max.saturating_add(1));
        Bounded {
            buf: Zeroizing::new(vec![0u8; first]),
            filled: 0,
            max,
        }
    }

    fn too_long(&self) -> bool {
        self.filled > self.max
    }

    /// Reads what `pipe` has now; `false` at its end.
    fn read_from(&mut self, pipe: &mut impl std::io::Read) -> std::io::Result<bool> {
        let limit = self.max.saturating_add(1);
        if self.filled == self.buf.len() && self.buf.len() < limit {
            let mut bigger = Zeroizing::new(vec![0u8; self.buf.len().saturating_mul(2).min(limit)]);
            if let (Some(to), Some(from)) =
                (bigger.get_mut(..self.filled), self.buf.get(..self.filled))
            {
                to.copy_from_slice(from);
            }
            self.buf = bigger;
        }
        let Some(room) = self.buf.get_mut(self.filled..).filter(|r| !r.is_empty()) else {
            return Ok(true);
        };
        match pipe.read(room) {
            Ok(0) => Ok(false),
            Ok(n) => {
                self.filled += n;
                Ok(true)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) =>
            {
                Ok(true)
            }
            Err(e) => Err(e),
        }
    }

    fn into_kept(mut self) -> Zeroizing<Vec<u8>> {
        let keep = self.filled.min(self.max);
        self.buf.truncate(keep);
        self.buf
    }
}

/// Writes part of `data` to a non-blocking pipe; how much was written.
fn write_some(pipe: &mut impl std::io::Write, data: &[u8]) -> std::io::Result<usize> {
    match pipe.write(data) {
        Ok(n) => Ok(n),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
            ) =>
        {
            Ok(0)
        }
        Err(e) => Err(e),
    }
}

/// Reads what a standard error pipe has now, keeping it while `kept` holds less than
/// [`STDERR_MAX`] bytes; `false` at its end (or on an error: nothing more is read).
fn keep_some(pipe: &mut impl std::io::Read, kept: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 8192];
    match pipe.read(&mut chunk) {
        Ok(0) => false,
        Ok(n) => {
            let room = STDERR_MAX.saturating_sub(kept.len()).min(n);
            kept.extend_from_slice(chunk.get(..room).unwrap_or_default());
            true
        }
        Err(e) => matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
        ),
    }
}

/// `stderr` trimmed, cut after `max_chars` characters (marked `…`), with control
/// characters other than line ends and tabs, and key material, masked: what an error
/// message may quote of a program's complaint.
pub fn stderr_text(stderr: &[u8], max_chars: usize) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text = text.trim();
    let mut short: String = text.chars().take(max_chars).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    crate::redact::shown_text(&short).into_owned()
}

/// The first line of `stderr` that says something, at most `max_chars` characters, with
/// control characters and key material masked.
pub fn first_line(stderr: &[u8], max_chars: usize) -> Option<String> {
    let text = String::from_utf8_lossy(stderr);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let short: String = line.chars().take(max_chars).collect();
    Some(crate::redact::shown_text(&short).into_owned())
}

#[cfg(test)]
mod tests;
