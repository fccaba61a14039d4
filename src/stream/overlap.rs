//! Planning a large YAML file while its first parts are already being decrypted.
//!
//! The planner reads the whole file once (20–26 ms for 43 MB) before any part can be
//! handed out, and the data key is in the metadata at the end of the file. Here the
//! metadata is read first from the file's tail (the last root entry `sops:`), its data
//! key recovered, and the planner then runs on a thread of its own: each time it has
//! read about a part's worth of lines it publishes the parts that are settled so far
//! ([`Planner::settled`]), which the workers and the fold take at once.
//!
//! Those parts are only a guess: once the file was read whole, the final plan must begin
//! with exactly the parts published and must find the metadata where the tail was read;
//! only then are the rest of its parts handed out and the fold's result used. Otherwise
//! (a layout the guess did not foresee) everything done is dropped and the file is
//! planned and decrypted as before, with the data key kept when the metadata was found
//! at the same place. Nothing of the output is released before the whole fold and the
//! verification of the MAC and the integrity record, as on the other paths.

use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::sync::Condvar;
use std::sync::Mutex;

use super::Outcome;
use super::blocks::Args;
use super::blocks::At;
use super::blocks::KnownKey;
use super::blocks::Stamp;
use super::pipeline::Parts;
use super::split::Part;
use super::split::Plan;
use super::split::Planner;
use crate::error::Error;
use crate::ops;

/// How much of the file's end is read to find its metadata.
pub(in crate::stream) const TAIL: usize = 256 * 1024;

/// What the overlapped decrypt did.
pub(in crate::stream) enum Overlapped {
    /// Its result (the final plan began with the parts it decrypted).
    Done(Outcome),
    /// The file must be planned and decrypted as before, with this key when its
    /// metadata is found at that range.
    Rerun(KnownKey),
}

/// Decrypts `args.file` (of length `before.len`) while planning it, or hands it back
/// (see the module docs). `ahead`: memory for the output, touched ahead; `before_plan`
/// is called once the data key was recovered, before the planner starts (tests: the
/// file changed in between).
pub(super) fn decrypt(
    args: &Args<'_>,
    before: &Stamp,
    ahead: &super::Ahead,
    before_plan: &dyn Fn(),
) -> Result<Overlapped, Error> {
    let Some(len) = usize::try_from(before.len)
        .ok()
        .and_then(|l| l.checked_sub(args.skip))
    else {
        return Ok(Overlapped::Rerun(None));
    };
    let Some((meta_at, meta_text)) = tail_meta(args.file, args.skip, len) else {
        return Ok(Overlapped::Rerun(None));
    };
    let Some(meta) = super::read_meta(&meta_text) else {
        return Ok(Overlapped::Rerun(None));
    };
    drop(meta_text);
    if (args.needs_tree)(&meta) || meta.selector().is_comment_based() {
        return Ok(Overlapped::Rerun(None));
    }
    let Ok(key) = ops::recover_key_with_source(&meta, args.ctx, &args.opts.order) else {
        // As the planned path: the tree path reports it, after reading the whole file.
        return Ok(Overlapped::Done(Outcome::Declined(None)));
    };
    let threads = super::threads();
    let target = super::part_target(args.ctx, len, threads);
    let block = crate::stream::blocks::block_size(args.ctx);
    let feed = Feed::<Part>::default();
    before_plan();
    let unchanged = || Stamp::of(args.file).is_some_and(|now| now == *before);
    let (result, plan) = std::thread::scope(|s| {
        let (file, skip, at, feed) = (args.file, args.skip, &meta_at, &feed);
        let planner = s.spawn(move || plan_feeding(file, skip, block, len, target, at, feed));
        let run = super::Run {
            src: super::Source::File {
                file: args.file,
                skip: args.skip,
            },
            parts: feed,
            len,
            threads,
            unchanged: Some(&unchanged),
            ahead: super::Ahead::new(ahead.take()),
        };
        let result = super::decrypt_planned(
            &run,
            meta,
            Some(key.clone()),
            args.ctx,
            args.opts,
            args.emit,
            args.needs_tree,
        );
        // Whatever ended the fold, the planner is not needed any more.
        feed.stop();
        (result, planner.join().ok().flatten())
    });
    if feed.matched() {
        return result.map(Overlapped::Done);
    }
    // (A fold that was not complete was declined: `result` holds no output here.)
    drop(result);
    match plan {
        Some(_) => Ok(Overlapped::Rerun(Some((meta_at, key)))),
        None => Ok(Overlapped::Done(Outcome::Declined(None))),
    }
}

/// Where the metadata of `file` (`len` bytes after a byte-order mark of `skip`) seems to
/// be (the last root key line `sops:` in its last [`TAIL`] bytes, to the end) and its
/// text.
pub(in crate::stream) fn tail_meta(
    file: &std::fs::File,
    skip: usize,
    len: usize,
) -> Option<(Range<usize>, Vec<u8>)> {
    let from = len.saturating_sub(TAIL);
    let mut tail = vec![0u8; len - from];
    file.read_exact_at(&mut tail, (skip + from) as u64).ok()?;
    // The line break before the key line (the metadata is never the first root entry).
    let nl = memchr::memmem::rfind_iter(&tail, b"\nsops:")
        .find(|&at| matches!(tail.get(at + 6), Some(b'\n' | b' ')))?;
    let text = tail.split_off(nl + 1);
    Some((from + nl + 1..len, text))
}

/// Plans `file` (`skip`: its byte-order mark; read in blocks of `block` bytes),
/// publishing the settled parts as it goes; the final plan (`None`: the
/// file is declined, or was not read as it was when the decrypt began).
pub(in crate::stream) fn plan_feeding(
    file: &std::fs::File,
    skip: usize,
    block: usize,
    len: usize,
    target: usize,
    meta_at: &Range<usize>,
    feed: &Feed<Part>,
) -> Option<Plan> {
    let mut planner = Planner::new();
    let mut reader = At { file, pos: skip };
    // Parts are published once about a part's worth of lines was read since the last time.
    let mut next = target;
    let scanned = super::blocks::scan_lines(&mut reader, block, |at, line| {
        if at >= next {
            next = at + target;
            feed.publish(&planner.settled(target));
        }
        planner.line(at, line)
    });
    let plan = match scanned {
        Ok(Some(n)) if n == len => planner.finish(len, target),
        _ => None,
    };
    feed.close(
        plan.as_ref()
            .filter(|p| p.meta == *meta_at)
            .map(|p| p.parts.as_slice()),
    );
    plan
}

/// The parts published so far, shared by the planner, the workers and the fold.
pub(in crate::stream) struct Feed<P> {
    state: Mutex<FeedState<P>>,
    changed: Condvar,
}

impl<P> Default for Feed<P> {
    fn default() -> Self {
        Feed {
            state: Mutex::new(FeedState {
                parts: Vec::new(),
                frozen: false,
                ended: false,
                abandoned: false,
                cancelled: false,
                early: 0,
            }),
            changed: Condvar::new(),
        }
    }
}

struct FeedState<P> {
    parts: Vec<P>,
    /// The planner stopped publishing (a guess that changed its mind: the final plan
    /// decides).
    frozen: bool,
    /// No more parts will come: the final plan's were all published.
    ended: bool,
    /// The final plan did not begin with the parts published (or there was none).
    abandoned: bool,
    /// The fold stopped taking parts.
    cancelled: bool,
    /// How many parts were published before the final plan was known (tests).
    early: usize,
}

impl<P: Clone + PartialEq> Feed<P> {
    fn lock(&self) -> std::sync::MutexGuard<'_, FeedState<P>> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Publishes the parts after those already published, if `settled` begins with them.
    pub(in crate::stream) fn publish(&self, settled: &[P]) {
        let mut g = self.lock();
        if g.frozen || settled.len() <= g.parts.len() {
            return;
        }
        if !settled.starts_with(&g.parts) {
            g.frozen = true;
            return;
        }
        let from = g.parts.len();
        g.parts.extend_from_slice(&settled[from..]);
        drop(g);
        self.changed.notify_all();
    }

    /// Ends the list with the final plan's parts when they begin with those published;
    /// else (or without a plan) abandons it.
    pub(in crate::stream) fn close(&self, plan: Option<&[P]>) {
        let mut g = self.lock();
        match plan {
            Some(p) if p.starts_with(&g.parts) => {
                let from = g.parts.len();
                g.early = from;
                g.parts.extend_from_slice(&p[from..]);
                g.ended = true;
            }
            _ => g.abandoned = true,
        }
        drop(g);
        self.changed.notify_all();
    }

    /// Whether the list was ended by a final plan that began with the parts published.
    /// How many parts were published before the final plan was known.
    #[cfg(test)]
    pub(in crate::stream) fn early(&self) -> usize {
        self.lock().early
    }

    pub(in crate::stream) fn matched(&self) -> bool {
        let g = self.lock();
        g.ended && !g.abandoned
    }
}

impl<P: Clone + PartialEq + Send> Parts<P> for Feed<P> {
    fn wait(&self, i: usize) -> Option<P> {
        let mut g = self.lock();
        loop {
            if g.abandoned || g.cancelled {
                return None;
            }
            if let Some(p) = g.parts.get(i) {
                return Some(p.clone());
            }
            if g.ended {
                return None;
            }
            g = self
                .changed
                .wait(g)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    fn stop(&self) {
        let mut g = self.lock();
        g.cancelled = true;
        drop(g);
        self.changed.notify_all();
    }

    fn complete(&self) -> bool {
        let g = self.lock();
        g.ended && !g.abandoned
    }
}

#[cfg(test)]
#[path = "overlap_tests.rs"]
mod tests;
