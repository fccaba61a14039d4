//! The top-level JSON member that holds the metadata in another case (round 25).
//! sops 3.11 reads the block of a JSON or binary file with Go's `encoding/json`, so a
//! `"SOPS"` or `"Sops"` member is the metadata; it removes only the exact `sops` from
//! the data, so the member stays in the data too: its values are decrypted as data
//! (exit 25 unless a selector leaves them clear), and a `set` or `rotate` writes it back
//! beside a new `sops` member. Before round 25 leafseal found no metadata (exit 1).

use crate::harness::Peer;
use crate::harness::Tool;
use crate::harness::assert_no_differences;
use crate::support::AGE_RECIPIENT;

fn sops_file(p: &Peer, name: &str, plain: &str) -> String {
    p.write(name, plain);
    let out = p.ok(Tool::Sops, &["encrypt", "--age", AGE_RECIPIENT, name]);
    String::from_utf8(out).expect("utf-8")
}

/// A sops file whose `"a"` alone is encrypted and whose MAC covers only encrypted
/// values: the one layout where sops decrypts a file with its metadata under `"SOPS"`.
fn selector_file(p: &Peer) -> String {
    p.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - age: {AGE_RECIPIENT}\n    encrypted_regex: '^a$'\n    \
             mac_only_encrypted: true\n"
        ),
    );
    p.write("sel.json", "{\"a\": \"secret\", \"b\": \"clear\"}");
    let out = p.ok(Tool::Sops, &["encrypt", "sel.json"]);
    std::fs::remove_file(p.path(".sops.yaml")).expect("remove .sops.yaml");
    String::from_utf8(out).expect("utf-8")
}

/// Both tools give the same exit code (and plaintext) on `decrypt`, `set`, `rotate -i`
/// and `filestatus` of files whose metadata member is `"SOPS"` or `"Sops"` (JSON and
/// binary); on the selector layout, where sops decrypts, its `set` writes the member
/// back beside a new `sops` block (which its reader then merges with it), and leafseal
/// refuses that write and leaves the file as it was.
#[test]
fn a_metadata_member_in_another_case_is_read_as_sops_reads_it() {
    let Some(p) = Peer::new(None) else { return };
    let json = sops_file(&p, "p.json", "{\"a\": \"secret\"}");
    let bin = sops_file(&p, "p.bin", "raw secret\n");
    let sel = selector_file(&p);
    let member = "\"sops\": {";
    assert!(json.contains(member) && bin.contains(member) && sel.contains(member));
    let cases = [
        (
            "JSON SOPS",
            "f.json",
            json.replacen(member, "\"SOPS\": {", 1),
        ),
        (
            "JSON Sops",
            "f.json",
            json.replacen(member, "\"Sops\": {", 1),
        ),
        (
            "binary SOPS",
            "f.bin",
            bin.replacen(member, "\"SOPS\": {", 1),
        ),
        (
            "selector SOPS",
            "f.json",
            sel.replacen(member, "\"SOPS\": {", 1),
        ),
    ];
    let mut diffs = Vec::new();
    for (label, name, text) in &cases {
        let key = if name.ends_with("bin") { "data" } else { "a" };
        let path = format!("[\"{key}\"]");
        let commands = [
            vec!["decrypt", *name],
            vec!["set", *name, &path, "\"new\""],
            vec!["rotate", "-i", *name],
            vec!["filestatus", *name],
        ];
        for args in commands {
            p.write(name, text);
            let s = p.run(Tool::Sops, &args);
            let s_wrote = p.read(name) != text.as_bytes();
            p.write(name, text);
            let l = p.run(Tool::Leafseal, &args);
            let l_wrote = p.read(name) != text.as_bytes();
            let writes = args[0] == "set" || args[0] == "rotate";
            if writes && s.ok() {
                // sops writes a second metadata member: leafseal refuses instead.
                if l.ok() || l_wrote {
                    diffs.push(format!(
                        "{label} {args:?}: leafseal wrote (exit {})",
                        l.code
                    ));
                }
                continue;
            }
            if s.code != l.code || s.stdout != l.stdout || s_wrote != l_wrote {
                diffs.push(format!(
                    "{label} {args:?}: sops exit {} ({}), leafseal exit {} ({})",
                    s.code,
                    s.stderr.trim(),
                    l.code,
                    l.stderr.trim()
                ));
            }
        }
    }
    assert_no_differences("metadata member in another case", cases.len(), &diffs);
}

/// A file with both `sops` and a `SOPS` member holding metadata fields (what sops's own
/// `set` writes on the selector layout) is refused by leafseal on every path, the
/// streamed ones included, where sops merges the two blocks field by field; a `SOPS`
/// member of other keys (data sops and leafseal both encrypt and write) reads alike.
#[test]
fn a_second_metadata_member_is_refused_on_every_path() {
    let Some(p) = Peer::new(None) else { return };
    let sel = selector_file(&p);
    p.write("two.json", sel.replacen("\"sops\": {", "\"SOPS\": {", 1));
    p.ok(Tool::Sops, &["set", "two.json", "[\"a\"]", "\"new\""]);
    let two = p.read("two.json");
    let text = String::from_utf8_lossy(&two);
    assert!(
        text.contains("\"SOPS\": {") && text.contains("\"sops\": {"),
        "{text}"
    );
    let mut diffs = Vec::new();
    let stream = [("LEAFSEAL_STREAM", "require")];
    let none: [(&str, &str); 0] = [];
    for env in [&none[..], &stream[..]] {
        for args in [
            vec!["decrypt", "two.json"],
            vec!["set", "two.json", "[\"a\"]", "\"x\""],
            vec!["rotate", "-i", "two.json"],
        ] {
            p.write("two.json", &two);
            let l = p.run_with(Tool::Leafseal, &args, env, &[], None);
            if l.code != 1 || !l.stdout.is_empty() || p.read("two.json") != two {
                diffs.push(format!(
                    "{env:?} {args:?}: exit {} ({})",
                    l.code,
                    l.stderr.trim()
                ));
            }
        }
    }
    let data = sops_file(&p, "d.json", "{\"SOPS\": {\"k\": 1}, \"b\": 2}");
    p.write("d.json", &data);
    if let Err(e) = p.decrypt_both("d.json", &[]) {
        diffs.push(format!("a SOPS data key: {e}"));
    }
    assert_no_differences("two metadata members", 7, &diffs);
}

/// A sops file whose data has a `SOPS` (or `Sops`) key holding metadata field names
/// that sops's own block, written after it, all overwrites (`mac`, `version`,
/// `lastmodified`: scalars the block always sets): sops reads its block unchanged and
/// decrypts the file; so does leafseal, and its `set` and `rotate -i` write files sops
/// reads back. Round 25 refused these files (exit 1, "duplicate metadata") where round 24
/// read them. A member naming a field the block lacks (`encrypted_regex`) is still
/// refused: sops merges that value into its block.
#[test]
fn a_data_key_the_sops_block_overwrites_reads_as_in_sops() {
    let Some(p) = Peer::new(None) else { return };
    let mut diffs = Vec::new();
    let plains = [
        "{\"SOPS\": {\"mac\": \"hello\", \"version\": \"1\"}, \"a\": \"b\"}",
        "{\"Sops\": {\"lastmodified\": \"yesterday\", \"note\": 1}, \"a\": \"b\"}",
    ];
    for (i, plain) in plains.iter().enumerate() {
        let name = format!("over{i}.json");
        let sealed = sops_file(&p, &name, plain);
        p.write(&name, &sealed);
        if let Err(e) = p.decrypt_both(&name, &[]) {
            diffs.push(e);
        }
        for args in [
            vec!["set", name.as_str(), "[\"a\"]", "\"new\""],
            vec!["rotate", "-i", name.as_str()],
        ] {
            p.write(&name, &sealed);
            let l = p.run(Tool::Leafseal, &args);
            let back = p.run(Tool::Sops, &["decrypt", &name]);
            let expected = if args[0] == "set" { "\"new\"" } else { "\"b\"" };
            if !l.ok() || !back.ok() || !back.text().contains(expected) {
                diffs.push(format!(
                    "{plain} {args:?}: leafseal exit {} ({}), sops reads back exit {} ({})",
                    l.code,
                    l.stderr.trim(),
                    back.code,
                    back.stderr.trim()
                ));
            }
        }
    }
    let merged = sops_file(
        &p,
        "m.json",
        "{\"SOPS\": {\"encrypted_regex\": \"^a$\"}, \"a\": 1}",
    );
    p.write("m.json", &merged);
    let l = p.run(Tool::Leafseal, &["decrypt", "m.json"]);
    if l.code != 1 || !l.stderr.contains("duplicate metadata") {
        diffs.push(format!(
            "a member setting a field the block lacks: exit {} ({})",
            l.code,
            l.stderr.trim()
        ));
    }
    assert_no_differences("a data key the sops block overwrites", 7, &diffs);
}

/// `"SOPS": null` after the `sops` member: Go's decoder sets the metadata it has read
/// back to nothing, so sops finds no metadata (exit 1); before the member it changes
/// nothing. Round 25 read both files; leafseal now refuses the first as sops does.
#[test]
fn a_null_member_after_the_block_is_refused_as_sops_refuses_it() {
    let Some(p) = Peer::new(None) else { return };
    let sealed = sops_file(&p, "n.json", "{\"a\": \"secret\"}");
    let end = sealed.rfind('}').expect("closing brace");
    let after = format!("{},\n\t\"SOPS\": null\n}}\n", sealed[..end].trim_end());
    let before = sealed.replacen('{', "{\n\t\"SOPS\": null,", 1);
    let mut diffs = Vec::new();
    for (label, text, code) in [("after", &after, 1), ("before", &before, 0)] {
        p.write("n.json", text);
        let s = p.run(Tool::Sops, &["decrypt", "n.json"]);
        let l = p.run(Tool::Leafseal, &["decrypt", "n.json"]);
        if s.code != code || l.code != code || s.stdout != l.stdout {
            diffs.push(format!(
                "null {label} the block: sops exit {} ({}), leafseal exit {} ({})",
                s.code,
                s.stderr.trim(),
                l.code,
                l.stderr.trim()
            ));
        }
    }
    assert_no_differences("a null metadata member", 2, &diffs);
}
