use std::collections::HashMap;
use std::time::Duration;
use std::time::Instant;

use super::*;
use crate::keys::hcvault::bao::Bao;
use crate::keys::testhttp;
use crate::keys::testhttp::Resp;
use crate::keys::testhttp::Server;

fn ctx(extra: &[(&str, &str)]) -> KeyContext {
    let mut vars = testhttp::base_vars();
    for (k, v) in extra {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    KeyContext::with_vars(vars)
}

fn entry(addr: &str, engine: &str, key: &str) -> KeyFields {
    let mut m = KeyFields::new();
    m.push("vault_address", FieldValue::str(addr));
    m.push("engine_path", FieldValue::str(engine));
    m.push("key_name", FieldValue::str(key));
    m
}

// ---------------------------------------------------------------- parsing

#[test]
fn parse_uri_forms() {
    let k = VaultKey::parse(" https://vault.example.com:8200/v1/transit/keys/app ").unwrap();
    assert_eq!(k.address(), "https://vault.example.com:8200");
    assert_eq!(k.engine_path(), "transit");
    assert_eq!(k.key_name(), "app");
    assert_eq!(k.id(), "https://vault.example.com:8200/v1/transit/keys/app");

    let k = VaultKey::parse("http://127.0.0.1:8200/v1/team/transit/keys/k-1/").unwrap();
    assert_eq!(k.engine_path(), "team/transit");
    assert_eq!(k.key_name(), "k-1");

    for bad in [
        "vault.example.com/v1/transit/keys/k",
        "ftp://h/v1/transit/keys/k",
        "https://h/prefix/v1/transit/keys/k",
        "https://h/v1/transit/k",
        "https://h/v1/keys/k",
        "https://h/v1/transit/keys/k?x=1",
        "https://user:pw@h/v1/transit/keys/k",
        "https://h/v1/tr%2e/keys/k",
        "https://h/v1/transit/keys/..",
        "https://h",
        "",
    ] {
        let e = VaultKey::parse(bad).unwrap_err();
        assert!(e.message.starts_with("invalid Vault transit"), "{bad}: {e}");
        assert!(e.hint.is_some());
    }
}

#[test]
fn entry_fields_round_trip() {
    let k = VaultKey::from_fields(&entry("https://v:8200", "transit", "app")).unwrap();
    let m = k.fields();
    let names: Vec<&str> = m.iter().map(|(k, _)| k).collect();
    assert_eq!(names, ["vault_address", "engine_path", "key_name"]);
    assert_eq!(
        m.get("vault_address").and_then(FieldValue::as_str),
        Some("https://v:8200")
    );
    assert_eq!(k.id(), "https://v:8200/v1/transit/keys/app");
    assert!(k.has_created_at());

    // Field names are matched exactly (a JSON store renamed other cases first, as sops
    // reads them; go-yaml matches YAML names exactly); missing ones are errors.
    let mut upper = KeyFields::new();
    upper.push("vault_address", FieldValue::str("https://v"));
    upper.push("Engine_Path", FieldValue::str("t"));
    upper.push("key_name", FieldValue::str("k"));
    assert_eq!(
        VaultKey::from_fields(&upper).unwrap_err().message,
        "hc_vault entry without `engine_path`"
    );
    let mut partial = entry("https://v", "t", "k");
    partial.remove("engine_path");
    assert_eq!(
        VaultKey::from_fields(&partial).unwrap_err().message,
        "hc_vault entry without `engine_path`"
    );
}

#[test]
fn allowlist_semantics() {
    assert_eq!(AllowList::parse("all").unwrap(), AllowList::All);
    assert_eq!(
        AllowList::parse("none").unwrap(),
        AllowList::Prefixes(vec![])
    );
    assert_eq!(
        AllowList::parse(" foo/ ,  bar,   baz    ").unwrap(),
        AllowList::Prefixes(vec!["foo/".into(), "bar/".into(), "baz/".into()])
    );
    assert_eq!(
        AllowList::parse("a,").unwrap_err().message,
        "SOPS_HC_VAULT_ALLOWLIST's entry 2 is empty"
    );
    assert_eq!(
        AllowList::parse(",a").unwrap_err().message,
        "SOPS_HC_VAULT_ALLOWLIST's entry 1 is empty"
    );
    let l = AllowList::parse("https://vault.example.com,http://127.0.0.1:8200/").unwrap();
    assert!(l.allows("https://vault.example.com"));
    assert!(l.allows("https://vault.example.com/"));
    assert!(!l.allows("https://vault.example.com.evil.org"));
    assert!(!l.allows("https://vault.example.com:8200"));
    assert!(l.allows("http://127.0.0.1:8200"));
    assert!(
        !AllowList::parse("none")
            .unwrap()
            .allows("https://vault.example.com")
    );
    assert!(AllowList::All.allows("anything"));
}

// ------------------------------------------------- allow-list, fake server

/// A fake transit engine (only for the allow-list checks; the real tests use OpenBao).
fn fake_vault() -> Server {
    Server::start(|req| {
        if req.path().contains("/encrypt/") {
            Resp::json(
                200,
                serde_json::json!({"data": {"ciphertext": "vault:v1:abc"}}),
            )
        } else {
            Resp::json(200, serde_json::json!({"data": {"plaintext": "AAEC"}}))
        }
    })
}

#[test]
fn file_addresses_need_the_allowlist_or_vault_addr() {
    let srv = fake_vault();
    let file_key = VaultKey::from_fields(&entry(&srv.url(), "transit", "k")).unwrap();

    // Unset allow-list, no VAULT_ADDR: refused before any request or token lookup.
    let e = file_key
        .unwrap("vault:v1:abc", &ctx(&[("VAULT_TOKEN", "s3cr3t-token")]))
        .unwrap_err();
    assert!(e.message.contains(&srv.url()), "{e}");
    assert!(e.message.contains(ALLOWLIST_VAR), "{e}");
    assert!(
        e.hint
            .as_deref()
            .unwrap()
            .contains(&format!("{ALLOWLIST_VAR}={}", srv.url()))
    );
    assert!(!e.to_string().contains("s3cr3t"));
    assert!(srv.requests().is_empty());

    // An allow-list that does not list it: refused, naming the address and variable.
    let c = ctx(&[
        ("VAULT_TOKEN", "t"),
        (ALLOWLIST_VAR, "https://vault.example.com"),
    ]);
    let e = file_key.wrap(&[1, 2], &c).unwrap_err();
    assert_eq!(
        e.message,
        format!(
            "the Vault address {} is not allowed by {ALLOWLIST_VAR}",
            srv.url()
        )
    );
    // The allow-list also applies to keys the user gave (as in sops).
    let user_key = VaultKey::parse(&format!("{}/v1/transit/keys/k", srv.url())).unwrap();
    assert!(user_key.wrap(&[1, 2], &c).is_err());
    // `none` refuses everything.
    assert!(
        user_key
            .wrap(
                &[1, 2],
                &ctx(&[("VAULT_TOKEN", "t"), (ALLOWLIST_VAR, "none")])
            )
            .is_err()
    );
    assert!(srv.requests().is_empty());

    // VAULT_ADDR admits its own server; a listed prefix or `all` admits it too.
    for extra in [
        ("VAULT_ADDR", srv.url()),
        (ALLOWLIST_VAR, format!("https://other, {}", srv.url())),
        (ALLOWLIST_VAR, format!("{}/", srv.url())),
        (ALLOWLIST_VAR, "all".to_owned()),
    ] {
        let c = ctx(&[("VAULT_TOKEN", "t"), (extra.0, extra.1.as_str())]);
        assert_eq!(*file_key.unwrap("vault:v1:abc", &c).unwrap(), [0, 1, 2]);
    }
    // Prefixes end at a `/` (sops): a host without the port does not admit host:port.
    let c = ctx(&[("VAULT_TOKEN", "t"), (ALLOWLIST_VAR, "http://127.0.0.1")]);
    assert!(file_key.unwrap("vault:v1:abc", &c).is_err());
    // Keys the user gave are admitted when the allow-list is unset.
    assert_eq!(
        user_key.wrap(&[1], &ctx(&[("VAULT_TOKEN", "t")])).unwrap(),
        "vault:v1:abc"
    );
    // An empty allow-list entry is a configuration error.
    let e = user_key
        .wrap(&[1], &ctx(&[("VAULT_TOKEN", "t"), (ALLOWLIST_VAR, "a,,b")]))
        .unwrap_err();
    assert_eq!(e.message, "SOPS_HC_VAULT_ALLOWLIST's entry 2 is empty");
}

#[test]
fn token_sources_and_namespace_header() {
    let srv = fake_vault();
    let key = VaultKey::parse(&format!("{}/v1/transit/keys/k", srv.url())).unwrap();

    let home = tempfile::tempdir().unwrap();
    let home_s = home.path().to_str().unwrap();
    let e = key.wrap(&[1], &ctx(&[("HOME", home_s)])).unwrap_err();
    assert!(e.message.contains("no Vault token for "), "{e}");
    assert!(
        e.message.contains("VAULT_TOKEN: not set")
            && e.message.contains(".vault-token: no such file")
            && e.message.contains("VAULT_CLIENT_CERT is not set"),
        "{e}"
    );
    assert!(e.hint.unwrap().contains("VAULT_TOKEN"));

    std::fs::write(home.path().join(".vault-token"), "file-token\n").unwrap();
    key.wrap(&[1], &ctx(&[("HOME", home_s)])).unwrap();
    key.wrap(
        &[1],
        &ctx(&[
            ("HOME", home_s),
            ("VAULT_TOKEN", "env-token"),
            ("VAULT_NAMESPACE", "team-a"),
        ]),
    )
    .unwrap();
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].header("X-Vault-Token"), Some("file-token"));
    assert_eq!(reqs[0].header("X-Vault-Namespace"), None);
    assert_eq!(reqs[1].header("X-Vault-Token"), Some("env-token"));
    assert_eq!(reqs[1].header("X-Vault-Namespace"), Some("team-a"));
    assert_eq!(reqs[1].path(), "/v1/transit/encrypt/k");
    assert_eq!(reqs[1].json(), serde_json::json!({"plaintext": "AQ=="}));
}

#[test]
fn server_down_is_a_clear_error() {
    let url = testhttp::dead_url();
    let key = VaultKey::parse(&format!("{url}/v1/transit/keys/k")).unwrap();
    let started = Instant::now();
    let e = key
        .wrap(&[1; 32], &ctx(&[("VAULT_TOKEN", "t")]))
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        e.message.contains(&format!(
            "{url} is unreachable: connection refused (after 3 attempts)"
        )),
        "{e}"
    );
    assert!(
        e.message
            .contains("cannot encrypt the data key with Vault key")
    );
    assert!(e.hint.is_some());
}

#[test]
fn malformed_and_retried_responses() {
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c2 = std::sync::Arc::clone(&calls);
    let srv = Server::start(
        move |_| match c2.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
            0 => Resp::json(503, serde_json::json!({"errors": ["Vault is sealed"]})),
            1 => Resp::text(200, "not json"),
            2 => Resp::json(200, serde_json::json!({"data": {}})),
            _ => Resp::json(200, serde_json::json!({"data": {"ciphertext": "nope"}})),
        },
    );
    let key = VaultKey::parse(&format!("{}/v1/transit/keys/k", srv.url())).unwrap();
    let c = ctx(&[("VAULT_TOKEN", "t")]);
    let e = key.wrap(&[1], &c).unwrap_err();
    assert!(
        e.message
            .contains("the response is not valid JSON (line 1, column "),
        "{e}"
    );
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    let e = key.wrap(&[1], &c).unwrap_err();
    assert!(
        e.message.ends_with("the response has no `ciphertext`"),
        "{e}"
    );
    let e = key.wrap(&[1], &c).unwrap_err();
    assert!(
        e.message.ends_with("the ciphertext is not `vault:v…:…`"),
        "{e}"
    );
    let e = key.unwrap("garbage", &c).unwrap_err();
    assert!(e.message.contains("is not a Vault ciphertext"), "{e}");
}

// ------------------------------------------------------ real OpenBao server

fn secret() -> Vec<u8> {
    let mut s = vec![0u8; 32];
    getrandom::fill(&mut s).unwrap();
    s
}

#[test]
fn openbao_transit_round_trip_and_errors() {
    let bao = Bao::start();
    let uri = format!("{}/v1/transit/keys/sops", bao.url);
    let key = VaultKey::parse(&uri).unwrap();
    let root = ctx(&[("VAULT_TOKEN", "root")]);

    // wrap → unwrap, data key and Shamir share sizes.
    for len in [32, 33] {
        let s = &secret()[..32.min(len)];
        let mut s = s.to_vec();
        s.resize(len, 7);
        let enc = key.wrap(&s, &root).unwrap();
        assert!(enc.starts_with("vault:v1:"), "{enc}");
        assert_eq!(*key.unwrap(&enc, &root).unwrap(), s);
    }

    // A multi-segment engine path and an RSA transit key; token from ~/.vault-token.
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join(".vault-token"), "root\n").unwrap();
    let by_file = ctx(&[("HOME", home.path().to_str().unwrap())]);
    let rsa = VaultKey::parse(&format!("{}/v1/team/transit/keys/rsa", bao.url)).unwrap();
    let s = secret();
    let enc = rsa.wrap(&s, &by_file).unwrap();
    assert_eq!(*rsa.unwrap(&enc, &by_file).unwrap(), s);

    // The same key read back from file metadata, admitted by VAULT_ADDR / the allow-list.
    let m = key.fields();
    let from_file = VaultKey::from_fields(&m).unwrap();
    let enc = key.wrap(&s, &root).unwrap();
    let e = from_file.unwrap(&enc, &root).unwrap_err();
    assert!(e.message.contains(ALLOWLIST_VAR), "{e}");
    for extra in [
        ("VAULT_ADDR", bao.url.as_str()),
        (ALLOWLIST_VAR, bao.url.as_str()),
    ] {
        let c = ctx(&[("VAULT_TOKEN", "root"), extra]);
        assert_eq!(*from_file.unwrap(&enc, &c).unwrap(), s);
    }
    let c = ctx(&[
        ("VAULT_TOKEN", "root"),
        (ALLOWLIST_VAR, "https://vault.example.com"),
    ]);
    let e = from_file.unwrap(&enc, &c).unwrap_err();
    assert!(
        e.message.contains(&bao.url) && e.message.contains(ALLOWLIST_VAR),
        "{e}"
    );

    // Wrong token → 403 with the server's message; the token is never shown.
    let bad = ctx(&[("VAULT_TOKEN", "not-a-real-token-xyz")]);
    let e = key.wrap(&s, &bad).unwrap_err();
    assert_eq!(
        e.message,
        format!(
            "cannot encrypt the data key with Vault key {uri} (token from VAULT_TOKEN): \
             HTTP 403: permission denied"
        )
    );
    assert!(e.hint.as_deref().unwrap().contains("transit/encrypt/sops"));
    assert!(!e.to_string().contains("not-a-real-token"));
    let e = key.unwrap(&enc, &bad).unwrap_err();
    assert!(
        e.message
            .starts_with("cannot decrypt the data key with Vault key"),
        "{e}"
    );
    assert!(e.message.ends_with("HTTP 403: permission denied"), "{e}");

    // A token allowed to encrypt but not to decrypt.
    let enc_only = ctx(&[("VAULT_TOKEN", "enc-only-token")]);
    let enc2 = key.wrap(&s, &enc_only).unwrap();
    let e = key.unwrap(&enc2, &enc_only).unwrap_err();
    assert!(
        e.message
            .ends_with("HTTP 403: 1 error occurred:  * permission denied")
            || e.message.ends_with("HTTP 403: permission denied"),
        "{e}"
    );

    // A damaged ciphertext → 400 with the server's reason; never the plaintext.
    let e = key
        .unwrap("vault:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &root)
        .unwrap_err();
    assert!(e.message.contains("HTTP 400"), "{e}");
    assert!(e.hint.as_deref().unwrap().contains("damaged"));

    // A key that does not exist: decrypt says so (encrypt would create it).
    let missing = VaultKey::parse(&format!("{}/v1/transit/keys/missing", bao.url)).unwrap();
    let e = missing.unwrap(&enc, &root).unwrap_err();
    assert!(
        e.message.contains("HTTP 400") || e.message.contains("HTTP 404"),
        "{e}"
    );

    // A mount that does not exist → 404-ish error naming the engine.
    let nomount = VaultKey::parse(&format!("{}/v1/nomount/keys/k", bao.url)).unwrap();
    let e = nomount.wrap(&s, &root).unwrap_err();
    assert!(e.message.contains("HTTP 4"), "{e}");

    // Server stopped → unreachable.
    let url = bao.url.clone();
    drop(bao);
    let e = key.wrap(&s, &root).unwrap_err();
    assert!(e.message.contains(&format!("{url} is unreachable")), "{e}");
}

#[test]
fn vars_never_read_from_process_env() {
    // A context without VAULT_TOKEN must not pick one up from the process.
    let srv = fake_vault();
    let key = VaultKey::parse(&format!("{}/v1/transit/keys/k", srv.url())).unwrap();
    let c = KeyContext::with_vars(HashMap::new());
    assert!(
        key.wrap(&[1], &c)
            .unwrap_err()
            .message
            .contains("no Vault token")
    );
}

mod tls;
