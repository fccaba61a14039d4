//! (2) Mixed histories: one tool writes a file, the other changes it (set, unset, edit
//! with a scripted editor, rotate, updatekeys, key groups and Shamir), and after every
//! step both tools decrypt it (MAC checked) to the same bytes with the expected values.

use crate::harness::Peer;
use crate::harness::Tool;
use crate::harness::assert_no_differences;
use crate::harness::fixture;
use crate::support::AGE_RECIPIENT;
use crate::support::GpgHome;
use crate::support::PGP_FP;

/// The second age recipient (its identity is in the combined key file).
const AGE2: &str = "age1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvun";

const YAML: &str = "# head\napp:\n  user: alice\n  password: first-pass\n  hosts:\n    - one\n    # comment in a list\n    - two\ngone: remove-me\nport: 5432\n";
const JSON: &str = "{\"app\": {\"user\": \"alice\", \"password\": \"first-pass\", \"hosts\": [\"one\", \"two\"]}, \"gone\": \"remove-me\", \"port\": 5432}\n";

struct History<'a> {
    p: &'a Peer,
    file: String,
    diffs: Vec<String>,
    steps: usize,
}

impl History<'_> {
    /// Runs one step and checks both tools decrypt to the same bytes that contain
    /// every `want` and none of `gone`.
    fn step(&mut self, label: &str, tool: Tool, args: &[&str], want: &[&str], gone: &[&str]) {
        self.steps += 1;
        let o = self.p.run(tool, args);
        if !o.ok() {
            self.diffs.push(format!(
                "{}: {label}: {tool:?} {args:?} failed ({}): {}",
                self.file, o.code, o.stderr
            ));
            return;
        }
        self.check(label, want, gone);
    }

    fn check(&mut self, label: &str, want: &[&str], gone: &[&str]) {
        match self.p.decrypt_both(&self.file, &[]) {
            Err(e) => self
                .diffs
                .push(format!("{}: after {label}: {e}", self.file)),
            Ok(out) => {
                let text = String::from_utf8_lossy(&out);
                for w in want {
                    if !text.contains(w) {
                        self.diffs.push(format!(
                            "{}: after {label}: `{w}` missing:\n{text}",
                            self.file
                        ));
                    }
                }
                for g in gone {
                    if text.contains(g) {
                        self.diffs.push(format!(
                            "{}: after {label}: `{g}` still there:\n{text}",
                            self.file
                        ));
                    }
                }
            }
        }
    }
}

fn editor(p: &Peer, name: &str, from: &str, to: &str) -> String {
    let path = p.path(name);
    std::fs::write(
        &path,
        format!("#!/bin/sh\nsed -i 's/{from}/{to}/' \"$1\"\n"),
    )
    .expect("editor");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    path.display().to_string()
}

fn history(p: &Peer, writer: Tool, ext: &str, plain: &str) -> (usize, Vec<String>) {
    let w = writer;
    let o = writer.other();
    let file = format!("h-{w:?}.{ext}").to_lowercase();
    let src = format!("src-{w:?}.{ext}").to_lowercase();
    p.write(&src, plain);
    let mut h = History {
        p,
        file: file.clone(),
        diffs: Vec::new(),
        steps: 0,
    };
    let enc = p.ok(w, &["encrypt", "--age", AGE_RECIPIENT, &src]);
    p.write(&file, enc);
    let f = file.as_str();
    h.check("encrypt", &["first-pass", "remove-me"], &[]);
    h.step(
        "set",
        o,
        &["set", f, "[\"app\"][\"password\"]", "\"second-pass\""],
        &["second-pass"],
        &["first-pass"],
    );
    h.step(
        "set list item",
        w,
        &["set", f, "[\"app\"][\"hosts\"][0]", "\"uno\""],
        &["uno", "second-pass"],
        &[],
    );
    h.step(
        "set new key",
        o,
        &["set", f, "[\"added\"]", "{\"k\": 1}"],
        &["added"],
        &[],
    );
    h.step(
        "unset",
        w,
        &["unset", f, "[\"gone\"]"],
        &["added"],
        &["remove-me"],
    );
    h.step(
        "rotate",
        o,
        &["rotate", "-i", f],
        &["second-pass", "uno"],
        &[],
    );
    h.step(
        "rotate back",
        w,
        &["rotate", "-i", f],
        &["second-pass", "uno"],
        &[],
    );
    let ed = editor(
        p,
        &format!("ed-{w:?}-{ext}.sh"),
        "second-pass",
        "edited-pass",
    );
    h.steps += 1;
    let out = p.run_with(
        o,
        &["edit", f],
        &[("EDITOR", ed.as_str()), ("SOPS_EDITOR", ed.as_str())],
        &[],
        None,
    );
    if out.ok() {
        h.check("edit", &["edited-pass"], &["second-pass"]);
    } else {
        h.diffs.push(format!(
            "{f}: edit by {o:?} failed ({}): {}",
            out.code, out.stderr
        ));
    }
    let ed = editor(
        p,
        &format!("ed2-{w:?}-{ext}.sh"),
        "edited-pass",
        "edited-twice",
    );
    h.steps += 1;
    let out = p.run_with(
        w,
        &["edit", f],
        &[("EDITOR", ed.as_str()), ("SOPS_EDITOR", ed.as_str())],
        &[],
        None,
    );
    if out.ok() {
        h.check("edit back", &["edited-twice"], &["edited-pass"]);
    } else {
        h.diffs.push(format!(
            "{f}: edit by {w:?} failed ({}): {}",
            out.code, out.stderr
        ));
    }
    // updatekeys: a policy adds a PGP key, then takes it away again.
    p.write(
        ".sops.yaml",
        format!("creation_rules:\n  - age: {AGE_RECIPIENT}\n    pgp: {PGP_FP}\n"),
    );
    h.step(
        "updatekeys add pgp",
        o,
        &["updatekeys", "-y", f],
        &["edited-twice"],
        &[],
    );
    if !String::from_utf8_lossy(&p.read(f)).contains(PGP_FP) {
        h.diffs
            .push(format!("{f}: updatekeys by {o:?} did not add the PGP key"));
    }
    p.write(
        ".sops.yaml",
        format!("creation_rules:\n  - age: {AGE_RECIPIENT}\n"),
    );
    h.step(
        "updatekeys rm pgp",
        w,
        &["updatekeys", "-y", f],
        &["edited-twice"],
        &[],
    );
    if String::from_utf8_lossy(&p.read(f)).contains(PGP_FP) {
        h.diffs.push(format!(
            "{f}: updatekeys by {w:?} did not remove the PGP key"
        ));
    }
    std::fs::remove_file(p.path(".sops.yaml")).expect("rm policy");
    // Key groups: a second group (Shamir, threshold 2), then it is deleted again.
    h.step(
        "groups add",
        o,
        &[
            "groups",
            "add",
            "--file",
            f,
            "-i",
            "--age",
            AGE2,
            "--shamir-secret-sharing-threshold",
            "2",
        ],
        &["edited-twice"],
        &[],
    );
    if !String::from_utf8_lossy(&p.read(f)).contains(AGE2) {
        h.diffs
            .push(format!("{f}: groups add by {o:?} did not add the group"));
    }
    h.step(
        "set under shamir",
        w,
        &["set", f, "[\"port\"]", "6543"],
        &["6543"],
        &["5432"],
    );
    // Deleting a group below the threshold is refused by both, with the same code.
    h.steps += 1;
    let args = ["groups", "delete", "--file", f, "-i", "1"];
    let (s, l) = (p.run(Tool::Sops, &args), p.run(Tool::Leafseal, &args));
    if s.ok() || l.ok() || s.code != l.code {
        h.diffs.push(format!(
            "{f}: groups delete below the threshold: sops exit {}, leafseal exit {} ({})",
            s.code, l.code, l.stderr
        ));
    }
    h.step(
        "groups delete",
        w,
        &[
            "groups",
            "delete",
            "--file",
            f,
            "-i",
            "--shamir-secret-sharing-threshold",
            "1",
            "1",
        ],
        &["6543"],
        &[],
    );
    if String::from_utf8_lossy(&p.read(f)).contains(AGE2) {
        h.diffs
            .push(format!("{f}: groups delete by {w:?} left the group"));
    }
    (h.steps, h.diffs)
}

#[test]
fn mixed_histories_keep_the_mac_and_the_values() {
    let gpg = GpgHome::new();
    let Some(mut p) = Peer::new(Some(&gpg)) else {
        return;
    };
    // Both age identities in one key file, for the two-group (Shamir) steps.
    let mut keys = std::fs::read_to_string(fixture("keys/age-test-keys.txt")).expect("keys");
    keys.push_str(
        &std::fs::read_to_string(fixture("keys/age-vectors/x25519-identity.txt")).expect("keys"),
    );
    p.write("keys.txt", keys);
    let kf = p.path("keys.txt").display().to_string();
    p.vars.insert("SOPS_AGE_KEY_FILE".into(), kf);
    let mut diffs = Vec::new();
    let mut cases = 0;
    for writer in [Tool::Sops, Tool::Leafseal] {
        for (ext, plain) in [("yaml", YAML), ("json", JSON)] {
            let (n, d) = history(&p, writer, ext, plain);
            cases += n;
            diffs.extend(d);
        }
    }
    assert_no_differences("mixed histories", cases, &diffs);
}
