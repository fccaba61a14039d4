//! The single leaf walker, and the partial-encryption selectors that decide, per leaf,
//! whether it is encrypted.
//!
//! Walk order (encryption, decryption and the MAC): depth-first, items in order, lists in
//! order, every branch of the document in order. A leaf's AAD is its path of map keys
//! joined by `:` with a trailing `:` (list indices never appear); a comment uses the path
//! of the map or list that holds it.

use crate::goregex::GoRegex;
use crate::goregex::GoRegexError;
use crate::tree::Comment;
use crate::tree::Document;
use crate::tree::Item;
use crate::tree::Map;
use crate::tree::SeqItem;
use crate::tree::Text;
use crate::tree::Value;

/// The six partial-encryption selectors; at most one is in force.
#[derive(Debug, Clone)]
pub enum Selector {
    /// Leaves are encrypted unless some path component ends with the suffix.
    UnencryptedSuffix(String),
    /// Leaves are encrypted only when some path component ends with the suffix.
    EncryptedSuffix(String),
    /// Leaves are encrypted unless some path component matches.
    UnencryptedRegex(GoRegex),
    /// Leaves are encrypted only when some path component matches.
    EncryptedRegex(GoRegex),
    /// Leaves are encrypted unless an active comment matches.
    UnencryptedCommentRegex(GoRegex),
    /// Leaves are encrypted only when an active comment matches.
    EncryptedCommentRegex(GoRegex),
}

impl Default for Selector {
    fn default() -> Self {
        Selector::UnencryptedSuffix(DEFAULT_UNENCRYPTED_SUFFIX.to_owned())
    }
}

/// sops's default: `_unencrypted`.
pub const DEFAULT_UNENCRYPTED_SUFFIX: &str = "_unencrypted";

impl Selector {
    /// The metadata field name of this selector.
    pub fn field(&self) -> &'static str {
        match self {
            Selector::UnencryptedSuffix(_) => "unencrypted_suffix",
            Selector::EncryptedSuffix(_) => "encrypted_suffix",
            Selector::UnencryptedRegex(_) => "unencrypted_regex",
            Selector::EncryptedRegex(_) => "encrypted_regex",
            Selector::UnencryptedCommentRegex(_) => "unencrypted_comment_regex",
            Selector::EncryptedCommentRegex(_) => "encrypted_comment_regex",
        }
    }

    /// The regex, for the selectors that have one.
    pub fn regex(&self) -> Option<&GoRegex> {
        match self {
            Selector::UnencryptedSuffix(_) | Selector::EncryptedSuffix(_) => None,
            Selector::UnencryptedRegex(r)
            | Selector::EncryptedRegex(r)
            | Selector::UnencryptedCommentRegex(r)
            | Selector::EncryptedCommentRegex(r) => Some(r),
        }
    }

    /// The suffix or pattern text.
    pub fn pattern(&self) -> &str {
        match self {
            Selector::UnencryptedSuffix(s) | Selector::EncryptedSuffix(s) => s,
            Selector::UnencryptedRegex(r)
            | Selector::EncryptedRegex(r)
            | Selector::UnencryptedCommentRegex(r)
            | Selector::EncryptedCommentRegex(r) => r.as_str(),
        }
    }

    /// Builds a selector from its metadata/policy field name and value. A regex is read
    /// with sops's (Go's) syntax, wherever it comes from (`crate::goregex`).
    pub fn from_field(field: &str, value: &str) -> Result<Option<Selector>, GoRegexError> {
        let re = || GoRegex::new(value);
        Ok(Some(match field {
            "unencrypted_suffix" => Selector::UnencryptedSuffix(value.to_owned()),
            "encrypted_suffix" => Selector::EncryptedSuffix(value.to_owned()),
            "unencrypted_regex" => Selector::UnencryptedRegex(re()?),
            "encrypted_regex" => Selector::EncryptedRegex(re()?),
            "unencrypted_comment_regex" => Selector::UnencryptedCommentRegex(re()?),
            "encrypted_comment_regex" => Selector::EncryptedCommentRegex(re()?),
            _ => return Ok(None),
        }))
    }

    /// Every selector field name.
    pub const FIELDS: [&'static str; 6] = [
        "unencrypted_suffix",
        "encrypted_suffix",
        "unencrypted_regex",
        "encrypted_regex",
        "unencrypted_comment_regex",
        "encrypted_comment_regex",
    ];

    /// Whether the selector decides by comments (which need the whole walk in order).
    pub fn is_comment_based(&self) -> bool {
        matches!(
            self,
            Selector::UnencryptedCommentRegex(_) | Selector::EncryptedCommentRegex(_)
        )
    }

    /// Whether a path component decides "matched" for the path-based selectors.
    pub fn component_matches(&self, key: &str) -> bool {
        match self {
            Selector::UnencryptedSuffix(s) | Selector::EncryptedSuffix(s) => {
                key.ends_with(s.as_str())
            }
            Selector::UnencryptedRegex(r) | Selector::EncryptedRegex(r) => r.is_match(key),
            _ => false,
        }
    }
}

impl Selector {
    /// Whether an encrypted comment's text (`ENC[…,type:comment]`) matches an
    /// `unencrypted_comment_regex`: such a comment would count as an unencrypted-marker
    /// when the file is read, so it would stay ciphertext and the values after it would be
    /// taken as clear text. sops refuses to write it; so does leafseal.
    pub fn refuses_encrypted_comment(&self, encrypted: &str) -> bool {
        match self {
            Selector::UnencryptedCommentRegex(r) => r.is_match(encrypted),
            _ => false,
        }
    }
}

/// Whether the walk encrypts (comments are decided on their plaintext before the visit)
/// or decrypts (after the visit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The tree holds plaintext; the visitor encrypts.
    Encrypting,
    /// The tree holds ciphertext; the visitor decrypts.
    Decrypting,
}

/// A leaf handed to the visitor.
pub enum Leaf<'a> {
    /// A scalar value (never a map or list; nulls are included, the visitor skips them).
    Value(&'a mut Value),
    /// A comment marker.
    Comment(&'a mut Comment),
}

/// What the visitor is told about a leaf.
#[derive(Debug, Clone, Copy)]
pub struct LeafInfo<'a> {
    /// The AAD: path keys joined by `:` with a trailing `:` (`:` at the top level).
    pub aad: &'a str,
    /// Whether the selector says this leaf is (to be) encrypted.
    pub encrypt: bool,
}

struct State<'s> {
    sel: &'s Selector,
    dir: Direction,
    aad: String,
    /// Comment texts of the enclosing levels and the current one (comment selectors only).
    active: Vec<Vec<Text>>,
}

impl<'s> State<'s> {
    fn new(sel: &'s Selector, dir: Direction, prefix: &str) -> Self {
        State {
            sel,
            dir,
            aad: prefix.to_owned(),
            active: Vec::new(),
        }
    }

    fn active_match(&self, re: &GoRegex) -> bool {
        self.active.iter().flatten().any(|t| re.is_match(t))
    }

    fn decide_value(&self, path_matched: bool) -> bool {
        match self.sel {
            Selector::UnencryptedSuffix(_) | Selector::UnencryptedRegex(_) => !path_matched,
            Selector::EncryptedSuffix(_) | Selector::EncryptedRegex(_) => path_matched,
            Selector::UnencryptedCommentRegex(r) => !self.active_match(r),
            Selector::EncryptedCommentRegex(r) => self.active_match(r),
        }
    }

    fn aad(&self) -> &str {
        if self.aad.is_empty() { ":" } else { &self.aad }
    }

    fn comment<E>(
        &mut self,
        c: &mut Comment,
        path_matched: bool,
        f: &mut dyn FnMut(LeafInfo<'_>, Leaf<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let comment_mode = self.sel.is_comment_based();
        let push_first = matches!(self.sel, Selector::UnencryptedCommentRegex(_));
        if comment_mode
            && push_first
            && let Some(level) = self.active.last_mut()
        {
            level.push(c.text.clone());
        }
        let encrypt = self.decide_value(path_matched);
        let before = (comment_mode && self.dir == Direction::Encrypting).then(|| c.text.clone());
        f(
            LeafInfo {
                aad: self.aad(),
                encrypt,
            },
            Leaf::Comment(c),
        )?;
        if comment_mode {
            let plain = before.unwrap_or_else(|| c.text.clone());
            if let Some(level) = self.active.last_mut() {
                if push_first {
                    level.pop();
                }
                level.push(plain);
            }
        }
        Ok(())
    }

    fn value<E>(
        &mut self,
        v: &mut Value,
        path_matched: bool,
        f: &mut dyn FnMut(LeafInfo<'_>, Leaf<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        match v {
            Value::Map(m) => self.map(m, path_matched, f),
            Value::Seq(items) => self.seq_items(items, path_matched, f),
            leaf => {
                let encrypt = self.decide_value(path_matched);
                f(
                    LeafInfo {
                        aad: self.aad(),
                        encrypt,
                    },
                    Leaf::Value(leaf),
                )
            }
        }
    }

    fn seq_items<E>(
        &mut self,
        items: &mut [SeqItem],
        path_matched: bool,
        f: &mut dyn FnMut(LeafInfo<'_>, Leaf<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.active.push(Vec::new());
        for item in items.iter_mut() {
            match item {
                SeqItem::Comment(c) => self.comment(c, path_matched, f)?,
                SeqItem::Value(v) => {
                    self.value(v, path_matched, f)?;
                    if let Some(level) = self.active.last_mut() {
                        level.clear();
                    }
                }
            }
        }
        self.active.pop();
        Ok(())
    }

    fn map<E>(
        &mut self,
        m: &mut Map,
        path_matched: bool,
        f: &mut dyn FnMut(LeafInfo<'_>, Leaf<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.items(&mut m.0, path_matched, f)
    }

    fn items<E>(
        &mut self,
        items: &mut [Item],
        path_matched: bool,
        f: &mut dyn FnMut(LeafInfo<'_>, Leaf<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.active.push(Vec::new());
        for item in items.iter_mut() {
            match item {
                Item::Comment(c) => self.comment(c, path_matched, f)?,
                Item::Entry(k, v) => {
                    let len = self.aad.len();
                    self.aad.push_str(k);
                    self.aad.push(':');
                    let matched = path_matched || self.sel.component_matches(k);
                    self.value(v, matched, f)?;
                    self.aad.truncate(len);
                    if let Some(level) = self.active.last_mut() {
                        level.clear();
                    }
                }
            }
        }
        self.active.pop();
        Ok(())
    }
}

/// Walks a run of map items as if it were part of the map at path `prefix` (keys joined
/// with `:` plus a trailing `:`; empty for the top level). Only for path-based selectors:
/// a run of items is then independent of the rest, so runs can be walked in parallel.
pub fn walk_map_items<E>(
    items: &mut [Item],
    prefix: &str,
    path_matched: bool,
    sel: &Selector,
    dir: Direction,
    f: &mut dyn FnMut(LeafInfo<'_>, Leaf<'_>) -> Result<(), E>,
) -> Result<(), E> {
    let mut st = State::new(sel, dir, prefix);
    st.items(items, path_matched, f)
}

/// Walks a run of list elements of the list at path `prefix`; see [`walk_map_items`].
pub fn walk_seq_items<E>(
    items: &mut [SeqItem],
    prefix: &str,
    path_matched: bool,
    sel: &Selector,
    dir: Direction,
    f: &mut dyn FnMut(LeafInfo<'_>, Leaf<'_>) -> Result<(), E>,
) -> Result<(), E> {
    let mut st = State::new(sel, dir, prefix);
    st.seq_items(items, path_matched, f)
}

/// Visits every leaf and comment of the document in walk order, telling the visitor the
/// AAD and whether the selector encrypts it. The visitor may rewrite the leaf in place.
pub fn walk<E>(
    doc: &mut Document,
    sel: &Selector,
    dir: Direction,
    f: &mut dyn FnMut(LeafInfo<'_>, Leaf<'_>) -> Result<(), E>,
) -> Result<(), E> {
    let mut st = State::new(sel, dir, "");
    for branch in doc.branches.iter_mut() {
        st.map(branch, false, f)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Comment;

    fn collect(doc: &mut Document, sel: &Selector) -> Vec<(String, bool, bool)> {
        let mut out = Vec::new();
        walk::<()>(doc, sel, Direction::Encrypting, &mut |info, leaf| {
            out.push((
                info.aad.to_owned(),
                info.encrypt,
                matches!(leaf, Leaf::Comment(_)),
            ));
            Ok(())
        })
        .expect("no error");
        out
    }

    fn sample() -> Document {
        let mut inner = Map::new();
        inner.push("user", Value::str("eve"));
        inner.push("port_unencrypted", Value::Int(5));
        let mut top = Map::new();
        top.push_comment(Comment::line(" top"));
        top.push("db", Value::Map(inner));
        top.push(
            "list",
            Value::Seq(vec![
                SeqItem::Value(Value::str("a")),
                SeqItem::Comment(Comment::line(" in list")),
                SeqItem::Value(Value::str("b")),
            ]),
        );
        Document::single(top)
    }

    #[test]
    fn default_suffix_and_aad() {
        let got = collect(&mut sample(), &Selector::default());
        let want = vec![
            (":".to_owned(), true, true),
            ("db:user:".to_owned(), true, false),
            ("db:port_unencrypted:".to_owned(), false, false),
            ("list:".to_owned(), true, false),
            ("list:".to_owned(), true, true),
            ("list:".to_owned(), true, false),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn encrypted_regex_applies_to_subtree_and_not_top_comments() {
        let sel = Selector::EncryptedRegex(GoRegex::new("^db$").expect("regex"));
        let got = collect(&mut sample(), &sel);
        assert_eq!(got[0], (":".to_owned(), false, true));
        assert!(got[1].1 && got[2].1);
        assert!(!got[3].1);
    }

    #[test]
    fn encrypted_comment_regex_marks_following_items() {
        let mut m = Map::new();
        m.push("a", Value::str("1"));
        m.push_comment(Comment::line(" sops:enc"));
        m.push_comment(Comment::line(" after"));
        m.push("b", Value::str("2"));
        m.push("c", Value::str("3"));
        let sel = Selector::EncryptedCommentRegex(GoRegex::new("sops:enc").expect("regex"));
        let got = collect(&mut Document::single(m), &sel);
        let flags: Vec<bool> = got.iter().map(|g| g.1).collect();
        assert_eq!(flags, vec![false, false, true, true, false]);
    }

    #[test]
    fn unencrypted_comment_regex_keeps_marker_and_value_clear() {
        let mut m = Map::new();
        m.push_comment(Comment::line(" sops:plain"));
        m.push("b", Value::str("2"));
        m.push("c", Value::str("3"));
        let sel = Selector::UnencryptedCommentRegex(GoRegex::new("sops:plain").expect("regex"));
        let got = collect(&mut Document::single(m), &sel);
        let flags: Vec<bool> = got.iter().map(|g| g.1).collect();
        assert_eq!(flags, vec![false, false, true]);
    }
}
