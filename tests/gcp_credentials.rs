//! Google credential sources through the CLI: each source gets a token from a loopback
//! server that checks the documented protocol (OAuth JWT bearer and refresh-token
//! grants, the STS token exchange, IAM `generateAccessToken`, the metadata server), and
//! Cloud KMS on the same server accepts only the token that source should produce.

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

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use support::*;
use testhttp::Req;
use testhttp::Resp;
use testhttp::Server;

const RESOURCE: &str = "projects/p/locations/global/keyRings/r/cryptoKeys/k";
const SA_EMAIL: &str = "sops@test-project.iam.gserviceaccount.com";
const TARGET_SA: &str = "deployer@test-project.iam.gserviceaccount.com";
const AUDIENCE: &str =
    "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/ci/providers/github";
const JWT_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
const SUBJECT: &str = "oidc-subject-token-from-ci";
const CI_REQUEST_TOKEN: &str = "ci-request-token";
const KMS_SCOPE: &str = "https://www.googleapis.com/auth/cloudkms";
const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";
const PLAIN: &[u8] = b"db_password: gcp-s3cret\n";

fn test_key() -> String {
    std::fs::read_to_string(fixtures().join("cloud/TEST-ONLY-rsa-2048.pem")).expect("test key")
}

/// Verifies an RS256 JWT with the test key's public half; returns its claims.
fn verify_jwt(jwt: &str) -> Option<serde_json::Value> {
    let pem = test_key();
    let der = STANDARD
        .decode(
            pem.lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>(),
        )
        .ok()?;
    let kp = ring::signature::RsaKeyPair::from_pkcs8(&der).ok()?;
    let (signed, sig) = jwt.rsplit_once('.')?;
    let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
    ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        kp.public().as_ref(),
    )
    .verify(signed.as_bytes(), &sig)
    .ok()?;
    let (_, claims) = signed.split_once('.')?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()
}

fn oauth_error(status: u16, error: &str) -> Resp {
    Resp::json(
        status,
        serde_json::json!({"error": error, "error_description": "rejected by the test server"}),
    )
}

fn token(value: &str) -> Resp {
    Resp::json(
        200,
        serde_json::json!({"access_token": value, "expires_in": 3600, "token_type": "Bearer"}),
    )
}

/// Google's token endpoints, the metadata server, a CI OIDC endpoint and Cloud KMS,
/// the KMS accepting only `Bearer <expected>`.
fn google(expected: &'static str) -> Server {
    Server::start(move |req: &Req| {
        let form = req.form();
        let f = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
        match (req.method.as_str(), req.path()) {
            ("POST", "/token") => match f("grant_type") {
                "urn:ietf:params:oauth:grant-type:jwt-bearer" => match verify_jwt(f("assertion")) {
                    Some(c)
                        if c["iss"] == SA_EMAIL
                            && c["scope"] == KMS_SCOPE
                            && c["aud"].as_str().is_some_and(|a| a.ends_with("/token")) =>
                    {
                        token("sa-token")
                    }
                    _ => oauth_error(400, "invalid_grant"),
                },
                "refresh_token"
                    if f("client_id") == "cid.apps.googleusercontent.com"
                        && f("client_secret") == "csecret"
                        && f("refresh_token") == "1//refresh" =>
                {
                    token("user-token")
                }
                _ => oauth_error(400, "invalid_grant"),
            },
            ("POST", "/sts") => {
                let ok = f("grant_type") == "urn:ietf:params:oauth:grant-type:token-exchange"
                    && f("audience") == AUDIENCE
                    && f("subject_token") == SUBJECT
                    && f("subject_token_type") == JWT_TYPE
                    && f("requested_token_type") == "urn:ietf:params:oauth:token-type:access_token"
                    && (f("scope") == KMS_SCOPE || f("scope") == CLOUD_PLATFORM);
                if ok {
                    token(if f("scope") == KMS_SCOPE {
                        "sts-token"
                    } else {
                        "sts-federated"
                    })
                } else {
                    oauth_error(400, "invalid_request")
                }
            }
            ("GET", "/oidc") => {
                if req.header("authorization") == Some(&format!("bearer {CI_REQUEST_TOKEN}"))
                    && req.query().get("audience").map(String::as_str) == Some(AUDIENCE)
                {
                    Resp::json(200, serde_json::json!({"count": 1, "value": SUBJECT}))
                } else {
                    Resp::json(401, serde_json::json!({"message": "bad request token"}))
                }
            }
            ("POST", p)
                if p == format!(
                    "/v1/projects/-/serviceAccounts/{TARGET_SA}:generateAccessToken"
                ) =>
            {
                let body = req.json();
                let auth = req.header("authorization");
                if (auth == Some("Bearer sts-federated") || auth == Some("Bearer user-token"))
                    && body["scope"][0] == CLOUD_PLATFORM
                {
                    Resp::json(
                        200,
                        serde_json::json!({"accessToken": "impersonated-token", "expireTime": "2099-01-01T00:00:00Z"}),
                    )
                } else {
                    Resp::json(
                        403,
                        serde_json::json!({"error": {"code": 403, "message": "denied", "status": "PERMISSION_DENIED"}}),
                    )
                }
            }
            ("GET", "/computeMetadata/v1/instance/service-accounts/default/token") => {
                if req.header("metadata-flavor") == Some("Google")
                    && req.query().get("scopes").map(String::as_str) == Some(KMS_SCOPE)
                {
                    token("metadata-token")
                } else {
                    Resp::text(403, "missing Metadata-Flavor")
                }
            }
            ("POST", p) if p.starts_with("/v1/projects/") => kms(req, expected),
            _ => Resp::text(404, "not found"),
        }
    })
}

/// Cloud KMS encrypt/decrypt for `RESOURCE` with the token `expected`.
fn kms(req: &Req, expected: &str) -> Resp {
    if req.header("authorization") != Some(&format!("Bearer {expected}")) {
        return Resp::json(
            401,
            serde_json::json!({"error": {"code": 401, "message": "wrong token", "status": "UNAUTHENTICATED"}}),
        );
    }
    let body = req.json();
    if req.path() == format!("/v1/{RESOURCE}:encrypt") {
        let plain = STANDARD
            .decode(body["plaintext"].as_str().unwrap_or(""))
            .unwrap_or_default();
        let mut wrapped = b"wrapped:".to_vec();
        wrapped.extend(plain);
        Resp::json(
            200,
            serde_json::json!({"ciphertext": STANDARD.encode(wrapped)}),
        )
    } else if req.path() == format!("/v1/{RESOURCE}:decrypt") {
        let c = STANDARD
            .decode(body["ciphertext"].as_str().unwrap_or(""))
            .unwrap_or_default();
        match c.strip_prefix(b"wrapped:") {
            Some(p) => Resp::json(200, serde_json::json!({"plaintext": STANDARD.encode(p)})),
            None => Resp::text(400, "bad ciphertext"),
        }
    } else {
        Resp::text(404, "no such key")
    }
}

/// A hermetic environment: empty HOME, the KMS endpoint, no metadata server.
fn vars(server: &Server, home: &Path) -> HashMap<String, String> {
    let mut v = env_vars(None, home);
    v.remove("SOPS_AGE_KEY_FILE");
    v.insert("SOPS_GCP_KMS_ENDPOINT".into(), server.url());
    v.insert(
        "GCE_METADATA_HOST".into(),
        testhttp::dead_url()
            .trim_start_matches("http://")
            .to_owned(),
    );
    v.insert(rest::RETRY_DELAY_VAR.into(), "5".into());
    v
}

/// Encrypts a file with the KMS key and decrypts it again; secrets never printed.
fn round_trip(vars: &HashMap<String, String>, secrets: &[&str]) {
    let work = tempfile::tempdir().expect("work");
    std::fs::write(work.path().join("g.yaml"), PLAIN).expect("write");
    let out = run_in(
        vars,
        work.path(),
        &["encrypt", "-i", "--gcp-kms", RESOURCE, "g.yaml"],
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    let enc = std::fs::read_to_string(work.path().join("g.yaml")).expect("read");
    assert!(
        enc.contains(RESOURCE) && !enc.contains("gcp-s3cret"),
        "{enc}"
    );
    let out = run_in(vars, work.path(), &["decrypt", "g.yaml"]);
    let err2 = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err2}");
    assert_eq!(out.stdout, PLAIN);
    for s in secrets {
        assert!(!err.contains(s) && !err2.contains(s), "secret printed");
    }
}

fn write_json(dir: &Path, name: &str, v: &serde_json::Value) -> String {
    let p = dir.join(name);
    std::fs::write(&p, v.to_string()).expect("write");
    p.display().to_string()
}

fn posts_to(server: &Server, path: &str) -> Vec<Req> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.path() == path)
        .collect()
}

#[test]
fn gcp_service_account_key() {
    let server = google("sa-token");
    let home = tempfile::tempdir().expect("home");
    let sa = serde_json::json!({
        "type": "service_account",
        "project_id": "test-project",
        "private_key_id": "test-key-id",
        "private_key": test_key(),
        "client_email": SA_EMAIL,
        "token_uri": format!("{}/token", server.url()),
    });
    let path = write_json(home.path(), "sa.json", &sa);
    let mut v = vars(&server, home.path());
    v.insert("GOOGLE_APPLICATION_CREDENTIALS".into(), path);
    round_trip(&v, &["PRIVATE KEY", "sa-token"]);
    assert!(!posts_to(&server, "/token").is_empty());

    // sops's GOOGLE_CREDENTIALS (the JSON itself) takes precedence and works the same.
    let server2 = google("sa-token");
    let mut sa2 = sa.clone();
    sa2["token_uri"] = serde_json::json!(format!("{}/token", server2.url()));
    let mut v = vars(&server2, home.path());
    v.insert("GOOGLE_CREDENTIALS".into(), sa2.to_string());
    v.insert(
        "GOOGLE_APPLICATION_CREDENTIALS".into(),
        "/nonexistent.json".into(),
    );
    round_trip(&v, &["PRIVATE KEY"]);
}

#[test]
fn gcp_authorized_user_adc() {
    let server = google("user-token");
    let home = tempfile::tempdir().expect("home");
    let adc = serde_json::json!({
        "type": "authorized_user",
        "client_id": "cid.apps.googleusercontent.com",
        "client_secret": "csecret",
        "refresh_token": "1//refresh",
        "token_uri": format!("{}/token", server.url()),
    });
    // gcloud's file under ~/.config/gcloud …
    let dir = home.path().join(".config/gcloud");
    std::fs::create_dir_all(&dir).expect("mkdir");
    write_json(&dir, "application_default_credentials.json", &adc);
    let v = vars(&server, home.path());
    round_trip(&v, &["csecret", "1//refresh", "user-token"]);
    let reqs = posts_to(&server, "/token");
    assert!(
        reqs.iter()
            .all(|r| r.form()["grant_type"] == "refresh_token")
    );

    // … or under CLOUDSDK_CONFIG.
    let other_home = tempfile::tempdir().expect("home");
    let config = tempfile::tempdir().expect("config");
    write_json(config.path(), "application_default_credentials.json", &adc);
    let mut v = vars(&server, other_home.path());
    v.insert(
        "CLOUDSDK_CONFIG".into(),
        config.path().display().to_string(),
    );
    round_trip(&v, &["csecret"]);
}

#[test]
fn gcp_external_account_file_source() {
    let server = google("sts-token");
    let home = tempfile::tempdir().expect("home");
    let token_file = home.path().join("oidc-token");
    std::fs::write(&token_file, format!("{SUBJECT}\n")).expect("write");
    let ext = serde_json::json!({
        "type": "external_account",
        "audience": AUDIENCE,
        "subject_token_type": JWT_TYPE,
        "token_url": format!("{}/sts", server.url()),
        "credential_source": {"file": token_file.display().to_string(), "format": {"type": "text"}},
    });
    let mut v = vars(&server, home.path());
    v.insert(
        "GOOGLE_APPLICATION_CREDENTIALS".into(),
        write_json(home.path(), "wif.json", &ext),
    );
    round_trip(&v, &[SUBJECT, "sts-token"]);
    let sts = posts_to(&server, "/sts");
    assert!(!sts.is_empty());
    assert_eq!(sts[0].form()["scope"], KMS_SCOPE);

    // A missing token file: the source and the file are named, exit 128 on decrypt.
    std::fs::remove_file(&token_file).expect("rm");
    let work = tempfile::tempdir().expect("work");
    std::fs::write(work.path().join("p.yaml"), PLAIN).expect("write");
    let out = run_in(
        &v,
        work.path(),
        &["encrypt", "-i", "--gcp-kms", RESOURCE, "p.yaml"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        err.contains("GOOGLE_APPLICATION_CREDENTIALS") && err.contains("oidc-token"),
        "{err}"
    );
}

#[test]
fn gcp_external_account_url_source_with_impersonation() {
    let server = google("impersonated-token");
    let home = tempfile::tempdir().expect("home");
    let url = server.url();
    let ext = serde_json::json!({
        "type": "external_account",
        "audience": AUDIENCE,
        "subject_token_type": JWT_TYPE,
        "token_url": format!("{url}/sts"),
        "service_account_impersonation_url":
            format!("{url}/v1/projects/-/serviceAccounts/{TARGET_SA}:generateAccessToken"),
        "credential_source": {
            "url": format!("{url}/oidc?audience={AUDIENCE}"),
            "headers": {"Authorization": format!("bearer {CI_REQUEST_TOKEN}")},
            "format": {"type": "json", "subject_token_field_name": "value"},
        },
    });
    let mut v = vars(&server, home.path());
    v.insert(
        "GOOGLE_APPLICATION_CREDENTIALS".into(),
        write_json(home.path(), "wif.json", &ext),
    );
    round_trip(
        &v,
        &[
            SUBJECT,
            CI_REQUEST_TOKEN,
            "sts-federated",
            "impersonated-token",
        ],
    );
    assert!(!posts_to(&server, "/oidc").is_empty());
    assert_eq!(posts_to(&server, "/sts")[0].form()["scope"], CLOUD_PLATFORM);

    // The federated identity may not impersonate: the 403 names the service account.
    let mut denied = ext.clone();
    denied["service_account_impersonation_url"] = serde_json::json!(format!(
        "{url}/v1/projects/-/serviceAccounts/other@p.iam.gserviceaccount.com:generateAccessToken"
    ));
    v.insert(
        "GOOGLE_APPLICATION_CREDENTIALS".into(),
        write_json(home.path(), "denied.json", &denied),
    );
    let work = tempfile::tempdir().expect("work");
    std::fs::write(work.path().join("p.yaml"), PLAIN).expect("write");
    let out = run_in(
        &v,
        work.path(),
        &["encrypt", "-i", "--gcp-kms", RESOURCE, "p.yaml"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        err.contains("impersonating other@p.iam.gserviceaccount.com")
            && err.contains("serviceAccountTokenCreator"),
        "{err}"
    );
    assert!(!err.contains("sts-federated") && !err.contains(SUBJECT));
}

#[test]
fn gcp_impersonated_service_account_adc() {
    let server = google("impersonated-token");
    let home = tempfile::tempdir().expect("home");
    // `gcloud auth application-default login --impersonate-service-account`: the user's
    // refresh token gives the token that calls generateAccessToken.
    let url = server.url();
    let imp = serde_json::json!({
        "type": "impersonated_service_account",
        "service_account_impersonation_url":
            format!("{url}/v1/projects/-/serviceAccounts/{TARGET_SA}:generateAccessToken"),
        "source_credentials": {
            "type": "authorized_user",
            "client_id": "cid.apps.googleusercontent.com",
            "client_secret": "csecret",
            "refresh_token": "1//refresh",
            "token_uri": format!("{url}/token"),
        },
    });
    let dir = home.path().join(".config/gcloud");
    std::fs::create_dir_all(&dir).expect("mkdir");
    write_json(&dir, "application_default_credentials.json", &imp);
    let v = vars(&server, home.path());
    round_trip(
        &v,
        &["csecret", "1//refresh", "user-token", "impersonated-token"],
    );
    assert!(!posts_to(&server, "/token").is_empty());
}

#[test]
fn gcp_metadata_server() {
    let server = google("metadata-token");
    let home = tempfile::tempdir().expect("home");
    let mut v = vars(&server, home.path());
    v.insert(
        "GCE_METADATA_HOST".into(),
        server.url().trim_start_matches("http://").to_owned(),
    );
    round_trip(&v, &["metadata-token"]);
    assert!(
        !posts_to(
            &server,
            "/computeMetadata/v1/instance/service-accounts/default/token"
        )
        .is_empty()
    );
}

#[test]
fn gcp_oauth_access_token_env() {
    let server = google("ya29.static-token");
    let home = tempfile::tempdir().expect("home");
    let mut v = vars(&server, home.path());
    v.insert(
        "GOOGLE_OAUTH_ACCESS_TOKEN".into(),
        "ya29.static-token".into(),
    );
    // It comes before GOOGLE_APPLICATION_CREDENTIALS (sops's order).
    v.insert(
        "GOOGLE_APPLICATION_CREDENTIALS".into(),
        "/nonexistent.json".into(),
    );
    round_trip(&v, &["ya29.static-token"]);
}

#[test]
fn gcp_no_credentials_lists_every_source_tried() {
    let server = google("never");
    let home = tempfile::tempdir().expect("home");
    let v = vars(&server, home.path());
    let work = tempfile::tempdir().expect("work");
    std::fs::write(work.path().join("p.yaml"), PLAIN).expect("write");
    let out = run_in(
        &v,
        work.path(),
        &["encrypt", "-i", "--gcp-kms", RESOURCE, "p.yaml"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    let order = [
        "GOOGLE_CREDENTIALS: not set",
        "GOOGLE_OAUTH_ACCESS_TOKEN: not set",
        "GOOGLE_APPLICATION_CREDENTIALS: not set",
        "gcloud application-default credentials: no file",
        "the metadata server",
    ];
    let pos: Vec<usize> = order
        .iter()
        .map(|s| err.find(s).unwrap_or_else(|| panic!("{s} missing: {err}")))
        .collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{err}");
    assert_eq!(
        std::fs::read(work.path().join("p.yaml")).expect("read"),
        PLAIN
    );
}
