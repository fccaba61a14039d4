//! Cloud KMS errors: the service's, credentials', a server that is down; the JWT check.

use super::*;

#[test]
fn service_errors_name_key_source_status_and_message() {
    let (srv, flaky) = fake_google();
    let c = ctx(&srv, &[("GOOGLE_OAUTH_ACCESS_TOKEN", "static-token")]);
    let denied =
        GcpKmsKey::parse("projects/p1/locations/global/keyRings/r1/cryptoKeys/denied").unwrap();
    let e = denied.wrap(&[1; 32], &c).unwrap_err();
    assert_eq!(
        e.message,
        "cannot encrypt the data key with GCP KMS key projects/p1/locations/global/keyRings/r1/cryptoKeys/denied \
         (token from GOOGLE_OAUTH_ACCESS_TOKEN): HTTP 403: PERMISSION_DENIED: Permission \
         'cloudkms.cryptoKeyVersions.useToEncrypt' denied on resource \
         'projects/p1/locations/global/keyRings/r1/cryptoKeys/denied' (or it may not exist)."
    );
    assert!(
        e.hint
            .unwrap()
            .contains("roles/cloudkms.cryptoKeyEncrypterDecrypter")
    );

    // 401 for a bad token; the token never appears.
    let bad = ctx(&srv, &[("GOOGLE_OAUTH_ACCESS_TOKEN", "ya29.secret-token")]);
    let e = GcpKmsKey::parse(KEY)
        .unwrap()
        .wrap(&[1; 32], &bad)
        .unwrap_err();
    assert!(e.message.contains("HTTP 401: UNAUTHENTICATED"), "{e}");
    assert!(!e.to_string().contains("ya29"));

    // 404 for an unknown key.
    let missing =
        GcpKmsKey::parse("projects/p1/locations/global/keyRings/r1/cryptoKeys/nope").unwrap();
    let e = missing.wrap(&[1; 32], &c).unwrap_err();
    assert!(e.message.contains("HTTP 404: NOT_FOUND"), "{e}");

    // 429 then success: retried.
    let k = GcpKmsKey::parse("projects/p1/locations/global/keyRings/r1/cryptoKeys/flaky").unwrap();
    let enc = k.wrap(&[9; 32], &c).unwrap();
    assert_eq!(flaky.load(Ordering::SeqCst), 2);
    assert_eq!(*k.unwrap(&enc, &c).unwrap(), [9; 32]);

    // Malformed JSON.
    let k =
        GcpKmsKey::parse("projects/p1/locations/global/keyRings/r1/cryptoKeys/garbled").unwrap();
    let e = k.wrap(&[1; 32], &c).unwrap_err();
    assert!(e.message.contains("the response is not valid JSON"), "{e}");

    // A damaged enc is refused locally.
    let e = GcpKmsKey::parse(KEY)
        .unwrap()
        .unwrap("not base64!", &c)
        .unwrap_err();
    assert!(e.message.contains("is not base64"), "{e}");
}

#[test]
fn credential_errors() {
    let (srv, _) = fake_google();
    let key = GcpKmsKey::parse(KEY).unwrap();
    // A refresh token the server rejects: the OAuth error is shown, the secret is not.
    let bad_user = authorized_user(&srv).replace("1//refresh", "1//revoked-secret");
    let e = key
        .wrap(&[1; 32], &ctx(&srv, &[("GOOGLE_CREDENTIALS", &bad_user)]))
        .unwrap_err();
    assert!(e.message.contains("GOOGLE_CREDENTIALS (inline JSON), authorized user: HTTP 400: invalid_grant: Bad Request"), "{e}");
    assert!(!e.to_string().contains("revoked-secret"));
    // A service-account key that is not the one the server knows: signature rejected.
    let other = service_account(&srv).replace(SA_EMAIL, "other@x.iam.gserviceaccount.com");
    let e = key
        .wrap(&[1; 32], &ctx(&srv, &[("GOOGLE_CREDENTIALS", &other)]))
        .unwrap_err();
    assert!(
        e.message
            .contains("HTTP 400: invalid_grant: Invalid JWT claims."),
        "{e}"
    );
    // Broken JSON, missing fields, unsupported types.
    for (json, msg) in [
        ("{", "is not valid credentials JSON"),
        (r#"{"type":"service_account"}"#, "has no `client_email`"),
        (r#"{"type":"external_account"}"#, "has no `audience`"),
        (
            r#"{"type":"gdch_service_account"}"#,
            "credentials of type `gdch_service_account` are not supported",
        ),
        (
            r#"{"type":"service_account","client_email":"a","private_key":"junk"}"#,
            "not a PEM private key",
        ),
    ] {
        let e = key
            .wrap(&[1; 32], &ctx(&srv, &[("GOOGLE_CREDENTIALS", json)]))
            .unwrap_err();
        assert!(e.message.contains(msg), "{json}: {e}");
        assert!(e.message.contains(KEY), "{e}");
    }
    // A missing credentials file.
    let e = key
        .wrap(
            &[1; 32],
            &ctx(
                &srv,
                &[("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/sa.json")],
            ),
        )
        .unwrap_err();
    assert!(
        e.message
            .contains("cannot read GOOGLE_APPLICATION_CREDENTIALS (file /nonexistent/sa.json)"),
        "{e}"
    );
}

#[test]
fn server_down() {
    let dead = testhttp::dead_url();
    let mut vars = testhttp::base_vars();
    vars.insert(ENDPOINT_VAR.into(), dead.clone());
    vars.insert("GOOGLE_OAUTH_ACCESS_TOKEN".into(), "t".into());
    let c = KeyContext::with_vars(vars);
    let e = GcpKmsKey::parse(KEY)
        .unwrap()
        .wrap(&[1; 32], &c)
        .unwrap_err();
    assert!(
        e.message.contains(&format!(
            "{dead} is unreachable: connection refused (after 3 attempts)"
        )),
        "{e}"
    );
}

#[test]
fn jwt_is_verifiable() {
    let jwt = token::sign_jwt(
        TEST_KEY,
        SA_EMAIL,
        Some("test-key-id"),
        "https://t/token",
        1_700_000_000,
    )
    .unwrap();
    let claims = verify_jwt(&jwt).unwrap();
    assert_eq!(claims["iss"], SA_EMAIL);
    assert_eq!(claims["aud"], "https://t/token");
    assert_eq!(claims["exp"], 1_700_003_600u64);
    let mut tampered = jwt.to_string();
    tampered.insert(30, 'x');
    assert!(verify_jwt(&tampered).is_none());
}
