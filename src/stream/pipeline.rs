//! The part pipeline shared by every streamed format: workers take parts in order and
//! work on them on all cores, while the calling thread folds the results in document
//! order, with workers never more than a few parts ahead of it.

use std::sync::Condvar;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;

/// The slots the workers fill and the folding thread empties, in order.
struct Slots<R> {
    done: Vec<Option<R>>,
    workers: usize,
    /// How many parts the folding thread has taken: workers stay within [`AHEAD`] parts
    /// of it, so that memory holds a few parts' MAC input and record tokens, not all.
    taken: usize,
    /// Parts nobody delivers: their worker ended (by a panic) while working on them, or
    /// found the list abandoned when it asked for them; the other workers may be waiting
    /// for the folding thread to move on.
    dead: Vec<usize>,
}

/// How many parts per worker may wait to be folded.
const AHEAD: usize = 2;

/// Counts a worker out when it ends (also by a panic), so the folding thread never waits
/// for a part nobody will deliver.
struct Leaving<'a, R> {
    slots: &'a Mutex<Slots<R>>,
    ready: &'a Condvar,
    /// The part the worker is working on.
    current: Option<usize>,
}

impl<R> Drop for Leaving<'_, R> {
    fn drop(&mut self) {
        let mut g = self
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        g.workers = g.workers.saturating_sub(1);
        if let Some(i) = self.current {
            g.dead.push(i);
        }
        drop(g);
        self.ready.notify_all();
    }
}

/// Runs `work` on the parts on `threads` workers while this thread `fold`s the results
/// in order (`lost` stands for a part whose worker ended without one). `false` when
/// `fold` declined a part.
pub(super) fn run_parts<P: Sync, R: Send>(
    parts: &[P],
    threads: usize,
    work: &(dyn Fn(&P, &mut Vec<u8>) -> R + Sync),
    fold: &mut dyn FnMut(&P, R) -> bool,
    lost: impl Fn() -> R,
) -> bool {
    // The parts are handed out by their index.
    let n = parts.len();
    let indices: Vec<usize> = (0..n).collect();
    let work = |i: &usize, scratch: &mut Vec<u8>| work(&parts[*i], scratch);
    run_fed(
        &indices,
        threads.min(n),
        &work,
        &mut |i, r| fold(&parts[*i], r),
        lost,
    )
}

/// Where the parts come from: a list known in full, or one still being planned
/// ([`super::ahead::Feed`]).
pub(super) trait Parts<P>: Sync {
    /// Part `i`, once it is known; `None` when there is no such part (the list ended,
    /// or was abandoned).
    fn wait(&self, i: usize) -> Option<P>;

    /// Called once the fold has stopped taking parts: no more are wanted.
    fn stop(&self) {}

    /// Whether the parts folded were the whole list (not one abandoned on the way).
    fn complete(&self) -> bool {
        true
    }
}

impl<P: Sync + Clone> Parts<P> for Vec<P> {
    fn wait(&self, i: usize) -> Option<P> {
        self.as_slice().wait(i)
    }
}

impl<P: Sync + Clone> Parts<P> for [P] {
    fn wait(&self, i: usize) -> Option<P> {
        self.get(i).cloned()
    }
}

/// [`run_parts`] on parts that may still be arriving (`parts` blocks until part `i` is
/// known): the workers and the fold start as soon as the first part is known.
pub(super) fn run_fed<P: Send, R: Send>(
    parts: &(impl Parts<P> + ?Sized),
    threads: usize,
    work: &(dyn Fn(&P, &mut Vec<u8>) -> R + Sync),
    fold: &mut dyn FnMut(&P, R) -> bool,
    lost: impl Fn() -> R,
) -> bool {
    let workers = threads.max(1);
    let slots = Mutex::new(Slots {
        done: Vec::new(),
        workers,
        taken: 0,
        dead: Vec::new(),
    });
    let window = workers * AHEAD + 1;
    let ready = Condvar::new();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let mut threads = crate::threads::Joined::with_capacity(workers);
        for _ in 0..workers {
            let started = threads.spawn(s, std::thread::Builder::new(), || {
                let mut leaving = Leaving {
                    slots: &slots,
                    ready: &ready,
                    current: None,
                };
                // The worker's buffer for the parts it reads from a file, kept from part
                // to part: memory freed and allocated again is often memory the
                // allocator has given back to the kernel, which must zero it again.
                let mut scratch = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(part) = parts.wait(i) else {
                        // Nobody else will deliver part `i`. A list abandoned after the
                        // fold was handed this part leaves the fold waiting for it while
                        // another worker waits for the fold: it is lost, not awaited.
                        let mut g = slots
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        g.dead.push(i);
                        drop(g);
                        ready.notify_all();
                        break;
                    };
                    let mut g = slots
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    while i >= g.taken + window && !stop.load(Ordering::Relaxed) {
                        g = ready
                            .wait(g)
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                    }
                    drop(g);
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    leaving.current = Some(i);
                    let r = work(&part, &mut scratch);
                    leaving.current = None;
                    let mut g = slots
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    if g.done.len() <= i {
                        g.done.resize_with(i + 1, || None);
                    }
                    g.done[i] = Some(r);
                    drop(g);
                    ready.notify_all();
                }
            });
            if started.is_none() {
                // One worker fewer: the others take the parts; with none, every part
                // is lost (the fold is told) instead of awaited.
                slots
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .workers -= 1;
            }
        }
        let mut ok = true;
        let mut i = 0;
        while let Some(part) = parts.wait(i) {
            let mut g = slots
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let r = loop {
                if let Some(r) = g.done.get_mut(i).and_then(Option::take) {
                    g.taken = i + 1;
                    break Some(r);
                }
                if g.workers == 0 || g.dead.contains(&i) {
                    break None;
                }
                g = ready
                    .wait(g)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            };
            drop(g);
            ready.notify_all();
            let r = r.unwrap_or_else(&lost);
            if !fold(&part, r) {
                ok = false;
                break;
            }
            i += 1;
        }
        parts.stop();
        // Under the lock, so that no worker is between its check and its wait.
        let g = slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        stop.store(true, Ordering::Relaxed);
        drop(g);
        ready.notify_all();
        ok
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_folded_in_order() {
        let parts: Vec<usize> = (0..50).collect();
        let mut seen = Vec::new();
        let ok = run_parts(
            &parts,
            3,
            &|p, _| *p * 2,
            &mut |p, r| {
                seen.push((*p, r));
                true
            },
            || usize::MAX,
        );
        assert!(ok);
        assert_eq!(seen, parts.iter().map(|&p| (p, p * 2)).collect::<Vec<_>>());
    }

    #[test]
    fn a_worker_that_dies_on_a_part_does_not_leave_the_others_waiting() {
        // The first part's worker dies while the others run up to their window: the part
        // is lost (folded as `lost`), the rest are folded, and the panic reaches the
        // caller (in release builds a panic aborts the process instead).
        let parts: Vec<usize> = (0..40).collect();
        let folded = Mutex::new(Vec::new());
        let r = std::panic::catch_unwind(|| {
            run_parts(
                &parts,
                2,
                &|p, _| {
                    assert!(*p != 0, "part 0 fails");
                    *p
                },
                &mut |_, r| {
                    folded
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(r);
                    true
                },
                || usize::MAX,
            )
        });
        assert!(r.is_err(), "the worker's panic is not swallowed");
        let folded = folded
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        assert_eq!(folded.first(), Some(&usize::MAX));
        assert_eq!(folded.len(), parts.len());
    }

    /// A list that is abandoned after the fold was handed part 1 but before that part's
    /// worker asked for it: the worker gets nothing, another worker waits for the fold
    /// to move on, and the fold must take part 1 as lost instead of waiting for it.
    struct AbandonedAtOne {
        fold: std::thread::ThreadId,
        state: Mutex<(bool, bool)>,
        changed: Condvar,
    }

    impl Parts<usize> for AbandonedAtOne {
        fn wait(&self, i: usize) -> Option<usize> {
            let mut g = self
                .state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if std::thread::current().id() == self.fold {
                if i == 1 {
                    // The fold is handed part 1, and the list is abandoned right after.
                    g.0 = true;
                    drop(g);
                    self.changed.notify_all();
                    return Some(1);
                }
                return (!g.1 && i < 40).then_some(i);
            }
            if i == 1 {
                while !g.0 {
                    g = self
                        .changed
                        .wait(g)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
                g.1 = true;
                return None;
            }
            (i < 40).then_some(i)
        }
    }

    #[test]
    fn a_part_whose_worker_finds_the_list_abandoned_is_lost_not_awaited() {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let parts = AbandonedAtOne {
                fold: std::thread::current().id(),
                state: Mutex::new((false, false)),
                changed: Condvar::new(),
            };
            let mut folded = Vec::new();
            let ok = run_fed(
                &parts,
                2,
                &|p, _| Some(*p),
                &mut |_, r| {
                    folded.push(r);
                    r.is_some()
                },
                || None,
            );
            let _ = tx.send((ok, folded));
        });
        let (ok, folded) = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the fold waited for a part nobody delivers");
        assert!(!ok);
        assert_eq!(folded, vec![Some(0), None]);
    }
}
