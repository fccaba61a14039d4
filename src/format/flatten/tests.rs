#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::*;
use crate::tree::Timestamp;

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn map(items: Vec<(&str, Value)>) -> Value {
    let mut m = Map::new();
    for (k, v) in items {
        m.push(k, v);
    }
    Value::Map(m)
}

fn seq(items: Vec<Value>) -> Value {
    Value::Seq(items.into_iter().map(SeqItem::Value).collect())
}

fn s(v: &str) -> Value {
    Value::str(v)
}

fn top(v: Value) -> Map {
    match v {
        Value::Map(m) => m,
        _ => panic!("not a map"),
    }
}

#[test]
fn flatten_order_and_leaf_rendering() {
    let meta = top(map(vec![
        (
            "kms",
            seq(vec![map(vec![
                ("arn", s("arn:aws:kms:x")),
                ("aws_profile", s("")),
                (
                    "context",
                    map(vec![("Environment", s("production")), ("Role", s("web"))]),
                ),
            ])]),
        ),
        ("lastmodified", s("2026-05-22T20:15:29Z")),
        ("mac_only_encrypted", Value::Bool(true)),
        (
            "pgp",
            seq(vec![map(vec![
                ("created_at", s("2026-05-22T20:15:26Z")),
                (
                    "enc",
                    s("-----BEGIN PGP MESSAGE-----\n\nabc\n-----END PGP MESSAGE-----"),
                ),
                ("fp", s("FBC7")),
            ])]),
        ),
        ("age", seq(vec![])),
        ("azure_kv", Value::Null),
        ("shamir_threshold", Value::Int(2)),
        ("ratio", Value::Float(5.0)),
        ("version", s("3.13.2")),
    ]));
    let flat = flatten(&meta).unwrap();
    assert_eq!(
        flat,
        pairs(&[
            ("kms__list_0__map_arn", "arn:aws:kms:x"),
            ("kms__list_0__map_aws_profile", ""),
            ("kms__list_0__map_context__map_Environment", "production"),
            ("kms__list_0__map_context__map_Role", "web"),
            ("lastmodified", "2026-05-22T20:15:29Z"),
            ("mac_only_encrypted", "true"),
            ("pgp__list_0__map_created_at", "2026-05-22T20:15:26Z"),
            (
                "pgp__list_0__map_enc",
                "-----BEGIN PGP MESSAGE-----\n\nabc\n-----END PGP MESSAGE-----"
            ),
            ("pgp__list_0__map_fp", "FBC7"),
            ("shamir_threshold", "2"),
            ("ratio", "5.0"),
            ("version", "3.13.2"),
        ])
    );
}

#[test]
fn flatten_nested_key_groups() {
    let group = |fp: &str| {
        map(vec![
            ("age", seq(vec![])),
            ("hc_vault", seq(vec![])),
            (
                "pgp",
                seq(vec![map(vec![("created_at", s("t")), ("fp", s(fp))])]),
            ),
        ])
    };
    let meta = top(map(vec![
        ("key_groups", seq(vec![group("A"), group("B")])),
        ("shamir_threshold", Value::Int(2)),
    ]));
    let flat = flatten(&meta).unwrap();
    assert_eq!(
        flat,
        pairs(&[
            ("key_groups__list_0__map_pgp__list_0__map_created_at", "t"),
            ("key_groups__list_0__map_pgp__list_0__map_fp", "A"),
            ("key_groups__list_1__map_pgp__list_0__map_created_at", "t"),
            ("key_groups__list_1__map_pgp__list_0__map_fp", "B"),
            ("shamir_threshold", "2"),
        ])
    );
    // And back: empty lists are gone, everything else is strings.
    let back = unflatten(flat).unwrap();
    let groups = match back.get("key_groups") {
        Some(Value::Seq(g)) => g.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(groups.len(), 2);
    assert_eq!(
        groups[1],
        SeqItem::Value(map(vec![(
            "pgp",
            seq(vec![map(vec![("created_at", s("t")), ("fp", s("B"))])])
        )]))
    );
    assert_eq!(back.get("shamir_threshold"), Some(&Value::Int(2)));
}

#[test]
fn flatten_skips_comments_and_detects_collisions() {
    let mut m = Map::new();
    m.push_comment(crate::tree::Comment::line("x"));
    m.push(
        "a",
        Value::Seq(vec![
            SeqItem::Comment(crate::tree::Comment::line("c")),
            SeqItem::Value(s("first")),
            SeqItem::Value(s("second")),
        ]),
    );
    assert_eq!(
        flatten(&m).unwrap(),
        pairs(&[("a__list_0", "first"), ("a__list_1", "second")])
    );
    let clash = top(map(vec![
        ("a__map_b", s("1")),
        ("a", map(vec![("b", s("2"))])),
    ]));
    assert!(flatten(&clash).is_err());
}

#[test]
fn flatten_renders_time() {
    let t = Timestamp {
        year: 2024,
        month: 1,
        day: 2,
        hour: 3,
        minute: 4,
        second: 5,
        nanos: 600,
        offset_seconds: 0,
    };
    let m = top(map(vec![("t", Value::Time(t))]));
    assert_eq!(
        flatten(&m).unwrap(),
        pairs(&[("t", "2024-01-02T03:04:05Z")])
    );
}

#[test]
fn unflatten_sorts_list_indices_numerically() {
    // Pre-3.13 files: keys sorted as strings, so __list_10 comes before __list_2.
    let mut items = Vec::new();
    let mut keys: Vec<String> = (0..12).map(|i| format!("pgp__list_{i}__map_fp")).collect();
    keys.sort();
    assert_eq!(keys[1], "pgp__list_10__map_fp");
    assert_eq!(keys[3], "pgp__list_1__map_fp");
    for k in &keys {
        let idx = k
            .trim_start_matches("pgp__list_")
            .trim_end_matches("__map_fp");
        items.push((k.clone(), format!("FP{idx}")));
    }
    items.push(("version".to_owned(), "3.2.0".to_owned()));
    let m = unflatten(items).unwrap();
    let Some(Value::Seq(list)) = m.get("pgp") else {
        panic!("no list")
    };
    assert_eq!(list.len(), 12);
    for (i, item) in list.iter().enumerate() {
        assert_eq!(
            *item,
            SeqItem::Value(map(vec![("fp", s(&format!("FP{i}")))]))
        );
    }
}

#[test]
fn unflatten_random_order_and_kms_context() {
    let items = pairs(&[
        ("kms__list_0__map_context__map_Environment", "production"),
        ("version", "3.7.1"),
        ("kms__list_1__map_arn", "arn2"),
        ("kms__list_0__map_arn", "arn1"),
        ("kms__list_0__map_context__map_Team", "ops"),
        ("kms__list_1__map_aws_profile", ""),
    ]);
    let m = unflatten(items).unwrap();
    let expected = top(map(vec![
        (
            "kms",
            seq(vec![
                map(vec![
                    (
                        "context",
                        map(vec![("Environment", s("production")), ("Team", s("ops"))]),
                    ),
                    ("arn", s("arn1")),
                ]),
                map(vec![("arn", s("arn2")), ("aws_profile", s(""))]),
            ]),
        ),
        ("version", s("3.7.1")),
    ]));
    assert_eq!(m, expected);
}

#[test]
fn unflatten_conflicts_are_errors() {
    let cases: &[&[(&str, &str)]] = &[
        // leaf and container
        &[("a", "1"), ("a__map_b", "2")],
        &[("a__map_b", "2"), ("a", "1")],
        &[("a__list_0", "x"), ("a", "1")],
        // map and list
        &[("a__map_b", "1"), ("a__list_0", "2")],
        // gaps / not from 0
        &[("a__list_0", "x"), ("a__list_2", "y")],
        &[("a__list_1", "x")],
        // the same key twice
        &[("a", "1"), ("a", "2")],
        // bad indices
        &[("a__list_x", "1")],
        &[("a__list_", "1")],
        &[("a__list_-1", "1")],
        &[("a__list_99999999999999999999999999", "1")],
    ];
    for case in cases {
        let err = unflatten(pairs(case)).expect_err(&format!("{case:?} must fail"));
        assert!(!err.message.contains("x") || !err.message.contains("a__"));
    }
}

#[test]
fn unflatten_edge_names() {
    // Three underscores: the separator starts at the second one (sops's left-to-right scan).
    let m = unflatten(pairs(&[("a___map_b", "1")])).unwrap();
    assert_eq!(m, top(map(vec![("a_", map(vec![("b", s("1"))]))])));
    assert!(unflatten(vec![]).unwrap().is_empty());
    let m = unflatten(pairs(&[("", "v")])).unwrap();
    assert_eq!(m.get(""), Some(&s("v")));
    let deep = "x__map_a".repeat(100);
    assert!(unflatten(vec![(deep, "v".to_owned())]).is_err());
}

#[test]
fn float_rendering_like_go() {
    let cases: &[(f64, &str, &str)] = &[
        (5.0, "5", "5.0"),
        (123456.0, "123456", "123456.0"),
        (1e6, "1e+06", "1E+06"),
        (1234567.0, "1.234567e+06", "1.234567E+06"),
        (25.4, "25.4", "25.4"),
        (0.1, "0.1", "0.1"),
        (0.0001, "0.0001", "0.0001"),
        (0.00001, "1e-05", "1E-05"),
        (123456.7, "123456.7", "123456.7"),
        (1234.5678, "1234.5678", "1234.5678"),
        (1e21, "1e+21", "1E+21"),
        (1.5e300, "1.5e+300", "1.5E+300"),
        (-2.5e-7, "-2.5e-07", "-2.5E-07"),
        (0.0, "0", "0.0"),
        (-0.0, "-0", "-0.0"),
        (-42.0, "-42", "-42.0"),
        (f64::NAN, "NaN", "NaN"),
        (f64::INFINITY, "+Inf", "+Inf"),
        (f64::NEG_INFINITY, "-Inf", "-Inf"),
    ];
    for (f, g, rendered) in cases {
        assert_eq!(go_format_float_g(*f, false), *g, "%g of {f}");
        assert_eq!(render_float(*f), *rendered, "ValToString of {f}");
    }
}

fn flat_key() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            "[a-z_]{0,6}".prop_map(|s| s),
            Just("__map_".to_owned()),
            Just("__list_".to_owned()),
            (0u8..4).prop_map(|i| format!("__list_{i}")),
        ],
        0..6,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #[test]
    fn unflatten_never_panics(items in prop::collection::vec((flat_key(), ".{0,4}"), 0..12)) {
        let _ = unflatten(items);
    }

    #[test]
    fn unflatten_arbitrary_strings_never_panic(items in prop::collection::vec((".{0,40}", ".{0,4}"), 0..8)) {
        let _ = unflatten(items);
    }

    #[test]
    fn flatten_inverts_unflatten(items in prop::collection::vec((flat_key(), "[a-z\n]{0,4}"), 0..12)) {
        if let Ok(m) = unflatten(items) {
            let flat = flatten(&m).unwrap();
            prop_assert_eq!(unflatten(flat).unwrap(), m);
        }
    }
}
