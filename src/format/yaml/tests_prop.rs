//! Property tests: generated trees survive emit and load.

use proptest::prelude::*;

use super::tests_more::emit_doc;
use super::tests_more::load;
use super::*;
use crate::tree::Comment;
use crate::tree::Item;
use crate::tree::SeqItem;
use crate::tree::Timestamp;

fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,8}",
        Just(String::new()),
        Just("true".to_owned()),
        Just("123".to_owned()),
        Just("1.5".to_owned()),
        Just("null".to_owned()),
        Just("yes".to_owned()),
        Just("2024-01-01".to_owned()),
        Just("a: b".to_owned()),
        Just("- x".to_owned()),
        Just("#x".to_owned()),
        Just("x #y".to_owned()),
        Just("'q\"".to_owned()),
        Just("ünï 😀".to_owned()),
        Just("tab\there".to_owned()),
        Just("line1\nline2".to_owned()),
        Just("\n".to_owned()),
        Just("  lead\nx\n\n".to_owned()),
        Just("\nstarts with break".to_owned()),
        Just("trail \nx".to_owned()),
        "[ -~]{0,12}",
        "[ -~\n\t]{0,12}",
        "\\PC{0,6}",
    ]
}

fn arb_comment() -> impl Strategy<Value = String> {
    "[ -~]{0,10}"
}

fn arb_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        arb_text().prop_map(Value::str),
        any::<i64>().prop_map(Value::Int),
        any::<f64>()
            .prop_filter("not integral", |f| f.is_nan()
                || f.fract() != 0.0
                || f.is_infinite())
            .prop_map(Value::Float),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
        (
            1970u16..2100,
            1u8..13,
            1u8..29,
            0u8..24,
            0u8..60,
            0u32..1_000_000_000,
            -50i32..50
        )
            .prop_map(|(year, month, day, hour, minute, nanos, off)| {
                Value::Time(Timestamp {
                    year,
                    month,
                    day,
                    hour,
                    minute,
                    second: 7,
                    nanos,
                    offset_seconds: off * 900,
                })
            }),
    ]
}

/// Comment markers in the canonical positions the emitter preserves.
fn with_comments<T>(
    entries: Vec<(Vec<String>, Option<String>, T, bool)>,
    foot: Vec<String>,
) -> Vec<(Option<Comment>, Option<T>)> {
    let mut out = Vec::new();
    let nonempty = !entries.is_empty();
    for (heads, inline, v, scalar) in entries {
        for h in heads {
            out.push((Some(Comment::line(h)), None));
        }
        if let (Some(t), true) = (inline, scalar) {
            out.push((
                Some(Comment {
                    text: t.into(),
                    inline: true,
                }),
                None,
            ));
        }
        out.push((None, Some(v)));
    }
    if nonempty {
        for f in foot {
            out.push((Some(Comment::line(f)), None));
        }
    }
    out
}

pub(super) fn arb_value() -> impl Strategy<Value = Value> {
    arb_scalar().prop_recursive(4, 48, 6, |inner| {
        let entry = (
            prop::collection::vec(arb_comment(), 0..2),
            prop::option::of(arb_comment()),
            inner.clone(),
        )
            .boxed();
        prop_oneof![
            (
                prop::collection::vec(("[a-z0-9 ._-]{1,6}", entry.clone()), 0..5),
                prop::collection::vec(arb_comment(), 0..2)
            )
                .prop_map(|(es, foot)| {
                    let mut seen = std::collections::HashSet::new();
                    let es = es
                        .into_iter()
                        .filter(|(k, _)| seen.insert(k.clone()) && k != "sops")
                        .map(|(k, (h, i, v))| {
                            let sc = !matches!(v, Value::Map(_) | Value::Seq(_));
                            (h, i, (k, v), sc)
                        })
                        .collect();
                    let items = with_comments(es, foot)
                        .into_iter()
                        .map(|(c, kv)| match (c, kv) {
                            (Some(c), _) => Item::Comment(c),
                            (None, Some((k, v))) => Item::Entry(k, v),
                            (None, None) => unreachable!(),
                        })
                        .collect();
                    Value::Map(Map(items))
                }),
            (
                prop::collection::vec(entry, 0..5),
                prop::collection::vec(arb_comment(), 0..2)
            )
                .prop_map(|(es, foot)| {
                    let es = es
                        .into_iter()
                        .map(|(h, i, v)| {
                            let sc = !matches!(v, Value::Map(_) | Value::Seq(_));
                            (h, i, v, sc)
                        })
                        .collect();
                    let items = with_comments(es, foot)
                        .into_iter()
                        .map(|(c, v)| match (c, v) {
                            (Some(c), _) => SeqItem::Comment(c),
                            (None, Some(v)) => SeqItem::Value(v),
                            (None, None) => unreachable!(),
                        })
                        .collect();
                    Value::Seq(items)
                }),
        ]
    })
}

/// Normalises what YAML cannot distinguish: integral floats read back as ints, empty
/// containers lose their comments, a map/list item's first head comment in a list may move,
/// line comments come back as full-line comments.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x == y || (x.is_nan() && y.is_nan()),
        (Value::Map(x), Value::Map(y)) => {
            x.0.len() == y.0.len()
                && x.0.iter().zip(&y.0).all(|(p, q)| match (p, q) {
                    (Item::Entry(k1, v1), Item::Entry(k2, v2)) => k1 == k2 && same(v1, v2),
                    (Item::Comment(c1), Item::Comment(c2)) => c1.text == c2.text,
                    _ => false,
                })
        }
        (Value::Seq(x), Value::Seq(y)) => {
            x.len() == y.len()
                && x.iter().zip(y).all(|(p, q)| match (p, q) {
                    (SeqItem::Value(v1), SeqItem::Value(v2)) => same(v1, v2),
                    (SeqItem::Comment(c1), SeqItem::Comment(c2)) => c1.text == c2.text,
                    _ => false,
                })
        }
        _ => a == b,
    }
}

/// Whether `v` is a collection written over lines of its own (not `{}`/`[]`).
fn is_block(v: &Value) -> bool {
    match v {
        Value::Map(m) => m.entries().next().is_some(),
        Value::Seq(s) => s.iter().any(|i| matches!(i, SeqItem::Value(_))),
        _ => false,
    }
}

/// Whether a tree only uses comment placements the format can represent exactly. A
/// comment that ends a collection whose last value is a block collection is read back
/// inside the latter, as go-yaml (sops) reads it (`foot_comments`).
fn representable(v: &Value, in_seq: bool) -> bool {
    match v {
        Value::Map(m) => {
            let has_entries = m.entries().next().is_some();
            if !has_entries && !m.is_empty() {
                return false;
            }
            let last = m.0.iter().rposition(|i| matches!(i, Item::Entry(..)));
            if let Some(i) = last
                && i + 1 < m.0.len()
                && matches!(&m.0[i], Item::Entry(_, v) if is_block(v))
            {
                return false;
            }
            if in_seq && matches!(m.0.first(), Some(Item::Comment(_))) {
                return false;
            }
            m.entries().all(|(_, v)| representable(v, false))
        }
        Value::Seq(s) => {
            let has = s.iter().any(|i| matches!(i, SeqItem::Value(_)));
            if !has && !s.is_empty() {
                return false;
            }
            if in_seq && matches!(s.first(), Some(SeqItem::Comment(_))) {
                return false;
            }
            let last = s.iter().rposition(|i| matches!(i, SeqItem::Value(_)));
            if let Some(i) = last
                && i + 1 < s.len()
                && matches!(&s[i], SeqItem::Value(v) if is_block(v))
            {
                return false;
            }
            s.iter().all(|i| match i {
                SeqItem::Value(v) => representable(v, true),
                SeqItem::Comment(_) => true,
            })
        }
        _ => true,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn prop_load_emit_roundtrip(v in arb_value()) {
        let Value::Map(m) = v else { return Ok(()) };
        prop_assume!(representable(&Value::Map(m.clone()), false));
        let doc = Document::single(m.clone());
        let out = emit_doc(&doc);
        let back = load(&out).map_err(|e| TestCaseError::fail(format!("{e}\n{out}")))?;
        prop_assert_eq!(back.doc.branches.len(), 1, "{}", out);
        prop_assert!(same(&Value::Map(back.doc.branches[0].clone()), &Value::Map(m)), "{}", out);
    }

    #[test]
    fn prop_arbitrary_bytes_never_panic(b in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = YamlStore.load(&b);
    }

    #[test]
    fn prop_yamlish_text_never_panics(s in "[-:#&*!|>'\"{}\\[\\], ?a-c0-9\n\t~.]{0,80}") {
        if let Ok(l) = YamlStore.load(s.as_bytes()) {
            let _ = YamlStore.emit(&l.doc, l.meta.as_ref(), &EmitOptions::default());
        }
    }
}
