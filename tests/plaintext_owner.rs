//! Who can read the plaintext `decrypt --output` and `decrypt -i` write over an existing
//! file (security.md, "Mode and owner"): a file of another user's passes on neither its
//! owner nor its group and other bits (the new file is the writer's, mode 0600, with a
//! warning); the writer's own file keeps its mode; encrypted writes keep owner and mode.
//!
//! A file of another user's can only be made as root: run as another user, the tests
//! that need one say so and check nothing (the rule itself is unit-tested in
//! `io::owner`). As root, the case of an ordinary user is run through `setpriv`.

mod support;

use std::os::unix::fs::MetadataExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::process::Output;

use support::*;

/// Owner and group of the files "another user" pre-created.
const OTHER: (u32, u32) = (4321, 4322);

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn chown(path: &Path, (uid, gid): (u32, u32)) {
    let o = Command::new("chown")
        .arg(format!("{uid}:{gid}"))
        .arg(path)
        .output()
        .expect("chown");
    assert!(o.status.success(), "{}", err(&o));
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// (uid, gid, mode & 0o7777).
fn owner_mode(path: &Path) -> (u32, u32, u32) {
    let m = std::fs::metadata(path).expect("stat");
    (m.uid(), m.gid(), m.mode() & 0o7777)
}

struct Env {
    home: tempfile::TempDir,
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            home: tempfile::tempdir().expect("home"),
            dir: tempfile::tempdir().expect("dir"),
        }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, args: &[&str]) -> Output {
        run_in(&env_vars(None, self.home.path()), self.dir.path(), args)
    }

    /// `name` encrypted for the fixture age key, holding `a: secret`.
    fn encrypted(&self, name: &str) -> std::path::PathBuf {
        let p = self.path(name);
        std::fs::write(&p, "a: secret\n").expect("write");
        let o = self.run(&["encrypt", "-i", "--age", AGE_RECIPIENT, name]);
        assert!(o.status.success(), "{}", err(&o));
        p
    }
}

fn me() -> (u32, u32) {
    (
        rustix::process::geteuid().as_raw(),
        rustix::process::getegid().as_raw(),
    )
}

#[test]
fn decrypt_output_over_another_users_file_is_the_writers_and_0600() {
    if !is_root() {
        eprintln!("skipped: making a file of another user's needs root");
        return;
    }
    let env = Env::new();
    env.encrypted("s.yaml");
    let out = env.path("out.yaml");
    std::fs::write(&out, "").expect("pre-create");
    chown(&out, OTHER);
    chmod(&out, 0o644);
    let o = env.run(&["decrypt", "--output", "out.yaml", "s.yaml"]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(std::fs::read_to_string(&out).expect("read"), "a: secret\n");
    let (uid, gid) = me();
    // Before: 4321:4322 0644, the plaintext handed to the file's pre-creator.
    assert_eq!(owner_mode(&out), (uid, gid, 0o600));
    let e = err(&o);
    assert!(e.contains("belonged to user id 4321"), "{e}");
    assert!(e.contains("mode 0644") && e.contains("0600"), "{e}");
    assert!(!e.contains("secret"), "{e}");
}

#[test]
fn decrypt_in_place_of_another_users_files_leaves_them_the_writers_and_0600() {
    if !is_root() {
        eprintln!("skipped: making a file of another user's needs root");
        return;
    }
    let env = Env::new();
    let (uid, gid) = me();
    // One file, then several (each destination decides for its own file).
    let one = env.encrypted("one.yaml");
    chown(&one, OTHER);
    chmod(&one, 0o640);
    let o = env.run(&["decrypt", "-i", "one.yaml"]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(owner_mode(&one), (uid, gid, 0o600));
    assert!(err(&o).contains("belonged to user id 4321"), "{}", err(&o));

    let theirs = env.encrypted("theirs.yaml");
    chown(&theirs, OTHER);
    chmod(&theirs, 0o604);
    let mine = env.encrypted("mine.yaml");
    chmod(&mine, 0o640);
    let o = env.run(&["decrypt", "-i", "theirs.yaml", "mine.yaml"]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(owner_mode(&theirs), (uid, gid, 0o600));
    assert_eq!(owner_mode(&mine), (uid, gid, 0o640));
    for p in [&one, &theirs, &mine] {
        assert_eq!(std::fs::read_to_string(p).expect("read"), "a: secret\n");
    }
    let e = err(&o);
    assert!(e.contains("theirs.yaml belonged to user id 4321"), "{e}");
    assert!(!e.contains("mine.yaml belonged"), "{e}");
}

#[test]
fn decrypt_output_over_the_writers_own_file_keeps_its_mode_without_a_warning() {
    let env = Env::new();
    env.encrypted("s.yaml");
    let out = env.path("out.yaml");
    std::fs::write(&out, "").expect("pre-create");
    chmod(&out, 0o644);
    let o = env.run(&["decrypt", "--output", "out.yaml", "s.yaml"]);
    assert!(o.status.success(), "{}", err(&o));
    let (uid, _) = me();
    let (got_uid, _, mode) = owner_mode(&out);
    assert_eq!((got_uid, mode), (uid, 0o644));
    assert!(!err(&o).contains("belonged"), "{}", err(&o));
    // A new file is 0600.
    let o = env.run(&["decrypt", "--output", "new.yaml", "s.yaml"]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(owner_mode(&env.path("new.yaml")).2, 0o600);
}

#[test]
fn encrypted_writes_keep_another_users_owner_and_mode() {
    if !is_root() {
        eprintln!("skipped: making a file of another user's needs root");
        return;
    }
    let env = Env::new();
    let s = env.encrypted("s.yaml");
    chown(&s, OTHER);
    chmod(&s, 0o644);
    let o = env.run(&["set", "s.yaml", r#"["b"]"#, r#""two""#]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(owner_mode(&s), (OTHER.0, OTHER.1, 0o644));
    let out = env.path("out.yaml");
    std::fs::write(&out, "x: 1\n").expect("plain");
    std::fs::write(env.path("p.yaml"), "a: 1\n").expect("plain");
    chown(&out, OTHER);
    chmod(&out, 0o640);
    let o = env.run(&[
        "encrypt",
        "--age",
        AGE_RECIPIENT,
        "--output",
        "out.yaml",
        "p.yaml",
    ]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(owner_mode(&out), (OTHER.0, OTHER.1, 0o640));
    assert!(!err(&o).contains("belonged"), "{}", err(&o));
}

/// An ordinary user (not root) who belongs to the pre-creator's group, writing into a
/// directory anyone may write to: before, the new file got that group and the old mode
/// 0644, so the pre-creator (through group and other bits) read the plaintext.
#[test]
fn an_ordinary_user_in_the_pre_creators_group_writes_a_private_file() {
    if !is_root() {
        eprintln!("skipped: running leafseal as another user needs root (setpriv)");
        return;
    }
    if Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("skipped: no setpriv");
        return;
    }
    let env = Env::new();
    env.encrypted("s.yaml");
    chmod(&env.path("s.yaml"), 0o644);
    // Shared, writable by anyone, not sticky (as a badly set-up deploy directory).
    chmod(env.dir.path(), 0o777);
    chmod(env.home.path(), 0o777);
    let key = env.home.path().join("keys.txt");
    std::fs::copy(age_key_file(), &key).expect("key");
    chmod(&key, 0o644);
    let out = env.path("out.yaml");
    std::fs::write(&out, "").expect("pre-create");
    chown(&out, OTHER);
    chmod(&out, 0o644);
    let (user, group) = (65534_u32, 65534_u32);
    let o = Command::new("setpriv")
        .arg(format!("--reuid={user}"))
        .arg(format!("--regid={group}"))
        .arg(format!("--groups={}", OTHER.1))
        .arg(env!("CARGO_BIN_EXE_leafseal"))
        .args(["decrypt", "--output", "out.yaml", "s.yaml"])
        .env_clear()
        .env("HOME", env.home.path())
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SOPS_AGE_KEY_FILE", &key)
        .current_dir(env.dir.path())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("setpriv");
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(std::fs::read_to_string(&out).expect("read"), "a: secret\n");
    assert_eq!(owner_mode(&out), (user, group, 0o600));
    assert!(err(&o).contains("belonged to user id 4321"), "{}", err(&o));
}
