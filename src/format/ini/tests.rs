#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::*;
use crate::tree::SeqItem;

fn load(s: &str) -> Loaded {
    IniStore.load(s.as_bytes()).unwrap()
}

fn sec(items: Vec<Item>) -> Value {
    Value::Map(Map(items))
}

fn e(k: &str, v: &str) -> Item {
    Item::Entry(k.to_owned(), Value::str(v))
}

fn c(t: &str) -> Item {
    Item::Comment(Comment::line(t))
}

fn s(name: &str, items: Vec<Item>) -> Item {
    Item::Entry(name.to_owned(), sec(items))
}

fn emit_map(m: Map, meta: Option<&Map>) -> Result<String, FormatError> {
    IniStore
        .emit(&Document::single(m), meta, &EmitOptions::default())
        .map(|o| String::from_utf8(o.to_vec()).unwrap())
}

#[test]
fn ini_reading_rules_table() {
    let cases: Vec<(&str, Vec<Item>)> = vec![
        ("", vec![s("DEFAULT", vec![])]),
        ("key = value\n", vec![s("DEFAULT", vec![e("key", "value")])]),
        (
            "  key \t=   value  \r\n",
            vec![s("DEFAULT", vec![e("key", "value")])],
        ),
        (
            "a: b\nc=d:e\nf:g=h",
            vec![s(
                "DEFAULT",
                vec![e("a", "b"), e("c", "d:e"), e("f", "g=h")],
            )],
        ),
        (
            "a =\nb=   \n",
            vec![s("DEFAULT", vec![e("a", ""), e("b", "")])],
        ),
        // Quotes around the whole value are removed, otherwise kept.
        (
            "a = \"x y\"\nb = 'z'\nc = \"x\"y\"\nd = \"x\ne = ' padded '\n",
            vec![s(
                "DEFAULT",
                vec![
                    e("a", "x y"),
                    e("b", "z"),
                    e("c", "\"x\"y\""),
                    e("d", "\"x"),
                    e("e", " padded "),
                ],
            )],
        ),
        // """ values, single- and multi-line, taken verbatim.
        (
            "a = \"\"\"x # y\"\"\"\nb = \"\"\"line1\n  line2 ; z\nend\"\"\" ; after\nc = 3\n",
            vec![s(
                "DEFAULT",
                vec![
                    e("a", "x # y"),
                    e("b", "line1\n  line2 ; z\nend"),
                    c("after"),
                    e("c", "3"),
                ],
            )],
        ),
        (
            "a = \"\"\"\n\"\"\"\n",
            vec![s("DEFAULT", vec![e("a", "\n")])],
        ),
        // Backtick values.
        (
            "a = ` x ; y `\nb = `multi\nline`\n",
            vec![s("DEFAULT", vec![e("a", " x ; y "), e("b", "multi\nline")])],
        ),
        // Inline comments move to the key's comment (after the key).
        (
            "a = b ; c\nd = e#f\ng = \"h ; i\"\n",
            vec![s(
                "DEFAULT",
                vec![
                    e("a", "b"),
                    c("c"),
                    e("d", "e"),
                    c("f"),
                    e("g", "\"h"),
                    c("i\""),
                ],
            )],
        ),
        // Continuation lines (inline comment markers are not special there).
        (
            "a = one \\\n   two\\\n three ; x\nb = 1\n",
            vec![s("DEFAULT", vec![e("a", "one twothree ; x"), e("b", "1")])],
        ),
        (
            "a = x\\\n\nb = 1\n",
            vec![s("DEFAULT", vec![e("a", "x"), e("b", "1")])],
        ),
        // Comment lines before a key and before a section header.
        (
            "; c1\n#  c2\n\na = 1\n; trailing comment is kept\n",
            vec![
                s("DEFAULT", vec![e("a", "1"), c("c1\n#  c2")]),
                c("trailing comment is kept"),
            ],
        ),
        (
            ";; About s\n[s]\nk = v ; inline\n[t] # hdr\n",
            vec![
                s("DEFAULT", vec![]),
                s("s", vec![c("About s"), e("k", "v"), c("inline")]),
                s("t", vec![c("hdr")]),
            ],
        ),
        // Duplicate sections stay separate; [DEFAULT] is a section like any other.
        (
            "x = 0\n[s]\na = 1\n[s]\nb = 2\n[DEFAULT]\nc = 3\n",
            vec![
                s("DEFAULT", vec![e("x", "0")]),
                s("s", vec![e("a", "1")]),
                s("s", vec![e("b", "2")]),
                s("DEFAULT", vec![e("c", "3")]),
            ],
        ),
        // Section names are taken verbatim up to the last ']'.
        (
            "[not private]\n[ a]b ]\n",
            vec![
                s("DEFAULT", vec![]),
                s("not private", vec![]),
                s(" a]b ", vec![]),
            ],
        ),
        // Quoted keys.
        (
            "`a=b` = c\n\"k\" = v\n\"\"\"x`y\"\"\" = z\n",
            vec![s(
                "DEFAULT",
                vec![e("a=b", "c"), e("k", "v"), e("x`y", "z")],
            )],
        ),
        // `-` keys are numbered per section.
        (
            "[s]\n- = a\n- = b\n[t]\n- = c\n",
            vec![
                s("DEFAULT", vec![]),
                s("s", vec![e("#1", "a"), e("#2", "b")]),
                s("t", vec![e("#1", "c")]),
            ],
        ),
        // Byte-order mark.
        ("\u{feff}a = 1\n", vec![s("DEFAULT", vec![e("a", "1")])]),
    ];
    for (input, expected) in cases {
        let l = load(input);
        assert_eq!(l.doc.branches[0].0, expected, "input {input:?}");
        assert!(l.meta.is_none());
    }
}

#[test]
fn ini_reading_errors_have_positions_and_no_text() {
    let cases: &[(&str, usize)] = &[
        ("a = 1\n[secret", 2),
        ("[]\n", 1),
        ("a = 1\n\nsecretvalue\n", 3),
        ("= secret\n", 1),
        ("\"secret = 1\n", 1),
        ("\"\" = secret\n", 1),
        ("a = \"\"\"secret\nmore\n", 1),
        ("a = `secret\n", 1),
    ];
    for (input, line) in cases {
        let err = IniStore.load(input.as_bytes()).expect_err(input);
        assert_eq!(err.position.map(|p| p.0), Some(*line), "input {input:?}");
        assert!(!err.to_string().contains("secret"), "{err}");
    }
    assert!(IniStore.load(b"a = \xff\n").is_err());
    assert!(
        IniStore
            .load(b"[sops]\nversion=1\n[sops]\nmac=x\n")
            .is_err()
    );
}

#[test]
fn ini_writing_rules_table() {
    let cases: Vec<(Vec<Item>, &str)> = vec![
        (vec![], ""),
        (vec![s("DEFAULT", vec![])], ""),
        (vec![s("DEFAULT", vec![e("a", "1")])], "a = 1\n"),
        (
            vec![s("DEFAULT", vec![]), s("foo", vec![e("bar", "baz")])],
            "[foo]\nbar = baz\n",
        ),
        // The first section is headerless only when it is DEFAULT (any case).
        (
            vec![s("default", vec![e("a", "1")]), s("DEFAULT", vec![])],
            "a = 1\n\n[DEFAULT]\n",
        ),
        (vec![s("x", vec![]), s("y", vec![])], "[x]\n\n[y]\n"),
        // Alignment, counting quotes added to keys.
        (
            vec![s(
                "s",
                vec![
                    e("a", "1"),
                    e("long_key", "2"),
                    e("k:v", "3"),
                    e("b`q", "4"),
                ],
            )],
            "[s]\na         = 1\nlong_key  = 2\n`k:v`     = 3\n\"\"\"b`q\"\"\" = 4\n",
        ),
        // Value quoting.
        (
            vec![s(
                "s",
                vec![
                    e("nl", "a\nb"),
                    e("bt", "a`b"),
                    e("hash", "a # b"),
                    e("semi", " x;"),
                    e("sp", " lead"),
                    e("tr", "trail "),
                    e("q", "\"quoted\""),
                    e("empty", ""),
                ],
            )],
            "[s]\nnl    = \"\"\"a\nb\"\"\"\nbt    = \"\"\"a`b\"\"\"\nhash  = `a # b`\nsemi  = ` x;`\n\
             sp    = \" lead\"\ntr    = \"trail \"\nq     = \"quoted\"\nempty = \n",
        ),
        // Comments: section comment first, key comments after their key; a run of
        // markers before the first key or after a key is joined into one comment of
        // several lines (round 23; sops 3.11 keeps the first, resp. the last, only).
        (
            vec![s(
                "s",
                vec![
                    c("section"),
                    c("orphan"),
                    e("a", "1"),
                    c("first"),
                    c("  second\n#third\n;  fourth  "),
                    e("b", "2"),
                ],
            )],
            "; section\n; orphan\n[s]\n; first\n; second\n# third\n; fourth\na = 1\nb = 2\n",
        ),
        (
            vec![s("s", vec![c("#already"), e("a", "1")])],
            "# already\n[s]\na = 1\n",
        ),
        // A top-level comment becomes the comment of the section after it (round 23; sops
        // 3.11 drops it); repeated keys merge (first position, last value).
        (
            vec![
                c("top"),
                s("s", vec![e("a", "1"), e("b", "2"), e("a", "3"), c("on a")]),
            ],
            "; top\n[s]\n; on a\na = 3\nb = 2\n",
        ),
        // A DEFAULT with only a comment writes the comment and nothing else.
        (
            vec![s("DEFAULT", vec![c("lonely")]), s("s", vec![])],
            "; lonely\n[s]\n",
        ),
    ];
    for (items, expected) in cases {
        assert_eq!(
            emit_map(Map(items.clone()), None).unwrap(),
            expected,
            "{items:?}"
        );
    }
}

#[test]
fn ini_writing_non_strings_and_refusals() {
    let mut m = Map::new();
    m.push(
        "s",
        sec(vec![
            Item::Entry("t".into(), Value::Bool(true)),
            Item::Entry("i".into(), Value::Int(-3)),
            Item::Entry("f".into(), Value::Float(5.0)),
            Item::Entry("g".into(), Value::Float(1e6)),
            Item::Entry("n".into(), Value::Null),
        ]),
    );
    assert_eq!(
        emit_map(m, None).unwrap(),
        "[s]\nt = true\ni = -3\nf = 5.0\ng = 1E+06\nn = \n"
    );
    let refuse = |items: Vec<Item>| assert!(emit_map(Map(items), None).is_err());
    refuse(vec![e("top", "level")]);
    refuse(vec![Item::Entry("s".into(), Value::Seq(vec![]))]);
    refuse(vec![s(
        "s",
        vec![Item::Entry("k".into(), Value::Map(Map::new()))],
    )]);
    refuse(vec![s(
        "s",
        vec![Item::Entry("k".into(), Value::Seq(vec![]))],
    )]);
    refuse(vec![s("", vec![])]);
    refuse(vec![s("s", vec![e("", "v")])]);
    let o = EmitOptions::default();
    assert_eq!(
        IniStore
            .emit_value(&Value::Float(2.5), &o)
            .unwrap()
            .to_vec(),
        b"2.5"
    );
    // As sops's EmitValue, JSON (`--extract` prints a string raw before it gets here).
    assert_eq!(
        IniStore
            .emit_value(&Value::str("a b"), &o)
            .unwrap()
            .to_vec(),
        b"\"a b\""
    );
    assert!(IniStore.emit_value(&Value::Map(Map::new()), &o).is_err());
    assert!(IniStore.emit_value(&Value::Seq(vec![]), &o).is_err());
}

#[test]
fn ini_metadata_section_round_trip_and_313_multiline_variant() {
    let escaped = "[s]\na = 1\n\n[sops]\nlastmodified         = 2026-01-01T00:00:00Z\n\
                   pgp__list_0__map_enc = -----BEGIN\\n\\nabc\\n-----END\n\
                   unencrypted_regex    = `^(a|b);c$`\n";
    let l = load(escaped);
    assert_eq!(
        l.doc.branches[0].0,
        vec![s("DEFAULT", vec![]), s("s", vec![e("a", "1")])]
    );
    let meta = l.meta.unwrap();
    let Some(Value::Seq(pgp)) = meta.get("pgp") else {
        panic!("no pgp")
    };
    let SeqItem::Value(Value::Map(k)) = &pgp[0] else {
        panic!("no key")
    };
    assert_eq!(
        k.get("enc"),
        Some(&Value::str("-----BEGIN\n\nabc\n-----END"))
    );
    // sops 3.13.0/3.13.1 wrote real newlines, hence """ values: same metadata.
    let multiline = "[s]\na = 1\n\n[sops]\nlastmodified         = 2026-01-01T00:00:00Z\n\
                     pgp__list_0__map_enc = \"\"\"-----BEGIN\n\nabc\n-----END\"\"\"\n\
                     unencrypted_regex    = `^(a|b);c$`\n";
    let meta2 = load(multiline).meta.unwrap();
    assert_eq!(meta2, meta);
    // Writing: [sops] last, newlines escaped, values quoted by the usual rules.
    let out = emit_map(
        Map(vec![s("DEFAULT", vec![]), s("s", vec![e("a", "1")])]),
        Some(&meta),
    )
    .unwrap();
    assert_eq!(
        out,
        "[s]\na = 1\n\n[sops]\nlastmodified         = 2026-01-01T00:00:00Z\n\
         pgp__list_0__map_enc = -----BEGIN\\n\\nabc\\n-----END\n\
         unencrypted_regex    = `^(a|b);c$`\n"
    );
    assert_eq!(load(&out).meta.unwrap(), meta);
    // Empty INI with metadata: just the [sops] section.
    let out = emit_map(Map(vec![s("DEFAULT", vec![])]), Some(&meta)).unwrap();
    assert!(out.starts_with("[sops]\nlastmodified"));
}

/// Trees go-ini round-trips (the generator's limits): the implicit DEFAULT section first
/// (no section comment: go-ini would give it to the first key or section after it);
/// section names from a plain alphabet (not `sops`, not `DEFAULT`); unique keys per
/// section that do not start with `#`, `;`, `[`, `-` or whitespace (and no backtick in a
/// key that also has `"`, `=` or `:`, since such keys are written in backticks); values without `"`,
/// `'`, `\` or `\r` (surrounding quotes are stripped, a trailing `\` continues the line)
/// but with newlines, backticks, `#`, `;`, `=`, `:` and outer whitespace, which the writer
/// quotes; comments of one line with no leading `;`/`#`/space and no outer whitespace,
/// at most one after each key.
fn ini_tree() -> impl Strategy<Value = Map> {
    let key = "[a-zA-Z0-9_][a-zA-Z0-9_. =:\"`#]{0,6}[a-zA-Z0-9_]"
        .prop_filter("backtick in a backtick-quoted key", |k| {
            !(k.contains('`') && k.contains(['"', '=', ':']))
        });
    let value = "[a-z0-9 \t\n`#;=:.]{0,10}";
    let comment = prop::option::of("[a-zA-Z0-9][a-zA-Z0-9 .,]{0,8}[a-zA-Z0-9]");
    let keys = prop::collection::vec((key, value, comment.clone()), 0..5).prop_map(|ks| {
        let mut seen = std::collections::HashSet::new();
        let mut items = Vec::new();
        for (k, v, c) in ks {
            if !seen.insert(k.clone()) {
                continue;
            }
            items.push(Item::Entry(k, Value::str(v)));
            if let Some(c) = c {
                items.push(Item::Comment(Comment::line(c)));
            }
        }
        items
    });
    let section = ("[a-z0-9 _.-]{1,8}", comment, keys.clone()).prop_filter_map(
        "reserved section name",
        |(name, c, mut items)| {
            if name == "sops" || name.to_uppercase() == "DEFAULT" {
                return None;
            }
            if let Some(c) = c {
                items.insert(0, Item::Comment(Comment::line(c)));
            }
            Some(Item::Entry(name, Value::Map(Map(items))))
        },
    );
    (keys, prop::collection::vec(section, 0..4)).prop_map(|(default_keys, sections)| {
        let mut items = vec![Item::Entry("DEFAULT".into(), Value::Map(Map(default_keys)))];
        items.extend(sections);
        Map(items)
    })
}

proptest! {
    #[test]
    fn ini_roundtrip(m in ini_tree()) {
        let out = emit_map(m.clone(), None).unwrap();
        let back = IniStore.load(out.as_bytes()).unwrap();
        prop_assert_eq!(&back.doc.branches[0], &m, "written as {:?}", out);
    }

    #[test]
    fn ini_load_arbitrary_bytes_never_panics(input in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = IniStore.load(&input);
    }

    #[test]
    fn ini_load_arbitrary_text_never_panics(input in "([\\[\\]\"`'#;=: \t\r\n\\\\-]|sops|\"\"\"|[a-c])*") {
        if let Ok(l) = IniStore.load(input.as_bytes()) {
            let _ = IniStore.emit(&l.doc, l.meta.as_ref(), &EmitOptions::default());
        }
    }
}

#[test]
fn ini_duplicate_key_is_refused_with_both_lines() {
    let Err(err) = IniStore.load(b"[s]\n; old\na = 1\nb = 2\na = 3\n") else {
        panic!("a duplicate key must be refused");
    };
    assert_eq!(err.position, Some((5, 1)), "{err}");
    assert!(err.message.contains("\"a\""), "{err}");
    assert!(err.message.contains("[s]"), "{err}");
    assert!(err.message.contains("line 3"), "{err}");
    // The same key in two sections is not a duplicate.
    assert!(IniStore.load(b"[s]\na = 1\n[t]\na = 1\n").is_ok());
}

/// A section of 100,000 keys is written in linear time (a linear search per key took
/// minutes: a planted file's empty keys add nothing to the MAC).
#[test]
fn ini_large_section_is_written_in_linear_time() {
    let items: Vec<Item> = (0..100_000).map(|i| e(&format!("k{i}"), "")).collect();
    let start = std::time::Instant::now();
    let out = emit_map(Map(vec![s("db", items)]), None).expect("emit");
    assert!(out.contains("k99999 = "), "last key written");
    assert!(
        start.elapsed() < std::time::Duration::from_secs(20),
        "100,000 keys took {:?}",
        start.elapsed()
    );
}
