//! YAML 1.1's extra line breaks (U+0085, U+2028, U+2029) as go-yaml v3 (sops) reads
//! them. The full reader follows YAML 1.2, where they are ordinary characters; go-yaml
//! breaks lines at them. A quoted scalar holding one raw is read again here the way
//! go-yaml reads it (sops writes U+2028/U+2029 in single quotes followed by the
//! indentation); anywhere else (plain and block scalars, comments, keys written plain,
//! anchors) the two readings differ in ways that change the document, so the file is
//! refused.

use memchr::memchr2_iter;
use zeroize::Zeroizing;

/// Whether `b` holds U+0085, U+2028 or U+2029 (their UTF-8 bytes).
pub(crate) fn any(b: &[u8]) -> bool {
    memchr2_iter(0xC2, 0xE2, b).any(|i| len_at(b, i) > 0)
}

/// The byte offsets of every U+0085, U+2028 and U+2029 in `b`.
pub(crate) fn offsets(b: &[u8]) -> impl Iterator<Item = usize> + '_ {
    memchr2_iter(0xC2, 0xE2, b).filter(move |&i| len_at(b, i) > 0)
}

/// The length of U+0085 (2), U+2028 or U+2029 (3) at `i`, or 0.
fn len_at(b: &[u8], i: usize) -> usize {
    match (b.get(i), b.get(i + 1), b.get(i + 2)) {
        (Some(0xC2), Some(0x85), _) => 2,
        (Some(0xE2), Some(0x80), Some(0xA8 | 0xA9)) => 3,
        _ => 0,
    }
}

/// The length of the line break at `i` in go-yaml's reading (CR LF counts as one), or 0.
fn break_at(b: &[u8], i: usize) -> usize {
    match b.get(i) {
        Some(b'\r') if b.get(i + 1) == Some(&b'\n') => 2,
        Some(b'\r' | b'\n') => 1,
        _ => len_at(b, i),
    }
}

fn is_blank(b: &[u8], i: usize) -> bool {
    matches!(b.get(i), Some(b' ' | b'\t'))
}

/// go-yaml's reading of a quoted scalar, `raw` from its opening quote to its closing
/// one, with YAML 1.1's line breaks and folding: a first break becomes a space (`\n`,
/// `\r`, U+0085) or stays (U+2028, U+2029), further breaks stay as `\n` or themselves,
/// blanks around breaks are dropped. `Err`: why go-yaml would refuse it.
pub(crate) fn quoted(raw: &str) -> Result<Zeroizing<String>, &'static str> {
    let b = raw.as_bytes();
    let q = *b.first().ok_or("not a quoted scalar")?;
    let single = match q {
        b'\'' => true,
        b'"' => false,
        _ => return Err("not a quoted scalar"),
    };
    let mut s = Zeroizing::new(String::with_capacity(raw.len()));
    let (mut leading, mut trailing, mut spaces) = (String::new(), String::new(), String::new());
    let mut i = 1;
    // Right after a line break (go-yaml's column 0), where a document marker is refused.
    let mut line_start = false;
    loop {
        if line_start && (raw[i..].starts_with("---") || raw[i..].starts_with("...")) {
            let next = i + 3;
            if b.get(next).is_none_or(|&c| c == b' ' || c == b'\t') || break_at(b, next) > 0 {
                return Err("a document marker inside a quoted scalar");
            }
        }
        line_start = false;
        let mut leading_blanks = false;
        while i < b.len() && !is_blank(b, i) && break_at(b, i) == 0 {
            let c = b[i];
            if single && c == b'\'' && b.get(i + 1) == Some(&b'\'') {
                s.push('\'');
                i += 2;
            } else if (single && c == b'\'') || (!single && c == b'"') {
                break;
            } else if !single && c == b'\\' && break_at(b, i + 1) > 0 {
                i += 1 + break_at(b, i + 1);
                leading_blanks = true;
                break;
            } else if !single && c == b'\\' {
                i += escape(raw, i, &mut s)?;
            } else {
                let ch = raw[i..].chars().next().ok_or("not UTF-8")?;
                s.push(ch);
                i += ch.len_utf8();
            }
        }
        if i >= b.len() {
            return Err("an unterminated quoted scalar");
        }
        if b[i] == q {
            return Ok(s);
        }
        while is_blank(b, i) || break_at(b, i) > 0 {
            if is_blank(b, i) {
                if !leading_blanks {
                    spaces.push(b[i] as char);
                }
                i += 1;
                line_start = false;
                continue;
            }
            let n = break_at(b, i);
            let text = if n == 3 { &raw[i..i + 3] } else { "\n" };
            if leading_blanks {
                trailing.push_str(text);
            } else {
                spaces.clear();
                leading.push_str(text);
                leading_blanks = true;
            }
            i += n;
            line_start = true;
        }
        if leading_blanks {
            if leading.starts_with('\n') {
                if trailing.is_empty() {
                    s.push(' ');
                } else {
                    s.push_str(&trailing);
                }
            } else {
                s.push_str(&leading);
                s.push_str(&trailing);
            }
            leading.clear();
            trailing.clear();
        } else {
            s.push_str(&spaces);
            spaces.clear();
        }
    }
}

/// Decodes the escape at `i` (a backslash) into `s`; its length.
fn escape(raw: &str, i: usize, s: &mut String) -> Result<usize, &'static str> {
    let b = raw.as_bytes();
    let e = *b.get(i + 1).ok_or("an unterminated escape")?;
    let simple = match e {
        b'0' => Some('\0'),
        b'a' => Some('\u{7}'),
        b'b' => Some('\u{8}'),
        b't' | b'\t' => Some('\t'),
        b'n' => Some('\n'),
        b'v' => Some('\u{b}'),
        b'f' => Some('\u{c}'),
        b'r' => Some('\r'),
        b'e' => Some('\u{1b}'),
        b' ' => Some(' '),
        b'"' => Some('"'),
        b'\'' => Some('\''),
        b'\\' => Some('\\'),
        b'N' => Some('\u{85}'),
        b'_' => Some('\u{a0}'),
        b'L' => Some('\u{2028}'),
        b'P' => Some('\u{2029}'),
        _ => None,
    };
    if let Some(c) = simple {
        s.push(c);
        return Ok(2);
    }
    let n = match e {
        b'x' => 2,
        b'u' => 4,
        b'U' => 8,
        _ => return Err("an unknown escape"),
    };
    let digits = raw.get(i + 2..i + 2 + n).ok_or("a short escape")?;
    let v = u32::from_str_radix(digits, 16).map_err(|_| "an escape with a non-hex digit")?;
    s.push(char::from_u32(v).ok_or("an escape of an invalid code point")?);
    Ok(2 + n)
}

#[cfg(test)]
mod tests {
    use super::quoted;

    fn q(raw: &str) -> String {
        quoted(raw).expect("reads").to_string()
    }

    #[test]
    fn reads_quoted_scalars_as_go_yaml_does() {
        // sops's own form: the separator, then the indentation.
        assert_eq!(q("'x\u{2028}    y'"), "x\u{2028}y");
        assert_eq!(q("'\u{2028}\u{2029}        x'''"), "\u{2028}\u{2029}x'");
        assert_eq!(q("'x\u{2028}'"), "x\u{2028}");
        // A separator followed by a newline: both kept.
        assert_eq!(q("'a\u{2029}\n  b'"), "a\u{2029}\nb");
        // NEL is a newline: folded to a space, as a first break.
        assert_eq!(q("\"m\u{85}n\""), "m n");
        assert_eq!(q("'a \u{85}\u{85} b'"), "a\nb");
        // Escapes still apply; an escaped separator is not a break.
        assert_eq!(q("\"\\L  x\u{2028}  y\\t\""), "\u{2028}  x\u{2028}y\t");
        assert_eq!(q("\"a\\\u{2028}   b\""), "ab");
        assert!(quoted("'x\u{2028}--- y'").is_err());
        assert!(quoted("\"\\q\u{2028}\"").is_err());
        assert!(quoted("'x\u{2028}").is_err());
    }
}
