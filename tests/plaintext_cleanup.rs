//! Plaintext left behind or a lock held forever (round-20 review): `exec-file --no-fifo`
//! wrote its 0600 plaintext file before it caught any signal, so a signal meanwhile left
//! the file; `edit` opened what the editor left at the workspace file's name as it was,
//! so a FIFO there blocked it forever (holding the lock, ignoring TERM/INT/QUIT/HUP).

mod support;

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

use support::*;

/// What is left in a temporary root: the names of its entries.
fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

fn vars_with_roots(home: &Path, runtime: &Path) -> HashMap<String, String> {
    let mut v = env_vars(None, home);
    for k in ["XDG_RUNTIME_DIR", "TMPDIR"] {
        v.insert(k.to_owned(), runtime.display().to_string());
    }
    v
}

/// Waits for `cmd` at most `limit`; kills it and fails if it runs longer.
fn output_within(mut cmd: Command, limit: Duration, what: &str) -> std::process::Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    while matches!(child.try_wait(), Ok(None)) {
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("wait")
}

#[test]
fn exec_file_signalled_while_writing_its_plaintext_file_leaves_none() {
    // Deterministic: with a file size limit below the plaintext's size, the kernel sends
    // SIGXFSZ (whose default action ends the process) in the middle of writing the
    // plaintext file. Not caught, it killed leafseal there and left the part written.
    let home = tempfile::tempdir().expect("home");
    let work = tempfile::tempdir().expect("work");
    let runtime = tempfile::tempdir().expect("runtime");
    let vars = vars_with_roots(home.path(), runtime.path());
    std::fs::write(work.path().join("plain.txt"), "s3cr3t ".repeat(40_000)).expect("write");
    let o = run_in(
        &vars,
        work.path(),
        &["encrypt", "--age", AGE_RECIPIENT, "plain.txt"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::write(work.path().join("secret.txt"), &o.stdout).expect("write");
    let marker = work.path().join("ran");
    let mut cmd = Command::new("/bin/sh");
    cmd.env_clear()
        .envs(&vars)
        .current_dir(work.path())
        // 64 KiB: the plaintext (280 KB) cannot be written whole.
        .args(["-c", r#"ulimit -c 0; ulimit -f 64; exec "$0" "$@""#])
        .arg(env!("CARGO_BIN_EXE_leafseal"))
        .args(["exec-file", "--no-fifo", "secret.txt"])
        .arg(format!("/usr/bin/cp {{}} {}", marker.display()));
    let o = output_within(cmd, Duration::from_secs(120), "exec-file");
    assert!(
        !o.status.success(),
        "exec-file succeeded despite the size limit"
    );
    assert!(
        !marker.exists(),
        "the command ran without its whole plaintext"
    );
    let left = entries(runtime.path());
    assert!(
        left.is_empty(),
        "left in the temporary root: {left:?} (exit {:?}, signal {:?}): {}",
        o.status.code(),
        std::os::unix::process::ExitStatusExt::signal(&o.status),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `edit` of an encrypted `secrets.yaml` with an editor running `body` (`$1`: the file).
fn edit_with(
    body: &str,
) -> (
    tempfile::TempDir,
    tempfile::TempDir,
    std::process::Output,
    Vec<u8>,
) {
    let home = tempfile::tempdir().expect("home");
    let work = tempfile::tempdir().expect("work");
    let runtime = tempfile::tempdir().expect("runtime");
    std::fs::set_permissions(runtime.path(), std::fs::Permissions::from_mode(0o700))
        .expect("chmod");
    let mut vars = vars_with_roots(home.path(), runtime.path());
    std::fs::write(work.path().join("secrets.yaml"), "pw: s3cr3t\n").expect("write");
    let o = run_in(
        &vars,
        work.path(),
        &["encrypt", "-i", "--age", AGE_RECIPIENT, "secrets.yaml"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let before = std::fs::read(work.path().join("secrets.yaml")).expect("read");
    let editor = home.path().join("editor.sh");
    std::fs::write(
        &editor,
        format!("#!/bin/sh\nPATH=/usr/bin:/bin\nset -e\n{body}\n"),
    )
    .expect("editor");
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    vars.insert("SOPS_EDITOR".to_owned(), editor.display().to_string());
    let mut cmd = leafseal(&vars);
    cmd.current_dir(work.path()).args(["edit", "secrets.yaml"]);
    let o = output_within(
        cmd,
        Duration::from_secs(60),
        "edit (blocked on the editor's file)",
    );
    let after = std::fs::read(work.path().join("secrets.yaml")).expect("read");
    assert_eq!(after, before, "the encrypted file changed");
    let _ = home;
    (work, runtime, o, after)
}

#[test]
fn edit_refuses_a_fifo_left_by_the_editor_instead_of_hanging() {
    let (_work, runtime, o, _) = edit_with(r#"rm -f "$1"; mkfifo "$1""#);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("other than a regular file"), "{err}");
    assert!(entries(runtime.path()).is_empty(), "workspace left");
}

#[test]
fn edit_does_not_follow_a_link_left_by_the_editor() {
    // A link to /dev/zero was read without end; a link to any file is not followed.
    let (_work, runtime, o, _) = edit_with(r#"rm -f "$1"; ln -s /dev/zero "$1""#);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cannot read the edited temporary file back"),
        "{err}"
    );
    assert!(entries(runtime.path()).is_empty(), "workspace left");
}
