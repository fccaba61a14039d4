//! The format-neutral document model (sops's "tree").
//!
//! A [`Document`] is a list of branches (one per YAML document, exactly one for every
//! other format). A branch is an ordered [`Map`] of [`Item`]s: key/value entries and
//! comment markers that occupy a slot. Order is significant everywhere: it is the order
//! of the MAC input and of the output.
//!
//! Every string that may hold plaintext ([`Text`], [`Bytes`]) is wiped on drop and prints
//! `[REDACTED]` in `Debug`, so a tree can be logged or put in an error by mistake without
//! leaking a value or a comment.

use std::fmt;
use std::ops::Deref;

use zeroize::Zeroize;

/// A UTF-8 string that may be secret: zeroized on drop, redacted in `Debug`.
#[derive(Clone, PartialEq, Eq, Default, PartialOrd, Ord, Hash)]
pub struct Text(String);

impl Text {
    /// Wraps a string.
    pub fn new(s: impl Into<String>) -> Self {
        Text(s.into())
    }
    /// The string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Mutable access to the inner string (it is still wiped on drop).
    pub fn as_mut_string(&mut self) -> &mut String {
        &mut self.0
    }
}

impl Drop for Text {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text(s)
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text(s.to_owned())
    }
}

/// Bytes that may be secret and are not valid UTF-8 (binary files, `!!binary`, legacy
/// `type:bytes`): zeroized on drop, redacted in `Debug`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Bytes(Vec<u8>);

impl Bytes {
    /// Wraps a byte vector.
    pub fn new(b: Vec<u8>) -> Self {
        Bytes(b)
    }
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Bytes {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

pub use crate::time::Timestamp;

/// A comment line (without its leading `#` or `;`), occupying a slot in a map or list.
#[derive(Clone, PartialEq, Debug)]
pub struct Comment {
    /// The text after the comment marker; may be `ENC[...]` in an encrypted file.
    pub text: Text,
    /// YAML only: the comment stood at the end of a value line (go-yaml's line comment).
    pub inline: bool,
}

/// Whether `s` is an `ENC[AES256_GCM,...,type:comment]` text: what sops stores for an
/// encrypted comment. Inside a YAML list sops writes it as a list item, not a comment.
pub fn is_encrypted_comment_text(s: &str) -> bool {
    s.starts_with("ENC[AES256_GCM,") && s.trim_end().ends_with(",type:comment]")
}

/// Turns every list element that is an encrypted comment stored as a string (sops's
/// form inside YAML lists) back into a comment marker, so that it is decrypted as a
/// comment and kept out of the MAC, as sops does.
pub fn lift_list_comments(doc: &mut Document) {
    let mut stack: Vec<&mut Value> = Vec::new();
    for branch in doc.branches.iter_mut() {
        for item in branch.0.iter_mut() {
            if let Item::Entry(_, v) = item {
                stack.push(v);
            }
        }
    }
    while let Some(v) = stack.pop() {
        match v {
            Value::Map(m) => {
                for item in m.0.iter_mut() {
                    if let Item::Entry(_, v) = item {
                        stack.push(v);
                    }
                }
            }
            Value::Seq(items) => {
                for item in items.iter_mut() {
                    let lift = match item {
                        SeqItem::Value(Value::Str(s)) if is_encrypted_comment_text(s.as_str()) => {
                            Some(s.clone())
                        }
                        _ => None,
                    };
                    match (lift, item) {
                        (Some(text), item) => *item = SeqItem::Comment(Comment::line(text)),
                        (None, SeqItem::Value(v)) => stack.push(v),
                        (None, SeqItem::Comment(_)) => {}
                    }
                }
            }
            _ => {}
        }
    }
}

impl Comment {
    /// A full-line comment.
    pub fn line(text: impl Into<Text>) -> Self {
        Comment {
            text: text.into(),
            inline: false,
        }
    }
}

/// A value in the tree.
#[derive(Clone, PartialEq, Debug)]
pub enum Value {
    /// A nested ordered map.
    Map(Map),
    /// An ordered list; elements may be comment markers.
    Seq(Vec<SeqItem>),
    /// A string.
    Str(Text),
    /// Bytes that are not valid UTF-8.
    Bytes(Bytes),
    /// A signed 64-bit integer.
    Int(i64),
    /// An IEEE double.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A timestamp (sops ≥ 3.10, `type:time`).
    Time(Timestamp),
    /// Null: never encrypted, not part of the MAC.
    Null,
}

impl Value {
    /// A key that some map in this value holds twice, depth first (a JSON object may
    /// repeat a key; a YAML map may not). Values come from the readers, so the recursion
    /// is bounded by their nesting limit.
    pub fn repeated_key(&self) -> Option<&str> {
        match self {
            Value::Map(m) => m.repeated_key(),
            Value::Seq(items) => items.iter().find_map(|i| match i {
                SeqItem::Value(v) => v.repeated_key(),
                SeqItem::Comment(_) => None,
            }),
            _ => None,
        }
    }

    /// A string value.
    pub fn str(s: impl Into<Text>) -> Self {
        Value::Str(s.into())
    }
    /// The map, if this is one.
    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s.as_str()),
            _ => None,
        }
    }
    /// A short name of the variant, safe for error messages (never the value itself).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Map(_) => "map",
            Value::Seq(_) => "list",
            Value::Str(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Bool(_) => "bool",
            Value::Time(_) => "timestamp",
            Value::Null => "null",
        }
    }
}

/// An element of a list.
#[derive(Clone, PartialEq, Debug)]
pub enum SeqItem {
    /// A value.
    Value(Value),
    /// A comment marker.
    Comment(Comment),
}

/// An item of a map.
#[derive(Clone, PartialEq, Debug)]
pub enum Item {
    /// A key and its value. Keys are never encrypted; duplicates are allowed (JSON keeps them).
    Entry(String, Value),
    /// A comment marker.
    Comment(Comment),
}

/// An ordered map: entries and comment markers in document order.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct Map(pub Vec<Item>);

impl Map {
    /// A key that this map or one inside it holds twice ([`Value::repeated_key`]).
    pub fn repeated_key(&self) -> Option<&str> {
        self.repeated_own_key()
            .or_else(|| self.entries().find_map(|(_, v)| v.repeated_key()))
    }

    /// A key this map itself holds twice (not looking into its values).
    pub fn repeated_own_key(&self) -> Option<&str> {
        // Most maps are small: comparing their keys pairwise allocates nothing, where a
        // set per map cost the 10 MB YAML tree path about a tenth of its time.
        const PAIRWISE: usize = 16;
        let keys: Vec<&str> = self.entries().map(|(k, _)| k).collect();
        if keys.len() <= PAIRWISE {
            keys.iter()
                .enumerate()
                .find(|(i, k)| keys[..*i].contains(k))
                .map(|(_, k)| *k)
        } else {
            let mut seen = std::collections::HashSet::with_capacity(keys.len());
            keys.iter().find(|k| !seen.insert(**k)).copied()
        }
    }

    /// An empty map.
    pub fn new() -> Self {
        Map(Vec::new())
    }
    /// Appends an entry.
    pub fn push(&mut self, key: impl Into<String>, value: Value) {
        self.0.push(Item::Entry(key.into(), value));
    }
    /// Appends a comment marker.
    pub fn push_comment(&mut self, c: Comment) {
        self.0.push(Item::Comment(c));
    }
    /// The first value stored under `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find_map(|i| match i {
            Item::Entry(k, v) if k == key => Some(v),
            _ => None,
        })
    }
    /// Mutable access to the first value stored under `key`.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.0.iter_mut().find_map(|i| match i {
            Item::Entry(k, v) if k == key => Some(v),
            _ => None,
        })
    }
    /// Removes every entry stored under `key` and returns the first one's value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let mut first = None;
        let mut i = 0;
        while i < self.0.len() {
            if matches!(&self.0[i], Item::Entry(k, _) if k == key) {
                if let Item::Entry(_, v) = self.0.remove(i)
                    && first.is_none()
                {
                    first = Some(v);
                }
            } else {
                i += 1;
            }
        }
        first
    }
    /// Iterates over the key/value entries, skipping comments.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().filter_map(|i| match i {
            Item::Entry(k, v) => Some((k.as_str(), v)),
            Item::Comment(_) => None,
        })
    }
    /// Whether the map has no items at all (entries or comments).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A whole document: one branch per YAML document, exactly one for other formats.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct Document {
    /// The branches, in order.
    pub branches: Vec<Map>,
}

impl Document {
    /// Overwrites every string, byte string and comment with zeros in place, without
    /// freeing anything. For a process that is about to exit: wiping is fast, freeing a
    /// large tree is not, and the memory goes back to the system at exit anyway.
    pub fn wipe_in_place(&mut self) {
        self.wipe_with(crate::io::cores);
    }

    /// [`Document::wipe_in_place`], asking `cores` how many cores there are only when a
    /// container is large enough to be split (a tiny file's exit does not read cgroup
    /// files for it).
    fn wipe_with(&mut self, cores: impl FnOnce() -> usize) {
        fn value(v: &mut Value) {
            match v {
                Value::Str(t) => t.0.zeroize(),
                Value::Bytes(b) => b.0.zeroize(),
                Value::Map(m) => items(&mut m.0),
                Value::Seq(s) => seq(s),
                _ => {}
            }
        }
        fn seq(s: &mut [SeqItem]) {
            for i in s {
                match i {
                    SeqItem::Value(v) => value(v),
                    SeqItem::Comment(c) => c.text.0.zeroize(),
                }
            }
        }
        fn items(m: &mut [Item]) {
            for i in m {
                match i {
                    Item::Entry(_, v) => value(v),
                    Item::Comment(c) => c.text.0.zeroize(),
                }
            }
        }
        // A large top-level container is wiped in two halves, the second on another
        // thread: wiping a quarter of a million values is a few milliseconds per core.
        const SPLIT: usize = 4096;
        let mut cores = Some(cores);
        let mut two_cores = None;
        let mut split = |n: usize| {
            n >= SPLIT && *two_cores.get_or_insert_with(|| cores.take().is_some_and(|c| c() > 1))
        };
        for b in &mut self.branches {
            for it in &mut b.0 {
                match it {
                    Item::Entry(_, Value::Map(m)) if split(m.0.len()) => {
                        let half = m.0.len() / 2;
                        let (x, y) = m.0.split_at_mut(half);
                        std::thread::scope(|s| {
                            let other = s.spawn(|| items(y));
                            items(x);
                            let _ = other.join();
                        });
                    }
                    Item::Entry(_, Value::Seq(q)) if split(q.len()) => {
                        let half = q.len() / 2;
                        let (x, y) = q.split_at_mut(half);
                        std::thread::scope(|s| {
                            let other = s.spawn(|| seq(y));
                            seq(x);
                            let _ = other.join();
                        });
                    }
                    Item::Entry(_, v) => value(v),
                    Item::Comment(c) => c.text.0.zeroize(),
                }
            }
        }
    }

    /// A document with one branch.
    pub fn single(map: Map) -> Self {
        Document {
            branches: vec![map],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wipe_in_place_empties_every_secret_and_debug_redacts() {
        let mut inner = Map::new();
        inner.push_comment(Comment::line(" note"));
        inner.push("b", Value::Bytes(Bytes::new(vec![1, 2, 3])));
        let mut m = Map::new();
        m.push("a", Value::str("secret"));
        m.push("n", Value::Map(inner));
        m.push(
            "l",
            Value::Seq(vec![
                SeqItem::Value(Value::str("x")),
                SeqItem::Comment(Comment::line("c")),
            ]),
        );
        let mut doc = Document::single(m);
        assert!(!format!("{doc:?}").contains("secret"));
        // Nothing to split: the core count is not looked up (it reads cgroup files).
        doc.wipe_with(|| panic!("the core count was asked for a small document"));
        let text = format!("{:?}", doc.branches[0].get("a"));
        assert_eq!(
            doc.branches[0].get("a").and_then(Value::as_str),
            Some(""),
            "{text}"
        );
        let Some(Value::Map(inner)) = doc.branches[0].get("n") else {
            panic!("map")
        };
        assert!(matches!(inner.get("b"), Some(Value::Bytes(b)) if b.is_empty()));
        assert!(matches!(&inner.0[0], Item::Comment(c) if c.text.is_empty()));
    }

    #[test]
    fn wipe_in_place_covers_both_halves_of_a_large_container() {
        let mut big = Map::new();
        let mut list = Vec::new();
        for i in 0..10_000 {
            big.push(format!("k{i}"), Value::str("secret-value"));
            list.push(SeqItem::Value(Value::str("secret-item")));
        }
        let mut m = Map::new();
        m.push("big", Value::Map(big));
        m.push("list", Value::Seq(list));
        let mut doc = Document::single(m);
        // The core count is asked for once, for the first large container.
        let asked = std::cell::Cell::new(0);
        doc.wipe_with(|| {
            asked.set(asked.get() + 1);
            2
        });
        assert_eq!(asked.get(), 1);
        let Some(Value::Map(big)) = doc.branches[0].get("big") else {
            panic!("map")
        };
        assert!(
            big.0
                .iter()
                .all(|i| matches!(i, Item::Entry(_, Value::Str(t)) if t.is_empty()))
        );
        let Some(Value::Seq(list)) = doc.branches[0].get("list") else {
            panic!("seq")
        };
        assert!(
            list.iter()
                .all(|i| matches!(i, SeqItem::Value(Value::Str(t)) if t.is_empty()))
        );
    }
}
