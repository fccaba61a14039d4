//! Vault's TLS settings: skip-verify, bad CA settings, OpenBao over TLS.

use super::*;

// ---------------------------------------------------------------- TLS settings

#[test]
fn skip_verify_is_a_boolean() {
    let srv = fake_vault();
    let key = VaultKey::parse(&format!("{}/v1/transit/keys/k", srv.url())).unwrap();
    for (var, value) in [
        ("VAULT_SKIP_VERIFY", "true"),
        ("VAULT_SKIP_VERIFY", "1"),
        ("BAO_SKIP_VERIFY", "T"),
    ] {
        let c = ctx(&[("VAULT_TOKEN", "t"), (var, value)]);
        assert!(skip_verify(&c).unwrap(), "{var}={value}");
        assert_eq!(key.wrap(&[1], &c).unwrap(), "vault:v1:abc");
    }
    let before = srv.requests().len();
    let e = key
        .wrap(
            &[1],
            &ctx(&[("VAULT_TOKEN", "t"), ("VAULT_SKIP_VERIFY", "yes please")]),
        )
        .unwrap_err();
    assert!(
        e.message.contains("VAULT_SKIP_VERIFY is not a boolean"),
        "{e}"
    );
    assert_eq!(srv.requests().len(), before);
    // A false value is accepted (and, like the default, verifies).
    let c = ctx(&[("VAULT_TOKEN", "t"), ("VAULT_SKIP_VERIFY", "false")]);
    assert_eq!(key.wrap(&[1], &c).unwrap(), "vault:v1:abc");
}

#[test]
fn bad_ca_settings_fail_closed_naming_the_variable() {
    let srv = fake_vault();
    let key = VaultKey::parse(&format!("{}/v1/transit/keys/k", srv.url())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing-ca.pem");
    let text = dir.path().join("ca.txt");
    std::fs::write(&text, "not PEM\n").unwrap();
    let cut = dir.path().join("cut.pem");
    std::fs::write(&cut, &crate::keys::rest::tls::TEST_CA_PEM[..100]).unwrap();
    let good = dir.path().join("ca.pem");
    std::fs::write(&good, crate::keys::rest::tls::TEST_CA_PEM).unwrap();
    let empty_dir = tempfile::tempdir().unwrap();
    let s = |p: &std::path::Path| p.to_str().unwrap().to_owned();
    type Case<'a> = (Vec<(&'a str, String)>, String, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![("VAULT_CACERT", s(&missing))],
            format!("VAULT_CACERT={}", s(&missing)),
            "no such file",
        ),
        (
            vec![("VAULT_CACERT", s(&text))],
            format!("VAULT_CACERT={}", s(&text)),
            "no PEM certificate",
        ),
        (
            vec![("BAO_CACERT", s(&cut))],
            format!("BAO_CACERT={}", s(&cut)),
            "not valid PEM",
        ),
        (
            vec![("VAULT_CACERT", s(dir.path()))],
            format!("VAULT_CACERT={}", s(dir.path())),
            "is a directory",
        ),
        (
            vec![("VAULT_CAPATH", s(empty_dir.path()))],
            format!("VAULT_CAPATH={}", s(empty_dir.path())),
            "no file in the directory",
        ),
        (
            vec![("VAULT_CACERT_BYTES", "garbage".to_owned())],
            "VAULT_CACERT_BYTES".to_owned(),
            "no PEM certificate",
        ),
        // VAULT_CACERT takes precedence over VAULT_CAPATH, as in the Vault client.
        (
            vec![
                ("VAULT_CACERT", s(&missing)),
                ("VAULT_CAPATH", s(dir.path())),
            ],
            format!("VAULT_CACERT={}", s(&missing)),
            "no such file",
        ),
    ];
    for (vars, names, why) in cases {
        let mut extra: Vec<(&str, &str)> = vec![("VAULT_TOKEN", "t")];
        extra.extend(vars.iter().map(|(k, v)| (*k, v.as_str())));
        let c = ctx(&extra);
        for e in [
            key.wrap(&[1], &c).unwrap_err(),
            key.unwrap("vault:v1:abc", &c).unwrap_err(),
        ] {
            assert!(
                e.message
                    .starts_with("cannot use the Vault CA certificates: ")
                    && e.message.contains(&names)
                    && e.message.contains(why),
                "{e}"
            );
            assert!(e.hint.is_some());
        }
    }
    assert!(srv.requests().is_empty());
    // A usable CA file: the plain-HTTP server is still reached.
    let c = ctx(&[("VAULT_TOKEN", "t"), ("VAULT_CACERT", &s(&good))]);
    assert_eq!(key.wrap(&[1], &c).unwrap(), "vault:v1:abc");
}

#[test]
fn openbao_over_tls_with_a_private_ca() {
    let bao = Bao::start_tls();
    let ca = bao.ca.clone().unwrap();
    let ca_str = ca.to_str().unwrap();
    let key = VaultKey::parse(&format!("{}/v1/transit/keys/sops", bao.url)).unwrap();
    let s = secret();

    // Without the CA: a TLS error (not retried) whose hint names VAULT_CACERT.
    let started = Instant::now();
    let e = key.wrap(&s, &ctx(&[("VAULT_TOKEN", "root")])).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        e.message.contains(&format!(
            "the TLS connection to {} failed: TLS error: ",
            bao.url
        )) && !e.message.contains("attempts"),
        "{e}"
    );
    assert!(e.hint.as_deref().unwrap().contains("VAULT_CACERT"), "{e}");

    // VAULT_CACERT, BAO_CACERT, VAULT_CACERT_BYTES and VAULT_CAPATH each work.
    let pem = std::fs::read_to_string(&ca).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a certificate\n").unwrap();
    std::fs::copy(&ca, dir.path().join("bao-ca.pem")).unwrap();
    let capath = dir.path().to_str().unwrap();
    for (var, value) in [
        ("VAULT_CACERT", ca_str),
        ("BAO_CACERT", ca_str),
        ("VAULT_CACERT_BYTES", pem.as_str()),
        ("VAULT_CAPATH", capath),
    ] {
        let c = ctx(&[("VAULT_TOKEN", "root"), (var, value)]);
        let enc = key.wrap(&s, &c).unwrap();
        assert!(enc.starts_with("vault:v1:"), "{var}: {enc}");
        assert_eq!(*key.unwrap(&enc, &c).unwrap(), s, "{var}");
    }

    // Only the given CA is trusted: another CA fails, with a hint naming the variable.
    let other = dir.path().join("other.crt");
    std::fs::write(&other, crate::keys::rest::tls::TEST_CA_PEM).unwrap();
    let other_str = other.to_str().unwrap();
    let e = key
        .wrap(
            &s,
            &ctx(&[("VAULT_TOKEN", "root"), ("VAULT_CACERT", other_str)]),
        )
        .unwrap_err();
    assert!(e.message.contains("TLS error"), "{e}");
    assert!(
        e.hint
            .as_deref()
            .unwrap()
            .contains(&format!("VAULT_CACERT={other_str}")),
        "{e}"
    );
}
