//! Where the builder puts comments: a comment waits ([`Pending`]) until the node it
//! belongs before is placed; one at the end of a content line goes beside the value
//! that line completed ([`LastNode`]) or above the entry whose key it follows.

use super::Builder;
use super::Frame;
use super::Sp;
use crate::tree::Comment;
use crate::tree::Item;
use crate::tree::SeqItem;
use crate::tree::Value;

/// A comment waiting for its place.
pub(super) struct Pending {
    pub(super) text: String,
    pub(super) col: usize,
    pub(super) line: usize,
    pub(super) inline: bool,
}

impl Pending {
    pub(super) fn comment(self) -> Comment {
        Comment {
            text: self.text.into(),
            inline: self.inline,
        }
    }
}

/// Where the last completed value went, for same-line (`Right`) comments.
pub(super) struct LastNode {
    pub(super) depth: usize,
    pub(super) first: usize,
    pub(super) line: usize,
}

impl LastNode {
    fn covers(&self, depth: usize, line: usize) -> bool {
        self.depth == depth && (self.first..=self.line).contains(&line)
    }
}

impl Builder {
    /// Moves the comments waiting for a place into the collection now open (kept
    /// waiting at the top level).
    pub(super) fn flush_pending(&mut self) {
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

    /// Notes that the collection just ended was a flow collection (`{a: 1}`, `[1]`)
    /// closed on the line of `sp`: a comment after it on that line follows it. (A block
    /// collection ends where the next content starts, so a comment on that line follows
    /// that content's dash or key, not the collection.)
    pub(crate) fn flow_collection_ended(&mut self, sp: &Sp) {
        let depth = self.stack.len();
        let end = || LastNode {
            depth,
            first: sp.line,
            line: sp.line,
        };
        self.last = Some(end());
        self.flow_end = Some(end());
    }

    /// A comment at the end of the line where the flow collection value of a key ended
    /// (`x: {a: 1} # c`): go-yaml gives it to that collection (its line comment), and
    /// sops to the collection's first entry, so it is put there; an empty list then
    /// holds only the comment, which sops writes after `x: []` and reads back. `Err`
    /// gives the comment back when that is not where it stands: a list item, or an empty
    /// map, which sops writes as `x: {` / `#ENC[…]` / `}` and never reads the comment
    /// back from (leafseal keeps it above the key).
    fn after_flow_value(&mut self, c: Comment, line: usize) -> Result<(), Comment> {
        let depth = self.stack.len();
        if !self.flow_end.take().is_some_and(|f| f.covers(depth, line)) {
            return Err(c);
        }
        let Some(Frame::Map {
            items, key: None, ..
        }) = self.stack.last_mut()
        else {
            return Err(c);
        };
        match items.last_mut() {
            Some(Item::Entry(_, Value::Map(m))) if !m.0.is_empty() => {
                m.0.insert(0, Item::Comment(c));
                Ok(())
            }
            Some(Item::Entry(_, Value::Seq(s))) => {
                s.insert(0, SeqItem::Comment(c));
                Ok(())
            }
            _ => Err(c),
        }
    }

    /// Places a comment: one at the end of a content line (`right`) beside what it
    /// follows where sops puts it, any other one waiting for the next node.
    pub(super) fn comment(&mut self, text: String, right: bool, sp: &Sp) {
        let line = sp.line;
        if right {
            let c = Comment {
                text: text.into(),
                inline: true,
            };
            let Err(c) = self.after_flow_value(c, line) else {
                return;
            };
            let depth = self.stack.len();
            match self.stack.last_mut() {
                // On the key's line (`a: # c`): sops writes it above the entry. On a
                // later line it follows the dash of a list that is the value (`a:`,
                // `- # c`, `  - x`): it goes with what follows, as an own-line comment.
                Some(Frame::Map {
                    items,
                    key: Some(_),
                    ..
                }) if line <= self.key_line => {
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
                line,
                inline: true,
            });
            return;
        }
        self.pending.push(Pending {
            text,
            col: sp.col,
            line,
            inline: false,
        });
    }
}
