//! The emitter's scalar rendering offered to the direct streamed decrypt
//! (`crate::stream`): the same functions the emitter uses, for one value at a time.

use std::borrow::Cow;

use super::Emitter;
use super::Scalar;
use super::is_simple_key;
use super::quick;
use super::scalar;
use super::string_scalar;
use super::string_scalar_full;
use crate::secbuf::SecureBuf;
use crate::tree::Value;

/// A string rendered on the current line as [`Emitter`](super::Emitter) writes it (as a key when `key`),
/// or `None` when it would take more than that line: a literal block, a line separator,
/// or a key go-yaml writes as an explicit `? ` key (for the direct streamed decrypt).
pub(crate) fn inline_string(s: &str, key: bool) -> Option<Cow<'_, str>> {
    if key && !is_simple_key(s) {
        return None;
    }
    match string_scalar(s, key) {
        Scalar::Inline(c) => Some(c),
        Scalar::Literal(..) | Scalar::Separated(_) => None,
    }
}

/// Whether the key `k` is written as it is (plain) by [`Emitter`](super::Emitter).
pub(crate) fn is_plain_key(k: &str) -> bool {
    if !is_simple_key(k) {
        return false;
    }
    match quick::quick_style(k) {
        Some(q) => q == quick::Quick::Plain,
        None => matches!(string_scalar(k, true), Scalar::Inline(Cow::Borrowed(r)) if r == k),
    }
}

/// Writes the line `head` and the string `s` after it as the emitter writes it (not as a
/// key), with the line break that ends it, into `out`: on the same line after a space as
/// [`inline_string`] renders it, or as a literal block as [`scalar_after`] writes it
/// (`at`: the column of the key, or of the dash of a list item when `true`). The common
/// strings are written without an intermediate copy, and the style is decided once.
pub(crate) fn push_string_line(
    out: &mut SecureBuf,
    n: usize,
    head: &str,
    s: &str,
    at: (usize, bool),
) {
    let q = if quick::is_plain_enc(s) {
        Some(quick::Quick::Plain)
    } else {
        quick::quick_style(s)
    };
    out.push(head.as_bytes());
    if let Some(q) = q {
        out.byte(b' ');
        quick::push(out, s, q);
        out.byte(b'\n');
        return;
    }
    match string_scalar_full(s, false) {
        Scalar::Inline(c) => {
            out.byte(b' ');
            out.push(c.as_bytes());
            out.byte(b'\n');
        }
        Scalar::Literal(tag, c) => after(out, n, at.0, |e| {
            let child = if at.1 { at.0 + 2 } else { e.next_indent(at.0) };
            e.literal(tag, &c, at.0, child, None);
        }),
        Scalar::Separated(c) => after(out, n, at.0, |e| {
            let child = if at.1 { at.0 + 2 } else { e.next_indent(at.0) };
            e.separated(&c, child);
        }),
    }
}

/// A scalar value rendered on the current line as [`Emitter`](super::Emitter) writes it, or `None` when
/// it would take a literal block.
pub(crate) fn inline_value(v: &Value) -> Option<Cow<'_, str>> {
    match scalar(v) {
        Scalar::Inline(c) => Some(c),
        Scalar::Literal(..) | Scalar::Separated(_) => None,
    }
}

/// Writes a scalar value the way the emitter writes it after `key:` (the key at column
/// `ind`) or after `-` (`seq`, the dash at column `ind`), with the line break that ends
/// it, into `out` (for the direct streamed decrypt, for values [`inline_value`] and
/// [`inline_string`] do not take).
pub(crate) fn scalar_after(out: &mut SecureBuf, n: usize, v: &Value, ind: usize, seq: bool) {
    after(out, n, ind, |e| e.value(v, ind, seq, None));
}

/// Runs `write` on an emitter placed after `key:` or `-` at column `ind`, writing into
/// `out`, and ends the line.
fn after(out: &mut SecureBuf, n: usize, ind: usize, write: impl FnOnce(&mut Emitter)) {
    let mut e = Emitter {
        out: std::mem::replace(out, SecureBuf::with_capacity(0)),
        n,
        column: ind + 1,
        whitespace: false,
        indention: false,
        foot_indent: None,
    };
    write(&mut e);
    if e.column > 0 {
        e.out.byte(b'\n');
    }
    *out = e.out;
}
