//! Files without a record, records written by updatekeys, and the real sops reading them.

use super::*;

#[test]
fn files_without_a_record_decrypt_with_a_warning_and_fail_under_strict() {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let vars = env_vars(None, home.path());
    let enc = encrypt(&vars, d, "s.yaml", "a: secret\n");
    let stripped: String = enc
        .lines()
        .filter(|l| !l.contains("leafseal_integrity"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(d.join("s.yaml"), &stripped).expect("write");
    let out = run_in(&vars, d, &["decrypt", "s.yaml"]);
    assert!(out.status.success());
    assert_eq!(out.stdout, b"a: secret\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("warning").count(), 1, "{err}");
    assert!(err.contains("no leafseal integrity record"), "{err}");

    // The strict setting: flag, environment variable, .sops.yaml.
    let out = run_in(&vars, d, &["--strict-integrity", "decrypt", "s.yaml"]);
    assert_eq!(out.status.code(), Some(INTEGRITY_MISMATCH));
    assert!(out.stdout.is_empty());
    let mut strict = vars.clone();
    strict.insert("LEAFSEAL_STRICT_INTEGRITY".into(), "1".into());
    let out = run_in(&strict, d, &["decrypt", "s.yaml"]);
    assert_eq!(out.status.code(), Some(INTEGRITY_MISMATCH));
    std::fs::write(
        d.join(".sops.yaml"),
        "leafseal:\n  strict_integrity: true\ncreation_rules:\n  - age: ".to_owned()
            + AGE_RECIPIENT
            + "\n",
    )
    .expect("policy");
    let out = run_in(&vars, d, &["decrypt", "s.yaml"]);
    assert_eq!(out.status.code(), Some(INTEGRITY_MISMATCH));
    assert!(out.stdout.is_empty());

    // A record bound to another MAC (left behind by a tool that rewrote the file) is
    // stale: a warning, or an error under strict.
    std::fs::remove_file(d.join(".sops.yaml")).expect("rm");
    let other = encrypt(&vars, d, "o.yaml", "a: secret\n");
    let record = other
        .lines()
        .find(|l| l.contains("leafseal_integrity"))
        .expect("record")
        .to_owned();
    let with_stale = stripped.replace("    mac: ", &format!("{record}\n    mac: "));
    std::fs::write(d.join("s.yaml"), &with_stale).expect("write");
    let out = run_in(&vars, d, &["decrypt", "s.yaml"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("earlier version"));
    let out = run_in(&strict, d, &["decrypt", "s.yaml"]);
    assert_eq!(out.status.code(), Some(INTEGRITY_MISMATCH));

    // Re-saving with leafseal writes a current record again.
    std::fs::write(d.join("s.yaml"), &stripped).expect("write");
    let out = run_in(&vars, d, &["set", "s.yaml", "[\"b\"]", "\"x\""]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run_in(&strict, d, &["decrypt", "s.yaml"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn updatekeys_writes_a_record_only_for_a_file_it_verified() {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let gpg = GpgHome::new();
    let vars = env_vars(Some(&gpg), home.path());
    let enc = encrypt(&vars, d, "s.yaml", "a: secret\n");
    let stripped: String = enc
        .lines()
        .filter(|l| !l.contains("leafseal_integrity"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(
        d.join(".sops.yaml"),
        format!("creation_rules:\n  - age: {AGE_RECIPIENT}\n    pgp: {PGP_FP}\n"),
    )
    .expect("policy");
    // Tampered and without a record: updatekeys decrypts it to check the MAC first and
    // refuses, instead of blessing the change with a new record.
    std::fs::write(
        d.join("s.yaml"),
        stripped.replacen("a: ", "b_unencrypted: 1\na: ", 1),
    )
    .expect("w");
    let out = run_in(&vars, d, &["updatekeys", "-y", "s.yaml"]);
    assert_eq!(
        out.status.code(),
        Some(51),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("MAC mismatch"));
    // Untampered without a record: updated, and the record is back.
    std::fs::write(d.join("s.yaml"), &stripped).expect("w");
    let out = run_in(&vars, d, &["updatekeys", "-y", "s.yaml"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let now = std::fs::read_to_string(d.join("s.yaml")).expect("read");
    assert!(now.contains("leafseal_integrity") && now.contains(PGP_FP));
    let out = run_in(&vars, d, &["--strict-integrity", "decrypt", "s.yaml"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The real sops with a cleared environment plus `vars`.
fn sops_cmd(bin: &Path, vars: &HashMap<String, String>) -> std::process::Command {
    let mut c = std::process::Command::new(bin);
    c.env_clear().envs(vars).stdin(std::process::Stdio::null());
    c
}

#[test]
fn real_sops_reads_files_with_a_record_and_leafseal_reads_them_back_after_sops() {
    let Some(sops) = sops_peer::sops_bin() else {
        return;
    };
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let vars = env_vars(None, home.path());
    let cases = [
        ("s.yaml", "a: secret\nnum: 5\nl:\n    - x\n    - 2.5\n"),
        ("s.json", "{\n\t\"a\": \"secret\",\n\t\"num\": 5\n}\n"),
        ("s.env", "A=secret\nB=other\n"),
        ("s.ini", "[sec]\na = secret\n"),
    ];
    for (name, plain) in cases {
        encrypt(&vars, d, name, plain);
        let out = sops_cmd(sops, &vars)
            .current_dir(d)
            .args(["decrypt", name])
            .output()
            .expect("sops");
        assert!(
            out.status.success(),
            "sops decrypt {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), plain, "{name}");
        // sops rewrites the file (and drops or strands the record); leafseal still opens
        // it, with one warning.
        // INI has no top-level keys: change a value inside the section there.
        let (path, value) = if name.ends_with(".ini") {
            ("[\"sec\"][\"a\"]", "\"changed-by-sops\"")
        } else {
            ("[\"extra\"]", "\"added-by-sops\"")
        };
        let out = sops_cmd(sops, &vars)
            .current_dir(d)
            .args(["set", name, path, value])
            .output()
            .expect("sops set");
        assert!(
            out.status.success(),
            "sops set {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = run_in(&vars, d, &["decrypt", name]);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("by-sops"), "{name}: {text}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.matches("warning").count(), 1, "{name}: {err}");
        assert!(err.contains("integrity record"), "{name}: {err}");
        let out = run_in(&vars, d, &["--strict-integrity", "decrypt", name]);
        assert_eq!(out.status.code(), Some(INTEGRITY_MISMATCH), "{name}");
    }
}
