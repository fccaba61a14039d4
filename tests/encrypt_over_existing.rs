//! `encrypt --output EXISTING` (and `--reuse`) write the keys and settings the command
//! asks for, as sops does: the existing file's data key and ciphertexts are reused only
//! when it already has exactly those key groups and settings. A recipient dropped this
//! way must not be able to open the new file (a new data key), and real sops must read it.

mod support;

#[path = "support/sops.rs"]
mod sops;

use std::collections::HashMap;
use std::path::Path;
use std::process::Output;

use support::*;

const PLAIN: &str = "db:\n    user: admin\n    password: hunter2\n    port: 5432\nname: app\n";

/// Variables where only the given identities are available (no key file).
fn vars_with(home: &Path, ids: &[&Id]) -> HashMap<String, String> {
    let mut v = env_vars(None, home);
    v.remove("SOPS_AGE_KEY_FILE");
    let joined: Vec<&str> = ids.iter().map(|i| i.secret.as_str()).collect();
    v.insert("SOPS_AGE_KEY".to_owned(), joined.join("\n"));
    v
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).expect("utf8")
}

fn enc_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.contains("ENC[")).collect()
}

struct Setup {
    home: tempfile::TempDir,
    dir: tempfile::TempDir,
    a: Id,
    b: Id,
}

/// `s.yaml` encrypted for A and B, and its plaintext in `p.yaml`.
fn setup() -> Setup {
    let s = Setup {
        home: tempfile::tempdir().expect("home"),
        dir: tempfile::tempdir().expect("dir"),
        a: new_id(),
        b: new_id(),
    };
    std::fs::write(s.dir.path().join("p.yaml"), PLAIN).expect("write");
    let both = format!("{},{}", s.a.recipient, s.b.recipient);
    ok(&s.run(
        &[&s.a],
        &["encrypt", "--age", &both, "--output", "s.yaml", "p.yaml"],
    ));
    s
}

impl Setup {
    fn run(&self, ids: &[&Id], args: &[&str]) -> Output {
        run_in(&vars_with(self.home.path(), ids), self.dir.path(), args)
    }

    fn read(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("s.yaml")).expect("read")
    }
}

#[test]
fn output_onto_a_file_with_a_removed_recipient_writes_a_new_data_key() {
    let s = setup();
    let before = s.read();
    let o = s.run(
        &[&s.a, &s.b],
        &[
            "encrypt",
            "--age",
            &s.b.recipient,
            "--output",
            "s.yaml",
            "p.yaml",
        ],
    );
    ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("replaced, not updated"), "{err}");
    assert!(err.contains("key groups"), "{err}");
    let after = s.read();
    assert!(after.contains(&s.b.recipient), "{after}");
    assert!(!after.contains(&s.a.recipient), "{after}");
    // A new data key: no value keeps its ciphertext.
    for line in enc_lines(&after) {
        assert!(!before.contains(line), "ciphertext reused: {line}");
    }
    // The removed recipient cannot open it; the one asked for can.
    let denied = s.run(&[&s.a], &["decrypt", "s.yaml"]);
    assert_eq!(denied.status.code(), Some(128), "{after}");
    assert_eq!(ok(&s.run(&[&s.b], &["decrypt", "s.yaml"])), PLAIN);
    // Real sops reads it with B's key only.
    if let Some(sops) = sops::sops_bin() {
        let out = std::process::Command::new(sops)
            .env_clear()
            .envs(vars_with(s.home.path(), &[&s.b]))
            .env("SOPS_DISABLE_VERSION_CHECK", "1")
            .current_dir(s.dir.path())
            .args(["decrypt", "s.yaml"])
            .output()
            .expect("run sops");
        assert_eq!(ok(&out), PLAIN);
    }
}

#[test]
fn legacy_form_with_a_new_selector_applies_it() {
    let s = setup();
    let both = format!("{},{}", s.a.recipient, s.b.recipient);
    ok(&s.run(
        &[&s.a],
        &[
            "-e",
            "--age",
            &both,
            "--encrypted-regex",
            "^password$",
            "--output",
            "s.yaml",
            "p.yaml",
        ],
    ));
    let after = s.read();
    assert_eq!(enc_lines(&after).len(), 2, "password and mac only: {after}");
    assert!(after.contains("encrypted_regex: ^password$"), "{after}");
    assert!(after.contains("    user: admin\n"), "{after}");
    assert_eq!(ok(&s.run(&[&s.b], &["decrypt", "s.yaml"])), PLAIN);
}

#[test]
fn same_keys_and_settings_reuse_the_data_key() {
    let s = setup();
    let before = s.read();
    let both = format!("{},{}", s.a.recipient, s.b.recipient);
    let o = s.run(
        &[&s.a],
        &["encrypt", "--age", &both, "--output", "s.yaml", "p.yaml"],
    );
    ok(&o);
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(s.read(), before, "unchanged plaintext: the same bytes");
    // A changed value: only its line, lastmodified and the MAC change.
    std::fs::write(s.dir.path().join("p.yaml"), PLAIN.replace("admin", "root")).expect("write");
    ok(&s.run(
        &[&s.a],
        &["encrypt", "--age", &both, "--output", "s.yaml", "p.yaml"],
    ));
    let after = s.read();
    let changed: Vec<&str> = after
        .lines()
        .filter(|l| !before.lines().any(|b| b == *l))
        .collect();
    assert!(
        changed.iter().all(|l| l.contains("user:")
            || l.contains("lastmodified:")
            || l.contains("mac:")
            || l.contains("leafseal_integrity:")),
        "{changed:?}"
    );
    // The same recipients in another order are another file for sops: a new data key.
    let swapped = format!("{},{}", s.b.recipient, s.a.recipient);
    let o = s.run(
        &[&s.a],
        &["encrypt", "--age", &swapped, "--output", "s.yaml", "p.yaml"],
    );
    ok(&o);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("replaced"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn explicit_reuse_with_other_keys_is_not_honoured() {
    let s = setup();
    let o = s.run(
        &[&s.a],
        &[
            "encrypt",
            "--age",
            &s.b.recipient,
            "--reuse",
            "s.yaml",
            "p.yaml",
        ],
    );
    let out = ok(&o);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--reuse s.yaml is not honoured"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains(&s.b.recipient) && !out.contains(&s.a.recipient),
        "{out}"
    );
}

#[test]
fn a_policy_that_drops_a_recipient_gives_a_new_data_key() {
    let s = setup();
    std::fs::write(
        s.dir.path().join(".sops.yaml"),
        format!("creation_rules:\n  - age: {}\n", s.b.recipient),
    )
    .expect("policy");
    ok(&s.run(&[&s.a], &["encrypt", "--output", "s.yaml", "p.yaml"]));
    let after = s.read();
    assert!(!after.contains(&s.a.recipient), "{after}");
    assert_eq!(
        s.run(&[&s.a], &["decrypt", "s.yaml"]).status.code(),
        Some(128)
    );
    assert_eq!(ok(&s.run(&[&s.b], &["decrypt", "s.yaml"])), PLAIN);
}

#[test]
fn no_keys_asked_for_keeps_the_files_keys_and_settings() {
    let s = setup();
    let both = format!("{},{}", s.a.recipient, s.b.recipient);
    ok(&s.run(
        &[&s.a],
        &[
            "encrypt",
            "--age",
            &both,
            "--encrypted-regex",
            "^password$",
            "--output",
            "s.yaml",
            "p.yaml",
        ],
    ));
    let before = s.read();
    let o = s.run(&[&s.a], &["encrypt", "--output", "s.yaml", "p.yaml"]);
    ok(&o);
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(s.read(), before);
}
