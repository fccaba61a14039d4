//! Exactness of JSON numbers: a number is kept only when the tree holds its exact value.
//!
//! An integer that fits an `i64` becomes [`Value::Int`]. Any other number becomes
//! [`Value::Float`] only when the `f64` nearest to it has the same decimal value (so
//! writing it back gives the same number, perhaps spelt differently, e.g. `1e+20`).
//! Integers beyond 64 bits, numbers that underflow (`1e-400`) or overflow (`1e400`) and
//! numbers with more significant digits than an `f64` holds are refused with the path of
//! the value, never silently changed.

use crate::tree::Value;

use super::parse::Frame;
use super::parse::Parser;
use crate::format::FormatError;

pub(super) use crate::format::number::Inexact;
use crate::format::number::check_float;

/// Where the number in JSON's grammar that starts at `start` in `src` ends, and whether
/// it is integral (no fraction, no exponent); `None` when the text there is not one.
/// (What follows it is the caller's to check.)
pub(crate) fn number_end(src: &[u8], start: usize) -> Option<(usize, bool)> {
    let digits = |at: &mut usize| {
        let from = *at;
        while src.get(*at).is_some_and(u8::is_ascii_digit) {
            *at += 1;
        }
        *at > from
    };
    let mut at = start;
    if src.get(at) == Some(&b'-') {
        at += 1;
    }
    if src.get(at) == Some(&b'0') {
        at += 1;
    } else if !digits(&mut at) {
        return None;
    }
    let mut integral = true;
    if src.get(at) == Some(&b'.') {
        at += 1;
        integral = false;
        if !digits(&mut at) {
            return None;
        }
    }
    if matches!(src.get(at), Some(b'e' | b'E')) {
        at += 1;
        integral = false;
        if matches!(src.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        if !digits(&mut at) {
            return None;
        }
    }
    Some((at, integral))
}

/// The value of a syntactically valid JSON number `text`, or why it cannot be kept.
pub(crate) fn number_value(text: &str, integral: bool) -> Result<Value, Inexact> {
    // `-0` is the float negative zero, as sops (Go) reads it: an integer would lose the
    // sign, and with it the MAC of a clear `-0` (found by the round-16 differential run).
    if integral
        && text != "-0"
        && let Ok(n) = text.parse::<i64>()
    {
        return Ok(Value::Int(n));
    }
    let f = text.parse::<f64>().map_err(|_| Inexact::Overflow)?;
    check_float(text, f, integral)?;
    Ok(Value::Float(f))
}

impl Parser<'_> {
    /// A number; the current position is at `-` or a digit. The inner error says why a
    /// well-formed number cannot be kept exactly (the caller adds the path).
    pub(super) fn parse_number(&mut self) -> Result<Result<Value, Inexact>, FormatError> {
        let start = self.pos;
        let mut i = self.pos;
        let digit = |i: usize| self.s.get(i).is_some_and(u8::is_ascii_digit);
        if self.s.get(i) == Some(&b'-') {
            i += 1;
        }
        match self.s.get(i) {
            Some(b'0') => {
                i += 1;
                if digit(i) {
                    return Err(self.err_at("leading zeros are not allowed in numbers", i));
                }
            }
            Some(b'1'..=b'9') => {
                while digit(i) {
                    i += 1;
                }
            }
            _ => return Err(self.err_at("invalid number", i)),
        }
        let mut integral = true;
        if self.s.get(i) == Some(&b'.') {
            integral = false;
            i += 1;
            if !digit(i) {
                return Err(self.err_at("invalid number: expected a digit after '.'", i));
            }
            while digit(i) {
                i += 1;
            }
        }
        if let Some(b'e' | b'E') = self.s.get(i) {
            integral = false;
            i += 1;
            if let Some(b'+' | b'-') = self.s.get(i) {
                i += 1;
            }
            if !digit(i) {
                return Err(self.err_at("invalid number: expected a digit in the exponent", i));
            }
            while digit(i) {
                i += 1;
            }
        }
        let text = self
            .s
            .get(start..i)
            .and_then(|t| std::str::from_utf8(t).ok())
            .ok_or_else(|| self.err_at("invalid number", start))?;
        self.pos = i;
        Ok(number_value(text, integral))
    }
}

/// The path of the value being read, as `["key"][0]` (the form `--extract` takes).
pub(super) fn path(stack: &[Frame]) -> String {
    let mut out = String::new();
    for f in stack {
        match f {
            Frame::Obj(_, key) => {
                out.push_str("[\"");
                for c in key.chars() {
                    match c {
                        '"' | '\\' => {
                            out.push('\\');
                            out.push(c);
                        }
                        c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
                        c => out.push(c),
                    }
                }
                out.push_str("\"]");
            }
            Frame::Arr(items) => out.push_str(&format!("[{}]", items.len())),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_numbers_are_kept_and_others_refused() {
        for (t, i) in [("0", true), ("-0", true), ("0.0", false), ("1e-5", false)] {
            assert!(number_value(t, i).is_ok(), "{t}");
        }
        assert_eq!(number_value("12", true), Ok(Value::Int(12)));
        assert_eq!(number_value("0.1", false), Ok(Value::Float(0.1)));
        assert_eq!(number_value("1.50", false), Ok(Value::Float(1.5)));
        assert_eq!(number_value("2.5E+3", false), Ok(Value::Float(2500.0)));
        assert_eq!(
            number_value("100000000000000000000", true),
            Ok(Value::Float(1e20))
        );
        assert_eq!(
            number_value("9223372036854775807", true),
            Ok(Value::Int(i64::MAX))
        );
        assert_eq!(
            number_value("9223372036854775808", true),
            Err(Inexact::BigInt)
        );
        assert_eq!(
            number_value("123456789012345678901234567890", true),
            Err(Inexact::BigInt)
        );
        assert_eq!(number_value("1e-400", false), Err(Inexact::Underflow));
        assert_eq!(number_value("0e-400", false), Ok(Value::Float(0.0)));
        assert_eq!(number_value("1e400", false), Err(Inexact::Overflow));
        assert_eq!(
            number_value("1e99999999999999999999", false),
            Err(Inexact::Overflow)
        );
        assert_eq!(
            number_value("0.10000000000000000001", false),
            Err(Inexact::Precision)
        );
    }
}
