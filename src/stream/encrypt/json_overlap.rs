//! Planning a large JSON plaintext while its MAC pass already reads the first parts, as
//! the streamed decrypt does (`stream::json::overlap`): the planner runs on a thread of
//! its own over the lines of the document and publishes the parts it has settled
//! (`split::Planner::settled`, the big member's key range announced first); the MAC
//! pass starts with the first publication, or with the final plan when nothing was
//! published before it. The final plan must begin with the parts published and cut the
//! same big member; otherwise what the MAC pass did is dropped and it runs again on the
//! final plan. The planner took about a tenth of the encrypt of the 10 MB benchmark
//! file, on one core while the other waited (docs/performance-log.md, "Round 28").
//! Once it has published the big member's first parts, the rest of the member is cut
//! by jumping when it is the last root member (`stream::json::jump`); a part the MAC
//! pass then declines may be a guess that did not hold, and the document is planned
//! line by line and read again.

use std::ops::Range;
use std::sync::Mutex;

use super::JsonPart;
use super::layout::JsonLayout;
use super::layout::Layout;
use crate::format::EmitOptions;
use crate::stream::json::Publisher;
use crate::stream::json::jump::Jump;
use crate::stream::json::split;
use crate::stream::json::split::Plan;
use crate::stream::json::split::Planner;
use crate::stream::overlap::Feed;
use crate::stream::pipeline::Parts;

/// The MAC pass over a layout and the parts it reads.
pub(super) type MacPass<'p> =
    dyn Fn(&JsonLayout<'_>, &dyn Parts<JsonPart>) -> Option<String> + Sync + 'p;

/// Plans `src` while `pass` reads the parts settled so far: the final layout and what
/// the MAC pass found over its parts (`None`: a part was declined), or `None` when the
/// document is not laid out as the planner needs (the tree path takes it).
pub(super) fn plan_with_mac<'a>(
    src: &'a [u8],
    target: usize,
    emit: &'a EmitOptions,
    pass: &MacPass<'_>,
) -> Option<(JsonLayout<'a>, Option<String>)> {
    let feed = Feed::<JsonPart>::default();
    // The big member's key text, announced before its first parts are published.
    let big: Mutex<Option<Range<usize>>> = Mutex::new(None);
    let (early, planned) = std::thread::scope(|s| {
        let (feed_ref, big_ref) = (&feed, &big);
        let planner = s.spawn(move || plan_feeding(src, target, feed_ref, big_ref));
        // The layout needs the big member's key: wait for the first part.
        let early = match feed.wait(0) {
            Some(_) => {
                let key = big
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone();
                JsonLayout::fed(src, key, emit).map(|l| pass(&l, &feed))
            }
            None => None,
        };
        // Whatever ended the pass, the planner is not needed any more.
        feed.stop();
        (early, planner.join().ok().flatten())
    });
    let (plan, jumped) = planned?;
    if jumped && !matches!(early, Some(Some(_))) {
        let plan = split::plan_plain(src, target)?;
        let layout = JsonLayout::from_plan(src, plan, emit)?;
        let parts = layout.parts().to_vec();
        let mac = pass(&layout, &parts);
        return Some((layout, mac));
    }
    let layout = JsonLayout::from_plan(src, plan, emit)?;
    match early {
        // The parts read were the final plan's, all of them.
        Some(mac) if feed.matched() => Some((layout, mac)),
        _ => {
            // (A list of ranges: the copy is a few kilobytes.)
            let parts = layout.parts().to_vec();
            let mac = pass(&layout, &parts);
            Some((layout, mac))
        }
    }
}

/// Plans `src`, publishing the settled parts as it goes (the big member's key range
/// announced in `big` first); the final plan and whether the big member was cut by
/// jumping, `None` when the document is not laid out as the planner needs. The feed is
/// closed with the final plan's parts when they begin with those published and cut the
/// member announced; else it is abandoned.
fn plan_feeding(
    src: &[u8],
    target: usize,
    feed: &Feed<JsonPart>,
    big: &Mutex<Option<Range<usize>>>,
) -> Option<(Plan, bool)> {
    let mut planner = Planner::new();
    let mut publisher = Publisher::new(feed, big, target);
    let mut at = 0;
    let mut read = true;
    let mut tried = false;
    let ends = memchr::memchr_iter(b'\n', src).chain(std::iter::once(src.len()));
    for end in ends {
        if publisher.before_line(at, &planner) && !tried {
            // Once, at the first publication.
            tried = true;
            // (The byte after the big member: the root's closing brace.)
            let close = src.iter().rposition(|&b| !split::is_ws(b));
            let jump = close.and_then(|c| Jump::from_planner(src, &planner, target, at, (c, b'}')));
            if let (Some((j, parts, key)), Some(c)) = (jump, close) {
                let plan = publisher.jump(j, src, target, parts, key, c..c);
                return plan.map(|p| (p, true));
            }
        }
        let line = src.get(at..end).unwrap_or_default();
        if !planner.line(at, line) {
            read = false;
            break;
        }
        at = end + 1;
    }
    let plan = if read {
        planner.finish_plain(src.len(), target)
    } else {
        None
    };
    publisher.close(plan.as_ref(), |_| true);
    plan.map(|p| (p, false))
}

#[cfg(test)]
#[path = "json_overlap_tests.rs"]
mod tests;
