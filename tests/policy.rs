//! The policy file: the shipped example loads, rules match as sops matches them, and bad
//! policies fail with a clear message.

use std::path::Path;

use leafseal::keys::KeyKind;
use leafseal::policy::Policy;
use leafseal::walk::Selector;

fn example() -> Policy {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".sops-policy.example.yaml");
    Policy::load(&p).expect("the shipped example policy must load")
}

#[test]
fn shipped_example_loads_with_every_option() {
    let p = example();
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    assert_eq!(p.rules.len(), 9);
    assert!(matches!(
        p.rules[0].selector,
        Some(Selector::EncryptedRegex(_))
    ));
    assert_eq!(p.rules[0].key_groups.len(), 1);
    assert_eq!(p.rules[0].key_groups[0].len(), 2);
    let prod = &p.rules[1];
    assert_eq!(prod.key_groups.len(), 2);
    assert_eq!(prod.shamir_threshold, 2);
    assert_eq!(
        prod.key_groups[1].len(),
        2,
        "merge adds the age key to group 2"
    );
    assert_eq!(
        prod.key_groups[1][0].kind(),
        KeyKind::Age,
        "merged groups come first"
    );
    assert!(p.rules[2].mac_only_encrypted);
    assert!(matches!(
        p.rules[3].selector,
        Some(Selector::EncryptedCommentRegex(_))
    ));
    assert!(matches!(
        p.rules[4].selector,
        Some(Selector::UnencryptedCommentRegex(_))
    ));
    assert!(matches!(
        p.rules[5].selector,
        Some(Selector::UnencryptedRegex(_))
    ));
    let kinds = |r: usize, g: usize| -> Vec<KeyKind> {
        p.rules[r].key_groups[g].iter().map(|k| k.kind()).collect()
    };
    assert_eq!(
        kinds(6, 0),
        vec![
            KeyKind::Age,
            KeyKind::Kms,
            KeyKind::GcpKms,
            KeyKind::AzureKv,
            KeyKind::HcVault
        ]
    );
    assert_eq!(
        p.rules[6].key_groups[0][1].id(),
        "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab+arn:aws:iam::111122223333:role/sops"
    );
    assert_eq!(p.rules[7].key_groups.len(), 3);
    assert_eq!(kinds(7, 0), vec![KeyKind::Kms, KeyKind::GcpKms]);
    assert_eq!(kinds(7, 1), vec![KeyKind::AzureKv, KeyKind::HcVault]);
    assert!(p.rules[8].path_regex.is_none());
    assert_eq!(p.stores.yaml_indent, Some(2));
    assert_eq!(p.stores.json_indent, Some(-1));
}

/// sops 3.11 takes `stores.yaml.indent: 0` as not set (its 4 spaces), round 20 F11.
#[test]
fn a_yaml_indent_of_zero_is_not_set() {
    let p =
        Policy::parse(b"stores: {yaml: {indent: 0}}\n", Path::new("/x/.sops.yaml")).expect("loads");
    assert_eq!(p.stores.yaml_indent, None);
    let p =
        Policy::parse(b"stores: {yaml: {indent: 1}}\n", Path::new("/x/.sops.yaml")).expect("loads");
    assert_eq!(p.stores.yaml_indent, Some(1));
}

#[test]
fn first_matching_rule_wins_relative_to_the_policy_dir() {
    let p = example();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rule = |f: &str| {
        let r = p.rule_for(&dir.join(f)).expect("match").expect("rule");
        p.rules
            .iter()
            .position(|x| std::ptr::eq(x, r))
            .expect("index")
    };
    assert_eq!(rule("k8s/app/secret.yaml"), 0);
    assert_eq!(rule("prod/db.yaml"), 1);
    assert_eq!(rule("app.config.json"), 2);
    assert_eq!(rule("other/file.ini"), 8);
    assert_eq!(rule("deploy/app.yaml"), 6);
    assert_eq!(rule("critical/db.json"), 7);
}

#[test]
fn bad_policies_fail_with_a_clear_message() {
    let cases: &[(&str, &str)] = &[
        (
            "creation_rules: [{path_regex: '(unclosed', age: age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw}]",
            "path_regex",
        ),
        (
            "creation_rules: [{encrypted_regex: a, unencrypted_suffix: b, pgp: FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4}]",
            "more than one",
        ),
        ("creation_rules: [{age: not-a-recipient}]", "age"),
        ("creation_rules: {a: 1}", "creation_rules"),
        (
            "creation_rules: [{key_groups: [{pgp: [FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4]}, {pgp: [D7229043384BCC60326C6FB9D8720D957C3D3074]}], shamir_threshold: 3}]",
            "threshold",
        ),
        ("stores: {json: {indent: -2}}", "indent"),
        ("creation_rules: [unclosed", "YAML"),
    ];
    for (text, needle) in cases {
        let err = Policy::parse(text.as_bytes(), Path::new("/x/.sops.yaml")).expect_err(text);
        let msg = err.to_string();
        assert!(msg.contains(needle), "{text}: {msg}");
        assert!(msg.contains("/x/.sops.yaml"), "{msg}");
    }
}

#[test]
fn unknown_fields_are_reported_as_warnings() {
    let p = Policy::parse(
        b"creation_rules:\n  - pat_regex: x\n    pgp: FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4\n",
        Path::new("/x/.sops.yaml"),
    )
    .expect("loads");
    assert_eq!(p.warnings.len(), 1);
    assert!(p.warnings[0].contains("pat_regex"));
}

#[test]
fn no_rules_means_no_rule_and_unmatched_is_an_error() {
    let p =
        Policy::parse(b"stores: {yaml: {indent: 2}}\n", Path::new("/x/.sops.yaml")).expect("loads");
    assert!(p.rule_for(Path::new("/x/a.yaml")).expect("ok").is_none());
    let p = Policy::parse(b"creation_rules: [{path_regex: '\\.json$', pgp: FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4}]\n", Path::new("/x/.sops.yaml"))
        .expect("loads");
    assert!(p.rule_for(Path::new("/x/a.yaml")).is_err());
}

/// sops compiles `path_regex` and the selector regexes with Go's `regexp`, where `\w` is
/// ASCII only: `^\w+/` does not match `données/x.yaml` (the catch-all rule applies) and
/// `^\w+$` does not match the key `déjà` (it stays encrypted). The answers are what sops
/// 3.11 does with this policy; tests/sops_diff/policy.rs runs the real sops on it.
#[test]
fn regexes_are_read_with_sops_go_syntax() {
    let dir = std::env::temp_dir().join(format!("leafseal-goregex-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let text = "creation_rules:\n  - path_regex: '^\\w+/'\n    age: age1e8nuk5372hsahhnrg6vxw4f4056sawewfnfxm0arq2u6cfp8qd2qperkz4\n  - age: age13h0kny5h5ytt0zwy9axlfthhdhq9fkmn5nz3m4vs8cns065qw44smpv0cv\n    unencrypted_regex: '^\\w+$'\n";
    let policy = Policy::parse(text.as_bytes(), &dir.join(".sops.yaml")).expect("policy");
    let rule = |f: &str| {
        let r = policy
            .rule_for(&dir.join(f))
            .expect("match")
            .expect("a rule");
        policy.rules.iter().position(|x| std::ptr::eq(x, r))
    };
    assert_eq!(rule("data/x.yaml"), Some(0));
    assert_eq!(rule("données/x.yaml"), Some(1), "Go's \\w is ASCII only");
    let sel = policy.rules[1].selector.as_ref().expect("selector");
    assert!(sel.component_matches("plain"));
    assert!(!sel.component_matches("déjà"), "sops leaves déjà encrypted");
    assert_eq!(sel.pattern(), "^\\w+$", "the pattern is kept as written");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `n` creation rules with `pattern` (plus `N` and the rule's number) as path_regex.
fn many_rules(n: usize, pattern: &str) -> String {
    let mut s = String::from("creation_rules:\n");
    for i in 0..n {
        s.push_str(&format!(
            "  - {{path_regex: '{pattern}{i}', age: age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw}}\n"
        ));
    }
    s
}

#[test]
fn regexes_that_compile_huge_are_refused_quickly_audit_policy_regex_rules() {
    // 400 rules of `\pL{100}N` (40 KB of policy) took 16 s and 2.2 GB: each compiled to
    // 5.4 MB and all were kept.
    let start = std::time::Instant::now();
    let err = Policy::parse(
        many_rules(400, r"\pL{100}N").as_bytes(),
        Path::new("/x/.sops.yaml"),
    )
    .expect_err("too large");
    let msg = err.to_string();
    assert!(msg.contains("creation_rules[0].path_regex"), "{msg}");
    assert!(
        msg.contains("compiled form is larger than 1024 KiB"),
        "{msg}"
    );
    // Each fits alone (about 540 KB), but not 100 of them.
    let err = Policy::parse(
        many_rules(100, r"\pL{10}N").as_bytes(),
        Path::new("/x/.sops.yaml"),
    )
    .expect_err("over the budget");
    let msg = err.to_string();
    assert!(msg.contains("creation_rules[32]"), "{msg}");
    assert!(msg.contains("more than 32 MiB"), "{msg}");
    assert!(start.elapsed() < std::time::Duration::from_secs(30));
    // Thousands of ordinary rules still load.
    let p = Policy::parse(
        many_rules(3000, r"^secrets/.*\.yaml$").as_bytes(),
        Path::new("/x/.sops.yaml"),
    )
    .expect("ordinary rules");
    assert_eq!(p.rules.len(), 3000);
}

#[test]
fn json_indentation_above_sixteen_is_refused_audit_json_indent_amplification() {
    for store in ["json", "json_binary"] {
        let text = format!("stores: {{{store}: {{indent: 1024}}}}\n");
        let err = Policy::parse(text.as_bytes(), Path::new("/x/.sops.yaml")).expect_err(&text);
        let msg = err.to_string();
        assert!(msg.contains(&format!("stores.{store}.indent")), "{msg}");
        assert!(msg.contains("at most 16 spaces"), "{msg}");
        let text = format!("stores: {{{store}: {{indent: 16}}}}\n");
        Policy::parse(text.as_bytes(), Path::new("/x/.sops.yaml")).expect(&text);
    }
}

#[test]
fn destination_rule_regexes_have_a_budget_too_audit_policy_regex_rules() {
    let mut s = String::from("destination_rules:\n");
    for i in 0..100 {
        s.push_str(&format!(
            "  - {{path_regex: '\\pL{{10}}N{i}', s3_bucket: b}}\n"
        ));
    }
    let err = Policy::parse(s.as_bytes(), Path::new("/x/.sops.yaml")).expect_err("over");
    let msg = err.to_string();
    assert!(msg.contains("destination_rules[32]"), "{msg}");
    assert!(msg.contains("first 33 destination rules"), "{msg}");
}
