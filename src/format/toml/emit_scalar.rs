//! Scalars for the TOML writer: strings (multi-line basic strings in metadata) and
//! timestamps.

use std::fmt::Write as _;

use toml_edit::Date;
use toml_edit::Datetime;
use toml_edit::Offset;
use toml_edit::Time;
use toml_edit::Value as TValue;

use crate::tree::Timestamp;

/// A string; with `multi_line_basic` (metadata) a multi-line string is written as a `"""` basic string.
pub(super) fn string_value(s: &str, multi_line_basic: bool) -> TValue {
    if multi_line_basic && s.contains('\n') {
        let mut lit = String::with_capacity(s.len() + 8);
        lit.push_str("\"\"\"\n");
        for ch in s.chars() {
            match ch {
                '\\' => lit.push_str("\\\\"),
                '"' => lit.push_str("\\\""),
                '\n' => lit.push('\n'),
                '\t' => lit.push('\t'),
                c if c.is_control() => {
                    let _ = write!(lit, "\\u{:04X}", c as u32);
                }
                c => lit.push(c),
            }
        }
        lit.push_str("\"\"\"");
        if let Ok(v) = lit.parse::<TValue>()
            && v.as_str() == Some(s)
        {
            return v;
        }
    }
    TValue::from(s)
}

/// A tree timestamp as a TOML offset date-time; the error is a message for the caller's
/// format error.
pub(super) fn datetime(ts: &Timestamp) -> Result<Datetime, &'static str> {
    let offset = if ts.offset_seconds == 0 {
        Offset::Z
    } else if ts.offset_seconds % 60 == 0 && ts.offset_seconds.abs() < 24 * 3600 {
        let minutes = i16::try_from(ts.offset_seconds / 60)
            .map_err(|_| "a timestamp offset cannot be written as TOML")?;
        Offset::Custom { minutes }
    } else {
        return Err("a timestamp offset cannot be written as TOML");
    };
    if !ts.is_valid() {
        return Err("a timestamp is out of range");
    }
    Ok(Datetime {
        date: Some(Date {
            year: ts.year,
            month: ts.month,
            day: ts.day,
        }),
        time: Some(Time {
            hour: ts.hour,
            minute: ts.minute,
            second: Some(ts.second),
            nanosecond: (ts.nanos != 0).then_some(ts.nanos),
        }),
        offset: Some(offset),
    })
}
