//! How the writing commands treat the file system, through the binary on real files:
//! symbolic links inside and outside the repository, hard links, devices and FIFOs, mode
//! and owner, the edit workspace wipe with a hard link, and the lock that keeps every
//! update of concurrent `set` (and other read-modify-write) runs.

mod support;

use std::collections::HashMap;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::path::PathBuf;
use std::process::Command;
use std::process::Output;
use std::process::Stdio;

use support::*;

/// A second age recipient (no private key needed: it is only added to files).
const OTHER_RECIPIENT: &str = "age1tmaae3ld5vpevmsh5yacsauzx8jetg300mpvc4ugp5zr5l6ssq9sla97ep";

struct Env {
    home: tempfile::TempDir,
    /// `repo/` is a git work tree; `outside/` is not in it.
    base: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let env = Env {
            home: tempfile::tempdir().expect("home"),
            base: tempfile::tempdir().expect("base"),
        };
        std::fs::create_dir(env.repo()).expect("repo");
        std::fs::create_dir(env.outside()).expect("outside");
        let o = Command::new("git")
            .args(["init", "-q"])
            .current_dir(env.repo())
            .output()
            .expect("git init");
        assert!(o.status.success());
        env
    }

    fn repo(&self) -> PathBuf {
        self.base.path().join("repo")
    }

    fn outside(&self) -> PathBuf {
        self.base.path().join("outside")
    }

    fn vars(&self) -> HashMap<String, String> {
        env_vars(None, self.home.path())
    }

    fn run(&self, args: &[&str]) -> Output {
        run_in(&self.vars(), &self.repo(), args)
    }

    /// Writes `plain` to `path` and encrypts it in place for the fixture age key.
    fn encrypted(&self, path: &Path, plain: &str) -> Vec<u8> {
        std::fs::write(path, plain).expect("write");
        let p = path.display().to_string();
        let o = self.run(&["encrypt", "-i", "--age", AGE_RECIPIENT, &p]);
        assert!(o.status.success(), "{}", err(&o));
        std::fs::read(path).expect("read")
    }

    fn decrypt(&self, path: &Path) -> String {
        let o = self.run(&["decrypt", &path.display().to_string()]);
        assert!(o.status.success(), "{}", err(&o));
        String::from_utf8(o.stdout).expect("utf8")
    }
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

fn symlink(to: &Path, at: &Path) {
    std::os::unix::fs::symlink(to, at).expect("symlink");
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".git")
        .collect();
    v.sort();
    v
}

#[test]
fn writing_through_a_symlink_inside_the_repository_replaces_its_target() {
    let env = Env::new();
    std::fs::create_dir(env.repo().join("real")).expect("dir");
    let real = env.repo().join("real/s.yaml");
    env.encrypted(&real, "a: one\n");
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let link = env.repo().join("s.yaml");
    symlink(Path::new("real/s.yaml"), &link);

    for args in [
        vec!["set", "s.yaml", r#"["b"]"#, r#""two""#],
        vec!["unset", "s.yaml", r#"["a"]"#],
        vec!["rotate", "-i", "s.yaml"],
        vec!["decrypt", "-i", "s.yaml"],
        vec!["encrypt", "-i", "--age", AGE_RECIPIENT, "s.yaml"],
    ] {
        let o = env.run(&args);
        assert!(o.status.success(), "{args:?}: {}", err(&o));
        let m = link.symlink_metadata().expect("lstat");
        assert!(m.file_type().is_symlink(), "{args:?} replaced the link");
        let rm = real.metadata().expect("stat");
        assert_eq!(rm.mode() & 0o7777, 0o640, "{args:?} changed the mode");
        assert_eq!(rm.nlink(), 1);
    }
    assert_eq!(env.decrypt(&real), "b: two\n");
    assert_eq!(entries(&env.repo()), ["real", "s.yaml"]);
    assert_eq!(entries(&env.repo().join("real")), ["s.yaml"]);
}

#[test]
fn a_symlink_leading_outside_the_repository_is_refused_unless_allowed() {
    let env = Env::new();
    let real = env.outside().join("s.yaml");
    let before = env.encrypted(&real, "a: one\n");
    symlink(&real, &env.repo().join("s.yaml"));
    std::fs::write(
        env.repo().join(".sops.yaml"),
        format!(
            "creation_rules:\n  - path_regex: .*\n    age: {AGE_RECIPIENT},{OTHER_RECIPIENT}\n"
        ),
    )
    .expect("policy");

    for args in [
        vec!["set", "s.yaml", r#"["b"]"#, r#""two""#],
        vec!["unset", "s.yaml", r#"["a"]"#],
        vec!["rotate", "-i", "s.yaml"],
        vec!["decrypt", "-i", "s.yaml"],
        vec!["updatekeys", "-y", "s.yaml"],
        vec!["groups", "delete", "-i", "-f", "s.yaml", "0"],
        vec!["decrypt", "--output", "s.yaml", "s.yaml"],
    ] {
        let o = env.run(&args);
        assert_eq!(code(&o), 3, "{args:?}: {}", err(&o));
        assert!(err(&o).contains("outside"), "{args:?}: {}", err(&o));
        assert!(err(&o).contains("--allow-outside-root"), "{}", err(&o));
        assert_eq!(std::fs::read(&real).expect("read"), before, "{args:?}");
    }
    // A directory walk does not follow the link.
    let o = env.run(&["updatekeys", "-y", "."]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(std::fs::read(&real).expect("read"), before);
    // edit refuses before the editor runs.
    let mut v = env.vars();
    v.insert("SOPS_EDITOR".to_owned(), "/bin/false".to_owned());
    let o = run_in(&v, &env.repo(), &["edit", "s.yaml"]);
    assert_eq!(code(&o), 3, "{}", err(&o));
    assert_eq!(std::fs::read(&real).expect("read"), before);
    assert_eq!(entries(&env.outside()), ["s.yaml"]);

    // Explicitly allowed: written through the link, which stays.
    let o = env.run(&[
        "--allow-outside-root",
        "set",
        "s.yaml",
        r#"["b"]"#,
        r#""two""#,
    ]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        env.repo()
            .join("s.yaml")
            .symlink_metadata()
            .expect("lstat")
            .file_type()
            .is_symlink()
    );
    assert_eq!(env.decrypt(&real), "a: one\nb: two\n");
}

#[test]
fn a_hard_linked_file_is_refused_unless_forced_then_every_link_sees_it() {
    let env = Env::new();
    let file = env.repo().join("s.yaml");
    let before = env.encrypted(&file, "a: one\n");
    let other = env.repo().join("copy.yaml");
    std::fs::hard_link(&file, &other).expect("link");

    for args in [
        vec!["set", "s.yaml", r#"["b"]"#, r#""two""#],
        vec!["rotate", "-i", "s.yaml"],
        vec!["decrypt", "-i", "s.yaml"],
        vec!["decrypt", "--output", "copy.yaml", "s.yaml"],
    ] {
        let o = env.run(&args);
        assert_eq!(code(&o), 3, "{args:?}: {}", err(&o));
        assert!(err(&o).contains("2 hard links"), "{}", err(&o));
        assert!(err(&o).contains("--force-target"), "{}", err(&o));
        assert_eq!(std::fs::read(&file).expect("read"), before);
        assert_eq!(file.metadata().expect("stat").nlink(), 2);
    }
    let o = env.run(&["--force-target", "set", "s.yaml", r#"["b"]"#, r#""two""#]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(file.metadata().expect("stat").nlink(), 2);
    assert_eq!(env.decrypt(&other), "a: one\nb: two\n");
    assert_eq!(entries(&env.repo()), ["copy.yaml", "s.yaml"]);
}

#[test]
fn devices_and_fifos_are_refused_unless_forced() {
    let env = Env::new();
    let file = env.repo().join("s.yaml");
    let before = env.encrypted(&file, "a: one\n");
    let fifo = env.repo().join("pipe.yaml");
    let o = Command::new("mkfifo").arg(&fifo).output().expect("mkfifo");
    assert!(o.status.success());
    symlink(Path::new("/dev/null"), &env.repo().join("null.yaml"));

    let cases: [&[&str]; 4] = [
        &["decrypt", "--output", "pipe.yaml", "s.yaml"],
        &["decrypt", "--output", "/dev/null", "s.yaml"],
        &["--allow-outside-root", "decrypt", "-i", "null.yaml"],
        &["--allow-outside-root", "set", "null.yaml", r#"["b"]"#, "1"],
    ];
    for args in cases {
        let o = env.run(args);
        assert_eq!(code(&o), 3, "{args:?}: {}", err(&o));
        assert!(
            err(&o).contains("FIFO") || err(&o).contains("character device"),
            "{args:?}: {}",
            err(&o)
        );
    }
    assert_eq!(std::fs::read(&file).expect("read"), before);
    assert!(
        fifo.symlink_metadata()
            .expect("lstat")
            .file_type()
            .is_fifo()
    );
    assert!(
        std::fs::symlink_metadata("/dev/null")
            .expect("lstat")
            .file_type()
            .is_char_device()
    );

    // Forced: the bytes go into the FIFO, which stays a FIFO.
    let reader_path = fifo.clone();
    let reader = std::thread::spawn(move || std::fs::read(reader_path).expect("read fifo"));
    let o = env.run(&[
        "--force-target",
        "decrypt",
        "--output",
        "pipe.yaml",
        "s.yaml",
    ]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(reader.join().expect("reader"), b"a: one\n");
    assert!(
        fifo.symlink_metadata()
            .expect("lstat")
            .file_type()
            .is_fifo()
    );
}

#[test]
fn mode_and_owner_are_kept() {
    let env = Env::new();
    let file = env.repo().join("s.yaml");
    env.encrypted(&file, "a: one\n");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o604)).expect("chmod");
    let root = rustix::process::geteuid().is_root();
    if root {
        let o = Command::new("chown")
            .args(["4321:4322"])
            .arg(&file)
            .output()
            .expect("chown");
        assert!(o.status.success());
    }
    let o = env.run(&["set", "s.yaml", r#"["b"]"#, r#""two""#]);
    assert!(o.status.success(), "{}", err(&o));
    let m = file.metadata().expect("stat");
    assert_eq!(m.mode() & 0o7777, 0o604);
    if root {
        assert_eq!((m.uid(), m.gid()), (4321, 4322));
    }
    assert_eq!(env.decrypt(&file), "a: one\nb: two\n");
}

#[test]
fn the_edit_workspace_wipe_never_zeroes_a_file_with_another_link() {
    let env = Env::new();
    let file = env.repo().join("s.yaml");
    env.encrypted(&file, "a: one\n");
    let xdg = tempfile::tempdir().expect("xdg");
    std::fs::set_permissions(xdg.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
    // A file of the user's on the workspace's file system; the "editor" replaces the
    // workspace file with a hard link to it.
    let precious = xdg.path().join("precious.yaml");
    std::fs::write(&precious, "kept: precious\n").expect("write");
    let script = xdg.path().join("ed.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nrm -f \"$1\"\nln '{}' \"$1\"\n",
            precious.display()
        ),
    )
    .expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut v = env.vars();
    v.insert("SOPS_EDITOR".to_owned(), script.display().to_string());
    v.insert(
        "XDG_RUNTIME_DIR".to_owned(),
        xdg.path().display().to_string(),
    );
    let o = run_in(&v, &env.repo(), &["edit", "s.yaml"]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(
        std::fs::read_to_string(&precious).expect("read"),
        "kept: precious\n"
    );
    assert_eq!(env.decrypt(&file), "kept: precious\n");
    assert_eq!(entries(xdg.path()), ["ed.sh", "precious.yaml"]);
}

/// Spawns `n` commands at once and waits for all of them.
fn parallel(env: &Env, cmds: Vec<Vec<String>>) -> Vec<Output> {
    let children: Vec<_> = cmds
        .iter()
        .map(|args| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            spawn_in(&env.vars(), &env.repo(), &args)
        })
        .collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().expect("wait"))
        .collect()
}

#[test]
fn a_hundred_parallel_sets_keep_every_update() {
    let env = Env::new();
    let file = env.repo().join("s.yaml");
    env.encrypted(&file, "start: 0\n");
    let cmds = (0..100)
        .map(|i| {
            vec![
                "set".to_owned(),
                "s.yaml".to_owned(),
                format!(r#"["k{i:03}"]"#),
                format!(r#""v{i}""#),
            ]
        })
        .collect();
    for o in parallel(&env, cmds) {
        assert!(o.status.success(), "{}", err(&o));
    }
    // The MAC is checked by decrypt.
    let plain = env.decrypt(&file);
    for i in 0..100 {
        assert!(plain.contains(&format!("k{i:03}: v{i}\n")), "k{i:03} lost");
    }
    assert_eq!(plain.lines().count(), 101);
    assert_eq!(entries(&env.repo()), ["s.yaml"]);
}

#[test]
fn mixed_read_modify_write_commands_in_parallel_keep_every_update() {
    let env = Env::new();
    let file = env.repo().join("s.yaml");
    env.encrypted(&file, "start: 0\ngone: 1\n");
    std::fs::write(
        env.repo().join(".sops.yaml"),
        format!(
            "creation_rules:\n  - path_regex: .*\n    age: {AGE_RECIPIENT},{OTHER_RECIPIENT}\n"
        ),
    )
    .expect("policy");
    let mut cmds: Vec<Vec<String>> = Vec::new();
    for i in 0..30 {
        let s = |x: &str| x.to_owned();
        cmds.push(vec![
            s("set"),
            s("s.yaml"),
            format!(r#"["k{i:02}"]"#),
            format!(r#""v{i}""#),
        ]);
        match i % 6 {
            0 => cmds.push(vec![s("rotate"), s("-i"), s("s.yaml")]),
            2 => cmds.push(vec![s("updatekeys"), s("-y"), s("s.yaml")]),
            4 => cmds.push(vec![
                s("groups"),
                s("add"),
                s("-i"),
                s("-f"),
                s("s.yaml"),
                s("--age"),
                s(AGE_RECIPIENT),
            ]),
            _ => {}
        }
    }
    cmds.push(vec![
        "unset".to_owned(),
        "s.yaml".to_owned(),
        r#"["gone"]"#.to_owned(),
    ]);
    for o in parallel(&env, cmds) {
        assert!(o.status.success(), "{}", err(&o));
    }
    let plain = env.decrypt(&file);
    for i in 0..30 {
        assert!(plain.contains(&format!("k{i:02}: v{i}\n")), "k{i:02} lost");
    }
    assert!(!plain.contains("gone"));
    assert_eq!(entries(&env.repo()), [".sops.yaml", "s.yaml"]);
}

#[test]
fn a_set_during_an_edit_waits_for_it_and_both_changes_survive() {
    let env = Env::new();
    let file = env.repo().join("s.yaml");
    env.encrypted(&file, "a: one\n");
    let dir = tempfile::tempdir().expect("dir");
    let ready = dir.path().join("ready");
    let script = dir.path().join("ed.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ntouch '{}'\nsleep 1\nprintf 'edited: ok\\n' >> \"$1\"\n",
            ready.display()
        ),
    )
    .expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut v = env.vars();
    v.insert("SOPS_EDITOR".to_owned(), script.display().to_string());
    v.insert(
        "XDG_RUNTIME_DIR".to_owned(),
        dir.path().display().to_string(),
    );
    let edit = leafseal(&v)
        .current_dir(env.repo())
        .args(["edit", "s.yaml"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let start = std::time::Instant::now();
    while !ready.exists() {
        assert!(start.elapsed().as_secs() < 30, "the editor never started");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let set = env.run(&["set", "s.yaml", r#"["b"]"#, r#""two""#]);
    assert!(set.status.success(), "{}", err(&set));
    assert!(
        err(&set).contains("waiting for another leafseal process"),
        "{}",
        err(&set)
    );
    let edit = edit.wait_with_output().expect("edit");
    assert!(edit.status.success(), "{}", err(&edit));
    let plain = env.decrypt(&file);
    assert!(plain.contains("edited: ok"), "{plain}");
    assert!(
        plain.contains("b: two"),
        "{plain}\nedit: {}\nset: {}",
        err(&edit),
        err(&set)
    );
}

/// Named through a symbolic link, or (with `--force-target`) through a second hard link.
#[test]
fn the_same_file_twice_in_one_decrypt_in_place_does_not_wait_for_itself() {
    for hard in [false, true] {
        same_file_twice(hard);
    }
}

fn same_file_twice(hard: bool) {
    let env = Env::new();
    let file = env.repo().join("s.yaml");
    env.encrypted(&file, "a: one\n");
    let other = env.repo().join("l.yaml");
    if hard {
        std::fs::hard_link(&file, &other).expect("link");
    } else {
        symlink(Path::new("s.yaml"), &other);
    }
    let global: &[&str] = if hard { &["--force-target"] } else { &[] };
    let mut child = leafseal(&env.vars())
        .current_dir(env.repo())
        .args(global)
        .args(["decrypt", "-i", "s.yaml", "l.yaml"])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed().as_secs() > 30 {
            let _ = child.kill();
            panic!("decrypt -i waited for its own lock");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    assert!(status.success(), "hard link: {hard}: {stderr}");
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "a: one\n");
}
