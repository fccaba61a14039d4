use std::collections::HashMap;

use super::*;
use crate::keys::StoredKey;

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
    let p = create(
        &m,
        r#"["db"]["password"]"#,
        br#""s3cret""#,
        &ctx(false),
        None,
    )
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
    let p = create(&m, r#"["a"]"#, b"1", &ctx(false), None).expect("created");
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
    assert!(create(&m, "db", b"1", &ctx(false), None).is_err());
    assert!(create(&m, r#"["db"]"#, b"not json", &ctx(false), None).is_err());
}
