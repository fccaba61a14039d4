//! Key services, a vault and a gpg that echo the request keep the data key off the terminal.

use super::*;

/// A key service that answers every request with an error quoting the request body.
fn echo_service() -> Server {
    Server::start(|seen| {
        let quoted = format!("you sent {}", seen.body);
        let body = serde_json::json!({
            "error": {"error_code": "KMS.0001", "error_msg": quoted, "message": quoted},
            "errors": [quoted],
            "message": quoted,
            "__type": "ValidationException",
        });
        (400, body.to_string())
    })
}

/// The base64 data key a request sent, from the field named `field` of its JSON body.
fn sent_key(server: &Server, field: &str) -> String {
    let seen = server.seen();
    let request = seen.last().expect("the service was called");
    let body: serde_json::Value = serde_json::from_str(&request.body).expect("JSON body");
    body[field].as_str().expect("a data key field").to_owned()
}

#[test]
fn key_services_that_echo_the_request_do_not_put_the_data_key_on_the_terminal() {
    let s = scene();
    let d = s.dir.path();
    write(d, "p.yaml", b"a: C4NARYv4lue9X-kms\n");
    let mut base = s.vars.clone();
    base.remove("SOPS_AGE_KEY_FILE");
    base.insert("LEAFSEAL_HTTP_RETRY_DELAY_MS".into(), "1".into());

    // (flag, key id, body field, credentials): the endpoint variable is set below.
    let hc = echo_service();
    let mut vars = base.clone();
    vars.insert("HUAWEICLOUD_SDK_AK".into(), "AKIDLEAFSEALTEST".into());
    vars.insert("HUAWEICLOUD_SDK_SK".into(), "C4NARYv4lue9X-hc-sk".into());
    vars.insert("HUAWEICLOUD_SDK_PROJECT_ID".into(), "project".into());
    vars.insert(
        "HUAWEICLOUD_SDK_REGION_KMS_CN_NORTH_4".into(),
        hc.url.clone(),
    );
    let id = "cn-north-4:11111111-2222-3333-4444-555555555555";
    let out = fails_clean(&vars, d, &["encrypt", "--hckms", id, "p.yaml"]);
    let key = sent_key(&hc, "plain_text");
    assert!(
        !stderr(&out).contains(&key),
        "HuaweiCloud KMS: {}",
        stderr(&out)
    );

    let vault = echo_service();
    let mut vars = base.clone();
    vars.insert("VAULT_TOKEN".into(), "hvs.C4NARYv4lue9X-vault".into());
    vars.insert("SOPS_HC_VAULT_ALLOWLIST".into(), vault.url.clone());
    let uri = format!("{}/v1/transit/keys/k1", vault.url);
    let out = fails_clean(&vars, d, &["encrypt", "--hc-vault-transit", &uri, "p.yaml"]);
    let key = sent_key(&vault, "plaintext");
    assert!(!stderr(&out).contains(&key), "Vault: {}", stderr(&out));

    let aws = echo_service();
    let mut vars = base.clone();
    vars.insert("AWS_ACCESS_KEY_ID".into(), "AKIALEAFSEALTEST".into());
    vars.insert("AWS_SECRET_ACCESS_KEY".into(), "C4NARYv4lue9X-aws".into());
    vars.insert("AWS_ENDPOINT_URL_KMS".into(), aws.url.clone());
    let arn = "arn:aws:kms:us-east-1:111122223333:key/abc";
    let out = fails_clean(&vars, d, &["encrypt", "--kms", arn, "p.yaml"]);
    let key = sent_key(&aws, "Plaintext");
    assert!(!stderr(&out).contains(&key), "AWS KMS: {}", stderr(&out));

    let gcp = echo_service();
    let mut vars = base.clone();
    vars.insert(
        "GOOGLE_OAUTH_ACCESS_TOKEN".into(),
        "C4NARYv4lue9X-gcp".into(),
    );
    vars.insert("SOPS_GCP_KMS_ENDPOINT".into(), gcp.url.clone());
    let res = "projects/p/locations/global/keyRings/r/cryptoKeys/k";
    let out = fails_clean(&vars, d, &["encrypt", "--gcp-kms", res, "p.yaml"]);
    let key = sent_key(&gcp, "plaintext");
    assert!(!stderr(&out).contains(&key), "GCP KMS: {}", stderr(&out));

    let azure = echo_service();
    let mut vars = base.clone();
    vars.insert("AZURE_TENANT_ID".into(), "tenant".into());
    vars.insert("AZURE_CLIENT_ID".into(), "client".into());
    vars.insert("AZURE_CLIENT_SECRET".into(), "C4NARYv4lue9X-azure".into());
    vars.insert("AZURE_AUTHORITY_HOST".into(), azure.url.clone());
    let url = "https://v.vault.azure.net/keys/k/0123";
    fails_clean(&vars, d, &["encrypt", "--azure-kv", url, "p.yaml"]);
}

#[test]
fn publish_to_a_vault_that_quotes_the_request_shows_no_value() {
    let s = scene();
    let d = s.dir.path();
    let vault = echo_service();
    write(
        d,
        ".sops.yaml",
        format!(
            "destination_rules:\n  - path_regex: '^vault/'\n    vault_address: {}\n    \
             vault_path: app/\n",
            vault.url
        )
        .as_bytes(),
    );
    std::fs::create_dir(d.join("vault")).expect("mkdir");
    // `pin` is shorter than the 4 characters from which any text is masked: it is masked
    // where the server quotes it whole (before round 23 it was shown).
    let plain = b"password: C4NARYv4lue9X-pub1\npin: \"9x7\"\nnested:\n  x: \"C4NARYv4lue9X \\\"quoted\\\" \\n\"\n";
    write(d, "vault/s.yaml", plain);
    let out = run_with(
        &s.vars,
        d,
        &["encrypt", "-i", "--age", AGE_RECIPIENT, "vault/s.yaml"],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let mut vars = s.vars.clone();
    vars.insert("VAULT_TOKEN".into(), "hvs.leafsealtest".into());
    vars.insert("SOPS_HC_VAULT_ALLOWLIST".into(), vault.url.clone());
    let out = fails_clean(&vars, d, &["publish", "-y", "vault/s.yaml"]);
    assert!(stderr(&out).contains("HTTP 400"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("9x7"), "{}", stderr(&out));
}

/// A `SOPS_GPG_EXEC` that fails after echoing the key material it handles to its errors,
/// raw, base64 and hex, each on a `gpg:` line: what it was given to encrypt, or the 32
/// bytes it "decrypted" (also printed on its standard output). The bytes are kept in
/// `got` for the test to look for.
const ECHOING_GPG: &[u8] = b"got=\"$(dirname \"$0\")/got\"
case \"$*\" in
  *--encrypt*) cat > \"$got\" ;;
  *) cat > /dev/null; head -c 32 /dev/urandom > \"$got\"; cat \"$got\" ;;
esac
printf 'gpg: raw ' >&2; cat \"$got\" >&2; printf '\\n' >&2
printf 'gpg: base64 %s\\n' \"$(base64 < \"$got\" | tr -d '\\n')\" >&2
printf 'gpg: hex %s\\n' \"$(od -An -v -tx1 < \"$got\" | tr -d ' \\n')\" >&2
exit 2";

/// Fails when `out`'s standard error holds `key` raw, base64 (standard or URL-safe,
/// padded or not) or hex (either case).
fn assert_key_not_shown(what: &str, out: &Output, key: &[u8]) {
    use base64::Engine;
    let err = &out.stderr;
    assert!(
        !err.windows(key.len()).any(|w| w == key),
        "{what}: the raw key is in stderr"
    );
    let text = stderr(out);
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD.encode(key);
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key);
    for form in [hex.clone(), hex.to_ascii_uppercase(), b64, url] {
        assert!(
            !text.contains(&form),
            "{what}: the key is in stderr as {form}:\n{text}"
        );
    }
}

#[test]
fn a_gpg_that_echoes_the_data_key_does_not_put_it_on_the_terminal() {
    let s = scene();
    let d = s.dir.path();
    let bin = tempfile::tempdir().expect("bin");
    let gpg = script(bin.path(), "gpg", ECHOING_GPG);
    let got = bin.path().join("got");
    let mut vars = s.vars.clone();
    vars.insert("SOPS_GPG_EXEC".into(), gpg);
    let fpr = "0123456789ABCDEF0123456789ABCDEF01234567";

    // Encryption: gpg is given the data key.
    write(d, "p.yaml", b"a: C4NARYv4lue9X-pgp\n");
    let out = fails_clean(&vars, d, &["encrypt", "--pgp", fpr, "p.yaml"]);
    assert!(stderr(&out).contains("gpg: base64"), "{}", stderr(&out));
    let key = std::fs::read(&got).expect("the key gpg was given");
    assert_eq!(key.len(), 32);
    assert_key_not_shown("encrypt", &out, &key);

    // Decryption: gpg prints a data key, then fails.
    let iv = "A".repeat(22);
    let file = format!(
        "a: ENC[AES256_GCM,data:3q2+7w==,iv:{iv}=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]\n\
         sops:\n    pgp:\n        - created_at: \"2024-01-01T00:00:00Z\"\n          \
         enc: |\n            -----BEGIN PGP MESSAGE-----\n\n            wcBMA\n            \
         -----END PGP MESSAGE-----\n          fp: {fpr}\n    \
         lastmodified: \"2024-01-01T00:00:00Z\"\n    \
         mac: ENC[AES256_GCM,data:3q2+7w==,iv:{iv}=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]\n    \
         version: 3.9.0\n"
    );
    write(d, "s.yaml", file.as_bytes());
    let out = fails_clean(&vars, d, &["decrypt", "s.yaml"]);
    assert!(stderr(&out).contains("gpg: base64"), "{}", stderr(&out));
    let key = std::fs::read(&got).expect("the key gpg printed");
    assert_key_not_shown("decrypt", &out, &key);
}

#[test]
fn rotate_to_a_key_service_that_quotes_the_request_keeps_the_data_key_off_the_terminal() {
    // `rotate --add-*` wraps the data key of an existing file for the new key.
    let s = scene();
    let d = s.dir.path();
    let f = encrypted(&s.vars, d, "s.yaml", PLAIN_YAML.as_bytes());
    let hc = echo_service();
    let mut vars = s.vars.clone();
    vars.insert("HUAWEICLOUD_SDK_AK".into(), "AKIDLEAFSEALTEST".into());
    vars.insert("HUAWEICLOUD_SDK_SK".into(), "C4NARYv4lue9X-hc-sk".into());
    vars.insert("HUAWEICLOUD_SDK_PROJECT_ID".into(), "project".into());
    vars.insert(
        "HUAWEICLOUD_SDK_REGION_KMS_CN_NORTH_4".into(),
        hc.url.clone(),
    );
    let id = "cn-north-4:11111111-2222-3333-4444-555555555555";
    let out = fails_clean(&vars, d, &["rotate", "-i", "--add-hckms", id, &f]);
    let key = sent_key(&hc, "plain_text");
    assert!(!stderr(&out).contains(&key), "rotate: {}", stderr(&out));
    let out = fails_clean(&vars, d, &["groups", "add", "--file", &f, "--hckms", id]);
    let key = sent_key(&hc, "plain_text");
    assert!(!stderr(&out).contains(&key), "groups add: {}", stderr(&out));
}
