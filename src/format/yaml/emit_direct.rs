//! The emitter's scalar rendering offered to the direct streamed decrypt
//! (`crate::stream`): the same functions the emitter uses, for one value at a time.

use std::borrow::Cow;

use super::Emitter;
use super::Scalar;
use super::scalar;
use super::string_scalar;
use crate::secbuf::SecureBuf;
use crate::tree::Value;

/// A string rendered on the current line as [`Emitter`](super::Emitter) writes it (as a key when `key`),
/// or `None` when it would take a literal block (for the direct streamed decrypt).
pub(crate) fn inline_string(s: &str, key: bool) -> Option<Cow<'_, str>> {
    match string_scalar(s, key) {
        Scalar::Inline(c) => Some(c),
        Scalar::Literal(..) => None,
    }
}

/// A scalar value rendered on the current line as [`Emitter`](super::Emitter) writes it, or `None` when
/// it would take a literal block.
pub(crate) fn inline_value(v: &Value) -> Option<Cow<'_, str>> {
    match scalar(v) {
        Scalar::Inline(c) => Some(c),
        Scalar::Literal(..) => None,
    }
}

/// Writes a scalar value the way the emitter writes it after `key:` (the key at column
/// `ind`) or after `-` (`seq`, the dash at column `ind`), with the line break that ends
/// it, into `out` (for the direct streamed decrypt, for values [`inline_value`] and
/// [`inline_string`] do not take).
pub(crate) fn scalar_after(out: &mut SecureBuf, n: usize, v: &Value, ind: usize, seq: bool) {
    let mut e = Emitter {
        out: std::mem::replace(out, SecureBuf::with_capacity(0)),
        n,
        column: ind + 1,
        whitespace: false,
        indention: false,
        foot_indent: None,
    };
    e.value(v, ind, seq, None);
    if e.column > 0 {
        e.out.byte(b'\n');
    }
    *out = e.out;
}
