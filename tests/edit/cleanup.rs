//! The plaintext workspace: where it lives, and its removal on failure and on signals.

use super::*;

#[test]
fn failing_or_killed_editor_leaves_nothing() {
    let t = T::new();
    let before = t.committed();
    let ed = t.editor("fail.sh", "sed -i 's/hunter2/changed/' \"$F\"\nexit 3");
    let o = t.edit(&ed, &["secrets.yaml"]);
    assert_eq!(code(&o), 201, "{}", stderr(&o));
    assert!(stderr(&o).contains("exited with status 3"));
    assert_eq!(t.target(), before);
    t.assert_no_plaintext(&t.secret);

    let ed = t.editor("kill.sh", "sed -i 's/hunter2/changed/' \"$F\"\nkill -9 $$");
    let o = t.edit(&ed, &["secrets.yaml"]);
    assert_eq!(code(&o), 201, "{}", stderr(&o));
    assert!(stderr(&o).contains("killed by signal 9"), "{}", stderr(&o));
    assert_eq!(t.target(), before);
    t.assert_no_plaintext(&t.secret);
}

fn signal_case(sig: &str, num: i32) {
    let t = T::new();
    let before = t.committed();
    // The editor announces itself, then waits forever.
    let ed = t.editor("wait.sh", "touch \"$LOG/ready\"\nexec sleep 60");
    let mut v = t.vars();
    v.insert("SOPS_EDITOR".to_owned(), ed);
    let mut child = t.cmd(&v, &["edit", "secrets.yaml"]).spawn().expect("spawn");
    let start = Instant::now();
    while t.logged("ready").is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "editor never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let ws = PathBuf::from(t.logged("path").unwrap());
    assert!(ws.exists());
    let k = Command::new("kill")
        .args(["-s", sig, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(k.success());
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "leafseal did not exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().expect("output");
    assert_eq!(status.code(), Some(128 + num), "{}", stderr(&out));
    assert!(stderr(&out).contains("interrupted by signal"));
    assert!(!ws.exists());
    assert_eq!(t.target(), before);
    t.assert_no_plaintext(&t.secret);
}

#[test]
fn sigterm_while_editing_removes_the_plaintext() {
    signal_case("TERM", 15);
}

#[test]
fn sigint_while_editing_removes_the_plaintext() {
    signal_case("INT", 2);
}

#[test]
fn sighup_while_editing_removes_the_plaintext() {
    signal_case("HUP", 1);
}

#[test]
fn workspace_falls_back_to_dev_shm_then_tmpdir() {
    let t = T::new();
    let before = t.committed();
    let ed = t.editor("noop.sh", "true");
    let mut v = t.vars();
    v.remove("XDG_RUNTIME_DIR");
    v.insert("SOPS_EDITOR".to_owned(), ed);
    let o = t.cmd(&v, &["edit", "secrets.yaml"]).output().expect("run");
    assert_eq!(code(&o), 200, "{}", stderr(&o));
    let path = PathBuf::from(t.logged("path").unwrap());
    let root = path.parent().unwrap().parent().unwrap().to_owned();
    if Path::new("/dev/shm").is_dir() {
        assert_eq!(root, Path::new("/dev/shm"));
    } else {
        assert_eq!(root, std::fs::canonicalize(t.tmp.path()).unwrap());
    }
    // An unusable XDG_RUNTIME_DIR is skipped.
    v.insert("XDG_RUNTIME_DIR".to_owned(), "/nonexistent-xdg".to_owned());
    let o = t.cmd(&v, &["edit", "secrets.yaml"]).output().expect("run");
    assert_eq!(code(&o), 200, "{}", stderr(&o));
    assert_eq!(t.target(), before);
    t.assert_no_plaintext(&t.secret);
}

#[test]
fn sigquit_while_editing_removes_the_plaintext() {
    signal_case("QUIT", 3);
}
