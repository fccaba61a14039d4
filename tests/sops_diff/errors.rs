//! (5) Errors: tampered values, IVs, tags and MACs, missing and wrong keys, a file that
//! is not encrypted, an encrypted file given to encrypt, malformed input. Both tools must
//! fail, leafseal with sops's exit code, and neither may print the plaintext.

use crate::harness::Peer;
use crate::harness::Tool;
use crate::harness::assert_no_differences;
use crate::harness::other_age_identity;
use crate::support::AGE_RECIPIENT;

const SECRET: &str = "s3cr3t-PLAIN-7f3a";

const YAML: &str = "password: s3cr3t-PLAIN-7f3a\nnote_unencrypted: clear text\nlist:\n  - s3cr3t-PLAIN-7f3a-item\n";
const JSON: &str =
    "{\"password\": \"s3cr3t-PLAIN-7f3a\", \"note_unencrypted\": \"clear text\", \"n\": 5}\n";

/// Changes one base64 character right after `field` on the first line containing `marker`.
fn flip(text: &str, marker: &str, field: &str) -> String {
    let start = text
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in file"));
    let at = start + text[start..].find(field).expect("field") + field.len();
    let old = text.as_bytes()[at];
    let new = if old == b'A' { 'B' } else { 'A' };
    let mut out = text.to_owned();
    out.replace_range(at..at + 1, &new.to_string());
    out
}

/// Runs `args` with both tools; the difference, if any.
fn same_failure(
    p: &Peer,
    label: &str,
    args: &[&str],
    env: &[(&str, &str)],
    unset: &[&str],
) -> Result<(), String> {
    let s = p.run_with(Tool::Sops, args, env, unset, None);
    let l = p.run_with(Tool::Leafseal, args, env, unset, None);
    let mut problems = Vec::new();
    if s.ok() {
        problems.push(format!("sops succeeded: {}", s.text()));
    }
    if l.ok() {
        problems.push(format!("leafseal succeeded: {}", l.text()));
    }
    if s.code != l.code {
        problems.push(format!(
            "exit codes differ: sops {} ({}), leafseal {} ({})",
            s.code,
            s.stderr.trim(),
            l.code,
            l.stderr.trim()
        ));
    }
    for (tool, o) in [("sops", &s), ("leafseal", &l)] {
        if o.text().contains(SECRET) || o.stderr.contains(SECRET) {
            problems.push(format!("{tool} printed the plaintext"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{label}: {}", problems.join("; ")))
    }
}

#[test]
fn failures_match_sops_exit_codes_and_print_no_plaintext() {
    let Some(p) = Peer::new(None) else { return };
    let mut diffs = Vec::new();
    let mut cases = 0;
    let mut check = |label: String, args: &[&str], env: &[(&str, &str)], unset: &[&str]| {
        cases += 1;
        if let Err(e) = same_failure(&p, &label, args, env, unset) {
            diffs.push(e);
        }
    };
    let other = other_age_identity().display().to_string();
    for (ext, plain) in [("yaml", YAML), ("json", JSON)] {
        let src = format!("plain.{ext}");
        p.write(&src, plain);
        for writer in [Tool::Sops, Tool::Leafseal] {
            let enc = p.ok(writer, &["encrypt", "--age", AGE_RECIPIENT, &src]);
            let enc = String::from_utf8(enc).expect("utf-8");
            let w = format!("{writer:?}").to_lowercase();
            let name = |what: &str| format!("{w}-{what}.{ext}");
            let mut variants = vec![
                ("value-data", flip(&enc, "password", "data:")),
                ("value-iv", flip(&enc, "password", "iv:")),
                ("value-tag", flip(&enc, "password", "tag:")),
                ("list-item-data", flip(&enc, "ENC[", "data:")),
                ("mac-data", flip(&enc, "mac", "data:")),
                ("mac-tag", flip(&enc, "mac", "tag:")),
                (
                    "clear-value-edited",
                    enc.replace("clear text", "edited text"),
                ),
                ("lastmodified-invalid", {
                    let field = if ext == "json" {
                        "\"lastmodified\": \""
                    } else {
                        "lastmodified: \""
                    };
                    enc.replace(field, &format!("{field}1"))
                }),
                ("truncated", enc[..enc.len() / 2].to_owned()),
            ];
            // `type:str` made `type:comment` on a map value: sops leaves comment-typed
            // text out of the MAC (51); leafseal read it as a string and passed before
            // round 17.
            variants.push(("value-typed-comment", {
                let start = enc.find("password").expect("password");
                let at = start + enc[start..].find("type:str]").expect("type");
                let mut out = enc.clone();
                out.replace_range(at..at + "type:str]".len(), "type:comment]");
                out
            }));
            variants.push(("no-mac", {
                // The metadata's own `mac` line only: a bare "mac" can turn up in
                // the age armour's base64.
                let is_mac = |l: &str| {
                    let l = l.trim_start();
                    l.starts_with("mac:") || l.starts_with("\"mac\":")
                };
                let lines: Vec<&str> = enc.lines().filter(|l| !is_mac(l)).collect();
                lines.join("\n") + "\n"
            }));
            for (what, text) in &variants {
                let f = name(what);
                p.write(&f, text);
                check(format!("{w} {ext} {what}"), &["decrypt", &f], &[], &[]);
            }
            let good = name("good");
            p.write(&good, &enc);
            check(
                format!("{w} {ext} missing key"),
                &["decrypt", &good],
                &[],
                &["SOPS_AGE_KEY_FILE"],
            );
            check(
                format!("{w} {ext} wrong key"),
                &["decrypt", &good],
                &[("SOPS_AGE_KEY_FILE", other.as_str())],
                &[],
            );
            check(
                format!("{w} {ext} encrypt an encrypted file"),
                &["encrypt", "--age", AGE_RECIPIENT, &good],
                &[],
                &[],
            );
        }
        check(
            format!("{ext} decrypt a plaintext file"),
            &["decrypt", &src],
            &[],
            &[],
        );
    }
    p.write("bad.yaml", "a: [1, 2\nb: : :\n");
    check(
        "malformed yaml".into(),
        &["encrypt", "--age", AGE_RECIPIENT, "bad.yaml"],
        &[],
        &[],
    );
    p.write("bad.json", "{\"a\": 1,}");
    check(
        "malformed json".into(),
        &["encrypt", "--age", AGE_RECIPIENT, "bad.json"],
        &[],
        &[],
    );
    // `\/` is YAML 1.2 only: sops (go-yaml) refuses it, leafseal accepted it (round 20,
    // F6), in the fast reader and in the full one (a flow value sends it there).
    for (name, text) in [
        ("slash.yaml", "a: \"\\/slash\"\n"),
        ("slash-full.yaml", "z: [1]\nl:\n    - \"x\\/\"\n"),
        ("slash-key.yaml", "\"k\\/\": 1\n"),
    ] {
        p.write(name, text);
        check(
            format!("yaml escape \\/ ({name})"),
            &["encrypt", "--age", AGE_RECIPIENT, name],
            &[],
            &[],
        );
    }
    p.write("dup.yaml", "a: 1\na: 2\n");
    check(
        "duplicate yaml key".into(),
        &["encrypt", "--age", AGE_RECIPIENT, "dup.yaml"],
        &[],
        &[],
    );
    p.write("seq.yaml", "- a\n- b\n");
    check(
        "yaml top-level list".into(),
        &["encrypt", "--age", AGE_RECIPIENT, "seq.yaml"],
        &[],
        &[],
    );
    p.write("arr.json", "[1, 2]");
    check(
        "json top-level array".into(),
        &["encrypt", "--age", AGE_RECIPIENT, "arr.json"],
        &[],
        &[],
    );
    for (name, text) in [
        ("empty.yaml", ""),
        ("blank.yaml", "\n\n"),
        ("comments-only.yaml", "# only\n# comments\n"),
        ("int-key.yaml", "1: secret\n"),
        ("bool-key.yaml", "a:\n  true: secret\n"),
        ("seq-key.yaml", "? [a, b]\n: secret\n"),
        ("empty.json", ""),
        ("bad.env", "no equals sign\n"),
        ("bad.ini", "[unclosed\nk = v\n"),
    ] {
        p.write(name, text);
        check(
            format!("encrypt {name}"),
            &["encrypt", "--age", AGE_RECIPIENT, name],
            &[],
            &[],
        );
    }
    check("missing file".into(), &["decrypt", "nope.yaml"], &[], &[]);
    check(
        "encrypt without keys".into(),
        &["encrypt", "plain.yaml"],
        &[],
        &[],
    );
    assert_no_differences("errors", cases, &diffs);
}

/// A file whose metadata has no `version`, or one sops cannot parse as a semantic
/// version: sops refuses it when it loads the file ("Version string empty", exit 1),
/// leafseal decrypted it (exit 0) before round 18. Every command that opens the file
/// now exits 1 as sops does; `filestatus`, which does not load it, exits 0 in both.
#[test]
fn a_missing_or_invalid_version_is_refused_as_sops_refuses_it() {
    let Some(p) = Peer::new(None) else { return };
    p.write("v.yaml", YAML);
    let enc = String::from_utf8(p.ok(
        Tool::Leafseal,
        &["encrypt", "--age", AGE_RECIPIENT, "v.yaml"],
    ))
    .expect("utf-8");
    let line = enc
        .lines()
        .find(|l| l.trim_start().starts_with("version:"))
        .expect("version line")
        .to_owned();
    let mut diffs = Vec::new();
    let mut cases = 0;
    for (label, replacement) in [
        ("missing", String::new()),
        ("empty", "    version: \"\"\n".to_owned()),
        ("not semver", "    version: \"3.9\"\n".to_owned()),
        ("leading zero", "    version: 3.09.0\n".to_owned()),
        ("v prefix", "    version: v3.9.0\n".to_owned()),
        ("sops 1", "    version: \"1.14\"\n".to_owned()),
    ] {
        let text = enc.replace(&format!("{line}\n"), &replacement);
        for args in [
            vec!["decrypt", "f.yaml"],
            vec!["set", "f.yaml", "[\"x\"]", "1"],
            vec!["rotate", "f.yaml"],
            vec!["exec-env", "f.yaml", "true"],
            vec!["filestatus", "f.yaml"],
        ] {
            cases += 1;
            p.write("f.yaml", &text);
            let s = p.run(Tool::Sops, &args);
            p.write("f.yaml", &text);
            let l = p.run(Tool::Leafseal, &args);
            if s.code != l.code || l.stderr.contains(SECRET) {
                diffs.push(format!(
                    "{label}: {args:?}: sops exit {} ({}), leafseal exit {} ({})",
                    s.code,
                    s.stderr.trim(),
                    l.code,
                    l.stderr.trim()
                ));
            }
        }
    }
    assert_no_differences("missing or invalid metadata versions", cases, &diffs);
}
