//! Every AWS credential source, through the CLI (`leafseal encrypt --kms` / `decrypt`),
//! with a cleared environment and a temporary HOME. KMS and STS are a real `moto_server`
//! on 127.0.0.1 (`support/moto.rs`); the endpoints moto does not provide (EC2 instance
//! metadata, ECS/EKS container credentials, the IAM Identity Center portal, a proxy that
//! records where a FIPS call would go) are scripted loopback servers speaking the
//! documented protocol (`support/loopback.rs`). The production client code is unchanged.

#[path = "../src/keys/hcvault/bao.rs"]
#[allow(dead_code)]
mod bao;
#[path = "support/loopback.rs"]
mod loopback;
#[path = "support/moto.rs"]
mod moto;
mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::Output;

use loopback::Server;
use moto::Moto;

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "SESSIONTOKENleafsealTEST0123456789";
const PLAIN: &[u8] = b"db_password: hunter2-very-secret\n";

/// A hermetic environment: HOME, PATH, no instance metadata, fast retries, and KMS at
/// `kms_url` (if any).
fn vars(home: &Path, kms_url: Option<&str>) -> HashMap<String, String> {
    let mut v = HashMap::new();
    v.insert("HOME".to_owned(), home.display().to_string());
    v.insert("PATH".to_owned(), std::env::var("PATH").unwrap_or_default());
    v.insert("AWS_EC2_METADATA_DISABLED".to_owned(), "true".to_owned());
    v.insert("LEAFSEAL_AWS_RETRY_DELAY_MS".to_owned(), "10".to_owned());
    v.insert("LEAFSEAL_AWS_TIMEOUT_SECS".to_owned(), "5".to_owned());
    if let Some(u) = kms_url {
        v.insert("AWS_ENDPOINT_URL_KMS".to_owned(), u.to_owned());
    }
    v
}

fn set(v: &mut HashMap<String, String>, pairs: &[(&str, &str)]) {
    for (k, val) in pairs {
        v.insert((*k).to_owned(), (*val).to_owned());
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_clean(text: &str) {
    for s in [SECRET, TOKEN, "hunter2", "Signature="] {
        assert!(!text.contains(s), "output leaks `{s}`: {text}");
    }
}

/// Encrypts `s.yaml` in `work` to `kms` (extra flags before the file), checks it is
/// encrypted, then decrypts it and checks the plaintext.
fn round_trip(v: &HashMap<String, String>, work: &Path, kms: &str, extra: &[&str]) -> String {
    std::fs::write(work.join("s.yaml"), PLAIN).expect("write");
    let mut args = vec!["encrypt", "-i", "--kms", kms];
    args.extend_from_slice(extra);
    args.push("s.yaml");
    let out = support::run_in(v, work, &args);
    assert!(out.status.success(), "encrypt: {}", stderr(&out));
    let enc = std::fs::read_to_string(work.join("s.yaml")).expect("read");
    assert!(enc.contains("kms:") && !enc.contains("hunter2"), "{enc}");
    let out = support::run_in(v, work, &["decrypt", "s.yaml"]);
    assert!(out.status.success(), "decrypt: {}", stderr(&out));
    assert_eq!(out.stdout, PLAIN);
    enc
}

fn write_aws(home: &Path, name: &str, text: &str) {
    std::fs::create_dir_all(home.join(".aws")).expect("mkdir");
    std::fs::write(home.join(".aws").join(name), text).expect("write");
}

fn dirs() -> (tempfile::TempDir, tempfile::TempDir) {
    (
        tempfile::tempdir().expect("home"),
        tempfile::tempdir().expect("work"),
    )
}

#[test]
fn aws_env_keys_and_session_token() {
    let moto = Moto::start();
    let arn = moto.create_key();
    let (home, work) = dirs();
    let mut v = vars(home.path(), Some(&moto.url));
    set(
        &mut v,
        &[
            ("AWS_ACCESS_KEY_ID", "AKIDENVTEST"),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
            ("AWS_SESSION_TOKEN", TOKEN),
        ],
    );
    round_trip(&v, work.path(), &arn, &[]);

    // The session token is sent (X-Amz-Security-Token): seen by a recording KMS.
    let kms = Server::start(|_| (400, r#"{"__type":"AccessDeniedException"}"#.to_owned()));
    let mut rec = v.clone();
    rec.insert("AWS_ENDPOINT_URL_KMS".to_owned(), kms.url.clone());
    let out = support::run_in(&rec, work.path(), &["decrypt", "s.yaml"]);
    assert_eq!(out.status.code(), Some(128));
    let seen = kms.seen();
    assert!(!seen.is_empty());
    assert_eq!(
        seen[0].header("x-amz-security-token").as_deref(),
        Some(TOKEN)
    );
    assert!(
        seen[0]
            .header("authorization")
            .is_some_and(|a| a.contains("Credential=AKIDENVTEST/")),
        "{seen:?}"
    );
    let err = stderr(&out);
    assert!(
        err.contains("environment variables AWS_ACCESS_KEY_ID"),
        "{err}"
    );
    assert_clean(&err);
}

#[test]
fn aws_no_credentials_lists_every_source_tried() {
    let (home, work) = dirs();
    let mut v = vars(home.path(), Some("http://127.0.0.1:9"));
    set(
        &mut v,
        &[("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/ci")],
    );
    std::fs::write(work.path().join("s.yaml"), PLAIN).expect("write");
    let arn = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000";
    let out = support::run_in(&v, work.path(), &["encrypt", "--kms", arn, "s.yaml"]);
    assert_ne!(out.status.code(), Some(0));
    let err = stderr(&out);
    for reason in [
        "no AWS credentials found. Tried, in order:",
        "environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set",
        "web identity: AWS_ROLE_ARN is set but AWS_WEB_IDENTITY_TOKEN_FILE is not",
        "profile `default`: not found in",
        "ECS/EKS container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "EC2 instance metadata (IMDSv2): disabled by AWS_EC2_METADATA_DISABLED=true",
        "leafseal doctor",
    ] {
        assert!(err.contains(reason), "missing `{reason}` in: {err}");
    }
    // In order.
    let pos = |s: &str| err.find(s).expect(s);
    assert!(pos("environment:") < pos("web identity:"));
    assert!(pos("web identity:") < pos("profile `default`"));
    assert!(pos("profile `default`") < pos("ECS/EKS"));
    assert!(pos("ECS/EKS") < pos("EC2 instance metadata"));
}

#[test]
fn aws_profile_flag() {
    let moto = Moto::start();
    let arn = moto.create_key();
    let (home, work) = dirs();
    write_aws(
        home.path(),
        "credentials",
        &format!("[dev]\naws_access_key_id = AKIDPROFILEDEV\naws_secret_access_key = {SECRET}\n"),
    );
    // A default profile with settings only: not a credential source, and not an error.
    write_aws(home.path(), "config", "[default]\nregion = us-east-1\n");
    let v = vars(home.path(), Some(&moto.url));
    let enc = round_trip(&v, work.path(), &arn, &["--aws-profile", "dev"]);
    assert!(enc.contains("aws_profile: dev"), "{enc}");

    // AWS_PROFILE picks the profile when the entry names none.
    std::fs::write(work.path().join("t.yaml"), PLAIN).expect("write");
    let mut env_profile = v.clone();
    env_profile.insert("AWS_PROFILE".to_owned(), "dev".to_owned());
    let out = support::run_in(
        &env_profile,
        work.path(),
        &["encrypt", "-i", "--kms", &arn, "t.yaml"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = support::run_in(&env_profile, work.path(), &["decrypt", "t.yaml"]);
    assert_eq!(out.stdout, PLAIN, "{}", stderr(&out));
    // Without it, the default chain finds nothing: the default profile holds no keys.
    let out = support::run_in(&v, work.path(), &["decrypt", "t.yaml"]);
    assert_eq!(out.status.code(), Some(128));
    assert!(
        stderr(&out).contains("profile `default`: has no credentials"),
        "{}",
        stderr(&out)
    );

    // A profile that does not exist is named.
    std::fs::write(work.path().join("u.yaml"), PLAIN).expect("write");
    let out = support::run_in(
        &v,
        work.path(),
        &["encrypt", "--kms", &arn, "--aws-profile", "nope", "u.yaml"],
    );
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("AWS profile `nope` not found"),
        "{}",
        stderr(&out)
    );
    assert_clean(&stderr(&out));
}

#[test]
fn aws_role_arn_source_profile_chain() {
    let moto = Moto::start();
    let arn = moto.create_key();
    let (home, work) = dirs();
    write_aws(
        home.path(),
        "credentials",
        &format!("[base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = {SECRET}\n"),
    );
    write_aws(
        home.path(),
        "config",
        "[profile mid]\nrole_arn = arn:aws:iam::222222222222:role/mid\nsource_profile = base\n\
         [profile top]\nrole_arn = arn:aws:iam::123456789012:role/top\nsource_profile = mid\n\
         [profile foreign]\nrole_arn = arn:aws:iam::111111111111:role/x\nsource_profile = mid\n\
         [profile loop-a]\nrole_arn = arn:aws:iam::123456789012:role/a\nsource_profile = loop-b\n\
         [profile loop-b]\nrole_arn = arn:aws:iam::123456789012:role/b\nsource_profile = loop-a\n",
    );
    // KMS and STS both at moto (AWS_ENDPOINT_URL covers STS).
    let mut v = vars(home.path(), None);
    v.insert("AWS_ENDPOINT_URL".to_owned(), moto.url.clone());
    // Two hops: base → mid (account 2222…) → top (account 1234…, where the key lives).
    round_trip(&v, work.path(), &arn, &["--aws-profile", "top"]);

    // The last role decides the account: a role elsewhere cannot see the key, which
    // proves the chain's credentials are the ones used.
    let mut foreign = v.clone();
    foreign.insert("AWS_PROFILE".to_owned(), "foreign".to_owned());
    std::fs::write(work.path().join("f.yaml"), PLAIN).expect("write");
    let out = support::run_in(&foreign, work.path(), &["encrypt", "--kms", &arn, "f.yaml"]);
    assert_ne!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(err.contains("NotFoundException"), "{err}");
    assert!(
        err.contains("role arn:aws:iam::111111111111:role/x assumed with profile `mid`"),
        "{err}"
    );
    assert_clean(&err);

    // A loop is refused, naming the path.
    let mut looped = v.clone();
    looped.insert("AWS_PROFILE".to_owned(), "loop-a".to_owned());
    let out = support::run_in(&looped, work.path(), &["encrypt", "--kms", &arn, "f.yaml"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("loop through source_profile: loop-a -> loop-b -> loop-a"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn aws_kms_role_suffix_and_encryption_context() {
    let moto = Moto::start();
    let arn = moto.create_key();
    let (home, work) = dirs();
    let mut v = vars(home.path(), None);
    v.insert("AWS_ENDPOINT_URL".to_owned(), moto.url.clone());
    set(
        &mut v,
        &[
            ("AWS_ACCESS_KEY_ID", "AKIDBASE"),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
        ],
    );
    let role = "arn:aws:iam::123456789012:role/sops";
    let enc = round_trip(
        &v,
        work.path(),
        &format!("{arn}+{role}"),
        &["--encryption-context", "app:web,env:prod"],
    );
    assert!(enc.contains(&format!("role: {role}")), "{enc}");
    assert!(
        enc.contains("app: web") && enc.contains("env: prod"),
        "{enc}"
    );
    // A role in another account: the assumed credentials are used (and fail).
    let foreign = enc.replace(role, "arn:aws:iam::999999999999:role/sops");
    std::fs::write(work.path().join("s.yaml"), foreign).expect("write");
    let out = support::run_in(&v, work.path(), &["decrypt", "s.yaml"]);
    assert_eq!(out.status.code(), Some(128));
    assert!(stderr(&out).contains("999999999999"), "{}", stderr(&out));
}

#[test]
fn aws_credential_process() {
    let moto = Moto::start();
    let arn = moto.create_key();
    let (home, work) = dirs();
    let script = home.path().join("creds.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s' '{{\"Version\": 1, \"AccessKeyId\": \"AKIDPROCESS\", \
             \"SecretAccessKey\": \"{SECRET}\", \"SessionToken\": \"{TOKEN}\"}}'\n"
        ),
    )
    .expect("write");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .expect("chmod");
    write_aws(
        home.path(),
        "config",
        &format!(
            "[profile proc]\ncredential_process = {}\n[profile broken]\ncredential_process = false\n",
            script.display()
        ),
    );
    let mut v = vars(home.path(), Some(&moto.url));
    v.insert("AWS_PROFILE".to_owned(), "proc".to_owned());
    round_trip(&v, work.path(), &arn, &[]);
    v.insert("AWS_PROFILE".to_owned(), "broken".to_owned());
    let out = support::run_in(&v, work.path(), &["decrypt", "s.yaml"]);
    assert_eq!(out.status.code(), Some(128));
    assert!(
        stderr(&out).contains("credential_process of profile `broken` failed"),
        "{}",
        stderr(&out)
    );
}

fn sso_cache(home: &Path, key_sha1: &str, expires: &str) {
    let dir = home.join(".aws/sso/cache");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join(format!("{key_sha1}.json")),
        format!(
            r#"{{"startUrl":"https://corp.awsapps.com/start","region":"us-east-1","accessToken":"sso-access-token-xyz","expiresAt":"{expires}"}}"#
        ),
    )
    .expect("write");
}

fn sha1_hex(s: &str) -> String {
    let out = std::process::Command::new("sha1sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().expect("stdin").write_all(s.as_bytes())?;
            c.wait_with_output()
        })
        .expect("sha1sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("digest")
        .to_owned()
}

#[test]
fn aws_sso_token_cache() {
    let moto = Moto::start();
    let arn = moto.create_key();
    let (home, work) = dirs();
    let portal = Server::start(|req| {
        let ok_path = req
            .line()
            .starts_with("GET /federation/credentials?account_id=123456789012&role_name=Deployer ");
        let ok_token =
            req.header("x-amz-sso_bearer_token").as_deref() == Some("sso-access-token-xyz");
        if !(ok_path && ok_token) {
            return (
                401,
                r#"{"message":"Session token not found or invalid"}"#.to_owned(),
            );
        }
        (
            200,
            format!(
                r#"{{"roleCredentials":{{"accessKeyId":"ASIASSOTEST","secretAccessKey":"{SECRET}","sessionToken":"{TOKEN}","expiration":4102444800000}}}}"#
            ),
        )
    });
    write_aws(
        home.path(),
        "config",
        "[profile sso]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = Deployer\n\
         [sso-session corp]\nsso_region = us-east-1\nsso_start_url = https://corp.awsapps.com/start\n\
         [profile legacy]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n\
         sso_account_id = 123456789012\nsso_role_name = Deployer\n",
    );
    let mut v = vars(home.path(), Some(&moto.url));
    v.insert("AWS_ENDPOINT_URL_SSO".to_owned(), portal.url.clone());
    v.insert("AWS_PROFILE".to_owned(), "sso".to_owned());

    // No token cached yet: the message says to log in.
    std::fs::write(work.path().join("s.yaml"), PLAIN).expect("write");
    let out = support::run_in(&v, work.path(), &["encrypt", "--kms", &arn, "s.yaml"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("run `aws sso login --profile sso`"),
        "{}",
        stderr(&out)
    );

    // The sso-session token (cache named by the SHA-1 of the session name).
    sso_cache(home.path(), &sha1_hex("corp"), "2099-01-01T00:00:00Z");
    round_trip(&v, work.path(), &arn, &[]);
    assert!(portal.seen().len() >= 2, "one portal call per run");

    // The legacy profile form (cache named by the SHA-1 of the start URL).
    sso_cache(
        home.path(),
        &sha1_hex("https://corp.awsapps.com/start"),
        "2099-01-01T00:00:00Z",
    );
    let mut legacy = v.clone();
    legacy.insert("AWS_PROFILE".to_owned(), "legacy".to_owned());
    let out = support::run_in(&legacy, work.path(), &["decrypt", "s.yaml"]);
    assert_eq!(out.stdout, PLAIN, "{}", stderr(&out));

    // An expired token: no call, a plain instruction.
    let calls = portal.seen().len();
    sso_cache(home.path(), &sha1_hex("corp"), "2020-01-01T00:00:00Z");
    let out = support::run_in(&v, work.path(), &["decrypt", "s.yaml"]);
    assert_eq!(out.status.code(), Some(128));
    let err = stderr(&out);
    assert!(
        err.contains("expired") && err.contains("aws sso login --profile sso"),
        "{err}"
    );
    assert!(!err.contains("sso-access-token-xyz"), "{err}");
    assert_eq!(portal.seen().len(), calls);
}

#[test]
fn aws_web_identity() {
    let moto = Moto::start();
    let arn = moto.create_key();
    let (home, work) = dirs();
    let token = home.path().join("token.jwt");
    std::fs::write(&token, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJyZXBvOngifQ.\n").expect("write");
    let mut v = vars(home.path(), None);
    v.insert("AWS_ENDPOINT_URL".to_owned(), moto.url.clone());
    set(
        &mut v,
        &[
            (
                "AWS_WEB_IDENTITY_TOKEN_FILE",
                token.to_str().expect("utf-8"),
            ),
            ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/gha"),
            ("AWS_ROLE_SESSION_NAME", "ci-run-1"),
        ],
    );
    round_trip(&v, work.path(), &arn, &[]);

    // A role in another account: the web-identity credentials are the ones used.
    let mut other = v.clone();
    other.insert(
        "AWS_ROLE_ARN".to_owned(),
        "arn:aws:iam::333333333333:role/gha".to_owned(),
    );
    let out = support::run_in(&other, work.path(), &["decrypt", "s.yaml"]);
    assert_eq!(out.status.code(), Some(128));
    let err = stderr(&out);
    assert!(
        err.contains("web identity role arn:aws:iam::333333333333:role/gha"),
        "{err}"
    );
    assert!(!err.contains("eyJ"), "token leaked: {err}");

    // A missing token file is named.
    let mut missing = v.clone();
    missing.insert(
        "AWS_WEB_IDENTITY_TOKEN_FILE".to_owned(),
        "/nonexistent/token".to_owned(),
    );
    let out = support::run_in(&missing, work.path(), &["decrypt", "s.yaml"]);
    assert_eq!(out.status.code(), Some(128));
    assert!(
        stderr(&out).contains("/nonexistent/token"),
        "{}",
        stderr(&out)
    );
}

fn container_server(expect_auth: &'static str) -> Server {
    Server::start(move |req| {
        if req.header("authorization").as_deref() != Some(expect_auth) {
            return (401, r#"{"message":"bad token"}"#.to_owned());
        }
        (
            200,
            format!(
                r#"{{"AccessKeyId":"ASIACONTAINER","SecretAccessKey":"{SECRET}","Token":"{TOKEN}","Expiration":"2099-01-01T00:00:00Z"}}"#
            ),
        )
    })
}

#[test]
fn aws_ecs_container_credentials() {
    let moto = Moto::start();
    let arn = moto.create_key();
    let (home, work) = dirs();
    let creds = container_server("ecs-auth-token");
    let mut v = vars(home.path(), Some(&moto.url));
    let uri = format!("{}/v2/credentials/abc", creds.url);
    set(
        &mut v,
        &[
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri.as_str()),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "ecs-auth-token"),
        ],
    );
    round_trip(&v, work.path(), &arn, &[]);
    assert!(
        creds.seen()[0]
            .line()
            .starts_with("GET /v2/credentials/abc ")
    );

    // A plain-http address that is neither loopback nor the ECS/EKS one is refused.
    v.insert(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI".to_owned(),
        "http://10.1.2.3/creds".to_owned(),
    );
    let out = support::run_in(&v, work.path(), &["decrypt", "s.yaml"]);
    assert_eq!(out.status.code(), Some(128));
    assert!(
        stderr(&out).contains("not a loopback or ECS/EKS address"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn aws_eks_pod_identity() {
    let moto = Moto::start();
    let arn = moto.create_key();
    let (home, work) = dirs();
    let creds = container_server("eks-pod-identity-token");
    // The agent's token is read from the file each run, as EKS rotates it.
    let token_file = home.path().join("eks-token");
    std::fs::write(&token_file, "eks-pod-identity-token\n").expect("write");
    let mut v = vars(home.path(), Some(&moto.url));
    let uri = format!("{}/v1/credentials", creds.url);
    set(
        &mut v,
        &[
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri.as_str()),
            (
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                token_file.to_str().expect("utf-8"),
            ),
            // The file wins over the variable.
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "stale"),
        ],
    );
    round_trip(&v, work.path(), &arn, &[]);
    let seen = creds.seen();
    assert!(
        seen.iter()
            .all(|r| r.header("authorization").as_deref() == Some("eks-pod-identity-token"))
    );

    std::fs::write(&token_file, "rotated-wrong-token\n").expect("write");
    let out = support::run_in(&v, work.path(), &["decrypt", "s.yaml"]);
    assert_eq!(out.status.code(), Some(128));
    let err = stderr(&out);
    assert!(
        err.contains("EKS Pod Identity") && err.contains("401"),
        "{err}"
    );
    assert!(!err.contains("rotated-wrong-token"), "{err}");
}

#[test]
fn aws_imds_v2() {
    let moto = Moto::start();
    let arn = moto.create_key();
    let (home, work) = dirs();
    let imds = Server::start(|req| {
        let line = req.line();
        if line.starts_with("PUT /latest/api/token ") {
            if req.header("x-aws-ec2-metadata-token-ttl-seconds").is_none() {
                return (400, String::new());
            }
            return (200, "imds-session-token".to_owned());
        }
        // IMDSv2 only: every GET needs the session token.
        if req.header("x-aws-ec2-metadata-token").as_deref() != Some("imds-session-token") {
            return (401, String::new());
        }
        if line.starts_with("GET /latest/meta-data/iam/security-credentials/ ") {
            return (200, "web-role\n".to_owned());
        }
        if line.starts_with("GET /latest/meta-data/iam/security-credentials/web-role ") {
            return (
                200,
                format!(
                    r#"{{"Code":"Success","AccessKeyId":"ASIAIMDS","SecretAccessKey":"{SECRET}","Token":"{TOKEN}"}}"#
                ),
            );
        }
        (404, String::new())
    });
    let mut v = vars(home.path(), Some(&moto.url));
    v.remove("AWS_EC2_METADATA_DISABLED");
    v.insert(
        "AWS_EC2_METADATA_SERVICE_ENDPOINT".to_owned(),
        imds.url.clone(),
    );
    round_trip(&v, work.path(), &arn, &[]);
    let seen = imds.seen();
    let lines: Vec<&str> = seen.iter().take(3).map(|s| s.line()).collect();
    assert!(lines[0].starts_with("PUT /latest/api/token "), "{lines:?}");
    assert!(lines[1].starts_with("GET /latest/meta-data/iam/security-credentials/ "));
    assert!(lines[2].starts_with("GET /latest/meta-data/iam/security-credentials/web-role "));
}

#[test]
fn aws_endpoint_url_kms() {
    let moto = Moto::start();
    let arn = moto.create_key();
    let (home, work) = dirs();
    let mut v = vars(home.path(), Some(&moto.url));
    // The service-specific variable wins over AWS_ENDPOINT_URL (a closed port here).
    v.insert(
        "AWS_ENDPOINT_URL".to_owned(),
        "http://127.0.0.1:9".to_owned(),
    );
    set(
        &mut v,
        &[
            ("AWS_ACCESS_KEY_ID", "AKIDEP"),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
        ],
    );
    round_trip(&v, work.path(), &arn, &[]);
    // Without it, AWS_ENDPOINT_URL is used, and the failure names the endpoint.
    v.remove("AWS_ENDPOINT_URL_KMS");
    v.insert("AWS_MAX_ATTEMPTS".to_owned(), "1".to_owned());
    let out = support::run_in(&v, work.path(), &["decrypt", "s.yaml"]);
    assert_eq!(out.status.code(), Some(128));
    assert!(
        stderr(&out).contains("connection refused"),
        "{}",
        stderr(&out)
    );
}

/// FIPS endpoints, observed without leaving the machine: HTTPS_PROXY points at a
/// loopback server that records the CONNECT target and refuses it.
#[test]
fn aws_fips_endpoint() {
    let proxy = Server::start(|_| (403, String::new()));
    let (home, work) = dirs();
    std::fs::write(work.path().join("s.yaml"), PLAIN).expect("write");
    let mut v = vars(home.path(), None);
    set(
        &mut v,
        &[
            ("AWS_ACCESS_KEY_ID", "AKIDFIPS"),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
            ("AWS_MAX_ATTEMPTS", "1"),
            ("HTTPS_PROXY", proxy.url.as_str()),
        ],
    );
    let arn = "arn:aws:kms:us-west-2:123456789012:key/00000000-0000-0000-0000-000000000000";
    let connect_target = |v: &HashMap<String, String>| {
        let before = proxy.seen().len();
        let out = support::run_in(v, work.path(), &["encrypt", "--kms", arn, "s.yaml"]);
        assert_ne!(out.status.code(), Some(0));
        assert_clean(&stderr(&out));
        let seen = proxy.seen();
        assert!(
            seen.len() > before,
            "no request reached the proxy: {}",
            stderr(&out)
        );
        seen[before].line().to_owned()
    };
    assert!(
        connect_target(&v).starts_with("CONNECT kms.us-west-2.amazonaws.com:443 "),
        "{:?}",
        proxy.seen()
    );
    let mut fips = v.clone();
    fips.insert("AWS_USE_FIPS_ENDPOINT".to_owned(), "true".to_owned());
    let line = connect_target(&fips);
    assert!(
        line.starts_with("CONNECT kms-fips.us-west-2.amazonaws.com:443 "),
        "{line}"
    );
    // The same from the config file's use_fips_endpoint.
    write_aws(
        home.path(),
        "config",
        "[default]\nuse_fips_endpoint = true\n",
    );
    let line = connect_target(&v);
    assert!(
        line.starts_with("CONNECT kms-fips.us-west-2.amazonaws.com:443 "),
        "{line}"
    );
}

/// `ca_bundle` in the config file (and AWS_CA_BUNDLE, which wins) make a private CA
/// trusted for KMS calls. The HTTPS server is OpenBao's dev TLS listener: it is no KMS,
/// so a trusted handshake shows as an HTTP error from it, an untrusted one as TLS.
#[test]
fn aws_ca_bundle() {
    let server = bao::Bao::start_tls();
    let ca = server.ca.clone().expect("CA file");
    let ca = ca.to_str().expect("utf-8").to_owned();
    let (home, work) = dirs();
    std::fs::write(work.path().join("s.yaml"), PLAIN).expect("write");
    let mut v = vars(home.path(), Some(&server.url));
    set(
        &mut v,
        &[
            ("AWS_ACCESS_KEY_ID", "AKIDCA"),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
        ],
    );
    let arn = "arn:aws:kms:us-east-1:000000000000:key/00000000-0000-0000-0000-000000000000";
    let encrypt = ["encrypt", "--kms", arn, "s.yaml"];
    let out = support::run_in(&v, work.path(), &encrypt);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("TLS"), "{}", stderr(&out));

    write_aws(
        home.path(),
        "config",
        &format!("[default]\nca_bundle = {ca}\n"),
    );
    let out = support::run_in(&v, work.path(), &encrypt);
    assert_ne!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(!err.contains("TLS") && err.contains("HTTP"), "{err}");
    assert_clean(&err);

    // AWS_CA_BUNDLE wins over the config file.
    v.insert(
        "AWS_CA_BUNDLE".to_owned(),
        "/nonexistent/bundle.pem".to_owned(),
    );
    let out = support::run_in(&v, work.path(), &encrypt);
    assert!(
        stderr(&out).contains("AWS_CA_BUNDLE=/nonexistent/bundle.pem"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn aws_imds_malformed_credentials_are_named_once_and_the_container_uri_must_be_loopback() {
    let (home, work) = dirs();
    let imds_with = |creds: &'static str| {
        Server::start(move |req| {
            let line = req.line();
            if line.starts_with("PUT /latest/api/token ") {
                return (200, "imds-session-token".to_owned());
            }
            if line.starts_with("GET /latest/meta-data/iam/security-credentials/ ") {
                return (200, "web-role\n".to_owned());
            }
            (200, creds.to_owned())
        })
    };
    std::fs::write(work.path().join("s.yaml"), PLAIN).expect("write");
    let arn = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000";
    let run = |imds: &Server| {
        let mut v = vars(home.path(), Some("http://127.0.0.1:9"));
        v.remove("AWS_EC2_METADATA_DISABLED");
        set(&mut v, &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds.url)]);
        let out = support::run_in(&v, work.path(), &["encrypt", "--kms", arn, "s.yaml"]);
        assert_ne!(out.status.code(), Some(0));
        stderr(&out)
    };
    let err = run(&imds_with("{not json"));
    assert!(err.contains("malformed"), "{err}");
    assert!(
        !err.contains("EC2 instance metadata (IMDSv2): EC2 instance metadata (IMDSv2)"),
        "{err}"
    );
    // A session token with a line break cannot be sent: said so, not retried.
    let err = run(&imds_with(
        r#"{"Code":"Success","AccessKeyId":"ASIAIMDS","SecretAccessKey":"s3cr3tKEYs3cr3t","Token":"tok\r\nX-Evil: 1"}"#,
    ));
    assert!(err.contains("no request was sent"), "{err}");
    assert!(
        !err.contains("attempts") && !err.contains("s3cr3tKEY"),
        "{err}"
    );

    // A host that only starts with `127.` is not loopback: no plain-http request to it.
    let mut v = vars(home.path(), Some("http://127.0.0.1:9"));
    set(
        &mut v,
        &[(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "http://127.0.0.1.evil.invalid/creds",
        )],
    );
    let out = support::run_in(&v, work.path(), &["encrypt", "--kms", arn, "s.yaml"]);
    assert_ne!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(
        err.contains("plain-http endpoint 127.0.0.1.evil.invalid is not a loopback"),
        "{err}"
    );
}
