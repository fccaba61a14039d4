#![allow(clippy::unwrap_used)]
use super::*;

fn rw(s: &str) -> Rewrite {
    let args: Vec<String> = s.split_whitespace().map(str::to_owned).collect();
    rewrite(&args).unwrap()
}

fn args(s: &str) -> Rewrite {
    Rewrite::Args(s.split_whitespace().map(str::to_owned).collect())
}

#[test]
fn flag_forms() {
    assert_eq!(rw("sops -d f.yaml"), args("sops decrypt f.yaml"));
    assert_eq!(
        rw("sops --decrypt --input-type yaml --output-type yaml f"),
        args("sops decrypt --input-type yaml --output-type yaml f")
    );
    assert_eq!(rw("sops -e -i f"), args("sops encrypt --in-place f"));
    assert_eq!(rw("sops -i -e f"), args("sops encrypt --in-place f"));
    assert_eq!(rw("sops -ei f"), args("sops encrypt --in-place f"));
    assert_eq!(
        rw("sops --encrypt --age R f"),
        args("sops encrypt --age R f")
    );
    assert_eq!(
        rw("sops -d --extract [\"a\"] f"),
        args("sops decrypt --extract [\"a\"] f")
    );
    assert_eq!(
        rw("sops --verbose --disable-version-check -d f"),
        args("sops decrypt f")
    );
    assert_eq!(rw("sops --version"), Rewrite::Version);
    assert_eq!(rw("sops -v"), Rewrite::Version);
    assert_eq!(rw("sops -d -s f"), args("sops decrypt f"));
    assert_eq!(rw("sops -r -i f"), args("sops rotate --in-place f"));
}

#[test]
fn the_set_flag_becomes_the_set_command() {
    let a: Vec<String> = ["sops", "-i", "--set", r#"["a b"] {"x": "y z"}"#, "f.yaml"]
        .map(str::to_owned)
        .to_vec();
    if has_subcommand("edit") {
        assert_eq!(
            rewrite(&a).unwrap(),
            Rewrite::Args(
                ["sops", "set", "f.yaml", r#"["a b"]"#, r#"{"x": "y z"}"#]
                    .map(str::to_owned)
                    .to_vec()
            )
        );
        let bad: Vec<String> = ["sops", "--set", r#"["q"]"#, "f.yaml"]
            .map(str::to_owned)
            .to_vec();
        assert_eq!(rewrite(&bad).unwrap_err().code, exit::INVALID_SET_FORMAT);
    }
}

#[test]
fn show_master_keys_reaches_edit() {
    let a: Vec<String> = ["sops", "-s", "f.yaml"].map(str::to_owned).to_vec();
    if let Ok(r) = rewrite(&a) {
        assert_eq!(r, args("sops edit --show-master-keys f.yaml"));
    }
    assert_eq!(rw("sops edit -s f.yaml"), args("sops edit -s f.yaml"));
}

#[test]
fn flag_values_are_not_subcommands() {
    assert_eq!(
        rw("sops -d --output decrypt f"),
        args("sops decrypt --output decrypt f")
    );
    assert_eq!(
        rw("sops -e --input-type=yaml f"),
        args("sops encrypt --input-type=yaml f")
    );
}

#[test]
fn subcommand_forms_pass_through() {
    assert_eq!(rw("sops decrypt f"), args("sops decrypt f"));
    assert_eq!(
        rw("sops --config c.yaml encrypt --age R f"),
        args("sops encrypt --config c.yaml --age R f")
    );
    assert_eq!(rw("sops filestatus f"), args("sops filestatus f"));
    assert_eq!(
        rw("sops --enable-local-keyservice=false --keyservice tcp://h:5000 -d f"),
        args("sops decrypt --enable-local-keyservice=false --keyservice tcp://h:5000 f")
    );
    assert_eq!(
        rw("sops keyservice --net unix --addr /s --verbose"),
        args("sops keyservice --net unix --addr /s --verbose")
    );
    assert_eq!(
        rw("sops --verbose decrypt --verbose f"),
        args("sops decrypt f")
    );
}

#[test]
fn conflicts_and_missing_commands() {
    let a: Vec<String> = ["sops", "-d", "-e", "f"].map(str::to_owned).to_vec();
    assert_eq!(rewrite(&a).unwrap_err().code, exit::CONFLICTING_PARAMETERS);
    let edit: Vec<String> = ["sops", "f.yaml"].map(str::to_owned).to_vec();
    match rewrite(&edit) {
        Ok(r) => assert_eq!(r, args("sops edit f.yaml")),
        Err(e) => assert!(e.message.contains("no `edit` command")),
    }
}

#[test]
fn only_the_sops_name_is_rewritten() {
    assert!(is_sops("/usr/local/bin/sops"));
    assert!(is_sops("sops"));
    assert!(!is_sops("/usr/bin/leafseal"));
    assert!(!is_sops("sopsy"));
    let a = vec![OsString::from("leafseal"), OsString::from("decrypt")];
    assert_eq!(intercept(a.clone()), Action::Run(a));
}

#[test]
fn leafseal_called_the_sops_way() {
    let v = |s: &str| -> Vec<String> { s.split_whitespace().map(str::to_owned).collect() };
    assert!(is_legacy_form(&v("leafseal -d f")));
    assert!(is_legacy_form(&v("leafseal -ei f")));
    assert!(is_legacy_form(&v("leafseal --config c.yaml -d f")));
    assert!(is_legacy_form(&v(
        "leafseal --strict-integrity --decrypt f"
    )));
    assert!(!is_legacy_form(&v("leafseal decrypt -i f")));
    assert!(!is_legacy_form(&v("leafseal --config c.yaml decrypt f")));
    assert!(!is_legacy_form(&v("leafseal --help")));
    assert!(!is_legacy_form(&v("leafseal -V")));
    assert!(!is_legacy_form(&v("leafseal")));
    let a = vec![
        OsString::from("leafseal"),
        OsString::from("-d"),
        OsString::from("f"),
    ];
    assert_eq!(
        intercept(a),
        Action::Run(vec![
            OsString::from("leafseal"),
            OsString::from("decrypt"),
            OsString::from("f")
        ])
    );
}

fn rwv(v: &[&str]) -> Result<Rewritten, Error> {
    let a: Vec<String> = v.iter().map(|s| (*s).to_owned()).collect();
    rewrite_warn(&a)
}

#[test]
fn flags_before_a_subcommand_are_ignored_as_in_sops() {
    // r20 06: sops 3.11 never reads them; leafseal applied them (`-i decrypt` wrote
    // plaintext to disk, `--ignore-mac decrypt` accepted a tampered file).
    for (line, flag) in [
        ("sops -i decrypt f", "`-i`"),
        ("sops --ignore-mac decrypt f", "--ignore-mac"),
        ("sops --output o decrypt f", "--output"),
        ("sops --extract [\"a\"] decrypt f", "--extract"),
        ("sops --age R encrypt f", "--age"),
        ("sops -d decrypt f", "-d"),
    ] {
        let v: Vec<&str> = line.split_whitespace().collect();
        let r = rwv(&v).unwrap();
        let sub = v
            .iter()
            .find(|a| **a == "decrypt" || **a == "encrypt")
            .unwrap();
        assert_eq!(r.rewrite, args(&format!("sops {sub} f")), "{line}");
        assert_eq!(r.warnings.len(), 1, "{line}");
        assert!(r.warnings[0].contains(flag), "{line}: {:?}", r.warnings);
        assert!(r.warnings[0].contains("after the subcommand"), "{line}");
    }
    // --config is read there by sops; the key-service and leafseal's global flags stay.
    let r = rwv(&[
        "sops",
        "--config",
        "c",
        "--strict-integrity",
        "decrypt",
        "f",
    ])
    .unwrap();
    assert_eq!(
        r.rewrite,
        args("sops decrypt --config c --strict-integrity f")
    );
    assert!(r.warnings.is_empty());
    // Under the leafseal name the same rewrite runs (its legacy form).
    let a: Vec<String> = ["leafseal", "-i", "decrypt", "f"]
        .map(str::to_owned)
        .to_vec();
    assert!(is_legacy_form(&a));
    assert_eq!(rewrite(&a).unwrap(), args("leafseal decrypt f"));
}

#[test]
fn the_legacy_form_uses_the_first_file_only() {
    let r = rwv(&["sops", "-d", "f", "--output-type", "json"]).unwrap();
    assert_eq!(r.rewrite, args("sops decrypt f"));
    assert!(
        r.warnings.iter().any(|w| w.contains("--output-type")),
        "{:?}",
        r.warnings
    );
    let r = rwv(&["sops", "-d", "-i", "a", "b"]).unwrap();
    assert_eq!(r.rewrite, args("sops decrypt --in-place a"));
    assert!(r.warnings[0].contains("only the first"), "{:?}", r.warnings);
}

#[test]
fn drop_in_forms_sops_accepts() {
    // r20 03: `--set=`, -i with the editor and with --set, --verbose=true,
    // --check-for-updates.
    let r = rwv(&["sops", "--set=[\"a\"] 1", "f"]).unwrap();
    assert_eq!(
        r.rewrite,
        Rewrite::Args(
            ["sops", "set", "f", "[\"a\"]", "1"]
                .map(str::to_owned)
                .to_vec()
        )
    );
    let r = rwv(&["sops", "-i", "--set=[\"a\"] 1", "f"]).unwrap();
    assert_eq!(
        r.rewrite,
        Rewrite::Args(
            ["sops", "set", "f", "[\"a\"]", "1"]
                .map(str::to_owned)
                .to_vec()
        )
    );
    assert_eq!(rw("sops --verbose=true -d f"), args("sops decrypt f"));
    assert_eq!(rw("sops --check-for-updates -d f"), args("sops decrypt f"));
    if has_subcommand("edit") {
        assert_eq!(rw("sops -i f"), args("sops edit f"));
    }
    assert_eq!(rw("sops h"), args("sops help"));
    // -d with --set: sops runs the set (the last mode), with a warning.
    let r = rwv(&["sops", "-d", "--set", "[\"a\"] 1", "f"]).unwrap();
    assert_eq!(
        r.rewrite,
        Rewrite::Args(
            ["sops", "set", "f", "[\"a\"]", "1"]
                .map(str::to_owned)
                .to_vec()
        )
    );
    assert_eq!(r.warnings.len(), 1);
    let r = rwv(&["sops", "-d", "-r", "f"]).unwrap();
    assert_eq!(r.rewrite, args("sops rotate f"));
    assert!(r.warnings[0].contains("--rotate"));
    assert_eq!(
        rwv(&["sops", "--generate-bash-completion"])
            .unwrap()
            .rewrite,
        Rewrite::Print(super::legacy::completion_words().to_owned())
    );
    assert_eq!(
        rwv(&["sops", "-d", "--generate-bash-completion"])
            .unwrap()
            .rewrite,
        Rewrite::Print(String::new())
    );
}

#[test]
fn no_file_is_sops_no_file_specified() {
    for line in ["sops", "sops -d", "sops -e", "sops -r", "sops -i"] {
        let v: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(rwv(&v).unwrap_err().code, exit::NO_FILE_SPECIFIED, "{line}");
    }
    assert_eq!(rw("sops --help"), args("sops --help"));
}

mod props {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn rewrite_never_panics(args in proptest::collection::vec("(-[deirsvh]{1,3}|--[a-z-]{1,12}|[a-z.]{0,6}|decrypt|--)", 0..8)) {
            let mut v = vec!["sops".to_owned()];
            v.extend(args);
            let _ = rewrite(&v);
        }
    }
}

#[test]
fn empty_type_and_output_values_are_dropped_for_sops_commands_only() {
    let os = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
    assert_eq!(
        drop_empty_flags(os(&[
            "leafseal",
            "decrypt",
            "--output-type",
            "",
            "--output=",
            "f.yaml"
        ])),
        os(&["leafseal", "decrypt", "f.yaml"])
    );
    assert_eq!(
        drop_empty_flags(os(&["sops", "-d", "--input-type", "", "f.yaml"])),
        os(&["sops", "-d", "f.yaml"])
    );
    // After `--` the words belong to the command run; leafseal's own commands keep clap's
    // refusal of an empty value.
    let exec = os(&[
        "leafseal", "exec-env", "f.yaml", "--", "echo", "--output", "",
    ]);
    assert_eq!(drop_empty_flags(exec.clone()), exec);
    let keygen = os(&["leafseal", "keygen", "--output", ""]);
    assert_eq!(drop_empty_flags(keygen.clone()), keygen);
    // A non-empty value stays.
    let kept = os(&["leafseal", "decrypt", "--output-type", "json", "f.yaml"]);
    assert_eq!(drop_empty_flags(kept.clone()), kept);
}

/// The subcommand is found after leafseal's global flags and their values: `--config F`
/// before `decrypt` took `F` for the subcommand, so `--output ''` was not dropped there
/// (clap exit 2, where `leafseal decrypt --output ''` prints to standard output).
#[test]
fn empty_values_are_dropped_after_a_global_flag_with_a_value_too() {
    let os = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
    assert_eq!(
        drop_empty_flags(os(&[
            "leafseal", "--config", "c.yaml", "decrypt", "--output", "", "f.yaml"
        ])),
        os(&["leafseal", "--config", "c.yaml", "decrypt", "f.yaml"])
    );
    // A global flag's value named like a subcommand is not one.
    let keygen = os(&["leafseal", "--config", "decrypt", "keygen", "--output", ""]);
    assert_eq!(drop_empty_flags(keygen.clone()), keygen);
}
