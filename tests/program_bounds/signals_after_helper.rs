//! Commands that handle signals themselves, after a credential helper ran in a process
//! group of its own (no terminal: a CI job, a service). Round 24 starts the signal thread
//! when such a helper runs (`process::groups`); until round 25 that thread then ended
//! leafseal on the first SIGTERM: `exec-env` did not wait for its command's own clean-up,
//! `exec-file --no-fifo` left the plaintext file behind, and the key service left its
//! unix socket, so that it could not start again.

use std::path::Path;
use std::process::Child;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

use super::deadlines::which_setsid;
use super::support;

/// A directory with an age-encrypted `secret.yaml` whose metadata also names an AWS KMS
/// key, an AWS profile whose `credential_process` answers at once, and the variables
/// that make leafseal try that KMS key first (its endpoint refuses the connection), so
/// the helper runs and the age key then decrypts.
struct Setup {
    dir: tempfile::TempDir,
    _home: tempfile::TempDir,
    vars: std::collections::HashMap<String, String>,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("dir");
    let home = tempfile::tempdir().expect("home");
    let mut vars = support::env_vars(None, home.path());
    let kms = "    kms:\n        - arn: arn:aws:kms:us-east-1:111122223333:key/k1\n          \
               created_at: \"2024-01-01T00:00:00Z\"\n          enc: AQICAHhvZ2Vy\n          \
               aws_profile: \"\"\n";
    super::sealed_with_keys_first(&vars, dir.path(), kms);
    let helper = home.path().join("credential-process");
    std::fs::write(
        &helper,
        "#!/bin/sh\necho '{\"Version\":1,\"AccessKeyId\":\"AKIAEXAMPLE\",\"SecretAccessKey\":\"x\"}'\n",
    )
    .expect("helper");
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let config = home.path().join("aws-config");
    std::fs::write(
        &config,
        format!("[profile p]\ncredential_process = {}\n", helper.display()),
    )
    .expect("aws config");
    // A port nothing listens on: the KMS call fails at once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address");
    vars.insert("AWS_CONFIG_FILE".to_owned(), config.display().to_string());
    vars.insert("AWS_PROFILE".to_owned(), "p".to_owned());
    vars.insert("AWS_ENDPOINT_URL".to_owned(), format!("http://{closed}"));
    Setup {
        dir,
        _home: home,
        vars,
    }
}

/// Starts `leafseal ARGS` under `setsid` (no terminal; `setsid` does not fork here, so
/// the child's id is leafseal's).
fn spawn(setup: &Setup, args: &[&str]) -> Option<Child> {
    let setsid = which_setsid().ok()?;
    let child = std::process::Command::new(setsid)
        .arg(env!("CARGO_BIN_EXE_leafseal"))
        .args(args)
        .env_clear()
        .envs(&setup.vars)
        .current_dir(setup.dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("leafseal");
    Some(child)
}

/// [`spawn`], then waits until the command wrote a line to `started`.
fn start(setup: &Setup, args: &[&str], started: &Path) -> Option<Child> {
    let mut child = spawn(setup, args)?;
    let begun = Instant::now();
    while !std::fs::read_to_string(started).is_ok_and(|s| s.ends_with('\n')) {
        if begun.elapsed() > Duration::from_secs(30) || child.try_wait().expect("wait").is_some() {
            let _ = child.kill();
            panic!("the command never started");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(child)
}

/// Sends SIGTERM to leafseal alone and waits (at most 10 s) for it to end.
pub(crate) fn terminate(child: Child) -> std::process::ExitStatus {
    signal_and_wait(child, "TERM")
}

/// Sends `signal` (a name for `kill -s`) to leafseal alone and waits (at most 10 s) for
/// it to end.
fn signal_and_wait(mut child: Child, signal: &str) -> std::process::ExitStatus {
    let status = std::process::Command::new("kill")
        .args(["-s", signal, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let ended = Instant::now();
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return s;
        }
        if ended.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("leafseal did not end on SIG{signal}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn exec_env_waits_for_its_command_on_a_signal_after_a_helper_ran() {
    let setup = setup();
    let started = setup.dir.path().join("started");
    let cleaned = setup.dir.path().join("cleaned");
    let script = format!(
        "trap 'sleep 0.5; echo done > \"{}\"; exit 7' TERM; echo > \"{}\"; sleep 30 & wait",
        cleaned.display(),
        started.display()
    );
    let Some(child) = start(
        &setup,
        &[
            "exec-env",
            "--decryption-order",
            "kms,age",
            "secret.yaml",
            &script,
        ],
        &started,
    ) else {
        eprintln!("no setsid here: the case without a terminal is not checked");
        return;
    };
    let status = terminate(child);
    // Before round 25: exit 143 at once, the command's clean-up still to come.
    assert!(
        cleaned.exists(),
        "leafseal ended before its command's clean-up: {status:?}"
    );
    assert_eq!(status.code(), Some(7), "{status:?}");
}

#[test]
fn exec_file_removes_its_plaintext_file_on_a_signal_after_a_helper_ran() {
    let setup = setup();
    let started = setup.dir.path().join("started");
    let script = format!("echo {{}} > \"{}\"; sleep 30", started.display());
    let Some(child) = start(
        &setup,
        &[
            "exec-file",
            "--no-fifo",
            "--decryption-order",
            "kms,age",
            "secret.yaml",
            &script,
        ],
        &started,
    ) else {
        eprintln!("no setsid here: the case without a terminal is not checked");
        return;
    };
    let plaintext = std::fs::read_to_string(&started).expect("path");
    let plaintext = Path::new(plaintext.trim());
    assert!(plaintext.exists(), "{}", plaintext.display());
    let status = terminate(child);
    // Before round 25 the file was left with the plaintext in it.
    assert!(
        !plaintext.exists(),
        "the plaintext file was left behind: {}",
        plaintext.display()
    );
    assert_eq!(status.code(), Some(143), "{status:?}");
}

#[test]
fn the_key_service_stops_in_order_on_a_signal_after_a_helper_ran() {
    key_service_stops_in_order_after_a_helper_ran("TERM");
}

/// SIGUSR1 and SIGALRM end a process by default. After a credential helper had started
/// the signal thread, round 25's key service left them to a thread that only records
/// them: the server went on serving (and without a helper, it died and left its socket).
/// Every such signal now stops it in order.
#[test]
fn the_key_service_stops_in_order_on_any_ending_signal_after_a_helper_ran() {
    for signal in ["USR1", "ALRM"] {
        key_service_stops_in_order_after_a_helper_ran(signal);
    }
}

/// The real-time signals end a process by default too. Before round 26 the key service
/// did not watch them: after a credential helper had started the signal thread, they were
/// only recorded and the server went on serving (without a helper, one killed it and left
/// its socket). 34 is SIGRTMIN with glibc, 64 SIGRTMAX (which tokio cannot watch).
#[test]
fn the_key_service_stops_in_order_on_a_real_time_signal_after_a_helper_ran() {
    for signal in ["34", "64"] {
        key_service_stops_in_order_after_a_helper_ran(signal);
    }
}

/// `exec-file --no-fifo` and a real-time signal, after a credential helper ran (the
/// order `kms,age`) and without one (`age` only). Before round 26 the signal was not
/// caught by the command: after a helper, the signal thread only recorded it and
/// leafseal never ended (nor did its command); without one, it ended leafseal at once and
/// left the plaintext file behind. Now the command is asked to end (SIGTERM) and the file
/// is removed.
#[test]
fn exec_file_removes_its_plaintext_file_on_a_real_time_signal() {
    for order in ["age", "kms,age"] {
        let setup = setup();
        let started = setup.dir.path().join("started");
        let script = format!("echo {{}} > \"{}\"; sleep 30", started.display());
        let Some(child) = start(
            &setup,
            &[
                "exec-file",
                "--no-fifo",
                "--decryption-order",
                order,
                "secret.yaml",
                &script,
            ],
            &started,
        ) else {
            eprintln!("no setsid here: the case without a terminal is not checked");
            return;
        };
        let plaintext = std::fs::read_to_string(&started).expect("path");
        let plaintext = Path::new(plaintext.trim());
        assert!(plaintext.exists(), "{}", plaintext.display());
        let status = signal_and_wait(child, "34");
        assert!(
            !plaintext.exists(),
            "{order}: the plaintext file was left behind: {}",
            plaintext.display()
        );
        // The command ended by the SIGTERM it was sent: 128 + 15.
        assert_eq!(status.code(), Some(143), "{order}: {status:?}");
    }
}

fn key_service_stops_in_order_after_a_helper_ran(signal: &str) {
    let setup = setup();
    let socket = setup.dir.path().join("ks.sock");
    let address = socket.display().to_string();
    let Some(server) = spawn(
        &setup,
        &["keyservice", "--network", "unix", "--address", &address],
    ) else {
        eprintln!("no setsid here: the case without a terminal is not checked");
        return;
    };
    let begun = Instant::now();
    while !socket.exists() {
        assert!(
            begun.elapsed() < Duration::from_secs(30),
            "the key service never listened"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // A client without keys of its own asks for the KMS key first: the server runs the
    // credential helper (its group registered), fails the KMS call, then unwraps the age key.
    let home = tempfile::tempdir().expect("client home");
    let mut client = support::env_vars(None, home.path());
    client.remove("SOPS_AGE_KEY_FILE");
    let uri = format!("unix://{address}");
    let out = support::run_in(
        &client,
        setup.dir.path(),
        &[
            "decrypt",
            "--decryption-order",
            "kms,age",
            "--keyservice",
            &uri,
            "--enable-local-keyservice=false",
            "secret.yaml",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "password: hunter2\n");
    let status = signal_and_wait(server, signal);
    // Before round 25: exit 143 and the socket left, so the service could not start again.
    assert!(!socket.exists(), "the socket was left behind: {status:?}");
    assert!(status.success(), "{status:?}");
}
