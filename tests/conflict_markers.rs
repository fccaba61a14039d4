//! A merge without leafseal's merge driver (a clone that never ran `leafseal git setup`):
//! real git leaves conflict markers inside the encrypted file. decrypt, edit, set and
//! check say so and how to redo the merge; the documented redo (`leafseal git setup`, then
//! `git checkout -m -- FILE`) gives a file with both sides' changes; the pre-commit check
//! (`check --staged`) refuses a file committed with markers.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::process::Output;

const FILE: &str = "secrets/app.yaml";

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

struct Repo {
    _home: tempfile::TempDir,
    dir: tempfile::TempDir,
    vars: HashMap<String, String>,
}

impl Repo {
    /// `main` and `other` each changed one value of `secrets/app.yaml`; `main` is checked
    /// out and `other` merged without the driver, so the file holds conflict markers.
    fn conflicted() -> Repo {
        let home = tempfile::tempdir().expect("home");
        let dir = tempfile::tempdir().expect("repo");
        let vars = support::git_env_vars(home.path());
        let r = Repo {
            _home: home,
            dir,
            vars,
        };
        r.git_ok(&["init", "-q", "-b", "main"]);
        std::fs::write(
            r.path().join(".sops.yaml"),
            format!(
                "creation_rules:\n  - path_regex: secrets/.*\\.yaml$\n    age: {}\n",
                support::AGE_RECIPIENT
            ),
        )
        .expect("policy");
        std::fs::create_dir_all(r.path().join("secrets")).expect("mkdir");
        std::fs::write(
            r.path().join(FILE),
            "db:\n  user: app\n  password: hunter2\n",
        )
        .expect("write");
        r.ok(&["encrypt", "-i", FILE]);
        r.git_ok(&["add", "."]);
        r.git_ok(&["commit", "-qm", "init"]);
        r.git_ok(&["checkout", "-qb", "other"]);
        r.ok(&["set", FILE, r#"["db"]["user"]"#, r#""bob""#]);
        r.git_ok(&["commit", "-qam", "user"]);
        r.git_ok(&["checkout", "-q", "main"]);
        r.ok(&["set", FILE, r#"["db"]["password"]"#, r#""hunter3""#]);
        r.git_ok(&["commit", "-qam", "password"]);
        let m = r.git(&["merge", "other"]);
        assert!(
            !m.status.success(),
            "a text merge of both changes conflicts"
        );
        let text = std::fs::read_to_string(r.path().join(FILE)).expect("read");
        assert!(text.contains("<<<<<<< HEAD") && text.contains(">>>>>>> other"));
        r
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn git(&self, args: &[&str]) -> Output {
        Command::new("git")
            .args(args)
            .current_dir(self.path())
            .env_clear()
            .envs(&self.vars)
            .output()
            .expect("git")
    }

    fn git_ok(&self, args: &[&str]) {
        let o = self.git(args);
        assert!(o.status.success(), "git {args:?}: {}", err(&o));
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut vars = self.vars.clone();
        vars.insert("EDITOR".to_owned(), "true".to_owned());
        support::run_in(&vars, self.path(), args)
    }

    fn ok(&self, args: &[&str]) -> Output {
        let o = self.run(args);
        assert!(o.status.success(), "leafseal {args:?}: {}", err(&o));
        o
    }
}

fn assert_conflict_error(o: &Output, what: &str) {
    let msg = err(o);
    assert_eq!(o.status.code(), Some(2), "{what}: {msg}");
    assert!(
        msg.contains("secrets/app.yaml has git conflict markers (line 2)"),
        "{what}: {msg}"
    );
    assert!(msg.contains("leafseal git setup"), "{what}: {msg}");
    assert!(
        msg.contains("git checkout -m -- secrets/app.yaml"),
        "{what}: {msg}"
    );
    for secret in ["hunter2", "hunter3", "bob"] {
        assert!(!msg.contains(secret), "{what}: {msg}");
    }
}

#[test]
fn reading_commands_name_the_conflict_and_the_redo_works() {
    let r = Repo::conflicted();
    assert_conflict_error(&r.run(&["decrypt", FILE]), "decrypt");
    assert_conflict_error(&r.run(&["-d", FILE]), "-d");
    assert_conflict_error(&r.run(&["edit", FILE]), "edit");
    assert_conflict_error(&r.run(&["set", FILE, r#"["a"]"#, "1"]), "set");
    assert_conflict_error(&r.run(&["rotate", "-i", FILE]), "rotate");
    assert_conflict_error(&r.run(&["exec-env", FILE, "true"]), "exec-env");

    let o = r.run(&["check", "secrets"]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        out(&o).contains("secrets/app.yaml: conflict-markers: git conflict markers (line 2)"),
        "{}",
        out(&o)
    );
    // The diff driver shows the file as it is and says why.
    let o = r.run(&["git", "textconv", FILE]);
    assert!(err(&o).contains("git conflict markers"), "{}", err(&o));

    // The documented redo: set up the drivers, then let git merge the file again.
    r.ok(&["git", "setup"]);
    r.git_ok(&["checkout", "-m", "--", FILE]);
    let o = r.ok(&["decrypt", FILE]);
    let plain = out(&o);
    assert!(plain.contains("user: bob"), "{plain}");
    assert!(plain.contains("password: hunter3"), "{plain}");
    r.git_ok(&["add", FILE]);
    r.git_ok(&["commit", "-qm", "merge"]);
    let o = r.run(&["check", "secrets"]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
}

#[test]
fn the_pre_commit_check_refuses_staged_markers() {
    let r = Repo::conflicted();
    r.git_ok(&["add", FILE]);
    let o = r.run(&["check", "--staged"]);
    assert_eq!(o.status.code(), Some(1), "{}{}", out(&o), err(&o));
    assert!(out(&o).contains("conflict-markers"), "{}", out(&o));
    // The other documented way: abort, set up, merge again.
    r.git_ok(&["merge", "--abort"]);
    r.ok(&["git", "setup"]);
    r.git_ok(&["merge", "-q", "--no-edit", "other"]);
    let o = r.ok(&["decrypt", FILE]);
    assert!(out(&o).contains("user: bob") && out(&o).contains("password: hunter3"));
}
