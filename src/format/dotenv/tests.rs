#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::*;
use crate::tree::Timestamp;

fn load(s: &str) -> Loaded {
    DotenvStore.load(s.as_bytes()).unwrap()
}

fn items(l: &Loaded) -> Vec<Item> {
    l.doc.branches[0].0.clone()
}

fn entry(k: &str, v: &str) -> Item {
    Item::Entry(k.to_owned(), Value::str(v))
}

fn comment(t: &str) -> Item {
    Item::Comment(Comment::line(t))
}

fn emit(m: Map, meta: Option<&Map>) -> String {
    let out = DotenvStore
        .emit(&Document::single(m), meta, &EmitOptions::default())
        .unwrap();
    String::from_utf8(out.to_vec()).unwrap()
}

#[test]
fn a_byte_order_mark_is_part_of_the_first_key_in_an_encrypted_file_and_refused_in_plaintext() {
    // As sops reads it: the value was encrypted under the path `\u{FEFF}A:`.
    let l = load("\u{feff}A=x\nsops_version=3.11.0\n");
    assert_eq!(items(&l), vec![entry("\u{feff}A", "x")]);
    let l = load("\u{feff}# c=x\nB=\u{feff}\nsops_version=3.11.0\n");
    assert_eq!(
        items(&l),
        vec![entry("\u{feff}# c", "x"), entry("B", "\u{feff}")]
    );
    for (text, at) in [
        ("\u{feff}A=x\n", (1, 1)),
        ("A=x\nB\u{feff}=y\n", (2, 2)),
        ("\u{feff}#c\nA=x\n", (1, 1)),
    ] {
        let e = DotenvStore.load(text.as_bytes()).unwrap_err();
        assert!(e.message.contains("byte-order mark"), "{e}");
        assert_eq!(e.position, Some(at), "{text:?}");
    }
}

#[test]
fn dotenv_reading_table() {
    let cases: &[(&str, Vec<Item>)] = &[
        ("foo = bar\n", vec![entry("foo ", " bar")]),
        ("A=b\r\n", vec![entry("A", "b\r")]),
        ("KEY=\"x\"\n", vec![entry("KEY", "\"x\"")]),
        ("KEY='x'", vec![entry("KEY", "'x'")]),
        ("A=b=c\n", vec![entry("A", "b=c")]),
        ("export A=b\n", vec![entry("export A", "b")]),
        ("A=$B\n", vec![entry("A", "$B")]),
        ("A=a\\nb\\n\n", vec![entry("A", "a\nb\n")]),
        ("A=a\\\\nb\n", vec![entry("A", "a\\\nb")]),
        ("A=\n", vec![entry("A", "")]),
        ("=v\n", vec![entry("", "v")]),
        ("\n\n A = 1 \n\n", vec![entry(" A ", " 1 ")]),
        (
            "# hi\n#x\n#\n",
            vec![comment(" hi"), comment("x"), comment("")],
        ),
        (" #not a comment=1\n", vec![entry(" #not a comment", "1")]),
        (
            "A=1 # not a comment\n",
            vec![entry("A", "1 # not a comment")],
        ),
        ("", vec![]),
        ("\n", vec![]),
    ];
    for (input, expected) in cases {
        let l = load(input);
        assert_eq!(&items(&l), expected, "input {input:?}");
        assert!(l.meta.is_none());
    }
}

#[test]
fn dotenv_line_without_equals_is_an_error_without_text() {
    let err = DotenvStore
        .load(b"A=1\n\nsupersecretline\nB=2\n")
        .unwrap_err();
    assert_eq!(err.position, Some((3, 1)));
    assert!(!err.to_string().contains("supersecret"));
    let err = DotenvStore.load(b"A=1\n\xff\xfe=x\n").unwrap_err();
    assert_eq!(err.position, Some((2, 1)));
}

#[test]
fn dotenv_metadata_keys_are_split_off() {
    let l = load(
        "#c\nA=1\nsops_version=3.13.2\nsops_pgp__list_0__map_enc=x\\ny\nsops_pgp__list_0__map_fp=F\n",
    );
    assert_eq!(items(&l), vec![comment("c"), entry("A", "1")]);
    let meta = l.meta.unwrap();
    assert_eq!(meta.get("version"), Some(&Value::str("3.13.2")));
    let Some(Value::Seq(pgp)) = meta.get("pgp") else {
        panic!("no pgp list")
    };
    let crate::tree::SeqItem::Value(Value::Map(k)) = &pgp[0] else {
        panic!("no key")
    };
    assert_eq!(k.get("enc"), Some(&Value::str("x\ny")));
    // A conflicting metadata key is an error.
    assert!(DotenvStore.load(b"sops_a=1\nsops_a__map_b=2\n").is_err());
    assert!(DotenvStore.load(b"sops_a=1\nsops_a=2\n").is_err());
}

#[test]
fn dotenv_writing_table() {
    let t = Timestamp {
        year: 2024,
        month: 1,
        day: 2,
        hour: 3,
        minute: 4,
        second: 5,
        nanos: 500_000_000,
        offset_seconds: 3600,
    };
    let mut m = Map::new();
    m.push_comment(Comment::line(" a comment"));
    m.push("foo ", Value::str(" bar"));
    m.push("multi", Value::str("a\nb\r\n"));
    m.push("t", Value::Bool(true));
    m.push("f", Value::Bool(false));
    m.push("i", Value::Int(-42));
    m.push("f1", Value::Float(5.0));
    m.push("f2", Value::Float(1e6));
    m.push("f3", Value::Float(25.4));
    m.push("f4", Value::Float(123456.0));
    m.push("ts", Value::Time(t));
    m.push("n", Value::Null);
    assert_eq!(
        emit(m, None),
        "# a comment\nfoo = bar\nmulti=a\\nb\r\\n\nt=true\nf=false\ni=-42\nf1=5.0\nf2=1E+06\n\
         f3=25.4\nf4=123456.0\nts=2024-01-02T03:04:05+01:00\nn=\n"
    );
    for bad in [Value::Map(Map::new()), Value::Seq(vec![])] {
        let mut m = Map::new();
        m.push("x", bad);
        assert!(
            DotenvStore
                .emit(&Document::single(m), None, &EmitOptions::default())
                .is_err()
        );
    }
}

#[test]
fn dotenv_writes_metadata_last_with_escaped_newlines() {
    let mut meta = Map::new();
    meta.push("lastmodified", Value::str("2026-05-22T20:15:29Z"));
    let mut key = Map::new();
    key.push("enc", Value::str("-----BEGIN\nabc\n-----END\n"));
    key.push("recipient", Value::str("age1x"));
    meta.push(
        "age",
        Value::Seq(vec![crate::tree::SeqItem::Value(Value::Map(key))]),
    );
    let mut m = Map::new();
    m.push("A", Value::str("1"));
    let out = emit(m.clone(), Some(&meta));
    assert_eq!(
        out,
        "A=1\nsops_lastmodified=2026-05-22T20:15:29Z\n\
         sops_age__list_0__map_enc=-----BEGIN\\nabc\\n-----END\\n\nsops_age__list_0__map_recipient=age1x\n"
    );
    let back = DotenvStore.load(out.as_bytes()).unwrap();
    assert_eq!(back.doc.branches[0], m);
    assert_eq!(back.meta.as_ref(), Some(&meta));
    // Empty dotenv: only the metadata lines.
    assert_eq!(
        emit(Map::new(), Some(&meta)).lines().count(),
        3,
        "empty document with metadata"
    );
    assert_eq!(emit(Map::new(), None), "");
}

#[test]
fn dotenv_emit_value() {
    let o = EmitOptions::default();
    let v = |v: Value| DotenvStore.emit_value(&v, &o).map(|b| b.to_vec());
    assert_eq!(v(Value::str("a\nb")).unwrap(), b"a\nb");
    assert_eq!(v(Value::Int(7)).unwrap(), b"7");
    assert_eq!(v(Value::Float(2.0)).unwrap(), b"2.0");
    assert_eq!(v(Value::Bool(false)).unwrap(), b"false");
    assert!(v(Value::Map(Map::new())).is_err());
    assert!(v(Value::Seq(vec![])).is_err());
}

/// Flat trees dotenv can round-trip: keys without `=`/newline, not starting with `#` or
/// `sops_`; values of any text except a literal backslash-n (it always reads back as a
/// newline); comments without newlines. Empty lines are not representable, so an entry
/// line is never empty (it has at least the `=`).
fn dotenv_tree() -> impl Strategy<Value = Map> {
    let key = "[^=\n\r#\0 \t][^=\n\r\0]{0,8}".prop_filter("reserved prefix or a BOM", |k| {
        !k.starts_with("sops_") && !k.contains('\u{FEFF}')
    });
    let value =
        "[a-z \\\\\n\r=#\"'é]{0,12}".prop_filter("literal backslash-n", |v| !v.contains("\\n"));
    let item = prop_oneof![
        (key, value).prop_map(|(k, v)| Item::Entry(k, Value::str(v))),
        "[^\n\r]{0,10}".prop_map(|t| Item::Comment(Comment::line(t))),
    ];
    prop::collection::vec(item, 0..8).prop_map(Map)
}

proptest! {
    #[test]
    fn dotenv_roundtrip(m in dotenv_tree()) {
        let out = emit(m.clone(), None);
        let back = DotenvStore.load(out.as_bytes()).unwrap();
        prop_assert_eq!(&back.doc.branches[0], &m);
        prop_assert!(back.meta.is_none());
    }

    #[test]
    fn dotenv_load_arbitrary_bytes_never_panics(input in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = DotenvStore.load(&input);
    }

    #[test]
    fn dotenv_load_arbitrary_text_never_panics(input in "(sops_|__map_|__list_|[0-9=\n#a-z\\\\])*") {
        if let Ok(l) = DotenvStore.load(input.as_bytes()) {
            let _ = DotenvStore.emit(&l.doc, l.meta.as_ref(), &EmitOptions::default());
        }
    }
}

/// A key or comment that would not read back as itself is refused when writing: a file's
/// key `X\nLD_PRELOAD` must not become a line of its own in `--output-type dotenv`.
#[test]
fn keys_and_comments_that_would_add_lines_are_refused() {
    let write = |items: Vec<Item>| {
        DotenvStore.emit(&Document::single(Map(items)), None, &EmitOptions::default())
    };
    for key in ["X\nLD_PRELOAD", "A=B", "#X", "X\rLD_PRELOAD", " #X", "X\0Y"] {
        let e = write(vec![entry(key, "/tmp/evil.so")]).expect_err(key);
        assert!(e.to_string().contains("cannot hold it"), "{key:?}: {e}");
    }
    for text in ["c\nLD_PRELOAD=/tmp/evil.so", "c\rLD_PRELOAD=/tmp/evil.so"] {
        let e = write(vec![comment(text)]).expect_err("comment");
        assert!(e.to_string().contains("line break"), "{e}");
    }
    // Keys that read back as themselves are written as before.
    let ok = write(vec![entry("A#B", "1"), entry(" spaced ", "2")]).expect("written");
    assert_eq!(&ok[..], b"A#B=1\n spaced =2\n");
}

#[test]
fn a_nested_value_names_its_key() {
    // r20 12: `--output-type dotenv` of nested data did not say which key.
    let mut inner = Map::new();
    inner.push("user", Value::str("admin"));
    let mut m = Map::new();
    m.push("flat", Value::str("x"));
    m.push("db", Value::Map(inner));
    let err = DotenvStore
        .emit(&Document::single(m), None, &EmitOptions::default())
        .unwrap_err();
    assert!(
        err.message
            .starts_with("key `db`: cannot use a complex value (map)"),
        "{err}"
    );
    assert!(err.message.contains("extract a single value"), "{err}");
}
