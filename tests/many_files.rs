//! Commands over many files in one invocation, whose files are read on all cores:
//! `updatekeys` over a tree (a parallel first pass, then the changes in order) and
//! `check` (findings in the order of the files, whichever worker found them).

mod support;

use std::path::Path;

use support::*;

const OTHER: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

fn write(dir: &Path, rel: &str, bytes: &[u8]) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, bytes).expect("write");
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// 24 encrypted files: those under `add/` gain a second recipient, those under `keep/`
/// are already what the policy asks.
type Tree = (
    tempfile::TempDir,
    tempfile::TempDir,
    std::collections::HashMap<String, String>,
    Vec<String>,
);

fn tree() -> Tree {
    let home = tempfile::tempdir().expect("home");
    let vars = env_vars(None, home.path());
    let work = tempfile::tempdir().expect("work");
    let mut names = Vec::new();
    for i in 0..24 {
        let rel = format!("{}/f{i:02}.yaml", if i % 2 == 0 { "add" } else { "keep" });
        write(
            work.path(),
            &rel,
            format!("token: secret-{i}\nn: {i}\n").as_bytes(),
        );
        let o = run_in(
            &vars,
            work.path(),
            &["encrypt", "-i", "--age", AGE_RECIPIENT, &rel],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        names.push(rel);
    }
    names.sort();
    write(
        work.path(),
        ".sops.yaml",
        format!(
            "creation_rules:\n  - path_regex: ^add/\n    age: {AGE_RECIPIENT},{OTHER}\n  - path_regex: ^keep/\n    age: {AGE_RECIPIENT}\n"
        )
        .as_bytes(),
    );
    (home, work, vars, names)
}

#[test]
fn updatekeys_over_many_files_reports_in_order_and_changes_only_what_it_must() {
    let (_home, work, vars, names) = tree();
    let before: Vec<Vec<u8>> = names
        .iter()
        .map(|n| std::fs::read(work.path().join(n)).expect("read"))
        .collect();
    let o = run_in(&vars, work.path(), &["updatekeys", "-y", "add", "keep"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    // One note per file, in the order of the walk (add/ first, then keep/, sorted).
    let notes: Vec<&str> = err.lines().filter(|l| l.contains(".yaml: ")).collect();
    let expected: Vec<String> = names
        .iter()
        .map(|n| {
            if n.starts_with("add/") {
                format!("leafseal: {n}: keys updated")
            } else {
                format!("leafseal: {n}: already up to date")
            }
        })
        .collect();
    assert_eq!(notes, expected, "{err}");
    // The plans on stdout, in the same order.
    let out = String::from_utf8_lossy(&o.stdout);
    let planned: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_suffix(": the key groups change:"))
        .collect();
    let adds: Vec<&str> = names
        .iter()
        .filter(|n| n.starts_with("add/"))
        .map(String::as_str)
        .collect();
    assert_eq!(planned, adds);
    for (n, b) in names.iter().zip(&before) {
        let now = std::fs::read(work.path().join(n)).expect("read");
        if n.starts_with("keep/") {
            assert_eq!(&now, b, "{n} must not be rewritten");
        } else {
            assert_ne!(&now, b, "{n}");
            assert!(String::from_utf8_lossy(&now).contains(OTHER), "{n}");
            let o = run_in(&vars, work.path(), &["decrypt", n]);
            assert!(o.status.success(), "{n}: {}", stderr(&o));
        }
    }
    // A second run is a no-op everywhere.
    let o = run_in(&vars, work.path(), &["updatekeys", "-y", "add", "keep"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stderr(&o).matches("already up to date").count(),
        names.len()
    );
}

#[test]
fn check_over_many_files_keeps_findings_in_file_order() {
    let (_home, work, vars, names) = tree();
    // Plaintext where the policy wants encryption, every third file.
    let mut plain = Vec::new();
    for (i, n) in names.iter().enumerate() {
        if i % 3 == 0 {
            write(work.path(), n, b"token: in-clear\n");
            plain.push(n.clone());
        }
    }
    let mut paths: Vec<&str> = names.iter().map(String::as_str).collect();
    paths.insert(0, "check");
    let o = run_in(&vars, work.path(), &paths);
    assert!(!o.status.success(), "findings must fail the check");
    let out = String::from_utf8_lossy(&o.stdout);
    let flagged: Vec<String> = out
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with("leafseal check"))
        .filter_map(|l| l.split(':').next().map(str::to_owned))
        .collect();
    let mut dedup = flagged.clone();
    dedup.dedup();
    // The files under add/ lack the policy's second recipient: flagged too.
    let expected: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with("add/") || plain.contains(n))
        .collect();
    assert_eq!(dedup.iter().collect::<Vec<_>>(), expected, "{out}");
    assert!(out.contains("plaintext"), "{out}");
    assert!(
        out.contains(&format!("{} file(s) checked", names.len())),
        "{out}"
    );
}
