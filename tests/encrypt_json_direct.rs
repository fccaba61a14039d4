//! The tree-free JSON part path of the streaming `encrypt`
//! (`stream/encrypt/json_direct.rs`) against the tree path, through the binary on real
//! files. `LEAFSEAL_STREAM=require` with `LEAFSEAL_STREAM_DIRECT=require` fails unless
//! every part went the direct way, so these runs show which path a file took. Both paths
//! draw fresh keys and nonces: the outputs are compared with every `ENC[…]` reduced to
//! its ciphertext length and type, and without the wrapped key, `lastmodified`, the MAC
//! and the integrity record; both decrypt (integrity record required) to the same
//! plaintext, and the real sops 3.11 decrypts the direct output to what it decrypts the
//! tree path's output to.

mod support;

#[path = "support/stream_env.rs"]
mod stream_env;

use stream_env::*;
use support::*;

const SCALARS: &[&str] = &[
    "\"plain text\"",
    "\"quote \\\" and backslash \\\\ and slash \\/\"",
    "\"controls \\b\\f\\n\\r\\t \\u0001\"",
    "\"html <a href=\\\"x\\\">&amp;</a>\"",
    "\"unicode \\u00e9 \\ud83d\\ude00 é 😀 \u{2028}\"",
    "\"\"",
    "\"ENC[not really]\"",
    "42",
    "-7",
    "0",
    "-0",
    "3.25",
    "1e3",
    "-2.5E-3",
    "100.50",
    // (Not an integer above 2^53: left clear by a selector, sops 3.11 reads it rounded
    // and reports a MAC mismatch, see docs/compatibility.md.)
    "1234567890123",
    "true",
    "false",
    "null",
    "[]",
    "{}",
];

/// A value on a line at `depth` (its members one deeper), written with `unit`.
fn value(rng: &mut Rng, s: &mut String, unit: &str, depth: usize, budget: usize) {
    let pad = |n: usize| unit.repeat(n);
    match if budget == 0 { 0 } else { rng.pick(4) } {
        0 | 1 => s.push_str(SCALARS[rng.pick(SCALARS.len())]),
        2 => {
            s.push('[');
            let n = 1 + rng.pick(3);
            for j in 0..n {
                s.push_str(&format!("\n{}", pad(depth + 1)));
                value(rng, s, unit, depth + 1, budget - 1);
                if j + 1 < n {
                    s.push(',');
                }
            }
            s.push_str(&format!("\n{}]", pad(depth)));
        }
        _ => {
            s.push('{');
            let n = 1 + rng.pick(4);
            for j in 0..n {
                let k = if j % 3 == 2 {
                    format!("k{j}_unencrypted")
                } else {
                    format!("k{j}")
                };
                s.push_str(&format!("\n{}\"{k}\": ", pad(depth + 1)));
                value(rng, s, unit, depth + 1, budget - 1);
                if j + 1 < n {
                    s.push(',');
                }
            }
            s.push_str(&format!("\n{}}}", pad(depth)));
        }
    }
}

/// One generated document in the planner's layout: root members, then a big member
/// whose object the planner cuts into sub-parts.
fn document(rng: &mut Rng, entries: usize) -> String {
    let unit = ["  ", "\t", "    "][rng.pick(3)];
    let mut s = String::from("{");
    for i in 0..entries {
        s.push_str(&format!("\n{unit}\"key{i}\": "));
        value(rng, &mut s, unit, 1, 3);
        s.push(',');
    }
    s.push_str(&format!("\n{unit}\"services\": {{"));
    for i in 0..entries {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!("\n{unit}{unit}\"svc-{i}\": "));
        value(rng, &mut s, unit, 2, 3);
    }
    s.push_str(&format!("\n{unit}}}\n}}\n"));
    s
}

#[test]
fn generated_documents_go_direct_with_the_tree_paths_bytes() {
    let env = Env::strict(None);
    let mut rng = Rng(0x15_0a_d1);
    for n in 0..16 {
        let doc = document(&mut rng, 3 + n);
        let path = env.write(&format!("gen{n}.json"), doc.as_bytes());
        let enc = encrypt_same_as_tree(&env, &path, &[], "require");
        if n < 3 {
            encrypt_sops_agrees_with_tree(&env, &path, &[], &enc);
        }
    }
}

#[test]
fn selector_rules_and_mac_only_give_the_tree_paths_result() {
    let env = Env::strict(None);
    let mut rng = Rng(11);
    let doc = document(&mut rng, 10);
    let path = env.write("rules.json", doc.as_bytes());
    for extra in [
        &["--encrypted-regex", "^(key1|key3|k0)$"][..],
        &["--unencrypted-regex", "^k1"],
        &["--encrypted-suffix", "_unencrypted"],
        &["--unencrypted-suffix", "_unencrypted"],
        &["--mac-only-encrypted", "--encrypted-regex", "^key[0-5]$"],
        &["--indent", "3"],
    ] {
        let enc = encrypt_same_as_tree(&env, &path, extra, "require");
        encrypt_sops_agrees_with_tree(&env, &path, extra, &enc);
    }
}

#[test]
fn declined_layouts_fall_back_per_part_with_the_same_result() {
    let env = Env::strict(None);
    let mut fell_back = 0;
    for (n, odd) in [
        "\"esc\\u0041key\": 1",
        "\"lone\": \"\\ud800\"",
        "\"deep\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
        "\"huge\": 1e400",
        "\"bad\": 01",
        "\"dup\": 1,\n  \"dup\": 2",
    ]
    .iter()
    .enumerate()
    {
        // A regular document with the odd member in the middle: parts before and after
        // it still go direct (auto), the whole file only on the tree path (require).
        let mut rng = Rng(n as u64 + 100);
        let doc = document(&mut rng, 6).replacen(
            "\n  \"key3\"",
            &format!("\n  {odd},\n  \"key3\""),
            1,
        );
        let doc = if doc.contains(odd) {
            doc
        } else {
            // (Another indentation unit: put it first instead.)
            doc.replacen('{', &format!("{{\n  {odd},"), 1)
        };
        let path = env.write(&format!("odd{n}.json"), doc.as_bytes());
        let args = ["encrypt", "--age", AGE_RECIPIENT, path.as_str()];
        let tree = env.tree(&args);
        if !tree.status.success() {
            // Not a document the tree path takes either: the same error either way, and
            // nothing on stdout.
            let auto = env.run_with("always", Some(64), &args);
            assert_eq!(auto.status.code(), tree.status.code(), "{odd:?}");
            assert!(auto.stdout.is_empty(), "{odd:?}");
            continue;
        }
        assert!(
            !encrypt_direct_run(&env, "require", 64, &args).status.success(),
            "{odd:?} went direct"
        );
        let auto = env.run_with("always", Some(64), &args);
        if !auto.status.success() {
            continue;
        }
        assert_eq!(structure(&ok(&auto)), structure(&ok(&tree)), "{odd:?}");
        fell_back += 1;
    }
    assert!(fell_back >= 2, "only {fell_back} layouts fell back");
}

#[test]
fn the_large_shapes_go_direct_and_sops_decrypts_them() {
    // The shapes of the benchmark corpus (gen.py's JSON: two-space indentation, services
    // with lists of maps, secrets with punctuation, numbers, booleans).
    let mut s = String::from(
        "{\n  \"schemaVersion\": 3,\n  \"global\": {\n    \"region\": \"eu-west-1\",\n    \"slo\": 99.95,\n    \"maintenance\": false\n  },\n  \"services\": {",
    );
    for i in 0..300 {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            "\n    \"svc-{i:05}\": {{\n      \"name\": \"svc-{i:05}\",\n      \"enabled\": true,\n      \"replicas\": {i},\n      \"cpu\": 5.{i}1,\n      \"ports\": [\n        {},\n        443\n      ],\n      \"env\": [\n        {{\n          \"name\": \"A_{i}\",\n          \"value\": \"{i}\"\n        }}\n      ],\n      \"secrets\": {{\n        \"db\": \"x(N\\\"{i}&<>\\\\\",\n        \"tls\": \"-----BEGIN-----\\nabc{i}\\n\"\n      }},\n      \"tags\": [],\n      \"notes\": \"line one 😀\"\n    }}",
            8000 + i
        ));
    }
    s.push_str("\n  }\n}\n");
    let env = Env::strict(None);
    let path = env.write("shapes.json", s.as_bytes());
    let enc = encrypt_same_as_tree(&env, &path, &[], "require");
    encrypt_sops_agrees_with_tree(&env, &path, &[], &enc);
    // A value tampered with anywhere: no plaintext on stdout.
    let text = String::from_utf8(enc).expect("utf8");
    for from in [0.0, 0.5, 0.9] {
        let bad = env.write("bad.json", tamper(&text, "\"db\"", from).as_bytes());
        let out = env.run_with("always", Some(4096), &["decrypt", &bad]);
        assert!(!out.status.success(), "tampered at {from}");
        assert!(out.stdout.is_empty(), "tampered at {from}: stdout");
    }
}
