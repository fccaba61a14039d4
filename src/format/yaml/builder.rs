//! Builds sops's tree from a stream of parser-neutral events: documents, comments as
//! markers, anchors expanded by deep copy, go-yaml v3 scalar typing.
//!
//! Both readers feed this builder: the granit-based full parser (`parse.rs`) and the
//! line-based fast path (`fast.rs`), so comment placement, scalar typing and key checks
//! are shared code and the two readers build identical trees from the same events.

use super::feet::after_null_feet;
use super::feet::end_of_document_feet;
use super::feet::end_of_document_next;
use super::feet::foot_comments;
use super::feet::mid_document_feet;
use std::borrow::Cow;
use std::collections::HashMap;

use zeroize::Zeroize;

use super::resolve::ResolveError;
use super::resolve::Style;
use super::resolve::resolve;
use crate::format::ALIAS_NODES_PER_INPUT_BYTE;
use crate::format::FormatError;
use crate::format::MAX_ALIAS_NODES;
use crate::format::MAX_DEPTH;
use crate::tree::Item;
use crate::tree::Map;
use crate::tree::SeqItem;
use crate::tree::Text;
use crate::tree::Value;

mod aliasing;
mod anchors;
mod comments;
mod seen;

use aliasing::DecodeCount;
use anchors::Anchored;
use comments::LastNode;
use comments::Pending;
use seen::Seen;

const FMT: &str = "yaml";
/// Cap on string bytes copied by anchors and aliases, beyond
/// [`ALIAS_BYTES_PER_INPUT_BYTE`] per input byte.
const MAX_ALIAS_BYTES: usize = 1 << 20;
/// String bytes each input byte allows anchors and aliases to copy.
const ALIAS_BYTES_PER_INPUT_BYTE: usize = 16;

/// Where an event sits: 1-based start line, 0-based start column (characters), 1-based
/// end line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sp {
    pub line: usize,
    pub col: usize,
    pub end_line: usize,
}

/// How a scalar was written, as far as the builder cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Plain: typed by content.
    Plain,
    /// Single- or double-quoted.
    Quoted,
    /// Literal or folded block scalar (its header sits on the previous event's line).
    Block,
}

/// A parser-neutral event.
#[derive(Debug)]
pub(crate) enum Ev<'a> {
    DocStart,
    DocEnd,
    /// Comment text after `#`; `true` for a comment at the end of a content line.
    Comment(Cow<'a, str>, bool),
    /// Text, style, anchor id (0 = none), core tag suffix (see `resolve`).
    Scalar(Cow<'a, str>, Kind, usize, Option<&'a str>),
    Alias(usize),
    UnknownAlias,
    /// Anchor id (0 = none) and, for a map that is a list item whose dash stands alone
    /// on an earlier line (`-` / `  # c` / `  a: 1`), that line: the comments after it
    /// are the map's, as go-yaml reads them.
    MapStart(usize, Option<usize>),
    /// Anchor id (0 = none); for a list whose dashes sit at the column of the key it is
    /// the value of (`k:` / `- a`), that column; and, for a list that is a list item
    /// whose dash stands alone on an earlier line (`-` / `  # c` / `  - 1`), that line:
    /// the comments after it are the inner list's, as go-yaml reads them.
    SeqStart(usize, Option<usize>, Option<usize>),
    MapEnd,
    SeqEnd,
}

pub(crate) fn err_at(msg: impl Into<String>, sp: &Sp) -> FormatError {
    FormatError::at(FMT, msg, sp.line, sp.col + 1)
}

fn too_deep(sp: &Sp) -> FormatError {
    err_at(
        format!("nesting too deep (more than {MAX_DEPTH} levels of mappings and sequences)"),
        sp,
    )
}

enum Frame {
    Map {
        items: Vec<Item>,
        key: Option<String>,
        indent: usize,
        anchor: usize,
        seen: Option<Seen>,
    },
    Seq {
        items: Vec<SeqItem>,
        indent: usize,
        anchor: usize,
        /// The dash column of a list at its key's column ([`Ev::SeqStart`]).
        dash: Option<usize>,
    },
}

/// The tree builder.
pub(crate) struct Builder {
    docs: Vec<Map>,
    stack: Vec<Frame>,
    pending: Vec<Pending>,
    anchors: HashMap<usize, Anchored>,
    /// go-yaml's alias rule ([`aliasing`]): what sops refuses as "excessive aliasing".
    decodes: DecodeCount,
    /// Nodes and string bytes anchors and aliases may still copy beyond what go-yaml
    /// counts (alias-bomb backstop, [`anchors`]).
    alias_nodes_left: usize,
    alias_bytes_left: usize,
    last: Option<LastNode>,
    /// Where a flow collection (`{a: 1}`, `[1]`) just ended, for a comment after it.
    flow_end: Option<LastNode>,
    in_doc: bool,
    doc_root_done: bool,
    /// End line of the last non-comment event (block scalar headers sit there).
    prev_line: usize,
    /// First line of the scalar being placed.
    first_line: usize,
    /// The line on which the last map key ended, for a comment after it.
    key_line: usize,
    /// The collections now ending close the document: nothing but comments follows
    /// ([`Builder::closing_at_end`]).
    at_end: bool,
    /// A scalar was placed since the last collection end: the next one to end is the
    /// innermost ([`foot_comments`]).
    after_scalar: bool,
    /// The last scalar was an implicit null (`k:` with nothing after it): the end of a
    /// document right after it places comments by [`after_null_feet`].
    after_null: bool,
    /// Whether go-yaml's foot-comment rule applies: for plaintext, not for an encrypted
    /// file (which has a root `sops` key), whose comments stay where they were read so
    /// that each is opened under the path it was sealed under. sops writes a map's foot
    /// comment after a list whose last item is a comment where its own reader then
    /// gives it to the list (and cannot decrypt it); leafseal reads what it wrote.
    go_yaml_feet: bool,
}

/// Whether `input` is plaintext for [`foot_comments`]' purposes: no line starts with
/// `sops:` (an encrypted file's metadata key).
pub(crate) fn is_plaintext(input: &[u8]) -> bool {
    !(input.starts_with(b"sops:") || crate::find::contains_scaled(input, b"\nsops:"))
}

/// Resolves a scalar, moving an owned quoted/block string into the tree without a copy
/// and wiping any other owned temporary.
fn resolve_text(text: Cow<'_, str>, kind: Kind, tag: Option<&str>) -> Result<Value, ResolveError> {
    let st = match kind {
        Kind::Plain => Style::Plain,
        Kind::Quoted | Kind::Block => Style::Quoted,
    };
    match text {
        Cow::Owned(s) if st == Style::Quoted && matches!(tag, None | Some("str") | Some("")) => {
            Ok(Value::Str(Text::new(s)))
        }
        Cow::Owned(mut s) => {
            let r = resolve(&s, st, tag);
            s.zeroize();
            r
        }
        Cow::Borrowed(s) => resolve(s, st, tag),
    }
}

impl Builder {
    /// A builder for an input of `input_len` bytes (which sets the alias budget).
    pub(crate) fn new(input_len: usize) -> Self {
        Builder {
            docs: Vec::new(),
            stack: Vec::new(),
            pending: Vec::new(),
            anchors: HashMap::new(),
            decodes: DecodeCount::default(),
            alias_nodes_left: MAX_ALIAS_NODES
                .saturating_add(input_len.saturating_mul(ALIAS_NODES_PER_INPUT_BYTE)),
            alias_bytes_left: MAX_ALIAS_BYTES
                .saturating_add(input_len.saturating_mul(ALIAS_BYTES_PER_INPUT_BYTE)),
            last: None,
            flow_end: None,
            in_doc: false,
            doc_root_done: false,
            prev_line: 0,
            first_line: 0,
            key_line: 0,
            at_end: false,
            after_scalar: false,
            after_null: false,
            go_yaml_feet: true,
        }
    }

    /// Sets whether go-yaml's foot-comment rule applies (on by default; off for an
    /// encrypted file, see [`is_plaintext`]).
    pub(crate) fn go_yaml_feet(&mut self, on: bool) {
        self.go_yaml_feet = on;
    }

    /// The branches, once every event was fed.
    pub(crate) fn finish(mut self) -> Vec<Map> {
        if !self.pending.is_empty() {
            let items = self.pending.drain(..).map(|p| Item::Comment(p.comment()));
            match self.docs.last_mut() {
                Some(m) => m.0.extend(items),
                None => self.docs.push(Map(items.collect())),
            }
        }
        self.docs
    }

    /// An event the tree does not need (it still moves the last non-comment line).
    pub(crate) fn touch(&mut self, sp: &Sp) {
        self.prev_line = sp.end_line;
    }

    /// Feeds one event.
    pub(crate) fn event(&mut self, ev: Ev<'_>, sp: &Sp) -> Result<(), FormatError> {
        let is_comment = matches!(ev, Ev::Comment(..));
        if !is_comment {
            self.flow_end = None;
        }
        self.dispatch(ev, sp)?;
        if !is_comment {
            self.prev_line = sp.end_line;
        }
        Ok(())
    }

    fn dispatch(&mut self, ev: Ev<'_>, sp: &Sp) -> Result<(), FormatError> {
        match ev {
            Ev::DocStart => {
                self.in_doc = true;
                self.at_end = false;
                self.doc_root_done = false;
                self.anchors.clear();
                self.last = None;
                self.decodes.reset();
                let within = self.decodes.plain();
                self.within_alias_rule(within, sp)
            }
            Ev::DocEnd => {
                if !self.doc_root_done {
                    self.docs.push(Map::new());
                }
                self.in_doc = false;
                if let Some(m) = self.docs.last_mut() {
                    m.0.extend(self.pending.drain(..).map(|p| Item::Comment(p.comment())));
                }
                Ok(())
            }
            Ev::Comment(text, right) => {
                self.comment(text.into_owned(), right, sp);
                Ok(())
            }
            Ev::Scalar(text, kind, anchor, tag) => {
                let within = self.decodes.plain();
                self.within_alias_rule(within, sp)?;
                self.after_null = kind == Kind::Plain && text.is_empty() && tag.is_none();
                self.first_line = match kind {
                    Kind::Block => self.prev_line,
                    _ => sp.line,
                };
                let v = resolve_text(text, kind, tag).map_err(|e| match e {
                    ResolveError::Unsigned => {
                        err_at("integer does not fit a signed 64-bit value", sp)
                    }
                    ResolveError::BadTagged(t) => {
                        err_at(format!("scalar cannot be read as !!{t}"), sp)
                    }
                    ResolveError::Inexact(why) => err_at(
                        format!(
                            "{} at {} cannot be kept exactly; quote it to keep it as text",
                            why.describe(),
                            self.path()
                        ),
                        sp,
                    ),
                })?;
                if anchor != 0 {
                    self.anchor(anchor, &v, 1, sp)?;
                }
                // A block scalar ends where the next content starts; only its header line
                // can hold a comment that follows it.
                let sp = match kind {
                    Kind::Block => &Sp {
                        end_line: sp.line,
                        ..*sp
                    },
                    _ => sp,
                };
                self.node(v, sp, true)
            }
            Ev::Alias(id) => {
                let Some(a) = self.anchors.get(&id) else {
                    return Err(err_at("alias refers to an unfinished or unknown node", sp));
                };
                if self.stack.len().saturating_add(a.height) > MAX_DEPTH {
                    return Err(too_deep(sp));
                }
                let (comments, bytes, decodes) = (a.comments, a.bytes, a.decodes);
                let within = self.decodes.alias(decodes);
                self.within_alias_rule(within, sp)?;
                self.spend(comments, bytes, sp)?;
                let v = self.anchors.get(&id).map(|a| a.value.clone());
                let v = v.unwrap_or(Value::Null);
                self.first_line = sp.line;
                self.after_null = false;
                self.node(v, sp, true)
            }
            Ev::UnknownAlias => Err(err_at("alias refers to an unknown anchor", sp)),
            Ev::MapStart(anchor, dash_line) => {
                if self.stack.len() >= MAX_DEPTH {
                    return Err(too_deep(sp));
                }
                let within = self.decodes.open();
                self.within_alias_rule(within, sp)?;
                self.start_node(sp, true, dash_line)?;
                let seen = (self.docs.is_empty()).then(Seen::default);
                self.stack.push(Frame::Map {
                    items: Vec::new(),
                    key: None,
                    indent: sp.col,
                    anchor,
                    seen,
                });
                Ok(())
            }
            Ev::SeqStart(anchor, dash, dash_line) => {
                if self.stack.len() >= MAX_DEPTH {
                    return Err(too_deep(sp));
                }
                let within = self.decodes.open();
                self.within_alias_rule(within, sp)?;
                self.start_node(sp, false, dash_line)?;
                // Only as the value of a key at that very column.
                let dash = dash.filter(|&d| {
                    matches!(self.stack.last(), Some(Frame::Map { indent, key: Some(_), .. }) if *indent == d)
                });
                self.stack.push(Frame::Seq {
                    items: Vec::new(),
                    indent: sp.col,
                    anchor,
                    dash,
                });
                // The comments after a lone dash are this list's, before its first item.
                if dash_line.is_some() {
                    self.flush_pending();
                }
                Ok(())
            }
            Ev::MapEnd | Ev::SeqEnd => self.end_node(sp),
        }
    }

    fn end_node(&mut self, sp: &Sp) -> Result<(), FormatError> {
        let Some(frame) = self.stack.pop() else {
            return Err(err_at("unbalanced collection end", sp));
        };
        // go-yaml decodes a merging map's keys a second time before the merge.
        if let Frame::Map { items, .. } = &frame
            && items
                .iter()
                .any(|i| matches!(i, Item::Entry(k, _) if k == "<<"))
        {
            let keys = items
                .iter()
                .filter(|i| matches!(i, Item::Entry(..)))
                .count();
            for _ in 1..keys {
                let within = self.decodes.plain();
                self.within_alias_rule(within, sp)?;
            }
        }
        let decodes = self.decodes.close();
        let (indent, anchor, dash) = match &frame {
            Frame::Map { indent, anchor, .. } => (*indent, *anchor, None),
            Frame::Seq {
                indent,
                anchor,
                dash,
                ..
            } => (*indent, *anchor, *dash),
        };
        // An empty collection (`{}`, `[]`) stands where a scalar would for the rule: the
        // collection that holds it is the innermost to end (measured against sops 3.11).
        let empty = match &frame {
            Frame::Map { items, .. } => items.is_empty(),
            Frame::Seq { items, .. } => items.is_empty(),
        };
        let innermost = !empty && std::mem::take(&mut self.after_scalar) && self.go_yaml_feet;
        let after_null = std::mem::take(&mut self.after_null) && innermost;
        let cols = self.pending.iter().map(|p| p.col);
        let seq = matches!(frame, Frame::Seq { .. });
        let take = if !self.at_end {
            // A list at its key's column ends at the next key of that map without a
            // closing token in go-yaml: the comments before that key are its (measured).
            match dash {
                Some(d) if self.go_yaml_feet && sp.col == d => 0,
                // After a null item (a lone `-`) the comments go with what follows the
                // list, as at the end of a document (`after_null_feet`; measured).
                _ if after_null && seq && self.go_yaml_feet => 0,
                _ => mid_document_feet(cols, indent, sp.col, innermost),
            }
        } else if after_null && !self.stack.is_empty() {
            // (The document's own map takes what is left at its end in any case.)
            after_null_feet(cols, indent, seq)
        } else if self.go_yaml_feet {
            // Measured against the dash column for a list at its key's column.
            let indent = dash.unwrap_or(indent);
            end_of_document_feet(cols, indent, innermost, self.stack.is_empty())
        } else {
            foot_comments(cols.clone(), indent, end_of_document_next(cols), innermost)
        };
        // A finished collection gives back the room its growth reserved: a one-item
        // list kept four items' worth (round 24, docs/security.md "Memory").
        let v = match frame {
            Frame::Map { mut items, .. } => {
                items.extend(
                    self.pending
                        .drain(..take)
                        .map(|p| Item::Comment(p.comment())),
                );
                items.shrink_to_fit();
                Value::Map(Map(items))
            }
            Frame::Seq { mut items, .. } => {
                items.extend(
                    self.pending
                        .drain(..take)
                        .map(|p| SeqItem::Comment(p.comment())),
                );
                items.shrink_to_fit();
                Value::Seq(items)
            }
        };
        if anchor != 0 {
            self.anchor(anchor, &v, decodes, sp)?;
        }
        self.node(v, sp, false)?;
        self.after_scalar |= empty;
        Ok(())
    }

    /// The collection ends that follow close the document: nothing but comments is left
    /// in it (until the next document starts).
    pub(crate) fn closing_at_end(&mut self) {
        self.at_end = true;
    }

    /// Called before a collection (`map` or list) starts: checks position (key/top level)
    /// and places pending comments. `dash_line` is the line of its item's lone dash, if
    /// any.
    fn start_node(
        &mut self,
        sp: &Sp,
        map: bool,
        dash_line: Option<usize>,
    ) -> Result<(), FormatError> {
        match self.stack.last_mut() {
            None => {
                if !self.in_doc || self.doc_root_done {
                    return Err(err_at("unexpected node outside a document", sp));
                }
                Ok(())
            }
            Some(Frame::Map { key: None, .. }) => {
                Err(err_at("non-string key (complex mapping key)", sp))
            }
            Some(Frame::Map { .. }) => Ok(()),
            Some(Frame::Seq { items, .. }) if map || dash_line.is_some() => {
                // A comment after the dash of a map item (`- # c` / `  b: 1`, or on its
                // own line after a lone dash) is the map's, as go-yaml (sops) reads it: it
                // stays pending for the first key. So is one after the lone dash of a list
                // item (`-` / `  # c` / `  - 1`): the inner list's, before its first item.
                // Comment lines before the dash are the outer list's.
                let inline = self
                    .pending
                    .iter()
                    .rposition(|p| !p.inline && dash_line.is_none_or(|d| p.line < d))
                    .map_or(0, |i| i + 1);
                items.extend(
                    self.pending
                        .drain(..inline)
                        .map(|p| SeqItem::Comment(p.comment())),
                );
                Ok(())
            }
            Some(Frame::Seq { .. }) => {
                self.flush_pending();
                Ok(())
            }
        }
    }

    /// A complete node: a scalar (`scalar == true`), an alias copy, or a finished collection.
    fn node(&mut self, v: Value, sp: &Sp, scalar: bool) -> Result<(), FormatError> {
        self.after_scalar |= scalar;
        let depth = self.stack.len();
        let line = sp.end_line;
        let first = if scalar {
            self.first_line.min(line)
        } else {
            line
        };
        match self.stack.last_mut() {
            None => {
                if !self.in_doc || self.doc_root_done {
                    return Err(err_at("unexpected node outside a document", sp));
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
                            sp,
                        ));
                    }
                    _ => {
                        return Err(err_at(
                            "YAML documents that are values are not supported",
                            sp,
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
                    self.last = scalar.then_some(LastNode { depth, first, line });
                    return Ok(());
                }
                let k = match v {
                    Value::Str(mut s) => std::mem::take(s.as_mut_string()),
                    _ => return Err(err_at("non-string key", sp)),
                };
                if let Some(seen) = seen
                    && !seen.insert(items, &k)
                {
                    return Err(err_at("mapping key already defined", sp));
                }
                items.extend(self.pending.drain(..).map(|p| Item::Comment(p.comment())));
                *key = Some(k);
                self.key_line = sp.end_line;
                Ok(())
            }
            Some(Frame::Seq { items, .. }) => {
                // An implicit null item (a lone `-`): go-yaml places it where the next
                // token is, after the comments before its dash, which then go with what
                // follows it (measured against sops 3.11).
                if scalar && !self.pending.is_empty() && !self.after_null {
                    items.extend(
                        self.pending
                            .drain(..)
                            .map(|p| SeqItem::Comment(p.comment())),
                    );
                }
                items.push(SeqItem::Value(v));
                self.last = scalar.then_some(LastNode { depth, first, line });
                Ok(())
            }
        }
    }
}
