//! RFC 3339 timestamps the way sops (Go's `time` package) reads and writes them.
//!
//! Used for `lastmodified` (the MAC's AAD), `created_at`, and `type:time` values.

use std::fmt;
use std::time::SystemTime;
use std::time::UNIX_EPOCH;

/// A timestamp as YAML/TOML/sops know it: civil date and time plus a UTC offset.
///
/// The fields are kept as written (no conversion to an instant), which is all sops needs:
/// the plaintext form is RFC 3339 with nanoseconds, trailing zeros of the fraction
/// dropped, and `Z` for a zero offset (Go's `time.RFC3339Nano`).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Timestamp {
    /// Year (0..=9999).
    pub year: u16,
    /// Month, 1..=12.
    pub month: u8,
    /// Day of month, 1..=31 (validated against the month).
    pub day: u8,
    /// Hour, 0..=23.
    pub hour: u8,
    /// Minute, 0..=59.
    pub minute: u8,
    /// Second, 0..=59.
    pub second: u8,
    /// Nanoseconds, 0..=999_999_999.
    pub nanos: u32,
    /// Offset from UTC in seconds (0 = `Z`).
    pub offset_seconds: i32,
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Timestamp([REDACTED])")
    }
}

fn is_leap(y: u16) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

fn days_in_month(y: u16, m: u8) -> u8 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

impl Timestamp {
    /// Whether every field is in range (day checked against the month).
    pub fn is_valid(&self) -> bool {
        (1..=12).contains(&self.month)
            && self.day >= 1
            && self.day <= days_in_month(self.year, self.month)
            && self.hour < 24
            && self.minute < 60
            && self.second < 60
            && self.nanos < 1_000_000_000
            && self.offset_seconds.abs() < 24 * 3600
    }

    /// The current time in UTC, whole seconds (what sops writes to `lastmodified`).
    pub fn now_utc() -> Timestamp {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Timestamp::from_unix(secs)
    }

    /// The UTC civil time of a Unix timestamp (seconds).
    pub fn from_unix(secs: i64) -> Timestamp {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let y = yoe + era * 400;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = if m <= 2 { y + 1 } else { y };
        Timestamp {
            year: y.clamp(0, 9999) as u16,
            month: m as u8,
            day: d as u8,
            hour: (rem / 3600) as u8,
            minute: (rem % 3600 / 60) as u8,
            second: (rem % 60) as u8,
            nanos: 0,
            offset_seconds: 0,
        }
    }

    /// Seconds since the Unix epoch (offset applied).
    pub fn to_unix(&self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let m = i64::from(self.month);
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let mp = if m > 2 { m - 3 } else { m + 9 };
        let doy = (153 * mp + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - i64::from(self.offset_seconds)
    }

    fn write_offset(&self, out: &mut String) {
        if self.offset_seconds == 0 {
            out.push('Z');
        } else {
            let sign = if self.offset_seconds < 0 { '-' } else { '+' };
            let abs = self.offset_seconds.unsigned_abs();
            out.push_str(&format!("{sign}{:02}:{:02}", abs / 3600, abs % 3600 / 60));
        }
    }

    /// Go `time.RFC3339`: seconds precision, `Z` or `±hh:mm`. The MAC AAD form.
    pub fn to_rfc3339(&self) -> String {
        let mut s = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        );
        self.write_offset(&mut s);
        s
    }

    /// Go `time.RFC3339Nano`: fraction with trailing zeros dropped. The `type:time` plaintext.
    pub fn to_rfc3339_nano(&self) -> String {
        let mut s = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        );
        if self.nanos != 0 {
            let frac = format!("{:09}", self.nanos);
            s.push('.');
            s.push_str(frac.trim_end_matches('0'));
        }
        self.write_offset(&mut s);
        s
    }

    /// Parses RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±hh:mm)`, `T`/`t`, `Z`/`z`), as Go's
    /// `time.Parse(time.RFC3339, …)` accepts it.
    pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
        let b = s.as_bytes();
        if b.len() < 20 {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<u32> {
            let part = b.get(r)?;
            if part.iter().all(u8::is_ascii_digit) {
                Some(part.iter().fold(0u32, |a, d| a * 10 + u32::from(d - b'0')))
            } else {
                None
            }
        };
        if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
            return None;
        }
        if b[13] != b':' || b[16] != b':' {
            return None;
        }
        let mut ts = Timestamp {
            year: num(0..4)? as u16,
            month: num(5..7)? as u8,
            day: num(8..10)? as u8,
            hour: num(11..13)? as u8,
            minute: num(14..16)? as u8,
            second: num(17..19)? as u8,
            nanos: 0,
            offset_seconds: 0,
        };
        let mut i = 19;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i == start || i - start > 9 {
                return None;
            }
            let digits = &s[start..i];
            let mut n: u32 = digits.parse().ok()?;
            for _ in digits.len()..9 {
                n *= 10;
            }
            ts.nanos = n;
        }
        ts.offset_seconds = parse_offset(&b[i..])?;
        ts.is_valid().then_some(ts)
    }

    /// Parses a YAML timestamp the way go-yaml v3 resolves plain scalars: a date only
    /// (`2024-1-2`), a date and time separated by a space with no zone (UTC), or the
    /// `T`/`t` form with an optional fraction and `Z`/`±hh:mm` zone. Single-digit month,
    /// day, hour, minute and second are accepted. Text must start with four digits and `-`.
    pub fn parse_yaml(s: &str) -> Option<Timestamp> {
        let b = s.as_bytes();
        if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
            return None;
        }
        let mut i = 5;
        let field = |i: &mut usize, max_digits: usize| -> Option<u32> {
            let start = *i;
            while *i < b.len() && b[*i].is_ascii_digit() && *i - start < max_digits {
                *i += 1;
            }
            if *i == start {
                return None;
            }
            s[start..*i].parse().ok()
        };
        let year: u32 = s[..4].parse().ok()?;
        let month = field(&mut i, 2)?;
        if b.get(i) != Some(&b'-') {
            return None;
        }
        i += 1;
        let day = field(&mut i, 2)?;
        let mut ts = Timestamp {
            year: year as u16,
            month: month as u8,
            day: day as u8,
            ..Timestamp::default()
        };
        if i == b.len() {
            return ts.is_valid().then_some(ts);
        }
        let sep = b[i];
        let zone_required;
        match sep {
            b'T' | b't' => zone_required = true,
            b' ' | b'\t' => {
                zone_required = false;
                while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
                    i += 1;
                }
                i -= 1;
            }
            _ => return None,
        }
        i += 1;
        ts.hour = field(&mut i, 2)? as u8;
        if b.get(i) != Some(&b':') {
            return None;
        }
        i += 1;
        ts.minute = field(&mut i, 2)? as u8;
        if b.get(i) != Some(&b':') {
            return None;
        }
        i += 1;
        ts.second = field(&mut i, 2)? as u8;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i == start {
                return None;
            }
            let digits = &s[start..i.min(start + 9)];
            let mut n: u32 = digits.parse().ok()?;
            for _ in digits.len()..9 {
                n *= 10;
            }
            ts.nanos = n;
        }
        let rest = &b[i..];
        if rest.is_empty() {
            if zone_required {
                // go-yaml accepts "2006-01-02T15:04:05" only via the RFC3339 layouts,
                // which need a zone; without it the scalar stays a string.
                return None;
            }
            return ts.is_valid().then_some(ts);
        }
        let rest = if !zone_required {
            // "2001-12-14 21:59:43.10 -5" style zones are not accepted by go-yaml.
            return None;
        } else {
            rest
        };
        ts.offset_seconds = parse_offset(rest)?;
        ts.is_valid().then_some(ts)
    }
}

fn parse_offset(b: &[u8]) -> Option<i32> {
    match b {
        [b'Z' | b'z'] => Some(0),
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let d = |c: &u8| c.is_ascii_digit().then(|| i32::from(c - b'0'));
            let h = d(h1)? * 10 + d(h2)?;
            let m = d(m1)? * 10 + d(m2)?;
            if h > 23 || m > 59 {
                return None;
            }
            let off = h * 3600 + m * 60;
            Some(if *sign == b'-' { -off } else { off })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip() {
        let t = Timestamp::parse_rfc3339("2026-05-22T20:16:23Z").expect("valid");
        assert_eq!(t.to_rfc3339(), "2026-05-22T20:16:23Z");
        let t = Timestamp::parse_rfc3339("2006-01-02T15:04:05.120+07:06").expect("valid");
        assert_eq!(t.to_rfc3339_nano(), "2006-01-02T15:04:05.12+07:06");
        assert_eq!(t.to_rfc3339(), "2006-01-02T15:04:05+07:06");
        assert!(Timestamp::parse_rfc3339("2026-02-30T00:00:00Z").is_none());
        assert!(Timestamp::parse_rfc3339("2026-05-22 20:16:23Z").is_none());
    }

    #[test]
    fn unix_round_trip() {
        for secs in [0i64, 1, 86_399, 951_782_400, 1_779_480_983, 4_102_444_800] {
            assert_eq!(Timestamp::from_unix(secs).to_unix(), secs);
        }
        assert_eq!(
            Timestamp::from_unix(1_779_480_983).to_rfc3339(),
            "2026-05-22T20:16:23Z"
        );
    }

    #[test]
    fn yaml_forms() {
        let d = Timestamp::parse_yaml("2024-1-2").expect("date");
        assert_eq!(d.to_rfc3339_nano(), "2024-01-02T00:00:00Z");
        let s = Timestamp::parse_yaml("2001-12-14 21:59:43.10").expect("space");
        assert_eq!(s.to_rfc3339_nano(), "2001-12-14T21:59:43.1Z");
        let t = Timestamp::parse_yaml("2001-12-14t21:59:43.10-05:00").expect("t");
        assert_eq!(t.to_rfc3339_nano(), "2001-12-14T21:59:43.1-05:00");
        assert!(Timestamp::parse_yaml("2001-12-14T21:59:43").is_none());
        assert!(Timestamp::parse_yaml("12-12-12").is_none());
        assert!(Timestamp::parse_yaml("2024-13-01").is_none());
    }
}
