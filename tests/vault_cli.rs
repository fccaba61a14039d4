//! Vault / OpenBao transit through the CLI against a real `bao server -dev` on 127.0.0.1:
//! encrypt, decrypt, and the allow-list refusing a server address read from a file.

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
