//! Planning a large JSON file while its first parts are already being decrypted, as for
//! YAML (`stream::overlap`): the metadata (the last root member, `"sops"`) is read from
//! the file's tail first and its data key recovered; the planner then runs on a thread of
//! its own and publishes the parts it has settled (`split::Planner::settled`): once the
//! member being read is long enough to be the big member, the runs of root members
//! before it and its sub-parts so far. The job needs the big member's key, so the workers
//! start with the first publication (or with the final plan, when nothing was published
//! before it). The final plan must begin with the parts published, cut the same big
//! member and find the metadata where the tail showed it; otherwise everything done is
//! dropped and the file is planned and decrypted as before. When the tail shows the big
//! member last, the planner stops reading lines at its first publication and cuts the
//! rest of the member by jumping (module `jump`); a part the reader then declines may
//! be a guess that did not hold, and the file is planned line by line and decrypted
//! again.

use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::sync::Mutex;

use super::Part;
use super::Run;
use super::jump::Jump;
use super::jump::Text;
use super::split::Plan;
use super::split::Planner;
use crate::error::Error;
use crate::ops;
use crate::stream::Outcome;
use crate::stream::Source;
use crate::stream::blocks::Args;
use crate::stream::blocks::Stamp;
use crate::stream::overlap::Feed;
use crate::stream::overlap::Overlapped;
use crate::stream::overlap::TAIL;
use crate::stream::pipeline::Parts;

/// Decrypts `args.file` (of length `before.len`) while planning it, or hands it back.
/// `ahead`: memory for the output, touched ahead; `before_plan` is called once the data
/// key was recovered, before the planner starts.
pub(super) fn decrypt(
    args: &Args<'_>,
    before: &Stamp,
    ahead: &crate::stream::Ahead,
    before_plan: &dyn Fn(),
) -> Result<Overlapped, Error> {
    let Ok(len) = usize::try_from(before.len) else {
        return Ok(Overlapped::Rerun(None));
    };
    let Some((meta_at, meta_text)) = tail_meta(args.file, len) else {
        return Ok(Overlapped::Rerun(None));
    };
    let Some(meta) = super::read_meta(&meta_text) else {
        return Ok(Overlapped::Rerun(None));
    };
    if (args.needs_tree)(&meta) || meta.selector().is_comment_based() {
        return Ok(Overlapped::Rerun(None));
    }
    let Ok(key) = ops::recover_key_with_source(&meta, args.ctx, &args.opts.order) else {
        // As the planned path: the tree path reports it, after reading the whole file.
        return Ok(Overlapped::Done(Outcome::Declined(None)));
    };
    drop(meta);
    let threads = crate::stream::threads();
    let target = crate::stream::part_target(args.ctx, len, threads);
    let block = crate::stream::blocks::block_size(args.ctx);
    let feed = Feed::<Part>::default();
    // The big member's key text, announced before its first parts are published.
    let big: Mutex<Option<Range<usize>>> = Mutex::new(None);
    before_plan();
    let (result, planned) = std::thread::scope(|s| {
        let (file, at, feed_ref, big_ref) = (args.file, &meta_at, &feed, &big);
        let planner =
            s.spawn(move || plan_feeding(file, block, len, target, at, feed_ref, big_ref));
        // The job needs the big member's key: wait for the first part.
        let result = if feed.wait(0).is_some() {
            let big_key = big
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            let mut key_text = Vec::new();
            let read = big_key.as_ref().is_none_or(|r| {
                crate::stream::blocks::read_range(args.file, 0, r.clone(), &mut key_text).is_ok()
            });
            let run = Run {
                src: Source::File {
                    file: args.file,
                    skip: 0,
                },
                parts: &feed,
                len,
                threads,
                ahead: crate::stream::Ahead::new(ahead.take()),
            };
            read.then(|| {
                super::decrypt_planned(
                    &run,
                    big_key.is_some().then_some(key_text.as_slice()),
                    &meta_text,
                    Some(key.clone()),
                    args.ctx,
                    args.opts,
                    args.emit,
                    args.needs_tree,
                )
            })
        } else {
            None
        };
        feed.stop();
        (result, planner.join().ok().unwrap_or(Planned::None))
    });
    if Stamp::of(args.file).is_none_or(|now| now != *before) {
        // What was decrypted (or refused) may not be the file's text any more.
        return Ok(Overlapped::Done(Outcome::Declined(None)));
    }
    match result {
        // A part the reader declined may be a jump's guess that did not hold (a long
        // root member after the big member): the file is planned line by line.
        Some(Ok(Outcome::Declined(_))) if planned == Planned::Jumped => {
            Ok(Overlapped::Rerun(Some((meta_at, key))))
        }
        Some(r) if feed.matched() => r.map(Overlapped::Done),
        // (A fold that was not complete was declined: `result` holds no output.)
        _ if planned != Planned::None => Ok(Overlapped::Rerun(Some((meta_at, key)))),
        _ => Ok(Overlapped::Done(Outcome::Declined(None))),
    }
}

/// Where the metadata member seems to be (from the comma before the last `"sops":` in
/// the file's last [`TAIL`] bytes to the root's closing brace) and its text.
pub(in crate::stream) fn tail_meta(
    file: &std::fs::File,
    len: usize,
) -> Option<(Range<usize>, Vec<u8>)> {
    let from = len.saturating_sub(TAIL);
    let mut tail = vec![0u8; len - from];
    file.read_exact_at(&mut tail, from as u64).ok()?;
    let at = memchr::memmem::rfind(&tail, b"\"sops\":")?;
    let comma = tail[..at].iter().rposition(|&b| b == b',')?;
    if !tail[comma + 1..at]
        .iter()
        .all(|&b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
    {
        return None;
    }
    let close = tail
        .iter()
        .rposition(|&b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))?;
    if tail.get(close) != Some(&b'}') || close <= at {
        return None;
    }
    let text = tail.get(comma + 1..close)?.to_vec();
    Some((from + comma + 1..from + close, text))
}

/// How the planner ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::stream) enum Planned {
    /// The file is declined, or was not read as it was when the decrypt began.
    None,
    /// Every line was read.
    Lines,
    /// The rest of the big member was cut by jumping (module `jump`): a part the reader
    /// declines may be a guess that did not hold.
    Jumped,
}

/// Plans `file` (read in blocks of `block` bytes), publishing the settled parts as it
/// goes (the big member's key range announced in `big` first); once the big member's
/// first parts are published, the rest of it is cut by jumping when the tail shows it
/// last (module `jump`).
pub(in crate::stream) fn plan_feeding(
    file: &std::fs::File,
    block: usize,
    len: usize,
    target: usize,
    meta_at: &Range<usize>,
    feed: &Feed<Part>,
    big: &Mutex<Option<Range<usize>>>,
) -> Planned {
    let mut planner = Planner::new();
    let mut publisher = Publisher::new(feed, big, target);
    let mut reader = crate::stream::blocks::At { file, pos: 0 };
    let mut jump = None;
    let mut tried = false;
    let scanned = crate::stream::blocks::scan_lines(&mut reader, block, |at, line| {
        if publisher.before_line(at, &planner) && !tried {
            // Once, at the first publication: the rest of the lines are not read when
            // the jump can be taken.
            tried = true;
            jump = meta_at
                .start
                .checked_sub(1)
                .and_then(|comma| Jump::from_planner(file, &planner, target, at, (comma, b',')));
            if jump.is_some() {
                return false;
            }
        }
        planner.line(at, line)
    });
    if let Some((j, parts, key)) = jump {
        let plan = publisher.jump(j, file, target, parts, key, meta_at.clone());
        return if plan.is_some() {
            Planned::Jumped
        } else {
            Planned::None
        };
    }
    let plan = match scanned {
        Ok(Some(n)) if n == len => planner.finish(len, target),
        _ => None,
    };
    publisher.close(plan.as_ref(), |p| p.meta == *meta_at);
    if plan.is_some() {
        Planned::Lines
    } else {
        Planned::None
    }
}

/// What a planner publishes as it reads (the streamed decrypt's, and the encrypt's,
/// `stream::encrypt::json_overlap`): every `target` bytes, the parts it has settled,
/// while its guess of the big member holds; the big member's key range is announced in
/// `big` before its first parts.
pub(in crate::stream) struct Publisher<'f> {
    feed: &'f Feed<Part>,
    big: &'f Mutex<Option<Range<usize>>>,
    target: usize,
    next: usize,
    guessing: bool,
}

impl<'f> Publisher<'f> {
    pub(in crate::stream) fn new(
        feed: &'f Feed<Part>,
        big: &'f Mutex<Option<Range<usize>>>,
        target: usize,
    ) -> Publisher<'f> {
        Publisher {
            feed,
            big,
            target,
            next: target,
            guessing: true,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'f, Option<Range<usize>>> {
        self.big
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Before `planner` takes the line at offset `at`: publishes what it has settled,
    /// once per `target` bytes; whether it published. (Inlined: called for every line;
    /// as a call, the JSON encrypt took 3 ms more in alternating runs.)
    #[inline]
    pub(in crate::stream) fn before_line(&mut self, at: usize, planner: &Planner) -> bool {
        if !self.guessing || at < self.next {
            return false;
        }
        self.next = at + self.target;
        let Some((parts, key)) = planner.settled(self.target) else {
            return false;
        };
        let mut g = self.lock();
        match g.as_ref() {
            None => *g = Some(key),
            Some(k) if *k == key => {}
            // Another member now looks like the big one: the final plan decides.
            Some(_) => self.guessing = false,
        }
        drop(g);
        if self.guessing {
            self.feed.publish(&parts);
        }
        self.guessing
    }

    /// Cuts the rest of the big member by `jump` over `text`, publishing each part after
    /// `parts` (those settled so far) as it is found, and ends the feed with the plan
    /// (`key`: the big member's key range, `meta`: the metadata's); the plan, `None`
    /// (the feed abandoned) when the text could not be read.
    pub(in crate::stream) fn jump(
        self,
        jump: Jump,
        text: &(impl Text + ?Sized),
        target: usize,
        mut parts: Vec<Part>,
        key: Range<usize>,
        meta: Range<usize>,
    ) -> Option<Plan> {
        let read = jump.run(text, target, |p| {
            parts.push(p);
            self.feed.publish(&parts);
        });
        let plan = read.map(|()| Plan {
            parts,
            meta,
            big_key: Some(key),
        });
        self.close(plan.as_ref(), |_| true);
        plan
    }

    /// Ends the feed with the final plan's parts when there is a plan, `fits` it, and it
    /// cuts the member announced (announcing its big member when none was); else
    /// abandons it.
    pub(in crate::stream) fn close(self, plan: Option<&Plan>, fits: impl Fn(&Plan) -> bool) {
        let mut g = self.lock();
        let announced = g.clone();
        let ok = plan.filter(|p| {
            fits(p)
                && announced
                    .as_ref()
                    .is_none_or(|k| p.big_key.as_ref() == Some(k))
        });
        if announced.is_none() {
            *g = ok.and_then(|p| p.big_key.clone());
        }
        drop(g);
        self.feed.close(ok.map(|p| p.parts.as_slice()));
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// A JSON document as sops writes it: a few root members, a large object member,
    /// `after` (root members after it, each ending with a comma) and the metadata.
    fn doc(n: usize, after: &str) -> Vec<u8> {
        let mut t = String::from("{\n\t\"a\": 1,\n\t\"b\": {\n\t\t\"c\": 2\n\t},\n\t\"big\": {\n");
        for i in 0..n {
            let comma = if i + 1 < n { "," } else { "" };
            t.push_str(&format!(
                "\t\t\"k{i:05}\": {{\n\t\t\t\"v\": \"ENC[x]\"\n\t\t}}{comma}\n"
            ));
        }
        t.push_str("\t},\n");
        t.push_str(after);
        t.push_str("\t\"sops\": {\n\t\t\"mac\": \"m\"\n\t}\n}\n");
        t.into_bytes()
    }

    /// A root member of `n` lines.
    fn long_member(n: usize) -> String {
        let mut t = String::from("\t\"z\": {\n");
        for i in 0..n {
            t.push_str(&format!("\t\t\"w{i:07}\": 1,\n"));
        }
        t.push_str("\t\t\"end\": 2\n\t},\n");
        t
    }

    /// Plans `text` through the overlapped planner: how it ended, the parts it handed
    /// out, how many were published before the end, whether the list was matched, and
    /// the big member announced.
    fn feed_plan(
        text: &[u8],
        block: usize,
        target: usize,
    ) -> (Planned, Vec<Part>, usize, bool, Option<Range<usize>>) {
        let mut f = tempfile::tempfile().expect("file");
        f.write_all(text).expect("write");
        let (at, _) = tail_meta(&f, text.len()).expect("metadata");
        let feed = Feed::<Part>::default();
        let big = Mutex::new(None);
        let planned = plan_feeding(&f, block, text.len(), target, &at, &feed, &big);
        let mut got = Vec::new();
        while let Some(p) = feed.wait(got.len()) {
            got.push(p);
        }
        let key = big.lock().expect("lock").clone();
        (planned, got, feed.early(), feed.matched(), key)
    }

    #[test]
    fn parts_are_published_early_and_are_the_final_plans_first_parts() {
        // A scalar, a short object or nothing between the big member and the metadata:
        // the line planner reads every line in the first two cases and jumps (to the
        // same cuts) in the last.
        for (after, jumps) in [
            ("\t\"z\": 3,\n", false),
            ("\t\"z\": {\n\t\t\"y\": 1\n\t},\n", false),
            ("", true),
        ] {
            let text = doc(2000, after);
            let mut f = tempfile::tempfile().expect("file");
            f.write_all(&text).expect("write");
            let (at, meta) = tail_meta(&f, text.len()).expect("metadata");
            assert_eq!(meta, b"\n\t\"sops\": {\n\t\t\"mac\": \"m\"\n\t}\n");
            for (block, target) in [(1 << 20, 1000), (64, 1000), (7, 300), (4096, 5000)] {
                let what = format!("{after:?}, block {block}, target {target}");
                let (planned, got, early, matched, key) = feed_plan(&text, block, target);
                let want = if jumps {
                    Planned::Jumped
                } else {
                    Planned::Lines
                };
                assert_eq!(planned, want, "{what}");
                let whole = super::super::split::plan(&text, target).expect("plan");
                assert_eq!(at, whole.meta);
                assert!(matched, "{what}");
                assert_eq!(key, whole.big_key, "{what}");
                assert_eq!(got, whole.parts, "{what}");
                assert!(early > got.len() / 2, "{what}: {early} of {}", got.len());
            }
            // Metadata not where the tail showed it: not used.
            let feed = Feed::<Part>::default();
            let big = Mutex::new(None);
            let planned = plan_feeding(&f, 64, text.len(), 300, &(0..1), &feed, &big);
            assert_ne!(planned, Planned::None);
            assert!(!feed.matched());
        }
    }

    #[test]
    fn a_file_not_written_as_sops_writes_it_is_read_line_by_line() {
        // Carriage returns: the cuts are not a comma and a line break.
        let text = String::from_utf8(doc(2000, ""))
            .expect("text")
            .replace('\n', "\r\n");
        let (planned, got, _, matched, _) = feed_plan(text.as_bytes(), 4096, 1000);
        assert_eq!(planned, Planned::Lines);
        let whole = super::super::split::plan(text.as_bytes(), 1000).expect("plan");
        assert!(matched);
        assert_eq!(got, whole.parts);
        // The big member's brace not alone on its line.
        let text = String::from_utf8(doc(2000, ""))
            .expect("text")
            .replace("\n\t},\n\t\"sops\"", "},\n\t\"sops\"");
        let (planned, got, _, _, _) = feed_plan(text.as_bytes(), 4096, 1000);
        assert_eq!(planned, Planned::Lines);
        assert_eq!(
            got,
            super::super::split::plan(text.as_bytes(), 1000)
                .expect("plan")
                .parts
        );
    }

    #[test]
    fn a_long_root_member_after_the_big_one_makes_a_part_the_reader_declines() {
        // The member after the big one is longer than the probe: the jump is taken, and
        // one of its parts runs from inside the big member into the next root member. The
        // strict reader declines that part (the decrypt then plans the file line by line:
        // `tests/streaming_json.rs`).
        let after = long_member(super::super::jump::PROBE / 16);
        assert!(after.len() > super::super::jump::PROBE);
        let text = doc(2000, &after);
        let (planned, got, _, matched, _) = feed_plan(&text, 4096, 1000);
        assert_eq!(planned, Planned::Jumped);
        assert!(matched);
        let whole = super::super::split::plan(&text, 1000).expect("plan");
        assert_ne!(got, whole.parts);
        let across = got
            .iter()
            .filter(|p| {
                let body = &text[p.body()];
                memchr::memmem::find(body, b"\n\t},\n\t\"z\": {").is_some()
            })
            .count();
        assert_eq!(across, 1, "one part crosses into the next root member");
    }
}
