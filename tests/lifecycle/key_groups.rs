//! Key groups: Shamir thresholds and `groups add`/`groups delete` keeping the data key.

use super::*;

fn shamir_policy(env: &Env, ids: &[&Id]) -> String {
    let mut s = String::from("creation_rules:\n  - key_groups:\n");
    for id in ids {
        s.push_str(&format!("      - age:\n          - {}\n", id.recipient));
    }
    env.write("shamir.yaml", s.as_bytes());
    env.path("shamir.yaml").display().to_string()
}

#[test]
fn shamir_thresholds_need_enough_groups() {
    for n in [2usize, 3] {
        for t in 2..=n {
            let env = Env::new();
            let ids: Vec<Id> = (0..n).map(|_| new_id()).collect();
            let refs: Vec<&Id> = ids.iter().collect();
            let config = shamir_policy(&env, &refs);
            env.write("p.yaml", PLAIN.as_bytes());
            let ts = t.to_string();
            ok(&env.run(&[
                "--config",
                &config,
                "encrypt",
                "--shamir-secret-sharing-threshold",
                &ts,
                "--output",
                "s.yaml",
                "p.yaml",
            ]));
            let text = String::from_utf8(env.read("s.yaml")).expect("utf8");
            assert!(text.contains(&format!("shamir_threshold: {t}")), "{text}");
            for mask in 0u32..(1 << n) {
                let chosen: Vec<&Id> = (0..n)
                    .filter(|i| mask & (1 << i) != 0)
                    .map(|i| &ids[i])
                    .collect();
                let o = env.run_vars(&env.vars_with(&chosen), &["decrypt", "s.yaml"]);
                if chosen.len() >= t {
                    assert_eq!(ok(&o), PLAIN.as_bytes(), "n={n} t={t} mask={mask:b}");
                } else {
                    assert_eq!(code(&o), 128, "n={n} t={t} mask={mask:b}");
                }
            }
        }
    }
}

#[test]
fn groups_add_and_delete_keep_the_data_key() {
    let env = Env::new();
    let (a, b, c) = (new_id(), new_id(), new_id());
    let config = shamir_policy(&env, &[&a, &b]);
    env.write("p.yaml", PLAIN.as_bytes());
    ok(&env.run(&[
        "--config", &config, "encrypt", "--output", "s.yaml", "p.yaml",
    ]));
    let before = env.read("s.yaml");
    let all = env.vars_with(&[&a, &b, &c]);
    // stdout by default.
    let out = ok(&env.run_vars(
        &all,
        &["groups", "add", "--file", "s.yaml", "--age", &c.recipient],
    ))
    .to_vec();
    assert_eq!(env.read("s.yaml"), before);
    assert_ne!(out, before);
    ok(&env.run_vars(
        &all,
        &[
            "groups",
            "add",
            "-i",
            "--file",
            "s.yaml",
            "--age",
            &c.recipient,
            "--shamir-secret-sharing-threshold",
            "2",
        ],
    ));
    let after = env.read("s.yaml");
    assert_eq!(
        enc_values(&after),
        enc_values(&before),
        "values keep their ciphertext"
    );
    let text = String::from_utf8(after).expect("utf8");
    assert!(
        text.contains("shamir_threshold: 2") && text.contains(&c.recipient),
        "{text}"
    );
    for pair in [[&a, &c], [&b, &c], [&a, &b]] {
        let o = env.run_vars(&env.vars_with(&pair), &["decrypt", "s.yaml"]);
        assert_eq!(ok(&o), PLAIN.as_bytes());
    }
    assert_eq!(
        code(&env.run_vars(&env.vars_with(&[&c]), &["decrypt", "s.yaml"])),
        128
    );
    // An invalid threshold is refused and nothing is written.
    let now = env.read("s.yaml");
    let o = env.run_vars(
        &all,
        &[
            "groups",
            "delete",
            "-i",
            "--file",
            "s.yaml",
            "--shamir-secret-sharing-threshold",
            "3",
            "0",
        ],
    );
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert_eq!(env.read("s.yaml"), now);
    ok(&env.run_vars(&all, &["groups", "delete", "-i", "--file", "s.yaml", "0"]));
    assert_eq!(enc_values(&env.read("s.yaml")), enc_values(&before));
    assert_eq!(
        ok(&env.run_vars(&env.vars_with(&[&b, &c]), &["decrypt", "s.yaml"])),
        PLAIN.as_bytes()
    );
    assert_eq!(
        code(&env.run_vars(&env.vars_with(&[&a, &b]), &["decrypt", "s.yaml"])),
        128
    );
    // Threshold 2 with one group left is refused (as sops does); with threshold 1 it works.
    let o = env.run_vars(&all, &["groups", "delete", "-i", "--file", "s.yaml", "1"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    ok(&env.run_vars(
        &all,
        &[
            "groups",
            "delete",
            "-i",
            "--file",
            "s.yaml",
            "--shamir-secret-sharing-threshold",
            "1",
            "1",
        ],
    ));
    let text = String::from_utf8(env.read("s.yaml")).expect("utf8");
    assert!(
        !text.contains("key_groups") && !text.contains("shamir_threshold"),
        "{text}"
    );
    assert_eq!(
        ok(&env.run_vars(&env.vars_with(&[&b]), &["decrypt", "s.yaml"])),
        PLAIN.as_bytes()
    );
}
