//! Comment markers joined the way an INI file holds them, before a tree is encrypted.
//!
//! An INI file has one comment per place: before a section header, before a key. The
//! writer joins a run of markers that falls on one place into a comment of several lines
//! (top-level markers before a section into that section's comment, see
//! `section_from_map`). Once encrypted, each marker is its own `ENC[…]` string, and a
//! comment whose lines are several of them does not decrypt again: only its first line
//! would come back. So a tree about to be encrypted for an INI file gets its runs joined
//! first, each into one marker, and every comment is encrypted whole.

use crate::tree::Comment;
use crate::tree::Document;
use crate::tree::Item;
use crate::tree::Text;
use crate::tree::Value;

/// Joins, in each branch, every run of comment markers that the INI writer writes as one
/// comment: top-level markers before a section with the markers that open it, and every
/// other run (after a key, after the last section) on its own.
pub fn join_comments_as_ini_holds_them(doc: &mut Document) {
    for branch in &mut doc.branches {
        let mut joined = Vec::with_capacity(branch.0.len());
        let mut pending: Option<Comment> = None;
        for item in std::mem::take(&mut branch.0) {
            match item {
                Item::Comment(c) => join_into(&mut pending, c),
                Item::Entry(name, Value::Map(mut section)) => {
                    join_runs(&mut section.0, pending.take());
                    joined.push(Item::Entry(name, Value::Map(section)));
                }
                entry @ Item::Entry(..) => {
                    // Not a section: the writer refuses it, nothing to keep.
                    joined.extend(pending.take().map(Item::Comment));
                    joined.push(entry);
                }
            }
        }
        joined.extend(pending.map(Item::Comment));
        branch.0 = joined;
    }
}

/// Joins each run of markers of a section's items into one, `leading` first.
fn join_runs(items: &mut Vec<Item>, leading: Option<Comment>) {
    let mut joined = Vec::with_capacity(items.len());
    let mut pending = leading;
    for item in std::mem::take(items) {
        match item {
            Item::Comment(c) => join_into(&mut pending, c),
            entry @ Item::Entry(..) => {
                joined.extend(pending.take().map(Item::Comment));
                joined.push(entry);
            }
        }
    }
    joined.extend(pending.map(Item::Comment));
    *items = joined;
}

/// Adds a marker to the run being joined, as its next line (the writer's join).
fn join_into(pending: &mut Option<Comment>, next: Comment) {
    *pending = Some(match pending.take() {
        None => Comment {
            inline: false,
            ..next
        },
        Some(first) => {
            let (a, b) = (first.text.as_str(), next.text.as_str());
            let mut text = String::with_capacity(a.len() + 1 + b.len());
            text.push_str(a);
            text.push('\n');
            text.push_str(b);
            Comment {
                text: Text::new(text),
                inline: false,
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::EmitOptions;
    use crate::format::Store;
    use crate::format::ini::IniStore;
    use crate::tree::Map;

    fn c(t: &str) -> Item {
        Item::Comment(Comment::line(t))
    }

    fn e(k: &str) -> Item {
        Item::Entry(k.to_owned(), Value::str("v"))
    }

    fn emit(doc: &Document) -> String {
        let out = IniStore
            .emit(doc, None, &EmitOptions::default())
            .expect("emit");
        String::from_utf8(out.to_vec()).expect("utf8")
    }

    /// Every run of markers on one INI place becomes one marker, and the file written is
    /// the same before and after the join (so it is encrypted as written).
    #[test]
    fn ini_comment_runs_are_joined_where_ini_holds_one_comment() {
        let section = Map(vec![c("a"), c("b"), e("k"), c("c1"), c("c2"), e("k2")]);
        let mut doc = Document::single(Map(vec![
            c("top"),
            Item::Entry("s".to_owned(), Value::Map(section)),
            c("end1"),
            c("end2"),
        ]));
        let before = emit(&doc);
        join_comments_as_ini_holds_them(&mut doc);
        let joined = Map(vec![c("top\na\nb"), e("k"), c("c1\nc2"), e("k2")]);
        assert_eq!(
            doc.branches[0].0,
            [
                Item::Entry("s".to_owned(), Value::Map(joined)),
                c("end1\nend2"),
            ]
        );
        assert_eq!(emit(&doc), before);
        assert_eq!(
            before,
            "; top\n; a\n; b\n[s]\n; c1\n; c2\nk  = v\nk2 = v\n; end1\n; end2\n"
        );
    }
}
