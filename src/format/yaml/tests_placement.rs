//! Comment placement measured against sops 3.11 in round 20: lists at their key's
//! column, comments after an implicit null at the end of a document, comments before a
//! map item's first key. Each case is (input, `sops decrypt` of what `sops encrypt`
//! wrote for it), measured with the real sops.

use super::tests_more::emit_doc;
use super::tests_more::load;
use super::*;
use crate::tree::Item;
use crate::tree::SeqItem;

/// Both readers: the fast one, and the full one (a flow value sends the document there).
fn assert_placed_as_sops(cases: &[(&str, &str)]) {
    for (src, want) in cases {
        let got = emit_doc(&load(src).expect("reads").doc);
        assert_eq!(&got, want, "{src:?}");
        let full = format!("z0: [1]\n{src}");
        let got = emit_doc(&load(&full).expect("reads").doc);
        assert_eq!(got, format!("z0:\n    - 1\n{want}"), "{full:?}");
    }
}

/// A list whose dashes sit at its key's column (`k:` / `- a`) ends at the next key of
/// that map without a token of its own in go-yaml, so the comments before that key are
/// the key's (round-20 F19, F16, F17: with `encrypted_comment_regex` sops encrypted the
/// next value, leafseal left it in clear). At the end of the document such a list takes
/// the comments at or right of its dashes.
#[test]
fn comments_after_a_list_at_its_keys_column_go_where_sops_puts_them() {
    assert_placed_as_sops(&[
        ("k:\n- a\n  # c\nv: 1\n", "k:\n    - a\n# c\nv: 1\n"),
        ("k:\n- a\n# c\nv: 1\n", "k:\n    - a\n# c\nv: 1\n"),
        ("k:\n- a\n  # c\n", "k:\n    - a\n    # c\n"),
        ("k:\n- a\n# c\n", "k:\n    - a\n    # c\n"),
        (
            "x:\n  k:\n  - a\n    # c\n  v: 1\n",
            "x:\n    k:\n        - a\n    # c\n    v: 1\n",
        ),
        (
            "x:\n  k:\n  - a\n    # c\nv: 1\n",
            "x:\n    k:\n        - a\n        # c\nv: 1\n",
        ),
        (
            "x:\n  k:\n  - a\n # c\nv: 1\n",
            "x:\n    k:\n        - a\n        # c\nv: 1\n",
        ),
        (
            "x:\n  k:\n  - a\n  # c\n",
            "x:\n    k:\n        - a\n        # c\n",
        ),
        ("k:\n- a\n  # c\n# d\n", "k:\n    - a\n    # c\n    # d\n"),
        ("k:\n- a: 1\n# c\nv: 1\n", "k:\n    - a: 1\n# c\nv: 1\n"),
        (
            "k:\n- a\n  # c\n# d\nv: 1\n",
            "k:\n    - a\n# c\n# d\nv: 1\n",
        ),
        ("k:\n- a\n        # c\nz: 1\n", "k:\n    - a\n# c\nz: 1\n"),
    ]);
}

/// At the end of a document right after an implicit null (`k:` alone), go-yaml places
/// the empty value after the comments: a lone comment is a top-level one whatever its
/// column (round-20 F16: leafseal kept one under an `_unencrypted` key, in clear, where
/// sops encrypts it), and so is one after an anchored null (F4).
#[test]
fn comments_after_a_null_that_ends_the_document_go_where_sops_puts_them() {
    assert_placed_as_sops(&[
        ("a:\n    k:\n    # c\n", "a:\n    k: null\n# c\n"),
        ("a:\n    k:\n        # c\n", "a:\n    k: null\n# c\n"),
        (
            "a:\n    k:\n    # c\n    # d\n",
            "a:\n    k: null\n# c\n# d\n",
        ),
        (
            "a:\n    k:\n    # c\n# d\n",
            "a:\n    k: null\n    # c\n# d\n",
        ),
        (
            "a:\n    k:\n    # c\n  # d\n    # e\n",
            "a:\n    k: null\n    # c\n# d\n# e\n",
        ),
        (
            "a:\n    k:\n      # c\n    # d\n",
            "a:\n    k: null\n# c\n# d\n",
        ),
        ("a:\n    - \n    # c\n# d\n", "a:\n    - null\n# c\n# d\n"),
        ("k:\n- \n  # c\n# d\n", "k:\n    - null\n# c\n# d\n"),
        (
            "a:\n    b:\n        k:\n        # c\n# d\n",
            "a:\n    b:\n        k: null\n        # c\n# d\n",
        ),
        (
            "a:\n    b:\n        k:\n      # c\n  # d\n",
            "a:\n    b:\n        k: null\n        # c\n# d\n",
        ),
        ("data:\n  # c\n", "data: null\n# c\n"),
        ("data: &m1\n  # c\n", "data: null\n# c\n"),
        ("a:\n    k: 1\n    # c\n", "a:\n    k: 1\n    # c\n"),
    ]);
}

/// Comments before a map item's first key (`- b: 2 # t`, `- # c` / `  b: 1`) are the
/// map's in go-yaml, which writes them above the dash; leafseal wrote them after it
/// (`- #ENC[…]` / `  b: …`) and read that back at the top of the list (round-20 F15, F2).
#[test]
fn comments_before_a_map_items_first_key_are_written_above_its_dash() {
    assert_placed_as_sops(&[
        (
            "l:\n    - a: 1\n    - b: 2 # t\n",
            "l:\n    - a: 1\n    # t\n    - b: 2\n",
        ),
        (
            "a:\n  - # c\n    b: 1 # d\n",
            "a:\n    # c\n    # d\n    - b: 1\n",
        ),
        ("l:\n    - b: 1 # t\n", "l:\n    # t\n    - b: 1\n"),
        (
            "l:\n    - a\n    - # c\n      b: 1\n",
            "l:\n    - a\n    # c\n    - b: 1\n",
        ),
        (
            "l:\n    - a\n    # c\n    - b: 1\n",
            "l:\n    - a\n    # c\n    - b: 1\n",
        ),
    ]);
    // `- # c` / `  b: 1` is the map's comment, as sops reads it (an encrypted comment of
    // the list would be written as an item, `- ENC[…]`).
    let l = load("a:\n  - # c\n    b: 1\n").expect("reads").doc;
    let Some(Value::Seq(items)) = l.branches[0].get("a") else {
        panic!("a list");
    };
    assert!(
        matches!(&items[..], [SeqItem::Value(Value::Map(m))] if matches!(m.0.first(), Some(Item::Comment(c)) if c.text.as_str() == " c")),
        "{items:?}"
    );
}

/// A comment left of both the innermost collection and the next content, in the middle
/// of a document, ends the innermost collection in go-yaml (round-20 F9; leafseal gave
/// it to the next key).
#[test]
fn comments_left_of_the_next_content_end_the_innermost_collection() {
    assert_placed_as_sops(&[
        (
            "a:\n    l:\n        k: x\n  # c\n    y: 1\n",
            "a:\n    l:\n        k: x\n        # c\n    \"y\": 1\n",
        ),
        (
            "a:\n    l:\n        k: x\n# c\n    y: 1\n",
            "a:\n    l:\n        k: x\n        # c\n    \"y\": 1\n",
        ),
        (
            "a:\n    l:\n        k: x\n  # c\n  # d\n    y: 1\n",
            "a:\n    l:\n        k: x\n        # c\n        # d\n    \"y\": 1\n",
        ),
        (
            "a:\n    l:\n        k: x\n      # c\n  # d\n    y: 1\n",
            "a:\n    l:\n        k: x\n        # c\n    # d\n    \"y\": 1\n",
        ),
        (
            "a:\n    l:\n        - x\n  # c\n    y: 1\n",
            "a:\n    l:\n        - x\n        # c\n    \"y\": 1\n",
        ),
    ]);
}

/// Round 24: a list item whose dash carries only an anchor or tag (`- &a`, `- !!map`)
/// and whose map or list starts on the next line takes the comments before the dash as
/// well as after it, as go-yaml (sops 3.11) does: they are the collection's first items,
/// not the outer list's (measured with sops; the differential test is
/// `round_24_comments_before_an_anchored_item_are_written_and_read_as_sops_does`).
#[test]
fn comments_before_a_dash_with_only_properties_are_the_collections() {
    for src in [
        "l:\n  # c\n  - &a\n    k: v\n",
        "l:\n# c\n- &a\n  k: v\n",
        "l:\n  - &a\n    # c\n    k: v\n",
        "l:\n  # c\n  - !!map\n    k: v\n",
        "l:\n  - 1\n  # c\n  - &a # d\n    k: v\n",
        "l:\n  # c\n  - &a\n    - 1\n",
    ] {
        let doc = load(src).expect("reads").doc;
        let Some(Value::Seq(items)) = doc.branches[0].get("l") else {
            panic!("{src:?}: l")
        };
        assert!(
            !items.iter().any(|i| matches!(i, SeqItem::Comment(_))),
            "{src:?}: a comment stayed in the outer list: {items:?}"
        );
        let first_of_item = match items.last() {
            Some(SeqItem::Value(Value::Map(m))) => matches!(m.0.first(), Some(Item::Comment(_))),
            Some(SeqItem::Value(Value::Seq(s))) => matches!(s.first(), Some(SeqItem::Comment(_))),
            _ => false,
        };
        assert!(first_of_item, "{src:?}: {items:?}");
    }
    // Without properties the comment before the dash stays the outer list's.
    let doc = load("l:\n  # c\n  -\n    k: v\n").expect("reads").doc;
    let Some(Value::Seq(items)) = doc.branches[0].get("l") else {
        panic!("l")
    };
    assert!(
        matches!(items.first(), Some(SeqItem::Comment(_))),
        "{items:?}"
    );
}
