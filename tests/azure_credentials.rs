//! Azure credential sources through the CLI, in the default credential chain's order:
//! client secret, client certificate (PEM and PKCS#12), workload identity, managed
//! identity (IMDS and App Service), the Azure CLI, and a sovereign cloud. A loopback
//! server speaks Entra ID's token endpoint (checking the form fields and the client
//! assertion's signature and thumbprint), IMDS, App Service's identity endpoint and Key
//! Vault's encrypt/decrypt, which accepts only the token the source should produce.

mod support;
#[path = "../src/keys/testhttp.rs"]
#[allow(dead_code)]
mod testhttp;

/// What `testhttp` needs from the crate's `rest` module (the real names).
mod rest {
    pub const RETRY_DELAY_VAR: &str = "LEAFSEAL_HTTP_RETRY_DELAY_MS";
    pub const TIMEOUT_VAR: &str = "LEAFSEAL_HTTP_TIMEOUT_SECS";
}

use std::collections::HashMap;
use std::path::Path;
use std::path::PathBuf;
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use support::*;
use testhttp::Req;
use testhttp::Resp;
use testhttp::Server;

const TENANT: &str = "tenant-1";
const CLIENT: &str = "app-id";
const SECRET: &str = "app-secret-value";
const FEDERATED: &str = "federated-oidc-token";
const IDENTITY_HEADER: &str = "app-service-identity-header";
const VAULT_RESOURCE: &str = "https://vault.azure.net";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const PLAIN: &[u8] = b"db_password: az-s3cret\n";

/// A test certificate and key made with `openssl`, as PEM and PKCS#12.
struct Cert {
    dir: tempfile::TempDir,
    /// PKCS#8 DER of the key (for the server to verify signatures with its public half).
    key_der: Vec<u8>,
    /// base64url(SHA-1(certificate DER)).
    x5t: String,
}

impl Cert {
    fn new() -> Cert {
        let dir = tempfile::tempdir().expect("dir");
        let run = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .output()
                .expect("the openssl command is needed to make the test certificate");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-subj",
            "/CN=leafseal test client",
        ]);
        run(&[
            "pkcs12",
            "-export",
            "-in",
            "cert.pem",
            "-inkey",
            "key.pem",
            "-out",
            "cert.pfx",
            "-passout",
            "pass:pfx-pass",
        ]);
        run(&[
            "pkcs12",
            "-export",
            "-in",
            "cert.pem",
            "-inkey",
            "key.pem",
            "-out",
            "legacy.pfx",
            "-passout",
            "pass:pfx-pass",
            "-keypbe",
            "PBE-SHA1-3DES",
            "-certpbe",
            "PBE-SHA1-3DES",
            "-macalg",
            "sha1",
        ]);
        let pem_der = |name: &str| {
            let text = std::fs::read_to_string(dir.path().join(name)).expect("read");
            STANDARD
                .decode(
                    text.lines()
                        .filter(|l| !l.starts_with("-----"))
                        .collect::<String>(),
                )
                .expect("base64")
        };
        let cert_der = pem_der("cert.pem");
        let key_der = pem_der("key.pem");
        let thumb = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &cert_der);
        let both = format!(
            "{}{}",
            std::fs::read_to_string(dir.path().join("cert.pem")).expect("read"),
            std::fs::read_to_string(dir.path().join("key.pem")).expect("read")
        );
        std::fs::write(dir.path().join("both.pem"), both).expect("write");
        Cert {
            key_der,
            x5t: URL_SAFE_NO_PAD.encode(thumb.as_ref()),
            dir,
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// Checks an RS256 client assertion: signature, thumbprint and claims.
    fn verify(&self, jwt: &str, audience: &str) -> bool {
        let Ok(kp) = ring::signature::RsaKeyPair::from_pkcs8(&self.key_der) else {
            return false;
        };
        let Some((signed, sig)) = jwt.rsplit_once('.') else {
            return false;
        };
        let Ok(sig) = URL_SAFE_NO_PAD.decode(sig) else {
            return false;
        };
        if ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            kp.public().as_ref(),
        )
        .verify(signed.as_bytes(), &sig)
        .is_err()
        {
            return false;
        }
        let part = |s: &str| -> serde_json::Value {
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(s).unwrap_or_default())
                .unwrap_or_default()
        };
        let Some((h, c)) = signed.split_once('.') else {
            return false;
        };
        let (h, c) = (part(h), part(c));
        h["alg"] == "RS256"
            && h["x5t"] == self.x5t.as_str()
            && c["aud"] == audience
            && c["iss"] == CLIENT
            && c["sub"] == CLIENT
            && c["jti"].as_str().is_some_and(|j| !j.is_empty())
            && c["exp"].as_u64() > c["nbf"].as_u64()
    }
}

fn token(value: &str) -> Resp {
    Resp::json(
        200,
        serde_json::json!({"token_type": "Bearer", "expires_in": 3599, "access_token": value}),
    )
}

fn aad_error(code: &str) -> Resp {
    Resp::json(
        401,
        serde_json::json!({"error": code, "error_description": "AADSTS7000215: rejected by the test server"}),
    )
}

/// Entra ID, IMDS, App Service and Key Vault on one loopback server. `expected` is the
/// token Key Vault accepts; `resource` the scope's resource.
fn azure(expected: &'static str, resource: &'static str, cert: Option<Cert>) -> Server {
    let port = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let port2 = std::sync::Arc::clone(&port);
    let srv = Server::start(move |req: &Req| {
        let form = req.form();
        let f = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
        let query = req.query();
        let q = |k: &str| query.get(k).map(String::as_str).unwrap_or("");
        let base = port2.get().cloned().unwrap_or_default();
        let scope = format!("{resource}/.default");
        match (req.method.as_str(), req.path()) {
            ("POST", p) if p == format!("/{TENANT}/oauth2/v2.0/token") => {
                if f("client_id") != CLIENT {
                    return aad_error("unauthorized_client");
                }
                match f("grant_type") {
                    "client_credentials" if f("scope") == scope => {
                        if f("client_secret") == SECRET {
                            token("secret-token")
                        } else if f("client_assertion_type") == ASSERTION_TYPE
                            && f("client_assertion") == FEDERATED
                        {
                            token("workload-token")
                        } else if f("client_assertion_type") == ASSERTION_TYPE
                            && cert.as_ref().is_some_and(|c| {
                                c.verify(f("client_assertion"), &format!("{base}{p}"))
                            })
                        {
                            token("certificate-token")
                        } else {
                            aad_error("invalid_client")
                        }
                    }
                    _ => aad_error("invalid_request"),
                }
            }
            ("GET", "/metadata/identity/oauth2/token") => {
                if req.header("metadata") == Some("true")
                    && q("api-version") == "2018-02-01"
                    && q("resource") == resource
                {
                    token("imds-token")
                } else {
                    Resp::json(400, serde_json::json!({"error": "invalid_request"}))
                }
            }
            ("GET", "/msi/token") => {
                if req.header("x-identity-header") == Some(IDENTITY_HEADER)
                    && q("api-version") == "2019-08-01"
                    && q("resource") == resource
                {
                    Resp::json(
                        200,
                        serde_json::json!({"access_token": "appservice-token", "expires_on": "4102444800", "resource": resource, "token_type": "Bearer"}),
                    )
                } else {
                    Resp::json(400, serde_json::json!({"error": "invalid_request"}))
                }
            }
            ("POST", p) if p.starts_with("/keys/k1/v1/") => key_vault(req, expected),
            _ => Resp::text(404, "not found"),
        }
    });
    let _ = port.set(srv.url());
    srv
}

/// Key Vault encrypt/decrypt of `k1/v1` ("wrapping" = a prefix; the REST shapes are real).
fn key_vault(req: &Req, expected: &str) -> Resp {
    if req.header("authorization") != Some(&format!("Bearer {expected}")) {
        return Resp::json(
            401,
            serde_json::json!({"error": {"code": "Unauthorized", "message": "wrong token"}}),
        );
    }
    let body = req.json();
    let value = URL_SAFE_NO_PAD
        .decode(body["value"].as_str().unwrap_or(""))
        .unwrap_or_default();
    let out = match req.path() {
        "/keys/k1/v1/encrypt" => {
            let mut v = b"wrapped:".to_vec();
            v.extend(value);
            v
        }
        "/keys/k1/v1/decrypt" => match value.strip_prefix(b"wrapped:") {
            Some(p) => p.to_vec(),
            None => return Resp::text(400, "bad ciphertext"),
        },
        _ => return Resp::text(404, "no such operation"),
    };
    Resp::json(
        200,
        serde_json::json!({"kid": "k1", "value": URL_SAFE_NO_PAD.encode(out)}),
    )
}

/// A hermetic environment: the authority on the server, no IMDS, no `az` on PATH.
fn vars(server: &Server, home: &Path) -> HashMap<String, String> {
    let mut v = env_vars(None, home);
    v.remove("SOPS_AGE_KEY_FILE");
    v.insert("AZURE_AUTHORITY_HOST".into(), server.url());
    v.insert(
        "AZURE_POD_IDENTITY_AUTHORITY_HOST".into(),
        testhttp::dead_url(),
    );
    v.insert("PATH".into(), "/nonexistent-bin".into());
    v.insert(rest::RETRY_DELAY_VAR.into(), "5".into());
    v
}

fn key_url(server: &Server) -> String {
    format!("{}/keys/k1/v1", server.url())
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Encrypts a new file with `key` and decrypts it; secrets never printed.
fn round_trip(vars: &HashMap<String, String>, key: &str, secrets: &[&str]) {
    let work = tempfile::tempdir().expect("work");
    std::fs::write(work.path().join("a.yaml"), PLAIN).expect("write");
    let out = run_in(
        vars,
        work.path(),
        &["encrypt", "-i", "--azure-kv", key, "a.yaml"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let mut err = stderr(&out);
    let enc = std::fs::read_to_string(work.path().join("a.yaml")).expect("read");
    assert!(
        enc.contains("azure_kv:") && !enc.contains("az-s3cret"),
        "{enc}"
    );
    let out = run_in(vars, work.path(), &["decrypt", "a.yaml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(out.stdout, PLAIN);
    err.push_str(&stderr(&out));
    for s in secrets {
        assert!(!err.contains(s), "secret printed: {err}");
    }
}

fn encrypt_fails(vars: &HashMap<String, String>, key: &str) -> String {
    let work = tempfile::tempdir().expect("work");
    std::fs::write(work.path().join("a.yaml"), PLAIN).expect("write");
    let out = run_in(
        vars,
        work.path(),
        &["encrypt", "-i", "--azure-kv", key, "a.yaml"],
    );
    assert_ne!(out.status.code(), Some(0));
    assert_eq!(
        std::fs::read(work.path().join("a.yaml")).expect("read"),
        PLAIN
    );
    stderr(&out)
}

fn service_principal(v: &mut HashMap<String, String>) {
    v.insert("AZURE_TENANT_ID".into(), TENANT.into());
    v.insert("AZURE_CLIENT_ID".into(), CLIENT.into());
}

#[test]
fn azure_client_secret() {
    let server = azure("secret-token", VAULT_RESOURCE, None);
    let home = tempfile::tempdir().expect("home");
    let mut v = vars(&server, home.path());
    service_principal(&mut v);
    v.insert("AZURE_CLIENT_SECRET".into(), SECRET.into());
    // The secret comes first in the chain, before workload identity.
    v.insert("AZURE_FEDERATED_TOKEN_FILE".into(), "/nonexistent".into());
    round_trip(&v, &key_url(&server), &[SECRET, "secret-token"]);
    // A wrong secret: the source and Entra's message, never the secret.
    v.insert("AZURE_CLIENT_SECRET".into(), "wrong-secret".into());
    let err = encrypt_fails(&v, &key_url(&server));
    assert!(
        err.contains("AZURE_CLIENT_SECRET (client secret)")
            && err.contains("AADSTS7000215")
            && !err.contains("wrong-secret"),
        "{err}"
    );
}

#[test]
fn azure_client_certificate_pem() {
    let cert = Cert::new();
    let pem = cert.path("both.pem");
    let server = azure("certificate-token", VAULT_RESOURCE, Some(cert));
    let home = tempfile::tempdir().expect("home");
    let mut v = vars(&server, home.path());
    service_principal(&mut v);
    v.insert("AZURE_CLIENT_CERTIFICATE_PATH".into(), pem.clone());
    round_trip(&v, &key_url(&server), &["PRIVATE KEY", "certificate-token"]);
    // A PEM file without the key: named, nothing quoted.
    let only_cert = home.path().join("cert-only.pem");
    let text = std::fs::read_to_string(&pem).expect("read");
    let cut = text.find("-----BEGIN PRIVATE KEY").expect("key in file");
    std::fs::write(&only_cert, &text[..cut]).expect("write");
    v.insert(
        "AZURE_CLIENT_CERTIFICATE_PATH".into(),
        only_cert.display().to_string(),
    );
    let err = encrypt_fails(&v, &key_url(&server));
    assert!(
        err.contains("AZURE_CLIENT_CERTIFICATE_PATH") && err.contains("no unencrypted private key"),
        "{err}"
    );
    assert!(!err.contains("MII"), "{err}");
}

#[test]
fn azure_client_certificate_pkcs12() {
    let cert = Cert::new();
    let pfx = cert.path("cert.pfx");
    let legacy = cert.path("legacy.pfx");
    let server = azure("certificate-token", VAULT_RESOURCE, Some(cert));
    let home = tempfile::tempdir().expect("home");
    let mut v = vars(&server, home.path());
    service_principal(&mut v);
    v.insert("AZURE_CLIENT_CERTIFICATE_PATH".into(), pfx);
    v.insert(
        "AZURE_CLIENT_CERTIFICATE_PASSWORD".into(),
        "pfx-pass".into(),
    );
    round_trip(&v, &key_url(&server), &["pfx-pass", "certificate-token"]);
    v.insert(
        "AZURE_CLIENT_CERTIFICATE_PASSWORD".into(),
        "not-the-pass".into(),
    );
    let err = encrypt_fails(&v, &key_url(&server));
    assert!(
        err.contains("wrong AZURE_CLIENT_CERTIFICATE_PASSWORD") && !err.contains("not-the-pass"),
        "{err}"
    );
    // Legacy 3DES files are refused with how to re-export them.
    v.insert(
        "AZURE_CLIENT_CERTIFICATE_PASSWORD".into(),
        "pfx-pass".into(),
    );
    v.insert("AZURE_CLIENT_CERTIFICATE_PATH".into(), legacy);
    let err = encrypt_fails(&v, &key_url(&server));
    assert!(
        err.contains("legacy cipher") && err.contains("AES-256-CBC"),
        "{err}"
    );
}

#[test]
fn azure_workload_identity() {
    let server = azure("workload-token", VAULT_RESOURCE, None);
    let home = tempfile::tempdir().expect("home");
    let token_file = home.path().join("azure-identity-token");
    std::fs::write(&token_file, format!("{FEDERATED}\n")).expect("write");
    let mut v = vars(&server, home.path());
    service_principal(&mut v);
    v.insert(
        "AZURE_FEDERATED_TOKEN_FILE".into(),
        token_file.display().to_string(),
    );
    round_trip(&v, &key_url(&server), &[FEDERATED, "workload-token"]);
}

#[test]
fn azure_managed_identity_imds() {
    let server = azure("imds-token", VAULT_RESOURCE, None);
    let home = tempfile::tempdir().expect("home");
    let mut v = vars(&server, home.path());
    v.insert("AZURE_POD_IDENTITY_AUTHORITY_HOST".into(), server.url());
    round_trip(&v, &key_url(&server), &["imds-token"]);
}

#[test]
fn azure_app_service_identity() {
    let server = azure("appservice-token", VAULT_RESOURCE, None);
    let home = tempfile::tempdir().expect("home");
    let mut v = vars(&server, home.path());
    v.insert(
        "IDENTITY_ENDPOINT".into(),
        format!("{}/msi/token", server.url()),
    );
    v.insert("IDENTITY_HEADER".into(), IDENTITY_HEADER.into());
    round_trip(
        &v,
        &key_url(&server),
        &[IDENTITY_HEADER, "appservice-token"],
    );
    // A wrong header: the configured endpoint's failure ends the chain, named.
    v.insert("IDENTITY_HEADER".into(), "wrong-header".into());
    let err = encrypt_fails(&v, &key_url(&server));
    assert!(
        err.contains("IDENTITY_ENDPOINT") && err.contains("400"),
        "{err}"
    );
}

/// A fake `az` that checks its arguments and prints what `az account get-access-token`
/// prints.
fn fake_az(dir: &Path, args_log: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let az = bin.join("az");
    std::fs::write(
        &az,
        format!(
            "#!/bin/sh\necho \"$@\" > '{}'\n\
             [ \"$1 $2 $3 $4 $5 $6\" = \"account get-access-token --output json --resource {VAULT_RESOURCE}\" ] || {{ echo 'ERROR: bad arguments' >&2; exit 2; }}\n\
             [ -f \"$HOME/.azure-logged-in\" ] || {{ echo \"ERROR: Please run 'az login' to setup account.\" >&2; exit 1; }}\n\
             printf '{{\"accessToken\": \"cli-token\", \"expiresOn\": \"2099-01-01 00:00:00.000000\", \"expires_on\": 4070908800, \"subscription\": \"s\", \"tenant\": \"{TENANT}\", \"tokenType\": \"Bearer\"}}\\n'\n",
            args_log.display()
        ),
    )
    .expect("write");
    std::fs::set_permissions(&az, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    bin
}

#[test]
fn azure_cli() {
    let server = azure("cli-token", VAULT_RESOURCE, None);
    let home = tempfile::tempdir().expect("home");
    let log = home.path().join("az-args");
    let bin = fake_az(home.path(), &log);
    let mut v = vars(&server, home.path());
    v.insert("PATH".into(), format!("{}:/usr/bin:/bin", bin.display()));
    // Not logged in: the chain says so for the CLI, after every other source.
    let err = encrypt_fails(&v, &key_url(&server));
    let order = [
        "environment: AZURE_TENANT_ID or AZURE_CLIENT_ID is not set",
        "workload identity:",
        "managed identity (http://127.0.0.1:",
        "the Azure CLI (az account get-access-token): not logged in (run `az login`)",
    ];
    let pos: Vec<usize> = order
        .iter()
        .map(|s| err.find(s).unwrap_or_else(|| panic!("{s} missing: {err}")))
        .collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{err}");
    std::fs::write(home.path().join(".azure-logged-in"), "").expect("write");
    round_trip(&v, &key_url(&server), &["cli-token"]);
    // AZURE_TENANT_ID is passed on as --tenant.
    v.insert("AZURE_TENANT_ID".into(), TENANT.into());
    round_trip(&v, &key_url(&server), &["cli-token"]);
    let args = std::fs::read_to_string(&log).expect("args");
    assert!(
        args.trim().ends_with(&format!("--tenant {TENANT}")),
        "{args}"
    );
}

#[test]
fn azure_sovereign_cloud() {
    // Azure China: the authority is login.chinacloudapi.cn (here the loopback server
    // through AZURE_AUTHORITY_HOST), and a vault in *.vault.azure.cn needs a token for
    // https://vault.azure.cn. The vault itself is reached through an HTTPS proxy that
    // records the tunnel it is asked for and refuses it.
    let server = azure("secret-token", "https://vault.azure.cn", None);
    let proxy = Server::start(|_req: &Req| Resp::text(403, "tunnel refused by the test proxy"));
    let home = tempfile::tempdir().expect("home");
    let mut v = vars(&server, home.path());
    service_principal(&mut v);
    v.insert("AZURE_CLIENT_SECRET".into(), SECRET.into());
    v.insert("HTTPS_PROXY".into(), proxy.url());
    let key = "https://leafseal-test.vault.azure.cn/keys/k1/v1";
    let err = encrypt_fails(&v, key);
    assert!(err.contains("leafseal-test.vault.azure.cn"), "{err}");
    assert!(
        !err.contains("secret-token") && !err.contains(SECRET),
        "{err}"
    );
    let token_reqs: Vec<Req> = server
        .requests()
        .into_iter()
        .filter(|r| r.path().ends_with("/oauth2/v2.0/token"))
        .collect();
    assert_eq!(token_reqs.len(), 1);
    assert_eq!(
        token_reqs[0].form()["scope"],
        "https://vault.azure.cn/.default"
    );
    let tunnels = proxy.requests();
    assert!(
        tunnels
            .iter()
            .any(|r| r.method == "CONNECT" && r.target == "leafseal-test.vault.azure.cn:443"),
        "{tunnels:?}"
    );
    // The token never went to the proxy (only the TLS tunnel was asked for).
    assert!(tunnels.iter().all(|r| r.header("authorization").is_none()));
}
