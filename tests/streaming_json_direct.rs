//! The direct part path of the JSON streaming decrypt (`LEAFSEAL_STREAM_DIRECT`) and the
//! block reading of JSON files (`LEAFSEAL_STREAM_BLOCK`): the output of the direct path,
//! of the per-part tree path and of the whole tree path are the same bytes on every JSON
//! fixture, on a large file with every edge the writer has (escapes after decryption,
//! `<>&`, U+2028, unicode, long values, numbers such as 1e21, -0 and 1.0, nested and
//! empty containers), and on generated documents; a tampered file (a byte flipped
//! anywhere, two values swapped, a member moved) gives the tree path's exit code and
//! message with nothing on stdout.

mod support;

#[path = "support/stream_env.rs"]
mod stream_env;

use std::path::Path;
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

/// The streaming settings compared with the tree path: direct or per-part tree, parts
/// and blocks of several sizes.
const SETTINGS: [[(&str, Option<&str>); 4]; 5] = [
    [
        ("LEAFSEAL_STREAM", Some("always")),
        ("LEAFSEAL_STREAM_DIRECT", Some("never")),
        ("LEAFSEAL_STREAM_PART", Some("64")),
        ("LEAFSEAL_STREAM_BLOCK", Some("7")),
    ],
    [
        ("LEAFSEAL_STREAM", Some("always")),
        ("LEAFSEAL_STREAM_DIRECT", None),
        ("LEAFSEAL_STREAM_PART", Some("64")),
        ("LEAFSEAL_STREAM_BLOCK", Some("7")),
    ],
    [
        ("LEAFSEAL_STREAM", Some("always")),
        ("LEAFSEAL_STREAM_DIRECT", Some("always")),
        ("LEAFSEAL_STREAM_PART", Some("1")),
        ("LEAFSEAL_STREAM_BLOCK", Some("1")),
    ],
    [
        ("LEAFSEAL_STREAM", Some("always")),
        ("LEAFSEAL_STREAM_DIRECT", None),
        ("LEAFSEAL_STREAM_PART", Some("4096")),
        ("LEAFSEAL_STREAM_BLOCK", None),
    ],
    [
        ("LEAFSEAL_STREAM", None),
        ("LEAFSEAL_STREAM_DIRECT", None),
        ("LEAFSEAL_STREAM_PART", None),
        ("LEAFSEAL_STREAM_BLOCK", None),
    ],
];

/// Decrypts with `args` under every setting and checks exit code, stdout and stderr
/// against the tree path. Returns whether every part took the direct path.
fn same_every_way(env: &Env, args: &[&str], what: &str) -> bool {
    let tree = env.tree(args);
    for set in &SETTINGS {
        let s = env.run_set(set, args);
        assert_eq!(s.status.code(), tree.status.code(), "{what} {set:?}");
        assert!(
            s.stdout == tree.stdout,
            "{what} {set:?}: output differs:\n--- tree\n{}\n--- streamed\n{}",
            String::from_utf8_lossy(&tree.stdout),
            String::from_utf8_lossy(&s.stdout)
        );
        assert_eq!(
            String::from_utf8_lossy(&s.stderr),
            String::from_utf8_lossy(&tree.stderr),
            "{what} {set:?}"
        );
    }
    let req = env.run_set(
        &[
            ("LEAFSEAL_STREAM", Some("require")),
            ("LEAFSEAL_STREAM_DIRECT", Some("require")),
            ("LEAFSEAL_STREAM_PART", Some("64")),
        ],
        args,
    );
    if req.status.success() {
        assert!(req.stdout == tree.stdout, "{what}: direct only");
    }
    req.status.success()
}

#[test]
fn every_json_fixture_decrypts_the_same_direct_per_part_and_whole() {
    let gpg = GpgHome::new();
    let env = Env::new(Some(&gpg));
    let mut files = Vec::new();
    json_files(&fixtures(), &mut files);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if let Some(shared) = [
        root.join("../shared/interop"),
        root.join("../../shared/interop"),
    ]
    .into_iter()
    .find(|p| p.is_dir())
    {
        json_files(&shared, &mut files);
    }
    let (mut encrypted, mut direct) = (0, 0);
    for f in &files {
        let text = std::fs::read(f).expect("read");
        let mut path = f.display().to_string();
        if !text.windows(14).any(|w| w == b"ENC[AES256_GCM") {
            let out = env.tree(&["encrypt", "--age", AGE_RECIPIENT, &path]);
            if !out.status.success() || text.is_empty() {
                continue;
            }
            let name = format!("enc-{encrypted}.json");
            path = env.write(&name, &out.stdout);
        }
        encrypted += 1;
        direct += usize::from(same_every_way(&env, &["decrypt", &path], &path));
        same_every_way(&env, &["decrypt", "--indent", "2", &path], &path);
    }
    assert!(encrypted >= 10, "fixtures found: {encrypted}");
    assert!(direct >= 5, "only {direct} of {encrypted} went all direct");
}

/// A document with every edge of the writer, about 0.6 MB plain.
fn edgy_json() -> String {
    let mut s = String::from("{\n  \"first\": [[], {}, [1, [2, {\"a\": null}]], \"x\"],\n");
    s.push_str("  \"numbers\": [1e21, -0, 1.0, 1.5e-7, -12, 9007199254740993, 0.1, 100e-2],\n");
    s.push_str("  \"items\": {\n");
    let long = "\\u00e9\\\"<>&\\\\".repeat(3000);
    for i in 0..800 {
        if i > 0 {
            s.push_str(",\n");
        }
        s.push_str(&format!(
            "    \"it-{i:04}\": {{\n      \"q\": \"say \\\"hi\\\" \\\\ back\\\\slash {i}\",\n      \"ctl\": \"\\u0000\\u0001\\b\\f\\n\\r\\t\\u001f end\",\n      \"html\": \"<a href='x'>&amp;</a>\",\n      \"uni\": \"é ü 漢字 🙂 \\u2028 \\u2029 €\",\n      \"n\": {},\n      \"f\": {}.25,\n      \"b\": {},\n      \"z\": null,\n      \"e\": \"\",\n      \"deep\": {{\"l\": [[\"a\", {{\"b\": [true, false, null, 0]}}], []], \"o\": {{}}}},\n      \"plain_unencrypted\": \"clear {i}\",\n      \"num_unencrypted\": {}\n    }}",
            i * 37 - 400,
            i,
            i % 2 == 0,
            i * 3
        ));
        if i % 200 == 7 {
            s.push_str(&format!(",\n    \"long-{i}\": \"{long}\""));
        }
    }
    s.push_str("\n  },\n  \"last\": {\"k\": \"v\"}\n}\n");
    s
}

/// Checks that a damaged file fails the tree path's way on every path, with nothing on
/// stdout (or, when the tree path takes it, gives its output).
fn alike(env: &Env, text: &[u8], what: &str) -> Option<i32> {
    let p = env.write("damaged.json", text);
    let tree = env.tree(&["decrypt", &p]);
    for set in [&SETTINGS[1], &SETTINGS[3], &SETTINGS[4]] {
        let s = env.run_set(set, &["decrypt", &p]);
        assert_eq!(s.status.code(), tree.status.code(), "{what} {set:?}");
        assert!(s.stdout == tree.stdout, "{what} {set:?}: stdout");
        if !tree.status.success() {
            assert!(s.stdout.is_empty(), "{what}: nothing on stdout");
        }
        assert_eq!(
            String::from_utf8_lossy(&s.stderr),
            String::from_utf8_lossy(&tree.stderr),
            "{what} {set:?}"
        );
    }
    tree.status.code()
}

#[test]
fn a_large_edgy_json_file_goes_direct_and_fails_closed_anywhere() {
    let env = Env::new(None);
    let plain = edgy_json();
    let path = env.write("edgy.json", plain.as_bytes());
    let enc = env.tree(&["encrypt", "--age", AGE_RECIPIENT, &path]);
    assert!(
        enc.status.success(),
        "{}",
        String::from_utf8_lossy(&enc.stderr)
    );
    let enc = enc.stdout;
    assert!(enc.len() > stream::AUTO_MIN, "streamed by default");
    let encp = env.write("edgy.enc.json", &enc);
    assert!(
        same_every_way(&env, &["decrypt", &encp], "edgy"),
        "every part of the edgy file goes direct"
    );
    let tree = env.tree(&["decrypt", &encp]);
    let reparsed: serde_json::Value = serde_json::from_slice(&tree.stdout).expect("json");
    let original: serde_json::Value = serde_json::from_str(&plain).expect("json");
    assert_eq!(reparsed["items"]["it-0005"], original["items"]["it-0005"]);
    // Another indentation: the per-part tree path (the file's layout is not the output's).
    same_every_way(
        &env,
        &["decrypt", "--indent", "4", &encp],
        "edgy --indent 4",
    );

    let text = String::from_utf8(enc.clone()).expect("utf8");
    // A byte flipped anywhere (spread over the whole file, metadata included).
    let n = 24;
    for i in 0..n {
        let at = (enc.len() - 1) * i / (n - 1);
        let mut bad = enc.clone();
        bad[at] = if bad[at] == b'A' { b'B' } else { b'A' };
        alike(&env, &bad, &format!("byte {at} flipped"));
    }
    // Two encrypted values swapped (each authenticates its own path): 25.
    let a = text.find("\"it-0400\": {\n\t\t\t\"q\": ").expect("a") + 20;
    let b = text.find("\"it-0401\": {\n\t\t\t\"q\": ").expect("b") + 20;
    let end = |at: usize| at + text[at..].find('\n').expect("eol");
    let (va, vb) = (&text[a..end(a)], &text[b..end(b)]);
    let swapped = format!(
        "{}{}{}{}{}",
        &text[..a],
        vb,
        &text[end(a)..b],
        va,
        &text[end(b)..]
    );
    assert_eq!(alike(&env, swapped.as_bytes(), "swapped values"), Some(25));
    // A member moved to another place in its object: the MAC sees the order (51).
    let m0 = text.find(",\n\t\t\"it-0300\":").expect("m");
    let m1 = text.find(",\n\t\t\"it-0301\":").expect("m1");
    let member = &text[m0..m1];
    let mut moved = text.clone();
    moved.replace_range(m0..m1, "");
    let to = moved.find(",\n\t\t\"it-0600\":").expect("to");
    moved.insert_str(to, member);
    let code = alike(&env, moved.as_bytes(), "moved member");
    assert!(matches!(code, Some(51 | 53)), "moved member: {code:?}");
    // A member moved into another object keeps its order but not its paths (25).
    let mut elsewhere = text.clone();
    elsewhere.replace_range(m0..m1, "");
    let at = elsewhere.find("\"last\": {").expect("last") + "\"last\": {".len();
    elsewhere.insert_str(at, &format!("{},", &member[1..]));
    assert_ne!(
        alike(&env, elsewhere.as_bytes(), "member in another object"),
        Some(0)
    );
    // `\/` for a `/` in an `ENC[…]` text (data, IV or tag): JSON reads the same value,
    // so the file decrypts as before (the direct path must not take the text as it is).
    let enc_at = text.find("\"it-0200\": {").expect("it-0200");
    let slash = enc_at + text[enc_at..].find('/').expect("a slash in some base64");
    let mut escaped = text.clone();
    escaped.replace_range(slash..=slash, "\\/");
    assert_eq!(alike(&env, escaped.as_bytes(), "escaped slash"), Some(0));
    // The same after the closing `]` (text sops ignores), and `\u003c` there.
    let close = enc_at + text[enc_at..].find("]\"").expect("an ENC text");
    let mut after = text.clone();
    after.insert_str(close + 1, "\\u003c");
    alike(&env, after.as_bytes(), "escape after the closing bracket");
    // A key renamed: its values no longer decrypt (25).
    let renamed = text.replacen("\"it-0100\":", "\"it-x100\":", 1);
    assert_eq!(alike(&env, renamed.as_bytes(), "renamed key"), Some(25));
}

// ---------------------------------------------------------------------------------
// Generated documents through the library: memory and file, direct and per-part tree
// ---------------------------------------------------------------------------------

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 _.,:#'\"/@<>&\\\\-]{0,24}",
        "[a-z]{1,8}\n[a-z\t ]{0,8}\r?\n?",
        "\\PC{0,12}",
        "[\\x00-\\x1f\\x7f\\u{2028}\\u{2029}\\u{fffd}€]{0,4}",
        "[a-z\"\\\\<]{2000,3000}",
        Just("ENC[AES256_GCM,not really]".to_owned()),
        Just("".to_owned()),
    ]
}

fn key(simple: bool) -> BoxedStrategy<String> {
    if simple {
        return "[a-z][a-z0-9]{0,10}".boxed();
    }
    prop_oneof![
        4 => "[a-z][a-z0-9_]{0,10}",
        1 => "[a-z]{1,6}_unencrypted",
        1 => "pass[a-z]{0,4}",
        1 => "[a-z\"\\\\ é<{},:\n]{1,6}",
    ]
    .boxed()
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => text().prop_map(Value::str),
        1 => any::<i64>().prop_map(Value::Int),
        1 => (-1.0e9f64..1.0e9).prop_map(Value::Float),
        // (Not -0.0: a clear -0.0 is written `-0` and read back as the integer 0, which
        // the tree path's MAC check refuses too.)
        1 => prop_oneof![
            Just(1.0e21f64),
            Just(1.5e-7),
            Just(1.0),
            Just(123_456_789.0),
            Just(f64::MAX)
        ]
        .prop_map(Value::Float),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => Just(Value::Null),
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

fn nested(simple: bool) -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 32, 4, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4)
                .prop_map(|v| Value::Seq(v.into_iter().map(SeqItem::Value).collect())),
            prop::collection::vec((key(simple), inner), 0..4).prop_map(|e| Value::Map(map_of(e))),
        ]
    })
}

/// A document; `simple`: keys without anything the writer escapes or the default
/// selector matches (so that, with that selector, every part goes direct).
fn document(simple: bool) -> impl Strategy<Value = Document> {
    (
        prop::collection::vec((key(simple), nested(simple)), 1..5),
        prop::collection::vec((key(simple), nested(simple)), 0..40),
        prop::collection::vec((key(simple), nested(simple)), 0..3),
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
fn generated_documents_give_the_same_bytes_direct_per_part_and_whole() {
    let k = keys();
    let ctx = KeyContext::with_vars(k.vars.clone());
    let dir = tempfile::tempdir().expect("dir");
    let mut runner = TestRunner::new(Config {
        cases: 128,
        ..Config::default()
    });
    let (direct, streamed, total) = (
        std::cell::Cell::new(0usize),
        std::cell::Cell::new(0usize),
        std::cell::Cell::new(0usize),
    );
    let strategy = (
        any::<bool>().prop_flat_map(|simple| (document(simple), Just(simple))),
        selector(),
        1usize..400,
        1usize..300,
        prop_oneof![Just(None), Just(Some(2i64))],
    );
    runner
        .run(
            &strategy,
            |((doc, simple), (sel, mac_only), part, block, indent)| {
                let all_direct = simple && sel.is_none();
                let plan = SealPlan {
                    groups: vec![vec![Arc::clone(&k.key)]],
                    selector: sel,
                    mac_only_encrypted: mac_only,
                    ..SealPlan::default()
                };
                let (enc, meta) = ops::seal_new(doc, &plan, &ctx, Format::Json).expect("encrypt");
                let json = Format::Json.store();
                // Written with the output's indentation, so that the direct path applies.
                let bytes = json
                    .emit(&enc, Some(&meta), &EmitOptions { indent })
                    .expect("emit");
                let emit = EmitOptions { indent };
                let loaded = json.load(&bytes).expect("reload");
                let opened = ops::open_for_reading(loaded, &ctx, &OpenOptions::default())
                    .expect("tree path");
                let want = json.emit(&opened.doc, None, &emit).expect("emit");
                let path = dir.path().join("doc.json");
                std::fs::write(&path, &bytes).expect("write");
                let file = std::fs::File::open(&path).expect("open");
                total.set(total.get() + 1);
                for mode in ["never", "always", "require"] {
                    let mut vars = k.vars.clone();
                    vars.insert(stream::PART_ENV.to_owned(), part.to_string());
                    vars.insert(stream::BLOCK_ENV.to_owned(), block.to_string());
                    vars.insert(stream::DIRECT_ENV.to_owned(), mode.to_owned());
                    let sctx = KeyContext::with_vars(vars);
                    let none = |_: &leafseal::metadata::Metadata| false;
                    let opts = OpenOptions::default();
                    let mem = stream::decrypt_json(&bytes, &sctx, &opts, &emit, &none)
                        .expect("streaming path");
                    let from_file = stream::decrypt_json_file(&file, &sctx, &opts, &emit, &none)
                        .expect("streaming path (file)");
                    for got in [mem, from_file] {
                        match got {
                            stream::Outcome::Done(s) => {
                                let n = if mode == "require" {
                                    &direct
                                } else {
                                    &streamed
                                };
                                n.set(n.get() + 1);
                                prop_assert!(
                                    *s.out == *want,
                                    "{mode}: streamed:\n{}\ntree:\n{}\nencrypted:\n{}",
                                    String::from_utf8_lossy(&s.out),
                                    String::from_utf8_lossy(&want),
                                    String::from_utf8_lossy(&bytes)
                                );
                                prop_assert_eq!(&s.warnings, &opened.warnings);
                            }
                            stream::Outcome::Declined(_) => {
                                prop_assert!(!all_direct, "{mode}: declined");
                            }
                        }
                    }
                }
                Ok(())
            },
        )
        .expect("every path gives the tree path's bytes");
    // Two readings (memory, file) of each document per mode.
    let (d, s, t) = (direct.get(), streamed.get(), total.get());
    assert!(
        s * 10 >= 2 * 2 * t * 8,
        "only {s} of {} readings streamed",
        4 * t
    );
    assert!(
        d * 10 >= 2 * t,
        "only {d} of {} readings went all direct",
        2 * t
    );
}
