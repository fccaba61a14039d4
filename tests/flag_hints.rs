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

const ARN: &str = "arn:aws:kms:us-east-1:123456789012:key/0f9e8d7c-aaaa-bbbb-cccc-1234567890ab";

/// A directory with `p.yaml` (plaintext) and `e.yaml` (its encryption for the test age
/// key), and the environment to run leafseal in it.
fn workspace() -> (tempfile::TempDir, std::collections::HashMap<String, String>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    let vars = support::env_vars(None, &home);
    std::fs::write(dir.path().join("p.yaml"), "a: 1\n").expect("write");
    let out = run_in(
        &vars,
        dir.path(),
        &["encrypt", "--age", support::AGE_RECIPIENT, "p.yaml"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(dir.path().join("e.yaml"), &out.stdout).expect("write");
    (dir, vars)
}

/// The command line's messages about one flag name it, word for word as before the
/// operations layer stopped naming flags (`error::Setting`, worded in `cli/hints.rs`).
#[test]
fn the_command_line_names_the_flag_a_message_is_about() {
    let (dir, vars) = workspace();
    let run = |args: &[&str]| {
        let out = run_in(&vars, dir.path(), args);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(
        run(&["encrypt", "--kms", ARN, "--encryption-context", "no-colon", "p.yaml"]),
        (
            Some(6),
            "leafseal: error: invalid --encryption-context: invalid encryption context: each comma-separated item must hold exactly one `:` (use --encryption-context key:value,key2:value2)\n  hint: write it as key:value,key2:value2\n".to_owned()
        )
    );
    assert_eq!(
        run(&[
            "groups", "add", "--kms", ARN, "--encryption-context", ":v", "--file", "e.yaml"
        ]),
        (
            Some(6),
            "leafseal: error: invalid --encryption-context: invalid encryption context: empty key (use --encryption-context key:value,key2:value2)\n  hint: write it as key:value,key2:value2\n".to_owned()
        )
    );
    assert_eq!(
        run(&[
            "encrypt", "--age", support::AGE_RECIPIENT, "--unencrypted-suffix", "_x",
            "--encrypted-regex", "^a", "p.yaml"
        ]),
        (
            Some(8),
            "leafseal: error: only one of --unencrypted-suffix, --encrypted-suffix, --unencrypted-regex, --encrypted-regex, --unencrypted-comment-regex and --encrypted-comment-regex may be given\n".to_owned()
        )
    );
    let (code, err) = run(&[
        "encrypt",
        "--age",
        support::AGE_RECIPIENT,
        "--unencrypted-comment-regex",
        "(",
        "p.yaml",
    ]);
    assert_eq!(code, Some(1));
    assert!(
        err.starts_with(
            "leafseal: error: invalid --unencrypted-comment-regex: not valid in sops's (Go) regex syntax: missing closing ) `(` at byte 0"
        ),
        "{err}"
    );
    let kms_error = "invalid AWS KMS key ARN (expected arn:aws:kms:<region>:<account>:key/<id> or …:alias/<name>, optionally followed by +<role ARN>)";
    assert_eq!(
        run(&[
            "encrypt",
            "--kms",
            "not-an-arn",
            "--encryption-context",
            "a:b",
            "p.yaml"
        ]),
        (
            Some(1),
            format!("leafseal: error: invalid --kms key: {kms_error}\n")
        )
    );
    assert_eq!(
        run(&[
            "rotate",
            "--add-kms",
            "not-an-arn",
            "--encryption-context",
            "a:b",
            "e.yaml"
        ]),
        (
            Some(1),
            format!("leafseal: error: invalid --add-kms key: {kms_error}\n")
        )
    );
}

/// Skipping the integrity checks is a warning naming `--ignore-mac` on the command line;
/// an integrity mismatch's remedy names `git diff` and the commands that re-save.
#[test]
fn the_command_line_words_warnings_and_the_review_remedy() {
    let (dir, vars) = workspace();
    let out = run_in(&vars, dir.path(), &["decrypt", "--ignore-mac", "e.yaml"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "leafseal: warning: e.yaml: --ignore-mac: the MAC and the leafseal integrity record were not checked, so nothing guarantees that this file is what its last writer sealed: values changed, removed, added or reordered outside leafseal/sops go unnoticed (each value's own authentication is still checked)\n"
    );
    // A null value the MAC cannot see, added outside leafseal.
    let enc = std::fs::read_to_string(dir.path().join("e.yaml")).expect("read");
    std::fs::write(dir.path().join("e.yaml"), format!("z: null\n{enc}")).expect("write");
    let out = run_in(&vars, dir.path(), &["decrypt", "e.yaml"]);
    assert_eq!(out.status.code(), Some(53));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.ends_with("\n  hint: restore the file from version control and compare it with `git diff`; if a person you trust made the change with another tool, re-save the file with `leafseal edit` or `leafseal rotate -i` after checking it\n"),
        "{err}"
    );
    // The git diff driver quotes the hint in its one-line warning, in the same words.
    let out = run_in(&vars, dir.path(), &["git", "textconv", "e.yaml"]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("leafseal: warning: textconv: e.yaml: cannot decrypt, so the diff shows the encrypted file: integrity check failed"),
        "{err}"
    );
    assert!(
        err.ends_with(" (hint: restore the file from version control and compare it with `git diff`; if a person you trust made the change with another tool, re-save the file with `leafseal edit` or `leafseal rotate -i` after checking it)\n"),
        "{err}"
    );
    let lib = leafseal::api::decrypt_bytes(
        format!("z: null\n{enc}").as_bytes(),
        Format::Yaml,
        &Keys::none().age_identity(
            std::fs::read_to_string(support::age_key_file())
                .expect("key")
                .lines()
                .find(|l| l.starts_with("AGE-SECRET-KEY-"))
                .expect("an identity"),
        ),
    )
    .expect_err("integrity mismatch");
    assert_eq!(lib.kind(), leafseal::ErrorKind::Tampered);
    assert_eq!(lib.remedy, Some(Remedy::ReviewChange));
    assert!(
        lib.hints
            .iter()
            .all(|h| !h.contains("--") && !h.contains("-i`"))
    );
}

/// The operations' flag errors name no flag for a library caller and say which setting
/// they are about.
#[test]
fn the_library_names_the_setting_not_the_flag() {
    use leafseal::Setting;
    let conflict = leafseal::ops::selector_from_flags(&[
        ("unencrypted_suffix", Some("_x")),
        ("encrypted_regex", Some("^a")),
    ])
    .expect_err("two selectors");
    assert_eq!(conflict.setting, Some(Setting::Selectors));
    let regex = leafseal::ops::selector_from_flags(&[("encrypted_regex", Some("("))])
        .expect_err("bad regex");
    assert_eq!(regex.setting, Some(Setting::Selector("encrypted_regex")));
    let lists = leafseal::ops::KeyLists {
        lists: vec![(leafseal::ops::KeyKind::Kms, ARN)],
        encryption_context: Some("no-colon"),
        aws_profile: None,
    };
    let context = leafseal::ops::keys_from_flags(&lists).expect_err("bad context");
    assert_eq!(context.setting, Some(Setting::KmsEncryptionContext));
    assert_eq!(
        context.message,
        "invalid AWS KMS encryption context: invalid encryption context: each comma-separated item must hold exactly one `:`"
    );
    for e in [&conflict, &regex, &context] {
        assert!(!e.message.contains("--"), "{}", e.message);
        assert!(e.hints.iter().all(|h| !h.contains("--")), "{:?}", e.hints);
        assert!(e.message.contains(e.setting.expect("a setting").name()));
    }
}
