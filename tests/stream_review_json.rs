//! The streaming decrypt of large JSON files held to the tree path on odd layouts (the
//! round-4 review, docs/security.md; the YAML side is in stream_review.rs): each layout
//! streams to the bytes of `LEAFSEAL_STREAM=never` or is declined and gets the tree
//! path's error and exit code.

mod support;

#[path = "support/stream_env.rs"]
mod stream_env;

#[path = "stream_review/env.rs"]
mod env;

use env::*;
use stream_env::*;

const PLAIN_JSON: &str = "{\"a\": 1, \"b_unencrypted\": \"x\", \"big\": {\"x\": 1, \"y_unencrypted\": \"x\", \"w\": \"line,\\nsops: no\", \"v\": [1, {\"e\": \"f\"}], \"deep\": {\"d1\": {\"d2\": [1,2]}}, \"z\": 2}, \"c\": \"end\"}\n";

/// As `stream_review::odd_yaml_layouts_decrypt_as_the_tree_path_does`, for the JSON
/// planner.
#[test]
fn odd_json_layouts_decrypt_as_the_tree_path_does() {
    let env = Env::new(None);
    let b = env.encrypt_editable("plain.json", PLAIN_JSON.as_bytes());
    let root = b"\t\"b_unencrypted\": \"x\",\n".as_slice();
    let sub = b"\t\t\"y_unencrypted\": \"x\",\n".as_slice();
    let r = |old: &[u8], new: &[u8]| replace_once(&b, old, new);
    let text = |s: &str| s.as_bytes().to_vec();
    let pad = "p".repeat(60);
    let members: Vec<String> = (0..50).map(|i| format!("\t\t\"{pad}{i}\": null")).collect();
    let second_sops_big = format!("\t\"sops\": {{\n{}\n\t}},\n\t\"c\": ", members.join(",\n"));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "sops_in_string",
            r(root, b"\t\"b_unencrypted\": \"x,\\n\\t\\\"sops\\\": {\",\n"),
        ),
        (
            "second_sops_root",
            r(
                b"\t\"c\": ",
                b"\t\"sops\": {\"x_unencrypted\": 1},\n\t\"c\": ",
            ),
        ),
        (
            "second_sops_sub",
            r(
                b"\t\t\"z\": ",
                b"\t\t\"sops\": {\"version\": \"3\"},\n\t\t\"z\": ",
            ),
        ),
        // A second `sops` member large enough to be cut into parts of its own.
        (
            "second_sops_big",
            r(b"\t\"c\": ", second_sops_big.as_bytes()),
        ),
        (
            "second_sops_big_escaped",
            r(
                b"\t\"c\": ",
                second_sops_big
                    .replacen("\"sops\"", "\"\\u0073ops\"", 1)
                    .as_bytes(),
            ),
        ),
        (
            "sops_escaped_name",
            r(b"\t\"sops\": {", b"\t\"\\u0073ops\": {"),
        ),
        ("sops_not_last", r(b"\t\"c\": ", b"\t\"c\": 1,\n\t\"d\": ")),
        (
            "dup_root",
            r(b"\t\"c\": ", b"\t\"b_unencrypted\": 1,\n\t\"c\": "),
        ),
        (
            "dup_big",
            r(b"\t\t\"z\": ", b"\t\t\"y_unencrypted\": 2,\n\t\t\"z\": "),
        ),
        (
            "big_key_twice",
            r(
                b"\t\"c\": ",
                b"\t\"big\": {\"q_unencrypted\": 1},\n\t\"c\": ",
            ),
        ),
        (
            "crlf",
            text(&String::from_utf8_lossy(&b).replace('\n', "\r\n")),
        ),
        ("crlf_one", r(root, b"\t\"b_unencrypted\": \"x\",\r\n")),
        (
            "spaces",
            text(&String::from_utf8_lossy(&b).replace('\t', "  ")),
        ),
        ("mixed_indent", r(root, b"  \"b_unencrypted\": \"x\",\n")),
        ("bom", [b"\xEF\xBB\xBF".as_slice(), &b].concat()),
        (
            "nul_in_string",
            r(root, b"\t\"b_unencrypted\": \"x\x00\",\n"),
        ),
        (
            "nul_after_comma",
            r(root, b"\t\"b_unencrypted\": \"x\",\x00\n"),
        ),
        (
            "deep_array",
            r(
                root,
                &[
                    b"\t\"b_unencrypted\": ".as_slice(),
                    &b"[".repeat(3000),
                    &b"]".repeat(3000),
                    b",\n",
                ]
                .concat(),
            ),
        ),
        (
            "deep_object",
            r(
                sub,
                &[
                    b"\t\t\"y_unencrypted\": ".as_slice(),
                    &b"{\"a\":".repeat(200),
                    b"1",
                    &b"}".repeat(200),
                    b",\n",
                ]
                .concat(),
            ),
        ),
        (
            "long_string",
            r(
                root,
                &[
                    b"\t\"b_unencrypted\": \"".as_slice(),
                    &vec![b'x'; 300_000],
                    b"\",\n",
                ]
                .concat(),
            ),
        ),
        (
            "comma_first",
            r(
                b"\t\"b_unencrypted\": \"x\",\n\t\"big\"",
                b"\t\"b_unencrypted\": \"x\"\n\t,\"big\"",
            ),
        ),
        (
            "escaped_backslash_end",
            r(root, b"\t\"b_unencrypted\": \"x\\\\\",\n"),
        ),
        (
            "nested_at_cut_indent",
            r(
                b"\t\t\"z\": ",
                b"\t\t\"n_unencrypted\": {\n\t\t\"p\": 1,\n\t\t\"q\": 2\n\t\t},\n\t\t\"z\": ",
            ),
        ),
        (
            "root_indent_in_big",
            r(
                b"\t\t\"z\": ",
                b"\t\t\"n_unencrypted\": {\n\t\"p\": 1,\n\t\"q\": 2\n\t\t},\n\t\t\"z\": ",
            ),
        ),
        (
            "empty_object",
            r(b"\t\"c\": ", b"\t\"e_unencrypted\": {},\n\t\"c\": "),
        ),
        ("comment", r(b"\t\"c\": ", b"\t// x\n\t\"c\": ")),
        ("trailing_text", [b.as_slice(), b"{}\n"].concat()),
        ("trailing_blank", [b.as_slice(), b"\n\n"].concat()),
    ];
    let mut streamed = Vec::new();
    for (name, text) in &cases {
        let p = env.write(&format!("{name}.json"), text);
        if same_both_ways(&env, &p) {
            streamed.push(*name);
        }
    }
    for name in ["sops_in_string", "long_string", "crlf"] {
        assert!(streamed.contains(&name), "{name} streamed: {streamed:?}");
    }
}
