//! `leafseal keygen`: a 0600 key file (parent directories 0700) that is never overwritten,
//! whose identity opens what was encrypted to the printed recipient; `--ssh` prints the
//! recipient of an SSH public key, and files encrypted to it open with the SSH key.

mod support;

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn vars(home: &Path) -> HashMap<String, String> {
    let mut v = HashMap::new();
    v.insert("HOME".to_owned(), home.display().to_string());
    v.insert("PATH".to_owned(), std::env::var("PATH").unwrap_or_default());
    v
}

fn recipient_of(stdout: &[u8]) -> String {
    let s = String::from_utf8(stdout.to_vec()).expect("utf-8");
    let line = s
        .lines()
        .find_map(|l| l.strip_prefix("Public key: "))
        .expect("Public key line");
    assert!(s.contains("creation_rules:") && s.contains(line), "{s}");
    line.to_owned()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("stat").permissions().mode() & 0o777
}

/// Encrypts a small file to `recipient` (no policy) and decrypts it with `dec_vars`.
fn round_trip(
    dir: &Path,
    recipient: &str,
    enc_vars: &HashMap<String, String>,
    dec_vars: &HashMap<String, String>,
) {
    std::fs::write(dir.join("s.yaml"), "password: keygen-secret\n").expect("write");
    let out = support::run_in(
        enc_vars,
        dir,
        &[
            "--config",
            "/dev/null",
            "encrypt",
            "-i",
            "--age",
            recipient,
            "s.yaml",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let enc = std::fs::read_to_string(dir.join("s.yaml")).expect("read");
    assert!(!enc.contains("keygen-secret"));
    let out = support::run_in(
        dec_vars,
        dir,
        &["--config", "/dev/null", "decrypt", "s.yaml"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "password: keygen-secret\n"
    );
}

#[test]
fn keygen_writes_a_0600_identity_that_decrypts_and_never_overwrites() {
    let home = tempfile::tempdir().expect("home");
    let v = vars(home.path());
    let key = home.path().join("keys/new/id.txt");
    let k = key.display().to_string();
    let out = support::run_in(&v, home.path(), &["keygen", "-o", &k]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recipient = recipient_of(&out.stdout);
    assert!(recipient.starts_with("age1"));
    let secret = std::fs::read_to_string(&key).expect("key file");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("AGE-SECRET-KEY"));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("AGE-SECRET-KEY"));
    assert!(secret.contains("AGE-SECRET-KEY-1"));
    assert!(secret.contains(&format!("# public key: {recipient}")));
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(&home.path().join("keys/new")), 0o700);
    assert_eq!(mode(&home.path().join("keys")), 0o700);

    // Refuses to overwrite; the file is left as it was.
    let out = support::run_in(&v, home.path(), &["keygen", "-o", &k]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("already exists") && err.contains("hint:"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&key).expect("key"), secret);

    // The identity opens what was encrypted to the printed recipient.
    let work = tempfile::tempdir().expect("work");
    let mut dec = v.clone();
    dec.insert("SOPS_AGE_KEY_FILE".to_owned(), k.clone());
    round_trip(work.path(), &recipient, &v, &dec);
}

#[test]
fn keygen_defaults_to_sops_age_key_file_then_the_sops_default() {
    let home = tempfile::tempdir().expect("home");
    let mut v = vars(home.path());
    let out = support::run_in(&v, home.path(), &["keygen"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let default = home.path().join(".config/sops/age/keys.txt");
    assert_eq!(mode(&default), 0o600);
    // The default file is where decrypt looks: it opens a file for the recipient.
    let recipient = recipient_of(&out.stdout);
    let work = tempfile::tempdir().expect("work");
    round_trip(work.path(), &recipient, &v, &v);

    let env_file = home.path().join("from-env.txt");
    v.insert(
        "SOPS_AGE_KEY_FILE".to_owned(),
        env_file.display().to_string(),
    );
    let out = support::run_in(&v, home.path(), &["keygen"]);
    assert!(out.status.success());
    assert_eq!(mode(&env_file), 0o600);
}

#[test]
fn keygen_ssh_prints_the_recipient_sops_uses_for_an_ssh_key() {
    let home = tempfile::tempdir().expect("home");
    let v = vars(home.path());
    let ssh = home.path().join(".ssh");
    std::fs::create_dir_all(&ssh).expect("mkdir");
    // The ed25519 key pair of sops's age key-source tests, with the recipient line
    // recorded there (see fixtures/sops/MANIFEST.md).
    let vectors = support::fixtures().join("sops/keys/age-vectors");
    std::fs::copy(vectors.join("ssh-ed25519-identity"), ssh.join("id_ed25519")).expect("copy");
    std::fs::set_permissions(
        ssh.join("id_ed25519"),
        std::fs::Permissions::from_mode(0o600),
    )
    .expect("chmod");
    std::fs::copy(
        vectors.join("ssh-ed25519-recipient.txt"),
        ssh.join("id_ed25519.pub"),
    )
    .expect("copy");
    let out = support::run_in(&v, home.path(), &["keygen", "--ssh"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recipient = recipient_of(&out.stdout);
    assert_eq!(
        recipient,
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAID+Wi8WZw2bXfBpcs/WECttCzP39OkenS6pHWHWGFJvN"
    );
    // Nothing was written.
    assert!(!home.path().join(".config").exists());

    // Encrypted to the printed recipient, the file opens with the SSH private key.
    let work = tempfile::tempdir().expect("work");
    let mut dec = v.clone();
    dec.insert(
        "SOPS_AGE_SSH_PRIVATE_KEY_FILE".to_owned(),
        ssh.join("id_ed25519").display().to_string(),
    );
    round_trip(work.path(), &recipient, &v, &dec);

    // A private key or a missing file is refused with a hint.
    let p = ssh.join("id_ed25519").display().to_string();
    let out = support::run_in(&v, home.path(), &["keygen", "--ssh", &p]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not an SSH public key") && err.contains("hint:"),
        "{err}"
    );
    assert!(!err.contains("PRIVATE KEY-----\n"));
    let out = support::run_in(&v, home.path(), &["keygen", "--ssh", "/nonexistent.pub"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn keygen_json_output_names_the_recipient_and_file_but_no_secret() {
    let home = tempfile::tempdir().expect("home");
    let v = vars(home.path());
    let key = home.path().join("id.txt");
    let k = key.display().to_string();
    let out = support::run_in(&v, home.path(), &["keygen", "--format", "json", "-o", &k]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let recipient = j["recipient"].as_str().expect("recipient");
    assert!(recipient.starts_with("age1"), "{j}");
    assert_eq!(j["key_file"], k.as_str());
    assert!(
        j["sops_yaml"]
            .as_str()
            .is_some_and(|s| s.contains(recipient)),
        "{j}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("AGE-SECRET-KEY"));
    let secret = std::fs::read_to_string(&key).expect("key file");
    assert!(secret.contains(&format!("# public key: {recipient}")));
}
