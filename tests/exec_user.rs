//! `exec-file --user` and `render --user` run as root: the account the command runs as
//! gets read access to the one plaintext file and nothing else. Before round 19 the
//! private directory was given to the account, which could then make root write the
//! plaintext into any file (a symlink in place of the FIFO), delete a file in any
//! directory and keep the plaintext (the directory moved away, a symlink in its place).
//!
//! These tests need root and a `nobody` account; they are skipped (with the reason
//! printed) otherwise.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::path::PathBuf;
use std::process::Output;

use support::*;

const PLAIN: &str = "DB_PASSWORD: hunter2-very-secret\n";
const SECRET: &str = "hunter2-very-secret";
const VICTIM: &str = "ROOT-ONLY ORIGINAL CONTENT .....................................\n";

/// Why these tests cannot run here, if they cannot.
fn skip_reason() -> Option<&'static str> {
    if !rustix::process::geteuid().is_root() {
        return Some("not running as root");
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    if !passwd.lines().any(|l| l.starts_with("nobody:")) {
        return Some("there is no `nobody` account");
    }
    None
}

macro_rules! root_only {
    () => {
        if let Some(why) = skip_reason() {
            eprintln!("skipped: {why}");
            return;
        }
    };
}

struct Env {
    home: tempfile::TempDir,
    work: tempfile::TempDir,
    /// The temp root (XDG_RUNTIME_DIR and TMPDIR), world-writable with the sticky bit
    /// like /dev/shm and /tmp.
    runtime: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let env = Env {
            home: tempfile::tempdir().expect("home"),
            work: tempfile::tempdir().expect("work"),
            runtime: tempfile::tempdir().expect("runtime"),
        };
        std::fs::set_permissions(env.runtime.path(), std::fs::Permissions::from_mode(0o1777))
            .expect("chmod runtime");
        std::fs::write(env.work.path().join("plain.yaml"), PLAIN).expect("write");
        let out = env.run(&["encrypt", "--age", AGE_RECIPIENT, "plain.yaml"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        std::fs::write(env.work.path().join("secrets.yaml"), &out.stdout).expect("write");
        std::fs::write(
            env.work.path().join("t.tmpl"),
            "pw={{ [\"DB_PASSWORD\"] }}\n",
        )
        .expect("write");
        env
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut vars = env_vars(None, self.home.path());
        let root = self.runtime.path().display().to_string();
        vars.insert("XDG_RUNTIME_DIR".to_owned(), root.clone());
        vars.insert("TMPDIR".to_owned(), root);
        run_in(&vars, self.work.path(), args)
    }

    /// A root-only file the command must not be able to change.
    fn victim(&self) -> PathBuf {
        let p = self.work.path().join("victim");
        std::fs::write(&p, VICTIM).expect("write victim");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        p
    }

    /// Every path under the temp root (recursively), and whether any file there holds
    /// the secret.
    fn leftovers(&self) -> (Vec<PathBuf>, bool) {
        let mut found = Vec::new();
        let mut secret = false;
        walk(self.runtime.path(), &mut found, &mut secret);
        (found, secret)
    }
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>, secret: &mut bool) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if m.is_dir() {
            walk(&p, found, secret);
        } else if m.is_file() && std::fs::read_to_string(&p).is_ok_and(|s| s.contains(SECRET)) {
            *secret = true;
        }
        found.push(p);
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The command of the FIFO attack: replace the FIFO (atomically) with a symlink to
/// `victim`, then give root's writer time to open the path.
fn symlink_attack(victim: &Path) -> String {
    format!(
        "ln -s {v} \"$1.x\" 2>/dev/null; mv -f \"$1.x\" \"$1\" 2>/dev/null; sleep 0.5; exit 0",
        v = victim.display()
    )
}

/// The command of the directory attack: move the private directory away and put a
/// symlink to `target` in its place, so that root's clean-up works in `target`.
fn directory_attack(target: &Path) -> String {
    format!(
        "d=$(dirname \"$1\"); mv \"$d\" \"$d.moved\" 2>/dev/null; ln -s {t} \"$d\" 2>/dev/null; exit 0",
        t = target.display()
    )
}

fn assert_clean(env: &Env) {
    let (left, secret) = env.leftovers();
    assert!(!secret, "plaintext left behind: {left:?}");
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn exec_file_user_gets_the_file_and_cannot_list_or_change_the_directory() {
    root_only!();
    let env = Env::new();
    for extra in [None, Some("--no-fifo")] {
        let mut args = vec!["exec-file", "--user", "nobody"];
        args.extend(extra);
        args.extend([
            "secrets.yaml",
            "--",
            "/bin/sh",
            "-c",
            "id -u; cat \"$1\"; d=$(dirname \"$1\"); \
             ls \"$d\" >/dev/null 2>&1 && echo listed; \
             touch \"$d/new\" 2>/dev/null && echo created; \
             rm -f \"$1\" 2>/dev/null; test -e \"$1\" || echo removed",
            "sh",
            "{}",
        ]);
        let out = env.run(&args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let stdout = text(&out.stdout);
        assert!(stdout.starts_with("65534\n"), "{extra:?}: {stdout}");
        assert!(stdout.contains(SECRET), "{extra:?}: {stdout}");
        for bad in ["listed", "created", "removed"] {
            assert!(!stdout.contains(bad), "{extra:?}: {bad}: {stdout}");
        }
        assert_clean(&env);
    }
}

/// Runs `command` (its arguments up to the file, `--user nobody` added) with a child
/// that swaps the FIFO for a link to a root-owned file: the file is left as it was.
fn fifo_redirect_is_refused(env: &Env, command: &[&str]) {
    let victim = env.victim();
    let attack = symlink_attack(&victim);
    let mut args = command.to_vec();
    args.extend(["--user", "nobody"]);
    args.extend(&command_files(command));
    args.extend(["--", "/bin/sh", "-c", &attack, "sh", "{}"]);
    let out = env.run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&victim).expect("victim"), VICTIM);
    assert_clean(env);
}

/// Runs `command --no-fifo --user nobody` with a child that moves the private directory
/// away and puts a link to another directory in its place: nothing there is removed.
fn directory_swap_is_refused(env: &Env, command: &[&str]) {
    let target = env.work.path().join("target_dir");
    std::fs::create_dir_all(&target).expect("mkdir");
    std::fs::write(target.join("tmp-file"), "important\n").expect("write");
    let attack = directory_attack(&target);
    let mut args = command.to_vec();
    args.extend(["--no-fifo", "--user", "nobody"]);
    args.extend(&command_files(command));
    args.extend(["--", "/bin/sh", "-c", &attack, "sh", "{}"]);
    let out = env.run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(target.join("tmp-file")).expect("root's file was removed"),
        "important\n"
    );
    assert_clean(env);
}

/// The files `command` reads: a template before the secrets for `render`.
fn command_files(command: &[&str]) -> Vec<&'static str> {
    if command == ["render"] {
        vec!["t.tmpl", "secrets.yaml"]
    } else {
        vec!["secrets.yaml"]
    }
}

#[test]
fn exec_file_user_cannot_redirect_the_fifo_writer_with_a_symlink() {
    root_only!();
    fifo_redirect_is_refused(&Env::new(), &["exec-file"]);
}

#[test]
fn exec_file_user_no_fifo_cannot_swap_the_directory() {
    root_only!();
    directory_swap_is_refused(&Env::new(), &["exec-file"]);
}

#[test]
fn render_user_cannot_redirect_the_fifo_or_swap_the_directory() {
    root_only!();
    let env = Env::new();
    fifo_redirect_is_refused(&env, &["render"]);
    directory_swap_is_refused(&env, &["render"]);

    // The account still reads the rendered file.
    let out = env.run(&[
        "render",
        "--user",
        "nobody",
        "t.tmpl",
        "secrets.yaml",
        "--",
        "cat",
        "{}",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("pw={SECRET}\n"));
    assert_clean(&env);
}
