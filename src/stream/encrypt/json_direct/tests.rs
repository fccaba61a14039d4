//! Unit tests of the tree-free JSON encrypt: each document planned into parts (several
//! part sizes), every part read directly and as a tree (MAC input, own keys, text with
//! the `ENC[…]` values masked), the integrity record of the direct parts against the one
//! computed on the whole re-read document, and both texts decrypted.

use std::collections::HashSet;

use proptest::prelude::*;

use super::super::Shape;
use super::super::layout::JsonLayout;
use super::super::layout::Layout;
use super::super::test_support::bufs;
use super::super::test_support::joined;
use super::super::test_support::mask;
use super::*;
use crate::crypto::DataKey;
use crate::crypto::document;
use crate::crypto::integrity;
use crate::crypto::value::ValueCipher;
use crate::format::EmitOptions;
use crate::format::Store;
use crate::format::json::JsonStore;

fn decrypted(text: &str, cipher: &ValueCipher, sel: &Selector, mac_only: bool) -> Vec<u8> {
    let loaded = JsonStore
        .load(text.as_bytes())
        .expect("the text reads back");
    let mut d = loaded.doc;
    document::decrypt_part(&mut d, cipher, sel, mac_only).expect("decrypts");
    JsonStore
        .emit(&d, None, &EmitOptions::default())
        .expect("emit")
        .to_vec()
}

/// How a document went.
#[derive(Debug, PartialEq)]
enum Went {
    /// Every part direct, the same as the tree path.
    Direct,
    /// Some part declined (and the tree path reads it or declines too).
    Declined,
    /// The planner or the tree path declines the file.
    NoPlan,
}

/// `src` (a whole plaintext JSON object) cut at `target`, each part checked against the
/// tree path.
fn check_with(
    src: &str,
    sel: &Selector,
    mac_only: bool,
    indent: Option<i64>,
    target: usize,
) -> Went {
    let opts = EmitOptions { indent };
    let Some(l) = JsonLayout::plan(src.as_bytes(), target, &opts) else {
        return Went::NoPlan;
    };
    let key = DataKey::generate().expect("rng");
    let cipher = ValueCipher::new(&key);
    let binding = integrity::Binding {
        selector_field: "",
        selector_pattern: "",
        mac_only_encrypted: mac_only,
        lastmodified: "x",
        mac: "m",
    };
    let mut record = integrity::Streamed::new(&key, mac_only);
    let (mut direct_text, mut tree_text) = (String::new(), String::new());
    let mut mac_direct = Vec::new();
    let mut mac_tree = Vec::new();
    let (mut root_keys, mut sub_keys) = (HashSet::new(), HashSet::new());
    for p in l.parts() {
        let mac = l
            .direct(p, sel, mac_only, None, bufs())
            .expect("no seal error");
        let mut sealer = Sealer::new(&cipher);
        let wrote = l
            .direct(p, sel, mac_only, Some(&mut sealer), bufs())
            .expect("no seal error");
        let tree = l.read(p);
        let (Some(mac), Some(wrote)) = (mac, wrote) else {
            return if tree.is_none() {
                Went::NoPlan
            } else {
                Went::Declined
            };
        };
        let Some((mut doc, keys)) = tree else {
            panic!("the direct path takes a part the tree path refuses: {src:?}");
        };
        assert_eq!(mac.keys, keys, "own keys of {src:?}");
        // The caller's check across parts (`mac_pass`): the file goes to the tree path.
        let seen = if l.is_sub(p) {
            &mut sub_keys
        } else {
            &mut root_keys
        };
        if !keys.into_iter().all(|k| seen.insert(k)) {
            return Went::NoPlan;
        }
        let tree_mac = document::mac_input_part(&mut doc, sel, mac_only).expect("mac");
        mac_direct.extend(joined(&mac.mac));
        mac_tree.extend(joined(&tree_mac));
        document::encrypt_part(&mut doc, &cipher, sel, mac_only).expect("encrypt");
        let (out, skip) = l.write(p, &doc).expect("write");
        tree_text.push_str(std::str::from_utf8(&out[skip..]).expect("utf-8"));
        let dout = wrote.out.expect("text");
        direct_text.push_str(std::str::from_utf8(&dout).expect("utf-8"));
        if let (true, Some(k)) = (p.opens_entry(), &wrote.entry_key) {
            record.open_map_entry(k);
        }
        record.feed(&wrote.tokens);
        if p.closes_entry() {
            record.close_map();
        }
    }
    if l.big_key().is_some_and(|k| root_keys.contains(k)) {
        return Went::NoPlan;
    }
    assert_eq!(mac_direct, mac_tree, "MAC input of {src:?}");
    assert_eq!(mask(&direct_text), mask(&tree_text), "text of {src:?}");
    direct_text.push_str("\n}\n");
    tree_text.push_str("\n}\n");
    let back = JsonStore.load(direct_text.as_bytes()).expect("reads back");
    assert_eq!(
        record.record(&binding),
        integrity::compute(&back.doc, &binding, &key),
        "integrity record of {src:?}"
    );
    assert_eq!(
        decrypted(&direct_text, &cipher, sel, mac_only),
        decrypted(&tree_text, &cipher, sel, mac_only),
        "decryption of {src:?}"
    );
    Went::Direct
}

fn check(src: &str) -> Went {
    let mut went = Vec::new();
    for target in [1, 40, 1 << 20] {
        went.push(check_with(src, &Selector::default(), false, None, target));
    }
    assert!(went.windows(2).all(|w| w[0] == w[1]), "{src:?}: {went:?}");
    went.remove(0)
}

#[test]
fn the_large_corpus_shape_goes_direct() {
    let src = "{\n  \"schemaVersion\": 3,\n  \"generator\": {\n    \"name\": \"gen.py\",\n    \"seed\": 20240611\n  },\n  \"global\": {\n    \"sloAvailability\": 99.95,\n    \"maintenanceMode\": false,\n    \"nothing\": null\n  },\n  \"services\": {\n    \"a-00\": {\n      \"ports\": [\n        56707,\n        61791\n      ],\n      \"env\": [\n        {\n          \"name\": \"T\",\n          \"value\": \"11145\"\n        }\n      ],\n      \"secrets\": {\n        \"db\": \"x(N\\\"ir\\\\&<>\",\n        \"empty\": \"\",\n        \"u\": \"\\u00e9\\ud83d\\ude00 \\u2028\"\n      }\n    },\n    \"a-01\": {\n      \"e\": {},\n      \"l\": [],\n      \"n\": -0.5e3\n    }\n  }\n}\n";
    assert_eq!(check(src), Went::Direct);
}

/// `members` as the root object's, one per line (the planner's layout).
fn root(members: &[&str]) -> String {
    format!("{{\n  {}\n}}\n", members.join(",\n  "))
}

#[test]
fn layouts_agree_with_the_tree_path() {
    let cases = [
        root(&["\"a\":1", "\"b\":\"two\""]),
        root(&["\"a\": [1, [2, [3, {}]], {\"k\": [true, false, null]}]"]),
        root(&["\"a\" : { \"b\" : { \"c\" : 1.0 } }", "\"d\"\t:\r\n1e300"]),
        root(&[
            "\"a\": 1234567890123456789",
            "\"f\": 1e21",
            "\"b\": 0.1",
            "\"c\": -0",
            "\"d\": 1E-7",
            "\"e\": 100.50",
        ]),
        root(&[
            "\"big\": {\n    \"x\": 1,\n    \"y\": {\"z\": \"\\/\\b\\f\\n\\r\\t\"}\n  }",
            "\"after\": 2",
        ]),
        root(&["\"key<&>\": \"v\"", "\"\u{2028}k\": \"\u{2029}\""]),
        root(&["\"a\": \"\"", "\"b\": \"\\u0000\""]),
        "{\n\t\"only\": {\n\t\t\"x\": \"1\",\n\t\t\"y\": [\n\t\t\t2\n\t\t]\n\t}\n}".to_owned(),
    ];
    for c in &cases {
        assert_eq!(check(c), Went::Direct, "{c:?}");
    }
}

#[test]
fn what_the_tree_path_must_judge_is_declined() {
    let cases = [
        // Escapes in keys, lone surrogates, the root's `sops` member, duplicates.
        "\"k\\u0041\": 1",
        "\"a\": \"\\ud800\"",
        "\"a\": \"\\udc00x\"",
        "\"sops\": {\"version\": \"3\"}",
        "\"a\": 1,\n  \"a\": 2",
        "\"a\": {\"b\": 1},\n  \"a\": 2",
        // Not JSON, or numbers the reader does not keep.
        "\"a\": 01",
        "\"a\": 1.",
        "\"a\": [1,]",
        "\"a\": tru",
        "\"a\": \"raw\ttab\"",
        "\"a\": \"bad \\x escape\"",
        "\"a\": 1 2",
        "\"a\": 1e400",
        "\"a\": 123456789012345678901234567890",
    ];
    for c in cases.iter().map(|m| root(&["\"x\": 0", m])) {
        let c = c.as_str();
        for target in [1, 1 << 20] {
            let went = check_with(c, &Selector::default(), false, None, target);
            assert_ne!(went, Went::Direct, "{c:?} at {target}");
        }
    }
    // Deep nesting goes to the tree path (and its limit).
    let deep = root(&[&format!("\"a\": {}1{}", "[".repeat(100), "]".repeat(100))]);
    assert_ne!(check(&deep), Went::Direct);
}

#[test]
fn selectors_mac_only_and_indentation_agree() {
    let src = root(&[
        "\"a_unencrypted\": {\"x\": 1, \"y\": [\"s\", 2.5, \"\"]}",
        "\"e\": null",
        "\"b\": {\n    \"c_unencrypted\": true,\n    \"d\": \"v\",\n    \"x\": \"x\"\n  }",
    ]);
    let src = src.as_str();
    let sels = [
        Selector::default(),
        Selector::from_field("unencrypted_suffix", "_unencrypted")
            .expect("selector")
            .expect("known"),
        Selector::from_field("encrypted_regex", "^(b|d)$")
            .expect("selector")
            .expect("known"),
        Selector::from_field("unencrypted_regex", "^x$")
            .expect("selector")
            .expect("known"),
    ];
    for sel in &sels {
        for mac_only in [false, true] {
            for indent in [None, Some(0), Some(4)] {
                for target in [1, 1 << 20] {
                    assert_eq!(
                        check_with(src, sel, mac_only, indent, target),
                        Went::Direct,
                        "{sel:?} {mac_only} {indent:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn the_modes_take_the_same_numbers() {
    for n in [
        "0",
        "-1",
        "1.5",
        "123456789012345",
        "1.25e2",
        "-0.0",
        "9007199254740993",
    ] {
        let src = root(&[&format!("\"n\": {n}")]);
        assert_eq!(check(&src), Went::Direct, "{n}");
    }
}

/// A generated JSON value at `depth` (strings with escapes, numbers in several forms).
fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("false".to_owned()),
        any::<i64>().prop_map(|i| i.to_string()),
        (-1_000_000i64..1_000_000, 1u32..6).prop_map(|(i, d)| format!("{}.{}", i, d)),
        "[a-zA-Z0-9 <>&é😀\\\\\"\n\t/\u{2028}]{0,12}".prop_map(|s| serde_json_like(&s)),
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec(("[a-z_]{1,6}", inner), 0..4).prop_map(|m| {
                let body: Vec<String> = m
                    .iter()
                    .map(|(k, v)| format!("{}: {v}", serde_json_like(k)))
                    .collect();
                format!("{{{}}}", body.join(", "))
            }),
        ]
    })
}

/// A JSON string literal for `s` (escapes for `"`, `\`, controls; some `\u` escapes).
fn serde_json_like(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\u0009"),
            'é' => out.push_str("\\u00e9"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn generated_documents_agree_with_the_tree_path(
        members in prop::collection::vec(("[a-z]{1,5}", json_value()), 1..8),
        big in prop::collection::vec(("[a-z]{1,5}", json_value()), 1..8),
        tab in any::<bool>(),
        target in prop_oneof![Just(1usize), Just(64), Just(1 << 20)],
    ) {
        let mut src = String::from("{");
        let unit = if tab { "\t" } else { "  " };
        let nl = format!("\n{unit}");
        let mut seen = std::collections::HashSet::new();
        let mut first = true;
        for (k, v) in &members {
            if !seen.insert(k.clone()) {
                continue;
            }
            if !first {
                src.push(',');
            }
            first = false;
            src.push_str(&format!("{nl}\"{k}\": {v}"));
        }
        if seen.insert("zbig".to_owned()) {
            src.push_str(&format!(",{nl}\"zbig\": {{"));
            let mut inner = std::collections::HashSet::new();
            let mut f = true;
            for (k, v) in &big {
                if !inner.insert(k.clone()) {
                    continue;
                }
                if !f {
                    src.push(',');
                }
                f = false;
                src.push_str(&format!("{nl}{unit}\"{k}\": {v}"));
            }
            src.push_str(&format!("{nl}}}"));
        }
        src.push_str("\n}\n");
        let went = check_with(&src, &Selector::default(), false, None, target);
        prop_assert_eq!(went, Went::Direct, "{}", src);
    }
}
