//! The audit trail through the real binary: a real PostgreSQL server (Debian's
//! postgresql-15, started here) receives one row per command with no value in it; JSON
//! lines and syslog sinks; a required sink that is down stops `decrypt` and `exec-env`
//! before anything is released.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::path::PathBuf;
use std::process::Command;
use std::process::Output;

use support::*;

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// Secret values in the test file: none may reach any audit sink.
const SECRETS: [&str; 4] = [
    "hunter2-alpha-secret",
    "db-pass-bravo-secret",
    "new-charlie-secret",
    "edited-delta-secret",
];

/// A PostgreSQL server in a temporary directory, on 127.0.0.1, stopped on drop. As root
/// it runs as `nobody` (initdb and postgres refuse root).
struct Postgres {
    _base: tempfile::TempDir,
    data: PathBuf,
    sock: PathBuf,
    port: u16,
    as_nobody: bool,
}

fn sh(mut c: Command, what: &str) -> Output {
    let o = c.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        o.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

impl Postgres {
    /// Starts a server, or returns `None` when PostgreSQL is not installed — which fails
    /// the test under CI (`CI` set) instead of skipping it.
    fn start() -> Option<Postgres> {
        if !Path::new(PG_BIN).join("initdb").exists() {
            assert!(
                std::env::var_os("CI").is_none(),
                "PostgreSQL 15 is not installed ({PG_BIN}): install Debian's postgresql-15 to run the audit tests"
            );
            eprintln!("skipping: PostgreSQL 15 is not installed");
            return None;
        }
        let as_nobody = rustix::process::getuid().is_root();
        let base = tempfile::tempdir().expect("tmp");
        let data = base.path().join("data");
        let sock = base.path().join("sock");
        std::fs::create_dir(&data).expect("data");
        std::fs::create_dir(&sock).expect("sock");
        let pwfile = base.path().join("pw");
        std::fs::write(&pwfile, "postgres-admin-pw\n").expect("pw");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(base.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        std::fs::set_permissions(&pwfile, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        if as_nobody {
            let mut c = Command::new("chown");
            c.args(["nobody:nogroup"]).arg(&data).arg(&sock);
            sh(c, "chown");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("port")
            .local_addr()
            .expect("addr")
            .port();
        let pg = Postgres {
            _base: base,
            data,
            sock,
            port,
            as_nobody,
        };
        let mut c = pg.tool("initdb");
        c.arg("-D")
            .arg(&pg.data)
            .args([
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ])
            .arg(format!("--pwfile={}", pwfile.display()));
        sh(c, "initdb");
        // Other authentication methods for the client test; the first matching line wins.
        let hba = pg.data.join("pg_hba.conf");
        let rest = std::fs::read_to_string(&hba).expect("hba");
        std::fs::write(
            &hba,
            format!(
                "host all sops_md5 127.0.0.1/32 md5\nhost all sops_clear 127.0.0.1/32 password\nhost all sops_trust 127.0.0.1/32 trust\n{rest}"
            ),
        )
        .expect("hba");
        let mut c = pg.tool("pg_ctl");
        c.arg("-D")
            .arg(&pg.data)
            .arg("-o")
            .arg(format!(
                "-h 127.0.0.1 -p {} -k {}",
                pg.port,
                pg.sock.display()
            ))
            .arg("-l")
            .arg(pg.data.join("log"))
            .args(["-w", "start"]);
        sh(c, "pg_ctl start");
        pg.psql(
            "CREATE TABLE audit_event (
               id SERIAL PRIMARY KEY,
               timestamp TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
               action TEXT, username TEXT, file TEXT, details JSONB);
             CREATE ROLE sops WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN PASSWORD 'sops';
             GRANT INSERT ON audit_event TO sops;
             GRANT USAGE ON audit_event_id_seq TO sops;",
        );
        Some(pg)
    }

    fn tool(&self, name: &str) -> Command {
        let path = Path::new(PG_BIN).join(name);
        if self.as_nobody {
            let mut c = Command::new("runuser");
            c.args(["-u", "nobody", "--"]).arg(path);
            c.current_dir("/");
            c
        } else {
            Command::new(path)
        }
    }

    /// Runs SQL as the superuser over the unix socket; returns the unaligned output.
    fn psql(&self, sql: &str) -> String {
        let mut c = Command::new(Path::new(PG_BIN).join("psql"));
        c.arg("-h")
            .arg(&self.sock)
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
            ])
            .args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql]);
        String::from_utf8(sh(c, "psql").stdout).expect("utf8")
    }

    fn rows(&self) -> Vec<String> {
        self.psql(
            "SELECT action || '|' || username || '|' || file || '|' || coalesce(details::text, '') FROM audit_event ORDER BY id",
        )
        .lines()
        .map(str::to_owned)
        .collect()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let mut c = self.tool("pg_ctl");
        c.arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"]);
        let _ = c.output();
    }
}

struct Env {
    home: tempfile::TempDir,
    work: tempfile::TempDir,
}

impl Env {
    fn new(config: &str) -> (Env, HashMap<String, String>) {
        let env = Env {
            home: tempfile::tempdir().expect("home"),
            work: tempfile::tempdir().expect("work"),
        };
        let cfg = env.home.path().join("audit.yaml");
        std::fs::write(&cfg, config).expect("config");
        let mut v = env_vars(None, env.home.path());
        v.insert("LEAFSEAL_AUDIT_CONFIG".into(), cfg.display().to_string());
        // Not what is recorded: the user comes from the password database, as in sops.
        v.insert("USER".into(), "not-the-audited-name".into());
        (env, v)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.work.path().join(rel)
    }

    /// Writes an encrypted `s.yaml` (encrypt is not an audited command).
    fn secrets(&self, vars: &HashMap<String, String>) {
        std::fs::write(
            self.path("plain.yaml"),
            format!("api: {}\ndb_password: {}\n", SECRETS[0], SECRETS[1]),
        )
        .expect("plain");
        ok(&run_in(
            vars,
            self.work.path(),
            &[
                "encrypt",
                "--age",
                AGE_RECIPIENT,
                "--output",
                "s.yaml",
                "plain.yaml",
            ],
        ));
        std::fs::remove_file(self.path("plain.yaml")).expect("rm");
    }
}

fn ok(o: &Output) -> &Output {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// The local user name, as the password database has it (what sops records too).
fn whoami() -> String {
    let mut c = Command::new("id");
    c.arg("-un");
    let o = sh(c, "id -un");
    String::from_utf8(o.stdout).expect("utf8").trim().to_owned()
}

fn assert_no_secret(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{what} holds a secret value: {text}");
    }
}

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
