//! Vault / OpenBao transit through the CLI against a real `bao server -dev` on 127.0.0.1:
//! encrypt, decrypt, the allow-list refusing a server address read from a file, and TLS
//! with a private CA (`VAULT_CACERT`, `VAULT_CAPATH`).

#[path = "../src/keys/hcvault/bao.rs"]
#[allow(dead_code)]
mod bao;
mod support;

use support::*;

#[test]
fn vault_transit_encrypt_decrypt_and_allow_list() {
    let server = bao::Bao::start();
    let home = tempfile::tempdir().expect("home");
    let work = tempfile::tempdir().expect("work");
    let plain = b"api_token: v4ult-s3cret\n";
    std::fs::write(work.path().join("v.yaml"), plain).expect("write");
    let uri = format!("{}/v1/transit/keys/sops", server.url);
    let mut vars = env_vars(None, home.path());
    vars.remove("SOPS_AGE_KEY_FILE");
    vars.insert("VAULT_TOKEN".into(), "root".into());
    vars.insert("LEAFSEAL_HTTP_RETRY_DELAY_MS".into(), "10".into());

    let out = run_in(
        &vars,
        work.path(),
        &["encrypt", "-i", "--hc-vault-transit", &uri, "v.yaml"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let enc = std::fs::read_to_string(work.path().join("v.yaml")).expect("read");
    assert!(
        enc.contains("vault:v1:") && enc.contains("hc_vault:"),
        "{enc}"
    );
    assert!(!enc.contains("v4ult-s3cret"));

    // The server address comes from the file: refused unless allowed.
    let out = run_in(&vars, work.path(), &["decrypt", "v.yaml"]);
    assert_eq!(out.status.code(), Some(128));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("SOPS_HC_VAULT_ALLOWLIST") && err.contains(&server.url),
        "{err}"
    );

    let mut allowed = vars.clone();
    allowed.insert("SOPS_HC_VAULT_ALLOWLIST".into(), server.url.clone());
    let out = run_in(&allowed, work.path(), &["decrypt", "v.yaml"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, plain);

    // VAULT_ADDR naming the same server also allows it.
    let mut addr = vars.clone();
    addr.insert("VAULT_ADDR".into(), server.url.clone());
    assert_eq!(
        run_in(&addr, work.path(), &["decrypt", "v.yaml"]).stdout,
        plain
    );

    // A wrong token: a clear 403, no token in the message.
    let mut wrong = allowed.clone();
    wrong.insert("VAULT_TOKEN".into(), "not-the-token".into());
    let out = run_in(&wrong, work.path(), &["decrypt", "v.yaml"]);
    assert_eq!(out.status.code(), Some(128));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("403") && !err.contains("not-the-token"),
        "{err}"
    );

    // Server down: a clear error, the file untouched.
    let before = std::fs::read(work.path().join("v.yaml")).expect("read");
    drop(server);
    let out = run_in(&allowed, work.path(), &["decrypt", "-i", "v.yaml"]);
    assert_ne!(out.status.code(), Some(0));
    assert_eq!(
        std::fs::read(work.path().join("v.yaml")).expect("read"),
        before
    );
}

/// Vault over HTTPS with a private CA (`bao server -dev -dev-tls`): without the CA the
/// TLS failure is clear and nothing is written; `VAULT_CACERT` / `VAULT_CAPATH` make it
/// work; bad CA settings are refused, naming the variable.
#[test]
fn vault_transit_over_tls_with_a_private_ca() {
    let server = bao::Bao::start_tls();
    let ca = server.ca.clone().expect("CA file");
    let ca = ca.to_str().expect("utf-8 path").to_owned();
    assert!(server.url.starts_with("https://127.0.0.1:"));
    let home = tempfile::tempdir().expect("home");
    let work = tempfile::tempdir().expect("work");
    let plain = b"api_token: v4ult-s3cret\n";
    let file = work.path().join("v.yaml");
    std::fs::write(&file, plain).expect("write");
    let uri = format!("{}/v1/transit/keys/sops", server.url);
    let mut vars = env_vars(None, home.path());
    vars.remove("SOPS_AGE_KEY_FILE");
    vars.insert("VAULT_TOKEN".into(), "root".into());
    vars.insert("LEAFSEAL_HTTP_RETRY_DELAY_MS".into(), "10".into());
    vars.insert("SOPS_HC_VAULT_ALLOWLIST".into(), server.url.clone());
    let encrypt = ["encrypt", "-i", "--hc-vault-transit", &uri, "v.yaml"];
    let stderr = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).into_owned();

    // No CA: the server's certificate is not trusted; the file is left as it was.
    let out = run_in(&vars, work.path(), &encrypt);
    assert_ne!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(
        err.contains("TLS") && err.contains(&server.url) && err.contains("VAULT_CACERT"),
        "{err}"
    );
    assert_eq!(std::fs::read(&file).expect("read"), plain);

    // VAULT_CACERT: encrypt, then decrypt round-trips.
    let mut with_ca = vars.clone();
    with_ca.insert("VAULT_CACERT".into(), ca.clone());
    let out = run_in(&with_ca, work.path(), &encrypt);
    assert!(out.status.success(), "{}", stderr(&out));
    let enc = std::fs::read(&file).expect("read");
    let enc_text = String::from_utf8_lossy(&enc).into_owned();
    assert!(
        enc_text.contains("vault:v1:")
            && enc_text.contains(&format!("vault_address: {}", server.url)),
        "{enc_text}"
    );
    assert!(!enc_text.contains("v4ult-s3cret"));
    let out = run_in(&with_ca, work.path(), &["decrypt", "v.yaml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(out.stdout, plain);

    // Decrypt without the CA: exit 128 with the key listed and the TLS error.
    let out = run_in(&vars, work.path(), &["decrypt", "v.yaml"]);
    assert_eq!(out.status.code(), Some(128), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&uri) && err.contains("TLS") && err.contains("VAULT_CACERT"),
        "{err}"
    );
    assert!(out.stdout.is_empty());

    // VAULT_CAPATH: a directory holding the CA (and an unrelated file).
    let capath = tempfile::tempdir().expect("capath");
    std::fs::copy(&ca, capath.path().join("bao-ca.pem")).expect("copy");
    std::fs::write(capath.path().join("README"), "CA certificates\n").expect("write");
    let mut with_path = vars.clone();
    with_path.insert("VAULT_CAPATH".into(), capath.path().display().to_string());
    let out = run_in(&with_path, work.path(), &["decrypt", "v.yaml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(out.stdout, plain);

    // Bad CA settings: the variable and path are named, in-place decrypt fails closed.
    let not_pem = work.path().join("ca.txt");
    std::fs::write(&not_pem, "this is not a certificate\n").expect("write");
    let missing = work.path().join("no-such-ca.pem");
    let cases = [
        (
            "VAULT_CACERT",
            not_pem.display().to_string(),
            "no PEM certificate",
        ),
        (
            "VAULT_CACERT",
            missing.display().to_string(),
            "no such file",
        ),
        (
            "VAULT_CAPATH",
            missing.display().to_string(),
            "no such file",
        ),
    ];
    for (var, value, why) in cases {
        let mut bad = vars.clone();
        bad.insert(var.into(), value.clone());
        let out = run_in(&bad, work.path(), &["decrypt", "-i", "v.yaml"]);
        assert_eq!(out.status.code(), Some(128), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("{var}={value}")) && err.contains(why),
            "{err}"
        );
        assert_eq!(std::fs::read(&file).expect("read"), enc);
        std::fs::write(work.path().join("p.yaml"), plain).expect("write");
        let out = run_in(
            &bad,
            work.path(),
            &["encrypt", "-i", "--hc-vault-transit", &uri, "p.yaml"],
        );
        assert_ne!(out.status.code(), Some(0));
        assert!(
            stderr(&out).contains(&format!("{var}={value}")),
            "{}",
            stderr(&out)
        );
        assert_eq!(
            std::fs::read(work.path().join("p.yaml")).expect("read"),
            plain
        );
    }

    // VAULT_SKIP_VERIFY: honoured with a warning (tests/vault_credentials.rs).

    // The system trust store, as sops uses it: SSL_CERT_FILE naming the CA is enough.
    let mut system = vars.clone();
    system.insert("SSL_CERT_FILE".into(), ca.clone());
    let out = run_in(&system, work.path(), &["decrypt", "v.yaml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(out.stdout, plain);
    // SSL_CERT_DIR too.
    let mut sysdir = vars.clone();
    sysdir.insert(
        "SSL_CERT_DIR".into(),
        capath.path().to_str().expect("utf-8").to_owned(),
    );
    assert_eq!(
        run_in(&sysdir, work.path(), &["decrypt", "v.yaml"]).stdout,
        plain
    );
    // An unusable SSL_CERT_FILE is named, with no fallback to other roots.
    let mut broken = vars.clone();
    broken.insert("SSL_CERT_FILE".into(), "/nonexistent/ca.pem".into());
    let out = run_in(&broken, work.path(), &["decrypt", "v.yaml"]);
    assert_eq!(out.status.code(), Some(128), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("SSL_CERT_FILE=/nonexistent/ca.pem"),
        "{}",
        stderr(&out)
    );
}

/// AWS KMS calls trust `AWS_CA_BUNDLE` (alone) as the AWS SDKs do. The endpoint is the
/// OpenBao TLS server: it is no KMS, so a trusted handshake shows as an HTTP error from
/// it, an untrusted one as a TLS error.
#[test]
fn aws_ca_bundle_trusts_a_private_ca() {
    let server = bao::Bao::start_tls();
    let ca = server.ca.clone().expect("CA file");
    let ca = ca.to_str().expect("utf-8 path").to_owned();
    let home = tempfile::tempdir().expect("home");
    let work = tempfile::tempdir().expect("work");
    let plain = b"api_token: aws-s3cret\n";
    let file = work.path().join("a.yaml");
    std::fs::write(&file, plain).expect("write");
    let mut vars = env_vars(None, home.path());
    vars.remove("SOPS_AGE_KEY_FILE");
    for (k, v) in [
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "not-a-real-secret"),
        ("AWS_REGION", "us-east-1"),
        ("LEAFSEAL_HTTP_RETRY_DELAY_MS", "10"),
    ] {
        vars.insert(k.into(), v.into());
    }
    vars.insert("AWS_ENDPOINT_URL_KMS".into(), server.url.clone());
    let arn = "arn:aws:kms:us-east-1:000000000000:key/00000000-0000-0000-0000-000000000000";
    let encrypt = ["encrypt", "-i", "--kms", arn, "a.yaml"];
    let stderr = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).into_owned();

    let out = run_in(&vars, work.path(), &encrypt);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("TLS"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&file).expect("read"), plain);

    let mut bundle = vars.clone();
    bundle.insert("AWS_CA_BUNDLE".into(), ca.clone());
    let out = run_in(&bundle, work.path(), &encrypt);
    assert_ne!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(!err.contains("TLS") && err.contains("HTTP"), "{err}");
    assert!(!err.contains("not-a-real-secret"), "{err}");
    assert_eq!(std::fs::read(&file).expect("read"), plain);

    let mut missing = vars.clone();
    missing.insert("AWS_CA_BUNDLE".into(), "/nonexistent/bundle.pem".into());
    let out = run_in(&missing, work.path(), &encrypt);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("AWS_CA_BUNDLE=/nonexistent/bundle.pem"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&file).expect("read"), plain);
}
