//! A line-based fast reader for the block-YAML subset that sops writes and most
//! hand-written configuration uses.
//!
//! It produces the same builder events, in the same order and on the same lines, as the
//! granit-based reader does for that subset, and feeds them to the shared builder, so
//! both readers build identical trees. Anything outside the subset (flow collections
//! with content, anchors, aliases, tags, folded or multi-line scalars, complex keys,
//! directives, tabs, odd indentation, builder errors such as duplicate keys, …) makes
//! it give up: [`parse`] returns `None` and the caller runs the full parser.

use std::borrow::Cow;

use zeroize::Zeroizing;

use super::builder::Builder;
use super::builder::Ev;
use super::builder::Kind;
use super::builder::Sp;
use super::fast_scalar::Bail;
use super::fast_scalar::R;
use super::fast_scalar::block_header;
use super::fast_scalar::chomp_block;
use super::fast_scalar::is_dash;
use super::fast_scalar::line_at;
use super::fast_scalar::plain_key;
use super::fast_scalar::plain_start_ok;
use super::fast_scalar::plain_value;
use super::fast_scalar::quoted;
use super::fast_scalar::spaces;
use crate::tree::Map;

/// Longest implicit key the fast path accepts (YAML caps them at 1024 characters).
const MAX_KEY: usize = 1000;

/// An open block collection: a mapping whose keys sit at the column, or a sequence
/// whose dashes do.
#[derive(Clone, Copy)]
enum Frame {
    Map(usize),
    Seq(usize),
}

/// Where a value sits: after `key:` (key column) or after `-` (dash column).
#[derive(Clone, Copy)]
enum Ctx {
    Key(usize),
    Item(usize),
}

struct Fast<'a> {
    src: &'a [u8],
    /// `src` as text, checked once (line breaks are ASCII, so every line is a slice of it).
    text: &'a str,
    /// Byte offset of the next unread line.
    pos: usize,
    /// 1-based number of the next unread line.
    line: usize,
    b: Builder,
    stack: Vec<Frame>,
    in_doc: bool,
    has_root: bool,
    /// A `key:` (at this column) whose value is a block collection on the next lines.
    open: Option<usize>,
    /// The line of a lone `-` whose value is that block collection ([`Ev::MapStart`],
    /// [`Ev::SeqStart`]).
    open_dash_line: Option<usize>,
}

fn sp(line: usize, col: usize) -> Sp {
    Sp {
        line,
        col,
        end_line: line,
    }
}

/// Reads `input` with the fast path, or `None` when it is outside the subset; go-yaml's
/// foot-comment rule applies when it is plaintext ([`super::builder::is_plaintext`]).
pub(crate) fn parse(input: &[u8]) -> Option<Vec<Map>> {
    parse_with(input, super::builder::is_plaintext(input))
}

/// [`parse`] with go-yaml's foot-comment rule on (`feet`, plaintext) or off (text
/// sealed by an encrypt: a part of an encrypted file has no `sops:` line to tell).
pub(crate) fn parse_with(input: &[u8], feet: bool) -> Option<Vec<Map>> {
    // One UTF-8 check of the whole input instead of one per line; input that is not
    // UTF-8 goes to the full parser, as a line that is not did before.
    let text = std::str::from_utf8(input).ok()?;
    let mut b = Builder::new(input.len());
    b.go_yaml_feet(feet);
    let mut f = Fast {
        src: input,
        text,
        pos: 0,
        line: 1,
        b,
        stack: Vec::new(),
        in_doc: false,
        has_root: false,
        open: None,
        open_dash_line: None,
    };
    if f.run().is_err() {
        #[cfg(test)]
        #[allow(clippy::disallowed_macros)] // test output
        if std::env::var_os("LEAFSEAL_FAST_DEBUG").is_some() {
            eprintln!("fast path declined near line {}", f.line.saturating_sub(1));
        }
        return None;
    }
    Some(f.b.finish())
}

impl<'a> Fast<'a> {
    fn ev(&mut self, ev: Ev<'_>, at: Sp) -> R<()> {
        self.b.event(ev, &at).map_err(|_| Bail)
    }

    /// Consumes the line `peek` returned: its text once its characters are checked
    /// (every line is consumed exactly once, by `run` or `literal`; look-ahead only
    /// reads indentation).
    fn take(&mut self, line: &'a [u8], ok: bool, next: usize) -> R<&'a str> {
        if !ok {
            return Err(Bail);
        }
        // `line` is the one `peek(self.pos)` returned: the same bytes of `text`.
        let text = self
            .text
            .get(self.pos..self.pos.saturating_add(line.len()))
            .ok_or(Bail)?;
        self.pos = next;
        self.line += 1;
        Ok(text)
    }

    /// The line starting at `pos` (without its line break), the offset after it, and
    /// whether its characters are all ones the fast path handles.
    fn peek(&self, pos: usize) -> Option<(&'a [u8], usize, bool)> {
        line_at(self.src, pos)
    }

    /// Line number the full parser gives the end of the input.
    fn eof_line(&self) -> usize {
        if self.src.is_empty() || self.src.ends_with(b"\n") {
            self.line
        } else {
            self.line - 1
        }
    }

    fn run(&mut self) -> R<()> {
        while let Some((line, next, ok)) = self.peek(self.pos) {
            let ln = self.line;
            let text = self.take(line, ok, next)?;
            let b = text.as_bytes();
            let ind = spaces(b, 0);
            match b.get(ind) {
                None => continue,
                Some(b'#') => {
                    self.ev(
                        Ev::Comment(Cow::Borrowed(&text[ind + 1..]), false),
                        sp(ln, ind),
                    )?;
                    continue;
                }
                _ => {}
            }
            if ind == 0 && (b.starts_with(b"---") || b.starts_with(b"...")) {
                if text.trim_end_matches(' ') != "---" {
                    return Err(Bail);
                }
                self.doc_break(ln)?;
                continue;
            }
            self.content(text, ind, ln)?;
        }
        if !self.in_doc || !self.has_root {
            return Err(Bail);
        }
        let end = self.eof_line();
        self.close_all(end)?;
        self.ev(Ev::DocEnd, sp(end, 0))
    }

    /// Closes every collection at the end of a document.
    fn close_all(&mut self, ln: usize) -> R<()> {
        self.b.closing_at_end();
        while let Some(f) = self.stack.pop() {
            let ev = match f {
                Frame::Map(_) => Ev::MapEnd,
                Frame::Seq(_) => Ev::SeqEnd,
            };
            self.ev(ev, sp(ln, 0))?;
        }
        Ok(())
    }

    fn doc_break(&mut self, ln: usize) -> R<()> {
        if self.in_doc {
            if !self.has_root {
                return Err(Bail);
            }
            self.close_all(ln)?;
            self.ev(Ev::DocEnd, sp(ln, 0))?;
        }
        self.ev(Ev::DocStart, sp(ln, 0))?;
        self.in_doc = true;
        self.has_root = false;
        Ok(())
    }

    /// A line with content at column `ind`.
    fn content(&mut self, text: &'a str, ind: usize, ln: usize) -> R<()> {
        let b = text.as_bytes();
        let dash = is_dash(&b[ind..]);
        if !self.in_doc {
            self.ev(Ev::DocStart, sp(ln, ind))?;
            self.in_doc = true;
        }
        if !self.has_root {
            if ind != 0 || dash {
                return Err(Bail);
            }
            self.ev(Ev::MapStart(0, None), sp(ln, 0))?;
            self.stack.push(Frame::Map(0));
            self.has_root = true;
        } else if let Some(kc) = self.open.take() {
            if dash {
                // An indentless sequence starts where its first entry's content does.
                let col = if ind == kc {
                    ind + 1 + spaces(b, ind + 1)
                } else {
                    ind
                };
                let dash_line = self.open_dash_line.take();
                self.ev(
                    Ev::SeqStart(0, (ind == kc).then_some(ind), dash_line),
                    sp(ln, col),
                )?;
                self.stack.push(Frame::Seq(ind));
            } else {
                if ind <= kc {
                    return Err(Bail);
                }
                let dash_line = self.open_dash_line.take();
                self.ev(Ev::MapStart(0, dash_line), sp(ln, ind))?;
                self.stack.push(Frame::Map(ind));
            }
        } else {
            self.close_to(ind, dash, ln)?;
        }
        match self.stack.last() {
            Some(&Frame::Map(n)) if !dash => self.key_line(text, n, ln),
            Some(&Frame::Seq(d)) if dash => self.item(text, d, ln),
            _ => Err(Bail),
        }
    }

    /// Closes the collections a line at column `ind` ends.
    fn close_to(&mut self, ind: usize, dash: bool, ln: usize) -> R<()> {
        loop {
            let (col, ev) = match self.stack.last() {
                Some(&Frame::Map(n)) => (n, Ev::MapEnd),
                Some(&Frame::Seq(d)) => (d, Ev::SeqEnd),
                None => return Err(Bail),
            };
            let keep = match self.stack.last() {
                Some(Frame::Seq(_)) => ind == col && dash,
                _ => ind == col,
            };
            if keep {
                return Ok(());
            }
            if ind > col {
                return Err(Bail);
            }
            self.stack.pop();
            self.ev(ev, sp(ln, ind))?;
        }
    }

    /// A key (plain or quoted) at byte `c`: the key text and the index after its `:`,
    /// or `None` when the text there is not a key.
    fn key_at(text: &'a str, c: usize) -> R<Option<(Cow<'a, str>, Kind, usize)>> {
        let b = text.as_bytes();
        match b.get(c) {
            Some(b'"' | b'\'') => {
                let (k, after) = quoted(text, c)?;
                let colon = after + spaces(b, after);
                if b.get(colon) == Some(&b':') && matches!(b.get(colon + 1), None | Some(b' ')) {
                    Ok(Some((k, Kind::Quoted, colon + 1)))
                } else {
                    Ok(None)
                }
            }
            _ => {
                if !plain_start_ok(&b[c..]) {
                    return Ok(None);
                }
                match plain_key(b, c) {
                    Some((end, after)) if end - c <= MAX_KEY => {
                        Ok(Some((Cow::Borrowed(&text[c..end]), Kind::Plain, after)))
                    }
                    Some(_) => Err(Bail),
                    None => Ok(None),
                }
            }
        }
    }

    fn key_line(&mut self, text: &'a str, c: usize, ln: usize) -> R<()> {
        let Some((k, kind, after)) = Self::key_at(text, c)? else {
            return Err(Bail);
        };
        self.ev(Ev::Scalar(k, kind, 0, None), sp(ln, c))?;
        self.value(text, after, ln, Ctx::Key(c))
    }

    /// A sequence entry whose dash is at column `d` (compact nested entries included).
    fn item(&mut self, text: &'a str, mut d: usize, ln: usize) -> R<()> {
        let b = text.as_bytes();
        loop {
            let c = d + 1 + spaces(b, d + 1);
            match b.get(c) {
                None if c == d + 1 => return self.empty_item(d, ln),
                None | Some(b'#') => return Err(Bail),
                _ => {}
            }
            if !is_dash(&b[c..]) {
                break match Self::key_at(text, c)? {
                    Some((k, kind, after)) => {
                        self.ev(Ev::MapStart(0, None), sp(ln, c))?;
                        self.stack.push(Frame::Map(c));
                        self.ev(Ev::Scalar(k, kind, 0, None), sp(ln, c))?;
                        self.value(text, after, ln, Ctx::Key(c))
                    }
                    None => self.value(text, c, ln, Ctx::Item(d)),
                };
            }
            self.ev(Ev::SeqStart(0, None, None), sp(ln, c))?;
            self.stack.push(Frame::Seq(c));
            d = c;
        }
    }

    /// `-` alone on its line: a block collection follows, or the entry is null.
    fn empty_item(&mut self, d: usize, ln: usize) -> R<()> {
        if self.nested_follows(d, false) {
            self.open = Some(d);
            self.open_dash_line = Some(ln);
            Ok(())
        } else {
            self.ev(
                Ev::Scalar(Cow::Borrowed(""), Kind::Plain, 0, None),
                sp(ln, d + 1),
            )
        }
    }

    /// Whether the next content line holds the block value of a `key:` (or `-`) at
    /// column `kc`; `dash_same` for a key, whose sequence value may start at `kc`.
    fn nested_follows(&self, kc: usize, dash_same: bool) -> bool {
        let mut pos = self.pos;
        while let Some((b, next, _)) = self.peek(pos) {
            let ind = spaces(b, 0);
            match b.get(ind) {
                None | Some(b'#') => pos = next,
                Some(_) => return ind > kc || (dash_same && ind == kc && is_dash(&b[ind..])),
            }
        }
        false
    }

    /// The end of a line after a value: spaces, then nothing or a comment.
    fn trail(&mut self, text: &'a str, at: usize, ln: usize) -> R<()> {
        let b = text.as_bytes();
        let n = spaces(b, at);
        match b.get(at + n) {
            None => Ok(()),
            Some(b'#') if at + n > 0 && b[at + n - 1] == b' ' => {
                let c = at + n;
                self.ev(Ev::Comment(Cow::Borrowed(&text[c + 1..]), true), sp(ln, c))
            }
            Some(_) => Err(Bail),
        }
    }

    /// The value after `key:` or `-`, from byte `at` on.
    fn value(&mut self, text: &'a str, at: usize, ln: usize, ctx: Ctx) -> R<()> {
        let b = text.as_bytes();
        let v = at + spaces(b, at);
        let Some(&first) = b.get(v) else {
            return self.empty(text, at, ln, ctx);
        };
        if v == at && ctx_is_key(ctx) {
            // `key:x` never reaches here (`:` must be followed by a space); be safe.
            return Err(Bail);
        }
        match first {
            b'#' => self.empty(text, at, ln, ctx),
            b'|' => {
                let parent = match ctx {
                    Ctx::Key(c) | Ctx::Item(c) => c,
                };
                self.literal(text, v, ln, parent)
            }
            b'"' | b'\'' => {
                let (s, after) = quoted(text, v)?;
                self.ev(Ev::Scalar(s, Kind::Quoted, 0, None), sp(ln, v))?;
                self.trail(text, after, ln)
            }
            b'{' | b'[' => {
                let (start, end) = match b.get(v + 1) {
                    Some(b'}') if first == b'{' => (Ev::MapStart(0, None), Ev::MapEnd),
                    Some(b']') if first == b'[' => (Ev::SeqStart(0, None, None), Ev::SeqEnd),
                    _ => return Err(Bail),
                };
                self.ev(start, sp(ln, v))?;
                self.ev(end, sp(ln, v + 1))?;
                self.b.flow_collection_ended(&sp(ln, v + 1));
                self.trail(text, v + 2, ln)
            }
            _ => {
                if !plain_start_ok(&b[v..]) {
                    return Err(Bail);
                }
                let (end, rest) = plain_value(b, v)?;
                self.ev(
                    Ev::Scalar(Cow::Borrowed(&text[v..end]), Kind::Plain, 0, None),
                    sp(ln, v),
                )?;
                self.trail(text, rest, ln)
            }
        }
    }

    /// `key:` with nothing (but maybe a comment) after it: a block collection follows on
    /// the next lines, or the value is null.
    fn empty(&mut self, text: &'a str, at: usize, ln: usize, ctx: Ctx) -> R<()> {
        let Ctx::Key(kc) = ctx else {
            return Err(Bail);
        };
        if self.nested_follows(kc, true) {
            self.open = Some(kc);
            self.open_dash_line = None;
        } else {
            self.ev(
                Ev::Scalar(Cow::Borrowed(""), Kind::Plain, 0, None),
                sp(ln, at),
            )?;
        }
        self.trail(text, at, ln)
    }

    /// A literal block scalar whose `|` is at byte `h`; `parent` is the indentation its
    /// content must exceed.
    fn literal(&mut self, text: &'a str, h: usize, ln: usize, parent: usize) -> R<()> {
        let b = text.as_bytes();
        let (explicit, chomp, comment) = block_header(b, h).ok_or(Bail)?;
        let mut m = explicit.map(|k| parent + k);
        let mut out = Zeroizing::new(String::new());
        let (mut breaks, mut lead_max, mut first) = (0usize, 0usize, None);
        while let Some((tb, next, ok)) = self.peek(self.pos) {
            let s = spaces(tb, 0);
            if s == tb.len() {
                match m {
                    Some(m) if s > m => return Err(Bail),
                    None => lead_max = lead_max.max(s),
                    _ => {}
                }
                breaks += 1;
                self.take(tb, ok, next)?;
            } else {
                let mm = match m {
                    Some(mm) => mm,
                    None if s <= parent || lead_max > s => return Err(Bail),
                    None => {
                        m = Some(s);
                        s
                    }
                };
                if s < mm {
                    break;
                }
                let t = self.take(tb, ok, next)?;
                if first.is_none() {
                    first = Some(self.line);
                } else {
                    out.push('\n');
                }
                out.extend(std::iter::repeat_n('\n', breaks));
                breaks = 0;
                out.push_str(t.get(mm..).ok_or(Bail)?);
            }
            if next == self.src.len() && !self.src.ends_with(b"\n") {
                return Err(Bail);
            }
        }
        let (Some(_), Some(m)) = (first, m) else {
            return Err(Bail);
        };
        chomp_block(&mut out, chomp, breaks);
        let end_line = if self.peek(self.pos).is_some() {
            self.line
        } else {
            self.eof_line()
        };
        // From the header's line, as the full reader gives it.
        let at = Sp {
            line: ln,
            col: m,
            end_line,
        };
        let s = std::mem::take(&mut *out);
        self.ev(Ev::Scalar(Cow::Owned(s), Kind::Block, 0, None), at)?;
        if let Some(c) = comment {
            self.ev(Ev::Comment(Cow::Borrowed(&text[c + 1..]), true), sp(ln, c))?;
        }
        Ok(())
    }
}

fn ctx_is_key(ctx: Ctx) -> bool {
    matches!(ctx, Ctx::Key(_))
}
