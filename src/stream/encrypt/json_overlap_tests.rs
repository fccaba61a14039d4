use std::sync::Mutex;

use super::*;
use crate::crypto::mac::MacHasher;
use crate::stream::json::split::plan_plain;
use crate::stream::yaml_direct::Mode;
use crate::walk::Selector;

/// A JSON plaintext as leafseal and sops lay it out: a few root members, large object
/// members of `sizes[i]` entries each (named `big0`, `big1`, …), and a last member.
fn doc(sizes: &[usize]) -> Vec<u8> {
    doc_ending(sizes, "\t\"z\": [\n\t\t3,\n\t\tnull\n\t]\n")
}

/// [`doc`] with `tail` (root members, the last without a comma) after the large
/// members; an empty `tail` leaves the last large member last.
fn doc_ending(sizes: &[usize], tail: &str) -> Vec<u8> {
    let mut t = String::from("{\n\t\"a\": 1,\n\t\"b\": {\n\t\t\"c\": \"two\"\n\t},\n");
    for (m, &n) in sizes.iter().enumerate() {
        t.push_str(&format!("\t\"big{m}\": {{\n"));
        for i in 0..n {
            let comma = if i + 1 < n { "," } else { "" };
            t.push_str(&format!(
                "\t\t\"k{i:05}\": {{\n\t\t\t\"v\": \"secret {m} {i}\",\n\t\t\t\"n\": {i}\n\t\t}}{comma}\n"
            ));
        }
        t.push_str("\t},\n");
    }
    if tail.is_empty() {
        // (The last large member's comma goes.)
        t.truncate(t.len() - 2);
        t.push('\n');
    }
    t.push_str(tail);
    t.push_str("}\n");
    t.into_bytes()
}

/// The MAC of `src` as the encrypt computes it, after planning it whole.
fn planned_mac(src: &[u8], target: usize, emit: &EmitOptions) -> Option<String> {
    let l = JsonLayout::from_plan(src, plan_plain(src, target)?, emit)?;
    super::super::mac_pass(&l, l.parts(), &Selector::default(), false, 2, Mode::Auto)
}

/// The MAC pass as `prepare_encrypt` runs it (two workers, every value selected).
fn pass(l: &JsonLayout<'_>, parts: &dyn Parts<JsonPart>) -> Option<String> {
    super::super::mac_pass(l, parts, &Selector::default(), false, 2, Mode::Auto)
}

#[test]
fn parts_are_published_early_and_are_the_final_plans_first_parts() {
    let text = doc(&[3000]);
    for target in [300, 1000, 5000, 40_000] {
        let feed = Feed::<JsonPart>::default();
        let big = Mutex::new(None);
        let (plan, jumped) = plan_feeding(&text, target, &feed, &big).expect("plan");
        assert!(!jumped, "a member follows the big one");
        let whole = plan_plain(&text, target).expect("plan");
        assert_eq!(plan.parts, whole.parts, "target {target}");
        assert!(feed.matched(), "target {target}");
        assert_eq!(*big.lock().expect("lock"), whole.big_key);
        let mut got = Vec::new();
        while let Some(p) = feed.wait(got.len()) {
            got.push(p);
        }
        assert_eq!(got, whole.parts, "target {target}");
        let early = feed.early();
        assert!(early > got.len() / 2, "{early} of {}", got.len());
    }
}

#[test]
fn the_overlapped_mac_is_the_planned_one() {
    let emit = EmitOptions::default();
    let text = doc(&[3000]);
    let mut h = MacHasher::new(false);
    h.update(b"1");
    let not_this = h.finish();
    for target in [300, 5000, 1 << 20] {
        let (layout, mac) = plan_with_mac(&text, target, &emit, &pass).expect("laid out");
        let want = planned_mac(&text, target, &emit).expect("mac");
        assert_eq!(mac.as_deref(), Some(want.as_str()), "target {target}");
        assert_ne!(want, not_this);
        assert_eq!(
            layout.parts(),
            plan_plain(&text, target).expect("plan").parts.as_slice()
        );
    }
}

/// A bigger member after the one first taken for the big member: the guess is given
/// up, the feed abandoned, and the MAC pass runs again on the final plan.
#[test]
fn a_changed_guess_runs_the_mac_pass_again_on_the_final_plan() {
    let emit = EmitOptions::default();
    let text = doc(&[400, 3000]);
    let target = 300;
    let feed = Feed::<JsonPart>::default();
    let big = Mutex::new(None);
    let (plan, _) = plan_feeding(&text, target, &feed, &big).expect("plan");
    assert!(!feed.matched());
    let key = &text[plan.big_key.clone().expect("cut")];
    assert!(std::str::from_utf8(key).expect("utf-8").contains("big1"));
    let (_, mac) = plan_with_mac(&text, target, &emit, &pass).expect("laid out");
    assert_eq!(mac, planned_mac(&text, target, &emit));
}

/// A document the planner cannot lay out (here: not an object) is handed back; a
/// part the MAC pass declines (a duplicate key across parts) gives no MAC.
#[test]
fn refusals_are_the_planned_paths() {
    let emit = EmitOptions::default();
    assert!(plan_with_mac(b"[1, 2]\n", 300, &emit, &pass).is_none());
    let mut text = doc(&[3000]);
    let dup = b"\t\t\"k00001\": {\n\t\t\t\"v\": \"again\"\n\t\t},\n";
    let at = memchr::memmem::rfind(&text, b"\t\t\"k02999\"").expect("last entry");
    text.splice(at..at, dup.iter().copied());
    assert!(planned_mac(&text, 300, &emit).is_none());
    let (_, mac) = plan_with_mac(&text, 300, &emit, &pass).expect("laid out");
    assert!(mac.is_none());
}

/// The big member last: the rest of it is cut by jumping (`stream::json::jump`), to the
/// cuts the line planner makes, and the MAC is the planned one.
#[test]
fn the_big_member_last_is_cut_by_jumping_to_the_planned_cuts() {
    let emit = EmitOptions::default();
    let text = doc_ending(&[3000], "");
    for target in [300, 1000, 5000] {
        let feed = Feed::<JsonPart>::default();
        let big = Mutex::new(None);
        let (plan, jumped) = plan_feeding(&text, target, &feed, &big).expect("plan");
        assert!(jumped, "target {target}");
        let whole = plan_plain(&text, target).expect("plan");
        assert_eq!(plan.parts, whole.parts, "target {target}");
        assert_eq!(plan.meta, whole.meta, "target {target}");
        assert_eq!(plan.big_key, whole.big_key, "target {target}");
        assert!(feed.matched(), "target {target}");
        let (layout, mac) = plan_with_mac(&text, target, &emit, &pass).expect("laid out");
        assert_eq!(layout.parts(), whole.parts.as_slice());
        assert_eq!(mac, planned_mac(&text, target, &emit), "target {target}");
        assert!(mac.is_some());
    }
}

/// A root member longer than the jump's probe after the big member: the jump is taken,
/// one of its parts runs into that member, the MAC pass declines it, and the document
/// is planned line by line and read again, to the planned MAC.
#[test]
fn a_jump_whose_guess_does_not_hold_is_planned_line_by_line() {
    let emit = EmitOptions::default();
    let mut tail = String::from("\t\"z\": {\n");
    let lines = crate::stream::json::jump::PROBE / 16;
    for i in 0..lines {
        tail.push_str(&format!("\t\t\"w{i:07}\": 1,\n"));
    }
    tail.push_str("\t\t\"end\": 2\n\t}\n");
    let text = doc_ending(&[3000], &tail);
    let target = 1000;
    let feed = Feed::<JsonPart>::default();
    let big = Mutex::new(None);
    let (plan, jumped) = plan_feeding(&text, target, &feed, &big).expect("plan");
    assert!(jumped);
    let whole = plan_plain(&text, target).expect("plan");
    assert_ne!(plan.parts, whole.parts);
    let (layout, mac) = plan_with_mac(&text, target, &emit, &pass).expect("laid out");
    assert_eq!(layout.parts(), whole.parts.as_slice());
    assert_eq!(mac, planned_mac(&text, target, &emit));
    assert!(mac.is_some());
}

/// A duplicate key in a big member that is cut by jumping: no MAC, as planned.
#[test]
fn a_jumped_document_with_a_duplicate_key_gives_no_mac() {
    let emit = EmitOptions::default();
    let mut text = doc_ending(&[3000], "");
    let dup = b"\t\t\"k00001\": {\n\t\t\t\"v\": \"again\"\n\t\t},\n";
    let at = memchr::memmem::rfind(&text, b"\t\t\"k02999\"").expect("last entry");
    text.splice(at..at, dup.iter().copied());
    let feed = Feed::<JsonPart>::default();
    let big = Mutex::new(None);
    assert!(plan_feeding(&text, 300, &feed, &big).expect("plan").1);
    assert!(planned_mac(&text, 300, &emit).is_none());
    let (_, mac) = plan_with_mac(&text, 300, &emit, &pass).expect("laid out");
    assert!(mac.is_none());
}
