//! TOML store tests: mapping, comments, metadata, round trips, robustness.

use super::*;
use crate::format::EmitOptions;
use crate::tree::Comment;
use crate::tree::Item;
use crate::tree::SeqItem;
use crate::tree::Text;

fn load(s: &str) -> Loaded {
    TomlStore.load(s.as_bytes()).expect("load")
}

fn emit(doc: &Document, meta: Option<&Map>) -> String {
    let out = TomlStore
        .emit(doc, meta, &EmitOptions::default())
        .expect("emit");
    String::from_utf8(out.to_vec()).expect("utf8")
}

fn root(s: &str) -> Map {
    let mut l = load(s);
    assert_eq!(l.doc.branches.len(), 1);
    l.doc.branches.remove(0)
}

fn keys(m: &Map) -> Vec<&str> {
    m.entries().map(|(k, _)| k).collect()
}

fn line(t: &str) -> Item {
    Item::Comment(Comment::line(t))
}

fn inline(t: &str) -> Item {
    Item::Comment(Comment {
        text: Text::from(t),
        inline: true,
    })
}

fn entry(k: &str, v: Value) -> Item {
    Item::Entry(k.to_owned(), v)
}

/// load → emit → load gives the same tree and metadata, and emitting again gives the
/// same text.
fn assert_round_trip(src: &str) -> String {
    let a = load(src);
    let text = emit(&a.doc, a.meta.as_ref());
    let b = TomlStore
        .load(text.as_bytes())
        .unwrap_or_else(|e| panic!("reload failed: {e}\n{text}"));
    assert_eq!(a.doc, b.doc, "tree changed; emitted:\n{text}");
    assert_eq!(a.meta, b.meta, "metadata changed; emitted:\n{text}");
    assert_eq!(text, emit(&b.doc, b.meta.as_ref()), "emit not stable");
    text
}

#[test]
fn toml_scalar_types_map_to_tree_values() {
    let m = root(
        "s = \"x\"\ni = -42\nf = 1.5\nb = true\nodt = 1979-05-27T07:32:00.999-08:00\n\
         z = 2024-01-01T00:00:00Z\nldt = 1979-05-27T07:32:00\nld = 1979-05-27\nlt = 07:32:00.5\n\
         inf = -inf\n",
    );
    assert_eq!(m.get("s"), Some(&Value::str("x")));
    assert_eq!(m.get("i"), Some(&Value::Int(-42)));
    assert_eq!(m.get("f"), Some(&Value::Float(1.5)));
    assert_eq!(m.get("b"), Some(&Value::Bool(true)));
    let Some(Value::Time(t)) = m.get("odt") else {
        panic!("odt is not a timestamp")
    };
    assert_eq!(t.to_rfc3339_nano(), "1979-05-27T07:32:00.999-08:00");
    let Some(Value::Time(z)) = m.get("z") else {
        panic!("z is not a timestamp")
    };
    assert_eq!(z.to_rfc3339_nano(), "2024-01-01T00:00:00Z");
    // Local date-times, dates and times keep their original text as strings.
    assert_eq!(m.get("ldt"), Some(&Value::str("1979-05-27T07:32:00")));
    assert_eq!(m.get("ld"), Some(&Value::str("1979-05-27")));
    assert_eq!(m.get("lt"), Some(&Value::str("07:32:00.5")));
    assert_eq!(m.get("inf"), Some(&Value::Float(f64::NEG_INFINITY)));
}

#[test]
fn toml_tables_follow_document_order_and_attach_dotted_and_late_headers() {
    let m = root("z = 1\na.b = 2\ny = 3\n[t]\nk = 1\n[u]\nk = 2\n[t.sub]\nw = 4\n[v.w.x]\nq = 5\n");
    assert_eq!(keys(&m), ["z", "a", "y", "t", "u", "v"]);
    let t = m.get("t").and_then(Value::as_map).expect("t");
    assert_eq!(keys(t), ["k", "sub"]);
    let a = m.get("a").and_then(Value::as_map).expect("a");
    assert_eq!(a.get("b"), Some(&Value::Int(2)));
    let text = assert_round_trip(
        "z = 1\na.b = 2\ny = 3\n[t]\nk = 1\n[u]\nk = 2\n[t.sub]\nw = 4\n[v.w.x]\nq = 5\n",
    );
    // The map that precedes a plain value stays in the body as dotted keys; the
    // late `[t.sub]` header moves under `[t]`; `[v]` and `[v.w]` stay implicit.
    assert_eq!(
        text,
        "z = 1\na.b = 2\ny = 3\n\n[t]\nk = 1\n\n[t.sub]\nw = 4\n\n[u]\nk = 2\n\n[v.w.x]\nq = 5\n"
    );
}

#[test]
fn toml_arrays_of_tables_and_inline_tables_become_lists_and_maps() {
    let m = root(
        "pts = [{x = 1}, {x = 2, y = [1, 2]}]\n[[srv]]\nname = \"a\"\n[[srv]]\nname = \"b\"\n[srv.tls]\non = true\n",
    );
    let Some(Value::Seq(pts)) = m.get("pts") else {
        panic!("pts")
    };
    assert_eq!(pts.len(), 2);
    let Some(Value::Seq(srv)) = m.get("srv") else {
        panic!("srv")
    };
    let SeqItem::Value(Value::Map(second)) = &srv[1] else {
        panic!("srv[1]")
    };
    assert_eq!(keys(second), ["name", "tls"]);
    let text = assert_round_trip(
        "pts = [{x = 1}, {x = 2, y = [1, 2]}]\n[[srv]]\nname = \"a\"\n[[srv]]\nname = \"b\"\n[srv.tls]\non = true\n",
    );
    assert_eq!(
        text,
        "[[pts]]\nx = 1\n\n[[pts]]\nx = 2\ny = [1, 2]\n\n[[srv]]\nname = \"a\"\n\n[[srv]]\nname = \"b\"\n\n[srv.tls]\non = true\n"
    );
}

pub(super) const COMMENTED: &str = "\
# head of file
title = \"x\" # on title
# before dotted
a.b = 1
list = [
    1, # on one
    # own line
    2,
    # at end
]

# before table
[t] # on header
k = 1

# before first element
[[srv]]
n = 1

# before second element
[[srv]] # on second header
n = 2
# end of file
";

#[test]
fn toml_comments_become_markers_in_place() {
    let m = root(COMMENTED);
    assert_eq!(
        m.0[..3],
        [
            line(" head of file"),
            inline(" on title"),
            entry("title", Value::str("x")),
        ]
    );
    // The comment above `a.b` belongs to the dotted table `a`.
    let a = m.get("a").and_then(Value::as_map).expect("a");
    assert_eq!(a.0, [line(" before dotted"), entry("b", Value::Int(1))]);
    let Some(Value::Seq(list)) = m.get("list") else {
        panic!("list")
    };
    assert_eq!(
        list[..],
        [
            SeqItem::Comment(Comment {
                text: Text::from(" on one"),
                inline: true
            }),
            SeqItem::Value(Value::Int(1)),
            SeqItem::Comment(Comment::line(" own line")),
            SeqItem::Value(Value::Int(2)),
            SeqItem::Comment(Comment::line(" at end")),
        ]
    );
    let pos_t =
        m.0.iter()
            .position(|i| matches!(i, Item::Entry(k, _) if k == "t"))
            .expect("t");
    assert_eq!(m.0[pos_t - 2], line(" before table"));
    assert_eq!(m.0[pos_t - 1], inline(" on header"));
    // Comments above the first `[[srv]]` belong to the root; above later ones, to the list.
    assert_eq!(m.0[pos_t + 1], line(" before first element"));
    let Some(Value::Seq(srv)) = m.get("srv") else {
        panic!("srv")
    };
    assert_eq!(
        srv[1],
        SeqItem::Comment(Comment::line(" before second element"))
    );
    assert!(matches!(&srv[2], SeqItem::Comment(c) if c.inline));
    assert_eq!(m.0.last(), Some(&line(" end of file")));
    // The emitter writes them back where they were.
    assert_eq!(assert_round_trip(COMMENTED), COMMENTED);
}

#[test]
fn toml_sops_table_is_split_off_as_metadata() {
    let src = "\
secret = \"ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]\"
# kept
[sops]
lastmodified = \"2024-01-01T00:00:00Z\"
mac = \"ENC[x]\"
unencrypted_suffix = \"_unencrypted\"
when = 2024-01-01T00:00:00Z

[[sops.age]]
recipient = \"age1x\"
enc = \"\"\"
-----BEGIN AGE ENCRYPTED FILE-----
YWJj
-----END AGE ENCRYPTED FILE-----
\"\"\"
";
    let l = load(src);
    let m = &l.doc.branches[0];
    assert_eq!(keys(m), ["secret"]);
    assert_eq!(m.0.last(), Some(&line(" kept")));
    let meta = l.meta.expect("meta");
    assert_eq!(
        meta.get("lastmodified"),
        Some(&Value::str("2024-01-01T00:00:00Z"))
    );
    // Date-times in the metadata stay text.
    assert_eq!(meta.get("when"), Some(&Value::str("2024-01-01T00:00:00Z")));
    let Some(Value::Seq(age)) = meta.get("age") else {
        panic!("age")
    };
    let SeqItem::Value(Value::Map(k)) = &age[0] else {
        panic!("age[0]")
    };
    assert_eq!(k.get("recipient"), Some(&Value::str("age1x")));
    assert_eq!(
        k.get("enc").and_then(Value::as_str),
        Some("-----BEGIN AGE ENCRYPTED FILE-----\nYWJj\n-----END AGE ENCRYPTED FILE-----\n")
    );
    // Metadata date-times come back as strings; everything else is written as it was.
    assert_eq!(
        assert_round_trip(src),
        src.replace(
            "when = 2024-01-01T00:00:00Z",
            "when = \"2024-01-01T00:00:00Z\""
        )
        .replace("\n# kept", "\n\n# kept")
    );
}

#[test]
fn toml_emit_writes_metadata_the_way_rops_reads_it() {
    let mut data = Map::new();
    data.push("secret", Value::str("ENC[…]"));
    data.push_comment(Comment::line(" last"));
    let mut age = Map::new();
    age.push(
        "enc",
        Value::str("-----BEGIN AGE ENCRYPTED FILE-----\nYWJj\n-----END AGE ENCRYPTED FILE-----\n"),
    );
    age.push("recipient", Value::str("age1x"));
    let mut meta = Map::new();
    // sops ≥3.13 order: key lists first; the emitter puts plain values first.
    meta.push("age", Value::Seq(vec![SeqItem::Value(Value::Map(age))]));
    meta.push("lastmodified", Value::str("2024-01-01T00:00:00Z"));
    meta.push("mac", Value::str("ENC[mac]"));
    meta.push("unencrypted_suffix", Value::str("_unencrypted"));
    meta.push("version", Value::str("3.13.2"));
    let text = emit(&Document::single(data), Some(&meta));
    assert_eq!(
        text,
        "\
secret = \"ENC[…]\"

# last
[sops]
lastmodified = \"2024-01-01T00:00:00Z\"
mac = \"ENC[mac]\"
unencrypted_suffix = \"_unencrypted\"
version = \"3.13.2\"

[[sops.age]]
enc = \"\"\"
-----BEGIN AGE ENCRYPTED FILE-----
YWJj
-----END AGE ENCRYPTED FILE-----
\"\"\"
recipient = \"age1x\"
"
    );
    assert!(sniff(text.as_bytes()));
}

#[test]
fn toml_emit_rejects_what_toml_cannot_hold() {
    let cases = [
        Value::Null,
        Value::Bytes(crate::tree::Bytes::new(vec![0xff])),
    ];
    for v in cases {
        let mut m = Map::new();
        m.push("k", v);
        assert!(
            TomlStore
                .emit(&Document::single(m), None, &EmitOptions::default())
                .is_err()
        );
    }
    let mut dup = Map::new();
    dup.push("k", Value::Int(1));
    dup.push("k", Value::Int(2));
    assert!(
        TomlStore
            .emit(&Document::single(dup), None, &EmitOptions::default())
            .is_err()
    );
    let mut with_sops = Map::new();
    with_sops.push("sops", Value::Int(1));
    assert!(
        TomlStore
            .emit(
                &Document::single(with_sops),
                Some(&Map::new()),
                &EmitOptions::default()
            )
            .is_err()
    );
    let mut bad_comment = Map::new();
    bad_comment.push_comment(Comment::line("two\nlines"));
    bad_comment.push("k", Value::Int(1));
    assert!(
        TomlStore
            .emit(
                &Document::single(bad_comment),
                None,
                &EmitOptions::default()
            )
            .is_err()
    );
}

#[test]
fn toml_errors_give_a_position_and_no_document_text() {
    let e = TomlStore
        .load(b"ok = 1\npassword = \"hunter2\nnext = 2\n")
        .expect_err("unterminated string");
    assert_eq!(e.position.map(|p| p.0), Some(2));
    assert!(!e.to_string().contains("hunter2"));
    let e = TomlStore
        .load(b"hunter2 = 1\nhunter2 = 2\n")
        .expect_err("duplicate key");
    assert_eq!(e.position, Some((2, 1)));
    assert!(!e.to_string().contains("hunter2"));
    let e = TomlStore.load(b"a = \"\xff\"\n").expect_err("not utf-8");
    assert_eq!(e.position, Some((1, 6)));
    let e = TomlStore.load(b"sops = 1\n").expect_err("sops not a table");
    assert!(e.position.is_none());
}

#[test]
fn toml_sniff_detects_a_sops_table_only_in_toml() {
    assert!(sniff(b"a = 1\n[sops]\nmac = \"x\"\n"));
    assert!(sniff(b"sops = { mac = \"x\" }\n"));
    assert!(!sniff(b"a = 1\n[other]\nsops = 1\n"));
    assert!(!sniff(b"sops = 1\n"));
    // sops's binary envelope is JSON, not TOML.
    assert!(!sniff(b"{\n\t\"data\": \"ENC[...]\",\n\t\"sops\": {}\n}\n"));
    assert!(!sniff(b"\xff\xfe"));
    assert!(!sniff(b""));
}

#[test]
fn toml_emit_value_renders_single_values() {
    let ev = |v: &Value| {
        String::from_utf8(
            TomlStore
                .emit_value(v, &EmitOptions::default())
                .expect("emit_value")
                .to_vec(),
        )
        .expect("utf8")
    };
    assert_eq!(ev(&Value::Int(5)), "5\n");
    assert_eq!(ev(&Value::Bool(false)), "false\n");
    assert_eq!(ev(&Value::str("a\"b")), "'a\"b'\n");
    assert_eq!(
        ev(&Value::Seq(vec![
            SeqItem::Value(Value::Int(1)),
            SeqItem::Value(Value::Int(2))
        ])),
        "[1, 2]\n"
    );
    let mut m = Map::new();
    m.push("k", Value::Float(2.5));
    assert_eq!(ev(&Value::Map(m)), "k = 2.5\n");
    assert!(
        TomlStore
            .emit_value(&Value::Null, &EmitOptions::default())
            .is_err()
    );
}

#[test]
fn toml_round_trips_varied_documents() {
    for src in [
        "",
        "# only a comment\n",
        "a = 1\n",
        "[a]\n",
        "a = {}\nb = []\nc = [[], [{}]]\n",
        "x.y.z = 1\nx.y.w = \"s\"\nq = 2\n",
        "\"quoted key\" = 1\n'lit' = 2\n\"\" = 3\n\"a.b\" = { \"c d\" = 4 }\n",
        "[[a]]\n[[a]]\nx = 1\n[[a.b]]\ny = 2\n[[a.b]]\ny = 3\n",
        "s = '''\nraw \\ text\n'''\nt = \"\"\"\nbasic \\\"q\\\"\n\"\"\"\nu = \"tab\\there\\u0001\"\n",
        "d = 1979-05-27T00:32:00.999999999+07:00\ne = 1979-05-27 07:32:00Z\nf = 07:32\n",
        "neg = -0.0\nbig = 1e300\nhex = 0xff\ninf = +inf\n",
        "[a.b]\nx = 1\n[a]\ny = 2\n",
        "[t]\nk = 1 # c\n# d\n[t.u] # e\n",
        "a = [ # first\n  1,\n]\n",
        "m = { a = 1, b = { c = [1, { d = 2 }] } }\nz = 0\n",
    ] {
        assert_round_trip(src);
    }
}

#[test]
fn toml_comments_inside_inline_tables_round_trip_as_toml_1_1() {
    let src = "m = {\n    # c1\n    a = 1, # on a\n    b = 2,\n    # c2\n}\n";
    let m = root(src);
    let Some(Value::Map(inner)) = m.get("m") else {
        panic!("m")
    };
    assert_eq!(
        inner.0,
        [
            line(" c1"),
            inline(" on a"),
            entry("a", Value::Int(1)),
            entry("b", Value::Int(2)),
            line(" c2"),
        ]
    );
    assert_round_trip(src);
}

#[test]
fn toml_deep_nesting_is_an_error_not_a_crash() {
    let deep_key = format!("{} = 1\n", vec!["a"; 5000].join("."));
    assert!(TomlStore.load(deep_key.as_bytes()).is_err());
    let deep_arr = format!("a = {}{}\n", "[".repeat(5000), "]".repeat(5000));
    assert!(TomlStore.load(deep_arr.as_bytes()).is_err());
    let deep_inline = format!("a = {}{}\n", "{b = ".repeat(5000), "}".repeat(5000));
    assert!(TomlStore.load(deep_inline.as_bytes()).is_err());
    // A deep tree from another format is refused on emit rather than written unreadable.
    let mut v = Value::Int(1);
    for _ in 0..200 {
        let mut m = Map::new();
        m.push("a", v);
        v = Value::Map(m);
    }
    let Value::Map(m) = v else { unreachable!() };
    assert!(
        TomlStore
            .emit(&Document::single(m), None, &EmitOptions::default())
            .is_err()
    );
}

/// Round 23 (found by `toml_proptest_mutated_toml_never_panics`): an array element with
/// its own comment (`1#`) followed by a comma and a second comment on the next line.
/// Both comments were read as inline markers of `1`; the writer keeps one at the end of
/// an element's line, so the first one came back as a full-line comment above `1` and
/// the tree changed on every write. The second one is now a full-line comment after `1`.
#[test]
fn toml_array_element_comment_before_a_comma_on_the_next_line_keeps_its_place() {
    let src = "list = [\n    1#\n, # on one\n]\n";
    let m = root(src);
    let Some(Value::Seq(list)) = m.get("list") else {
        panic!("list")
    };
    assert_eq!(
        list[..],
        [
            SeqItem::Comment(Comment {
                text: Text::from(""),
                inline: true
            }),
            SeqItem::Value(Value::Int(1)),
            SeqItem::Comment(Comment::line(" on one")),
        ]
    );
    let text = assert_round_trip(src);
    assert_eq!(text, "list = [\n    1, #\n    # on one\n]\n");
    // The same shape inside an inline table (TOML 1.1 line breaks between braces).
    let src = "t = {\n    a = 1 # x\n, # y\n}\n";
    let m = root(src);
    let Some(Value::Map(t)) = m.get("t") else {
        panic!("t")
    };
    assert_eq!(t.0, [inline(" x"), entry("a", Value::Int(1)), line(" y")]);
    assert_round_trip(src);
}

#[test]
fn toml_structure_count_skips_strings_and_comments() {
    let text = "a = 1 # x = [ , {\n\
                b = \"=[{,\\\"=\"\n\
                c = 'x=[{,'\n\
                d = \"\"\"\n= [ \"\" ,\n\"\"\"\n\
                e = '''\n,{\n'''\n\
                [t]\n\
                [[u]]\n\
                f = [1, 2]\n\
                g = { h = 1 }\n";
    // Five keys, `[t]`, `[[u]]` (two), `f = [1, 2]` (three), `g = { h = 1 }` (three).
    assert_eq!(super::budget::structure_count(text, usize::MAX), 14);
    assert_eq!(super::budget::structure_count(text, 4), 4, "stops early");
    // The metadata that encryption adds is not counted; data after it is.
    let with_sops = "a = [1, 2]\n[sops]\nversion = \"3.11.0\"\n[[sops.age]]\n\
                     recipient = \"x\"\n[ b ]\nc = 1\n";
    assert_eq!(super::budget::structure_count(with_sops, usize::MAX), 5);
    assert!(TomlStore.load(text.as_bytes()).is_ok());
}

#[test]
fn toml_beyond_the_structure_budget_is_refused_before_parsing() {
    let max = super::budget::MAX_STRUCTURE;
    // `a = [` counts two, then one per comma.
    let at_limit = format!("a = [{}1]\n", "1,".repeat(max - 2));
    let tree = root(&at_limit);
    let Some(Value::Seq(items)) = tree.get("a") else {
        panic!("a list")
    };
    assert_eq!(items.len(), max - 1);
    let over = format!("a = [{}1]\n", "1,".repeat(max - 1));
    let e = TomlStore.load(over.as_bytes()).unwrap_err();
    assert!(e.message.contains("more than 100000 keys, tables"), "{e}");
    // A `.toml` file over the budget is still taken for an encrypted TOML file when it
    // has a `[sops]` table (so that reading it says why it is refused), else not.
    let encrypted_looking = format!("{over}[sops]\nversion = \"3.11.0\"\n");
    assert!(sniff(encrypted_looking.as_bytes()));
    assert!(!sniff(over.as_bytes()));
    // Structure put in the sops table is bounded too.
    let hidden = format!("[sops.x]\n{}", "[[sops.t]]\n".repeat(max / 2 + 1));
    assert_eq!(super::budget::structure_count(&hidden, usize::MAX), 0);
    let e = TomlStore.load(hidden.as_bytes()).unwrap_err();
    assert!(e.message.contains("more than 100000 keys, tables"), "{e}");
}

#[test]
fn toml_an_encrypted_file_beyond_the_budget_is_not_written() {
    let max = super::budget::MAX_STRUCTURE;
    let mut data = Map::new();
    for i in 0..max {
        data.push(format!("k{i}"), Value::Int(1));
    }
    let mut meta = Map::new();
    meta.push("version", Value::str("3.11.0"));
    let doc = Document::single(data);
    // At the budget: written, and read back (the sops table is not counted).
    let written = TomlStore
        .emit(&doc, Some(&meta), &EmitOptions::default())
        .expect("at the budget");
    assert!(TomlStore.load(&written).is_ok());
    let mut data = doc.branches.into_iter().next().expect("one branch");
    data.push("one_more", Value::Int(1));
    let e = TomlStore
        .emit(
            &Document::single(data.clone()),
            Some(&meta),
            &EmitOptions::default(),
        )
        .unwrap_err();
    assert!(e.message.contains("would hold more than 100000"), "{e}");
    // Plaintext output is not refused (it is not read back).
    assert!(
        TomlStore
            .emit(&Document::single(data), None, &EmitOptions::default())
            .is_ok()
    );
}
