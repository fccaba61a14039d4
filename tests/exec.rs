//! End-to-end tests of `leafseal exec-env`, `exec-file` and `filestatus` (real binary).

mod support;

use std::path::Path;
use std::path::PathBuf;
use std::process::Child;
use std::process::Command;
use std::process::Output;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

use support::*;

const PLAIN: &str = "\
DB_PASSWORD: \"p@ss word $HOME 'q'\"
PORT: 5432
RATIO: 2.0
BIG: 1.5e6
DEBUG: true
WHEN: 2024-01-02T03:04:05Z
MULTI: |-
  line one
  line two
note_unencrypted: hello
";

const SECRET: &str = "p@ss word $HOME 'q'";

struct Env {
    home: tempfile::TempDir,
    work: tempfile::TempDir,
    /// The temp root given to leafseal as XDG_RUNTIME_DIR.
    runtime: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let env = Env {
            home: tempfile::tempdir().expect("home"),
            work: tempfile::tempdir().expect("work"),
            runtime: tempfile::tempdir().expect("runtime"),
        };
        env.write("plain.yaml", PLAIN);
        let out = env.run(&["encrypt", "--age", AGE_RECIPIENT, "plain.yaml"]);
        assert!(out.status.success(), "{}", stderr(&out));
        std::fs::write(env.work.path().join("secrets.yaml"), &out.stdout).expect("write");
        env
    }

    fn write(&self, name: &str, content: &str) -> PathBuf {
        let p = self.work.path().join(name);
        std::fs::write(&p, content).expect("write");
        p
    }

    fn cmd(&self, args: &[&str], extra: &[(&str, &str)]) -> Command {
        let mut vars = env_vars(None, self.home.path());
        vars.insert(
            "XDG_RUNTIME_DIR".to_owned(),
            self.runtime.path().display().to_string(),
        );
        vars.insert(
            "TMPDIR".to_owned(),
            self.runtime.path().display().to_string(),
        );
        for (k, v) in extra {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        let mut cmd = leafseal(&vars);
        cmd.current_dir(self.work.path())
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, &[])
    }

    fn run_with(&self, args: &[&str], extra: &[(&str, &str)]) -> Output {
        let child = self
            .cmd(args, extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn leafseal");
        wait_output(child, Duration::from_secs(20))
    }

    /// Entries left in the temp root.
    fn leftovers(&self) -> Vec<String> {
        std::fs::read_dir(self.runtime.path())
            .expect("read runtime dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect()
    }
}

/// Waits for the child with a deadline (a hang fails the test instead of blocking it).
fn wait_output(mut child: Child, limit: Duration) -> Output {
    let start = Instant::now();
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("leafseal did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

fn wait_for(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn kill(pid: u32, sig: &str) {
    let st = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .expect("kill");
    assert!(st.success());
}

// ---------------------------------------------------------------- exec-env

#[test]
fn exec_env_child_sees_the_variables_in_both_command_forms() {
    let env = Env::new();
    let out = env.run(&["exec-env", "secrets.yaml", "printf %s \"$DB_PASSWORD\""]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), SECRET);
    // Without a shell: the words after `--` are the program and its arguments.
    let out = env.run(&[
        "exec-env",
        "secrets.yaml",
        "--",
        "sh",
        "-c",
        "printf '%s|' \"$DB_PASSWORD\" \"$MULTI\"",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{SECRET}|line one\nline two|"));
    // Nothing printed by leafseal itself.
    assert_eq!(stderr(&out), "");
}

#[test]
fn exec_env_renders_non_string_scalars_like_dotenv() {
    let env = Env::new();
    let out = env.run(&[
        "exec-env",
        "secrets.yaml",
        "printf '%s|' \"$PORT\" \"$RATIO\" \"$BIG\" \"$DEBUG\" \"$WHEN\" \"$note_unencrypted\"",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "5432|2.0|1.5E+06|true|2024-01-02T03:04:05Z|hello|"
    );
}

#[test]
fn exec_env_pristine_gives_only_the_secrets() {
    let env = Env::new();
    let out = env.run_with(
        &[
            "exec-env",
            "--pristine",
            "secrets.yaml",
            "--",
            "/usr/bin/env",
        ],
        &[("LS_PARENT_ONLY", "1")],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let mut lines: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    lines.sort();
    let mut want: Vec<String> = vec![
        format!("DB_PASSWORD={SECRET}"),
        "PORT=5432".into(),
        "RATIO=2.0".into(),
        "BIG=1.5E+06".into(),
        "DEBUG=true".into(),
        "WHEN=2024-01-02T03:04:05Z".into(),
        "MULTI=line one".into(),
        "line two".into(),
        "note_unencrypted=hello".into(),
    ];
    want.sort();
    assert_eq!(lines, want);

    // Not pristine: leafseal's environment plus the secrets (which win on a clash).
    let out = env.run_with(
        &["exec-env", "secrets.yaml", "--", "/usr/bin/env"],
        &[("LS_PARENT_ONLY", "1"), ("PORT", "1")],
    );
    let text = stdout(&out);
    assert!(text.lines().any(|l| l == "LS_PARENT_ONLY=1"), "{text}");
    assert!(text.lines().any(|l| l == "PORT=5432"), "{text}");
    assert!(!text.lines().any(|l| l == "PORT=1"), "{text}");
    assert!(text.contains(&format!("DB_PASSWORD={SECRET}")));
}

#[test]
fn exec_env_secrets_never_enter_leafseals_own_environment() {
    let env = Env::new();
    // The shell's parent is leafseal: its environment must hold the marker but no secret.
    let out = env.run_with(
        &[
            "exec-env",
            "secrets.yaml",
            "tr '\\000' '\\n' < /proc/$PPID/environ; echo ===; printf %s \"$DB_PASSWORD\"",
        ],
        &[("LS_MARKER", "present")],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let (parent, child) = text.split_once("===\n").expect("separator");
    assert!(parent.lines().any(|l| l == "LS_MARKER=present"), "{parent}");
    assert!(!parent.contains("DB_PASSWORD"), "{parent}");
    assert!(!parent.contains("p@ss"), "{parent}");
    assert_eq!(child, SECRET);
    assert!(!stderr(&out).contains("p@ss"));
}

#[test]
fn exec_env_propagates_exit_codes_and_signal_deaths() {
    let env = Env::new();
    assert_eq!(code(&env.run(&["exec-env", "secrets.yaml", "exit 7"])), 7);
    assert_eq!(
        code(&env.run(&["exec-env", "secrets.yaml", "--", "false"])),
        1
    );
    assert_eq!(
        code(&env.run(&["exec-env", "secrets.yaml", "kill -TERM $$"])),
        128 + 15
    );
    let out = env.run(&["exec-env", "secrets.yaml", "--", "/nonexistent/prog"]);
    assert_eq!(code(&out), 127);
    assert!(stderr(&out).contains("/nonexistent/prog"));
}

#[test]
fn exec_env_refuses_kubeconfig_from_the_file_unless_allowed() {
    // Round-19 review: a KUBECONFIG (or AWS_CONFIG_FILE) value absorbed from an untrusted
    // contribution pointed kubectl at a configuration whose `exec` plugin ran code with
    // every secret in the environment.
    let env = Env::new();
    env.write(
        "k.yaml",
        "DB_PASSWORD: s3cret\nKUBECONFIG: evil/kubeconfig\n",
    );
    let out = env.run(&["encrypt", "--age", AGE_RECIPIENT, "k.yaml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    std::fs::write(env.work.path().join("k.enc.yaml"), &out.stdout).expect("write");
    let out = env.run(&["exec-env", "k.enc.yaml", "--", "echo", "child-ran"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("`KUBECONFIG`"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--allow-env KUBECONFIG"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("evil/kubeconfig") && !stderr(&out).contains("s3cret"));
    assert!(out.stdout.is_empty(), "the command ran");
    let out = env.run(&[
        "exec-env",
        "--allow-env",
        "KUBECONFIG",
        "k.enc.yaml",
        "printf %s \"$KUBECONFIG\"",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "evil/kubeconfig");
}

#[test]
fn exec_env_same_process_replaces_leafseal() {
    let env = Env::new();
    let out = env.run(&[
        "exec-env",
        "--same-process",
        "secrets.yaml",
        "printf %s \"$PORT\"; exit 3",
    ]);
    assert_eq!(code(&out), 3);
    assert_eq!(stdout(&out), "5432");
}

#[test]
fn exec_env_nested_values_are_a_clear_error() {
    let env = Env::new();
    env.write("nested.yaml", "top: ok\ndb:\n  password: n3sted-s3cret\n");
    let enc = env.run(&["encrypt", "--age", AGE_RECIPIENT, "nested.yaml"]);
    std::fs::write(env.work.path().join("nested.enc.yaml"), &enc.stdout).expect("write");
    let out = env.run(&["exec-env", "nested.enc.yaml", "touch ran"]);
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(err.contains("`db`") && err.contains("map"), "{err}");
    assert!(!err.contains("n3sted"), "{err}");
    assert!(!env.work.path().join("ran").exists());

    env.write("eq.yaml", "A=B: v\n");
    let enc = env.run(&["encrypt", "--age", AGE_RECIPIENT, "eq.yaml"]);
    std::fs::write(env.work.path().join("eq.enc.yaml"), &enc.stdout).expect("write");
    let out = env.run(&["exec-env", "eq.enc.yaml", "true"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("`A=B`"), "{}", stderr(&out));
}

#[test]
fn exec_env_checks_the_mac() {
    let env = Env::new();
    let enc = std::fs::read_to_string(env.work.path().join("secrets.yaml")).expect("read");
    assert!(enc.contains("note_unencrypted: hello"));
    env.write(
        "tampered.yaml",
        &enc.replace("note_unencrypted: hello", "note_unencrypted: HELLO"),
    );
    let out = env.run(&["exec-env", "tampered.yaml", "touch ran"]);
    assert_eq!(code(&out), 51, "{}", stderr(&out));
    assert!(!env.work.path().join("ran").exists());
    let out = env.run(&[
        "exec-env",
        "--ignore-mac",
        "tampered.yaml",
        "printf %s \"$note_unencrypted\"",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "HELLO");
}

#[test]
fn exec_env_on_a_dotenv_file_written_by_sops() {
    let gpg = GpgHome::new();
    let home = tempfile::tempdir().expect("home");
    let out = leafseal(&env_vars(Some(&gpg), home.path()))
        .arg("exec-env")
        .arg(sops_fixture("dotenv/format.enc.env"))
        .args(["--", "/usr/bin/env"])
        .output()
        .expect("run");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // sops's fixture: key `foo ` (trailing space), value ` bar`.
    assert!(
        stdout(&out).lines().any(|l| l == "foo = bar"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn exec_command_forms_are_exclusive() {
    let env = Env::new();
    let out = env.run(&["exec-env", "secrets.yaml"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("command"));
    let out = env.run(&["exec-env", "secrets.yaml", "true", "--", "true"]);
    assert_eq!(code(&out), 1);
}

// ---------------------------------------------------------------- exec-file

#[test]
fn exec_file_fifo_and_regular_file_give_the_plaintext() {
    let env = Env::new();
    let dec = env.run(&["decrypt", "secrets.yaml"]);
    assert_eq!(code(&dec), 0);
    let plain = stdout(&dec);
    assert!(plain.contains(SECRET));

    let out = env.run(&["exec-file", "secrets.yaml", "test -p {} && cat {}"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), plain);

    let out = env.run(&[
        "exec-file",
        "--no-fifo",
        "secrets.yaml",
        "test -f {} && stat -c %a {} && stat -c %a $(dirname {}) && cat {}",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("600\n700\n{plain}"));

    // Without a shell; `{}` inside a larger argument is replaced too.
    let out = env.run(&[
        "exec-file",
        "secrets.yaml",
        "--",
        "sh",
        "-c",
        "cat \"$0\"",
        "{}",
    ]);
    assert_eq!(stdout(&out), plain);
    assert!(env.leftovers().is_empty(), "{:?}", env.leftovers());
}

#[test]
fn exec_file_lives_in_the_private_temp_root_and_is_removed() {
    let env = Env::new();
    let root = env.runtime.path().display().to_string();
    let out = env.run(&["exec-file", "secrets.yaml", "dirname {}; basename {}"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let mut lines = text.lines();
    let dir = lines.next().expect("dir");
    assert!(dir.starts_with(&format!("{root}/.leafseal-")), "{dir}");
    assert_eq!(lines.next(), Some("tmp-file"));
    assert!(!Path::new(dir).exists());
    assert!(env.leftovers().is_empty(), "{:?}", env.leftovers());
}

#[test]
fn exec_file_output_type_and_filename() {
    let env = Env::new();
    let out = env.run(&[
        "exec-file",
        "--output-type",
        "json",
        "--filename",
        "app.json",
        "secrets.yaml",
        "basename {}; cat {}",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let (name, json) = text.split_once('\n').expect("lines");
    assert_eq!(name, "app.json");
    let v: serde_json::Value = serde_json::from_str(json).expect("json");
    assert_eq!(v["DB_PASSWORD"], SECRET);
    assert_eq!(v["PORT"], 5432);

    let out = env.run(&["exec-file", "--filename", "../x", "secrets.yaml", "true"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("--filename"));
}

#[test]
fn exec_file_does_not_hang_when_the_fifo_is_never_read() {
    let env = Env::new();
    let start = Instant::now();
    let out = env.run(&["exec-file", "secrets.yaml", "test -p {}"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(start.elapsed() < Duration::from_secs(10));
    // Read twice: the second open sees end of file instead of blocking forever.
    let out = env.run(&[
        "exec-file",
        "secrets.yaml",
        "cat {} >/dev/null; cat {} | wc -c",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "0");
    // A reader that stops early.
    let out = env.run(&["exec-file", "secrets.yaml", "head -c 3 {}"]);
    assert_eq!(stdout(&out), "DB_");
    assert!(env.leftovers().is_empty(), "{:?}", env.leftovers());
}

#[test]
fn exec_file_propagates_exit_codes() {
    let env = Env::new();
    let out = env.run(&["exec-file", "secrets.yaml", "exit 7"]);
    assert_eq!(code(&out), 7);
    assert!(
        stderr(&out)
            .contains("the command contains no {}, so it is not given the decrypted file's path"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        code(&env.run(&[
            "exec-file",
            "--no-fifo",
            "secrets.yaml",
            "cat {} >/dev/null; exit 9"
        ])),
        9
    );
    assert!(env.leftovers().is_empty(), "{:?}", env.leftovers());
}

#[test]
fn exec_file_regular_file_is_zeroed_before_removal() {
    let env = Env::new();
    // A hard link in the same file system keeps the inode visible after the removal.
    let link = env.runtime.path().join("link");
    let script = format!("ln {{}} {}", link.display());
    let out = env.run(&["exec-file", "--no-fifo", "secrets.yaml", &script]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let data = std::fs::read(&link).expect("link");
    assert!(!data.is_empty());
    assert!(data.iter().all(|&b| b == 0), "not wiped");
    std::fs::remove_file(&link).expect("rm");
    assert!(env.leftovers().is_empty(), "{:?}", env.leftovers());
}

#[test]
fn exec_file_signal_is_forwarded_then_everything_is_removed() {
    // USR1, USR2, ALRM and VTALRM ended leafseal itself before round 16, leaving the
    // plaintext file of `--no-fifo` behind (found by the round-16 review).
    for (sig, extra) in [
        ("TERM", None),
        ("INT", None),
        ("HUP", Some("--no-fifo")),
        ("USR1", Some("--no-fifo")),
        ("USR2", Some("--no-fifo")),
        ("ALRM", Some("--no-fifo")),
        ("VTALRM", None),
    ] {
        let env = Env::new();
        let ready = env.work.path().join("ready");
        let script = format!(
            "trap 'echo got-{sig}; exit 9' {sig}; cat {{}} >/dev/null; touch {}; while :; do sleep 0.05; done",
            ready.display()
        );
        let mut args = vec!["exec-file"];
        args.extend(extra);
        args.extend(["secrets.yaml", &script]);
        let child = env
            .cmd(&args, &[])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        wait_for(&ready);
        assert_eq!(env.leftovers().len(), 1, "{:?}", env.leftovers());
        kill(child.id(), sig);
        let out = wait_output(child, Duration::from_secs(20));
        assert_eq!(code(&out), 9, "{sig}: {}", stderr(&out));
        assert_eq!(stdout(&out), format!("got-{sig}\n"));
        assert!(env.leftovers().is_empty(), "{sig}: {:?}", env.leftovers());
    }
}

#[test]
fn exec_file_child_killed_by_forwarded_signal_gives_128_plus_signal() {
    let env = Env::new();
    let ready = env.work.path().join("ready");
    let child = env
        .cmd(
            &[
                "exec-file",
                "secrets.yaml",
                "--",
                "sh",
                "-c",
                "touch \"$1\"; exec sleep 30",
                "sh",
                &ready.display().to_string(),
                "{}",
            ],
            &[],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_for(&ready);
    kill(child.id(), "TERM");
    let out = wait_output(child, Duration::from_secs(20));
    assert_eq!(code(&out), 128 + 15, "{}", stderr(&out));
    assert!(env.leftovers().is_empty(), "{:?}", env.leftovers());
}

#[test]
fn exec_file_shell_form_refuses_unsafe_paths_argv_form_accepts_them() {
    let env = Env::new();
    let spaced = env.runtime.path().join("with space");
    std::fs::create_dir(&spaced).expect("mkdir");
    let xdg = spaced.display().to_string();
    let out = env.run_with(
        &["exec-file", "secrets.yaml", "cat {}"],
        &[("XDG_RUNTIME_DIR", &xdg)],
    );
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("--"), "{}", stderr(&out));
    let out = env.run_with(
        &["exec-file", "secrets.yaml", "--", "cat", "{}"],
        &[("XDG_RUNTIME_DIR", &xdg)],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains(SECRET));
    assert_eq!(std::fs::read_dir(&spaced).expect("ls").count(), 0);
}

#[test]
fn exec_file_clean_up_never_follows_a_replaced_fifo_or_directory() {
    // The checks behind `--user` (round 19), exercised by a command running as the same
    // user: the FIFO writer opens the entry without following a symlink and only if it
    // is still the FIFO it made; the clean-up removes the file through the directory it
    // created, and the directory only while its path still names it.
    let env = Env::new();
    let victim = env.write("victim", "original\n");
    for swap in ["ln -s", "cp"] {
        let script = format!(
            "{swap} {v} \"$1.x\"; mv -f \"$1.x\" \"$1\"; sleep 0.3",
            v = victim.display()
        );
        let out = env.run(&[
            "exec-file",
            "secrets.yaml",
            "--",
            "/bin/sh",
            "-c",
            &script,
            "sh",
            "{}",
        ]);
        assert_eq!(code(&out), 0, "{swap}: {}", stderr(&out));
        assert_eq!(
            std::fs::read_to_string(&victim).expect("victim"),
            "original\n",
            "{swap}"
        );
        assert!(env.leftovers().is_empty(), "{:?}", env.leftovers());
    }

    let target = env.work.path().join("target_dir");
    std::fs::create_dir(&target).expect("mkdir");
    std::fs::write(target.join("tmp-file"), "important\n").expect("write");
    let script = format!(
        "d=$(dirname \"$1\"); mv \"$d\" \"$d.moved\"; ln -s {t} \"$d\"; echo \"$d.moved\"",
        t = target.display()
    );
    let out = env.run(&[
        "exec-file",
        "--no-fifo",
        "secrets.yaml",
        "--",
        "/bin/sh",
        "-c",
        &script,
        "sh",
        "{}",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(target.join("tmp-file")).expect("removed"),
        "important\n"
    );
    // The moved directory was emptied through its handle: no plaintext is left.
    let moved = PathBuf::from(stdout(&out).trim());
    assert_eq!(std::fs::read_dir(&moved).expect("moved").count(), 0);
}

// ---------------------------------------------------------------- filestatus

#[test]
fn filestatus_matches_sops() {
    let env = Env::new();
    let out = env.run(&["filestatus", "secrets.yaml"]);
    assert_eq!(
        (code(&out), stdout(&out)),
        (0, "{\"encrypted\":true}\n".into())
    );
    let out = env.run(&["filestatus", "plain.yaml"]);
    assert_eq!(
        (code(&out), stdout(&out)),
        (0, "{\"encrypted\":false}\n".into())
    );
    // A real sops file.
    let out = env.run(&[
        "filestatus",
        &sops_fixture("yaml/example.age.v3.7.1.yaml")
            .display()
            .to_string(),
    ]);
    assert_eq!(stdout(&out), "{\"encrypted\":true}\n");
    // Unparsable or missing files are errors (exit 1), no argument is exit 100.
    env.write("bad.yaml", "a: [\n");
    let out = env.run(&["filestatus", "bad.yaml"]);
    assert_eq!((code(&out), stdout(&out)), (1, String::new()));
    assert_eq!(code(&env.run(&["filestatus", "missing.yaml"])), 1);
    assert_eq!(code(&env.run(&["filestatus"])), 100);
}
