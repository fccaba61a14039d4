//! Records of version v1 (written before round 26), v2 (rounds 26 to 28) and v3 (written
//! now): all verify on the tree and the streaming readers, changes outside the MAC fail
//! closed in all, a rewrite stores a v3 record that every reader verifies, and a splice
//! of a v2 file resumes its record and keeps it v2.

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

/// Copies a fixture of `version` (`fixtures/integrity/VERSION`) and its plaintext into
/// `dir`.
fn fixture_of(version: &str, dir: &Path, name: &str) -> (String, String) {
    let src = fixtures().join("integrity").join(version);
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

/// The fixtures of an earlier record `version` (`fixtures/integrity/VERSION`) verify on
/// every reader; an added key outside the MAC, a changed tag, and the tag read as each of
/// `read_as` (the same tag under another version's prefix) fail closed.
fn an_earlier_version_verifies_and_catches_changes(version: &str, read_as: &[&str]) {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let vars = env_vars(None, home.path());
    let yaml_record = format!("leafseal_integrity: {version}:");
    let json_record = format!("\"leafseal_integrity\": \"{version}:");

    let (enc, plain) = fixture_of(version, d, "app.yaml");
    assert!(enc.contains(&yaml_record), "{enc}");
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
        &record_tag_changed(&enc, &yaml_record),
    );
    for other in read_as {
        let relabelled = enc.replace(&yaml_record, &format!("leafseal_integrity: {other}"));
        fails_closed(&vars, d, "app.yaml", &enc, &relabelled);
    }

    let (enc, plain) = fixture_of(version, d, "app.json");
    assert!(enc.contains(&json_record), "{enc}");
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
        &record_tag_changed(&enc, &json_record),
    );
}

#[test]
fn v1_records_of_earlier_versions_verify_and_catch_changes_on_every_reader() {
    an_earlier_version_verifies_and_catches_changes("v1", &["v2:", "v3:"]);
}

/// v2 and v3 hash the same input: a v2 tag (HMAC-SHA-256) read as v3 (keyed BLAKE3) must
/// fail.
#[test]
fn v2_records_of_earlier_versions_verify_and_catch_changes_on_every_reader() {
    an_earlier_version_verifies_and_catches_changes("v2", &["v3:", "v1:"]);
}

/// `rotate -i` of the JSON fixture of `version` with `writer`'s settings: it succeeds,
/// stores a v3 record, and every reader decrypts the file to the fixture's plaintext.
/// The rotated text.
fn rotates_to_v3(
    vars: &HashMap<String, String>,
    d: &Path,
    writer: &[(&str, &str)],
    version: &str,
) -> String {
    let (_, plain) = fixture_of(version, d, "app.json");
    let out = run_in(&with(vars, writer), d, &["rotate", "-i", "app.json"]);
    assert!(
        out.status.success(),
        "rotate {writer:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let enc = std::fs::read_to_string(d.join("app.json")).expect("read");
    assert!(
        enc.contains("\"leafseal_integrity\": \"v3:"),
        "rotate {writer:?}: {enc}"
    );
    reads_as(vars, d, "app.json", &plain);
    enc
}

#[test]
fn a_splice_of_a_v2_file_keeps_its_record_v2_and_a_whole_rewrite_stores_v3() {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let vars = env_vars(None, home.path());
    // The splice resumes the stored record from its state before the changed part, so
    // it goes on in the stored version; the tree path computes the record anew, in v3.
    for (writer, kept) in WRITERS.into_iter().zip(["v3:", "v2:"]) {
        let (_, plain) = fixture_of("v2", d, "app.yaml");
        let mut want = plain.clone();
        for (path, value, line, new_line) in [
            (
                "[\"db\"][\"user\"]",
                "\"root\"",
                "user: admin",
                "user: root",
            ),
            ("[\"tail\"]", "\"again\"", "tail: last", "tail: again"),
        ] {
            let out = run_in(&with(&vars, writer), d, &["set", "app.yaml", path, value]);
            assert!(
                out.status.success(),
                "set {path} {writer:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let enc = std::fs::read_to_string(d.join("app.yaml")).expect("read");
            let record = format!("leafseal_integrity: {kept}");
            assert!(enc.contains(&record), "set {writer:?}: {enc}");
            want = want.replace(line, new_line);
            reads_as(&vars, d, "app.yaml", &want);
            fails_closed(
                &vars,
                d,
                "app.yaml",
                &enc,
                &record_tag_changed(&enc, &record),
            );
        }
        // A rotation seals every value anew: a v3 record on every writer.
        rotates_to_v3(&vars, d, writer, "v2");
    }
}

#[test]
fn a_rewrite_stores_a_v3_record_that_every_reader_verifies() {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let vars = env_vars(None, home.path());
    // `set` on the splice (the new record started anew: a v1 record cannot be resumed)
    // and on the tree path, `rotate -i` on both: each writes v3, and the tree reader and
    // the streaming reader (in tiny parts) both verify what the other path wrote.
    for writer in WRITERS {
        let (_, plain) = fixture_of("v1", d, "app.yaml");
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
            enc.contains("leafseal_integrity: v3:"),
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
            &record_tag_changed(&enc, "leafseal_integrity: v3:"),
        );
        // Again on the v3 file: the splice resumes the new record from the old one's
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

        let enc = rotates_to_v3(&vars, d, writer, "v1");
        fails_closed(
            &vars,
            d,
            "app.json",
            &enc,
            &record_tag_changed(&enc, "\"leafseal_integrity\": \"v3:"),
        );
    }
}

#[test]
fn check_without_a_key_reads_v1_v2_and_v3_records() {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let keyed = env_vars(None, home.path());
    std::fs::write(
        d.join(".sops.yaml"),
        format!("creation_rules:\n  - age: {AGE_RECIPIENT}\n"),
    )
    .expect("policy");
    fixture_of("v1", d, "app.yaml");
    std::fs::copy(d.join("app.yaml"), d.join("old.yaml")).expect("copy");
    fixture_of("v2", d, "app.yaml");
    std::fs::copy(d.join("app.yaml"), d.join("v2.yaml")).expect("copy");
    let out = run_in(&keyed, d, &["rotate", "-i", "app.yaml"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v3 = std::fs::read_to_string(d.join("app.yaml")).expect("read");
    assert!(v3.contains("leafseal_integrity: v3:"), "{v3}");
    // A record of an unknown version: what `check --strict` reports.
    std::fs::write(
        d.join("v4.yaml"),
        v3.replace("leafseal_integrity: v3:", "leafseal_integrity: v4:"),
    )
    .expect("write");
    // No key: `check` judges the record by its public MAC reference only.
    let mut keyless = keyed.clone();
    keyless.remove("SOPS_AGE_KEY_FILE");
    for (name, good) in [
        ("old.yaml", true),
        ("v2.yaml", true),
        ("app.yaml", true),
        ("v4.yaml", false),
    ] {
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
