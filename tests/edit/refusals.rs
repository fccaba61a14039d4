//! Edits refused without touching the file: invalid text, tampering, relative editor names.

use super::*;

#[test]
fn invalid_yaml_fails_without_touching_the_file_or_leaking_content() {
    let t = T::new();
    let before = t.committed();
    let ed = t.editor(
        "bad.sh",
        "printf 'app:\\n    password: \"hunter2-PLAINTEXT\\n  - [oops\\n' >> \"$F\"",
    );
    let o = t.edit(&ed, &["secrets.yaml"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("not valid yaml"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    assert!(!err.contains("oops"), "{err}");
    assert_eq!(t.target(), before);
    t.assert_no_plaintext(&t.secret);

    // A top-level `sops` key is refused the same way (203, the "already encrypted" code).
    let ed = t.editor("sops.sh", "printf 'sops:\\n    mac: x\\n' >> \"$F\"");
    let o = t.edit(&ed, &["secrets.yaml"]);
    assert_eq!(code(&o), 203, "{}", stderr(&o));
    assert!(!stderr(&o).contains("hunter2"));
    assert_eq!(t.target(), before);
    t.assert_no_plaintext(&t.secret);
}

#[test]
fn relative_editor_names_never_run_from_the_current_directory() {
    let t = T::new();
    let before = t.committed();
    // Planted executables in the working directory (the repository).
    for name in ["myeditor", "vim", "nano", "vi"] {
        let p = t.repo.path().join(name);
        std::fs::write(
            &p,
            format!("#!/bin/sh\ntouch '{}/PWNED'\n", t.log.path().display()),
        )
        .expect("write");
        chmod(&p, 0o755);
    }
    let cases: [(&str, Option<&str>); 4] = [
        ("/usr/bin:/bin", Some("myeditor")),
        (":/usr/bin:/bin", Some("myeditor")),
        (".:/nonexistent", Some("myeditor")),
        (":.:/nonexistent", None),
    ];
    for (path, editor) in cases {
        let mut v = t.vars();
        v.insert("PATH".to_owned(), path.to_owned());
        if let Some(e) = editor {
            v.insert("EDITOR".to_owned(), e.to_owned());
        }
        let o = t.cmd(&v, &["edit", "secrets.yaml"]).output().expect("run");
        assert_eq!(code(&o), 201, "PATH={path}: {}", stderr(&o));
        assert!(
            t.logged("PWNED").is_none(),
            "ran ./{editor:?} with PATH={path}"
        );
        assert_eq!(t.target(), before);
    }
    // An explicit relative path is the user's choice and does run.
    let mut v = t.vars();
    v.insert("EDITOR".to_owned(), "./myeditor".to_owned());
    let o = t.cmd(&v, &["edit", "secrets.yaml"]).output().expect("run");
    assert_eq!(code(&o), 200, "{}", stderr(&o));
    assert!(t.logged("PWNED").is_some());
}

#[test]
fn tampered_file_is_refused_before_editing() {
    let t = T::new();
    let mut bytes = t.committed();
    let text = String::from_utf8(bytes.clone()).unwrap();
    // Rename a key: its value's AAD no longer matches, so it cannot be decrypted.
    let tampered = text.replacen("    port:", "    porT:", 1);
    std::fs::write(t.repo.path().join("secrets.yaml"), &tampered).unwrap();
    bytes = tampered.into_bytes();
    let ed = t.editor("never.sh", "touch \"$LOG/ran\"");
    let o = t.edit(&ed, &["secrets.yaml"]);
    assert_eq!(code(&o), 25, "{}", stderr(&o));
    assert!(t.logged("ran").is_none());
    assert_eq!(t.target(), bytes);
}

/// On a terminal, a parse error shows the error, waits for Enter and reopens the editor on
/// the same (broken) text, so no edit is lost. `script` provides the terminal.
#[test]
fn parse_error_on_a_terminal_reopens_the_editor_with_the_edits() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: util-linux `script` is not installed");
        return;
    }
    let t = T::new();
    t.committed();
    let ed = t.editor(
        "twice.sh",
        "if [ ! -e \"$LOG/first\" ]; then\n  touch \"$LOG/first\"\n  printf 'broken: \"unterminated\\n' >> \"$F\"\n  exit 0\nfi\ngrep -q '^broken: \"unterminated' \"$F\"\nsed -i '/^broken:/d; s/hunter2-/hunter4-/' \"$F\"",
    );
    let mut v = t.vars();
    v.insert("SOPS_EDITOR".to_owned(), ed);
    v.insert("SHELL".to_owned(), "/bin/sh".to_owned());
    let inner = format!("{} edit secrets.yaml", env!("CARGO_BIN_EXE_leafseal"));
    let mut child = Command::new("script")
        .args(["-qec", &inner, "/dev/null"])
        .env_clear()
        .envs(&v)
        .current_dir(t.repo.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script");
    let mut stdin = child.stdin.take().expect("stdin");
    let start = Instant::now();
    while t.logged("first").is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "editor never ran"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    std::io::Write::write_all(&mut stdin, b"\n").expect("enter");
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
    drop(stdin);
    let out = child.wait_with_output().expect("output");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(status.success(), "{screen}");
    assert!(screen.contains("not valid yaml"), "{screen}");
    assert!(
        screen.contains("Press Enter to reopen the editor"),
        "{screen}"
    );
    assert!(!screen.contains(&t.secret), "{screen}");
    let changed = t.secret.replace("hunter2-", "hunter4-");
    assert_eq!(t.decrypt("secrets.yaml"), plain(&changed));
    t.assert_no_plaintext(&changed);
}
