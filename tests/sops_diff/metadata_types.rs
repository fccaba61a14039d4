//! Metadata fields of the wrong type (round 25). sops 3.11 decodes the `sops` block of a
//! JSON file with Go's `encoding/json` and of a YAML file with go-yaml into typed
//! fields, and stops with exit 1 on a value of the wrong type. Before round 25 leafseal
//! read `"mac_only_encrypted": "true"` as true (then exit 51), a number as the MAC
//! (exit 51), a number or `false` as a suffix, a recipient or a wrapped key (exit 0 or
//! 128), `1.0` as a JSON threshold, and a key list or `key_groups` given as one map.

use crate::harness::Peer;
use crate::harness::Tool;
use crate::harness::assert_no_differences;
use crate::support::AGE_RECIPIENT;

fn sops_file(p: &Peer, name: &str, plain: &str) -> String {
    p.write(name, plain);
    let out = p.ok(Tool::Sops, &["encrypt", "--age", AGE_RECIPIENT, name]);
    String::from_utf8(out).expect("utf-8")
}

/// Each case: a label and the file with one field changed.
fn json_cases(json: &str) -> Vec<(&'static str, String)> {
    let version = "\t\t\"version\": \"3.11.0\"";
    assert!(json.contains(version), "{json}");
    let before_version =
        |field: &str| json.replacen(version, &format!("\t\t{field},\n{version}"), 1);
    let recipient = format!("\"recipient\": \"{AGE_RECIPIENT}\"");
    vec![
        (
            "mac_only_encrypted \"true\"",
            before_version("\"mac_only_encrypted\": \"true\""),
        ),
        (
            "mac_only_encrypted \"false\"",
            before_version("\"mac_only_encrypted\": \"false\""),
        ),
        (
            "shamir_threshold 1.0",
            before_version("\"shamir_threshold\": 1.0"),
        ),
        (
            "pgp as one object",
            before_version("\"pgp\": {\"fp\": \"x\", \"enc\": \"y\"}"),
        ),
        (
            "kms as one object",
            before_version("\"kms\": {\"arn\": \"x\", \"enc\": \"y\"}"),
        ),
        (
            "key_groups as an object",
            before_version("\"key_groups\": {}"),
        ),
        (
            "key_groups of strings",
            before_version("\"key_groups\": [\"x\"]"),
        ),
        (
            "unencrypted_suffix a number",
            json.replacen(
                "\"unencrypted_suffix\": \"_unencrypted\"",
                "\"unencrypted_suffix\": 1",
                1,
            ),
        ),
        (
            "unencrypted_suffix false",
            json.replacen(
                "\"unencrypted_suffix\": \"_unencrypted\"",
                "\"unencrypted_suffix\": false",
                1,
            ),
        ),
        (
            "recipient a number",
            json.replacen(&recipient, "\"recipient\": 5", 1),
        ),
        ("mac a number", {
            let start = json.find("\"mac\": \"").expect("mac");
            let end = start + json[start..].find("]\"").expect("mac end") + 2;
            format!("{}\"mac\": 5{}", &json[..start], &json[end..])
        }),
    ]
}

fn yaml_cases(yaml: &str) -> Vec<(&'static str, String)> {
    let version = "    version: 3.11.0";
    assert!(yaml.contains(version), "{yaml}");
    let before_version =
        |field: &str| yaml.replacen(version, &format!("    {field}\n{version}"), 1);
    vec![
        (
            "mac_only_encrypted \"true\"",
            before_version("mac_only_encrypted: \"true\""),
        ),
        (
            "mac_only_encrypted 'false'",
            before_version("mac_only_encrypted: 'false'"),
        ),
        ("key_groups as a map", before_version("key_groups: {}")),
        ("key_groups of strings", before_version("key_groups: [x]")),
        ("pgp as one map", before_version("pgp: {fp: x, enc: y}")),
        // Still read alike: go-yaml takes any scalar for a text field, 1.0 for a number.
        (
            "unencrypted_suffix a number",
            yaml.replacen(
                "unencrypted_suffix: _unencrypted",
                "unencrypted_suffix: 5",
                1,
            ),
        ),
        (
            "shamir_threshold 1.0",
            before_version("shamir_threshold: 1.0"),
        ),
    ]
}

/// Every case gives both tools the same exit code, and the same plaintext when both
/// decrypt; a refused file is refused by leafseal's `set` and `rotate -i` too, and left
/// as it was.
#[test]
fn metadata_fields_of_the_wrong_type_are_refused_as_sops_refuses_them() {
    let Some(p) = Peer::new(None) else { return };
    let json = sops_file(&p, "p.json", "{\"a\": \"secret\", \"b\": [1, 2]}");
    let yaml = sops_file(&p, "p.yaml", "a: secret\nb: [1, 2]\n");
    let mut diffs = Vec::new();
    let mut cases = 0;
    for (name, list) in [("f.json", json_cases(&json)), ("f.yaml", yaml_cases(&yaml))] {
        for (label, text) in list {
            cases += 1;
            p.write(name, &text);
            let s = p.run(Tool::Sops, &["decrypt", name]);
            let l = p.run(Tool::Leafseal, &["decrypt", name]);
            if s.code != l.code || (s.ok() && s.stdout != l.stdout) {
                diffs.push(format!(
                    "{name} {label}: sops exit {} ({}), leafseal exit {} ({})",
                    s.code,
                    s.stderr.trim(),
                    l.code,
                    l.stderr.trim()
                ));
            }
            if s.code != 1 {
                continue;
            }
            let set = [name, "[\"a\"]", "\"new\""];
            for args in [
                vec!["set", set[0], set[1], set[2]],
                vec!["rotate", "-i", name],
            ] {
                p.write(name, &text);
                let r = p.run(Tool::Leafseal, &args);
                if r.code != 1 || p.read(name) != text.as_bytes() {
                    diffs.push(format!(
                        "{name} {label}: leafseal {args:?}: exit {} ({}), file changed: {}",
                        r.code,
                        r.stderr.trim(),
                        p.read(name) != text.as_bytes()
                    ));
                }
            }
        }
    }
    assert_no_differences("metadata fields of the wrong type", cases, &diffs);
}

/// The streamed paths (`LEAFSEAL_STREAM=require`) decline such a block rather than read
/// it (before round 25 the streamed `decrypt` took `"true"` as true and failed the MAC,
/// exit 51), and `rotate -i` leaves the file as it was.
#[test]
fn the_streamed_paths_decline_a_field_of_the_wrong_type() {
    let Some(p) = Peer::new(None) else { return };
    let json = sops_file(&p, "p.json", "{\"a\": \"secret\"}");
    let yaml = sops_file(&p, "p.yaml", "a: secret\n");
    let mut diffs = Vec::new();
    let cases = [
        (
            "f.json",
            json.replacen(
                "\t\t\"version\"",
                "\t\t\"mac_only_encrypted\": \"true\",\n\t\t\"version\"",
                1,
            ),
        ),
        (
            "f.yaml",
            yaml.replacen(
                "    version:",
                "    mac_only_encrypted: \"true\"\n    version:",
                1,
            ),
        ),
    ];
    for (name, text) in &cases {
        for args in [vec!["decrypt", *name], vec!["rotate", "-i", *name]] {
            p.write(name, text);
            let r = p.run_with(
                Tool::Leafseal,
                &args,
                &[("LEAFSEAL_STREAM", "require")],
                &[],
                None,
            );
            if r.code != 1 || r.stderr.contains("MAC") || p.read(name) != text.as_bytes() {
                diffs.push(format!(
                    "{name} {args:?}: exit {} ({})",
                    r.code,
                    r.stderr.trim()
                ));
            }
        }
    }
    assert_no_differences("streamed metadata of the wrong type", cases.len(), &diffs);
}

/// A negative `shamir_threshold` (round 26): sops 3.11 writes one itself
/// (`encrypt --shamir-secret-sharing-threshold -1`) and reads it as none. leafseal
/// refused the file (exit 1, "malformed: negative"); it now reads it as none too: both
/// decrypt alike, and after a leafseal `set` and `rotate -i` the real sops still does.
#[test]
fn a_negative_shamir_threshold_sops_wrote_is_read_as_none() {
    let Some(p) = Peer::new(None) else { return };
    let mut diffs = Vec::new();
    let files = [("n.yaml", "a: secret\n"), ("n.json", "{\"a\": \"secret\"}")];
    for (name, plain) in files {
        p.write(name, plain);
        let enc = p.ok(
            Tool::Sops,
            &[
                "encrypt",
                "--age",
                AGE_RECIPIENT,
                "--shamir-secret-sharing-threshold=-1",
                name,
            ],
        );
        let text = String::from_utf8(enc).expect("utf-8");
        assert!(
            text.contains("shamir_threshold") && text.contains("-1"),
            "{text}"
        );
        p.write(name, &text);
        if let Err(e) = p.decrypt_both(name, &[]) {
            diffs.push(e);
        }
        for args in [
            &["set", name, "[\"a\"]", "\"new\""][..],
            &["rotate", "-i", name][..],
        ] {
            let l = p.run(Tool::Leafseal, args);
            if !l.ok() {
                diffs.push(format!(
                    "{args:?}: leafseal exit {} ({})",
                    l.code,
                    l.stderr.trim()
                ));
            }
            match p.decrypt_both(name, &[]) {
                Ok(out) if String::from_utf8_lossy(&out).contains("new") => {}
                other => diffs.push(format!("{args:?}: then {other:?}")),
            }
        }
    }
    assert_no_differences("negative shamir_threshold", files.len(), &diffs);
}
