//! Round 20: comment placement found by the differential campaign against sops 3.11
//! (F19, F16, F17, F4, F9, F15, F2). Every case is encrypted by both tools, each file is
//! decrypted by both (same bytes), and the two encrypted files have the same layout.

use crate::formats::cross_case;
use crate::harness::Peer;
use crate::harness::Tool;
use crate::harness::assert_no_differences;
use crate::inputs::policy;
use crate::support::AGE_RECIPIENT;

/// (label, document, creation-rule line or "").
const CASES: &[(&str, &str, &str)] = &[
    // F19: a comment after a list at its key's column is the next key's, so
    // `encrypted_comment_regex` encrypts that key's value (leafseal left it in clear).
    (
        "f19",
        "k:\n- a\n  # c\nv: secret\n",
        "encrypted_comment_regex: c",
    ),
    // F16: sops encrypts these comments at the top level; leafseal kept them under the
    // `_unencrypted` key, in clear.
    ("f16list", "a_unencrypted:\n- 1\n  # c\nb: 2\n", ""),
    ("f16null", "a_unencrypted:\n    k:\n    # c\n", ""),
    // F17 and the other measured layouts of lists at their key's column.
    ("f17a", "k:\n- a\n        # c\nz: 1\n", ""),
    ("f17b", "k:\n- a\n# c\n", ""),
    ("ind0", "k:\n- a\n  # c\n# d\nv: 1\n", ""),
    ("ind1", "x:\n  k:\n  - a\n    # c\n  v: 1\n", ""),
    ("ind2", "x:\n  k:\n  - a\n    # c\nv: 1\n", ""),
    ("ind3", "x:\n  k:\n  - a\n  # c\n", ""),
    ("ind4", "k:\n- a: 1\n# c\nv: 1\n", ""),
    ("ind5", "k:\n- a\n  # c\n# d\n", ""),
    // After an implicit null that ends the document (F4: an anchored one).
    ("null0", "a:\n    k:\n    # c\n# d\n", ""),
    ("null1", "a:\n    k:\n    # c\n  # d\n    # e\n", ""),
    ("null2", "a:\n    k:\n      # c\n    # d\n", ""),
    ("null3", "a:\n    - \n    # c\n# d\n", ""),
    ("null4", "a:\n    b:\n        k:\n      # c\n  # d\n", ""),
    ("f4", "data: &m1\n  # c\n", ""),
    // F9: a comment left of the next content ends the innermost collection.
    ("f9", "a:\n    l:\n        k: x\n  # c\n    y: 1\n", ""),
    ("f9list", "a:\n    l:\n        - x\n  # c\n    y: 1\n", ""),
    (
        "f9b",
        "a:\n    l:\n        k: x\n      # c\n  # d\n    y: 1\n",
        "",
    ),
    // F15, F2: comments before a map item's first key, written above its dash.
    ("f15", "l:\n    - a: 1\n    - b: 2 # t\n", ""),
    ("f2", "a:\n  - # c\n    b: 1 # d\n", ""),
    ("item0", "l:\n    - b: 1 # t\n", ""),
    ("item1", "l:\n    - a\n    - # c\n      b: 1\n", ""),
    (
        "item2",
        "l:\n    - x: [1]\n    - b: 2 # t\n      c: 3\n",
        "",
    ),
];

#[test]
fn round_20_comment_placements_are_written_and_read_as_sops_does() {
    let Some(p) = Peer::new(None) else { return };
    let mut diffs = Vec::new();
    for (label, text, rule) in CASES {
        let name = format!("{label}.yaml");
        p.write(&name, text);
        let pol = (!rule.is_empty()).then(|| policy(rule, ""));
        if let Err(e) = cross_case(&p, &name, pol.as_deref(), label) {
            diffs.push(e);
        }
    }
    assert_no_differences("round-20 comment placements", CASES.len(), &diffs);
    // F19: the value after the comment is encrypted, not written in clear.
    let enc = p.read("leafseal-f19-f19.yaml");
    assert!(
        !String::from_utf8_lossy(&enc).contains("secret"),
        "{}",
        String::from_utf8_lossy(&enc)
    );
}

/// F15: leafseal read its own `- #ENC[…]` / `  b: …` back with the comment at the top of
/// the list, and a `set` made that permanent; the comment now stays between the items.
#[test]
fn a_set_keeps_a_comment_before_a_map_items_first_key_in_place() {
    let Some(p) = Peer::new(None) else { return };
    p.write("set.yaml", "l:\n    - a: 1\n    - b: 2 # t\n");
    let enc = p.ok(
        Tool::Leafseal,
        &["encrypt", "--age", AGE_RECIPIENT, "set.yaml"],
    );
    p.write("set.enc.yaml", &enc);
    p.ok(
        Tool::Leafseal,
        &["set", "set.enc.yaml", "[\"l\"][0][\"a\"]", "5"],
    );
    let out = p.decrypt_both("set.enc.yaml", &[]).expect("both decrypt");
    assert_eq!(
        String::from_utf8_lossy(&out),
        "l:\n    - a: 5\n    # t\n    - b: 2\n"
    );
}

/// A comment on its own line after a lone dash (`-` / `  # c` / `  a: 1`) is the map
/// item's (go-yaml gives it to the first key), not the list's: leafseal gave it to the
/// list and wrote it as a list item `- ENC[…,type:comment]` where sops writes it above
/// the item's first key (found by the generated differential, `generated.rs`, seed
/// 0x1eaf5ea12022 yaml case 0).
#[test]
fn a_comment_after_a_lone_dash_belongs_to_the_map_item() {
    let Some(p) = Peer::new(None) else { return };
    let cases: &[(&str, &str)] = &[
        ("dash0", "l:\n-\n  # c\n  a: 1\n  b: 2\n"),
        (
            "dash1",
            "l:\n  - x\n  # before\n  -\n    # c\n    # d\n    a: 1\n    b: 2\n",
        ),
        ("dash2", "l:\n  - -\n      # c\n      a: 1\n"),
        (
            "dash3",
            "top:\n    l:\n        -\n            # c\n            a: 1\nz: 2\n",
        ),
    ];
    let mut diffs = Vec::new();
    for (label, text) in cases {
        let name = format!("{label}.yaml");
        p.write(&name, text);
        if let Err(e) = cross_case(&p, &name, None, label) {
            diffs.push(e);
        }
    }
    assert_no_differences("comments after a lone dash", cases.len(), &diffs);
}

/// Round 23: comment placements the generated differential (`generated.rs`, seeds 1–3 and
/// 11–14) found leafseal reading differently from go-yaml (sops 3.11): each is encrypted
/// by both tools, each file decrypted by both (same bytes), and the layouts compared.
const ROUND_23: &[(&str, &str)] = &[
    // A line comment after a flow collection value is the collection's: sops writes it
    // above the first entry (leafseal wrote it above the key).
    ("flowmap", "x: {a: 1} # note\ny: 2\n"),
    ("flowseq", "x: [1, 2] # note\ny: 2\n"),
    ("flownested", "x:\n  k: {a: 1, b: [x]} # note\n"),
    ("flowempty", "x: [] # note\ny: 2\n"),
    // Comments after a lone dash before a nested list are the inner list's
    // (`- - ENC[…comment]`; leafseal gave them to the outer list).
    ("dashlist0", "l:\n  -\n    # d\n    - 1\n"),
    ("dashlist1", "l:\n  - # d\n    - 1\n"),
    ("dashlist2", "l:\n  - # d\n    - a: 1\n"),
    ("dashlist3", "l:\n- 0\n-\n  # d\n  - 1\n  - 2\n"),
    // A null item (a lone `-`) stands where the next content starts: the comments before
    // its dash go with what follows it.
    ("nullitem0", "l:\n  # c\n  -\n  - x\n"),
    ("nullitem1", "a:\n  l:\n  - x\n  # c\n  -\n  d: 1\n"),
    ("nullitem2", "m:\n  l:\n    - x\n    # c\n    -\n  d: 1\n"),
    // A comment after the dash of the item that follows a block collection or a block
    // scalar is that item's (leafseal put it before the previous item).
    ("blockend0", "l:\n  - a: 1\n  - # c\n    b: 2\n"),
    ("blockend1", "l:\n  - |-\n    x\n  - # c\n    b: 2\n"),
    ("blockend2", "l:\n-\n  -\n- # c\n  b: 1\n"),
];

#[test]
fn round_23_comment_placements_are_written_and_read_as_sops_does() {
    let Some(p) = Peer::new(None) else { return };
    let mut diffs = Vec::new();
    for (label, text) in ROUND_23 {
        let name = format!("{label}.yaml");
        p.write(&name, text);
        if let Err(e) = cross_case(&p, &name, None, label) {
            diffs.push(e);
        }
    }
    assert_no_differences("round-23 comment placements", ROUND_23.len(), &diffs);
}

/// Round 24: the last category of the generated differential. A list item whose dash
/// carries only an anchor or a tag (`- &a`, `- !!map`) and whose collection starts on the
/// next line takes every comment since the previous item, the ones before the dash too:
/// go-yaml gives them to the collection (sops writes `#ENC[…]` above the map's first key,
/// or `- - ENC[…]` in a nested list); leafseal gave the ones before the dash to the outer
/// list (`- ENC[…]`). Each shape differed on the old code.
const ROUND_24: &[(&str, &str)] = &[
    ("anchoritem0", "l:\n  # c\n  - &a\n    k: v\n    j: w\n"),
    ("anchoritem1", "l:\n# c\n- &a\n  k: v\n"),
    ("anchoritem2", "l:\n  - &a\n    # c\n    k: v\n"),
    ("anchoritem3", "l:\n  # c\n\n  - &a # d\n    k: v\n  - *a\n"),
    ("anchoritem4", "l:\n  - 1\n  # c\n  - &a\n    k: v\n"),
    (
        "anchorlist",
        "l:\n  # c\n  - &a\n    - 1\n    - 2\n  # e\n  - 3\n",
    ),
    ("tagitem", "l:\n  # c\n  - !!map\n    k: v\n"),
    (
        "anchortag",
        "a:\n  l:\n    # c\n    - &a !!map\n      k: v\nb: 1\n",
    ),
];

#[test]
fn round_24_comments_before_an_anchored_item_are_written_and_read_as_sops_does() {
    let Some(p) = Peer::new(None) else { return };
    let mut diffs = Vec::new();
    for (label, text) in ROUND_24 {
        let name = format!("{label}.yaml");
        p.write(&name, text);
        if let Err(e) = cross_case(&p, &name, None, label) {
            diffs.push(e);
        }
    }
    assert_no_differences("round-24 comment placements", ROUND_24.len(), &diffs);
}
