//! Files with recipients of several kinds: age + AWS KMS (moto on 127.0.0.1), and key
//! groups across age, PGP and AWS KMS with a Shamir threshold of 2 — through the CLI.

#[path = "support/moto.rs"]
mod moto;
mod support;

use support::*;

const ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

fn ok(o: &std::process::Output) -> Vec<u8> {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout.clone()
}

#[test]
fn age_and_kms_recipients_each_open_the_file() {
    let moto = moto::Moto::start();
    let arn = moto.create_key();
    let home = tempfile::tempdir().expect("home");
    let work = tempfile::tempdir().expect("work");
    let plain = b"db:\n    password: s3cr3t\n";
    std::fs::write(work.path().join("s.yaml"), plain).expect("write");
    let mut all = env_vars(None, home.path());
    all.insert("AWS_ACCESS_KEY_ID".into(), ACCESS_KEY.into());
    all.insert("AWS_SECRET_ACCESS_KEY".into(), SECRET_KEY.into());
    all.insert("AWS_ENDPOINT_URL".into(), moto.url.clone());
    let enc = ok(&run_in(
        &all,
        work.path(),
        &[
            "encrypt",
            "--age",
            AGE_RECIPIENT,
            "--kms",
            &arn,
            "--encryption-context",
            "app:leafseal",
            "s.yaml",
        ],
    ));
    let text = String::from_utf8(enc.clone()).expect("utf8");
    assert!(
        text.contains(&arn) && text.contains("app: leafseal"),
        "{text}"
    );
    std::fs::write(work.path().join("s.enc.yaml"), &enc).expect("write");

    // KMS only (no age identity).
    let mut kms_only = all.clone();
    kms_only.remove("SOPS_AGE_KEY_FILE");
    assert_eq!(
        ok(&run_in(&kms_only, work.path(), &["decrypt", "s.enc.yaml"])),
        plain
    );

    // age only, with KMS unreachable: age is tried first, no network call is needed.
    let mut age_only = env_vars(None, home.path());
    age_only.insert("AWS_ENDPOINT_URL".into(), "http://127.0.0.1:9".into());
    assert_eq!(
        ok(&run_in(&age_only, work.path(), &["decrypt", "s.enc.yaml"])),
        plain
    );

    // Neither: both keys are listed in the error.
    let mut none = kms_only.clone();
    none.insert("AWS_ENDPOINT_URL".into(), "http://127.0.0.1:9".into());
    none.insert("AWS_MAX_ATTEMPTS".into(), "1".into());
    let out = run_in(&none, work.path(), &["decrypt", "s.enc.yaml"]);
    assert_eq!(out.status.code(), Some(128));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(AGE_RECIPIENT) && err.contains(&arn), "{err}");
    assert!(!err.contains(SECRET_KEY));
}

#[test]
fn key_groups_across_age_pgp_and_kms_with_threshold_two() {
    let moto = moto::Moto::start();
    let arn = moto.create_key();
    let gpg = GpgHome::new();
    let home = tempfile::tempdir().expect("home");
    let work = tempfile::tempdir().expect("work");
    std::fs::write(
        work.path().join(".sops.yaml"),
        format!(
            "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - age: [{AGE_RECIPIENT}]\n      - pgp: [{PGP_FP}]\n      - kms:\n          - arn: {arn}\n"
        ),
    )
    .expect("policy");
    let plain = b"token: abc123\nport: 8080\n";
    std::fs::write(work.path().join("g.yaml"), plain).expect("write");
    let mut all = env_vars(Some(&gpg), home.path());
    all.insert("AWS_ACCESS_KEY_ID".into(), ACCESS_KEY.into());
    all.insert("AWS_SECRET_ACCESS_KEY".into(), SECRET_KEY.into());
    all.insert("AWS_ENDPOINT_URL".into(), moto.url.clone());
    all.insert("AWS_MAX_ATTEMPTS".into(), "1".into());
    ok(&run_in(&all, work.path(), &["encrypt", "-i", "g.yaml"]));
    let text = std::fs::read_to_string(work.path().join("g.yaml")).expect("read");
    assert!(
        text.contains("key_groups:") && text.contains("shamir_threshold: 2"),
        "{text}"
    );

    let without = |drop: &[&str]| {
        let mut v = all.clone();
        for d in drop {
            match *d {
                "age" => {
                    v.remove("SOPS_AGE_KEY_FILE");
                }
                "pgp" => {
                    v.insert(
                        "GNUPGHOME".into(),
                        home.path().join("no-gnupg").display().to_string(),
                    );
                }
                "kms" => {
                    v.insert("AWS_ENDPOINT_URL".into(), "http://127.0.0.1:9".into());
                }
                _ => unreachable!(),
            }
        }
        run_in(&v, work.path(), &["decrypt", "g.yaml"])
    };
    // Any two of the three groups suffice.
    for drop in [&["age"][..], &["pgp"], &["kms"], &[]] {
        assert_eq!(ok(&without(drop)), plain, "without {drop:?}");
    }
    // One group alone is not enough.
    for drop in [&["age", "pgp"][..], &["age", "kms"], &["pgp", "kms"]] {
        let out = without(drop);
        assert_eq!(out.status.code(), Some(128), "without {drop:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("needed"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
