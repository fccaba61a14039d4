//! Anchors and aliases (copies paid from a budget linear in the input, so an alias bomb
//! is refused before it grows) and the path of the node being read, for errors.

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
    /// Tree nodes in it.
    pub(super) nodes: usize,
    /// String bytes in it (keys, strings, comments).
    pub(super) bytes: usize,
    /// Levels of maps and lists in it (0 for a scalar).
    pub(super) height: usize,
}

impl Anchored {
    /// Measures `v` (whose height is at most [`crate::format::MAX_DEPTH`], so the recursion is bounded):
    /// nodes, string bytes, height.
    fn measure(value: &Value) -> (usize, usize, usize) {
        fn size(v: &Value) -> (usize, usize, usize) {
            let add = |(n, b, h): (usize, usize, usize), (n2, b2, h2): (usize, usize, usize)| {
                (n.saturating_add(n2), b.saturating_add(b2), h.max(h2 + 1))
            };
            match v {
                Value::Map(m) => m.0.iter().fold((1, 0, 1), |acc, i| match i {
                    Item::Entry(k, v) => add(add(acc, size(v)), (1, k.len(), 0)),
                    Item::Comment(c) => add(acc, (1, c.text.len(), 0)),
                }),
                Value::Seq(s) => s.iter().fold((1, 0, 1), |acc, i| match i {
                    SeqItem::Value(v) => add(acc, size(v)),
                    SeqItem::Comment(c) => add(acc, (1, c.text.len(), 0)),
                }),
                Value::Str(s) => (1, s.len(), 0),
                Value::Bytes(s) => (1, s.len(), 0),
                _ => (1, 0, 0),
            }
        }
        size(value)
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

    /// Records an anchored node (its copy is paid from the alias budget).
    pub(super) fn anchor(&mut self, id: usize, v: &Value, sp: &Sp) -> Result<(), FormatError> {
        let (nodes, bytes, height) = Anchored::measure(v);
        self.spend(nodes, bytes, sp)?;
        let a = Anchored {
            value: v.clone(),
            nodes,
            bytes,
            height,
        };
        self.anchors.insert(id, a);
        Ok(())
    }
}
