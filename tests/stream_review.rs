//! The streaming decrypt paths (`leafseal::stream`) held to the tree path on odd inputs
//! (the round-4 review, docs/security.md): every layout either streams to the same bytes
//! as `LEAFSEAL_STREAM=never` or is declined and gives the tree path's error and exit
//! code; nothing reaches stdout or `--output` before the MAC and the integrity record were
//! verified.

mod support;

#[path = "support/stream_env.rs"]
mod stream_env;

#[path = "stream_review/env.rs"]
mod env;

use env::*;
use stream_env::*;
use support::*;

const PLAIN_YAML: &str = "# top\na: 1\nb_unencrypted: x\nbig:\n    x: 1\n    y_unencrypted: x\n    w: |\n        line one\n        sops: no\n    v: \"has sops:\\n inside\"\n    deep:\n        d1:\n            d2:\n                d3: [1, 2, {e: f}]\n    z: 2\nc: end\n";

#[test]
fn a_comment_after_the_metadata_is_written_as_the_tree_path_writes_it() {
    let env = Env::new(None);
    let base = env.encrypt_editable("plain.yaml", PLAIN_YAML.as_bytes());
    assert!(same_both_ways(&env, &env.write("base.yaml", &base)));
    // The encrypted comment of the first line, again after the metadata.
    let first = base.split_inclusive(|&b| b == b'\n').next().expect("line");
    assert!(first.starts_with(b"#ENC["));
    for (name, tail) in [
        ("clear.yaml", b"# end\n".to_vec()),
        ("encrypted.yaml", first.to_vec()),
        ("indented.yaml", b"    # end\n".to_vec()),
        ("blank.yaml", b"\n# end\n\n".to_vec()),
    ] {
        let mut t = base.clone();
        t.extend_from_slice(&tail);
        same_both_ways(&env, &env.write(name, &t));
    }
    let mut t = base.clone();
    t.extend_from_slice(b"# end\n");
    let out = env.run_blocks("never", None, None, &["decrypt", &env.write("c.yaml", &t)]);
    assert!(out.stdout.ends_with(b"# end\n"), "the tree path keeps it");
    // Followed by a root key, the comment is that key's and the file still streams.
    let mut t = base.clone();
    t.extend_from_slice(b"# c\nzz_unencrypted: 1\n");
    assert!(same_both_ways(&env, &env.write("key.yaml", &t)));
}

#[test]
fn a_fifo_and_a_symlink_decrypt_as_the_tree_path_does() {
    let env = Env::new(None);
    let base = env.encrypt_editable("plain.yaml", PLAIN_YAML.as_bytes());
    let path = env.write("base.yaml", &base);
    let tree = env.run_blocks("never", None, None, &["decrypt", &path]);
    assert!(tree.status.success());
    let link = env.work.path().join("link.yaml");
    std::os::unix::fs::symlink(&path, &link).expect("symlink");
    let link = link.display().to_string();
    assert!(same_both_ways(&env, &link));
    let s = env.run_blocks("always", Some(1), Some(3), &["decrypt", &link]);
    assert!(s.stdout == tree.stdout);
    // A named pipe is read once, whole (the block reader opens regular files only).
    let fifo = env.work.path().join("pipe.yaml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    for _ in 0..3 {
        let writer = {
            let fifo = fifo.clone();
            let data = base.clone();
            std::thread::spawn(move || {
                use std::io::Write;
                let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&fifo) else {
                    return;
                };
                // Written in two steps: a reader that opened the pipe and closed it
                // again may end this writer with a broken pipe.
                let (a, b) = data.split_at(data.len() / 2);
                let _ = f.write_all(a);
                std::thread::sleep(std::time::Duration::from_millis(20));
                let _ = f.write_all(b);
            })
        };
        let fifo_arg = fifo.display().to_string();
        let s = env.run_blocks("always", Some(1), Some(3), &["decrypt", &fifo_arg]);
        // A writer still waiting for a reader (leafseal never opened the pipe) is let go.
        {
            use std::os::unix::fs::OpenOptionsExt;
            let _unblock = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(0o4000) // O_NONBLOCK
                .open(&fifo);
            writer.join().expect("writer");
        }
        assert_eq!(
            s.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&s.stderr)
        );
        assert!(s.stdout == tree.stdout);
    }
}

/// Layouts at the edge of what the block planner cuts: each streams to the tree path's
/// bytes or is declined and gets the tree path's error and exit code.
#[test]
fn odd_yaml_layouts_decrypt_as_the_tree_path_does() {
    let env = Env::new(None);
    let b = env.encrypt_editable("plain.yaml", PLAIN_YAML.as_bytes());
    let root = b"b_unencrypted: x\n".as_slice();
    let sub = b"    y_unencrypted: x\n".as_slice();
    let r = |old: &[u8], new: &[u8]| replace_once(&b, old, new);
    let with_tail = |tail: &[u8]| [b.as_slice(), tail].concat();
    let mut deep = b"b_unencrypted:\n".to_vec();
    for i in 0..300 {
        deep.extend_from_slice(format!("{}k{i}:\n", " ".repeat(i + 1)).as_bytes());
    }
    deep.extend_from_slice(format!("{}v: 1\n", " ".repeat(301)).as_bytes());
    let long = [
        b"    y_unencrypted: ".as_slice(),
        &vec![b'x'; 300_000],
        b"\n",
    ]
    .concat();
    let dashes = [
        b"    y_unencrypted:\n        ".as_slice(),
        &b"- ".repeat(50_000),
        b"1\n",
    ]
    .concat();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        // Multi-line quoted scalars: a continuation line that looks like a key line.
        ("mlq_root", r(root, b"b_unencrypted: \"foo\n  bar: baz\"\n")),
        (
            "mlq_root_col0",
            r(root, b"b_unencrypted: \"foo\nbar: baz\"\n"),
        ),
        (
            "mlq_sub",
            r(sub, b"    y_unencrypted: \"multi\n     q: 3\"\n"),
        ),
        (
            "mlq_sub_same_col",
            r(sub, b"    y_unencrypted: \"multi\n    q: 3\"\n"),
        ),
        (
            "mlq_single",
            r(sub, b"    y_unencrypted: 'multi\n        q: 3'\n"),
        ),
        (
            "plain_multiline",
            r(sub, b"    y_unencrypted: multi\n        q_unencrypted x\n"),
        ),
        // Block scalars holding `sops:` and key-like lines.
        (
            "block_sub",
            r(
                sub,
                b"    y_unencrypted: |\n        sops:\n        q: 1\n\n        r: 2\n",
            ),
        ),
        (
            "block_root",
            r(root, b"b_unencrypted: |\n  sops:\n    mac: x\n  q: 1\n"),
        ),
        (
            "block_indicator",
            r(sub, b"    y_unencrypted: |2\n      sops:\n      q: 1\n"),
        ),
        // `sops` inside strings, quoted, twice, nested.
        (
            "sops_in_string",
            r(
                root,
                b"b_unencrypted: \"sops:\"\n\"sops:_unencrypted\": 1\n",
            ),
        ),
        ("sops_quoted", r(root, b"b_unencrypted: x\n\"sops\": {}\n")),
        ("second_sops", with_tail(b"sops:\n    version: 3\n")),
        (
            "sops_in_sub",
            r(sub, b"    y_unencrypted: x\n    sops:\n        mac: x\n"),
        ),
        (
            "sops_field_twice",
            r(b"    version: ", b"    version: 3\n    version: "),
        ),
        // Several documents, directives.
        ("doc_sep", r(b"c: ENC", b"---\nc: ENC")),
        ("doc_sep_end", with_tail(b"---\n")),
        ("doc_start", [b"---\n".as_slice(), &b].concat()),
        ("doc_end", with_tail(b"...\n")),
        ("directive", [b"%YAML 1.2\n---\n".as_slice(), &b].concat()),
        // Line ends, tabs, byte-order marks, NUL bytes, other line breaks.
        (
            "crlf",
            String::from_utf8_lossy(&b)
                .replace('\n', "\r\n")
                .into_bytes(),
        ),
        ("crlf_one", r(root, b"b_unencrypted: x\r\n")),
        ("crlf_sub", r(sub, b"    y_unencrypted: x\r\n")),
        ("cr_only", r(root, b"b_unencrypted: x\rq_unencrypted: y\n")),
        ("tab_value", r(sub, b"    y_unencrypted:\tx\n")),
        ("tab_indent", r(sub, b"\ty_unencrypted: x\n")),
        ("tab_comment", r(sub, b"    y_unencrypted: x\n\t# c\n")),
        ("bom", [b"\xEF\xBB\xBF".as_slice(), &b].concat()),
        ("bom_inside", r(b"c: ENC", b"\xEF\xBB\xBFc: ENC")),
        ("nul_value", r(sub, b"    y_unencrypted: x\x00y\n")),
        ("nul_key", r(root, b"b\x00_unencrypted: x\n")),
        (
            "nel",
            r(root, b"b_unencrypted: x\xC2\x85q_unencrypted: y\n"),
        ),
        (
            "line_separator",
            r(root, b"b_unencrypted: x\xE2\x80\xA8y\n"),
        ),
        // Long lines, deep nesting.
        ("long_line", r(sub, &long)),
        ("deep_block", r(root, &deep)),
        ("deep_compact", r(sub, &dashes)),
        (
            "deep_flow",
            r(
                root,
                &[
                    b"b_unencrypted: ".as_slice(),
                    &b"[".repeat(5000),
                    &b"]".repeat(5000),
                    b"\n",
                ]
                .concat(),
            ),
        ),
        // Keys the planner must not take for plain key lines, duplicates across parts.
        ("key_no_space", r(root, b"b_unencrypted:x\n")),
        ("key_with_space", r(root, b"b c_unencrypted: x\n")),
        ("key_hash", r(root, b"b#c_unencrypted: x\n")),
        ("complex_key", r(root, b"? b_unencrypted\n: x\n")),
        ("flow_map", r(root, b"b_unencrypted: {a: 1,\n  b: 2}\n")),
        (
            "root_list_under_key",
            r(root, b"b_unencrypted:\n- 1\n- 2\n"),
        ),
        ("dash_key", r(root, b"-b_unencrypted: x\n")),
        (
            "anchor",
            r(root, b"b_unencrypted: &a x\nr_unencrypted: *a\n"),
        ),
        (
            "merge_key",
            r(
                root,
                b"b_unencrypted: &a {p: 1}\nr_unencrypted:\n    <<: *a\n",
            ),
        ),
        ("dup_sub", r(b"    z: ENC", b"    x: 5\n    z: ENC")),
        ("dup_root", r(b"c: ENC", b"a: 5\nc: ENC")),
        (
            "sub_odd_dedent",
            r(b"    z: ENC", b"  zz_unencrypted: 1\n    z: ENC"),
        ),
        (
            "meta_odd_indent",
            r(b"    version: ", b"  extra: 1\n    version: "),
        ),
        // Comments and blank lines around the metadata.
        ("comment_before_sops", r(b"sops:\n", b"# hi\nsops:\n")),
        (
            "indented_comment_before_sops",
            r(b"sops:\n", b"    # hi\nsops:\n"),
        ),
        ("blank_before_sops", r(b"sops:\n", b"\n\nsops:\n")),
        (
            "comment_inside_sops",
            r(b"    mac_only", b"    # mid\n    mac_only"),
        ),
        ("key_after_sops", with_tail(b"zz_unencrypted: 1\n")),
        ("trailing_blank", with_tail(b"\n\n")),
        (
            "no_final_newline",
            b.strip_suffix(b"\n").expect("newline").to_vec(),
        ),
    ];
    let mut streamed = Vec::new();
    for (name, text) in &cases {
        let p = env.write(&format!("{name}.yaml"), text);
        if same_both_ways(&env, &p) {
            streamed.push(*name);
        }
    }
    // Some of them are taken by the streaming path (the comparison is not vacuous).
    for name in ["block_sub", "long_line", "key_after_sops", "bom"] {
        assert!(streamed.contains(&name), "{name} streamed: {streamed:?}");
    }
}

/// A file of many parts with each of its encrypted values (and the MAC, the integrity
/// record, an encrypted comment) tampered with in turn: the streamed decrypt, read in
/// blocks of one byte and parts of one entry, fails as the tree path does and writes
/// nothing, to stdout, to `--output` or in place.
#[test]
fn tampering_anywhere_gives_no_output_on_any_path() {
    let env = Env::new(None);
    let mut plain = String::from("# head\n");
    for i in 0..12 {
        plain.push_str(&format!(
            "k{i}: v{i}\nbig{i}:\n    # c{i}\n    a: {i}\n    b:\n        - x{i}\n        - {i}.5\n    c: {}\n",
            i % 2 == 0
        ));
    }
    let p = env.write("plain.yaml", plain.as_bytes());
    let out = env.run_blocks(
        "never",
        None,
        None,
        &["encrypt", "--age", AGE_RECIPIENT, &p],
    );
    assert!(out.status.success());
    let enc = out.stdout;
    let good = env.write("good.yaml", &enc);
    let s = env.run_blocks("require", Some(1), Some(1), &["decrypt", &good]);
    assert!(s.status.success() && s.stdout == plain.as_bytes());
    // Every `data:`, `iv:` and `tag:` field, and the record's tag (after its public MAC
    // reference, which only tells a current record from a stale one).
    let text = String::from_utf8(enc.clone()).expect("utf8");
    let mut spots: Vec<usize> = Vec::new();
    for (field, skip) in [
        ("data:", 2),
        ("iv:", 2),
        ("tag:", 2),
        ("leafseal_integrity: v3:", 16 + 1 + 2),
    ] {
        spots.extend(
            text.match_indices(field)
                .map(|(at, _)| at + field.len() + skip),
        );
    }
    spots.sort_unstable();
    assert!(spots.len() > 150, "{}", spots.len());
    let target = env.work.path().join("out.yaml");
    let target_s = target.display().to_string();
    for (n, &at) in spots.iter().enumerate() {
        let mut bad = enc.clone();
        bad[at] = if bad[at] == b'A' { b'B' } else { b'A' };
        let bad_p = env.write("bad.yaml", &bad);
        let tree = env.run_blocks("never", None, None, &["decrypt", &bad_p]);
        assert_ne!(tree.status.code(), Some(0), "spot {at}");
        assert!(tree.stdout.is_empty());
        let s = env.run_blocks("always", Some(1), Some(1), &["decrypt", &bad_p]);
        assert_eq!(s.status.code(), tree.status.code(), "spot {at}");
        assert!(s.stdout.is_empty(), "spot {at}");
        assert_eq!(s.stderr, tree.stderr, "spot {at}");
        // A few of them also to a file and in place (every tenth: each is a process).
        if n % 10 == 0 {
            let o = env.run_blocks(
                "always",
                Some(1),
                Some(1),
                &["decrypt", "--output", &target_s, &bad_p],
            );
            assert_eq!(o.status.code(), tree.status.code());
            assert!(!target.exists(), "spot {at}: --output written");
            let i = env.run_blocks("always", Some(1), Some(1), &["decrypt", "-i", &bad_p]);
            assert_eq!(i.status.code(), tree.status.code());
            assert_eq!(
                std::fs::read(&bad_p).expect("read"),
                bad,
                "spot {at}: -i wrote"
            );
        }
    }
}
