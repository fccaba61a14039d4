//! End-to-end tests of `leafseal exec-env`, `exec-file` and `filestatus` (real binary).

mod support;

#[path = "exec/exec_env.rs"]
mod exec_env;
#[path = "exec/exec_file.rs"]
mod exec_file;

use std::path::Path;
use std::path::PathBuf;
use std::process::Child;
use std::process::Command;
use std::process::Output;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

use support::*;

const PLAIN: &str = "\
DB_PASSWORD: \"p@ss word $HOME 'q'\"
PORT: 5432
RATIO: 2.0
BIG: 1.5e6
DEBUG: true
WHEN: 2024-01-02T03:04:05Z
MULTI: |-
  line one
  line two
note_unencrypted: hello
";

const SECRET: &str = "p@ss word $HOME 'q'";

struct Env {
    home: tempfile::TempDir,
    work: tempfile::TempDir,
    /// The temp root given to leafseal as XDG_RUNTIME_DIR.
    runtime: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let env = Env {
            home: tempfile::tempdir().expect("home"),
            work: tempfile::tempdir().expect("work"),
            runtime: tempfile::tempdir().expect("runtime"),
        };
        env.write("plain.yaml", PLAIN);
        let out = env.run(&["encrypt", "--age", AGE_RECIPIENT, "plain.yaml"]);
        assert!(out.status.success(), "{}", stderr(&out));
        std::fs::write(env.work.path().join("secrets.yaml"), &out.stdout).expect("write");
        env
    }

    fn write(&self, name: &str, content: &str) -> PathBuf {
        let p = self.work.path().join(name);
        std::fs::write(&p, content).expect("write");
        p
    }

    fn cmd(&self, args: &[&str], extra: &[(&str, &str)]) -> Command {
        let mut vars = env_vars(None, self.home.path());
        vars.insert(
            "XDG_RUNTIME_DIR".to_owned(),
            self.runtime.path().display().to_string(),
        );
        vars.insert(
            "TMPDIR".to_owned(),
            self.runtime.path().display().to_string(),
        );
        for (k, v) in extra {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        let mut cmd = leafseal(&vars);
        cmd.current_dir(self.work.path())
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, &[])
    }

    fn run_with(&self, args: &[&str], extra: &[(&str, &str)]) -> Output {
        let child = self
            .cmd(args, extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn leafseal");
        wait_output(child, Duration::from_secs(20))
    }

    /// Entries left in the temp root.
    fn leftovers(&self) -> Vec<String> {
        std::fs::read_dir(self.runtime.path())
            .expect("read runtime dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect()
    }
}

/// Waits for the child with a deadline (a hang fails the test instead of blocking it).
fn wait_output(mut child: Child, limit: Duration) -> Output {
    let start = Instant::now();
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("leafseal did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

fn wait_for(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn kill(pid: u32, sig: &str) {
    let st = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .expect("kill");
    assert!(st.success());
}

#[test]
fn filestatus_matches_sops() {
    let env = Env::new();
    let out = env.run(&["filestatus", "secrets.yaml"]);
    assert_eq!(
        (code(&out), stdout(&out)),
        (0, "{\"encrypted\":true}\n".into())
    );
    let out = env.run(&["filestatus", "plain.yaml"]);
    assert_eq!(
        (code(&out), stdout(&out)),
        (0, "{\"encrypted\":false}\n".into())
    );
    // A real sops file.
    let out = env.run(&[
        "filestatus",
        &sops_fixture("yaml/example.age.v3.7.1.yaml")
            .display()
            .to_string(),
    ]);
    assert_eq!(stdout(&out), "{\"encrypted\":true}\n");
    // Unparsable or missing files are errors (exit 1), no argument is exit 100.
    env.write("bad.yaml", "a: [\n");
    let out = env.run(&["filestatus", "bad.yaml"]);
    assert_eq!((code(&out), stdout(&out)), (1, String::new()));
    assert_eq!(code(&env.run(&["filestatus", "missing.yaml"])), 1);
    assert_eq!(code(&env.run(&["filestatus"])), 100);
}
