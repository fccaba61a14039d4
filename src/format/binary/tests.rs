//! Tests of the binary store.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::BinaryStore;
use crate::format::EmitOptions;
use crate::format::Store;
use crate::tree::Bytes;
use crate::tree::Document;
use crate::tree::Map;
use crate::tree::Value;

fn plain_round_trip(input: &[u8]) -> Vec<u8> {
    let loaded = BinaryStore.load(input).unwrap();
    assert!(loaded.meta.is_none());
    BinaryStore
        .emit(&loaded.doc, None, &EmitOptions::default())
        .unwrap()
        .to_vec()
}

#[test]
fn binary_plaintext_bytes_survive_exactly() {
    let cases: &[&[u8]] = &[
        b"",
        b"\n",
        b"  text with spaces and no newline  ",
        b"line\r\nline\n\n",
        b"\xff\xfe\x00\x01 invalid utf-8 \xe2\x82",
        "unicode é😀\u{2028}".as_bytes(),
        b"{not json",
        br#"[1, 2, 3]"#,
    ];
    for input in cases {
        assert_eq!(plain_round_trip(input), *input);
    }
}

#[test]
fn binary_load_gives_str_or_bytes() {
    let doc = BinaryStore.load(b"hello\n").unwrap().doc;
    assert_eq!(doc.branches[0].get("data"), Some(&Value::str("hello\n")));
    let doc = BinaryStore.load(b"\xff").unwrap().doc;
    assert_eq!(
        doc.branches[0].get("data"),
        Some(&Value::Bytes(Bytes::new(vec![0xff])))
    );
    let doc = BinaryStore.load(b"").unwrap().doc;
    assert_eq!(doc.branches[0].get("data"), Some(&Value::str("")));
    assert_eq!(doc.branches[0].0.len(), 1);
}

#[test]
fn binary_envelope_of_another_tree_is_read_when_its_metadata_has_a_mac() {
    // What `encrypt --output-type binary` writes for a YAML file (sops reads it back).
    let input = br#"{"a": "ENC[AES256_GCM,data:x,iv:y,tag:z,type:int]", "sops": {"mac": "m", "version": "3.13.2"}}"#;
    let loaded = BinaryStore.load(input).unwrap();
    assert!(loaded.meta.is_some());
    assert!(loaded.doc.branches[0].get("a").is_some());
    assert!(loaded.doc.branches[0].get("data").is_none());
}

#[test]
fn binary_plaintext_json_without_sops_stays_plaintext() {
    for input in [
        &br#"{"data": "x"}"#[..],
        br#"{"sops": {"version": "3.13.2"}}"#,
        br#"{"a": 1, "sops": {}}"#,
        br#"{"data": "x", "sops": "not an object"}"#,
    ] {
        let loaded = BinaryStore.load(input).unwrap();
        assert!(loaded.meta.is_none());
        assert_eq!(
            loaded.doc.branches[0].get("data"),
            Some(&Value::str(std::str::from_utf8(input).unwrap()))
        );
        assert_eq!(plain_round_trip(input), input);
    }
}

#[test]
fn binary_envelope_detection_and_emit() {
    let input = b"{\n\t\"data\": \"ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\",\n\t\"sops\": {\n\t\t\"version\": \"3.13.2\"\n\t}\n}\n";
    let loaded = BinaryStore.load(input).unwrap();
    let meta = loaded.meta.as_ref().unwrap();
    assert_eq!(meta.get("version"), Some(&Value::str("3.13.2")));
    assert_eq!(loaded.doc.branches[0].0.len(), 1);
    let out = BinaryStore
        .emit(&loaded.doc, Some(meta), &EmitOptions::default())
        .unwrap();
    assert_eq!(&out[..], &input[..]);
    // Indent per options.
    let out = BinaryStore
        .emit(&loaded.doc, Some(meta), &EmitOptions { indent: Some(2) })
        .unwrap();
    assert!(out.starts_with(b"{\n  \"data\": "));
    // An encrypted empty file: `"data": ""`.
    let mut m = Map::new();
    m.push("data", Value::str(""));
    let out = BinaryStore
        .emit(&Document::single(m), Some(meta), &EmitOptions::default())
        .unwrap();
    assert!(out.starts_with(b"{\n\t\"data\": \"\",\n\t\"sops\": {"));
}

#[test]
fn binary_emit_plain_errors() {
    let o = EmitOptions::default();
    let mut m = Map::new();
    m.push("other", Value::str("x"));
    let err = BinaryStore
        .emit(&Document::single(m), None, &o)
        .unwrap_err();
    assert!(err.message.contains("no binary data"), "{err}");
    let mut m = Map::new();
    m.push("data", Value::Int(5));
    let err = BinaryStore
        .emit(&Document::single(m), None, &o)
        .unwrap_err();
    assert!(err.message.contains("not a string"), "{err}");
    let two = Document {
        branches: vec![Map::new(), Map::new()],
    };
    assert!(BinaryStore.emit(&two, None, &o).is_err());
    let err = BinaryStore.emit_value(&Value::str("x"), &o).unwrap_err();
    assert!(err.message.contains("--extract"), "{err}");
}

proptest! {
    #[test]
    fn proptest_binary_arbitrary_bytes_round_trip(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let loaded = BinaryStore.load(&bytes).unwrap();
        if loaded.meta.is_none() {
            let out = BinaryStore.emit(&loaded.doc, None, &EmitOptions::default()).unwrap();
            prop_assert_eq!(&out[..], &bytes[..]);
        }
    }

    #[test]
    fn proptest_binary_json_like_input_never_panics(
        s in r#"[ \n{}\[\]",:a-z0-9\\]{0,64}"#,
    ) {
        let input = format!("{{\"data\": \"x\", \"sops\": {{{s}");
        let _ = BinaryStore.load(input.as_bytes());
        let _ = BinaryStore.load(s.as_bytes());
    }
}
