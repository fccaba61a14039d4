//! Interrupted writes through the binary: `decrypt -i` and `edit` receive every
//! catchable terminating signal at many moments (before, during and after the write),
//! and SIGKILL is followed by a later run in the same directory. Afterwards every file
//! is either its old or its new content (never partial), no temporary file or plaintext
//! is left, and a temporary file left by SIGKILL is private (0600), recognisable and
//! removed by the next run.

mod support;

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Child;
use std::process::Command;
use std::process::ExitStatus;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;
use std::time::Instant;

use signal_hook::consts::signal as s;
use support::*;

/// Every catchable signal whose default action ends the process (SIGPIPE aside: Rust
/// programs ignore it), with the Linux-only ones by number.
fn catchable() -> Vec<i32> {
    let mut v = vec![
        s::SIGINT,
        s::SIGTERM,
        s::SIGHUP,
        s::SIGQUIT,
        s::SIGUSR1,
        s::SIGUSR2,
        s::SIGALRM,
        s::SIGVTALRM,
        s::SIGPROF,
        s::SIGXCPU,
        s::SIGXFSZ,
        s::SIGIO,
        s::SIGSYS,
        s::SIGTRAP,
        s::SIGABRT,
    ];
    if cfg!(all(target_os = "linux", target_env = "gnu")) {
        v.extend([34, 45, 64]); // real-time signals
        if cfg!(target_arch = "x86_64") {
            v.extend([16, 30]); // SIGSTKFLT, SIGPWR
        }
    }
    v
}

fn send(child: &Child, sig: i32) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .stderr(Stdio::null())
        .status();
}

/// The files `decrypt -i` works on: (name, ciphertext, plaintext).
struct Files {
    files: Vec<(String, Vec<u8>, Vec<u8>)>,
}

const FILES: usize = 12;

/// Encrypted once for all tests.
fn files() -> &'static Files {
    static F: OnceLock<Files> = OnceLock::new();
    F.get_or_init(|| {
        let home = tempfile::tempdir().expect("home");
        let dir = tempfile::tempdir().expect("dir");
        let vars = env_vars(None, home.path());
        let mut files = Vec::new();
        for i in 0..FILES {
            let name = format!("f{i:02}.yaml");
            let plain: String = (0..100)
                .map(|j| format!("k{j}: value-{i}-{j}-{}\n", "x".repeat(200)))
                .collect();
            std::fs::write(dir.path().join(&name), &plain).expect("write");
            let o = run_in(
                &vars,
                dir.path(),
                &["encrypt", "-i", "--age", AGE_RECIPIENT, &name],
            );
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let enc = std::fs::read(dir.path().join(&name)).expect("read");
            files.push((name, enc, plain.into_bytes()));
        }
        Files { files }
    })
}

/// When the signal is sent.
#[derive(Debug, Clone, Copy)]
enum Moment {
    /// This many milliseconds after the process started.
    AfterSpawn(u64),
    /// This many milliseconds after the first temporary file appeared.
    AfterFirstTemp(u64),
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn wait(child: &mut Child) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().expect("wait") {
            return st;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "did not exit");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// What an interrupted `decrypt -i` left.
struct Left {
    dir: tempfile::TempDir,
    /// Entries other than the files.
    extra: Vec<String>,
    status: ExitStatus,
    /// Every file still has its old content.
    all_old: bool,
}

/// Runs `decrypt -i` on the files in a fresh directory and sends `sig` at `moment`.
fn interrupted_decrypt(sig: i32, moment: Moment) -> Left {
    let f = files();
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let mut names_in = Vec::new();
    for (name, enc, _) in &f.files {
        let p = dir.path().join(name);
        std::fs::write(&p, enc).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        names_in.push(name.clone());
    }
    let mut child = leafseal(&env_vars(None, home.path()))
        .current_dir(dir.path())
        .arg("decrypt")
        .arg("-i")
        .args(&names_in)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    match moment {
        Moment::AfterSpawn(ms) => std::thread::sleep(Duration::from_millis(ms)),
        Moment::AfterFirstTemp(ms) => {
            let start = Instant::now();
            loop {
                if child.try_wait().expect("wait").is_some() {
                    break;
                }
                if names(dir.path()).len() > names_in.len() {
                    std::thread::sleep(Duration::from_millis(ms));
                    break;
                }
                assert!(start.elapsed() < Duration::from_secs(60), "no write");
                std::thread::yield_now();
            }
        }
    }
    send(&child, sig);
    let status = wait(&mut child);
    // Every file is either its old or its new content, with its mode.
    let mut all_old = true;
    for (name, enc, plain) in &f.files {
        let p = dir.path().join(name);
        let now = std::fs::read(&p).expect("read");
        assert!(
            &now == enc || &now == plain,
            "signal {sig} at {moment:?}: {name} is partial ({} bytes)",
            now.len()
        );
        all_old &= &now == enc;
        let m = p.symlink_metadata().expect("lstat");
        assert!(m.is_file());
        // SIGKILL between the rename and the mode leaves the new file 0600, never wider.
        let private_new = sig == s::SIGKILL && &now == plain && m.mode() & 0o777 == 0o600;
        assert!(
            m.mode() & 0o777 == 0o640 || private_new,
            "signal {sig} at {moment:?}: mode {:o}",
            m.mode()
        );
    }
    let extra: Vec<String> = names(dir.path())
        .into_iter()
        .filter(|n| !names_in.contains(n))
        .collect();
    Left {
        dir,
        extra,
        status,
        all_old,
    }
}

fn check_caught(sig: i32, moment: Moment) {
    let Left {
        extra,
        status,
        all_old,
        ..
    } = interrupted_decrypt(sig, moment);
    assert!(
        extra.is_empty(),
        "signal {sig} at {moment:?}: left {extra:?} ({status:?})"
    );
    let ok = status.code() == Some(0)
        || status.code() == Some(128 + sig)
        // Before the handlers exist (the start of the run, before any write) the default
        // action applies.
        || (all_old && std::os::unix::process::ExitStatusExt::signal(&status) == Some(sig));
    assert!(ok, "signal {sig} at {moment:?}: {status:?}");
}

#[test]
fn decrypt_in_place_interrupted_by_int_term_hup_at_many_moments() {
    for sig in [s::SIGINT, s::SIGTERM, s::SIGHUP] {
        for ms in [0, 30, 150, 400, 700] {
            check_caught(sig, Moment::AfterSpawn(ms));
        }
        for ms in [0, 2, 10, 25, 50, 90] {
            check_caught(sig, Moment::AfterFirstTemp(ms));
        }
    }
}

#[test]
fn decrypt_in_place_interrupted_by_every_catchable_signal() {
    for (i, sig) in catchable().into_iter().enumerate() {
        let i = i as u64;
        check_caught(sig, Moment::AfterSpawn(60 + (i * 53) % 600));
        check_caught(sig, Moment::AfterFirstTemp(0));
        check_caught(sig, Moment::AfterFirstTemp((i * 17) % 100));
    }
}

#[test]
fn sigkill_leaves_only_private_temps_that_a_later_run_removes() {
    let moments = [
        Moment::AfterFirstTemp(0),
        Moment::AfterFirstTemp(0),
        Moment::AfterFirstTemp(3),
        Moment::AfterFirstTemp(15),
        Moment::AfterFirstTemp(40),
        Moment::AfterSpawn(300),
    ];
    // Every moment once, then the early ones again until a kill has hit a write: on a
    // loaded machine the whole run can end before this thread sees its first temporary
    // file, so a fixed number of tries can miss every write (bounded: 40 runs).
    let mut left = 0;
    let mut runs = 0;
    while runs < moments.len() || (left == 0 && runs < 40) {
        let moment = if runs < moments.len() {
            moments[runs]
        } else {
            Moment::AfterFirstTemp(0)
        };
        runs += 1;
        let Left { dir, extra, .. } = interrupted_decrypt(s::SIGKILL, moment);
        for n in &extra {
            assert!(
                n.contains(".leafseal-tmp."),
                "{moment:?}: unrecognisable leftover {n}"
            );
            let m = dir.path().join(n).symlink_metadata().expect("lstat");
            assert_eq!(m.mode() & 0o777, 0o600, "{moment:?}: {n} is not private");
        }
        left += extra.len();
        // A later writing run in the same directory removes them.
        let home = tempfile::tempdir().expect("home");
        std::fs::write(dir.path().join("later.yaml"), "a: 1\n").expect("write");
        let o = run_in(
            &env_vars(None, home.path()),
            dir.path(),
            &["encrypt", "-i", "--age", AGE_RECIPIENT, "later.yaml"],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let after: Vec<String> = names(dir.path())
            .into_iter()
            .filter(|n| n.contains("tmp"))
            .collect();
        assert!(after.is_empty(), "{moment:?}: still there: {after:?}");
    }
    assert!(
        left > 0,
        "SIGKILL never hit a write in {runs} runs: the test proved nothing"
    );
}

fn git_init(dir: &Path) {
    let o = Command::new("git")
        .args(["init", "-q"])
        .current_dir(dir)
        .output()
        .expect("git");
    assert!(o.status.success());
}

/// Walks `dir` (skipping .git): no file holds `secret`, and no leafseal workspace or
/// temporary file is left when `strict`.
fn scan(dir: &Path, secret: &str, strict: bool, what: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name == ".git" {
            continue;
        }
        if strict {
            assert!(
                !name.starts_with("leafseal-edit-") && !name.contains("tmp"),
                "{what}: {} left",
                p.display()
            );
        }
        let Ok(m) = p.symlink_metadata() else {
            continue;
        };
        if m.is_dir() {
            scan(&p, secret, strict, what);
        } else if m.is_file()
            && let Ok(b) = std::fs::read(&p)
        {
            let found = b.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "{what}: plaintext in {}", p.display());
        }
    }
}

static RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// `edit` with an editor that takes 200 ms and adds a line; `sig` after `ms`.
fn interrupted_edit(sig: i32, ms: u64) {
    let home = tempfile::tempdir().expect("home");
    let repo = tempfile::tempdir().expect("repo");
    let xdg = tempfile::tempdir().expect("xdg");
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::set_permissions(xdg.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
    git_init(repo.path());
    let n = RUN.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let secret = format!("s3cret-{}-{n}-{sig}-{ms}", std::process::id());
    let plain = format!("user: admin\npassword: {secret}\n");
    let file = repo.path().join("secrets.yaml");
    std::fs::write(&file, &plain).expect("write");
    let mut vars: HashMap<String, String> = env_vars(None, home.path());
    let o = run_in(
        &vars,
        repo.path(),
        &["encrypt", "-i", "--age", AGE_RECIPIENT, "secrets.yaml"],
    );
    assert!(o.status.success());
    let before = std::fs::read(&file).expect("read");
    let ed = tmp.path().join("ed.sh");
    std::fs::write(
        &ed,
        "#!/bin/sh\nsleep 0.2\nprintf 'added: ok\\n' >> \"$1\"\n",
    )
    .expect("ed");
    std::fs::set_permissions(&ed, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    vars.insert("SOPS_EDITOR".to_owned(), ed.display().to_string());
    vars.insert(
        "XDG_RUNTIME_DIR".to_owned(),
        xdg.path().display().to_string(),
    );
    vars.insert("TMPDIR".to_owned(), tmp.path().display().to_string());
    let mut child = leafseal(&vars)
        .current_dir(repo.path())
        .args(["edit", "secrets.yaml"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(ms));
    send(&child, sig);
    let status = wait(&mut child);
    let what = format!("edit, signal {sig} after {ms} ms ({status:?})");
    let now = std::fs::read(&file).expect("read");
    let ok = status.code() == Some(0)
        || status.code() == Some(128 + sig)
        // Before the handlers exist (the start of the run) the default action applies.
        || (now == before && std::os::unix::process::ExitStatusExt::signal(&status) == Some(sig));
    assert!(ok, "{what}");
    if now != before {
        let o = run_in(&vars, repo.path(), &["decrypt", "secrets.yaml"]);
        assert!(o.status.success(), "{what}: the new file does not decrypt");
        assert_eq!(o.stdout, format!("{plain}added: ok\n").as_bytes(), "{what}");
    }
    scan(xdg.path(), &secret, true, &what);
    scan(repo.path(), &secret, true, &what);
    scan(Path::new("/dev/shm"), &secret, false, &what);
    let tmp_left: Vec<String> = names(tmp.path())
        .into_iter()
        .filter(|n| n != "ed.sh")
        .collect();
    assert!(tmp_left.is_empty(), "{what}: {tmp_left:?}");
}

#[test]
fn edit_interrupted_by_every_catchable_signal_at_many_moments() {
    for (i, sig) in catchable().into_iter().enumerate() {
        let i = i as u64;
        for ms in [5 + (i * 7) % 40, 120 + (i * 11) % 60, 260 + (i * 13) % 120] {
            interrupted_edit(sig, ms);
        }
    }
    for sig in [s::SIGINT, s::SIGTERM, s::SIGHUP, s::SIGUSR1, s::SIGALRM] {
        for ms in [0, 20, 60, 100, 160, 220, 300, 380, 460] {
            interrupted_edit(sig, ms);
        }
    }
}

/// A standard error that is a pipe nobody reads any more (`leafseal … 2>&1 | head -1`
/// once `head` has exited): the messages are lost, but the command ends with its own
/// exit code and a temporary file is still removed. `eprintln!` used to panic on the
/// broken pipe, which aborts the process (`panic = "abort"`): exit by SIGABRT, and an
/// edit's temporary file left next to the target.
#[test]
fn a_broken_stderr_does_not_abort_a_command() {
    let d = tempfile::tempdir().expect("dir");
    let home = d.path().display().to_string();
    let vars: HashMap<String, String> = [("HOME".to_owned(), home)].into_iter().collect();
    let run = |args: &[&str], broken: bool| -> ExitStatus {
        let mut c = leafseal(&vars);
        c.current_dir(d.path())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        if broken {
            let (reader, writer) = std::io::pipe().expect("pipe");
            drop(reader);
            c.stderr(writer);
        } else {
            c.stderr(Stdio::null());
        }
        c.status().expect("run leafseal")
    };
    std::fs::write(d.path().join("plain.yaml"), "a: 1\n").expect("write");
    for args in [
        &["decrypt", "missing.yaml"][..],
        &["decrypt", "plain.yaml"][..],
        &["encrypt", "plain.yaml"][..],
        &["no-such-command"][..],
    ] {
        let normal = run(args, false);
        let broken = run(args, true);
        assert!(normal.code().is_some(), "{args:?}: {normal:?}");
        assert_eq!(broken.code(), normal.code(), "{args:?}: {broken:?}");
    }
    assert_eq!(names(d.path()), vec!["plain.yaml".to_owned()]);
}
