//! Scoped threads that are joined, never detached.
//!
//! A [`std::thread::scope`] waits for its threads whether or not their handles are
//! joined, but dropping a handle first detaches the thread (`pthread_detach`), and glibc's
//! detach racing with the thread's own exit read the descriptor of a thread whose stack
//! the exit had unmapped: a SIGSEGV in CI in round 25 (`format::json::parse_par`, a
//! 64 MiB stack). [`Joined`] holds a scope's handles and joins every one still held when
//! it is dropped, on every way out of the scope's closure (an early `return`, a `?`),
//! and carries a thread's panic on as the scope does.
//! Declare it first in the closure, so that it is dropped after everything the closure
//! locks; joining there costs nothing, as the scope waits for the threads anyway.

use std::thread::Scope;
use std::thread::ScopedJoinHandle;

/// Handles of scoped threads, joined when dropped (see the module's documentation).
pub(crate) struct Joined<'scope, T> {
    handles: Vec<Option<ScopedJoinHandle<'scope, T>>>,
}

impl<'scope, T> Joined<'scope, T> {
    /// No threads yet, room for `n`.
    pub(crate) fn with_capacity(n: usize) -> Self {
        Joined {
            handles: Vec::with_capacity(n),
        }
    }

    /// Starts `f` on a thread of `scope` built by `builder` (a name, a stack size) and
    /// keeps its handle; returns its index, or `None` (nothing kept) when no thread could
    /// be started.
    pub(crate) fn spawn<'env, F>(
        &mut self,
        scope: &'scope Scope<'scope, 'env>,
        builder: std::thread::Builder,
        f: F,
    ) -> Option<usize>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let handle = builder.spawn_scoped(scope, f).ok()?;
        self.handles.push(Some(handle));
        Some(self.handles.len() - 1)
    }

    /// Joins thread `index` now: its result, or `None` when it panicked or was taken.
    pub(crate) fn join(&mut self, index: usize) -> Option<T> {
        let handle = self.handles.get_mut(index)?.take()?;
        handle.join().ok()
    }
}

impl<T> Drop for Joined<'_, T> {
    /// Joins every thread still held; the first panic among them is then resumed, as
    /// the scope itself would have done for an unjoined thread (unless this thread is
    /// unwinding already).
    fn drop(&mut self) {
        let mut panicked = None;
        for handle in self.handles.iter_mut().filter_map(Option::take) {
            if let Err(payload) = handle.join() {
                panicked.get_or_insert(payload);
            }
        }
        if let Some(payload) = panicked
            && !std::thread::panicking()
        {
            std::panic::resume_unwind(payload);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::sync::atomic::Ordering;

    use super::Joined;

    #[test]
    fn threads_still_held_are_joined_on_an_early_return() {
        let finished = AtomicUsize::new(0);
        let early: Result<(), usize> = std::thread::scope(|s| {
            let mut threads = Joined::with_capacity(3);
            for i in 0..3 {
                let finished = &finished;
                threads.spawn(s, std::thread::Builder::new(), move || {
                    // The first returns at once, the others well after it was joined.
                    std::thread::sleep(std::time::Duration::from_millis(200 * i));
                    finished.fetch_add(1, Ordering::SeqCst);
                });
            }
            threads.join(0);
            // The other two are still running here (the scope would wait for them, but
            // only after detaching them): dropping `threads` joins them.
            drop(threads);
            Err(finished.load(Ordering::SeqCst))
        });
        assert_eq!(early, Err(3));
    }

    #[test]
    fn a_panic_in_a_thread_still_held_reaches_the_caller() {
        let caught = std::panic::catch_unwind(|| {
            std::thread::scope(|s| {
                let mut threads = Joined::<()>::with_capacity(1);
                threads.spawn(s, std::thread::Builder::new(), || panic!("worker"));
            });
        });
        assert!(caught.is_err());
    }

    #[test]
    fn a_joined_thread_gives_its_result_once() {
        std::thread::scope(|s| {
            let mut threads = Joined::with_capacity(1);
            let i = threads
                .spawn(s, std::thread::Builder::new(), || 7)
                .expect("spawn");
            assert_eq!(threads.join(i), Some(7));
            assert_eq!(threads.join(i), None);
        });
    }
}
