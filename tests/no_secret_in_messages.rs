//! Round 22 sweep: no plaintext value, comment or key material in any message.
//!
//! Every secret this file plants contains the marker [`MARK`] (values, comments, list
//! items, multi-line scalars, `set` values and `--value-file` contents, template text,
//! an age identity file, `SOPS_AGE_KEY`, an SSH private key, a key command's output,
//! cloud credentials). Each command is driven into a failure path, and neither its
//! stdout nor its stderr may contain the marker; a failing run prints nothing on stdout (reports: `doctor`, `textconv`, excepted).
//! The key-service cases also check that the data key a service was sent (read from
//! the request the loopback server recorded) is not echoed back to the terminal.

#[path = "support/loopback.rs"]
mod loopback;
mod support;

#[path = "no_secret_in_messages/echoing_services.rs"]
mod echoing_services;
#[path = "no_secret_in_messages/local_failures.rs"]
mod local_failures;

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::Output;
use std::process::Stdio;

use loopback::Server;
use support::AGE_RECIPIENT;
use support::env_vars;
use support::leafseal;

/// Part of every planted secret (compared case-insensitively).
const MARK: &str = "c4naryv4lue9x";

/// A plaintext YAML file with a marked value of every kind, and marked comments.
const PLAIN_YAML: &str = "\
# top comment C4NARYv4lue9X-comment-top
db:
  password: C4NARYv4lue9X-value-db # trailing C4NARYv4lue9X-comment-trail
  nested:
    deep: C4NARYv4lue9X-value-deep
list:
  - C4NARYv4lue9X-value-item
  - 42
multi: |
  C4NARYv4lue9X-value-multi
  second line
flag: true
";

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Fails when `out` shows the marker on stdout or stderr (reports such as `doctor` and
/// `textconv` print on stdout whether or not they succeed).
fn assert_no_mark(what: &str, out: &Output) {
    let err = stderr(out);
    let std_out = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        !err.to_ascii_lowercase().contains(MARK),
        "{what}: a secret is in stderr:\n{err}"
    );
    assert!(
        !std_out.to_ascii_lowercase().contains(MARK),
        "{what}: a secret is in stdout:\n{std_out}"
    );
}

/// Runs leafseal in `dir` with `vars`, feeding `stdin`.
fn run_with(vars: &HashMap<String, String>, dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = leafseal(vars)
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn leafseal");
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin);
    }
    child.wait_with_output().expect("wait for leafseal")
}

/// Runs leafseal, expects a failure and no secret in its output.
fn fails_clean(vars: &HashMap<String, String>, dir: &Path, args: &[&str]) -> Output {
    fails_clean_with(vars, dir, args, b"")
}

fn fails_clean_with(
    vars: &HashMap<String, String>,
    dir: &Path,
    args: &[&str],
    stdin: &[u8],
) -> Output {
    let out = run_with(vars, dir, args, stdin);
    let what = args.join(" ");
    assert!(
        !out.status.success(),
        "{what}: expected a failure, got success:\n{}",
        stderr(&out)
    );
    assert_no_mark(&what, &out);
    assert!(
        out.stdout.is_empty(),
        "{what}: failed ({}) yet printed on stdout:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

fn write(dir: &Path, name: &str, content: &[u8]) {
    std::fs::write(dir.join(name), content).expect("write fixture");
}

/// Encrypts `plain` (named `name`) to the age test recipient; returns the file name.
fn encrypted(vars: &HashMap<String, String>, dir: &Path, name: &str, plain: &[u8]) -> String {
    let enc = format!("enc-{name}");
    write(dir, &enc, plain);
    let out = run_with(
        vars,
        dir,
        &["encrypt", "-i", "--age", AGE_RECIPIENT, &enc],
        b"",
    );
    assert!(out.status.success(), "encrypt {name}: {}", stderr(&out));
    enc
}

/// Writes an executable shell script `name` running `body`; returns its path.
fn script(dir: &Path, name: &str, body: &[u8]) -> String {
    let path = dir.join(name);
    let mut text = b"#!/bin/sh\n".to_vec();
    text.extend_from_slice(body);
    text.push(b'\n');
    std::fs::write(&path, text).expect("write script");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .expect("chmod script");
    path.display().to_string()
}

struct Scene {
    _home: tempfile::TempDir,
    dir: tempfile::TempDir,
    vars: HashMap<String, String>,
}

fn scene() -> Scene {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let vars = env_vars(None, home.path());
    Scene {
        _home: home,
        dir,
        vars,
    }
}
