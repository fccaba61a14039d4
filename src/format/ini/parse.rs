//! The INI reader: go-ini (`gopkg.in/ini.v1`) parsing rules with its default options and
//! non-unique sections, as sops uses them.
//!
//! * Lines are read up to and including `\n`; leading Unicode whitespace is dropped and
//!   empty lines are skipped.
//! * `#` or `;` starts a comment line; comment lines accumulate until the next section
//!   header or key, which takes them as its comment.
//! * `[name]` starts a section (to the LAST `]` of the line; a `#`/`;` after it is added to
//!   the section's comment). The implicit `DEFAULT` section comes first.
//! * Otherwise `key = value` or `key: value` (first delimiter); a key may be quoted with
//!   `"`, `"""` or a backtick; `-` is an auto-numbered key (`#1`, `#2`, … per section).
//! * Values: `"""…"""` and backtick values are taken verbatim (and may span lines);
//!   otherwise the value is trimmed, a trailing `\` continues it on the next line, `#`/`;`
//!   starts an inline comment, and surrounding `"…"`/`'…'` are removed.
//! * A key seen twice in a section is refused with both line numbers (go-ini would keep
//!   the last value and silently drop the first; leafseal drops nothing).

use std::collections::HashMap;

use zeroize::Zeroizing;

use crate::format::FormatError;

const FORMAT: &str = "ini";

/// A key as parsed.
pub(super) struct RawKey {
    /// The key name.
    pub name: String,
    /// The value.
    pub value: Zeroizing<String>,
    /// The comment (comment lines before the key and its inline comment), trimmed.
    pub comment: Zeroizing<String>,
}

/// A section as parsed.
pub(super) struct RawSection {
    /// The section name (`DEFAULT` for the implicit first section).
    pub name: String,
    /// The comment lines before the header (and the header's inline comment), trimmed.
    pub comment: Zeroizing<String>,
    /// The keys in first-seen order.
    pub keys: Vec<RawKey>,
    /// Key name → the line it is on.
    index: HashMap<String, usize>,
}

impl RawSection {
    fn new(name: &str, comment: &str) -> Self {
        RawSection {
            name: name.to_owned(),
            comment: Zeroizing::new(comment.to_owned()),
            keys: Vec::new(),
            index: HashMap::new(),
        }
    }

    fn set_key(
        &mut self,
        name: String,
        value: Zeroizing<String>,
        comment: &str,
        line_no: usize,
    ) -> Result<(), FormatError> {
        let comment = Zeroizing::new(comment.to_owned());
        if let Some(&first) = self.index.get(&name) {
            return Err(err(
                &format!(
                    "key {name:?} is defined twice in section [{}] (first on line {first}); \
                     remove or rename one of them",
                    self.name
                ),
                line_no,
            ));
        }
        self.index.insert(name.clone(), line_no);
        self.keys.push(RawKey {
            name,
            value,
            comment,
        });
        Ok(())
    }
}

/// Reads lines the way Go's `bufio.Reader.ReadBytes('\n')` does: each line keeps its
/// `\n`; the last one (without `\n`, possibly empty) sets `eof`.
struct Lines<'a> {
    rest: &'a str,
    line_no: usize,
    eof: bool,
}

impl<'a> Lines<'a> {
    fn next_line(&mut self) -> &'a str {
        self.line_no += 1;
        match self.rest.find('\n') {
            Some(i) => {
                let (line, rest) = self.rest.split_at(i + 1);
                self.rest = rest;
                line
            }
            None => {
                self.eof = true;
                std::mem::take(&mut self.rest)
            }
        }
    }
}

fn err(message: &str, line: usize) -> FormatError {
    FormatError::at(FORMAT, message, line, 1)
}

/// Whether `s` is `q…q` with no other `q` inside (go-ini's `hasSurroundedQuote`).
fn has_surrounded_quote(s: &str, q: char) -> bool {
    s.len() >= 2
        && s.starts_with(q)
        && s.ends_with(q)
        && s.get(1..).and_then(|r| r.find(q)) == Some(s.len() - 2)
}

/// The byte index of the first `#` or `;`.
fn comment_start(s: &str) -> Option<usize> {
    s.find(['#', ';'])
}

/// Parses the key name at the start of `line` (left-trimmed, non-empty). Returns the name
/// and the offset just past the delimiter.
fn read_key_name(line: &str, line_no: usize) -> Result<(String, usize), FormatError> {
    let quote = if line.starts_with('"') {
        if line.len() > 6 && line.starts_with("\"\"\"") {
            "\"\"\""
        } else {
            "\""
        }
    } else if line.starts_with('`') {
        "`"
    } else {
        ""
    };
    if !quote.is_empty() {
        let start = quote.len();
        let pos = line
            .get(start..)
            .and_then(|r| r.find(quote))
            .ok_or_else(|| err("missing closing key quote", line_no))?
            + start;
        let i = line
            .get(pos + start..)
            .and_then(|r| r.find(['=', ':']))
            .ok_or_else(|| err("key-value delimiter not found", line_no))?;
        let name = line.get(start..pos).unwrap_or("").trim();
        return Ok((name.to_owned(), pos + i + start + 1));
    }
    match line.find(['=', ':']) {
        None => Err(err("key-value delimiter not found", line_no)),
        Some(0) => Err(err("empty key name", line_no)),
        Some(end) => Ok((line.get(..end).unwrap_or("").trim().to_owned(), end + 1)),
    }
}

struct Parser<'a> {
    lines: Lines<'a>,
    comment: Zeroizing<String>,
}

impl<'a> Parser<'a> {
    /// Parses a value starting right after the delimiter (`input` keeps its `\n`).
    fn read_value(&mut self, input: &str) -> Result<Zeroizing<String>, FormatError> {
        let line = input.trim_start();
        if line.is_empty() {
            return Ok(Zeroizing::new(String::new()));
        }
        let quote = if line.len() > 3 && line.starts_with("\"\"\"") {
            "\"\"\""
        } else if line.starts_with('`') {
            "`"
        } else {
            ""
        };
        if !quote.is_empty() {
            let body = line.get(quote.len()..).unwrap_or("");
            return match body.rfind(quote) {
                Some(pos) => Ok(Zeroizing::new(body.get(..pos).unwrap_or("").to_owned())),
                None => self.read_multilines(body, quote),
            };
        }
        let mut line = line.trim();
        if let Some(head) = line.strip_suffix('\\') {
            return Ok(self.read_continuation(head));
        }
        if let Some(i) = comment_start(line) {
            self.comment.push_str(line.get(i..).unwrap_or(""));
            line = line.get(..i).unwrap_or("").trim();
        }
        if has_surrounded_quote(line, '\'') || has_surrounded_quote(line, '"') {
            line = line.get(1..line.len() - 1).unwrap_or("");
        }
        Ok(Zeroizing::new(line.to_owned()))
    }

    fn read_multilines(
        &mut self,
        first: &str,
        quote: &str,
    ) -> Result<Zeroizing<String>, FormatError> {
        let start_line = self.lines.line_no;
        let mut val = Zeroizing::new(first.to_owned());
        loop {
            let next = self.lines.next_line();
            if let Some(pos) = next.rfind(quote) {
                val.push_str(next.get(..pos).unwrap_or(""));
                let tail = next.get(pos..).unwrap_or("");
                if let Some(i) = comment_start(tail) {
                    self.comment.push_str(tail.get(i..).unwrap_or("").trim());
                }
                return Ok(val);
            }
            val.push_str(next);
            if self.lines.eof {
                return Err(err(
                    "missing closing quote of a multi-line value",
                    start_line,
                ));
            }
        }
    }

    fn read_continuation(&mut self, head: &str) -> Zeroizing<String> {
        let mut val = Zeroizing::new(head.to_owned());
        loop {
            let next = self.lines.next_line().trim();
            if next.is_empty() {
                break;
            }
            val.push_str(next);
            if !val.ends_with('\\') {
                break;
            }
            val.pop();
        }
        val
    }
}

/// Strips a byte-order mark the way go-ini does (UTF-8, or the two bytes of a UTF-16 one).
fn strip_bom(input: &[u8]) -> &[u8] {
    if let Some(rest) = input.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        rest
    } else if input.starts_with(&[0xFE, 0xFF]) || input.starts_with(&[0xFF, 0xFE]) {
        input.get(2..).unwrap_or(&[])
    } else {
        input
    }
}

/// A parsed INI file.
pub(super) struct RawFile {
    /// The sections (the implicit `DEFAULT` section first).
    pub sections: Vec<RawSection>,
    /// Comment lines after the last key or section header (go-ini drops them; leafseal
    /// keeps them), trimmed; empty for none.
    pub trailing: Zeroizing<String>,
}

/// Parses INI bytes into sections (the implicit `DEFAULT` section first).
pub(super) fn parse(input: &[u8]) -> Result<RawFile, FormatError> {
    let input = strip_bom(input);
    let text = std::str::from_utf8(input).map_err(|e| {
        let line = input
            .get(..e.valid_up_to())
            .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count());
        err("invalid UTF-8", line + 1)
    })?;
    let mut p = Parser {
        lines: Lines {
            rest: text,
            line_no: 0,
            eof: false,
        },
        comment: Zeroizing::new(String::new()),
    };
    let mut sections = vec![RawSection::new(super::DEFAULT_SECTION, "")];
    let mut count = 1usize;
    while !p.lines.eof {
        let raw = p.lines.next_line();
        let line_no = p.lines.line_no;
        let line = raw.trim_start();
        if line.is_empty() {
            continue;
        }
        if line.starts_with(['#', ';']) {
            p.comment.push_str(line);
            continue;
        }
        if line.starts_with('[') {
            let close = line
                .rfind(']')
                .ok_or_else(|| err("unclosed section header", line_no))?;
            let name = line.get(1..close).unwrap_or("");
            if name.is_empty() {
                return Err(err("empty section name", line_no));
            }
            let tail = line.get(close + 1..).unwrap_or("");
            if let Some(i) = comment_start(tail) {
                p.comment.push_str(tail.get(i..).unwrap_or(""));
            }
            sections.push(RawSection::new(name, p.comment.trim()));
            p.comment.clear();
            count = 1;
            continue;
        }
        let (mut name, offset) = read_key_name(line, line_no)?;
        if name == "-" {
            name = format!("#{count}");
            count += 1;
        }
        let value = p.read_value(line.get(offset..).unwrap_or(""))?;
        if name.is_empty() {
            return Err(err("empty key name", line_no));
        }
        if let Some(section) = sections.last_mut() {
            section.set_key(name, value, p.comment.trim(), line_no)?;
        }
        p.comment.clear();
    }
    let trailing = Zeroizing::new(p.comment.trim().to_owned());
    Ok(RawFile { sections, trailing })
}
