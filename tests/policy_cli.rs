//! `.sops.yaml` read as sops 3.11 reads it, end to end through the binary: settings sops
//! treats as unset, policies it refuses (fail closed), and how rules match paths. Each
//! test names the finding it guards (round 19 of the policy review).

mod support;

use std::path::Path;

use support::AGE_RECIPIENT;

const A1: &str = "age1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvun";

fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    let home = dir.join(".home");
    std::fs::create_dir_all(&home).expect("home");
    support::run_in(&support::env_vars(None, &home), dir, args)
}

fn run_env(dir: &Path, args: &[&str], extra: &[(&str, &str)]) -> std::process::Output {
    let home = dir.join(".home");
    std::fs::create_dir_all(&home).expect("home");
    let mut vars = support::env_vars(None, &home);
    for (k, v) in extra {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    support::run_in(&vars, dir, args)
}

fn code(o: &std::process::Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn setup(policy: &str, files: &[(&str, &str)]) -> tempfile::TempDir {
    let t = tempfile::tempdir().expect("tempdir");
    std::fs::write(t.path().join(".sops.yaml"), policy).expect("policy");
    for (name, text) in files {
        let p = t.path().join(name);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        std::fs::write(p, text).expect("write");
    }
    t
}

const PLAIN: &str = "user: bob\npassword: hunter2\n";

/// Every value encrypted, the default suffix recorded, and the file opens again.
fn assert_all_encrypted(dir: &Path, out: &std::process::Output) {
    assert_eq!(code(out), 0, "{}", stderr(out));
    let enc = stdout(out);
    assert!(!enc.contains("bob") && !enc.contains("hunter2"), "{enc}");
    assert!(enc.contains("unencrypted_suffix: _unencrypted"), "{enc}");
    std::fs::write(dir.join("enc.yaml"), &enc).expect("write");
    let back = run(dir, &["decrypt", "enc.yaml"]);
    assert_eq!(code(&back), 0, "{}", stderr(&back));
    assert_eq!(stdout(&back), PLAIN);
}

// P1: an empty selector is no selector (sops counts only non-empty ones).
#[test]
fn p1_empty_selector_in_the_policy_is_unset() {
    for field in [
        "unencrypted_suffix",
        "encrypted_suffix",
        "unencrypted_regex",
        "encrypted_regex",
        "unencrypted_comment_regex",
        "encrypted_comment_regex",
    ] {
        for empty in ["''", "\"\"", "~"] {
            let t = setup(
                &format!("creation_rules:\n  - age: {AGE_RECIPIENT}\n    {field}: {empty}\n"),
                &[("a.yaml", PLAIN)],
            );
            let out = run(t.path(), &["encrypt", "a.yaml"]);
            assert_all_encrypted(t.path(), &out);
        }
    }
}

#[test]
fn p1_empty_selector_plus_another_is_no_conflict() {
    let t = setup(
        &format!(
            "creation_rules:\n  - age: {AGE_RECIPIENT}\n    unencrypted_suffix: ''\n    encrypted_regex: ^password$\n"
        ),
        &[("a.yaml", PLAIN)],
    );
    let out = run(t.path(), &["encrypt", "a.yaml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let enc = stdout(&out);
    assert!(enc.contains("user: bob") && !enc.contains("hunter2"), "{enc}");
    assert!(enc.contains("encrypted_regex: ^password$"), "{enc}");
    assert!(!enc.contains("unencrypted_suffix"), "{enc}");
}

#[test]
fn p1_empty_selector_flags_are_unset() {
    for flag in [
        "--unencrypted-suffix",
        "--encrypted-suffix",
        "--unencrypted-regex",
        "--encrypted-regex",
        "--unencrypted-comment-regex",
        "--encrypted-comment-regex",
    ] {
        let t = setup("", &[("a.yaml", PLAIN)]);
        let cfg = t.path().join(".sops.yaml");
        std::fs::remove_file(&cfg).expect("rm");
        let out = run(t.path(), &["encrypt", "--age", AGE_RECIPIENT, flag, "", "a.yaml"]);
        assert_all_encrypted(t.path(), &out);
        // An empty flag next to a real one is no conflict either.
        let out = run(
            t.path(),
            &[
                "encrypt",
                "--age",
                AGE_RECIPIENT,
                flag,
                "",
                if flag == "--encrypted-regex" {
                    "--encrypted-suffix"
                } else {
                    "--encrypted-regex"
                },
                "password",
                "a.yaml",
            ],
        );
        assert_eq!(code(&out), 0, "{flag}: {}", stderr(&out));
    }
}
