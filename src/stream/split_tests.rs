//! Unit tests of the block-YAML planner.

use super::*;

#[test]
fn cuts_root_entries_and_a_large_map() {
    let src = b"# head\na: 1\nbig:\n    x: 1\n    y: 2\n    # c\n    z: 3\n    w: 4\nb: 2\nsops:\n    mac: m\n";
    let p = plan(src, 8).expect("plan");
    assert_eq!(&src[p.meta.clone()], b"sops:\n    mac: m\n");
    let texts: Vec<String> = p
        .parts
        .iter()
        .map(|part| match part {
            Part::Top(r) => format!("T[{}]", String::from_utf8_lossy(&src[r.clone()])),
            Part::Sub { body, first, .. } => {
                format!(
                    "S{}[{}]",
                    u8::from(*first),
                    String::from_utf8_lossy(&src[body.clone()])
                )
            }
        })
        .collect();
    assert_eq!(
        texts,
        vec![
            "T[# head\na: 1\n]",
            "S1[big:\n    x: 1\n]",
            "S0[    y: 2\n]",
            "S0[    # c\n    z: 3\n]",
            "S0[    w: 4\n]",
            "T[b: 2\n]",
        ]
    );
}

#[test]
fn plaintext_is_cut_whole_and_a_sops_entry_declined() {
    let src = b"# head\na: 1\nbig:\n    x: 1\n    y: 2\nb: 2\n# tail\n";
    let p = plan_plain(src, 8).expect("plan");
    assert_eq!(p.meta, src.len()..src.len());
    let end = p.parts.iter().fold(0, |at, part| {
        let r = match part {
            Part::Top(r) => r.clone(),
            Part::Sub { body, .. } => body.clone(),
        };
        assert_eq!(r.start, at, "parts are contiguous");
        r.end
    });
    assert_eq!(end, src.len(), "the parts cover the text");
    assert!(p.parts.len() >= 3);
    assert!(plan_plain(b"a: 1\nsops:\n    mac: m\n", 8).is_none());
    assert!(plan_plain(b"- a\n", 8).is_none());
    assert!(plan_plain(b"", 8).is_none());
}

#[test]
fn declines_what_it_cannot_cut_safely() {
    assert!(plan(b"a: 1\n# c\nsops:\n    mac: m\n", 8).is_none());
    assert!(plan(b"a: 1\na: 2\nsops:\n    mac: m\n", 8).is_none());
    assert!(plan(b"- a\nsops:\n    mac: m\n", 8).is_none());
    assert!(plan(b"a: 1\n---\nb: 2\nsops:\n    mac: m\n", 8).is_none());
    assert!(plan(b"\"a\": 1\nsops:\n    mac: m\n", 8).is_none());
    assert!(plan(b"a: 1\n", 8).is_none());
    assert!(plan(b"a: 1\n  # c\nb: 2\nsops:\n    mac: m\n", 1).is_some_and(|p| p.parts.len() == 1));
    assert!(plan(b"big:\n    x: 1\n    x: 2\nsops:\n    mac: m\n", 4).is_none());
    // A comment after the metadata at the end of the file (the document's own).
    assert!(plan(b"a: 1\nsops:\n    mac: m\n# end\n", 8).is_none());
    assert!(plan(b"a: 1\nsops:\n    mac: m\n    # end\n", 8).is_none());
    assert!(plan(b"a: 1\nsops:\n    mac: m\n# c\nb: 2\n", 8).is_some());
}
