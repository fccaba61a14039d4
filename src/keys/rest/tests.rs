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
