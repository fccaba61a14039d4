//! `leafseal check`: a fixture repository (real git) with every kind of finding, a clean
//! repository, `--staged` reading git's index, the shipped pre-commit hook's entry command,
//! and a real `.git/hooks/pre-commit` that blocks a plaintext secret.

mod support;

#[path = "check/findings.rs"]
mod findings;
#[path = "check/git_config.rs"]
mod git_config;
#[path = "check/hooks.rs"]
mod hooks;

use std::collections::BTreeSet;
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::process::Output;

use leafseal::format::Store;
use leafseal::format::yaml::YamlStore;
use leafseal::tree::SeqItem;
use leafseal::tree::Value;

/// A second age recipient (from the sops fixtures; no identity needed to encrypt to it).
const AGE_OTHER: &str = "age1tmaae3ld5vpevmsh5yacsauzx8jetg300mpvc4ugp5zr5l6ssq9sla97ep";

/// Secret values used in the fixtures; they must never appear in any output.
const SECRETS: [&str; 4] = ["hunter2", "hunter3", "s3cr3t-token", "dbpass-9"];

struct Repo {
    _home: tempfile::TempDir,
    dir: tempfile::TempDir,
    scratch: tempfile::TempDir,
    vars: HashMap<String, String>,
}

impl Repo {
    fn new() -> Repo {
        let home = tempfile::tempdir().expect("home");
        let dir = tempfile::tempdir().expect("repo");
        let scratch = tempfile::tempdir().expect("scratch");
        let vars = support::git_env_vars(home.path());
        let r = Repo {
            _home: home,
            dir,
            scratch,
            vars,
        };
        r.git(&["init", "-q", "-b", "main"]);
        r
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn git(&self, args: &[&str]) -> Output {
        Command::new("git")
            .env_clear()
            .envs(&self.vars)
            .current_dir(self.path())
            .args(args)
            .output()
            .expect("run git")
    }

    fn git_ok(&self, args: &[&str]) {
        let out = self.git(args);
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }

    /// Encrypts `text` as file `name` in a scratch directory (no policy there) with the
    /// given flags and returns the encrypted text.
    fn encrypt(&self, name: &str, text: &str, flags: &[&str]) -> String {
        let p = self.scratch.path().join(name);
        std::fs::write(&p, text).expect("write plain");
        let out = support::leafseal(&self.vars)
            .current_dir(self.scratch.path())
            .arg("encrypt")
            .args(flags)
            .arg(name)
            .output()
            .expect("run encrypt");
        assert!(
            out.status.success(),
            "encrypt {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    fn check(&self, args: &[&str]) -> (i32, String, String) {
        let out = support::leafseal(&self.vars)
            .current_dir(self.path())
            .arg("check")
            .args(args)
            .output()
            .expect("run check");
        let stdout = String::from_utf8(out.stdout).expect("utf-8");
        let stderr = String::from_utf8(out.stderr).expect("utf-8");
        for s in SECRETS {
            assert!(!stdout.contains(s) && !stderr.contains(s), "{s} leaked");
        }
        (out.status.code().expect("exit code"), stdout, stderr)
    }
}

fn policy() -> String {
    format!(
        "creation_rules:\n  - path_regex: ^k8s/\n    encrypted_regex: ^(data|stringData)$\n    age: {r}\n  - path_regex: ^secrets/\n    age: {r}\n",
        r = support::AGE_RECIPIENT
    )
}

const K8S_SECRET: &str =
    "apiVersion: v1\nkind: Secret\nmetadata:\n    name: db\ndata:\n    password: dbpass-9\n";

/// (path, kind, severity) of every finding in a JSON report.
fn kinds(json: &str) -> BTreeSet<(String, String, String)> {
    let v: serde_json::Value = serde_json::from_str(json).expect("json output");
    v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            assert!(f["message"].as_str().is_some_and(|m| !m.is_empty()));
            assert!(f["hint"].as_str().is_some_and(|h| !h.is_empty()));
            (
                f["path"].as_str().expect("path").to_owned(),
                f["kind"].as_str().expect("kind").to_owned(),
                f["severity"].as_str().expect("severity").to_owned(),
            )
        })
        .collect()
}

fn set(items: &[(&str, &str, &str)]) -> BTreeSet<(String, String, String)> {
    items
        .iter()
        .map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned()))
        .collect()
}

/// A clean repository: a correctly encrypted secret, a k8s secret under the regex rule,
/// and files no rule matches.
fn clean_repo() -> Repo {
    let r = Repo::new();
    r.write(".sops.yaml", &policy());
    let enc = r.encrypt(
        "app.yaml",
        "password: hunter2\nport_unencrypted: 5432\n",
        &["--age", support::AGE_RECIPIENT],
    );
    r.write("secrets/app.yaml", &enc);
    let enc = r.encrypt(
        "secret.yaml",
        K8S_SECRET,
        &[
            "--age",
            support::AGE_RECIPIENT,
            "--encrypted-regex",
            "^(data|stringData)$",
        ],
    );
    r.write("k8s/secret.yaml", &enc);
    r.write("README.md", "# demo\n");
    r.write("config/app.yaml", "replicas: 3\n");
    r.git_ok(&["add", "-A"]);
    r
}
