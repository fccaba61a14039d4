//! The streamed decrypt of a named YAML or JSON file plans the file while its first parts
//! are already decrypted: the metadata is read from the file's tail first, and the parts
//! the planner has settled are handed to the workers as it goes, then checked against the
//! final plan. Through the CLI, with tiny parts and blocks (so that the planner and the
//! workers race over many parts): the bytes of the tree path, also when the guess is
//! dropped (a layout the final plan cuts differently) and when the last part is one the
//! direct path declines; a tampered value in the first or the last part still gives
//! nothing on stdout, with the tree path's exit code and message.

mod support;

#[path = "support/stream_env.rs"]
mod stream_env;

use std::fmt::Write as _;

use stream_env::*;
use support::*;

/// A document shaped like a large configuration: a few root entries, one large map of
/// `n` services cut into parts, then `tail`.
fn doc(n: usize, tail: &str) -> String {
    let mut s = String::from("# head\nversion: 3\nglobal:\n    region: eu-west-1\nservices:\n");
    for i in 0..n {
        let _ = write!(
            s,
            "    svc-{i:04}:\n        # service {i}\n        name: svc-{i:04}\n        replicas: {}\n        token: tok-{i:04}-{}\n        ports:\n            - 80\n            - {}\n",
            i % 5,
            "x".repeat(i % 40),
            8000 + i
        );
    }
    s.push_str(tail);
    s
}

/// Encrypts `plain` as `name` (on the tree path); the encrypted file's path and text.
fn encrypted(env: &Env, name: &str, plain: &str) -> (String, String) {
    let p = env.write(&format!("plain.{name}"), plain.as_bytes());
    let enc = ok(&env.tree(&["encrypt", "--age", AGE_RECIPIENT, &p]));
    let text = String::from_utf8(enc).expect("utf-8");
    (env.write(name, text.as_bytes()), text)
}

/// Part and block sizes: tiny parts and blocks, and the defaults.
const SIZES: [(Option<usize>, Option<usize>); 4] = [
    (Some(1), Some(7)),
    (Some(300), Some(64)),
    (Some(5000), Some(4096)),
    (None, None),
];

/// Every part and block size gives the tree path's stdout and stderr (`direct`: the
/// direct part path's setting).
fn same_as_tree(env: &Env, path: &str, direct: &str) {
    let tree = env.tree(&["decrypt", path]);
    assert!(
        tree.status.success(),
        "{}",
        String::from_utf8_lossy(&tree.stderr)
    );
    for (part, block) in SIZES {
        let part = part.map(|p| p.to_string());
        let block = block.map(|b| b.to_string());
        let out = env.run_set(
            &[
                ("LEAFSEAL_STREAM", Some("require")),
                ("LEAFSEAL_STREAM_PART", part.as_deref()),
                (leafseal::stream::BLOCK_ENV, block.as_deref()),
                (leafseal::stream::DIRECT_ENV, Some(direct)),
            ],
            &["decrypt", path],
        );
        assert!(
            out.status.success(),
            "part {part:?} block {block:?} direct {direct}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stdout == tree.stdout,
            "part {part:?} block {block:?} direct {direct}: the output differs from the tree path's"
        );
        assert_eq!(out.stderr, tree.stderr, "part {part:?} block {block:?}");
    }
}

#[test]
fn planning_while_decrypting_gives_the_tree_paths_bytes() {
    let env = Env::new(None);
    let plain = doc(300, "after: 1\n");
    let (path, _) = encrypted(&env, "a.yaml", &plain);
    for direct in ["require", "never"] {
        same_as_tree(&env, &path, direct);
    }
    assert!(env.tree(&["decrypt", &path]).stdout == plain.as_bytes());
}

#[test]
fn a_guess_the_final_plan_does_not_keep_is_dropped() {
    // The root key after the large map has a comment at another indentation before it:
    // it joins the map's part, so the map is not cut after all, although its first
    // parts were handed out while it was read.
    let env = Env::new(None);
    // (Since round 16 the comment, left of the map's last entry's map and right of
    // `after`, ends that innermost map as in go-yaml: a foot comment, which the direct
    // path leaves to the part's tree.)
    let (path, _) = encrypted(&env, "b.yaml", &doc(300, "  # note\nafter: 1\n"));
    same_as_tree(&env, &path, "auto");
}

#[test]
fn a_last_part_the_direct_path_declines_is_read_as_a_tree() {
    // A comment in a list: the direct path leaves it to the part's tree.
    let env = Env::new(None);
    let (path, _) = encrypted(
        &env,
        "c.yaml",
        &doc(300, "trailer:\n    - a\n    # note\n    - b\n"),
    );
    same_as_tree(&env, &path, "auto");
    let out = env.run_set(
        &[
            ("LEAFSEAL_STREAM", Some("require")),
            ("LEAFSEAL_STREAM_PART", Some("300")),
            (leafseal::stream::DIRECT_ENV, Some("require")),
        ],
        &["decrypt", &path],
    );
    assert!(!out.status.success() && out.stdout.is_empty());
}

/// `text` with one base64 character of the `data:` field of the value at `at` changed.
fn flip(text: &str, at: usize) -> String {
    let start = at + "ENC[AES256_GCM,data:".len();
    let mut b = text.as_bytes().to_vec();
    let i = (start..start + 8)
        .find(|&i| b[i] != b'A')
        .expect("a byte to flip");
    b[i] = if b[i] == b'B' { b'C' } else { b'B' };
    String::from_utf8(b).expect("utf-8")
}

#[test]
fn a_tampered_value_in_the_first_or_last_part_gives_nothing_on_stdout() {
    let env = Env::new(None);
    let (_, text) = encrypted(&env, "d.yaml", &doc(300, "after: 1\n"));
    let meta = text.find("\nsops:").expect("metadata");
    let first = text.find("ENC[AES256_GCM,data:").expect("a value");
    let last = text[..meta].rfind("ENC[AES256_GCM,data:").expect("a value");
    for (what, at) in [("first", first), ("last", last)] {
        let path = env.write("t.yaml", flip(&text, at).as_bytes());
        let tree = env.tree(&["decrypt", &path]);
        assert!(!tree.status.success(), "{what}");
        for (part, block) in SIZES {
            let out = env.run_blocks("always", part, block, &["decrypt", &path]);
            assert!(
                out.stdout.is_empty(),
                "{what} {part:?}: plaintext of a tampered file"
            );
            assert_eq!(out.status.code(), tree.status.code(), "{what} {part:?}");
            assert_eq!(out.stderr, tree.stderr, "{what} {part:?}");
        }
    }
}

/// A JSON document with a few root members, a large object member of `n` services and
/// `tail` members after it.
fn json_doc(n: usize, tail: &str) -> String {
    let mut s = String::from(
        "{\n  \"version\": 3,\n  \"global\": {\n    \"region\": \"eu\"\n  },\n  \"services\": {\n",
    );
    for i in 0..n {
        let comma = if i + 1 < n { "," } else { "" };
        let _ = writeln!(
            s,
            "    \"svc-{i:04}\": {{\n      \"name\": \"svc-{i:04}\",\n      \"replicas\": {},\n      \"token\": \"tok-{i:04}-{}\",\n      \"ports\": [80, {}]\n    }}{comma}",
            i % 5,
            "x".repeat(i % 40),
            8000 + i
        );
    }
    s.push_str("  }");
    s.push_str(tail);
    s.push_str("\n}\n");
    s
}

#[test]
fn json_planned_while_decrypting_gives_the_tree_paths_bytes() {
    let env = Env::new(None);
    let (path, text) = encrypted(&env, "a.json", &json_doc(300, ",\n  \"after\": 1"));
    for direct in ["require", "never"] {
        same_as_tree(&env, &path, direct);
    }
    // A member after the big one with an object and a list on one line.
    let (path, _) = encrypted(
        &env,
        "b.json",
        &json_doc(300, ",\n  \"more\": {\"x\": [1, 2, 3]}"),
    );
    same_as_tree(&env, &path, "require");
    // A tampered first and last value: nothing on stdout, the tree path's error.
    let meta = text.find("\"sops\":").expect("metadata");
    let first = text.find("ENC[AES256_GCM,data:").expect("a value");
    let last = text[..meta].rfind("ENC[AES256_GCM,data:").expect("a value");
    for (what, at) in [("first", first), ("last", last)] {
        let path = env.write("t.json", flip(&text, at).as_bytes());
        let tree = env.tree(&["decrypt", &path]);
        assert!(!tree.status.success(), "{what}");
        for (part, block) in SIZES {
            let out = env.run_blocks("always", part, block, &["decrypt", &path]);
            assert!(
                out.stdout.is_empty(),
                "{what} {part:?}: plaintext of a tampered file"
            );
            assert_eq!(out.status.code(), tree.status.code(), "{what} {part:?}");
            assert_eq!(out.stderr, tree.stderr, "{what} {part:?}");
        }
    }
}

#[test]
fn comments_an_encrypted_file_holds_where_plaintext_would_move_them_stay_put() {
    // A map's foot comment after a list that ends with a comment item: read as
    // plaintext, go-yaml's foot rule would give it to the list (round 16), but in an
    // encrypted file it stays with the map it was sealed in. The streaming decrypt,
    // `rotate -i` and `set` read parts of the file, where no `sops:` line tells it is
    // encrypted: they failed with exit 25 on such a file until they were told.
    let env = Env::new(None);
    let mut tail = String::new();
    // Over 1 MiB encrypted, so that the streaming paths take it.
    for i in 0..9000 {
        let _ = write!(
            tail,
            "k{i}:\n    k0:\n        - name: item0\n        - x{i}\n          # foot of the list\n    # foot of the map\n"
        );
    }
    tail.push_str("z: 1\n");
    let (path, _) = encrypted(&env, "f.yaml", &tail);
    let plain = ok(&env.tree(&["decrypt", &path]));
    let streamed = env.run_set(&[("LEAFSEAL_STREAM", Some("require"))], &["decrypt", &path]);
    assert_eq!(ok(&streamed), plain);
    for args in [
        &["rotate", "-i", path.as_str()][..],
        &["set", path.as_str(), "[\"k5\"][\"k0\"][1]", "\"x5\""],
    ] {
        let out = env.run_set(&[("LEAFSEAL_STREAM", Some("require"))], args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(ok(&env.tree(&["decrypt", &path])), plain, "{args:?}");
    }
}
