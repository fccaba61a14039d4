//! Tests against real files written by sops (`fixtures/sops/`).
#![allow(clippy::unwrap_used)]

use crate::crypto::DataKey;
use crate::crypto::value::EncValue;
use crate::crypto::value::open;
use crate::crypto::value::value_from_plaintext;
use crate::format::EmitOptions;
use crate::format::Store;
use crate::format::binary::BinaryStore;
use crate::format::json::JsonStore;
use crate::tree::Document;
use crate::tree::Item;
use crate::tree::Map;
use crate::tree::SeqItem;
use crate::tree::Value;

fn fixture(rel: &str) -> Vec<u8> {
    let path = format!("{}/fixtures/sops/{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Leaves in walk order: (path keys, value), skipping nulls, comments and containers.
pub(crate) fn leaves(doc: &Document) -> Vec<(Vec<String>, Value)> {
    fn walk_map(m: &Map, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, Value)>) {
        for item in &m.0 {
            if let Item::Entry(k, v) = item {
                path.push(k.clone());
                walk_value(v, path, out);
                path.pop();
            }
        }
    }
    fn walk_value(v: &Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, Value)>) {
        match v {
            Value::Map(m) => walk_map(m, path, out),
            Value::Seq(items) => {
                for i in items {
                    if let SeqItem::Value(v) = i {
                        walk_value(v, path, out);
                    }
                }
            }
            Value::Null => {}
            other => out.push((path.clone(), other.clone())),
        }
    }
    let mut out = Vec::new();
    for b in &doc.branches {
        walk_map(b, &mut Vec::new(), &mut out);
    }
    out
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("test setup"))
        .collect()
}

/// Compares a tree's leaves with `expected/<name>.leaves.json`, decrypting every
/// encrypted leaf with the data key listed there and the path AAD.
fn check_leaves(store: &dyn Store, rel: &str, name: &str) {
    let loaded = store.load(&fixture(rel)).expect("test setup");
    assert!(loaded.meta.is_some(), "{rel}: metadata expected");
    let exp = JsonStore::load_json(&fixture(&format!("expected/{name}.leaves.json")))
        .expect("test setup")
        .doc
        .branches
        .remove(0);
    let key_hex = exp
        .get("data_key_hex")
        .expect("test setup")
        .as_str()
        .expect("test setup");
    let key = DataKey::from_slice(&unhex(key_hex)).expect("test setup");
    let Some(Value::Seq(expected)) = exp.get("leaves_in_mac_order") else {
        panic!("no leaves list");
    };
    let got = leaves(&loaded.doc);
    assert_eq!(got.len(), expected.len(), "{rel}: number of leaves");
    for ((path, value), e) in got.iter().zip(expected) {
        let SeqItem::Value(Value::Map(e)) = e else {
            panic!("bad expected entry")
        };
        let joined = path.join(":");
        assert_eq!(
            joined,
            e.get("path")
                .expect("test setup")
                .as_str()
                .expect("test setup"),
            "{rel}"
        );
        let aad = format!("{joined}:");
        assert_eq!(
            aad,
            e.get("aad")
                .expect("test setup")
                .as_str()
                .expect("test setup")
        );
        let typ = e
            .get("type")
            .expect("test setup")
            .as_str()
            .expect("test setup");
        let want = e.get("value").expect("test setup");
        // Empty strings are listed as encrypted but are stored as "" (spec 3.6).
        let is_empty = value.as_str() == Some("");
        let plain = if e.get("encrypted") == Some(&Value::Bool(true)) && !is_empty {
            let Value::Str(s) = value else {
                panic!("{rel} {joined}: encrypted leaf is not a string")
            };
            let enc = EncValue::parse(s).expect("test setup");
            assert_eq!(enc.typ.name(), typ, "{rel} {joined}: type");
            let bytes = open(&key, &enc, aad.as_bytes()).expect("test setup");
            if let Some(Value::Str(mac)) = e.get("mac_bytes") {
                assert_eq!(&bytes[..], mac.as_bytes(), "{rel} {joined}: mac bytes");
            }
            value_from_plaintext(&bytes, enc.typ).expect("test setup")
        } else {
            value.clone()
        };
        match (typ, &plain, want) {
            ("float", Value::Float(f), Value::Float(w)) => assert_eq!(f, w, "{rel} {joined}"),
            ("float", Value::Float(f), Value::Int(w)) => {
                assert_eq!(*f, *w as f64, "{rel} {joined}")
            }
            _ => assert_eq!(&plain, want, "{rel} {joined}"),
        }
    }
}

#[test]
fn fixture_leaves_format_enc_json() {
    check_leaves(&JsonStore, "json/format.enc.json", "format.enc.json");
}

#[test]
fn fixture_leaves_example_v3_5_0_json() {
    check_leaves(
        &JsonStore,
        "json/example.v3.5.0.json",
        "example.v3.5.0.json",
    );
}

#[test]
fn fixture_leaves_example_age_v3_7_1_json() {
    check_leaves(
        &JsonStore,
        "json/example.age.v3.7.1.json",
        "example.age.v3.7.1.json",
    );
}

#[test]
fn fixture_leaves_secret_enc_v3_5_0_json() {
    check_leaves(
        &JsonStore,
        "json/secret.enc.v3.5.0.json",
        "secret.enc.v3.5.0.json",
    );
}

#[test]
fn fixture_leaves_example_legacy_v1_6_json() {
    check_leaves(
        &JsonStore,
        "json/example.legacy.v1.6.json",
        "example.legacy.v1.6.json",
    );
}

#[test]
fn fixture_leaves_binary_example_v3_5_0_txt() {
    check_leaves(
        &BinaryStore,
        "binary/example.v3.5.0.txt",
        "example.v3.5.0.txt",
    );
}

/// load → emit(doc, meta) with the default options.
fn round_trip(store: &dyn Store, rel: &str) -> (Vec<u8>, Vec<u8>) {
    let input = fixture(rel);
    let loaded = store.load(&input).expect("test setup");
    let out = store
        .emit(&loaded.doc, loaded.meta.as_ref(), &EmitOptions::default())
        .expect("test setup");
    (input, out.to_vec())
}

#[test]
fn fixture_round_trip_format_enc_json_byte_identical() {
    let (input, out) = round_trip(&JsonStore, "json/format.enc.json");
    assert_eq!(
        String::from_utf8(out).expect("test setup"),
        String::from_utf8(input).expect("test setup")
    );
}

/// These files, written by older sops (3.5.0, 3.7.1, and the Python sops 1.6), have no
/// final newline; sops 3.13 — and leafseal — always write one. Everything else is
/// byte-identical, including the metadata's field order and its `null` key lists.
#[test]
fn fixture_round_trip_older_files_identical_but_final_newline() {
    for rel in [
        "json/example.age.v3.7.1.json",
        "json/example.v3.5.0.json",
        "json/secret.enc.v3.5.0.json",
        "json/example.legacy.v1.6.json",
    ] {
        let (input, out) = round_trip(&JsonStore, rel);
        assert_eq!(input.last(), Some(&b'}'), "{rel}");
        let mut expected = input.clone();
        expected.push(b'\n');
        assert_eq!(
            String::from_utf8(out).expect("test setup"),
            String::from_utf8(expected).expect("test setup"),
            "{rel}"
        );
    }
    let (input, out) = round_trip(&BinaryStore, "binary/example.v3.5.0.txt");
    let mut expected = input.clone();
    expected.push(b'\n');
    assert_eq!(out, expected);
}

#[test]
fn fixture_decrypted_output_format_enc_json() {
    let mut map = Map::new();
    map.push("foo", Value::str("bar"));
    let out = JsonStore
        .emit(&Document::single(map), None, &EmitOptions::default())
        .expect("test setup");
    assert_eq!(&out[..], b"{\n\t\"foo\": \"bar\"\n}\n");
    assert_eq!(&out[..], &fixture("expected/format.enc.json.decrypted")[..]);
}

#[test]
fn fixture_metadata_keeps_order_and_nulls() {
    let loaded = JsonStore
        .load(&fixture("json/example.v3.5.0.json"))
        .expect("test setup");
    let meta = loaded.meta.expect("test setup");
    let keys: Vec<&str> = meta.entries().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [
            "kms",
            "gcp_kms",
            "azure_kv",
            "lastmodified",
            "mac",
            "pgp",
            "unencrypted_suffix",
            "version"
        ]
    );
    assert_eq!(meta.get("kms"), Some(&Value::Null));
    // The data tree no longer has the metadata.
    assert!(loaded.doc.branches[0].get("sops").is_none());
}
