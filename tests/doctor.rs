//! `leafseal doctor` through the CLI: an age file the user can open, one for a
//! recipient they lack, a Shamir file they can only half open, and a KMS key against
//! moto with and without credentials. No secret ever appears in its output.

#[path = "support/moto.rs"]
mod moto;
mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::Output;

use support::*;

const PLAIN: &[u8] = b"db_password: hunter2-very-secret\n";

fn out_text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn assert_clean(text: &str) {
    let identity = std::fs::read_to_string(age_key_file()).expect("age key");
    let secret = identity
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .expect("secret line");
    for s in [secret, "hunter2", "AGE-SECRET-KEY", "wJalrXUtnFEMI"] {
        assert!(!text.contains(s), "doctor output leaks `{s}`: {text}");
    }
}

/// A recipient whose identity the test user does not have.
fn foreign_recipient(dir: &Path) -> String {
    let vars: HashMap<String, String> = HashMap::new();
    let key = dir.join("other-keys.txt");
    let out = run_in(
        &vars,
        dir,
        &[
            "keygen",
            "-o",
            key.to_str().expect("utf-8"),
            "--format",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", out_text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    v["recipient"].as_str().expect("recipient").to_owned()
}

fn encrypt(vars: &HashMap<String, String>, dir: &Path, name: &str, flags: &[&str]) {
    std::fs::write(dir.join(name), PLAIN).expect("write");
    let mut args = vec!["encrypt", "-i"];
    args.extend_from_slice(flags);
    args.push(name);
    let out = run_in(vars, dir, &args);
    assert!(out.status.success(), "encrypt {name}: {}", out_text(&out));
}

#[test]
fn doctor_age_file_the_user_can_open_is_ok() {
    let home = tempfile::tempdir().expect("home");
    let work = tempfile::tempdir().expect("work");
    let vars = env_vars(None, home.path());
    std::fs::write(
        work.path().join(".sops.yaml"),
        format!("creation_rules:\n  - path_regex: \\.yaml$\n    age: {AGE_RECIPIENT}\n"),
    )
    .expect("policy");
    encrypt(&vars, work.path(), "app.yaml", &[]);
    let out = run_in(&vars, work.path(), &["doctor"]);
    let text = out_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!("ok           age {AGE_RECIPIENT}")),
        "{text}"
    );
    assert!(text.contains("source: SOPS_AGE_KEY_FILE ("), "{text}");
    assert!(
        text.contains("an identity matches this recipient"),
        "{text}"
    );
    assert!(text.contains("ok             app.yaml"), "{text}");
    assert!(text.contains("and by .sops.yaml"), "{text}");
    assert!(
        text.contains("all 1 encrypted file(s) in scope can be decrypted"),
        "{text}"
    );
    assert_clean(&text);

    // JSON carries the same verdicts.
    let out = run_in(&vars, work.path(), &["doctor", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["undecryptable"], 0);
    assert_eq!(v["files"][0]["path"], "app.yaml");
    assert_eq!(v["files"][0]["decryptable"], true);
    assert_eq!(v["keys"][0]["kind"], "age");
    assert_eq!(v["keys"][0]["status"], "ok");
    assert_clean(&String::from_utf8_lossy(&out.stdout));
}

#[test]
fn doctor_missing_recipient_exits_non_zero_and_names_it() {
    let home = tempfile::tempdir().expect("home");
    let work = tempfile::tempdir().expect("work");
    let vars = env_vars(None, home.path());
    let other = foreign_recipient(home.path());
    encrypt(&vars, work.path(), "mine.yaml", &["--age", AGE_RECIPIENT]);
    encrypt(&vars, work.path(), "theirs.yaml", &["--age", &other]);
    let out = run_in(&vars, work.path(), &["doctor"]);
    let text = out_text(&out);
    assert_eq!(out.status.code(), Some(128), "{text}");
    assert!(
        text.contains(&format!("failed       age {other}")),
        "{text}"
    );
    assert!(text.contains("CANNOT DECRYPT theirs.yaml"), "{text}");
    assert!(
        text.contains("no identity matched this recipient"),
        "{text}"
    );
    assert!(text.contains("ok             mine.yaml"), "{text}");
    assert!(
        text.contains("1 of 2 encrypted file(s) in scope cannot be decrypted"),
        "{text}"
    );
    assert_clean(&text);

    // Only the file the user can open: success.
    let out = run_in(&vars, work.path(), &["doctor", "mine.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", out_text(&out));
}

#[test]
fn doctor_shamir_threshold_counts_groups() {
    let home = tempfile::tempdir().expect("home");
    let work = tempfile::tempdir().expect("work");
    let vars = env_vars(None, home.path());
    let other = foreign_recipient(home.path());
    std::fs::write(
        work.path().join(".sops.yaml"),
        format!(
            "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - age: [{AGE_RECIPIENT}]\n      - age: [{other}]\n"
        ),
    )
    .expect("policy");
    encrypt(&vars, work.path(), "split.yaml", &[]);
    let out = run_in(&vars, work.path(), &["doctor", "split.yaml"]);
    let text = out_text(&out);
    assert_eq!(out.status.code(), Some(128), "{text}");
    assert!(
        text.contains("CANNOT DECRYPT split.yaml (opens 1 of 2 group(s) needed)"),
        "{text}"
    );
    assert!(
        text.contains(&format!("group 2: age {other}: failed")),
        "{text}"
    );
    assert_clean(&text);
}

#[test]
fn doctor_kms_key_with_and_without_credentials() {
    let moto = moto::Moto::start();
    let arn = moto.create_key();
    let home = tempfile::tempdir().expect("home");
    let work = tempfile::tempdir().expect("work");
    let mut vars = env_vars(None, home.path());
    vars.remove("SOPS_AGE_KEY_FILE");
    for (k, v) in [
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("LEAFSEAL_AWS_RETRY_DELAY_MS", "10"),
        ("AWS_ENDPOINT_URL_KMS", moto.url.as_str()),
    ] {
        vars.insert(k.to_owned(), v.to_owned());
    }
    let mut with = vars.clone();
    with.insert("AWS_ACCESS_KEY_ID".to_owned(), "AKIDDOCTOR".to_owned());
    with.insert(
        "AWS_SECRET_ACCESS_KEY".to_owned(),
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_owned(),
    );
    encrypt(&with, work.path(), "k.yaml", &["--kms", &arn]);

    let out = run_in(&with, work.path(), &["doctor"]);
    let text = out_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains(&format!("ok           kms {arn}")), "{text}");
    assert!(
        text.contains("source: environment variables AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"),
        "{text}"
    );
    assert!(text.contains("KMS DescribeKey answered"), "{text}");
    assert_clean(&text);

    let out = run_in(&vars, work.path(), &["doctor", "--format", "json"]);
    assert_eq!(out.status.code(), Some(128));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["keys"][0]["status"], "failed");
    let err = v["keys"][0]["error"].as_str().expect("error");
    assert!(
        err.contains("no AWS credentials found. Tried, in order:"),
        "{err}"
    );
    assert_eq!(v["files"][0]["decryptable"], false);
    assert_eq!(v["undecryptable"], 1);
    assert_clean(&String::from_utf8_lossy(&out.stdout));
}

#[test]
fn doctor_pgp_secret_key_in_gnupghome() {
    let gpg = GpgHome::new();
    let home = tempfile::tempdir().expect("home");
    let work = tempfile::tempdir().expect("work");
    std::fs::copy(
        sops_fixture("yaml/example.v3.10.2.yaml"),
        work.path().join("example.yaml"),
    )
    .expect("copy");
    let mut vars = env_vars(Some(&gpg), home.path());
    vars.remove("SOPS_AGE_KEY_FILE");
    let out = run_in(&vars, work.path(), &["doctor", "example.yaml"]);
    let text = out_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!("ok           pgp {PGP_FP}")),
        "{text}"
    );
    assert!(
        text.contains("source: gpg keyring in GNUPGHOME ("),
        "{text}"
    );
    assert!(text.contains("gpg has the secret key"), "{text}");
    assert!(text.contains("ok             example.yaml"), "{text}");

    // Without the keyring: exit 128, the fingerprint named.
    let bare = tempfile::tempdir().expect("gnupghome");
    std::fs::set_permissions(
        bare.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .expect("chmod");
    vars.insert("GNUPGHOME".to_owned(), bare.path().display().to_string());
    let out = run_in(&vars, work.path(), &["doctor", "example.yaml"]);
    let text = out_text(&out);
    assert_eq!(out.status.code(), Some(128), "{text}");
    assert!(
        text.contains(&format!("gpg has no secret key for {PGP_FP}")),
        "{text}"
    );
    let _ = std::process::Command::new("gpgconf")
        .env("GNUPGHOME", bare.path())
        .args(["--kill", "gpg-agent"])
        .output();
}
