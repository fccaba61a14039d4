use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;

use rsa::Oaep;
use rsa::RsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;

use super::*;
use crate::keys::testhttp;
use crate::keys::testhttp::Req;
use crate::keys::testhttp::Resp;
use crate::keys::testhttp::Server;

/// Test-only RSA key (fixtures/cloud/README.md), the fake vault's key `k1`.
const TEST_KEY: &str = include_str!("../../../fixtures/cloud/TEST-ONLY-rsa-2048.pem");
const CURRENT: &str = "0123456789abcdef0123456789abcdef";

/// getrandom as an RNG for the `rsa` crate.
struct OsRng;
impl rsa::rand_core::RngCore for OsRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        getrandom::fill(dest).unwrap();
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl rsa::rand_core::CryptoRng for OsRng {}

fn private_key() -> RsaPrivateKey {
    RsaPrivateKey::from_pkcs8_pem(TEST_KEY).unwrap()
}

fn az_error(status: u16, code: &str, message: &str) -> Resp {
    Resp::json(
        status,
        serde_json::json!({"error": {"code": code, "message": message}}),
    )
}

fn token_reply(t: &str) -> Resp {
    Resp::json(
        200,
        serde_json::json!({"token_type": "Bearer", "expires_in": 3599, "access_token": t}),
    )
}

/// A fake Entra ID token endpoint, managed-identity endpoints and Key Vault (keys `k1`,
/// `denied`, `flaky`, `garbled`; RSA-OAEP-256 with the test key), following the REST
/// reference.
fn fake_azure() -> (Server, Arc<AtomicUsize>) {
    let flaky = Arc::new(AtomicUsize::new(0));
    let f2 = Arc::clone(&flaky);
    let key = private_key();
    let srv = Server::start(move |req: &Req| handle(req, &key, &f2));
    (srv, flaky)
}

fn handle(req: &Req, key: &RsaPrivateKey, flaky: &AtomicUsize) -> Resp {
    let path = req.path().to_owned();
    let q = req.query();
    if path == "/tenant-1/oauth2/v2.0/token" {
        let f = req.form();
        let get = |k: &str| f.get(k).map(String::as_str);
        if get("grant_type") != Some("client_credentials")
            || get("scope") != Some("https://vault.azure.net/.default")
        {
            return Resp::json(
                400,
                serde_json::json!({"error": "invalid_request", "error_description": "AADSTS900144: bad request"}),
            );
        }
        if get("client_id") == Some("app-id") && get("client_secret") == Some("app-secret") {
            return token_reply("sp-token");
        }
        if get("client_id") == Some("app-id")
            && get("client_assertion_type") == Some(ASSERTION)
            && get("client_assertion") == Some("federated.jwt.token")
        {
            return token_reply("wi-token");
        }
        return Resp::json(
            401,
            serde_json::json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}),
        );
    }
    if path == "/metadata/identity/oauth2/token" {
        if req.header("Metadata") != Some("true")
            || q.get("resource").map(String::as_str) != Some("https://vault.azure.net")
            || q.get("api-version").map(String::as_str) != Some("2018-02-01")
        {
            return Resp::json(
                400,
                serde_json::json!({"error": "invalid_request", "error_description": "Required metadata header not specified"}),
            );
        }
        return Resp::json(
            200,
            serde_json::json!({"access_token": "mi-token", "expires_on": (rest::now_secs() + 3600).to_string(), "resource": "https://vault.azure.net", "token_type": "Bearer"}),
        );
    }
    if path == "/msi/token" {
        if req.header("X-IDENTITY-HEADER") != Some("identity-header") {
            return Resp::json(401, serde_json::json!({"error": "unauthorized"}));
        }
        return Resp::json(
            200,
            serde_json::json!({"access_token": "mi-token", "expires_on": (rest::now_secs() + 3600).to_string()}),
        );
    }
    // Key Vault.
    if q.get("api-version").map(String::as_str) != Some("7.4") {
        return az_error(
            400,
            "BadParameter",
            "The api-version is missing or invalid.",
        );
    }
    let bearer = req
        .header("Authorization")
        .and_then(|a| a.strip_prefix("Bearer "));
    if !matches!(bearer, Some("sp-token" | "wi-token" | "mi-token")) {
        return az_error(
            401,
            "Unauthorized",
            "AKV10000: Request is missing a Bearer or PoP token.",
        );
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let host = req.header("Host").unwrap_or("");
    match parts.as_slice() {
        ["keys", name] if req.method == "GET" => {
            if *name != "k1" && *name != "flaky" {
                return az_error(
                    404,
                    "KeyNotFound",
                    &format!("A key with (name/id) {name} was not found in this key vault."),
                );
            }
            Resp::json(
                200,
                serde_json::json!({"key": {"kid": format!("http://{host}/keys/{name}/{CURRENT}"), "kty": "RSA", "key_ops": ["encrypt", "decrypt"]}, "attributes": {"enabled": true}}),
            )
        }
        ["keys", name, version, op] if req.method == "POST" => {
            match *name {
                "denied" => {
                    return az_error(
                        403,
                        "Forbidden",
                        "The user, group or application 'appid=app-id' does not have keys encrypt permission on key vault 'test;location=westeurope'.",
                    );
                }
                "garbled" => return Resp::text(200, "{\"kid\": "),
                "flaky" if flaky.fetch_add(1, Ordering::SeqCst) == 0 => {
                    return az_error(
                        429,
                        "Throttled",
                        "Request was not allowed because of throttling.",
                    );
                }
                "k1" | "flaky" => {}
                _ => {
                    return az_error(
                        404,
                        "KeyNotFound",
                        &format!("A key with (name/id) {name} was not found in this key vault."),
                    );
                }
            }
            if *version != CURRENT {
                return az_error(
                    404,
                    "KeyNotFound",
                    &format!(
                        "A key with (name/id) {name}/{version} was not found in this key vault."
                    ),
                );
            }
            let body = req.json();
            if body["alg"] != "RSA-OAEP-256" {
                return az_error(400, "BadParameter", "Invalid algorithm.");
            }
            let Some(value) = body["value"]
                .as_str()
                .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
            else {
                return az_error(400, "BadParameter", "Property value is not base64url.");
            };
            let out = match *op {
                "encrypt" => key
                    .to_public_key()
                    .encrypt(&mut OsRng, Oaep::new::<sha2::Sha256>(), &value)
                    .ok(),
                "decrypt" => key.decrypt(Oaep::new::<sha2::Sha256>(), &value).ok(),
                _ => None,
            };
            match out {
                Some(out) => Resp::json(
                    200,
                    serde_json::json!({"kid": format!("http://{host}/keys/{name}/{version}"), "value": URL_SAFE_NO_PAD.encode(out)}),
                ),
                None => az_error(400, "BadParameter", "Bad Request"),
            }
        }
        _ => az_error(404, "NotFound", "Not found"),
    }
}

const ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn ctx(srv: &Server, extra: &[(&str, &str)]) -> KeyContext {
    let mut vars = testhttp::base_vars();
    vars.insert("AZURE_AUTHORITY_HOST".into(), srv.url());
    // Never reach a real metadata service from the tests.
    vars.insert(
        "AZURE_POD_IDENTITY_AUTHORITY_HOST".into(),
        testhttp::dead_url(),
    );
    for (k, v) in extra {
        vars.insert((*k).into(), (*v).into());
    }
    KeyContext::with_vars(vars)
}

const SP: [(&str, &str); 3] = [
    ("AZURE_TENANT_ID", "tenant-1"),
    ("AZURE_CLIENT_ID", "app-id"),
    ("AZURE_CLIENT_SECRET", "app-secret"),
];

fn secret() -> Vec<u8> {
    let mut s = vec![0u8; 32];
    getrandom::fill(&mut s).unwrap();
    s
}

#[test]
fn parse_forms() {
    let k = AzureKey::parse("https://my-vault.vault.azure.net/keys/sops-key/abc123").unwrap();
    assert_eq!(k.vault_url(), "https://my-vault.vault.azure.net");
    assert_eq!(k.name(), "sops-key");
    assert_eq!(k.version(), Some("abc123"));
    assert_eq!(
        k.id(),
        "https://my-vault.vault.azure.net/keys/sops-key/abc123"
    );
    let m = k.fields();
    let names: Vec<&str> = m.iter().map(|(k, _)| k).collect();
    assert_eq!(names, ["vault_url", "name", "version"]);
    assert_eq!(AzureKey::from_fields(&m).unwrap(), k);

    for no_version in [
        "https://v.vault.azure.net/keys/k",
        " https://v.vault.azure.net/keys/k/ ",
    ] {
        let k = AzureKey::parse(no_version).unwrap();
        assert_eq!(k.version(), None);
        assert_eq!(k.id(), "https://v.vault.azure.net/keys/k");
    }
    assert_eq!(
        AzureKey::parse("https://v.vault.azure.cn/keys/k")
            .unwrap()
            .resource,
        "https://vault.azure.cn"
    );
    assert!(AzureKey::parse("http://127.0.0.1:9/keys/k/1").is_ok());
    assert!(AzureKey::parse("http://localhost:9/keys/k").is_ok());
    for bad in [
        "https://evil.example.com/keys/k/1",
        "https://vault.azure.net/keys/k",
        "http://v.vault.azure.net/keys/k",
        "https://v.vault.azure.net/secrets/k",
        "https://v.vault.azure.net/keys/k/1/extra",
        "https://v.vault.azure.net/keys/k_x",
        "https://v.vault.azure.net/keys/k?x=1",
        "https://user@v.vault.azure.net/keys/k",
        "v.vault.azure.net/keys/k",
        "",
    ] {
        assert!(AzureKey::parse(bad).is_err(), "{bad}");
    }
    let e = AzureKey::parse("https://evil.example.com/keys/k/1").unwrap_err();
    assert_eq!(
        e.message,
        "`https://evil.example.com` is not an Azure Key Vault address"
    );

    // Policy entries (`vaultUrl`, `key`, `version`) and a file entry with an empty version.
    let mut p = KeyFields::new();
    p.push("vaultUrl", FieldValue::str("https://v.vault.azure.net"));
    p.push("key", FieldValue::str("k"));
    p.push("version", FieldValue::str("v1"));
    assert_eq!(
        AzureKey::from_policy_fields(&p).unwrap().id(),
        "https://v.vault.azure.net/keys/k/v1"
    );
    let mut f = KeyFields::new();
    f.push("vault_url", FieldValue::str("https://v.vault.azure.net"));
    f.push("name", FieldValue::str("k"));
    f.push("version", FieldValue::str(""));
    assert_eq!(AzureKey::from_fields(&f).unwrap().version(), None);
    f.remove("name");
    assert_eq!(
        AzureKey::from_fields(&f).unwrap_err().message,
        "azure_kv entry without `name`"
    );
}

#[test]
fn round_trip_with_each_token_source_and_version_lookup() {
    let (srv, _) = fake_azure();
    let fed = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(fed.path(), "federated.jwt.token\n").unwrap();
    let fed_path = fed.path().to_str().unwrap().to_owned();
    let msi = format!("{}/msi/token", srv.url());
    let url = srv.url();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (SP.to_vec(), "sp-token"),
        (
            vec![
                ("AZURE_TENANT_ID", "tenant-1"),
                ("AZURE_CLIENT_ID", "app-id"),
                ("AZURE_FEDERATED_TOKEN_FILE", &fed_path),
            ],
            "wi-token",
        ),
        (
            vec![("AZURE_POD_IDENTITY_AUTHORITY_HOST", &url)],
            "mi-token",
        ),
        (
            vec![
                ("IDENTITY_ENDPOINT", &msi),
                ("IDENTITY_HEADER", "identity-header"),
            ],
            "mi-token",
        ),
    ];
    for (vars, expected) in cases {
        let c = ctx(&srv, &vars);
        let key = AzureKey::parse(&format!("{}/keys/k1", srv.url())).unwrap();
        let s = secret();
        let enc = key.wrap(&s, &c).unwrap();
        // The version was looked up and is what the metadata records.
        assert_eq!(key.version(), Some(CURRENT));
        let m = key.fields();
        assert_eq!(m.get("version").and_then(FieldValue::as_str), Some(CURRENT));
        // enc is base64url without padding of a real RSA-OAEP-256 ciphertext.
        assert!(!enc.contains(['=', '+', '/']), "{enc}");
        let raw = URL_SAFE_NO_PAD.decode(&enc).unwrap();
        assert_eq!(raw.len(), 256);
        assert_eq!(
            private_key()
                .decrypt(Oaep::new::<sha2::Sha256>(), &raw)
                .unwrap(),
            s
        );
        // Unwrap through the vault, from the metadata entry.
        let back = AzureKey::from_fields(&m).unwrap();
        assert_eq!(*back.unwrap(&enc, &c).unwrap(), s);
        let last = srv.requests().pop().unwrap();
        assert_eq!(
            last.target,
            format!("/keys/k1/{CURRENT}/decrypt?api-version=7.4")
        );
        assert_eq!(
            last.header("Authorization"),
            Some(format!("Bearer {expected}").as_str())
        );
        assert_eq!(
            last.json(),
            serde_json::json!({"alg": "RSA-OAEP-256", "value": enc})
        );
    }
    // sops-style enc written elsewhere (padding tolerated on read) and 33-byte shares.
    let c = ctx(&srv, &SP);
    let key = AzureKey::parse(&format!("{}/keys/k1/{CURRENT}", srv.url())).unwrap();
    let share = [7u8; 33];
    let ct = private_key()
        .to_public_key()
        .encrypt(&mut OsRng, Oaep::new::<sha2::Sha256>(), &share)
        .unwrap();
    assert_eq!(*key.unwrap(&URL_SAFE.encode(&ct), &c).unwrap(), share);
    assert_eq!(
        *key.unwrap(&URL_SAFE_NO_PAD.encode(&ct), &c).unwrap(),
        share
    );
    // One token request for the whole run.
    let tokens = srv
        .requests()
        .iter()
        .filter(|r| r.path().ends_with("/token"))
        .count();
    let enc = key.wrap(&share, &c).unwrap();
    key.unwrap(&enc, &c).unwrap();
    assert_eq!(
        srv.requests()
            .iter()
            .filter(|r| r.path().ends_with("/token"))
            .count(),
        tokens
    );
}

#[test]
fn vault_errors() {
    let (srv, flaky) = fake_azure();
    let c = ctx(&srv, &SP);
    let v = CURRENT;
    let denied = AzureKey::parse(&format!("{}/keys/denied/{v}", srv.url())).unwrap();
    let e = denied.wrap(&[1; 32], &c).unwrap_err();
    assert_eq!(
        e.message,
        format!(
            "cannot encrypt the data key with Azure Key Vault key {}/keys/denied/{v} (token from \
             AZURE_CLIENT_SECRET (client secret)): HTTP 403: Forbidden: The user, group or \
             application 'appid=app-id' does not have keys encrypt permission on key vault \
             'test;location=westeurope'.",
            srv.url()
        )
    );
    assert!(e.hint.unwrap().contains("Key Vault Crypto User"));

    // Wrong client secret: the token endpoint's error, never the secret.
    let bad = ctx(
        &srv,
        &[SP[0], SP[1], ("AZURE_CLIENT_SECRET", "wrong-secret-value")],
    );
    let k1 = AzureKey::parse(&format!("{}/keys/k1/{v}", srv.url())).unwrap();
    let e = k1.wrap(&[1; 32], &bad).unwrap_err();
    assert!(e.message.contains("cannot get an Azure access token from AZURE_CLIENT_SECRET (client secret): HTTP 401: invalid_client: AADSTS7000215"), "{e}");
    assert!(e.message.contains(&k1.id()));
    assert!(!e.to_string().contains("wrong-secret"));

    // Unknown version → 404; unknown key during the version lookup → 404.
    let e = AzureKey::parse(&format!("{}/keys/k1/ffff", srv.url()))
        .unwrap()
        .wrap(&[1; 32], &c)
        .unwrap_err();
    assert!(e.message.contains("HTTP 404: KeyNotFound"), "{e}");
    let e = AzureKey::parse(&format!("{}/keys/nokey", srv.url()))
        .unwrap()
        .wrap(&[1; 32], &c)
        .unwrap_err();
    assert!(
        e.message
            .starts_with("cannot look up the current version of Azure Key Vault key"),
        "{e}"
    );
    assert!(e.message.contains("HTTP 404"), "{e}");

    // 429 then success.
    let k = AzureKey::parse(&format!("{}/keys/flaky", srv.url())).unwrap();
    let enc = k.wrap(&[5; 32], &c).unwrap();
    assert_eq!(flaky.load(Ordering::SeqCst), 2);
    assert_eq!(*k.unwrap(&enc, &c).unwrap(), [5; 32]);

    // Malformed response; damaged enc (400 from the vault); enc that is not base64url.
    let e = AzureKey::parse(&format!("{}/keys/garbled/{v}", srv.url()))
        .unwrap()
        .wrap(&[1; 32], &c)
        .unwrap_err();
    assert!(e.message.contains("the response is not valid JSON"), "{e}");
    let e = k1
        .unwrap(&URL_SAFE_NO_PAD.encode([0u8; 256]), &c)
        .unwrap_err();
    assert!(
        e.message.ends_with("HTTP 400: BadParameter: Bad Request"),
        "{e}"
    );
    assert!(e.hint.unwrap().contains("damaged"));
    assert!(
        k1.unwrap("***", &c)
            .unwrap_err()
            .message
            .contains("is not base64url")
    );
}

#[test]
fn no_credentials_and_server_down() {
    let (srv, _) = fake_azure();
    let k1 = AzureKey::parse(&format!("{}/keys/k1/{CURRENT}", srv.url())).unwrap();
    let e = k1.wrap(&[1; 32], &ctx(&srv, &[])).unwrap_err();
    assert!(
        e.message.contains(
            "no Azure credentials found; tried, in order: environment: AZURE_TENANT_ID or \
             AZURE_CLIENT_ID is not set; workload identity: "
        ) && e.message.contains("managed identity (http://127.0.0.1:")
            && e.message
                .contains("the Azure CLI (az account get-access-token): PATH is not set"),
        "{e}"
    );
    assert!(e.message.contains("connection refused"), "{e}");

    let dead = testhttp::dead_url();
    let k = AzureKey::parse(&format!("{dead}/keys/k1/{CURRENT}")).unwrap();
    let e = k.wrap(&[1; 32], &ctx(&srv, &SP)).unwrap_err();
    assert!(
        e.message.contains(&format!(
            "{dead} is unreachable: connection refused (after 3 attempts)"
        )),
        "{e}"
    );

    let e = k1
        .wrap(
            &[1; 32],
            &ctx(
                &srv,
                &[
                    SP[0],
                    SP[1],
                    ("AZURE_FEDERATED_TOKEN_FILE", "/nonexistent/token"),
                ],
            ),
        )
        .unwrap_err();
    assert!(
        e.message.contains(
            "cannot read AZURE_FEDERATED_TOKEN_FILE (workload identity) /nonexistent/token"
        ),
        "{e}"
    );
}
