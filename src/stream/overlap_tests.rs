//! The planner publishing settled parts while it reads the file.

use std::io::Write;

use super::*;
use crate::stream::split;

/// A document with a few root entries, one large map of `n` entries, and a metadata
/// entry; `after`: text between the large map and `sops:`.
fn doc(n: usize, after: &str) -> Vec<u8> {
    let mut t = String::from("# head\na: 1\nb:\n    c: 2\nbig:\n");
    for i in 0..n {
        t.push_str(&format!("    k{i:05}:\n        v: ENC[x]\n"));
        if i % 7 == 3 && i + 1 < n {
            t.push_str(&format!("    # about k{:05}\n", i + 1));
        }
    }
    t.push_str(after);
    t.push_str("sops:\n    mac: m\n    version: 3.11.0\n");
    t.into_bytes()
}

/// Plans `text` from a file as the overlapped decrypt does: what was published before
/// the final plan, the final plan, and whether the feed was ended by it.
fn feed_plan(text: &[u8], block: usize, target: usize) -> (usize, Option<Plan>, bool) {
    let mut f = tempfile::tempfile().expect("file");
    f.write_all(text).expect("write");
    let len = text.len();
    let feed = Feed::<Part>::default();
    let meta_at = memchr::memmem::rfind(text, b"\nsops:").expect("sops") + 1..len;
    let plan = plan_feeding(&f, 0, block, len, target, &meta_at, &feed);
    let early = feed.lock().early;
    (early, plan, feed.matched())
}

#[test]
fn parts_are_published_before_the_plan_is_final_and_are_its_first_parts() {
    let text = doc(2000, "z: 3\n");
    for (block, target) in [(1 << 20, 1000), (64, 1000), (7, 300), (4096, 5000)] {
        let (early, plan, matched) = feed_plan(&text, block, target);
        let plan = plan.expect("plan");
        let whole = split::plan(&text, target).expect("plan");
        assert_eq!(plan.parts, whole.parts, "block {block}, target {target}");
        assert!(matched, "block {block}, target {target}");
        assert!(
            early > plan.parts.len() / 2,
            "published early: {early} of {} (block {block}, target {target})",
            plan.parts.len()
        );
    }
}

#[test]
fn a_guess_the_final_plan_does_not_keep_is_abandoned() {
    // A root key after the large map with a comment at another indentation before it:
    // it joins the map's segment, so the map is not cut after all.
    let text = doc(2000, "  # other\nz: 3\n");
    let (early, plan, matched) = feed_plan(&text, 4096, 1000);
    assert!(early == 0 && !matched);
    let plan = plan.expect("the file still has a plan");
    assert!(plan.parts.iter().all(|p| matches!(p, Part::Top(_))));
    // A duplicate key in the large map, found after parts were published: no plan.
    let mut text = doc(2000, "");
    let at = memchr::memmem::rfind(&text, b"sops:").expect("sops");
    text.splice(at..at, b"    k00001:\n        v: 1\n".iter().copied());
    let (_, plan, matched) = feed_plan(&text, 4096, 1000);
    assert!(plan.is_none() && !matched);
    // Metadata that is not where the tail showed it: the plan is not used either.
    let text = doc(200, "");
    let mut f = tempfile::tempfile().expect("file");
    f.write_all(&text).expect("write");
    let feed = Feed::<Part>::default();
    let plan = plan_feeding(&f, 0, 64, text.len(), 300, &(0..text.len()), &feed);
    assert!(plan.is_some(), "plan");
    assert!(!feed.matched(), "matched");
}

#[test]
fn waiting_for_a_part_ends_when_the_list_ends_or_is_abandoned() {
    let feed = Feed::<Part>::default();
    let parts = vec![Part::Top(0..1), Part::Top(1..2), Part::Top(2..3)];
    feed.publish(&parts[..1]);
    std::thread::scope(|s| {
        let waiter = s.spawn(|| (feed.wait(2), feed.wait(3)));
        feed.publish(&parts[..2]);
        feed.close(Some(&parts));
        assert_eq!(waiter.join().expect("join"), (Some(Part::Top(2..3)), None));
    });
    assert!(feed.complete() && feed.matched());
    // A publication that does not extend what was published stops the guessing.
    let feed = Feed::<Part>::default();
    feed.publish(&parts[..2]);
    feed.publish(&[Part::Top(0..2), Part::Top(2..3), Part::Top(3..4)]);
    assert_eq!(feed.lock().parts.len(), 2);
    std::thread::scope(|s| {
        let waiter = s.spawn(|| feed.wait(2));
        feed.close(None);
        assert_eq!(waiter.join().expect("join"), None);
    });
    assert!(!feed.complete() && !feed.matched());
    assert_eq!(feed.wait(0), None, "an abandoned list hands out nothing");
}
