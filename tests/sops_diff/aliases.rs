//! YAML aliases at the boundary of go-yaml v3's "excessive aliasing" rule: a plaintext
//! just inside it is encrypted by both tools, one just outside is refused by both with
//! the same exit code (sops 3.11 reads its plaintext through that rule; leafseal's tree
//! builder applies it, `format::yaml::builder::aliasing`).

use crate::harness::Peer;
use crate::harness::Tool;
use crate::harness::assert_no_differences;
use crate::support::AGE_RECIPIENT;

/// `a: &a [x × 200]`, `b: [*a × m]`.
fn list(m: usize) -> String {
    format!(
        "a: &a [{}]\nb: [{}]\n",
        vec!["x"; 200].join(", "),
        vec!["*a"; m].join(", ")
    )
}

/// An anchored list of ten aliases, aliased `m` times.
fn nested(m: usize) -> String {
    format!(
        "a: &a [{}]\nb: &b [{}]\nc: [{}]\n",
        ["x"; 10].join(", "),
        ["*a"; 10].join(", "),
        vec!["*b"; m].join(", ")
    )
}

/// `m` maps that merge one 200-key map.
fn merged(m: usize) -> String {
    let keys: Vec<String> = (0..200).map(|i| format!("k{i}: x")).collect();
    format!(
        "a: &a {{{}}}\nb: [{}]\n",
        keys.join(", "),
        vec!["{<<: *a}"; m].join(", ")
    )
}

#[test]
fn aliases_just_inside_go_yamls_rule_are_encrypted_and_just_outside_refused_as_by_sops() {
    let Some(p) = Peer::new(None) else { return };
    let cases = [
        ("list-inside", list(199), true),
        ("list-outside", list(200), false),
        ("nested-inside", nested(121), true),
        ("nested-outside", nested(122), false),
        ("merged-inside", merged(386), true),
        ("merged-outside", merged(387), false),
    ];
    let mut diffs = Vec::new();
    for (label, doc, inside) in &cases {
        let name = format!("{label}.yaml");
        p.write(&name, doc);
        let args = ["encrypt", "--age", AGE_RECIPIENT, name.as_str()];
        let s = p.run(Tool::Sops, &args);
        let l = p.run(Tool::Leafseal, &args);
        let mut problems = Vec::new();
        if s.ok() != *inside {
            problems.push(format!("sops exit {} ({})", s.code, s.stderr.trim()));
        }
        if l.code != s.code {
            problems.push(format!(
                "exit codes differ: sops {}, leafseal {} ({})",
                s.code,
                l.code,
                l.stderr.trim()
            ));
        }
        if !inside {
            if !s.stderr.contains("excessive aliasing") {
                problems.push(format!("sops: {}", s.stderr.trim()));
            }
            if !l.stderr.contains("alias expansion is too large") || !l.stdout.is_empty() {
                problems.push(format!("leafseal: {}", l.stderr.trim()));
            }
        }
        if !problems.is_empty() {
            diffs.push(format!("{label}: {}", problems.join("; ")));
        }
    }
    assert_no_differences("alias boundary", cases.len(), &diffs);
}
