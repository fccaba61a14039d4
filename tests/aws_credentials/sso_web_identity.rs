//! The IAM Identity Center token cache and web-identity tokens.

use super::*;

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
