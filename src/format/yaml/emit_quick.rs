//! The emitter's style choice for the common string, decided in one pass: printable
//! ASCII on one line whose type as a plain scalar is clear from its first byte, that is a short run of digits,
//! or that starts with a digit and holds a byte no number or timestamp has. Everything else is left to the full decision
//! ([`super::string_scalar_full`]), which gives the same answer on these strings (the
//! property tests in `tests` compare the two on generated strings).

use crate::secbuf::SecureBuf;

/// How a string is written on its line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Quick {
    /// As it is.
    Plain,
    /// In single quotes (`'` doubled).
    Single,
    /// In double quotes (`"` and `\` escaped: the string is printable ASCII).
    Double,
}

/// The words a plain scalar starting with a letter can resolve to as another type than a
/// string (null, bools), and the YAML 1.1 bools go-yaml quotes.
fn is_typed_word(b: &[u8]) -> bool {
    matches!(
        b,
        b"null"
            | b"Null"
            | b"NULL"
            | b"true"
            | b"True"
            | b"TRUE"
            | b"false"
            | b"False"
            | b"FALSE"
            | b"y"
            | b"Y"
            | b"yes"
            | b"Yes"
            | b"YES"
            | b"n"
            | b"N"
            | b"no"
            | b"No"
            | b"NO"
            | b"on"
            | b"On"
            | b"ON"
            | b"off"
            | b"Off"
            | b"OFF"
    )
}

/// Whether the plain scalar `b` (not empty) reads back as the same string, when that is
/// clear without resolving it: a first byte that no other type starts with, a letter
/// (only the words of [`is_typed_word`] are typed), or a run of at most 18 digits (an
/// integer or, with a leading zero and an 8 or 9, a float: never a string). `None`: ask
/// the full resolution.
fn resolves_to_str(b: &[u8]) -> Option<bool> {
    let first = *b.first()?;
    match first {
        b'0'..=b'9' if b.len() <= 18 && b.iter().all(u8::is_ascii_digit) => Some(false),
        b'0'..=b'9' if b.iter().any(|&c| !may_be_typed(c)) => Some(true),
        b'0'..=b'9' | b'+' | b'-' | b'.' | b'~' | b'<' => None,
        _ if first.is_ascii_alphabetic() => Some(!is_typed_word(b)),
        _ => Some(true),
    }
}

/// Whether `c` can occur in a plain scalar that starts with a digit and resolves to
/// another type than a string: an integer of any base (`0x`, `0o`, `0b` prefixes, hex
/// digits, `_`, signs), a float (`.`, exponent), a base-60 number (`:`) or a timestamp
/// (`-`, `T`, `t`, spaces, `:`, `.`, `Z`, `z`, `+`). A digit-led string with any other
/// byte is a string.
fn may_be_typed(c: u8) -> bool {
    matches!(
        c,
        b'0'..=b'9'
            | b'a'..=b'f'
            | b'A'..=b'F'
            | b'x'
            | b'X'
            | b'o'
            | b'O'
            | b't'
            | b'T'
            | b'z'
            | b'Z'
            | b'+'
            | b'-'
            | b'.'
            | b'_'
            | b':'
            | b' '
    )
}

/// The style of `s` when it is printable ASCII (one line) and its type is clear (see the
/// module docs); `None` otherwise.
pub(super) fn quick_style(s: &str) -> Option<Quick> {
    let b = s.as_bytes();
    if b == b"<<" {
        // Written with the merge tag as a value (`string_scalar_full`).
        return None;
    }
    let (&first, &last) = (b.first()?, b.last()?);
    // One branch-free pass: every byte printable ASCII, and whether a `:` or `#` occurs.
    let (printable, marks) = b.iter().fold((true, false), |(ok, m), &c| {
        (
            ok & (c.wrapping_sub(0x20) < 0x5F),
            m | (c == b':') | (c == b'#'),
        )
    });
    if !printable {
        return None;
    }
    if !resolves_to_str(b)? {
        return Some(Quick::Double);
    }
    let ws_at = |i: usize| b.get(i).is_none_or(|&c| c == b' ');
    let mut indicator = match first {
        b'#' | b',' | b'[' | b']' | b'{' | b'}' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\''
        | b'"' | b'%' | b'@' | b'`' => true,
        b'?' | b':' | b'-' => ws_at(1),
        _ => false,
    } || b.starts_with(b"...")
        || b.starts_with(b"---");
    if marks && !indicator {
        indicator = b.iter().enumerate().skip(1).any(|(i, &c)| {
            (c == b':' && ws_at(i + 1)) || (c == b'#' && b.get(i - 1) == Some(&b' '))
        });
    }
    Some(if indicator || first == b' ' || last == b' ' {
        Quick::Single
    } else {
        Quick::Plain
    })
}

/// Writes `s` in the style `q` into `out`.
pub(super) fn push(out: &mut SecureBuf, s: &str, q: Quick) {
    match q {
        Quick::Plain => out.push(s.as_bytes()),
        Quick::Single => quoted(out, s, b'\'', |c| c == b'\'', b'\''),
        Quick::Double => quoted(out, s, b'"', |c| c == b'"' || c == b'\\', b'\\'),
    }
}

/// `s` between two `quote`s, each byte `esc` picks preceded by `with`.
fn quoted(out: &mut SecureBuf, s: &str, quote: u8, esc: impl Fn(u8) -> bool, with: u8) {
    out.byte(quote);
    let b = s.as_bytes();
    let mut from = 0;
    for (i, &c) in b.iter().enumerate() {
        if esc(c) {
            out.push(&b[from..i]);
            out.byte(with);
            from = i;
        }
    }
    out.push(&b[from..]);
    out.byte(quote);
}

/// Whether `s` is an `ENC[AES256_GCM,…]` text of printable ASCII without spaces (every
/// value the encrypting side writes): such a text starts with a letter and cannot hold
/// `: ` or ` #`, so [`super::analyze_ascii`] finds it plain and it resolves to a string. A
/// branch-free scan: most scalars of an encrypted file are these.
pub(super) fn is_plain_enc(s: &str) -> bool {
    let b = s.as_bytes();
    b.starts_with(b"ENC[AES256_GCM,")
        && b.last() == Some(&b']')
        && b.iter()
            .fold(true, |ok, &c| ok & (c.wrapping_sub(0x21) < 0x5E))
}
