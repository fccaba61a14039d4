//! sops's regular expressions. sops compiles every regex it reads (`path_regex` in
//! `.sops.yaml`, the `encrypted_regex` family in a policy, on the command line or in a
//! file's metadata) with Go's `regexp` package, whose syntax (RE2) and class meanings
//! differ from the Rust `regex` crate's: `\w`, `\d`, `\s` and `\b` are ASCII-only in Go,
//! `[` inside a class is a literal, `\Q…\E` and octal escapes exist, `(?x)`, `\<` or
//! `a{,3}` mean something else or nothing. This module reads a pattern with Go's rules
//! (as `regexp/syntax` does with its `Perl` flags) and writes an equivalent pattern for the
//! `regex` crate, or refuses it where Go does. Only matching (`is_match`) is supported:
//! groups do not capture and greediness is kept but never observed.
//!
//! The translation: every literal is written as itself or `\x{…}`; a class is rebuilt
//! item by item (a negated group such as `\W`, `[:^alpha:]` or `\P{L}` becomes a nested
//! negated class, so that case folding then negation happens per item, as in Go); `.`,
//! `^` and `$` carry their flags explicitly; Go's flag groups change the state the next
//! atoms are written with and emit nothing themselves.

use std::fmt;
use std::fmt::Write as _;

use regex::Regex;

mod class;
mod size;

#[cfg(test)]
thread_local! {
    /// How many patterns this thread compiled (unit tests check that a file's selector
    /// is compiled once).
    pub(crate) static COMPILED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}
#[cfg(test)]
mod tests;

pub use size::POLICY_BUDGET;
pub use size::SIZE_TIERS;
use size::compile_costed;

/// A regex read with sops's (Go's) syntax, keeping the pattern as written.
#[derive(Clone)]
pub struct GoRegex {
    source: String,
    regex: Regex,
    cost: usize,
}

impl GoRegex {
    /// Reads `pattern` with Go's syntax; see [`compile`].
    pub fn new(pattern: &str) -> Result<GoRegex, GoRegexError> {
        #[cfg(test)]
        COMPILED.with(|n| n.set(n.get() + 1));
        let (regex, cost) = compile_costed(pattern)?;
        Ok(GoRegex {
            source: pattern.to_owned(),
            regex,
            cost,
        })
    }

    /// About how much memory the compiled regex may hold, in bytes: the smallest of the
    /// [`SIZE_TIERS`] its compiled program fits in. A policy adds these up against
    /// its budget (`crate::policy`, [`POLICY_BUDGET`]).
    pub fn compiled_cost(&self) -> usize {
        self.cost
    }

    /// The pattern as written (what sops stores and shows).
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the pattern matches somewhere in `text`, as Go's `MatchString` decides.
    pub fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }
}

impl fmt::Debug for GoRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("GoRegex").field(&self.source).finish()
    }
}

impl fmt::Display for GoRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// A pattern sops would refuse, or one leafseal cannot compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoRegexError {
    offset: usize,
    problem: String,
    expr: String,
    /// True when Go accepts the pattern but the translated form exceeds the `regex`
    /// crate's size or nesting limits.
    beyond_limits: bool,
}

impl GoRegexError {
    /// The byte offset in the pattern where the problem starts.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Whether sops itself would accept the pattern (it is only too large or too deeply
    /// nested for leafseal's engine).
    pub fn is_beyond_limits(&self) -> bool {
        self.beyond_limits
    }
}

impl fmt::Display for GoRegexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.beyond_limits {
            write!(
                f,
                "the pattern is valid in sops's (Go) regex syntax but too large or too deeply nested for leafseal: {}",
                self.problem
            )
        } else if self.expr.is_empty() {
            write!(
                f,
                "not valid in sops's (Go) regex syntax: {} at byte {}",
                self.problem, self.offset
            )
        } else {
            write!(
                f,
                "not valid in sops's (Go) regex syntax: {} `{}` at byte {}",
                self.problem, self.expr, self.offset
            )
        }
    }
}

impl std::error::Error for GoRegexError {}

/// Compiles `pattern` as Go's `regexp.Compile` reads it (RE2 syntax, Perl flags) into a
/// `regex::Regex` that matches the same strings.
pub fn compile(pattern: &str) -> Result<Regex, GoRegexError> {
    // A pattern may come from a file's metadata: a long one (thousands of `\pL` under
    // `(?i)`) costs the `regex` crate seconds and a gigabyte before its own size limit
    // refuses it, so the pattern's length is limited first ([`MAX_PATTERN_LEN`]), then
    // its compiled size ([`SIZE_TIERS`]). Real selectors and path rules are far shorter.
    compile_costed(pattern).map(|(r, _)| r)
}

/// The `regex` crate pattern equivalent to the Go pattern, or Go's refusal.
pub fn translate(pattern: &str) -> Result<String, GoRegexError> {
    let mut t = Translator {
        pat: pattern,
        pos: 0,
        out: String::with_capacity(pattern.len() * 2),
        flags: Flags::default(),
        frames: vec![Frame {
            flags: Flags::default(),
            start: 0,
            open_at: 0,
            product: 1,
        }],
        last: None,
        last_repeat: None,
    };
    t.run()?;
    Ok(t.out)
}

/// Never matches (Go's class with no runes; a surrogate literal).
const NEVER: &str = r"[^\x{0}-\x{10FFFF}]";

/// The parse flags Go's Perl mode can change with `(?imsU)`.
#[derive(Clone, Copy, Default)]
pub(crate) struct Flags {
    /// `i`: case-insensitive (Go's FoldCase).
    pub(crate) fold: bool,
    /// `m`: `^`/`$` match at line breaks (Go clears OneLine).
    multi_line: bool,
    /// `s`: `.` matches `\n`.
    dot_nl: bool,
    /// `U`: repetitions are lazy by default.
    ungreedy: bool,
}

/// An open group (the whole pattern is the outermost).
struct Frame {
    /// The flags in force when the group opened, restored at its `)`.
    flags: Flags,
    /// Where the group's text starts in the output.
    start: usize,
    /// Where its `(` is in the pattern.
    open_at: usize,
    /// The largest product of nested counted repetitions inside (Go's 1000 limit).
    product: u64,
}

/// The atom a repetition would apply to: its output text starts at `start`.
#[derive(Clone, Copy)]
struct Atom {
    start: usize,
    product: u64,
}

struct Translator<'a> {
    pat: &'a str,
    pos: usize,
    out: String,
    flags: Flags,
    frames: Vec<Frame>,
    last: Option<Atom>,
    /// Where the previous item's repetition operator started, if the previous item was one.
    last_repeat: Option<usize>,
}

/// An error at `offset` with Go's error text and the offending expression.
pub(crate) fn refuse(offset: usize, problem: &str, expr: &str) -> GoRegexError {
    GoRegexError {
        offset,
        problem: problem.to_owned(),
        expr: expr.to_owned(),
        beyond_limits: false,
    }
}

pub(crate) const INVALID_ESCAPE: &str = "invalid escape sequence";
pub(crate) const INVALID_RANGE: &str = "invalid character class range";
const INVALID_PERL_OP: &str = "invalid or unsupported Perl syntax";
const INVALID_NAMED_CAPTURE: &str = "invalid named capture";
const INVALID_REPEAT_OP: &str = "invalid nested repetition operator";
const INVALID_REPEAT_SIZE: &str = "invalid repeat count";
const MISSING_PAREN: &str = "missing closing )";
const MISSING_REPEAT_ARGUMENT: &str = "missing argument to repetition operator";
const UNEXPECTED_PAREN: &str = "unexpected )";
const MAX_REPEAT: u64 = 1000;
/// The longest pattern compiled (see [`compile`]).
pub const MAX_PATTERN_LEN: usize = 4096;

impl<'a> Translator<'a> {
    fn rest(&self) -> &'a str {
        &self.pat[self.pos..]
    }

    fn run(&mut self) -> Result<(), GoRegexError> {
        while self.pos < self.pat.len() {
            let start = self.pos;
            let mut repeat_here = None;
            let rest = self.rest();
            let c = rest
                .chars()
                .next()
                .expect("the loop runs while text remains");
            match c {
                '(' if rest.as_bytes().get(1) == Some(&b'?') => self.perl_flags()?,
                '(' => {
                    self.pos += 1;
                    self.open_group(start);
                }
                '|' => {
                    self.pos += 1;
                    self.out.push('|');
                    self.last = None;
                }
                ')' => self.close_group()?,
                '^' | '$' | '.' => {
                    self.pos += 1;
                    let text = match (c, self.flags.multi_line, self.flags.dot_nl) {
                        ('^', true, _) => "(?m:^)",
                        ('^', false, _) => r"\A",
                        ('$', true, _) => "(?m:$)",
                        ('$', false, _) => r"\z",
                        (_, _, true) => "(?s:.)",
                        (_, _, false) => r"[^\n]",
                    };
                    self.atom_text(text);
                }
                '[' => {
                    let (text, len) = class::parse_class(rest, start, self.flags)?;
                    self.pos += len;
                    self.atom_text(&text);
                }
                '*' | '+' | '?' => {
                    self.pos += 1;
                    let (min, max) = match c {
                        '*' => (0, None),
                        '+' => (1, None),
                        _ => (0, Some(1)),
                    };
                    self.repeat(start, min, max, false)?;
                    repeat_here = Some(start);
                }
                '{' => match parse_repeat(rest) {
                    None => {
                        self.pos += 1;
                        self.literal('{' as u32);
                    }
                    Some((min, max, len)) => {
                        let text = &rest[..len];
                        let too_big = |n: i64| !(0..=MAX_REPEAT as i64).contains(&n);
                        if too_big(min) || max.is_some_and(|m| too_big(m) || min > m) {
                            return Err(refuse(start, INVALID_REPEAT_SIZE, text));
                        }
                        self.pos += len;
                        self.repeat(start, min as u64, max.map(|m| m as u64), true)?;
                        repeat_here = Some(start);
                    }
                },
                '\\' => self.escape()?,
                _ => {
                    self.pos += c.len_utf8();
                    self.literal(c as u32);
                }
            }
            self.last_repeat = repeat_here;
        }
        if self.frames.len() > 1 {
            let open_at = self.frames.last().map_or(0, |f| f.open_at);
            return Err(refuse(open_at, MISSING_PAREN, self.pat));
        }
        Ok(())
    }

    /// Writes a complete atom (one that a repetition can follow after wrapping).
    fn atom_text(&mut self, text: &str) {
        let start = self.out.len();
        self.out.push_str(text);
        self.push_atom(start, 1);
    }

    fn push_atom(&mut self, start: usize, product: u64) {
        self.last = Some(Atom { start, product });
        if let Some(f) = self.frames.last_mut() {
            f.product = f.product.max(product);
        }
    }

    /// A literal code point under the current flags (a surrogate, which Go accepts from
    /// `\x{D800}`, can never match).
    fn literal(&mut self, cp: u32) {
        let start = self.out.len();
        match char::from_u32(cp) {
            None => self.out.push_str(NEVER),
            Some(c) if self.flags.fold && has_case(c) => {
                self.out.push_str("(?i:");
                push_char(&mut self.out, c);
                self.out.push(')');
            }
            Some(c) => push_char(&mut self.out, c),
        }
        self.push_atom(start, 1);
    }

    fn open_group(&mut self, open_at: usize) {
        self.frames.push(Frame {
            flags: self.flags,
            start: self.out.len(),
            open_at,
            product: 1,
        });
        self.out.push_str("(?:");
        self.last = None;
    }

    fn close_group(&mut self) -> Result<(), GoRegexError> {
        if self.frames.len() < 2 {
            return Err(refuse(self.pos, UNEXPECTED_PAREN, self.pat));
        }
        self.pos += 1;
        let frame = self.frames.pop().expect("checked: more than one frame");
        self.out.push(')');
        self.flags = frame.flags;
        self.push_atom(frame.start, frame.product);
        Ok(())
    }

    /// Applies a repetition (`*`, `+`, `?` or `{min,max}`) that started at `op_at`; `pos`
    /// is just past it. Go's checks, in its order: a lazy `?`, a repetition right after
    /// another, a missing argument, the 1000 limit on nested counts.
    fn repeat(
        &mut self,
        op_at: usize,
        min: u64,
        max: Option<u64>,
        counted: bool,
    ) -> Result<(), GoRegexError> {
        let lazy = self.rest().starts_with('?');
        if lazy {
            self.pos += 1;
        }
        if let Some(prev) = self.last_repeat {
            return Err(refuse(prev, INVALID_REPEAT_OP, &self.pat[prev..self.pos]));
        }
        let op_text = &self.pat[op_at..self.pos];
        let Some(atom) = self.last else {
            return Err(refuse(op_at, MISSING_REPEAT_ARGUMENT, op_text));
        };
        let product = if !counted {
            atom.product
        } else if max == Some(0) {
            1
        } else {
            max.unwrap_or(min).max(1) * atom.product
        };
        if counted && (min >= 2 || max.is_some_and(|m| m >= 2)) && product > MAX_REPEAT {
            return Err(refuse(op_at, INVALID_REPEAT_SIZE, op_text));
        }
        let inner = self.out.split_off(atom.start);
        self.out.push_str("(?:");
        self.out.push_str(&inner);
        self.out.push(')');
        match (min, max) {
            (0, None) => self.out.push('*'),
            (1, None) => self.out.push('+'),
            (0, Some(1)) if !counted => self.out.push('?'),
            (n, None) => {
                let _ = write!(self.out, "{{{n},}}");
            }
            (n, Some(m)) if n == m => {
                let _ = write!(self.out, "{{{n}}}");
            }
            (n, Some(m)) => {
                let _ = write!(self.out, "{{{n},{m}}}");
            }
        }
        if lazy != self.flags.ungreedy {
            self.out.push('?');
        }
        self.push_atom(atom.start, product);
        Ok(())
    }

    /// `(?` …: a named capture, a non-capturing group with flags, or a flag change.
    fn perl_flags(&mut self) -> Result<(), GoRegexError> {
        let start = self.pos;
        let t = self.rest();
        let b = t.as_bytes();
        let with_p = b.len() > 4 && b[2] == b'P' && b[3] == b'<';
        let with_name = b.len() > 3 && b[2] == b'<';
        if with_p || with_name {
            let name_at = if with_p { 4 } else { 3 };
            let Some(end) = t.find('>') else {
                return Err(refuse(start, INVALID_NAMED_CAPTURE, t));
            };
            let name = &t[name_at.min(end)..end];
            if name.is_empty() || !name.bytes().all(|c| c == b'_' || c.is_ascii_alphanumeric()) {
                return Err(refuse(start, INVALID_NAMED_CAPTURE, &t[..=end]));
            }
            self.pos += end + 1;
            self.open_group(start);
            return Ok(());
        }
        let mut flags = self.flags;
        let mut negate = false;
        let mut saw_flag = false;
        let mut used = 2;
        for c in t[2..].chars() {
            used += c.len_utf8();
            let value = !negate;
            match c {
                'i' => flags.fold = value,
                'm' => flags.multi_line = value,
                's' => flags.dot_nl = value,
                'U' => flags.ungreedy = value,
                '-' if !negate => {
                    negate = true;
                    saw_flag = false;
                    continue;
                }
                ':' | ')' if !negate || saw_flag => {
                    self.pos += used;
                    if c == ':' {
                        self.open_group(start);
                    }
                    self.flags = flags;
                    return Ok(());
                }
                _ => break,
            }
            saw_flag = true;
        }
        Err(refuse(start, INVALID_PERL_OP, &t[..used]))
    }

    /// A backslash outside a class.
    fn escape(&mut self) -> Result<(), GoRegexError> {
        let start = self.pos;
        let rest = self.rest();
        let simple = match rest.as_bytes().get(1) {
            Some(b'A') => Some(r"\A"),
            Some(b'z') => Some(r"\z"),
            Some(b'b') => Some(r"(?-u:\b)"),
            Some(b'B') => Some(r"(?-u:\B)"),
            _ => None,
        };
        if let Some(text) = simple {
            self.pos += 2;
            self.atom_text(text);
            return Ok(());
        }
        match rest.as_bytes().get(1) {
            Some(b'C') => return Err(refuse(start, INVALID_ESCAPE, &rest[..2])),
            Some(b'Q') => {
                let body = &rest[2..];
                let (lit, used) = match body.find(r"\E") {
                    Some(i) => (&body[..i], 2 + i + 2),
                    None => (body, rest.len()),
                };
                self.pos += used;
                for c in lit.chars() {
                    self.literal(c as u32);
                }
                return Ok(());
            }
            _ => {}
        }
        if let Some((text, len)) = class::top_level_group(rest, start, self.flags)? {
            self.pos += len;
            self.atom_text(&text);
            return Ok(());
        }
        let (cp, len) = class::parse_escape(rest, start)?;
        self.pos += len;
        self.literal(cp);
        Ok(())
    }
}

/// Go's `parseRepeat`: `{n}`, `{n,}` or `{n,m}` (no leading zeros) and its length; `None`
/// when the text is not of that form (then `{` is a literal). A number too big to read
/// comes back as -1.
fn parse_repeat(s: &str) -> Option<(i64, Option<i64>, usize)> {
    let b = s.as_bytes();
    let mut i = 1;
    let min = parse_int(b, &mut i)?;
    let max = match b.get(i)? {
        b',' => {
            i += 1;
            if *b.get(i)? == b'}' {
                None
            } else {
                let m = parse_int(b, &mut i)?;
                Some(m)
            }
        }
        _ => Some(min),
    };
    if b.get(i) != Some(&b'}') {
        return None;
    }
    // Go marks a too-big max by making min -1.
    let min = if max == Some(-1) { -1 } else { min };
    Some((min, max, i + 1))
}

/// Go's `parseInt`: decimal digits without a leading zero; -1 when the value reaches 1e8.
fn parse_int(b: &[u8], i: &mut usize) -> Option<i64> {
    let first = *b.get(*i)?;
    if !first.is_ascii_digit() {
        return None;
    }
    if first == b'0' && b.get(*i + 1).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let mut n: i64 = 0;
    while let Some(d) = b.get(*i).filter(|d| d.is_ascii_digit()) {
        if n >= 0 {
            n = if n >= 100_000_000 {
                -1
            } else {
                n * 10 + i64::from(d - b'0')
            };
        }
        *i += 1;
    }
    Some(n)
}

/// Whether case folding can change what `c` matches.
fn has_case(c: char) -> bool {
    c.is_alphabetic() || !c.is_ascii()
}

/// Writes `c` so that the `regex` crate reads it as that literal character, in or out of a
/// class.
pub(crate) fn push_char(out: &mut String, c: char) {
    if c.is_ascii_alphanumeric() || !c.is_ascii() && !c.is_whitespace() {
        out.push(c);
    } else {
        let _ = write!(out, r"\x{{{:X}}}", u32::from(c));
    }
}
