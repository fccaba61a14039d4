//! The library API (`leafseal::api`): the examples in examples/ run here as they are
//! written (their source is compiled into this test), and each read-modify-write keeps
//! the command line's guarantees: minimal diffs, the MAC and integrity record (checked
//! by the real sops 3.11 and by leafseal's own reader), atomic writes, typed errors.

#[path = "../examples/age_roundtrip.rs"]
mod age_roundtrip;
#[path = "../examples/read_into_struct.rs"]
mod read_into_struct;
#[path = "../examples/set_value.rs"]
mod set_value;
#[path = "support/sops.rs"]
mod sops_peer;
mod support;

use std::path::Path;

use leafseal::ErrorKind;
use leafseal::api::Changed;
use leafseal::api::Keys;
use leafseal::api::Recipients;
use leafseal::format::Format;
use leafseal::tree::Value;

fn keys() -> Keys {
    Keys::none().age_identity(age_roundtrip::IDENTITY)
}

/// Encrypts `plain` for the test recipient into `dir/name` through the library.
fn sealed_file(dir: &Path, name: &str, plain: &str) -> std::path::PathBuf {
    let recipients = Recipients::new()
        .age(support::AGE_RECIPIENT)
        .expect("recipient");
    let format = Format::from_path(name);
    let sealed =
        leafseal::api::encrypt_bytes(plain.as_bytes(), format, &recipients).expect("encrypt");
    let path = dir.join(name);
    std::fs::write(&path, sealed).expect("write");
    path
}

fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .expect("read")
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn example_read_into_struct_reads_a_file_sops_wrote() {
    let file = support::sops_fixture("yaml/example.age.v3.7.1.yaml");
    let config = read_into_struct::run(&file.display().to_string()).expect("decrypt");
    assert_eq!(config.myapp1, "t00m4nys3cr3tzupdated");
    assert_eq!(config.app2.db.user, "eve");
    assert_eq!(config.app2.db.password, "c4r1b0u");
}

#[test]
fn example_age_roundtrip_encrypts_and_decrypts_in_memory() {
    let (sealed, token) = age_roundtrip::run("api:\n    token: s3cr3t\n").expect("round trip");
    assert_eq!(token, "s3cr3t");
    assert!(
        !sealed.contains("s3cr3t"),
        "the plaintext leaked into the file"
    );
    assert!(sealed.contains("ENC[AES256_GCM,data:"));
    assert!(sealed.contains(support::AGE_RECIPIENT));
    assert!(sealed.contains("leafseal_integrity: v3:"));
}

#[test]
fn example_set_value_changes_one_line_and_keeps_every_other_ciphertext() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = sealed_file(
        dir.path(),
        "app.yaml",
        "db:\n    user: app\n    password: old\nlist:\n    - a\n    - b\nport: 5432\n",
    );
    let before = lines(&path);
    let changed = set_value::run(
        &path.display().to_string(),
        r#"["db"]["password"]"#,
        "new",
        &keys(),
    )
    .expect("set");
    assert_eq!(changed, Changed::Written);
    let after = lines(&path);
    assert_eq!(before.len(), after.len());
    let mut differing: Vec<&str> = before
        .iter()
        .zip(&after)
        .filter(|(a, b)| a != b)
        .map(|(a, _)| a.trim_start().split(':').next().unwrap_or(""))
        .filter(|k| *k != "lastmodified") // same second: unchanged
        .collect();
    differing.sort_unstable();
    assert_eq!(
        differing,
        ["leafseal_integrity", "mac", "password"],
        "only the changed value and the seal may differ"
    );
    let secrets = leafseal::api::decrypt_file(&path, &keys()).expect("decrypt");
    assert_eq!(
        secrets.get_str(r#"["db"]["password"]"#).expect("value"),
        "new"
    );
    assert!(secrets.warnings().is_empty(), "{:?}", secrets.warnings());
    // Setting the same value again writes nothing.
    let again = set_value::run(
        &path.display().to_string(),
        r#"["db"]["password"]"#,
        "new",
        &keys(),
    )
    .expect("set again");
    assert_eq!(again, Changed::Unchanged);
    assert_eq!(lines(&path), after);
    // The real sops reads what the library wrote.
    if let Some(sops) = sops_peer::sops_bin() {
        let out = std::process::Command::new(sops)
            .args(["decrypt", &path.display().to_string()])
            .env_clear()
            .env("SOPS_AGE_KEY_FILE", support::age_key_file())
            .output()
            .expect("run sops");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("password: new"));
    }
}

#[test]
fn edit_unset_rotate_through_the_library() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = sealed_file(
        dir.path(),
        "app.json",
        r#"{"a": "1", "b": {"c": true}, "d": [1, 2]}"#,
    );
    // A callback that fails leaves the file alone.
    let before = std::fs::read(&path).expect("read");
    let err = leafseal::api::edit_file(&path, &keys(), |_| {
        Err(leafseal::Error::new(1, "changed my mind"))
    })
    .expect_err("the callback's error");
    assert_eq!(err.message, "changed my mind");
    assert_eq!(std::fs::read(&path).expect("read"), before);
    // A callback that changes nothing writes nothing.
    let same = leafseal::api::edit_file(&path, &keys(), |_| Ok(())).expect("no-op edit");
    assert_eq!(same, Changed::Unchanged);
    assert_eq!(std::fs::read(&path).expect("read"), before);
    // A real change.
    leafseal::api::edit_file(&path, &keys(), |doc| {
        leafseal::treepath::set(doc, &leafseal::treepath::parse(r#"["e"]"#)?, Value::Int(7))
    })
    .expect("edit");
    leafseal::api::unset_file(&path, r#"["a"]"#, &keys()).expect("unset");
    let missing =
        leafseal::api::unset_file(&path, r#"["nope"]"#, &keys()).expect_err("unset of nothing");
    assert_eq!(missing.kind(), ErrorKind::Usage);
    let before_rotate = std::fs::read_to_string(&path).expect("read");
    leafseal::api::rotate_file(&path, &keys()).expect("rotate");
    let after_rotate = std::fs::read_to_string(&path).expect("read");
    assert_ne!(before_rotate, after_rotate);
    #[derive(serde::Deserialize, PartialEq, Debug)]
    struct Shape {
        b: Inner,
        d: Vec<i64>,
        e: i64,
    }
    #[derive(serde::Deserialize, PartialEq, Debug)]
    struct Inner {
        c: bool,
    }
    let secrets = leafseal::api::decrypt_file(&path, &keys()).expect("decrypt");
    assert!(secrets.get(r#"["a"]"#).is_err());
    let shape: Shape = secrets.deserialize().expect("deserialize");
    assert_eq!(
        shape,
        Shape {
            b: Inner { c: true },
            d: vec![1, 2],
            e: 7
        }
    );
}

#[test]
fn errors_have_stable_kinds_and_never_a_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = sealed_file(dir.path(), "s.yaml", "token: hunter2\n");
    // No identity: the key is unavailable. Keys::none reads no environment and no home.
    let e = leafseal::api::decrypt_file(&path, &Keys::none()).expect_err("no key");
    assert_eq!(e.kind(), ErrorKind::KeyUnavailable);
    assert_eq!(e.code, 128);
    // A changed ciphertext: tampered, and no plaintext in the message.
    let text = std::fs::read_to_string(&path).expect("read");
    let start = text.find("data:").expect("ENC") + 5;
    let mut bytes = text.into_bytes();
    bytes[start] = if bytes[start] == b'A' { b'B' } else { b'A' };
    std::fs::write(&path, &bytes).expect("write");
    let e = leafseal::api::decrypt_file(&path, &keys()).expect_err("tampered");
    assert_eq!(e.kind(), ErrorKind::Tampered);
    assert!(!e.to_string().contains("hunter2"));
    // Plaintext is not an encrypted file; encrypted data is not encrypted again.
    let plain = leafseal::api::decrypt_bytes(b"a: 1\n", Format::Yaml, &keys()).expect_err("plain");
    assert_eq!(plain.kind(), ErrorKind::Other);
    let again = leafseal::api::encrypt_bytes(
        &bytes,
        Format::Yaml,
        &Recipients::new().age(support::AGE_RECIPIENT).expect("r"),
    )
    .expect_err("already encrypted");
    assert_eq!(again.kind(), ErrorKind::AlreadyEncrypted);
    // No recipients.
    let none = leafseal::api::encrypt_bytes(b"a: 1\n", Format::Yaml, &Recipients::new())
        .expect_err("no keys");
    assert!(none.message.contains("no encryption keys"));
}

#[test]
fn recipients_and_updatekeys_follow_the_policy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let other = "age1tmaae3ld5vpevmsh5yacsauzx8jetg300mpvc4ugp5zr5l6ssq9sla97ep";
    std::fs::write(
        dir.path().join(".sops.yaml"),
        format!(
            "creation_rules:\n  - path_regex: \\.yaml$\n    encrypted_regex: ^secret\n    age: {}\n",
            support::AGE_RECIPIENT
        ),
    )
    .expect("policy");
    let plain = dir.path().join("app.yaml");
    std::fs::write(&plain, "secret_key: s\nname: visible\n").expect("write");
    let sealed = leafseal::api::encrypt_file(&plain).expect("encrypt by policy");
    let text = String::from_utf8(sealed.clone()).expect("utf8");
    assert!(text.contains("name: visible"), "{text}");
    assert!(!text.contains("secret_key: s\n"));
    assert!(text.contains("encrypted_regex: ^secret"));
    std::fs::write(&plain, &sealed).expect("write");
    // Up to date: nothing written.
    assert_eq!(
        leafseal::api::updatekeys_file(&plain, &keys()).expect("updatekeys"),
        Changed::Unchanged
    );
    // The policy gains a recipient: the file is re-wrapped for both, values unchanged.
    std::fs::write(
        dir.path().join(".sops.yaml"),
        format!(
            "creation_rules:\n  - path_regex: \\.yaml$\n    encrypted_regex: ^secret\n    age: {},{other}\n",
            support::AGE_RECIPIENT
        ),
    )
    .expect("policy");
    let value_line = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("secret_key:"))
            .map(str::to_owned)
    };
    assert_eq!(
        leafseal::api::updatekeys_file(&plain, &keys()).expect("updatekeys"),
        Changed::Written
    );
    let after = std::fs::read_to_string(&plain).expect("read");
    assert!(after.contains(other));
    assert_eq!(value_line(&after), value_line(&text));
    let secrets = leafseal::api::decrypt_file(&plain, &keys()).expect("decrypt after updatekeys");
    assert_eq!(secrets.get_str(r#"["secret_key"]"#).expect("value"), "s");
    assert!(secrets.warnings().is_empty(), "{:?}", secrets.warnings());
}

#[test]
fn the_api_types_can_be_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Keys>();
    shared::<Recipients>();
    shared::<leafseal::api::Secrets>();
    shared::<leafseal::Error>();
}
