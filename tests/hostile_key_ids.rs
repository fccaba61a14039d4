//! Key ids planted in a file's `sops` metadata reach the terminal only as inert text
//! (round-19 review). Whoever can write to the repository controls every id of the
//! metadata (a KMS ARN, its `aws_profile`, a Vault address, an Azure Key Vault URL, key
//! names): terminal escapes, a bidirectional override (U+202E) or pasted key material in
//! them must not reach the terminal through `doctor`, `access`, `updatekeys` or a failing
//! `decrypt`, in text or in JSON, and the JSON must stay valid.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::Output;

use support::AGE_RECIPIENT;
use support::env_vars;
use support::run_in;

/// The key material planted in ids (an age identity's shape); its body must never show.
const SECRET_BODY: &str = "QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ";

fn secret() -> String {
    format!("AGE-SECRET-KEY-1{SECRET_BODY}")
}

/// A planted file: one encrypted value and a metadata block whose keys all carry
/// hostile ids (YAML escapes, so the file itself is ASCII). Nobody can open it.
fn hostile_yaml() -> String {
    let s = secret();
    let iv = "A".repeat(43);
    format!(
        r#"password: ENC[AES256_GCM,data:3q2+7w==,iv:{iv}=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]
sops:
    kms:
        - arn: "arn:aws:kms:us-east-1:123456789012:key/\x1b]0;PWNED-KMS\x07\x1b[2J"
          created_at: "2024-01-01T00:00:00Z"
          enc: AQICAHhvZ2Vy
          aws_profile: ""
        - arn: "arn:aws:kms:us-east-1:123456789012:alias/\u202Eexe.lmth"
          created_at: "2024-01-01T00:00:00Z"
          enc: AQICAHhvZ2Vy
          aws_profile: "prof\x1b[5m\u202E"
        - arn: "arn:aws:kms:us-east-1:123456789012:alias/{s}"
          created_at: "2024-01-01T00:00:00Z"
          enc: AQICAHhvZ2Vy
          aws_profile: ""
    hc_vault:
        - vault_address: "https://vault\x1b[31m\u202E.example.com:8200"
          engine_path: transit
          key_name: app
          created_at: "2024-01-01T00:00:00Z"
          enc: vault:v1:abc
        - vault_address: https://vault.example.com:8200
          engine_path: transit
          key_name: {s}
          created_at: "2024-01-01T00:00:00Z"
          enc: vault:v1:abc
    azure_kv:
        - vault_url: "https://ev\x1b]0;PWNED-AZ\x07\u202Eil.vault.azure.net"
          name: k
          version: v1
          created_at: "2024-01-01T00:00:00Z"
          enc: abc
        - vault_url: https://ok.vault.azure.net
          name: {s}
          version: v1
          created_at: "2024-01-01T00:00:00Z"
          enc: abc
    lastmodified: "2024-01-01T00:00:00Z"
    mac: ENC[AES256_GCM,data:3q2+7w==,iv:{iv}=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]
    unencrypted_suffix: _unencrypted
    version: 3.9.0
"#
    )
}

/// A planted file whose metadata cannot be read at all: the Vault address is refused,
/// and the refusal quotes it.
fn unreadable_yaml() -> String {
    let iv = "A".repeat(43);
    format!(
        r#"password: ENC[AES256_GCM,data:3q2+7w==,iv:{iv}=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]
sops:
    hc_vault:
        - vault_address: "ftp://\x1b[2J\u202Eevil\x9b1m"
          engine_path: transit
          key_name: app
          created_at: "2024-01-01T00:00:00Z"
          enc: vault:v1:abc
    lastmodified: "2024-01-01T00:00:00Z"
    mac: ENC[AES256_GCM,data:3q2+7w==,iv:{iv}=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]
    version: 3.9.0
"#
    )
}

/// A hermetic environment in which every network key source fails at once: no AWS
/// credentials and no instance metadata, no Azure credential (the managed-identity
/// endpoint refuses connections, no `az` on PATH), and no Vault allow-list.
fn vars(home: &Path) -> HashMap<String, String> {
    let mut v = env_vars(None, home);
    v.insert("PATH".into(), "/nonexistent-bin".into());
    v.insert("AWS_EC2_METADATA_DISABLED".into(), "true".into());
    v.insert(
        "AZURE_POD_IDENTITY_AUTHORITY_HOST".into(),
        "http://127.0.0.1:9".into(),
    );
    v
}

/// What reached the terminal must be inert: no control character but newline and tab
/// (ESC, BEL, DEL, C1), no bidirectional override, no key material.
fn assert_inert(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for (i, c) in text.char_indices() {
        let bad = (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        assert!(
            !bad,
            "{what}: {c:?} at byte {i} reached the terminal:\n{}",
            text.escape_debug()
        );
    }
    assert!(
        !text.contains(SECRET_BODY) && !text.contains("AGE-SECRET-KEY-1Q"),
        "{what}: key material reached the terminal:\n{}",
        text.escape_debug()
    );
}

fn run(vars: &HashMap<String, String>, dir: &Path, args: &[&str]) -> Output {
    let o = run_in(vars, dir, args);
    let what = args.join(" ");
    assert_inert(&format!("{what} (stdout)"), &o.stdout);
    assert_inert(&format!("{what} (stderr)"), &o.stderr);
    o
}

fn setup() -> (tempfile::TempDir, tempfile::TempDir) {
    let home = tempfile::tempdir().expect("home");
    let work = tempfile::tempdir().expect("work");
    std::fs::write(work.path().join("hostile.yaml"), hostile_yaml()).expect("plant");
    std::fs::write(work.path().join("unreadable.yaml"), unreadable_yaml()).expect("plant");
    std::fs::write(
        work.path().join(".sops.yaml"),
        format!("creation_rules:\n  - path_regex: \\.yaml$\n    age: {AGE_RECIPIENT}\n"),
    )
    .expect("policy");
    (home, work)
}

#[test]
fn hostile_key_ids_reach_the_terminal_inert() {
    let (home, work) = setup();
    let vars = vars(home.path());
    let dir = work.path();
    let before = std::fs::read(dir.join("hostile.yaml")).expect("read");

    // doctor: every key, its credential source and check, every file's verdict.
    let o = run(&vars, dir, &["doctor"]);
    assert_eq!(o.status.code(), Some(128), "doctor");
    let text = String::from_utf8_lossy(&o.stdout);
    // The ids are still recognisable, with the hostile characters shown as `?`.
    assert!(
        text.contains("kms arn:aws:kms:us-east-1:123456789012:key/?]0;PWNED-KMS??[2J"),
        "{text}"
    );
    assert!(
        text.contains("(key material, not a key id: redacted)"),
        "{text}"
    );
    assert!(text.contains("unreadable.yaml"), "{text}");
    let o = run(&vars, dir, &["doctor", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("doctor JSON");
    // The seven planted keys and the rule's age recipient.
    assert!(v["keys"].as_array().is_some_and(|k| k.len() == 8), "{v}");

    // access: groups, recipients, drift from the rule.
    let o = run(&vars, dir, &["access"]);
    assert_eq!(o.status.code(), Some(0), "access");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("drift"), "{text}");
    let o = run(&vars, dir, &["access", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("access JSON");
    assert!(
        v["recipients"].as_array().is_some_and(|r| r.len() == 7),
        "{v}"
    );

    // updatekeys: the plan (every hostile key removed), the warning, then the failure
    // to recover the data key with every key's error.
    let o = run(&vars, dir, &["updatekeys", "-y", "hostile.yaml"]);
    assert_ne!(o.status.code(), Some(0), "updatekeys");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("- kms arn:aws:kms:"), "{text}");

    // A failing decrypt lists every key tried.
    let o = run(&vars, dir, &["decrypt", "hostile.yaml"]);
    assert_eq!(o.status.code(), Some(128), "decrypt");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no key could decrypt the data key"), "{err}");
    assert!(
        err.contains("hc_vault https://vault?[31m?.example.com:8200"),
        "{err}"
    );
    let o = run(&vars, dir, &["decrypt", "unreadable.yaml"]);
    assert_ne!(o.status.code(), Some(0), "decrypt unreadable");

    // Display only: the file is never changed, its metadata stays byte for byte.
    assert_eq!(
        std::fs::read(dir.join("hostile.yaml")).expect("read"),
        before
    );
}
