//! Choosing how one scalar is written (plain, quoted, literal block, `!!binary`), as
//! go-yaml v3 chooses it.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::super::resolve::Analysis;
use super::super::resolve::analyze;
use super::super::resolve::is_printable;
use super::super::resolve::plain_resolves_to_str;
use super::multiline;
use super::quick;
use crate::tree::Value;

/// A rendered scalar.
pub(super) enum Scalar<'a> {
    /// Written on the current line.
    Inline(Cow<'a, str>),
    /// A literal block scalar: optional tag prefix and the text.
    Literal(&'static str, Cow<'a, str>),
    /// Single-quoted text holding U+2028/U+2029, written with the scalar's indentation
    /// after them ([`Emitter::separated`]): the text, unquoted.
    Separated(Cow<'a, str>),
}

/// Go `strconv.FormatFloat(f, 'g', -1, 64)` with YAML's names for the specials.
pub(crate) fn format_float_g(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.into();
    }
    crate::format::number::go_format_float_g(f, false)
}

pub(super) fn double_quoted(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    // go-yaml's `is_bom` looks at the start of the text, not at the character: in a text
    // that starts with U+FEFF it escapes every character (`"\uFEFF\x41"` for U+FEFF `A`).
    let all = s.starts_with('\u{FEFF}');
    for c in s.chars() {
        let esc = all
            || !is_printable(c)
            || c == '\u{FEFF}'
            || matches!(
                c,
                '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}' | '"' | '\\'
            );
        if !esc {
            o.push(c);
            continue;
        }
        o.push('\\');
        match c {
            '\0' => o.push('0'),
            '\u{7}' => o.push('a'),
            '\u{8}' => o.push('b'),
            '\t' => o.push('t'),
            '\n' => o.push('n'),
            '\u{b}' => o.push('v'),
            '\u{c}' => o.push('f'),
            '\r' => o.push('r'),
            '\u{1b}' => o.push('e'),
            '"' => o.push('"'),
            '\\' => o.push('\\'),
            '\u{85}' => o.push('N'),
            '\u{a0}' => o.push('_'),
            '\u{2028}' => o.push('L'),
            '\u{2029}' => o.push('P'),
            c if (c as u32) <= 0xFF => o.push_str(&format!("x{:02X}", c as u32)),
            c if (c as u32) <= 0xFFFF => o.push_str(&format!("u{:04X}", c as u32)),
            c => o.push_str(&format!("U{:08X}", c as u32)),
        }
    }
    o.push('"');
    o
}

/// `analyze` for the common case: printable ASCII on one line (else `None`).
pub(crate) fn analyze_ascii(s: &str) -> Option<Analysis> {
    let b = s.as_bytes();
    let (&first, &last) = (b.first()?, b.last()?);
    let mut block_ind = b.starts_with(b"---") || b.starts_with(b"...");
    let ws_at = |i: usize| b.get(i).is_none_or(|&c| c == b' ');
    match first {
        b'#' | b',' | b'[' | b']' | b'{' | b'}' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\''
        | b'"' | b'%' | b'@' | b'`' => block_ind = true,
        b'?' | b':' | b'-' if ws_at(1) => block_ind = true,
        _ => {}
    }
    for (i, &c) in b.iter().enumerate() {
        if !(0x20..0x7F).contains(&c) {
            return None;
        }
        if i > 0 && ((c == b':' && ws_at(i + 1)) || (c == b'#' && b[i - 1] == b' ')) {
            block_ind = true;
        }
    }
    let (lead, trail) = (first == b' ', last == b' ');
    Some(Analysis {
        plain_allowed: !(lead || trail || block_ind),
        single_allowed: true,
        block_allowed: !trail,
    })
}

/// The style go-yaml v3 picks for a string (keys never use literal blocks).
pub(super) fn string_scalar(s: &str, key: bool) -> Scalar<'_> {
    if quick::is_plain_enc(s) {
        return Scalar::Inline(Cow::Borrowed(s));
    }
    match quick::quick_style(s) {
        Some(quick::Quick::Plain) => Scalar::Inline(Cow::Borrowed(s)),
        Some(quick::Quick::Single) => Scalar::Inline(Cow::Owned(single_quoted(s))),
        Some(quick::Quick::Double) => Scalar::Inline(Cow::Owned(double_quoted(s))),
        None => string_scalar_full(s, key),
    }
}

fn single_quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The full style decision of [`string_scalar`], for every string.
pub(super) fn string_scalar_full(s: &str, key: bool) -> Scalar<'_> {
    if s == "<<" && !key {
        // The string `<<` as a value: go-yaml v3 (and so sops 3.11) writes it with the
        // merge tag, and reads that back as the string.
        return Scalar::Inline(Cow::Borrowed("!!merge <<"));
    }
    if let Some(a) = analyze_ascii(s) {
        if !plain_resolves_to_str(s) {
            return Scalar::Inline(Cow::Owned(double_quoted(s)));
        }
        return Scalar::Inline(if a.plain_allowed {
            Cow::Borrowed(s)
        } else {
            Cow::Owned(single_quoted(s))
        });
    }
    let a = analyze(s);
    if s.contains('\n') {
        let odd_break = s.contains(['\u{85}', '\u{2028}', '\u{2029}']);
        if !key && a.block_allowed && !odd_break {
            return Scalar::Literal("", Cow::Borrowed(s));
        }
        return Scalar::Inline(Cow::Owned(double_quoted(s)));
    }
    if !plain_resolves_to_str(s) {
        return Scalar::Inline(Cow::Owned(double_quoted(s)));
    }
    if a.plain_allowed {
        Scalar::Inline(Cow::Borrowed(s))
    } else if a.single_allowed && multiline::has_separator(s) {
        Scalar::Separated(Cow::Borrowed(s))
    } else if a.single_allowed {
        Scalar::Inline(Cow::Owned(single_quoted(s)))
    } else {
        Scalar::Inline(Cow::Owned(double_quoted(s)))
    }
}

fn binary_scalar(b: &[u8]) -> Scalar<'static> {
    let enc = STANDARD.encode(b);
    if enc.len() < 70 {
        return Scalar::Inline(Cow::Owned(format!("!!binary {enc}")));
    }
    let mut s = String::with_capacity(enc.len() + enc.len() / 70 + 1);
    for chunk in enc.as_bytes().chunks(70) {
        s.push_str(&String::from_utf8_lossy(chunk));
        s.push('\n');
    }
    Scalar::Literal("!!binary ", Cow::Owned(s))
}

pub(super) fn scalar(v: &Value) -> Scalar<'_> {
    match v {
        Value::Str(s) => string_scalar(s, false),
        Value::Bytes(b) => binary_scalar(b),
        Value::Int(i) => Scalar::Inline(Cow::Owned(i.to_string())),
        Value::Float(f) => Scalar::Inline(Cow::Owned(format_float_g(*f))),
        Value::Bool(true) => Scalar::Inline(Cow::Borrowed("true")),
        Value::Bool(false) => Scalar::Inline(Cow::Borrowed("false")),
        Value::Time(t) => Scalar::Inline(Cow::Owned(t.to_rfc3339_nano())),
        Value::Null | Value::Map(_) | Value::Seq(_) => Scalar::Inline(Cow::Borrowed("null")),
    }
}
