//! `check`'s git child: endless output, a program left behind, terminal escapes in what it says.

use super::*;

#[test]
fn git_printing_without_end_is_stopped_at_the_bound() {
    // Before round 22 the list of tracked files was read whole: under the 1 GiB limit
    // the run aborted when the allocation failed (without it, the machine's memory).
    // The `sleep` it starts first must go with it (before round 23 only `git` itself
    // was killed and the `sleep` lived on for its ten minutes).
    let bin = fake_git(
        "sh -c 'echo $$ > \"$(dirname \"$0\")/left.pid\"; exec sleep 600' \"$0\" & exec yes",
    );
    let dir = tempfile::tempdir().expect("dir");
    let run = check_with(bin.path(), dir.path(), Duration::from_secs(60));
    let pid = std::fs::read_to_string(bin.path().join("left.pid")).expect("the sleep's pid");
    assert!(
        ends_soon(pid.trim()),
        "the program git started still runs: {}",
        pid.trim()
    );
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
