//! go-yaml's alias rule (`builder::aliasing`) at the boundaries measured against sops
//! 3.11 (`tests/sops_diff/aliases.rs` runs the small ones through both tools), and the
//! budget that still bounds what the rule does not count.

use super::*;

/// `p: [x × plain]`, `a: &a [x × anchored]`, `b: [*a × aliases]`.
fn list_bomb(plain: usize, anchored: usize, aliases: usize) -> String {
    let list = |item: &str, n: usize| vec![item; n].join(", ");
    let head = if plain == 0 {
        String::new()
    } else {
        format!("p: [{}]\n", list("x", plain))
    };
    format!(
        "{head}a: &a [{}]\nb: [{}]\n",
        list("x", anchored),
        list("*a", aliases)
    )
}

fn refused_at(doc: &str) -> Option<(usize, usize)> {
    match YamlStore.load(doc.as_bytes()) {
        Ok(_) => None,
        Err(e) => {
            assert!(e.message.contains("alias expansion is too large"), "{e}");
            assert!(e.message.contains("alias bomb"), "{e}");
            Some(e.position.unwrap_or((0, 0)))
        }
    }
}

#[test]
fn aliases_are_refused_where_sops_refuses_them() {
    // 99% of up to 400,000 decodes: sops 3.11 encrypts 199 aliases of a 200-item list
    // and refuses 200 ("document contains excessive aliasing"). The old budget (10,000
    // nodes plus 4 per input byte) refused both.
    assert_eq!(refused_at(&list_bomb(0, 200, 199)), None);
    assert_eq!(
        refused_at(&list_bomb(0, 200, 200)),
        Some((2, 4 + 199 * 4 + 1))
    );
    // Nested: 10 aliases of a 10-item list, anchored, then 121 aliases of that (sops:
    // 121 encrypts, 122 is refused).
    let nested = |m: usize| {
        format!(
            "a: &a [{}]\nb: &b [{}]\nc: [{}]\n",
            ["x"; 10].join(", "),
            ["*a"; 10].join(", "),
            vec!["*b"; m].join(", ")
        )
    };
    assert_eq!(refused_at(&nested(121)), None);
    assert!(refused_at(&nested(122)).is_some());
    // Between 400,000 and 4,000,000 decodes the allowed share falls linearly: after
    // 20,000 plain items sops encrypts 2,535 aliases and refuses 2,536 (the refusal at
    // 532,480 decodes, a share of 0.95729 against 0.95725 allowed).
    assert_eq!(refused_at(&list_bomb(20_000, 200, 2535)), None);
    assert_eq!(
        refused_at(&list_bomb(20_000, 200, 2536)),
        Some((3, 4 + 2535 * 4 + 1))
    );
}

#[test]
fn merge_keys_count_as_go_yaml_counts_them() {
    // Each `{<<: *a}` is 404 decodes, 401 through the alias, as go-yaml counts it (the
    // map, its `<<` key decoded before the merge, the alias, the 200 keys and values).
    let keys: Vec<String> = (0..200).map(|i| format!("k{i}: x")).collect();
    let doc = |m: usize| {
        format!(
            "a: &a {{{}}}\nb: [{}]\n",
            keys.join(", "),
            vec!["{<<: *a}"; m].join(", ")
        )
    };
    // sops 3.11 encrypts 386 of them and refuses 387.
    assert_eq!(refused_at(&doc(386)), None);
    let Some((line, _)) = refused_at(&doc(387)) else {
        panic!("387 merges of a 200-key map are over 99%")
    };
    assert_eq!(line, 2);
}

#[test]
fn every_document_is_checked_and_counts_start_again() {
    let bomb = list_bomb(0, 200, 200);
    assert!(refused_at(&format!("k: v\n---\n{bomb}")).is_some());
    // Two documents each just inside: counts start again at `---`.
    let inside = list_bomb(0, 200, 199);
    assert_eq!(refused_at(&format!("{inside}---\n{inside}")), None);
}

#[test]
fn comments_and_strings_in_copies_stay_bounded_by_the_input() {
    // go-yaml's rule counts no comments: 2,000 comments aliased 60 times are 60 small
    // expansions to it, 120,000 copied comments to the tree.
    let comments = "#\n".repeat(2000);
    let doc = format!(
        "a: &a\n{comments}    k: v\nb: [{}]\n",
        vec!["*a"; 60].join(", ")
    );
    assert!(refused_at(&doc).is_some());
    // Nor string bytes (go-yaml shares them, leafseal copies them): a 100 KB string
    // aliased 200 times.
    let doc = format!(
        "a: &a {}\nb: [{}]\n",
        "y".repeat(100_000),
        vec!["*a"; 200].join(", ")
    );
    assert!(refused_at(&doc).is_some());
}
