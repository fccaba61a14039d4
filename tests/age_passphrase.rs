//! Protected age identities through the CLI: a passphrase-protected (scrypt age-encrypted)
//! identity file and a passphrase-protected OpenSSH key, unlocked with
//! `LEAFSEAL_AGE_PASSPHRASE_CMD`; without a passphrase source the run fails at once (stdin
//! is closed, nothing waits) with an error naming the file and the way out. Also
//! `SOPS_AGE_KEY_CMD` and `SOPS_AGE_SSH_PRIVATE_KEY_FILE` with leafseal and the real sops.

mod support;

#[path = "support/sops.rs"]
mod sops_peer;

use std::collections::HashMap;
use std::path::Path;

use age::secrecy::SecretString;
use support::*;

const PASSPHRASE: &str = "correct horse battery staple";

/// Writes the test age identities, encrypted to `PASSPHRASE` (cheap work factor), as
/// `name` in `dir`; armored or binary.
fn protected_keys_file(dir: &Path, name: &str, armored: bool) -> String {
    let keys = std::fs::read(age_key_file()).expect("keys");
    let mut r = age::scrypt::Recipient::new(SecretString::from(PASSPHRASE.to_owned()));
    r.set_work_factor(10);
    let bytes = if armored {
        age::encrypt_and_armor(&r, &keys)
            .expect("encrypt")
            .into_bytes()
    } else {
        age::encrypt(&r, &keys).expect("encrypt")
    };
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    path.display().to_string()
}

fn encrypt_file(vars: &HashMap<String, String>, d: &Path, recipient: &str) {
    std::fs::write(d.join("s.yaml"), "a: secret\n").expect("write");
    let out = run_in(vars, d, &["encrypt", "-i", "--age", recipient, "s.yaml"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `printf '%s' <passphrase>` as a command line (run without a shell).
fn printf_cmd(pass: &str) -> String {
    format!("printf %s '{pass}'")
}

#[test]
fn passphrase_protected_identity_file_is_unlocked_by_the_passphrase_command() {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let plain_vars = env_vars(None, home.path());
    encrypt_file(&plain_vars, d, AGE_RECIPIENT);

    for armored in [false, true] {
        let keys = protected_keys_file(home.path(), "keys.age", armored);
        let mut vars = plain_vars.clone();
        vars.insert("SOPS_AGE_KEY_FILE".to_owned(), keys.clone());

        // No passphrase source: a clear failure, at once.
        let out = run_in(&vars, d, &["decrypt", "s.yaml"]);
        assert!(!out.status.success());
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!(
                "SOPS_AGE_KEY_FILE ({keys}): is passphrase-protected (age-encrypted) and no \
                 passphrase source is set"
            )) && err.contains("set LEAFSEAL_AGE_PASSPHRASE_CMD"),
            "{err}"
        );

        // A wrong passphrase: named as such, never echoed.
        vars.insert(
            "LEAFSEAL_AGE_PASSPHRASE_CMD".to_owned(),
            printf_cmd("wrong guess"),
        );
        let out = run_in(&vars, d, &["decrypt", "s.yaml"]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("the passphrase is wrong"), "{err}");
        assert!(!err.contains("wrong guess"), "{err}");

        // The right one.
        vars.insert(
            "LEAFSEAL_AGE_PASSPHRASE_CMD".to_owned(),
            printf_cmd(PASSPHRASE),
        );
        let out = run_in(&vars, d, &["decrypt", "s.yaml"]);
        assert!(
            out.status.success(),
            "armored={armored}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "a: secret\n");
    }
}

#[test]
fn the_passphrase_command_learns_which_file_it_unlocks() {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let mut vars = env_vars(None, home.path());
    encrypt_file(&vars, d, AGE_RECIPIENT);
    let keys = protected_keys_file(home.path(), "keys.age", true);
    vars.insert("SOPS_AGE_KEY_FILE".to_owned(), keys.clone());
    // The command fails unless it is asked for this file.
    let script = home.path().join("pass.sh");
    std::fs::write(
        &script,
        format!(
            "case \"$LEAFSEAL_AGE_PASSPHRASE_FOR\" in *'{keys}'*) printf '%s\\n' '{PASSPHRASE}';; \
             *) exit 3;; esac\n"
        ),
    )
    .expect("script");
    vars.insert(
        "LEAFSEAL_AGE_PASSPHRASE_CMD".to_owned(),
        format!("sh {}", script.display()),
    );
    let out = run_in(&vars, d, &["decrypt", "s.yaml"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ssh_keygen(dir: &Path, pass: &str) -> (String, String) {
    let key = dir.join("id_ed25519_protected");
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-C", "test", "-N", pass, "-f"])
        .arg(&key)
        .output()
        .expect("ssh-keygen");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = std::fs::read_to_string(key.with_extension("pub")).expect("pub");
    (key.display().to_string(), public.trim().to_owned())
}

#[test]
fn passphrase_protected_ssh_key_is_unlocked_by_the_passphrase_command() {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let (key, public) = ssh_keygen(home.path(), PASSPHRASE);
    let mut vars = env_vars(None, home.path());
    vars.remove("SOPS_AGE_KEY_FILE");
    encrypt_file(&vars, d, &public);
    vars.insert("SOPS_AGE_SSH_PRIVATE_KEY_FILE".to_owned(), key.clone());

    let out = run_in(&vars, d, &["decrypt", "s.yaml"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("SSH key is protected by a passphrase, skipped")
            && err.contains("LEAFSEAL_AGE_PASSPHRASE_CMD")
            && err.contains(&key),
        "{err}"
    );

    vars.insert(
        "LEAFSEAL_AGE_PASSPHRASE_CMD".to_owned(),
        printf_cmd("not it"),
    );
    let out = run_in(&vars, d, &["decrypt", "s.yaml"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("did not unlock it"), "{err}");
    assert!(
        !err.contains("not it,") && !err.contains("'not it'"),
        "{err}"
    );

    vars.insert(
        "LEAFSEAL_AGE_PASSPHRASE_CMD".to_owned(),
        printf_cmd(PASSPHRASE),
    );
    let out = run_in(&vars, d, &["decrypt", "s.yaml"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a: secret\n");
}

#[test]
fn key_cmd_and_ssh_key_file_work_with_leafseal_and_real_sops() {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let (key, public) = ssh_keygen(home.path(), "");
    let mut vars = env_vars(None, home.path());
    // The file is encrypted to the age key and to an (unprotected) SSH key.
    std::fs::write(d.join("s.yaml"), "a: secret\n").expect("write");
    let recipients = format!("{AGE_RECIPIENT},{public}");
    let out = run_in(&vars, d, &["encrypt", "-i", "--age", &recipients, "s.yaml"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    vars.remove("SOPS_AGE_KEY_FILE");
    let by_cmd = {
        let mut v = vars.clone();
        v.insert(
            "SOPS_AGE_KEY_CMD".to_owned(),
            format!("cat {}", age_key_file().display()),
        );
        v
    };
    let by_ssh = {
        let mut v = vars.clone();
        v.insert("SOPS_AGE_SSH_PRIVATE_KEY_FILE".to_owned(), key.clone());
        v
    };
    for v in [&by_cmd, &by_ssh] {
        let out = run_in(v, d, &["decrypt", "s.yaml"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "a: secret\n");
    }
    let Some(sops) = sops_peer::sops_bin() else {
        return;
    };
    for v in [&by_cmd, &by_ssh] {
        let out = std::process::Command::new(sops)
            .env_clear()
            .envs(v)
            .current_dir(d)
            .stdin(std::process::Stdio::null())
            .args(["decrypt", "s.yaml"])
            .output()
            .expect("sops");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "a: secret\n");
    }
}
