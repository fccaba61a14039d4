//! The streaming decrypt of large JSON files (`leafseal::stream::decrypt_json`) against
//! the tree path: byte-identical output on every JSON fixture and on generated documents
//! (many small parts forced with `LEAFSEAL_STREAM_PART`), no plaintext on stdout when a
//! value, the MAC or the integrity record anywhere in a large file is wrong, and the
//! tree path's errors for everything the streaming path declines.

mod support;

#[path = "support/stream_env.rs"]
mod stream_env;

use std::sync::Arc;

use leafseal::format::EmitOptions;
use leafseal::format::Format;
use leafseal::keys::KeyContext;
use leafseal::ops;
use leafseal::ops::OpenOptions;
use leafseal::ops::SealPlan;
use leafseal::stream;
use leafseal::tree::Document;
use leafseal::tree::Map;
use leafseal::tree::SeqItem;
use leafseal::tree::Value;
use leafseal::walk::Selector;
use proptest::prelude::*;
use proptest::test_runner::Config;
use proptest::test_runner::TestRunner;
use stream_env::*;
use support::*;

// ---------------------------------------------------------------------------------
// Through the CLI, on real files
// ---------------------------------------------------------------------------------

/// Decrypts `path` (with `extra` arguments) through both paths, several part sizes for
/// the streaming one, and checks that exit code, stdout and stderr are the same. Returns
/// whether the file was streamed.
fn same_both_ways(env: &Env, path: &str, extra: &[&str]) -> bool {
    let args: Vec<&str> = ["decrypt"]
        .into_iter()
        .chain(extra.iter().copied())
        .chain([path])
        .collect();
    let tree = env.run_with("never", None, &args);
    for part in [1, 64, 4096, 1 << 20] {
        let s = env.run_with("always", Some(part), &args);
        assert_eq!(s.status.code(), tree.status.code(), "{path} (part {part})");
        assert!(
            s.stdout == tree.stdout,
            "{path} (part {part}): streamed output differs:\n--- tree\n{}\n--- stream\n{}",
            String::from_utf8_lossy(&tree.stdout),
            String::from_utf8_lossy(&s.stdout)
        );
        assert_eq!(
            String::from_utf8_lossy(&s.stderr),
            String::from_utf8_lossy(&tree.stderr),
            "{path} (part {part})"
        );
    }
    env.run_with("require", Some(64), &args).status.success()
}

#[test]
fn every_json_fixture_decrypts_the_same_streamed_and_as_a_tree() {
    let gpg = GpgHome::new();
    let env = Env::new(Some(&gpg));
    let mut files = Vec::new();
    json_files(&fixtures(), &mut files);
    if let Some(shared) = shared_interop() {
        json_files(&shared, &mut files);
    }
    let mut streamed = 0;
    let mut encrypted = 0;
    for f in &files {
        let text = std::fs::read(f).expect("read");
        let path = f.display().to_string();
        if text.windows(14).any(|w| w == b"ENC[AES256_GCM") {
            encrypted += 1;
            streamed += usize::from(same_both_ways(&env, &path, &[]));
            // Indentation given on the command line.
            same_both_ways(&env, &path, &["--indent", "3"]);
        } else if !text.is_empty() {
            // A plain file: encrypt it first (if leafseal takes it), then compare.
            let out = env.run_with("never", None, &["encrypt", "--age", AGE_RECIPIENT, &path]);
            if out.status.success() {
                let name = format!(
                    "enc-{encrypted}-{}",
                    f.file_name().expect("name").to_string_lossy()
                );
                let p = env.write(&name, &out.stdout);
                encrypted += 1;
                streamed += usize::from(same_both_ways(&env, &p, &[]));
            }
        }
    }
    assert!(encrypted >= 10, "fixtures found: {encrypted}");
    assert!(
        streamed >= 5,
        "only {streamed} of {encrypted} were streamed"
    );
}

const SERVICES: usize = 1500;

/// A JSON document of about 0.5 MB (1.5 MB once encrypted): one large object of services
/// with values of every type, escapes and unicode, suffix-selected clear values, empty
/// containers, and small members before and after it.
fn large_json() -> String {
    large_json_ending("\n  },\n  \"list\": [\"a\", \"b\"],\n  \"trailer\": \"end\"\n}\n")
}

/// [`large_json`]'s services, then `end` (which closes the services' object).
fn large_json_ending(end: &str) -> String {
    let mut s = String::from(
        "{\n  \"version\": 3,\n  \"meta\": {\"a\": [1, 2.5, true, null]},\n  \"services\": {\n",
    );
    for i in 0..SERVICES {
        if i > 0 {
            s.push_str(",\n");
        }
        s.push_str(&format!(
            "    \"svc-{i:05}\": {{\n      \"name\": \"service {i} \\\"q\\\" \\u00e9 <&> \\n\",\n      \"replicas\": {},\n      \"cpu\": {}.5,\n      \"enabled\": {},\n      \"note_unencrypted\": \"plain {i}\",\n      \"ports\": [{}, {}],\n      \"empty\": \"\",\n      \"obj\": {{}},\n      \"list\": [],\n      \"nothing\": null\n    }}",
            i % 7,
            i % 5,
            i % 2 == 0,
            8000 + i,
            9000 + i
        ));
    }
    s.push_str(end);
    s
}

/// Checks that the streamed and the tree path fail the same way with nothing on stdout.
fn fails_alike(env: &Env, text: &str, code: i32, what: &str) {
    assert_ne!(code, 0);
    let bad = env.write("bad.json", text.as_bytes());
    let tree = env.run_with("never", None, &["decrypt", &bad]);
    assert_eq!(tree.status.code(), Some(code), "{what} (tree)");
    for part in [None, Some(4096)] {
        let out = env.run_with("require", part, &["decrypt", &bad]);
        assert_eq!(out.status.code(), Some(code), "{what} (streamed)");
        assert!(out.stdout.is_empty(), "{what}: no output");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&tree.stderr),
            "{what}"
        );
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("service "),
            "no plaintext in the error"
        );
    }
}

/// Checks that a file is declined: the streamed run gives the tree path's result, and
/// `LEAFSEAL_STREAM=require` refuses it.
fn declined(env: &Env, text: &str, args: &[&str], what: &str) {
    let bad = env.write("odd.json", text.as_bytes());
    let mut all: Vec<&str> = vec!["decrypt"];
    all.extend_from_slice(args);
    all.push(&bad);
    let tree = env.run_with("never", None, &all);
    let auto = env.run_with("always", Some(4096), &all);
    assert_eq!(auto.status.code(), tree.status.code(), "{what}");
    assert!(auto.stdout == tree.stdout, "{what}");
    assert_eq!(
        String::from_utf8_lossy(&auto.stderr),
        String::from_utf8_lossy(&tree.stderr),
        "{what}"
    );
    let req = env.run_with("require", Some(4096), &all);
    assert_eq!(req.status.code(), Some(1), "{what}: not streamed");
    assert!(req.stdout.is_empty(), "{what}");
}

/// Service `n` of a [`large_json`] document removed (the MAC no longer matches: 51), and
/// a member with a null value added before it (only the integrity record sees it: 53).
fn member_removed_or_added_fails_closed(env: &Env, enc: &str, n: usize) {
    let cut_at = enc.find(&format!(",\n\t\t\"svc-{n:05}\":")).expect("entry");
    let cut_end = enc
        .find(&format!(",\n\t\t\"svc-{:05}\":", n + 1))
        .expect("next entry");
    let mut removed = enc.to_owned();
    removed.replace_range(cut_at..cut_end, "");
    fails_alike(env, &removed, 51, "removed member");
    let mut added = enc.to_owned();
    added.insert_str(cut_at, ",\n\t\t\"svc-extra\": null");
    fails_alike(env, &added, 53, "added null member");
}

#[test]
fn a_large_json_file_streams_byte_identically_and_fails_closed_anywhere() {
    let env = Env::new(None);
    let plain = large_json();
    let path = env.write("big.json", plain.as_bytes());
    let enc = ok(&env.run_with("never", None, &["encrypt", "--age", AGE_RECIPIENT, &path]));
    assert!(enc.len() > stream::AUTO_MIN, "streamed by default");
    let enc = String::from_utf8(enc).expect("utf8");
    let encp = env.write("enc.json", enc.as_bytes());
    let tree = ok(&env.run_with("never", None, &["decrypt", &encp]));
    let streamed = ok(&env.run_with("require", None, &["decrypt", &encp]));
    assert!(streamed == tree, "default parts");
    for part in [1, 300, 4096, 100_000] {
        let s = ok(&env.run_with("require", Some(part), &["decrypt", &encp]));
        assert!(s == tree, "parts of {part} bytes");
    }
    let mut no_stream_vars = env.vars.clone();
    no_stream_vars.remove("LEAFSEAL_STREAM");
    let auto = run_in(&no_stream_vars, env.work.path(), &["decrypt", &encp]);
    assert!(ok(&auto) == tree);
    // The round trip, re-indented as the plaintext was.
    let two = ok(&env.run_with("require", None, &["decrypt", "--indent", "2", &encp]));
    let reparsed: serde_json::Value = serde_json::from_slice(&two).expect("json");
    let original: serde_json::Value = serde_json::from_str(&plain).expect("json");
    assert_eq!(reparsed, original);

    // A tampered value at the start, in the middle and at the end: exit 25.
    for (key, from) in [
        ("\"version\":", 0.0),
        ("\"replicas\":", 0.5),
        ("\"trailer\":", 0.0),
        ("\"cpu\":", 0.95),
    ] {
        fails_alike(&env, &tamper(&enc, key, from), 25, key);
    }

    member_removed_or_added_fails_closed(&env, &enc, 750);

    // The stored MAC and the record changed.
    let mac_at = enc.find("\"mac\": \"ENC[AES256_GCM,data:").expect("mac") + 28;
    let mut bad_mac = enc.clone();
    let r = if &enc[mac_at..=mac_at] == "A" {
        "B"
    } else {
        "A"
    };
    bad_mac.replace_range(mac_at..=mac_at, r);
    let tree_bad = env.run_with(
        "never",
        None,
        &["decrypt", &env.write("m.json", bad_mac.as_bytes())],
    );
    assert_ne!(tree_bad.status.code(), Some(0));
    fails_alike(
        &env,
        &bad_mac,
        tree_bad.status.code().expect("code"),
        "stored MAC",
    );
    let rec_at = enc.find("\"leafseal_integrity\": \"v3:").expect("record") + 23 + 20;
    let mut bad_rec = enc.clone();
    let r = if &enc[rec_at..=rec_at] == "A" {
        "B"
    } else {
        "A"
    };
    bad_rec.replace_range(rec_at..=rec_at, r);
    fails_alike(&env, &bad_rec, 53, "integrity record");

    // decrypt -i: streamed, and the tampered file stays as it was.
    let bad = env.write("bad-i.json", tamper(&enc, "\"replicas\":", 0.5).as_bytes());
    let before = std::fs::read(&bad).expect("read");
    assert_eq!(
        env.run_with("require", None, &["decrypt", "-i", &bad])
            .status
            .code(),
        Some(25)
    );
    assert_eq!(std::fs::read(&bad).expect("read"), before);
    let good = env.write("good-i.json", enc.as_bytes());
    ok(&env.run_with("require", None, &["decrypt", "-i", &good]));
    assert!(std::fs::read(&good).expect("read") == tree);

    // Declined, with the tree path's result: duplicate keys at the root and in the big
    // member, `sops` not last, compact text, a byte-order mark, --ignore-mac, --extract,
    // another output format.
    let dup_root = enc.replacen("\n\t\"trailer\":", "\n\t\"version\":", 1);
    declined(&env, &dup_root, &[], "duplicate root key");
    let dup_big = enc.replacen("\"svc-01200\":", "\"svc-00003\":", 1);
    declined(&env, &dup_big, &[], "duplicate key in the big member");
    let sops_at = enc.find(",\n\t\"sops\":").expect("sops");
    let sops_end = enc.rfind("\n}").expect("end");
    let moved = format!(
        "{{\n{},\n{}\n}}\n",
        &enc[sops_at + 2..sops_end],
        &enc[2..sops_at]
    );
    declined(&env, &moved, &[], "sops first");
    let compact: serde_json::Value = serde_json::from_str(&enc).expect("json");
    declined(&env, &compact.to_string(), &[], "compact");
    declined(&env, &format!("\u{feff}{enc}"), &[], "byte-order mark");
    declined(&env, &bad_mac, &["--ignore-mac"], "--ignore-mac");
    // Not offered to the streaming path at all: the tree path's output.
    for args in [
        &["--extract", "[\"services\"]"][..],
        &["--output-type", "yaml"][..],
    ] {
        let mut all: Vec<&str> = vec!["decrypt"];
        all.extend_from_slice(args);
        all.push(&encp);
        let tree = ok(&env.run_with("never", None, &all));
        let req = ok(&env.run_with("require", Some(4096), &all));
        assert!(req == tree, "{args:?}");
    }
    declined(&env, "[1,\n2]\n", &[], "a root list");
}

/// The big member last: after the first parts, the planner cuts the rest of it by
/// jumping from cut to cut instead of reading every line (`stream::json::jump`). The
/// output is the tree path's, a change anywhere in the jumped text fails closed, and a
/// root member longer than the jump's probe after the big member (a guess that does
/// not hold: a part runs into it) is planned line by line, to the same output. The
/// streamed encrypt of both documents decrypts to them.
#[test]
fn a_json_file_cut_by_jumping_streams_byte_identically_and_fails_closed_anywhere() {
    let env = Env::new(None);
    let last = large_json_ending("\n  }\n}\n");
    let mut long = String::from("\n  },\n  \"trailer\": {\n");
    for i in 0..12_000 {
        long.push_str(&format!("    \"t{i:06}\": \"value {i}\",\n"));
    }
    long.push_str("    \"end\": 1\n  }\n}\n");
    let after = large_json_ending(&long);
    for (name, plain) in [("last.json", &last), ("after.json", &after)] {
        let path = env.write(name, plain.as_bytes());
        let enc = ok(&env.run_with("never", None, &["encrypt", "--age", AGE_RECIPIENT, &path]));
        let enc = String::from_utf8(enc).expect("utf8");
        if name == "after.json" {
            let trailer = enc.find("\n\t\"trailer\":").expect("trailer");
            let sops = enc.rfind("\n\t\"sops\":").expect("sops");
            assert!(
                sops - trailer > 1 << 20,
                "the trailer is longer than the probe"
            );
        }
        let encp = env.write(&format!("enc-{name}"), enc.as_bytes());
        let tree = ok(&env.run_with("never", None, &["decrypt", &encp]));
        for part in [None, Some(300), Some(4096), Some(100_000)] {
            let s = ok(&env.run_with("require", part, &["decrypt", &encp]));
            assert!(s == tree, "{name}: parts of {part:?} bytes");
        }
        // The streamed encrypt, decrypted by the tree path.
        for part in [None, Some(4096)] {
            let streamed =
                ok(&env.run_with("require", part, &["encrypt", "--age", AGE_RECIPIENT, &path]));
            let sp = env.write(&format!("senc-{name}"), &streamed);
            let back = ok(&env.run_with("never", None, &["decrypt", &sp]));
            assert!(
                back == tree,
                "{name}: streamed encrypt, parts of {part:?} bytes"
            );
        }
        if name == "after.json" {
            continue;
        }
        // Values changed early, in the middle and at the end of the jumped text.
        for (key, from) in [
            ("\"replicas\":", 0.1),
            ("\"cpu\":", 0.6),
            ("\"name\":", 0.97),
        ] {
            fails_alike(&env, &tamper(&enc, key, from), 25, key);
        }
        member_removed_or_added_fails_closed(&env, &enc, 1400);
        let dup_big = enc.replacen("\"svc-01450\":", "\"svc-00003\":", 1);
        declined(&env, &dup_big, &[], "duplicate key in the big member");
        // Lines that look like member lines of the big member inside a list in the
        // jumped text: whatever the cuts, the result is the tree path's.
        let odd = enc.replacen(
            ",\n\t\t\"svc-01300\": {",
            ",\n\t\t\"svc-01300\": [\n\t\t\"a\",\n\t\t\"b\",\n\t\t{",
            1,
        );
        let odd = odd.replacen(
            "\n\t\t},\n\t\t\"svc-01301\"",
            "\n\t\t}],\n\t\t\"svc-01301\"",
            1,
        );
        let oddp = env.write("odd-list.json", odd.as_bytes());
        let tree = env.run_with("never", None, &["decrypt", &oddp]);
        assert_ne!(tree.status.code(), Some(0));
        for part in [1, 300, 4096] {
            let s = env.run_with("always", Some(part), &["decrypt", &oddp]);
            assert_eq!(s.status.code(), tree.status.code(), "parts of {part} bytes");
            assert!(s.stdout.is_empty());
            assert_eq!(s.stderr, tree.stderr, "parts of {part} bytes");
        }
    }
}

// ---------------------------------------------------------------------------------
// Property test through the library: generated documents, every selector kind
// ---------------------------------------------------------------------------------

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 _.,:#'\"/@<>&\\\\-]{0,24}",
        "[a-z]{1,8}\n[a-z\t ]{0,8}\r?\n?",
        "\\PC{0,12}",
        "[\\x00-\\x1f\\x7f\\u{2028}\\u{2029}\\u{fffd}]{0,4}",
        Just("true".to_owned()),
        Just("".to_owned()),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z][a-z0-9_]{0,10}",
        1 => "[a-z]{1,6}_unencrypted",
        1 => "pass[a-z]{0,4}",
        1 => "[a-z\"\\\\ é{},:\n]{1,6}",
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        text().prop_map(Value::str),
        any::<i64>().prop_map(Value::Int),
        (-1.0e9f64..1.0e9)
            .prop_filter("fraction", |f| f.fract() != 0.0)
            .prop_map(Value::Float),
        prop_oneof![Just(1.0e21f64), Just(1.5e-7), Just(-0.000_001)].prop_map(Value::Float),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ]
}

fn map_of(entries: Vec<(String, Value)>) -> Map {
    let mut m = Map::new();
    let mut seen = std::collections::HashSet::new();
    for (k, v) in entries {
        if k == "sops" || !seen.insert(k.clone()) {
            continue;
        }
        m.push(k, v);
    }
    m
}

fn nested() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4)
                .prop_map(|v| Value::Seq(v.into_iter().map(SeqItem::Value).collect())),
            prop::collection::vec((key(), inner), 0..4).prop_map(|e| Value::Map(map_of(e))),
        ]
    })
}

/// A document with a few root members and one larger object (which the planner cuts
/// into parts of its own).
fn document() -> impl Strategy<Value = Document> {
    (
        prop::collection::vec((key(), nested()), 0..5),
        prop::collection::vec((key(), nested()), 0..40),
        prop::collection::vec((key(), nested()), 0..3),
    )
        .prop_map(|(head, big, tail)| {
            let mut m = map_of(head);
            if !big.is_empty() && m.get("big").is_none() {
                m.push("big", Value::Map(map_of(big)));
            }
            for it in map_of(tail).0 {
                if let leafseal::tree::Item::Entry(k, _) = &it
                    && m.get(k).is_some()
                {
                    continue;
                }
                m.0.push(it);
            }
            Document::single(m)
        })
}

fn selector() -> impl Strategy<Value = (Option<Selector>, bool)> {
    (
        prop_oneof![
            Just(None),
            Just(Some(Selector::UnencryptedSuffix("_unencrypted".to_owned()))),
            Just(Some(Selector::EncryptedRegex(
                leafseal::goregex::GoRegex::new("^pass").expect("regex")
            ))),
            Just(Some(Selector::UnencryptedRegex(
                leafseal::goregex::GoRegex::new("^pass").expect("regex")
            ))),
            Just(Some(Selector::EncryptedSuffix("_unencrypted".to_owned()))),
        ],
        any::<bool>(),
    )
}

#[test]
fn generated_json_documents_stream_to_the_bytes_of_the_tree_path() {
    let k = keys();
    let ctx = KeyContext::with_vars(k.vars.clone());
    let mut runner = TestRunner::new(Config {
        cases: 192,
        ..Config::default()
    });
    let streamed = std::cell::Cell::new(0usize);
    let from_file = std::cell::Cell::new(0usize);
    let total = std::cell::Cell::new(0usize);
    let strategy = (
        document(),
        selector(),
        1usize..400,
        prop_oneof![Just(None), Just(Some(2i64)), Just(Some(0i64))],
        prop_oneof![Just(None), Just(Some(4i64))],
    );
    runner
        .run(
            &strategy,
            |(doc, (sel, mac_only), part, indent, enc_indent)| {
                let plan = SealPlan {
                    groups: vec![vec![Arc::clone(&k.key)]],
                    selector: sel,
                    mac_only_encrypted: mac_only,
                    ..SealPlan::default()
                };
                let (enc, meta) = ops::seal_new(doc, &plan, &ctx, Format::Json).expect("encrypt");
                let json = Format::Json.store();
                let bytes = json
                    .emit(&enc, Some(&meta), &EmitOptions { indent: enc_indent })
                    .expect("emit");
                let emit = EmitOptions { indent };
                let loaded = json.load(&bytes).expect("reload");
                let opened = ops::open_for_reading(loaded, &ctx, &OpenOptions::default())
                    .expect("tree path");
                let want = json.emit(&opened.doc, None, &emit).expect("emit");
                let mut vars = k.vars.clone();
                vars.insert(stream::PART_ENV.to_owned(), part.to_string());
                let sctx = KeyContext::with_vars(vars);
                total.set(total.get() + 1);
                match stream::decrypt_json(&bytes, &sctx, &OpenOptions::default(), &emit, &|_| {
                    false
                })
                .expect("streaming path")
                {
                    stream::Outcome::Done(s) => {
                        streamed.set(streamed.get() + 1);
                        prop_assert!(
                            *s.out == *want,
                            "streamed:\n{}\ntree:\n{}\nencrypted:\n{}",
                            String::from_utf8_lossy(&s.out),
                            String::from_utf8_lossy(&want),
                            String::from_utf8_lossy(&bytes)
                        );
                        prop_assert_eq!(s.warnings, opened.warnings);
                    }
                    stream::Outcome::Declined(_) => {}
                }
                // The file path (planned while decrypted, the big member cut by jumping
                // when it is last): the tree path's output too, or declined.
                let mut f = tempfile::tempfile().expect("file");
                std::io::Write::write_all(&mut f, &bytes).expect("write");
                match stream::decrypt_json_file(&f, &sctx, &OpenOptions::default(), &emit, &|_| {
                    false
                })
                .expect("streaming path, from a file")
                {
                    stream::Outcome::Done(s) => {
                        from_file.set(from_file.get() + 1);
                        prop_assert!(*s.out == *want, "from a file");
                    }
                    stream::Outcome::Declined(_) => {}
                }
                Ok(())
            },
        )
        .expect("streaming equals the tree path");
    assert!(
        from_file.get() * 10 >= total.get() * 8,
        "only {} of {} generated documents were streamed from a file",
        from_file.get(),
        total.get()
    );
    assert!(
        streamed.get() * 10 >= total.get() * 8,
        "only {} of {} generated documents were streamed",
        streamed.get(),
        total.get()
    );
}
