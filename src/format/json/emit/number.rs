//! Numbers as Go's `encoding/json` writes them, without heap copies of the digits.

use zeroize::Zeroizing;

use super::FORMAT;
use super::SecureBuf;
use crate::format::FormatError;

/// Writes an integer in decimal without allocating.
pub(super) fn write_int(out: &mut SecureBuf, n: i64) {
    let mut buf = [0u8; 20];
    let mut pos = buf.len();
    let mut u = n.unsigned_abs();
    loop {
        pos -= 1;
        if let Some(slot) = buf.get_mut(pos) {
            *slot = b'0' + (u % 10) as u8;
        }
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if n < 0 {
        out.byte(b'-');
    }
    out.push(buf.get(pos..).unwrap_or(&[]));
}

/// A small stack buffer for formatting one number without allocating.
struct NumBuf {
    buf: [u8; 64],
    len: usize,
}

impl std::fmt::Write for NumBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(std::fmt::Error)?;
        let slot = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Writes a float as [`format_float`] formats it, without a heap copy of the digits.
pub(super) fn write_float(out: &mut SecureBuf, f: f64) -> Result<(), FormatError> {
    use std::fmt::Write as _;
    if !f.is_finite() {
        return Err(not_finite());
    }
    if let Some((m, k)) = short_decimal(f) {
        write_decimal(out, f.is_sign_negative(), m, k);
        return Ok(());
    }
    let mut nb = NumBuf {
        buf: [0; 64],
        len: 0,
    };
    let abs = f.abs();
    let exponent = abs != 0.0 && !(1e-6..1e21).contains(&abs);
    let written = if exponent {
        write!(nb, "{f:e}")
    } else {
        write!(nb, "{f}")
    };
    let text = nb.buf.get(..nb.len).unwrap_or(&[]);
    match written {
        Err(_) => {
            // Cannot happen (a float's text is far shorter than the buffer); stay correct.
            let s = Zeroizing::new(format_float(f)?);
            out.push(s.as_bytes());
        }
        Ok(()) => match text.iter().position(|&b| b == b'e') {
            Some(e) if exponent && text.get(e + 1) != Some(&b'-') => {
                out.push(text.get(..=e).unwrap_or(&[]));
                out.byte(b'+');
                out.push(text.get(e + 1..).unwrap_or(&[]));
            }
            _ => out.push(text),
        },
    }
    zeroize::Zeroize::zeroize(&mut nb.buf);
    Ok(())
}

/// Exact powers of ten for [`short_decimal`].
const POW10: [f64; 7] = [1.0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6];

/// The fast path for the common float with few decimals (`5.54`, `99.95`): `(m, k)`
/// with `|f| == m / 10^k` where that is the shortest decimal that reads back as `f`
/// (what the general formatter prints), or `None` to use the general formatter.
///
/// The first `k` for which `round(|f|·10^k) / 10^k` gives back `|f|` (the division is
/// correctly rounded, so this is exactly "the decimal reads back as `f`") has the fewest
/// digits; it is also the only `k`-digit candidate, so the same one shortest-digit
/// algorithms choose, when decimals `10^-k` apart cannot both fall in the rounding
/// interval of `f` (narrower than one ulp): checked with a wide margin.
pub(crate) fn short_decimal(f: f64) -> Option<(u64, usize)> {
    let a = f.abs();
    if !(1e-3..1e9).contains(&a) {
        return None;
    }
    let ulp = a.next_up() - a;
    for (k, p) in POW10.iter().enumerate() {
        if ulp * p >= 0.25 {
            return None;
        }
        let m = (a * p).round();
        if m / p == a {
            // `m < 1e15 < 2^53`: the conversion is exact.
            let m = m as u64;
            if k > 0 && m.is_multiple_of(10) {
                return None;
            }
            return Some((m, k));
        }
    }
    None
}

/// Writes `±m / 10^k` in positional notation (`k` fraction digits).
fn write_decimal(out: &mut SecureBuf, negative: bool, m: u64, k: usize) {
    let mut digits = [b'0'; 24];
    let mut pos = digits.len();
    let mut u = m;
    while u > 0 {
        pos -= 1;
        if let Some(slot) = digits.get_mut(pos) {
            *slot = b'0' + (u % 10) as u8;
        }
        u /= 10;
    }
    // At least one integer digit: the zeros before `pos` are there already.
    let start = pos.min(digits.len().saturating_sub(k + 1));
    let point = digits.len() - k;
    if negative {
        out.byte(b'-');
    }
    out.push(digits.get(start..point).unwrap_or(b"0"));
    if k > 0 {
        out.byte(b'.');
        out.push(digits.get(point..).unwrap_or(&[]));
    }
}

fn not_finite() -> FormatError {
    FormatError::new(FORMAT, "NaN and infinite numbers cannot be written as JSON")
}

/// Formats a float as Go's `encoding/json` writes a `float64`: shortest round-trip digits,
/// positional unless |x| < 1e-6 or |x| >= 1e21 (then `1e-7`, `1.5e+21`). NaN and
/// infinities are an error.
pub fn format_float(f: f64) -> Result<String, FormatError> {
    if !f.is_finite() {
        return Err(not_finite());
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{f:e}");
        Ok(match s.split_once('e') {
            Some((mant, exp)) if exp.starts_with('-') => format!("{mant}e{exp}"),
            Some((mant, exp)) => format!("{mant}e+{exp}"),
            None => s,
        })
    } else {
        Ok(format!("{f}"))
    }
}
