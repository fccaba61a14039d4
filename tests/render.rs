//! `leafseal render`: a template filled from one or more encrypted files, to standard
//! output or through a FIFO to a command; a missing key fails and writes nothing.

mod support;

use std::path::Path;

use support::*;

fn encrypt(dir: &Path, name: &str, plain: &str) {
    std::fs::write(dir.join(name), plain).expect("write");
    let out = run_in(
        &env_vars(None, dir),
        dir,
        &["encrypt", "-i", "--age", AGE_RECIPIENT, name],
    );
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

const TEMPLATE: &str = "[database]\nurl = postgres://app:{{ [\"db\"][\"password\"] }}@{{[\"db\"][\"host\"]}}:{{ [\"db\"][\"port\"] }}/app\njson = {{ [\"db\"][\"password\"] | json }}\nb64 = {{ [\"api\"] | base64 }}\nliteral = \\{{ not a placeholder }}\n";

fn setup() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tmp");
    encrypt(
        d.path(),
        "db.yaml",
        "db:\n    password: pa\"ss\n    host: db.internal\n    port: 5432\n",
    );
    encrypt(d.path(), "api.yaml", "api: tok\n");
    std::fs::write(d.path().join("app.conf.tmpl"), TEMPLATE).expect("write");
    d
}

const RENDERED: &str = "[database]\nurl = postgres://app:pa\"ss@db.internal:5432/app\njson = \"pa\\\"ss\"\nb64 = dG9r\nliteral = {{ not a placeholder }}\n";

#[test]
fn render_fills_a_template_from_two_files_to_stdout() {
    let d = setup();
    let (code, out, err) = run(
        d.path(),
        &["render", "app.conf.tmpl", "db.yaml", "api.yaml"],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, RENDERED);
}

#[test]
fn render_with_a_missing_key_fails_and_writes_nothing() {
    let d = setup();
    // api.yaml is not given: ["api"] is missing.
    let (code, out, err) = run(d.path(), &["render", "app.conf.tmpl", "db.yaml"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(out.is_empty(), "nothing on stdout: {out}");
    assert!(
        err.contains("template line 4") && err.contains(r#"["api"]"#),
        "{err}"
    );
    assert!(!err.contains("db.internal"), "no values: {err}");
    // A map is not a value either.
    std::fs::write(d.path().join("bad.tmpl"), "x={{ [\"db\"] }}\n").expect("write");
    let (code, out, _) = run(d.path(), &["render", "bad.tmpl", "db.yaml"]);
    assert_eq!(code, Some(1));
    assert!(out.is_empty());
    // Nor is the command run.
    let (code, out, _) = run(
        d.path(),
        &[
            "render",
            "app.conf.tmpl",
            "db.yaml",
            "--",
            "echo",
            "ran",
            "{}",
        ],
    );
    assert_eq!(code, Some(1));
    assert!(out.is_empty());
}

#[test]
fn render_hands_the_result_to_a_command_through_a_fifo() {
    let d = setup();
    let script = "test -p \"$1\" && cat \"$1\"";
    let (code, out, err) = run(
        d.path(),
        &[
            "render",
            "app.conf.tmpl",
            "db.yaml",
            "api.yaml",
            "--",
            "sh",
            "-c",
            script,
            "sh",
            "{}",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, RENDERED);
    let (code, out, err) = run(
        d.path(),
        &[
            "render",
            "--exec",
            "cat {}",
            "--extract",
            r#"["db"]"#,
            "app.conf.tmpl",
            "db.yaml",
        ],
    );
    // With --extract the paths are relative to the extracted map, so ["db"] is missing.
    assert_eq!(code, Some(1), "{err}");
    assert!(out.is_empty());
    std::fs::write(d.path().join("short.tmpl"), "{{ [\"host\"] }}").expect("write");
    let (code, out, err) = run(
        d.path(),
        &[
            "render",
            "--exec",
            "cat {}",
            "--extract",
            r#"["db"]"#,
            "short.tmpl",
            "db.yaml",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "db.internal");
    assert!(!err.contains("contains no {}"), "{err}");
    // A command without `{}` still runs, with a warning naming the rendered file.
    let (code, _, err) = run(
        d.path(),
        &[
            "render",
            "--exec",
            "true",
            "app.conf.tmpl",
            "db.yaml",
            "api.yaml",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("the command contains no {}, so it is not given the rendered file's path"),
        "{err}"
    );
}
