//! Every AWS credential source, through the CLI (`leafseal encrypt --kms` / `decrypt`),
//! with a cleared environment and a temporary HOME. KMS and STS are a real `moto_server`
//! on 127.0.0.1 (`support/moto.rs`); the endpoints moto does not provide (EC2 instance
//! metadata, ECS/EKS container credentials, the IAM Identity Center portal, a proxy that
//! records where a FIPS call would go) are scripted loopback servers speaking the
//! documented protocol (`support/loopback.rs`). The production client code is unchanged.

#[path = "../src/keys/hcvault/bao.rs"]
#[allow(dead_code)]
mod bao;
#[path = "support/loopback.rs"]
mod loopback;
#[path = "support/moto.rs"]
mod moto;
mod support;

#[path = "aws_credentials/container_imds.rs"]
mod container_imds;
#[path = "aws_credentials/endpoints.rs"]
mod endpoints;
#[path = "aws_credentials/profiles.rs"]
mod profiles;
#[path = "aws_credentials/sso_web_identity.rs"]
mod sso_web_identity;

use std::collections::HashMap;
use std::path::Path;
use std::process::Output;

use loopback::Server;
use moto::Moto;

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "SESSIONTOKENleafsealTEST0123456789";
const PLAIN: &[u8] = b"db_password: hunter2-very-secret\n";

/// A hermetic environment: HOME, PATH, no instance metadata, fast retries, and KMS at
/// `kms_url` (if any).
fn vars(home: &Path, kms_url: Option<&str>) -> HashMap<String, String> {
    let mut v = HashMap::new();
    v.insert("HOME".to_owned(), home.display().to_string());
    v.insert("PATH".to_owned(), std::env::var("PATH").unwrap_or_default());
    v.insert("AWS_EC2_METADATA_DISABLED".to_owned(), "true".to_owned());
    v.insert("LEAFSEAL_AWS_RETRY_DELAY_MS".to_owned(), "10".to_owned());
    v.insert("LEAFSEAL_AWS_TIMEOUT_SECS".to_owned(), "5".to_owned());
    if let Some(u) = kms_url {
        v.insert("AWS_ENDPOINT_URL_KMS".to_owned(), u.to_owned());
    }
    v
}

fn set(v: &mut HashMap<String, String>, pairs: &[(&str, &str)]) {
    for (k, val) in pairs {
        v.insert((*k).to_owned(), (*val).to_owned());
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_clean(text: &str) {
    for s in [SECRET, TOKEN, "hunter2", "Signature="] {
        assert!(!text.contains(s), "output leaks `{s}`: {text}");
    }
}

/// Encrypts `s.yaml` in `work` to `kms` (extra flags before the file), checks it is
/// encrypted, then decrypts it and checks the plaintext.
fn round_trip(v: &HashMap<String, String>, work: &Path, kms: &str, extra: &[&str]) -> String {
    std::fs::write(work.join("s.yaml"), PLAIN).expect("write");
    let mut args = vec!["encrypt", "-i", "--kms", kms];
    args.extend_from_slice(extra);
    args.push("s.yaml");
    let out = support::run_in(v, work, &args);
    assert!(out.status.success(), "encrypt: {}", stderr(&out));
    let enc = std::fs::read_to_string(work.join("s.yaml")).expect("read");
    assert!(enc.contains("kms:") && !enc.contains("hunter2"), "{enc}");
    let out = support::run_in(v, work, &["decrypt", "s.yaml"]);
    assert!(out.status.success(), "decrypt: {}", stderr(&out));
    assert_eq!(out.stdout, PLAIN);
    enc
}

fn write_aws(home: &Path, name: &str, text: &str) {
    std::fs::create_dir_all(home.join(".aws")).expect("mkdir");
    std::fs::write(home.join(".aws").join(name), text).expect("write");
}

fn dirs() -> (tempfile::TempDir, tempfile::TempDir) {
    (
        tempfile::tempdir().expect("home"),
        tempfile::tempdir().expect("work"),
    )
}
