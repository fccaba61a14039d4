//! `leafseal edit` end to end: scripted editors, a real git repository, signals, and a
//! scan of every temp root for leftover plaintext.

#![allow(clippy::unwrap_used)]

mod support;

#[path = "edit/cleanup.rs"]
mod cleanup;
#[path = "edit/refusals.rs"]
mod refusals;
#[path = "edit/writes.rs"]
mod writes;

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::path::PathBuf;
use std::process::Command;
use std::process::Output;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

use support::*;

/// The plaintext of `secrets.yaml`; `secret` is unique per test, so tests running in
/// parallel never see each other's plaintext in the shared `/dev/shm`.
fn plain(secret: &str) -> String {
    format!(
        "app:\n    user: admin\n    password: {secret}\n    port: 5432\nlist:\n    - first\n    - second\n"
    )
}

struct T {
    home: tempfile::TempDir,
    repo: tempfile::TempDir,
    xdg: tempfile::TempDir,
    tmp: tempfile::TempDir,
    bin: tempfile::TempDir,
    log: tempfile::TempDir,
    /// The secret value in `secrets.yaml` (unique per test).
    secret: String,
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn git(dir: &Path, args: &[&str]) -> String {
    git_in(dir, dir, args)
}

impl T {
    fn new() -> T {
        let home = tempfile::tempdir().expect("home");
        let tag: String = home
            .path()
            .file_name()
            .expect("name")
            .to_string_lossy()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let t = T {
            secret: format!("hunter2-{tag}"),
            home,
            repo: tempfile::tempdir().expect("repo"),
            xdg: tempfile::tempdir().expect("xdg"),
            tmp: tempfile::tempdir().expect("tmp"),
            bin: tempfile::tempdir().expect("bin"),
            log: tempfile::tempdir().expect("log"),
        };
        chmod(t.xdg.path(), 0o700);
        git(t.repo.path(), &["init", "-q", "-b", "main"]);
        t
    }

    fn vars(&self) -> HashMap<String, String> {
        let mut v = env_vars(None, self.home.path());
        v.insert(
            "XDG_RUNTIME_DIR".to_owned(),
            self.xdg.path().display().to_string(),
        );
        v.insert("TMPDIR".to_owned(), self.tmp.path().display().to_string());
        v
    }

    /// Writes an editor script; `$1` is a fixed argument (`--flag`), `$2` the file.
    fn editor(&self, name: &str, body: &str) -> String {
        let p = self.bin.path().join(name);
        let log = self.log.path().display();
        std::fs::write(
            &p,
            format!(
                "#!/bin/sh\nset -e\nLOG='{log}'\ntest \"$1\" = --flag\nF=\"$2\"\nprintf '%s' \"$F\" > \"$LOG/path\"\n{body}\n"
            ),
        )
        .expect("script");
        chmod(&p, 0o755);
        format!("{} --flag", p.display())
    }

    fn cmd(&self, vars: &HashMap<String, String>, args: &[&str]) -> Command {
        let mut c = leafseal(vars);
        c.current_dir(self.repo.path())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    fn edit(&self, editor: &str, args: &[&str]) -> Output {
        let mut v = self.vars();
        v.insert("SOPS_EDITOR".to_owned(), editor.to_owned());
        let mut all = vec!["edit"];
        all.extend_from_slice(args);
        self.cmd(&v, &all).output().expect("run")
    }

    /// An encrypted, committed `secrets.yaml`; returns its bytes.
    fn committed(&self) -> Vec<u8> {
        let p = self.repo.path().join("secrets.yaml");
        std::fs::write(&p, plain(&self.secret)).expect("write");
        let o = self
            .cmd(
                &self.vars(),
                &["encrypt", "--age", AGE_RECIPIENT, "-i", "secrets.yaml"],
            )
            .output()
            .expect("encrypt");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        git(self.repo.path(), &["add", "secrets.yaml"]);
        git(self.repo.path(), &["commit", "-q", "-m", "secrets"]);
        std::fs::read(&p).expect("read")
    }

    fn target(&self) -> Vec<u8> {
        std::fs::read(self.repo.path().join("secrets.yaml")).expect("read")
    }

    fn decrypt(&self, name: &str) -> String {
        let o = self
            .cmd(&self.vars(), &["decrypt", name])
            .output()
            .expect("decrypt");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).expect("utf8")
    }

    fn logged(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.log.path().join(name)).ok()
    }

    /// Asserts that no leafseal workspace and no file containing `secret` is left in the
    /// temp roots, the repository (outside .git) or the logged workspace path.
    fn assert_no_plaintext(&self, secret: &str) {
        if let Some(p) = self.logged("path") {
            let p = PathBuf::from(p);
            assert!(!p.exists(), "temp file {} left behind", p.display());
            assert!(!p.parent().expect("dir").exists(), "temp dir left behind");
        }
        for root in [self.xdg.path(), self.tmp.path(), Path::new("/dev/shm")] {
            scan(root, secret, root != Path::new("/dev/shm"));
        }
        scan(self.repo.path(), secret, false);
    }
}

/// Walks `dir` (not following links, skipping .git): fails on a file containing `secret`,
/// and, when `no_workspaces`, on any leafseal workspace directory.
fn scan(dir: &Path, secret: &str, no_workspaces: bool) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name == ".git" {
            continue;
        }
        let Ok(m) = p.symlink_metadata() else {
            continue;
        };
        if no_workspaces {
            assert!(
                !name.starts_with("leafseal-edit-"),
                "workspace {} left",
                p.display()
            );
        }
        if m.is_dir() {
            scan(&p, secret, no_workspaces);
        } else if m.is_file()
            && let Ok(b) = std::fs::read(&p)
        {
            let found = b.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "plaintext found in {}", p.display());
        }
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}
