//! Unit tests of the checks against sops-written fixtures and hand-made inputs.

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::path::PathBuf;

use proptest::prelude::*;

use super::*;

const PGP1: &str = "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4";
const PGP2: &str = "D7229043384BCC60326C6FB9D8720D957C3D3074";
const AGE: &str = "age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw";
/// A directory that does not exist, so rule matching is purely lexical.
const ROOT: &str = "/nonexistent-leafseal-check";

#[derive(Default)]
struct Mem(HashMap<PathBuf, Vec<u8>>);

impl Source for Mem {
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        Ok(self.0.get(&files::normalize(path)).cloned())
    }
}

fn fixture(rel: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/sops")
        .join(rel);
    std::fs::read(p).expect("fixture")
}

fn policy(text: &str) -> Policy {
    Policy::parse(text.as_bytes(), &Path::new(ROOT).join(".sops.yaml")).expect("policy")
}

/// The findings, without the integrity-record warning every sops-written fixture gets
/// (tested on its own in `integrity_records_are_reported_without_the_key`).
fn check_with(
    policy_text: &str,
    files: &[(&str, Vec<u8>)],
    opts: &CheckOptions,
) -> Vec<(String, Kind, Severity, String)> {
    check_all(policy_text, files, opts)
        .into_iter()
        .filter(|f| f.1 != Kind::IntegrityRecord)
        .collect()
}

fn check_all(
    policy_text: &str,
    files: &[(&str, Vec<u8>)],
    opts: &CheckOptions,
) -> Vec<(String, Kind, Severity, String)> {
    let p = policy(policy_text);
    let mut mem = Mem::default();
    let mut targets = Vec::new();
    for (name, bytes) in files {
        let path = Path::new(ROOT).join(name);
        mem.0.insert(path.clone(), bytes.clone());
        targets.push(Target {
            display: (*name).to_owned(),
            path,
        });
    }
    run(Some(&p), &targets, &mem, opts)
        .findings
        .into_iter()
        .map(|f| (f.path, f.kind, f.severity, f.message))
        .collect()
}

fn check(policy_text: &str, files: &[(&str, Vec<u8>)]) -> Vec<(String, Kind, Severity, String)> {
    check_with(policy_text, files, &CheckOptions::default())
}

fn kinds(found: &[(String, Kind, Severity, String)]) -> Vec<Kind> {
    found.iter().map(|f| f.1).collect()
}

#[test]
fn sops_fixtures_under_matching_rules_are_clean() {
    let rule = format!("creation_rules:\n  - pgp: {PGP1},{PGP2}\n");
    let files = [
        ("multiple_keys.yaml", fixture("yaml/multiple_keys.yaml")),
        ("example.yaml", fixture("yaml/example.v3.10.2.yaml")),
        ("example.txt", fixture("binary/example.v3.5.0.txt")),
    ];
    assert!(
        check(&rule, &files).is_empty(),
        "{:?}",
        check(&rule, &files)
    );
    let one = format!("creation_rules:\n  - pgp: {PGP1}\n");
    let files = [
        ("comments.yaml", fixture("yaml/comments.enc.yaml")),
        ("format.yaml", fixture("yaml/format.enc.yaml")),
        ("format.json", fixture("json/format.enc.json")),
        ("format.env", fixture("dotenv/format.enc.env")),
        ("format.ini", fixture("ini/format.enc.ini")),
    ];
    assert!(check(&one, &files).is_empty(), "{:?}", check(&one, &files));
}

#[test]
fn recipient_drift_names_added_and_removed_keys() {
    let rule = format!("creation_rules:\n  - pgp: {PGP1}\n    age: {AGE}\n");
    let got = check(&rule, &[("m.yaml", fixture("yaml/multiple_keys.yaml"))]);
    assert_eq!(kinds(&got), vec![Kind::RecipientDrift]);
    let msg = &got[0].3;
    assert!(
        msg.contains(&format!("in the file but not in the rule: pgp {PGP2}")),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("in the rule but missing from the file: age {AGE}")),
        "{msg}"
    );
}

#[test]
fn group_count_and_threshold_drift() {
    let rule = format!(
        "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - pgp: [{PGP1}, {PGP2}]\n      - age: [{AGE}]\n"
    );
    let got = check(&rule, &[("m.yaml", fixture("yaml/multiple_keys.yaml"))]);
    assert_eq!(kinds(&got), vec![Kind::RecipientDrift]);
    let msg = &got[0].3;
    assert!(
        msg.contains("2 group(s) in the rule, 1 in the file"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!(
            "key group 2: in the rule but missing from the file: age {AGE}"
        )),
        "{msg}"
    );
    assert!(
        msg.contains("shamir threshold: the rule says 2, the file has 1"),
        "{msg}"
    );
}

#[test]
fn a_rule_without_keys_is_not_compared() {
    let got = check(
        "creation_rules:\n  - path_regex: .*\n",
        &[("m.yaml", fixture("yaml/multiple_keys.yaml"))],
    );
    assert!(got.is_empty(), "{got:?}");
}

#[test]
fn key_age_uses_the_newest_created_at() {
    let rule = format!("creation_rules:\n  - pgp: {PGP1},{PGP2}\n");
    let files = [("m.yaml", fixture("yaml/multiple_keys.yaml"))];
    // created_at 2019-08-29T22:22:04Z.
    let at = |s: &str| Timestamp::parse_rfc3339(s).expect("time");
    let opts = |now: &str| CheckOptions {
        max_key_age_days: Some(30),
        strict: false,
        now: Some(at(now)),
        require_integrity: false,
    };
    assert!(check_with(&rule, &files, &opts("2019-09-28T22:22:04Z")).is_empty());
    let got = check_with(&rule, &files, &opts("2019-09-30T22:22:05Z"));
    assert_eq!(kinds(&got), vec![Kind::OldDataKey]);
    assert!(got[0].3.contains("32 days old"), "{}", got[0].3);
    assert!(got[0].3.contains("created_at"), "{}", got[0].3);
}

#[test]
fn missing_or_malformed_mac_and_bad_metadata() {
    let rule = format!("creation_rules:\n  - pgp: {PGP1}\n");
    let got = check(&rule, &[("n.yaml", fixture("yaml/no_mac.yaml"))]);
    assert_eq!(kinds(&got), vec![Kind::MacMissing]);
    let text = String::from_utf8(fixture("yaml/format.enc.yaml")).expect("utf-8");
    let bad: String = text
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("mac:") {
                "    mac: ENC[AES256_GCM,data:abc]\n".to_owned()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let got = check(&rule, &[("b.yaml", bad.into_bytes())]);
    assert_eq!(kinds(&got), vec![Kind::MacMissing]);
    assert!(got[0].3.contains("well-formed"));
    let got = check(
        &rule,
        &[(
            "k.yaml",
            b"a: ENC[AES256_GCM,data:x]\nsops:\n    lastmodified: x\n".to_vec(),
        )],
    );
    assert_eq!(kinds(&got), vec![Kind::MetadataInvalid]);
}

#[test]
fn clear_comments_are_warnings_and_strict_makes_them_errors() {
    let rule = format!("creation_rules:\n  - pgp: {PGP1}\n");
    let text = String::from_utf8(fixture("yaml/format.enc.yaml")).expect("utf-8");
    let edited = text.replacen("sops:\n", "# a note added by hand\nsops:\n", 1);
    let got = check(&rule, &[("c.yaml", edited.clone().into_bytes())]);
    assert_eq!(kinds(&got), vec![Kind::ClearComment]);
    assert_eq!(got[0].2, Severity::Warning);
    assert!(
        !got[0].3.contains("note added"),
        "no comment text in messages"
    );
    let strict = CheckOptions {
        strict: true,
        ..CheckOptions::default()
    };
    let got = check_with(&rule, &[("c.yaml", edited.into_bytes())], &strict);
    assert_eq!(got[0].2, Severity::Error);
}

#[test]
fn binary_files_under_a_catch_all_rule_are_not_required_to_be_encrypted() {
    let catch_all = format!("creation_rules:\n  - age: {AGE}\n");
    let files = [
        ("README.md", b"# hello\n".to_vec()),
        ("tool.toml", b"[a]\nb = 1\n".to_vec()),
    ];
    assert!(check(&catch_all, &files).is_empty());
    let targeted = format!("creation_rules:\n  - path_regex: \\.(md|pem)$\n    age: {AGE}\n");
    let got = check(&targeted, &[("key.pem", b"-----BEGIN KEY-----\n".to_vec())]);
    assert_eq!(kinds(&got), vec![Kind::Plaintext]);
    // The structured formats are held to a catch-all rule (with a hint about path_regex).
    let got = check(&catch_all, &[("app.yaml", b"a: b\n".to_vec())]);
    assert_eq!(kinds(&got), vec![Kind::Plaintext]);
}

#[test]
fn dotenv_and_ini_with_encrypted_regex_encrypt_nothing() {
    let rule =
        format!("creation_rules:\n  - pgp: {PGP1}\n    encrypted_regex: ^(data|stringData)$\n");
    for (name, f) in [
        ("x.env", "dotenv/format.enc.env"),
        ("x.ini", "ini/format.enc.ini"),
    ] {
        let got = check(&rule, &[(name, fixture(f))]);
        // The fixture was written with the default suffix: selector drift, every value
        // is left in clear by the rule's selector (the trap), no clear leaf by either.
        assert_eq!(
            kinds(&got),
            vec![Kind::SelectorDrift, Kind::SelectorEncryptsNothing],
            "{name}"
        );
    }
    let got = check(&rule, &[("p.env", b"A=1\nB=2\n".to_vec())]);
    assert_eq!(
        kinds(&got),
        vec![Kind::Plaintext, Kind::SelectorEncryptsNothing]
    );
    assert!(got[1].3.contains("all 2 value(s)"));
}

#[test]
fn unreadable_and_unmatched_files() {
    let rule = format!("creation_rules:\n  - path_regex: ^secrets/\n    age: {AGE}\n");
    let got = check(
        &rule,
        &[
            ("secrets/bad.json", b"{\"a\": ".to_vec()),
            ("other/enc.yaml", fixture("yaml/format.enc.yaml")),
            ("other/bad.json", b"{".to_vec()),
            (".sops.yaml", b"creation_rules: []\n".to_vec()),
        ],
    );
    assert_eq!(
        kinds(&got),
        vec![Kind::Unreadable, Kind::UnmatchedEncrypted]
    );
    assert!(got.iter().all(|f| f.2 == Severity::Warning));
}

fn kustomize(files: &[(&str, &str)]) -> Vec<(String, Kind, Severity, String)> {
    let owned: Vec<(&str, Vec<u8>)> = files
        .iter()
        .map(|(n, t)| (*n, t.as_bytes().to_vec()))
        .collect();
    // Only the kustomization is a target; the others are read through the source.
    let p = policy("creation_rules:\n  - path_regex: ^secrets/\n");
    let mut mem = Mem::default();
    for (name, bytes) in &owned {
        mem.0.insert(Path::new(ROOT).join(name), bytes.clone());
    }
    let targets = [Target {
        display: owned[0].0.to_owned(),
        path: Path::new(ROOT).join(owned[0].0),
    }];
    run(Some(&p), &targets, &mem, &CheckOptions::default())
        .findings
        .into_iter()
        .map(|f| (f.path, f.kind, f.severity, f.message))
        .collect()
}

const EXEC_FN: &str = "apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: gen\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: ksops\n";
const CONTAINER_FN: &str = "apiVersion: v1\nkind: Fn\nmetadata:\n  name: c\n  annotations:\n    config.kubernetes.io/function: |\n      container:\n        image: example/fn\n";

#[test]
fn kustomize_exec_functions_in_files_dirs_and_inline() {
    let got = kustomize(&[
        (
            "app/kustomization.yaml",
            "generators:\n  - gen.yaml\ntransformers:\n  - ../fns\n  - plain.yaml\n",
        ),
        ("app/gen.yaml", EXEC_FN),
        ("app/plain.yaml", CONTAINER_FN),
        ("fns/Kustomization", "resources:\n  - t.yaml\n"),
        ("fns/t.yaml", &EXEC_FN.replace("name: gen", "name: t")),
    ]);
    assert_eq!(kinds(&got), vec![Kind::KustomizeExec, Kind::KustomizeExec]);
    assert!(got[0].3.contains("`generators` entry `gen.yaml`") && got[0].3.contains("ksops/gen"));
    assert!(got[1].3.contains("`transformers` entry `../fns`") && got[1].3.contains("ksops/t"));
    let inline = format!(
        "generators:\n  - |\n{}\n",
        EXEC_FN
            .lines()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let got = kustomize(&[("kustomization.yml", &inline)]);
    assert_eq!(kinds(&got), vec![Kind::KustomizeExec]);
    assert_eq!(got[0].2, Severity::Warning);
    let got = kustomize(&[
        (
            "kustomization.yaml",
            "generators:\n  - c.yaml\n  - https://example.invalid/x\n  - missing.yaml\n",
        ),
        ("c.yaml", CONTAINER_FN),
    ]);
    assert!(got.is_empty(), "{got:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let rule = format!("creation_rules:\n  - pgp: {PGP1}\n    encrypted_regex: a\n");
        for name in ["x.yaml", "x.json", "x.env", "x.ini", "x.toml", "x.bin", "kustomization.yaml"] {
            let _ = check_with(&rule, &[(name, bytes.clone())], &CheckOptions { max_key_age_days: Some(1), ..CheckOptions::default() });
        }
    }

    #[test]
    fn mutated_fixture_never_panics(pos in 0usize..4000, byte in any::<u8>()) {
        let mut f = fixture("yaml/example.v3.10.2.yaml");
        if let Some(b) = f.get_mut(pos) {
            *b = byte;
        }
        let rule = format!("creation_rules:\n  - pgp: {PGP1}\n");
        let _ = check_with(&rule, &[("x.yaml", f)], &CheckOptions { max_key_age_days: Some(1), ..CheckOptions::default() });
    }
}

#[test]
fn integrity_records_are_reported_without_the_key() {
    let rule = format!("creation_rules:\n  - pgp: {PGP1},{PGP2}\n");
    // A file sops wrote has no record: a warning, an error under --strict or when the
    // policy asks for records.
    let files = [("m.yaml", fixture("yaml/multiple_keys.yaml"))];
    let got = check_all(&rule, &files, &CheckOptions::default());
    let rec: Vec<_> = got
        .iter()
        .filter(|f| f.1 == Kind::IntegrityRecord)
        .collect();
    assert_eq!(rec.len(), 1, "{got:?}");
    assert_eq!(rec[0].2, Severity::Warning);
    assert!(
        rec[0].3.contains("no leafseal integrity record"),
        "{}",
        rec[0].3
    );
    let required = CheckOptions {
        require_integrity: true,
        ..CheckOptions::default()
    };
    let got = check_all(&rule, &files, &required);
    assert!(
        got.iter()
            .any(|f| f.1 == Kind::IntegrityRecord && f.2 == Severity::Error)
    );
    let strict_policy = format!("leafseal:\n  strict_integrity: true\n{rule}");
    let got = check_all(&strict_policy, &files, &CheckOptions::default());
    assert!(
        got.iter()
            .any(|f| f.1 == Kind::IntegrityRecord && f.2 == Severity::Error)
    );

    // A current record: nothing to report. A record bound to another MAC: stale.
    let text = String::from_utf8(fixture("yaml/multiple_keys.yaml")).expect("utf-8");
    let mac_line = text
        .lines()
        .find(|l| l.trim_start().starts_with("mac: "))
        .expect("mac line");
    let mac = mac_line.trim_start().trim_start_matches("mac: ");
    let current = format!(
        "v1:{}:{}",
        crate::crypto::integrity::mac_ref(mac),
        "A".repeat(43) + "="
    );
    let with = |record: &str| {
        text.replacen(
            mac_line,
            &format!("    leafseal_integrity: {record}\n{mac_line}"),
            1,
        )
        .into_bytes()
    };
    let got = check_all(
        &rule,
        &[("m.yaml", with(&current))],
        &CheckOptions::default(),
    );
    assert!(got.iter().all(|f| f.1 != Kind::IntegrityRecord), "{got:?}");
    let stale = format!("v1:0000000000000000:{}", "A".repeat(43) + "=");
    let got = check_all(&rule, &[("m.yaml", with(&stale))], &CheckOptions::default());
    assert!(
        got.iter()
            .any(|f| f.1 == Kind::IntegrityRecord && f.3.contains("earlier version")),
        "{got:?}"
    );
}

#[test]
fn each_sealed_passes_over_plain_files_and_reports_unreadable_metadata() {
    let mut mem = Mem::default();
    let mut targets = Vec::new();
    let files: [(&str, Vec<u8>); 5] = [
        (".sops.yaml", b"creation_rules: []\n".to_vec()),
        ("sealed.yaml", fixture("yaml/example.v3.10.2.yaml")),
        ("plain.yaml", b"a: 1\n".to_vec()),
        (
            "broken.yaml",
            b"a: 1\nsops:\n    lastmodified: yesterday\n".to_vec(),
        ),
        ("unparsable.yaml", b"a: [\n".to_vec()),
    ];
    for (name, bytes) in &files {
        let path = Path::new(ROOT).join(name);
        mem.0.insert(path.clone(), bytes.clone());
        targets.push(Target {
            display: (*name).to_owned(),
            path,
        });
    }
    targets.push(Target {
        display: "missing.yaml".to_owned(),
        path: Path::new(ROOT).join("missing.yaml"),
    });
    let mut skipped = Vec::new();
    let mut seen = Vec::new();
    each_sealed(&targets, &mem, &mut skipped, |t, bytes, meta| {
        seen.push((t.display.clone(), bytes.len(), meta.version.clone()));
    });
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].0, "sealed.yaml");
    assert_eq!(seen[0].1, files[1].1.len());
    assert!(!seen[0].2.is_empty());
    let skipped: Vec<&str> = skipped.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(skipped, ["broken.yaml"]);
}
