//! Key material is never printed, and `--ignore-mac` warns that the MAC was skipped.

use super::*;

fn age_identity() -> String {
    std::fs::read_to_string(age_key_file())
        .expect("age key file")
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .expect("an identity")
        .to_owned()
}

#[test]
fn an_age_identity_given_as_recipient_is_never_printed() {
    let env = Env::new();
    env.write("p.yaml", "a: 1\n");
    let id = age_identity();
    let body = id.trim_start_matches("AGE-SECRET-KEY-1");
    for args in [
        vec!["encrypt", "--age", id.as_str(), "p.yaml"],
        vec![
            "encrypt",
            "--age",
            &format!("{AGE_RECIPIENT},{id}"),
            "p.yaml",
        ],
    ] {
        let out = env.run(&args);
        assert_eq!(code(&out), 1, "{}", stderr(&out));
        let err = stderr(&out);
        assert!(!err.contains(body), "the identity was printed: {err}");
        assert!(
            !err.to_ascii_lowercase()
                .contains(&body.to_ascii_lowercase()[..20]),
            "{err}"
        );
        assert!(
            err.contains("identity") && err.contains("age-keygen -y"),
            "{err}"
        );
        assert!(out.stdout.is_empty());
    }
    // A usage error quoting the identity (clap's message) masks it too.
    let out = env.run(&["encrypt", "p.yaml", &id]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(!stderr(&out).contains(body), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("AGE-SECRET-KEY-1[redacted]"),
        "{}",
        stderr(&out)
    );
    // A private key block given as a PGP key is masked by the report.
    let pem = "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQdGBFakeSecretBody0123\n-----END PGP PRIVATE KEY BLOCK-----";
    let out = env.run(&["encrypt", &format!("--pgp={pem}"), "p.yaml"]);
    assert_ne!(code(&out), 0);
    assert!(!stderr(&out).contains("FakeSecretBody"), "{}", stderr(&out));
    // rotate --add-age with an identity: same.
    env.encrypt("q.yaml", "a: 1\n", "s.yaml");
    let out = env.run(&["rotate", "-i", "--add-age", &id, "s.yaml"]);
    assert_ne!(code(&out), 0);
    assert!(!stderr(&out).contains(body), "{}", stderr(&out));
    // A policy naming an identity as recipient: the error does not show it either.
    env.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - age: {}\n", id.to_lowercase()),
    );
    let out = env.run(&["encrypt", "p.yaml"]);
    assert_ne!(code(&out), 0);
    assert!(
        !stderr(&out)
            .to_ascii_lowercase()
            .contains(&body.to_ascii_lowercase()),
        "{}",
        stderr(&out)
    );
}

#[test]
fn ignore_mac_warns_that_the_mac_was_skipped() {
    let env = Env::new();
    env.encrypt("p.yaml", "a: 1\nb: two\n", "s.yaml");
    let plain = env.run(&["decrypt", "s.yaml"]);
    assert_eq!(code(&plain), 0);
    assert_eq!(stderr(&plain), "", "no warning without --ignore-mac");
    for args in [
        vec!["decrypt", "--ignore-mac", "s.yaml"],
        vec!["exec-env", "--ignore-mac", "s.yaml", "true"],
        vec!["set", "--ignore-mac", "s.yaml", r#"["c"]"#, "1"],
        vec!["unset", "--ignore-mac", "s.yaml", r#"["c"]"#],
    ] {
        let out = env.run(&args);
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("warning: s.yaml: --ignore-mac: the MAC and the leafseal integrity record were not checked"),
            "{args:?}: {err}"
        );
    }
    let out = env.run(&["decrypt", "--ignore-mac", "s.yaml"]);
    assert_eq!(out.stdout, plain.stdout);
}
