//! The translation checked against Go: each row is (pattern, text, what sops 3.11 (Go
//! 1.25 `regexp`) answers: `Some(matched)`, or `None` where it refuses the pattern). Every
//! row was run through the real sops binary (the pattern as a `.sops.yaml`
//! `unencrypted_regex` over a JSON key equal to the text, and as a `path_regex` for
//! whether sops accepts it).

use super::GoRegex;
use super::translate;

const GO_ANSWERS: &[(&str, &str, Option<bool>)] = &[
    (r#"^\w+$"#, "plain", Some(true)),
    (r#"^\w+$"#, "déjà", Some(false)),
    (r#"^\w+/"#, "données/x.yaml", Some(false)),
    (r#"^\w+/"#, "data/x.yaml", Some(true)),
    (r#"^\d$"#, "٣", Some(false)),
    (r#"^\d$"#, "3", Some(true)),
    (r#"^\s$"#, "\u{0b}", Some(false)),
    (r#"^\s$"#, "\u{0c}", Some(true)),
    (r#"^\s$"#, "\u{00a0}", Some(false)),
    (r#"a\bé"#, "aé", Some(true)),
    (r#"x\B"#, "x.", Some(false)),
    (r#"é\b"#, "é", Some(false)),
    (r#"^\W$"#, "é", Some(true)),
    (r#"^\D$"#, "٣", Some(true)),
    (r#"^\S$"#, "\u{00a0}", Some(true)),
    (r#"^[[:alpha:]]$"#, "é", Some(false)),
    (r#"^[[:alpha:]]$"#, "a", Some(true)),
    (r#"^[[:space:]]$"#, "\u{0b}", Some(true)),
    (r#"^[[:^alpha:]]$"#, "é", Some(true)),
    (r#"(?i)^k$"#, "\u{212a}", Some(true)),
    (r#"(?i)^[[:^upper:]]$"#, "a", Some(false)),
    (r#"(?i)^[[:^upper:]]$"#, "1", Some(true)),
    (r#"(?i)^\W$"#, "ſ", Some(false)),
    (r#"(?i)^\w$"#, "\u{212a}", Some(true)),
    (r#"^\W$"#, "\u{212a}", Some(true)),
    (r#"(?i)^[^a]$"#, "A", Some(false)),
    (r#"^[[a]]$"#, "a]", Some(true)),
    (r#"^[[a]]$"#, "a", Some(false)),
    (r#"^[a&&b]$"#, "&", Some(true)),
    (r#"^[a--b]$"#, "-", None),
    (r#"^[a~~b]$"#, "~", Some(true)),
    (r#"^[\d-z]$"#, "-", Some(true)),
    (r#"^[\d-z]$"#, "y", Some(false)),
    (r#"^[a-b-c]$"#, "-", Some(true)),
    (r#"^[]a]$"#, "]", Some(true)),
    (r#"^[^]a]$"#, "b", Some(true)),
    (r#"^\Qa.b\E$"#, "a.b", Some(true)),
    (r#"^\Qa.b\E$"#, "axb", Some(false)),
    (r#"^\Qa.b$"#, "a.b$", Some(true)),
    (r#"a\Q\E*$"#, "b", Some(true)),
    (r#"^\101$"#, "A", Some(true)),
    (r#"^a\0?$"#, "a", Some(true)),
    (r#"^a\12b$"#, "a\u{0a}b", Some(true)),
    (r#"^\1234$"#, "S4", Some(true)),
    (r#"^\x41$"#, "A", Some(true)),
    (r#"^\x{e9}$"#, "é", Some(true)),
    (r#"^\p{^L}$"#, "é", Some(false)),
    (r#"^\p{^L}$"#, "1", Some(true)),
    (r#"^\P{^L}$"#, "é", Some(true)),
    (r#"^\pL$"#, "é", Some(true)),
    (r#"^\p{Greek}$"#, "α", Some(true)),
    (r#"^\p{greek}$"#, "α", Some(true)),
    (r#"^\p{Letter}$"#, "α", Some(true)),
    (r#"^\p{C}$"#, "\u{0378}", Some(true)),
    (r#"^\p{Assigned}$"#, "\u{0378}", Some(false)),
    (r#"^\p{ASCII}+$"#, "ab", Some(true)),
    (r#"(?i)^\p{Lu}$"#, "a", Some(true)),
    (r#"^a{,3}$"#, "a{,3}", Some(true)),
    (r#"^a{,3}$"#, "aa", Some(false)),
    (r#"^a{01}$"#, "a{01}", Some(true)),
    (r#"^a{2}$"#, "aa", Some(true)),
    (r#"^\b{start}"#, "{start}", Some(false)),
    (r#"^a\b{start}$"#, "a{start}", Some(true)),
    (r#"^\<a\>$"#, "<a>", Some(true)),
    (r#"^\_$"#, "_", Some(true)),
    (r#"^x{1000}$"#, "x", Some(false)),
    (r#"(a{100}){10}"#, "a", Some(false)),
    (r#"(?)^a$"#, "a", Some(true)),
    (r#"^a(?i)*$"#, "aaa", Some(true)),
    (r#"^*a"#, "a", Some(true)),
    (r#"(?P<1a>x)"#, "x", Some(true)),
    (r#"(?<n>x)(?<n>y)"#, "xy", Some(true)),
    (r#"(?i)é"#, "É", Some(true)),
    (r#"(?s-m:^a.b$)"#, "a\u{0a}b", Some(true)),
    (r#"(?m)^b$"#, "a\u{0a}b", Some(true)),
    (r#"^a$"#, "a\u{0a}", Some(false)),
    (r#"\x{D800}"#, "a", Some(false)),
    (r#"^[\x{D7FF}-\x{E000}]$"#, "\u{e000}", Some(true)),
    (r#"a.b"#, "a\u{0a}b", Some(false)),
    (r#"(?U)a+"#, "a", Some(true)),
    (r#"^(|a)$"#, "a", Some(true)),
    (r#"^()a$"#, "a", Some(true)),
    (r#"\u00e9"#, "é", None),
    (r#"(?x)a"#, "a", None),
    (r#"(?u)a"#, "a", None),
    (r#"(?-u:a)"#, "a", None),
    (r#"(?R)a"#, "a", None),
    (r#"a++"#, "a", None),
    (r#"x{1001}"#, "x", None),
    (r#"a**"#, "a", None),
    (r#"x{2}{3}"#, "x", None),
    (r#"(a{100}){11}"#, "a", None),
    (r#"(?P<é>x)"#, "x", None),
    (r#"(?'n'x)"#, "x", None),
    (r#"(?=a)"#, "a", None),
    (r#"[\b]"#, "a", None),
    (r#"\Z"#, "a", None),
    (r#"\z\C"#, "a", None),
    (r#"\é"#, "é", None),
    (r#"\e"#, "a", None),
    (r#"\8"#, "8", None),
    (r#"\1"#, "1", None),
    (r#"[[:foo:]]"#, "a", None),
    (r#"[b-a]"#, "a", None),
    (r#"[a-\d]"#, "a", None),
    (r#"\p{Old_Italic}"#, "a", None),
    (r#"\p{Grek}"#, "a", None),
    (r#"\p{Script=Greek}"#, "a", None),
    (r#"\p{Alphabetic}"#, "a", None),
    (r#"\p{Garay}"#, "a", None),
    (r#"\pé"#, "a", None),
    (r#"(?i-)"#, "a", None),
    (r#"(?-)a"#, "a", None),
    (r#"(?"#, "a", None),
    (r#"(a"#, "a", None),
    (r#"a)"#, "a", None),
    (r#"a|*"#, "a", None),
    (r#"*a"#, "a", None),
    (r#"{2}"#, "a", None),
    (r#"a\"#, "a", None),
    (r#"[a"#, "a", None),
    (r#"\x{110000}"#, "a", None),
    (r#"\x4"#, "a", None),
    (r#"\x{}"#, "a", None),
    (r#"[\Q]"#, "a", None),
];

#[test]
fn every_pattern_matches_or_fails_as_in_go() {
    let mut wrong = Vec::new();
    for &(pattern, text, go) in GO_ANSWERS {
        let ours = GoRegex::new(pattern).ok().map(|re| re.is_match(text));
        if ours != go {
            wrong.push(format!(
                "{pattern:?} on {text:?}: Go {go:?}, leafseal {ours:?} (translated: {:?})",
                translate(pattern)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_pattern_as_written_is_kept() {
    let re = GoRegex::new(r"^\w+$").expect("valid");
    assert_eq!(re.as_str(), r"^\w+$");
    assert_eq!(re.to_string(), r"^\w+$");
    assert_eq!(format!("{re:?}"), r#"GoRegex("^\\w+$")"#);
}

#[test]
fn a_refusal_names_sops_syntax_and_the_position() {
    let e = GoRegex::new(r"ab\u00e9").expect_err("Go has no \\u");
    assert_eq!(e.offset(), 2);
    assert_eq!(
        e.to_string(),
        "not valid in sops's (Go) regex syntax: invalid escape sequence `\\u` at byte 2"
    );
    let e = GoRegex::new("a(b").expect_err("unclosed");
    assert_eq!(e.offset(), 1);
    assert!(e.to_string().contains("missing closing )"), "{e}");
    let e = GoRegex::new("a**").expect_err("nested repetition");
    assert!(
        e.to_string()
            .contains("invalid nested repetition operator `**`"),
        "{e}"
    );
}

#[test]
fn translations_are_plain_rust_patterns() {
    assert_eq!(
        translate(r"^\w+$").expect("valid"),
        r"\A(?:[0-9A-Z\x{5F}a-z])+\z"
    );
    assert_eq!(translate(r"\Qa.\E").expect("valid"), r"a\x{2E}");
    assert_eq!(translate(r"[[a]").expect("valid"), r"[\x{5B}a]");
    assert_eq!(translate(r"\p{^L}").expect("valid"), r"[^\p{gc=L}]");
}

#[test]
fn hostile_patterns_fail_cleanly() {
    for p in [
        "(",
        ")",
        "[",
        "\\",
        "\\p{",
        "[[:",
        "(?P<",
        "x{99999999999}",
        "\\x{FFFFFFFFFF}",
        "(?i",
    ] {
        assert!(GoRegex::new(p).is_err(), "{p:?}");
    }
    let deep = format!("{}a{}", "(".repeat(400), ")".repeat(400));
    let e = GoRegex::new(&deep).expect_err("beyond the regex crate's nesting limit");
    assert!(e.is_beyond_limits(), "{e}");
}

/// A pattern longer than the limit is refused before any work (a hostile file's metadata
/// selector of 150,000 `\pL` under `(?i)` took the regex crate over 20 s and 1 GB).
#[test]
fn a_pattern_over_the_length_limit_is_refused_at_once() {
    let long = format!("(?i){}", "\\pL".repeat(150_000));
    let start = std::time::Instant::now();
    let e = super::compile(&long).expect_err("too long");
    assert!(start.elapsed() < std::time::Duration::from_secs(1));
    assert!(e.is_beyond_limits());
    assert!(e.to_string().contains("longer than 4096 bytes"), "{e}");
    let ok = "^(".to_owned() + &["field"; 600].join("|") + ")$";
    assert!(ok.len() <= super::MAX_PATTERN_LEN);
    assert!(super::compile(&ok).is_ok());
}
