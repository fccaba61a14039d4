//! The leafseal process itself: transparent huge pages, and every program it starts.
//!
//! **Huge pages.** The binary's allocator (mimalloc) asks the kernel for transparent huge
//! pages on its arena, so the first touch of each 2 MiB range of it makes the kernel zero
//! all 2 MiB. A large file gains from that (thousands of page faults fewer), a small one
//! only pays: on a tiny decrypt the zeroing was about a tenth of the process's time and
//! 2 MB of its memory (docs/performance.md, "Round 15: huge pages only for large work").
//! The binary therefore turns them off for the process first thing
//! ([`huge_pages_off_at_start`], `prctl(PR_SET_THP_DISABLE)`), and they are turned back on
//! ([`huge_pages_on`]) as soon as an input of [`LARGE_INPUT`] bytes or more, or of unknown
//! size (standard input, a FIFO), is to be read ([`note_input`]), when many files are
//! handled on every core (`io::workers`), and before any program is started
//! ([`command`]): the setting is inherited through `fork` and kept through `exec`, and a
//! program leafseal starts (an editor, `git`, the command of `exec-env`) must run with
//! the setting leafseal was given. When leafseal itself was started with huge pages off,
//! nothing is changed, in either direction.
//!
//! The library never turns huge pages off by itself: only a program that calls
//! [`huge_pages_off_at_start`] (the `leafseal` binary) changes anything.

pub mod capture;
mod descendants;
pub mod groups;

use std::ffi::OsStr;
use std::process::Command;
use std::sync::Mutex;

/// Whether this module turned huge pages off and has not turned them on again. A mutex
/// rather than an atomic flag: a thread about to start a program must not get past
/// [`huge_pages_on`] before another thread that is turning them on has finished.
static TURNED_OFF: Mutex<bool> = Mutex::new(false);

/// Turns transparent huge pages off for the process, unless they are off already (then
/// they are left off, also for the programs it starts). Call it first thing in `main`.
pub fn huge_pages_off_at_start() {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let mut off = TURNED_OFF.lock().unwrap_or_else(|e| e.into_inner());
        if *off || rustix::thread::transparent_huge_pages_are_disabled().unwrap_or(true) {
            return;
        }
        *off = rustix::thread::disable_transparent_huge_pages(true).is_ok();
    }
}

/// Turns transparent huge pages back on if [`huge_pages_off_at_start`] turned them off:
/// a large input is about to be read, or a program about to be started.
pub fn huge_pages_on() {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let mut off = TURNED_OFF.lock().unwrap_or_else(|e| e.into_inner());
        if *off {
            // On failure the flag stays set: the next call tries again.
            *off = rustix::thread::disable_transparent_huge_pages(false).is_err();
        }
    }
}

/// The smallest input that turns huge pages on, 1 MiB: also the size from which files
/// are streamed on every core (`stream::AUTO_MIN` is defined as this).
pub const LARGE_INPUT: u64 = 1 << 20;

/// Whether an input of `len` bytes is large enough to turn huge pages on for.
fn large_input(len: u64) -> bool {
    len >= LARGE_INPUT
}

/// An input with this metadata is about to be read: huge pages on when it is large, or
/// of a size not known beforehand (no metadata, a FIFO, a device), as standard input is.
pub fn note_input(meta: Option<&std::fs::Metadata>) {
    if meta.is_none_or(|m| !m.is_file() || large_input(m.len())) {
        huge_pages_on();
    }
}

/// A [`Command`] for `program`, with the process's huge pages as leafseal was given them
/// (see the module's documentation). Every program leafseal starts is built here.
pub fn command(program: impl AsRef<OsStr>) -> Command {
    huge_pages_on();
    // Not a subreaper unless a program in a group of its own runs (`groups`).
    groups::settle_orphans();
    Command::new(program)
}

/// A [`command`] started in a process group of its own, for a program that is stopped
/// when it runs out of time or prints too much (an AWS `credential_process`, a Vault
/// token helper, `az`, `git`): [`capture::capture_within`] then stops the whole group, the
/// programs it started (a shell script's `sleep`, a pipeline) with it, where stopping
/// only the program itself would leave them running. Only for programs that never use
/// the terminal: a process group of its own is not the terminal's foreground group, so
/// reading the terminal stops the program (until its time limit), and Ctrl-C at the
/// terminal does not reach it (docs/security.md, "Programs leafseal starts").
pub fn command_in_own_group(program: impl AsRef<OsStr>) -> Command {
    // Signals are caught before the program starts (`groups`), so none ends leafseal
    // between its start and its registration, leaving it behind.
    groups::catch_signals();
    let mut cmd = command(program);
    // Orphans of its tree are adopted from its start on (`groups::adopt_orphans`), after
    // `command` settled the subreaper for a program of another kind.
    groups::adopt_orphans();
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd
}

/// Settings leafseal passes to every `git` it runs (`-c`, which outranks every config
/// file): a repository's own `.git/config`, or a file it includes, may name programs, and
/// a checkout from a tarball or a shared directory carries one (a clone cannot). leafseal
/// only reads from git, and two settings would still run such a program: the file system
/// monitor (`core.fsmonitor`, started by `ls-files` and by every index read that refreshes)
/// and hooks (`core.hooksPath`, e.g. `post-index-change`). Both are turned off here;
/// external diff programs and textconv are turned off where a command could start them
/// (`log`: `--no-ext-diff --no-textconv`). The diff and merge drivers the user configured
/// for leafseal are started by the user's own git, never by these calls
/// (docs/security.md, "Round 26: hostile git configuration").
pub const GIT_NEUTRAL_CONFIG: [&str; 4] = [
    "-c",
    "core.fsmonitor=false",
    "-c",
    "core.hooksPath=/dev/null",
];

/// A [`command_in_own_group`] for `git`, with [`GIT_NEUTRAL_CONFIG`] first: a git
/// subcommand and its arguments follow.
pub fn git_in_own_group() -> Command {
    let mut cmd = command_in_own_group("git");
    cmd.args(GIT_NEUTRAL_CONFIG);
    cmd
}

/// A [`command`] for `git` (in leafseal's own process group), with
/// [`GIT_NEUTRAL_CONFIG`] first.
pub fn git() -> Command {
    let mut cmd = command("git");
    cmd.args(GIT_NEUTRAL_CONFIG);
    cmd
}

/// A [`command`] for a credential helper that may ask a person on the terminal (an AWS
/// `credential_process` such as `aws-vault` asking for an MFA code, a Vault token
/// helper): in a process group of its own, as [`command_in_own_group`], only when
/// leafseal has no controlling terminal (CI, a service, a pipeline under `setsid`),
/// where no one could answer and a stopped helper must take its children with it. With
/// a terminal it stays in leafseal's group, the terminal's foreground group, so that it
/// can read the terminal and Ctrl-C reaches it and everything it started.
pub fn command_for_helper(program: impl AsRef<OsStr>) -> Command {
    if has_controlling_terminal() {
        command(program)
    } else {
        command_in_own_group(program)
    }
}

/// Whether this process has a controlling terminal: `/dev/tty` opens only then (ENXIO
/// otherwise). Opening it does not acquire one.
pub(crate) fn has_controlling_terminal() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .is_ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_large_input_is_one_of_a_mebibyte_or_more() {
        assert!(super::large_input(super::LARGE_INPUT));
        assert!(!super::large_input(super::LARGE_INPUT - 1));
        assert!(!super::large_input(0));
    }

    /// The process group `command_for_helper` starts `sh` in, and that `sh`'s own id.
    fn helper_group_and_pid() -> (u32, u32) {
        let out = super::command_for_helper("sh")
            .arg("-c")
            .arg("cut -d' ' -f5 /proc/$$/stat; echo $$")
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        let mut fields = text.split_whitespace().map(|f| f.parse::<u32>().unwrap());
        (fields.next().unwrap(), fields.next().unwrap())
    }

    /// Set in the copy of this test run on a terminal by
    /// `a_credential_helper_leaves_leafseals_group_only_without_a_terminal`.
    const ON_A_TERMINAL: &str = "LEAFSEAL_TEST_HELPER_GROUP_ON_A_TERMINAL";

    #[test]
    fn a_credential_helper_leaves_leafseals_group_only_without_a_terminal() {
        let (group, pid) = helper_group_and_pid();
        let ours = rustix::process::getpgrp().as_raw_pid().unsigned_abs();
        if super::has_controlling_terminal() {
            // It can ask on the terminal, and Ctrl-C reaches it: leafseal's group.
            assert_eq!(group, ours);
        } else {
            // No one could answer: a group of its own, stopped whole at its limits.
            assert_eq!(group, pid);
        }
        if std::env::var_os(ON_A_TERMINAL).is_some() {
            assert!(super::has_controlling_terminal(), "script gave no terminal");
            return;
        }
        // The other case too: this test again on a terminal of its own (`script`, from
        // util-linux), when that program is here.
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let run = format!(
            "{} --exact process::tests::a_credential_helper_leaves_leafseals_group_only_without_a_terminal --test-threads 1",
            exe.display()
        );
        let Ok(status) = std::process::Command::new("script")
            .args(["-qec", &run, "/dev/null"])
            .env(ON_A_TERMINAL, "1")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .status()
        else {
            return; // no `script` here: the terminal case is not checked
        };
        assert!(status.success(), "the test failed on a terminal");
    }
}
