#![allow(clippy::unwrap_used)]
use std::collections::HashMap;

use super::*;
use crate::ops::Format;
use crate::ops::KeyKind;
use crate::ops::OpenOptions;
use crate::ops::SealPlan;

const R1: &str = "age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw";
const R2: &str = "age1tmaae3ld5vpevmsh5yacsauzx8jetg300mpvc4ugp5zr5l6ssq9sla97ep";

fn ctx() -> KeyContext {
    let key = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/sops/keys/age-test-keys.txt"
    );
    KeyContext::with_vars(HashMap::from([(
        "SOPS_AGE_KEY_FILE".to_owned(),
        key.to_owned(),
    )]))
}

fn encrypt(plain: &str, recipients: &[&str]) -> Vec<u8> {
    encrypt_with(plain, recipients, None)
}

fn encrypt_with(plain: &str, recipients: &[&str], selector: Option<(&str, &str)>) -> Vec<u8> {
    // One key per recipient, duplicates kept (a test lists one twice).
    let keys = recipients
        .iter()
        .map(|r| ops::flags::parse_key(KeyKind::Age, r).expect("test setup"))
        .collect();
    let plan = SealPlan {
        groups: vec![keys],
        selector: selector.and_then(|(f, p)| ops::Selector::from_field(f, p).expect("test setup")),
        ..SealPlan::default()
    };
    let doc = ops::read_plaintext(plain.as_bytes(), "s.yaml", Format::Yaml)
        .expect("test setup")
        .doc;
    let (doc, meta) = ops::seal_new(doc, &plan, &ctx(), Format::Yaml).expect("test setup");
    ops::emit_encrypted(Format::Yaml, &doc, &meta, &EmitOptions::default())
        .expect("test setup")
        .to_vec()
}

fn open(file: &[u8]) -> ops::Opened {
    let loaded = ops::read_encrypted(file, "s.yaml", Format::Yaml).expect("test setup");
    ops::open(loaded, &ctx(), &OpenOptions::default()).expect("test setup")
}

/// Changes one top-level string with the same data key (what `set` does).
fn set(file: &[u8], key: &str, value: &str) -> Vec<u8> {
    let mut o = open(file);
    let steps = crate::treepath::parse(&format!("[\"{key}\"]")).expect("test setup");
    let value =
        crate::lifecycle::parse_set_value(format!("\"{value}\"").as_bytes()).expect("test setup");
    crate::treepath::set(&mut o.doc, &steps, value).expect("test setup");
    let map = ops::reseal(
        &mut o.doc,
        &mut o.meta,
        &o.key,
        Some(&o.stash),
        Format::Yaml,
    )
    .expect("test setup");
    ops::emit_encrypted(Format::Yaml, &o.doc, &map, &EmitOptions::default())
        .expect("test setup")
        .to_vec()
}

fn plain(file: &[u8]) -> String {
    let o = open(file);
    String::from_utf8(
        ops::emit_plain(Format::Yaml, &o.doc, None, &EmitOptions::default())
            .expect("test setup")
            .to_vec(),
    )
    .expect("test setup")
}

fn line<'a>(file: &'a [u8], key: &str) -> &'a str {
    std::str::from_utf8(file)
        .expect("test setup")
        .lines()
        .find(|l| l.starts_with(&format!("{key}:")))
        .expect("test setup")
}

fn run(b: &[u8], o: &[u8], t: &[u8]) -> Outcome {
    merge(b, o, t, "s.yaml", &ctx(), &EmitOptions::default(), false)
}

const BASE: &str = "a: one\nb: two\nc: three\n";

#[test]
fn same_key_merge_keeps_both_sides_ciphertexts() {
    let base = encrypt(BASE, &[R1]);
    let ours = set(&base, "a", "ONE");
    let theirs = set(&base, "b", "TWO");
    let Outcome::Merged(m, _) = run(&base, &ours, &theirs) else {
        panic!("expected a merge")
    };
    assert_eq!(plain(&m), "a: ONE\nb: TWO\nc: three\n");
    assert_eq!(line(&m, "a"), line(&ours, "a"));
    assert_eq!(line(&m, "b"), line(&theirs, "b"));
    assert_eq!(line(&m, "c"), line(&ours, "c"));
    assert_eq!(line(&m, "c"), line(&base, "c"));
}

/// The round-18 review's attack: theirs was written by someone without the key, who made
/// a new data key for the listed recipient and for themselves, then removed their own
/// entry. Taking theirs' data key would let them read what ours adds; it is a conflict.
#[test]
fn theirs_new_data_key_is_never_taken() {
    let base = encrypt(BASE, &[R1]);
    let ours = set(&base, "a", "ONE");
    let theirs = encrypt("a: one\nb: TWO\nc: three\n", &[R1]);
    let Outcome::Conflict(r) = run(&base, &ours, &theirs) else {
        panic!("expected a conflict")
    };
    assert!(
        r.reasons.iter().any(|x| x.contains("data key neither")),
        "{r}"
    );
}

/// Recipients theirs added or removed are not taken either (a removed CI key would
/// silently lose access; an added one is applied with updatekeys after the merge).
#[test]
fn theirs_recipient_change_is_a_conflict() {
    let base = encrypt(BASE, &[R1]);
    let ours = set(&base, "a", "ONE");
    let theirs = encrypt("a: one\nb: TWO\nc: three\n", &[R1, R2]);
    let Outcome::Conflict(r) = run(&base, &ours, &theirs) else {
        panic!("expected a conflict")
    };
    assert!(r.reasons.iter().any(|x| x.contains("recipients")), "{r}");
    // Ours' own key change is ours to make: the result is sealed with ours' keys.
    let ours = encrypt("a: ONE\nb: two\nc: three\n", &[R1, R2]);
    let theirs = set(&base, "b", "TWO");
    let Outcome::Merged(m, _) = run(&base, &ours, &theirs) else {
        panic!("expected a merge")
    };
    assert_eq!(plain(&m), "a: ONE\nb: TWO\nc: three\n");
    assert!(String::from_utf8_lossy(&m).contains(R2));
    assert_eq!(line(&m, "a"), line(&ours, "a"));
}

/// The review's second attack: theirs narrowed which values are encrypted, so that a key
/// ours adds would be merged in clear. The settings are ours'; theirs' change conflicts.
#[test]
fn theirs_narrower_encryption_settings_are_never_taken() {
    let plain_text = "a: one\nb: two\nc: three\n";
    let base = encrypt(plain_text, &[R1]);
    let ours = set(&base, "new", "NEW-SECRET");
    let theirs = encrypt_with(plain_text, &[R1], Some(("encrypted_regex", "^(a|b|c)$")));
    let Outcome::Conflict(r) = run(&base, &ours, &theirs) else {
        panic!("expected a conflict")
    };
    assert!(
        r.reasons
            .iter()
            .any(|x| x.contains("which values are encrypted")),
        "{r}"
    );
}

/// Both rotated: theirs' data key is neither the base's nor ours', so theirs may be a fresh
/// encryption by someone without the key, whose values would replace ours' unseen (the
/// round-18 review of a first version that merged this under ours' key).
#[test]
fn both_rotated_is_a_conflict() {
    let base = encrypt(BASE, &[R1]);
    let ours = encrypt("a: ONE\nb: two\nc: three\n", &[R1]);
    let theirs = encrypt("a: one\nb: TWO\nc: three\n", &[R1]);
    let Outcome::Conflict(r) = run(&base, &ours, &theirs) else {
        panic!("expected a conflict")
    };
    assert!(r.reasons.iter().any(|x| x.contains("data key")), "{r}");
}

#[test]
fn different_recipient_changes_conflict() {
    let base = encrypt(BASE, &[R1]);
    let ours = encrypt(BASE, &[R1, R2]);
    let theirs = encrypt("a: x\nb: two\nc: three\n", &[R2, R1, R1]);
    // theirs lists R1 twice: a different key set
    let Outcome::Conflict(r) = run(&base, &ours, &theirs) else {
        panic!("expected a conflict")
    };
    assert!(r.reasons[0].contains("recipients"), "{r}");
}

#[test]
fn value_conflict_reports_the_path_only() {
    let base = encrypt(BASE, &[R1]);
    let ours = set(&base, "a", "secret-ours");
    let theirs = set(&base, "a", "secret-theirs");
    let Outcome::Conflict(r) = run(&base, &ours, &theirs) else {
        panic!("expected a conflict")
    };
    let text = r.to_string();
    assert!(text.contains(r#"["a"]"#), "{text}");
    assert!(!text.contains("secret"), "{text}");
}

#[test]
fn undecryptable_versions_are_a_conflict() {
    let base = encrypt(BASE, &[R1]);
    let ours = set(&base, "a", "ONE");
    let theirs = set(&base, "b", "TWO");
    let none = KeyContext::with_vars(HashMap::new());
    let Outcome::Conflict(r) = merge(
        &base,
        &ours,
        &theirs,
        "s.yaml",
        &none,
        &EmitOptions::default(),
        false,
    ) else {
        panic!("expected a conflict")
    };
    assert_eq!(r.reasons.len(), 2, "{r}");
    assert!(r.reasons[0].starts_with("ours cannot be decrypted"));
    // one side in clear, the other encrypted
    let Outcome::Conflict(_) = run(&base, b"a: 1\n", &theirs) else {
        panic!("expected a conflict")
    };
}

#[test]
fn plaintext_files_go_to_the_text_merge() {
    assert!(matches!(
        run(b"a: 1\n", b"a: 2\n", b"a: 1\nb: 2\n"),
        Outcome::NotEncrypted
    ));
    assert!(matches!(run(b"", b"{{{", b"]]"), Outcome::NotEncrypted));
}

#[test]
fn add_add_with_an_empty_base() {
    // Two files encrypted apart have two data keys: theirs' is not taken.
    let ours = encrypt("a: 1\n", &[R1]);
    let theirs = encrypt("a: 1\nb: 2\n", &[R1]);
    let Outcome::Conflict(r) = run(b"", &ours, &theirs) else {
        panic!("expected a conflict")
    };
    assert!(r.reasons.iter().any(|x| x.contains("data key")), "{r}");
    // The same file added on both sides, then changed on one, merges.
    let theirs = set(&ours, "b", "2");
    let Outcome::Merged(m, _) = run(b"", &ours, &theirs) else {
        panic!("expected a merge")
    };
    assert_eq!(plain(&m), "a: 1\nb: \"2\"\n");
}
