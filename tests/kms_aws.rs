//! The AWS KMS key source against a real `moto_server` on 127.0.0.1 (installed on first
//! use, see `support/moto.rs`), and against a scripted loopback server for retries and
//! malformed or hostile responses.

#![allow(clippy::unwrap_used)]

#[path = "support/moto.rs"]
mod moto;

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;
use std::time::Instant;

use leafseal::keys::KeyContext;
use leafseal::keys::MasterKey;
use leafseal::keys::awskms::KmsKey;
use leafseal::keys::awskms::parse_context;
use moto::Moto;

const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const ACCESS_KEY: &str = "AKIDLEAFSEALTEST";
const TOKEN: &str = "SESSIONTOKENleafsealTEST0123456789";
const DATA_KEY: [u8; 32] = [
    0x5a, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
    0x01, 0x12, 0x23, 0x34, 0x45, 0x56, 0x67, 0x78, 0x89, 0x9a, 0xab, 0xbc, 0xcd, 0xde, 0xef, 0xf0,
];

/// A hermetic context: a temporary HOME, no EC2 metadata, fast retries, and `extra`.
fn context(home: &std::path::Path, extra: &[(&str, &str)]) -> KeyContext {
    let mut vars: HashMap<String, String> = HashMap::new();
    vars.insert("HOME".into(), home.to_string_lossy().into_owned());
    vars.insert("AWS_EC2_METADATA_DISABLED".into(), "true".into());
    vars.insert("LEAFSEAL_AWS_RETRY_DELAY_MS".into(), "10".into());
    vars.insert("LEAFSEAL_AWS_TIMEOUT_SECS".into(), "5".into());
    for (k, v) in extra {
        vars.insert((*k).into(), (*v).into());
    }
    KeyContext::with_vars(vars)
}

fn env_keys(url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
        ("AWS_ENDPOINT_URL", url.into()),
    ]
}

fn ctx_with(home: &std::path::Path, vars: &[(&'static str, String)]) -> KeyContext {
    let refs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    context(home, &refs)
}

fn assert_no_secrets(text: &str) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(DATA_KEY);
    for s in [SECRET_KEY, TOKEN, "Signature=", b64.as_str()] {
        assert!(!text.contains(s), "message leaks `{s}`: {text}");
    }
}

#[test]
fn moto_round_trip_with_context_and_wrong_context() {
    let moto = Moto::start();
    let arn = moto.create_key();
    let home = tempfile::tempdir().unwrap();
    let ctx = ctx_with(home.path(), &env_keys(&moto.url));
    let context = parse_context("app:leafseal,env:test").unwrap();
    let key = KmsKey::new(arn.clone(), None, context, None).unwrap();
    let enc = key.wrap(&DATA_KEY, &ctx).unwrap();
    assert!(!enc.is_empty() && !enc.contains(char::is_whitespace));
    let plain = key.unwrap(&enc, &ctx).unwrap();
    assert_eq!(plain.as_slice(), &DATA_KEY);

    // A 33-byte Shamir share works the same way.
    let share = [9u8; 33];
    let enc2 = key.wrap(&share, &ctx).unwrap();
    assert_eq!(key.unwrap(&enc2, &ctx).unwrap().as_slice(), &share);

    // Same key, different context: KMS refuses, with a clear message.
    let wrong = key
        .clone()
        .with_context(parse_context("app:leafseal,env:prod").unwrap());
    let e = wrong.unwrap(&enc, &ctx).unwrap_err();
    let text = e.to_string();
    assert!(text.contains(&arn), "{text}");
    assert!(
        text.contains("HTTP 400 InvalidCiphertextException"),
        "{text}"
    );
    assert!(text.contains("encryption context must match"), "{text}");
    assert!(text.contains("environment variables"), "{text}");
    assert_no_secrets(&text);

    // No context at all also fails.
    let none = key.clone().with_context(BTreeMap::new());
    assert!(none.unwrap(&enc, &ctx).is_err());

    // A key that does not exist.
    let missing = KmsKey::parse(&arn.replace(
        arn.rsplit('/').next().unwrap(),
        "00000000-0000-0000-0000-000000000000",
    ))
    .unwrap();
    let e = missing.wrap(&DATA_KEY, &ctx).unwrap_err().to_string();
    assert!(e.contains("HTTP 400 NotFoundException"), "{e}");
    assert!(e.contains("check the key ARN"), "{e}");
}

#[test]
fn moto_profile_from_credentials_file_and_role_chain() {
    let moto = Moto::start();
    let arn = moto.create_key();
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".aws")).unwrap();
    std::fs::write(
        home.path().join(".aws/credentials"),
        format!(
            "[dev]\naws_access_key_id = AKIDPROFILEDEV\naws_secret_access_key = {SECRET_KEY}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        home.path().join(".aws/config"),
        "[profile same]\nrole_arn = arn:aws:iam::123456789012:role/same\nsource_profile = dev\n\
         [profile other]\nrole_arn = arn:aws:iam::111111111111:role/other\nsource_profile = dev\n",
    )
    .unwrap();
    // No credentials in the environment: only the profile can work.
    let ctx = ctx_with(home.path(), &[("AWS_ENDPOINT_URL", moto.url.clone())]);
    let plain = KmsKey::parse(&arn).unwrap();
    let e = plain.wrap(&DATA_KEY, &ctx).unwrap_err().to_string();
    assert!(e.contains("no AWS credentials found"), "{e}");

    let dev = plain.clone().with_profile(Some("dev".into()));
    let enc = dev.wrap(&DATA_KEY, &ctx).unwrap();
    assert_eq!(dev.unwrap(&enc, &ctx).unwrap().as_slice(), &DATA_KEY);

    // AWS_PROFILE selects the profile when the entry has none.
    let ctx_env = ctx_with(
        home.path(),
        &[
            ("AWS_ENDPOINT_URL", moto.url.clone()),
            ("AWS_PROFILE", "dev".into()),
        ],
    );
    assert_eq!(plain.unwrap(&enc, &ctx_env).unwrap().as_slice(), &DATA_KEY);

    // role_arn + source_profile: assumed through moto's STS.
    let same = plain.clone().with_profile(Some("same".into()));
    assert_eq!(same.unwrap(&enc, &ctx).unwrap().as_slice(), &DATA_KEY);
    // A role in another account gets credentials of that account, where the key does
    // not exist: proof that the assumed credentials are the ones used.
    let other = plain.clone().with_profile(Some("other".into()));
    let e = other.unwrap(&enc, &ctx).unwrap_err().to_string();
    assert!(e.contains("NotFoundException"), "{e}");
    assert!(
        e.contains(
            "profile `other` (role arn:aws:iam::111111111111:role/other assumed with profile `dev`)"
        ),
        "{e}"
    );
    assert_no_secrets(&e);
}

#[test]
fn moto_entry_role_and_web_identity() {
    let moto = Moto::start();
    let arn = moto.create_key();
    let home = tempfile::tempdir().unwrap();
    let ctx = ctx_with(home.path(), &env_keys(&moto.url));

    // The entry's `role`, assumed with STS AssumeRole.
    let key = KmsKey::parse(&format!("{arn}+arn:aws:iam::123456789012:role/sops")).unwrap();
    let enc = key.wrap(&DATA_KEY, &ctx).unwrap();
    assert_eq!(key.unwrap(&enc, &ctx).unwrap().as_slice(), &DATA_KEY);
    let foreign = KmsKey::parse(&format!("{arn}+arn:aws:iam::222222222222:role/sops")).unwrap();
    let e = foreign.unwrap(&enc, &ctx).unwrap_err().to_string();
    assert!(e.contains("NotFoundException"), "{e}");
    assert!(
        e.contains("role arn:aws:iam::222222222222:role/sops assumed with"),
        "{e}"
    );

    // Web identity: token file + role, no static keys at all.
    let token = home.path().join("token.jwt");
    std::fs::write(&token, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ0ZXN0In0.\n").unwrap();
    let wi = ctx_with(
        home.path(),
        &[
            ("AWS_ENDPOINT_URL", moto.url.clone()),
            (
                "AWS_WEB_IDENTITY_TOKEN_FILE",
                token.to_string_lossy().into_owned(),
            ),
            ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/ci".into()),
        ],
    );
    let plain = KmsKey::parse(&arn).unwrap();
    assert_eq!(plain.unwrap(&enc, &wi).unwrap().as_slice(), &DATA_KEY);
    let wi_other = ctx_with(
        home.path(),
        &[
            ("AWS_ENDPOINT_URL", moto.url.clone()),
            (
                "AWS_WEB_IDENTITY_TOKEN_FILE",
                token.to_string_lossy().into_owned(),
            ),
            ("AWS_ROLE_ARN", "arn:aws:iam::333333333333:role/ci".into()),
        ],
    );
    let e = plain.unwrap(&enc, &wi_other).unwrap_err().to_string();
    assert!(
        e.contains("web identity role arn:aws:iam::333333333333:role/ci"),
        "{e}"
    );
    assert!(!e.contains("eyJ"), "token leaked: {e}");
}

#[test]
fn server_down_fails_quickly_after_bounded_retries() {
    let port = moto::free_port();
    let home = tempfile::tempdir().unwrap();
    let ctx = ctx_with(home.path(), &env_keys(&format!("http://127.0.0.1:{port}")));
    let arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let key = KmsKey::parse(arn).unwrap();
    let start = Instant::now();
    let e = key.wrap(&DATA_KEY, &ctx).unwrap_err().to_string();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(e.contains(arn), "{e}");
    assert!(e.contains("connection refused"), "{e}");
    assert!(e.contains("after 3 attempts"), "{e}");
    assert!(e.contains("AWS_ENDPOINT_URL_KMS"), "{e}");
    assert_no_secrets(&e);
}

// ---------------------------------------------------------------------------------------
// A scripted loopback HTTP server: the shared one (tests/support/loopback.rs), with each
// answer also told the request's index.

#[path = "support/loopback.rs"]
mod loopback;

use loopback::Seen;

type Responder = dyn Fn(usize, &Seen) -> (u16, String) + Send + Sync;

struct Scripted {
    inner: loopback::Server,
    url: String,
    port: u16,
}

impl Scripted {
    fn start(respond: Box<Responder>) -> Scripted {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let inner =
            loopback::Server::start(move |req| respond(next.fetch_add(1, Ordering::SeqCst), req));
        let url = inner.url.clone();
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port of the loopback server");
        Scripted { inner, url, port }
    }

    fn seen(&self) -> Vec<Seen> {
        self.inner.seen()
    }
}

const FAKE_ARN: &str = "arn:aws:kms:eu-central-1:123456789012:key/abcd";

fn fake_ctx(home: &std::path::Path, url: &str) -> KeyContext {
    let mut vars = env_keys(url);
    vars.push(("AWS_SESSION_TOKEN", TOKEN.into()));
    ctx_with(home, &vars)
}

#[test]
fn throttling_then_success_is_retried_and_request_is_well_formed() {
    let server = Scripted::start(Box::new(|n, _| match n {
        0 => (
            429,
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.into(),
        ),
        1 => (
            400,
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.into(),
        ),
        _ => (
            200,
            format!(r#"{{"CiphertextBlob":"AQIDBA==","KeyId":"{FAKE_ARN}"}}"#),
        ),
    }));
    let home = tempfile::tempdir().unwrap();
    let ctx = fake_ctx(home.path(), &server.url);
    let key = KmsKey::parse(FAKE_ARN)
        .unwrap()
        .with_context(parse_context("k:v").unwrap());
    assert_eq!(key.wrap(&DATA_KEY, &ctx).unwrap(), "AQIDBA==");
    let seen = server.seen();
    assert_eq!(seen.len(), 3);
    let req = &seen[2];
    let head = req.head.to_ascii_lowercase();
    assert!(head.starts_with("post / http/1.1"), "{head}");
    assert!(
        head.contains("x-amz-target: trentservice.encrypt"),
        "{head}"
    );
    assert!(
        head.contains("content-type: application/x-amz-json-1.1"),
        "{head}"
    );
    assert!(
        head.contains(&format!("host: 127.0.0.1:{}", server.port)),
        "{head}"
    );
    assert!(head.contains(&format!(
        "x-amz-security-token: {}",
        TOKEN.to_ascii_lowercase()
    )));
    let auth = req
        .head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))
        .unwrap();
    assert!(
        auth.contains(&format!("Credential={ACCESS_KEY}/")),
        "{auth}"
    );
    assert!(auth.contains("/eu-central-1/kms/aws4_request"), "{auth}");
    assert!(
        auth.contains(
            "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target"
        ),
        "{auth}"
    );
    let body: serde_json::Value = serde_json::from_str(&req.body).unwrap();
    assert_eq!(body["KeyId"], FAKE_ARN);
    assert_eq!(body["EncryptionContext"]["k"], "v");
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(DATA_KEY);
    assert_eq!(body["Plaintext"], b64.as_str());

    // Decrypt sends the blob, the key ID and the context.
    let server = Scripted::start(Box::new(move |_, _| {
        (
            200,
            format!(r#"{{"Plaintext":"{b64}","KeyId":"{FAKE_ARN}"}}"#),
        )
    }));
    let ctx = fake_ctx(home.path(), &server.url);
    assert_eq!(key.unwrap("AQIDBA==", &ctx).unwrap().as_slice(), &DATA_KEY);
    let seen = server.seen();
    let body: serde_json::Value = serde_json::from_str(&seen[0].body).unwrap();
    assert_eq!(body["CiphertextBlob"], "AQIDBA==");
    assert_eq!(body["KeyId"], FAKE_ARN);
    assert_eq!(body["EncryptionContext"]["k"], "v");
    assert!(seen[0].head.contains("TrentService.Decrypt"));
}

#[test]
fn persistent_5xx_stops_after_three_attempts() {
    let server = Scripted::start(Box::new(|_, _| {
        (503, r#"{"__type":"KMSInternalException"}"#.into())
    }));
    let home = tempfile::tempdir().unwrap();
    let key = KmsKey::parse(FAKE_ARN).unwrap();
    let e = key
        .wrap(&DATA_KEY, &fake_ctx(home.path(), &server.url))
        .unwrap_err();
    assert_eq!(server.seen().len(), 3);
    let text = e.to_string();
    assert!(
        text.contains("HTTP 503 KMSInternalException (after 3 attempts)"),
        "{text}"
    );
    assert!(text.contains("retry later"), "{text}");
}

#[test]
fn access_denied_is_not_retried_and_echoed_secrets_are_scrubbed() {
    // A hostile server that echoes the whole request (signature, token, plaintext) back.
    let server = Scripted::start(Box::new(|_, req| {
        let echo = format!("{} {}", req.head, req.body);
        let msg = serde_json::Value::String(format!("denied; you sent {echo} with {SECRET_KEY}"));
        (
            403,
            format!(r#"{{"__type":"AccessDeniedException","message":{msg}}}"#),
        )
    }));
    let home = tempfile::tempdir().unwrap();
    let key = KmsKey::parse(FAKE_ARN).unwrap();
    let e = key
        .wrap(&DATA_KEY, &fake_ctx(home.path(), &server.url))
        .unwrap_err();
    assert_eq!(server.seen().len(), 1, "403 must not be retried");
    let text = e.to_string();
    assert!(text.contains(FAKE_ARN), "{text}");
    assert!(text.contains("HTTP 403 AccessDeniedException"), "{text}");
    assert!(text.contains("check AWS_PROFILE / credentials"), "{text}");
    assert_no_secrets(&text);
    assert!(!format!("{e:?}").contains(SECRET_KEY));
}

#[test]
fn malformed_responses_are_clear_errors() {
    for body in [
        "this is not json",
        r#"{"KeyId":"x"}"#,
        r#"{"CiphertextBlob":42}"#,
        r#"{"CiphertextBlob":"!!!"}"#,
        r#"{"Plaintext":"%%%"}"#,
    ] {
        let owned = body.to_owned();
        let server = Scripted::start(Box::new(move |_, _| (200, owned.clone())));
        let home = tempfile::tempdir().unwrap();
        let ctx = fake_ctx(home.path(), &server.url);
        let key = KmsKey::parse(FAKE_ARN).unwrap();
        let e = if body.contains("Plaintext") {
            key.unwrap("AQIDBA==", &ctx).unwrap_err()
        } else {
            key.wrap(&DATA_KEY, &ctx).unwrap_err()
        };
        let text = e.to_string();
        assert!(text.contains("malformed"), "{body}: {text}");
        assert!(text.contains(FAKE_ARN), "{text}");
        assert_eq!(server.seen().len(), 1);
    }
}

#[test]
fn ecs_container_credentials() {
    let moto = Moto::start();
    let arn = moto.create_key();
    let creds = Scripted::start(Box::new(|_, req| {
        if !req
            .head
            .to_ascii_lowercase()
            .contains("authorization: ecs-token-123")
        {
            return (401, "{}".into());
        }
        (
            200,
            format!(
                r#"{{"AccessKeyId":"ASIAECSTEST","SecretAccessKey":"{SECRET_KEY}","Token":"{TOKEN}","Expiration":"2099-01-01T00:00:00Z"}}"#
            ),
        )
    }));
    let home = tempfile::tempdir().unwrap();
    let ctx = ctx_with(
        home.path(),
        &[
            ("AWS_ENDPOINT_URL_KMS", moto.url.clone()),
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                format!("{}/creds", creds.url),
            ),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "ecs-token-123".into()),
        ],
    );
    let key = KmsKey::parse(&arn).unwrap();
    let enc = key.wrap(&DATA_KEY, &ctx).unwrap();
    assert_eq!(key.unwrap(&enc, &ctx).unwrap().as_slice(), &DATA_KEY);
    // Credentials are cached per run: one fetch for both calls.
    assert_eq!(creds.seen().len(), 1);
    assert!(creds.seen()[0].head.starts_with("GET /creds "));
}

#[test]
fn ec2_instance_metadata_v2_is_the_last_source() {
    let moto = Moto::start();
    let arn = moto.create_key();
    let imds = Scripted::start(Box::new(|_, req| {
        let head = req.head.to_ascii_lowercase();
        if head.starts_with("put /latest/api/token ") {
            assert!(head.contains("x-aws-ec2-metadata-token-ttl-seconds: 21600"));
            return (200, "imds-session-token".into());
        }
        if !head.contains("x-aws-ec2-metadata-token: imds-session-token") {
            return (401, String::new());
        }
        if head.starts_with("get /latest/meta-data/iam/security-credentials/ ") {
            return (200, "instance-role\n".into());
        }
        if head.starts_with("get /latest/meta-data/iam/security-credentials/instance-role ") {
            return (
                200,
                format!(
                    r#"{{"Code":"Success","AccessKeyId":"ASIAIMDSTEST","SecretAccessKey":"{SECRET_KEY}","Token":"{TOKEN}"}}"#
                ),
            );
        }
        (404, String::new())
    }));
    let home = tempfile::tempdir().unwrap();
    let mut vars = vec![
        ("AWS_ENDPOINT_URL_KMS", moto.url.clone()),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url.clone()),
    ];
    // `context` disables IMDS; enable it for this test.
    vars.push(("AWS_EC2_METADATA_DISABLED", "false".into()));
    let ctx = ctx_with(home.path(), &vars);
    let key = KmsKey::parse(&arn).unwrap();
    let enc = key.wrap(&DATA_KEY, &ctx).unwrap();
    assert_eq!(key.unwrap(&enc, &ctx).unwrap().as_slice(), &DATA_KEY);
    assert_eq!(
        imds.seen().len(),
        3,
        "token, role list, credentials; then cached"
    );
}
