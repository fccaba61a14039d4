//! Property tests: load(emit(tree)) == tree for TOML-representable trees; no input
//! makes the loader panic.

use proptest::prelude::*;

use super::tests::COMMENTED;
use super::*;
use crate::format::EmitOptions;
use crate::tree::Comment;
use crate::tree::Item;
use crate::tree::SeqItem;
use crate::tree::Text;
use crate::tree::Timestamp;

fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,3}",
        Just(String::new()),
        Just("a b".to_owned()),
        Just("a.b".to_owned()),
        Just("ü\"'\\".to_owned()),
        Just("x\ty".to_owned()),
    ]
}

fn arb_comment(allow_inline: bool) -> impl Strategy<Value = Comment> {
    ("[ a-zA-Z0-9#=\\[\\]{}\"'é\t]{0,12}", any::<bool>()).prop_map(move |(t, i)| Comment {
        text: Text::from(t),
        inline: allow_inline && i,
    })
}

fn arb_timestamp() -> impl Strategy<Value = Timestamp> {
    (
        0u16..=9999,
        1u8..=12,
        1u8..=28,
        0u8..24,
        0u8..60,
        0u8..60,
        prop_oneof![Just(0u32), 0u32..1_000_000_000],
        -1439i32..1440,
    )
        .prop_map(
            |(year, month, day, hour, minute, second, nanos, off)| Timestamp {
                year,
                month,
                day,
                hour,
                minute,
                second,
                nanos,
                offset_seconds: off * 60,
            },
        )
}

fn arb_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<String>().prop_map(Value::str),
        "[a-z\n\r\"'\\\\ ]{0,8}".prop_map(Value::str),
        any::<i64>().prop_map(Value::Int),
        any::<f64>()
            .prop_filter("NaN is not equal to itself", |f| !f.is_nan())
            .prop_map(Value::Float),
        any::<bool>().prop_map(Value::Bool),
        arb_timestamp().prop_map(Value::Time),
    ]
}

/// Comments before each element (a final one may be inline), and full-line comments
/// after the last element.
fn with_comments<T: std::fmt::Debug + Clone>(
    elems: Vec<T>,
    comments: Vec<(Vec<Comment>, Option<Comment>)>,
    trailing: Vec<Comment>,
    mut wrap_c: impl FnMut(Comment) -> T,
) -> Vec<T> {
    let mut out = Vec::new();
    for (e, (lines, inl)) in elems.into_iter().zip(comments) {
        out.extend(lines.into_iter().map(&mut wrap_c));
        out.extend(inl.into_iter().map(&mut wrap_c));
        out.push(e);
    }
    out.extend(trailing.into_iter().map(&mut wrap_c));
    out
}

fn arb_comments_for(n: usize) -> impl Strategy<Value = Vec<(Vec<Comment>, Option<Comment>)>> {
    prop::collection::vec(
        (
            prop::collection::vec(arb_comment(false), 0..2),
            prop::option::weighted(
                0.2,
                arb_comment(true).prop_map(|mut c| {
                    c.inline = true;
                    c
                }),
            ),
        ),
        n,
    )
}

fn arb_value() -> BoxedStrategy<Value> {
    arb_scalar()
        .prop_recursive(4, 40, 5, |inner| {
            prop_oneof![
                arb_map(inner.clone().boxed()).prop_map(Value::Map),
                prop::collection::vec(inner, 0..4)
                    .prop_flat_map(|vals| {
                        let n = vals.len();
                        (
                            Just(vals),
                            arb_comments_for(n),
                            prop::collection::vec(arb_comment(false), 0..2),
                        )
                    })
                    .prop_map(|(vals, cs, tr)| {
                        Value::Seq(with_comments(
                            vals.into_iter().map(SeqItem::Value).collect(),
                            cs,
                            tr,
                            SeqItem::Comment,
                        ))
                    }),
            ]
        })
        .boxed()
}

/// A map with unique keys, comments before entries (the last one may be inline) and
/// full-line comments after the last entry.
fn arb_map(values: BoxedStrategy<Value>) -> impl Strategy<Value = Map> {
    prop::collection::vec((arb_key(), values), 0..5)
        .prop_map(|kvs| {
            let mut seen = std::collections::HashSet::new();
            kvs.into_iter()
                .filter(|(k, _)| k != "sops" && seen.insert(k.clone()))
                .collect::<Vec<_>>()
        })
        .prop_flat_map(|kvs| {
            let n = kvs.len();
            (
                Just(kvs),
                arb_comments_for(n),
                prop::collection::vec(arb_comment(false), 0..2),
            )
        })
        .prop_map(|(kvs, cs, tr)| {
            Map(with_comments(
                kvs.into_iter().map(|(k, v)| Item::Entry(k, v)).collect(),
                cs,
                tr,
                Item::Comment,
            ))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn toml_proptest_load_of_emit_is_identity(m in arb_map(arb_value())) {
        let doc = Document::single(m);
        let text = TomlStore.emit(&doc, None, &EmitOptions::default()).expect("emit");
        let back = TomlStore.load(&text).unwrap_or_else(|e| {
            panic!("reload failed: {e}\n{}", String::from_utf8_lossy(&text))
        });
        prop_assert!(back.meta.is_none());
        prop_assert_eq!(&back.doc, &doc, "{}", String::from_utf8_lossy(&text));
    }

    #[test]
    fn toml_proptest_arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = TomlStore.load(&bytes);
        let _ = sniff(&bytes);
    }

    #[test]
    fn toml_proptest_mutated_toml_never_panics(
        cut in 0usize..COMMENTED.len(),
        insert in "[\\[\\]{}=#\"'.,\n a-z0-9]{0,6}",
    ) {
        let mut s = COMMENTED.as_bytes().to_vec();
        let at = cut.min(s.len());
        s.splice(at..at, insert.bytes());
        if let Ok(l) = TomlStore.load(&s) {
            // Whatever loads must emit and load back to the same tree.
            let text = TomlStore.emit(&l.doc, l.meta.as_ref(), &EmitOptions::default()).expect("emit");
            let back = TomlStore.load(&text).expect("reload");
            prop_assert_eq!(back.doc, l.doc);
        }
    }
}
