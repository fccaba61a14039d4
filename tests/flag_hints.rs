//! Hints that name command-line flags are the command line's: the library's errors carry
//! a flag-neutral hint and a `Remedy`, and `leafseal` words that remedy with its flags.

mod support;

use leafseal::api::Keys;
use leafseal::api::Recipients;
use leafseal::error::Remedy;
use leafseal::format::Format;

use support::run_in;

#[test]
fn the_library_names_no_flag_and_says_which_remedy_applies() {
    let plain = leafseal::api::decrypt_bytes(b"a: 1\n", Format::Yaml, &Keys::none())
        .expect_err("not encrypted");
    assert_eq!(plain.kind(), leafseal::ErrorKind::Other);
    let none = leafseal::api::encrypt_bytes(b"a: 1\n", Format::Yaml, &Recipients::new())
        .expect_err("no keys");
    let broken = leafseal::api::decrypt_bytes(b"a: [\n", Format::Yaml, &Keys::none())
        .expect_err("does not parse");
    assert_eq!(broken.remedy, Some(Remedy::EncryptedInputFormat));
    assert!(
        broken
            .hints
            .iter()
            .any(|h| h == Remedy::EncryptedInputFormat.hint())
    );
    for e in [&plain, &none, &broken] {
        assert!(
            e.hints.iter().all(|h| !h.contains("--")),
            "a library hint names a flag: {:?}",
            e.hints
        );
    }
}

#[test]
fn the_command_line_words_the_remedy_with_its_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    let vars = support::env_vars(None, &home);
    std::fs::write(dir.path().join("plain.yaml"), "a: 1\n").expect("write");
    std::fs::write(dir.path().join("broken.yaml"), "a: [\n").expect("write");

    let out = run_in(&vars, dir.path(), &["decrypt", "plain.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("hint: encrypt it first with `leafseal encrypt`, or check --input-type"),
        "{err}"
    );
    assert!(!err.contains(Remedy::NotEncrypted.hint()), "{err}");

    let out = run_in(&vars, dir.path(), &["decrypt", "broken.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("or pass --input-type if the extension is misleading"),
        "{err}"
    );
}
