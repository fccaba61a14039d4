//! Key services: plain http to a remote one, `check`'s list of addresses, bounded gpg.

use super::*;

const VAULT_HTTP: &str = "http://192.0.2.1:8200/v1/transit/keys/app";

#[test]
fn plain_http_to_a_non_loopback_key_service_is_refused_unless_opted_in() {
    let env = Env::new();
    env.write("p.yaml", "a: 1\n");
    let net = [
        ("VAULT_TOKEN", "tok"),
        ("LEAFSEAL_HTTP_TIMEOUT_SECS", "1"),
        ("LEAFSEAL_HTTP_RETRY_DELAY_MS", "10"),
    ];
    let out = env.run_with(
        &["encrypt", "--hc-vault-transit", VAULT_HTTP, "p.yaml"],
        &net,
    );
    let err = stderr(&out);
    assert_ne!(code(&out), 0);
    assert!(
        err.contains("plain http with 192.0.2.1") && err.contains("LEAFSEAL_ALLOW_INSECURE_HTTP=1"),
        "{err}"
    );
    assert!(!err.contains("tok\n") && !err.contains("`tok`"));
    // The same address from a policy file.
    env.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - hc_vault_transit_uri: {VAULT_HTTP}\n"),
    );
    let out = env.run_with(&["encrypt", "p.yaml"], &net);
    assert!(
        stderr(&out).contains("plain http with 192.0.2.1"),
        "{}",
        stderr(&out)
    );
    // AWS endpoints from the environment follow the same rule.
    let out = env.run_with(
        &[
            "encrypt",
            "--kms",
            "arn:aws:kms:eu-west-1:123456789012:key/0b0e2b36-0b4d-4b8c-9f0b-3b0d6e0e5f00",
            "p.yaml",
        ],
        &[
            ("AWS_ENDPOINT_URL_KMS", "http://192.0.2.1:4566"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("LEAFSEAL_AWS_TIMEOUT_SECS", "1"),
            ("AWS_MAX_ATTEMPTS", "1"),
        ],
    );
    let err = stderr(&out);
    assert_ne!(code(&out), 0);
    assert!(
        err.contains("plain http with 192.0.2.1") && err.contains("AWS_ENDPOINT_URL_KMS"),
        "{err}"
    );
    // Opted in: the request is attempted (and fails to connect here).
    let mut opted = net.to_vec();
    opted.push(("LEAFSEAL_ALLOW_INSECURE_HTTP", "1"));
    let out = env.run_with(
        &["encrypt", "--hc-vault-transit", VAULT_HTTP, "p.yaml"],
        &opted,
    );
    assert_ne!(code(&out), 0);
    assert!(!stderr(&out).contains("plain http"), "{}", stderr(&out));
}

#[test]
fn check_lists_every_key_service_address_of_the_policy() {
    let env = Env::new();
    env.write(
        ".sops.yaml",
        "creation_rules:
  - path_regex: vault/.*
    hc_vault_transit_uri: http://10.1.2.3:8200/v1/transit/keys/app
  - path_regex: aws/.*
    kms: arn:aws:kms:eu-west-3:123456789012:key/0b0e2b36-0b4d-4b8c-9f0b-3b0d6e0e5f00
  - path_regex: gcp/.*
    gcp_kms: projects/p/locations/global/keyRings/r/cryptoKeys/k
  - path_regex: azure/.*
    azure_keyvault: https://myvault.vault.azure.net/keys/k/0123456789abcdef0123456789abcdef
  - age: age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw
",
    );
    let out = env.run(&["check"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    for want in [
        "hc_vault http://10.1.2.3:8200 (transit/keys/app) [plain http",
        "kms https://kms.eu-west-3.amazonaws.com (arn:aws:kms:eu-west-3:123456789012:key/0b0e2b36",
        "gcp_kms https://cloudkms.googleapis.com (projects/p/locations/global/keyRings/r/cryptoKeys/k)",
        "azure_kv https://myvault.vault.azure.net (https://myvault.vault.azure.net/keys/k/",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    assert!(!text.contains("age1yt3"), "{text}");
    let out = env.run(&["check", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let services = v["key_services"].as_array().expect("key_services");
    assert_eq!(services.len(), 4, "{v}");
    assert_eq!(services[0]["address"], "http://10.1.2.3:8200");
    assert_eq!(services[0]["plain_http"], true);
}

/// A stand-in for gpg: "encrypts" by base64 with the recipient in the armor, "decrypts"
/// only for `$FAKE_GPG_GOOD`, and records how many copies run at once.
const FAKE_GPG: &str = r#"#!/bin/sh
mode=; rcpt=
while [ $# -gt 0 ]; do
  case "$1" in
    --encrypt) mode=enc ;;
    --decrypt) mode=dec ;;
    --recipient) shift; rcpt="$1" ;;
  esac
  shift
done
if [ "$mode" = enc ]; then
  echo "-----BEGIN PGP MESSAGE-----"
  echo "for:$rcpt"
  base64 -w0; echo
  echo "-----END PGP MESSAGE-----"
  exit 0
fi
input=$(cat)
touch "$FAKE_GPG_DIR/run.$$"
ls "$FAKE_GPG_DIR" | grep -c '^run\.' >> "$FAKE_GPG_DIR/counts"
sleep 0.05
rm -f "$FAKE_GPG_DIR/run.$$"
fp=$(printf '%s\n' "$input" | sed -n 's/^for://p')
if [ "$fp" = "$FAKE_GPG_GOOD" ]; then
  printf '%s\n' "$input" | sed -n '3p' | base64 -d
  exit 0
fi
echo "gpg: decryption failed: No secret key" >&2
exit 2
"#;

#[test]
fn many_pgp_entries_still_decrypt_with_a_bounded_number_of_gpg_processes() {
    let env = Env::new();
    let bin = env.home.path().join("fake-gpg");
    std::fs::write(&bin, FAKE_GPG).expect("write");
    std::fs::set_permissions(&bin, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let runs = env.home.path().join("runs");
    std::fs::create_dir(&runs).expect("mkdir");
    let fps: Vec<String> = (0..24).map(|i| format!("{:040X}", 0xA000 + i)).collect();
    let good = fps.last().expect("fps").clone();
    let vars = [
        ("SOPS_GPG_EXEC", bin.display().to_string()),
        ("FAKE_GPG_DIR", runs.display().to_string()),
        ("FAKE_GPG_GOOD", good.clone()),
        ("LEAFSEAL_GPG_MAX_PROCS", "1".to_owned()),
    ];
    let extra: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let list = fps.join(",");
    let mut files = Vec::new();
    for i in 0..4 {
        let name = format!("p{i}.yaml");
        env.write(&name, &format!("v: {i}\n"));
        let enc = format!("s{i}.yaml");
        let out = env.run_with(
            &["encrypt", "--pgp", &list, "--output", &enc, &name],
            &extra,
        );
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert_eq!(env.read(&enc).matches("fp: ").count(), 24);
        files.push(enc);
    }
    let mut args = vec!["decrypt"];
    args.extend(files.iter().map(String::as_str));
    let out = env.run_with(&args, &extra);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "v: 0\n---\nv: 1\n---\nv: 2\n---\nv: 3\n");
    let counts = std::fs::read_to_string(runs.join("counts")).expect("counts");
    let seen: Vec<usize> = counts
        .lines()
        .map(|l| l.trim().parse().expect("count"))
        .collect();
    assert_eq!(seen.len(), 4 * 24, "every entry was tried once per file");
    assert!(
        seen.iter().all(|&n| n == 1),
        "more than one gpg at once: {seen:?}"
    );
}
