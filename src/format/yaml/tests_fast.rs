//! Differential tests: the fast reader and the full (granit) reader build identical
//! trees, or the fast reader declines.
#![allow(clippy::disallowed_macros)] // test output

use std::fmt::Write as _;
use std::path::Path;
use std::path::PathBuf;

use proptest::prelude::*;

use super::tests_prop::arb_value;
use super::*;
use crate::tree::Item;
use crate::tree::SeqItem;

/// `PROPTEST_CASES` when set, else `n`.
fn cases(n: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(n)
}

/// A full, unredacted rendering of a tree (tests only), floats by bit pattern.
fn dump(docs: &[Map]) -> String {
    fn value(v: &Value, d: usize, o: &mut String) {
        let pad = "  ".repeat(d);
        match v {
            Value::Map(m) => {
                let _ = writeln!(o, "{pad}map");
                map(m, d + 1, o);
            }
            Value::Seq(s) => {
                let _ = writeln!(o, "{pad}seq");
                for i in s {
                    match i {
                        SeqItem::Value(v) => value(v, d + 1, o),
                        SeqItem::Comment(c) => {
                            let _ = writeln!(o, "{pad}  #{}{:?}", c.inline, c.text.as_str());
                        }
                    }
                }
            }
            Value::Str(s) => {
                let _ = writeln!(o, "{pad}str {:?}", s.as_str());
            }
            Value::Bytes(b) => {
                let _ = writeln!(o, "{pad}bytes {:?}", b.as_slice());
            }
            Value::Float(f) => {
                let _ = writeln!(o, "{pad}float {:x}", f.to_bits());
            }
            Value::Time(t) => {
                let _ = writeln!(o, "{pad}time {}", t.to_rfc3339_nano());
            }
            Value::Int(i) => {
                let _ = writeln!(o, "{pad}int {i}");
            }
            Value::Bool(b) => {
                let _ = writeln!(o, "{pad}bool {b}");
            }
            Value::Null => {
                let _ = writeln!(o, "{pad}null");
            }
        }
    }
    fn map(m: &Map, d: usize, o: &mut String) {
        let pad = "  ".repeat(d);
        for i in &m.0 {
            match i {
                Item::Entry(k, v) => {
                    let _ = writeln!(o, "{pad}key {k:?}");
                    value(v, d + 1, o);
                }
                Item::Comment(c) => {
                    let _ = writeln!(o, "{pad}#{}{:?}", c.inline, c.text.as_str());
                }
            }
        }
    }
    let mut o = String::new();
    for (i, m) in docs.iter().enumerate() {
        let _ = writeln!(o, "--- doc {i}");
        map(m, 0, &mut o);
    }
    o
}

/// Runs both readers on `input` and panics if the fast reader accepted it but the trees
/// differ (or the full reader rejects it). Returns whether the fast reader accepted.
pub(super) fn agree(input: &str) -> bool {
    let Some(fast) = fast::parse(input.as_bytes()) else {
        return false;
    };
    let full = match parse::parse(input) {
        Ok(f) => f,
        Err(e) => panic!("fast reader accepted what the full reader rejects ({e}):\n{input}"),
    };
    let (a, b) = (dump(&fast), dump(&full));
    assert!(
        a == b,
        "trees differ for:\n{input}\n({input:?})\n--- fast:\n{a}\n--- full:\n{b}"
    );
    true
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p
            .extension()
            .is_some_and(|x| x == "yaml" || x == "yml" || x == "decrypted")
        {
            out.push(p);
        }
    }
}

#[test]
fn fixtures_agree_and_take_the_fast_path() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut files = Vec::new();
    yaml_files(&root, &mut files);
    assert!(files.len() >= 10, "{files:?}");
    let mut fast = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).expect("test setup");
        if agree(&text) {
            fast += 1;
        } else {
            eprintln!("fast path declined {}", f.display());
        }
    }
    // Every sops-written YAML fixture is in the subset.
    for name in [
        "sops/yaml/comments.enc.yaml",
        "sops/yaml/example.age.v3.7.1.yaml",
        "sops/yaml/example.v3.10.2.yaml",
        "sops/yaml/format.enc.yaml",
        "sops/yaml/multiple_keys.yaml",
        "sops/yaml/no_mac.yaml",
        "sops/plain/comments.yaml",
        "sops/plain/comments_list.yaml",
        "sops/plain/plainfile.yaml",
    ] {
        let text = std::fs::read_to_string(root.join(name)).expect("test setup");
        assert!(fast::parse(text.as_bytes()).is_some(), "{name} declined");
    }
    assert!(fast >= 9, "{fast}");
}

/// Hand-picked inputs at the subset's edges: accepted ones must agree, and the listed
/// out-of-subset ones must be declined.
#[test]
fn edge_inputs() {
    let accepted = [
        "a: 1 # r1\n# c\nb:\n  c: x  # r2\n  # foot\n  d:\n  - 1\n  - x: y\n    z: w # r3\n  # after\ne: |  # hdr\n  lit\n  more\n\n# trailing\nf: {}\ng: [] # c\n---\nh: 'q' # r\n",
        "a: # c1\nb:\n  # c2\n  x: 1\nc:\n- k: v\n- y # c5\nd:   # c6\n  - 1\ne: |\n    four\n      six\n  # cx\n    # cy\nf: |-\n  s\n\ng: |+\n  k\n\n\n# end\nh: \"a\\u00e9\\x41\\\"\" # c7\n",
        "a:\n# c\nb: 1\nd: # r\n  # e\nf:\n  # g\n- 1\nh:\n  # i\n",
        "x: 1\n  # c0\n# c1\n---\n# c2\ny:\n  - a\n    # c3\n  # c4\n  - b\n# c5\nz: {} # c6\n",
        "a:\n# k0\n- n: 1\n  # k1\n  m:\n  - x\n  # k2\n- \"q\"\nb:\n-   |\n    t\nc:\n-    z\n",
        "a: |2\n   x\nb:\n- |1\n   y\nc:\n  - |2\n     z\nd:\n  - k: |1\n      w\n",
        "'k''x': 'it''s'\n\"q k\" : v\nurl: http://x:80/a#b\nn: -1\nm: a#b\n",
        "---\na: 1\n",
        "a: 1",
        "a: b\n\n\n",
        "t: 2024-01-01\nf: 1.5\ni: 0x1F\nb: yes\nn: ~\ne: ''\nu: ünï 😀\n",
    ];
    for a in accepted {
        assert!(agree(a), "declined:\n{a}");
    }
    let declined = [
        "a: [1, 2]\n",
        "a: {b: 1}\n",
        "a: &x 1\nb: *x\n",
        "a: !!str 1\n",
        "a: >\n  folded\n",
        "a: multi\n  line\n",
        "a: 'multi\n  line'\n",
        "? a\n: b\n",
        "%YAML 1.2\n---\na: 1\n",
        "a: 1\n...\n",
        "a:\n\tb: 1\n",
        "\u{feff}a: 1\n",
        "a: 1\na: 2\n",
        "- a\n",
        "a: 1\n b: 2\n",
        "",
        "# only\n",
        "a: |\n  x",
        "a: \"\\q\"\n",
        "a: 1\r\n",
        "1: x\n",
    ];
    for d in declined {
        assert!(fast::parse(d.as_bytes()).is_none(), "accepted:\n{d}");
        let _ = parse::parse(d);
    }
}

/// Runs gen.py (the benchmark corpus generator) when it is available and checks every
/// YAML file it writes, plain and with every string leaf replaced by an `ENC[...]`-like
/// value, emitted at several indents.
#[test]
fn generated_corpus_agrees() {
    let gen_py = std::env::var("LEAFSEAL_BENCH_GEN")
        .unwrap_or_else(|_| "/work/shared/bench/gen.py".to_owned());
    if !Path::new(&gen_py).exists() {
        eprintln!("gen.py not found; skipping");
        return;
    }
    let dir = tempfile::tempdir().expect("test setup");
    let st = std::process::Command::new("python3")
        .arg(&gen_py)
        .args([
            "--out",
            dir.path().to_str().expect("test setup"),
            "--large-mb",
            "1",
        ])
        .args(["--gitops-files", "20"])
        .stdout(std::process::Stdio::null())
        .status();
    let Ok(st) = st else {
        eprintln!("python3 not runnable; skipping");
        return;
    };
    assert!(st.success());
    let mut files = Vec::new();
    yaml_files(dir.path(), &mut files);
    let mut accepted = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).expect("test setup");
        let name = f
            .file_name()
            .expect("test setup")
            .to_string_lossy()
            .into_owned();
        if agree(&text) {
            accepted += 1;
        } else {
            eprintln!("fast path declined {name}");
        }
        if matches!(name.as_str(), "large.yaml" | "typical.yaml") {
            assert!(fast::parse(text.as_bytes()).is_some(), "{name} declined");
        }
        let Ok(mut l) = YamlStore.load(text.as_bytes()) else {
            continue;
        };
        for b in &mut l.doc.branches {
            fake_encrypt_map(b);
        }
        for indent in [2, 4, 6] {
            let opts = EmitOptions {
                indent: Some(indent),
            };
            let out = YamlStore
                .emit(&l.doc, l.meta.as_ref(), &opts)
                .expect("test setup");
            let out = String::from_utf8(out.to_vec()).expect("test setup");
            assert!(agree(&out), "emitted {name} at {indent} declined");
        }
    }
    assert!(
        accepted * 10 >= files.len() * 9,
        "{accepted}/{}",
        files.len()
    );
}

fn fake_encrypt_map(m: &mut Map) {
    for i in &mut m.0 {
        match i {
            Item::Entry(_, v) => fake_encrypt(v),
            Item::Comment(c) => {
                c.text = format!("ENC[AES256_GCM,data:{},type:comment]", c.text.len()).into()
            }
        }
    }
}

fn fake_encrypt(v: &mut Value) {
    match v {
        Value::Map(m) => fake_encrypt_map(m),
        Value::Seq(s) => s.iter_mut().for_each(|i| match i {
            SeqItem::Value(v) => fake_encrypt(v),
            SeqItem::Comment(_) => {}
        }),
        Value::Null => {}
        other => {
            *other = Value::str(format!(
                "ENC[AES256_GCM,data:{}==,iv:aXY=,tag:dGFn,type:{}]",
                other.kind_name(),
                other.kind_name()
            ))
        }
    }
}

/// Compares both readers on the files named (colon-separated) in
/// `LEAFSEAL_YAML_DIFF_FILES`, e.g. a full-size encrypted corpus.
#[test]
#[ignore = "needs LEAFSEAL_YAML_DIFF_FILES"]
fn files_from_env_agree() {
    let list = std::env::var("LEAFSEAL_YAML_DIFF_FILES").unwrap_or_default();
    for f in list.split(':').filter(|s| !s.is_empty()) {
        let text = std::fs::read_to_string(f).expect("test setup");
        assert!(agree(&text), "{f} declined");
        eprintln!("{f}: fast path agrees");
    }
}

/// Line-level mutations of a document.
#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize),
    Duplicate(usize),
    Indent(usize, i8),
    Insert(usize, usize, char),
    Swap(usize, usize),
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    let ch = prop::sample::select(vec![
        '#', '\'', '"', ':', '-', '\t', ' ', '|', '{', '}', '[', ']', '&', '*', '!', '>', '?', '%',
        '\n', ',', '\\', '+', '2', 'x', '~',
    ]);
    prop_oneof![
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Duplicate),
        (any::<usize>(), -3i8..=3).prop_map(|(l, d)| Mutation::Indent(l, d)),
        (any::<usize>(), any::<usize>(), ch).prop_map(|(l, c, x)| Mutation::Insert(l, c, x)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Swap(a, b)),
    ]
}

fn mutate(text: &str, muts: &[Mutation]) -> String {
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    for m in muts {
        let n = lines.len();
        match *m {
            Mutation::Delete(l) if n > 1 => {
                lines.remove(l % n);
            }
            Mutation::Duplicate(l) => {
                let x = lines[l % n].clone();
                lines.insert(l % n, x);
            }
            Mutation::Indent(l, d) => {
                let s = &mut lines[l % n];
                if d > 0 {
                    s.insert_str(0, &" ".repeat(d as usize));
                } else {
                    let k = s.len() - s.trim_start_matches(' ').len();
                    s.drain(..k.min((-d) as usize));
                }
            }
            Mutation::Insert(l, c, x) => {
                let s = &mut lines[l % n];
                let mut at = c % (s.len() + 1);
                while !s.is_char_boundary(at) {
                    at -= 1;
                }
                s.insert(at, x);
            }
            Mutation::Swap(a, b) => lines.swap(a % n, b % n),
            Mutation::Delete(_) => {}
        }
    }
    lines.join("\n")
}

fn emitted(v: Value, indent: i64) -> Option<String> {
    let Value::Map(m) = v else { return None };
    let opts = EmitOptions {
        indent: Some(indent),
    };
    let out = YamlStore.emit(&Document::single(m), None, &opts).ok()?;
    String::from_utf8(out.to_vec()).ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(300)))]

    /// (a) random trees, emitted at every indent, read the same by both readers.
    #[test]
    fn prop_emitted_trees_agree(v in arb_value(), indent in 2i64..=6) {
        if let Some(text) = emitted(v, indent) {
            agree(&text);
        }
    }

    /// (b) YAML-ish text: mutated emitted documents agree or are declined.
    #[test]
    fn prop_mutated_documents_agree(
        v in arb_value(),
        indent in 2i64..=6,
        muts in prop::collection::vec(arb_mutation(), 1..4),
    ) {
        if let Some(text) = emitted(v, indent) {
            agree(&mutate(&text, &muts));
        }
    }

    /// (b') short strings over YAML's indicator alphabet.
    #[test]
    fn prop_yamlish_strings_agree(s in "[-:#&*!|>'\"{}\\[\\], ?a-c0-9\n~.\\\\]{0,80}") {
        agree(&s);
    }

    /// (c) arbitrary bytes never panic either reader.
    #[test]
    fn prop_arbitrary_bytes_agree(b in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = YamlStore.load(&b);
        if let Ok(s) = std::str::from_utf8(&b) {
            agree(s);
        } else {
            prop_assert!(fast::parse(&b).is_none());
        }
    }
}

/// Coverage of the differential property: most emitted random trees are read by the
/// fast path (so the agreement checks above are not vacuous).
#[test]
fn emitted_trees_mostly_take_the_fast_path() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strat = arb_value();
    let (mut total, mut fast) = (0, 0);
    for i in 0..600 {
        let v = strat.new_tree(&mut runner).expect("test setup").current();
        if let Some(text) = emitted(v, 2 + (i % 5)) {
            total += 1;
            if agree(&text) {
                fast += 1;
            } else if std::env::var_os("LEAFSEAL_FAST_DEBUG").is_some() && chars_ok_for_debug(&text)
            {
                eprintln!("{text}\n=====");
            }
        }
    }
    eprintln!("fast path read {fast} of {total} emitted documents");
    assert!(fast * 10 >= total * 6, "{fast}/{total}");
}

fn chars_ok_for_debug(s: &str) -> bool {
    super::fast_scalar::chars_ok(s.as_bytes())
}

/// The character check, one character at a time (the reference for the word-wise one).
fn chars_ok_slow(s: &str) -> bool {
    s.chars().all(|c| {
        let u = c as u32;
        c == '\n'
            || (0x20..0x7F).contains(&u)
            || (u >= 0xA0 && !matches!(u, 0x2028 | 0x2029 | 0xFEFF | 0xFFFE | 0xFFFF))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(2000)))]

    #[test]
    fn prop_char_check_matches_reference(
        s in "[ -~\n\t\r\u{7f}\u{80}-\u{a1}\u{2028}\u{2029}\u{feff}\u{fffe}\u{ffff}é😀]{0,40}"
    ) {
        let b = s.as_bytes();
        prop_assert_eq!(super::fast_scalar::chars_ok(b), chars_ok_slow(&s));
        let mut pos = 0;
        let mut lines_ok = true;
        while pos < b.len() {
            let (end, ok) = super::fast_scalar::scan_line(b, pos);
            if !ok {
                lines_ok = false;
                break;
            }
            prop_assert!(end == b.len() || b[end] == b'\n');
            pos = end + 1;
        }
        prop_assert_eq!(lines_ok, chars_ok_slow(&s));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(3000)))]

    /// The emitter's ASCII shortcut decides exactly like the general analysis.
    #[test]
    fn prop_ascii_analysis_matches(s in "[-:#?.'\" a-c{}\\[\\],&*!|>%@`]{0,10}") {
        if let Some(a) = super::emit::analyze_ascii(&s) {
            let b = super::resolve::analyze(&s);
            prop_assert_eq!(
                (a.plain_allowed, a.single_allowed, a.block_allowed),
                (b.plain_allowed, b.single_allowed, b.block_allowed)
            );
        }
    }
}

/// The whole input is checked as UTF-8 once and lines are taken as slices of it:
/// multi-byte characters on many lines (keys, values, comments, literal blocks) read as
/// the full reader reads them; a byte that is not UTF-8 on any line (also a late one, a
/// comment or a literal block) sends the input to the full reader.
#[test]
fn one_utf8_check_covers_every_line() {
    let text =
        "# ü\nkey_é: wert ü # 😀\nliste:\n- ñ\n- x: ÿ\nblock: |\n  zeile ä\n  😀\nende: ok\n";
    assert!(agree(text), "declined:\n{text}");
    assert!(fast::parse(text.as_bytes()).is_some());
    for bad in [
        &b"a: 1\nb: \xff\n"[..],
        b"a: 1\n# \xc3\n",
        b"a: |\n  ok\n  \xe2\x82\n",
        b"a: 1\nb: 2\nc: x\xf0\x9f\x98\n",
    ] {
        assert!(fast::parse(bad).is_none());
    }
}
