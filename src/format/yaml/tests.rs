//! Fixture tests: byte-identical round trips, leaves and decryption.

use std::path::Path;

use super::*;
use crate::crypto::DataKey;
use crate::crypto::value::EncValue;
use crate::crypto::value::open;
use crate::tree::Item;
use crate::tree::SeqItem;

fn fixture(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/sops")
        .join(name);
    std::fs::read(p).unwrap()
}

fn load(b: &[u8]) -> Loaded {
    YamlStore.load(b).unwrap()
}

fn emit(l: &Loaded) -> String {
    let out = YamlStore
        .emit(&l.doc, l.meta.as_ref(), &EmitOptions::default())
        .unwrap();
    String::from_utf8(out.to_vec()).unwrap()
}

fn assert_roundtrip(name: &str) {
    let src = fixture(name);
    let l = load(&src);
    let out = emit(&l);
    assert_eq!(out, String::from_utf8(src).unwrap(), "{name}");
}

#[test]
fn roundtrip_byte_identical_format_enc_yaml() {
    assert_roundtrip("yaml/format.enc.yaml");
}

#[test]
fn roundtrip_byte_identical_example_v3_10_2() {
    assert_roundtrip("yaml/example.v3.10.2.yaml");
}

#[test]
fn roundtrip_byte_identical_example_age_v3_7_1() {
    assert_roundtrip("yaml/example.age.v3.7.1.yaml");
}

#[test]
fn roundtrip_decrypted_foo_bar() {
    let src = fixture("expected/format.enc.yaml.decrypted");
    assert_eq!(src, b"foo: bar\n");
    let l = load(&src);
    assert!(l.meta.is_none());
    assert_eq!(emit(&l).as_bytes(), &src[..]);
}

/// Leaves in walk order: (path, value); comments and nulls skipped.
fn leaves(m: &Map, path: &mut Vec<String>, out: &mut Vec<(String, Value)>) {
    for item in &m.0 {
        if let Item::Entry(k, v) = item {
            path.push(k.clone());
            leaf_value(v, path, out);
            path.pop();
        }
    }
}

fn leaf_value(v: &Value, path: &mut Vec<String>, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Map(m) => leaves(m, path, out),
        Value::Seq(s) => {
            for i in s {
                if let SeqItem::Value(v) = i {
                    leaf_value(v, path, out);
                }
            }
        }
        Value::Null => {}
        other => out.push((path.join(":"), other.clone())),
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn key_of(json: &str) -> DataKey {
    let at = json.find("\"data_key_hex\": \"").unwrap() + 17;
    DataKey::from_slice(&hex(&json[at..at + 64])).unwrap()
}

/// Minimal extraction of (path, encrypted, value-as-json-text) from the leaves file.
fn expected_leaves(json: &str) -> Vec<(String, bool, String)> {
    let mut out = Vec::new();
    for part in json.split("\"path\": \"").skip(1) {
        let path = part[..part.find('"').unwrap()].to_owned();
        let enc = part.contains("\"encrypted\": true") && {
            let e = part.find("\"encrypted\": ").unwrap();
            part[e + 13..].starts_with("true")
        };
        let v = part.find("\"value\": ").unwrap() + 9;
        let rest = &part[v..];
        let end = if rest.starts_with('"') {
            let mut i = 1;
            let b = rest.as_bytes();
            while b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i + 1
        } else {
            rest.find(['\n', ',']).unwrap()
        };
        out.push((path, enc, rest[..end].to_owned()));
    }
    out
}

fn json_unescape(s: &str) -> String {
    let s = &s[1..s.len() - 1];
    s.replace("\\n", "\n")
        .replace("\\\"", "\"")
        .replace("\\\\", "\\")
}

fn check_leaves(name: &str) {
    let src = fixture(&format!("yaml/{name}"));
    let json = String::from_utf8(fixture(&format!("expected/{name}.leaves.json"))).unwrap();
    let key = key_of(&json);
    let l = load(&src);
    let mut got = Vec::new();
    for b in &l.doc.branches {
        leaves(b, &mut Vec::new(), &mut got);
    }
    let want = expected_leaves(&json);
    assert_eq!(got.len(), want.len(), "{name}: leaf count");
    for ((path, v), (wpath, enc, wval)) in got.iter().zip(&want) {
        assert_eq!(path, wpath, "{name}");
        let plain: String = if *enc {
            let s = v.as_str().unwrap();
            let ev = EncValue::parse(s).unwrap();
            let aad = format!("{path}:");
            let p = open(&key, &ev, aad.as_bytes()).unwrap();
            String::from_utf8(p.to_vec()).unwrap()
        } else {
            v.as_str().unwrap().to_owned()
        };
        if wval.starts_with('"') {
            assert_eq!(plain, json_unescape(wval), "{name} {path}");
        } else if wval == "true" || wval == "false" {
            assert_eq!(plain.to_ascii_lowercase(), *wval, "{name} {path}");
        } else {
            let a: f64 = plain.parse().unwrap();
            let b: f64 = wval.parse().unwrap();
            assert_eq!(a, b, "{name} {path}");
        }
    }
}

#[test]
fn leaves_match_expected_for_every_yaml_fixture() {
    for name in [
        "format.enc.yaml",
        "example.v3.10.2.yaml",
        "example.age.v3.7.1.yaml",
        "example.mac-mismatch.v3.5.0.yaml",
        "comments.enc.yaml",
        "multiple_keys.yaml",
        "no_mac.yaml",
    ] {
        check_leaves(name);
    }
}

#[test]
fn v2_styled_fixtures_load_with_metadata() {
    for name in [
        "comments.enc.yaml",
        "multiple_keys.yaml",
        "no_mac.yaml",
        "example.mac-mismatch.v3.5.0.yaml",
    ] {
        let l = load(&fixture(&format!("yaml/{name}")));
        let meta = l.meta.unwrap();
        assert!(
            matches!(meta.get("pgp"), Some(Value::Seq(s)) if !s.is_empty()),
            "{name}"
        );
        assert!(meta.get("version").is_some());
    }
}

#[test]
fn comments_enc_yaml_comments_decrypt_to_plain_comments() {
    let json = String::from_utf8(fixture("expected/comments.enc.yaml.leaves.json")).unwrap();
    let key = key_of(&json);
    let enc = load(&fixture("yaml/comments.enc.yaml"));
    let plain = load(&fixture("plain/comments.yaml"));
    let comments = |m: &Map| -> Vec<String> {
        m.0.iter()
            .filter_map(|i| match i {
                Item::Comment(c) => Some(c.text.as_str().to_owned()),
                _ => None,
            })
            .collect()
    };
    let enc_c = comments(&enc.doc.branches[0]);
    let plain_c = comments(&plain.doc.branches[0]);
    assert_eq!(
        plain_c,
        vec![" first comment in file", " this-is-a-comment"]
    );
    assert_eq!(enc_c.len(), 2);
    for (e, p) in enc_c.iter().zip(&plain_c) {
        let ev = EncValue::parse(e).unwrap();
        let out = open(&key, &ev, b":").unwrap();
        assert_eq!(std::str::from_utf8(&out).unwrap(), p);
    }
    // Positions: comment, lorem, comment, dolor.
    let kinds: Vec<bool> = plain.doc.branches[0]
        .0
        .iter()
        .map(|i| matches!(i, Item::Comment(_)))
        .collect();
    assert_eq!(kinds, vec![true, false, true, false]);
}

/// `levels` levels of maps and lists in each shape the readers know (the top-level map is
/// level 1), ending in a scalar.
fn nested(shape: usize, levels: usize) -> String {
    let inner = levels - 1;
    match shape {
        // Block mappings (the fast path's shape).
        0 => {
            let mut s = String::new();
            for i in 0..levels {
                s.push_str(&" ".repeat(i * 2));
                s.push_str(if i + 1 == levels { "k: v\n" } else { "k:\n" });
            }
            s
        }
        1 => format!("k:\n{}v\n", "- ".repeat(inner)),
        2 => format!("k: {}v{}\n", "[".repeat(inner), "]".repeat(inner)),
        3 => format!("k: {}v{}\n", "{a: ".repeat(inner), "}".repeat(inner)),
        _ => format!(
            "k: {}v{}\n",
            "[{a: ".repeat(inner / 2),
            "}]".repeat(inner / 2)
        ),
    }
}

#[test]
fn nesting_limit_is_the_same_in_every_shape_and_both_readers() {
    use crate::format::MAX_DEPTH;
    for shape in 0..5 {
        let ok = nested(shape, MAX_DEPTH);
        assert!(YamlStore.load(ok.as_bytes()).is_ok(), "shape {shape}");
        for levels in [MAX_DEPTH + 2, 45_000] {
            let deep = nested(shape, levels);
            let Err(err) = YamlStore.load(deep.as_bytes()) else {
                panic!("shape {shape}: {levels} levels must be refused");
            };
            assert!(err.message.contains("nesting too deep"), "{shape}: {err}");
            assert!(err.position.is_some(), "{shape}: {err}");
        }
    }
}

#[test]
fn aliases_count_towards_depth_and_the_alias_budget() {
    use crate::format::MAX_DEPTH;
    let inner = MAX_DEPTH - 2;
    // An anchored list of 254 levels under a key: fine; an alias to it one level deeper
    // than the anchor would make 257 levels.
    let anchored = format!("a: &x {}v{}\n", "[".repeat(inner), "]".repeat(inner));
    assert!(YamlStore.load(anchored.as_bytes()).is_ok());
    assert!(
        YamlStore
            .load(format!("{anchored}b: *x\n").as_bytes())
            .is_ok()
    );
    let Err(err) = YamlStore.load(format!("{anchored}b: [[*x]]\n").as_bytes()) else {
        panic!("an alias that nests too deep must be refused");
    };
    assert!(err.message.contains("nesting too deep"), "{err}");
    // Copies are paid from a budget that grows with the input: ten aliases of a small
    // anchor are fine, nine-fold aliases seven levels deep are not.
    assert!(
        YamlStore
            .load(b"a: &a [1, 2]\nb: [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n")
            .is_ok()
    );
    let mut bomb = String::from("a: &a [x,x,x,x,x,x,x,x,x]\n");
    for (prev, name) in ["a", "b", "c", "d", "e", "f"]
        .iter()
        .zip(["b", "c", "d", "e", "f", "g"])
    {
        bomb.push_str(&format!(
            "{name}: &{name} [{}]\n",
            vec![format!("*{prev}"); 9].join(",")
        ));
    }
    let Err(err) = YamlStore.load(bomb.as_bytes()) else {
        panic!("an alias bomb must be refused");
    };
    assert!(
        err.message.contains("alias expansion is too large"),
        "{err}"
    );
}
