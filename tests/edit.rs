//! `leafseal edit` end to end: scripted editors, a real git repository, signals, and a
//! scan of every temp root for leftover plaintext.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::path::PathBuf;
use std::process::Command;
use std::process::Output;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

use support::*;

/// The plaintext of `secrets.yaml`; `secret` is unique per test, so tests running in
/// parallel never see each other's plaintext in the shared `/dev/shm`.
fn plain(secret: &str) -> String {
    format!(
        "app:\n    user: admin\n    password: {secret}\n    port: 5432\nlist:\n    - first\n    - second\n"
    )
}

struct T {
    home: tempfile::TempDir,
    repo: tempfile::TempDir,
    xdg: tempfile::TempDir,
    tmp: tempfile::TempDir,
    bin: tempfile::TempDir,
    log: tempfile::TempDir,
    /// The secret value in `secrets.yaml` (unique per test).
    secret: String,
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("git");
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("utf8")
}

impl T {
    fn new() -> T {
        let home = tempfile::tempdir().expect("home");
        let tag: String = home
            .path()
            .file_name()
            .expect("name")
            .to_string_lossy()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let t = T {
            secret: format!("hunter2-{tag}"),
            home,
            repo: tempfile::tempdir().expect("repo"),
            xdg: tempfile::tempdir().expect("xdg"),
            tmp: tempfile::tempdir().expect("tmp"),
            bin: tempfile::tempdir().expect("bin"),
            log: tempfile::tempdir().expect("log"),
        };
        chmod(t.xdg.path(), 0o700);
        git(t.repo.path(), &["init", "-q", "-b", "main"]);
        t
    }

    fn vars(&self) -> HashMap<String, String> {
        let mut v = env_vars(None, self.home.path());
        v.insert(
            "XDG_RUNTIME_DIR".to_owned(),
            self.xdg.path().display().to_string(),
        );
        v.insert("TMPDIR".to_owned(), self.tmp.path().display().to_string());
        v
    }

    /// Writes an editor script; `$1` is a fixed argument (`--flag`), `$2` the file.
    fn editor(&self, name: &str, body: &str) -> String {
        let p = self.bin.path().join(name);
        let log = self.log.path().display();
        std::fs::write(
            &p,
            format!(
                "#!/bin/sh\nset -e\nLOG='{log}'\ntest \"$1\" = --flag\nF=\"$2\"\nprintf '%s' \"$F\" > \"$LOG/path\"\n{body}\n"
            ),
        )
        .expect("script");
        chmod(&p, 0o755);
        format!("{} --flag", p.display())
    }

    fn cmd(&self, vars: &HashMap<String, String>, args: &[&str]) -> Command {
        let mut c = leafseal(vars);
        c.current_dir(self.repo.path())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    fn edit(&self, editor: &str, args: &[&str]) -> Output {
        let mut v = self.vars();
        v.insert("SOPS_EDITOR".to_owned(), editor.to_owned());
        let mut all = vec!["edit"];
        all.extend_from_slice(args);
        self.cmd(&v, &all).output().expect("run")
    }

    /// An encrypted, committed `secrets.yaml`; returns its bytes.
    fn committed(&self) -> Vec<u8> {
        let p = self.repo.path().join("secrets.yaml");
        std::fs::write(&p, plain(&self.secret)).expect("write");
        let o = self
            .cmd(
                &self.vars(),
                &["encrypt", "--age", AGE_RECIPIENT, "-i", "secrets.yaml"],
            )
            .output()
            .expect("encrypt");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        git(self.repo.path(), &["add", "secrets.yaml"]);
        git(self.repo.path(), &["commit", "-q", "-m", "secrets"]);
        std::fs::read(&p).expect("read")
    }

    fn target(&self) -> Vec<u8> {
        std::fs::read(self.repo.path().join("secrets.yaml")).expect("read")
    }

    fn decrypt(&self, name: &str) -> String {
        let o = self
            .cmd(&self.vars(), &["decrypt", name])
            .output()
            .expect("decrypt");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).expect("utf8")
    }

    fn logged(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.log.path().join(name)).ok()
    }

    /// Asserts that no leafseal workspace and no file containing `secret` is left in the
    /// temp roots, the repository (outside .git) or the logged workspace path.
    fn assert_no_plaintext(&self, secret: &str) {
        if let Some(p) = self.logged("path") {
            let p = PathBuf::from(p);
            assert!(!p.exists(), "temp file {} left behind", p.display());
            assert!(!p.parent().expect("dir").exists(), "temp dir left behind");
        }
        for root in [self.xdg.path(), self.tmp.path(), Path::new("/dev/shm")] {
            scan(root, secret, root != Path::new("/dev/shm"));
        }
        scan(self.repo.path(), secret, false);
    }
}

/// Walks `dir` (not following links, skipping .git): fails on a file containing `secret`,
/// and, when `no_workspaces`, on any leafseal workspace directory.
fn scan(dir: &Path, secret: &str, no_workspaces: bool) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name == ".git" {
            continue;
        }
        let Ok(m) = p.symlink_metadata() else {
            continue;
        };
        if no_workspaces {
            assert!(
                !name.starts_with("leafseal-edit-"),
                "workspace {} left",
                p.display()
            );
        }
        if m.is_dir() {
            scan(&p, secret, no_workspaces);
        } else if m.is_file()
            && let Ok(b) = std::fs::read(&p)
        {
            let found = b.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "plaintext found in {}", p.display());
        }
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

#[test]
fn one_changed_value_changes_exactly_three_lines_in_git() {
    let t = T::new();
    t.committed();
    // lastmodified has seconds precision: make sure it differs.
    std::thread::sleep(Duration::from_millis(1100));
    let ed = t.editor(
        "ed.sh",
        "stat -c '%a' \"$(dirname \"$F\")\" > \"$LOG/dirmode\"\nstat -c '%a' \"$F\" > \"$LOG/filemode\"\nsed -i 's/hunter2-/hunter3-/' \"$F\"",
    );
    let o = t.edit(&ed, &["secrets.yaml"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let diff = git(t.repo.path(), &["diff", "-U0", "--", "secrets.yaml"]);
    let removed: Vec<&str> = diff
        .lines()
        .filter(|l| l.starts_with('-') && !l.starts_with("---"))
        .collect();
    let added: Vec<&str> = diff
        .lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
        .collect();
    // The value, and the three metadata lines that follow every change: lastmodified,
    // the integrity record and the MAC.
    assert_eq!(removed.len(), 4, "{diff}");
    assert_eq!(added.len(), 4, "{diff}");
    for lines in [&removed, &added] {
        assert!(lines[0][1..].starts_with("    password: ENC[AES256_GCM,data:"));
        assert!(lines[1][1..].starts_with("    lastmodified: \""));
        assert!(lines[2][1..].starts_with("    leafseal_integrity: v1:"));
        assert!(lines[3][1..].starts_with("    mac: ENC[AES256_GCM,data:"));
    }
    let changed = t.secret.replace("hunter2-", "hunter3-");
    assert_eq!(t.decrypt("secrets.yaml"), plain(&changed));
    // The workspace was private, in the XDG runtime dir, named like the target.
    assert_eq!(t.logged("dirmode").unwrap().trim(), "700");
    assert_eq!(t.logged("filemode").unwrap().trim(), "600");
    let path = PathBuf::from(t.logged("path").unwrap());
    assert_eq!(path.file_name().unwrap(), "secrets.yaml");
    let dir = path.parent().unwrap();
    assert!(
        dir.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("leafseal-edit-")
    );
    assert_eq!(
        dir.parent().unwrap(),
        std::fs::canonicalize(t.xdg.path()).unwrap()
    );
    assert!(!path.starts_with(std::fs::canonicalize(t.repo.path()).unwrap()));
    t.assert_no_plaintext(&changed);
    t.assert_no_plaintext(&t.secret);
}

#[test]
fn unchanged_file_exits_200_and_stays_byte_identical() {
    let t = T::new();
    let before = t.committed();
    let ed = t.editor("noop.sh", "cat \"$F\" > /dev/null");
    let o = t.edit(&ed, &["secrets.yaml"]);
    assert_eq!(code(&o), 200, "{}", stderr(&o));
    assert!(stderr(&o).contains("File has not changed"));
    assert_eq!(t.target(), before);
    assert_eq!(git(t.repo.path(), &["status", "--porcelain"]), "");
    t.assert_no_plaintext(&t.secret);
}

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
fn editing_a_new_path_creates_an_encrypted_file() {
    let t = T::new();
    let ed = t.editor(
        "new.sh",
        "grep -q 'database:' \"$F\"\nprintf 'api_key: brand-new-SECRET\\nport: 8080\\n' > \"$F\"",
    );
    let o = t.edit(&ed, &["--age", AGE_RECIPIENT, "new.yaml"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let enc = std::fs::read_to_string(t.repo.path().join("new.yaml")).expect("created");
    assert!(!enc.contains("brand-new-SECRET"));
    assert!(enc.contains("api_key: ENC[AES256_GCM,data:"));
    assert!(enc.contains(AGE_RECIPIENT));
    assert_eq!(
        t.decrypt("new.yaml"),
        "api_key: brand-new-SECRET\nport: 8080\n"
    );
    t.assert_no_plaintext("brand-new-SECRET");

    // The example left as it is: exit 200 and no file.
    let ed = t.editor("keep.sh", "true");
    let o = t.edit(&ed, &["--age", AGE_RECIPIENT, "other.json"]);
    assert_eq!(code(&o), 200, "{}", stderr(&o));
    assert!(!t.repo.path().join("other.json").exists());

    // No key: refused before the editor runs.
    std::fs::remove_file(t.log.path().join("path")).expect("rm");
    let ed = t.editor("never.sh", "touch \"$LOG/ran\"");
    let o = t.edit(&ed, &["nokeys.yaml"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(t.logged("ran").is_none());
    assert!(!t.repo.path().join("nokeys.yaml").exists());
}

#[test]
fn new_dotenv_file_from_the_example() {
    let t = T::new();
    let ed = t.editor("env.sh", "sed -i 's/change-me/env-SECRET/' \"$F\"");
    let o = t.edit(&ed, &["--age", AGE_RECIPIENT, "app.env"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let plain = t.decrypt("app.env");
    assert!(plain.contains("DATABASE_PASSWORD=env-SECRET\n"), "{plain}");
    t.assert_no_plaintext("env-SECRET");
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

#[test]
fn sigquit_while_editing_removes_the_plaintext() {
    signal_case("QUIT", 3);
}

/// A file written by sops 3.7.1: unchanged values keep their ciphertext through an edit,
/// and `version` is raised to the one leafseal writes.
#[test]
fn sops_written_file_keeps_unchanged_ciphertexts_and_gets_the_new_version() {
    let t = T::new();
    let src = sops_fixture("yaml/example.age.v3.7.1.yaml");
    let before = std::fs::read_to_string(&src).unwrap();
    std::fs::write(t.repo.path().join("secrets.yaml"), &before).unwrap();
    let ed = t.editor("add.sh", "printf 'added_key: added-value\\n' >> \"$F\"");
    let o = t.edit(&ed, &["secrets.yaml"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let after = String::from_utf8(t.target()).unwrap();
    let enc_lines = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.contains("ENC[") && !l.trim_start().starts_with("mac:"))
            .map(str::to_owned)
            .collect()
    };
    let old = enc_lines(&before);
    let new = enc_lines(&after);
    assert!(!old.is_empty());
    for l in &old {
        assert!(new.contains(l), "ciphertext changed: {l}");
    }
    assert_eq!(new.len(), old.len() + 1);
    assert!(after.contains("added_key: ENC[AES256_GCM,data:"));
    assert!(after.contains(&format!("version: {}", leafseal::metadata::FORMAT_VERSION)));
    assert!(!after.contains("version: 3.7.1"));
    assert!(
        t.decrypt("secrets.yaml")
            .ends_with("added_key: added-value\n")
    );
}
