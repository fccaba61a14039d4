//! Guards against breaking files, leaking key material and trusting configuration too
//! much, through the real binary: reserved keys in `set`/`unset`, redaction of key
//! material, the `--ignore-mac` warning, the exec-env variable deny-list, the plain-http
//! rule, the notice for a policy outside the git work tree, the key services listed by
//! `check`, and the bound on concurrent gpg processes.

mod support;

#[path = "guards/exec_env.rs"]
mod exec_env;
#[path = "guards/key_services.rs"]
mod key_services;
#[path = "guards/metadata_keys.rs"]
mod metadata_keys;
#[path = "guards/policy_trust.rs"]
mod policy_trust;
#[path = "guards/redaction.rs"]
mod redaction;

use std::collections::HashMap;
use std::path::Path;
use std::process::Output;

use support::*;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

struct Env {
    home: tempfile::TempDir,
    work: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            home: tempfile::tempdir().expect("home"),
            work: tempfile::tempdir().expect("work"),
        }
    }

    fn vars(&self) -> HashMap<String, String> {
        let mut v = env_vars(None, self.home.path());
        v.insert("TMPDIR".into(), self.home.path().display().to_string());
        v
    }

    fn dir(&self) -> &Path {
        self.work.path()
    }

    fn write(&self, name: &str, content: &str) {
        std::fs::write(self.dir().join(name), content).expect("write");
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir().join(name)).expect("read")
    }

    fn run(&self, args: &[&str]) -> Output {
        run_in(&self.vars(), self.dir(), args)
    }

    fn run_with(&self, args: &[&str], extra: &[(&str, &str)]) -> Output {
        let mut vars = self.vars();
        for (k, v) in extra {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        run_in(&vars, self.dir(), args)
    }

    /// Encrypts `plain` (named `name`) for the age test recipient into `enc`.
    fn encrypt(&self, name: &str, plain: &str, enc: &str) {
        self.write(name, plain);
        let out = self.run(&["encrypt", "--age", AGE_RECIPIENT, "--output", enc, name]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
}
