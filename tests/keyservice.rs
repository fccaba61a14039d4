//! The key service (sops's gRPC `KeyService`): `leafseal keyservice` serving the real
//! sops 3.11 and leafseal, `sops keyservice` serving leafseal, a unix socket, `--prompt`,
//! and a key service that is down. Every client runs with an empty HOME and no key of its
//! own, so only the key service can wrap or unwrap.

#![cfg(feature = "keyservice")]

#[path = "support/sops.rs"]
mod sops_peer;
mod support;

use std::collections::HashMap;
use std::io::BufRead;
use std::io::BufReader;
use std::io::Write;
use std::path::Path;
use std::process::Child;
use std::process::ChildStdin;
use std::process::Command;
use std::process::Output;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::Duration;

use support::*;

const PLAIN: &str = "db:\n    user: admin\n    password: hunter2\n";

/// A key service process (leafseal or sops), killed on drop. Its stderr is collected.
struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(mut cmd: Command) -> Server {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start key service");
        let stderr = child.stderr.take().expect("stderr");
        let stdin = child.stdin.take();
        let (tx, lines) = mpsc::channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let log2 = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                log2.lock().expect("log").push(line.clone());
                let _ = tx.send(line);
            }
        });
        Server {
            child,
            stdin,
            lines,
            log,
        }
    }

    /// Waits (bounded) for a stderr line containing `needle` and returns it.
    fn wait_for(&self, needle: &str) -> String {
        for _ in 0..600 {
            match self.lines.recv_timeout(Duration::from_millis(100)) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        panic!(
            "key service never printed {needle:?}; its log:\n{}",
            self.log()
        );
    }

    fn log(&self) -> String {
        self.log.lock().expect("log").join("\n")
    }

    fn answer(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin");
        stdin.write_all(line.as_bytes()).expect("answer");
        stdin.flush().expect("flush");
    }

    /// Sends SIGTERM and waits for the exit.
    fn terminate(&mut self) -> std::process::ExitStatus {
        rustix::process::kill_process(
            rustix::process::Pid::from_child(&self.child),
            rustix::process::Signal::TERM,
        )
        .expect("SIGTERM");
        self.child.wait().expect("wait")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A leafseal key service with the age test identity (and `gpg`'s home, if given).
fn leafseal_server(
    gpg: Option<&GpgHome>,
    home: &Path,
    network: &str,
    address: &str,
    extra: &[&str],
) -> Server {
    let mut cmd = leafseal(&env_vars(gpg, home));
    cmd.args([
        "keyservice",
        "--network",
        network,
        "--address",
        address,
        "--verbose",
    ])
    .args(extra)
    .current_dir(home);
    Server::start(cmd)
}

/// A leafseal key service on a free loopback port; returns it and its `tcp://` URI.
fn leafseal_tcp_server(gpg: Option<&GpgHome>, home: &Path, extra: &[&str]) -> (Server, String) {
    let server = leafseal_server(gpg, home, "tcp", "127.0.0.1:0", extra);
    let line = server.wait_for("listening on ");
    let uri = line
        .split_whitespace()
        .find(|w| w.starts_with("tcp://"))
        .expect("address in the listening line")
        .to_owned();
    (server, uri)
}

/// A loopback port nobody listens on (bound, then released).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Variables of a client with no key: an empty HOME and PATH only.
fn keyless(home: &Path) -> HashMap<String, String> {
    let mut vars = HashMap::new();
    vars.insert("HOME".to_owned(), home.display().to_string());
    vars.insert("PATH".to_owned(), std::env::var("PATH").unwrap_or_default());
    vars
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}",
        out.status,
        text(&out.stderr)
    );
    text(&out.stdout)
}

struct Dirs {
    _tmp: tempfile::TempDir,
    /// The server's home (and working directory).
    server: std::path::PathBuf,
    /// The key-less client's home and working directory (holds the files).
    client: std::path::PathBuf,
}

fn dirs() -> Dirs {
    let tmp = tempfile::Builder::new()
        .prefix("ls-ks")
        .tempdir_in("/tmp")
        .expect("tempdir");
    let server = tmp.path().join("server");
    let client = tmp.path().join("client");
    std::fs::create_dir(&server).expect("mkdir");
    std::fs::create_dir(&client).expect("mkdir");
    Dirs {
        _tmp: tmp,
        server,
        client,
    }
}

/// Writes `plain.yaml` and `secret.yaml` (encrypted for the age test key, with the key
/// present) into the client directory.
fn age_file(d: &Dirs) {
    std::fs::write(d.client.join("plain.yaml"), PLAIN).expect("write");
    let out = run_in(
        &env_vars(None, &d.server),
        &d.client,
        &["encrypt", "--age", AGE_RECIPIENT, "plain.yaml"],
    );
    let enc = ok(&out, "encrypt with the local key");
    std::fs::write(d.client.join("secret.yaml"), enc).expect("write");
}

#[test]
fn real_sops_decrypts_and_encrypts_through_leafseal_keyservice() {
    let Some(sops) = sops_peer::sops_bin() else {
        return;
    };
    let d = dirs();
    age_file(&d);
    let (server, uri) = leafseal_tcp_server(None, &d.server, &[]);
    let sops_cmd = |args: &[&str]| {
        Command::new(sops)
            .env_clear()
            .envs(keyless(&d.client))
            .current_dir(&d.client)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run sops")
    };
    // No key on the client: sops alone cannot open the file.
    let alone = sops_cmd(&["decrypt", "secret.yaml"]);
    assert!(
        !alone.status.success(),
        "sops found a key: {}",
        text(&alone.stdout)
    );

    let out = sops_cmd(&[
        "decrypt",
        "--keyservice",
        &uri,
        "--enable-local-keyservice=false",
        "secret.yaml",
    ]);
    assert_eq!(ok(&out, "sops decrypt through leafseal"), PLAIN);
    server.wait_for(&format!("decrypt request with age key {AGE_RECIPIENT}"));

    let out = sops_cmd(&[
        "encrypt",
        "--age",
        AGE_RECIPIENT,
        "--keyservice",
        &uri,
        "--enable-local-keyservice=false",
        "plain.yaml",
    ]);
    let enc = ok(&out, "sops encrypt through leafseal");
    server.wait_for(&format!("encrypt request with age key {AGE_RECIPIENT}"));
    std::fs::write(d.client.join("by-sops.yaml"), enc).expect("write");
    let out = run_in(
        &env_vars(None, &d.server),
        &d.client,
        &["decrypt", "by-sops.yaml"],
    );
    assert_eq!(ok(&out, "decrypt sops's file locally"), PLAIN);
    assert!(!server.log().contains("hunter2"));
}

#[test]
fn leafseal_decrypts_and_encrypts_through_sops_keyservice() {
    let Some(sops) = sops_peer::sops_bin() else {
        return;
    };
    let d = dirs();
    age_file(&d);
    // Over TCP (a port found free just before) and over a unix socket.
    let port = free_port();
    let sock = d.server.join("sops.sock");
    let mut cases = Vec::new();
    for (network, address, uri) in [
        (
            "tcp",
            format!("127.0.0.1:{port}"),
            format!("tcp://127.0.0.1:{port}"),
        ),
        (
            "unix",
            sock.display().to_string(),
            format!("unix://{}", sock.display()),
        ),
    ] {
        let mut cmd = Command::new(sops);
        cmd.env_clear()
            .envs(env_vars(None, &d.server))
            .current_dir(&d.server)
            .args([
                "keyservice",
                "--verbose",
                "--network",
                network,
                "--address",
                &address,
            ]);
        let server = Server::start(cmd);
        server.wait_for("Listening on");
        cases.push((server, uri));
    }
    for (_server, uri) in &cases {
        let client = keyless(&d.client);
        let alone = run_in(&client, &d.client, &["decrypt", "secret.yaml"]);
        assert_eq!(alone.status.code(), Some(128));

        let out = run_in(
            &client,
            &d.client,
            &[
                "decrypt",
                "--keyservice",
                uri,
                "--enable-local-keyservice=false",
                "secret.yaml",
            ],
        );
        assert_eq!(ok(&out, "decrypt through sops keyservice"), PLAIN);

        let out = run_in(
            &client,
            &d.client,
            &[
                "encrypt",
                "--age",
                AGE_RECIPIENT,
                "--keyservice",
                uri,
                "--enable-local-keyservice=false",
                "plain.yaml",
            ],
        );
        let enc = ok(&out, "encrypt through sops keyservice");
        std::fs::write(d.client.join("via-sops.yaml"), enc).expect("write");
        let out = run_in(
            &env_vars(None, &d.server),
            &d.client,
            &["decrypt", "via-sops.yaml"],
        );
        assert_eq!(ok(&out, "decrypt locally"), PLAIN);
    }
}

#[test]
fn unix_socket_is_0600_serves_and_is_removed_on_sigterm() {
    use std::os::unix::fs::FileTypeExt;
    use std::os::unix::fs::PermissionsExt;
    let d = dirs();
    age_file(&d);
    let sock = d.server.join("ks.sock");
    let mut server = leafseal_server(None, &d.server, "unix", &sock.display().to_string(), &[]);
    server.wait_for("listening on unix://");
    let meta = std::fs::metadata(&sock).expect("socket exists");
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);

    let uri = format!("unix://{}", sock.display());
    let out = run_in(
        &keyless(&d.client),
        &d.client,
        &[
            "decrypt",
            "--keyservice",
            &uri,
            "--enable-local-keyservice=false",
            "secret.yaml",
        ],
    );
    assert_eq!(ok(&out, "decrypt through the unix socket"), PLAIN);

    let status = server.terminate();
    assert!(status.success(), "exit on SIGTERM: {status}");
    assert!(!sock.exists(), "the socket was left behind");
}

#[test]
fn prompt_refuses_on_n_and_allows_on_y_naming_the_key_not_the_data() {
    let d = dirs();
    age_file(&d);
    let (mut server, uri) = leafseal_tcp_server(None, &d.server, &["--prompt"]);
    let args = [
        "decrypt",
        "--keyservice",
        uri.as_str(),
        "--enable-local-keyservice=false",
        "secret.yaml",
    ];
    server.answer("n\n");
    let out = run_in(&keyless(&d.client), &d.client, &args);
    assert_eq!(out.status.code(), Some(128), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("Request rejected by user"),
        "{}",
        text(&out.stderr)
    );
    assert!(server.log().contains(&format!(
        "Received decrypt request using age key {AGE_RECIPIENT}. Respond to request? (y/n)"
    )));

    server.answer("y\n");
    let out = run_in(&keyless(&d.client), &d.client, &args);
    assert_eq!(ok(&out, "decrypt after y"), PLAIN);
    assert!(!server.log().contains("hunter2"));
}

#[test]
fn a_key_service_that_is_down_is_named_in_the_error() {
    let d = dirs();
    age_file(&d);
    let uri = format!("tcp://127.0.0.1:{}", free_port());
    let out = run_in(
        &keyless(&d.client),
        &d.client,
        &[
            "decrypt",
            "--keyservice",
            &uri,
            "--enable-local-keyservice=false",
            "secret.yaml",
        ],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(128), "{err}");
    assert!(
        err.contains(&format!("could not reach the key service at {uri}")),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");

    let out = run_in(
        &keyless(&d.client),
        &d.client,
        &[
            "encrypt",
            "--age",
            AGE_RECIPIENT,
            "--keyservice",
            &uri,
            "--enable-local-keyservice=false",
            "plain.yaml",
        ],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(23), "{err}");
    assert!(err.contains(&uri), "{err}");

    let out = run_in(
        &keyless(&d.client),
        &d.client,
        &["decrypt", "--keyservice", "127.0.0.1:5000", "secret.yaml"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("invalid key service address"));
}

#[test]
fn local_keys_come_first_and_the_environment_variables_work() {
    let d = dirs();
    age_file(&d);
    let (server, uri) = leafseal_tcp_server(None, &d.server, &[]);
    // With the key on this machine, the local key service answers and the remote one is
    // never asked.
    let mut with_key = env_vars(None, &d.client);
    with_key.insert("SOPS_KEYSERVICE".to_owned(), uri.clone());
    let out = run_in(&with_key, &d.client, &["decrypt", "secret.yaml"]);
    assert_eq!(ok(&out, "local first"), PLAIN);
    assert!(
        !server.log().contains("decrypt request"),
        "{}",
        server.log()
    );

    // Without it, the remote one (from SOPS_KEYSERVICE) is tried next.
    let mut keyless_env = keyless(&d.client);
    keyless_env.insert("SOPS_KEYSERVICE".to_owned(), uri.clone());
    let out = run_in(&keyless_env, &d.client, &["decrypt", "secret.yaml"]);
    assert_eq!(ok(&out, "then the remote one"), PLAIN);
    server.wait_for("decrypt request with age key");

    // SOPS_ENABLE_LOCAL_KEYSERVICE=false with no remote service: nothing to use.
    let mut none = env_vars(None, &d.client);
    none.insert(
        "SOPS_ENABLE_LOCAL_KEYSERVICE".to_owned(),
        "false".to_owned(),
    );
    let out = run_in(&none, &d.client, &["decrypt", "secret.yaml"]);
    assert_eq!(out.status.code(), Some(128));
    assert!(text(&out.stderr).contains("no key service to use"));
}

#[test]
fn pgp_through_the_key_service() {
    let gpg = GpgHome::new();
    let d = dirs();
    std::fs::write(d.client.join("plain.yaml"), PLAIN).expect("write");
    let (server, uri) = leafseal_tcp_server(Some(&gpg), &d.server, &[]);
    let client = keyless(&d.client);
    let remote = [
        "--keyservice",
        uri.as_str(),
        "--enable-local-keyservice=false",
    ];
    let mut args = vec!["encrypt", "--pgp", PGP_FP];
    args.extend(remote);
    args.push("plain.yaml");
    let out = run_in(&client, &d.client, &args);
    let enc = ok(&out, "encrypt with PGP through the key service");
    std::fs::write(d.client.join("pgp.yaml"), enc).expect("write");
    server.wait_for(&format!("encrypt request with pgp key {PGP_FP}"));

    let mut args = vec!["decrypt"];
    args.extend(remote);
    args.push("pgp.yaml");
    let out = run_in(&client, &d.client, &args);
    assert_eq!(ok(&out, "decrypt with PGP through the key service"), PLAIN);
    server.wait_for(&format!("decrypt request with pgp key {PGP_FP}"));
}

#[test]
fn set_rotate_and_exec_env_use_the_key_service() {
    let d = dirs();
    std::fs::write(d.client.join("flat.yaml"), "token: abc123\n").expect("write");
    let out = run_in(
        &env_vars(None, &d.server),
        &d.client,
        &["encrypt", "-i", "--age", AGE_RECIPIENT, "flat.yaml"],
    );
    ok(&out, "encrypt");
    let (server, uri) = leafseal_tcp_server(None, &d.server, &[]);
    let client = keyless(&d.client);
    let run = |args: &[&str]| {
        let mut all = vec![
            "--keyservice",
            uri.as_str(),
            "--enable-local-keyservice=false",
        ];
        all.extend(args);
        run_in(&client, &d.client, &all)
    };
    ok(
        &run(&["set", "flat.yaml", r#"["token"]"#, r#""xyz""#]),
        "set",
    );
    ok(&run(&["rotate", "-i", "flat.yaml"]), "rotate");
    server.wait_for("encrypt request with age key");
    let out = run(&["exec-env", "flat.yaml", r#"printf %s "$token""#]);
    assert_eq!(ok(&out, "exec-env"), "xyz");
    let out = run_in(
        &env_vars(None, &d.server),
        &d.client,
        &["decrypt", "flat.yaml"],
    );
    assert_eq!(ok(&out, "decrypt locally"), "token: xyz\n");
    let log = server.log();
    assert!(log.matches("decrypt request").count() >= 3, "{log}");
}

/// The library's `Keys::key_service`: a program with no key decrypts and changes a file
/// through a running key service (docs/library.md).
#[test]
fn the_library_uses_a_key_service() {
    let home = tempfile::tempdir().expect("home");
    let (_server, uri) = leafseal_tcp_server(None, home.path(), &[]);
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("s.yaml");
    let recipients = leafseal::api::Recipients::new()
        .age(AGE_RECIPIENT)
        .expect("recipient");
    let sealed = leafseal::api::encrypt_bytes(
        PLAIN.as_bytes(),
        leafseal::format::Format::Yaml,
        &recipients,
    )
    .expect("encrypt");
    std::fs::write(&path, sealed).expect("write");
    let none = leafseal::api::decrypt_file(&path, &leafseal::api::Keys::none())
        .expect_err("no key without the service");
    assert_eq!(none.kind(), leafseal::ErrorKind::KeyUnavailable);
    let keys = leafseal::api::Keys::none()
        .key_service(&uri)
        .expect("uri")
        .local_keys(false);
    let secrets = leafseal::api::decrypt_file(&path, &keys).expect("decrypt through the service");
    assert_eq!(
        secrets.get_str(r#"["db"]["password"]"#).expect("value"),
        "hunter2"
    );
    leafseal::api::rotate_file(&path, &keys).expect("rotate through the service");
    let again = leafseal::api::decrypt_file(&path, &keys).expect("decrypt after rotate");
    assert_eq!(again.get_str(r#"["db"]["user"]"#).expect("value"), "admin");
    assert!(leafseal::api::Keys::none().key_service("ftp://x").is_err());
}
