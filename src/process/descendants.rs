//! The programs a helper in a group of its own started that left its group (`setsid`,
//! `setpgid`, a daemon's double fork), stopped with the helper (Linux).
//!
//! Killing a helper's process group (`groups`, `capture`) misses every process that
//! moved to another group or session. Such a process is still in the helper's tree of
//! processes while the helper (or the process that started it) lives; once its parent
//! has exited, the system gives it to the nearest *subreaper* among its ancestors, or to
//! `init`. So while a program in a group of its own is registered, the command line makes
//! leafseal a subreaper ([`adopt_orphans`], `prctl(PR_SET_CHILD_SUBREAPER)`, no privilege
//! needed): orphans of a helper's tree become leafseal's children ("adopted"), and
//! [`stop_trees`] finds them there.
//!
//! An adopted orphan is told from a child leafseal started itself by its group and
//! session ([`Entry::adopted_by`]): leafseal starts programs in its own group and session,
//! or as the leader of a group of their own in its session; a process that called
//! `setsid` has another session, and one left behind in a helper's group is in a group
//! it does not lead. (One that called only `setpgid(0, 0)` after its parent exited looks
//! like a program leafseal started: it is stopped only while its parent lives.)
//!
//! [`stop_trees`] first stops (SIGSTOP) every process of the trees, pass after pass until
//! a pass finds no new one (a stopped process can neither fork nor exit, so the trees stay
//! whole while they are walked), then kills them all. Each process is signalled through a
//! pidfd opened after its start time was checked again, so a process id the system gave
//! to another process meanwhile is never signalled. Adopted orphans are then reaped by
//! their id ([`reap_adopted`]), never with a wait for any child, so the exit status of a
//! program leafseal waits for (`std::process::Child::wait`) is never taken.

use std::collections::HashMap;
use std::collections::HashSet;
use std::os::fd::OwnedFd;
use std::sync::Mutex;
use std::sync::MutexGuard;
use std::time::Duration;
use std::time::Instant;

use rustix::process::Pid;
use rustix::process::Signal;
use rustix::process::WaitId;
use rustix::process::WaitIdOptions;

/// At most this many passes of stopping in a round ([`stop_trees`]); a tree that still
/// grows after them (a fork bomb) is killed as far as it was found, and the next round
/// looks again.
const MAX_PASSES: usize = 32;
/// At most this long for the passes of a round.
const PASSES_BOUND: Duration = Duration::from_millis(500);
/// At most this many rounds of stopping and killing ([`stop_trees`]).
const MAX_ROUNDS: usize = 4;
/// At most this many processes read from `/proc` in a pass.
const MAX_PROCESSES: usize = 1 << 16;

/// One process as `/proc/PID/stat` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    pid: i32,
    parent: i32,
    group: i32,
    session: i32,
    /// Clock ticks after boot: with `pid`, names the process.
    started: u64,
}

impl Entry {
    /// Parses a `/proc/PID/stat` line (the name between parentheses may hold anything).
    fn parse(stat: &str) -> Option<Entry> {
        let (head, tail) = stat.rsplit_once(')')?;
        let pid = head.split_once(' ')?.0.trim().parse().ok()?;
        // After the name: state, parent, group, session, … start time (field 22).
        let fields: Vec<&str> = tail.split_whitespace().collect();
        Some(Entry {
            pid,
            parent: fields.get(1)?.parse().ok()?,
            group: fields.get(2)?.parse().ok()?,
            session: fields.get(3)?.parse().ok()?,
            started: fields.get(19)?.parse().ok()?,
        })
    }

    fn read(pid: i32) -> Option<Entry> {
        Entry::parse(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
    }

    /// Whether this child of `me` is an orphan leafseal adopted, not a program it started
    /// (those are in its group, or lead a group of their own in its session).
    fn adopted_by(&self, me: &Entry) -> bool {
        self.parent == me.pid
            && (self.session != me.session || (self.group != me.group && self.group != self.pid))
    }
}

/// Every process this user can see, at most [`MAX_PROCESSES`].
fn snapshot() -> Vec<Entry> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .take(MAX_PROCESSES)
        .filter_map(Entry::read)
        .collect()
}

/// Makes leafseal a subreaper (`on`) or an ordinary process again; returns whether the
/// system accepted it. Only the command line calls this (`groups`): a program using
/// leafseal as a library keeps its own children's handling.
pub(crate) fn adopt_orphans(on: bool) -> bool {
    let value = on.then(rustix::process::getpid);
    rustix::process::set_child_subreaper(value).is_ok()
}

/// Stops and kills every process of the trees under `roots` (processes leafseal started
/// and has not reaped) and, with `adopted`, every orphan leafseal adopted with the
/// processes they started; bounded by [`MAX_ROUNDS`] rounds of at most [`MAX_PASSES`]
/// passes and [`PASSES_BOUND`] each. Returns the adopted orphans killed, to be reaped
/// ([`reap_adopted`]).
///
/// A round whose passes still found new processes when they ran out (a tree that forks
/// faster than a pass reads `/proc`) is followed by another: the processes it killed no
/// longer fork, and the children they started meanwhile, missed by the passes, have been
/// adopted by leafseal (a subreaper) or are still under a killed parent, where the next
/// round finds them.
pub(crate) fn stop_trees(roots: &[Pid], adopted: bool) -> Vec<Pid> {
    let Some(me) = Entry::read(rustix::process::getpid().as_raw_nonzero().get()) else {
        return Vec::new();
    };
    let mut walk = Walk {
        kept: kept().clone(),
        ..Walk::default()
    };
    for _ in 0..MAX_ROUNDS {
        let settled = walk.stop_passes(&me, roots, adopted);
        walk.kill_stopped(roots);
        if settled {
            break;
        }
    }
    walk.orphans.into_iter().filter_map(Pid::from_raw).collect()
}

/// What [`stop_trees`] has done so far.
#[derive(Default)]
struct Walk {
    /// Every process signalled, with its pidfd (`None`: not signalled, see
    /// [`signal_checked`]).
    stopped: HashMap<i32, Option<OwnedFd>>,
    /// The processes already killed.
    killed: HashSet<i32>,
    /// The adopted orphans found.
    orphans: Vec<i32>,
    /// The adopted orphans left alone ([`KEPT`]).
    kept: Vec<(i32, u64)>,
}

impl Walk {
    /// Stops (SIGSTOP) every process of the trees not stopped yet, pass after pass;
    /// returns whether the last pass found no new one (the trees are whole).
    fn stop_passes(&mut self, me: &Entry, roots: &[Pid], adopted: bool) -> bool {
        let began = Instant::now();
        for _ in 0..MAX_PASSES {
            let table = snapshot();
            let mut members: HashSet<i32> =
                roots.iter().map(|p| p.as_raw_nonzero().get()).collect();
            let adopted_now = table.iter().filter(|e| {
                adopted && e.adopted_by(me) && !self.kept.contains(&(e.pid, e.started))
            });
            for entry in adopted_now {
                members.insert(entry.pid);
                if !self.orphans.contains(&entry.pid) {
                    self.orphans.push(entry.pid);
                }
            }
            // Every descendant: grown until a round adds none.
            loop {
                let before = members.len();
                for entry in &table {
                    if members.contains(&entry.parent) && entry.pid != me.pid {
                        members.insert(entry.pid);
                    }
                }
                if members.len() == before {
                    break;
                }
            }
            let seen: HashMap<i32, &Entry> = table.iter().map(|e| (e.pid, e)).collect();
            let mut found_new = false;
            for pid in members {
                if self.stopped.contains_key(&pid) || pid == me.pid {
                    continue;
                }
                found_new = true;
                let handle = seen.get(&pid).and_then(|e| signal_checked(e, Signal::STOP));
                self.stopped.insert(pid, handle);
            }
            if !found_new {
                return true;
            }
            if began.elapsed() > PASSES_BOUND {
                return false;
            }
        }
        false
    }

    /// Kills (SIGKILL) every process stopped and not killed yet.
    fn kill_stopped(&mut self, roots: &[Pid]) {
        for (pid, handle) in &self.stopped {
            if !self.killed.insert(*pid) {
                continue;
            }
            match handle {
                Some(fd) => {
                    let _ = rustix::process::pidfd_send_signal(fd, Signal::KILL);
                }
                // A root (never reused while unreaped) with no pidfd here.
                None if roots.iter().any(|r| r.as_raw_nonzero().get() == *pid) => {
                    if let Some(p) = Pid::from_raw(*pid) {
                        let _ = rustix::process::kill_process(p, Signal::KILL);
                    }
                }
                None => {}
            }
        }
    }
}

/// Sends `signal` to the process `entry` names, through a pidfd opened after its start
/// time was read again (so a reused id is never signalled); returns the pidfd.
fn signal_checked(entry: &Entry, signal: Signal) -> Option<OwnedFd> {
    let pid = Pid::from_raw(entry.pid)?;
    let fd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()?;
    if Entry::read(entry.pid).is_none_or(|now| now.started != entry.started) {
        return None;
    }
    let _ = rustix::process::pidfd_send_signal(&fd, signal);
    Some(fd)
}

/// Reaps the adopted orphans `pids` (killed by [`stop_trees`]), each by its id, waiting
/// at most `bound` in all; one still running then is left (a later sweep reaps it).
pub(crate) fn reap_adopted(pids: &[Pid], bound: Duration) {
    let began = Instant::now();
    let mut left: Vec<Pid> = pids.to_vec();
    while !left.is_empty() {
        left.retain(|pid| {
            let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG;
            // Reaped, or not a child of ours any more (ECHILD): done with it.
            matches!(
                rustix::process::waitid(WaitId::Pid(*pid), options),
                Ok(None)
            )
        });
        if left.is_empty() || began.elapsed() >= bound {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Reaps every adopted orphan that has exited (a zombie), without waiting: called when no
/// helper runs any more, so that a long-running `keyservice` does not collect them.
///
/// The adopted orphans still running then were left by helpers that ended by themselves
/// (none runs now, so none is another helper's): they are kept ([`KEPT`]), never stopped
/// by a later kill path, as a helper that exits by itself keeps what it started (a
/// `gpg-agent` a helper's `gpg` started, which a long-running `keyservice` adopted, is not
/// killed at another helper's time limit an hour later).
pub(crate) fn reap_exited_orphans() {
    let Some(me) = Entry::read(rustix::process::getpid().as_raw_nonzero().get()) else {
        return;
    };
    let adopted: Vec<Entry> = own_children()
        .into_iter()
        .filter_map(Entry::read)
        .filter(|e| e.adopted_by(&me))
        .collect();
    {
        let mut kept = kept();
        // Only adopted orphans still there (or not yet reaped) stay in the list.
        kept.retain(|k| adopted.iter().any(|e| (e.pid, e.started) == *k));
        for e in &adopted {
            if !kept.contains(&(e.pid, e.started)) {
                kept.push((e.pid, e.started));
            }
        }
    }
    let pids: Vec<Pid> = adopted
        .iter()
        .filter_map(|e| Pid::from_raw(e.pid))
        .collect();
    reap_adopted(&pids, Duration::ZERO);
}

/// The adopted orphans that finished helpers left (process id and start time), which no
/// kill path stops ([`reap_exited_orphans`]).
static KEPT: Mutex<Vec<(i32, u64)>> = Mutex::new(Vec::new());

fn kept() -> MutexGuard<'static, Vec<(i32, u64)>> {
    KEPT.lock().unwrap_or_else(|e| e.into_inner())
}

/// This process's children, from `/proc/self/task/*/children` (empty when the system
/// does not have that file).
fn own_children() -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_is_read_whatever_the_name_holds() {
        let line = "4242 (a) b (c)) S 17 4242 99 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 123456 0 0";
        let entry = Entry::parse(line);
        assert_eq!(
            entry,
            Some(Entry {
                pid: 4242,
                parent: 17,
                group: 4242,
                session: 99,
                started: 123_456
            })
        );
        assert_eq!(Entry::parse("4242 (a) S 17"), None);
    }

    /// An orphan adopted while leafseal is a subreaper is reaped by its id: the exit
    /// status of a program leafseal waits for itself is left to `Child::wait` (a wait for
    /// any child would have taken it: `wait` then fails with ECHILD).
    #[test]
    #[allow(clippy::unwrap_used)]
    fn reaping_adopted_orphans_leaves_the_status_of_a_started_program_alone() {
        // Being a subreaper is a property of the whole process, and other lib tests
        // running beside this one turn it off and reap adopted orphans as they start
        // programs (`process::command` settles it for each): alone, in a test process of
        // its own, the orphan is adopted and reaped only by what this test does.
        const ALONE: &str = "LEAFSEAL_TEST_DESCENDANTS_ALONE";
        if std::env::var_os(ALONE).is_none() {
            let name = format!(
                "{}::reaping_adopted_orphans_leaves_the_status_of_a_started_program_alone",
                module_path!().split_once("::").map_or("", |(_, rest)| rest)
            );
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .args([name.as_str(), "--exact", "--test-threads=1"])
                .env(ALONE, "1")
                .output()
                .unwrap();
            let said = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{said}");
            assert!(said.contains("1 passed"), "the test did not run: {said}");
            return;
        }
        /// Turns the subreaper off again however the test ends: the rest of the lib
        /// tests run in this process and must not adopt their programs' orphans.
        struct Off;
        impl Drop for Off {
            fn drop(&mut self) {
                adopt_orphans(false);
            }
        }
        assert!(adopt_orphans(true));
        let _off = Off;
        let mut started = std::process::Command::new("sh")
            .args(["-c", "(setsid sleep 0.1 & echo $!); exit 3"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = String::new();
        std::io::Read::read_to_string(&mut started.stdout.take().unwrap(), &mut out).unwrap();
        let orphan: i32 = out.trim().parse().unwrap();
        // The orphan is adopted, exits and waits to be reaped; `sh` has exited too.
        let began = Instant::now();
        let zombie = loop {
            let state = std::fs::read_to_string(format!("/proc/{orphan}/stat"));
            let adopted = state
                .as_deref()
                .ok()
                .and_then(Entry::parse)
                .map(|e| e.parent);
            if adopted == Some(rustix::process::getpid().as_raw_nonzero().get())
                && state.is_ok_and(|s| {
                    s.rsplit_once(')')
                        .is_some_and(|(_, t)| t.trim_start().starts_with('Z'))
                })
            {
                break true;
            }
            if began.elapsed() > Duration::from_secs(5) {
                break false;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        reap_exited_orphans();
        let reaped = !std::path::Path::new(&format!("/proc/{orphan}")).exists();
        let status = started.wait().unwrap();
        assert!(zombie, "the orphan was not adopted");
        assert!(reaped, "the adopted orphan was not reaped");
        assert_eq!(status.code(), Some(3));
    }

    #[test]
    fn an_adopted_orphan_is_told_from_a_program_leafseal_started() {
        let me = Entry {
            pid: 10,
            parent: 1,
            group: 10,
            session: 5,
            started: 1,
        };
        let child = |pid, group, session| Entry {
            pid,
            parent: 10,
            group,
            session,
            started: 2,
        };
        // Started by leafseal: in its group, or leading its own in its session.
        assert!(!child(11, 10, 5).adopted_by(&me));
        assert!(!child(12, 12, 5).adopted_by(&me));
        // Adopted: another session (setsid), or left in a helper's group.
        assert!(child(13, 13, 13).adopted_by(&me));
        assert!(child(14, 12, 5).adopted_by(&me));
        // Not a child at all.
        let other = Entry {
            parent: 1,
            ..child(15, 15, 15)
        };
        assert!(!other.adopted_by(&me));
    }
}
