//! The reading, writing and flag operations the faces use: their refusals and exit codes.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::error::Setting;
use crate::error::exit;
use crate::ops::flags;

const R1: &str = "age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw";
const R2: &str = "age1tmaae3ld5vpevmsh5yacsauzx8jetg300mpvc4ugp5zr5l6ssq9sla97ep";

#[test]
fn plaintext_refusals_have_sops_exit_codes() {
    let code = |bytes: &[u8], f: Format| read_plaintext(bytes, "x", f).unwrap_err().code;
    assert_eq!(code(b"", Format::Yaml), exit::NO_DOCUMENT);
    assert_eq!(
        code(b"# only a comment\n", Format::Yaml),
        exit::COULD_NOT_READ_INPUT
    );
    assert_eq!(code(b"{not json", Format::Json), exit::COULD_NOT_READ_INPUT);
    assert_eq!(code(b"1: one\n", Format::Yaml), exit::ERROR_ENCRYPTING_TREE);
    let encrypted = b"a: ENC[x]\nsops:\n    mac: m\n    version: 3.11.0\n";
    assert_eq!(code(encrypted, Format::Yaml), exit::FILE_ALREADY_ENCRYPTED);
    assert!(read_plaintext(b"a: 1\n", "x", Format::Yaml).is_ok());
}

#[test]
fn encrypted_reads_refuse_plain_files_and_conflict_markers() {
    let e = read_encrypted(b"a: 1\n", "plain.yaml", Format::Yaml).unwrap_err();
    assert_eq!(e.code, exit::GENERIC);
    assert!(
        e.message.contains("plain.yaml is not encrypted"),
        "{}",
        e.message
    );
    let conflicted = b"a: 1\n<<<<<<< ours\nb: 2\n=======\nb: 3\n>>>>>>> theirs\n";
    let e = read_encrypted(conflicted, "c.yaml", Format::Yaml).unwrap_err();
    assert_eq!(e.code, exit::COULD_NOT_READ_INPUT);
    assert!(matches!(classify(b"a: 1\n", Format::Yaml), Kind::Plain(_)));
    assert!(matches!(classify(b"{", Format::Json), Kind::Unparseable(_)));
    let encrypted = b"a: ENC[x]\nsops:\n    mac: m\n    version: 3.11.0\n";
    assert!(matches!(
        classify(encrypted, Format::Yaml),
        Kind::Encrypted(_)
    ));
    let sops_written = include_bytes!("../../fixtures/sops/yaml/format.enc.yaml");
    assert!(is_encrypted(sops_written, "e.yaml", Format::Yaml).unwrap());
    // A `sops` block that is not valid metadata is not a complete encrypted file.
    assert!(!is_encrypted(encrypted, "e.yaml", Format::Yaml).unwrap());
    assert!(!is_encrypted(b"a: 1\n", "p.yaml", Format::Yaml).unwrap());
}

#[test]
fn stored_toml_is_toml_only_with_a_sops_table() {
    assert_eq!(format_of_stored("a.toml", b"x = 1\n"), Format::Binary);
    assert_eq!(
        format_of_stored("a.toml", b"x = 1\n[sops]\nversion = \"3.11.0\"\n"),
        Format::Toml
    );
    assert_eq!(format_for("-", None), Format::Binary);
    assert_eq!(format_of_stored("a.yaml", b""), Format::Yaml);
}

#[test]
fn extract_map_names_what_it_found() {
    let doc = read_plaintext(b"db:\n    user: u\nport: 5\n", "x", Format::Yaml)
        .unwrap()
        .doc;
    assert!(matches!(
        extract_map(&doc, r#"["db"]"#).unwrap(),
        Extracted::Map(_)
    ));
    assert!(matches!(
        extract_map(&doc, r#"["port"]"#).unwrap(),
        Extracted::Other("int")
    ));
    assert!(extract_map(&doc, r#"["nope"]"#).is_err());
}

#[test]
fn key_flags_keep_order_drop_duplicates_and_check_kms_contexts() {
    let group = flags::keys_from_flags(&flags::KeyLists {
        lists: vec![(KeyKind::Age, &format!("{R2}, {R1},{R2}"))],
        ..Default::default()
    })
    .unwrap();
    let ids: Vec<String> = group.iter().map(|k| k.id()).collect();
    assert_eq!(ids, [R2, R1]);
    let bad = flags::keys_from_flags(&flags::KeyLists {
        lists: vec![(KeyKind::Age, "age1notakey")],
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(bad.code, exit::GENERIC);
    let arn = "arn:aws:kms:us-east-1:123456789012:key/0f9e8d7c-aaaa-bbbb-cccc-1234567890ab";
    let ctx = flags::keys_from_flags(&flags::KeyLists {
        lists: vec![(KeyKind::Kms, arn)],
        encryption_context: Some("no-colon"),
        aws_profile: None,
    })
    .unwrap_err();
    assert_eq!(ctx.code, exit::INVALID_KMS_CONTEXT);
    assert_eq!(ctx.setting, Some(Setting::KmsEncryptionContext));
    assert!(
        ctx.message
            .starts_with("invalid AWS KMS encryption context: "),
        "{}",
        ctx.message
    );
    assert!(!ctx.message.contains("--"), "{}", ctx.message);
    // Without an AWS KMS key the context is still read, by `encrypt` (as sops's `encrypt`
    // reads it) and by `groups add`.
    let lists = flags::KeyLists {
        lists: vec![(KeyKind::Age, R1)],
        encryption_context: Some("no-colon"),
        aws_profile: None,
    };
    assert_eq!(
        flags::keys_from_flags(&lists).unwrap_err().code,
        exit::INVALID_KMS_CONTEXT
    );
    assert_eq!(
        flags::group_from_flags(&lists).unwrap_err().code,
        exit::INVALID_KMS_CONTEXT
    );
}

#[test]
fn rotate_flags_become_key_changes() {
    let c = flags::changes_from_flags(&[(KeyKind::Age, R1)], &[(KeyKind::Age, R2)], None).unwrap();
    assert_eq!(c.add.len(), 1);
    assert_eq!(c.remove, [(KeyKind::Age, R2.to_owned())]);
}

#[test]
fn one_selector_flag_at_most() {
    assert!(
        flags::selector_from_flags(&[("encrypted_regex", None)])
            .unwrap()
            .is_none()
    );
    let s = flags::selector_from_flags(&[("unencrypted_suffix", Some("_plain"))]).unwrap();
    assert!(s.is_some());
    let both = flags::selector_from_flags(&[
        ("unencrypted_suffix", Some("_plain")),
        ("encrypted_regex", Some("^x")),
    ])
    .unwrap_err();
    assert_eq!(both.code, exit::CONFLICTING_PARAMETERS);
    assert_eq!(both.setting, Some(Setting::Selectors));
    assert!(!both.message.contains("--"), "{}", both.message);
    let bad = flags::selector_from_flags(&[("encrypted_regex", Some("("))]).unwrap_err();
    assert_eq!(bad.setting, Some(Setting::Selector("encrypted_regex")));
    assert!(
        bad.message.starts_with("invalid encrypted_regex: "),
        "{}",
        bad.message
    );
}

/// The AWS KMS errors name the setting without a flag and record it for the command line.
#[cfg(feature = "aws")]
#[test]
fn kms_key_errors_name_their_setting() {
    let kms = flags::keys_from_flags(&flags::KeyLists {
        lists: vec![(KeyKind::Kms, "not-an-arn")],
        encryption_context: Some("a:b"),
        aws_profile: None,
    })
    .unwrap_err();
    assert_eq!(kms.setting, Some(Setting::KmsKeys));
    assert!(
        kms.message.starts_with("invalid AWS KMS key: "),
        "{}",
        kms.message
    );
    let added =
        flags::changes_from_flags(&[(KeyKind::Kms, "not-an-arn")], &[], Some("a:b")).unwrap_err();
    assert_eq!(added.setting, Some(Setting::AddedKmsKeys));
    assert!(
        added.message.starts_with("invalid added AWS KMS key: "),
        "{}",
        added.message
    );
}
