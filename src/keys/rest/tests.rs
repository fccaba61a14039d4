use super::*;

#[test]
fn service_messages() {
    assert_eq!(
        service_message(r#"{"errors":["permission denied"]}"#).as_deref(),
        Some("permission denied")
    );
    assert_eq!(
        service_message(
            r#"{"error":{"code":403,"message":"Permission denied.","status":"PERMISSION_DENIED"}}"#
        )
        .as_deref(),
        Some("PERMISSION_DENIED: Permission denied.")
    );
    assert_eq!(
        service_message(r#"{"error":{"code":"Forbidden","message":"no access"}}"#).as_deref(),
        Some("Forbidden: no access")
    );
    assert_eq!(
        service_message(r#"{"error":"invalid_grant","error_description":"bad\nthing"}"#).as_deref(),
        Some("invalid_grant: bad thing")
    );
    assert_eq!(service_message("<html>"), None);
    assert_eq!(service_message(r#"{"error":{}}"#), None);
}

proptest::proptest! {
    /// The parsers of the cloud key sources never panic, whatever the input.
    #[test]
    fn parsers_never_panic(s in "\\PC{0,80}", b in proptest::collection::vec(proptest::num::u8::ANY, 0..80)) {
        let lossy = String::from_utf8_lossy(&b);
        for input in [s.as_str(), &lossy] {
            let _ = crate::keys::hcvault::VaultKey::parse(input);
            let _ = crate::keys::hcvault::AllowList::parse(input);
            let _ = crate::keys::gcpkms::GcpKmsKey::parse(input);
            let _ = crate::keys::azkv::AzureKey::parse(input);
            let _ = service_message(input);
            let _ = url_host(input);
            for prefix in ["https://v.vault.azure.net/keys/", "https://h:8200/v1/", "projects/"] {
                let joined = format!("{prefix}{input}");
                let _ = crate::keys::hcvault::VaultKey::parse(&joined);
                let _ = crate::keys::gcpkms::GcpKmsKey::parse(&joined);
                let _ = crate::keys::azkv::AzureKey::parse(&joined);
            }
        }
    }
}

#[test]
fn hosts() {
    assert_eq!(url_host("https://v.example:8200/v1/x"), "v.example");
    assert_eq!(url_host("http://[::1]:80/x"), "[::1]");
    assert_eq!(url_host("http://u:p@h/x"), "h");
    assert!(is_loopback_host("[::1]"));
    assert!(is_loopback_host("127.0.0.1"));
    assert!(is_loopback_host("LOCALHOST"));
    assert!(!is_loopback_host("169.254.169.254"));
}

#[test]
fn encoding() {
    assert_eq!(
        form(&[("a", "b c"), ("x", "1&2=3/+")]).as_str(),
        "a=b%20c&x=1%262%3D3%2F%2B"
    );
    assert_eq!(
        json_object(&[("k", "a\"b\\c\n")]).as_str(),
        r#"{"k":"a\"b\\c\u000a"}"#
    );
}

/// A server that quotes the whole request (headers and body, raw and decoded) in its
/// error message, as some services and every hostile one do.
fn echo_server() -> crate::keys::testhttp::Server {
    use crate::keys::testhttp::Resp;
    crate::keys::testhttp::Server::start(|req| {
        let mut quoted = String::new();
        for (k, v) in &req.headers {
            quoted.push_str(&format!("{k}={v}\n"));
        }
        let body = String::from_utf8_lossy(&req.body).into_owned();
        quoted.push_str(&body);
        for (k, v) in req.form() {
            quoted.push_str(&format!(" {k}={v}"));
        }
        Resp::json(403, serde_json::json!({"errors": [quoted]}))
    })
}

#[test]
fn credentials_a_service_quotes_back_are_redacted() {
    let srv = echo_server();
    let ctx = KeyContext::with_vars(crate::keys::testhttp::base_vars());
    let client = Client::get(&ctx);
    let url = format!("{}/v1/transit/decrypt/k", srv.url());
    let secrets = [
        "s.USERVAULTTOKEN0123456789abcdef",
        "ya29.USERGCPTOKEN_abcdefghijklmnop",
        "1//UserRefreshTokenABCDEFGHIJ",
        "GOCSPX-UserClientSecret/1+2",
        "UserHuaweiSecretKey0123456789",
        "UserAzureClientSecret~abcdefghijkl",
        "ZGF0YSBrZXkgYnl0ZXMgMDEyMzQ1Njc4OQ==",
    ];
    let bearer = format!("Bearer {}", secrets[1]);
    let form_body = form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", secrets[2]),
        ("client_secret", secrets[3]),
    ]);
    let requests = [
        Request::post(&url, Body::Json(json_object(&[("plaintext", secrets[6])])))
            .header("X-Vault-Token", secrets[0]),
        Request::get(&url).header("Authorization", &bearer),
        Request::post(&url, Body::Form(form_body)),
        Request::post(&url, Body::Form(form(&[("client_secret", secrets[5])]))),
        Request::post(&url, Body::Json(json_object(&[("key_id", "k")]))).secret(secrets[4]),
    ];
    for (i, req) in requests.iter().enumerate() {
        let reply = client.send(req).expect("an answer");
        let said = reply.describe();
        assert!(said.starts_with("HTTP 403: "), "{said}");
        // The last request names a secret it does not send: nothing to mask there.
        assert!(i == 4 || said.contains("[redacted]"), "request {i}: {said}");
        for s in secrets {
            assert!(!said.contains(s), "request {i} leaked {s}: {said}");
        }
        assert!(!said.contains('\n'), "{said}");
    }
    // The HuaweiCloud secret key is not sent: the server echoes it as if it knew it.
    let hc = crate::keys::testhttp::Server::start(|_| {
        crate::keys::testhttp::Resp::json(
            403,
            serde_json::json!({"error_msg": "sk UserHuaweiSecretKey0123456789"}),
        )
    });
    let hc_url = hc.url();
    let reply = client
        .send(&Request::get(&hc_url).secret(secrets[4]))
        .expect("an answer");
    assert_eq!(
        reply.shown("sk UserHuaweiSecretKey0123456789"),
        "sk [redacted]"
    );
}

#[test]
fn answers_that_cannot_be_used_are_not_retried_and_not_called_unreachable() {
    use crate::keys::testhttp::Resp;
    let huge = crate::keys::testhttp::Server::start(|_| Resp::text(200, &"x".repeat(1_100_000)));
    let ctx = KeyContext::with_vars(crate::keys::testhttp::base_vars());
    let client = Client::get(&ctx);
    let e = client
        .send(&Request::get(&huge.url()))
        .err()
        .expect("too large");
    assert_eq!(huge.requests().len(), 1, "downloaded once");
    let said = e.about(&huge.url());
    assert!(
        said.contains("cannot be used") && said.contains("larger than 1024 KiB"),
        "{said}"
    );
    assert!(
        !said.contains("unreachable") && !said.contains("attempts"),
        "{said}"
    );

    // A body that is not UTF-8 is the service's answer (its JSON does not parse), not a
    // network failure to retry.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let bad = format!("http://{}", listener.local_addr().expect("addr"));
    let served = std::thread::spawn(move || {
        use std::io::Read;
        use std::io::Write;
        let (mut s, _) = listener.accept().expect("one request");
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .expect("timeout");
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).is_ok_and(|n| n == 1) {
            head.push(byte[0]);
        }
        let _ = s.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\n{\"\xff\xfe\"}",
        );
    });
    let reply = client.send(&Request::get(&bad)).expect("an answer, once");
    served.join().expect("served");
    assert!(reply.ok());
    assert!(reply.json().is_err());

    // A credential with a line break cannot be sent: said so, once, without trying.
    let srv = echo_server();
    let e = client
        .send(&Request::get(&srv.url()).header("Authorization", "Bearer a\r\nX-Evil: 1"))
        .err()
        .expect("refused");
    assert_eq!(srv.requests().len(), 0);
    let said = e.about(&srv.url());
    assert!(
        said.starts_with(&format!("no request was sent to {}", srv.url())),
        "{said}"
    );
    assert!(said.contains("line break"), "{said}");
    // A token of hundreds of kilobytes does not fit a request.
    let big = format!("Bearer {}", "t".repeat(900_000));
    let e = client
        .send(&Request::get(&srv.url()).header("Authorization", &big))
        .err()
        .expect("too large");
    // Not retried (ureq may have begun the one attempt before its buffer overflowed).
    assert!(srv.requests().len() <= 1);
    assert!(e.about(&srv.url()).contains("too large"), "{}", e.0);
}

#[test]
fn key_material_fields_are_masked_whatever_their_spelling() {
    // HuaweiCloud KMS sends the data key as `plain_text`, AWS KMS as `Plaintext`: an
    // echoing server must not put either on the terminal (before round 22 `plain_text`
    // was shown as sent).
    let srv = echo_server();
    let ctx = KeyContext::with_vars(crate::keys::testhttp::base_vars());
    let client = Client::get(&ctx);
    let key = "ZGF0YSBrZXkgYnl0ZXMgMDEyMzQ1Njc4OQ==";
    let url = srv.url();
    for field in ["plain_text", "Plaintext", "PLAIN-TEXT", "client-secret"] {
        let req = Request::post(
            &url,
            Body::Json(json_object(&[("key_id", "k"), (field, key)])),
        );
        let said = client.send(&req).expect("an answer").describe();
        assert!(said.contains("[redacted]"), "{field}: {said}");
        assert!(!said.contains(key), "{field} leaked: {said}");
    }
}
