//! The audit trail through the real binary: a real PostgreSQL server (Debian's
//! postgresql-15, started here) receives one row per command with no value in it; JSON
//! lines and syslog sinks; a required sink that is down stops `decrypt` and `exec-env`
//! before anything is released.

mod support;

#[path = "audit/events.rs"]
mod events;
#[path = "audit/sinks.rs"]
mod sinks;

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
