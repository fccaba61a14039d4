//! go-yaml v3 scalar resolution (plain scalars and core tags) and the string analysis
//! the emitter needs to decide between plain, single-quoted and double-quoted styles.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::format::number::Inexact;
use crate::format::number::check_float;
use crate::tree::Bytes;
use crate::tree::Text;
use crate::tree::Timestamp;
use crate::tree::Value;

/// Why a scalar could not be turned into a tree value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResolveError {
    /// An integer that only fits an unsigned 64-bit value.
    Unsigned,
    /// An explicit tag whose content does not match (`!!int abc`).
    BadTagged(&'static str),
    /// A number the tree cannot hold exactly (beyond 64 bits, `1e-400`, too many digits).
    Inexact(Inexact),
}

/// How a scalar was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// Plain (unquoted) scalar: resolved by content.
    Plain,
    /// Quoted or block scalar: a string unless tagged.
    Quoted,
}

/// Resolves a scalar with an optional core-schema tag suffix (`str`, `int`, …; `None` when
/// untagged; `Some("")` for the non-specific `!` or a custom tag, which means string).
pub(crate) fn resolve(text: &str, style: Style, tag: Option<&str>) -> Result<Value, ResolveError> {
    match tag {
        None if style == Style::Plain => resolve_plain(text),
        None => Ok(Value::str(text)),
        Some("str") | Some("") => Ok(Value::str(text)),
        Some("binary") => decode_binary(text),
        Some("null") => Ok(Value::Null),
        Some("bool") => match resolve_plain(text)? {
            v @ Value::Bool(_) => Ok(v),
            _ => Err(ResolveError::BadTagged("bool")),
        },
        Some("int") => match resolve_plain(text)? {
            v @ Value::Int(_) => Ok(v),
            _ => Err(ResolveError::BadTagged("int")),
        },
        Some("float") => match resolve_plain(text)? {
            Value::Int(i) => Ok(Value::Float(i as f64)),
            v @ Value::Float(_) => Ok(v),
            _ => Err(ResolveError::BadTagged("float")),
        },
        Some("timestamp") => match Timestamp::parse_yaml(text) {
            Some(t) => Ok(Value::Time(t)),
            None => Err(ResolveError::BadTagged("timestamp")),
        },
        Some(_) => Ok(Value::str(text)),
    }
}

fn decode_binary(text: &str) -> Result<Value, ResolveError> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| ResolveError::BadTagged("binary"))?;
    match String::from_utf8(bytes) {
        Ok(s) => Ok(Value::Str(Text::new(s))),
        Err(e) => Ok(Value::Bytes(Bytes::new(e.into_bytes()))),
    }
}

/// go-yaml v3's resolution of an untagged plain scalar.
pub(crate) fn resolve_plain(s: &str) -> Result<Value, ResolveError> {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Ok(Value::Null),
        "true" | "True" | "TRUE" => return Ok(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Ok(Value::Bool(false)),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Ok(Value::Float(f64::INFINITY));
        }
        "-.inf" | "-.Inf" | "-.INF" => return Ok(Value::Float(f64::NEG_INFINITY)),
        ".nan" | ".NaN" | ".NAN" => return Ok(Value::Float(f64::NAN)),
        _ => {}
    }
    let first = s.as_bytes().first().copied().unwrap_or(b' ');
    if first == b'.' {
        if s.bytes()
            .all(|c| c.is_ascii_digit() || b".eE+-".contains(&c))
            && let Ok(f) = s.parse::<f64>()
            && f.is_finite()
        {
            check_float(s, f, false).map_err(ResolveError::Inexact)?;
            return Ok(Value::Float(f));
        }
        return Ok(Value::str(s));
    }
    if !(first.is_ascii_digit() || first == b'-' || first == b'+') {
        return Ok(Value::str(s));
    }
    if let Some(t) = Timestamp::parse_yaml(s) {
        return Ok(Value::Time(t));
    }
    let plain: String = s.chars().filter(|&c| c != '_').collect();
    match parse_go_int(&plain) {
        Ok(i) => return Ok(Value::Int(i)),
        Err(IntErr::Range) if !plain.starts_with(['-', '+']) => {
            return Err(ResolveError::Unsigned);
        }
        Err(_) => {}
    }
    if is_yaml_float(&plain)
        && let Ok(f) = plain.parse::<f64>()
        && f.is_finite()
    {
        let integral = !plain.contains(['.', 'e', 'E']);
        check_float(&plain, f, integral).map_err(ResolveError::Inexact)?;
        return Ok(Value::Float(f));
    }
    Ok(Value::str(s))
}

#[derive(Debug, PartialEq)]
enum IntErr {
    Syntax,
    Range,
}

/// Go `strconv.ParseInt(s, 0, 64)` (underscores already removed). `Range` is reported
/// only when the digits are valid and the magnitude fits u64 but not i64 (go-yaml then
/// yields an unsigned value) or overflows entirely (reported as `Syntax` then).
fn parse_go_int(s: &str) -> Result<i64, IntErr> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.get(..2).map(|p| p.to_ascii_lowercase());
    let (radix, digits) = match lower.as_deref() {
        Some("0x") => (16, &body[2..]),
        Some("0o") => (8, &body[2..]),
        Some("0b") => (2, &body[2..]),
        _ if body.len() > 1 && body.starts_with('0') => (8, &body[1..]),
        _ => (10, body),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(IntErr::Syntax);
    }
    let mag = u64::from_str_radix(digits, radix).map_err(|_| IntErr::Syntax)?;
    if neg {
        if mag <= 1u64 << 63 {
            Ok((mag as i128).wrapping_neg() as i64)
        } else {
            Err(IntErr::Syntax)
        }
    } else if mag <= i64::MAX as u64 {
        Ok(mag as i64)
    } else {
        Err(IntErr::Range)
    }
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'-' | b'+')) {
        i = 1;
    }
    let digits = |i: &mut usize| {
        let st = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - st
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// YAML 1.1 booleans that go-yaml v3 quotes on output.
fn is_old_bool(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
    )
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`
fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'-' | b'+')) {
        i = 1;
    }
    if !b.get(i).is_some_and(u8::is_ascii_digit) {
        return false;
    }
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while b.get(i) == Some(&b':') {
        i += 1;
        let st = i;
        while i < b.len() && b[i].is_ascii_digit() && i - st < 2 {
            i += 1;
        }
        let n = i - st;
        if n == 0 || (n == 2 && b[st] > b'5') {
            return false;
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// Whether go-yaml would write this string plain as far as typing goes (it reads back
/// as the same string and is not a YAML 1.1 bool or base-60 number).
pub(crate) fn plain_resolves_to_str(s: &str) -> bool {
    let Some(first) = s.bytes().next() else {
        return false;
    };
    if first.is_ascii_alphabetic() && !b"yYnNtTfFoO".contains(&first) {
        return true;
    }
    s != "<<"
        && matches!(resolve_plain(s), Ok(Value::Str(_)))
        && !is_old_bool(s)
        && !is_base60_float(s)
}

/// go-yaml's `is_printable` on one character.
pub(crate) fn is_printable(c: char) -> bool {
    let u = c as u32;
    u == 0x0A
        || (0x20..=0x7E).contains(&u)
        || (0xA0..=0xD7FF).contains(&u)
        || ((0xE000..=0xFFFD).contains(&u) && u != 0xFEFF)
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// The result of go-yaml's `yaml_emitter_analyze_scalar` that matters in block context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Analysis {
    /// Plain style allowed in block context.
    pub plain_allowed: bool,
    /// Single-quoted style allowed.
    pub single_allowed: bool,
    /// Literal block style allowed.
    pub block_allowed: bool,
}

/// Character analysis of a scalar, as go-yaml's emitter does it.
pub(crate) fn analyze(s: &str) -> Analysis {
    if s.is_ascii() {
        // Each byte is a character: the same steps without decoding UTF-8.
        let b = s.as_bytes();
        return analyze_steps(
            s,
            b.iter().enumerate().map(|(i, &c)| {
                let next = b.get(i + 1).map(|&n| char::from(n));
                (char::from(c), next, i + 1 == b.len())
            }),
        );
    }
    analyze_by_chars(s)
}

/// [`analyze`] decoding every character (any text).
pub(crate) fn analyze_by_chars(s: &str) -> Analysis {
    let mut iter = s.char_indices().peekable();
    let steps = std::iter::from_fn(move || {
        let (i, c) = iter.next()?;
        let next = iter.peek().map(|&(_, n)| n);
        Some((c, next, i + c.len_utf8() == s.len()))
    });
    analyze_steps(s, steps)
}

/// go-yaml's analysis over the characters of `s`, each with the one after it and whether
/// it is the last.
fn analyze_steps(s: &str, steps: impl Iterator<Item = (char, Option<char>, bool)>) -> Analysis {
    if s.is_empty() {
        return Analysis {
            plain_allowed: false,
            single_allowed: true,
            block_allowed: false,
        };
    }
    let mut block_ind = s.starts_with("---") || s.starts_with("...");
    let (mut line_breaks, mut special, mut tabs) = (false, false, false);
    let (mut lead_space, mut lead_break, mut trail_space, mut trail_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut prev_space, mut prev_break) = (false, false);
    let mut preceded_by_ws = true;
    for (k, (c, next, last)) in steps.enumerate() {
        let followed_by_ws = next.is_none_or(|n| n == ' ' || n == '\t' || is_break(n));
        if k == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_ind = true,
                '?' | ':' | '-' if followed_by_ws => block_ind = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_ws => block_ind = true,
                '#' if preceded_by_ws => block_ind = true,
                _ => {}
            }
        }
        if c == '\t' {
            tabs = true;
        } else if !is_printable(c) {
            special = true;
        }
        if is_break(c) {
            line_breaks = true;
        }
        if c == ' ' {
            if k == 0 {
                lead_space = true;
            }
            if last {
                trail_space = true;
            }
            if prev_break {
                break_space = true;
            }
            prev_space = true;
            prev_break = false;
        } else if is_break(c) {
            if k == 0 {
                lead_break = true;
            }
            if last {
                trail_break = true;
            }
            if prev_space {
                space_break = true;
            }
            prev_space = false;
            prev_break = true;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_by_ws = c == ' ' || c == '\t' || is_break(c);
    }
    let mut a = Analysis {
        plain_allowed: true,
        single_allowed: true,
        block_allowed: true,
    };
    if lead_space || lead_break || trail_space || trail_break {
        a.plain_allowed = false;
    }
    if trail_space {
        a.block_allowed = false;
    }
    // A tab rules out plain and single-quoted text but not a literal block (go-yaml v3).
    // A block whose first character is a tab is the exception: sops 3.11 writes it and
    // then reads `null` for it, so leafseal keeps such a string double-quoted.
    if break_space || space_break || special || tabs {
        a.plain_allowed = false;
        a.single_allowed = false;
    }
    if space_break || special || s.starts_with('\t') {
        a.block_allowed = false;
    }
    if line_breaks || block_ind {
        a.plain_allowed = false;
    }
    a
}
