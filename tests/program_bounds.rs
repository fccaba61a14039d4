//! Programs leafseal starts and reads from, replaced by fakes on PATH that misbehave:
//! a `git` that prints without end, one that exits leaving a program behind that holds
//! its output open, one whose complaint carries terminal escapes. Each run must end
//! quickly with a clear error and bounded memory (round 22, "bounded output of every
//! program leafseal runs"). The credential helpers' time limits are tested beside them
//! (`keys::awskms::creds`, `keys::hcvault::auth`), the shared capture in
//! `process::capture`.

mod support;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

/// A directory holding a fake `git` whose `ls-files` runs `ls_files` (shell); its
/// `rev-parse --show-toplevel` prints the current directory, as in a repository's root.
fn fake_git(ls_files: &str) -> tempfile::TempDir {
    let bin = tempfile::tempdir().expect("bin");
    let git = bin.path().join("git");
    std::fs::write(
        &git,
        format!("#!/bin/sh\ncase \"$1\" in\n  rev-parse) pwd ;;\n  ls-files) {ls_files} ;;\n  *) exit 1 ;;\nesac\n"),
    )
    .expect("write");
    std::fs::set_permissions(&git, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    bin
}

/// What a run printed and how it ended.
struct Run {
    status: ExitStatus,
    stderr: String,
    took: Duration,
}

/// Runs `leafseal check` in `dir` with `bin` first on PATH, under an address-space limit
/// of 1 GiB (an unbounded read then aborts instead of taking the machine's memory); kills
/// it after `limit` (the test then fails: leafseal was kept waiting). Its output goes to
/// files, so a program left behind holding a pipe cannot keep the test waiting either.
fn check_with(bin: &Path, dir: &Path, limit: Duration) -> Run {
    let home = tempfile::tempdir().expect("home");
    let mut vars = support::env_vars(None, home.path());
    let path = format!("{}:{}", bin.display(), vars["PATH"]);
    vars.insert("PATH".to_owned(), path);
    let err_file = dir.join("..").join(format!(
        "stderr-{}",
        dir.file_name().expect("name").to_string_lossy()
    ));
    std::fs::write(
        dir.join(".sops.yaml"),
        format!(
            "creation_rules:\n- path_regex: \\.enc\\.yaml$\n  age: {}\n",
            support::AGE_RECIPIENT
        ),
    )
    .expect("policy");
    let started = Instant::now();
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 1048576; exec \"$LEAFSEAL\" check")
        .env_clear()
        .envs(&vars)
        .env("LEAFSEAL", env!("CARGO_BIN_EXE_leafseal"))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_file).expect("stderr file"))
        .spawn()
        .expect("sh");
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`leafseal check` still ran after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(&err_file).expect("stderr");
    let _ = std::fs::remove_file(&err_file);
    Run {
        status,
        stderr,
        took: started.elapsed(),
    }
}

#[test]
fn git_printing_without_end_is_stopped_at_the_bound() {
    // Before round 22 the list of tracked files was read whole: under the 1 GiB limit
    // the run aborted when the allocation failed (without it, the machine's memory).
    let bin = fake_git("exec yes");
    let dir = tempfile::tempdir().expect("dir");
    let run = check_with(bin.path(), dir.path(), Duration::from_secs(60));
    assert_eq!(
        run.status.signal(),
        None,
        "killed by a signal: {}",
        run.stderr
    );
    assert_ne!(run.status.code(), Some(0), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("`git` printed more than 268435456 bytes and was stopped"),
        "{}",
        run.stderr
    );
}

#[test]
fn git_leaving_a_program_behind_does_not_keep_check_waiting() {
    // `git` exits at once; the `sleep` it started holds its output open for a minute.
    // Before round 22 `check` waited for the end of that output: the whole minute.
    let bin = fake_git("sleep 60 & exit 0");
    let dir = tempfile::tempdir().expect("dir");
    let run = check_with(bin.path(), dir.path(), Duration::from_secs(30));
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
    assert!(run.took < Duration::from_secs(20), "took {:?}", run.took);
}

#[test]
fn what_git_says_is_shown_without_terminal_escapes() {
    let bin = fake_git("printf '\\033]0;owned\\007fatal: \\033[31mbroken index\\n' >&2; exit 128");
    let dir = tempfile::tempdir().expect("dir");
    let run = check_with(bin.path(), dir.path(), Duration::from_secs(30));
    assert_ne!(run.status.code(), Some(0), "{}", run.stderr);
    assert!(run.stderr.contains("broken index"), "{}", run.stderr);
    assert!(
        !run.stderr.contains('\u{1b}') && !run.stderr.contains('\u{7}'),
        "{:?}",
        run.stderr
    );
}
