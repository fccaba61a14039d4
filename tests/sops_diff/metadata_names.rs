//! Metadata field names in other cases (round 24). sops 3.11 reads the `sops` block of
//! a JSON, binary or dotenv file with Go's JSON decoder, which matches a key to a field
//! ignoring case (`Version`, `MAC`, `AGE`, `verſion`), and of a YAML file with go-yaml,
//! which does not (`VERSION:` is an unknown key there). Before round 24 leafseal refused
//! a JSON `Version` (exit 1) and read a YAML `MAC`, `LASTMODIFIED`, `AGE` or `Enc` that
//! sops ignores; two keys naming one JSON field were read as the first (sops: the last).

use crate::harness::Peer;
use crate::harness::Tool;
use crate::harness::assert_no_differences;
use crate::support::AGE_RECIPIENT;

/// Has sops encrypt `plain` as `name` and returns its file.
fn sops_file(p: &Peer, name: &str, plain: &str, extra: &[&str]) -> String {
    p.write(name, plain);
    let mut args = vec!["encrypt", "--age", AGE_RECIPIENT];
    args.extend_from_slice(extra);
    args.push(name);
    String::from_utf8(p.ok(Tool::Sops, &args)).expect("utf-8")
}

/// Every metadata field (and key-entry field) of a JSON, binary or dotenv file in
/// another case is read as the field by both tools: the same plaintext, and a rewrite
/// by leafseal writes the field's own name, as sops does.
#[test]
fn other_cases_of_json_and_dotenv_fields_read_as_sops_reads_them() {
    let Some(p) = Peer::new(None) else { return };
    let json = sops_file(&p, "p.json", "{\"a\": \"secret\", \"b\": [1, 2]}", &[]);
    let bin = sops_file(&p, "p.bin", "raw secret\n", &[]);
    let env = sops_file(&p, "p.env", "A=secret\n", &[]);
    let q = |s: &str| format!("\"{s}\"");
    let mut diffs = Vec::new();
    let mut cases = 0;
    let json_renames: &[(&str, &str)] = &[
        ("version", "Version"),
        ("version", "VERSION"),
        ("version", "verſion"),
        ("mac", "MAC"),
        ("lastmodified", "LastModified"),
        ("lastmodified", "laſtmodified"),
        ("age", "AGE"),
        ("recipient", "Recipient"),
        ("enc", "ENC"),
        ("unencrypted_suffix", "Unencrypted_Suffix"),
    ];
    for (base, name) in [(&json, "f.json"), (&bin, "f.bin")] {
        let mut all = base.clone();
        for (from, to) in json_renames {
            let text = base.replacen(&q(from), &q(to), 1);
            all = all.replacen(&q(from), &q(to), 1);
            if &text == base {
                // sops 3.11 writes no selector in a binary file.
                assert_eq!((name, *from), ("f.bin", "unencrypted_suffix"));
                continue;
            }
            for (label, text) in [(*to, &text), ("all at once", &all)] {
                cases += 1;
                p.write(name, text);
                if let Err(e) = p.decrypt_both(name, &[]) {
                    diffs.push(format!("{name} {label}: {e}"));
                }
            }
        }
        cases += 1;
        p.write(name, &all);
        let set_args = if name.ends_with("json") {
            vec!["set", name, "[\"a\"]", "\"new\""]
        } else {
            vec!["set", name, "[\"data\"]", "\"new\""]
        };
        let set = p.run(Tool::Leafseal, &set_args);
        let written = String::from_utf8(p.read(name)).expect("utf-8");
        let canonical = [
            "\"version\"",
            "\"mac\"",
            "\"age\"",
            "\"recipient\"",
            "\"enc\"",
        ]
        .iter()
        .all(|f| written.contains(f));
        if !set.ok() || !canonical || p.decrypt_both(name, &[]).is_err() {
            diffs.push(format!(
                "{name}: leafseal set on other-case names: exit {} ({}), fields written \
                 by their own names: {canonical}",
                set.code,
                set.stderr.trim()
            ));
        }
    }
    for (from, to) in [
        ("sops_version=", "sops_VERSION="),
        ("sops_mac=", "sops_MAC="),
        (
            "sops_age__list_0__map_recipient=",
            "sops_age__list_0__map_Recipient=",
        ),
        ("sops_age__list_0__map_enc=", "sops_age__list_0__map_ENC="),
    ] {
        cases += 1;
        p.write("f.env", env.replacen(from, to, 1));
        if let Err(e) = p.decrypt_both("f.env", &[]) {
            diffs.push(format!("dotenv {to}: {e}"));
        }
    }
    assert_no_differences("other-case JSON, binary and dotenv metadata", cases, &diffs);
}

/// Two keys that name one JSON field: sops reads the last one that is not `null`;
/// leafseal refuses the file (exit 1) on every command rather than guess, since a
/// reader that takes the first one sees another file (docs/compatibility.md).
#[test]
fn two_json_keys_for_one_field_are_refused() {
    let Some(p) = Peer::new(None) else { return };
    let json = sops_file(&p, "p.json", "{\"a\": \"secret\"}", &[]);
    let version = json
        .lines()
        .find(|l| l.contains("\"version\""))
        .expect("version line")
        .to_owned();
    let mac = json
        .lines()
        .find(|l| l.contains("\"mac\""))
        .expect("mac line")
        .to_owned();
    let bad_mac = mac
        .replacen("\"mac\"", "\"MAC\"", 1)
        .replacen("data:", "data:AA", 1);
    let cases = [
        (
            "Version 3.9 after version",
            json.replacen(
                &version,
                &format!("{version},\n\t\t\"Version\": \"3.9\""),
                1,
            ),
            1,
        ),
        (
            "Version 3.9 before version",
            json.replacen(&version, &format!("\"Version\": \"3.9\",\n{version}"), 1),
            0,
        ),
        (
            "a damaged MAC before mac",
            json.replacen(&mac, &format!("{bad_mac}\n{mac}"), 1),
            0,
        ),
        (
            "Enc before enc",
            json.replacen("\"enc\": \"", "\"Enc\": \"x\",\n\t\t\t\t\"enc\": \"", 1),
            0,
        ),
    ];
    let mut diffs = Vec::new();
    for (label, text, sops_exit) in &cases {
        p.write("f.json", text);
        let s = p.run(Tool::Sops, &["decrypt", "f.json"]);
        if s.code != *sops_exit {
            diffs.push(format!(
                "{label}: sops exit {} ({})",
                s.code,
                s.stderr.trim()
            ));
        }
        for args in [
            vec!["decrypt", "f.json"],
            vec!["set", "f.json", "[\"a\"]", "1"],
            vec!["rotate", "-i", "f.json"],
        ] {
            p.write("f.json", text);
            let l = p.run(Tool::Leafseal, &args);
            if l.code != 1 || !l.stderr.contains("two keys name it") {
                diffs.push(format!(
                    "{label}: leafseal {args:?}: exit {} ({})",
                    l.code,
                    l.stderr.trim()
                ));
            }
            if p.read("f.json") != text.as_bytes() {
                diffs.push(format!("{label}: leafseal {args:?} changed the file"));
            }
        }
    }
    assert_no_differences("two JSON keys for one metadata field", cases.len(), &diffs);
}

/// go-yaml matches YAML metadata keys exactly: a renamed field is missing for sops, and
/// now for leafseal too (same exit code; before round 24 leafseal decrypted `MAC:`,
/// `LASTMODIFIED:`, `AGE:` and an entry's `Enc:`).
#[test]
fn other_cases_of_yaml_fields_are_unknown_keys_as_in_sops() {
    let Some(p) = Peer::new(None) else { return };
    let yaml = sops_file(&p, "p.yaml", "a: secret\nb: [1, 2]\n", &[]);
    let mut diffs = Vec::new();
    let renames = [
        ("    version:", "    VERSION:"),
        ("    mac:", "    MAC:"),
        ("    lastmodified:", "    LastModified:"),
        ("    age:", "    AGE:"),
        ("      enc:", "      Enc:"),
        ("    unencrypted_suffix:", "    Unencrypted_Suffix:"),
    ];
    for (from, to) in renames {
        let text = yaml.replacen(from, to, 1);
        assert_ne!(text, yaml, "{from} is in the file");
        p.write("f.yaml", &text);
        let s = p.run(Tool::Sops, &["decrypt", "f.yaml"]);
        let l = p.run(Tool::Leafseal, &["decrypt", "f.yaml"]);
        if s.code != l.code || s.stdout != l.stdout {
            diffs.push(format!(
                "{to}: sops exit {} ({}), leafseal exit {} ({})",
                s.code,
                s.stderr.trim(),
                l.code,
                l.stderr.trim()
            ));
        }
    }
    assert_no_differences("other-case YAML metadata", renames.len(), &diffs);
}
