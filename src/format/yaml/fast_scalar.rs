//! Scalar and character helpers of the fast reader: one-line quoted scalars, plain
//! scalar and key scanning, the character pre-check.

use std::borrow::Cow;

use zeroize::Zeroizing;

/// The fast path gave up; the full parser reads the whole input instead.
#[derive(Debug)]
pub(crate) struct Bail;

pub(crate) type R<T> = Result<T, Bail>;

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Whether some byte of `w` is less than `n` (`n <= 128`, no byte of `w` above 127).
fn has_less(w: u64, n: u8) -> bool {
    w.wrapping_sub(ONES * n as u64) & !w & HIGHS != 0
}

/// Whether some byte of `w` equals `b`.
fn has_byte(w: u64, b: u8) -> bool {
    let x = w ^ (ONES * b as u64);
    x.wrapping_sub(ONES) & !x & HIGHS != 0
}

/// `0x80` in every byte of `w` that equals `b`, zero elsewhere (exact).
fn eq_mask(w: u64, b: u8) -> u64 {
    let x = w ^ (ONES * b as u64);
    let low = 0x7F7F_7F7F_7F7F_7F7F;
    !(((x & low) + low) | x | low)
}

/// Whether the eight bytes of `w` surely hold no `: ` and no ` #` (a `:` in the last
/// byte or a `#` in the first one count as possible).
fn no_indicator(w: u64) -> bool {
    let (colon, hash) = (eq_mask(w, b':'), eq_mask(w, b'#'));
    if colon | hash == 0 {
        return true;
    }
    let space = eq_mask(w, b' ');
    colon & ((space >> 8) | (0x80 << 56)) == 0 && hash & ((space << 8) | 0x80) == 0
}

fn word(b: &[u8], i: usize) -> Option<u64> {
    let c: [u8; 8] = b.get(i..i + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(c))
}

/// Whether every character is one the fast path handles without doubt: printable
/// YAML 1.2 characters that are not line breaks in YAML 1.1 either, no tabs, no
/// carriage returns, no byte order marks, no non-characters.
pub(crate) fn chars_ok(b: &[u8]) -> bool {
    let mut i = 0;
    while i < b.len() {
        // Eight printable ASCII bytes at a time.
        if let Some(w) = word(b, i)
            && w & HIGHS == 0
            && !has_less(w, 0x20)
            && !has_byte(w, 0x7F)
        {
            i += 8;
            continue;
        }
        let c = b[i];
        if (0x20..0x7F).contains(&c) || c == b'\n' {
            i += 1;
            continue;
        }
        match c {
            0xC2 => {
                if b.get(i + 1).is_some_and(|&n| n < 0xA0) {
                    return false;
                }
            }
            0xE2 => {
                if b.get(i + 1) == Some(&0x80) && matches!(b.get(i + 2), Some(0xA8 | 0xA9)) {
                    return false;
                }
            }
            0xEF => {
                let pair = (b.get(i + 1).copied(), b.get(i + 2).copied());
                if matches!(
                    pair,
                    (Some(0xBB), Some(0xBF)) | (Some(0xBF), Some(0xBE | 0xBF))
                ) {
                    return false;
                }
            }
            c if c >= 0x80 => {}
            _ => return false,
        }
        i += 1;
    }
    true
}

/// The line of `src` starting at `pos` (without its line break), the offset after it,
/// and whether its characters are all ones the fast path handles ([`scan_line`]);
/// `None` at the end. Shared by the fast reader and the tree-free encrypt.
pub(crate) fn line_at(src: &[u8], pos: usize) -> Option<(&[u8], usize, bool)> {
    if pos >= src.len() {
        return None;
    }
    let (end, ok) = scan_line(src, pos);
    let line = src.get(pos..end)?;
    Some((line, (end + 1).min(src.len()), ok))
}

/// The end of the line starting at `from` (its `\n` or the end of input) and whether
/// `chars_ok` holds for it (the scan stops early, at a wrong end, when it does not).
pub(crate) fn scan_line(b: &[u8], from: usize) -> (usize, bool) {
    let mut i = from;
    loop {
        if let Some(w) = word(b, i)
            && w & HIGHS == 0
            && !has_less(w, 0x20)
            && !has_byte(w, 0x7F)
        {
            i += 8;
            continue;
        }
        match b.get(i) {
            None | Some(b'\n') => return (i, true),
            Some(&c) if (0x20..0x7F).contains(&c) => i += 1,
            Some(&c) if c >= 0x80 => {
                let n = match c {
                    0xC0..=0xDF => 2,
                    0xE0..=0xEF => 3,
                    _ => 4,
                };
                if !b.get(i..).is_some_and(|r| chars_ok(&r[..n.min(r.len())])) {
                    return (i, false);
                }
                i += 1;
            }
            Some(_) => return (i, false),
        }
    }
}

/// The header of a literal block scalar whose `|` is at byte `h` of `b`: the explicit
/// indentation (1–9) if any, the chomping indicator (`-`, `+`, or `b' '` to clip) and
/// the byte where a comment after it starts (its `#`). `None` when anything else
/// follows. Shared by the fast reader and the tree-free encrypt.
pub(crate) fn block_header(b: &[u8], h: usize) -> Option<(Option<usize>, u8, Option<usize>)> {
    let (mut explicit, mut chomp) = (None, b' ');
    let mut i = h + 1;
    while let Some(&c) = b.get(i) {
        match c {
            b'1'..=b'9' if explicit.is_none() => explicit = Some((c - b'0') as usize),
            b'-' | b'+' if chomp == b' ' => chomp = c,
            _ => break,
        }
        i += 1;
    }
    let n = spaces(b, i);
    match b.get(i + n) {
        None => Some((explicit, chomp, None)),
        Some(b'#') if n > 0 => Some((explicit, chomp, Some(i + n))),
        Some(_) => None,
    }
}

/// Ends a literal block's text as its chomping indicator says, `breaks` being the
/// empty lines after its last line: strip (`-`) drops the final line break, keep (`+`)
/// keeps them all, clip keeps one.
pub(crate) fn chomp_block(out: &mut String, chomp: u8, breaks: usize) {
    match chomp {
        b'-' => {}
        b'+' => out.extend(std::iter::repeat_n('\n', breaks + 1)),
        _ => out.push('\n'),
    }
}

/// Number of leading spaces.
pub(crate) fn spaces(s: &[u8], from: usize) -> usize {
    let mut i = from;
    while s.get(i) == Some(&b' ') {
        i += 1;
    }
    i - from
}

/// `-` alone or `- …`: a block sequence entry.
pub(crate) fn is_dash(rest: &[u8]) -> bool {
    rest.first() == Some(&b'-') && matches!(rest.get(1), None | Some(b' '))
}

/// Whether the byte after position `i` ends a token (space or end of line).
fn ws_after(s: &[u8], i: usize) -> bool {
    matches!(s.get(i + 1), None | Some(b' '))
}

/// Whether a plain scalar may start with `s` (block context), YAML indicators excluded.
pub(crate) fn plain_start_ok(s: &[u8]) -> bool {
    match s.first() {
        None => false,
        Some(b'-') => !ws_after(s, 0),
        Some(
            b'?' | b':' | b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|'
            | b'>' | b'\'' | b'"' | b'%' | b'@' | b'`' | b' ',
        ) => false,
        Some(_) => true,
    }
}

/// A one-line plain scalar starting at `from`: its end (trailing spaces excluded) and
/// where the rest of the line begins. Bails on `: ` inside (a key where a value was
/// expected).
pub(crate) fn plain_value(s: &[u8], from: usize) -> R<(usize, usize)> {
    let mut i = from;
    while i < s.len() {
        if let Some(w) = word(s, i)
            && no_indicator(w)
        {
            i += 8;
            continue;
        }
        match s[i] {
            b':' if ws_after(s, i) => return Err(Bail),
            b'#' if i > from && s[i - 1] == b' ' => break,
            _ => {}
        }
        i += 1;
    }
    let mut end = i;
    while end > from && s[end - 1] == b' ' {
        end -= 1;
    }
    Ok((end, i))
}

/// A plain implicit key starting at `from`: `Some((key end, index after ':'))`, or
/// `None` when the line holds no `key:` before a comment or its end.
pub(crate) fn plain_key(s: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut i = from;
    while i < s.len() {
        match s[i] {
            b':' if ws_after(s, i) => {
                let mut end = i;
                while end > from && s[end - 1] == b' ' {
                    end -= 1;
                }
                return Some((end, i + 1));
            }
            b'#' if i > from && s[i - 1] == b' ' => return None,
            _ => {}
        }
        i += 1;
    }
    None
}

/// A single-quoted scalar whose opening quote is at `from`, closed on the same line:
/// the text and the index after the closing quote.
pub(crate) fn single_quoted(line: &str, from: usize) -> R<(Cow<'_, str>, usize)> {
    let b = line.as_bytes();
    let start = from + 1;
    let mut i = start;
    let mut owned: Option<Zeroizing<String>> = None;
    let mut seg = start;
    loop {
        match b.get(i) {
            None => return Err(Bail),
            Some(b'\'') if b.get(i + 1) == Some(&b'\'') => {
                let o = owned.get_or_insert_with(|| Zeroizing::new(String::new()));
                o.push_str(line.get(seg..=i).ok_or(Bail)?);
                i += 2;
                seg = i;
            }
            Some(b'\'') => break,
            Some(_) => i += 1,
        }
    }
    let tail = line.get(seg..i).ok_or(Bail)?;
    let text = match owned {
        None => Cow::Borrowed(tail),
        Some(mut o) => {
            o.push_str(tail);
            Cow::Owned(std::mem::take(&mut *o))
        }
    };
    Ok((text, i + 1))
}

fn hex(b: &[u8], at: usize, n: usize) -> R<u32> {
    let digits = b.get(at..at + n).ok_or(Bail)?;
    let mut v = 0u32;
    for &d in digits {
        let x = (d as char).to_digit(16).ok_or(Bail)?;
        v = v * 16 + x;
    }
    Ok(v)
}

/// A double-quoted scalar whose opening quote is at `from`, closed on the same line:
/// the text and the index after the closing quote. Bails on unknown escapes.
pub(crate) fn double_quoted(line: &str, from: usize) -> R<(Cow<'_, str>, usize)> {
    let b = line.as_bytes();
    let start = from + 1;
    let mut i = start;
    let mut owned: Option<Zeroizing<String>> = None;
    let mut seg = start;
    loop {
        match b.get(i) {
            None => return Err(Bail),
            Some(b'"') => break,
            Some(b'\\') => {
                let o = owned.get_or_insert_with(|| Zeroizing::new(String::new()));
                o.push_str(line.get(seg..i).ok_or(Bail)?);
                let e = *b.get(i + 1).ok_or(Bail)?;
                let (c, used) = match e {
                    b'0' => ('\0', 2),
                    b'a' => ('\u{7}', 2),
                    b'b' => ('\u{8}', 2),
                    b't' => ('\t', 2),
                    b'n' => ('\n', 2),
                    b'v' => ('\u{b}', 2),
                    b'f' => ('\u{c}', 2),
                    b'r' => ('\r', 2),
                    b'e' => ('\u{1b}', 2),
                    b' ' => (' ', 2),
                    b'"' => ('"', 2),
                    // (`\/` is YAML 1.2 only: go-yaml refuses it, so does the full reader.)
                    b'\\' => ('\\', 2),
                    b'N' => ('\u{85}', 2),
                    b'_' => ('\u{a0}', 2),
                    b'L' => ('\u{2028}', 2),
                    b'P' => ('\u{2029}', 2),
                    b'x' => (char::from_u32(hex(b, i + 2, 2)?).ok_or(Bail)?, 4),
                    b'u' => (char::from_u32(hex(b, i + 2, 4)?).ok_or(Bail)?, 6),
                    b'U' => (char::from_u32(hex(b, i + 2, 8)?).ok_or(Bail)?, 10),
                    _ => return Err(Bail),
                };
                o.push(c);
                i += used;
                seg = i;
            }
            Some(_) => i += 1,
        }
    }
    let tail = line.get(seg..i).ok_or(Bail)?;
    let text = match owned {
        None => Cow::Borrowed(tail),
        Some(mut o) => {
            o.push_str(tail);
            Cow::Owned(std::mem::take(&mut *o))
        }
    };
    Ok((text, i + 1))
}

/// A quoted scalar (either style) at `from`.
pub(crate) fn quoted(line: &str, from: usize) -> R<(Cow<'_, str>, usize)> {
    match line.as_bytes().get(from) {
        Some(b'"') => double_quoted(line, from),
        Some(b'\'') => single_quoted(line, from),
        _ => Err(Bail),
    }
}
