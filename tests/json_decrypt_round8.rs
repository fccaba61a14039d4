//! Round 8 of the streamed JSON decrypt (the ASCII shortcut of the JSON string writer,
//! the pools' rounded buffers), through the CLI on real files: values with non-ASCII
//! text, characters the writer escapes and plain ASCII give the tree path's bytes for
//! every part size (parts of nearly one size share the pools' buffers); a tampered value
//! in the first, a middle or the last part gives nothing on stdout and the tree path's
//! exit code.

mod support;

#[path = "support/stream_env.rs"]
mod stream_env;

use std::fmt::Write as _;

use stream_env::*;
use support::*;

/// Values that take the writer's ASCII shortcut and values that take the UTF-8 walk.
const VALUES: [&str; 9] = [
    "plain-ascii-token",
    "caf\u{e9} cr\u{e8}me",
    "\u{65e5}\u{672c}\u{8a9e}",
    "line\u{2028}sep\u{2029}para",
    "<b>&amp;</b>",
    "say \\\"hi\\\"",
    "tab\\there\\nnewline",
    "emoji \u{1F600}",
    "",
];

/// A JSON document of `n` services whose values cycle through [`VALUES`].
fn doc(n: usize) -> String {
    let mut s = String::from("{\n\t\"version\": 3,\n\t\"services\": {\n");
    for i in 0..n {
        let comma = if i + 1 < n { "," } else { "" };
        let v = VALUES[i % VALUES.len()];
        let w = VALUES[(i + 4) % VALUES.len()];
        let _ = writeln!(
            s,
            "\t\t\"svc-{i:04}\": {{\n\t\t\t\"name\": \"{v}\",\n\t\t\t\"note\": \"{w} {i}\",\n\t\t\t\"port\": {}\n\t\t}}{comma}",
            8000 + i
        );
    }
    s.push_str("\t},\n\t\"after\": \"\u{e9}t\u{e9}\"\n}\n");
    s
}

/// Encrypts `plain` on the tree path; the encrypted text.
fn encrypted(env: &Env, plain: &str) -> String {
    let p = env.write("plain.json", plain.as_bytes());
    let enc = ok(&env.tree(&["encrypt", "--age", AGE_RECIPIENT, &p]));
    String::from_utf8(enc).expect("utf-8")
}

/// The streamed decrypt of `path` (direct part path required) with parts of `part` bytes.
fn streamed(env: &Env, path: &str, part: Option<&str>) -> std::process::Output {
    env.run_set(
        &[
            ("LEAFSEAL_STREAM", Some("require")),
            ("LEAFSEAL_STREAM_PART", part),
            (leafseal::stream::DIRECT_ENV, Some("require")),
        ],
        &["decrypt", path],
    )
}

#[test]
fn non_ascii_and_escaped_values_give_the_tree_paths_bytes_for_every_part_size() {
    let env = Env::new(None);
    let plain = doc(400);
    let enc = encrypted(&env, &plain);
    let path = env.write("d.json", enc.as_bytes());
    let tree = env.tree(&["decrypt", &path]);
    let tree_out = ok(&tree);
    let parsed: serde_json::Value = serde_json::from_slice(&tree_out).expect("json");
    assert_eq!(
        parsed,
        serde_json::from_str::<serde_json::Value>(&plain).expect("json")
    );
    for part in [Some("200"), Some("1500"), Some("7000"), None] {
        let out = streamed(&env, &path, part);
        assert!(
            out.status.success(),
            "{part:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stdout == tree_out,
            "{part:?}: not the tree path's bytes"
        );
    }
}

#[test]
fn a_tampered_value_in_the_first_a_middle_or_the_last_part_gives_nothing_on_stdout() {
    let env = Env::new(None);
    let enc = encrypted(&env, &doc(400));
    let meta = enc.find("\"sops\":").expect("metadata");
    let first = enc.find("ENC[AES256_GCM,data:").expect("a value");
    let middle = enc.len() / 2
        + enc[enc.len() / 2..]
            .find("ENC[AES256_GCM,data:")
            .expect("a value");
    let last = enc[..meta].rfind("ENC[AES256_GCM,data:").expect("a value");
    for (what, at) in [("first", first), ("middle", middle), ("last", last)] {
        let d = at + "ENC[AES256_GCM,data:".len();
        let mut bad = enc.clone();
        let r = if &enc[d..=d] == "A" { "B" } else { "A" };
        bad.replace_range(d..=d, r);
        let path = env.write(&format!("t-{what}.json"), bad.as_bytes());
        let tree = env.tree(&["decrypt", &path]);
        assert!(!tree.status.success(), "{what}");
        assert!(tree.stdout.is_empty(), "{what}");
        for part in [Some("200"), Some("7000"), None] {
            let out = env.run_set(
                &[
                    ("LEAFSEAL_STREAM", Some("always")),
                    ("LEAFSEAL_STREAM_PART", part),
                ],
                &["decrypt", &path],
            );
            assert!(
                out.stdout.is_empty(),
                "{what} {part:?}: plaintext on stdout"
            );
            assert_eq!(out.status.code(), tree.status.code(), "{what} {part:?}");
        }
    }
}
