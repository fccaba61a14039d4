//! The streaming decrypt of large block-YAML files (`leafseal::stream`) against the tree
//! path it replaces: byte-identical output on every YAML fixture and on generated
//! documents (many small parts forced with `LEAFSEAL_STREAM_PART`), and no plaintext on
//! stdout when a value anywhere in a large file was tampered with.

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
use leafseal::tree::Comment;
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

/// Decrypts `path` through both paths (several part sizes for the streaming one) and
/// checks that exit code, stdout and stderr are the same. Returns whether the file was
/// streamed.
fn same_both_ways(env: &Env, path: &str) -> bool {
    let tree = env.run_with("never", None, &["decrypt", path]);
    // A named file is read in blocks (tiny ones here: lines cut at every boundary).
    for (part, block) in [
        (1, Some(1)),
        (64, Some(7)),
        (4096, Some(64)),
        (1 << 20, None),
    ] {
        let s = env.run_blocks("always", Some(part), block, &["decrypt", path]);
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
    // Every part read as a tree (no direct path), and the direct path where it can.
    for direct in ["never", "auto"] {
        for part in [1, 4096] {
            let s = env.run_direct(direct, Some(part), &["decrypt", path]);
            assert_eq!(s.status.code(), tree.status.code(), "{path} ({direct})");
            assert!(s.stdout == tree.stdout, "{path} ({direct}, part {part})");
            assert_eq!(s.stderr, tree.stderr, "{path} ({direct}, part {part})");
        }
    }
    env.run_with("require", Some(64), &["decrypt", path])
        .status
        .success()
}

#[test]
fn every_yaml_fixture_decrypts_the_same_streamed_and_as_a_tree() {
    let gpg = GpgHome::new();
    let env = Env::new(Some(&gpg));
    let mut files = Vec::new();
    yaml_files(&fixtures(), &mut files);
    if let Some(shared) = shared_interop() {
        yaml_files(&shared, &mut files);
    }
    let mut streamed = 0;
    let mut encrypted = 0;
    for f in &files {
        let text = std::fs::read(f).expect("read");
        let path = f.display().to_string();
        if text.windows(14).any(|w| w == b"ENC[AES256_GCM") {
            encrypted += 1;
            streamed += usize::from(same_both_ways(&env, &path));
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
                streamed += usize::from(same_both_ways(&env, &p));
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

/// A block-YAML document of about 0.4 MB (1.3 MB once encrypted), with comments, lists at
/// their key's indentation, suffix-selected clear values, and values of every type.
fn large_yaml() -> String {
    let mut s = String::from("# large document\nversion: 3\nservices:\n");
    for i in 0..SERVICES {
        s.push_str(&format!(
            "    svc-{i:05}:\n        # owner of service {i}\n        name: service {i}\n        replicas: {}\n        cpu: {}.5\n        enabled: {}\n        note_unencrypted: plain {i}\n        ports:\n            - {}\n            - {}\n        empty: \"\"\n        nothing: null\n",
            i % 7,
            i % 5,
            i % 2 == 0,
            8000 + i,
            9000 + i
        ));
    }
    s.push_str("list:\n    - a\n    - b\ntrailer: end\n");
    s
}

#[test]
fn a_large_file_streams_byte_identically_and_fails_closed_anywhere() {
    let env = Env::new(None);
    let plain = large_yaml();
    let path = env.write("big.yaml", plain.as_bytes());
    let enc = ok(&env.run_with("never", None, &["encrypt", "--age", AGE_RECIPIENT, &path]));
    assert!(enc.len() > stream::AUTO_MIN, "streamed by default");
    let enc = String::from_utf8(enc).expect("utf8");
    let encp = env.write("enc.yaml", enc.as_bytes());
    let streamed = ok(&env.run_with("require", None, &["decrypt", &encp]));
    assert!(streamed == plain.as_bytes(), "round trip");
    // The default (auto) path, small parts, and the tree path agree.
    let tree = ok(&env.run_with("never", None, &["decrypt", &encp]));
    assert!(streamed == tree);
    let small = ok(&env.run_with("require", Some(4096), &["decrypt", &encp]));
    assert!(small == tree);
    // Read in blocks of every size from a few bytes (a line cut at each boundary) up.
    for block in [3, 100, 4096, 65536] {
        let b = ok(&env.run_blocks("require", Some(8192), Some(block), &["decrypt", &encp]));
        assert!(b == tree, "block {block}");
    }
    // Standard input is streamed from memory, to the same bytes.
    let stdin = env.run_stdin(
        "require",
        &[
            "decrypt",
            "--input-type",
            "yaml",
            "--output-type",
            "yaml",
            "-",
        ],
        enc.as_bytes(),
    );
    assert!(ok(&stdin) == tree, "standard input");
    let mut no_stream_vars = env.vars.clone();
    no_stream_vars.remove("LEAFSEAL_STREAM");
    let auto = run_in(&no_stream_vars, env.work.path(), &["decrypt", &encp]);
    assert!(ok(&auto) == tree);

    // A tampered value at the start, in the middle and at the end: exit 25 and nothing
    // on stdout, whether streamed or not.
    for (key, from) in [
        ("version:", 0.0),
        ("replicas:", 0.5),
        ("trailer:", 0.0),
        ("cpu:", 0.95),
    ] {
        let bad = env.write("bad.yaml", tamper(&enc, key, from).as_bytes());
        for mode in ["require", "never"] {
            let out = env.run_with(mode, None, &["decrypt", &bad]);
            assert_eq!(out.status.code(), Some(25), "{key} at {from} ({mode})");
            assert!(out.stdout.is_empty(), "{key} at {from} ({mode}): no output");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("could not be decrypted"), "{err}");
            assert!(
                !err.contains("service "),
                "no plaintext in the error: {err}"
            );
        }
    }

    // A whole entry removed: the MAC no longer matches (51), streamed or not.
    let cut_at = enc.find("    svc-00750:").expect("entry");
    let cut_end = enc.find("    svc-00751:").expect("next entry");
    let mut removed = enc.clone();
    removed.replace_range(cut_at..cut_end, "");
    let bad = env.write("removed.yaml", removed.as_bytes());
    for mode in ["require", "never"] {
        let out = env.run_with(mode, None, &["decrypt", &bad]);
        assert_eq!(out.status.code(), Some(51), "removed entry ({mode})");
        assert!(out.stdout.is_empty());
    }

    // A key with a null value added: only the integrity record sees it (53).
    let mut added = enc.clone();
    added.insert_str(cut_at, "    svc-extra: null\n");
    let bad = env.write("added.yaml", added.as_bytes());
    for mode in ["require", "never"] {
        let out = env.run_with(mode, None, &["decrypt", &bad]);
        assert_eq!(out.status.code(), Some(53), "added null entry ({mode})");
        assert!(out.stdout.is_empty());
    }

    // A duplicated key goes to the tree path, which reports it (streamed: declined).
    let dup_at = enc.find("trailer:").expect("trailer");
    let mut dup = enc.clone();
    dup.insert_str(dup_at, "version: 4\n");
    let bad = env.write("dup.yaml", dup.as_bytes());
    let tree = env.run_with("never", None, &["decrypt", &bad]);
    let auto = env.run_with("always", None, &["decrypt", &bad]);
    assert_ne!(tree.status.code(), Some(0));
    assert_eq!(auto.status.code(), tree.status.code());
    assert!(auto.stdout.is_empty());
    assert_eq!(
        env.run_with("require", None, &["decrypt", &bad])
            .status
            .code(),
        Some(1)
    );

    // git conflict markers (a merge without the driver): the file read in blocks is
    // declined, and the tree path names the conflict (exit 2), as without streaming.
    let mut conflict = enc.clone();
    conflict.insert_str(cut_at, "<<<<<<< HEAD\n=======\n>>>>>>> other\n");
    let bad = env.write("conflict.yaml", conflict.as_bytes());
    let tree = env.run_with("never", None, &["decrypt", &bad]);
    assert_eq!(tree.status.code(), Some(2));
    for block in [None, Some(5)] {
        let s = env.run_blocks("always", None, block, &["decrypt", &bad]);
        assert_eq!(s.status.code(), tree.status.code());
        assert!(s.stdout.is_empty());
        assert_eq!(s.stderr, tree.stderr);
    }

    // decrypt -i: streamed, and the tampered file stays as it was.
    let bad = env.write("bad-i.yaml", tamper(&enc, "replicas:", 0.5).as_bytes());
    let before = std::fs::read(&bad).expect("read");
    assert_eq!(
        env.run_with("require", None, &["decrypt", "-i", &bad])
            .status
            .code(),
        Some(25)
    );
    assert_eq!(std::fs::read(&bad).expect("read"), before);
    let good = env.write("good-i.yaml", enc.as_bytes());
    ok(&env.run_with("require", None, &["decrypt", "-i", &good]));
    assert!(std::fs::read(&good).expect("read") == plain.as_bytes());
}

// ---------------------------------------------------------------------------------
// Property test through the library: generated documents, every selector kind
// ---------------------------------------------------------------------------------

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 _.,:#'\"/@-]{0,24}",
        "[a-z]{1,8}\n[a-z ]{0,8}\n?",
        "\\PC{0,12}",
        Just("true".to_owned()),
        Just("0755".to_owned()),
        Just("- item".to_owned()),
        Just("".to_owned()),
        Just("~".to_owned()),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z][a-z0-9_]{0,10}",
        1 => "[a-z]{1,6}_unencrypted",
        1 => "pass[a-z]{0,4}",
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        text().prop_map(Value::str),
        any::<i64>().prop_map(Value::Int),
        (-1.0e9f64..1.0e9)
            .prop_filter("fraction", |f| f.fract() != 0.0)
            .prop_map(Value::Float),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ]
}

fn map_of(entries: Vec<(String, Value, bool)>, comments: bool) -> Map {
    let mut m = Map::new();
    let mut seen = std::collections::HashSet::new();
    for (i, (k, v, c)) in entries.into_iter().enumerate() {
        if k == "sops" || !seen.insert(k.clone()) {
            continue;
        }
        if comments && c && i > 0 {
            m.push_comment(Comment::line(format!(" about {k}")));
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
            prop::collection::vec((key(), inner, any::<bool>()), 0..4)
                .prop_map(|e| Value::Map(map_of(e, true))),
        ]
    })
}

/// A document with a few root entries and one larger map (which the planner cuts into
/// parts of its own).
fn document() -> impl Strategy<Value = Document> {
    (
        prop::collection::vec((key(), nested(), any::<bool>()), 1..5),
        prop::collection::vec((key(), nested(), any::<bool>()), 0..40),
        prop::collection::vec((key(), nested(), any::<bool>()), 0..3),
    )
        .prop_map(|(head, big, tail)| {
            let mut m = map_of(head, true);
            if !big.is_empty() && m.get("big").is_none() {
                m.push("big", Value::Map(map_of(big, true)));
            }
            for it in map_of(tail, true).0 {
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
fn generated_documents_stream_to_the_bytes_of_the_tree_path() {
    let k = keys();
    let ctx = KeyContext::with_vars(k.vars.clone());
    let mut runner = TestRunner::new(Config {
        cases: 192,
        ..Config::default()
    });
    let streamed = std::cell::Cell::new(0usize);
    let total = std::cell::Cell::new(0usize);
    let strategy = (
        document(),
        selector(),
        1usize..400,
        prop_oneof![Just(None), Just(Some(2i64))],
        1usize..300,
    );
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("doc.yaml");
    runner
        .run(&strategy, |(doc, (sel, mac_only), part, indent, block)| {
            let plan = SealPlan {
                groups: vec![vec![Arc::clone(&k.key)]],
                selector: sel,
                mac_only_encrypted: mac_only,
                ..SealPlan::default()
            };
            let (enc, meta) = ops::seal_new(doc, &plan, &ctx, Format::Yaml).expect("encrypt");
            let yaml = Format::Yaml.store();
            let bytes = yaml
                .emit(&enc, Some(&meta), &EmitOptions::default())
                .expect("emit");
            let emit = EmitOptions { indent };
            let loaded = yaml.load(&bytes).expect("reload");
            let opened =
                ops::open_for_reading(loaded, &ctx, &OpenOptions::default()).expect("tree path");
            let want = yaml.emit(&opened.doc, None, &emit).expect("emit");
            let mut vars = k.vars.clone();
            vars.insert(stream::PART_ENV.to_owned(), part.to_string());
            vars.insert(stream::BLOCK_ENV.to_owned(), block.to_string());
            let sctx = KeyContext::with_vars(vars);
            total.set(total.get() + 1);
            // Every part read as a tree, and every part read directly (or the whole file
            // handed to the tree path): the same bytes.
            for direct in ["never", "require"] {
                let mut dvars = sctx.vars().clone();
                dvars.insert(stream::DIRECT_ENV.to_owned(), direct.to_owned());
                let dctx = KeyContext::with_vars(dvars);
                let d =
                    stream::decrypt_yaml(&bytes, &dctx, &OpenOptions::default(), &emit, &|_| false)
                        .expect("streaming path");
                if let stream::Outcome::Done(d) = d {
                    prop_assert!(*d.out == *want, "LEAFSEAL_STREAM_DIRECT={}", direct);
                    prop_assert_eq!(&d.warnings, &opened.warnings);
                }
            }
            // The same document read from a file in blocks of `block` bytes: the same
            // decision and the same bytes as from memory.
            std::fs::write(&file, &*bytes).expect("write");
            let f = std::fs::File::open(&file).expect("open");
            let from_file =
                stream::decrypt_yaml_file(&f, &sctx, &OpenOptions::default(), &emit, &|_| false)
                    .expect("streaming path (file)");
            match stream::decrypt_yaml(&bytes, &sctx, &OpenOptions::default(), &emit, &|_| false)
                .expect("streaming path")
            {
                stream::Outcome::Done(s) => {
                    let stream::Outcome::Done(fs) = from_file else {
                        return Err(TestCaseError::fail("declined from a file, not from memory"));
                    };
                    prop_assert!(*fs.out == *want, "from a file in blocks of {}", block);
                    prop_assert_eq!(&fs.warnings, &opened.warnings);
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
                stream::Outcome::Declined(_) => {
                    prop_assert!(
                        matches!(from_file, stream::Outcome::Declined(_)),
                        "streamed from a file, declined from memory"
                    );
                }
            }
            Ok(())
        })
        .expect("streaming equals the tree path");
    assert!(
        streamed.get() * 2 >= total.get(),
        "only {} of {} generated documents were streamed",
        streamed.get(),
        total.get()
    );
}
