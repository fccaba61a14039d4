//! A strict (RFC 8259) JSON reader producing the tree.
//!
//! Hand-written and iterative (an explicit stack instead of recursion), so a deeply nested
//! input gives an error instead of a stack overflow. Object member order and duplicate
//! members are kept. Numbers without a fraction or exponent that fit an `i64` become
//! [`Value::Int`], every other number [`Value::Float`] when that is exact (see
//! `number.rs`; otherwise an error naming the path). Invalid UTF-8 is refused with its
//! byte offset; lone surrogate escapes become U+FFFD, as Go's `encoding/json` does.
//! Nesting is limited to [`MAX_DEPTH`] levels. Errors carry a line and column, never the
//! input text.

use crate::format::FormatError;
use crate::tree::Item;
use crate::tree::Map;
use crate::tree::SeqItem;
use crate::tree::Text;
use crate::tree::Value;

use super::parse_par::FragState;
use super::parse_par::Join;

/// The deepest nesting of objects and arrays accepted (the top-level object counts as 1).
pub const MAX_DEPTH: usize = crate::format::MAX_DEPTH;

const FORMAT: &str = "json";

/// An open container while parsing.
pub(super) enum Frame {
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

/// How [`Parser::run`] behaves at the few points where a whole-document parse and a
/// fragment parse (see [`super::parse_par`]) differ.
pub(super) enum Mode<'m, 'scope> {
    /// Parsing a whole document from its start; the optional join offers a fragment parsed
    /// by another thread at one member/element boundary.
    Whole(Option<&'m mut Join<'scope>>),
    /// Parsing a fragment that starts inside containers opened before it.
    Fragment(&'m mut FragState<'scope>),
}

/// What [`Parser::run`] ends with.
pub(super) enum Outcome {
    /// A whole-document parse: the complete top-level value.
    Value(Value),
    /// A fragment parse: the closing bracket of the last level is at this offset and only
    /// whitespace follows it.
    FragmentEnd(usize),
}

/// The message of the depth-limit error.
const TOO_DEEP: &str = "nesting too deep (more than 256 levels of objects and arrays)";
const _: () = assert!(MAX_DEPTH == 256, "update TOO_DEEP");

/// The reader's state: the input and the position in it.
pub(super) struct Parser<'a> {
    pub(super) s: &'a [u8],
    pub(super) pos: usize,
    /// The longest valid UTF-8 prefix of `s[..end]` for some `end` (see `validate_lo`),
    /// so strings in it are taken without validating them again.
    lo: &'a str,
    /// The longest valid UTF-8 prefix of `s[hi_at..]` (empty until `validate_hi`).
    hi: &'a str,
    hi_at: usize,
    /// Comma boundaries at or after this offset are offered to [`Parser::at_boundary`].
    pub(super) splice_at: usize,
    /// Errors without line and column (the fragment thread's errors are never shown).
    pub(super) quiet: bool,
}

/// Parses a whole JSON document whose top level must be an object.
///
/// Large inputs are read by two threads when more than one CPU is available (see
/// `parse_par`); the result and any error are exactly those of the sequential reader.
pub fn parse_top_object(input: &[u8]) -> Result<Map, FormatError> {
    super::parse_par::parse_top_object_with(input, super::parse_par::DEFAULT_THRESHOLD)
}

/// The sequential reader (one thread).
pub(super) fn parse_sequential(input: &[u8]) -> Result<Map, FormatError> {
    let mut p = Parser::new(input);
    p.validate_lo(input.len());
    p.top_object(None)
}

/// The longest prefix of `b` that is valid UTF-8.
fn valid_prefix(b: &[u8]) -> &str {
    match std::str::from_utf8(b) {
        Ok(s) => s,
        Err(e) => b
            .get(..e.valid_up_to())
            .and_then(|p| std::str::from_utf8(p).ok())
            .unwrap_or(""),
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

/// The length of the run of ordinary string bytes at the start of `r` (up to the first
/// `"`, `\\` or control character, or all of `r`).
pub(super) fn string_run(r: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut n = 0;
    // Eight bytes at a time (SWAR): a byte's high bit is set in `hit` when it is below 0x20,
    // `"` or `\\`. A borrow can only set bits above a byte that really matches, so the
    // lowest set bit is exact.
    while let Some(chunk) = r.get(n..n + 8).and_then(|c| <[u8; 8]>::try_from(c).ok()) {
        let x = u64::from_le_bytes(chunk);
        let quote = x ^ (ONES * u64::from(b'"'));
        let slash = x ^ (ONES * u64::from(b'\\'));
        let hit =
            (x.wrapping_sub(ONES * 0x20) | quote.wrapping_sub(ONES) | slash.wrapping_sub(ONES))
                & !x
                & HIGH;
        if hit != 0 {
            return n + (hit.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    for &c in r.get(n..).unwrap_or(&[]) {
        if STRING_STOP[usize::from(c)] {
            break;
        }
        n += 1;
    }
    n
}

impl<'a> Parser<'a> {
    /// A parser at offset 0 of `s` with no validated text yet.
    pub(super) fn new(s: &'a [u8]) -> Self {
        Parser {
            s,
            pos: 0,
            lo: "",
            hi: "",
            hi_at: 0,
            splice_at: usize::MAX,
            quiet: false,
        }
    }

    /// Validates `s[..end]` once, so strings in it are taken without validating again.
    pub(super) fn validate_lo(&mut self, end: usize) {
        self.lo = valid_prefix(self.s.get(..end).unwrap_or(self.s));
    }

    /// Validates `s[at..]` once, so strings in it are taken without validating again.
    pub(super) fn validate_hi(&mut self, at: usize) {
        self.hi_at = at;
        self.hi = valid_prefix(self.s.get(at..).unwrap_or(&[]));
    }

    /// `s[a..b]` as text when it lies in an already validated part.
    fn text(&self, a: usize, b: usize) -> Option<&'a str> {
        if b <= self.lo.len() {
            self.lo.get(a..b)
        } else if a >= self.hi_at && b - self.hi_at <= self.hi.len() {
            self.hi.get(a - self.hi_at..b - self.hi_at)
        } else {
            None
        }
    }

    /// The whole document: one object, then only whitespace.
    pub(super) fn top_object(&mut self, join: Option<&mut Join<'_>>) -> Result<Map, FormatError> {
        self.skip_ws();
        if self
            .s
            .get(self.pos..)
            .is_some_and(|r| r.starts_with(b"\xEF\xBB\xBF"))
        {
            return Err(self.err(
                "the file starts with a byte-order mark (U+FEFF), which JSON does not allow; \
                 save it as UTF-8 without a byte-order mark",
            ));
        }
        match self.peek() {
            None => return Err(self.err("empty input: expected a JSON object")),
            Some(b'{') => {}
            Some(_) => {
                return Err(self.err(
                    "the top level of a JSON file must be an object (starting with '{'), \
                     not an array or another type",
                ));
            }
        }
        let value = match self.run(Vec::new(), Mode::Whole(join))? {
            Outcome::Value(v) => v,
            Outcome::FragmentEnd(_) => return Err(self.err("internal parser error")),
        };
        self.skip_ws();
        if self.pos != self.s.len() {
            return Err(self.err("unexpected data after the top-level object"));
        }
        match value {
            Value::Map(m) => Ok(m),
            _ => Err(FormatError::new(FORMAT, "the top level must be an object")),
        }
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    pub(super) fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// An error at the current position.
    pub(super) fn err(&self, msg: &str) -> FormatError {
        self.err_at(msg, self.pos)
    }

    /// An error at a byte offset, reported as 1-based line and column (in characters).
    pub(super) fn err_at(&self, msg: &str, at: usize) -> FormatError {
        if self.quiet {
            return FormatError::new(FORMAT, msg);
        }
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

    /// Checks the depth limit before opening a container while `open` containers are open.
    fn check_depth(&self, open: usize, mode: &mut Mode<'_, '_>) -> Result<(), FormatError> {
        if let Mode::Fragment(f) = mode {
            // The whole parse has `d - 1 - popped + open` containers open here, where `d`
            // is its depth at the fragment's start (checked when the fragment is offered).
            f.max_rel = f.max_rel.max(open as isize - f.popped as isize);
        }
        // In fragment mode `d - 1 - popped >= 0` for any fragment the whole parse accepts,
        // so `open >= MAX_DEPTH` means the whole parse fails here too.
        if open >= MAX_DEPTH {
            return Err(self.err(TOO_DEEP));
        }
        Ok(())
    }

    /// After a `,` and the whitespace after it: offers the boundary to the join (whole
    /// mode) or checks for cancellation (fragment mode). True when a fragment was spliced
    /// in and the innermost container is now at its closing bracket.
    fn at_boundary(
        &mut self,
        stack: &mut Vec<Frame>,
        mode: &mut Mode<'_, '_>,
    ) -> Result<bool, FormatError> {
        if self.pos < self.splice_at {
            return Ok(false);
        }
        match mode {
            Mode::Whole(Some(join)) => join.offer(self, stack),
            Mode::Whole(None) => Ok(false),
            Mode::Fragment(f) => {
                if f.cancelled() {
                    Err(self.err("cancelled"))
                } else {
                    Ok(false)
                }
            }
        }
    }

    /// Runs the reader from the current position with the given open containers: parses
    /// one value (with everything nested in it) and attaches it, closing containers as
    /// needed, until the bottom container closes (whole mode: returns the completed
    /// value) or, in fragment mode, until the input ends after a closed level.
    pub(super) fn run(
        &mut self,
        mut stack: Vec<Frame>,
        mut mode: Mode<'_, '_>,
    ) -> Result<Outcome, FormatError> {
        'value: loop {
            self.skip_ws();
            let mut value = match self.peek() {
                Some(b'{') => {
                    self.check_depth(stack.len(), &mut mode)?;
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
                    self.check_depth(stack.len(), &mut mode)?;
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
                Some(b'-' | b'0'..=b'9') => {
                    let start = self.pos;
                    self.parse_number()?.map_err(|why| {
                        let msg = format!(
                            "{} at {} cannot be kept exactly; write it as a string",
                            why.describe(),
                            super::number::path(&stack)
                        );
                        self.err_at(&msg, start)
                    })?
                }
                _ => return Err(self.unexpected()),
            };
            // Attach the completed value to its container, closing containers as needed.
            loop {
                let next = match stack.last_mut() {
                    None => return Ok(Outcome::Value(value)),
                    Some(Frame::Obj(map, key)) => {
                        map.0.push(Item::Entry(std::mem::take(key), value));
                        self.skip_ws();
                        match self.peek() {
                            Some(b',') => {
                                self.pos += 1;
                                self.skip_ws();
                                if self.at_boundary(&mut stack, &mut mode)? {
                                    Next::Close
                                } else {
                                    let k = self.parse_key()?;
                                    if let Some(Frame::Obj(_, key)) = stack.last_mut() {
                                        *key = k;
                                    }
                                    Next::More
                                }
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
                                self.skip_ws();
                                if self.at_boundary(&mut stack, &mut mode)? {
                                    Next::Close
                                } else {
                                    Next::More
                                }
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
                        if let Mode::Fragment(f) = &mut mode
                            && stack.len() == 1
                        {
                            match f.close_level(self, &mut stack)? {
                                Some(end) => return Ok(Outcome::FragmentEnd(end)),
                                None => continue 'value,
                            }
                        }
                        self.pos += 1;
                        // A finished collection gives back the room its growth reserved:
                        // a one-item list kept four items' worth (round 24, "Memory").
                        value = match stack.pop() {
                            Some(Frame::Obj(mut map, _)) => {
                                map.0.shrink_to_fit();
                                Value::Map(map)
                            }
                            Some(Frame::Arr(mut items)) => {
                                items.shrink_to_fit();
                                Value::Seq(items)
                            }
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
    pub(super) fn parse_key(&mut self) -> Result<String, FormatError> {
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
            let run = self.s.get(i..).map(string_run);
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
        let text = match self.text(start, i) {
            Some(t) => t,
            None => std::str::from_utf8(raw).map_err(|e| {
                let at = start + e.valid_up_to();
                let msg = format!(
                    "invalid UTF-8 in a string at byte offset {at}; JSON text must be UTF-8"
                );
                self.err_at(&msg, at)
            })?,
        };
        let out = if escaped {
            self.unescape(text.as_bytes(), start)?
        } else {
            String::from(text)
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
