//! `rotate -i FILE...`: several files rotated in one invocation, through the CLI on real
//! files: each file gets a new data key and keeps its values; without `-i` (or with
//! `--output`) several files are refused; a file that fails is named, left unchanged,
//! and gives the exit code while the others are rotated.

mod support;

use std::path::Path;

use support::*;

/// Encrypts `plain` to `dir/name` for the fixture age key.
fn encrypted(
    vars: &std::collections::HashMap<String, String>,
    dir: &Path,
    name: &str,
    plain: &str,
) {
    std::fs::write(dir.join(name), plain).expect("write");
    let o = run_in(vars, dir, &["encrypt", "-i", "--age", AGE_RECIPIENT, name]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).expect("read")
}

/// The `data key`-dependent parts of a file: every `ENC[` value and the MAC.
fn data_key_part(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.contains("ENC["))
        .map(str::to_owned)
        .collect()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn rotate_in_place_takes_several_files_and_rotates_each() {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let vars = env_vars(None, home.path());
    let names = ["a.yaml", "b.json", "c.env", "d.yaml"];
    let plains = [
        "db:\n    password: one\n",
        "{\n\t\"token\": \"two\"\n}\n",
        "KEY=three\n",
        "list:\n    - four\n    - five\n",
    ];
    for (n, p) in names.iter().zip(plains) {
        encrypted(&vars, d, n, p);
    }
    let before: Vec<String> = names.iter().map(|n| read(d, n)).collect();
    let extra = age::x25519::Identity::generate().to_public().to_string();
    let mut args = vec!["rotate", "-i", "--add-age", &extra];
    args.extend(names);
    let o = run_in(&vars, d, &args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    for (i, n) in names.iter().enumerate() {
        let after = read(d, n);
        let (old, new) = (data_key_part(&before[i]), data_key_part(&after));
        assert_eq!(old.len(), new.len(), "{n}");
        assert!(old.iter().zip(&new).all(|(a, b)| a != b), "{n}: {after}");
        assert!(
            after.contains(&extra),
            "{n}: the added recipient is missing"
        );
        let out = run_in(&vars, d, &["decrypt", n]);
        assert!(out.status.success(), "{n}: {}", stderr(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout), plains[i], "{n}");
    }
}

#[test]
fn several_files_without_in_place_or_with_output_are_refused() {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let vars = env_vars(None, home.path());
    encrypted(&vars, d, "a.yaml", "a: 1\n");
    encrypted(&vars, d, "b.yaml", "b: 2\n");
    let (a, b) = (read(d, "a.yaml"), read(d, "b.yaml"));
    let o = run_in(&vars, d, &["rotate", "a.yaml", "b.yaml"]);
    assert_eq!(o.status.code(), Some(8), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("only in place (--in-place, -i)"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("hint: pass -i"), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    let o = run_in(
        &vars,
        d,
        &["rotate", "-i", "--output", "x.yaml", "a.yaml", "b.yaml"],
    );
    assert_eq!(o.status.code(), Some(8), "{}", stderr(&o));
    let o = run_in(&vars, d, &["rotate", "-i", "a.yaml", "-"]);
    assert_eq!(o.status.code(), Some(8), "{}", stderr(&o));
    assert_eq!(read(d, "a.yaml"), a);
    assert_eq!(read(d, "b.yaml"), b);
    assert!(!d.join("x.yaml").exists());
}

#[test]
fn a_failing_file_is_named_left_unchanged_and_sets_the_exit_code() {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let vars = env_vars(None, home.path());
    encrypted(&vars, d, "good1.yaml", "a: 1\n");
    encrypted(&vars, d, "good2.yaml", "b: 2\n");
    // Encrypted for a key this machine does not have: the data key cannot be recovered.
    let other = age::x25519::Identity::generate().to_public().to_string();
    std::fs::write(d.join("foreign.yaml"), "c: 3\n").expect("write");
    let o = run_in(
        &vars,
        d,
        &["encrypt", "-i", "--age", &other, "foreign.yaml"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::write(d.join("plain.yaml"), "d: 4\n").expect("write");
    let before: Vec<String> = ["good1.yaml", "foreign.yaml", "good2.yaml", "plain.yaml"]
        .iter()
        .map(|n| read(d, n))
        .collect();
    let o = run_in(
        &vars,
        d,
        &[
            "rotate",
            "-i",
            "good1.yaml",
            "foreign.yaml",
            "good2.yaml",
            "plain.yaml",
        ],
    );
    let err = stderr(&o);
    // The first failure's code: the data key of foreign.yaml cannot be recovered.
    assert_eq!(o.status.code(), Some(128), "{err}");
    assert!(err.contains("leafseal: error: foreign.yaml: "), "{err}");
    assert!(err.contains("leafseal: error: plain.yaml: "), "{err}");
    assert!(
        err.contains("2 of 4 files could not be rotated and were left unchanged"),
        "{err}"
    );
    assert!(!err.contains("good1.yaml"), "{err}");
    assert_eq!(read(d, "foreign.yaml"), before[1]);
    assert_eq!(read(d, "plain.yaml"), before[3]);
    assert_ne!(read(d, "good1.yaml"), before[0]);
    assert_ne!(read(d, "good2.yaml"), before[2]);
    for (n, p) in [("good1.yaml", "a: 1\n"), ("good2.yaml", "b: 2\n")] {
        let out = run_in(&vars, d, &["decrypt", n]);
        assert_eq!(String::from_utf8_lossy(&out.stdout), p, "{}", stderr(&out));
    }
}

#[test]
fn one_file_behaves_as_before() {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let vars = env_vars(None, home.path());
    encrypted(&vars, d, "a.yaml", "a: 1\n");
    let before = read(d, "a.yaml");
    let o = run_in(&vars, d, &["rotate", "a.yaml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("a: ENC["));
    assert_eq!(read(d, "a.yaml"), before);
    // No file: sops 3.11's exit 100 (clap's 2 before round 20).
    let o = run_in(&vars, d, &["rotate"]);
    assert_eq!(o.status.code(), Some(100), "{}", stderr(&o));
}
