//! Builds sops's tree from granit-parser events: documents, comments as markers, anchors
//! expanded by deep copy, go-yaml v3 scalar typing.

use std::collections::HashMap;
use std::collections::HashSet;

use granit_parser::Event;
use granit_parser::Options;
use granit_parser::Parser;
use granit_parser::Placement;
use granit_parser::ScalarStyle;
use granit_parser::ScanError;
use granit_parser::Span;
use granit_parser::Tag;

use super::resolve::ResolveError;
use super::resolve::Style;
use super::resolve::resolve;
use crate::format::FormatError;
use crate::tree::Comment;
use crate::tree::Item;
use crate::tree::Map;
use crate::tree::SeqItem;
use crate::tree::Value;

const FMT: &str = "yaml";
/// Cap on nodes created by alias expansion (alias-bomb guard).
const MAX_ALIAS_NODES: usize = 4_000_000;
/// Cap on string bytes created by alias expansion.
const MAX_ALIAS_BYTES: usize = 256 << 20;

fn err_at(msg: impl Into<String>, span: &Span) -> FormatError {
    FormatError::at(FMT, msg, span.start.line(), span.start.col() + 1)
}

fn scan_error(e: &ScanError) -> FormatError {
    use granit_parser::ErrorKind as K;
    let msg = match e.kind() {
        K::UnexpectedCharacter { .. } => "unexpected character".to_owned(),
        K::Custom(_) => "invalid YAML".to_owned(),
        K::UnknownAnchor => "alias refers to an unknown anchor".to_owned(),
        other => {
            let s = other.to_string();
            if s.is_empty() {
                "invalid YAML".to_owned()
            } else {
                s
            }
        }
    };
    let m = e.marker();
    FormatError::at(FMT, format!("invalid YAML: {msg}"), m.line(), m.col() + 1)
}

/// A comment waiting for its place.
struct Pending {
    text: String,
    col: usize,
    inline: bool,
}

impl Pending {
    fn comment(self) -> Comment {
        Comment {
            text: self.text.into(),
            inline: self.inline,
        }
    }
}

enum Frame {
    Map {
        items: Vec<Item>,
        key: Option<String>,
        indent: usize,
        anchor: usize,
        seen: Option<HashSet<String>>,
    },
    Seq {
        items: Vec<SeqItem>,
        indent: usize,
        anchor: usize,
    },
}

/// Where the last completed value went, for same-line (`Right`) comments.
struct LastNode {
    depth: usize,
    first: usize,
    line: usize,
}

impl LastNode {
    fn covers(&self, depth: usize, line: usize) -> bool {
        self.depth == depth && (self.first..=self.line).contains(&line)
    }
}

struct Builder {
    docs: Vec<Map>,
    stack: Vec<Frame>,
    pending: Vec<Pending>,
    anchors: HashMap<usize, (Value, usize, usize)>,
    alias_nodes: usize,
    alias_bytes: usize,
    last: Option<LastNode>,
    in_doc: bool,
    doc_root_done: bool,
    /// End line of the last non-comment event (block scalar headers sit there).
    prev_line: usize,
    /// First line of the scalar being placed.
    first_line: usize,
}

/// Parses a YAML stream into branches (one per document).
pub(crate) fn parse(input: &str) -> Result<Vec<Map>, FormatError> {
    let mut opts = Options::default();
    opts.max_buffered_comment_events = usize::MAX;
    let mut b = Builder {
        docs: Vec::new(),
        stack: Vec::new(),
        pending: Vec::new(),
        anchors: HashMap::new(),
        alias_nodes: 0,
        alias_bytes: 0,
        last: None,
        in_doc: false,
        doc_root_done: false,
        prev_line: 0,
        first_line: 0,
    };
    for ev in Parser::new_from_str_with_options(input, opts) {
        let (ev, span) = ev.map_err(|e| scan_error(&e))?;
        let is_comment = matches!(ev, Event::Comment(..));
        b.event(ev, &span)?;
        if !is_comment {
            b.prev_line = span.end.line();
        }
    }
    if !b.pending.is_empty() {
        let items = b.pending.drain(..).map(|p| Item::Comment(p.comment()));
        match b.docs.last_mut() {
            Some(m) => m.0.extend(items),
            None => b.docs.push(Map(items.collect())),
        }
    }
    Ok(b.docs)
}

fn tag_suffix(tag: Option<&Tag>) -> Option<&str> {
    let t = tag?;
    if t.handle() == "tag:yaml.org,2002:" {
        Some(t.suffix())
    } else {
        Some("")
    }
}

fn value_size(v: &Value) -> (usize, usize) {
    match v {
        Value::Map(m) => m.0.iter().fold((1, 0), |(n, b), i| match i {
            Item::Entry(k, v) => {
                let (n2, b2) = value_size(v);
                (n + n2 + 1, b + b2 + k.len())
            }
            Item::Comment(c) => (n + 1, b + c.text.len()),
        }),
        Value::Seq(s) => s.iter().fold((1, 0), |(n, b), i| match i {
            SeqItem::Value(v) => {
                let (n2, b2) = value_size(v);
                (n + n2, b + b2)
            }
            SeqItem::Comment(c) => (n + 1, b + c.text.len()),
        }),
        Value::Str(s) => (1, s.len()),
        Value::Bytes(s) => (1, s.len()),
        _ => (1, 0),
    }
}

impl Builder {
    fn event(&mut self, ev: Event<'_>, span: &Span) -> Result<(), FormatError> {
        match ev {
            Event::StreamStart | Event::StreamEnd | Event::Anchor(..) => Ok(()),
            Event::DocumentStart(..) => {
                self.in_doc = true;
                self.doc_root_done = false;
                self.anchors.clear();
                self.last = None;
                Ok(())
            }
            Event::DocumentEnd => {
                if !self.doc_root_done {
                    self.docs.push(Map::new());
                }
                self.in_doc = false;
                if let Some(m) = self.docs.last_mut() {
                    m.0.extend(self.pending.drain(..).map(|p| Item::Comment(p.comment())));
                }
                Ok(())
            }
            Event::Comment(text, placement) => {
                self.comment(text.into_owned(), placement, span);
                Ok(())
            }
            Event::Scalar(text, style, anchor, tag) => {
                let st = match style {
                    ScalarStyle::Plain => Style::Plain,
                    _ => Style::Quoted,
                };
                self.first_line = match style {
                    ScalarStyle::Literal | ScalarStyle::Folded => self.prev_line,
                    _ => span.start.line(),
                };
                let v = resolve(&text, st, tag_suffix(tag.as_deref())).map_err(|e| match e {
                    ResolveError::Unsigned => {
                        err_at("integer does not fit a signed 64-bit value", span)
                    }
                    ResolveError::BadTagged(t) => {
                        err_at(format!("scalar cannot be read as !!{t}"), span)
                    }
                })?;
                if anchor != 0 {
                    let (n, b) = value_size(&v);
                    self.anchors.insert(anchor, (v.clone(), n, b));
                }
                self.node(v, span, true)
            }
            Event::Alias(id) => {
                let Some((v, n, b)) = self.anchors.get(&id) else {
                    return Err(err_at(
                        "alias refers to an unfinished or unknown node",
                        span,
                    ));
                };
                self.alias_nodes = self.alias_nodes.saturating_add(*n);
                self.alias_bytes = self.alias_bytes.saturating_add(*b);
                if self.alias_nodes > MAX_ALIAS_NODES || self.alias_bytes > MAX_ALIAS_BYTES {
                    return Err(err_at("alias expansion is too large", span));
                }
                let v = v.clone();
                self.first_line = span.start.line();
                self.node(v, span, true)
            }
            Event::UnresolvedAlias(_) => Err(err_at("alias refers to an unknown anchor", span)),
            Event::MappingStart(_, anchor, _) => {
                self.start_node(span)?;
                let seen = (self.docs.is_empty()).then(HashSet::new);
                self.stack.push(Frame::Map {
                    items: Vec::new(),
                    key: None,
                    indent: span.start.col(),
                    anchor,
                    seen,
                });
                Ok(())
            }
            Event::SequenceStart(_, anchor, _) => {
                self.start_node(span)?;
                self.stack.push(Frame::Seq {
                    items: Vec::new(),
                    indent: span.start.col(),
                    anchor,
                });
                Ok(())
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let Some(frame) = self.stack.pop() else {
                    return Err(err_at("unbalanced collection end", span));
                };
                let (indent, anchor) = match &frame {
                    Frame::Map { indent, anchor, .. } | Frame::Seq { indent, anchor, .. } => {
                        (*indent, *anchor)
                    }
                };
                let take = self.pending.iter().take_while(|p| p.col >= indent).count();
                let foot: Vec<Comment> = self.pending.drain(..take).map(Pending::comment).collect();
                let v = match frame {
                    Frame::Map { mut items, .. } => {
                        items.extend(foot.into_iter().map(Item::Comment));
                        Value::Map(Map(items))
                    }
                    Frame::Seq { mut items, .. } => {
                        items.extend(foot.into_iter().map(SeqItem::Comment));
                        Value::Seq(items)
                    }
                };
                if anchor != 0 {
                    let (n, b) = value_size(&v);
                    self.anchors.insert(anchor, (v.clone(), n, b));
                }
                self.node(v, span, false)
            }
            _ => Ok(()),
        }
    }

    fn flush_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        match self.stack.last_mut() {
            Some(Frame::Map { items, .. }) => {
                items.extend(pending.into_iter().map(|p| Item::Comment(p.comment())))
            }
            Some(Frame::Seq { items, .. }) => {
                items.extend(pending.into_iter().map(|p| SeqItem::Comment(p.comment())))
            }
            None => self.pending = pending,
        }
    }

    fn comment(&mut self, text: String, placement: Placement, span: &Span) {
        let line = span.start.line();
        if placement == Placement::Right {
            let c = Comment {
                text: text.into(),
                inline: true,
            };
            let depth = self.stack.len();
            match self.stack.last_mut() {
                Some(Frame::Map {
                    items,
                    key: Some(_),
                    ..
                }) => {
                    items.push(Item::Comment(c));
                    return;
                }
                Some(Frame::Map {
                    items, key: None, ..
                }) if self.last.as_ref().is_some_and(|l| l.covers(depth, line))
                    && !items.is_empty() =>
                {
                    let at = items.len() - 1;
                    items.insert(at, Item::Comment(c));
                    return;
                }
                Some(Frame::Seq { items, .. })
                    if self.last.as_ref().is_some_and(|l| l.covers(depth, line))
                        && !items.is_empty() =>
                {
                    let at = items.len() - 1;
                    items.insert(at, SeqItem::Comment(c));
                    return;
                }
                _ => {}
            }
            self.pending.push(Pending {
                text: c.text.as_str().to_owned(),
                col: usize::MAX,
                inline: true,
            });
            return;
        }
        self.pending.push(Pending {
            text,
            col: span.start.col(),
            inline: false,
        });
    }

    /// Called before a collection starts: checks position (key/top level) and places
    /// pending comments.
    fn start_node(&mut self, span: &Span) -> Result<(), FormatError> {
        match self.stack.last() {
            None => {
                if !self.in_doc || self.doc_root_done {
                    return Err(err_at("unexpected node outside a document", span));
                }
                Ok(())
            }
            Some(Frame::Map { key: None, .. }) => {
                Err(err_at("non-string key (complex mapping key)", span))
            }
            Some(Frame::Map { .. }) => Ok(()),
            Some(Frame::Seq { .. }) => {
                self.flush_pending();
                Ok(())
            }
        }
    }

    /// A complete node: a scalar (`scalar == true`), an alias copy, or a finished collection.
    fn node(&mut self, v: Value, span: &Span, scalar: bool) -> Result<(), FormatError> {
        let depth = self.stack.len();
        let line = span.end.line();
        let first = if scalar {
            self.first_line.min(line)
        } else {
            line
        };
        match self.stack.last_mut() {
            None => {
                if !self.in_doc || self.doc_root_done {
                    return Err(err_at("unexpected node outside a document", span));
                }
                self.doc_root_done = true;
                match v {
                    Value::Map(mut m) => {
                        let mut items: Vec<Item> = self
                            .pending
                            .drain(..)
                            .map(|p| Item::Comment(p.comment()))
                            .collect();
                        items.append(&mut m.0);
                        self.docs.push(Map(items));
                    }
                    Value::Null => self.docs.push(Map::new()),
                    Value::Seq(_) => {
                        return Err(err_at(
                            "YAML documents that are sequences are not supported",
                            span,
                        ));
                    }
                    _ => {
                        return Err(err_at(
                            "YAML documents that are values are not supported",
                            span,
                        ));
                    }
                }
                Ok(())
            }
            Some(Frame::Map {
                items, key, seen, ..
            }) => {
                if let Some(k) = key.take() {
                    if scalar && !self.pending.is_empty() {
                        items.extend(self.pending.drain(..).map(|p| Item::Comment(p.comment())));
                    }
                    items.push(Item::Entry(k, v));
                    self.last = Some(LastNode { depth, first, line });
                    return Ok(());
                }
                let k = match v {
                    Value::Str(s) => s.as_str().to_owned(),
                    _ => return Err(err_at("non-string key", span)),
                };
                if let Some(seen) = seen {
                    if !seen.insert(k.clone()) {
                        return Err(err_at("mapping key already defined", span));
                    }
                }
                items.extend(self.pending.drain(..).map(|p| Item::Comment(p.comment())));
                *key = Some(k);
                Ok(())
            }
            Some(Frame::Seq { items, .. }) => {
                if scalar && !self.pending.is_empty() {
                    items.extend(
                        self.pending
                            .drain(..)
                            .map(|p| SeqItem::Comment(p.comment())),
                    );
                }
                items.push(SeqItem::Value(v));
                self.last = Some(LastNode { depth, first, line });
                Ok(())
            }
        }
    }
}
