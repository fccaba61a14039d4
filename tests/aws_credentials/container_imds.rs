//! ECS and EKS container credentials and EC2 instance metadata (IMDSv2).

use super::*;

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
