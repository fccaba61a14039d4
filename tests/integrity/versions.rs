//! Records of version v1 (written before round 26) and v2 (written now): both verify on
//! the tree and the streaming readers, changes outside the MAC fail closed in both, and a
//! rewrite of a v1 file stores a v2 record that every reader verifies.

use super::*;

/// The reader settings: the whole tree, and the streaming path in tiny parts (required,
/// so a decline fails the test instead of falling back to the tree).
const READERS: [&[(&str, &str)]; 2] = [
    &[("LEAFSEAL_STREAM", "never")],
    &[
        ("LEAFSEAL_STREAM", "require"),
        ("LEAFSEAL_STREAM_PART", "1"),
    ],
];

/// The writer settings: the whole tree, and the splice (`set`) or the streamed rotation
/// in tiny parts, required.
const WRITERS: [&[(&str, &str)]; 2] = [
    &[("LEAFSEAL_STREAM", "never"), ("LEAFSEAL_SPLICE", "never")],
    &[
        ("LEAFSEAL_STREAM", "require"),
        ("LEAFSEAL_SPLICE", "require"),
        ("LEAFSEAL_STREAM_PART", "1"),
    ],
];

fn with(vars: &HashMap<String, String>, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut v = vars.clone();
    v.insert("LEAFSEAL_STRICT_INTEGRITY".into(), "1".into());
    for (k, val) in extra {
        v.insert((*k).into(), (*val).into());
    }
    v
}

/// Copies a v1 fixture and its plaintext into `dir`.
fn v1_fixture(dir: &Path, name: &str) -> (String, String) {
    let src = fixtures().join("integrity/v1");
    let enc = std::fs::read_to_string(src.join(name)).expect("fixture");
    let (stem, ext) = name.split_once('.').expect("extension");
    let plain = std::fs::read_to_string(src.join(format!("{stem}.plain.{ext}"))).expect("plain");
    std::fs::write(dir.join(name), &enc).expect("write");
    (enc, plain)
}

/// Decrypts `name` under the strict setting with every reader and expects `plain`.
fn reads_as(vars: &HashMap<String, String>, dir: &Path, name: &str, plain: &str) {
    for reader in READERS {
        let out = run_in(&with(vars, reader), dir, &["decrypt", name]);
        assert!(
            out.status.success(),
            "{name} {reader:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            plain,
            "{name} {reader:?}"
        );
    }
}

/// `tamper` applied to `enc` fails with exit 53 and no output on every reader.
fn fails_closed(vars: &HashMap<String, String>, dir: &Path, name: &str, enc: &str, tampered: &str) {
    assert_ne!(tampered, enc, "{name}: the tamper changed nothing");
    std::fs::write(dir.join(name), tampered).expect("write");
    for reader in READERS {
        let out = run_in(&with(vars, reader), dir, &["decrypt", name]);
        assert_eq!(
            out.status.code(),
            Some(INTEGRITY_MISMATCH),
            "{name} {reader:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "{name} {reader:?}");
    }
    std::fs::write(dir.join(name), enc).expect("restore");
}

/// The record's tag with one base64 digit changed (after `v?:` and the MAC reference).
fn record_tag_changed(enc: &str, prefix: &str) -> String {
    let at = enc.find(prefix).expect("record") + prefix.len() + 16 + 1 + 3;
    let old = &enc[at..=at];
    let new = if old == "A" { "B" } else { "A" };
    format!("{}{new}{}", &enc[..at], &enc[at + 1..])
}

#[test]
fn v1_records_of_earlier_versions_verify_and_catch_changes_on_every_reader() {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let vars = env_vars(None, home.path());

    let (enc, plain) = v1_fixture(d, "app.yaml");
    assert!(enc.contains("leafseal_integrity: v1:"), "{enc}");
    reads_as(&vars, d, "app.yaml", &plain);
    fails_closed(
        &vars,
        d,
        "app.yaml",
        &enc,
        &insert_after(&enc, "empty: \"\"\n", "injected: \"\"\n"),
    );
    fails_closed(
        &vars,
        d,
        "app.yaml",
        &enc,
        &record_tag_changed(&enc, "leafseal_integrity: v1:"),
    );
    // The v1 tag read as a v2 record (the version prefix changed): not valid either.
    fails_closed(
        &vars,
        d,
        "app.yaml",
        &enc,
        &enc.replace("leafseal_integrity: v1:", "leafseal_integrity: v2:"),
    );

    let (enc, plain) = v1_fixture(d, "app.json");
    assert!(enc.contains("\"leafseal_integrity\": \"v1:"), "{enc}");
    reads_as(&vars, d, "app.json", &plain);
    fails_closed(
        &vars,
        d,
        "app.json",
        &enc,
        &insert_after(&enc, "\"empty\": \"\",", "\n\t\"injected\": null,"),
    );
    fails_closed(
        &vars,
        d,
        "app.json",
        &enc,
        &record_tag_changed(&enc, "\"leafseal_integrity\": \"v1:"),
    );
}

#[test]
fn a_rewrite_stores_a_v2_record_that_every_reader_verifies() {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let vars = env_vars(None, home.path());
    // `set` on the splice (the new record started anew: a v1 record cannot be resumed)
    // and on the tree path, `rotate -i` on both: each writes v2, and the tree reader and
    // the streaming reader (in tiny parts) both verify what the other path wrote.
    for writer in WRITERS {
        let (_, plain) = v1_fixture(d, "app.yaml");
        let out = run_in(
            &with(&vars, writer),
            d,
            &["set", "app.yaml", "[\"tail\"]", "\"changed\""],
        );
        assert!(
            out.status.success(),
            "set {writer:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let enc = std::fs::read_to_string(d.join("app.yaml")).expect("read");
        assert!(
            enc.contains("leafseal_integrity: v2:"),
            "set {writer:?}: {enc}"
        );
        reads_as(
            &vars,
            d,
            "app.yaml",
            &plain.replace("tail: last", "tail: changed"),
        );
        fails_closed(
            &vars,
            d,
            "app.yaml",
            &enc,
            &insert_after(&enc, "empty: \"\"\n", "injected: {}\n"),
        );
        fails_closed(
            &vars,
            d,
            "app.yaml",
            &enc,
            &record_tag_changed(&enc, "leafseal_integrity: v2:"),
        );
        // Again on the v2 file: the splice resumes the new record from the old one's
        // state before the changed part (a key early in the file, a sub-part of `db`;
        // a key late in it; a new first key, after every part).
        let mut want = plain.replace("tail: last", "tail: changed");
        for (path, value, line, new_line) in [
            (
                "[\"db\"][\"user\"]",
                "\"root\"",
                "user: admin",
                "user: root",
            ),
            ("[\"tail\"]", "\"again\"", "tail: changed", "tail: again"),
            (
                "[\"zzz\"]",
                "\"new\"",
                "tail: again\n",
                "tail: again\nzzz: new\n",
            ),
        ] {
            let out = run_in(&with(&vars, writer), d, &["set", "app.yaml", path, value]);
            assert!(
                out.status.success(),
                "set {path} {writer:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            want = want.replace(line, new_line);
            reads_as(&vars, d, "app.yaml", &want);
        }

        let (_, plain) = v1_fixture(d, "app.json");
        let out = run_in(&with(&vars, writer), d, &["rotate", "-i", "app.json"]);
        assert!(
            out.status.success(),
            "rotate {writer:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let enc = std::fs::read_to_string(d.join("app.json")).expect("read");
        assert!(
            enc.contains("\"leafseal_integrity\": \"v2:"),
            "rotate {writer:?}: {enc}"
        );
        reads_as(&vars, d, "app.json", &plain);
        fails_closed(
            &vars,
            d,
            "app.json",
            &enc,
            &record_tag_changed(&enc, "\"leafseal_integrity\": \"v2:"),
        );
    }
}

#[test]
fn check_without_a_key_reads_v1_and_v2_records() {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let keyed = env_vars(None, home.path());
    std::fs::write(
        d.join(".sops.yaml"),
        format!("creation_rules:\n  - age: {AGE_RECIPIENT}\n"),
    )
    .expect("policy");
    v1_fixture(d, "app.yaml");
    std::fs::copy(d.join("app.yaml"), d.join("old.yaml")).expect("copy");
    let out = run_in(&keyed, d, &["set", "app.yaml", "[\"tail\"]", "\"v2\""]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v2 = std::fs::read_to_string(d.join("app.yaml")).expect("read");
    assert!(v2.contains("leafseal_integrity: v2:"), "{v2}");
    // A record of an unknown version: what `check --strict` reports.
    std::fs::write(
        d.join("v3.yaml"),
        v2.replace("leafseal_integrity: v2:", "leafseal_integrity: v3:"),
    )
    .expect("write");
    // No key: `check` judges the record by its public MAC reference only.
    let mut keyless = keyed.clone();
    keyless.remove("SOPS_AGE_KEY_FILE");
    for (name, good) in [("old.yaml", true), ("app.yaml", true), ("v3.yaml", false)] {
        let out = run_in(&keyless, d, &["check", "--strict", name]);
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.success(), good, "{name}: {said}");
        assert_eq!(said.contains("integrity record"), !good, "{name}: {said}");
    }
}
