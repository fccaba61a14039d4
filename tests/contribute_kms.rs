//! Write-only contributions to a file encrypted for an age recipient and an AWS KMS key
//! (a real `moto_server` on 127.0.0.1): the contribution key is wrapped with KMS
//! `Encrypt` for the KMS key and with the age public key, so a key holder with either key
//! alone absorbs it.

#[path = "support/moto.rs"]
mod moto;
mod support;

use std::collections::HashMap;

use support::*;

const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const ACCESS_KEY: &str = "AKIDLEAFSEALTEST";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_contribution_is_sealed_for_kms_and_age_and_either_key_absorbs_it() {
    let moto = moto::Moto::start();
    let arn = moto.create_key();
    let home = tempfile::tempdir().expect("home");
    let work = tempfile::tempdir().expect("work");
    std::fs::write(work.path().join("s.yaml"), "db:\n    password: s3cr3t\n").expect("write");
    let aws = |mut v: HashMap<String, String>| {
        v.insert("AWS_ACCESS_KEY_ID".into(), ACCESS_KEY.into());
        v.insert("AWS_SECRET_ACCESS_KEY".into(), SECRET_KEY.into());
        v.insert("AWS_ENDPOINT_URL".into(), moto.url.clone());
        v.insert("AWS_EC2_METADATA_DISABLED".into(), "true".into());
        v
    };
    let all = aws(env_vars(None, home.path()));
    let out = run_in(
        &all,
        work.path(),
        &[
            "encrypt",
            "-i",
            "--age",
            AGE_RECIPIENT,
            "--kms",
            &arn,
            "s.yaml",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let encrypted = std::fs::read_to_string(work.path().join("s.yaml")).expect("read");

    // The contributor: KMS credentials, no age identity.
    let mut contributor = all.clone();
    contributor.remove("SOPS_AGE_KEY_FILE");
    let out = run_in(
        &contributor,
        work.path(),
        &["contribute", "s.yaml", r#"["db"]["user"]"#, r#""app""#],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pending = std::fs::read_to_string(work.path().join("s.yaml")).expect("read");
    let entry = &pending[encrypted.len()..];
    assert!(
        entry.contains("leafseal_pending:") && entry.contains(&arn),
        "{entry}"
    );
    assert!(entry.contains(AGE_RECIPIENT), "{entry}");

    // A key holder with KMS only absorbs it...
    let out = run_in(&contributor, work.path(), &["absorb", "s.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run_in(&contributor, work.path(), &["decrypt", "s.yaml"]);
    assert_eq!(
        text(&out.stdout),
        "db:\n    password: s3cr3t\n    user: app\n"
    );

    // ...and one with the age identity only, KMS unreachable, too.
    std::fs::write(work.path().join("s.yaml"), &pending).expect("reset");
    let mut age_only = env_vars(None, home.path());
    age_only.insert("AWS_ENDPOINT_URL".into(), "http://127.0.0.1:9".into());
    let out = run_in(&age_only, work.path(), &["absorb", "s.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run_in(&age_only, work.path(), &["decrypt", "s.yaml"]);
    assert_eq!(
        text(&out.stdout),
        "db:\n    password: s3cr3t\n    user: app\n"
    );
}
