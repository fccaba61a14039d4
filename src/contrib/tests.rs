use std::collections::HashMap;

use super::*;
use crate::format::Format;
use crate::keys::StoredKey;
use crate::tree::Document;
use crate::treepath::Step;

const AGE: &str = "age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw";

fn meta(enc: &str) -> Metadata {
    Metadata {
        key_groups: vec![vec![StoredKey {
            key: crate::keys::key_from_str(KeyKind::Age, AGE).expect("key"),
            enc: enc.to_owned(),
            created_at: None,
        }]],
        shamir_threshold: 0,
        lastmodified: "2026-01-01T00:00:00Z".to_owned(),
        mac: "ENC[mac]".to_owned(),
        mac_only_encrypted: false,
        selector: None,
        version: "3.13.2".to_owned(),
        integrity: None,
        extra: Vec::new(),
    }
}

/// A document `db: {password: ENC…, user: admin}`, `list: [ENC…]`.
fn doc() -> Document {
    let mut db = Map::new();
    db.push(
        "password",
        Value::str("ENC[AES256_GCM,data:AAAA,iv:x,tag:y,type:str]"),
    );
    db.push("user", Value::str("admin"));
    let mut top = Map::new();
    top.push("db", Value::Map(db));
    top.push(
        "list",
        Value::Seq(vec![crate::tree::SeqItem::Value(Value::str("ENC[x]"))]),
    );
    Document::single(top)
}

fn make(m: &Metadata, path: &str, value: &[u8]) -> Result<Pending, Error> {
    let plan = plan(m, &doc(), Format::Yaml, path, value)?;
    create(m, &plan, value, &ctx(false), None)
}

fn steps(path: &str) -> Vec<Step> {
    crate::treepath::parse(path).expect("path")
}

fn ctx(with_identity: bool) -> KeyContext {
    let mut vars = HashMap::new();
    if with_identity {
        let f = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/sops/keys/age-test-keys.txt"
        );
        vars.insert("SOPS_AGE_KEY_FILE".to_owned(), f.to_owned());
    }
    vars.insert("HOME".to_owned(), "/nonexistent".to_owned());
    KeyContext::with_vars(vars)
}

#[test]
fn a_contribution_round_trips_through_the_metadata_field_and_opens() {
    let m = meta("wrapped-data-key");
    let p = make(&m, r#"["db"]["password"]"#, br#""s3cret""#)
        .expect("created with the public key only");
    let raw = to_raw(std::slice::from_ref(&p));
    let back = from_raw(&raw).expect("reads");
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].path, p.path);
    assert_eq!(back[0].value, p.value);
    let plain = open(&back[0], &m, &ctx(true), &[]).expect("opens");
    assert_eq!(plain.as_slice(), br#""s3cret""#);
    // Without an identity it does not open.
    assert_eq!(
        open(&back[0], &m, &ctx(false), &[])
            .expect_err("no key")
            .code,
        exit::COULD_NOT_RETRIEVE_KEY
    );
}

#[test]
fn a_moved_or_rebound_contribution_is_refused() {
    let m = meta("wrapped-data-key");
    let p = make(&m, r#"["a"]"#, b"1").expect("created");
    let mut moved = p.clone();
    moved.path = r#"["b"]"#.to_owned();
    assert_eq!(
        open(&moved, &m, &ctx(true), &[]).expect_err("moved").code,
        exit::CONTRIBUTION
    );
    let other = meta("another-files-key");
    assert_eq!(
        open(&p, &other, &ctx(true), &[])
            .expect_err("other file")
            .code,
        exit::CONTRIBUTION
    );
}

#[test]
fn invalid_values_and_paths_are_refused_before_sealing() {
    let m = meta("k");
    assert!(make(&m, "db", b"1").is_err());
    assert!(make(&m, r#"["db"]"#, b"not json").is_err());
}

#[test]
fn the_base_is_absent_or_a_digest_of_the_stored_text() {
    let d = doc();
    assert_eq!(
        target::base(&d, &steps(r#"["db"]["token"]"#)),
        target::ABSENT
    );
    assert_eq!(target::base(&d, &steps(r#"["x"]["y"]"#)), target::ABSENT);
    let pw = target::base(&d, &steps(r#"["db"]["password"]"#));
    assert!(pw.starts_with("sha256:"), "{pw}");
    let mut changed = d.clone();
    crate::treepath::set(
        &mut changed,
        &steps(r#"["db"]["password"]"#),
        Value::str("ENC[AES256_GCM,data:BBBB,iv:x,tag:y,type:str]"),
    )
    .expect("set");
    assert_ne!(target::base(&changed, &steps(r#"["db"]["password"]"#)), pw);
    // The whole subtree counts for a map.
    assert_ne!(
        target::base(&d, &steps(r#"["db"]"#)),
        target::base(&changed, &steps(r#"["db"]"#))
    );
    // A string and a number with the same text differ.
    let mut a = Map::new();
    a.push("k", Value::str("1"));
    let mut b = Map::new();
    b.push("k", Value::Int(1));
    assert_ne!(
        target::base(&Document::single(a), &steps(r#"["k"]"#)),
        target::base(&Document::single(b), &steps(r#"["k"]"#))
    );
}

#[test]
fn a_contribution_may_add_a_key_or_replace_a_single_value_only() {
    let d = doc();
    let s = |v: &str| crate::lifecycle::parse_set_value(v.as_bytes()).expect("json");
    use target::Landing;
    assert_eq!(
        target::landing(&d, &steps(r#"["db"]["token"]"#), &s(r#"{"a":1}"#)),
        Ok(Landing::New)
    );
    assert_eq!(
        target::landing(&d, &steps(r#"["new"]["deep"]"#), &s("1")),
        Ok(Landing::New)
    );
    assert_eq!(
        target::landing(&d, &steps(r#"["db"]["password"]"#), &s(r#""v""#)),
        Ok(Landing::Replaces)
    );
    assert_eq!(
        target::landing(&d, &steps(r#"["list"][0]"#), &s(r#""v""#)),
        Ok(Landing::Replaces)
    );
    for (path, value, why) in [
        (r#"["db"]["password"]["x"]"#, r#""v""#, "passes through"),
        (r#"["db"]"#, r#"{"a":1}"#, "holds a map"),
        (r#"["db"]"#, r#""v""#, "holds a map"),
        (r#"["list"]"#, r#""v""#, "holds a list"),
        (r#"["db"]["password"]"#, r#"{"a":1}"#, "not with a map"),
        (r#"["list"][1]"#, r#""v""#, "past the end"),
        (r#"["db"][0]"#, r#""v""#, "does not fit"),
    ] {
        let e = target::landing(&d, &steps(path), &s(value)).expect_err(path);
        assert!(e.contains(why), "{path}: {e}");
    }
}

#[test]
fn paths_a_format_cannot_hold_are_refused_before_sealing() {
    let m = meta("k");
    let mut vars_doc = Map::new();
    vars_doc.push("A", Value::str("ENC[x]"));
    let env = Document::single(vars_doc);
    for path in [
        "[\"X\nY\"]",
        "[\"X\nsops_mac\"]",
        "[\"A\"][\"b\"]",
        "[\"A=B\"]",
    ] {
        let e = plan(&m, &env, Format::Dotenv, path, b"\"v\"").expect_err(path);
        assert_eq!(e.code, exit::INVALID_SET_FORMAT, "{path}: {}", e.message);
    }
    assert!(plan(&m, &env, Format::Dotenv, r#"["B"]"#, b"\"v\"").is_ok());
    let deep = "[\"a\"]".repeat(crate::format::MAX_DEPTH + 1);
    let e = plan(&m, &doc(), Format::Yaml, &deep, b"1").expect_err("too deep");
    assert!(e.message.contains("deeper"), "{}", e.message);
}

#[test]
fn a_value_the_selector_leaves_in_clear_is_reported() {
    let m = meta("k");
    let p = plan(
        &m,
        &doc(),
        Format::Yaml,
        r#"["token_unencrypted"]"#,
        b"\"v\"",
    )
    .expect("plan");
    assert!(
        p.clear
            .as_deref()
            .is_some_and(|w| w.contains("unencrypted_suffix")),
        "{p:?}"
    );
    let p = plan(&m, &doc(), Format::Yaml, r#"["x_unencrypted"]["y"]"#, b"1").expect("plan");
    assert!(p.clear.is_some());
    let p = plan(&m, &doc(), Format::Yaml, r#"["token"]"#, br#"{"a":1}"#).expect("plan");
    assert!(p.clear.is_none());
    let mut re = meta("k");
    re.selector = Some(crate::walk::Selector::EncryptedRegex(
        crate::goregex::GoRegex::new("^pass").expect("re"),
    ));
    let p = plan(&re, &doc(), Format::Yaml, r#"["db"]["password"]"#, b"\"v\"").expect("plan");
    assert!(p.clear.is_none());
    let p = plan(&re, &doc(), Format::Yaml, r#"["db"]["token"]"#, b"\"v\"").expect("plan");
    assert!(
        p.clear
            .as_deref()
            .is_some_and(|w| w.contains("encrypted_regex"))
    );
}

#[test]
fn an_entry_of_the_first_format_has_the_v1_aad_and_a_base_changes_it() {
    let m = meta("k");
    let mut p = make(&m, r#"["a"]"#, b"1").expect("created");
    assert!(aad(&p).starts_with("leafseal contribution v2\n"));
    assert!(aad(&p).ends_with("base absent\n"));
    p.base = None;
    assert!(aad(&p).starts_with("leafseal contribution v1\n"));
    // An entry stripped of its base no longer authenticates.
    assert_eq!(
        open(&p, &m, &ctx(true), &[]).expect_err("stripped").code,
        exit::CONTRIBUTION
    );
}
