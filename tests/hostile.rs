//! Hostile input through the CLI (issue #10, point 2): deep nesting planted in an
//! encrypted file, alias bombs, environment variables that are not UTF-8, and the
//! inputs that used to be changed silently (invalid UTF-8 in JSON, numbers beyond 64
//! bits, duplicate INI keys, byte-order marks, deep TOML). Every case must end with a
//! clean exit code and a message naming the place: never a panic (134) or a stack
//! overflow (SIGSEGV/SIGABRT), never unbounded memory, never a workspace left behind.

mod support;

#[path = "hostile/bombs.rs"]
mod bombs;
#[path = "hostile/inputs.rs"]
mod inputs;
#[path = "hostile/nesting.rs"]
mod nesting;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Output;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

use support::AGE_RECIPIENT;
use support::env_vars;
use support::leafseal;
use support::run_in;

/// Nesting far beyond the limit: overflowed the stack before the limit existed.
const HUGE: usize = 45_000;

struct T {
    home: tempfile::TempDir,
    dir: tempfile::TempDir,
    xdg: tempfile::TempDir,
}

impl T {
    fn new() -> T {
        let t = T {
            home: tempfile::tempdir().expect("home"),
            dir: tempfile::tempdir().expect("dir"),
            xdg: tempfile::tempdir().expect("xdg"),
        };
        std::fs::set_permissions(t.xdg.path(), std::fs::Permissions::from_mode(0o700))
            .expect("chmod");
        t
    }

    fn vars(&self) -> HashMap<String, String> {
        let mut v = env_vars(None, self.home.path());
        v.insert(
            "XDG_RUNTIME_DIR".to_owned(),
            self.xdg.path().display().to_string(),
        );
        v.insert("TMPDIR".to_owned(), self.xdg.path().display().to_string());
        v
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.path(name), bytes).expect("write");
    }

    fn run(&self, args: &[&str]) -> Output {
        run_in(&self.vars(), self.dir.path(), args)
    }

    /// An encrypted YAML file (`user`, `password`) written as `name`; returns its bytes.
    fn encrypted_yaml(&self, name: &str) -> Vec<u8> {
        self.write("plain.yaml", b"user: alice\npassword: s3cret\n");
        let o = self.run(&["encrypt", "--age", AGE_RECIPIENT, "plain.yaml"]);
        assert_ok(&o);
        self.write(name, &o.stdout);
        o.stdout
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_ok(o: &Output) {
    assert!(o.status.success(), "{:?}: {}", o.status, stderr(o));
}

/// A clean refusal: the exit code, no signal, no panic message.
fn assert_refused(o: &Output, code: i32, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.signal(), None, "killed by a signal: {err}");
    assert_eq!(o.status.code(), Some(code), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!err.contains("overflow"), "{err}");
    for n in needles {
        assert!(err.contains(n), "missing {n:?} in: {err}");
    }
}

/// `deep:` followed by `levels` nested compact sequences ending in `leaf`, in front of
/// `rest` (an encrypted file: `null` adds nothing to the MAC, so the MAC still matches).
fn planted(levels: usize, leaf: &str, rest: &[u8]) -> Vec<u8> {
    let mut v = b"deep:\n".to_vec();
    v.extend_from_slice("- ".repeat(levels).as_bytes());
    v.extend_from_slice(leaf.as_bytes());
    v.push(b'\n');
    v.extend_from_slice(rest);
    v
}

/// A damaged encrypted file (unreadable before any key is used) exits 1, as with sops; a
/// plaintext given to `encrypt` exits 2.
const DAMAGED: i32 = 1;

/// The nesting-depth error of the YAML readers (the 256th level is the 255th `- `).
const DEEP_YAML: &[&str] = &[
    "nesting too deep (more than 256 levels",
    "(line 2, column 511)",
];

/// Runs leafseal in `t`'s directory with at most `bytes` of address space (when prlimit
/// is installed).
fn run_limited(t: &T, bytes: u64, args: &[&str]) -> Output {
    let Some(prlimit) = which_prlimit() else {
        return t.run(args);
    };
    let mut c = std::process::Command::new(prlimit);
    c.env_clear()
        .envs(t.vars())
        .current_dir(t.dir.path())
        .arg(format!("--as={bytes}"))
        .arg(env!("CARGO_BIN_EXE_leafseal"))
        .args(args)
        .stdin(Stdio::null());
    c.output().expect("prlimit")
}

fn which_prlimit() -> Option<&'static Path> {
    ["/usr/bin/prlimit", "/bin/prlimit"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())
}
