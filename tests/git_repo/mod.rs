//! A temporary git repository with a hermetic environment (empty HOME, no system config,
//! fixed identity) whose git calls the leafseal binary under test: shared by the git
//! driver tests.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::process::Output;

use crate::support::*;

pub struct Repo {
    _home: tempfile::TempDir,
    dir: tempfile::TempDir,
    pub vars: HashMap<String, String>,
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn both(o: &Output) -> String {
    format!("{}{}", text(&o.stdout), text(&o.stderr))
}

#[allow(dead_code)] // Each test binary uses part of it.
impl Repo {
    pub fn new() -> Repo {
        let home = tempfile::tempdir().expect("home");
        let dir = tempfile::tempdir().expect("repo");
        let mut vars = env_vars(None, home.path());
        for (k, v) in [
            ("GIT_CONFIG_NOSYSTEM", "1"),
            ("GIT_AUTHOR_NAME", "Test"),
            ("GIT_AUTHOR_EMAIL", "test@example.invalid"),
            ("GIT_COMMITTER_NAME", "Test"),
            ("GIT_COMMITTER_EMAIL", "test@example.invalid"),
            ("GIT_PAGER", "cat"),
            ("LC_ALL", "C"),
        ] {
            vars.insert(k.to_owned(), v.to_owned());
        }
        vars.insert(
            "XDG_CONFIG_HOME".to_owned(),
            home.path().join(".config").display().to_string(),
        );
        let r = Repo {
            _home: home,
            dir,
            vars,
        };
        r.git_ok(&["init", "-q", "-b", "main"]);
        r.write(
            ".sops.yaml",
            &format!(
                "creation_rules:\n  - path_regex: \\.enc\\.(yaml|json|env)$\n    age: {AGE_RECIPIENT}\n"
            ),
        );
        r
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn git(&self, args: &[&str]) -> Output {
        Command::new("git")
            .env_clear()
            .envs(&self.vars)
            .current_dir(self.path())
            .args(args)
            .output()
            .expect("run git")
    }

    pub fn git_ok(&self, args: &[&str]) -> String {
        let o = self.git(args);
        assert!(o.status.success(), "git {args:?} failed: {}", both(&o));
        text(&o.stdout)
    }

    pub fn leafseal(&self, args: &[&str]) -> Output {
        leafseal(&self.vars)
            .current_dir(self.path())
            .args(args)
            .output()
            .expect("run leafseal")
    }

    pub fn leafseal_ok(&self, args: &[&str]) -> String {
        let o = self.leafseal(args);
        assert!(o.status.success(), "leafseal {args:?} failed: {}", both(&o));
        text(&o.stdout)
    }

    pub fn write(&self, name: &str, content: &str) {
        std::fs::write(self.path().join(name), content).expect("write");
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path().join(name)).expect("read")
    }

    pub fn commit(&self, msg: &str) {
        self.git_ok(&["add", "-A"]);
        self.git_ok(&["commit", "-q", "-m", msg]);
    }

    /// Adds an encrypted file from plaintext (through the policy) and commits it.
    pub fn add_encrypted(&self, name: &str, plain: &str) {
        self.write(name, plain);
        self.leafseal_ok(&["encrypt", "-i", name]);
        assert!(self.read(name).contains("ENC[AES256_GCM"));
        self.commit(&format!("add {name}"));
    }

    /// Edits an encrypted file: decrypt → replace → encrypt.
    /// Edits an encrypted file as a user does, through `leafseal edit`, which keeps the
    /// data key (the editor copies in the changed text, kept outside the work tree).
    pub fn edit(&self, name: &str, from: &str, to: &str) {
        let plain = self.leafseal_ok(&["decrypt", name]);
        assert!(plain.contains(from), "{name} does not contain {from}");
        let changed = self._home.path().join("changed-plaintext");
        std::fs::write(&changed, plain.replace(from, to)).expect("write");
        let o = leafseal(&self.vars)
            .env("EDITOR", format!("cp {}", changed.display()))
            .current_dir(self.path())
            .args(["edit", name])
            .output()
            .expect("run leafseal edit");
        std::fs::remove_file(&changed).expect("remove");
        assert!(o.status.success(), "edit {name}: {}", both(&o));
        assert!(self.leafseal_ok(&["decrypt", name]).contains(to));
    }

    pub fn line_of(file: &str, key: &str) -> String {
        file.lines()
            .find(|l| l.trim_start().starts_with(key))
            .unwrap_or_else(|| panic!("no line {key}"))
            .to_owned()
    }

    /// Every file of the work tree (outside .git), as text.
    pub fn worktree_text(&self) -> String {
        fn walk(dir: &Path, out: &mut String) {
            for e in std::fs::read_dir(dir).expect("read_dir") {
                let p = e.expect("entry").path();
                if p.file_name().is_some_and(|n| n == ".git") {
                    continue;
                }
                if p.is_dir() {
                    walk(&p, out);
                } else {
                    out.push_str(&String::from_utf8_lossy(&std::fs::read(&p).expect("read")));
                }
            }
        }
        let mut s = String::new();
        walk(self.path(), &mut s);
        s
    }

    pub fn setup(&self) -> String {
        self.leafseal_ok(&["git", "setup"])
    }
}
