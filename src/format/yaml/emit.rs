//! A go-yaml v3 compatible block-style emitter for sops trees.

use crate::format::Output;
use crate::secbuf::SecureBuf;
use std::borrow::Cow;

use crate::tree::Comment;
use crate::tree::Item;
use crate::tree::Map;
use crate::tree::SeqItem;
use crate::tree::Value;

/// One item of a mapping being written (the branch items plus, for an encrypted
/// document, the `sops` entry appended without copying the branch).
#[derive(Clone, Copy)]
enum ItemRef<'a> {
    Entry(&'a str, &'a Value),
    Comment(&'a Comment),
}

impl<'a> From<&'a Item> for ItemRef<'a> {
    fn from(i: &'a Item) -> Self {
        match i {
            Item::Entry(k, v) => ItemRef::Entry(k, v),
            Item::Comment(c) => ItemRef::Comment(c),
        }
    }
}

/// The scalar rendering for the direct streamed decrypt.
#[path = "emit_direct.rs"]
mod direct;
#[path = "emit_scalar.rs"]
mod scalar_style;
use scalar_style::Scalar;
#[cfg(test)]
pub(crate) use scalar_style::analyze_ascii;
use scalar_style::double_quoted;
#[cfg(test)]
pub(crate) use scalar_style::format_float_g;
use scalar_style::scalar;
use scalar_style::string_scalar;
use scalar_style::string_scalar_full;
#[path = "emit_multiline.rs"]
mod multiline;
#[path = "emit_quick.rs"]
mod quick;
#[cfg(test)]
#[path = "emit_quick_tests.rs"]
mod quick_tests;
pub(crate) use direct::inline_string;
pub(crate) use direct::inline_value;
pub(crate) use direct::is_plain_key;
pub(crate) use direct::push_string_line;
pub(crate) use direct::scalar_after;
pub(crate) use multiline::is_simple_key;

const SPACES: &[u8; 64] = b"                                                                ";

pub(crate) struct Emitter {
    out: SecureBuf,
    n: usize,
    column: usize,
    whitespace: bool,
    indention: bool,
    foot_indent: Option<usize>,
}

/// Splits the comment markers that precede an element: full-line heads and the inline one.
/// An `ENC[...,type:comment]` comment: inside a list, sops stores it as a list item (its
/// encrypted comment is a string in the list), so it is written as `- ENC[...]`.
fn is_encrypted_comment(c: &Comment) -> bool {
    crate::tree::is_encrypted_comment_text(c.text.as_str())
}

/// How many comments (not written as items) start the list `s` before its first item;
/// 0 when no item follows them.
fn leading_comments(s: &[SeqItem]) -> usize {
    let n = s.iter().take_while(|i| !is_list_item(i)).count();
    if n < s.len() { n } else { 0 }
}

/// Whether a list element is written as a `- ` item.
fn is_list_item(i: &SeqItem) -> bool {
    match i {
        SeqItem::Value(_) => true,
        SeqItem::Comment(c) => is_encrypted_comment(c),
    }
}

/// The comments before an entry, all written on their own lines: sops (3.11) keeps no
/// line comments, a comment at the end of a line comes back above its entry.
fn split_comments<'a>(cs: &[&'a Comment]) -> (Vec<&'a str>, Option<&'a str>) {
    (cs.iter().map(|c| c.text.as_str()).collect(), None)
}

impl Emitter {
    pub(crate) fn new(n: usize) -> Self {
        Emitter {
            out: SecureBuf::with_capacity(4096),
            n,
            column: 0,
            whitespace: true,
            indention: true,
            foot_indent: None,
        }
    }

    /// Sizes the output buffer for about `bytes` of output up front (growing copies and
    /// wipes what was written).
    pub(crate) fn reserve(&mut self, bytes: usize) {
        self.out.reserve_hint(bytes);
    }

    pub(crate) fn finish(mut self) -> Output {
        if self.column > 0 {
            self.out.byte(b'\n');
        }
        self.out.finish()
    }

    fn put_break(&mut self) {
        self.out.byte(b'\n');
        self.column = 0;
        self.whitespace = true;
        self.indention = true;
    }

    fn write_indent(&mut self, ind: usize) {
        if !self.indention || self.column > ind || (self.column == ind && !self.whitespace) {
            self.put_break();
        }
        if self.foot_indent == Some(ind) {
            self.put_break();
        }
        while self.column < ind {
            let n = (ind - self.column).min(SPACES.len());
            self.out.push(&SPACES[..n]);
            self.column += n;
        }
        self.whitespace = true;
        self.indention = true;
        self.foot_indent = None;
    }

    /// Writes `s`. The column counts bytes: it is only compared with indentation while
    /// the line holds nothing but indentation and indicators (ASCII), and otherwise only
    /// tested for zero, so bytes and characters give the same decisions.
    fn write_raw(&mut self, s: &str) {
        self.out.push(s.as_bytes());
        self.column += s.len();
    }

    fn write_indicator(&mut self, s: &str, need_ws: bool, is_ws: bool, is_indention: bool) {
        if need_ws && !self.whitespace {
            self.write_raw(" ");
        }
        self.write_raw(s);
        self.whitespace = is_ws;
        self.indention = self.indention && is_indention;
    }

    fn write_text(&mut self, s: &str) {
        if !self.whitespace {
            self.write_raw(" ");
        }
        self.write_raw(s);
        self.whitespace = false;
        self.indention = false;
    }

    /// A comment on its own lines. sops writes `#` and the text; a text of several lines
    /// (an INI comment block read by go-ini) is written as go-yaml writes it: each later
    /// line as it is when it starts with `#` and after `# ` when not, an empty one as an
    /// empty line, and the `\r` of a `\r\n` kept before the break (one break to a
    /// reader). A lone `\r` ends a line: written raw, it would start a line of data.
    fn comment_lines(&mut self, ind: usize, text: &str) {
        let mut first = true;
        for crlf_line in text.split('\n') {
            let (line, cr) = match crlf_line.strip_suffix('\r') {
                Some(l) => (l, true),
                None => (crlf_line, false),
            };
            let mut pieces = line.split('\r').peekable();
            while let Some(piece) = pieces.next() {
                if first {
                    self.write_indent(ind);
                    self.write_raw("#");
                    first = false;
                } else if !piece.is_empty() {
                    self.write_indent(ind);
                    if !piece.starts_with('#') {
                        self.write_raw("# ");
                    }
                }
                self.write_raw(piece);
                if cr && pieces.peek().is_none() {
                    self.write_raw("\r");
                }
                self.put_break();
            }
        }
    }

    fn line_comment(&mut self, text: &str) {
        if !self.whitespace {
            self.write_raw(" ");
        }
        let first = text.split(['\n', '\r']).next().unwrap_or("");
        self.write_raw("#");
        self.write_raw(first);
        self.put_break();
    }

    fn next_indent(&self, ind: usize) -> usize {
        self.n * ((ind + self.n) / self.n)
    }

    /// Writes a value after `key:` (`seq == false`, `ind` = key column) or after `-`
    /// (`seq == true`, `ind` = dash column). `root` for a value written alone.
    fn value(&mut self, v: &Value, ind: usize, seq: bool, inline: Option<&str>) {
        let child = if seq { ind + 2 } else { self.next_indent(ind) };
        match v {
            Value::Map(m) if m.0.iter().any(|i| matches!(i, Item::Entry(..))) => {
                if let Some(t) = inline {
                    self.line_comment(t);
                }
                self.map(m.0.iter().map(ItemRef::from), child);
            }
            Value::Seq(s) if s.iter().any(is_list_item) => {
                if let Some(t) = inline {
                    self.line_comment(t);
                }
                self.seq(s, child);
            }
            Value::Map(_) | Value::Seq(_) => {
                let empty = if matches!(v, Value::Map(_)) {
                    "{}"
                } else {
                    "[]"
                };
                let comments: Vec<&str> = match v {
                    Value::Map(m) => {
                        m.0.iter()
                            .filter_map(|i| match i {
                                Item::Comment(c) => Some(c.text.as_str()),
                                Item::Entry(..) => None,
                            })
                            .collect()
                    }
                    Value::Seq(s) => s
                        .iter()
                        .filter_map(|i| match i {
                            SeqItem::Comment(c) if !is_list_item(i) => Some(c.text.as_str()),
                            SeqItem::Comment(_) | SeqItem::Value(_) => None,
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                self.write_text(empty);
                if let Some(t) = inline {
                    self.line_comment(t);
                }
                // Comments of a collection with no entries follow it, at the column of
                // its key (or dash), as go-yaml writes a foot comment: sops 3.11 turns
                // `l: [] # e` into a list holding only the comment and writes it back
                // as `l: []` and `# e` below it.
                // (No blank line after them, unlike a foot comment: measured.)
                for c in &comments {
                    self.comment_lines(ind, c);
                }
            }
            other => match scalar(other) {
                Scalar::Inline(s) => {
                    self.write_text(&s);
                    if let Some(t) = inline {
                        self.line_comment(t);
                    }
                }
                Scalar::Literal(tag, s) => self.literal(tag, &s, ind, child, inline),
                Scalar::Separated(s) => {
                    self.separated(&s, child);
                    if let Some(t) = inline {
                        self.line_comment(t);
                    }
                }
            },
        }
    }

    fn literal(&mut self, tag: &str, s: &str, parent: usize, content: usize, inline: Option<&str>) {
        let mut header = String::from(tag);
        header.push('|');
        if s.starts_with([' ', '\n']) {
            header.push_str(&(content.saturating_sub(parent)).to_string());
        }
        let trailing = s.len() - s.trim_end_matches('\n').len();
        match (trailing, s.len() == 1) {
            (0, _) => header.push('-'),
            (1, false) => {}
            _ => header.push('+'),
        }
        self.write_indicator(&header, true, false, false);
        match inline {
            Some(t) => self.line_comment(t),
            None => self.put_break(),
        }
        let pieces: Vec<&str> = s.split('\n').collect();
        let last = pieces.len().saturating_sub(1);
        for (i, p) in pieces.iter().enumerate() {
            if !p.is_empty() {
                let mut pad = content;
                while pad > 0 {
                    let n = pad.min(SPACES.len());
                    self.out.push(&SPACES[..n]);
                    pad -= n;
                }
                self.out.push(p.as_bytes());
                self.column = content + p.len();
                self.whitespace = false;
                self.indention = false;
            }
            if i < last {
                self.put_break();
            }
        }
    }

    fn key(&mut self, k: &str) {
        if k == "<<" {
            // go-yaml (sops) writes the key `<<` with its merge tag.
            self.write_text("!!merge <<");
            self.write_indicator(":", false, false, false);
            return;
        }
        let s = match string_scalar(k, true) {
            Scalar::Inline(s) => s,
            // (Not for a simple key: a literal block or a separator is a line break.)
            Scalar::Literal(_, s) | Scalar::Separated(s) => Cow::Owned(double_quoted(&s)),
        };
        self.write_text(&s);
        self.write_indicator(":", false, false, false);
    }

    fn map<'a>(&mut self, items: impl Iterator<Item = ItemRef<'a>>, ind: usize) {
        let mut pending: Vec<&Comment> = Vec::new();
        for item in items {
            match item {
                ItemRef::Comment(c) => pending.push(c),
                ItemRef::Entry(k, v) => {
                    let (heads, inline) = split_comments(&pending);
                    pending.clear();
                    for h in heads {
                        self.comment_lines(ind, h);
                    }
                    self.write_indent(ind);
                    if is_simple_key(k) {
                        self.key(k);
                    } else {
                        self.explicit_key(k, ind);
                    }
                    self.value(v, ind, false, inline);
                }
            }
        }
        self.foot(&pending, ind);
    }

    pub(crate) fn seq(&mut self, s: &[SeqItem], ind: usize) {
        let mut pending: Vec<&Comment> = Vec::new();
        for item in s {
            let enc_comment;
            let v = match item {
                SeqItem::Comment(c) if is_encrypted_comment(c) => {
                    // sops writes an encrypted comment inside a list as a list item.
                    enc_comment = Value::Str(c.text.clone());
                    &enc_comment
                }
                SeqItem::Comment(c) => {
                    pending.push(c);
                    continue;
                }
                SeqItem::Value(v) => v,
            };
            // A list inside this list that starts with comments: go-yaml (sops) writes
            // those comments above this item's dash, at this list's column.
            let inner = match item {
                SeqItem::Value(Value::Seq(inner)) => Some(inner.as_slice()),
                _ => None,
            };
            let hoisted = inner.map_or(0, leading_comments);
            if let Some(inner) = inner {
                pending.extend(inner[..hoisted].iter().filter_map(|i| match i {
                    SeqItem::Comment(c) => Some(c),
                    SeqItem::Value(_) => None,
                }));
            }
            // So do the comments before a map item's first key (`- b: 1 # c`): go-yaml
            // writes them above the dash, where sops reads them back as the list's. After
            // the dash (`- #ENC[…]` / `  b: …`) sops read them in place but leafseal moved
            // them to the top of the list (round 20).
            let map_heads = match item {
                SeqItem::Value(Value::Map(m)) => Some(m.0.as_slice()),
                _ => None,
            }
            .and_then(|items| {
                let n = items
                    .iter()
                    .take_while(|i| matches!(i, Item::Comment(_)))
                    .count();
                (n > 0 && n < items.len()).then_some((items, n))
            });
            if let Some((items, n)) = map_heads {
                pending.extend(items[..n].iter().filter_map(|i| match i {
                    Item::Comment(c) => Some(c),
                    Item::Entry(..) => None,
                }));
            }
            let (heads, inline) = split_comments(&pending);
            pending.clear();
            for h in heads {
                self.comment_lines(ind, h);
            }
            self.write_indent(ind);
            self.write_indicator("-", true, false, true);
            match (inner, map_heads) {
                (Some(inner), _) if hoisted > 0 => self.seq(&inner[hoisted..], ind + 2),
                (_, Some((items, n))) => self.map(items[n..].iter().map(ItemRef::from), ind + 2),
                _ => self.value(v, ind, true, inline),
            }
        }
        self.foot(&pending, ind);
    }

    fn foot(&mut self, pending: &[&Comment], ind: usize) {
        if pending.is_empty() {
            return;
        }
        for c in pending {
            self.comment_lines(ind, c.text.as_str());
        }
        self.foot_indent = Some(ind);
    }

    /// One document whose root is `m`, with `extra` appended as its last entry.
    pub(crate) fn document(&mut self, m: &Map, extra: Option<(&str, &Value)>, first: bool) {
        if !first {
            if self.column > 0 {
                self.put_break();
            }
            self.write_indicator("---", false, false, false);
        }
        self.foot_indent = None;
        if extra.is_some() || m.0.iter().any(|i| matches!(i, Item::Entry(..))) {
            let extra = extra.map(|(k, v)| ItemRef::Entry(k, v));
            self.map(m.0.iter().map(ItemRef::from).chain(extra), 0);
        } else {
            for i in &m.0 {
                if let Item::Comment(c) = i {
                    self.comment_lines(0, c.text.as_str());
                }
            }
            self.write_indent(0);
            self.write_text("{}");
        }
        if self.column > 0 {
            self.put_break();
        }
        self.foot_indent = None;
    }

    /// A value written alone (`decrypt --extract`).
    pub(crate) fn root_value(&mut self, v: &Value) {
        match v {
            Value::Map(m) => self.document(m, None, true),
            Value::Seq(s) if s.iter().any(is_list_item) => self.seq(s, 0),
            Value::Seq(_) => self.write_text("[]"),
            other => match scalar(other) {
                Scalar::Inline(s) => self.write_text(&s),
                Scalar::Literal(tag, s) => self.literal(tag, &s, 0, self.n, None),
                Scalar::Separated(s) => self.separated(&s, self.n),
            },
        }
    }
}
