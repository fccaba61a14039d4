//! The secret lifecycle commands on real files with the real binary: set/unset with
//! minimal git diffs, encrypt over an existing file, rotate, updatekeys over a tree,
//! key groups and Shamir thresholds.

mod support;

#[path = "lifecycle/key_groups.rs"]
mod key_groups;
#[path = "lifecycle/minimal_diffs.rs"]
mod minimal_diffs;
#[path = "lifecycle/rotate_updatekeys.rs"]
mod rotate_updatekeys;

use std::collections::HashMap;
use std::path::Path;
use std::path::PathBuf;
use std::process::Output;

use support::*;

struct Env {
    home: tempfile::TempDir,
    work: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let env = Env {
            home: tempfile::tempdir().expect("home"),
            work: tempfile::tempdir().expect("work"),
        };
        let gnupg = env.home.path().join("gnupg");
        std::fs::create_dir(&gnupg).expect("gnupg");
        std::fs::set_permissions(&gnupg, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .expect("chmod");
        env
    }

    /// Variables with the fixture age key and an empty GnuPG home.
    fn vars(&self) -> HashMap<String, String> {
        let mut v = env_vars(None, self.home.path());
        v.insert(
            "GNUPGHOME".to_owned(),
            self.home.path().join("gnupg").display().to_string(),
        );
        v
    }

    /// Variables where only the given identities are available.
    fn vars_with(&self, ids: &[&Id]) -> HashMap<String, String> {
        let mut v = self.vars();
        v.remove("SOPS_AGE_KEY_FILE");
        let joined: Vec<&str> = ids.iter().map(|i| i.secret.as_str()).collect();
        v.insert("SOPS_AGE_KEY".to_owned(), joined.join("\n"));
        v
    }

    fn run_vars(&self, vars: &HashMap<String, String>, args: &[&str]) -> Output {
        leafseal(vars)
            .current_dir(self.work.path())
            .stdin(std::process::Stdio::null())
            .args(args)
            .output()
            .expect("run leafseal")
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_vars(&self.vars(), args)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.work.path().join(rel)
    }

    fn write(&self, rel: &str, content: &[u8]) {
        let p = self.path(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        std::fs::write(p, content).expect("write");
    }

    fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.path(rel)).expect("read")
    }

    /// Encrypts plaintext `content` to `rel` for the fixture age recipient.
    fn encrypted(&self, rel: &str, content: &str) {
        if let Some(d) = self.path(rel).parent() {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        self.write("plain.tmp", content.as_bytes());
        let ext = Path::new(rel)
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("yaml");
        let o = self.run(&[
            "encrypt",
            "--input-type",
            ext,
            "--age",
            AGE_RECIPIENT,
            "--output",
            rel,
            "plain.tmp",
        ]);
        ok(&o);
        std::fs::remove_file(self.path("plain.tmp")).expect("rm");
    }

    fn git(&self, args: &[&str]) -> String {
        git_in(self.work.path(), self.home.path(), args)
    }

    fn git_init_commit(&self) {
        self.git(&["init", "-q"]);
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", "init"]);
    }

    /// The changed lines of `git diff` (without the file headers).
    fn diff_lines(&self) -> Vec<String> {
        self.git(&["diff", "-U0"])
            .lines()
            .filter(|l| {
                (l.starts_with('+') || l.starts_with('-'))
                    && !l.starts_with("+++")
                    && !l.starts_with("---")
            })
            .map(str::to_owned)
            .collect()
    }
}

fn ok(o: &Output) -> &[u8] {
    assert!(
        o.status.success(),
        "exit {:?}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    &o.stdout
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every changed line is one of the allowed keys (`user:`, `lastmodified:`, …, and the
/// integrity record, which changes with the MAC) and each of `required` appears among them.
fn assert_diff_only(lines: &[String], allowed: &[&str], required: &[&str]) {
    assert!(!lines.is_empty(), "no diff");
    const RECORD: [&str; 3] = [
        "leafseal_integrity:",
        "\"leafseal_integrity\":",
        "sops_leafseal_integrity=",
    ];
    for l in lines {
        let body = l[1..].trim_start().trim_start_matches("- ");
        assert!(
            allowed
                .iter()
                .chain(RECORD.iter())
                .any(|a| body.starts_with(a)),
            "unexpected changed line: {l}\nall: {lines:#?}"
        );
    }
    for r in required {
        assert!(
            lines
                .iter()
                .any(|l| l[1..].trim_start().trim_start_matches("- ").starts_with(r)),
            "{r} did not change: {lines:#?}"
        );
    }
}

const PLAIN: &str = "\
db:
    user: admin
    password: hunter2
port: 5432
ratio: 2.5
tags:
    - a
    - b
";

fn enc_values(text: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(text)
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            l.contains("ENC[")
                && !["mac:", "\"mac\":", "sops_mac="]
                    .iter()
                    .any(|m| t.starts_with(m))
        })
        .map(str::to_owned)
        .collect()
}
