//! The git drivers against the real `git` binary: `leafseal git setup` in a temporary
//! repository, merges through the merge driver (clean and conflicting), and diffs through
//! the textconv driver. git runs with a hermetic environment (empty HOME, no system
//! config, fixed identity) and calls the leafseal binary under test.

mod support;

#[path = "git_repo/mod.rs"]
mod git_repo;

use git_repo::*;
use support::*;

const OTHER_RECIPIENT: &str = "age1tmaae3ld5vpevmsh5yacsauzx8jetg300mpvc4ugp5zr5l6ssq9sla97ep";

const YAML: &str = "db:\n    user: app\n    password: base-pass\napi:\n    token: base-token\nuntouched: keep-me-secret\n";

#[test]
fn setup_configures_git_and_is_idempotent() {
    let r = Repo::new();
    r.write(".gitattributes", "*.png binary\n");
    let out = r.setup();
    assert!(out.contains("set diff.leafseal.textconv"), "{out}");
    let bin = env!("CARGO_BIN_EXE_leafseal");
    let canon = std::fs::canonicalize(bin).expect("canon");
    let tc = r.git_ok(&["config", "--local", "diff.leafseal.textconv"]);
    assert_eq!(tc.trim(), format!("{} git textconv", canon.display()));
    assert_eq!(
        r.git_ok(&["config", "--local", "diff.leafseal.cachetextconv"])
            .trim(),
        "false"
    );
    assert_eq!(
        r.git_ok(&["config", "--local", "merge.leafseal.driver"])
            .trim(),
        format!("{} git merge-driver %O %A %B %P", canon.display())
    );
    let attrs = r.read(".gitattributes");
    assert_eq!(
        attrs,
        "*.png binary\n*.enc.yaml diff=leafseal merge=leafseal\n*.enc.json diff=leafseal merge=leafseal\n*.enc.env diff=leafseal merge=leafseal\n"
    );
    let config = std::fs::read(r.path().join(".git/config")).expect("config");
    let out2 = r.setup();
    assert!(out2.contains("already set up"), "{out2}");
    assert_eq!(r.read(".gitattributes"), attrs);
    assert_eq!(
        std::fs::read(r.path().join(".git/config")).expect("config"),
        config
    );
    // git sees the attributes.
    let check = r.git_ok(&["check-attr", "diff", "merge", "--", "a/b/x.enc.yaml"]);
    assert!(
        check.contains("diff: leafseal") && check.contains("merge: leafseal"),
        "{check}"
    );
    // An unconvertible rule asks for --pattern; --pattern is added.
    r.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - path_regex: \\w+\\.sec$\n    age: {AGE_RECIPIENT}\n"),
    );
    let o = r.leafseal(&["git", "setup", "--pattern", "*.sec"]);
    assert!(o.status.success());
    assert!(text(&o.stderr).contains("--pattern"), "{}", text(&o.stderr));
    assert!(
        r.read(".gitattributes")
            .ends_with("*.sec diff=leafseal merge=leafseal\n")
    );
}

#[test]
fn yaml_merge_through_the_driver_and_textconv_diffs() {
    let r = Repo::new();
    r.setup();
    r.commit("setup");
    r.add_encrypted("secrets.enc.yaml", YAML);
    r.git_ok(&["checkout", "-q", "-b", "feature"]);
    r.edit("secrets.enc.yaml", "base-token", "theirs-token");
    r.commit("feature: rotate the token");
    r.git_ok(&["checkout", "-q", "main"]);
    r.edit("secrets.enc.yaml", "base-pass", "ours-pass");
    r.commit("main: change the password");
    let ours_before = r.read("secrets.enc.yaml");

    let m = r.git(&["merge", "--no-edit", "feature"]);
    assert!(m.status.success(), "merge failed: {}", both(&m));
    let merged = r.read("secrets.enc.yaml");
    assert!(merged.contains("ENC[AES256_GCM"));
    let plain = r.leafseal_ok(&["decrypt", "secrets.enc.yaml"]);
    assert_eq!(
        plain,
        "db:\n    user: app\n    password: ours-pass\napi:\n    token: theirs-token\nuntouched: keep-me-secret\n"
    );
    // Values neither side touched keep ours' exact ciphertext.
    for key in ["untouched:", "user:", "password:"] {
        assert_eq!(
            Repo::line_of(&merged, key),
            Repo::line_of(&ours_before, key)
        );
    }
    assert_ne!(
        Repo::line_of(&merged, "token:"),
        Repo::line_of(&ours_before, "token:")
    );

    // textconv: history shows plaintext changes, never ciphertext.
    let log = r.git_ok(&[
        "log",
        "-p",
        "-m",
        "--first-parent",
        "--",
        "secrets.enc.yaml",
    ]);
    assert!(log.contains("+    token: theirs-token"), "{log}");
    assert!(log.contains("-    password: base-pass"), "{log}");
    assert!(log.contains("+    password: ours-pass"), "{log}");
    assert!(!log.contains("ENC["), "{log}");
    // A work-tree change shows in `git diff`.
    r.edit("secrets.enc.yaml", "keep-me-secret", "changed-secret");
    let d = r.git_ok(&["diff"]);
    assert!(d.contains("-untouched: keep-me-secret"), "{d}");
    assert!(d.contains("+untouched: changed-secret"), "{d}");
    assert!(!d.contains("ENC["), "{d}");
    assert!(!d.contains("sops:"), "{d}");
    // The sops form `leafseal decrypt` works as textconv too.
    let textconv = format!(
        "diff.leafseal.textconv={} decrypt",
        env!("CARGO_BIN_EXE_leafseal")
    );
    let d2 = r.git_ok(&["-c", &textconv, "diff"]);
    assert!(d2.contains("+untouched: changed-secret"), "{d2}");
    assert!(!d2.contains("ENC["), "{d2}");
}

#[test]
fn conflicting_edits_leave_the_file_encrypted_and_name_the_path() {
    let r = Repo::new();
    r.setup();
    r.add_encrypted("secrets.enc.yaml", YAML);
    r.git_ok(&["checkout", "-q", "-b", "feature"]);
    r.edit("secrets.enc.yaml", "base-pass", "conflict-theirs");
    r.commit("theirs");
    r.git_ok(&["checkout", "-q", "main"]);
    r.edit("secrets.enc.yaml", "base-pass", "conflict-ours");
    r.commit("ours");
    let ours_bytes = r.read("secrets.enc.yaml");

    let m = r.git(&["merge", "--no-edit", "feature"]);
    assert!(!m.status.success(), "merge should conflict");
    let out = both(&m);
    assert!(out.contains(r#"["db"]["password"]"#), "{out}");
    assert!(out.contains("CONFLICT"), "{out}");
    assert!(
        !out.contains("conflict-ours") && !out.contains("conflict-theirs"),
        "{out}"
    );
    // The work-tree file is ours, encrypted, byte for byte; no plaintext anywhere.
    assert_eq!(r.read("secrets.enc.yaml"), ours_bytes);
    let all = r.worktree_text();
    for secret in [
        "conflict-ours",
        "conflict-theirs",
        "keep-me-secret",
        "base-pass",
        "<<<<<<<",
    ] {
        assert!(!all.contains(secret), "{secret} found in the work tree");
    }
    let status = r.git_ok(&["status", "--porcelain"]);
    assert!(status.contains("UU secrets.enc.yaml"), "{status}");
    r.git_ok(&["merge", "--abort"]);
}

#[test]
fn undecryptable_file_diffs_as_ciphertext() {
    let r = Repo::new();
    r.setup();
    r.write("foreign.enc.yaml", "key: foreign-one\n");
    r.leafseal_ok(&[
        "encrypt",
        "-i",
        "--age",
        OTHER_RECIPIENT,
        "foreign.enc.yaml",
    ]);
    r.commit("foreign");
    r.write("foreign.enc.yaml", "key: foreign-two\n");
    r.leafseal_ok(&[
        "encrypt",
        "-i",
        "--age",
        OTHER_RECIPIENT,
        "foreign.enc.yaml",
    ]);
    let d = r.git(&["diff"]);
    assert!(d.status.success(), "{}", both(&d));
    let out = text(&d.stdout);
    assert!(out.contains("+key: ENC[AES256_GCM"), "{out}");
    assert!(out.contains("-key: ENC[AES256_GCM"), "{out}");
    let err = text(&d.stderr);
    assert!(err.contains("cannot decrypt"), "{err}");
    // Direct call: same bytes, exit 0.
    let o = r.leafseal(&["git", "textconv", "foreign.enc.yaml"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(text(&o.stdout), r.read("foreign.enc.yaml"));
    assert_eq!(text(&o.stderr).lines().count(), 1, "{}", text(&o.stderr));
    let o = r.leafseal(&["git", "textconv", "missing.enc.yaml"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stdout.is_empty());
}

fn merge_case(name: &str, plain: &str, ours: (&str, &str), theirs: (&str, &str), expect: &str) {
    let r = Repo::new();
    r.setup();
    r.add_encrypted(name, plain);
    r.git_ok(&["checkout", "-q", "-b", "feature"]);
    r.edit(name, theirs.0, theirs.1);
    r.commit("theirs");
    r.git_ok(&["checkout", "-q", "main"]);
    r.edit(name, ours.0, ours.1);
    r.commit("ours");
    let m = r.git(&["merge", "--no-edit", "feature"]);
    assert!(m.status.success(), "merge failed: {}", both(&m));
    assert!(r.read(name).contains("ENC[AES256_GCM"));
    assert_eq!(r.leafseal_ok(&["decrypt", name]), expect);
}

#[test]
fn json_merge() {
    merge_case(
        "app.enc.json",
        "{\n\t\"a\": \"one\",\n\t\"b\": {\n\t\t\"c\": \"two\"\n\t},\n\t\"d\": 3\n}\n",
        ("\"one\"", "\"ONE\""),
        ("\"two\"", "\"TWO\""),
        "{\n\t\"a\": \"ONE\",\n\t\"b\": {\n\t\t\"c\": \"TWO\"\n\t},\n\t\"d\": 3\n}\n",
    );
}

#[test]
fn dotenv_merge() {
    merge_case(
        "app.enc.env",
        "# database\nDB_PASS=one\nAPI_KEY=two\nPORT=5432\n",
        ("DB_PASS=one", "DB_PASS=ONE"),
        ("API_KEY=two\n", "API_KEY=two\nNEW_KEY=added\n"),
        "# database\nDB_PASS=ONE\nAPI_KEY=two\nNEW_KEY=added\nPORT=5432\n",
    );
}

#[test]
fn two_setups_at_once_take_turns_and_keep_both_patterns() {
    // `git setup` read `.gitattributes`, added its patterns and wrote it back without a
    // lock, so two setups at once could each write the file without the other's
    // patterns. It now locks the file (or its name) before reading it.
    let r = Repo::new();
    r.write(".gitattributes", "*.png binary\n");
    let held = std::fs::File::open(r.path().join(".gitattributes")).expect("open");
    rustix::fs::flock(&held, rustix::fs::FlockOperation::LockExclusive).expect("flock");
    let spawn = |pattern: &str| {
        leafseal(&r.vars)
            .current_dir(r.path())
            .args(["git", "setup", "--pattern", pattern])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    // Each setup says on stderr that it waits once it finds the lock taken: read up to
    // that line (a setup that did not wait ends without it), then let go.
    let (tx, rx) = std::sync::mpsc::channel();
    let mut children = Vec::new();
    let mut readers = Vec::new();
    for pattern in ["*.one", "*.two"] {
        let mut c = spawn(pattern);
        let mut err = std::io::BufReader::new(c.stderr.take().expect("stderr"));
        let tx = tx.clone();
        readers.push(std::thread::spawn(move || {
            let mut all = String::new();
            let mut line = String::new();
            while std::io::BufRead::read_line(&mut err, &mut line).unwrap_or(0) > 0 {
                if line.contains("waiting for another leafseal process") {
                    let _ = tx.send(());
                }
                all.push_str(&line);
                line.clear();
            }
            all
        }));
        children.push(c);
    }
    for _ in 0..2 {
        if rx.recv_timeout(std::time::Duration::from_secs(60)).is_err() {
            for c in &mut children {
                let _ = c.kill();
            }
            panic!("a setup did not wait for the lock on .gitattributes");
        }
    }
    drop(held);
    for (c, reader) in children.into_iter().zip(readers) {
        let o = c.wait_with_output().expect("wait");
        let err = reader.join().expect("stderr");
        assert!(o.status.success(), "setup failed: {err}");
    }
    let attrs = r.read(".gitattributes");
    assert!(attrs.starts_with("*.png binary\n"), "{attrs}");
    for p in ["*.one", "*.two", "*.enc.yaml"] {
        assert_eq!(
            attrs
                .lines()
                .filter(|l| *l == format!("{p} diff=leafseal merge=leafseal"))
                .count(),
            1,
            "{p} in\n{attrs}"
        );
    }
    let leftovers: Vec<_> = std::fs::read_dir(r.path())
        .expect("ls")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("leafseal"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn setup_reads_a_hard_linked_gitattributes_and_writes_it_only_when_forced() {
    // Locking `.gitattributes` checks it as a write target; a hard-linked one is refused
    // as any write target is, but only when setup has a pattern to add (a review of the
    // lock found setup refusing a file it would not have changed).
    let r = Repo::new();
    r.setup();
    let before = r.read(".gitattributes");
    std::fs::hard_link(
        r.path().join(".gitattributes"),
        r.path().join("attributes-elsewhere"),
    )
    .expect("link");
    let again = r.setup();
    assert!(again.contains("already set up"), "{again}");
    let o = r.leafseal(&["git", "setup", "--pattern", "*.new"]);
    assert_eq!(o.status.code(), Some(3), "{}", both(&o));
    assert!(both(&o).contains("hard link"), "{}", both(&o));
    assert_eq!(r.read(".gitattributes"), before);
    let forced = r.leafseal_ok(&["--force-target", "git", "setup", "--pattern", "*.new"]);
    assert!(forced.contains("*.new"), "{forced}");
    let after = r.read(".gitattributes");
    assert!(
        after.ends_with("*.new diff=leafseal merge=leafseal\n"),
        "{after}"
    );
    // Written in place: both names see it.
    assert_eq!(r.read("attributes-elsewhere"), after);
}
