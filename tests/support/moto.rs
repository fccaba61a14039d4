//! A real `moto_server` (AWS KMS and STS mock) on 127.0.0.1 for the AWS KMS tests.
//!
//! moto is installed on first use into a virtualenv in Cargo's target tmp dir
//! (`LEAFSEAL_MOTO_VENV` overrides the location): `python3 -m venv` and
//! `pip install 'moto[server]==5.*'`, only when `moto_server` is missing. Each [`Moto`]
//! runs its own server process on a free port and kills it on drop. Installing or
//! starting moto failing is a test failure, never a skip.
#![allow(dead_code)]

use std::net::TcpListener;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Child;
use std::process::Command;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;
use std::time::Instant;

/// The virtualenv moto lives in.
pub fn venv_dir() -> PathBuf {
    match std::env::var_os("LEAFSEAL_MOTO_VENV") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("moto-venv"),
    }
}

static INSTALL: Mutex<()> = Mutex::new(());

fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: could not start: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The `moto_server` executable, installing moto first if it is missing.
pub fn moto_server() -> PathBuf {
    let _guard = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    let venv = venv_dir();
    let exe = venv.join("bin").join("moto_server");
    if exe.is_file() {
        return exe;
    }
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    if !venv.join("bin").join("pip").is_file() {
        run(
            Command::new(&python).args(["-m", "venv"]).arg(&venv),
            "creating the moto virtualenv (python3 -m venv)",
        );
    }
    run(
        Command::new(venv.join("bin").join("pip"))
            .args(["install", "--quiet", "moto[server]==5.*"])
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1"),
        "installing moto[server] with pip",
    );
    assert!(
        exe.is_file(),
        "pip installed moto but {} is missing",
        exe.display()
    );
    exe
}

/// A free TCP port on 127.0.0.1 (nothing listens on it once this returns).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// A plain HTTP agent that never uses a proxy (the server is on loopback).
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .new_agent()
}

/// A running moto server; killed (and reaped) on drop.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
}

impl Moto {
    /// Starts `moto_server -H 127.0.0.1 -p <free port>` and waits until it answers.
    pub fn start() -> Moto {
        let exe = moto_server();
        let port = free_port();
        let child = Command::new(&exe)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
        let mut moto = Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto_server exited at start-up ({status})");
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() && moto.answers() {
                return moto;
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer on port {port} within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn answers(&self) -> bool {
        agent()
            .get(format!("{}/moto-api/", self.url))
            .call()
            .is_ok_and(|r| r.status().is_success())
    }

    /// Makes a raw (unsigned; moto does not check signatures) JSON 1.1 KMS call and
    /// returns the response JSON.
    pub fn kms(&self, action: &str, body: &str) -> serde_json::Value {
        let scope = "AKIDMOTOTEST/20240101/us-east-1/kms/aws4_request";
        let mut resp = agent()
            .post(format!("{}/", self.url))
            .header("Content-Type", "application/x-amz-json-1.1")
            .header("X-Amz-Target", format!("TrentService.{action}"))
            .header(
                "Authorization",
                format!("AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host, Signature=00"),
            )
            .send(body)
            .unwrap_or_else(|e| panic!("moto {action}: {e}"));
        serde_json::from_str(&resp.body_mut().read_to_string().expect("body")).expect("json")
    }

    /// Creates a symmetric KMS key in us-east-1 and returns its ARN.
    pub fn create_key(&self) -> String {
        let v = self.kms("CreateKey", r#"{"Description":"leafseal test"}"#);
        v["KeyMetadata"]["Arn"]
            .as_str()
            .expect("CreateKey returned an ARN")
            .to_owned()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
