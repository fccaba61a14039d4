//! `exec-env`: the child's environment, exit codes and signals, refusals and the MAC check.

use super::*;

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
