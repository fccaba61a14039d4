//! Anchors and aliases and the path of the node being read, for errors. An alias is
//! bounded first by go-yaml's rule ([`super::aliasing`]), which counts YAML nodes; the
//! copies it does not count (an anchor's own copy, comments and string bytes, which
//! go-yaml shares rather than copies) are paid from a budget linear in the input, so
//! an alias bomb is refused before it grows.

use super::Builder;
use super::Frame;
use super::Sp;
use super::err_at;
use crate::format::FormatError;
use crate::tree::Item;
use crate::tree::SeqItem;
use crate::tree::Value;

/// An anchored node: its copy and what copying it costs.
pub(super) struct Anchored {
    pub(super) value: Value,
    /// Comments in it (nodes go-yaml's rule does not count).
    pub(super) comments: usize,
    /// go-yaml decodes of it: what an alias to it counts ([`super::aliasing`]).
    pub(super) decodes: u64,
    /// String bytes in it (keys, strings, comments).
    pub(super) bytes: usize,
    /// Levels of maps and lists in it (0 for a scalar).
    pub(super) height: usize,
}

impl Anchored {
    /// Measures `v` (whose height is at most [`crate::format::MAX_DEPTH`], so the recursion is bounded).
    fn measure(value: &Value) -> Size {
        fn size(v: &Value) -> Size {
            let one = |comment: bool, bytes: usize| Size {
                nodes: 1,
                comments: usize::from(comment),
                bytes,
                height: 0,
            };
            let collection = Size {
                height: 1,
                ..one(false, 0)
            };
            match v {
                Value::Map(m) => m.0.iter().fold(collection, |acc, i| match i {
                    Item::Entry(k, v) => acc.add(size(v)).add(one(false, k.len())),
                    Item::Comment(c) => acc.add(one(true, c.text.len())),
                }),
                Value::Seq(s) => s.iter().fold(collection, |acc, i| match i {
                    SeqItem::Value(v) => acc.add(size(v)),
                    SeqItem::Comment(c) => acc.add(one(true, c.text.len())),
                }),
                Value::Str(s) => one(false, s.len()),
                Value::Bytes(s) => one(false, s.len()),
                _ => one(false, 0),
            }
        }
        size(value)
    }
}

/// What copying a value costs.
#[derive(Clone, Copy)]
struct Size {
    /// Tree nodes (comments included).
    nodes: usize,
    comments: usize,
    /// String bytes (keys, strings, comments).
    bytes: usize,
    /// Levels of maps and lists (0 for a scalar).
    height: usize,
}

impl Size {
    /// `self` (a collection) holding `inner`.
    fn add(self, inner: Size) -> Size {
        Size {
            nodes: self.nodes.saturating_add(inner.nodes),
            comments: self.comments.saturating_add(inner.comments),
            bytes: self.bytes.saturating_add(inner.bytes),
            height: self.height.max(inner.height.saturating_add(1)),
        }
    }
}

impl Builder {
    /// The path of the node being read, as `["key"][0]`.
    pub(super) fn path(&self) -> String {
        let mut out = String::new();
        for f in &self.stack {
            match f {
                Frame::Map { key: Some(k), .. } => out.push_str(&format!("[{k:?}]")),
                Frame::Map { key: None, .. } => {}
                Frame::Seq { items, .. } => {
                    let n = items
                        .iter()
                        .filter(|i| matches!(i, SeqItem::Value(_)))
                        .count();
                    out.push_str(&format!("[{n}]"));
                }
            }
        }
        out
    }

    /// Fails with the alias-bomb error when go-yaml's rule was broken (`within` false).
    pub(super) fn within_alias_rule(&self, within: bool, sp: &Sp) -> Result<(), FormatError> {
        if within {
            return Ok(());
        }
        Err(err_at(
            "alias expansion is too large: aliases make up more of the document's nodes \
             than go-yaml (sops) allows for its size (an alias bomb?)",
            sp,
        ))
    }

    /// Takes `nodes` and `bytes` from the alias budget, or fails before anything is copied.
    pub(super) fn spend(&mut self, nodes: usize, bytes: usize, sp: &Sp) -> Result<(), FormatError> {
        match (
            self.alias_nodes_left.checked_sub(nodes),
            self.alias_bytes_left.checked_sub(bytes),
        ) {
            (Some(n), Some(b)) => {
                self.alias_nodes_left = n;
                self.alias_bytes_left = b;
                Ok(())
            }
            _ => Err(err_at(
                "alias expansion is too large: anchors and aliases would copy more nodes than \
                 the document's size allows (an alias bomb?)",
                sp,
            )),
        }
    }

    /// Records an anchored node that took `decodes` go-yaml decodes (its copy is paid
    /// from the alias budget).
    pub(super) fn anchor(
        &mut self,
        id: usize,
        v: &Value,
        decodes: u64,
        sp: &Sp,
    ) -> Result<(), FormatError> {
        let size = Anchored::measure(v);
        self.spend(size.nodes, size.bytes, sp)?;
        let a = Anchored {
            value: v.clone(),
            comments: size.comments,
            decodes,
            bytes: size.bytes,
            height: size.height,
        };
        self.anchors.insert(id, a);
        Ok(())
    }
}
