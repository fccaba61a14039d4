//! Rule tables, comments, multi-document, aliases, errors and property tests.

use super::emit::format_float_g;
use super::resolve::resolve_plain;
use super::*;
use crate::tree::Comment;
use crate::tree::Item;
use crate::tree::SeqItem;
use crate::tree::Timestamp;

pub(super) fn load(s: &str) -> Result<Loaded, FormatError> {
    YamlStore.load(s.as_bytes())
}

pub(super) fn emit_doc(doc: &Document) -> String {
    let out = YamlStore
        .emit(doc, None, &EmitOptions::default())
        .expect("test setup");
    String::from_utf8(out.to_vec()).expect("test setup")
}

fn reemit(s: &str) -> String {
    emit_doc(&load(s).expect("test setup").doc)
}

fn one(v: Value) -> String {
    let mut m = Map::new();
    m.push("k", v);
    emit_doc(&Document::single(m))
}

#[test]
fn resolver_table() {
    use Value::*;
    let cases: Vec<(&str, Value)> = vec![
        ("true", Bool(true)),
        ("True", Bool(true)),
        ("TRUE", Bool(true)),
        ("false", Bool(false)),
        ("FALSE", Bool(false)),
        ("yes", Value::str("yes")),
        ("no", Value::str("no")),
        ("on", Value::str("on")),
        ("off", Value::str("off")),
        ("y", Value::str("y")),
        ("", Null),
        ("~", Null),
        ("null", Null),
        ("Null", Null),
        ("NULL", Null),
        ("nULL", Value::str("nULL")),
        ("42", Int(42)),
        ("-42", Int(-42)),
        ("+7", Int(7)),
        ("1_000", Int(1000)),
        ("0x1F", Int(31)),
        ("0o17", Int(15)),
        ("0b101", Int(5)),
        ("-0b101", Int(-5)),
        ("0755", Int(493)),
        ("09", Float(9.0)),
        ("9223372036854775807", Int(i64::MAX)),
        ("-9223372036854775808", Int(i64::MIN)),
        ("1.5", Float(1.5)),
        ("1.", Float(1.0)),
        ("-.5", Float(-0.5)),
        (".5", Float(0.5)),
        ("1e3", Float(1000.0)),
        ("1.0", Float(1.0)),
        (".inf", Float(f64::INFINITY)),
        ("-.Inf", Float(f64::NEG_INFINITY)),
        ("+.INF", Float(f64::INFINITY)),
        ("1e999", Value::str("1e999")),
        (".x", Value::str(".x")),
        ("1.2.3", Value::str("1.2.3")),
        ("12:30", Value::str("12:30")),
        ("0x", Value::str("0x")),
        ("_1", Value::str("_1")),
        ("-", Value::str("-")),
        ("<<", Value::str("<<")),
    ];
    for (src, want) in cases {
        assert_eq!(resolve_plain(src).expect("test setup"), want, "{src:?}");
    }
    assert!(matches!(resolve_plain(".nan").expect("test setup"), Float(f) if f.is_nan()));
    assert!(resolve_plain("18446744073709551615").is_err());
    // Numbers a float would change are refused (go-yaml would round them).
    for src in [
        "-9223372036854775809",
        "123456789012345678901234567890",
        "1e-400",
        "0.1000000000000000000001",
    ] {
        assert!(resolve_plain(src).is_err(), "{src}");
    }
    let t = resolve_plain("2024-01-02").expect("test setup");
    assert!(matches!(t, Time(t) if t.to_rfc3339_nano() == "2024-01-02T00:00:00Z"));
    let t = resolve_plain("2001-12-14t21:59:43.10-05:00").expect("test setup");
    assert!(matches!(t, Time(t) if t.to_rfc3339_nano() == "2001-12-14T21:59:43.1-05:00"));
    let t = resolve_plain("2001-12-14 21:59:43.10").expect("test setup");
    assert!(matches!(t, Time(t) if t.to_rfc3339_nano() == "2001-12-14T21:59:43.1Z"));
}

#[test]
fn quoted_block_and_tagged_scalars() {
    let l = load(
        "a: 'true'\nb: \"12\"\nc: |\n  x\nd: >\n  y\n  z\ne: !!str 5\nf: !!int \"7\"\n\
         g: !!float 3\nh: !!bool \"true\"\ni: !!null x\nj: !!binary aGVsbG8=\nk: !!binary /w==\n\
         l: !custom 5\nm: !!timestamp 2020-01-01\n",
    )
    .expect("test setup");
    let m = &l.doc.branches[0];
    assert_eq!(m.get("a"), Some(&Value::str("true")));
    assert_eq!(m.get("b"), Some(&Value::str("12")));
    assert_eq!(m.get("c"), Some(&Value::str("x\n")));
    assert_eq!(m.get("d"), Some(&Value::str("y z\n")));
    assert_eq!(m.get("e"), Some(&Value::str("5")));
    assert_eq!(m.get("f"), Some(&Value::Int(7)));
    assert_eq!(m.get("g"), Some(&Value::Float(3.0)));
    assert_eq!(m.get("h"), Some(&Value::Bool(true)));
    assert_eq!(m.get("i"), Some(&Value::Null));
    assert_eq!(m.get("j"), Some(&Value::str("hello")));
    assert!(matches!(m.get("k"), Some(Value::Bytes(b)) if b.as_slice() == [0xff]));
    assert_eq!(m.get("l"), Some(&Value::str("5")));
    assert!(matches!(m.get("m"), Some(Value::Time(_))));
    assert!(load("a: !!int abc\n").is_err());
}

#[test]
fn quoting_table() {
    let cases = [
        ("plain", "k: plain\n"),
        ("hello world", "k: hello world\n"),
        ("", "k: \"\"\n"),
        ("true", "k: \"true\"\n"),
        ("123", "k: \"123\"\n"),
        ("1.5", "k: \"1.5\"\n"),
        ("null", "k: \"null\"\n"),
        ("~", "k: \"~\"\n"),
        ("2024-01-01", "k: \"2024-01-01\"\n"),
        ("0x1F", "k: \"0x1F\"\n"),
        ("yes", "k: \"yes\"\n"),
        ("Off", "k: \"Off\"\n"),
        ("y", "k: \"y\"\n"),
        ("1:20", "k: \"1:20\"\n"),
        ("-foo", "k: -foo\n"),
        ("- foo", "k: '- foo'\n"),
        ("a: b", "k: 'a: b'\n"),
        ("a #b", "k: 'a #b'\n"),
        ("a#b", "k: a#b\n"),
        ("#x", "k: '#x'\n"),
        ("*x", "k: '*x'\n"),
        ("&x", "k: '&x'\n"),
        ("!x", "k: '!x'\n"),
        ("%x", "k: '%x'\n"),
        ("@x", "k: '@x'\n"),
        ("`x", "k: '`x'\n"),
        ("[x", "k: '[x'\n"),
        ("{x", "k: '{x'\n"),
        ("x,y", "k: x,y\n"),
        ("it's", "k: it's\n"),
        ("'q'", "k: '''q'''\n"),
        ("\"q\"", "k: '\"q\"'\n"),
        (" lead", "k: ' lead'\n"),
        ("trail ", "k: 'trail '\n"),
        ("---", "k: '---'\n"),
        ("a\tb", "k: \"a\\tb\"\n"),
        ("bell\u{7}", "k: \"bell\\a\"\n"),
        ("nul\u{0}", "k: \"nul\\0\"\n"),
        ("del\u{7f}", "k: \"del\\x7F\"\n"),
        ("héllo ünïcode", "k: héllo ünïcode\n"),
        ("emoji 😀", "k: \"emoji \\U0001F600\"\n"),
        (
            "ENC[AES256_GCM,data:a,iv:b,tag:c,type:str]",
            "k: ENC[AES256_GCM,data:a,iv:b,tag:c,type:str]\n",
        ),
    ];
    for (s, want) in cases {
        assert_eq!(one(Value::str(s)), want, "{s:?}");
        let back = load(want).expect("test setup");
        assert_eq!(back.doc.branches[0].get("k"), Some(&Value::str(s)), "{s:?}");
    }
}

#[test]
fn non_string_scalar_emission() {
    assert_eq!(one(Value::Int(-5)), "k: -5\n");
    assert_eq!(one(Value::Bool(true)), "k: true\n");
    assert_eq!(one(Value::Null), "k: null\n");
    assert_eq!(one(Value::Float(1234.5678)), "k: 1234.5678\n");
    assert_eq!(one(Value::Float(5.0)), "k: 5\n");
    assert_eq!(one(Value::Float(f64::NEG_INFINITY)), "k: -.inf\n");
    assert_eq!(one(Value::Float(f64::NAN)), "k: .nan\n");
    let ts = Timestamp::parse_yaml("2024-01-01").expect("test setup");
    assert_eq!(one(Value::Time(ts)), "k: 2024-01-01T00:00:00Z\n");
    assert_eq!(
        one(Value::Bytes(crate::tree::Bytes::new(vec![0xff, 0xfe]))),
        "k: !!binary //4=\n"
    );
    for (f, s) in [
        (123456.0, "123456"),
        (1e6, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (-0.0, "-0"),
        (1.234568e9, "1.234568e+09"),
        (1e21, "1e+21"),
        (0.1, "0.1"),
    ] {
        assert_eq!(format_float_g(f), s, "{f}");
    }
}

#[test]
fn block_scalars() {
    assert_eq!(one(Value::str("a\nb")), "k: |-\n    a\n    b\n");
    assert_eq!(one(Value::str("a\nb\n")), "k: |\n    a\n    b\n");
    assert_eq!(one(Value::str("a\nb\n\n")), "k: |+\n    a\n    b\n\n");
    assert_eq!(one(Value::str(" a\nb")), "k: |4-\n     a\n    b\n");
    assert_eq!(one(Value::str("a\n\nb")), "k: |-\n    a\n\n    b\n");
    assert_eq!(one(Value::str("a \nb")), "k: \"a \\nb\"\n");
    // A tab allows a literal block, as sops 3.11 (go-yaml v3) writes it; not as the first
    // character, which sops writes in a block and reads back as `null`.
    assert_eq!(one(Value::str("a\tx\nb")), "k: |-\n    a\tx\n    b\n");
    assert_eq!(one(Value::str("\tx\nb")), "k: \"\\tx\\nb\"\n");
    assert_eq!(one(Value::str("a\tx")), "k: \"a\\tx\"\n");
    assert_eq!(one(Value::str("<<")), "k: !!merge <<\n");
    // Content indentation: smallest multiple of N above the key column.
    let mut inner = Map::new();
    inner.push("enc", Value::str("x\ny\n"));
    let mut m = Map::new();
    m.push("l", Value::Seq(vec![SeqItem::Value(Value::Map(inner))]));
    let out = emit_doc(&Document::single(m.clone()));
    assert_eq!(out, "l:\n    - enc: |\n        x\n        y\n");
    assert_eq!(load(&out).expect("test setup").doc.branches[0], m);
    let out2 = YamlStore
        .emit(
            &Document::single(m.clone()),
            None,
            &EmitOptions { indent: Some(2) },
        )
        .expect("test setup");
    assert_eq!(&out2[..], b"l:\n  - enc: |\n      x\n      y\n");
    assert!(
        YamlStore
            .emit(
                &Document::single(m.clone()),
                None,
                &EmitOptions { indent: Some(-1) }
            )
            .is_err()
    );
    let out1 = YamlStore
        .emit(&Document::single(m), None, &EmitOptions { indent: Some(1) })
        .expect("test setup");
    assert_eq!(&out1[..], &out2[..]);
}

#[test]
fn emit_value_alone() {
    let ev = |v: &Value| {
        String::from_utf8(
            YamlStore
                .emit_value(v, &EmitOptions::default())
                .expect("test setup")
                .to_vec(),
        )
        .expect("test setup")
    };
    assert_eq!(ev(&Value::Int(5)), "5\n");
    assert_eq!(ev(&Value::str("true")), "\"true\"\n");
    let l = Value::Seq(vec![
        SeqItem::Value(Value::str("a")),
        SeqItem::Value(Value::Int(1)),
    ]);
    assert_eq!(ev(&l), "- a\n- 1\n");
    let mut m = Map::new();
    m.push("a", Value::Seq(vec![]));
    m.push("b", Value::Map(Map::new()));
    assert_eq!(ev(&Value::Map(m)), "a: []\nb: {}\n");
}

fn items_desc(m: &Map) -> Vec<String> {
    m.0.iter()
        .map(|i| match i {
            Item::Comment(c) => format!("#{}{}", if c.inline { "i" } else { "" }, c.text.as_str()),
            Item::Entry(k, _) => k.clone(),
        })
        .collect()
}

#[test]
fn comment_placement() {
    let src = "# head\n\n# c1\na: 1 # r1\n# c2\nb:\n    # c3\n    c: 2\n    # c4\n# c5\nd:\n    - x # r2\n    # c6\n    - y\n    # c7\n# c8\n";
    let l = load(src).expect("test setup");
    let m = &l.doc.branches[0];
    assert_eq!(
        items_desc(m),
        [
            "# head", "# c1", "#i r1", "a", "# c2", "b", "# c5", "d", "# c8"
        ]
    );
    let Some(Value::Map(b)) = m.get("b") else {
        panic!()
    };
    assert_eq!(items_desc(b), ["# c3", "c", "# c4"]);
    let Some(Value::Seq(d)) = m.get("d") else {
        panic!()
    };
    assert_eq!(d.len(), 5);
    assert!(matches!(&d[0], SeqItem::Comment(c) if c.inline && c.text.as_str() == " r2"));
    assert!(matches!(&d[2], SeqItem::Comment(c) if !c.inline && c.text.as_str() == " c6"));
    assert!(matches!(&d[4], SeqItem::Comment(c) if c.text.as_str() == " c7"));
    let out = emit_doc(&l.doc);
    // Line comments are written above their entry, as sops does.
    assert_eq!(
        out,
        "# head\n# c1\n# r1\na: 1\n# c2\nb:\n    # c3\n    c: 2\n    # c4\n# c5\nd:\n    # r2\n    - x\n    # c6\n    - \"y\"\n    # c7\n# c8\n"
    );
    assert_eq!(emit_doc(&load(&out).expect("test setup").doc), out);
}

#[test]
fn plain_comment_fixtures_load_and_reemit() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sops/plain");
    let c = std::fs::read_to_string(root.join("comments.yaml")).expect("test setup");
    assert_eq!(
        reemit(&c),
        "# first comment in file\nlorem: ipsum\n# this-is-a-comment\ndolor: sit\n"
    );
    let cl = std::fs::read_to_string(root.join("comments_list.yaml")).expect("test setup");
    let l = load(&cl).expect("test setup");
    let Some(Value::Seq(s)) = l.doc.branches[0].get("lorem") else {
        panic!()
    };
    assert!(matches!(&s[1], SeqItem::Comment(c) if c.text.as_str() == "this-is-a-comment"));
    assert_eq!(
        reemit(&cl),
        "lorem:\n    - foo\n    #this-is-a-comment\n    - bar\n"
    );
}

#[test]
fn inline_marker_is_written_above_its_value_as_sops_does() {
    let mut inner = Map::new();
    inner.push("x", Value::Int(1));
    let mut m = Map::new();
    m.push_comment(Comment {
        text: " on a".into(),
        inline: true,
    });
    m.push("a", Value::str("v"));
    m.push_comment(Comment {
        text: " on b".into(),
        inline: true,
    });
    m.push("b", Value::Map(inner));
    m.push_comment(Comment::line(" foot"));
    let doc = Document::single(m);
    let out = emit_doc(&doc);
    assert_eq!(out, "# on a\na: v\n# on b\nb:\n    x: 1\n# foot\n");
    assert_eq!(emit_doc(&load(&out).expect("test setup").doc), out);
}

#[test]
fn multi_document_streams() {
    let l =
        load("a: 1\nsops:\n    version: 3.13.2\n---\nb: 2\nsops:\n    x: 1\n---\n---\nc: [1, 2]\n")
            .expect("test setup");
    assert_eq!(l.doc.branches.len(), 4);
    assert!(l.doc.branches[2].is_empty());
    assert!(l.doc.branches[1].get("sops").is_none());
    let meta = l.meta.clone().expect("test setup");
    assert_eq!(meta.get("version"), Some(&Value::str("3.13.2")));
    let out = YamlStore
        .emit(&l.doc, Some(&meta), &EmitOptions::default())
        .expect("test setup");
    let want = "a: 1\nsops:\n    version: 3.13.2\n---\nb: 2\nsops:\n    version: 3.13.2\n---\nsops:\n    version: 3.13.2\n---\nc:\n    - 1\n    - 2\nsops:\n    version: 3.13.2\n";
    assert_eq!(std::str::from_utf8(&out).expect("test setup"), want);
    // Duplicates are only rejected in the first document.
    assert!(load("a: 1\n---\nb: 1\nb: 2\n").is_ok());
    assert!(load("a: 1\na: 2\n").is_err());
    // Empty inputs.
    assert_eq!(load("").expect("test setup").doc.branches.len(), 0);
    assert_eq!(load("\n\n").expect("test setup").doc.branches.len(), 0);
    let c = load("# only a comment\n").expect("test setup");
    assert_eq!(c.doc.branches.len(), 1);
    assert_eq!(items_desc(&c.doc.branches[0]), ["# only a comment"]);
    assert_eq!(
        load("---\n").expect("test setup").doc.branches,
        vec![Map::new()]
    );
    assert_eq!(emit_doc(&Document::single(Map::new())), "{}\n");
}

#[test]
fn aliases_and_merge_keys() {
    let l = load(
        "base: &b\n    x: 1\n    y: [a, b]\nother:\n    <<: *b\n    z: *b\ns: &s hello\nt: *s\n",
    )
    .expect("test setup");
    let m = &l.doc.branches[0];
    let base = m.get("base").expect("test setup").clone();
    let Some(Value::Map(other)) = m.get("other") else {
        panic!()
    };
    assert_eq!(other.get("<<"), Some(&base));
    assert_eq!(other.get("z"), Some(&base));
    assert_eq!(m.get("t"), Some(&Value::str("hello")));
    let out = emit_doc(&l.doc);
    assert!(out.contains("    !!merge <<:\n        x: 1\n"), "{out}");
    assert!(!out.contains('&') && !out.contains('*'));
    // Alias bomb.
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let e = load(&bomb).unwrap_err();
    assert!(e.message.contains("alias expansion"), "{e}");
    assert!(load("a: &a [*a]\n").is_err());
}

#[test]
fn errors_have_position_and_no_document_text() {
    let cases = [
        ("secretkey: [unclosed secretvalue\n", ""),
        ("1: secretvalue\n", "non-string key"),
        ("true: secretvalue\n", "non-string key"),
        ("~: secretvalue\n", "non-string key"),
        ("2024-01-01: secretvalue\n", "non-string key"),
        ("1.5: secretvalue\n", "non-string key"),
        ("? [secretkey]\n: secretvalue\n", "non-string key"),
        ("secretkey: 1\nsecretkey: 2\n", "already defined"),
        ("- secretvalue\n", "sequences"),
        ("secretvalue\n", "values"),
        ("secretkey: 18446744073709551615\n", "64-bit"),
        ("secretkey: *secretanchor\n", ""),
        ("sops: secretvalue\n", "mapping"),
        ("secretkey: \"\tsecretvalue\n", ""),
        ("secretkey: secretvalue\n secretkey2: x: y\n", ""),
    ];
    for (src, needle) in cases {
        let e = load(src).unwrap_err();
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains("secret"), "{src:?} -> {shown}");
        assert!(e.message.contains(needle), "{src:?} -> {shown}");
        if needle != "mapping" {
            assert!(e.position.is_some(), "{src:?} -> {shown}");
        }
    }
    assert!(YamlStore.load(&[0xff, 0xfe, b'a']).is_err());
}

mod go_yaml;
