//! GCP Cloud KMS through the CLI against a loopback server speaking the KMS REST API:
//! encrypt and decrypt, and every failure (403, 429 then success, malformed response,
//! server down) gives a clear error, a non-zero exit and an untouched file.

mod support;
#[path = "../src/keys/testhttp.rs"]
#[allow(dead_code)]
mod testhttp;

/// What `testhttp` needs from the crate's `rest` module (the real names).
mod rest {
    pub const RETRY_DELAY_VAR: &str = "LEAFSEAL_HTTP_RETRY_DELAY_MS";
    pub const TIMEOUT_VAR: &str = "LEAFSEAL_HTTP_TIMEOUT_SECS";
}

use std::sync::Arc;
use std::sync::atomic::AtomicU8;
use std::sync::atomic::Ordering;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use support::*;
use testhttp::Resp;

const RESOURCE: &str = "projects/p/locations/global/keyRings/r/cryptoKeys/k";
const TOKEN: &str = "ya29.test-token-never-printed";

const OK: u8 = 0;
const FORBIDDEN: u8 = 1;
const THROTTLE_ONCE: u8 = 2;
const MALFORMED: u8 = 3;
/// Encrypt answers an empty ciphertext.
const EMPTY: u8 = 4;
/// Every call is refused with a message quoting the token and forging a hint line.
const ECHO: u8 = 5;

/// A KMS that "wraps" by prefixing and base64 (the REST shapes are real; the crypto is
/// not the point here — the key-level tests cover it).
fn kms(mode: Arc<AtomicU8>) -> testhttp::Server {
    testhttp::Server::start(move |req| {
        if req.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
            return Resp::json(
                401,
                serde_json::json!({"error": {"code": 401, "message": "no token", "status": "UNAUTHENTICATED"}}),
            );
        }
        match mode.load(Ordering::SeqCst) {
            FORBIDDEN => {
                return Resp::json(
                    403,
                    serde_json::json!({"error": {"code": 403, "message": "Permission 'cloudkms.cryptoKeyVersions.useToDecrypt' denied", "status": "PERMISSION_DENIED"}}),
                );
            }
            THROTTLE_ONCE => {
                mode.store(OK, Ordering::SeqCst);
                return Resp::json(
                    429,
                    serde_json::json!({"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}),
                );
            }
            MALFORMED => return Resp::text(200, "{not json"),
            EMPTY => {
                return Resp::json(200, serde_json::json!({"name": RESOURCE, "ciphertext": ""}));
            }
            ECHO => {
                return Resp::json(
                    403,
                    serde_json::json!({"error": {"code": 403, "status": "PERMISSION_DENIED", "message": format!("token {TOKEN} denied\nhint: forged by the server")}}),
                );
            }
            _ => {}
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
                serde_json::json!({"name": RESOURCE, "ciphertext": STANDARD.encode(wrapped)}),
            )
        } else if req.path() == format!("/v1/{RESOURCE}:decrypt") {
            let c = STANDARD
                .decode(body["ciphertext"].as_str().unwrap_or(""))
                .unwrap_or_default();
            match c.strip_prefix(b"wrapped:") {
                Some(p) => Resp::json(200, serde_json::json!({"plaintext": STANDARD.encode(p)})),
                None => Resp::json(
                    400,
                    serde_json::json!({"error": {"code": 400, "message": "Decryption failed", "status": "INVALID_ARGUMENT"}}),
                ),
            }
        } else {
            Resp::json(
                404,
                serde_json::json!({"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}}),
            )
        }
    })
}

#[test]
fn gcp_kms_round_trip_and_failures_leave_the_file_untouched() {
    let mode = Arc::new(AtomicU8::new(OK));
    let server = kms(Arc::clone(&mode));
    let home = tempfile::tempdir().expect("home");
    let work = tempfile::tempdir().expect("work");
    let plain = b"db_password: gcp-s3cret\n";
    std::fs::write(work.path().join("g.yaml"), plain).expect("write");
    let mut vars = env_vars(None, home.path());
    vars.remove("SOPS_AGE_KEY_FILE");
    vars.insert("SOPS_GCP_KMS_ENDPOINT".into(), server.url());
    vars.insert("GOOGLE_OAUTH_ACCESS_TOKEN".into(), TOKEN.into());
    vars.insert(rest::RETRY_DELAY_VAR.into(), "5".into());

    // Encrypting while the key is forbidden: exit 23, the plaintext file untouched.
    mode.store(FORBIDDEN, Ordering::SeqCst);
    let out = run_in(
        &vars,
        work.path(),
        &["encrypt", "-i", "--gcp-kms", RESOURCE, "g.yaml"],
    );
    assert_eq!(
        out.status.code(),
        Some(23),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(work.path().join("g.yaml")).expect("read"),
        plain
    );

    mode.store(OK, Ordering::SeqCst);
    let out = run_in(
        &vars,
        work.path(),
        &["encrypt", "-i", "--gcp-kms", RESOURCE, "g.yaml"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let enc = std::fs::read(work.path().join("g.yaml")).expect("read");
    let text = String::from_utf8_lossy(&enc);
    assert!(
        text.contains("gcp_kms:") && text.contains(RESOURCE) && !text.contains("gcp-s3cret"),
        "{text}"
    );
    assert_eq!(
        run_in(&vars, work.path(), &["decrypt", "g.yaml"]).stdout,
        plain
    );

    // 429 once, then success: retried.
    mode.store(THROTTLE_ONCE, Ordering::SeqCst);
    let out = run_in(&vars, work.path(), &["decrypt", "g.yaml"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, plain);

    // 403, malformed response, server down: exit 128, clear message, file untouched,
    // no token in any message.
    for (what, m, needle) in [("403", FORBIDDEN, "403"), ("malformed", MALFORMED, "")] {
        mode.store(m, Ordering::SeqCst);
        let out = run_in(&vars, work.path(), &["decrypt", "-i", "g.yaml"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(128), "{what}: {err}");
        assert!(
            err.contains(RESOURCE) && err.contains(needle),
            "{what}: {err}"
        );
        assert!(!err.contains(TOKEN), "{what}: token leaked");
        assert!(out.stdout.is_empty());
        assert_eq!(
            std::fs::read(work.path().join("g.yaml")).expect("read"),
            enc,
            "{what}"
        );
    }
    let mut down = vars.clone();
    down.insert("SOPS_GCP_KMS_ENDPOINT".into(), testhttp::dead_url());
    let out = run_in(&down, work.path(), &["decrypt", "-i", "g.yaml"]);
    assert_eq!(out.status.code(), Some(128));
    assert_eq!(
        std::fs::read(work.path().join("g.yaml")).expect("read"),
        enc
    );
}

#[test]
fn gcp_kms_empty_ciphertext_and_echoed_token_are_refused() {
    let mode = Arc::new(AtomicU8::new(EMPTY));
    let server = kms(Arc::clone(&mode));
    let home = tempfile::tempdir().expect("home");
    let work = tempfile::tempdir().expect("work");
    let plain = b"db_password: gcp-s3cret\n";
    std::fs::write(work.path().join("g.yaml"), plain).expect("write");
    let mut vars = env_vars(None, home.path());
    vars.remove("SOPS_AGE_KEY_FILE");
    vars.insert("SOPS_GCP_KMS_ENDPOINT".into(), server.url());
    vars.insert("GOOGLE_OAUTH_ACCESS_TOKEN".into(), TOKEN.into());
    vars.insert(rest::RETRY_DELAY_VAR.into(), "5".into());
    let encrypt = ["encrypt", "-i", "--gcp-kms", RESOURCE, "g.yaml"];

    // An empty wrapped key would make a file nobody can decrypt: exit 23, nothing written.
    let out = run_in(&vars, work.path(), &encrypt);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(23), "{err}");
    assert!(err.contains("cannot be used: it is empty"), "{err}");
    assert_eq!(
        std::fs::read(work.path().join("g.yaml")).expect("read"),
        plain
    );

    // The token quoted back is masked, and the server's text stays on its line.
    mode.store(ECHO, Ordering::SeqCst);
    let out = run_in(&vars, work.path(), &encrypt);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(23), "{err}");
    assert!(!err.contains(TOKEN), "token leaked: {err}");
    assert!(
        err.contains("token [redacted] denied hint: forged"),
        "{err}"
    );
    assert!(
        !err.lines()
            .any(|l| l.trim_start().starts_with("hint: forged")),
        "{err}"
    );
    assert_eq!(
        std::fs::read(work.path().join("g.yaml")).expect("read"),
        plain
    );
}
