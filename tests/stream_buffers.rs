//! The streamed decrypt recycles each part's buffers (output, MAC input, integrity
//! tokens) from the fold back to the workers. A recycled buffer must never carry one
//! part's bytes into another part's output, MAC or record: documents whose parts
//! alternate between long and short values (so that a short part reuses the buffer of
//! a long one), cut into many tiny parts, decrypt through the CLI to the tree path's
//! bytes on the direct path and on the per-part tree path, in YAML and JSON; and one
//! tampered value still gives nothing on stdout.

mod support;

use std::collections::HashMap;
use std::fmt::Write as _;

use support::*;

fn run(
    vars: &HashMap<String, String>,
    dir: &std::path::Path,
    set: &[(&str, &str)],
    args: &[&str],
) -> std::process::Output {
    let mut vars = vars.clone();
    for (k, v) in set {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    run_in(&vars, dir, args)
}

/// A value of `n` characters that differs from every other value.
fn value(i: usize, n: usize) -> String {
    let mut s = format!("v{i}-");
    while s.len() < n {
        let _ = write!(s, "{}", (i * 7 + s.len()) % 10);
    }
    s
}

/// Root entries, each a map of a few values; every other entry's values are long.
fn yaml_doc(entries: usize) -> String {
    let mut s = String::new();
    for e in 0..entries {
        let _ = writeln!(s, "entry{e:03}:");
        let long = e % 2 == 0;
        for k in 0..4 {
            let n = if long { 900 + 97 * k } else { 3 + k };
            let _ = writeln!(s, "    key{k}: {}", value(e * 10 + k, n));
        }
        if e % 5 == 0 {
            let _ = writeln!(s, "    list:");
            for k in 0..3 {
                let _ = writeln!(
                    s,
                    "        - {}",
                    value(e * 100 + k, if long { 700 } else { 2 })
                );
            }
        }
    }
    s
}

fn json_doc(entries: usize) -> String {
    let mut s = String::from("{\n  \"big\": {\n");
    for e in 0..entries {
        let long = e % 2 == 0;
        let _ = writeln!(s, "    \"entry{e:03}\": {{");
        for k in 0..4 {
            let n = if long { 900 + 97 * k } else { 3 + k };
            let comma = if k < 3 { "," } else { "" };
            let _ = writeln!(s, "      \"key{k}\": \"{}\"{comma}", value(e * 10 + k, n));
        }
        let comma = if e + 1 < entries { "," } else { "" };
        let _ = writeln!(s, "    }}{comma}");
    }
    s.push_str("  },\n  \"after\": \"x\"\n}\n");
    s
}

fn check(name: &str, plain: &str, parts: &[&str]) {
    let home = tempfile::tempdir().expect("home");
    let work = tempfile::tempdir().expect("work");
    let vars = env_vars(None, home.path());
    let p = work.path().join(name);
    std::fs::write(&p, plain).expect("write");
    let p = p.display().to_string();
    let enc = run(
        &vars,
        work.path(),
        &[("LEAFSEAL_STREAM", "never")],
        &["encrypt", "--age", AGE_RECIPIENT, &p],
    );
    assert!(
        enc.status.success(),
        "{}",
        String::from_utf8_lossy(&enc.stderr)
    );
    let ext = name.rsplit('.').next().expect("extension");
    let encp = work.path().join(format!("enc.{ext}"));
    std::fs::write(&encp, &enc.stdout).expect("write");
    let encp = encp.display().to_string();
    let tree = run(
        &vars,
        work.path(),
        &[("LEAFSEAL_STREAM", "never")],
        &["decrypt", &encp],
    );
    assert!(
        tree.status.success(),
        "{}",
        String::from_utf8_lossy(&tree.stderr)
    );
    if name.ends_with(".yaml") {
        // (JSON comes back with the writer's TAB indentation.)
        assert!(
            tree.stdout == plain.as_bytes(),
            "{name}: the tree path gives the plaintext back"
        );
    }
    for part in parts {
        for direct in ["require", "never"] {
            let set = [
                ("LEAFSEAL_STREAM", "require"),
                ("LEAFSEAL_STREAM_PART", *part),
                ("LEAFSEAL_STREAM_DIRECT", direct),
            ];
            let out = run(&vars, work.path(), &set, &["decrypt", &encp]);
            assert!(
                out.status.success(),
                "{name} part {part} direct {direct}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                out.stdout == tree.stdout,
                "{name} part {part} direct {direct}: the streamed output differs from the tree path's"
            );
            assert_eq!(
                out.stderr, tree.stderr,
                "{name} part {part} direct {direct}"
            );
        }
    }
    // A value of a short part after a long one, tampered: nothing on stdout, the tree
    // path's exit code and message.
    let text = String::from_utf8(enc.stdout).expect("utf-8");
    let at = text.find("key1").expect("a key")
        + text[text.find("key1").expect("key")..]
            .find("data:")
            .expect("data")
        + 5;
    let mut bytes = text.into_bytes();
    let i = (at..at + 8)
        .find(|&i| bytes[i] != b'A')
        .expect("a byte to flip");
    bytes[i] = if bytes[i] == b'B' { b'C' } else { b'B' };
    std::fs::write(&encp, &bytes).expect("write");
    let tree = run(
        &vars,
        work.path(),
        &[("LEAFSEAL_STREAM", "never")],
        &["decrypt", &encp],
    );
    assert!(!tree.status.success());
    for part in parts {
        let out = run(
            &vars,
            work.path(),
            &[
                ("LEAFSEAL_STREAM", "always"),
                ("LEAFSEAL_STREAM_PART", *part),
            ],
            &["decrypt", &encp],
        );
        assert!(
            out.stdout.is_empty(),
            "{name} part {part}: plaintext of a tampered file"
        );
        assert_eq!(out.status.code(), tree.status.code(), "{name} part {part}");
        assert_eq!(out.stderr, tree.stderr, "{name} part {part}");
    }
}

#[test]
fn recycled_buffers_never_carry_bytes_from_one_part_to_another_yaml() {
    check("doc.yaml", &yaml_doc(60), &["1", "200", "3000", "9000"]);
}

#[test]
fn recycled_buffers_never_carry_bytes_from_one_part_to_another_json() {
    check("doc.json", &json_doc(60), &["1", "200", "3000", "9000"]);
}
