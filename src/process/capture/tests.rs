//! The bounded capture against real programs: endless output, silence, left-behind
//! children, process groups, and the key services' deadline.
#![allow(clippy::unwrap_used)]

use std::process::Stdio;
use std::sync::mpsc;

use super::*;

fn sh(script: &str) -> Child {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs `capture_within` on another thread and gives up after `limit`, so that a
/// capture that hangs fails the test instead of the whole run.
fn within(script: &'static str, timeout: Option<Duration>, limit: Duration) -> Captured {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut c = sh(script);
        let got = capture_within(&mut c, b"", 4096, timeout).unwrap();
        let _ = tx.send(got);
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("`{script}` kept the capture waiting over {limit:?}"))
}

#[test]
fn output_within_the_bound_is_kept_whole() {
    let mut c = sh("cat; printf oops >&2");
    let got = capture(&mut c, b"0123456789", 10).unwrap();
    assert!(got.status.success());
    assert!(!got.too_long);
    assert!(!got.timed_out);
    assert_eq!(&got.stdout[..], b"0123456789");
    assert_eq!(got.stderr, b"oops");
}

#[test]
fn input_larger_than_a_pipe_is_written_whole() {
    let input: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut c = sh("cat");
    let got = capture(&mut c, &input, input.len()).unwrap();
    assert!(got.status.success());
    assert!(!got.too_long);
    assert_eq!(&got.stdout[..], &input[..]);
}

#[test]
fn endless_output_stops_the_program_audit_pgp_decompression_bomb() {
    // `yes` never ends on its own: only the bound stops it.
    let mut c = sh("exec yes");
    let got = capture(&mut c, b"", 4096).unwrap();
    assert!(got.too_long);
    assert!(!got.status.success());
    assert_eq!(got.stdout.len(), 4096);
}

#[test]
fn endless_standard_error_is_drained_not_kept() {
    let mut c = sh("head -c 1000000 /dev/zero >&2; printf ok");
    let got = capture(&mut c, b"", 16).unwrap();
    assert_eq!(&got.stdout[..], b"ok");
    assert_eq!(got.stderr.len(), STDERR_MAX);
}

#[test]
fn a_program_that_never_ends_is_stopped_at_the_time_limit() {
    let started = Instant::now();
    let got = within(
        "printf partial; exec sleep 60",
        Some(Duration::from_millis(300)),
        Duration::from_secs(20),
    );
    assert!(got.timed_out);
    assert!(!got.status.success());
    assert_eq!(&got.stdout[..], b"partial");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_left_behind_program_holding_the_pipes_does_not_keep_the_capture_waiting() {
    // The program exits at once; the `sleep` it started keeps standard output and
    // standard error open for a minute. Before round 22 the capture read until the
    // end of the pipe, that is for that minute (for ever with `sleep infinity`).
    let started = Instant::now();
    let got = within("sleep 60 & printf token", None, Duration::from_secs(15));
    assert!(got.status.success());
    assert!(!got.timed_out);
    assert_eq!(&got.stdout[..], b"token");
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// Runs `script` in a process group of its own through `capture_within`; the script
/// is given a path in `dir` to create as `$1`.
fn in_own_group(script: &str, dir: &std::path::Path, timeout: Option<Duration>) -> Captured {
    let mut c = crate::process::command_in_own_group("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .arg(dir.join("marker"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    capture_within(&mut c, b"", 4096, timeout).unwrap()
}

/// Whether the marker of [`in_own_group`] appears within `wait`.
fn marker_appears(dir: &std::path::Path, wait: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < wait {
        if dir.join("marker").exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn a_program_stopped_at_the_time_limit_takes_what_it_started_with_it() {
    // The subshell would create the marker after a second; the program itself waits
    // for a minute. Before round 23 only the `sh` was killed: the subshell lived on
    // and created the marker.
    let dir = tempfile::tempdir().unwrap();
    let got = in_own_group(
        "(sleep 1; : > \"$1\") & sleep 60; true",
        dir.path(),
        Some(Duration::from_millis(300)),
    );
    assert!(got.timed_out);
    assert!(!marker_appears(dir.path(), Duration::from_secs(3)));
}

#[test]
fn a_program_stopped_at_the_output_bound_takes_what_it_started_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let got = in_own_group("(sleep 1; : > \"$1\") & yes", dir.path(), None);
    assert!(got.too_long);
    assert!(!marker_appears(dir.path(), Duration::from_secs(3)));
}

#[test]
fn a_program_that_ends_on_its_own_keeps_what_it_started() {
    // Only a program leafseal stops takes its group with it: a helper may rightly
    // leave a program running (a credential server it started).
    let dir = tempfile::tempdir().unwrap();
    let got = in_own_group(
        "(sleep 1; : > \"$1\") >/dev/null 2>&1 & printf ok",
        dir.path(),
        Some(Duration::from_secs(20)),
    );
    assert_eq!(&got.stdout[..], b"ok");
    assert!(marker_appears(dir.path(), Duration::from_secs(10)));
}

#[test]
fn the_output_buffer_grows_past_its_first_size() {
    let mut c = sh("head -c 1000000 /dev/zero");
    let got = capture(&mut c, b"", 2_000_000).unwrap();
    assert!(!got.too_long);
    assert_eq!(got.stdout.len(), 1_000_000);
}

#[test]
fn the_quoted_error_line_is_short_and_inert() {
    let got = first_line(b"\n  \x1b[31mfatal\x07: no\n second", 9).unwrap();
    assert_eq!(got, "?[31mfata");
    assert!(first_line(b" \n \n", 10).is_none());
}

#[test]
fn a_program_without_a_limit_of_its_own_is_stopped_at_the_deadline() {
    // gpg and the age key commands have no time limit of their own; under the key
    // services' deadline they get the time left. Before round 24 this waited the minute.
    let started = Instant::now();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _deadline = crate::keys::deadline::scope_for_test(Duration::from_millis(300));
        let mut c = sh("printf partial; exec sleep 60");
        let got = capture(&mut c, b"", 4096).unwrap();
        let _ = tx.send(got);
    });
    let got = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(got.timed_out && got.deadline_passed);
    assert!(!got.status.success());
    assert_eq!(&got.stdout[..], b"partial");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_helper_stopped_at_the_deadline_takes_what_it_started_with_it() {
    // Its own limit (20 s) is longer than the time left (300 ms): the deadline stops it,
    // with the subshell it started.
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let got = {
        let _deadline = crate::keys::deadline::scope_for_test(Duration::from_millis(300));
        in_own_group(
            "(sleep 1; : > \"$1\") & sleep 60; true",
            dir.path(),
            Some(Duration::from_secs(20)),
        )
    };
    assert!(got.timed_out && got.deadline_passed);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(!marker_appears(dir.path(), Duration::from_secs(3)));
}

#[test]
fn a_shorter_limit_of_its_own_is_kept_under_the_deadline() {
    let _deadline = crate::keys::deadline::scope_for_test(Duration::from_secs(60));
    let started = Instant::now();
    let mut c = sh("exec sleep 60");
    let got = capture_within(&mut c, b"", 4096, Some(Duration::from_millis(200))).unwrap();
    assert!(got.timed_out && !got.deadline_passed);
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn output_within_names_the_deadline_that_stopped_the_program() {
    let _deadline = crate::keys::deadline::scope_for_test(Duration::from_millis(200));
    let mut cmd = crate::process::command_in_own_group("sleep");
    cmd.arg("60");
    let e = output_within(&mut cmd, 4096, Some(Duration::from_secs(30)))
        .err()
        .unwrap();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    let said = e.to_string();
    assert!(
        said.starts_with("`sleep` did not finish before the key services' deadline"),
        "{said}"
    );
    assert!(
        said.contains(crate::keys::deadline::KEY_SERVICES_DEADLINE_VAR),
        "{said}"
    );
}
