//! The merge driver and `git setup` against hostile branches, through the real `git`
//! (the round-18 review of the git integration): a branch written without the key must
//! not get the file's keys or settings into a merge, a side without an integrity record
//! is refused under `strict_integrity` and reported otherwise, and names from the
//! repository cannot put terminal escapes into the driver's messages.

mod support;

#[path = "git_repo/mod.rs"]
mod git_repo;

use git_repo::*;
use support::*;

const YAML: &str = "db:\n    user: app\n    password: base-pass\napi:\n    token: base-token\n";

/// A repository with the drivers set up and `s.enc.yaml` committed on main, and a branch
/// `attack` made from it by `attack`, and main's own change by `ours`.
fn diverged(attack: impl Fn(&Repo), ours: impl Fn(&Repo)) -> Repo {
    let r = Repo::new();
    r.setup();
    r.add_encrypted("s.enc.yaml", YAML);
    r.git_ok(&["checkout", "-q", "-b", "attack"]);
    attack(&r);
    r.commit("attack");
    r.git_ok(&["checkout", "-q", "main"]);
    ours(&r);
    r.commit("ours");
    r
}

fn add_secret(r: &Repo) {
    r.leafseal_ok(&[
        "set",
        "s.enc.yaml",
        r#"["newsecret"]"#,
        r#""VICTIM-TOPSECRET""#,
    ]);
}

/// Writes `s.enc.yaml` anew from `plain`, for the listed recipient only, as someone without
/// the file's key can (a fresh data key), with `extra` encrypt flags.
fn encrypt_anew(r: &Repo, plain: &str, extra: &[&str]) {
    r.write("plain.yaml", plain);
    let mut args = vec!["encrypt", "--age", AGE_RECIPIENT];
    args.extend_from_slice(extra);
    args.extend(["--filename-override", "s.enc.yaml", "plain.yaml"]);
    let out = r.leafseal_ok(&args);
    r.write("s.enc.yaml", &out);
    std::fs::remove_file(r.path().join("plain.yaml")).expect("rm");
}

/// Asserts a conflict that left ours' encrypted bytes in place and names `why`.
fn refused(r: &Repo, why: &str) {
    let ours = r.read("s.enc.yaml");
    let m = r.git(&["merge", "--no-edit", "attack"]);
    let out = both(&m);
    assert!(!m.status.success(), "the merge went through: {out}");
    assert!(out.contains(why), "{out}");
    assert_eq!(r.read("s.enc.yaml"), ours);
    assert!(!r.worktree_text().contains("VICTIM-TOPSECRET"));
    r.git_ok(&["merge", "--abort"]);
}

/// Someone without the key writes the file anew for the listed recipient, with a data
/// key they made (and may have wrapped for themselves, then removed their entry). The
/// merge used theirs' data key before round 18, so they could read `newsecret`.
#[test]
fn a_data_key_from_the_other_branch_is_never_taken() {
    let r = diverged(
        |r| {
            encrypt_anew(
                r,
                "db:\n    user: app\n    password: attacker\napi:\n    token: t\n",
                &[],
            );
        },
        add_secret,
    );
    refused(&r, "data key neither");
}

/// The same, narrowing which values are encrypted: `newsecret` was merged in clear.
#[test]
fn encryption_settings_from_the_other_branch_are_never_taken() {
    let r = diverged(
        |r| encrypt_anew(r, YAML, &["--encrypted-regex", "^(db|api|password|token)$"]),
        add_secret,
    );
    refused(&r, "which values are encrypted");
}

fn strip_record(r: &Repo) {
    strip_record_of(r, "s.enc.yaml");
}

/// Removes the integrity record from `name`, as anyone can without the key.
fn strip_record_of(r: &Repo, name: &str) {
    let text = r.read(name);
    let kept: String = text
        .lines()
        .filter(|l| !l.contains("leafseal_integrity"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(kept, text);
    r.write(name, &kept);
}

/// A side without an integrity record: refused under `strict_integrity` in `.sops.yaml`
/// (the driver ignored the policy's setting), merged with a warning without it (the
/// driver said nothing, and the merged file's new record vouched for the side).
#[test]
fn a_side_without_an_integrity_record() {
    let r = diverged(strip_record, add_secret);
    let policy = r.read(".sops.yaml");
    r.write(
        ".sops.yaml",
        &format!("{policy}leafseal:\n  strict_integrity: true\n"),
    );
    r.commit("strict");
    refused(&r, "integrity");
    r.git_ok(&["reset", "-q", "--hard", "HEAD~1"]);
    let m = r.git(&["merge", "--no-edit", "attack"]);
    let out = both(&m);
    assert!(m.status.success(), "{out}");
    assert!(
        out.contains("theirs has no valid leafseal integrity record"),
        "{out}"
    );
    let plain = r.leafseal_ok(&["decrypt", "s.enc.yaml"]);
    assert!(plain.contains("VICTIM-TOPSECRET"), "{plain}");
    // textconv says so too.
    let t = r.leafseal(&["git", "textconv", "s.enc.yaml"]);
    assert!(t.status.success());
    r.git_ok(&["checkout", "-q", "attack"]);
    let t = r.leafseal(&["git", "textconv", "s.enc.yaml"]);
    assert!(
        text(&t.stderr).contains("no leafseal integrity record"),
        "{}",
        both(&t)
    );
}

/// A path (`%P`) with terminal escapes and a line break, from a hostile repository: the
/// driver's messages show it inert and quoted.
#[test]
fn a_hostile_path_is_shown_inert() {
    let r = Repo::new();
    r.write("plain.yaml", YAML);
    let enc = r.leafseal_ok(&["encrypt", "--filename-override", "a.enc.yaml", "plain.yaml"]);
    r.write("a.yaml", &enc);
    r.write("b.yaml", "db: clear\n");
    let o = r.leafseal(&[
        "git",
        "merge-driver",
        "a.yaml",
        "a.yaml",
        "b.yaml",
        "x\u{1b}[31mRED\nleafseal: merged OK.enc.yaml",
    ]);
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(!err.contains('\u{1b}'), "{err:?}");
    assert!(!err.contains("\nleafseal: merged OK"), "{err:?}");
    assert!(
        err.contains("'x?[31mRED?leafseal: merged OK.enc.yaml'"),
        "{err:?}"
    );
}

/// git does not follow a `.gitattributes` that is a symbolic link: setup wrote through it
/// and reported the drivers set, which git then never ran.
#[test]
fn setup_refuses_a_linked_gitattributes() {
    let r = Repo::new();
    r.write("real.txt", "*.png binary\n");
    std::os::unix::fs::symlink("real.txt", r.path().join(".gitattributes")).expect("link");
    let o = r.leafseal(&["git", "setup"]);
    assert!(!o.status.success(), "{}", both(&o));
    assert!(text(&o.stderr).contains("symbolic link"), "{}", both(&o));
    assert_eq!(r.read("real.txt"), "*.png binary\n");
}

/// A later `.gitattributes` line that takes the attributes away again: setup said
/// "already has" and the drivers never ran; it now warns with what git applies.
#[test]
fn setup_warns_when_a_later_line_overrides_the_drivers() {
    let r = Repo::new();
    r.write(
        ".gitattributes",
        "*.enc.yaml diff=leafseal merge=leafseal\n*.enc.yaml -diff merge=union\n",
    );
    let o = r.leafseal(&["git", "setup"]);
    assert!(o.status.success(), "{}", both(&o));
    let err = text(&o.stderr);
    assert!(err.contains("diff: unset, merge: union"), "{err}");
    r.write(
        ".gitattributes",
        "*.enc.yaml diff=leafseal merge=leafseal\n",
    );
    let o = r.leafseal(&["git", "setup"]);
    assert!(
        !text(&o.stderr).contains("not leafseal's drivers"),
        "{}",
        both(&o)
    );
}

/// `strict_integrity` in the `.sops.yaml` of a subdirectory governs its files in the merge
/// driver too (it read only the top one), and theirs cannot switch it off by bringing a
/// policy without it: the recursive strategy writes theirs' `.sops.yaml` into the work
/// tree before it runs the driver (the round-18 review of a first version).
#[test]
fn strict_integrity_of_the_governing_policy_holds_in_merges() {
    // A policy in a subdirectory.
    let r = Repo::new();
    r.setup();
    std::fs::create_dir(r.path().join("sec")).expect("mkdir");
    r.write(
        "sec/.sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: \\.enc\\.yaml$\n    age: {AGE_RECIPIENT}\nleafseal:\n  strict_integrity: true\n"
        ),
    );
    r.add_encrypted("sec/s.enc.yaml", YAML);
    r.git_ok(&["checkout", "-q", "-b", "attack"]);
    strip_record_of(&r, "sec/s.enc.yaml");
    r.commit("attack");
    r.git_ok(&["checkout", "-q", "main"]);
    r.leafseal_ok(&[
        "set",
        "sec/s.enc.yaml",
        r#"["newsecret"]"#,
        r#""VICTIM-TOPSECRET""#,
    ]);
    r.commit("ours");
    let m = r.git(&["merge", "--no-edit", "attack"]);
    assert!(!m.status.success(), "{}", both(&m));
    assert!(both(&m).contains("integrity"), "{}", both(&m));
    r.git_ok(&["merge", "--abort"]);

    // The top policy switched off on theirs' side, merged with the recursive strategy.
    let policy = r.read(".sops.yaml");
    r.write(
        ".sops.yaml",
        &format!("{policy}leafseal:\n  strict_integrity: true\n"),
    );
    r.add_encrypted("s.enc.yaml", YAML);
    r.git_ok(&["checkout", "-q", "-b", "attack2"]);
    r.write(".sops.yaml", &policy);
    strip_record(&r);
    r.commit("attack2");
    r.git_ok(&["checkout", "-q", "main"]);
    add_secret(&r);
    r.commit("ours2");
    let m = r.git(&["merge", "--no-edit", "-s", "recursive", "attack2"]);
    assert!(!m.status.success(), "{}", both(&m));
    assert!(both(&m).contains("integrity"), "{}", both(&m));
}

/// A side whose `version` sops and `decrypt` refuse (here `3`, not MAJOR.MINOR.PATCH):
/// the driver merged it and textconv showed its plaintext before round 19; now the merge
/// is a conflict and textconv shows the file as it is, with a warning.
#[test]
fn a_side_with_an_invalid_version_is_not_merged_or_shown() {
    let set_version = |r: &Repo| {
        let text = r.read("s.enc.yaml");
        let changed: String = text
            .lines()
            .map(|l| {
                if l.trim_start().starts_with("version: ") {
                    "    version: 3\n".to_owned()
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        assert_ne!(changed, text);
        r.write("s.enc.yaml", &changed);
    };
    let r = diverged(set_version, add_secret);
    refused(&r, "`version` is");
    r.git_ok(&["checkout", "-q", "attack"]);
    let t = r.leafseal(&["git", "textconv", "s.enc.yaml"]);
    assert!(t.status.success(), "{}", both(&t));
    assert!(text(&t.stdout).contains("ENC[AES256_GCM"), "{}", both(&t));
    assert!(!text(&t.stdout).contains("base-pass"), "{}", both(&t));
    assert!(text(&t.stderr).contains("`version` is"), "{}", both(&t));
}
