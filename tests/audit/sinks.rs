//! The sinks: required or optional when down, TLS, no configuration, Postgres authentication.

use super::*;

fn down_config(extra: &str) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    format!(
        "backends:\n  postgres:\n    - connection_string: host=127.0.0.1 port={port} user=sops password=sops dbname=audit sslmode=disable connect_timeout=2\n{extra}"
    )
}

#[test]
fn a_required_sink_that_is_down_stops_decrypt_before_any_output() {
    let (env, vars) = Env::new(&down_config(""));
    env.secrets(&vars);
    let dir = env.work.path();
    let o = run_in(&vars, dir, &["decrypt", "s.yaml"]);
    assert_eq!(
        o.status.code(),
        Some(56),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.stdout.is_empty(), "nothing on stdout");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("required audit sink"), "{err}");
    assert!(
        !err.contains("sops@") && !err.contains("password=sops"),
        "{err}"
    );
    assert_no_secret("stderr", &err);

    let o = run_in(&vars, dir, &["decrypt", "--output", "out.yaml", "s.yaml"]);
    assert_eq!(o.status.code(), Some(56));
    assert!(!env.path("out.yaml").exists(), "no output file");

    let marker = env.path("ran");
    let cmd = format!("touch {}", marker.display());
    let o = run_in(&vars, dir, &["exec-env", "s.yaml", &cmd]);
    assert_eq!(o.status.code(), Some(56));
    assert!(!marker.exists(), "the child was not started");

    let cmd = format!("cat {{}} > /dev/null; touch {}", marker.display());
    let o = run_in(&vars, dir, &["exec-file", "s.yaml", &cmd]);
    assert_eq!(o.status.code(), Some(56));
    assert!(!marker.exists(), "the exec-file command was not started");

    // edit: the editor never starts (it would leave the marker).
    let editor = env.path("editor.sh");
    std::fs::write(&editor, format!("#!/bin/sh\ntouch {}\n", marker.display())).expect("editor");
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let mut with_editor = vars.clone();
    with_editor.insert("EDITOR".into(), editor.display().to_string());
    let o = run_in(&with_editor, dir, &["edit", "s.yaml"]);
    assert_eq!(o.status.code(), Some(56));
    assert!(!marker.exists(), "the editor was not started");

    let before = std::fs::read(env.path("s.yaml")).expect("read");
    let o = run_in(&vars, dir, &["set", "s.yaml", "[\"x\"]", "\"y\""]);
    assert_eq!(o.status.code(), Some(56));
    assert_eq!(
        std::fs::read(env.path("s.yaml")).expect("read"),
        before,
        "file unchanged"
    );
}

#[test]
fn optional_sinks_warn_and_json_lines_and_syslog_receive_events() {
    let base = tempfile::tempdir().expect("tmp");
    let sock = base.path().join("log.sock");
    let rx = std::os::unix::net::UnixDatagram::bind(&sock).expect("bind");
    rx.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .expect("timeout");
    let jsonl = base.path().join("a.jsonl");
    let extra = format!(
        "      required: false\n  file:\n    - path: {}\n  syslog:\n    - socket: {}\n      facility: local3\n      required: true\n",
        jsonl.display(),
        sock.display()
    );
    let (env, vars) = Env::new(&down_config(&extra));
    env.secrets(&vars);
    let o = ok(&run_in(
        &vars,
        env.work.path(),
        &[
            "set",
            "s.yaml",
            "[\"db\"][\"user\"]",
            "\"admin-echo-secret\"",
        ],
    ))
    .clone();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning: the audit sink postgres 127.0.0.1"),
        "{err}"
    );
    let mut buf = [0u8; 8192];
    let n = rx.recv(&mut buf).expect("syslog datagram");
    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
    // local3 (19) * 8 + info (6)
    assert!(msg.starts_with("<158>1 "), "{msg}");
    assert!(msg.contains(r#""action":"set""#), "{msg}");
    assert!(msg.contains(r#""paths":["[\"db\"][\"user\"]"]"#), "{msg}");
    let lines = std::fs::read_to_string(&jsonl).expect("jsonl");
    let ev: serde_json::Value = serde_json::from_str(lines.trim()).expect("json");
    assert_eq!(ev["file"], "s.yaml");
    assert_eq!(ev["user"], whoami());
    for text in [&msg, &lines] {
        assert!(!text.contains("admin-echo-secret"));
        assert_no_secret("sink", text);
    }
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&jsonl)
            .expect("meta")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
}

#[test]
fn a_connection_string_asking_for_tls_fails_closed() {
    let (env, vars) = Env::new(
        "backends:\n  postgres:\n    - connection_string: postgres://sops:sops@127.0.0.1:1/audit\n",
    );
    env.secrets(&vars);
    let o = run_in(&vars, env.work.path(), &["decrypt", "s.yaml"]);
    assert_eq!(o.status.code(), Some(56));
    assert!(o.stdout.is_empty());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("TLS"), "{err}");
}

#[test]
fn without_configuration_nothing_is_audited() {
    let (env, mut vars) = Env::new("");
    vars.remove("LEAFSEAL_AUDIT_CONFIG");
    env.secrets(&vars);
    let o = ok(&run_in(&vars, env.work.path(), &["decrypt", "s.yaml"])).clone();
    assert!(String::from_utf8_lossy(&o.stdout).contains(SECRETS[0]));
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn the_postgres_client_speaks_every_supported_authentication() {
    use leafseal::audit::pg::Conn;
    use leafseal::audit::pg::ConnInfo;
    let Some(pg) = Postgres::start() else { return };
    pg.psql(
        "SET password_encryption = 'md5';
         CREATE ROLE sops_md5 LOGIN PASSWORD 'md5-pw';
         RESET password_encryption;
         CREATE ROLE sops_clear LOGIN PASSWORD 'clear-pw';
         CREATE ROLE sops_trust LOGIN;
         GRANT INSERT ON audit_event TO sops_md5, sops_clear, sops_trust;
         GRANT USAGE ON audit_event_id_seq TO sops_md5, sops_clear, sops_trust;",
    );
    let port = pg.port;
    let sock = pg.sock.display().to_string();
    let cases = [
        format!("postgres://sops:sops@127.0.0.1:{port}/postgres?sslmode=disable"),
        format!(
            "host=127.0.0.1 port={port} user=sops_md5 password=md5-pw dbname=postgres sslmode=disable"
        ),
        format!(
            "host=127.0.0.1 port={port} user=sops_clear password=clear-pw dbname=postgres sslmode=disable"
        ),
        format!("host=127.0.0.1 port={port} user=sops_trust dbname=postgres sslmode=disable"),
        format!("host={sock} port={port} user=postgres dbname=postgres sslmode=disable"),
    ];
    for (i, cs) in cases.iter().enumerate() {
        let ci = ConnInfo::parse(cs, "nobody").expect("parse");
        let mut c = Conn::connect(&ci).unwrap_or_else(|e| panic!("{cs}: {e}"));
        let file = format!("f{i}; DROP TABLE audit_event; --");
        c.execute(
            "INSERT INTO audit_event (action, username, file) VALUES ($1, $2, $3)",
            &["auth-test", &ci.user, &file],
        )
        .unwrap_or_else(|e| panic!("{cs}: {e}"));
        // A statement error comes back as an error, and the connection stays usable.
        let e = c
            .execute("INSERT INTO no_such_table (x) VALUES ($1)", &["1"])
            .expect_err("no table");
        assert!(e.to_string().contains("42P01"), "{e}");
        c.close();
    }
    let rows = pg.psql(
        "SELECT username || ':' || file FROM audit_event WHERE action = 'auth-test' ORDER BY id",
    );
    assert_eq!(rows.lines().count(), cases.len(), "{rows}");
    assert!(
        rows.contains("sops_md5:f1; DROP TABLE audit_event; --"),
        "{rows}"
    );
    for (user, pw) in [("sops", "wrong"), ("sops_md5", "wrong")] {
        let ci = ConnInfo::parse(
            &format!("host=127.0.0.1 port={port} user={user} password={pw} dbname=postgres sslmode=disable"),
            "nobody",
        )
        .expect("parse");
        let e = Conn::connect(&ci).err().expect("wrong password refused");
        assert!(e.to_string().contains("28P01"), "{e}");
        assert!(!e.to_string().contains(pw), "{e}");
    }
}
