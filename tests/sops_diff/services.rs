//! (6) Key services: AWS KMS through moto and Vault transit through OpenBao, with sops
//! pointed at the same servers; PGP through gpg and age; key groups mixing them. Files
//! written by either tool are read by the other.

use crate::harness::Peer;
use crate::harness::Tool;
use crate::harness::assert_no_differences;
use crate::harness::same_layout;
use crate::moto::Moto;
use crate::support::AGE_RECIPIENT;
use crate::support::GpgHome;
use crate::support::PGP_FP;

const PLAIN: &str =
    "# comment\ndb:\n  user: admin\n  password: hunter2\nports:\n  - 5432\n  - 6543\n";

#[test]
fn kms_vault_pgp_and_age_both_ways() {
    let gpg = GpgHome::new();
    let Some(mut p) = Peer::new(Some(&gpg)) else {
        return;
    };
    let moto = Moto::start();
    let arn = moto.create_key();
    let bao = crate::bao::Bao::start();
    let vault_uri = format!("{}/v1/transit/keys/sops", bao.url);
    for (k, v) in [
        ("AWS_ACCESS_KEY_ID", "AKIDLEAFSEALTEST"),
        (
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        ),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL", moto.url.as_str()),
        ("AWS_ENDPOINT_URL_KMS", moto.url.as_str()),
        ("VAULT_ADDR", bao.url.as_str()),
        ("VAULT_TOKEN", "root"),
        ("LEAFSEAL_HTTP_RETRY_DELAY_MS", "10"),
    ] {
        p.vars.insert(k.into(), v.into());
    }
    p.write("s.yaml", PLAIN);
    p.write(
        "s.json",
        "{\"db\": {\"user\": \"admin\", \"password\": \"hunter2\"}}\n",
    );
    let groups_policy = format!(
        "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - kms:\n          - arn: {arn}\n        pgp:\n          - {PGP_FP}\n      - hc_vault:\n          - {vault_uri}\n      - age:\n          - {AGE_RECIPIENT}\n"
    );
    p.write("groups.yaml", groups_policy);
    let configs: Vec<(&str, Vec<String>)> = vec![
        ("kms", vec!["encrypt".into(), "--kms".into(), arn.clone()]),
        (
            "vault",
            vec![
                "encrypt".into(),
                "--hc-vault-transit".into(),
                vault_uri.clone(),
            ],
        ),
        ("pgp", vec!["encrypt".into(), "--pgp".into(), PGP_FP.into()]),
        (
            "all four in one group",
            vec![
                "encrypt".into(),
                "--kms".into(),
                arn.clone(),
                "--hc-vault-transit".into(),
                vault_uri.clone(),
                "--pgp".into(),
                PGP_FP.into(),
                "--age".into(),
                AGE_RECIPIENT.into(),
            ],
        ),
        (
            "mixed key groups, Shamir 2 of 3",
            vec!["--config".into(), "groups.yaml".into(), "encrypt".into()],
        ),
    ];
    let mut diffs = Vec::new();
    let mut cases = 0;
    for (label, base) in &configs {
        for file in ["s.yaml", "s.json"] {
            cases += 1;
            let mut args: Vec<&str> = base.iter().map(String::as_str).collect();
            args.push(file);
            let s = p.run(Tool::Sops, &args);
            let l = p.run(Tool::Leafseal, &args);
            if !s.ok() || !l.ok() {
                diffs.push(format!(
                    "{label} {file}: encrypt: sops exit {} ({}), leafseal exit {} ({})",
                    s.code,
                    s.stderr.trim(),
                    l.code,
                    l.stderr.trim()
                ));
                continue;
            }
            let tag = label.replace(' ', "_").replace(',', "");
            let (sn, ln) = (
                format!("sops-{tag}-{file}"),
                format!("leafseal-{tag}-{file}"),
            );
            p.write(&sn, &s.stdout);
            p.write(&ln, &l.stdout);
            let mut outs = Vec::new();
            for name in [&sn, &ln] {
                // Only the service key: age and PGP keys out of reach, where the file has
                // a service key to use instead.
                match p.decrypt_both(name, &[]) {
                    Ok(o) => outs.push(o),
                    Err(e) => diffs.push(format!("{label}: {e}")),
                }
            }
            if outs.len() == 2 && outs[0] != outs[1] {
                diffs.push(format!("{label} {file}: the two files decrypt differently"));
            }
            if let Err(e) = same_layout(
                &format!("{label} {file}"),
                &String::from_utf8_lossy(&l.stdout),
                &String::from_utf8_lossy(&s.stdout),
            ) {
                diffs.push(e);
            }
        }
    }
    // Each service alone decrypts the other tool's file (the age key and gpg home away).
    for (label, order_unset) in [("kms", "kms"), ("vault", "vault")] {
        for writer in ["sops", "leafseal"] {
            cases += 1;
            let name = format!("{writer}-all_four_in_one_group-s.yaml");
            let only = if order_unset == "kms" {
                "kms"
            } else {
                "hc_vault"
            };
            let args = ["decrypt", "--decryption-order", only, name.as_str()];
            let unset = ["SOPS_AGE_KEY_FILE", "GNUPGHOME"];
            let s = p.run_with(Tool::Sops, &args, &[], &unset, None);
            let l = p.run_with(Tool::Leafseal, &args, &[], &unset, None);
            if !s.ok() || !l.ok() || s.stdout != l.stdout {
                diffs.push(format!(
                    "{label} only, file by {writer}: sops exit {} ({}), leafseal exit {} ({})",
                    s.code,
                    s.stderr.trim(),
                    l.code,
                    l.stderr.trim()
                ));
            }
        }
    }
    assert_no_differences("key services", cases, &diffs);
}
