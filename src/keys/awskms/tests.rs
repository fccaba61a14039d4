//! Unit tests of the `kms` key source that need no server (see `tests/kms_aws.rs` for the
//! moto and loopback-server tests).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::collections::HashMap;

use proptest::prelude::*;

use super::*;
use crate::keys::key_from_entry;
use crate::keys::key_from_policy_entry;
use crate::keys::key_from_str;

const ARN: &str = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const ROLE: &str = "arn:aws:iam::123456789012:role/sops-role";

fn ctx(vars: &[(&str, &str)]) -> KeyContext {
    KeyContext::with_vars(
        vars.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<HashMap<_, _>>(),
    )
}

#[test]
fn arn_parsing() {
    let k = KmsKey::parse(ARN).unwrap();
    assert_eq!(
        (k.region(), k.role(), k.id()),
        ("eu-west-1", None, ARN.to_owned())
    );
    let k = KmsKey::parse(&format!(" {ARN}+{ROLE} ")).unwrap();
    assert_eq!(k.role(), Some(ROLE));
    assert_eq!(k.id(), format!("{ARN}+{ROLE}"));
    for ok in [
        "arn:aws-cn:kms:cn-north-1:123456789012:alias/prod",
        "arn:aws-us-gov:kms:us-gov-west-1:1:key/mrk-1234",
        "arn:aws:kms:us-east-1:123456789012:alias/a/b",
    ] {
        assert!(KmsKey::parse(ok).is_ok(), "{ok}");
    }
    assert_eq!(
        KmsKey::parse("arn:aws-cn:kms:cn-north-1:123456789012:alias/prod")
            .unwrap()
            .region(),
        "cn-north-1"
    );
    for bad in [
        "",
        "1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws:kms::123456789012:key/x",
        "arn:aws:kms:eu-west-1:acct:key/x",
        "arn:aws:kms:eu-west-1:123456789012:key/",
        "arn:aws:kms:eu-west-1:123456789012:secret/x",
        "arn:aws:s3:eu-west-1:123456789012:key/x",
        "arn:gcp:kms:eu-west-1:123456789012:key/x",
        "arn:aws:kms:EU-WEST-1:123456789012:key/x",
        "arn:aws:kms:eu-west-1:123456789012:key/x y",
    ] {
        let e = KmsKey::parse(bad).unwrap_err();
        assert!(e.message.contains("invalid AWS KMS key ARN"), "{bad}: {e}");
    }
    let e = KmsKey::parse(&format!("{ARN}+not-a-role")).unwrap_err();
    assert!(e.message.contains("invalid IAM role ARN"), "{e}");
    // An empty role after `+` means none.
    assert_eq!(KmsKey::parse(&format!("{ARN}+")).unwrap().role(), None);
}

#[test]
fn cli_list() {
    let c = parse_context("app:web,env:prod").unwrap();
    let keys = KmsKey::list_from_str(&format!("{ARN}, {ARN}+{ROLE},"), &c, Some("dev")).unwrap();
    assert_eq!(keys.len(), 2);
    assert!(
        keys.iter()
            .all(|k| k.aws_profile() == Some("dev") && k.context() == &c)
    );
    assert_eq!(keys[1].role(), Some(ROLE));
    assert!(KmsKey::list_from_str("arn:nope", &c, None).is_err());
}

#[test]
fn context_parsing() {
    // sops's grammar: exactly one `:` per item, nothing trimmed, no empty item.
    let c = parse_context("a:1,b:, c : d ").unwrap();
    let want: BTreeMap<String, String> = [("a", "1"), ("b", ""), (" c ", " d ")]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    assert_eq!(c, want);
    assert!(parse_context("").unwrap().is_empty());
    for bad in ["novalue", ":v", "a:b:c", "a:b,", ",a:b", "a:b,,c:d", " "] {
        assert!(parse_context(bad).is_err(), "{bad:?}");
    }
}

fn entry_of(pairs: Vec<(&str, FieldValue)>) -> KeyFields {
    let mut m = KeyFields::new();
    for (k, v) in pairs {
        m.push(k, v);
    }
    m
}

fn keys_of(m: &KeyFields) -> Vec<&str> {
    m.iter().map(|(k, _)| k).collect()
}

#[test]
fn entry_round_trip() {
    let mut ctxm = KeyFields::new();
    ctxm.push("zz", FieldValue::str("last"));
    ctxm.push("Environment", FieldValue::str("prod"));
    ctxm.push("n", FieldValue::Int(7));
    let entry = entry_of(vec![
        ("arn", FieldValue::str(ARN)),
        ("role", FieldValue::str(ROLE)),
        ("context", FieldValue::Map(ctxm)),
        ("created_at", FieldValue::str("2024-01-01T00:00:00Z")),
        ("enc", FieldValue::str("AQID")),
        ("aws_profile", FieldValue::str("dev")),
    ]);
    let k = KmsKey::from_fields(&entry).unwrap();
    assert_eq!(k.context()["n"], "7");
    assert_eq!(k.aws_profile(), Some("dev"));
    let out = k.fields();
    assert_eq!(keys_of(&out), ["arn", "aws_profile", "context", "role"]);
    let Some(FieldValue::Map(c)) = out.get("context") else {
        panic!("no context")
    };
    assert_eq!(keys_of(c), ["Environment", "n", "zz"]);
    assert_eq!(KmsKey::from_fields(&out).unwrap(), k);

    // Minimal entry: aws_profile is always written (empty), role and context only if set.
    let k = KmsKey::from_fields(&entry_of(vec![
        ("arn", FieldValue::str(ARN)),
        ("role", FieldValue::str("")),
        ("aws_profile", FieldValue::str("")),
        ("context", FieldValue::Null),
    ]))
    .unwrap();
    let out = k.fields();
    assert_eq!(keys_of(&out), ["arn", "aws_profile"]);
    assert_eq!(out.get("aws_profile"), Some(&FieldValue::str("")));

    assert!(KmsKey::from_fields(&entry_of(vec![("role", FieldValue::str(ROLE))])).is_err());
    // Names are exact here: a JSON store renamed `ARN` to `arn` before (as sops's Go JSON
    // decoder reads it); go-yaml does not, so a YAML `ARN` is no `arn`.
    assert!(KmsKey::from_fields(&entry_of(vec![("ARN", FieldValue::str(ARN))])).is_err());
    let bad_ctx = entry_of(vec![
        ("arn", FieldValue::str(ARN)),
        ("context", FieldValue::str("x")),
    ]);
    assert!(KmsKey::from_fields(&bad_ctx).is_err());
}

#[test]
fn registry() {
    let entry = entry_of(vec![
        ("arn", FieldValue::str(ARN)),
        ("enc", FieldValue::str("AQID")),
    ]);
    let k = key_from_entry(KeyKind::Kms, &entry).unwrap();
    assert_eq!((k.kind(), k.id()), (KeyKind::Kms, ARN.to_owned()));
    let k = key_from_str(KeyKind::Kms, &format!("{ARN}+{ROLE}")).unwrap();
    assert_eq!(k.id(), format!("{ARN}+{ROLE}"));
    let mut ctxm = KeyFields::new();
    ctxm.push("k", FieldValue::str("v"));
    let policy = entry_of(vec![
        ("arn", FieldValue::str(ARN)),
        ("role", FieldValue::str(ROLE)),
        ("context", FieldValue::Map(ctxm)),
        ("aws_profile", FieldValue::str("p")),
    ]);
    let k = key_from_policy_entry(KeyKind::Kms, &policy).unwrap();
    let out = k.fields();
    assert_eq!(keys_of(&out), ["arn", "aws_profile", "context", "role"]);
    // An entry with an ARN this build cannot parse is kept (opaque), not fatal.
    let odd = entry_of(vec![
        ("arn", FieldValue::str("alias/x")),
        ("enc", FieldValue::str("AQID")),
    ]);
    let k = key_from_entry(KeyKind::Kms, &odd).unwrap();
    assert!(k.unwrap("AQID", &ctx(&[])).is_err());
}

#[test]
fn policy_flat_rule_with_profile() {
    let yaml = format!(
        "creation_rules:\n  - path_regex: x\n    kms: \"{ARN}, {ARN}+{ROLE}\"\n    aws_profile: dev\n"
    );
    let p = crate::policy::Policy::parse(yaml.as_bytes(), std::path::Path::new("/p/.sops.yaml"));
    let p = p.unwrap();
    let rule = &p.rules[0];
    let ids: Vec<String> = rule.key_groups[0].iter().map(|k| k.id()).collect();
    assert_eq!(ids, [ARN.to_owned(), format!("{ARN}+{ROLE}")]);
    let out = rule.key_groups[0][0].fields();
    assert_eq!(out.get("aws_profile"), Some(&FieldValue::str("dev")));
}

#[test]
fn no_credentials_error_is_clear_and_quick() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().to_str().unwrap();
    let c = ctx(&[("HOME", home), ("AWS_EC2_METADATA_DISABLED", "true")]);
    let k = KmsKey::parse(ARN).unwrap();
    let e = k.wrap(&[7u8; 32], &c).unwrap_err();
    assert!(e.message.contains(ARN), "{e}");
    assert!(e.message.contains("no AWS credentials found"), "{e}");
    assert!(
        e.hint.as_deref().unwrap_or("").contains("AWS_PROFILE"),
        "{e}"
    );
    // A named profile that does not exist.
    let k = k.with_profile(Some("nope".into()));
    let e = k.unwrap("AQID", &c).unwrap_err();
    assert!(e.message.contains("profile `nope` not found"), "{e}");
}

#[test]
fn bad_enc_is_rejected_before_any_call() {
    let k = KmsKey::parse(ARN).unwrap();
    let e = k.unwrap("not base64!", &ctx(&[])).unwrap_err();
    assert!(e.message.contains("not base64"), "{e}");
}

proptest! {
    #[test]
    fn parsers_never_panic(s in "\\PC{0,80}") {
        let _ = KmsKey::parse(&s);
        let _ = parse_context(&s);
        let _ = http::Endpoint::parse(&s);
        let _ = creds_ini_probe(&s);
    }

    #[test]
    fn arn_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..64)) {
        let s = String::from_utf8_lossy(&b);
        let _ = KmsKey::parse(&format!("arn:aws:kms:{s}"));
    }
}

fn creds_ini_probe(s: &str) -> usize {
    http::scrub(s, &["abcd"]).len()
}

#[test]
fn endpoints_fips_and_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().to_str().unwrap();
    let plain = ctx(&[("HOME", home)]);
    let url = |c: &KeyContext, svc: &str, p: Option<&str>| {
        sts::service_endpoint(c, svc, "eu-west-1", sts::use_fips(c, p))
            .unwrap()
            .url()
    };
    assert_eq!(
        url(&plain, "kms", None),
        "https://kms.eu-west-1.amazonaws.com/"
    );
    let fips = ctx(&[("HOME", home), ("AWS_USE_FIPS_ENDPOINT", "true")]);
    assert_eq!(
        url(&fips, "kms", None),
        "https://kms-fips.eu-west-1.amazonaws.com/"
    );
    assert_eq!(
        url(&fips, "sts", None),
        "https://sts-fips.eu-west-1.amazonaws.com/"
    );
    // The config file's use_fips_endpoint, for the active profile only.
    std::fs::create_dir_all(dir.path().join(".aws")).unwrap();
    std::fs::write(
        dir.path().join(".aws/config"),
        "[profile gov]\nuse_fips_endpoint = true\n",
    )
    .unwrap();
    assert!(url(&plain, "kms", Some("gov")).contains("kms-fips."));
    assert!(!url(&plain, "kms", None).contains("fips"));
    // The variable wins over the file; an endpoint override wins over FIPS.
    let off = ctx(&[("HOME", home), ("AWS_USE_FIPS_ENDPOINT", "false")]);
    assert!(!url(&off, "kms", Some("gov")).contains("fips"));
    let over = ctx(&[
        ("HOME", home),
        ("AWS_USE_FIPS_ENDPOINT", "true"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
        ("AWS_ENDPOINT_URL_KMS", "http://127.0.0.1:5000"),
    ]);
    assert_eq!(url(&over, "kms", None), "http://127.0.0.1:5000/");
    assert_eq!(url(&over, "sts", None), "http://127.0.0.1:4566/");
}

#[test]
fn chain_precedence_without_servers() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().to_str().unwrap();
    std::fs::create_dir_all(dir.path().join(".aws")).unwrap();
    std::fs::write(
        dir.path().join(".aws/credentials"),
        "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = s1\n\
         [dev]\naws_access_key_id = AKIDDEV\naws_secret_access_key = s2\n",
    )
    .unwrap();
    let resolve = |vars: &[(&str, &str)], profile: Option<&str>| {
        let mut all = vec![("HOME", home), ("AWS_EC2_METADATA_DISABLED", "true")];
        all.extend_from_slice(vars);
        creds::resolve(&ctx(&all), profile, None, "eu-west-1").map(|c| c.access_key_id.clone())
    };
    let env = [
        ("AWS_ACCESS_KEY_ID", "AKIDENV"),
        ("AWS_SECRET_ACCESS_KEY", "s3"),
    ];
    // Environment keys beat the default profile.
    assert_eq!(resolve(&env, None).unwrap(), "AKIDENV");
    assert_eq!(resolve(&[], None).unwrap(), "AKIDDEFAULT");
    // A named profile (entry or AWS_PROFILE) beats the environment keys.
    assert_eq!(resolve(&env, Some("dev")).unwrap(), "AKIDDEV");
    let mut with_profile = env.to_vec();
    with_profile.push(("AWS_PROFILE", "dev"));
    assert_eq!(resolve(&with_profile, None).unwrap(), "AKIDDEV");
    // Half-set variables are named in the error.
    std::fs::remove_file(dir.path().join(".aws/credentials")).unwrap();
    let e = resolve(&[("AWS_ACCESS_KEY_ID", "AKIDENV")], None).unwrap_err();
    assert!(
        e.message
            .contains("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"),
        "{e}"
    );
}

#[test]
fn loopback_means_a_loopback_address_not_a_prefix() {
    for (url, loopback) in [
        ("http://127.0.0.1:9000/creds", true),
        ("http://127.1.2.3/creds", true),
        ("http://[::1]:80/creds", true),
        ("http://LOCALHOST/creds", true),
        ("http://127.0.0.1.evil.invalid/creds", false),
        ("http://127.evil.invalid/creds", false),
        ("http://localhost.evil.invalid/creds", false),
    ] {
        let ep = http::Endpoint::parse(url).unwrap();
        assert_eq!(ep.is_loopback(), loopback, "{url}");
    }
    let c = ctx(&[(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "http://127.0.0.1.evil.invalid/creds",
    )]);
    let err = sts::container(&c).unwrap().unwrap_err();
    assert!(
        err.message.contains("is not a loopback or ECS/EKS address"),
        "{err}"
    );
}
