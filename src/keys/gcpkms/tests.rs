use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::*;
use crate::keys::testhttp;
use crate::keys::testhttp::Req;
use crate::keys::testhttp::Resp;
use crate::keys::testhttp::Server;

/// Test-only RSA key (fixtures/cloud/README.md).
const TEST_KEY: &str = include_str!("../../../fixtures/cloud/TEST-ONLY-rsa-2048.pem");
const SA_EMAIL: &str = "sops@test-project.iam.gserviceaccount.com";
const KEY: &str = "projects/p1/locations/global/keyRings/r1/cryptoKeys/k1";

fn google_error(code: u16, status: &str, message: &str) -> Resp {
    Resp::json(
        code,
        serde_json::json!({"error": {"code": code, "message": message, "status": status}}),
    )
}

/// Verifies an RS256 JWT with the test key's public half; returns its claims.
fn verify_jwt(jwt: &str) -> Option<serde_json::Value> {
    let der = STANDARD
        .decode(
            TEST_KEY
                .lines()
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
    let (header, claims) = signed.split_once('.')?;
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    if header["alg"] != "RS256" || header["kid"] != "test-key-id" {
        return None;
    }
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()
}

/// A fake Cloud KMS + OAuth token endpoint + metadata server, following the REST docs.
/// The "ciphertext" is `FAKEKMS|<key name>|<plaintext XOR 0x5a>`, so decrypting with
/// another key fails like the real service does.
fn fake_google() -> (Server, Arc<AtomicUsize>) {
    let flaky = Arc::new(AtomicUsize::new(0));
    let flaky2 = Arc::clone(&flaky);
    let srv = Server::start(move |req: &Req| handle(req, &flaky2));
    (srv, flaky)
}

fn handle(req: &Req, flaky: &AtomicUsize) -> Resp {
    let host = req.header("Host").unwrap_or("");
    if req.path() == "/token" {
        let form = req.form();
        let token = match form.get("grant_type").map(String::as_str) {
            Some("urn:ietf:params:oauth:grant-type:jwt-bearer") => {
                let Some(c) = form.get("assertion").and_then(|a| verify_jwt(a)) else {
                    return Resp::json(
                        400,
                        serde_json::json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}),
                    );
                };
                let now = rest::now_secs() as i64;
                let iat = c["iat"].as_i64().unwrap_or(0);
                let ok = c["iss"] == SA_EMAIL
                    && c["scope"] == token::SCOPE
                    && c["aud"] == format!("http://{host}/token")
                    && (iat - now).abs() < 60
                    && c["exp"].as_i64() == Some(iat + 3600);
                if !ok {
                    return Resp::json(
                        400,
                        serde_json::json!({"error": "invalid_grant", "error_description": "Invalid JWT claims."}),
                    );
                }
                "sa-token"
            }
            Some("refresh_token")
                if form.get("client_id").map(String::as_str)
                    == Some("cid.apps.googleusercontent.com")
                    && form.get("client_secret").map(String::as_str) == Some("csecret")
                    && form.get("refresh_token").map(String::as_str) == Some("1//refresh") =>
            {
                "user-token"
            }
            _ => {
                return Resp::json(
                    400,
                    serde_json::json!({"error": "invalid_grant", "error_description": "Bad Request"}),
                );
            }
        };
        return Resp::json(
            200,
            serde_json::json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"}),
        );
    }
    if req.path() == "/computeMetadata/v1/instance/service-accounts/default/token" {
        if req.header("Metadata-Flavor") != Some("Google")
            || req.query().get("scopes").map(String::as_str) != Some(token::SCOPE)
        {
            return Resp::text(403, "Missing Metadata-Flavor:Google header.");
        }
        return Resp::json(
            200,
            serde_json::json!({"access_token": "md-token", "expires_in": 3599, "token_type": "Bearer"}),
        );
    }
    let Some(rest_path) = req.path().strip_prefix("/v1/") else {
        return google_error(404, "NOT_FOUND", "Not found");
    };
    let Some((name, op)) = rest_path.rsplit_once(':') else {
        return google_error(404, "NOT_FOUND", "Not found");
    };
    let bearer = req
        .header("Authorization")
        .and_then(|a| a.strip_prefix("Bearer "));
    if !matches!(
        bearer,
        Some("sa-token" | "user-token" | "md-token" | "static-token")
    ) {
        return google_error(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token.",
        );
    }
    let key = name.rsplit('/').next().unwrap_or("");
    match key {
        "k1" | "k2" => {}
        "denied" => {
            return google_error(
                403,
                "PERMISSION_DENIED",
                &format!(
                    "Permission 'cloudkms.cryptoKeyVersions.useToEncrypt' denied on resource '{name}' (or it may not exist)."
                ),
            );
        }
        "flaky" => {
            if flaky.fetch_add(1, Ordering::SeqCst) == 0 {
                return google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded.");
            }
        }
        "garbled" => return Resp::text(200, "{\"ciphertext\": "),
        _ => return google_error(404, "NOT_FOUND", &format!("CryptoKey {name} not found.")),
    }
    let body = req.json();
    match op {
        "encrypt" => {
            let Some(plain) = body["plaintext"]
                .as_str()
                .and_then(|p| STANDARD.decode(p).ok())
            else {
                return google_error(
                    400,
                    "INVALID_ARGUMENT",
                    "Invalid value at 'plaintext' (TYPE_BYTES)",
                );
            };
            let mut ct = format!("FAKEKMS|{name}|").into_bytes();
            ct.extend(plain.iter().map(|b| b ^ 0x5a));
            Resp::json(
                200,
                serde_json::json!({"name": format!("{name}/cryptoKeyVersions/1"), "ciphertext": STANDARD.encode(ct)}),
            )
        }
        "decrypt" => {
            let ct = body["ciphertext"]
                .as_str()
                .and_then(|c| STANDARD.decode(c).ok())
                .unwrap_or_default();
            let prefix = format!("FAKEKMS|{name}|").into_bytes();
            match ct.strip_prefix(prefix.as_slice()) {
                Some(rest) => {
                    let plain: Vec<u8> = rest.iter().map(|b| b ^ 0x5a).collect();
                    Resp::json(
                        200,
                        serde_json::json!({"plaintext": STANDARD.encode(plain)}),
                    )
                }
                None => google_error(
                    400,
                    "INVALID_ARGUMENT",
                    "Decryption failed: the ciphertext is invalid.",
                ),
            }
        }
        _ => google_error(404, "NOT_FOUND", "Not found"),
    }
}

fn ctx(srv: &Server, extra: &[(&str, &str)]) -> KeyContext {
    let mut vars = testhttp::base_vars();
    vars.insert(ENDPOINT_VAR.into(), srv.url());
    // Never reach a real metadata server from the tests.
    vars.insert(
        "GCE_METADATA_HOST".into(),
        testhttp::dead_url()
            .trim_start_matches("http://")
            .to_owned(),
    );
    for (k, v) in extra {
        vars.insert((*k).into(), (*v).into());
    }
    KeyContext::with_vars(vars)
}

fn service_account(srv: &Server) -> String {
    serde_json::json!({
        "type": "service_account",
        "project_id": "test-project",
        "private_key_id": "test-key-id",
        "private_key": TEST_KEY,
        "client_email": SA_EMAIL,
        "client_id": "1234",
        "token_uri": format!("{}/token", srv.url()),
    })
    .to_string()
}

fn authorized_user(srv: &Server) -> String {
    serde_json::json!({
        "type": "authorized_user",
        "client_id": "cid.apps.googleusercontent.com",
        "client_secret": "csecret",
        "refresh_token": "1//refresh",
        "token_uri": format!("{}/token", srv.url()),
    })
    .to_string()
}

fn secret() -> Vec<u8> {
    let mut s = vec![0u8; 32];
    getrandom::fill(&mut s).unwrap();
    s
}

#[test]
fn parse_and_fields() {
    let k = GcpKmsKey::parse(" projects/p1/locations/global/keyRings/r 1/cryptoKeys/k1 ").unwrap();
    assert_eq!(
        k.id(),
        "projects/p1/locations/global/keyRings/r1/cryptoKeys/k1"
    );
    let m = k.fields();
    assert_eq!(
        m.get("resource_id").and_then(FieldValue::as_str),
        Some(k.resource_id())
    );
    assert_eq!(GcpKmsKey::from_fields(&m).unwrap(), k);
    assert!(k.has_created_at());
    assert!(GcpKmsKey::parse("example.com:proj/x").is_err());
    for bad in [
        "",
        "projects/p/locations/l/keyRings/r",
        "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1",
        "projects/p/locations/l/keyrings/r/cryptoKeys/k",
        "projects/p/locations/l/keyRings/r/cryptoKeys/k:decrypt?x",
        "projects/../locations/l/keyRings/r/cryptoKeys/k",
        "projects//locations/l/keyRings/r/cryptoKeys/k",
    ] {
        let e = GcpKmsKey::parse(bad).unwrap_err();
        assert!(
            e.message.starts_with("invalid GCP KMS resource ID"),
            "{bad}"
        );
    }
    assert_eq!(
        GcpKmsKey::from_fields(&KeyFields::new())
            .unwrap_err()
            .message,
        "gcp_kms entry without `resource_id`"
    );
}

#[test]
fn endpoints() {
    let c = |vars: &[(&str, &str)]| {
        KeyContext::with_vars(
            vars.iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        )
    };
    assert_eq!(endpoint(&c(&[])), "https://cloudkms.googleapis.com");
    assert_eq!(
        endpoint(&c(&[(ENDPOINT_VAR, "kms.example:443")])),
        "https://kms.example:443"
    );
    assert_eq!(
        endpoint(&c(&[(ENDPOINT_VAR, "http://127.0.0.1:9/")])),
        "http://127.0.0.1:9"
    );
    assert_eq!(
        endpoint(&c(&[(UNIVERSE_VAR, "example.org")])),
        "https://cloudkms.example.org"
    );
}

#[test]
fn every_token_source_round_trips() {
    let (srv, _) = fake_google();
    let key = GcpKmsKey::parse(KEY).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sa_file = dir.path().join("sa.json");
    std::fs::write(&sa_file, service_account(&srv)).unwrap();
    let home = tempfile::tempdir().unwrap();
    let gcloud = home.path().join(".config/gcloud");
    std::fs::create_dir_all(&gcloud).unwrap();
    std::fs::write(
        gcloud.join("application_default_credentials.json"),
        authorized_user(&srv),
    )
    .unwrap();
    let home_s = home.path().to_str().unwrap().to_owned();
    let empty_home = tempfile::tempdir().unwrap();
    let empty_s = empty_home.path().to_str().unwrap().to_owned();
    let sa_inline = service_account(&srv);
    let sa_path = sa_file.to_str().unwrap().to_owned();

    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("GOOGLE_CREDENTIALS", &sa_path)], "sa-token"),
        (
            vec![
                ("GOOGLE_CREDENTIALS", &sa_inline),
                ("GOOGLE_OAUTH_ACCESS_TOKEN", "static-token"),
            ],
            "sa-token",
        ),
        (
            vec![
                ("GOOGLE_OAUTH_ACCESS_TOKEN", "static-token"),
                ("HOME", &home_s),
            ],
            "static-token",
        ),
        (
            vec![
                ("GOOGLE_APPLICATION_CREDENTIALS", &sa_path),
                ("HOME", &home_s),
            ],
            "sa-token",
        ),
        (vec![("HOME", &home_s)], "user-token"),
        (
            vec![
                ("CLOUDSDK_CONFIG", gcloud.to_str().unwrap()),
                ("HOME", &empty_s),
            ],
            "user-token",
        ),
    ];
    for (vars, expected) in cases {
        let c = ctx(&srv, &vars);
        let s = secret();
        let enc = key.wrap(&s, &c).unwrap();
        assert!(STANDARD.decode(&enc).unwrap().starts_with(b"FAKEKMS|"));
        assert_eq!(*key.unwrap(&enc, &c).unwrap(), s);
        let last = srv.requests().pop().unwrap();
        assert_eq!(last.path(), format!("/v1/{KEY}:decrypt"));
        assert_eq!(
            last.header("Authorization"),
            Some(format!("Bearer {expected}").as_str()),
            "{vars:?}"
        );
        assert_eq!(last.json(), serde_json::json!({"ciphertext": enc}));
    }

    // The token is fetched once per run and reused for every call.
    let c = ctx(&srv, &[("GOOGLE_CREDENTIALS", &sa_path)]);
    let before = srv
        .requests()
        .iter()
        .filter(|r| r.path() == "/token")
        .count();
    let k2 = GcpKmsKey::parse("projects/p1/locations/global/keyRings/r1/cryptoKeys/k2").unwrap();
    let enc = key.wrap(&[1; 33], &c).unwrap();
    k2.wrap(&[2; 32], &c).unwrap();
    key.unwrap(&enc, &c).unwrap();
    let after = srv
        .requests()
        .iter()
        .filter(|r| r.path() == "/token")
        .count();
    assert_eq!(after - before, 1);
    // The encrypt request body is the documented one.
    let enc_req = srv
        .requests()
        .into_iter()
        .rfind(|r| r.path().ends_with(":encrypt"))
        .unwrap();
    assert_eq!(
        enc_req.json(),
        serde_json::json!({"plaintext": STANDARD.encode([2u8; 32])})
    );

    // Decrypting with another key fails with the service's message.
    let e = k2.unwrap(&enc, &c).unwrap_err();
    assert!(
        e.message
            .ends_with("HTTP 400: INVALID_ARGUMENT: Decryption failed: the ciphertext is invalid."),
        "{e}"
    );
}

#[test]
fn metadata_server_is_the_last_resort() {
    let (srv, _) = fake_google();
    let key = GcpKmsKey::parse(KEY).unwrap();
    let empty = tempfile::tempdir().unwrap();
    let host = srv.url().trim_start_matches("http://").to_owned();
    let c = ctx(
        &srv,
        &[
            ("HOME", empty.path().to_str().unwrap()),
            ("GCE_METADATA_HOST", &host),
        ],
    );
    let s = secret();
    let enc = key.wrap(&s, &c).unwrap();
    assert_eq!(*key.unwrap(&enc, &c).unwrap(), s);
    assert!(
        srv.requests()
            .iter()
            .any(|r| r.path().starts_with("/computeMetadata/"))
    );

    // Nothing configured and no metadata server: one clear error listing the sources.
    let c = ctx(&srv, &[("HOME", empty.path().to_str().unwrap())]);
    let e = key.wrap(&s, &c).unwrap_err();
    assert!(
        e.message.contains(
            "no Google credentials found; tried, in order: GOOGLE_CREDENTIALS: not set; \
             GOOGLE_OAUTH_ACCESS_TOKEN: not set; GOOGLE_APPLICATION_CREDENTIALS: not set; \
             gcloud application-default credentials: no file"
        ),
        "{e}"
    );
    assert!(e.message.contains("connection refused"), "{e}");
    assert!(
        e.hint
            .unwrap()
            .contains("gcloud auth application-default login")
    );
}

mod errors;
