//! Three-way merge of plaintext trees by key path.
//!
//! Rules, applied at every map key (and to every YAML document, by index):
//! - both sides equal → that value (no change, or the same change on both sides);
//! - one side equal to the base → the other side's value (a change, an addition or a
//!   deletion on one side wins);
//! - both changed, and both are maps → merge recursively;
//! - otherwise (different changes, delete vs change, different additions, two different
//!   list edits — lists are one value) → a conflict at that path.
//!
//! Comments are grouped by the entry they precede (the trailing ones form their own
//! group); each group is merged with the same rules, so a comment follows the side that
//! changed it. Result order is ours', with keys only theirs has inserted after their
//! predecessor in theirs.

use std::collections::HashMap;

use crate::tree::Comment;
use crate::tree::Document;
use crate::tree::Item;
use crate::tree::Map;
use crate::tree::SeqItem;
use crate::tree::Value;

/// One conflicting path. Names keys only, never a value or a comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The path, e.g. `["db"]["password"]`, prefixed with the document number in
    /// multi-document YAML.
    pub path: String,
    /// What happened on the two sides.
    pub why: &'static str,
}

struct Merger {
    doc_prefix: String,
    conflicts: Vec<Conflict>,
}

impl Merger {
    fn conflict(&mut self, path: &str, why: &'static str) {
        let shown = if path.is_empty() {
            "(the whole document)"
        } else {
            path
        };
        self.conflicts.push(Conflict {
            path: format!("{}{shown}", self.doc_prefix),
            why,
        });
    }
}

/// Value equality where floats compare by bits (so NaN equals itself, -0 differs from 0).
pub fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
        (Value::Map(x), Value::Map(y)) => same_map(x, y),
        (Value::Seq(x), Value::Seq(y)) => {
            x.len() == y.len()
                && x.iter().zip(y).all(|p| match p {
                    (SeqItem::Value(a), SeqItem::Value(b)) => same_value(a, b),
                    (SeqItem::Comment(a), SeqItem::Comment(b)) => a == b,
                    _ => false,
                })
        }
        _ => a == b,
    }
}

fn same_map(x: &Map, y: &Map) -> bool {
    x.0.len() == y.0.len()
        && x.0.iter().zip(&y.0).all(|p| match p {
            (Item::Entry(k1, v1), Item::Entry(k2, v2)) => k1 == k2 && same_value(v1, v2),
            (Item::Comment(a), Item::Comment(b)) => a == b,
            _ => false,
        })
}

fn same_opt(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => same_value(a, b),
        (None, None) => true,
        _ => false,
    }
}

fn key_path(path: &str, key: &str) -> String {
    let mut out = String::with_capacity(path.len() + key.len() + 4);
    out.push_str(path);
    out.push_str("[\"");
    for c in key.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        // A key from a hostile file must not put terminal escapes into the report.
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.push_str("\"]");
    out
}

/// Comments grouped by the key of the entry they precede (`None`: after the last entry).
fn comment_groups(m: &Map) -> HashMap<Option<&str>, Vec<&Comment>> {
    let mut out = HashMap::new();
    let mut pending = Vec::new();
    for item in &m.0 {
        match item {
            Item::Comment(c) => pending.push(c),
            Item::Entry(k, _) => {
                out.entry(Some(k.as_str()))
                    .or_insert_with(|| std::mem::take(&mut pending));
            }
        }
    }
    out.insert(None, pending);
    out
}

fn group_of<'a>(
    groups: &HashMap<Option<&str>, Vec<&'a Comment>>,
    key: Option<&str>,
) -> Vec<&'a Comment> {
    groups.get(&key).cloned().unwrap_or_default()
}

/// A map's entries by key (the maps merged have no duplicate keys), so that a merge of
/// large maps takes time in proportion to their size (a linear search per key made a
/// hostile file of 160,000 keys take 86 s).
fn index(m: &Map) -> HashMap<&str, &Value> {
    m.entries().collect()
}

/// The merged key order: ours', with each run of keys only theirs has placed right after
/// the key that precedes it in theirs (the start for a run at the top), after any keys
/// only ours added at that spot.
fn merged_order<'a>(
    b: &HashMap<&str, &Value>,
    o: &'a Map,
    t: &'a Map,
    ti: &HashMap<&str, &Value>,
    oi: &HashMap<&str, &Value>,
) -> Vec<&'a str> {
    let mut runs: HashMap<Option<&str>, Vec<&str>> = HashMap::new();
    let mut anchor: Option<&str> = None;
    for (k, _) in t.entries() {
        if oi.contains_key(k) {
            anchor = Some(k);
        } else {
            runs.entry(anchor).or_default().push(k);
        }
    }
    let ours_only = |k: &str| !b.contains_key(k) && !ti.contains_key(k);
    let mut out = Vec::with_capacity(oi.len() + ti.len());
    let mut waiting = runs.remove(&None).unwrap_or_default();
    for (k, _) in o.entries() {
        if !waiting.is_empty() && !ours_only(k) {
            out.append(&mut waiting);
        }
        out.push(k);
        if let Some(run) = runs.remove(&Some(k)) {
            out.append(&mut waiting);
            waiting = run;
        }
    }
    out.append(&mut waiting);
    out
}

impl Merger {
    fn value(
        &mut self,
        path: &str,
        b: Option<&Value>,
        o: Option<&Value>,
        t: Option<&Value>,
    ) -> Option<Value> {
        if same_opt(o, t) || same_opt(t, b) {
            return o.cloned();
        }
        if same_opt(o, b) {
            return t.cloned();
        }
        if let (None | Some(Value::Map(_)), Some(Value::Map(mo)), Some(Value::Map(mt))) = (b, o, t)
        {
            let empty = Map::new();
            let mb = b.and_then(Value::as_map).unwrap_or(&empty);
            return Some(Value::Map(self.map(path, mb, mo, mt)));
        }
        let why = match (b, o, t) {
            (None, _, _) => "added with different values on both sides",
            (_, None, _) | (_, _, None) => "deleted on one side and changed on the other",
            (_, Some(Value::Seq(_)), Some(Value::Seq(_))) => {
                "list changed differently on both sides (lists merge as a whole)"
            }
            _ => "changed differently on both sides",
        };
        self.conflict(path, why);
        o.cloned()
    }

    fn comments<'a>(
        &mut self,
        path: &str,
        b: Vec<&'a Comment>,
        o: Vec<&'a Comment>,
        t: Vec<&'a Comment>,
    ) -> Vec<&'a Comment> {
        if o == t || t == b {
            o
        } else if o == b {
            t
        } else {
            self.conflict(path, "comments changed differently on both sides");
            o
        }
    }

    fn map(&mut self, path: &str, b: &Map, o: &Map, t: &Map) -> Map {
        if [b, o, t].iter().any(|m| m.repeated_own_key().is_some()) {
            self.conflict(path, "map with duplicate keys changed on both sides");
            return o.clone();
        }
        let (bi, oi, ti) = (index(b), index(o), index(t));
        let keys = merged_order(&bi, o, t, &ti, &oi);
        // Keys only the base had (deleted on both sides) stay deleted: same_opt(o, t).
        let (gb, go, gt) = (comment_groups(b), comment_groups(o), comment_groups(t));
        let mut out = Map::new();
        for k in keys {
            let kp = key_path(path, k);
            let merged = self.value(
                &kp,
                bi.get(k).copied(),
                oi.get(k).copied(),
                ti.get(k).copied(),
            );
            let anchor = Some(k);
            let (cb, co, ct) = (
                group_of(&gb, anchor),
                group_of(&go, anchor),
                group_of(&gt, anchor),
            );
            let Some(v) = merged else {
                // The entry and its comments go; a change the other side made to those
                // comments (a "do not remove" note) would go unseen (round-18 review).
                let gone = |side: &HashMap<&str, &Value>| !side.contains_key(k);
                if (gone(&oi) && !gone(&ti) && ct != cb) || (gone(&ti) && !gone(&oi) && co != cb) {
                    self.conflict(
                        &format!("{kp} (comments above it)"),
                        "deleted on one side while the comments above it changed on the other",
                    );
                }
                continue;
            };
            let cs = self.comments(&format!("{kp} (comments above it)"), cb, co, ct);
            for c in cs {
                out.push_comment(c.clone());
            }
            out.push(k, v);
        }
        let tail_path = if path.is_empty() { "(top level)" } else { path };
        let tail = self.comments(
            &format!("{tail_path} (comments at the end)"),
            group_of(&gb, None),
            group_of(&go, None),
            group_of(&gt, None),
        );
        for c in tail {
            out.push_comment(c.clone());
        }
        out
    }
}

/// Merges three plaintext documents (`base` is `None` when the file did not exist in the
/// merge base). Every YAML document is merged by its index.
pub fn merge_documents(
    base: Option<&Document>,
    ours: &Document,
    theirs: &Document,
) -> Result<Document, Vec<Conflict>> {
    let n = ours.branches.len().max(theirs.branches.len());
    let multi = n > 1 || base.is_some_and(|b| b.branches.len() > 1);
    let mut m = Merger {
        doc_prefix: String::new(),
        conflicts: Vec::new(),
    };
    // Documents merge by position: a document added or removed on one side would move
    // the other side's changes into a different document (another Kubernetes Secret, or
    // namespace), so a change in the number of documents is resolved by hand.
    let counts = [
        base.map(|b| b.branches.len()),
        Some(ours.branches.len()),
        Some(theirs.branches.len()),
    ];
    if multi && counts.iter().flatten().any(|&c| Some(c) != counts[1]) {
        m.conflict(
            "",
            "the number of documents differs between the versions (documents merge by position)",
        );
        return Err(m.conflicts);
    }
    let mut branches = Vec::new();
    let n = n.max(base.map_or(0, |b| b.branches.len()));
    for i in 0..n {
        if multi {
            m.doc_prefix = format!("document {}: ", i + 1);
        }
        let wrap =
            |d: Option<&Document>| d.and_then(|d| d.branches.get(i)).cloned().map(Value::Map);
        let (b, o, t) = (wrap(base), wrap(Some(ours)), wrap(Some(theirs)));
        if let Some(Value::Map(merged)) = m.value("", b.as_ref(), o.as_ref(), t.as_ref()) {
            branches.push(merged);
        }
    }
    if branches.is_empty() {
        m.doc_prefix.clear();
        m.conflict("", "every document was deleted");
    }
    if m.conflicts.is_empty() {
        Ok(Document { branches })
    } else {
        Err(m.conflicts)
    }
}

#[cfg(test)]
#[path = "tree_merge_tests.rs"]
mod tests;
