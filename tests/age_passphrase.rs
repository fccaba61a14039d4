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

/// Runs `leafseal decrypt s.yaml` in `d` on a new pseudo-terminal (util-linux `script`),
/// types `typed` once the prompt appears, and returns everything the terminal showed.
/// `None` when `script` is not available.
fn decrypt_on_a_terminal(vars: &HashMap<String, String>, d: &Path, typed: &str) -> Option<String> {
    use std::io::Read;
    use std::io::Write;
    let leafseal = env!("CARGO_BIN_EXE_leafseal");
    let mut child = match std::process::Command::new("script")
        .args(["-q", "-e", "-c"])
        .arg(format!("'{leafseal}' decrypt s.yaml"))
        .arg("/dev/null")
        .env_clear()
        .envs(vars)
        .env("SHELL", "/bin/sh")
        .current_dir(d)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("!!! SKIPPED: `script` (util-linux) is not available: {e}");
            return None;
        }
    };
    let mut stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut stdin = child.stdin.take();
    let mut typed_into = None;
    while std::time::Instant::now() < deadline {
        match rx.recv_timeout(std::time::Duration::from_millis(200)) {
            Ok(chunk) => seen.extend(chunk),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        if stdin.is_some() && String::from_utf8_lossy(&seen).contains("Enter passphrase for") {
            // leafseal turns echo off before it shows the prompt.
            let mut s = stdin.take().expect("stdin");
            s.write_all(format!("{typed}\n").as_bytes()).expect("type");
            s.flush().expect("flush");
            // Kept open until leafseal has finished (an end of input would end `script`).
            typed_into = Some(s);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    drop(typed_into);
    let _ = reader.join();
    Some(String::from_utf8_lossy(&seen).into_owned())
}

#[test]
fn protected_identity_file_passphrase_is_asked_on_the_terminal_with_echo_off() {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let mut vars = env_vars(None, home.path());
    encrypt_file(&vars, d, AGE_RECIPIENT);
    let keys = protected_keys_file(home.path(), "keys.age", true);
    vars.insert("SOPS_AGE_KEY_FILE".to_owned(), keys.clone());
    let Some(shown) = decrypt_on_a_terminal(&vars, d, PASSPHRASE) else {
        return;
    };
    assert!(
        shown.contains(&format!(
            "Enter passphrase for SOPS_AGE_KEY_FILE ({keys}): "
        )),
        "{shown}"
    );
    assert!(shown.contains("a: secret"), "{shown}");
    assert!(!shown.contains("correct horse"), "echoed: {shown}");
}
