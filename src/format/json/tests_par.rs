//! Tests of the two-thread JSON reader: it must give exactly the sequential result.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::parse::MAX_DEPTH;
use super::parse::parse_sequential;
use super::parse::string_run;
use super::parse_par::find_split;
use super::parse_par::parse_split;
use super::parse_par::parse_split_traced;
use super::parse_par::parse_top_object_with;
use crate::format::EmitOptions;
use crate::format::Store;
use crate::format::json::JsonStore;
use crate::tree::Document;
use crate::tree::Map;
use crate::tree::SeqItem;
use crate::tree::Value;

/// A tab-indented document with objects and arrays at several depths, a `sops` member,
/// escapes, non-ASCII text and numbers.
const DOC: &str = "{\n\t\"a\": 1,\n\t\"b\": {\n\t\t\"c\": \"x\\u00e9\\n\",\n\t\t\"d\": [\n\t\t\t1,\n\t\t\t-2.5e3,\n\t\t\t{\n\t\t\t\t\"e\": null,\n\t\t\t\t\"f\": [true, false]\n\t\t\t},\n\t\t\t[],\n\t\t\t\"é😀\"\n\t\t],\n\t\t\"g\": {}\n\t},\n\t\"h\": [\n\t\t[\n\t\t\t1,\n\t\t\t2\n\t\t],\n\t\t{\n\t\t\t\"i\": \"j\"\n\t\t}\n\t],\n\t\"sops\": {\n\t\t\"v\": \"3\",\n\t\t\"k\": [\n\t\t\t{\n\t\t\t\t\"x\": 1\n\t\t\t}\n\t\t]\n\t}\n}\n";

/// The sops-written JSON fixtures.
fn fixtures() -> Vec<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/sops/json");
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .expect("test data")
        .map(|e| std::fs::read(e.expect("test data").path()).expect("test data"))
        .collect();
    assert!(out.len() >= 5);
    out.push(DOC.as_bytes().to_vec());
    out
}

/// Asserts that splitting at `at` gives the sequential result; returns whether the second
/// thread's fragment was used.
fn check_at(input: &[u8], at: usize) -> bool {
    let (par, spliced) = parse_split_traced(input, at);
    let seq = parse_sequential(input);
    assert_eq!(
        par,
        seq,
        "split at {at} of {:?}",
        String::from_utf8_lossy(input)
    );
    spliced
}

/// Every offset that [`find_split`] can return.
fn boundaries(input: &[u8]) -> Vec<usize> {
    let mut out: Vec<usize> = (0..input.len())
        .filter_map(|i| find_split(input, i))
        .collect();
    out.dedup();
    out
}

#[test]
fn split_at_every_offset_of_the_fixtures_matches_sequential() {
    for doc in fixtures() {
        let mut spliced = 0;
        for at in 0..=doc.len() + 1 {
            spliced += usize::from(check_at(&doc, at));
        }
        // Every boundary of these valid documents is taken (and `, ` within a line too).
        let all = boundaries(&doc);
        assert!(all.iter().all(|&at| check_at(&doc, at)));
        assert!(spliced >= all.len() && all.len() >= 5, "{spliced}");
    }
}

#[test]
fn find_split_returns_the_token_after_a_comma_and_newline() {
    let doc = DOC.as_bytes();
    let all = boundaries(doc);
    assert_eq!(all.len(), 13);
    for at in all {
        let before = doc[..at]
            .iter()
            .rposition(|b| !b" \t\r\n".contains(b))
            .expect("test data");
        assert_eq!(doc[before], b',');
        assert!(doc[before..at].contains(&b'\n'));
        assert!(!b" \t\r\n".contains(&doc[at]));
    }
    // A one-line document has no boundary: it is read sequentially.
    assert_eq!(find_split(br#"{"a": 1, "b": 2}"#, 0), None);
}

/// Byte edits that matter to the reader.
const EDITS: &[u8] = b"{}[],:\"\\\n 0x\xff\xc3";

/// Applies edit `k` (flip to a byte, delete, insert) at `i`.
fn edited(doc: &[u8], i: usize, k: usize) -> Vec<u8> {
    let mut v = doc.to_vec();
    let byte = EDITS[k % EDITS.len()];
    match k / EDITS.len() {
        0 => v[i] = byte,
        1 => {
            v.remove(i);
        }
        _ => v.insert(i, byte),
    }
    v
}

#[test]
fn corrupted_documents_give_the_sequential_error_at_every_split() {
    let doc = DOC.as_bytes();
    let mut errors = 0;
    let mut spliced = 0;
    for at in boundaries(doc) {
        // Edits just before, at and after the split and further on.
        let spots = [at - 2, at - 1, at, at + 1, at + 3, at + 12, doc.len() - 4];
        for &i in spots.iter().filter(|&&i| i < doc.len()) {
            for k in 0..EDITS.len() * 3 {
                let bad = edited(doc, i, k);
                // The split offset in the edited text, and its neighbours.
                for a in [at.saturating_sub(1), at, at + 1] {
                    spliced += usize::from(check_at(&bad, a));
                }
                errors += usize::from(parse_sequential(&bad).is_err());
            }
        }
    }
    assert!(errors > 500, "{errors}");
    assert!(spliced > 500, "{spliced}");
}

#[test]
fn unbalanced_brackets_and_trailing_data_after_the_split() {
    let doc = DOC.trim_end();
    let variants = [
        format!("{doc}}}"),
        format!("{doc}]"),
        format!("{doc} x"),
        format!("{doc}\n{{}}"),
        doc[..doc.len() - 1].to_string(),
        format!("{}]", &doc[..doc.len() - 1]),
        doc.replacen("\t\t],\n\t\t\"g\"", "\t\t},\n\t\t\"g\"", 1),
        doc.replacen("\t\t}\n\t],", "\t\t}\n\t},", 1),
        doc.replacen("\t\t}\n\t],", "\t\t}\n\t]],", 1),
        doc.replacen("\t\t\t2\n", "\t\t\t2,\n", 1),
    ];
    for v in &variants {
        assert_ne!(v, doc);
        assert!(parse_sequential(v.as_bytes()).is_err(), "{v}");
        for at in 0..v.len() {
            check_at(v.as_bytes(), at);
        }
    }
}

#[test]
fn invalid_utf8_before_and_after_the_split_is_refused_the_same_way() {
    for (needle, bad) in [("j", "\u{1}"), ("c", "\u{2}")] {
        let doc = DOC.replacen(&format!("\"{needle}\""), &format!("\"{bad}\""), 1);
        let mut bytes = doc.into_bytes();
        for b in bytes.iter_mut() {
            match *b {
                1 => *b = 0xff,
                2 => *b = 0xe2,
                _ => {}
            }
        }
        let seq = parse_sequential(&bytes).expect_err("invalid UTF-8");
        assert!(seq.message.contains("invalid UTF-8"), "{seq}");
        for at in 0..bytes.len() {
            check_at(&bytes, at);
        }
    }
}

/// `{"a": 1,\n"b": <array nested `depth` deep holding `1,\n2`>}`: the top-level object
/// counts as one level.
fn deep(depth: usize) -> String {
    format!(
        "{{\"a\": 1,\n\"b\": {}1,\n2{}}}",
        "[".repeat(depth - 1),
        "]".repeat(depth - 1)
    )
}

#[test]
fn depth_limit_is_the_same_on_both_sides_of_the_split() {
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(|| {
            for depth in [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, MAX_DEPTH + 2] {
                let doc = deep(depth);
                let seq = parse_sequential(doc.as_bytes());
                assert_eq!(seq.is_ok(), depth <= MAX_DEPTH, "{depth}");
                // Split at the top-level member "b" (depth 1) and inside the deep array.
                let at_b = doc.find("\"b\"").expect("test data");
                let at_2 = doc.find("\n2").expect("test data") + 1;
                assert_eq!(boundaries(doc.as_bytes()), vec![at_b, at_2]);
                for at in [at_b, at_2] {
                    let spliced = check_at(doc.as_bytes(), at);
                    assert_eq!(spliced, depth <= MAX_DEPTH, "{depth} {at}");
                }
            }
            // The fragment alone stays below the limit; only the main thread, which knows
            // the depth at the split, can tell that the whole crosses it.
            let outer = MAX_DEPTH / 2;
            for inner in [
                MAX_DEPTH - outer - 2,
                MAX_DEPTH - outer - 1,
                MAX_DEPTH - outer,
            ] {
                let doc = format!(
                    "{{\"a\": {}1,\n{}{}{}}}",
                    "[".repeat(outer),
                    "[".repeat(inner),
                    "]".repeat(inner),
                    "]".repeat(outer)
                );
                let ok = 1 + outer + inner <= MAX_DEPTH;
                assert_eq!(parse_sequential(doc.as_bytes()).is_ok(), ok);
                let at = doc.find("\n").expect("test data") + 1;
                assert_eq!(check_at(doc.as_bytes(), at), ok, "{inner}");
            }
        })
        .expect("test data")
        .join()
        .expect("test data");
}

#[test]
fn small_threshold_uses_the_split_for_whole_documents() {
    for doc in fixtures() {
        let seq = parse_sequential(&doc);
        assert_eq!(parse_top_object_with(&doc, 0), seq);
        assert_eq!(parse_top_object_with(&doc, usize::MAX), seq);
        if let Some(at) = find_split(&doc, doc.len() / 2) {
            assert!(parse_split_traced(&doc, at).1);
        }
    }
}

/// Trees with nested objects and arrays (keys and strings kept simple: the equality of
/// the two readers, not string handling, is under test here).
fn arb_tree() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        "[a-z\u{e9}\"\\\\\n]{0,6}".prop_map(Value::str),
        any::<i64>().prop_map(Value::Int),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ];
    leaf.prop_recursive(6, 80, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5)
                .prop_map(|v| Value::Seq(v.into_iter().map(SeqItem::Value).collect())),
            prop::collection::vec(("[a-c]{0,2}", inner), 0..5).prop_map(|entries| {
                let mut m = Map::new();
                for (k, v) in entries {
                    m.push(k, v);
                }
                Value::Map(m)
            }),
        ]
    })
}

fn arb_doc() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(("[a-c]{0,2}", arb_tree()), 0..6),
        prop_oneof![Just(None), (0i64..4).prop_map(Some)],
    )
        .prop_map(|(entries, indent)| {
            let mut m = Map::new();
            for (k, v) in entries {
                m.push(k, v);
            }
            let out = JsonStore
                .emit(&Document::single(m), None, &EmitOptions { indent })
                .expect("test data");
            out.to_vec()
        })
}

proptest! {
    #[test]
    fn proptest_split_matches_sequential_on_generated_documents(doc in arb_doc()) {
        let all = boundaries(&doc);
        for &at in &all {
            prop_assert!(check_at(&doc, at));
        }
    }

    #[test]
    fn proptest_split_matches_sequential_on_corrupted_documents(
        doc in arb_doc(),
        spot in any::<prop::sample::Index>(),
        split in any::<prop::sample::Index>(),
        k in 0..EDITS.len() * 3,
    ) {
        let i = spot.index(doc.len());
        let bad = edited(&doc, i, k);
        let all = boundaries(&bad);
        if !all.is_empty() {
            check_at(&bad, *split.get(&all));
        }
        check_at(&bad, split.index(bad.len() + 1));
    }

    #[test]
    fn proptest_string_run_stops_at_the_first_quote_backslash_or_control(
        bytes in prop::collection::vec(
            prop_oneof![any::<u8>(), prop::sample::select(b"\"\\\x00\x1f\x20\x7f\x80\xa2\xdc".to_vec())],
            0..40,
        ),
        filler in 0usize..24,
    ) {
        let mut v = vec![b'a'; filler];
        v.extend(bytes);
        let want = v
            .iter()
            .position(|&c| c < 0x20 || c == b'"' || c == b'\\')
            .unwrap_or(v.len());
        prop_assert_eq!(string_run(&v), want);
    }
}

#[test]
fn split_of_a_one_megabyte_document_matches_sequential() {
    let mut doc = String::from("{\n\t\"list\": [\n");
    for i in 0..40_000 {
        doc.push_str(&format!(
            "\t\t{{\n\t\t\t\"n\": {i},\n\t\t\t\"s\": \"v\\t{i}\u{e9}\"\n\t\t}},\n"
        ));
    }
    doc.push_str("\t\t0\n\t],\n\t\"end\": true\n}\n");
    assert!(doc.len() > 1 << 20);
    let seq = parse_sequential(doc.as_bytes());
    assert!(seq.is_ok());
    let at = find_split(doc.as_bytes(), doc.len() / 2).expect("test data");
    assert!(parse_split_traced(doc.as_bytes(), at).1);
    assert_eq!(parse_split(doc.as_bytes(), at), seq);
    assert_eq!(
        parse_top_object_with(doc.as_bytes(), super::parse_par::DEFAULT_THRESHOLD),
        seq
    );
}
