//! Endless sources as input: a symbolic link to `/dev/zero` committed to a repository
//! (which `decrypt`, `check`, the diff driver and the policy reader would follow) and an
//! endless standard input. Each must end quickly with a clear error and bounded memory,
//! never by reading until allocation fails (the round-16 review's D4; sops 3.11 reads
//! such a link until it runs out of memory).

mod support;

use std::os::unix::process::ExitStatusExt;
use std::process::Output;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

use support::AGE_RECIPIENT;
use support::env_vars;
use support::leafseal;
use support::run_in;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A clean exit with `code`, not a signal (an allocation failure aborts with SIGABRT).
fn assert_code(o: &Output, code: i32) {
    assert_eq!(o.status.signal(), None, "killed by a signal: {}", stderr(o));
    assert_eq!(o.status.code(), Some(code), "stderr: {}", stderr(o));
}

/// Runs `leafseal ARGS` in `dir` under an address-space limit of 1 GiB (through the
/// shell's `ulimit -v`), so that an unbounded read fails the test as an abort instead of
/// taking the machine's memory; returns its output and how long it took.
fn run_limited(
    vars: &std::collections::HashMap<String, String>,
    dir: &std::path::Path,
    script: &str,
) -> (Output, Duration) {
    let bin = env!("CARGO_BIN_EXE_leafseal");
    let start = Instant::now();
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v 1048576; {script}"))
        .env_clear()
        .envs(vars)
        .env("LEAFSEAL", bin)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("sh");
    (o, start.elapsed())
}

/// A test home, a work directory, and the variables for runs in it.
fn scratch() -> (
    tempfile::TempDir,
    tempfile::TempDir,
    std::collections::HashMap<String, String>,
) {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let vars = env_vars(None, home.path());
    (home, dir, vars)
}

/// A policy whose one rule covers `*.enc.yaml`, written as `dir/.sops.yaml`.
fn write_policy(dir: &std::path::Path) {
    std::fs::write(
        dir.join(".sops.yaml"),
        format!("creation_rules:\n- path_regex: \\.enc\\.yaml$\n  age: {AGE_RECIPIENT}\n"),
    )
    .expect("policy");
}

/// Makes `dir` a git repository tracking `paths`, as a planted link would be tracked:
/// `check` reads what git lists.
fn track_in_git(dir: &std::path::Path, home: &std::path::Path, paths: &[&str]) {
    let add: Vec<&str> = ["add"].into_iter().chain(paths.iter().copied()).collect();
    for args in [&["init", "-q", "."][..], &add[..]] {
        let st = std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("HOME", home)
            .status()
            .expect("git");
        assert!(st.success());
    }
}

#[test]
fn a_link_to_dev_zero_is_refused_as_a_device_by_every_reader() {
    let (_home, dir, vars) = scratch();
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("secrets.enc.yaml")).expect("ln");
    std::os::unix::fs::symlink("/dev/urandom", dir.path().join("random.json")).expect("ln");

    // `filestatus` gives 1 for any file it cannot read, as sops does; the in-place
    // writers refuse the link before reading, as one that leads out of the directory.
    let device = "is a device, not a file";
    let outside = "leads to /dev/zero, which is outside";
    for (args, code, says) in [
        ("decrypt secrets.enc.yaml", 2, device),
        ("decrypt random.json", 2, device),
        ("filestatus secrets.enc.yaml", 1, device),
        ("exec-env secrets.enc.yaml true", 2, device),
        ("exec-file secrets.enc.yaml true", 2, device),
        ("rotate -i secrets.enc.yaml", 3, outside),
        ("set secrets.enc.yaml '[\"a\"]' '1'", 3, outside),
    ] {
        let (o, took) = run_limited(&vars, dir.path(), &format!("exec \"$LEAFSEAL\" {args}"));
        assert_code(&o, code);
        let e = stderr(&o);
        assert!(e.contains(says), "{args}: {e}");
        assert!(o.stdout.is_empty(), "{args}: printed something");
        assert!(took < Duration::from_secs(20), "{args}: took {took:?}");
    }
    // The encrypt of a device link is refused the same way.
    let (o, _) = run_limited(
        &vars,
        dir.path(),
        &format!("exec \"$LEAFSEAL\" encrypt --age {AGE_RECIPIENT} random.json"),
    );
    assert_code(&o, 2);
    assert!(stderr(&o).contains("is a device"), "{}", stderr(&o));
}

#[test]
fn check_reports_a_device_link_as_unreadable_and_checks_the_rest() {
    let (home, dir, vars) = scratch();
    write_policy(dir.path());
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("planted.enc.yaml")).expect("ln");
    std::fs::write(dir.path().join("open.enc.yaml"), "password: hunter2\n").expect("write");
    track_in_git(dir.path(), home.path(), &["-A"]);
    let (o, took) = run_limited(&vars, dir.path(), "exec \"$LEAFSEAL\" check .");
    assert_eq!(o.status.signal(), None, "{}", stderr(&o));
    let all = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    assert!(
        all.contains("planted.enc.yaml") && all.contains("is a device, not a file"),
        "{all}"
    );
    // The plaintext file beside it is still found: one bad file does not stop the check.
    assert!(all.contains("open.enc.yaml: plaintext"), "{all}");
    assert_eq!(o.status.code(), Some(1), "{all}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

#[test]
fn a_policy_linked_to_dev_zero_is_not_read_without_end() {
    let (_home, dir, vars) = scratch();
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("policy.yaml")).expect("ln");
    std::fs::write(dir.path().join("a.yaml"), "a: 1\n").expect("write");
    let (o, took) = run_limited(
        &vars,
        dir.path(),
        "exec \"$LEAFSEAL\" encrypt --config policy.yaml a.yaml",
    );
    assert_eq!(o.status.signal(), None, "{}", stderr(&o));
    assert_ne!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is a device, not a file"),
        "{}",
        stderr(&o)
    );
    assert!(o.stdout.is_empty());
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

#[test]
fn endless_standard_input_stops_at_the_limit_with_exit_2() {
    let (_home, dir, vars) = scratch();
    for script in [
        "exec \"$LEAFSEAL\" decrypt - < /dev/zero",
        "exec \"$LEAFSEAL\" decrypt /dev/stdin < /dev/zero",
    ] {
        let (o, took) = run_limited(&vars, dir.path(), script);
        assert_code(&o, 2);
        let e = stderr(&o);
        assert!(
            e.contains("more than 256 MiB from a source of unknown size"),
            "{script}: {e}"
        );
        assert!(o.stdout.is_empty());
        assert!(took < Duration::from_secs(30), "{script}: took {took:?}");
    }
}

#[test]
fn standard_input_and_dev_stdin_of_a_real_document_still_work() {
    let (_home, dir, vars) = scratch();
    let enc = run_in(
        &vars,
        dir.path(),
        &[
            "encrypt",
            "--age",
            AGE_RECIPIENT,
            "--input-type",
            "yaml",
            "/dev/stdin",
        ],
    );
    // `run_in` gives no standard input: an empty document is refused, not hung on.
    assert_ne!(enc.status.code(), Some(0));
    for path in ["-", "/dev/stdin"] {
        let mut child = leafseal(&vars)
            .current_dir(dir.path())
            .args([
                "encrypt",
                "--age",
                AGE_RECIPIENT,
                "--input-type",
                "yaml",
                "--output-type",
                "yaml",
                path,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            stdin.write_all(b"token: abc\n").expect("write");
        }
        let o = child.wait_with_output().expect("wait");
        assert_code(&o, 0);
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.contains("token: ENC[AES256_GCM,"), "{path}: {text}");
    }
}

#[test]
fn dev_null_still_names_an_empty_policy_and_an_empty_input() {
    let (_home, dir, vars) = scratch();
    std::fs::write(dir.path().join("a.yaml"), "a: 1\n").expect("write");
    // `--config /dev/null`: no policy, as in sops.
    let o = run_in(
        &vars,
        dir.path(),
        &[
            "--config",
            "/dev/null",
            "encrypt",
            "--age",
            AGE_RECIPIENT,
            "a.yaml",
        ],
    );
    assert_code(&o, 0);
    assert!(String::from_utf8_lossy(&o.stdout).contains("a: ENC["));
    // A link to /dev/null reads as an empty file (refused as empty, not as a device).
    std::os::unix::fs::symlink("/dev/null", dir.path().join("empty.yaml")).expect("ln");
    let o = run_in(&vars, dir.path(), &["decrypt", "empty.yaml"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(!stderr(&o).contains("is a device"), "{}", stderr(&o));
}

#[test]
fn a_link_to_a_named_pipe_is_refused_before_it_is_opened() {
    let (home, dir, vars) = scratch();
    let fifo = dir.path().join("pipe");
    let st = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(st.success());
    std::os::unix::fs::symlink(&fifo, dir.path().join("b.enc.yaml")).expect("ln");
    write_policy(dir.path());
    track_in_git(dir.path(), home.path(), &[".sops.yaml", "b.enc.yaml"]);
    // Opening a named pipe blocks until a writer comes: each must return at once.
    std::fs::write(dir.path().join("p.yaml"), "a: 1\n").expect("write");
    for args in [
        "decrypt b.enc.yaml",
        "check .",
        "--config b.enc.yaml encrypt p.yaml",
    ] {
        let (o, took) = run_limited(
            &vars,
            dir.path(),
            &format!("exec timeout 20 \"$LEAFSEAL\" {args}"),
        );
        assert_ne!(o.status.code(), Some(124), "{args}: hung");
        assert!(
            stderr(&o).contains("is a named pipe (FIFO), not a file")
                || String::from_utf8_lossy(&o.stdout).contains("is a named pipe (FIFO)"),
            "{args}: {}",
            stderr(&o)
        );
        assert!(took < Duration::from_secs(15), "{args}: took {took:?}");
    }
}

#[test]
fn every_reader_of_unknown_size_stops_at_the_limit() {
    let (_home, dir, vars) = scratch();
    std::fs::write(dir.path().join("p.yaml"), "a: 1\n").expect("write");
    let enc = run_in(
        &vars,
        dir.path(),
        &["encrypt", "--age", AGE_RECIPIENT, "p.yaml"],
    );
    assert_code(&enc, 0);
    std::fs::write(dir.path().join("p.enc.yaml"), &enc.stdout).expect("write");
    // A shell's `<(...)` (a pipe named /dev/fd/N), as the input and as the policy, and
    // `set --value-stdin`: each stops at the limit within the 1 GiB address space (the
    // pipe's first bytes used to double the buffer to 512 MiB).
    for (script, code) in [
        (
            "exec bash -c '\"$LEAFSEAL\" decrypt --input-type yaml <(cat /dev/zero)'",
            2,
        ),
        (
            "exec bash -c '\"$LEAFSEAL\" encrypt --config <(cat /dev/zero) p.yaml'",
            1,
        ),
        (
            "yes | \"$LEAFSEAL\" set --value-stdin p.enc.yaml '[\"k\"]'",
            2,
        ),
    ] {
        let (o, _) = run_limited(&vars, dir.path(), script);
        assert_code(&o, code);
        assert!(
            stderr(&o).contains("more than 256 MiB from a source of unknown size"),
            "{script}: {}",
            stderr(&o)
        );
    }
    // `..` does not make a device path one of the process's own descriptors.
    let (o, _) = run_limited(
        &vars,
        dir.path(),
        "exec \"$LEAFSEAL\" decrypt --input-type yaml /dev/fd/../../../dev/zero",
    );
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains("is a device, not a file"),
        "{}",
        stderr(&o)
    );
    // A policy from `<(...)` that ends is read as before.
    let (o, _) = run_limited(
        &vars,
        dir.path(),
        &format!(
            "exec bash -c '\"$LEAFSEAL\" encrypt --config <(printf \"creation_rules:\\n- age: {AGE_RECIPIENT}\\n\") p.yaml'"
        ),
    );
    assert_code(&o, 0);
    assert!(String::from_utf8_lossy(&o.stdout).contains("a: ENC["));
}
