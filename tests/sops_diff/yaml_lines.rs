//! YAML that go-yaml (sops) writes across lines without a literal block: explicit `? `
//! keys (longer than 128 bytes, or holding a line break) and strings holding U+2028 or
//! U+2029, which YAML 1.1 counts as line breaks. Before round 16 leafseal wrote long keys
//! as plain keys, wrote the separators without sops's indentation, and could not decrypt
//! a sops file whose key held one (it read the indentation as part of the key).

use crate::formats::cross_case;
use crate::harness::Peer;
use crate::harness::Tool;
use crate::harness::assert_no_differences;
use crate::support::AGE_RECIPIENT;

/// Every string of one to three characters from `x`, a space, a quote, a tab, U+2028,
/// U+2029 and U+0085 that holds at least one of the last three.
fn separated_strings() -> Vec<String> {
    let alpha = ['x', ' ', '\'', '\t', '\u{2028}', '\u{2029}', '\u{85}'];
    let mut out = Vec::new();
    let mut push = |s: String| {
        if s.contains(['\u{2028}', '\u{2029}', '\u{85}']) {
            out.push(s);
        }
    };
    for a in alpha {
        push(a.to_string());
        for b in alpha {
            push(format!("{a}{b}"));
            for c in alpha {
                push(format!("{a}{b}{c}"));
            }
        }
    }
    out
}

/// JSON's escapes are YAML double-quoted escapes.
fn dq(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if c.is_ascii_graphic() || c == ' ' => o.push(c),
            c => o.push_str(&format!("\\u{:04x}", c as u32)),
        }
    }
    o.push('"');
    o
}

/// The strings as values in each place go-yaml indents differently (top level, nested
/// map, list item, list of lists, map in a list, explicit key) and as keys.
fn separators_document() -> String {
    let vals = separated_strings();
    let mut d = String::new();
    for (i, v) in vals.iter().enumerate() {
        d.push_str(&format!("k{i}: {}\n", dq(v)));
    }
    d.push_str("n:\n    m:\n");
    for (i, v) in vals.iter().enumerate() {
        d.push_str(&format!("        k{i}: {}\n", dq(v)));
    }
    d.push_str("l:\n");
    for v in &vals {
        d.push_str(&format!("    - {}\n    - - {}\n", dq(v), dq(v)));
    }
    d.push_str("lm:\n");
    for v in &vals {
        d.push_str(&format!("    - a: {}\n      b: 1\n", dq(v)));
    }
    d.push_str("keys:\n");
    for (i, v) in vals.iter().enumerate() {
        d.push_str(&format!("    {}: {}\n", dq(&format!("{v}{i}")), dq(v)));
    }
    d
}

#[test]
fn line_separators_and_explicit_keys_are_written_and_read_as_sops_does() {
    let Some(p) = Peer::new(None) else { return };
    let long = |c: &str, n: usize| c.repeat(n);
    let keys = format!(
        "{k129}: 1\n{k128}: 2\na:\n    {q200}:\n        - x\n        - {r140}: {{}}\n          z: []\n    \
         {p130}: |\n        multi\n        line\n    # comment\n    {e65}: 2\n    {e64}: 3\n    \
         {d130}: 4\n    \"a\\nb\": 5\n    \"c\\rd\": 6\n    ? {s2000}\n    : 7\n    \"x\\n\":\n        deep: 8\n    \
         {t129}: # c\n        - 9\nsep: \"x\\u2028y\"\n? \"k\\u2028y\"\n:   m: \"n\\u2029o\"\n",
        k129 = long("k", 129),
        k128 = long("k", 128),
        q200 = long("q", 200),
        r140 = long("r", 140),
        p130 = long("p", 130),
        e65 = long("é", 65),
        e64 = long("é", 64),
        d130 = dq(&long("1", 130)),
        s2000 = long("s", 2000),
        t129 = long("t", 129),
    );
    let mut diffs = Vec::new();
    let mut cases = 0;
    for (name, text) in [
        ("keys.yaml", keys),
        ("separators.yaml", separators_document()),
    ] {
        p.write(name, &text);
        cases += 1;
        // Both encrypt; all four decrypts byte-identical; same encrypted layout.
        if let Err(e) = cross_case(&p, name, None, name) {
            diffs.push(e);
        }
        // sops's rendering of the decrypted file is read by leafseal as sops reads it.
        let enc = p.ok(Tool::Sops, &["encrypt", "--age", AGE_RECIPIENT, name]);
        p.write("sops-enc.yaml", &enc);
        let rendering = p.ok(Tool::Sops, &["decrypt", "sops-enc.yaml"]);
        p.write("rendering.yaml", &rendering);
        let json = |tool: Tool| {
            let enc = p.ok(tool, &["encrypt", "--age", AGE_RECIPIENT, "rendering.yaml"]);
            p.write("again.yaml", &enc);
            p.ok(tool, &["decrypt", "--output-type", "json", "again.yaml"])
        };
        cases += 1;
        let (s, l) = (json(Tool::Sops), json(Tool::Leafseal));
        if s != l {
            diffs.push(format!(
                "{name}: leafseal reads sops's rendering differently\n--- leafseal\n{}\n--- sops\n{}",
                String::from_utf8_lossy(&l),
                String::from_utf8_lossy(&s)
            ));
        }
    }
    assert_no_differences("explicit keys and line separators", cases, &diffs);
}

/// Where go-yaml and a YAML 1.2 reader would read different documents (a separator
/// outside quotes), leafseal refuses the file instead of guessing. What sops reads
/// instead (measured): the plain scalar folded (a YAML 1.2 reader keeps the spaces), a
/// key hidden from YAML 1.2 in a comment, or an error.
#[test]
fn a_separator_outside_quotes_is_refused_with_a_position() {
    let Some(p) = Peer::new(None) else { return };
    for (i, (text, sops_reads)) in [
        ("a: x\u{2028}    y\n", Some(r#""a": "x\u2028y""#)),
        ("a: 1 # note\u{2028}b: 2\n", Some(r#""b": 2"#)),
        ("a: |\n    x\u{2029}y\n", None),
        ("? x\u{85}y\n: 1\n", None),
    ]
    .iter()
    .enumerate()
    {
        let name = format!("raw{i}.yaml");
        p.write(&name, text);
        let l = p.run(
            Tool::Leafseal,
            &["encrypt", "--age", AGE_RECIPIENT, name.as_str()],
        );
        assert!(!l.ok(), "{text:?}: leafseal encrypted it");
        assert!(l.stdout.is_empty(), "{text:?}: output on refusal");
        assert!(
            l.stderr.contains("outside quotes") && l.stderr.contains("(line "),
            "{text:?}: {}",
            l.stderr
        );
        let s = p.run(
            Tool::Sops,
            &["encrypt", "--age", AGE_RECIPIENT, name.as_str()],
        );
        match sops_reads {
            None => assert!(!s.ok(), "{text:?}: sops now reads it"),
            Some(want) => {
                p.write("s.yaml", &s.stdout);
                let j = p.ok(Tool::Sops, &["decrypt", "--output-type", "json", "s.yaml"]);
                let j = String::from_utf8_lossy(&j);
                assert!(j.contains(want), "{text:?}: sops read {j}");
            }
        }
    }
}

/// go-yaml attaches a comment left of the innermost collection that just ended (but
/// right of the next key) to that collection; sops then writes it there, and cannot
/// decrypt it elsewhere: before round 16 a leafseal-written file showed such a comment
/// as `#ENC[…]` in `sops decrypt`. Also a block scalar that ends the file without a line
/// break (leafseal encrypted one byte more than sops).
#[test]
fn foot_comments_and_unterminated_blocks_are_read_and_written_as_sops_does() {
    let Some(p) = Peer::new(None) else { return };
    let docs = [
        "a:\n    b:\n        c: 1\n    # F4\nd: 2\n",
        "a:\n    b:\n        c:\n            x: 1\n    # F4\nd: 2\n",
        "a:\n    b:\n        c:\n            x: 1\n  # F2\nd: 2\n",
        "a:\n    b:\n        c:\n            x: 1\n    # F4\n# F0\nd: 2\n",
        "a:\n    b:\n        c: 1\n    # F4\n        # G8\nd: 2\n",
        "a:\n    b:\n        c: 1\n        # F8\n    # F4\nd: 2\n",
        "a:\n    b:\n        c: 1\n    # M4\n    e: 2\n",
        "a:\n    - b: 1\n    # F4\nd: 2\n",
        "a:\n    b:\n        - 1\n    # F4\nd: 2\n",
        "a:\n    b: x\n  # c\nd: y\n",
        "a:\n    b: [1, 2]\n    c: &x 1\n  # F2\nd: *x\n",
        "cert: |\n  line1\n  line2",
        "cert: >\n  line1\n  line2",
        "c:\n |\n 本",
    ];
    let mut diffs = Vec::new();
    for (i, text) in docs.iter().enumerate() {
        let name = format!("c{i}.yaml");
        p.write(&name, text);
        if let Err(e) = cross_case(&p, &name, None, &name) {
            diffs.push(e);
        }
    }
    assert_no_differences("foot comments and unterminated blocks", docs.len(), &diffs);
}
