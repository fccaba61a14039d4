//! Exactness of numbers read from text: a number is kept only when the tree holds its
//! exact value, i.e. writing it back (shortest form, as Go's `strconv` does) gives the
//! same decimal number, perhaps spelt differently (`1e+20`). Integers beyond 64 bits,
//! numbers that underflow (`1e-400`) or overflow (`1e400`) and numbers with more
//! significant digits than an `f64` holds are refused by the readers with the path of
//! the value, never silently changed.

/// Why a number cannot be kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Inexact {
    /// An integer outside the signed 64-bit range.
    BigInt,
    /// Beyond the range of a 64-bit float.
    Overflow,
    /// Nonzero but closer to zero than any 64-bit float.
    Underflow,
    /// More precision than a 64-bit float holds.
    Precision,
}

/// Go's `strconv.FormatFloat(f, 'g' or 'G', -1, 64)`: shortest round-trip digits, plain
/// notation when the decimal exponent is in [-4, 6), exponent notation otherwise (with a
/// sign and at least two exponent digits).
pub fn go_format_float_g(f: f64, upper: bool) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    let mut out = String::new();
    if f.is_sign_negative() {
        out.push('-');
    }
    if f == 0.0 {
        out.push('0');
        return out;
    }
    // Rust's `{:e}` prints the shortest digits that round-trip, e.g. `1.2345e3`.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i64>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    let digits: Vec<u8> = mantissa.bytes().filter(|b| b.is_ascii_digit()).collect();
    let nd = digits.len() as i64;
    if !(-4..6).contains(&exp) {
        // d[.ddd]e±XX
        if let Some((first, rest)) = digits.split_first() {
            out.push(char::from(*first));
            if !rest.is_empty() {
                out.push('.');
                rest.iter().for_each(|d| out.push(char::from(*d)));
            }
        }
        out.push(if upper { 'E' } else { 'e' });
        out.push(if exp < 0 { '-' } else { '+' });
        let abs = exp.unsigned_abs();
        if abs < 10 {
            out.push('0');
        }
        out.push_str(&abs.to_string());
        return out;
    }
    let dp = exp + 1; // position of the decimal point relative to the digits
    let digit_at = |i: i64| -> char {
        if i >= 0 && i < nd {
            digits.get(i as usize).map_or('0', |d| char::from(*d))
        } else {
            '0'
        }
    };
    if dp > 0 {
        for i in 0..dp {
            out.push(digit_at(i));
        }
    } else {
        out.push('0');
    }
    let frac = (nd - dp).max(0);
    if frac > 0 {
        out.push('.');
        for i in 0..frac {
            out.push(digit_at(dp + i));
        }
    }
    out
}

impl Inexact {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Inexact::BigInt => "an integer that does not fit in 64 bits",
            Inexact::Overflow => "a number too large for a 64-bit float",
            Inexact::Underflow => "a nonzero number too small for a 64-bit float",
            Inexact::Precision => "a number with more digits than a 64-bit float keeps",
        }
    }
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
        .unwrap_or(if exp.starts_with('-') {
            i64::MIN / 2
        } else {
            i64::MAX / 2
        });
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

/// Checks that `f`, read from the decimal `text` (`[-+]digits[.digits][e[-+]digits]`, `_`
/// already removed), is its exact value. Other spellings (hex, octal, `.inf`) pass.
pub(crate) fn check_float(text: &str, f: f64, integral: bool) -> Result<(), Inexact> {
    let t = text.trim_start_matches(['-', '+']);
    let decimal_form = t
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_digit() || b == b'.')
        && t.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !decimal_form {
        return Ok(());
    }
    if !f.is_finite() {
        return Err(Inexact::Overflow);
    }
    let want = decimal(t);
    if want.0.is_empty() {
        return Ok(());
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
    Ok(())
}
