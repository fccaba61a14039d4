//! HuaweiCloud KMS (`hckms`) through the CLI against a loopback KMS that checks every
//! request's AK/SK signature (`SDK-HMAC-SHA256`, recomputed here from the request as
//! received, independently of leafseal's signer) and wraps/unwraps the data key.
//!
//! The pinned sops 3.11.0 has no HuaweiCloud KMS (it came in sops 3.12), so there is no
//! differential run; the metadata layout is checked against sops's (`key_id`,
//! `created_at`, `enc`).

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
use std::sync::Arc;
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::Hmac;
use hmac::Mac;
use sha2::Digest;
use sha2::Sha256;
use support::*;
use testhttp::Req;
use testhttp::Resp;

const AK: &str = "HPUAEXAMPLEACCESSKEY";
const SK: &str = "sk-never-printed-0123456789abcdef";
const PROJECT: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
const REGION: &str = "tr-west-1";
const UUID: &str = "0d0466b0-e727-4d9c-b35d-f84bb474a37f";
const UUID2: &str = "7c1f3c55-2b8e-4d2e-9a4a-3c3b1d2e9f00";

fn key_id(uuid: &str) -> String {
    format!("{REGION}:{uuid}")
}

/// Percent-encoding of the algorithm: unreserved `A-Za-z0-9-_.~` kept, the rest `%XX`.
fn esc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Recomputes the signature of `req` with `sk`, from the `SignedHeaders` it names, and
/// says what is wrong (None when it verifies).
fn verify(req: &Req, sk: &str) -> Option<String> {
    let auth = req.header("authorization")?.to_owned();
    let rest = auth.strip_prefix("SDK-HMAC-SHA256 ")?;
    let mut parts: HashMap<&str, &str> = HashMap::new();
    for p in rest.split(", ") {
        let (k, v) = p.split_once('=')?;
        parts.insert(k, v);
    }
    if parts.get("Access") != Some(&AK) {
        return Some("wrong access key".into());
    }
    let signed: Vec<&str> = parts.get("SignedHeaders")?.split(';').collect();
    for needed in ["host", "x-sdk-date", "x-project-id", "content-type"] {
        if !signed.contains(&needed) {
            return Some(format!("{needed} is not signed"));
        }
    }
    let mut headers = String::new();
    for name in &signed {
        let v = req.header(name)?;
        headers.push_str(&format!("{name}:{}\n", v.trim()));
    }
    let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
    let mut uri: String = path.split('/').map(esc).collect::<Vec<_>>().join("/");
    if !uri.ends_with('/') {
        uri.push('/');
    }
    let mut q: Vec<String> = query
        .split('&')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    q.sort();
    let canonical = format!(
        "{}\n{}\n{}\n{}\n{}\n{:x}",
        req.method,
        uri,
        q.join("&"),
        headers,
        signed.join(";"),
        Sha256::digest(&req.body)
    );
    let date = req.header("x-sdk-date")?;
    let sts = format!(
        "SDK-HMAC-SHA256\n{date}\n{:x}",
        Sha256::digest(canonical.as_bytes())
    );
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(sk.as_bytes()).ok()?;
    mac.update(sts.as_bytes());
    let expect = hex(&mac.finalize().into_bytes());
    (parts.get("Signature") != Some(&expect.as_str())).then(|| "signature mismatch".into())
}

fn err(status: u16, code: &str, msg: &str) -> Resp {
    Resp::json(
        status,
        serde_json::json!({"error": {"error_code": code, "error_msg": msg}}),
    )
}

/// A KMS holding the keys UUID and UUID2: "encryption" is base64 of `uuid|plaintext`.
fn kms(seen: Arc<Mutex<Vec<String>>>) -> testhttp::Server {
    testhttp::Server::start(move |req| {
        if let Some(why) = verify(req, SK) {
            return err(
                401,
                "APIGW.0301",
                &format!("Incorrect IAM authentication information: {why}"),
            );
        }
        if req.method != "POST" || req.header("x-project-id") != Some(PROJECT) {
            return err(400, "KMS.0201", "bad request");
        }
        let body = req.json();
        if body["encryption_algorithm"] != "SYMMETRIC_DEFAULT" {
            return err(400, "KMS.0201", "bad algorithm");
        }
        let kid = body["key_id"].as_str().unwrap_or("").to_owned();
        if kid != UUID && kid != UUID2 {
            return err(404, "KMS.0207", "key not found");
        }
        if let Ok(mut s) = seen.lock() {
            s.push(format!("{} {kid}", req.path()));
        }
        if req.path() == format!("/v1.0/{PROJECT}/kms/encrypt-data") {
            let plain = body["plain_text"].as_str().unwrap_or("");
            let ct = STANDARD.encode(format!("{kid}|{plain}"));
            Resp::json(200, serde_json::json!({"key_id": kid, "cipher_text": ct}))
        } else if req.path() == format!("/v1.0/{PROJECT}/kms/decrypt-data") {
            let ct = STANDARD
                .decode(body["cipher_text"].as_str().unwrap_or(""))
                .unwrap_or_default();
            let ct = String::from_utf8_lossy(&ct).into_owned();
            match ct.split_once('|') {
                Some((k, p)) if k == kid => Resp::json(
                    200,
                    serde_json::json!({"key_id": kid, "plain_text": p, "plain_text_base64": STANDARD.encode(p)}),
                ),
                _ => err(400, "KMS.0206", "decryption failed"),
            }
        } else {
            err(404, "APIGW.0101", "The API does not exist")
        }
    })
}

fn vars_for(server: &testhttp::Server, home: &std::path::Path) -> HashMap<String, String> {
    let mut vars = env_vars(None, home);
    vars.remove("SOPS_AGE_KEY_FILE");
    vars.insert("HUAWEICLOUD_SDK_AK".into(), AK.into());
    vars.insert("HUAWEICLOUD_SDK_SK".into(), SK.into());
    vars.insert("HUAWEICLOUD_SDK_PROJECT_ID".into(), PROJECT.into());
    vars.insert("HUAWEICLOUD_SDK_REGION_KMS_TR_WEST_1".into(), server.url());
    vars.insert(rest::RETRY_DELAY_VAR.into(), "1".into());
    vars
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn encrypt_decrypt_with_signed_requests_and_sops_metadata_layout() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = kms(Arc::clone(&seen));
    let home = tempfile::tempdir().expect("home");
    let work = tempfile::tempdir().expect("work");
    let plain = "db_password: hc-s3cret\n";
    std::fs::write(work.path().join("h.yaml"), plain).expect("write");
    let vars = vars_for(&server, home.path());

    ok(&run_in(
        &vars,
        work.path(),
        &["encrypt", "-i", "--hckms", &key_id(UUID), "h.yaml"],
    ));
    let text = std::fs::read_to_string(work.path().join("h.yaml")).expect("read");
    assert!(!text.contains("hc-s3cret"), "{text}");
    // sops 3.13's layout: a `hckms` list whose entries are created_at, enc, key_id (keys
    // in byte order, as sops >= 3.13 writes every metadata mapping), enc being the KMS's
    // cipher_text as returned.
    let start = text.find("    hckms:\n").expect("hckms entry");
    let entry: Vec<&str> = text[start..].lines().skip(1).take(3).collect();
    assert!(
        entry[0].starts_with("        - created_at: \"20"),
        "{entry:?}"
    );
    let enc = entry[1].strip_prefix("          enc: ").expect("enc");
    let unwrapped = String::from_utf8(STANDARD.decode(enc).expect("b64")).expect("utf8");
    assert!(unwrapped.starts_with(&format!("{UUID}|")), "{unwrapped}");
    assert_eq!(entry[2], format!("          key_id: {REGION}:{UUID}"));
    assert_eq!(
        ok(&run_in(&vars, work.path(), &["decrypt", "h.yaml"])),
        plain
    );
    let log = seen.lock().expect("log").clone();
    assert_eq!(
        log,
        [
            format!("/v1.0/{PROJECT}/kms/encrypt-data {UUID}"),
            format!("/v1.0/{PROJECT}/kms/decrypt-data {UUID}"),
        ]
    );

    // The key list from SOPS_HUAWEICLOUD_KMS_IDS, with two keys.
    std::fs::write(work.path().join("e.json"), "{\"a\": \"b\"}\n").expect("write");
    let mut env_ids = vars.clone();
    env_ids.insert(
        "SOPS_HUAWEICLOUD_KMS_IDS".into(),
        format!("{}, {}", key_id(UUID), key_id(UUID2)),
    );
    ok(&run_in(&env_ids, work.path(), &["encrypt", "-i", "e.json"]));
    let json = std::fs::read_to_string(work.path().join("e.json")).expect("read");
    assert_eq!(json.matches("\"key_id\":").count(), 2, "{json}");
    assert!(
        json.contains(&format!("\"key_id\": \"{REGION}:{UUID2}\"")),
        "{json}"
    );
    assert_eq!(
        ok(&run_in(&vars, work.path(), &["decrypt", "e.json"])),
        "{\n\t\"a\": \"b\"\n}\n"
    );

    // A wrong secret key: the server rejects the signature; exit 128, a clear message,
    // no secret key in it.
    let mut bad = vars.clone();
    bad.insert("HUAWEICLOUD_SDK_SK".into(), "another-secret-key-xyz".into());
    let out = run_in(&bad, work.path(), &["decrypt", "h.yaml"]);
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(128), "{e}");
    assert!(
        e.contains("APIGW.0301") && e.contains("HUAWEICLOUD_SDK_SK"),
        "{e}"
    );
    assert!(
        !e.contains("another-secret-key-xyz") && !e.contains(SK),
        "{e}"
    );

    // No project ID: refused before any request, with the variable named.
    let mut noproj = vars.clone();
    noproj.remove("HUAWEICLOUD_SDK_PROJECT_ID");
    let out = run_in(&noproj, work.path(), &["decrypt", "h.yaml"]);
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(128), "{e}");
    assert!(e.contains("HUAWEICLOUD_SDK_PROJECT_ID"), "{e}");

    // A malformed key ID is refused with the expected shape.
    std::fs::write(work.path().join("x.yaml"), "a: 1\n").expect("write");
    let out = run_in(
        &vars,
        work.path(),
        &["encrypt", "--hckms", "no-colon", "x.yaml"],
    );
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && e.contains("region:key-uuid"),
        "{e}"
    );
}

#[test]
fn age_plus_hckms_and_rotate_add_rm_hckms() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = kms(Arc::clone(&seen));
    let home = tempfile::tempdir().expect("home");
    let work = tempfile::tempdir().expect("work");
    let plain = "token: both-keys\n";
    std::fs::write(work.path().join("m.yaml"), plain).expect("write");
    let vars = vars_for(&server, home.path());
    let mut with_age = vars.clone();
    with_age.insert(
        "SOPS_AGE_KEY_FILE".into(),
        age_key_file().display().to_string(),
    );

    // age only, then rotate --add-hckms: the file gains the hckms entry.
    ok(&run_in(
        &with_age,
        work.path(),
        &["encrypt", "-i", "--age", AGE_RECIPIENT, "m.yaml"],
    ));
    ok(&run_in(
        &with_age,
        work.path(),
        &["rotate", "-i", "--add-hckms", &key_id(UUID), "m.yaml"],
    ));
    let text = std::fs::read_to_string(work.path().join("m.yaml")).expect("read");
    assert!(
        text.contains("age:") && text.contains(&format!("key_id: {REGION}:{UUID}")),
        "{text}"
    );

    // Without the age identity the hckms key opens it; with the KMS down, age does.
    assert_eq!(
        ok(&run_in(&vars, work.path(), &["decrypt", "m.yaml"])),
        plain
    );
    let mut down = with_age.clone();
    down.insert(
        "HUAWEICLOUD_SDK_REGION_KMS_TR_WEST_1".into(),
        testhttp::dead_url(),
    );
    assert_eq!(
        ok(&run_in(&down, work.path(), &["decrypt", "m.yaml"])),
        plain
    );

    // rotate --rm-hckms: the entry is gone and the hckms key alone no longer opens it.
    ok(&run_in(
        &with_age,
        work.path(),
        &["rotate", "-i", "--rm-hckms", &key_id(UUID), "m.yaml"],
    ));
    let text = std::fs::read_to_string(work.path().join("m.yaml")).expect("read");
    assert!(!text.contains("hckms") && text.contains("age:"), "{text}");
    assert_eq!(
        run_in(&vars, work.path(), &["decrypt", "m.yaml"])
            .status
            .code(),
        Some(128)
    );
    assert_eq!(
        ok(&run_in(&with_age, work.path(), &["decrypt", "m.yaml"])),
        plain
    );

    // A creation rule with an hckms key group entry.
    std::fs::write(
        work.path().join(".sops.yaml"),
        format!(
            "creation_rules:\n  - path_regex: '\\.env$'\n    key_groups:\n      - hckms:\n          - key_id: {REGION}:{UUID2}\n        age:\n          - {AGE_RECIPIENT}\n"
        ),
    )
    .expect("policy");
    std::fs::write(work.path().join("p.env"), "A=1\n").expect("write");
    ok(&run_in(&vars, work.path(), &["encrypt", "-i", "p.env"]));
    // The flat creation-rule form: `hckms: [REGION:UUID]`.
    std::fs::write(
        work.path().join("flat.sops.yaml"),
        format!("creation_rules:\n  - hckms: ['{REGION}:{UUID}']\n"),
    )
    .expect("policy");
    std::fs::write(work.path().join("f.yaml"), "f: 1\n").expect("write");
    ok(&run_in(
        &vars,
        work.path(),
        &["--config", "flat.sops.yaml", "encrypt", "-i", "f.yaml"],
    ));
    let flat = std::fs::read_to_string(work.path().join("f.yaml")).expect("read");
    assert!(flat.contains(&format!("key_id: {REGION}:{UUID}")), "{flat}");
    assert_eq!(
        ok(&run_in(&vars, work.path(), &["decrypt", "f.yaml"])),
        "f: 1\n"
    );
    let env = std::fs::read_to_string(work.path().join("p.env")).expect("read");
    assert!(
        env.contains(&format!("sops_hckms__list_0__map_key_id={REGION}:{UUID2}")),
        "{env}"
    );
    assert_eq!(
        ok(&run_in(&vars, work.path(), &["decrypt", "p.env"])),
        "A=1\n"
    );
}

#[test]
fn echoed_credentials_are_masked_and_an_empty_cipher_text_is_refused() {
    const SECURITY_TOKEN: &str = "UserHuaweiSecTok0123456789";
    let server = testhttp::Server::start(|req| {
        if req.path().ends_with("/kms/encrypt-data") {
            let kid = req.json()["key_id"].as_str().unwrap_or("").to_owned();
            if kid == UUID2 {
                return Resp::json(200, serde_json::json!({"key_id": kid, "cipher_text": ""}));
            }
        }
        err(
            403,
            "KMS.0203",
            &format!("sk {SK} tok {SECURITY_TOKEN}\nhint: forged by the server"),
        )
    });
    let home = tempfile::tempdir().expect("home");
    let work = tempfile::tempdir().expect("work");
    let plain = b"a: 1\n";
    std::fs::write(work.path().join("s.yaml"), plain).expect("write");
    let mut vars = vars_for(&server, home.path());
    vars.insert(
        "HUAWEICLOUD_SDK_SECURITY_TOKEN".into(),
        SECURITY_TOKEN.into(),
    );
    for (uuid, needle) in [
        (UUID, "sk [redacted] tok [redacted] hint: forged"),
        (UUID2, "cannot be used: it is empty"),
    ] {
        let out = run_in(
            &vars,
            work.path(),
            &["encrypt", "-i", "--hckms", &key_id(uuid), "s.yaml"],
        );
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(23), "{said}");
        assert!(said.contains(needle), "{said}");
        assert!(
            !said.contains(SK) && !said.contains(SECURITY_TOKEN),
            "{said}"
        );
        assert!(
            !said
                .lines()
                .any(|l| l.trim_start().starts_with("hint: forged")),
            "{said}"
        );
        assert_eq!(
            std::fs::read(work.path().join("s.yaml")).expect("read"),
            plain
        );
    }
}
