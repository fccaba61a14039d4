//! The quick style choice ([`super::quick`]) against the full decision
//! ([`super::string_scalar_full`]): the same rendering on every string it takes, and the
//! direct path's writer the same bytes as the emitter's rendering on every string.

use proptest::prelude::*;

use super::Scalar;
use super::direct::inline_string;
use super::direct::is_plain_key;
use super::direct::push_string_line;
use super::direct::scalar_after;
use super::quick::Quick;
use super::quick::quick_style;
use super::string_scalar_full;
use crate::format::yaml::resolve::analyze;
use crate::format::yaml::resolve::analyze_by_chars;
use crate::secbuf::SecureBuf;
use crate::tree::Value;

/// The full decision's rendering (`None`: a literal block).
fn full(s: &str, key: bool) -> Option<String> {
    match string_scalar_full(s, key) {
        Scalar::Inline(c) => Some(c.into_owned()),
        Scalar::Literal(..) | Scalar::Separated(_) => None,
    }
}

/// Checks one string: the quick choice (when it decides) renders as the full decision,
/// for values and keys; the direct writer writes what the full decision renders.
fn check(s: &str) {
    if let Some(q) = quick_style(s) {
        let mut out = SecureBuf::with_capacity(0);
        super::quick::push(&mut out, s, q);
        let quick = String::from_utf8(out.as_slice().to_vec()).expect("ASCII");
        assert_eq!(Some(&quick), full(s, false).as_ref(), "{s:?} ({q:?})");
        assert_eq!(
            Some(&quick),
            full(s, true).as_ref(),
            "{s:?} as a key ({q:?})"
        );
    }
    for at in [(0, false), (2, false), (4, true)] {
        let mut out = SecureBuf::with_capacity(0);
        push_string_line(&mut out, 2, "k:", s, at);
        let mut want = SecureBuf::with_capacity(0);
        match full(s, false) {
            Some(r) => want.push(format!("k: {r}\n").as_bytes()),
            None => {
                want.push(b"k:");
                scalar_after(&mut want, 2, &Value::str(s), at.0, at.1);
            }
        }
        assert_eq!(out.as_slice(), want.as_slice(), "{s:?} at {at:?}");
    }
    assert_eq!(
        inline_string(s, false).map(|c| c.into_owned()),
        full(s, false),
        "{s:?}"
    );
    assert_eq!(
        is_plain_key(s),
        full(s, true).as_deref() == Some(s),
        "{s:?} as a key"
    );
}

/// Words every YAML version or go-yaml gives a meaning, and near misses.
const WORDS: &[&str] = &[
    "",
    "~",
    "null",
    "true",
    "false",
    "yes",
    "no",
    "on",
    "off",
    "y",
    "n",
    "nul",
    "nulls",
    "truex",
    "tru",
    "o",
    "of",
    "offf",
    "ye",
    "yess",
    ".inf",
    "+.inf",
    "-.inf",
    ".nan",
    ".na",
    "<<",
    "<",
    "<<<",
    "0",
    "00",
    "07",
    "08",
    "09",
    "0x1F",
    "0X1f",
    "0o17",
    "0O17",
    "0b101",
    "0B2",
    "1_000",
    "1__0",
    "_1",
    "1e5",
    "1E+5",
    "1e",
    "1.",
    ".5",
    "-.5",
    "+1",
    "-0",
    "+",
    "-",
    ".",
    "..",
    "...",
    "---",
    "-- ",
    "2001-12-14",
    "2001-12-14t21:59:43.10-05:00",
    "2001-12-14 21:59:43.10 -5",
    "2001-1-1",
    "1:20",
    "190:20:30.15",
    "1:60",
    "1:5:9",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551616",
    "-9223372036854775808",
    "-9223372036854775809",
    "123456789012345678",
    "1234567890123456789",
    "0123456789012345678",
    "1e400",
    "1e-400",
    "0.1",
    "3.14159",
    "6.02e23",
    "NaN",
    "Infinity",
    "inf",
    "ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]",
];

/// Every casing of `w` (up to 2^6 of them).
fn casings(w: &str) -> Vec<String> {
    let chars: Vec<char> = w.chars().collect();
    let n = chars.len().min(6);
    (0..1u32 << n)
        .map(|m| {
            chars
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if i < n && m & (1 << i) != 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    }
                })
                .collect()
        })
        .collect()
}

#[test]
fn every_casing_of_the_typed_words_and_with_marks_around() {
    for w in WORDS {
        for c in casings(w) {
            check(&c);
            for (pre, post) in [
                (" ", ""),
                ("", " "),
                ("'", ""),
                ("", "'"),
                ("\"", ""),
                ("", ": x"),
                ("", " #x"),
                ("", ":"),
                ("#", ""),
                ("- ", ""),
                ("x", ""),
                ("", "x"),
                ("", "\n"),
                ("", "\t"),
                ("\u{e9}", ""),
            ] {
                check(&format!("{pre}{c}{post}"));
            }
        }
    }
}

#[test]
fn every_printable_ascii_string_of_up_to_two_characters() {
    check("");
    for a in 0x20u8..0x7F {
        check(&(a as char).to_string());
        for b in 0x20u8..0x7F {
            check(&format!("{}{}", a as char, b as char));
        }
    }
}

#[test]
fn every_three_characters_of_the_indicators() {
    let set = b" :#-?.'\"!&*|>%@`,[]{}~<0aynNoOtTfF\\";
    for a in set {
        for b in set {
            for c in set {
                check(&String::from_utf8(vec![*a, *b, *c]).expect("ASCII"));
            }
        }
    }
}

#[test]
fn the_quick_choice_takes_the_common_strings() {
    for (s, q) in [
        ("hotel", Quick::Plain),
        ("https://a.example.com/x", Quick::Plain),
        ("11145", Quick::Double),
        ("x(NIrirEW=Nc&.]e_prxpgDvv^bDY]p}V-?M", Quick::Plain),
        ("onyx-tango-zephyr", Quick::Plain),
        ("no", Quick::Double),
        ("a: b", Quick::Single),
        ("it's", Quick::Plain),
        ("say \"hi\" \\ ok", Quick::Plain),
        ("'q'", Quick::Single),
        ("1G2Lm4ldNXLdnx47kOUs", Quick::Plain),
        ("1k;:k7U,en$k}?S~qvC)&cD", Quick::Plain),
    ] {
        assert_eq!(quick_style(s), Some(q), "{s:?}");
        check(s);
    }
    for s in [
        "",
        "1.5",
        "-x",
        ".x",
        "~",
        "<<",
        "1234567890123456789",
        "caf\u{e9}",
        "a\tb",
    ] {
        assert_eq!(quick_style(s), None, "{s:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn printable_ascii_strings(s in "[ -~]{0,24}") {
        check(&s);
    }

    #[test]
    fn indicator_heavy_strings(s in "[ :#'\"\\\\a0-9.+_eE-]{0,12}") {
        check(&s);
    }

    #[test]
    fn words_with_marks_around(
        w in proptest::sample::select(WORDS),
        upper in proptest::collection::vec(any::<bool>(), 0..40),
        pre in "[ -~]{0,2}",
        post in "[ -~]{0,2}",
    ) {
        let w: String = w
            .chars()
            .zip(upper.iter().chain(std::iter::repeat(&false)))
            .map(|(c, &u)| if u { c.to_ascii_uppercase() } else { c })
            .collect();
        check(&w);
        check(&format!("{pre}{w}"));
        check(&format!("{w}{post}"));
    }

    #[test]
    fn digit_led_strings(s in "[0-9][ -~]{0,16}", t in "[0-9][0-9a-zA-Z:._+ -]{0,12}") {
        check(&s);
        check(&t);
    }

    #[test]
    fn ascii_analysis_is_the_character_analysis(s in "[\\x00-\\x7f]{0,16}", t in "[ \\n\\r\\t:#a'-]{0,16}") {
        for s in [&s, &t] {
            prop_assert_eq!(analyze(s), analyze_by_chars(s), "{:?}", s);
        }
    }

    #[test]
    fn digit_runs(s in "[0-9_]{1,30}", sign in "[-+]?") {
        check(&s);
        check(&format!("{sign}{s}"));
    }

    #[test]
    fn any_text(s in "(?s).{0,12}", t in "[\\x00-\\x1f\\x7f\u{80}-\u{ff}\u{2028}\u{feff} a]{0,6}") {
        check(&s);
        check(&t);
        check(&format!("{s}{t}"));
    }
}
