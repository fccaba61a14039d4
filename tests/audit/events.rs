//! What is recorded: one event per command, file and rotated file, and never a value.

use super::*;

#[test]
fn postgres_gets_one_event_per_command_and_no_value() {
    let Some(pg) = Postgres::start() else { return };
    let home = tempfile::tempdir().expect("home");
    let jsonl = home.path().join("audit.jsonl");
    let config = format!(
        "# sops's schema, plus leafseal's extensions\nbackends:\n  postgres:\n    - connection_string: \"postgres://sops:sops@127.0.0.1:{}/postgres?sslmode=disable\"\n      details_column: details\n  file:\n    - path: {}\n      required: true\n",
        pg.port,
        jsonl.display()
    );
    let (env, mut vars) = Env::new(&config);
    env.secrets(&vars);
    assert!(pg.rows().is_empty(), "encrypt is not audited");
    let dir = env.work.path();
    std::fs::write(
        env.path(".sops.yaml"),
        "creation_rules:\n  - age: >-\n      age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw,age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\n",
    )
    .expect("policy");
    let editor = env.path("editor.sh");
    std::fs::write(
        &editor,
        format!("#!/bin/sh\necho 'edited: {}' >> \"$1\"\n", SECRETS[3]),
    )
    .expect("editor");
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    vars.insert("EDITOR".into(), editor.display().to_string());

    let me = whoami();
    let set_value = format!("\"{}\"", SECRETS[2]);
    let steps: Vec<(&str, Vec<&str>)> = vec![
        ("decrypt", vec!["decrypt", "s.yaml"]),
        (
            "decrypt",
            vec!["decrypt", "--extract", "[\"db_password\"]", "s.yaml"],
        ),
        ("set", vec!["set", "s.yaml", "[\"new\"]", &set_value]),
        ("unset", vec!["unset", "s.yaml", "[\"api\"]"]),
        ("rotate", vec!["rotate", "-i", "s.yaml"]),
        ("updatekeys", vec!["updatekeys", "-y", "s.yaml"]),
        ("exec-env", vec!["exec-env", "s.yaml", "test -n \"$new\""]),
        (
            "exec-file",
            vec!["exec-file", "s.yaml", "grep -q charlie {}"],
        ),
        ("edit", vec!["edit", "s.yaml"]),
    ];
    for (i, (action, args)) in steps.iter().enumerate() {
        let o = run_in(&vars, dir, args);
        ok(&o);
        let rows = pg.rows();
        assert_eq!(
            rows.len(),
            i + 1,
            "one row per command, after {args:?}: {rows:#?}"
        );
        let last = &rows[i];
        let mut cols = last.splitn(4, '|');
        assert_eq!(cols.next(), Some(*action), "{last}");
        assert_eq!(cols.next(), Some(me.as_str()), "{last}");
        assert_eq!(cols.next(), Some("s.yaml"), "{last}");
        let details: serde_json::Value =
            serde_json::from_str(cols.next().expect("details")).expect("json");
        assert_eq!(details["action"], *action);
        assert_eq!(details["outcome"], "success");
        assert_eq!(
            details["keys"][0],
            format!("age {AGE_RECIPIENT}"),
            "the key that unwrapped the data key: {details}"
        );
        assert!(details["time"].as_str().is_some_and(|t| t.ends_with('Z')));
        assert!(details["host"].as_str().is_some_and(|h| !h.is_empty()));
    }
    let rows = pg.rows();
    assert!(
        rows[1].contains(r#""paths": ["[\"db_password\"]"]"#),
        "{}",
        rows[1]
    );
    assert!(rows[2].contains(r#""paths": ["[\"new\"]"]"#), "{}", rows[2]);
    assert!(rows[3].contains(r#""paths": ["[\"api\"]"]"#), "{}", rows[3]);
    assert_no_secret("the audit table", &pg.psql("SELECT * FROM audit_event"));
    // The edit went through: the file holds the edited value.
    let o = ok(&run_in(&vars, dir, &["decrypt", "s.yaml"]))
        .stdout
        .clone();
    assert!(String::from_utf8_lossy(&o).contains(SECRETS[3]));

    // A failure is recorded too, with its exit code and no key.
    let mut nokey = vars.clone();
    nokey.insert("SOPS_AGE_KEY_FILE".into(), "/nonexistent".into());
    let o = run_in(&nokey, dir, &["decrypt", "s.yaml"]);
    assert_eq!(o.status.code(), Some(128));
    let rows = pg.rows();
    assert_eq!(rows.len(), 11);
    assert!(
        rows[10].contains(r#""outcome": "error""#) && rows[10].contains(r#""exit_code": 128"#),
        "{}",
        rows[10]
    );
    assert!(rows[10].contains(r#""keys": []"#), "{}", rows[10]);

    // The JSON-lines sink saw the same events.
    let lines = std::fs::read_to_string(&jsonl).expect("jsonl");
    assert_eq!(lines.lines().count(), 11, "{lines}");
    assert_no_secret("the JSON-lines log", &lines);
}

#[test]
fn several_files_get_one_event_each_and_failures_are_recorded() {
    let base = tempfile::tempdir().expect("tmp");
    let jsonl = base.path().join("a.jsonl");
    let (env, vars) = Env::new(&format!(
        "backends:\n  file:\n    - path: {}\n      required: true\n",
        jsonl.display()
    ));
    env.secrets(&vars);
    std::fs::copy(env.path("s.yaml"), env.path("t.yaml")).expect("copy");
    let dir = env.work.path();
    let o = ok(&run_in(&vars, dir, &["decrypt", "s.yaml", "t.yaml"])).clone();
    assert!(String::from_utf8_lossy(&o.stdout).contains(SECRETS[0]));
    // A path that does not exist: unset fails (exit 1) and says so in its event.
    let o = run_in(&vars, dir, &["unset", "s.yaml", "[\"nope\"]"]);
    assert_eq!(o.status.code(), Some(1));
    let lines = std::fs::read_to_string(&jsonl).expect("jsonl");
    let events: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(events.len(), 3, "{lines}");
    // The two files are decrypted in parallel: their events come in either order.
    let mut files: Vec<&str> = events[..2]
        .iter()
        .map(|e| e["file"].as_str().expect("file"))
        .collect();
    files.sort_unstable();
    assert_eq!(files, ["s.yaml", "t.yaml"]);
    for e in &events[..2] {
        assert_eq!(e["outcome"], "success");
        assert_eq!(e["keys"][0], format!("age {AGE_RECIPIENT}"), "{e}");
    }
    assert_eq!(events[2]["action"], "unset");
    assert_eq!(events[2]["outcome"], "error");
    assert_eq!(events[2]["exit_code"], 1);
    assert_eq!(events[2]["paths"][0], "[\"nope\"]");
    assert_no_secret("the JSON-lines log", &lines);
}

#[test]
fn revoke_records_one_event_per_rotated_file() {
    let base = tempfile::tempdir().expect("tmp");
    let jsonl = base.path().join("a.jsonl");
    let config = format!(
        "backends:\n  file:\n    - path: {}\n      required: true\n",
        jsonl.display()
    );
    let (env, vars) = Env::new(&config);
    // A second recipient to revoke, made with leafseal keygen.
    let other = ok(&run_in(
        &vars,
        env.work.path(),
        &[
            "keygen",
            "-o",
            &base.path().join("other.txt").display().to_string(),
        ],
    ))
    .clone();
    let out = String::from_utf8_lossy(&other.stdout).into_owned();
    let recipient = out
        .split_whitespace()
        .find(|w| w.starts_with("age1"))
        .expect("recipient printed")
        .to_owned();
    std::fs::write(
        env.path(".sops.yaml"),
        format!("creation_rules:\n  - age: {AGE_RECIPIENT},{recipient}\n"),
    )
    .expect("policy");
    std::fs::write(
        env.path("plain.yaml"),
        format!("api: {}\ndb_password: {}\n", SECRETS[0], SECRETS[1]),
    )
    .expect("plain");
    ok(&run_in(
        &vars,
        env.work.path(),
        &["encrypt", "--output", "s.yaml", "plain.yaml"],
    ));
    std::fs::remove_file(env.path("plain.yaml")).expect("rm");
    ok(&run_in(
        &vars,
        env.work.path(),
        &["revoke", &recipient, "."],
    ));
    let lines = std::fs::read_to_string(&jsonl).expect("jsonl");
    assert_no_secret("revoke events", &lines);
    let events: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let revokes: Vec<_> = events.iter().filter(|e| e["action"] == "revoke").collect();
    assert_eq!(revokes.len(), 1, "{lines}");
    assert!(
        revokes[0]["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("s.yaml")),
        "{lines}"
    );
}
