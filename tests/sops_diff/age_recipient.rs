//! An age entry without its `recipient` (round 25). sops 3.11 reads a missing, `null`
//! or (YAML, whose reader matches names exactly) renamed `recipient` as the empty one
//! and decrypts with the wrapped key alone; `set` writes the entry back with
//! `recipient: ""`, and `rotate` refuses to encrypt for it. Before round 25 leafseal
//! refused the entry on every command (exit 1).

use crate::harness::Peer;
use crate::harness::Tool;
use crate::harness::assert_no_differences;
use crate::support::AGE_RECIPIENT;

fn sops_file(p: &Peer, name: &str, plain: &str) -> String {
    p.write(name, plain);
    let out = p.ok(Tool::Sops, &["encrypt", "--age", AGE_RECIPIENT, name]);
    String::from_utf8(out).expect("utf-8")
}

/// The hand-made files: a label, the file name and the text.
fn cases(p: &Peer) -> Vec<(&'static str, &'static str, String)> {
    let yaml = sops_file(p, "p.yaml", "a: secret\nb: [1, 2]\n");
    let json = sops_file(p, "p.json", "{\"a\": \"secret\", \"b\": [1, 2]}");
    let yaml_line = format!("- recipient: {AGE_RECIPIENT}");
    let json_member = format!("\"recipient\": \"{AGE_RECIPIENT}\",");
    assert!(yaml.contains(&yaml_line) && json.contains(&json_member));
    vec![
        (
            "YAML Recipient:",
            "f.yaml",
            yaml.replacen(&yaml_line, &format!("- Recipient: {AGE_RECIPIENT}"), 1),
        ),
        (
            "YAML without recipient",
            "f.yaml",
            yaml.replacen(&yaml_line, "- x: 1", 1),
        ),
        (
            "JSON without recipient",
            "f.json",
            json.replacen(&json_member, "", 1),
        ),
        (
            "JSON null recipient",
            "f.json",
            json.replacen(&json_member, "\"recipient\": null,", 1),
        ),
    ]
}

/// Both tools decrypt each file alike; after `set` by each, both files hold the entry
/// with an empty recipient and decrypt alike; `rotate -i` fails with both, exit 1, and
/// leaves the file as it was (leafseal exited 23 before round 26).
#[test]
fn an_age_entry_without_recipient_decrypts_and_is_written_back_as_sops_does() {
    let Some(p) = Peer::new(None) else { return };
    let list = cases(&p);
    let mut diffs = Vec::new();
    for (label, name, text) in &list {
        p.write(name, text);
        if let Err(e) = p.decrypt_both(name, &[]) {
            diffs.push(format!("{label}: {e}"));
        }
        let empty = if name.ends_with("yaml") {
            "recipient: \"\"\n"
        } else {
            "\"recipient\": \"\""
        };
        for tool in [Tool::Sops, Tool::Leafseal] {
            p.write(name, text);
            let set = p.run(tool, &["set", name, "[\"a\"]", "\"new\""]);
            let written = String::from_utf8(p.read(name)).expect("utf-8");
            let read = p.decrypt_both(name, &[]);
            if !set.ok() || !written.contains(empty) || read.is_err() {
                diffs.push(format!(
                    "{label}: set by {tool:?}: exit {} ({}), empty recipient written: {}, {read:?}",
                    set.code,
                    set.stderr.trim(),
                    written.contains(empty)
                ));
            }
            p.write(name, text);
            let rotate = p.run(tool, &["rotate", "-i", name]);
            if rotate.code != 1 || p.read(name) != text.as_bytes() {
                diffs.push(format!(
                    "{label}: rotate -i by {tool:?}: exit {}, file changed: {}",
                    rotate.code,
                    p.read(name) != text.as_bytes()
                ));
            }
        }
    }
    assert_no_differences("age entries without recipient", list.len(), &diffs);
}

/// The streamed `decrypt` (`LEAFSEAL_STREAM=require`) reads such a file as sops does.
#[test]
fn the_streamed_decrypt_reads_an_age_entry_without_recipient() {
    let Some(p) = Peer::new(None) else { return };
    let list = cases(&p);
    let mut diffs = Vec::new();
    for (label, name, text) in &list {
        p.write(name, text);
        let s = p.run(Tool::Sops, &["decrypt", name]);
        let env = [("LEAFSEAL_STREAM", "require")];
        let l = p.run_with(Tool::Leafseal, &["decrypt", name], &env, &[], None);
        if !s.ok() || l.code != s.code || l.stdout != s.stdout {
            diffs.push(format!(
                "{label}: sops exit {}, streamed leafseal exit {} ({})",
                s.code,
                l.code,
                l.stderr.trim()
            ));
        }
    }
    assert_no_differences("streamed age entries without recipient", list.len(), &diffs);
}
