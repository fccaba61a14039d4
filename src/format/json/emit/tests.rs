//! The fast and the parallel writer give the bytes of the plain sequential one.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::SecureBuf;
use super::emit_single;
use super::emit_top;
use super::emit_top_sequential;
use super::format_float;
use super::par;
use super::write_string;
use super::write_valid;
use crate::format::EmitOptions;
use crate::tree::Bytes;
use crate::tree::Comment;
use crate::tree::Item;
use crate::tree::Map;
use crate::tree::SeqItem;
use crate::tree::Timestamp;
use crate::tree::Value;

/// Every kind of value, comments in maps and lists, empty and comment-only containers.
fn arb_any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<String>().prop_map(Value::str),
        "[a-z<>&\"\\\\\u{0}-\u{1f}\u{2028}\u{2029}\u{2014}é😀]{0,20}".prop_map(Value::str),
        prop::collection::vec(any::<u8>(), 0..12).prop_map(|b| Value::Bytes(Bytes::new(b))),
        any::<i64>().prop_map(Value::Int),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::Float),
        (0u64..100_000, 0u32..5).prop_map(|(m, k)| Value::Float(m as f64 / 10f64.powi(k as i32))),
        any::<bool>().prop_map(Value::Bool),
        (0u16..9999, 0u32..1_000_000_000, -50_000i32..50_000).prop_map(|(year, nanos, off)| {
            Value::Time(Timestamp {
                year,
                month: 2,
                day: 28,
                hour: 23,
                minute: 59,
                second: 1,
                nanos,
                offset_seconds: off / 60 * 60,
            })
        }),
        Just(Value::Null),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(arb_seq_item(inner.clone()), 0..6).prop_map(Value::Seq),
            arb_items(inner, 0..6).prop_map(|items| Value::Map(Map(items))),
        ]
    })
}

fn arb_comment() -> impl Strategy<Value = Comment> {
    "[a-z ]{0,6}".prop_map(Comment::line)
}

fn arb_seq_item(inner: impl Strategy<Value = Value>) -> impl Strategy<Value = SeqItem> {
    prop_oneof![
        4 => inner.prop_map(SeqItem::Value),
        1 => arb_comment().prop_map(SeqItem::Comment),
    ]
}

fn arb_items(
    inner: impl Strategy<Value = Value>,
    len: std::ops::Range<usize>,
) -> impl Strategy<Value = Vec<Item>> {
    let item = prop_oneof![
        4 => ("[a-c<&\"é]{0,3}", inner).prop_map(|(k, v)| Item::Entry(k, v)),
        1 => arb_comment().prop_map(Item::Comment),
    ];
    prop::collection::vec(item, len)
}

/// A top-level map with one large member (a map or a list; with comments, possibly
/// comment-only at either end) somewhere among other members.
fn arb_split_doc() -> impl Strategy<Value = (Map, usize)> {
    let big = prop_oneof![
        arb_items(arb_any_value(), 2..40).prop_map(|items| Value::Map(Map(items))),
        prop::collection::vec(arb_seq_item(arb_any_value()), 2..40).prop_map(Value::Seq),
    ];
    (
        arb_items(arb_any_value(), 0..4),
        "[a-z]{0,4}",
        big,
        arb_items(arb_any_value(), 0..4),
    )
        .prop_map(|(mut before, key, big, after)| {
            // The big member must be the largest container at the top level.
            let small = |v: &Value| match v {
                Value::Map(m) => Value::Map(Map(m.0.iter().take(1).cloned().collect())),
                Value::Seq(s) => Value::Seq(s.iter().take(1).cloned().collect()),
                other => other.clone(),
            };
            for it in before.iter_mut().chain([].iter_mut()) {
                if let Item::Entry(_, v) = it {
                    *v = small(v);
                }
            }
            let len = match &big {
                Value::Map(m) => m.0.len(),
                Value::Seq(s) => s.len(),
                _ => 0,
            };
            let mut items = before;
            items.push(Item::Entry(key, big));
            for it in after {
                items.push(match it {
                    Item::Entry(k, v) => Item::Entry(k, small(&v)),
                    c => c,
                });
            }
            (Map(items), len)
        })
}

fn unit_of(indent: i64) -> Vec<u8> {
    super::indent_unit(&EmitOptions {
        indent: Some(indent),
    })
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn proptest_parallel_emit_is_byte_identical(
        (map, len) in arb_split_doc(),
        meta in proptest::option::of(arb_items(arb_any_value(), 0..4).prop_map(Map)),
        indent in prop::sample::select(vec![-1i64, 0, 2, 4]),
        threads in 2usize..6,
    ) {
        let unit = unit_of(indent);
        let seq = emit_top_sequential(&map, meta.as_ref(), &unit);
        let par = par::emit_top_threads(&map, meta.as_ref(), &unit, 2, threads);
        let big_written = map.0.iter().any(|i| match i {
            Item::Entry(_, Value::Map(m)) => m.0.len() == len
                && m.0.iter().any(|i| matches!(i, Item::Entry(..))),
            Item::Entry(_, Value::Seq(s)) => s.len() == len
                && s.iter().any(|i| matches!(i, SeqItem::Value(_))),
            _ => false,
        });
        match par {
            Some(par) => prop_assert_eq!(&par.unwrap()[..], &seq.unwrap()[..]),
            // Only a comment-only big container is left to the sequential writer.
            None => prop_assert!(!big_written),
        }
    }

    #[test]
    fn proptest_float_fast_path_matches_general_formatter(
        f in prop_oneof![
            any::<f64>().prop_filter("finite", |f| f.is_finite()),
            (any::<i32>(), 0i32..9).prop_map(|(m, k)| f64::from(m) / 10f64.powi(k)),
            (0u64..1 << 53, 0i32..12).prop_map(|(m, k)| m as f64 / 10f64.powi(k)),
            (1e-4f64..2e9),
        ],
    ) {
        let out = emit_single(&Value::Float(f), b"\t").unwrap();
        prop_assert_eq!(std::str::from_utf8(&out).unwrap(), format_float(f).unwrap());
    }

    /// The ASCII shortcut of `write_string` writes what the chunked UTF-8 walk writes:
    /// on any bytes (invalid UTF-8 included), on ASCII with every control and the bytes
    /// Go escapes, and on text with U+2028/U+2029 and other non-ASCII characters.
    #[test]
    fn proptest_write_string_ascii_shortcut_matches_chunked_walk(
        bytes in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64),
            proptest::collection::vec(0u8..0x80, 0..64),
            "[a-z\"\\\\<>&\u{0}-\u{1f}\u{7f}\u{2028}\u{2029}\u{e9}\u{1F600}]{0,40}"
                .prop_map(String::into_bytes),
        ],
    ) {
        let mut fast = SecureBuf::with_capacity(8);
        write_string(&mut fast, &bytes);
        let mut walk = SecureBuf::with_capacity(8);
        walk.byte(b'"');
        for chunk in bytes.utf8_chunks() {
            write_valid(&mut walk, chunk.valid().as_bytes());
            for _ in chunk.invalid() {
                walk.push(b"\\ufffd");
            }
        }
        walk.byte(b'"');
        prop_assert_eq!(fast.as_slice(), walk.as_slice());
    }
}

#[test]
fn float_fast_path_cases() {
    for f in [
        0.1,
        0.2,
        0.3,
        0.1 + 0.2,
        5.54,
        20.24,
        99.95,
        -99.95,
        1e-3,
        0.001234,
        0.0012345678,
        999_999_999.5,
        999_999_999.999_999,
        123_456_789.0,
        1.0,
        -1.0,
        100.0,
        1e-4,
        0.05,
        1.5e-7,
        2.5e21,
        -0.0,
        0.0,
        f64::MIN_POSITIVE,
        f64::MAX,
        1.0 / 3.0,
    ] {
        let out = emit_single(&Value::Float(f), b"\t").unwrap();
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            format_float(f).unwrap(),
            "{f:e}"
        );
    }
    assert_eq!(super::short_decimal(5.54), Some((554, 2)));
    assert_eq!(super::short_decimal(0.1 + 0.2), None);
}

/// A document shaped like a large config: a few members, then thousands of services.
fn big_doc(services: usize, as_list: bool, escapes: bool) -> Map {
    let mut top = Map::new();
    top.push("schemaVersion", Value::Int(3));
    top.push_comment(Comment::line(" header"));
    let mut g = Map::new();
    g.push("region", Value::str("eu-west-1"));
    g.push("slo", Value::Float(99.95));
    top.push("global", Value::Map(g));
    let mut svc = Vec::new();
    for i in 0..services {
        let mut s = Map::new();
        s.push("name", Value::str(format!("svc-{i:05}")));
        s.push("enabled", Value::Bool(i % 3 == 0));
        s.push("replicas", Value::Int(i as i64 - 7));
        s.push("cpu", Value::Float(i as f64 / 100.0));
        let pw = if escapes {
            format!("x<&>\"\\\n{i}\u{2028}é")
        } else {
            format!("p4ss-{i}-é")
        };
        s.push("pw", Value::str(pw));
        s.push(
            "ports",
            Value::Seq(vec![
                SeqItem::Value(Value::Int(8000 + i as i64)),
                SeqItem::Comment(Comment::line("c")),
                SeqItem::Value(Value::Null),
            ]),
        );
        s.push("empty", Value::Map(Map::new()));
        if i % 100 == 0 {
            s.push_comment(Comment::line("only a comment"));
        }
        svc.push((format!("svc-{i:05}"), Value::Map(s)));
    }
    if as_list {
        top.push(
            "services",
            Value::Seq(svc.into_iter().map(|(_, v)| SeqItem::Value(v)).collect()),
        );
    } else {
        let mut m = Map::new();
        for (k, v) in svc {
            m.push(k, v);
        }
        top.push("services", Value::Map(m));
    }
    top.push("trailer", Value::Seq(vec![]));
    top
}

#[test]
fn large_document_parallel_equals_sequential() {
    let mut meta = Map::new();
    meta.push("version", Value::str("3.9.0"));
    meta.push("lastmodified", Value::str("2024-01-01T00:00:00Z"));
    for as_list in [false, true] {
        let doc = big_doc(par::MIN_ITEMS + 100, as_list, true);
        for unit in [b"\t".to_vec(), Vec::new(), b"  ".to_vec()] {
            for meta in [None, Some(&meta)] {
                let seq = emit_top_sequential(&doc, meta, &unit).unwrap();
                // The public entry point (parallel when this machine has several cores).
                assert_eq!(&emit_top(&doc, meta, &unit).unwrap()[..], &seq[..]);
                for threads in [2, 3, 8] {
                    let par = par::emit_top_threads(&doc, meta, &unit, par::MIN_ITEMS, threads)
                        .expect("large enough to split")
                        .unwrap();
                    assert_eq!(&par[..], &seq[..], "threads {threads} list {as_list}");
                }
            }
        }
    }
    // Without escapes the size estimate is close: no regrowth, little unused room.
    let doc = big_doc(par::MIN_ITEMS + 100, false, false);
    for unit in [b"\t".to_vec(), b"    ".to_vec()] {
        let seq = emit_top_sequential(&doc, None, &unit).unwrap();
        let par = par::emit_top_threads(&doc, None, &unit, 2, 2)
            .unwrap()
            .unwrap();
        for out in [seq, par] {
            let (len, cap) = (out.len(), out.capacity());
            assert!(
                cap >= len && cap < len + len / 16,
                "len {len} capacity {cap}"
            );
        }
    }
    // Below the threshold, and with one thread, the sequential writer is used.
    let small = big_doc(10, false, true);
    assert!(par::emit_top_threads(&small, None, b"\t", par::MIN_ITEMS, 4).is_none());
    assert!(par::emit_top_threads(&small, None, b"\t", 2, 1).is_none());
}

#[test]
fn parallel_emit_reports_a_nan_in_any_part() {
    for at in [0, 1500, 2999] {
        let mut doc = big_doc(3000, true, true);
        if let Some(Value::Seq(s)) = doc.get_mut("services") {
            s[at] = SeqItem::Value(Value::Float(f64::NAN));
        }
        assert!(emit_top_sequential(&doc, None, b"\t").is_err());
        for threads in [2, 3] {
            let r = par::emit_top_threads(&doc, None, b"\t", 2, threads).unwrap();
            assert!(r.is_err(), "NaN at {at}, {threads} threads");
        }
    }
}

#[test]
fn indentation_is_limited_to_sixteen_spaces_audit_json_indent_amplification() {
    // 1024 was accepted: with 256 levels of nesting, one line of indentation was 256 KiB.
    assert_eq!(unit_of(16), vec![b' '; 16]);
    for n in [17, 1024] {
        let err = super::indent_unit(&EmitOptions { indent: Some(n) }).unwrap_err();
        assert!(err.to_string().contains("larger than 16 spaces"), "{err}");
    }
}
