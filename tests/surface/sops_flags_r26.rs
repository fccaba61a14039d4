//! Round 26: sops 3.11 flags measured one by one against the real sops: the KMS encryption
//! context's grammar on `encrypt`/`edit`, `--rm-*` keys that do not parse, `--add-*`/`--rm-*`
//! in sops's legacy `-r` form, and empty `--input-type`/`--output-type`/`--output` values.

use std::collections::HashMap;
use std::path::Path;
use std::path::PathBuf;
use std::process::Command;
use std::process::Output;
use std::process::Stdio;

use super::Pair;
use super::ok;
use crate::support::*;

/// A second age recipient (no identity needed: it is only added to files).
const OTHER_RECIPIENT: &str = "age1tmaae3ld5vpevmsh5yacsauzx8jetg300mpvc4ugp5zr5l6ssq9sla97ep";

fn run(bin: &Path, dir: &Path, vars: &HashMap<String, String>, args: &[&str]) -> Output {
    Command::new(bin)
        .env_clear()
        .envs(vars)
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run")
}

/// leafseal under the drop-in name `sops`.
fn shim(p: &Pair) -> PathBuf {
    let shim = p.dir.join("bin/sops");
    if !shim.exists() {
        std::fs::create_dir_all(p.dir.join("bin")).expect("bin");
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_leafseal"), &shim).expect("symlink");
    }
    shim
}

/// Runs `args` with the real sops on `s.yaml` and with leafseal (under both names) on
/// `l.yaml` (`F` stands for the file), and returns the three outputs.
fn three(p: &Pair, args: &[&str]) -> [Output; 3] {
    fn with<'a>(args: &[&'a str], file: &'a str) -> Vec<&'a str> {
        args.iter()
            .map(|a| if *a == "F" { file } else { *a })
            .collect()
    }
    let leaf = Path::new(env!("CARGO_BIN_EXE_leafseal"));
    [
        run(p.sops, &p.dir, &p.vars, &with(args, "s.yaml")),
        run(leaf, &p.dir, &p.vars, &with(args, "l.yaml")),
        run(&shim(p), &p.dir, &p.vars, &with(args, "l.yaml")),
    ]
}

fn code(o: &Output) -> Option<i32> {
    o.status.code()
}

#[test]
fn encrypt_and_edit_check_the_encryption_context_as_sops() {
    let Some(mut p) = Pair::new() else { return };
    std::fs::write(p.dir.join("n.yaml"), "k: v\n").expect("plain");
    p.vars.insert("EDITOR".into(), "true".into());
    let mut compared = 0;
    for ctx in [
        "a:b", "a:b:c", "a:b,", ",a:b", "a:b,,c:d", "bad", " ", "", "a: b", "a:b,c:d",
    ] {
        for args in [
            &[
                "encrypt",
                "--age",
                AGE_RECIPIENT,
                "--encryption-context",
                ctx,
                "n.yaml",
            ][..],
            &[
                "-e",
                "--age",
                AGE_RECIPIENT,
                "--encryption-context",
                ctx,
                "n.yaml",
            ][..],
            &[
                "edit",
                "--age",
                AGE_RECIPIENT,
                "--encryption-context",
                ctx,
                "new-F",
            ][..],
        ] {
            let [s, l, shimmed] = three(&p, args);
            let label = format!("{args:?}");
            assert_eq!(
                code(&s),
                code(&shimmed),
                "{label}: {}",
                String::from_utf8_lossy(&shimmed.stderr)
            );
            if args[0] != "-e" {
                assert_eq!(
                    code(&s),
                    code(&l),
                    "{label}: {}",
                    String::from_utf8_lossy(&l.stderr)
                );
            }
            if code(&s) == Some(leafseal::error::exit::INVALID_KMS_CONTEXT) {
                assert!(l.stdout.is_empty() && shimmed.stdout.is_empty(), "{label}");
                assert!(!p.dir.join("new-l.yaml").exists(), "{label}");
            }
            compared += 1;
        }
        for f in ["new-s.yaml", "new-l.yaml"] {
            let _ = std::fs::remove_file(p.dir.join(f));
        }
    }
    eprintln!("encryption contexts: {compared} command lines compared");
}

#[test]
fn rotate_refuses_removing_keys_that_do_not_parse_as_sops() {
    let Some(p) = Pair::new() else { return };
    let before = std::fs::read(p.dir.join("l.yaml")).expect("read");
    for (flag, value) in [
        ("--rm-age", "bogus"),
        ("--rm-age", "age1notarecipient"),
        ("--rm-hc-vault-transit", "bogus"),
        ("--rm-azure-kv", "bogus"),
        // sops removes these kinds by the text given, so nothing to refuse.
        ("--rm-pgp", "ZZZ"),
        ("--rm-kms", "bogus"),
        ("--rm-gcp-kms", "bogus"),
    ] {
        for mode in ["rotate", "-r"] {
            let args = [mode, "-i", flag, value, "F"];
            let [s, l, shimmed] = three(&p, &args);
            assert_eq!(
                code(&s),
                code(&shimmed),
                "{args:?}: {}",
                String::from_utf8_lossy(&shimmed.stderr)
            );
            if mode == "rotate" {
                assert_eq!(
                    code(&s),
                    code(&l),
                    "{args:?}: {}",
                    String::from_utf8_lossy(&l.stderr)
                );
            }
            if code(&s) != Some(0) {
                assert_eq!(
                    std::fs::read(p.dir.join("l.yaml")).expect("read"),
                    before,
                    "{args:?}"
                );
            }
        }
    }
}

#[test]
fn legacy_rotate_takes_add_and_rm_flags_as_sops() {
    let Some(p) = Pair::new() else { return };
    let shim = shim(&p);
    let leaf_add = run(
        &shim,
        &p.dir,
        &p.vars,
        &["-r", "-i", "--add-age", OTHER_RECIPIENT, "l.yaml"],
    );
    ok(&leaf_add);
    ok(&run(
        p.sops,
        &p.dir,
        &p.vars,
        &["-r", "-i", "--add-age", OTHER_RECIPIENT, "s.yaml"],
    ));
    for f in ["s.yaml", "l.yaml"] {
        let raw = std::fs::read_to_string(p.dir.join(f)).expect("read");
        assert!(
            raw.contains(OTHER_RECIPIENT) && raw.contains(AGE_RECIPIENT),
            "{f}: {raw}"
        );
    }
    // The real sops opens leafseal's file, and the recipient added is removed again.
    assert_eq!(
        ok(&run(p.sops, &p.dir, &p.vars, &["-d", "l.yaml"])),
        "a: 1\nb: x\n"
    );
    ok(&run(
        &shim,
        &p.dir,
        &p.vars,
        &["-r", "-i", "--rm-age", OTHER_RECIPIENT, "l.yaml"],
    ));
    ok(&run(
        p.sops,
        &p.dir,
        &p.vars,
        &["-r", "-i", "--rm-age", OTHER_RECIPIENT, "s.yaml"],
    ));
    for f in ["s.yaml", "l.yaml"] {
        let raw = std::fs::read_to_string(p.dir.join(f)).expect("read");
        assert!(
            !raw.contains(OTHER_RECIPIENT) && raw.contains(AGE_RECIPIENT),
            "{f}: {raw}"
        );
    }
    // To standard output, with the `=` form and the flag first.
    for args in [
        &["-r", "--add-age", OTHER_RECIPIENT, "F"][..],
        &["-r", &format!("--add-age={OTHER_RECIPIENT}"), "F"][..],
        &["--add-age", OTHER_RECIPIENT, "-r", "F"][..],
    ] {
        let [s, _, shimmed] = three(&p, args);
        assert_eq!(code(&s), Some(0), "{args:?}");
        assert_eq!(
            code(&shimmed),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&shimmed.stderr)
        );
        let out = String::from_utf8_lossy(&shimmed.stdout);
        assert!(out.contains(OTHER_RECIPIENT), "{args:?}: {out}");
    }
}

#[test]
fn empty_type_and_output_values_count_as_unset_as_sops() {
    let Some(p) = Pair::new() else { return };
    std::fs::write(p.dir.join("n.yaml"), "k: v\n").expect("plain");
    for args in [
        &["decrypt", "--output-type", "", "F"][..],
        &["decrypt", "--input-type", "", "F"][..],
        &["decrypt", "--output-type=", "F"][..],
        &["decrypt", "--output", "", "F"][..],
        &["decrypt", "--output=", "F"][..],
        &["-d", "--output-type", "", "--input-type", "", "F"][..],
        &["exec-file", "--output-type", "", "F", "cat {}"][..],
        &["exec-file", "--filename", "", "F", "basename {}; cat {}"][..],
        &["filestatus", "--input-type", "", "F"][..],
    ] {
        let [s, l, shimmed] = three(&p, args);
        assert_eq!(
            code(&s),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&s.stderr)
        );
        for o in [&l, &shimmed] {
            assert_eq!(
                code(o),
                Some(0),
                "{args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            assert_eq!(o.stdout, s.stdout, "{args:?}");
        }
    }
    // encrypt to standard output; then set with an empty output type writes the file back
    // in its own format.
    let [s, l, shimmed] = three(
        &p,
        &[
            "encrypt",
            "--age",
            AGE_RECIPIENT,
            "--input-type",
            "",
            "--output",
            "",
            "n.yaml",
        ],
    );
    for o in [&s, &l, &shimmed] {
        assert!(String::from_utf8_lossy(&ok(o).into_bytes()).contains("k: ENC["));
    }
    let [s, l, _] = three(&p, &["set", "--output-type", "", "F", r#"["b"]"#, "\"z\""]);
    ok(&s);
    ok(&l);
    let [(sd, _), (ld, _)] = p.decrypted("yaml");
    assert_eq!(sd, ld);
    assert_eq!(ld, "a: 1\nb: z\n");
    // leafseal's own commands keep refusing an empty value.
    let leaf = Path::new(env!("CARGO_BIN_EXE_leafseal"));
    let keygen = run(leaf, &p.dir, &p.vars, &["keygen", "--output", ""]);
    assert_ne!(code(&keygen), Some(0));
    assert!(keygen.stdout.is_empty());
}

/// `--indent 0` on YAML output is the YAML store's default (4 spaces) in sops, as
/// `stores.yaml.indent: 0` is; leafseal wrote 2 spaces.
#[test]
fn indent_zero_on_yaml_output_is_the_default_as_sops() {
    let Some(p) = Pair::new() else { return };
    std::fs::write(p.dir.join("n.yaml"), "k:\n    - a\n    - b: c\n").expect("plain");
    let nested = |o: &Output| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| l.split("ENC[").next().unwrap_or_default().to_owned())
            .filter(|l| !l.starts_with("sops:") && !l.starts_with("    ") || l.starts_with("    -"))
            .take(3)
            .collect::<Vec<_>>()
    };
    for args in [
        &["-d", "--indent", "0", "F"][..],
        &["-d", "--indent", "0", "--output-type", "yaml", "F"][..],
        &["-e", "--age", AGE_RECIPIENT, "--indent", "0", "n.yaml"][..],
    ] {
        let [s, _, shimmed] = three(&p, args);
        assert_eq!(code(&s), Some(0), "{args:?}");
        assert_eq!(
            code(&shimmed),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&shimmed.stderr)
        );
        if args[0] == "-d" {
            assert_eq!(shimmed.stdout, s.stdout, "{args:?}");
        } else {
            let (sl, ll) = (nested(&s), nested(&shimmed));
            assert_eq!(sl, ll, "{args:?}");
            assert!(sl.iter().any(|l| l.starts_with("    - ")), "{sl:?}");
        }
    }
}

/// An empty item in an age list given to `encrypt --age`, `rotate --add-age`/`--rm-age`
/// (or `SOPS_AGE_RECIPIENTS`) is an empty recipient to sops (exit 1); leafseal skipped it.
/// `groups add --age`, which sops reads value by value, takes `R,` in both.
#[test]
fn an_empty_item_in_an_age_list_is_refused_as_sops() {
    let Some(p) = Pair::new() else { return };
    std::fs::write(p.dir.join("n.yaml"), "k: v\n").expect("plain");
    let before = std::fs::read(p.dir.join("l.yaml")).expect("read");
    let trailing = format!("{AGE_RECIPIENT},");
    let doubled = format!("{AGE_RECIPIENT},,{OTHER_RECIPIENT}");
    let leading = format!(",{OTHER_RECIPIENT}");
    for args in [
        &["encrypt", "--age", &trailing, "n.yaml"][..],
        &["encrypt", "--age", &doubled, "n.yaml"][..],
        &["encrypt", "--age", " ", "n.yaml"][..],
        &["-e", "--age", &leading, "n.yaml"][..],
        &["rotate", "-i", "--add-age", &leading, "F"][..],
        &["rotate", "-i", "--rm-age", &trailing, "F"][..],
        &["-r", "-i", "--add-age", &trailing, "F"][..],
    ] {
        let [s, l, shimmed] = three(&p, args);
        assert_eq!(code(&s), Some(1), "{args:?}");
        for o in [&l, &shimmed] {
            assert_eq!(
                code(o),
                Some(1),
                "{args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            assert!(o.stdout.is_empty(), "{args:?}");
        }
        assert_eq!(
            std::fs::read(p.dir.join("l.yaml")).expect("read"),
            before,
            "{args:?}"
        );
    }
    let [s, l, _] = three(&p, &["groups", "add", "-f", "F", "--age", &trailing]);
    assert_eq!((code(&s), code(&l)), (Some(0), Some(0)));
}

/// An empty age list (`--age ''`, `rotate --add-age ''`/`--rm-age ''`, also in the legacy
/// `-r` form) names no recipient: sops takes it (its recipient parser returns no key for
/// an empty text), so `encrypt` falls back to the policy's rule and `rotate` only rotates.
/// Round 26's empty-item check refused it (exit 1).
#[test]
fn an_empty_age_list_names_no_recipient_as_sops() {
    let Some(p) = Pair::new() else { return };
    std::fs::write(p.dir.join("n.yaml"), "k: v\n").expect("plain");
    std::fs::write(
        p.dir.join(".sops.yaml"),
        format!("creation_rules:\n  - age: {AGE_RECIPIENT}\n"),
    )
    .expect("policy");
    for args in [
        &["encrypt", "--age", "", "n.yaml"][..],
        &["-e", "--age", "", "n.yaml"][..],
        &["rotate", "-i", "--add-age", "", "F"][..],
        &["rotate", "-i", "--rm-age", "", "F"][..],
        &["-r", "-i", "--add-age", "", "F"][..],
    ] {
        let [s, l, shimmed] = three(&p, args);
        assert_eq!(code(&s), Some(0), "{args:?}");
        for o in [&l, &shimmed] {
            assert_eq!(
                code(o),
                Some(0),
                "{args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        if args.contains(&"n.yaml") {
            // Encrypted for the rule's recipient, as sops does.
            for o in [&s, &l, &shimmed] {
                let out = String::from_utf8_lossy(&o.stdout);
                assert!(out.contains(AGE_RECIPIENT), "{args:?}: {out}");
                assert!(!out.contains("k: v"), "{args:?}: {out}");
            }
        }
    }
    // The file still opens after the rotations, with the same recipient.
    let l = std::fs::read_to_string(p.dir.join("l.yaml")).expect("read");
    assert!(l.contains(AGE_RECIPIENT), "{l}");
}

/// sops reads `--add-*`/`--rm-*` only with `-r`: with `-d`, `-e` or the one-string
/// `--set` it ignores them (exit 0, the file's keys unchanged). leafseal's subcommands
/// refused them (exit 2) before the legacy rewriter dropped them with a warning.
#[test]
fn legacy_key_changes_outside_rotate_are_ignored_as_sops() {
    let Some(p) = Pair::new() else { return };
    let rm = format!("--rm-age={AGE_RECIPIENT}");
    for args in [
        &["-d", "--add-age", OTHER_RECIPIENT, "F"][..],
        &["-d", rm.as_str(), "F"][..],
        &["--add-age", OTHER_RECIPIENT, "-d", "F"][..],
    ] {
        let [s, _, shimmed] = three(&p, args);
        assert_eq!(code(&s), Some(0), "{args:?}");
        assert_eq!(
            code(&shimmed),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&shimmed.stderr)
        );
        assert_eq!(shimmed.stdout, s.stdout, "{args:?}");
        assert!(
            String::from_utf8_lossy(&shimmed.stderr).contains("was ignored"),
            "{args:?}: a warning names what was ignored"
        );
    }
    // -e with --add-age: encrypted for --age only, as sops does.
    let args = [
        "-e",
        "--age",
        AGE_RECIPIENT,
        "--add-age",
        OTHER_RECIPIENT,
        "p.yaml",
    ];
    let s = run(p.sops, &p.dir, &p.vars, &args);
    let l = run(&shim(&p), &p.dir, &p.vars, &args);
    assert_eq!(code(&s), Some(0));
    assert_eq!(code(&l), Some(0), "{}", String::from_utf8_lossy(&l.stderr));
    for o in [&s, &l] {
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            out.contains(AGE_RECIPIENT) && !out.contains(OTHER_RECIPIENT),
            "{out}"
        );
    }
}
