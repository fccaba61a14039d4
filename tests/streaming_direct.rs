//! The direct part path of the streaming YAML decrypt (`LEAFSEAL_STREAM_DIRECT`): values
//! decrypted in their lines, without a tree per part. It must give the bytes, warnings
//! and errors of the tree per part and of the whole tree on every input: generated
//! documents aimed at its edges (indentation depths, lists of maps, empty collections,
//! every scalar type, strings that need quotes once decrypted, multi-line and long
//! values, comments), and tampered files (a flipped byte, swapped values, moved keys).

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
use leafseal::tree::Item;
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
// Generated documents, through the library
// ---------------------------------------------------------------------------------

/// Strings the emitter writes plain, quoted, double-quoted or as a literal block.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9_./-]{1,16}",
        1 => Just("yes".to_owned()),
        1 => Just("123".to_owned()),
        1 => Just("0x1F".to_owned()),
        1 => Just("1.5e3".to_owned()),
        1 => Just(": x".to_owned()),
        1 => Just("#".to_owned()),
        1 => Just("a #b".to_owned()),
        1 => Just("  leading".to_owned()),
        1 => Just("trailing ".to_owned()),
        1 => Just("null".to_owned()),
        1 => Just("~".to_owned()),
        1 => Just("".to_owned()),
        1 => Just("- item".to_owned()),
        1 => Just("it's \"quoted\"".to_owned()),
        1 => Just("ünïcödé ✓ 😀".to_owned()),
        1 => Just("tab\there".to_owned()),
        1 => Just("\u{85}odd".to_owned()),
        1 => "[a-z]{1,8}\n[a-z ]{0,8}\n{0,2}",
        1 => " [a-z]{1,4}\n[a-z]{1,4}",
        1 => "[a-z0-9]{2000,4000}",
        2 => "\\PC{0,10}",
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[a-z][a-zA-Z0-9_.-]{0,10}",
        1 => "[a-z]{1,6}_unencrypted",
        1 => "pass[a-z]{0,4}",
        1 => Just("yes".to_owned()),
        1 => Just("1".to_owned()),
        1 => Just("a b".to_owned()),
        1 => Just("ключ".to_owned()),
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => text().prop_map(Value::str),
        2 => any::<i64>().prop_map(Value::Int),
        1 => (-1.0e12f64..1.0e12).prop_map(Value::Float),
        1 => prop_oneof![Just(f64::INFINITY), Just(1e21), Just(2.5e-7)]
            .prop_map(Value::Float),
        2 => any::<bool>().prop_map(Value::Bool),
        1 => Just(Value::Null),
        1 => Just(Value::Map(Map::new())),
        1 => Just(Value::Seq(Vec::new())),
    ]
}

fn map_of(entries: Vec<(String, Value, u8)>) -> Map {
    let mut m = Map::new();
    let mut seen = std::collections::HashSet::new();
    for (k, v, c) in entries {
        if k == "sops" || !seen.insert(k.clone()) {
            continue;
        }
        // Comments before some entries (one or two lines), rarely a multi-line one.
        match c % 8 {
            1 => m.push_comment(Comment::line(format!(" about {k}"))),
            2 => {
                m.push_comment(Comment::line(" first"));
                m.push_comment(Comment::line("second: # x"));
            }
            3 if c > 200 => m.push_comment(Comment::line(" two\n lines")),
            _ => {}
        }
        m.push(k, v);
    }
    if entries_end_comment(&m) {
        m.push_comment(Comment::line(" the end"));
    }
    m
}

/// A comment after the last entry (a foot comment) in about one map in sixteen.
fn entries_end_comment(m: &Map) -> bool {
    m.0.len() % 16 == 5
}

fn nested() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(5, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..5)
                .prop_map(|v| Value::Seq(v.into_iter().map(SeqItem::Value).collect())),
            // A list of maps (`- a: …` items).
            prop::collection::vec(
                prop::collection::vec((key(), inner.clone(), any::<u8>()), 1..4),
                1..4
            )
            .prop_map(|ms| Value::Seq(
                ms.into_iter()
                    .map(|e| SeqItem::Value(Value::Map(map_of(e))))
                    .collect()
            )),
            prop::collection::vec((key(), inner, any::<u8>()), 1..5)
                .prop_map(|e| Value::Map(map_of(e))),
        ]
    })
}

fn document() -> impl Strategy<Value = Document> {
    (
        prop::collection::vec((key(), nested(), any::<u8>()), 1..4),
        prop::collection::vec((key(), nested(), any::<u8>()), 0..30),
    )
        .prop_map(|(head, big)| {
            let mut m = map_of(head);
            if !big.is_empty() && m.get("big").is_none() {
                m.push("big", Value::Map(map_of(big)));
            }
            Document::single(m)
        })
}

/// `v` without what the direct path always hands to the tree path (null values, keys
/// the emitter quotes, values the default selector leaves clear), so that whole
/// documents are read directly.
fn clean(v: Value) -> Value {
    match v {
        Value::Null => Value::Int(7),
        Value::Str(s) if s.is_empty() => Value::str("x"),
        Value::Seq(items) => Value::Seq(
            items
                .into_iter()
                .map(|i| match i {
                    // A list in a list (`- - x`) goes to the tree path.
                    SeqItem::Value(Value::Seq(inner)) => {
                        let mut m = Map::new();
                        m.push("inner", clean(Value::Seq(inner)));
                        SeqItem::Value(Value::Map(m))
                    }
                    SeqItem::Value(v) => SeqItem::Value(clean(v)),
                    other => other,
                })
                .collect(),
        ),
        Value::Map(m) => {
            let mut out = Map::new();
            for (i, item) in m.0.into_iter().enumerate() {
                match item {
                    Item::Entry(k, v) => {
                        let plain = k.starts_with(|c: char| c.is_ascii_lowercase())
                            && k.chars()
                                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
                            && k != "yes"
                            && !k.ends_with("_unencrypted");
                        let k = if plain {
                            k.to_string()
                        } else {
                            format!("k{i}")
                        };
                        if out.get(&k).is_none() {
                            out.push(k, clean(v));
                        }
                    }
                    // Comments only between entries, on one line each (the tree path
                    // places the others).
                    Item::Comment(c) if out.0.is_empty() || c.text.contains('\n') => {}
                    Item::Comment(c) => out.push_comment(c),
                }
            }
            while matches!(out.0.last(), Some(Item::Comment(_))) {
                out.0.pop();
            }
            Value::Map(out)
        }
        other => other,
    }
}

fn selector() -> impl Strategy<Value = (Option<Selector>, bool)> {
    (
        prop_oneof![
            4 => Just(None),
            1 => Just(Some(Selector::EncryptedRegex(
                leafseal::goregex::GoRegex::new("^pass").expect("regex")
            ))),
            1 => Just(Some(Selector::UnencryptedRegex(
                leafseal::goregex::GoRegex::new("^pass").expect("regex")
            ))),
            1 => Just(Some(Selector::EncryptedSuffix("_unencrypted".to_owned()))),
        ],
        any::<bool>(),
    )
}

/// Decrypts `bytes` by streaming with the direct path set to `direct`.
fn streamed(
    bytes: &[u8],
    part: usize,
    direct: &str,
    emit: &EmitOptions,
) -> Option<stream::Streamed> {
    let mut vars = keys().vars.clone();
    vars.insert(stream::PART_ENV.to_owned(), part.to_string());
    vars.insert(stream::DIRECT_ENV.to_owned(), direct.to_owned());
    let ctx = KeyContext::with_vars(vars);
    match stream::decrypt_yaml(bytes, &ctx, &OpenOptions::default(), emit, &|_| false)
        .expect("streaming path")
    {
        stream::Outcome::Done(s) => Some(s),
        stream::Outcome::Declined(_) => None,
    }
}

#[test]
fn direct_parts_give_the_bytes_of_the_part_trees_and_of_the_whole_tree() {
    let k = keys();
    let ctx = KeyContext::with_vars(k.vars.clone());
    let mut runner = TestRunner::new(Config {
        cases: 160,
        ..Config::default()
    });
    let direct = std::cell::Cell::new(0usize);
    let total = std::cell::Cell::new(0usize);
    let strategy = (
        document(),
        selector(),
        prop_oneof![Just(1usize), 1usize..600, Just(1 << 20)],
        prop_oneof![4 => Just(None), 1 => Just(Some(2i64))],
        any::<bool>(),
    );
    runner
        .run(&strategy, |(doc, (sel, mac_only), part, indent, tidy)| {
            let (doc, sel) = if tidy {
                let Value::Map(m) = clean(Value::Map(
                    doc.branches.into_iter().next().unwrap_or_default(),
                )) else {
                    unreachable!("a map stays a map")
                };
                (Document::single(m), None)
            } else {
                (doc, sel)
            };
            // The direct path needs the file's indentation in the output (sops's 4).
            let indent = if tidy { None } else { indent };
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
            total.set(total.get() + 1);
            let trees = streamed(&bytes, part, "never", &emit);
            let auto = streamed(&bytes, part, "auto", &emit);
            prop_assert_eq!(trees.is_some(), auto.is_some(), "same decision");
            for s in trees.iter().chain(auto.iter()) {
                prop_assert!(
                    *s.out == *want,
                    "streamed:\n{}\ntree:\n{}\nencrypted:\n{}",
                    String::from_utf8_lossy(&s.out),
                    String::from_utf8_lossy(&want),
                    String::from_utf8_lossy(&bytes)
                );
                prop_assert_eq!(&s.warnings, &opened.warnings);
            }
            if let Some(s) = streamed(&bytes, part, "require", &emit) {
                prop_assert!(*s.out == *want, "direct only");
                direct.set(direct.get() + 1);
            }
            Ok(())
        })
        .expect("the direct path equals the tree paths");
    // The direct path must really be taken by a good share of these documents (the
    // others have a value or comment it hands to the tree path, in some part).
    assert!(
        direct.get() * 4 >= total.get(),
        "only {} of {} documents were read by the direct path alone",
        direct.get(),
        total.get()
    );
}

// ---------------------------------------------------------------------------------
// Through the CLI: a file the direct path takes whole, and tampered copies of it
// ---------------------------------------------------------------------------------

/// A file of about 200 KB with nested maps, lists of maps, every scalar type, empty
/// collections, comments and values that need quotes or literal blocks once decrypted.
fn direct_yaml() -> String {
    let mut s = String::from("# head comment\nversion: 3\nitems:\n");
    for i in 0..400 {
        s.push_str(&format!(
            "    item-{i:04}:\n        # about item {i}\n        name: \"yes\"\n        count: {}\n        ratio: {}.25\n        enabled: {}\n        quoted: \": x {i}\"\n        hash: \"#{i}\"\n        lead: \"  lead {i}\"\n        unicode: ünï {i} ✓\n        tags: []\n        meta: {{}}\n        text: |\n            line one {i}\n            line two\n        env:\n            - name: A_{i}\n              value: \"123\"\n              deep:\n                  x: y\n            - name: B_{i}\n              value: plain\n        ports:\n            - {}\n            - {}\n",
            i % 9,
            i % 4,
            i % 2 == 0,
            8000 + i,
            9000 + i
        ));
    }
    s.push_str("trailer: end\n");
    s
}

/// Flips one base64 character of the `data:` field of the `nth` value of the file.
fn flip(enc: &str, nth: usize) -> String {
    let at = enc.match_indices("data:").nth(nth).expect("value").0 + "data:".len();
    let c = enc.as_bytes()[at];
    let mut t = enc.to_owned();
    t.replace_range(at..at + 1, if c == b'A' { "B" } else { "A" });
    t
}

/// The `ENC[…]` text of the value on the first line after `from` that starts with `key`.
fn value_span(enc: &str, from: usize, key: &str) -> std::ops::Range<usize> {
    let line = from + enc[from..].find(key).expect("key");
    let start = line + enc[line..].find("ENC[").expect("value");
    let end = start + enc[start..].find(']').expect("end") + 1;
    start..end
}

fn swap(enc: &str, a: std::ops::Range<usize>, b: std::ops::Range<usize>) -> String {
    assert!(a.end <= b.start);
    let mut t = String::new();
    t.push_str(&enc[..a.start]);
    t.push_str(&enc[b.clone()]);
    t.push_str(&enc[a.end..b.start]);
    t.push_str(&enc[a]);
    t.push_str(&enc[b.end..]);
    t
}

#[test]
fn the_direct_path_takes_a_whole_file_and_fails_closed_like_the_tree_path() {
    let env = Env::new(None);
    let run = |mode: &str, direct: &str, path: &str| {
        let set = [
            ("LEAFSEAL_STREAM", Some(mode)),
            (stream::DIRECT_ENV, Some(direct)),
            (stream::PART_ENV, Some("3000")),
        ];
        env.run_set(&set, &["decrypt", path])
    };
    let write = |name: &str, data: &str| env.write(name, data.as_bytes());
    let plain = direct_yaml();
    let p = write("plain.yaml", &plain);
    let out = env.run(&["encrypt", "--age", AGE_RECIPIENT, &p]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let enc = String::from_utf8(out.stdout).expect("utf8");
    let encp = write("enc.yaml", &enc);
    let tree = run("never", "auto", &encp);
    assert!(tree.status.success());
    // Every part is read directly (`require` would hand the file to the tree path and
    // fail under LEAFSEAL_STREAM=require otherwise), to the tree path's bytes.
    for direct in ["require", "auto", "never"] {
        let s = run("require", direct, &encp);
        assert!(
            s.status.success(),
            "{direct}: {}",
            String::from_utf8_lossy(&s.stderr)
        );
        assert!(s.stdout == tree.stdout, "{direct}");
    }

    let items = enc.find("    item-0200:").expect("item");
    let mut bad = Vec::new();
    // A flipped byte in values all over the file (the first value, comments, lists,
    // the last value).
    let values = enc.matches("data:").count();
    for nth in [0, 1, 2, 7, 15, values / 3, values / 2, values - 40] {
        bad.push((format!("flip {nth}"), flip(&enc, nth)));
    }
    // Two values of different keys swapped (their paths differ: decryption fails).
    let a = value_span(&enc, items, "        count:");
    let b = value_span(&enc, items, "        ratio:");
    bad.push(("swap count/ratio".to_owned(), swap(&enc, a, b)));
    // Two items of one list swapped (the same path: the MAC sees the order).
    let a = value_span(&enc, items, "            - ENC");
    let b = value_span(&enc, a.end, "            - ENC");
    bad.push(("swap ports".to_owned(), swap(&enc, a, b)));
    // Two entries of one map swapped (key lines and values).
    let l1 = items + enc[items..].find("        count:").expect("count");
    let l2 = items + enc[items..].find("        ratio:").expect("ratio");
    let l3 = l2 + enc[l2..].find('\n').expect("eol") + 1;
    bad.push(("swap entries".to_owned(), swap(&enc, l1..l2, l2..l3)));
    // A key moved into another map.
    let mut moved = enc.clone();
    let line = moved[l1..l2].to_owned();
    moved.replace_range(l1..l2, "");
    let to = moved.find("    item-0300:").expect("item");
    let to = to + moved[to..].find("        enabled:").expect("enabled");
    moved.insert_str(to, &line);
    bad.push(("moved key".to_owned(), moved));
    // A value's type changed.
    let t = items + enc[items..].find("type:int]").expect("int");
    let mut retyped = enc.clone();
    retyped.replace_range(t..t + 9, "type:str]");
    bad.push(("retyped".to_owned(), retyped));

    for (what, text) in &bad {
        let bp = write("bad.yaml", text);
        let tree = run("never", "auto", &bp);
        assert!(!tree.status.success(), "{what}: the tree path rejects it");
        for direct in ["require", "auto", "never"] {
            let s = run("always", direct, &bp);
            assert_eq!(s.status.code(), tree.status.code(), "{what} ({direct})");
            assert!(s.stdout.is_empty(), "{what} ({direct}): no output");
            assert_eq!(
                String::from_utf8_lossy(&s.stderr),
                String::from_utf8_lossy(&tree.stderr),
                "{what} ({direct})"
            );
        }
    }
}
