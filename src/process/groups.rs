//! The process groups of programs leafseal started in groups of their own
//! ([`super::command_in_own_group`]: `git`, `az`, and the credential helpers when there is
//! no controlling terminal), while leafseal waits for them ([`super::capture`]).
//!
//! A program in a group of its own no longer receives the signals sent to leafseal's
//! group: a CI runner cancelling a job signals the job's process group, and before
//! round 24 a credential helper that never ended outlived the leafseal that was stopped
//! (and the programs the helper started with it). So each such group is registered here
//! while it is waited for, and when a signal ends leafseal (`io::signals`), every
//! registered group is killed first ([`stop_all`]), as the time limit would kill it.
//!
//! A group is unregistered before its leader is reaped (its `LiveGroup` is dropped first),
//! so the id killed is never one the system could already have given to another process.
//! Killing a group misses the processes that left it (`setsid`): while a group is
//! registered, the command line's leafseal is a subreaper, and the kill paths also stop
//! the group leader's whole tree and the orphans leafseal adopted (`descendants`).
//!
//! Only a program that owns the process catches signals: the command line sets
//! [`set_catcher`]; a program using leafseal as a library keeps its own handling.

use std::process::Child;
use std::sync::Mutex;
use std::sync::MutexGuard;
use std::sync::OnceLock;

use rustix::process::Pid;
use rustix::process::Signal;
use rustix::process::WaitId;
use rustix::process::WaitIdOptions;

/// The groups being waited for.
static LIVE: Mutex<Vec<Pid>> = Mutex::new(Vec::new());
/// Makes sure signals are caught (set by the command line: starts its signal thread),
/// and tells whether a signal is ending leafseal already.
static CATCHER: OnceLock<Catcher> = OnceLock::new();

/// What the command line hands this module ([`set_catcher`]).
#[derive(Debug, Clone, Copy)]
pub struct Catcher {
    /// Starts catching the signals that end leafseal (its signal thread), once.
    pub start: fn(),
    /// Whether a signal caught is ending leafseal (its thread then kills the registered
    /// groups and ends the process).
    pub ending: fn() -> bool,
}

fn live() -> MutexGuard<'static, Vec<Pid>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sets how signals are caught, so that a signal arriving while a group lives is caught
/// and [`stop_all`] runs (the command line's signal thread). Signals are caught from the
/// moment a program is about to be started in a group of its own (`catch_signals`).
pub fn set_catcher(catcher: Catcher) {
    let _ = CATCHER.set(catcher);
}

/// Starts catching signals, before a program is started in a group of its own: a signal
/// between its start and its registration is then caught, not the end of leafseal with
/// the program left running ([`LiveGroup::enter_if_leader`] covers the rest).
pub(crate) fn catch_signals() {
    if let Some(catcher) = CATCHER.get() {
        (catcher.start)();
    }
}

/// Kills every registered group (the signal thread, before leafseal ends), with every
/// process their members started that left the group (`setsid`) and every orphan
/// leafseal adopted meanwhile (`descendants`).
pub fn stop_all() {
    let groups = live();
    if CATCHER.get().is_some() && !groups.is_empty() {
        // Stopped first, whole: no process of the trees can fork or move away meanwhile.
        // (With no helper running, what finished helpers left is kept, as at their end.)
        let _ = super::descendants::stop_trees(&groups, true);
    }
    for pid in groups.iter() {
        let _ = rustix::process::kill_process_group(*pid, Signal::KILL);
    }
}

/// Makes leafseal a subreaper while programs in groups of their own run (only for the
/// command line, which set the catcher): the programs that leave a helper's tree when
/// their parent exits are then adopted by leafseal, where [`stop_all`] and a helper's
/// time limit find them, not by `init`.
pub(crate) fn adopt_orphans() {
    if CATCHER.get().is_some() {
        super::descendants::adopt_orphans(true);
    }
}

/// Makes leafseal an ordinary process again (not a subreaper) when no program in a group
/// of its own is registered, and reaps the adopted orphans that have exited (only for the
/// command line). Called for every program leafseal starts (`process::command`): a
/// program started in a group of its own turns the subreaper on before it starts
/// ([`adopt_orphans`]), and one that never started (`az`, a Vault token helper not
/// found) is never registered, so no unregistration turns it off; before this, the
/// command of `exec-env`/`exec-file`, the editor, or the program `--same-process`
/// replaces leafseal with then ran with leafseal a subreaper, and the orphans of its
/// tree became leafseal's children, left as zombies.
pub(crate) fn settle_orphans() {
    if CATCHER.get().is_some() {
        let groups = live();
        if groups.is_empty() {
            orphans_to_init();
        }
    }
}

/// With no group registered (the caller holds the registry): orphans go to `init`
/// again, and those adopted that have exited are reaped.
fn orphans_to_init() {
    super::descendants::adopt_orphans(false);
    super::descendants::reap_exited_orphans();
}

/// Stops the process tree of the program leading the registered group `leader` (its
/// time limit or output bound), with the orphans leafseal adopted (`descendants`), and
/// returns those orphans, to be reaped once the leader is. Without the command line's
/// catcher (a library) only the group is killed by the caller.
pub(crate) fn stop_tree(leader: Pid) -> Vec<Pid> {
    if CATCHER.get().is_none() {
        return Vec::new();
    }
    super::descendants::stop_trees(&[leader], true)
}

/// Reaps the adopted orphans `stop_tree` killed, waiting at most `bound`.
pub(crate) fn reap_adopted(orphans: &[Pid], bound: std::time::Duration) {
    super::descendants::reap_adopted(orphans, bound);
}

/// A registered group; unregistered on drop, which must come before its leader is reaped.
#[derive(Debug)]
pub(crate) struct LiveGroup(Pid);

impl LiveGroup {
    /// Registers `child`'s group when `child` leads a group of its own (not yet reaped).
    pub(crate) fn enter_if_leader(child: &Child) -> Option<LiveGroup> {
        let pid = Pid::from_child(child);
        if rustix::process::getpgid(Some(pid)) != Ok(pid) {
            return None;
        }
        catch_signals();
        {
            let mut groups = live();
            adopt_orphans();
            groups.push(pid);
        }
        // A signal caught before the push found the group not yet registered: its
        // thread's `stop_all` has run or is running without it. (After the push the
        // thread kills it: `stop_all` and the push take the same lock, and the thread
        // records the signal before it calls `stop_all`.)
        if CATCHER.get().is_some_and(|c| (c.ending)()) {
            let _ = super::descendants::stop_trees(&[pid], true);
            let _ = rustix::process::kill_process_group(pid, Signal::KILL);
        }
        Some(LiveGroup(pid))
    }
}

impl Drop for LiveGroup {
    fn drop(&mut self) {
        let pid = self.0;
        let mut groups = live();
        groups.retain(|p| *p != pid);
        if groups.is_empty() && CATCHER.get().is_some() {
            // No helper runs: orphans go to `init` again, and those adopted that have
            // exited are reaped (a long-running `keyservice` would collect them).
            orphans_to_init();
        }
    }
}

/// Whether `child` has exited, without reaping it (its id stays its own); waits for it
/// when `block`.
pub(crate) fn has_exited(child: &Child, block: bool) -> std::io::Result<bool> {
    let pid = Pid::from_child(child);
    let mut options = WaitIdOptions::EXITED | WaitIdOptions::NOWAIT;
    if !block {
        options |= WaitIdOptions::NOHANG;
    }
    loop {
        match rustix::process::waitid(WaitId::Pid(pid), options) {
            Ok(status) => return Ok(status.is_some()),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::process::Stdio;

    use super::*;

    #[test]
    fn a_group_is_registered_while_waited_for_and_unregistered_before_it_is_reaped() {
        let mut child = super::super::command_in_own_group("sh")
            .args(["-c", "sleep 60 & exec sleep 60"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let pid = Pid::from_child(&child);
        let group = LiveGroup::enter_if_leader(&child).unwrap();
        assert!(live().contains(&pid));
        assert!(!has_exited(&child, false).unwrap());
        // (Not `stop_all`: other tests of this process may have groups registered.)
        rustix::process::kill_process_group(pid, Signal::KILL).unwrap();
        assert!(has_exited(&child, true).unwrap());
        // Not reaped by `has_exited`: the group's id is still the child's.
        assert_eq!(rustix::process::getpgid(Some(pid)), Ok(pid));
        drop(group);
        assert!(!live().contains(&pid));
        let status = child.wait().unwrap();
        assert!(!status.success());
    }

    /// A signal that arrived between a program's start and its registration found no
    /// group to kill; the registration kills it then (before round 25 it lived on).
    /// The catcher says "ending" only on this test's own thread: others of this process
    /// register groups too.
    #[test]
    fn a_group_registered_after_the_signal_thread_acted_is_killed_at_once() {
        const NAME: &str = "process::groups::tests::a_group_registered_after_the_signal_thread_acted_is_killed_at_once";
        set_catcher(Catcher {
            start: || {},
            ending: || std::thread::current().name() == Some(NAME),
        });
        assert_eq!(std::thread::current().name(), Some(NAME));
        let mut child = super::super::command_in_own_group("sh")
            .args(["-c", "sleep 60 & exec sleep 60"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let group = LiveGroup::enter_if_leader(&child).unwrap();
        let began = std::time::Instant::now();
        let killed = loop {
            if has_exited(&child, false).unwrap() {
                break true;
            }
            if began.elapsed() > std::time::Duration::from_secs(5) {
                break false;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        if !killed {
            rustix::process::kill_process_group(Pid::from_child(&child), Signal::KILL).unwrap();
        }
        drop(group);
        child.wait().unwrap();
        assert!(killed, "the group registered after the signal lived on");
    }

    #[test]
    fn a_program_in_leafseals_group_is_not_registered() {
        let mut child = super::super::command("true").spawn().unwrap();
        assert!(LiveGroup::enter_if_leader(&child).is_none());
        child.wait().unwrap();
    }
}
