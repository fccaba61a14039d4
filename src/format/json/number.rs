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

/// Why a number cannot be kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Inexact {
    /// An integer outside the signed 64-bit range.
    BigInt,
    /// Beyond the range of a 64-bit float.
    Overflow,
    /// Nonzero but closer to zero than any 64-bit float.
    Underflow,
    /// More precision than a 64-bit float holds.
    Precision,
}

impl Inexact {
    pub(super) fn describe(self) -> &'static str {
        match self {
            Inexact::BigInt => "an integer that does not fit in 64 bits",
            Inexact::Overflow => "a number too large for a 64-bit float",
            Inexact::Underflow => "a nonzero number too small for a 64-bit float",
            Inexact::Precision => "a number with more digits than a 64-bit float keeps",
        }
    }
}

/// The value of a syntactically valid JSON number `text`, or why it cannot be kept.
pub(super) fn number_value(text: &str, integral: bool) -> Result<Value, Inexact> {
    if integral && let Ok(n) = text.parse::<i64>() {
        return Ok(Value::Int(n));
    }
    let f = text.parse::<f64>().map_err(|_| Inexact::Overflow)?;
    if !f.is_finite() {
        return Err(Inexact::Overflow);
    }
    let want = decimal(text);
    if want.0.is_empty() {
        // A zero, written in any way: exact (sign kept by the float).
        return Ok(Value::Float(f));
    }
    if f == 0.0 {
        return Err(Inexact::Underflow);
    }
    if decimal(&format!("{:e}", f)) != want {
        return Err(if integral {
            Inexact::BigInt
        } else {
            Inexact::Precision
        });
    }
    Ok(Value::Float(f))
}

/// A decimal number's significant digits (no leading or trailing zeros) and the power of
/// ten of its last digit; the sign is ignored. Accepts JSON numbers and Rust's `{:e}`.
fn decimal(text: &str) -> (Vec<u8>, i64) {
    let t = text.trim_start_matches('-');
    let (mant, exp) = match t.find(['e', 'E']) {
        Some(i) => (t.get(..i).unwrap_or(""), t.get(i + 1..).unwrap_or("0")),
        None => (t, "0"),
    };
    // Exponents that do not fit an i64 saturate (the float parse has already failed or
    // given zero/infinity for them).
    let mut exp: i64 = exp
        .trim_start_matches('+')
        .parse()
        .unwrap_or(if exp.starts_with('-') { i64::MIN / 2 } else { i64::MAX / 2 });
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    exp = exp.saturating_sub(frac.len() as i64);
    let mut digits: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
    let lead = digits.iter().take_while(|&&d| d == b'0').count();
    digits.drain(..lead);
    while digits.last() == Some(&b'0') {
        digits.pop();
        exp = exp.saturating_add(1);
    }
    (digits, exp)
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
