//! Regression tests for the differences the suite found, on files written by the real
//! sops 3.11.0 and committed under fixtures/sops/v3.11.0 (they run without sops).

use crate::harness::fixture;
use crate::harness::same_layout;
use crate::support::env_vars;
use crate::support::run_in;

fn read(rel: &str) -> String {
    std::fs::read_to_string(fixture(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// sops 3.11 writes an encrypted comment inside a list as a list item; leafseal failed
/// the MAC check on such files (issue #12). It must open them, print what sops prints,
/// and write the same layout (line comments above their entry, `!!merge <<`).
#[test]
fn sops_list_comments_open_and_are_written_the_same() {
    let home = tempfile::tempdir().expect("home");
    let vars = env_vars(None, home.path());
    let dir = fixture("v3.11.0");
    let out = run_in(&vars, &dir, &["decrypt", "comments-in-lists.enc.yaml"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        read("v3.11.0/comments-in-lists.decrypted.yaml")
    );
    let enc = run_in(
        &vars,
        &dir,
        &[
            "encrypt",
            "--age",
            crate::support::AGE_RECIPIENT,
            "comments-in-lists.plain.yaml",
        ],
    );
    assert!(
        enc.status.success(),
        "{}",
        String::from_utf8_lossy(&enc.stderr)
    );
    same_layout(
        "comments-in-lists",
        &String::from_utf8_lossy(&enc.stdout),
        &read("v3.11.0/comments-in-lists.enc.yaml"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

/// sops writes a key group's empty `hc_vault`/`age` lists as `null` in JSON.
#[test]
fn json_key_groups_layout_as_sops() {
    let home = tempfile::tempdir().expect("home");
    let mut vars = env_vars(None, home.path());
    let keys = home.path().join("keys.txt");
    let mut both = read("keys/age-test-keys.txt");
    both.push_str(&read("keys/age-vectors/x25519-identity.txt"));
    std::fs::write(&keys, both).expect("keys");
    vars.insert("SOPS_AGE_KEY_FILE".into(), keys.display().to_string());
    let dir = fixture("v3.11.0");
    let out = run_in(&vars, &dir, &["decrypt", "key-groups.enc.json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        read("v3.11.0/key-groups.decrypted.json")
    );
    let enc = run_in(
        &vars,
        &dir,
        &[
            "--config",
            "key-groups.policy.yaml",
            "encrypt",
            "key-groups.plain.json",
        ],
    );
    assert!(
        enc.status.success(),
        "{}",
        String::from_utf8_lossy(&enc.stderr)
    );
    same_layout(
        "key-groups",
        &String::from_utf8_lossy(&enc.stdout),
        &read("v3.11.0/key-groups.enc.json"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

/// Exit codes sops 3.11 uses: a damaged encrypted file and an invalid `lastmodified`
/// exit 1 (before any key is needed), so does encrypt without any key.
#[test]
fn damaged_files_and_missing_keys_exit_1() {
    let home = tempfile::tempdir().expect("home");
    let mut vars = env_vars(None, home.path());
    vars.remove("SOPS_AGE_KEY_FILE");
    let work = tempfile::tempdir().expect("work");
    let enc = read("v3.11.0/comments-in-lists.enc.yaml");
    std::fs::write(work.path().join("trunc.yaml"), &enc[..enc.len() / 2]).expect("write");
    std::fs::write(
        work.path().join("lm.yaml"),
        enc.replace("lastmodified: \"", "lastmodified: \"x"),
    )
    .expect("write");
    let json = read("v3.11.0/key-groups.enc.json");
    std::fs::write(work.path().join("trunc.json"), &json[..json.len() / 2]).expect("write");
    std::fs::write(work.path().join("p.yaml"), "a: 1\n").expect("write");
    for args in [
        &["decrypt", "trunc.yaml"][..],
        &["decrypt", "lm.yaml"],
        &["decrypt", "trunc.json"],
        &["encrypt", "p.yaml"],
    ] {
        let out = run_in(&vars, work.path(), args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The layout comparison ignores a `leafseal_integrity` metadata field (another
/// branch adds it to leafseal-written files; sops ignores it), flat or nested.
#[test]
fn masking_drops_leafseal_integrity() {
    let base = read("v3.11.0/comments-in-lists.enc.yaml");
    let with_flat = base.replace(
        "    lastmodified:",
        "    leafseal_integrity: abc\n    lastmodified:",
    );
    let with_map = base.replace(
        "    lastmodified:",
        "    leafseal_integrity:\n        v: 1\n        digest: xyz\n    lastmodified:",
    );
    same_layout("flat", &with_flat, &base).unwrap_or_else(|e| panic!("{e}"));
    same_layout("map", &with_map, &base).unwrap_or_else(|e| panic!("{e}"));
    let json = read("v3.11.0/key-groups.enc.json");
    let with_json = json.replace(
        "\t\t\"lastmodified\"",
        "\t\t\"leafseal_integrity\": \"abc\",\n\t\t\"lastmodified\"",
    );
    assert_ne!(with_json, json);
    let with_json_map = json.replace(
        "\t\t\"lastmodified\"",
        "\t\t\"leafseal_integrity\": {\n\t\t\t\"v\": 1\n\t\t},\n\t\t\"lastmodified\"",
    );
    same_layout("json map", &with_json_map, &json).unwrap_or_else(|e| panic!("{e}"));
    same_layout("json", &with_json, &json).unwrap_or_else(|e| panic!("{e}"));
}
