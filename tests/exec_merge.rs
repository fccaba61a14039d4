//! `exec-env` and `exec-file` with `--extract` and with several files merged in order
//! (a conflict fails unless `--later-wins`), through the binary.

mod support;

use std::path::Path;

use support::*;

fn encrypt(dir: &Path, name: &str, plain: &str) {
    std::fs::write(dir.join(name), plain).expect("write");
    let vars = env_vars(None, dir);
    let out = run_in(&vars, dir, &["encrypt", "-i", "--age", AGE_RECIPIENT, name]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn run(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = run_in(&env_vars(None, dir), dir, args);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn setup() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tmp");
    encrypt(
        d.path(),
        "common.yaml",
        "LOG_LEVEL: info\nDB_HOST: db.internal\nprod:\n    TOKEN: prod-token\n    REGION: eu\n",
    );
    encrypt(
        d.path(),
        "app.yaml",
        "APP_KEY: app-secret\nDB_HOST: db.internal\n",
    );
    encrypt(d.path(), "override.yaml", "LOG_LEVEL: debug\n");
    encrypt(d.path(), "level.yaml", "LOG_LEVEL: info\n");
    d
}

#[test]
fn exec_env_extract_gives_the_command_one_maps_entries() {
    let d = setup();
    let (code, out, err) = run(
        d.path(),
        &[
            "exec-env",
            "--extract",
            r#"["prod"]"#,
            "common.yaml",
            "--",
            "sh",
            "-c",
            "echo \"$TOKEN/$REGION/${LOG_LEVEL:-unset}\"",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "prod-token/eu/unset\n");
    // A scalar cannot be an environment.
    let (code, _, err) = run(
        d.path(),
        &[
            "exec-env",
            "--extract",
            r#"["LOG_LEVEL"]"#,
            "common.yaml",
            "--",
            "true",
        ],
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("needs a map"), "{err}");
    assert!(!err.contains("info"), "no value in the message: {err}");
}

#[test]
fn exec_env_merges_two_files_and_the_shell_form_still_works() {
    let d = setup();
    // The same value in both files is no conflict.
    let (code, out, err) = run(
        d.path(),
        &[
            "exec-env",
            "--extract",
            r#"["prod"]"#,
            "common.yaml",
            "app.yaml",
            "echo $TOKEN",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "prod-token\n");
    let (code, out, err) = run(
        d.path(),
        &[
            "exec-env",
            "app.yaml",
            "override.yaml",
            "--",
            "sh",
            "-c",
            "echo $APP_KEY $LOG_LEVEL $DB_HOST",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "app-secret debug db.internal\n");
}

#[test]
fn a_conflict_between_files_fails_unless_the_later_file_may_win() {
    let d = setup();
    let (code, out, err) = run(
        d.path(),
        &[
            "exec-env",
            "--extract",
            r#"["prod"]"#,
            "common.yaml",
            "override.yaml",
            "--",
            "echo",
            "ran",
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(out.is_empty(), "the command must not run: {out}");
    assert!(
        err.contains(r#"["LOG_LEVEL"]"#)
            && err.contains("common.yaml")
            && err.contains("override.yaml"),
        "{err}"
    );
    assert!(
        !err.contains("debug") && !err.contains("info"),
        "no values: {err}"
    );
    let (code, out, err) = run(
        d.path(),
        &[
            "exec-env",
            "--later-wins",
            "level.yaml",
            "override.yaml",
            "echo $LOG_LEVEL",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "debug\n");
    assert!(
        err.contains(r#"["LOG_LEVEL"] from override.yaml overrides"#),
        "{err}"
    );
}

#[test]
fn exec_file_extracts_and_merges() {
    let d = setup();
    let (code, out, err) = run(
        d.path(),
        &[
            "exec-file",
            "--extract",
            r#"["prod"]["TOKEN"]"#,
            "common.yaml",
            "--",
            "cat",
            "{}",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "prod-token");
    let (code, out, err) = run(
        d.path(),
        &[
            "exec-file",
            "--output-type",
            "json",
            "app.yaml",
            "override.yaml",
            "--",
            "cat",
            "{}",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out,
        "{\n\t\"APP_KEY\": \"app-secret\",\n\t\"DB_HOST\": \"db.internal\",\n\t\"LOG_LEVEL\": \"debug\"\n}\n"
    );
}
