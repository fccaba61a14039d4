//! The plaintext lines of the scan's `edit` mode: a value rendered as the decrypt's
//! direct path renders it.

use crate::crypto::value;
use crate::crypto::value::ValueType;
use crate::format::yaml::inline_value;
use crate::format::yaml::push_string_line;
use crate::format::yaml::scalar_after;
use crate::secbuf::SecureBuf;

/// Writes a value's line in plaintext as the decrypt's direct path does: `head` (the
/// line up to the space before the value), then the value `raw` of type `typ` rendered by
/// the emitter's scalar functions.
pub(super) fn write_plain(
    out: &mut SecureBuf,
    n: usize,
    head: &str,
    raw: &[u8],
    typ: ValueType,
    at: (usize, bool),
) -> Option<()> {
    let val = match typ {
        ValueType::Str => {
            // The decrypt's own writer: its quick style check first, one analysis
            // for the rest.
            let s = std::str::from_utf8(raw).ok()?;
            push_string_line(out, n, head, s, at);
            return Some(());
        }
        typ => {
            let val = value::value_from_plaintext(raw, typ).ok()?;
            if let Some(r) = inline_value(&val) {
                write_line(out, head, &r);
                return Some(());
            }
            val
        }
    };
    // A literal block (or another multi-line form): the emitter writes it.
    out.push(head.as_bytes());
    scalar_after(out, n, &val, at.0, at.1);
    if let crate::tree::Value::Str(mut t) = val {
        zeroize::Zeroize::zeroize(t.as_mut_string());
    }
    Some(())
}

fn write_line(out: &mut SecureBuf, head: &str, v: &str) {
    out.push(head.as_bytes());
    out.byte(b' ');
    out.push(v.as_bytes());
    out.byte(b'\n');
}
