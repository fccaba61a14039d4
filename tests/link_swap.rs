//! A symbolic link swapped between the moment a command resolved it and the moment it
//! read its input (round-20 review): the lock, the check of what was seen and the final
//! rename used the file the link named at first, but the input was read again by the
//! name typed, through the swapped link. `decrypt -i link` then wrote another file's
//! plaintext into the first one (root's secret into a file the link's owner reads), and
//! `set link` wrote one file's content, changed, over another. The input is now read from
//! the file that was locked.
//!
//! Deterministic: the test holds the lock on the file the link names first, so leafseal
//! resolves the link and then waits (saying so on stderr); the link is swapped while it
//! waits, and the lock let go.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use support::*;

fn encrypted(vars: &HashMap<String, String>, dir: &Path, name: &str, plain: &str) {
    std::fs::write(dir.join(name), plain).expect("write");
    let o = run_in(vars, dir, &["encrypt", "-i", "--age", AGE_RECIPIENT, name]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn decrypt(vars: &HashMap<String, String>, dir: &Path, name: &str) -> String {
    let o = run_in(vars, dir, &["decrypt", name]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).expect("utf8")
}

/// Points `link` at `to`, replacing what it pointed at in one rename.
fn repoint(link: &Path, to: &Path) {
    let tmp = link.with_extension("swap-tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(to, &tmp).expect("symlink");
    std::fs::rename(&tmp, link).expect("rename link");
}

/// Runs leafseal with `args` in `dir` while the test holds the lock on `held`; once it
/// says it waits for that lock, `swap` runs, then the lock is let go.
fn swapped_while_waiting(
    vars: &HashMap<String, String>,
    dir: &Path,
    args: &[&str],
    held: &Path,
    swap: impl FnOnce(),
) -> Output {
    let lock = std::fs::File::open(held).expect("open held");
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).expect("flock");
    let mut child = spawn_in(vars, dir, args);
    let mut err = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        let mut line = String::new();
        while std::io::BufRead::read_line(&mut err, &mut line).unwrap_or(0) > 0 {
            if line.contains("waiting for another leafseal process") {
                let _ = tx.send(());
            }
            all.push_str(&line);
            line.clear();
        }
        all
    });
    if rx.recv_timeout(Duration::from_secs(60)).is_err() {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "leafseal {args:?} did not wait for the lock on {}",
            held.display()
        );
    }
    swap();
    drop(lock);
    let mut out = child.wait_with_output().expect("wait");
    out.stderr = reader.join().expect("stderr").into_bytes();
    out
}

#[test]
fn set_through_a_link_swapped_while_waiting_changes_the_file_it_locked() {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let (vars, d) = (env_vars(None, home.path()), dir.path());
    encrypted(&vars, d, "a.yaml", "a: one\n");
    encrypted(&vars, d, "b.yaml", "b: two\n");
    std::os::unix::fs::symlink("a.yaml", d.join("link.yaml")).expect("link");
    let b_before = std::fs::read(d.join("b.yaml")).expect("read b");
    let o = swapped_while_waiting(
        &vars,
        d,
        &["set", "link.yaml", r#"["new"]"#, r#""x""#],
        &d.join("a.yaml"),
        || repoint(&d.join("link.yaml"), Path::new("b.yaml")),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The file locked (a.yaml) got the value on top of its own content, not b.yaml's.
    let a = decrypt(&vars, d, "a.yaml");
    assert!(a.contains("a: one") && a.contains("new: x"), "a.yaml: {a}");
    assert!(
        !a.contains("b: two"),
        "b.yaml's content written into a.yaml: {a}"
    );
    assert_eq!(std::fs::read(d.join("b.yaml")).expect("read b"), b_before);
}

#[test]
fn decrypt_in_place_through_a_swapped_link_never_writes_the_other_files_plaintext() {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let elsewhere = tempfile::tempdir().expect("elsewhere");
    let (vars, d) = (env_vars(None, home.path()), dir.path());
    encrypted(&vars, d, "own.yaml", "mine: public\n");
    encrypted(&vars, elsewhere.path(), "secret.yaml", "secret: s3cr3t\n");
    std::os::unix::fs::symlink("own.yaml", d.join("link.yaml")).expect("link");
    let secret = elsewhere.path().join("secret.yaml");
    let secret_before = std::fs::read(&secret).expect("read secret");
    let o = swapped_while_waiting(
        &vars,
        d,
        &["decrypt", "-i", "link.yaml"],
        &d.join("own.yaml"),
        || repoint(&d.join("link.yaml"), &secret),
    );
    let own = std::fs::read_to_string(d.join("own.yaml")).expect("read own");
    assert!(
        !own.contains("s3cr3t"),
        "the other file's plaintext was written into own.yaml (exit {:?}): {own}",
        o.status.code()
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(own, "mine: public\n");
    assert_eq!(std::fs::read(&secret).expect("read secret"), secret_before);
}

#[test]
fn encrypt_in_place_through_a_swapped_link_encrypts_the_file_it_locked() {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let elsewhere = tempfile::tempdir().expect("elsewhere");
    let (vars, d) = (env_vars(None, home.path()), dir.path());
    std::fs::write(d.join("own.txt"), "mine\n").expect("write own");
    let secret = elsewhere.path().join("secret.txt");
    std::fs::write(&secret, "root only\n").expect("write secret");
    std::os::unix::fs::symlink("own.txt", d.join("link.txt")).expect("link");
    let o = swapped_while_waiting(
        &vars,
        d,
        &["encrypt", "-i", "--age", AGE_RECIPIENT, "link.txt"],
        &d.join("own.txt"),
        || repoint(&d.join("link.txt"), &secret),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let own = decrypt(&vars, d, "own.txt");
    assert_eq!(own, "mine\n", "own.txt now holds another file's content");
    assert_eq!(
        std::fs::read_to_string(&secret).expect("read"),
        "root only\n"
    );
}
