//! Transparent huge pages (src/process.rs): the binary runs a small job without them, turns
//! them on for a large input, and starts every program with the setting it was given
//! itself. Observed from outside through `THP_enabled` in `/proc/PID/status`.

mod support;

use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

use support::*;

/// Whether these tests can tell anything: the kernel shows the setting, and this test
/// process was started with huge pages allowed (otherwise leafseal rightly never turns
/// them on, and the tests below would only see that).
fn observable() -> bool {
    if let other @ (None | Some(false)) = thp_enabled("self") {
        eprintln!("skipped: THP_enabled of the test process is {other:?}");
        return false;
    }
    // And a process may turn them off (no seccomp filter refuses the prctl): the helper
    // script does it and runs `grep`.
    let probe = Command::new("python3")
        .arg(off_script())
        .args(["/bin/sh", "-c", "grep THP_enabled /proc/self/status"])
        .output();
    match probe {
        Ok(o)
            if String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .collect::<String>()
                == "THP_enabled:0" =>
        {
            true
        }
        other => {
            eprintln!("skipped: turning huge pages off for a process failed here: {other:?}");
            false
        }
    }
}

/// The script that runs a program with huge pages turned off.
fn off_script() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/huge_pages_off.py")
        .display()
        .to_string()
}

struct Work {
    _home: tempfile::TempDir,
    dir: tempfile::TempDir,
    vars: std::collections::HashMap<String, String>,
}

impl Work {
    fn new() -> Work {
        let home = tempfile::tempdir().expect("home");
        let vars = env_vars(None, home.path());
        Work {
            _home: home,
            dir: tempfile::tempdir().expect("dir"),
            vars,
        }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    /// Encrypts `plain` into `name`.
    fn encrypted(&self, name: &str, plain: &str) {
        std::fs::write(self.path("plain.yaml"), plain).expect("write");
        let o = run_in(
            &self.vars,
            self.dir.path(),
            &["encrypt", "--age", AGE_RECIPIENT, "plain.yaml"],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::write(self.path(name), &o.stdout).expect("write");
    }
}

/// Waits until `pid`'s status shows `THP_enabled` (the process has started).
fn thp_of_running(pid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = thp_enabled(&pid.to_string()) {
            return v;
        }
        assert!(Instant::now() < deadline, "no status for {pid}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_small_decrypt_runs_without_huge_pages_and_a_large_one_with_them() {
    if !observable() {
        return;
    }
    let w = Work::new();
    w.encrypted("small.yaml", "password: hunter2\n");
    // Small: `decrypt -i` waits for the file's lock, held here, before it reads the file,
    // and says so on stderr: from then on its start-up is done and the setting final
    // until the lock is let go. (A FIFO as input would not do: its size is unknown, which
    // turns huge pages on, as for standard input.)
    let held = std::fs::File::open(w.path("small.yaml")).expect("open");
    rustix::fs::flock(&held, rustix::fs::FlockOperation::LockExclusive).expect("flock");
    let mut child = spawn_in(&w.vars, w.dir.path(), &["decrypt", "-i", "small.yaml"]);
    let mut err = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    let waited = std::io::BufRead::read_line(&mut err, &mut line).unwrap_or(0) > 0
        && line.contains("waiting for another leafseal process");
    if !waited {
        let _ = child.kill();
        panic!("leafseal did not wait for the lock: {line}");
    }
    if thp_of_running(child.id()) {
        let _ = child.kill();
        panic!("a small decrypt ran with huge pages");
    }
    drop(held);
    let o = child.wait_with_output().expect("wait");
    assert!(o.status.success());
    assert_eq!(
        std::fs::read(w.path("small.yaml")).expect("read"),
        b"password: hunter2\n"
    );

    // Large (over 1 MiB encrypted): its output, far more than a pipe holds, is not read
    // until the setting has been looked at, so the process is still there, blocked in
    // its write.
    let mut plain = String::new();
    for i in 0..12_000 {
        plain.push_str(&format!("key{i}: value number {i} of the large file\n"));
    }
    w.encrypted("large.yaml", &plain);
    assert!(std::fs::metadata(w.path("large.yaml")).expect("stat").len() > 1 << 20);
    let mut child = spawn_in(&w.vars, w.dir.path(), &["decrypt", "large.yaml"]);
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 1];
    stdout.read_exact(&mut first).expect("the output begins");
    assert!(
        thp_of_running(child.id()),
        "a large decrypt ran without huge pages"
    );
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).expect("read");
    assert!(child.wait().expect("wait").success());
    assert_eq!(first.len() + rest.len(), plain.len());
}

/// The `THP_enabled` a program started by `leafseal exec-env` sees, with leafseal itself
/// started through `prefix` (a program that execs it).
fn thp_seen_by_exec_env(w: &Work, prefix: &[&str]) -> String {
    w.encrypted("small.yaml", "password: hunter2\n");
    let bin = env!("CARGO_BIN_EXE_leafseal");
    let (program, args): (&str, Vec<&str>) = match prefix.split_first() {
        Some((p, rest)) => (p, rest.iter().copied().chain([bin]).collect()),
        None => (bin, Vec::new()),
    };
    let o = Command::new(program)
        .env_clear()
        .envs(&w.vars)
        .current_dir(w.dir.path())
        .args(args)
        .args([
            "exec-env",
            "small.yaml",
            "grep THP_enabled /proc/self/status",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .collect()
}

#[test]
fn programs_leafseal_starts_get_the_huge_pages_setting_it_was_given() {
    if !observable() {
        return;
    }
    let w = Work::new();
    // Started with huge pages allowed: the command of exec-env gets them, although
    // leafseal turned them off for itself.
    assert_eq!(thp_seen_by_exec_env(&w, &[]), "THP_enabled:1");
    // Started with them off (by a parent's prctl, kept through exec): left off, for
    // leafseal and for what it starts.
    let off = off_script();
    assert_eq!(
        thp_seen_by_exec_env(&w, &["python3", &off]),
        "THP_enabled:0"
    );
}

#[test]
fn an_editor_gets_the_huge_pages_setting_leafseal_was_given() {
    if !observable() {
        return;
    }
    let w = Work::new();
    w.encrypted("small.yaml", "password: hunter2\n");
    let seen = w.path("seen");
    let editor = w.path("editor.sh");
    std::fs::write(
        &editor,
        format!(
            "#!/bin/sh\ngrep THP_enabled /proc/self/status > '{}'\nsed -i s/hunter2/hunter3/ \"$1\"\n",
            seen.display()
        ),
    )
    .expect("write");
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let mut vars = w.vars.clone();
    vars.insert("EDITOR".to_owned(), editor.display().to_string());
    let o = run_in(&vars, w.dir.path(), &["edit", "small.yaml"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let seen = std::fs::read_to_string(seen).expect("the editor ran");
    assert_eq!(seen.split_whitespace().collect::<String>(), "THP_enabled:1");
}
