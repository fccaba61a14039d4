//! PGP fingerprints in the forms sops accepts and writes: `0x` + fingerprint, lower
//! case, `0x` + long key ID (fixtures/sops/v3.11.0/pgp-fingerprints.*, written by the
//! real sops 3.11.0; pgp-fingerprints.sh has the commands). leafseal opens such files
//! with any of their keys, keeps each `fp` exactly as written when it rewrites them,
//! writes `--pgp 0x…` as sops does, and never lets a PGP entry it cannot use make the
//! whole file unreadable.

mod support;

#[path = "support/sops.rs"]
mod sops;

use std::collections::HashMap;
use std::path::Path;
use std::process::Output;

use support::*;

const ENC: &str = "v3.11.0/pgp-fingerprints.enc.yaml";
/// The `--pgp` list pgp-fingerprints.sh gave sops.
const FPS: &str = "0xFBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4,d7229043384bcc60326c6fb9d8720d957c3d3074,0x3D16CEE4A27381B4";

fn read(rel: &str) -> String {
    std::fs::read_to_string(sops_fixture(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
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

/// Variables with gpg holding the test keys and no age key.
fn gpg_only(gpg: &GpgHome, home: &Path) -> HashMap<String, String> {
    let mut v = env_vars(Some(gpg), home);
    v.remove("SOPS_AGE_KEY_FILE");
    v
}

/// A work directory holding a copy of the fixture as `s.yaml`, with `edit` applied.
fn copy(edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("s.yaml"), edit(read(ENC))).expect("write");
    dir
}

fn fp_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.contains("fp:")).collect()
}

#[test]
fn sops_0x_fingerprints_open_with_the_age_key_alone() {
    let home = tempfile::tempdir().expect("home");
    let dir = copy(|s| s);
    let vars = env_vars(None, home.path());
    let out = ok(&run_in(&vars, dir.path(), &["decrypt", "s.yaml"]));
    assert_eq!(out, read("v3.11.0/pgp-fingerprints.decrypted.yaml"));
    let status = ok(&run_in(&vars, dir.path(), &["filestatus", "s.yaml"]));
    assert_eq!(status.trim(), r#"{"encrypted":true}"#);
}

#[test]
fn sops_0x_fingerprints_open_with_gpg_alone() {
    let home = tempfile::tempdir().expect("home");
    let gpg = GpgHome::new();
    let dir = copy(|s| s);
    let out = ok(&run_in(
        &gpg_only(&gpg, home.path()),
        dir.path(),
        &["decrypt", "s.yaml"],
    ));
    assert_eq!(out, read("v3.11.0/pgp-fingerprints.decrypted.yaml"));
}

#[test]
fn a_rewrite_keeps_each_fp_as_written_and_sops_reads_it() {
    let home = tempfile::tempdir().expect("home");
    let gpg = GpgHome::new();
    let dir = copy(|s| s);
    let vars = env_vars(Some(&gpg), home.path());
    ok(&run_in(
        &vars,
        dir.path(),
        &["set", "s.yaml", r#"["db"]["user"]"#, r#""root""#],
    ));
    let after = std::fs::read_to_string(dir.path().join("s.yaml")).expect("read");
    let before = read(ENC);
    assert_eq!(fp_lines(&after), fp_lines(&before));
    // The whole pgp block (wrapped data keys included) is untouched.
    let pgp = |t: &str| t[t.find("    pgp:").expect("pgp")..].to_owned();
    let (b, a) = (pgp(&before), pgp(&after));
    assert_eq!(
        a.lines()
            .take_while(|l| !l.starts_with("    unencrypted_suffix"))
            .collect::<Vec<_>>(),
        b.lines()
            .take_while(|l| !l.starts_with("    unencrypted_suffix"))
            .collect::<Vec<_>>()
    );
    if let Some(sops) = sops::sops_bin() {
        let out = std::process::Command::new(sops)
            .env_clear()
            .envs(gpg_only(&gpg, home.path()))
            .env("SOPS_DISABLE_VERSION_CHECK", "1")
            .current_dir(dir.path())
            .args(["decrypt", "s.yaml"])
            .output()
            .expect("run sops");
        assert_eq!(ok(&out), "db:\n    user: root\n    password: hunter2\n");
    }
}

#[test]
fn encrypt_writes_fingerprints_as_sops_does() {
    let home = tempfile::tempdir().expect("home");
    let gpg = GpgHome::new();
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("p.yaml"),
        read("v3.11.0/pgp-fingerprints.plain.yaml"),
    )
    .expect("write");
    let vars = env_vars(Some(&gpg), home.path());
    let out = ok(&run_in(
        &vars,
        dir.path(),
        &["encrypt", "--pgp", FPS, "--age", AGE_RECIPIENT, "p.yaml"],
    ));
    assert_eq!(fp_lines(&out), fp_lines(&read(ENC)));
    std::fs::write(dir.path().join("l.yaml"), &out).expect("write");
    let back = ok(&run_in(
        &gpg_only(&gpg, home.path()),
        dir.path(),
        &["decrypt", "l.yaml"],
    ));
    assert_eq!(back, read("v3.11.0/pgp-fingerprints.plain.yaml"));
    // gpg (and so sops) does not take an upper-case `0X`.
    let bad = run_in(
        &vars,
        dir.path(),
        &[
            "encrypt",
            "--pgp",
            "0XFBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4",
            "p.yaml",
        ],
    );
    assert_eq!(bad.status.code(), Some(1));
    // A short key ID (8 digits) names the test key in gpg's keyring, but anyone can make
    // a key with the same ID: refused with exit 1 and nothing printed, as sops 3.11 refuses
    // it; the long key ID (16 digits) is taken, as in sops.
    for short in ["A27381B4", "0xA27381B4"] {
        let refused = run_in(&vars, dir.path(), &["encrypt", "--pgp", short, "p.yaml"]);
        assert_eq!(refused.status.code(), Some(1), "{short}");
        assert!(refused.stdout.is_empty(), "{short}");
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains("short key ID"),
            "{short}: {}",
            String::from_utf8_lossy(&refused.stderr)
        );
    }
    ok(&run_in(
        &vars,
        dir.path(),
        &["encrypt", "--pgp", "0x3D16CEE4A27381B4", "p.yaml"],
    ));
}

#[test]
fn a_pgp_entry_leafseal_cannot_use_does_not_hide_the_other_keys() {
    let home = tempfile::tempdir().expect("home");
    let vars = env_vars(None, home.path());
    for (what, edit) in [
        (
            "unknown fp text",
            (
                "fp: d7229043384bcc60326c6fb9d8720d957c3d3074",
                "fp: not-a-fingerprint",
            ),
        ),
        (
            "no fp",
            (
                "          fp: d7229043384bcc60326c6fb9d8720d957c3d3074\n",
                "",
            ),
        ),
    ] {
        let dir = copy(|s| {
            assert!(s.contains(edit.0));
            s.replace(edit.0, edit.1)
        });
        let out = ok(&run_in(&vars, dir.path(), &["decrypt", "s.yaml"]));
        assert_eq!(
            out,
            read("v3.11.0/pgp-fingerprints.decrypted.yaml"),
            "{what}"
        );
        // A rewrite keeps the entry as it is.
        ok(&run_in(
            &vars,
            dir.path(),
            &["set", "s.yaml", r#"["db"]["user"]"#, r#""root""#],
        ));
        let after = std::fs::read_to_string(dir.path().join("s.yaml")).expect("read");
        assert_eq!(
            fp_lines(&after).len(),
            if edit.1.is_empty() { 2 } else { 3 },
            "{what}"
        );
        if !edit.1.is_empty() {
            assert!(after.contains("fp: not-a-fingerprint"), "{after}");
        }
    }
}
