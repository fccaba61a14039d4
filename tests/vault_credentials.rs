//! Vault / OpenBao credential sources through the CLI against a real OpenBao server:
//! `VAULT_TOKEN`, `~/.vault-token`, a token helper, `VAULT_NAMESPACE`, a client
//! certificate (mutual TLS and cert auth login), `VAULT_CACERT`/`VAULT_CAPATH` and
//! `VAULT_SKIP_VERIFY` (honoured, with a warning).

#[path = "../src/keys/hcvault/bao.rs"]
#[allow(dead_code)]
mod bao;
mod support;

use std::collections::HashMap;
use std::path::Path;

use support::*;

const PLAIN: &[u8] = b"api_token: v4ult-s3cret\n";

fn vars(home: &Path, server: &bao::Bao) -> HashMap<String, String> {
    let mut v = env_vars(None, home);
    v.remove("SOPS_AGE_KEY_FILE");
    v.insert("LEAFSEAL_HTTP_RETRY_DELAY_MS".into(), "10".into());
    v.insert("SOPS_HC_VAULT_ALLOWLIST".into(), server.url.clone());
    v
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Encrypts a new file with the transit key `uri` and decrypts it; returns the stderr
/// of both runs.
fn round_trip(vars: &HashMap<String, String>, uri: &str) -> String {
    let work = tempfile::tempdir().expect("work");
    std::fs::write(work.path().join("v.yaml"), PLAIN).expect("write");
    let out = run_in(
        vars,
        work.path(),
        &["encrypt", "-i", "--hc-vault-transit", uri, "v.yaml"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let mut err = stderr(&out);
    let enc = std::fs::read_to_string(work.path().join("v.yaml")).expect("read");
    assert!(
        enc.contains("vault:v1:") && !enc.contains("v4ult-s3cret"),
        "{enc}"
    );
    let out = run_in(vars, work.path(), &["decrypt", "v.yaml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(out.stdout, PLAIN);
    err.push_str(&stderr(&out));
    err
}

/// Encrypting fails; returns stderr (the file is left as it was).
fn encrypt_fails(vars: &HashMap<String, String>, uri: &str) -> String {
    let work = tempfile::tempdir().expect("work");
    std::fs::write(work.path().join("v.yaml"), PLAIN).expect("write");
    let out = run_in(
        vars,
        work.path(),
        &["encrypt", "-i", "--hc-vault-transit", uri, "v.yaml"],
    );
    assert_ne!(out.status.code(), Some(0));
    assert_eq!(
        std::fs::read(work.path().join("v.yaml")).expect("read"),
        PLAIN
    );
    stderr(&out)
}

#[test]
fn vault_token_env() {
    let server = bao::Bao::start();
    let home = tempfile::tempdir().expect("home");
    let uri = format!("{}/v1/transit/keys/sops", server.url);
    let mut v = vars(home.path(), &server);
    // VAULT_TOKEN wins over the token file.
    std::fs::write(home.path().join(".vault-token"), "wrong-file-token\n").expect("write");
    v.insert("VAULT_TOKEN".into(), "root".into());
    let err = round_trip(&v, &uri);
    assert!(!err.contains("root"), "{err}");
    // BAO_TOKEN is read when VAULT_TOKEN is unset.
    v.remove("VAULT_TOKEN");
    v.insert("BAO_TOKEN".into(), "root".into());
    round_trip(&v, &uri);
}

#[test]
fn vault_token_file() {
    let server = bao::Bao::start();
    let home = tempfile::tempdir().expect("home");
    std::fs::write(home.path().join(".vault-token"), "root\n").expect("write");
    let uri = format!("{}/v1/transit/keys/sops", server.url);
    round_trip(&vars(home.path(), &server), &uri);
}

#[test]
fn vault_token_helper() {
    let server = bao::Bao::start();
    let home = tempfile::tempdir().expect("home");
    let helper = home.path().join("helper.sh");
    // The helper is run as `<helper> get` and prints the token.
    std::fs::write(
        &helper,
        "#!/bin/sh\n[ \"$1\" = get ] || exit 3\necho root\n",
    )
    .expect("write");
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    // A configured helper replaces the token file (as in the Vault CLI).
    std::fs::write(home.path().join(".vault-token"), "wrong-file-token\n").expect("write");
    std::fs::write(
        home.path().join(".vault"),
        format!("token_helper = \"{}\"\n", helper.display()),
    )
    .expect("write");
    let uri = format!("{}/v1/transit/keys/sops", server.url);
    let v = vars(home.path(), &server);
    round_trip(&v, &uri);

    // VAULT_CONFIG_PATH names another configuration file.
    let other = tempfile::tempdir().expect("cfg");
    let failing = other.path().join("failing.sh");
    std::fs::write(&failing, "#!/bin/sh\nexit 7\n").expect("write");
    std::fs::set_permissions(
        &failing,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let cfg = other.path().join("vault.hcl");
    std::fs::write(&cfg, format!("token_helper = \"{}\"\n", failing.display())).expect("write");
    let mut bad = v.clone();
    bad.insert("VAULT_CONFIG_PATH".into(), cfg.display().to_string());
    let err = encrypt_fails(&bad, &uri);
    assert!(
        err.contains("token helper") && err.contains("failing.sh") && err.contains("failed"),
        "{err}"
    );
}

#[test]
fn vault_namespace() {
    let pki = bao::Pki::new();
    let server = bao::Bao::start_mtls(&pki);
    let home = tempfile::tempdir().expect("home");
    // `nskey` exists only in the namespace ns1.
    let uri = format!("{}/v1/transit/keys/nskey", server.url);
    let mut v = vars(home.path(), &server);
    v.insert("VAULT_TOKEN".into(), "root".into());
    v.insert("VAULT_CACERT".into(), pki.ca.display().to_string());
    v.insert(
        "VAULT_CLIENT_CERT".into(),
        pki.client_cert.display().to_string(),
    );
    v.insert(
        "VAULT_CLIENT_KEY".into(),
        pki.client_key.display().to_string(),
    );
    let mut ns = v.clone();
    ns.insert("VAULT_NAMESPACE".into(), "ns1".into());
    round_trip(&ns, &uri);
    // A file encrypted in ns1 cannot be decrypted in the root namespace.
    let work = tempfile::tempdir().expect("work");
    std::fs::write(work.path().join("v.yaml"), PLAIN).expect("write");
    let out = run_in(
        &ns,
        work.path(),
        &["encrypt", "-i", "--hc-vault-transit", &uri, "v.yaml"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run_in(&v, work.path(), &["decrypt", "v.yaml"]);
    assert_eq!(out.status.code(), Some(128), "{}", stderr(&out));
    assert!(stderr(&out).contains(&uri), "{}", stderr(&out));
    let out = run_in(&ns, work.path(), &["decrypt", "v.yaml"]);
    assert_eq!(out.stdout, PLAIN, "{}", stderr(&out));
}

#[test]
fn vault_client_certificate() {
    let pki = bao::Pki::new();
    let server = bao::Bao::start_mtls(&pki);
    let home = tempfile::tempdir().expect("home");
    let uri = format!("{}/v1/transit/keys/sops", server.url);
    let mut v = vars(home.path(), &server);
    v.insert("VAULT_CACERT".into(), pki.ca.display().to_string());
    // No token anywhere: the error lists every source, the last one the certificate.
    let err = encrypt_fails(&v, &uri);
    assert!(
        err.contains("VAULT_TOKEN: not set")
            && err.contains(".vault-token: no such file")
            && err.contains("VAULT_CLIENT_CERT is not set"),
        "{err}"
    );
    // With a token but without a client certificate, the server refuses the handshake.
    let mut token_only = v.clone();
    token_only.insert("VAULT_TOKEN".into(), "root".into());
    let err = encrypt_fails(&token_only, &uri);
    assert!(
        err.contains("TLS") && err.contains("VAULT_CLIENT_CERT"),
        "{err}"
    );
    // The client certificate alone: mutual TLS, cert auth login, then transit.
    v.insert(
        "VAULT_CLIENT_CERT".into(),
        pki.client_cert.display().to_string(),
    );
    v.insert(
        "VAULT_CLIENT_KEY".into(),
        pki.client_key.display().to_string(),
    );
    round_trip(&v, &uri);
    // Only one half of the pair: named.
    let mut half = v.clone();
    half.remove("VAULT_CLIENT_KEY");
    let err = encrypt_fails(&half, &uri);
    assert!(
        err.contains("VAULT_CLIENT_CERT is set but not its pair"),
        "{err}"
    );
    // A key file that holds no key: named, never printed.
    let mut wrong = v.clone();
    wrong.insert("VAULT_CLIENT_KEY".into(), pki.ca.display().to_string());
    let err = encrypt_fails(&wrong, &uri);
    assert!(
        err.contains("holds no PEM private key") && !err.contains("BEGIN"),
        "{err}"
    );
}

#[test]
fn vault_cacert() {
    let pki = bao::Pki::new();
    let server = bao::Bao::start_mtls(&pki);
    let home = tempfile::tempdir().expect("home");
    let uri = format!("{}/v1/transit/keys/sops", server.url);
    let mut v = vars(home.path(), &server);
    v.insert("VAULT_TOKEN".into(), "root".into());
    v.insert(
        "VAULT_CLIENT_CERT".into(),
        pki.client_cert.display().to_string(),
    );
    v.insert(
        "VAULT_CLIENT_KEY".into(),
        pki.client_key.display().to_string(),
    );
    // Without the CA the server is not trusted.
    let err = encrypt_fails(&v, &uri);
    assert!(err.contains("TLS") && err.contains("VAULT_CACERT"), "{err}");
    let mut with_ca = v.clone();
    with_ca.insert("VAULT_CACERT".into(), pki.ca.display().to_string());
    round_trip(&with_ca, &uri);
    let capath = tempfile::tempdir().expect("capath");
    std::fs::copy(&pki.ca, capath.path().join("ca.pem")).expect("copy");
    let mut with_path = v.clone();
    with_path.insert("VAULT_CAPATH".into(), capath.path().display().to_string());
    round_trip(&with_path, &uri);
}

#[test]
fn vault_skip_verify_warns() {
    let server = bao::Bao::start_tls();
    let home = tempfile::tempdir().expect("home");
    let uri = format!("{}/v1/transit/keys/sops", server.url);
    let mut v = vars(home.path(), &server);
    v.insert("VAULT_TOKEN".into(), "root".into());
    v.insert("VAULT_SKIP_VERIFY".into(), "true".into());
    let err = round_trip(&v, &uri);
    assert!(
        err.contains("warning: VAULT_SKIP_VERIFY is set")
            && err.contains("not verified")
            && err.contains("VAULT_CACERT"),
        "{err}"
    );
    // A value that is not a boolean is an error.
    v.insert("VAULT_SKIP_VERIFY".into(), "maybe".into());
    let err = encrypt_fails(&v, &uri);
    assert!(err.contains("VAULT_SKIP_VERIFY is not a boolean"), "{err}");
    // Unset: verification is back and the unknown CA is refused.
    v.remove("VAULT_SKIP_VERIFY");
    let err = encrypt_fails(&v, &uri);
    assert!(err.contains("TLS") && !err.contains("warning"), "{err}");
}
