//! leafseal as a drop-in `sops`: the command lines where the round-20 differential
//! campaign (`/tmp/r20/clidiff/repro/0*_*.sh`, `1*_*.sh`) found leafseal and the real
//! sops 3.11 apart, each run through both in twin directories and compared live.

mod support;

#[path = "support/sops.rs"]
mod sops_peer;

use std::collections::HashMap;
use std::path::Path;
use std::path::PathBuf;
use std::process::Command;
use std::process::Output;
use std::process::Stdio;

use support::*;

/// Twin directories with the same sops-encrypted `s.yaml` (`a: 1`, `b: x`) and plaintext
/// `p.yaml`: one for the real sops, one for leafseal called through a `sops` symlink.
struct Twins {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    sops: &'static Path,
    shim: PathBuf,
    vars: HashMap<String, String>,
}

impl Twins {
    fn new() -> Option<Twins> {
        let sops = sops_peer::sops_bin()?;
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path().to_owned();
        let vars = env_vars(None, &root);
        let shim = root.join("bin/sops");
        std::fs::create_dir_all(root.join("bin")).expect("bin");
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_leafseal"), &shim).expect("symlink");
        for d in ["s", "l"] {
            std::fs::create_dir_all(root.join(d)).expect("dir");
            std::fs::write(root.join(d).join("p.yaml"), "a: 1\nb: x\n").expect("plain");
        }
        let t = Twins {
            _tmp: tmp,
            root,
            sops,
            shim,
            vars,
        };
        let enc = t.sops(&["encrypt", "--age", AGE_RECIPIENT, "p.yaml"], &[]);
        assert!(enc.status.success(), "{}", stderr(&enc));
        for d in ["s", "l"] {
            std::fs::write(t.root.join(d).join("s.yaml"), &enc.stdout).expect("enc");
            std::fs::write(t.root.join(d).join("t.yaml"), &enc.stdout).expect("enc");
        }
        Some(t)
    }

    fn run(&self, bin: &Path, dir: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(bin)
            .env_clear()
            .envs(&self.vars)
            .envs(env.iter().copied())
            .env("SOPS_DISABLE_VERSION_CHECK", "1")
            .current_dir(self.root.join(dir))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run")
    }

    fn sops(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.run(self.sops, "s", args, env)
    }

    fn leaf(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.run(&self.shim, "l", args, env)
    }

    /// Runs both; asserts the same exit code and standard output; returns leafseal's.
    fn same(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let s = self.sops(args, env);
        let l = self.leaf(args, env);
        assert_eq!(
            s.status.code(),
            l.status.code(),
            "{args:?} {env:?}\nsops: {}\nleafseal: {}",
            stderr(&s),
            stderr(&l)
        );
        assert_eq!(
            String::from_utf8_lossy(&s.stdout),
            String::from_utf8_lossy(&l.stdout),
            "{args:?}"
        );
        l
    }

    /// A file of both twins, decrypted by the real sops (`None`: it did not decrypt).
    fn plain(&self, dir: &str, file: &str) -> Option<String> {
        let o = self.run(self.sops, dir, &["decrypt", file], &[]);
        o.status
            .success()
            .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
    }

    fn read(&self, dir: &str, file: &str) -> String {
        std::fs::read_to_string(self.root.join(dir).join(file)).unwrap_or_default()
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn r20_03_drop_in_forms_sops_accepts() {
    let Some(t) = Twins::new() else { return };
    // --set=… (the `=` form) and -i with --set: the value is set in both.
    t.same(&["--set=[\"a\"] 2", "s.yaml"], &[]);
    assert_eq!(t.plain("s", "s.yaml"), t.plain("l", "s.yaml"));
    assert!(t.plain("l", "s.yaml").is_some_and(|p| p.contains("a: 2")));
    t.same(&["-i", "--set=[\"b\"] \"y\"", "s.yaml"], &[]);
    assert_eq!(t.plain("s", "s.yaml"), t.plain("l", "s.yaml"));
    // -d with --set: sops runs the set (the last mode), with a warning.
    let l = t.same(&["-d", "--set", "[\"a\"] 3", "s.yaml"], &[]);
    assert!(
        stderr(&l).contains("only --set takes effect"),
        "{}",
        stderr(&l)
    );
    assert_eq!(t.plain("s", "s.yaml"), t.plain("l", "s.yaml"));
    // -i with the editor: ignored (an editor that changes nothing: 200 in both).
    t.same(&["-i", "t.yaml"], &[("EDITOR", "true")]);
    // sops's ignored global flags, in the `=` form too.
    t.same(&["--verbose=true", "-d", "t.yaml"], &[]);
    t.same(&["--check-for-updates", "-d", "t.yaml"], &[]);
    // `h` is help; the completion scripts' call prints the subcommands.
    for bin in [t.sops, t.shim.as_path()] {
        let o = t.run(bin, "l", &["h"], &[]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(o.stdout.len() > 100);
    }
    t.same(&["--generate-bash-completion"], &[]);
    assert!(
        t.same(&["decrypt", "--generate-bash-completion"], &[])
            .status
            .success()
    );
}

#[test]
fn r20_04_empty_environment_variables_count_as_unset() {
    let Some(t) = Twins::new() else { return };
    for var in [
        "SOPS_KEYSERVICE",
        "SOPS_CONFIG",
        "SOPS_DECRYPTION_ORDER",
        "SOPS_AGE_RECIPIENTS",
        "SOPS_PGP_FP",
        "LEAFSEAL_STRICT_INTEGRITY",
    ] {
        t.same(&["decrypt", "t.yaml"], &[(var, "")]);
        let l = t.leaf(&["encrypt", "--age", AGE_RECIPIENT, "p.yaml"], &[(var, "")]);
        assert!(l.status.success(), "{var}: {}", stderr(&l));
    }
    // sops reads an empty SOPS_ENABLE_LOCAL_KEYSERVICE as false (and then has no key);
    // leafseal keeps its promise that an empty variable counts as unset.
    let l = t.leaf(
        &["decrypt", "t.yaml"],
        &[("SOPS_ENABLE_LOCAL_KEYSERVICE", "")],
    );
    assert!(l.status.success(), "{}", stderr(&l));
}

#[test]
fn r20_05_unknown_decryption_order_entries_are_skipped() {
    let Some(t) = Twins::new() else { return };
    let l = t.same(&["decrypt", "--decryption-order", "AGE", "t.yaml"], &[]);
    assert!(l.status.success());
    assert!(stderr(&l).contains("`AGE`"), "{}", stderr(&l));
    t.same(
        &["decrypt", "t.yaml"],
        &[("SOPS_DECRYPTION_ORDER", "age,gpg")],
    );
    t.same(
        &["exec-env", "--decryption-order", "bogus", "t.yaml", "true"],
        &[],
    );
    // A name given twice is still sops's 112.
    t.same(&["decrypt", "--decryption-order", "age,age", "t.yaml"], &[]);
}

#[test]
fn r20_08_repeated_single_value_flags_keep_the_last() {
    let Some(t) = Twins::new() else { return };
    for args in [
        &[
            "encrypt",
            "--age",
            "not-a-recipient",
            "--age",
            AGE_RECIPIENT,
            "p.yaml",
        ][..],
        &[
            "encrypt",
            "--age",
            AGE_RECIPIENT,
            "--unencrypted-regex",
            "^a",
            "--unencrypted-regex",
            "^b",
            "p.yaml",
        ][..],
        &[
            "decrypt",
            "--output-type",
            "yaml",
            "--output-type",
            "json",
            "t.yaml",
        ][..],
    ] {
        let s = t.sops(args, &[]);
        let l = t.leaf(args, &[]);
        assert_eq!(s.status.code(), Some(0), "{args:?}: {}", stderr(&s));
        assert_eq!(l.status.code(), Some(0), "{args:?}: {}", stderr(&l));
    }
    let l = t.leaf(
        &[
            "encrypt",
            "--age",
            AGE_RECIPIENT,
            "--unencrypted-regex",
            "^a",
            "--unencrypted-regex",
            "^b",
            "p.yaml",
        ],
        &[],
    );
    let text = String::from_utf8_lossy(&l.stdout);
    assert!(text.contains("unencrypted_regex: ^b"), "{text}");
    assert!(text.contains("b: x"), "{text}");
}

#[test]
fn r20_06_flags_before_a_subcommand_are_ignored_as_sops() {
    let Some(t) = Twins::new() else { return };
    // -i before decrypt: printed, the file stays encrypted (it was written in plaintext).
    let l = t.same(&["-i", "decrypt", "t.yaml"], &[]);
    assert!(stderr(&l).contains("`-i` before the `decrypt` subcommand was ignored"));
    assert!(t.read("l", "t.yaml").contains("ENC[AES256_GCM"));
    assert_eq!(t.read("l", "t.yaml"), t.read("s", "t.yaml"));
    // --output before decrypt: no file written.
    t.same(&["--output", "o.yaml", "decrypt", "t.yaml"], &[]);
    assert!(!t.root.join("l/o.yaml").exists());
    // --ignore-mac before decrypt: the MAC is still checked (51).
    // A value removed: the others still authenticate, the MAC does not match.
    for d in ["s", "l"] {
        let text = t.read(d, "t.yaml");
        let kept: Vec<&str> = text.lines().filter(|l| !l.starts_with("b: ")).collect();
        std::fs::write(t.root.join(d).join("m.yaml"), kept.join("\n") + "\n").expect("write");
    }
    let l = t.same(&["--ignore-mac", "decrypt", "m.yaml"], &[]);
    assert_eq!(l.status.code(), Some(51));
    // --extract and --output-type before decrypt: the whole file, as YAML.
    t.same(&["--extract", "[\"a\"]", "decrypt", "t.yaml"], &[]);
    t.same(&["--output-type", "json", "decrypt", "t.yaml"], &[]);
    // The legacy form ignores what follows the file.
    let l = t.same(&["-d", "t.yaml", "--output-type", "json"], &[]);
    assert!(stderr(&l).contains("`--output-type` after the file was ignored"));
}

#[test]
fn r20_09_the_legacy_in_place_form_changes_the_first_file_only() {
    let Some(t) = Twins::new() else { return };
    let l = t.same(&["-d", "-i", "s.yaml", "t.yaml"], &[]);
    assert!(
        stderr(&l).contains("only the first is used"),
        "{}",
        stderr(&l)
    );
    assert_eq!(t.read("l", "s.yaml"), "a: 1\nb: x\n");
    assert!(t.read("l", "t.yaml").contains("ENC[AES256_GCM"));
    assert!(t.read("s", "t.yaml").contains("ENC[AES256_GCM"));
}

#[test]
fn r20_10_exit_codes_as_sops() {
    let Some(t) = Twins::new() else { return };
    for d in ["s", "l"] {
        std::fs::write(t.root.join(d).join("v.json"), "\"v\"").expect("value");
    }
    for args in [
        // A missing input file: 2 for sops's subcommands, 100 for its legacy modes.
        &["set", "nope.yaml", "[\"a\"]", "1"][..],
        &["unset", "nope.yaml", "[\"a\"]"][..],
        &["rotate", "-i", "nope.yaml"][..],
        &["exec-env", "nope.yaml", "true"][..],
        &["exec-file", "nope.yaml", "true"][..],
        &["decrypt", "nope.yaml"][..],
        &["-d", "nope.yaml"][..],
        &["-r", "nope.yaml"][..],
        &["set", "--value-file", "t.yaml", "[\"a\"]", "nope.json"][..],
        &["set", "--value-stdin", "t.yaml", "[\"a\"]", "\"x\""][..],
        // A missing or extra argument, or no file: 100.
        &["set", "t.yaml", "[\"a\"]"][..],
        &["set", "t.yaml", "[\"a\"]", "1", "extra"][..],
        &["unset", "t.yaml"][..],
        &["edit"][..],
        &["rotate"][..],
        &["-d"][..],
        &["-e"][..],
        &["-r"][..],
        &[][..],
    ] {
        t.same(args, &[]);
    }
    // A new file in a directory that does not exist: 3 (leafseal refuses before the
    // editor; sops fails when it writes).
    let editor = t.root.join("write-k.sh");
    std::fs::write(&editor, "#!/bin/sh\necho 'k: v' > \"$1\"\n").expect("editor");
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let editor = editor.display().to_string();
    t.same(
        &["edit", "--age", AGE_RECIPIENT, "nodir/new.yaml"],
        &[("EDITOR", editor.as_str())],
    );
}

#[test]
fn r20_12_filestatus_of_yaml_read_as_binary_fails_as_sops() {
    let Some(t) = Twins::new() else { return };
    let run = |bin: &Path, dir: &str| {
        let f = std::fs::File::open(t.root.join(dir).join("t.yaml")).expect("open");
        Command::new(bin)
            .env_clear()
            .envs(&t.vars)
            .current_dir(t.root.join(dir))
            .args(["filestatus", "/dev/stdin"])
            .stdin(f)
            .output()
            .expect("run")
    };
    let s = run(t.sops, "s");
    let l = run(&t.shim, "l");
    assert_eq!(s.status.code(), Some(1));
    assert_eq!(l.status.code(), Some(1), "{}", stderr(&l));
    assert!(l.stdout.is_empty());
    assert!(stderr(&l).contains("--input-type"), "{}", stderr(&l));
}

#[test]
fn r20_12_updatekeys_over_a_directory_names_the_failing_file() {
    let Some(t) = Twins::new() else { return };
    let dir = t.root.join("l");
    std::fs::write(
        dir.join(".sops.yaml"),
        format!("creation_rules:\n  - age: {AGE_RECIPIENT}\n"),
    )
    .expect("policy");
    std::fs::write(dir.join("fake.json"), r#"{"sops": {"version": "3.11.0"}}"#).expect("fake");
    let l = t.leaf(&["updatekeys", "-y", "."], &[]);
    assert_ne!(l.status.code(), Some(0));
    assert!(
        stderr(&l).contains("fake.json: the sops metadata block is invalid"),
        "{}",
        stderr(&l)
    );
}
