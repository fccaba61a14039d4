//! The tree-free YAML part path of the streaming `encrypt` (`stream/encrypt/direct.rs`)
//! against the tree path, through the binary on real files. `LEAFSEAL_STREAM=require`
//! with `LEAFSEAL_STREAM_DIRECT=require` fails unless every part went the direct way, so
//! these runs show which path a file took. Both paths draw fresh keys and nonces: the
//! outputs are compared with every `ENC[…]` reduced to its ciphertext length and type,
//! and without the wrapped key, `lastmodified`, the MAC and the integrity record; both
//! decrypt (integrity record required) to the same plaintext, and the real sops 3.11
//! decrypts the direct output.

mod support;

#[path = "support/stream_env.rs"]
mod stream_env;

use stream_env::*;
use support::*;

const SCALARS: &[&str] = &[
    "plain text",
    "\"double: quoted # not a comment\"",
    "'single ''quoted'''",
    "42",
    "-7",
    "0x1F",
    "1_000",
    "3.25",
    "1e3",
    ".inf",
    "true",
    "False",
    "yes",
    "null",
    "~",
    "2001-12-14",
    "2001-12-14T21:59:43.10-05:00",
    "\"\"",
    "''",
    "\"tab\\tand unicode \\u00e9\"",
    "émoji 😀 ok",
    "[]",
    "{}",
    "http://example.com/a#b",
];

/// One generated document in the direct path's layout subset.
fn document(rng: &mut Rng, entries: usize) -> String {
    let mut s = String::new();
    if rng.pick(2) == 0 {
        s.push_str("# head of the file\n");
    }
    for i in 0..entries {
        if rng.pick(3) == 0 {
            s.push_str("# before a root key\n");
        }
        s.push_str(&format!("key{i}:"));
        value(rng, &mut s, 0, 3);
    }
    // A last root key: comments at the end of the root map are the tree path's (a
    // dedented foot comment would otherwise end the document).
    s.push_str(&format!("last{}: 1\n", rng.pick(1 << 30)));
    s
}

fn scalar_line(rng: &mut Rng, s: &mut String) {
    s.push(' ');
    let scalar = SCALARS[rng.pick(SCALARS.len())];
    s.push_str(scalar);
    // `x: [] # c` makes the comment the list's only item (as go-yaml does), which the
    // direct scan leaves to the tree path (`declined_layouts_fall_back_per_part_with_the_same_result`).
    if rng.pick(5) == 0 && scalar != "[]" {
        s.push_str("  # at the end");
    }
    s.push('\n');
}

/// A value after `key:` whose key is at column `col`.
fn value(rng: &mut Rng, s: &mut String, col: usize, depth: usize) {
    let step = [2, 4][rng.pick(2)];
    let pad = |n: usize| " ".repeat(n);
    match if depth == 0 { 0 } else { rng.pick(5) } {
        0 | 1 => scalar_line(rng, s),
        2 => {
            s.push_str(if rng.pick(2) == 0 { " |\n" } else { " |-\n" });
            for l in 0..1 + rng.pick(3) {
                s.push_str(&format!("{}line {l} of a block\n", pad(col + step)));
            }
        }
        3 => {
            if rng.pick(4) == 0 {
                s.push_str("  # on the key line");
            }
            s.push('\n');
            let c = col + step;
            for j in 0..1 + rng.pick(4) {
                if rng.pick(4) == 0 {
                    s.push_str(&format!("{}# inside\n", pad(c)));
                }
                s.push_str(&format!(
                    "{}k{j}_unencrypted:",
                    pad(c).replace("_unencrypted", "")
                ));
                if j % 2 == 0 {
                    s.truncate(s.len() - "_unencrypted:".len());
                    s.push(':');
                }
                value(rng, s, c, depth - 1);
            }
            if rng.pick(4) == 0 {
                s.push_str(&format!("{}# foot of the map\n", pad(c)));
            }
            if rng.pick(4) == 0 {
                // Left of the map, perhaps right of the next key: go-yaml's foot rule.
                s.push_str(&format!("{}# dedented foot\n", pad(col + rng.pick(step))));
            }
        }
        _ => {
            s.push('\n');
            // Indentless or indented list.
            let d = if rng.pick(2) == 0 { col } else { col + step };
            for j in 0..1 + rng.pick(4) {
                if rng.pick(4) == 0 {
                    s.push_str(&format!("{}# in the list\n", pad(d)));
                }
                if rng.pick(2) == 0 {
                    s.push_str(&format!("{}-", pad(d)));
                    scalar_line(rng, s);
                } else {
                    s.push_str(&format!("{}- name: item{j}", pad(d)));
                    if rng.pick(4) == 0 {
                        s.push_str("  # first key");
                    }
                    s.push('\n');
                    s.push_str(&format!("{}value:", pad(d + 2)));
                    value(rng, s, d + 2, depth - 1);
                }
            }
            if rng.pick(4) == 0 {
                s.push_str(&format!("{}# foot of the list\n", pad(d + 2)));
            }
        }
    }
}

#[test]
fn generated_documents_go_direct_with_the_tree_paths_bytes() {
    let env = Env::strict(None);
    let mut rng = Rng(0x5eed_1e4f);
    let mut sops_checked = 0;
    for n in 0..24 {
        let doc = document(&mut rng, 3 + n);
        let path = env.write(&format!("gen{n}.yaml"), doc.as_bytes());
        if let Some(dir) = std::env::var_os("ENCRYPT_DIRECT_DUMP") {
            std::fs::write(
                std::path::Path::new(&dir).join(format!("gen{n}.yaml")),
                &doc,
            )
            .expect("dump");
        }
        let enc = encrypt_same_as_tree(&env, &path, &[], "require");
        if sops_checked < 3 {
            encrypt_sops_agrees_with_tree(&env, &path, &[], &enc);
            sops_checked += 1;
        }
    }
}

#[test]
fn selector_rules_and_mac_only_give_the_tree_paths_result() {
    let env = Env::strict(None);
    let mut rng = Rng(7);
    let doc = document(&mut rng, 12);
    let path = env.write("rules.yaml", doc.as_bytes());
    for extra in [
        &["--encrypted-regex", "^(key1|key3|name)$"][..],
        &["--unencrypted-regex", "^k1"],
        &["--encrypted-suffix", "_unencrypted"],
        &["--unencrypted-suffix", "_unencrypted"],
        &["--mac-only-encrypted", "--encrypted-regex", "^key[0-5]$"],
    ] {
        let enc = encrypt_same_as_tree(&env, &path, extra, "require");
        encrypt_sops_agrees_with_tree(&env, &path, extra, &enc);
    }
    // Comment-based rules: not streamed at all (the tree path's result).
    for extra in [
        &["--encrypted-comment-regex", "inside"][..],
        &["--unencrypted-comment-regex", "inside"],
    ] {
        let mut args = vec!["encrypt", "--age", AGE_RECIPIENT];
        args.extend_from_slice(extra);
        args.push(&path);
        assert!(
            !encrypt_direct_run(&env, "require", 4096, &args)
                .status
                .success()
        );
        let tree = ok(&env.tree(&args));
        let auto = ok(&env.run_with("always", Some(4096), &args));
        assert_eq!(structure(&auto), structure(&tree), "{extra:?}");
    }
}

#[test]
fn declined_layouts_fall_back_per_part_with_the_same_result() {
    let env = Env::strict(None);
    let mut fell_back = 0;
    for (n, odd) in [
        "anchor: &a 1\nalias: *a\n",
        "flow: [1, 2]\n",
        "tagged: !!str 12\n",
        "folded: >\n  a\n  b\n",
        "nested:\n- - a\n  - b\n",
        "empty_item:\n-\n  x: 1\n",
        "nest:\n  \"esc\\tkey\": 1\n",
        "list_in_list:\n  - - x\n    - y\n",
        // go-yaml makes the comment the empty list's only item (round 23).
        "empty_list_with_a_comment: [] # the only item\n",
    ]
    .iter()
    .enumerate()
    {
        // A regular document with the odd entry in the middle: parts before and after
        // it still go direct (auto), the whole file only on the tree path (require).
        let mut rng = Rng(n as u64 + 100);
        let doc = format!(
            "{}{odd}{}",
            document(&mut rng, 4),
            document(&mut rng, 4).replace("key", "more")
        );
        let path = env.write(&format!("odd{n}.yaml"), doc.as_bytes());
        let args = ["encrypt", "--age", AGE_RECIPIENT, path.as_str()];
        let tree = env.tree(&args);
        if !tree.status.success() {
            // Not a document the tree path takes either: same error, either way.
            let auto = encrypt_direct_run(&env, "auto", 64, &args);
            assert_eq!(auto.status.code(), tree.status.code(), "{odd:?}");
            continue;
        }
        if !encrypt_direct_run(&env, "auto", 64, &args).status.success() {
            // The fast reader does not take it either: the streaming path hands the whole
            // file to the tree path (already compared above by its success).
            continue;
        }
        assert!(
            !encrypt_direct_run(&env, "require", 64, &args)
                .status
                .success(),
            "{odd:?} went direct"
        );
        encrypt_same_as_tree(&env, &path, &[], "auto");
        fell_back += 1;
    }
    assert!(
        fell_back >= 3,
        "only {fell_back} layouts fell back per part"
    );
}

#[test]
fn the_large_shapes_go_direct_and_sops_decrypts_them() {
    // The shapes of the benchmark corpus (services with comments, end-of-line comments,
    // indentless lists of maps, quoted values, literal blocks, empty lists).
    let mut s = String::from(
        "# synthetic\nschemaVersion: 3\nglobal:\n  region: eu-west-1\n  slo: 99.95\nservices:\n",
    );
    for i in 0..200 {
        s.push_str(&format!(
            "  svc-{i:05}:\n    # svc-{i:05} owned by infra\n    name: svc-{i:05}\n    enabled: true\n    replicas: {i}  # autoscaled\n    cpu: 5.{i}\n    image: \"registry/svc:{i}\"\n    ports:\n    - {}\n    - 443\n    env:\n    - name: A_{i}\n      value: \"{i}\"\n    # rotate\n    secrets:\n      db: \"x(N{i}\"\n      tls: |\n        -----BEGIN-----\n        abc{i}\n    tags: []\n    notes: |\n      line one 😀\n      line two\n",
            8000 + i
        ));
    }
    let env = Env::strict(None);
    let path = env.write("shapes.yaml", s.as_bytes());
    let enc = encrypt_same_as_tree(&env, &path, &[], "require");
    encrypt_sops_agrees_with_tree(&env, &path, &[], &enc);
}
