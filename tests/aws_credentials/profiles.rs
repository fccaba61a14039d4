//! Environment keys, profiles, role chains, credential_process, and the list of sources tried.

use super::*;

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
