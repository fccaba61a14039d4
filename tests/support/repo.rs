//! A real git repository in a temporary directory, with a hermetic environment (test
//! keys, fixed author), for the `access`/`history` tests. Included with
//! `#[path = "support/repo.rs"] mod repo;` next to `mod support;`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::path::PathBuf;
use std::process::Output;

use crate::support;

pub struct Repo {
    pub home: tempfile::TempDir,
    pub dir: tempfile::TempDir,
    pub gpg: support::GpgHome,
    pub vars: HashMap<String, String>,
    pub commits: Vec<String>,
}

impl Repo {
    pub fn new() -> Repo {
        let home = tempfile::tempdir().expect("home");
        let dir = tempfile::tempdir().expect("repo");
        let gpg = support::GpgHome::new();
        let mut vars = support::env_vars(Some(&gpg), home.path());
        for (k, v) in [
            ("GIT_CONFIG_NOSYSTEM", "1"),
            ("GIT_AUTHOR_NAME", "Ada"),
            ("GIT_AUTHOR_EMAIL", "ada@example.invalid"),
            ("GIT_COMMITTER_NAME", "Ada"),
            ("GIT_COMMITTER_EMAIL", "ada@example.invalid"),
        ] {
            vars.insert(k.to_owned(), v.to_owned());
        }
        let r = Repo {
            home,
            dir,
            gpg,
            vars,
            commits: Vec::new(),
        };
        r.git(&["init", "-q", "-b", "main"]);
        r
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, rel: &str) -> PathBuf {
        self.path().join(rel)
    }

    pub fn git(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("git")
            .env_clear()
            .envs(&self.vars)
            .current_dir(self.path())
            .args(args)
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    /// Commits everything; returns and remembers the short hash.
    pub fn commit(&mut self, msg: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", msg]);
        let h = self
            .git(&["rev-parse", "--short", "HEAD"])
            .trim()
            .to_owned();
        self.commits.push(h.clone());
        h
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.file(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.file(rel)).expect("read")
    }

    /// Runs leafseal in the repository.
    pub fn run(&self, args: &[&str]) -> Output {
        support::run_in(&self.vars, self.path(), args)
    }

    /// Runs leafseal and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "leafseal {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    /// Writes plaintext `rel` and encrypts it in place under the policy.
    pub fn encrypt(&self, rel: &str, text: &str) {
        self.write(rel, text);
        self.ok(&["encrypt", "-i", rel]);
    }
}
