//! The first hour of a new user (issue #19): the README tour run as written on a fresh
//! HOME, sops's flag forms on the plain `leafseal` command, policy errors that say what was
//! looked for, `check DIR` seeing untracked files, and the smaller cuts (tamper path, parse
//! errors naming the file, the textconv warning, the INI trailing comment, one exit code
//! for a directory, the no-key report, `--help` on `.toml`).

#[path = "support/sops.rs"]
mod sops_peer;
mod support;

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::process::Output;
use std::process::Stdio;

const BIN: &str = env!("CARGO_BIN_EXE_leafseal");

/// A second recipient nobody in these tests holds the identity of.
const AGE_OTHER: &str = "age1tmaae3ld5vpevmsh5yacsauzx8jetg300mpvc4ugp5zr5l6ssq9sla97ep";

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A work directory with an empty HOME; the age test identity through SOPS_AGE_KEY_FILE
/// unless `no_key`.
struct Env {
    _home: tempfile::TempDir,
    dir: tempfile::TempDir,
    vars: HashMap<String, String>,
}

impl Env {
    fn new() -> Env {
        let home = tempfile::tempdir().expect("home");
        let dir = tempfile::tempdir().expect("dir");
        let mut vars = support::env_vars(None, home.path());
        vars.insert("GIT_CONFIG_NOSYSTEM".to_owned(), "1".to_owned());
        Env {
            _home: home,
            dir,
            vars,
        }
    }

    fn no_key(mut self) -> Env {
        self.vars.remove("SOPS_AGE_KEY_FILE");
        self
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).expect("read")
    }

    fn run(&self, args: &[&str]) -> Output {
        support::run_in(&self.vars, self.path(), args)
    }

    fn run_env(&self, extra: &[(&str, &str)], args: &[&str]) -> Output {
        let mut vars = self.vars.clone();
        for (k, v) in extra {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        support::run_in(&vars, self.path(), args)
    }

    fn policy(&self) {
        self.write(
            ".sops.yaml",
            &format!(
                "creation_rules:\n  - path_regex: secrets/.*\\.ya?ml$\n    age: {}\n",
                support::AGE_RECIPIENT
            ),
        );
    }

    /// `secrets/app.yaml`, encrypted for the test recipient by the policy.
    fn encrypted_app(&self) {
        self.policy();
        self.write(
            "secrets/app.yaml",
            "db:\n  user: app\n  password: hunter2\n",
        );
        let o = self.run(&["encrypt", "-i", "secrets/app.yaml"]);
        assert!(o.status.success(), "{}", err(&o));
    }
}

// ---------------------------------------------------------------------------------------
// 1. The README

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md")
}

/// The first ```sh block under the "Five-minute tour" heading.
fn tour_script() -> String {
    let text = readme();
    let at = text
        .find("## Five-minute tour")
        .expect("README has the tour heading");
    let rest = text.get(at..).expect("slice");
    let start = rest.find("```sh\n").expect("a sh block under the tour") + "```sh\n".len();
    let body = rest.get(start..).expect("slice");
    let end = body.find("\n```").expect("closed block");
    body.get(..end).expect("slice").to_owned()
}

#[test]
fn readme_tour_runs_as_written_on_a_fresh_home() {
    let script = tour_script();
    assert!(
        !script.contains("age-keygen"),
        "the tour must not need a tool leafseal does not ship"
    );
    assert!(
        script.contains("ssh"),
        "the tour mentions SSH keys as recipients"
    );
    let home = tempfile::tempdir().expect("home");
    let work = tempfile::tempdir().expect("work");
    let bin = tempfile::tempdir().expect("bin");
    std::os::unix::fs::symlink(BIN, bin.path().join("leafseal")).expect("symlink");
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .env_clear()
        .env("HOME", home.path())
        .env("PATH", path)
        .env("EDITOR", "false")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .current_dir(work.path())
        .stdin(Stdio::null())
        .output()
        .expect("run bash");
    assert!(
        o.status.success(),
        "the README tour failed:\n--- script\n{script}\n--- stdout\n{}\n--- stderr\n{}",
        out(&o),
        err(&o)
    );
    // keygen wrote sops's default key file, private, in private directories.
    let keys = home.path().join(".config/sops/age/keys.txt");
    let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&keys), 0o600);
    assert_eq!(mode(&home.path().join(".config/sops/age")), 0o700);
    let enc = std::fs::read_to_string(work.path().join("secrets/app.yaml")).expect("read");
    assert!(enc.contains("ENC[AES256_GCM,") && !enc.contains("hunter2"));
    let stdout = out(&o);
    assert!(stdout.contains("password: hunter2"), "{stdout}");
    assert!(stdout.contains("\"password\": \"hunter2\""), "{stdout}");
    assert!(stdout.contains("1 file(s) checked"), "{stdout}");
}

#[test]
fn readme_first_screen_keeps_the_set_up_commands_and_names_the_test_tools() {
    let text = readme();
    let first = text
        .get(..text.find("\n## ").expect("a second heading"))
        .expect("slice");
    assert!(first.contains("cargo install --locked --path . && leafseal --help"));
    assert!(first.contains("cargo test --locked"));
    let ci = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/run"))
        .expect(".ci/run");
    let tools = ci
        .lines()
        .find_map(|l| l.trim().strip_prefix("for tool in "))
        .and_then(|l| l.split(';').next())
        .expect(".ci/run checks its tools");
    for tool in tools.split_whitespace() {
        let named = match tool {
            "node" => "Node.js",
            other => other,
        };
        assert!(first.contains(named), "README's first screen: {named}");
    }
    assert!(
        first.contains("Python"),
        "the tests install their peers with pip"
    );
}

// ---------------------------------------------------------------------------------------
// 2. sops habits on the plain command

#[test]
fn legacy_flag_forms_work_under_the_leafseal_name() {
    let e = Env::new();
    e.encrypted_app();
    let o = e.run(&["-d", "secrets/app.yaml"]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(out(&o).contains("password: hunter2"));
    let o = e.run(&[
        "--decrypt",
        "--extract",
        r#"["db"]["user"]"#,
        "secrets/app.yaml",
    ]);
    assert_eq!(out(&o), "app", "{}", err(&o));
    // Global flags first, then the sops form.
    let o = e.run(&["--config", ".sops.yaml", "-d", "secrets/app.yaml"]);
    assert!(o.status.success(), "{}", err(&o));

    // -e -i and the -ei cluster.
    e.write("secrets/new.yaml", "token: abc\n");
    let o = e.run(&["-e", "-i", "secrets/new.yaml"]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(e.read("secrets/new.yaml").contains("ENC[AES256_GCM,"));
    e.write("secrets/other.yaml", "token: def\n");
    let o = e.run(&["-ei", "secrets/other.yaml"]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(e.read("secrets/other.yaml").contains("ENC[AES256_GCM,"));

    // -r -i: a new data key, so every ciphertext changes.
    let before = e.read("secrets/app.yaml");
    let o = e.run(&["-r", "-i", "secrets/app.yaml"]);
    assert!(o.status.success(), "{}", err(&o));
    let after = e.read("secrets/app.yaml");
    let line = |t: &str| {
        t.lines()
            .find(|l| l.contains("password:"))
            .unwrap_or_default()
            .to_owned()
    };
    assert_ne!(line(&before), line(&after));

    // --set 'PATH VALUE' FILE.
    let o = e.run(&["--set", r#"["db"]["user"] "bob""#, "secrets/app.yaml"]);
    assert!(o.status.success(), "{}", err(&o));
    let o = e.run(&["-d", "secrets/app.yaml"]);
    assert!(out(&o).contains("user: bob"), "{}", out(&o));

    // -s FILE: the editor sees the master keys.
    let seen = e.path().join("seen.yaml");
    let editor = e.path().join("editor.sh");
    std::fs::write(
        &editor,
        format!("#!/bin/sh\ncp \"$1\" '{}'\n", seen.display()),
    )
    .expect("editor");
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let o = e.run_env(
        &[("EDITOR", editor.to_str().expect("utf8"))],
        &["-s", "secrets/app.yaml"],
    );
    assert_eq!(o.status.code(), Some(200), "unchanged file: {}", err(&o));
    let shown = std::fs::read_to_string(&seen).expect("editor ran");
    assert!(shown.contains("sops:") && shown.contains(support::AGE_RECIPIENT));

    // Conflicting modes: sops's exit code 8.
    let o = e.run(&["-d", "-e", "secrets/app.yaml"]);
    assert_eq!(o.status.code(), Some(8), "{}", err(&o));

    // The subcommand forms are untouched.
    let o = e.run(&["decrypt", "secrets/app.yaml"]);
    assert!(o.status.success(), "{}", err(&o));
    let o = e.run(&["--help"]);
    assert!(o.status.success() && out(&o).contains("Usage:"));
}

// ---------------------------------------------------------------------------------------
// 5. Policy errors

#[test]
fn no_policy_says_where_it_looked() {
    let e = Env::new();
    e.write("sub/app.yaml", "a: 1\n");
    let o = e.run_env(&[], &["encrypt", "sub/app.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    let msg = err(&o);
    assert!(msg.contains("no .sops.yaml was found"), "{msg}");
    assert!(msg.contains("looked in"), "{msg}");
    assert!(msg.contains(&e.path().display().to_string()), "{msg}");
    assert!(!msg.contains("no encryption keys were given"), "{msg}");
}

#[test]
fn a_sops_yml_is_named_as_not_read() {
    let e = Env::new();
    e.write(
        ".sops.yml",
        &format!("creation_rules:\n  - age: {}\n", support::AGE_RECIPIENT),
    );
    e.write("app.yaml", "a: 1\n");
    let o = e.run(&["encrypt", "app.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    let msg = err(&o);
    assert!(msg.contains(".sops.yml is not read"), "{msg}");
    assert!(msg.contains("rename it to"), "{msg}");
    assert!(msg.contains("warning: ignoring"), "{msg}");
}

#[test]
fn check_and_updatekeys_without_a_policy_say_where_they_looked() {
    let e = Env::new();
    e.write(".sops.yml", "creation_rules: []\n");
    e.write("sub/app.yaml", "a: 1\n");
    let sub = e.path().join("sub");
    let o = support::run_in(&e.vars, &sub, &["check"]);
    assert_eq!(o.status.code(), Some(2));
    let msg = err(&o);
    assert!(msg.contains("no .sops.yaml found (looked in"), "{msg}");
    assert!(msg.contains(".sops.yml is not read"), "{msg}");
    let o = support::run_in(&e.vars, &sub, &["updatekeys", "-y", "app.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    let msg = err(&o);
    assert!(msg.contains("no .sops.yaml found (looked in"), "{msg}");
    assert!(msg.contains(&sub.display().to_string()), "{msg}");
}

#[test]
fn no_matching_rule_lists_the_rules() {
    let e = Env::new();
    e.policy();
    e.write("config/app.yaml", "a: 1\n");
    let o = e.run(&["encrypt", "config/app.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    let msg = err(&o);
    assert!(msg.contains("no creation rule in"), "{msg}");
    assert!(msg.contains("matches config/app.yaml"), "{msg}");
    assert!(msg.contains(r"`secrets/.*\.ya?ml$`"), "{msg}");
}

#[test]
fn a_rule_without_keys_is_named() {
    let e = Env::new();
    e.write(".sops.yaml", "creation_rules:\n  - path_regex: \\.yaml$\n");
    e.write("app.yaml", "a: 1\n");
    let o = e.run(&["encrypt", "app.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    let msg = err(&o);
    assert!(msg.contains("names no keys"), "{msg}");
    assert!(msg.contains(r"`\.yaml$`"), "{msg}");
}

// ---------------------------------------------------------------------------------------
// 4. check DIR

fn git(e: &Env, args: &[&str]) {
    let o = Command::new("git")
        .args(args)
        .current_dir(e.path())
        .env_clear()
        .envs(&e.vars)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .output()
        .expect("git");
    assert!(o.status.success(), "git {args:?}: {}", err(&o));
}

#[test]
fn check_dir_finds_an_untracked_plaintext_secret() {
    let e = Env::new();
    git(&e, &["init", "-q", "-b", "main"]);
    e.encrypted_app();
    git(&e, &["add", "."]);
    git(&e, &["commit", "-qm", "init"]);
    // Clean before the new file.
    let o = e.run(&["check", "secrets"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", out(&o), err(&o));
    e.write("secrets/new.yaml", "token: s3cr3t-token\n");
    e.write("secrets/ignored.yaml", "token: s3cr3t-token\n");
    e.write(".gitignore", "secrets/ignored.yaml\n");
    let o = e.run(&["check", "secrets"]);
    let text = out(&o);
    assert_eq!(o.status.code(), Some(1), "{text}{}", err(&o));
    assert!(text.contains("secrets/new.yaml: plaintext"), "{text}");
    assert!(!text.contains("s3cr3t-token"), "{text}");
    assert!(
        text.contains("2 file(s) checked (1 not tracked by git)"),
        "{text}"
    );
    assert!(
        text.contains("1 git-ignored file(s) that a creation rule matches were not checked: secrets/ignored.yaml"),
        "{text}"
    );
    let o = e.run(&["check", "--format", "json", "secrets"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["files_checked"], 2);
    assert_eq!(v["untracked_checked"], 1);
}

// ---------------------------------------------------------------------------------------
// 6. Smaller cuts

#[test]
fn tamper_error_names_the_tree_path() {
    let e = Env::new();
    e.encrypted_app();
    let text = e.read("secrets/app.yaml");
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{key}: ")))
            .expect("value")
            .to_owned()
    };
    let (user, password) = (value("user"), value("password"));
    let swapped = text
        .replace(&user, "@USER@")
        .replace(&password, &user)
        .replace("@USER@", &password);
    e.write("secrets/app.yaml", &swapped);
    let o = e.run(&["decrypt", "secrets/app.yaml"]);
    assert_eq!(o.status.code(), Some(25));
    let msg = err(&o);
    assert!(msg.contains(r#"the value at ["db"]["user"]"#), "{msg}");
    assert!(!msg.contains("db:user:"), "{msg}");
}

#[test]
fn parse_errors_name_the_file() {
    let e = Env::new();
    e.write("broken.yaml", "a: [1\n");
    let o = e.run(&["decrypt", "broken.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("broken.yaml: cannot parse"), "{}", err(&o));
    e.policy();
    e.write("secrets/broken.yaml", "a: [1\n");
    let o = e.run(&["encrypt", "secrets/broken.yaml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains("secrets/broken.yaml: cannot parse"),
        "{}",
        err(&o)
    );
}

#[test]
fn textconv_warning_without_the_key_is_whole_and_sources_are_listed_once() {
    let e = Env::new();
    e.write("app.yaml", "a: 1\n");
    let recipients = format!("{},{AGE_OTHER}", support::AGE_RECIPIENT);
    let o = e.run(&["encrypt", "--age", &recipients, "-i", "app.yaml"]);
    assert!(o.status.success(), "{}", err(&o));
    let e = e.no_key();
    let o = e.run(&["git", "textconv", "app.yaml"]);
    assert!(o.status.success());
    let w = err(&o);
    assert!(
        w.contains(support::AGE_RECIPIENT) && w.contains(AGE_OTHER),
        "{w}"
    );
    assert!(w.contains("no age identities found"), "{w}");
    assert!(w.contains("hint:"), "{w}");
    assert_eq!(w.lines().count(), 1, "one warning line: {w}");
    // The report lists the key sources once, not once per recipient.
    let o = e.run(&["decrypt", "app.yaml"]);
    assert_eq!(o.status.code(), Some(128));
    let msg = err(&o);
    assert_eq!(msg.matches("sources consulted").count(), 1, "{msg}");
    assert!(msg.contains("the same key sources as above"), "{msg}");
}

#[test]
fn ini_comment_after_the_last_key_is_kept() {
    let e = Env::new();
    let plain = "[db]\nuser = app\n; note before web\n\n[web]\nport = 8080\n; the last comment\n";
    e.write("app.ini", plain);
    let o = e.run(&["encrypt", "--age", support::AGE_RECIPIENT, "app.ini"]);
    assert!(o.status.success(), "{}", err(&o));
    let enc = out(&o);
    assert!(
        !enc.contains("the last comment"),
        "comments are encrypted: {enc}"
    );
    e.write("app.enc.ini", &enc);
    let o = e.run(&["decrypt", "app.enc.ini"]);
    assert!(o.status.success(), "{}", err(&o));
    let dec = out(&o);
    assert!(dec.ends_with("port = 8080\n; the last comment\n"), "{dec}");
    // sops still reads the file (it drops the trailing comment, as it always does).
    if let Some(sops) = sops_peer::sops_bin() {
        let o = Command::new(sops)
            .args(["decrypt", "app.enc.ini"])
            .current_dir(e.path())
            .env_clear()
            .envs(&e.vars)
            .output()
            .expect("sops");
        assert!(o.status.success(), "sops: {}", err(&o));
        assert!(out(&o).contains("port = 8080"), "{}", out(&o));
    }
}

#[test]
fn a_directory_argument_gets_exit_2_from_every_command() {
    let e = Env::new();
    e.policy();
    std::fs::create_dir_all(e.path().join("secrets/d.yaml")).expect("mkdir");
    let d = "secrets/d.yaml";
    let cases: Vec<Vec<&str>> = vec![
        vec!["decrypt", d],
        vec!["encrypt", d],
        vec!["encrypt", "-i", d],
        vec!["edit", d],
        vec!["filestatus", d],
        vec!["rotate", "-i", d],
        vec!["set", d, r#"["a"]"#, "1"],
        vec!["unset", d, r#"["a"]"#],
        vec!["exec-env", d, "true"],
        vec!["-d", d],
    ];
    for args in cases {
        let o = e.run_env(&[("EDITOR", "true")], &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", err(&o));
        assert!(
            err(&o).contains("is a directory, not a file"),
            "{args:?}: {}",
            err(&o)
        );
    }
}

#[test]
fn help_says_toml_is_binary_by_default() {
    let e = Env::new();
    let o = e.run(&["--help"]);
    let flat = |s: String| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let root = flat(out(&o));
    assert!(root.contains("A .toml file is a binary"), "{root}");
    assert!(root.contains("leafseal -d FILE"), "{root}");
    let o = e.run(&["decrypt", "--help"]);
    let sub = flat(out(&o));
    assert!(sub.contains(".toml included, is a binary blob"), "{sub}");
    assert!(sub.contains("--input-type toml"), "{sub}");
}
