//! A strict (RFC 8259) JSON reader producing the tree.
//!
//! Hand-written and iterative (an explicit stack instead of recursion), so a deeply nested
//! input gives an error instead of a stack overflow. Object member order and duplicate
//! members are kept. Numbers without a fraction or exponent that fit an `i64` become
//! [`Value::Int`], every other number [`Value::Float`]. Invalid UTF-8 inside strings is
//! replaced by U+FFFD byte by byte and lone surrogate escapes become U+FFFD, as Go's
//! `encoding/json` does. Errors carry a line and column, never the input text.

use crate::format::FormatError;
use crate::tree::Item;
use crate::tree::Map;
use crate::tree::SeqItem;
use crate::tree::Text;
use crate::tree::Value;

/// The deepest nesting of objects and arrays accepted (the top-level object counts as 1).
pub const MAX_DEPTH: usize = 10_000;

const FORMAT: &str = "json";

/// An open container while parsing.
enum Frame {
    /// An object being filled, with the key of the member whose value comes next.
    Obj(Map, String),
    /// An array being filled.
    Arr(Vec<SeqItem>),
}

/// What the innermost container does after one of its values is complete.
enum Next {
    /// A `,`: another value follows.
    More,
    /// The closing bracket: the container is complete.
    Close,
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

/// Parses a whole JSON document whose top level must be an object.
pub fn parse_top_object(input: &[u8]) -> Result<Map, FormatError> {
    let mut p = Parser { s: input, pos: 0 };
    p.skip_ws();
    match p.peek() {
        None => return Err(p.err("empty input: expected a JSON object")),
        Some(b'{') => {}
        Some(_) => {
            return Err(p.err(
                "the top level of a JSON file must be an object (starting with '{'), \
                 not an array or another type",
            ));
        }
    }
    let value = p.parse_value()?;
    p.skip_ws();
    if p.pos != p.s.len() {
        return Err(p.err("unexpected data after the top-level object"));
    }
    match value {
        Value::Map(m) => Ok(m),
        _ => Err(FormatError::new(FORMAT, "the top level must be an object")),
    }
}

/// Bytes that end a run of ordinary string content: `"`, `\\` and control characters.
const STRING_STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = true;
        c += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// An error at the current position.
    fn err(&self, msg: &str) -> FormatError {
        self.err_at(msg, self.pos)
    }

    /// An error at a byte offset, reported as 1-based line and column (in characters).
    fn err_at(&self, msg: &str, at: usize) -> FormatError {
        let upto = self.s.get(..at).unwrap_or(self.s);
        let line = 1 + upto.iter().filter(|&&b| b == b'\n').count();
        let line_start = upto.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let col = 1 + upto
            .get(line_start..)
            .unwrap_or(&[])
            .iter()
            .filter(|&&b| (b & 0xC0) != 0x80)
            .count();
        FormatError::at(FORMAT, msg, line, col)
    }

    fn unexpected(&self) -> FormatError {
        if self.pos >= self.s.len() {
            self.err("unexpected end of input")
        } else {
            self.err("unexpected character")
        }
    }

    /// Parses one value (with everything nested in it) starting at the current position.
    fn parse_value(&mut self) -> Result<Value, FormatError> {
        let mut stack: Vec<Frame> = Vec::new();
        'value: loop {
            self.skip_ws();
            let mut value = match self.peek() {
                Some(b'{') => {
                    if stack.len() >= MAX_DEPTH {
                        return Err(self.err("nesting too deep (more than 10000 levels)"));
                    }
                    self.pos += 1;
                    self.skip_ws();
                    if self.peek() == Some(b'}') {
                        self.pos += 1;
                        Value::Map(Map::new())
                    } else {
                        let key = self.parse_key()?;
                        stack.push(Frame::Obj(Map::new(), key));
                        continue 'value;
                    }
                }
                Some(b'[') => {
                    if stack.len() >= MAX_DEPTH {
                        return Err(self.err("nesting too deep (more than 10000 levels)"));
                    }
                    self.pos += 1;
                    self.skip_ws();
                    if self.peek() == Some(b']') {
                        self.pos += 1;
                        Value::Seq(Vec::new())
                    } else {
                        stack.push(Frame::Arr(Vec::new()));
                        continue 'value;
                    }
                }
                Some(b'"') => Value::Str(Text::from(self.parse_string()?)),
                Some(b't') => self.literal(b"true", Value::Bool(true))?,
                Some(b'f') => self.literal(b"false", Value::Bool(false))?,
                Some(b'n') => self.literal(b"null", Value::Null)?,
                Some(b'-' | b'0'..=b'9') => self.parse_number()?,
                _ => return Err(self.unexpected()),
            };
            // Attach the completed value to its container, closing containers as needed.
            loop {
                let next = match stack.last_mut() {
                    None => return Ok(value),
                    Some(Frame::Obj(map, key)) => {
                        map.0.push(Item::Entry(std::mem::take(key), value));
                        self.skip_ws();
                        match self.peek() {
                            Some(b',') => {
                                self.pos += 1;
                                self.skip_ws();
                                *key = self.parse_key()?;
                                Next::More
                            }
                            Some(b'}') => Next::Close,
                            Some(_) => {
                                return Err(self.err("expected ',' or '}' after an object member"));
                            }
                            None => return Err(self.unexpected()),
                        }
                    }
                    Some(Frame::Arr(items)) => {
                        items.push(SeqItem::Value(value));
                        self.skip_ws();
                        match self.peek() {
                            Some(b',') => {
                                self.pos += 1;
                                Next::More
                            }
                            Some(b']') => Next::Close,
                            Some(_) => {
                                return Err(self.err("expected ',' or ']' after an array element"));
                            }
                            None => return Err(self.unexpected()),
                        }
                    }
                };
                match next {
                    Next::More => continue 'value,
                    Next::Close => {
                        self.pos += 1;
                        value = match stack.pop() {
                            Some(Frame::Obj(map, _)) => Value::Map(map),
                            Some(Frame::Arr(items)) => Value::Seq(items),
                            None => return Err(self.err("internal parser error")),
                        };
                    }
                }
            }
        }
    }

    fn literal(&mut self, word: &[u8], value: Value) -> Result<Value, FormatError> {
        if self.s.get(self.pos..).is_some_and(|r| r.starts_with(word)) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.err("invalid literal"))
        }
    }

    /// An object key followed by `:`; the current position is at the key's opening quote.
    fn parse_key(&mut self) -> Result<String, FormatError> {
        if self.peek() != Some(b'"') {
            return Err(if self.pos >= self.s.len() {
                self.unexpected()
            } else {
                self.err("expected a string object key")
            });
        }
        let key = self.parse_string()?;
        self.skip_ws();
        if self.peek() != Some(b':') {
            return Err(self.err("expected ':' after an object key"));
        }
        self.pos += 1;
        Ok(key)
    }

    /// A string; the current position is at the opening quote.
    fn parse_string(&mut self) -> Result<String, FormatError> {
        let start = self.pos + 1;
        let mut i = start;
        let mut escaped = false;
        loop {
            // Skip the run of ordinary bytes in one pass, then look at what stopped it.
            let run = self.s.get(i..).map(|r| {
                let mut n = 0;
                for &c in r {
                    if STRING_STOP[usize::from(c)] {
                        break;
                    }
                    n += 1;
                }
                n
            });
            let run = run.filter(|&n| i + n < self.s.len());
            let Some(run) = run else {
                return Err(self.err_at("unterminated string", self.s.len()));
            };
            i += run;
            match self.s.get(i) {
                Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    i += 2;
                }
                _ => return Err(self.err_at("control character in string", i)),
            }
        }
        let raw = self.s.get(start..i).unwrap_or(&[]);
        let out = if escaped {
            self.unescape(raw, start)?
        } else {
            match std::str::from_utf8(raw) {
                Ok(s) => String::from(s),
                Err(_) => {
                    let mut out = String::with_capacity(raw.len() + 16);
                    push_lossy(&mut out, raw);
                    out
                }
            }
        };
        self.pos = i + 1;
        Ok(out)
    }

    /// Decodes the escapes of a string's raw content (`base` = its offset in the input).
    fn unescape(&self, raw: &[u8], base: usize) -> Result<String, FormatError> {
        let mut out = String::with_capacity(raw.len());
        let mut i = 0;
        while i < raw.len() {
            let run_end = raw
                .get(i..)
                .and_then(|r| r.iter().position(|&b| b == b'\\'))
                .map_or(raw.len(), |p| i + p);
            push_lossy(&mut out, raw.get(i..run_end).unwrap_or(&[]));
            i = run_end;
            if i >= raw.len() {
                break;
            }
            let bad = || self.err_at("invalid escape sequence in string", base + i);
            let c = match raw.get(i + 1) {
                Some(b'"') => '"',
                Some(b'\\') => '\\',
                Some(b'/') => '/',
                Some(b'b') => '\u{8}',
                Some(b'f') => '\u{c}',
                Some(b'n') => '\n',
                Some(b'r') => '\r',
                Some(b't') => '\t',
                Some(b'u') => {
                    let hi = hex4(raw.get(i + 2..i + 6)).ok_or_else(bad)?;
                    i += 6;
                    let c = if (0xD800..0xDC00).contains(&hi) {
                        let lo = if raw.get(i..i + 2) == Some(b"\\u") {
                            hex4(raw.get(i + 2..i + 6))
                        } else {
                            None
                        };
                        match lo {
                            Some(lo) if (0xDC00..0xE000).contains(&lo) => {
                                i += 6;
                                let cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                                char::from_u32(cp).unwrap_or('\u{FFFD}')
                            }
                            _ => '\u{FFFD}',
                        }
                    } else {
                        char::from_u32(hi).unwrap_or('\u{FFFD}')
                    };
                    out.push(c);
                    continue;
                }
                _ => return Err(bad()),
            };
            out.push(c);
            i += 2;
        }
        Ok(out)
    }

    /// A number; the current position is at `-` or a digit.
    fn parse_number(&mut self) -> Result<Value, FormatError> {
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
        if integral && let Ok(n) = text.parse::<i64>() {
            return Ok(Value::Int(n));
        }
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Value::Float(f)),
            _ => Err(self.err_at("number out of range", start)),
        }
    }
}

/// Four hex digits.
fn hex4(b: Option<&[u8]>) -> Option<u32> {
    let b = b?;
    if b.len() != 4 {
        return None;
    }
    b.iter().try_fold(0u32, |acc, &c| {
        let d = (c as char).to_digit(16)?;
        Some(acc * 16 + d)
    })
}

/// Appends bytes as UTF-8, each byte of an invalid sequence replaced by U+FFFD (Go's rule).
pub(crate) fn push_lossy(out: &mut String, bytes: &[u8]) {
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for _ in chunk.invalid() {
            out.push('\u{FFFD}');
        }
    }
}
