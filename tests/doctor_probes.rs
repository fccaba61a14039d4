//! `leafseal doctor`'s credential probes through the CLI, in a temporary directory with a
//! `.sops.yaml` and an encrypted file, a cleared environment and a temporary HOME:
//!
//! * Vault / OpenBao transit against a real `bao server -dev`: the token source named, a
//!   token lookup and a read of the transit key; a bad token fails (exit 128); a token
//!   without `read` on the key says so;
//! * GCP Cloud KMS, Azure Key Vault and HuaweiCloud KMS against loopback servers that
//!   speak their token endpoints, wrap/unwrap and the key-metadata call the probe makes
//!   (`cryptoKeys.get`, get key, `describe-key`), then refuse in several ways.
//!
//! No token, secret key or secret value ever appears in the output.

#[path = "../src/keys/hcvault/bao.rs"]
#[allow(dead_code)]
mod bao;
#[path = "doctor_probes/servers.rs"]
mod servers;
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
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use servers::*;
use support::*;

const PLAIN: &[u8] = b"db_password: probe-s3cret-value\n";

fn out_text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// None of `secrets` (nor the file's value) in `text`.
fn assert_clean(text: &str, secrets: &[&str]) {
    for s in secrets.iter().chain(&["probe-s3cret-value"]) {
        assert!(!text.contains(s), "doctor output leaks `{s}`: {text}");
    }
}

/// The hermetic base: empty HOME, no age key, fast retries, nothing else.
fn base(home: &Path) -> HashMap<String, String> {
    let mut v = env_vars(None, home);
    v.remove("SOPS_AGE_KEY_FILE");
    v.insert(rest::RETRY_DELAY_VAR.into(), "5".into());
    v
}

/// Writes `.sops.yaml` (one rule for `*.yaml` with `rule`) and encrypts `f.yaml` with it.
fn setup(vars: &HashMap<String, String>, dir: &Path, rule: &str) {
    std::fs::write(
        dir.join(".sops.yaml"),
        format!("creation_rules:\n  - path_regex: \\.yaml$\n    {rule}\n"),
    )
    .expect("policy");
    std::fs::write(dir.join("f.yaml"), PLAIN).expect("write");
    let out = run_in(vars, dir, &["encrypt", "-i", "f.yaml"]);
    assert!(out.status.success(), "encrypt: {}", out_text(&out));
    let enc = std::fs::read_to_string(dir.join("f.yaml")).expect("read");
    assert!(!enc.contains("probe-s3cret-value"), "{enc}");
}

fn doctor(vars: &HashMap<String, String>, dir: &Path) -> (Option<i32>, String) {
    let out = run_in(vars, dir, &["doctor"]);
    (out.status.code(), out_text(&out))
}

/// The JSON report's only key.
fn doctor_json(vars: &HashMap<String, String>, dir: &Path) -> serde_json::Value {
    let out = run_in(vars, dir, &["doctor", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["keys"].as_array().map(Vec::len), Some(1), "{v}");
    v
}

// ---------------------------------------------------------------------------------------
// Vault / OpenBao

#[test]
fn doctor_vault_token_sources_lookup_and_key_permission() {
    let server = bao::Bao::start();
    let home = tempfile::tempdir().expect("home");
    let work = tempfile::tempdir().expect("work");
    let uri = format!("{}/v1/transit/keys/sops", server.url);
    let mut vars = base(home.path());
    vars.insert("VAULT_TOKEN".into(), "root".into());
    // The address read from the file is the server of VAULT_ADDR: allowed.
    vars.insert("VAULT_ADDR".into(), server.url.clone());
    setup(&vars, work.path(), &format!("hc_vault_transit_uri: {uri}"));

    // A good token: ok, its source named, the lookup and the key read done.
    let (code, text) = doctor(&vars, work.path());
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(&format!("ok           hc_vault {uri}")),
        "{text}"
    );
    assert!(text.contains("source: VAULT_TOKEN\n"), "{text}");
    // The dev server's token is `root`, the same text as its one policy: the policy
    // name is masked, as any text equal to a credential the request used is (a server
    // may quote the token back in any field).
    assert!(
        text.contains("token lookup answered (valid token, no expiry, policies [redacted])"),
        "{text}"
    );
    assert!(!text.contains("root"), "{text}");
    assert!(
        text.contains("transit key readable (type aes256-gcm96, latest version 1)"),
        "{text}"
    );
    assert!(text.contains("ok             f.yaml"), "{text}");

    // A bad token: failed, the source named, exit 128, the token never shown.
    let bad = "hvs.not-a-valid-token-0123456789";
    let mut wrong = vars.clone();
    wrong.insert("VAULT_TOKEN".into(), bad.into());
    let (code, text) = doctor(&wrong, work.path());
    assert_eq!(code, Some(128), "{text}");
    assert!(
        text.contains(&format!("failed       hc_vault {uri}")),
        "{text}"
    );
    assert!(text.contains("source: VAULT_TOKEN\n"), "{text}");
    assert!(
        text.contains(&format!(
            "the Vault token from VAULT_TOKEN was refused by {} (token lookup: HTTP 403",
            server.url
        )),
        "{text}"
    );
    assert!(text.contains("CANNOT DECRYPT f.yaml"), "{text}");
    assert_clean(&text, &[bad]);
    let v = doctor_json(&wrong, work.path());
    assert_eq!(v["keys"][0]["status"], "failed");
    assert_eq!(v["keys"][0]["source"], "VAULT_TOKEN");
    assert_clean(&v.to_string(), &[bad]);

    // The token helper of ~/.vault: named as the source.
    let helper = home.path().join("token-helper.sh");
    std::fs::write(&helper, "#!/bin/sh\n[ \"$1\" = get ] && echo root\n").expect("write");
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    std::fs::write(
        home.path().join(".vault"),
        format!("token_helper = \"{}\"\n", helper.display()),
    )
    .expect("write");
    let mut helped = vars.clone();
    helped.remove("VAULT_TOKEN");
    let (code, text) = doctor(&helped, work.path());
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(&format!("source: the token helper {}\n", helper.display()))
            && text.contains("token lookup answered"),
        "{text}"
    );
    std::fs::remove_file(home.path().join(".vault")).expect("rm");

    // ~/.vault-token holding a token that may only encrypt: the lookup works, the key
    // read is refused and said so; the file cannot be opened (exit 128).
    let mut file_tok = vars.clone();
    file_tok.remove("VAULT_TOKEN");
    std::fs::write(home.path().join(".vault-token"), "enc-only-token\n").expect("write");
    let (code, text) = doctor(&file_tok, work.path());
    assert_eq!(code, Some(128), "{text}");
    assert!(text.contains("source: ~/.vault-token\n"), "{text}");
    assert!(
        text.contains("policies default, enc-only")
            && text.contains("but the token lacks permission to read the transit key"),
        "{text}"
    );
    assert_clean(&text, &["enc-only-token"]);

    // No token anywhere: failed, every source tried listed.
    std::fs::remove_file(home.path().join(".vault-token")).expect("rm");
    let (code, text) = doctor(&file_tok, work.path());
    assert_eq!(code, Some(128), "{text}");
    assert!(
        text.contains("no Vault token for") && text.contains("VAULT_TOKEN: not set"),
        "{text}"
    );

    // A file naming a server that is neither VAULT_ADDR nor allowed: no token is sent.
    let mut other = vars.clone();
    other.remove("VAULT_ADDR");
    let (code, text) = doctor(&other, work.path());
    assert_eq!(code, Some(128), "{text}");
    assert!(text.contains("refusing to send a Vault token to"), "{text}");
}

// ---------------------------------------------------------------------------------------
// GCP Cloud KMS

#[test]
fn doctor_gcp_kms_credential_source_and_key_metadata() {
    let m = mode();
    let server = google(Arc::clone(&m));
    let home = tempfile::tempdir().expect("home");
    let work = tempfile::tempdir().expect("work");
    let gcloud = home.path().join(".config/gcloud");
    std::fs::create_dir_all(&gcloud).expect("mkdir");
    let adc = gcloud.join("application_default_credentials.json");
    std::fs::write(
        &adc,
        serde_json::json!({
            "type": "authorized_user",
            "client_id": "cid.apps.googleusercontent.com",
            "client_secret": "gcp-client-secret",
            "refresh_token": "1//refresh",
            "token_uri": format!("{}/token", server.url()),
        })
        .to_string(),
    )
    .expect("write");
    let mut vars = base(home.path());
    vars.insert("SOPS_GCP_KMS_ENDPOINT".into(), server.url());
    vars.insert("GCE_METADATA_HOST".into(), dead_host());
    setup(&vars, work.path(), &format!("gcp_kms: {GCP_RESOURCE}"));
    let secrets = ["gcp-client-secret", "1//refresh", "user-token"];
    let source = format!(
        "source: gcloud application-default credentials ({})",
        adc.display()
    );

    let (code, text) = doctor(&vars, work.path());
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(&format!("ok           gcp_kms {GCP_RESOURCE}")),
        "{text}"
    );
    assert!(text.contains(&source), "{text}");
    assert!(
        text.contains(
            "Cloud KMS cryptoKeys.get answered (purpose ENCRYPT_DECRYPT, primary version ENABLED)"
        ),
        "{text}"
    );
    let gets = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path() == format!("/v1/{GCP_RESOURCE}"))
        .count();
    assert_eq!(gets, 1, "the probe reads the key's metadata once");
    assert_clean(&text, &secrets);

    // No permission to read the metadata: the credentials still work, and say so.
    m.store(1, Ordering::SeqCst);
    let (code, text) = doctor(&vars, work.path());
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("credentials work (a token was obtained), permission to read key metadata missing (cloudkms.cryptoKeys.get: HTTP 403")
            && text.contains("decrypt may still work"),
        "{text}"
    );

    // The token endpoint refuses the credentials: failed, exit 128, a clear reason.
    m.store(2, Ordering::SeqCst);
    let (code, text) = doctor(&vars, work.path());
    assert_eq!(code, Some(128), "{text}");
    assert!(
        text.contains(&format!("failed       gcp_kms {GCP_RESOURCE}")),
        "{text}"
    );
    assert!(
        text.contains("cannot check GCP KMS key")
            && text.contains(
                "cannot get a Google access token from gcloud application-default credentials"
            )
            && text.contains("invalid_grant"),
        "{text}"
    );
    assert_clean(&text, &secrets);

    // The key is gone: failed, the resource named.
    m.store(3, Ordering::SeqCst);
    let v = doctor_json(&vars, work.path());
    assert_eq!(v["keys"][0]["status"], "failed", "{v}");
    let err = v["keys"][0]["error"].as_str().expect("error");
    assert!(
        err.contains(&format!("GCP KMS key {GCP_RESOURCE} was not found")),
        "{err}"
    );
    assert_eq!(v["undecryptable"], 1);
}

/// `host:port` on which nothing listens (for GCE_METADATA_HOST).
fn dead_host() -> String {
    testhttp::dead_url()
        .trim_start_matches("http://")
        .to_owned()
}

// ---------------------------------------------------------------------------------------
// Azure Key Vault

#[test]
fn doctor_azure_key_vault_credential_source_and_key_metadata() {
    let m = mode();
    let server = azure(Arc::clone(&m));
    let home = tempfile::tempdir().expect("home");
    let work = tempfile::tempdir().expect("work");
    let mut vars = base(home.path());
    vars.insert("AZURE_AUTHORITY_HOST".into(), server.url());
    vars.insert(
        "AZURE_POD_IDENTITY_AUTHORITY_HOST".into(),
        testhttp::dead_url(),
    );
    vars.insert("PATH".into(), "/nonexistent-bin".into());
    vars.insert("AZURE_TENANT_ID".into(), TENANT.into());
    vars.insert("AZURE_CLIENT_ID".into(), CLIENT.into());
    vars.insert("AZURE_CLIENT_SECRET".into(), AZ_SECRET.into());
    let key = format!("{}/keys/k1/v1", server.url());
    setup(&vars, work.path(), &format!("azure_keyvault: {key}"));
    let secrets = [AZ_SECRET, "az-token"];

    let (code, text) = doctor(&vars, work.path());
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(&format!("ok           azure_kv {key}")),
        "{text}"
    );
    assert!(
        text.contains("source: AZURE_CLIENT_SECRET (client secret)"),
        "{text}"
    );
    assert!(
        text.contains("Key Vault get key answered (key type RSA, enabled)"),
        "{text}"
    );
    let gets = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path() == "/keys/k1/v1")
        .count();
    assert_eq!(gets, 1, "the probe reads the key's metadata once");
    assert_clean(&text, &secrets);

    // No `get` permission: the credentials work, and the report says so.
    m.store(1, Ordering::SeqCst);
    let (code, text) = doctor(&vars, work.path());
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("permission to read key metadata missing")
            && text.contains("keys get permission"),
        "{text}"
    );

    // Entra ID refuses the secret: failed, the source and Entra's reason, exit 128.
    m.store(2, Ordering::SeqCst);
    let (code, text) = doctor(&vars, work.path());
    assert_eq!(code, Some(128), "{text}");
    assert!(
        text.contains(&format!("failed       azure_kv {key}")),
        "{text}"
    );
    assert!(
        text.contains("AZURE_CLIENT_SECRET (client secret)") && text.contains("AADSTS7000215"),
        "{text}"
    );
    assert_clean(&text, &secrets);

    // A disabled key: failed, said plainly.
    m.store(3, Ordering::SeqCst);
    let v = doctor_json(&vars, work.path());
    assert_eq!(v["keys"][0]["status"], "failed", "{v}");
    assert_eq!(
        v["keys"][0]["error"],
        format!("Azure Key Vault key {key} is disabled")
    );
}

// ---------------------------------------------------------------------------------------
// HuaweiCloud KMS

#[test]
fn doctor_hckms_credentials_and_describe_key() {
    let m = mode();
    let server = huawei(Arc::clone(&m));
    let home = tempfile::tempdir().expect("home");
    let work = tempfile::tempdir().expect("work");
    let mut vars = base(home.path());
    vars.insert("HUAWEICLOUD_SDK_AK".into(), AK.into());
    vars.insert("HUAWEICLOUD_SDK_SK".into(), SK.into());
    vars.insert("HUAWEICLOUD_SDK_PROJECT_ID".into(), PROJECT.into());
    vars.insert("HUAWEICLOUD_SDK_REGION_KMS_TR_WEST_1".into(), server.url());
    let key = format!("tr-west-1:{UUID}");
    setup(&vars, work.path(), &format!("hckms: {key}"));

    let (code, text) = doctor(&vars, work.path());
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(&format!("ok           hckms {key}")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "source: HUAWEICLOUD_SDK_AK/HUAWEICLOUD_SDK_SK, project {PROJECT} \
             (HUAWEICLOUD_SDK_PROJECT_ID), endpoint from HUAWEICLOUD_SDK_REGION_KMS_TR_WEST_1"
        )),
        "{text}"
    );
    assert!(
        text.contains("KMS describe-key answered (key enabled)"),
        "{text}"
    );
    let describes = server
        .requests()
        .into_iter()
        .filter(|r| r.path() == format!("/v1.0/{PROJECT}/kms/describe-key"))
        .count();
    assert_eq!(describes, 1, "the probe describes the key once, signed");
    assert_clean(&text, &[SK]);

    // describe-key refused: the signature was accepted, the permission is missing.
    m.store(1, Ordering::SeqCst);
    let (code, text) = doctor(&vars, work.path());
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("credentials work (the signature was accepted), permission to read key metadata missing (kms:cmk:get: HTTP 403 KMS.0303"),
        "{text}"
    );

    // A disabled key: failed.
    m.store(3, Ordering::SeqCst);
    let (code, text) = doctor(&vars, work.path());
    assert_eq!(code, Some(128), "{text}");
    assert!(
        text.contains(&format!(
            "cannot check HuaweiCloud KMS key {key}: the key is disabled"
        )),
        "{text}"
    );

    // A wrong secret key: the signature is refused; failed, exit 128, never the key.
    m.store(0, Ordering::SeqCst);
    let mut wrong = vars.clone();
    wrong.insert("HUAWEICLOUD_SDK_SK".into(), "wrong-sk-also-secret".into());
    let (code, text) = doctor(&wrong, work.path());
    assert_eq!(code, Some(128), "{text}");
    assert!(
        text.contains(&format!("failed       hckms {key}")),
        "{text}"
    );
    assert!(
        text.contains("APIGW.0301")
            && text.contains("the signature or the credentials were rejected"),
        "{text}"
    );
    assert_clean(&text, &[SK, "wrong-sk-also-secret"]);

    // No credentials at all: failed, naming the variables.
    let mut none = vars.clone();
    none.remove("HUAWEICLOUD_SDK_AK");
    none.remove("HUAWEICLOUD_SDK_SK");
    let (code, text) = doctor(&none, work.path());
    assert_eq!(code, Some(128), "{text}");
    assert!(
        text.contains(
            "no HuaweiCloud credentials: HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK are not both set"
        ),
        "{text}"
    );
}
