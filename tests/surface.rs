//! The command-line surface: completion scripts, man pages, `--help` examples, and the
//! sops flags of `set`/`unset` compared with the real sops 3.11.

mod support;

#[path = "support/sops.rs"]
mod sops_peer;

#[path = "support/moto.rs"]
mod moto;

#[path = "surface/sops_flags.rs"]
mod sops_flags;

#[path = "surface/sops_flags_r26.rs"]
mod sops_flags_r26;

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::process::Stdio;

use support::*;

fn ok(o: &std::process::Output) -> String {
    assert!(
        o.status.success(),
        "failed ({}): {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn home() -> tempfile::TempDir {
    tempfile::tempdir().expect("tmp")
}

/// Every subcommand path, from the man pages' names (`leafseal-groups-add`).
fn subcommands(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn bash_completion_loads_and_completes_subcommands_and_flags() {
    let h = home();
    let vars = env_vars(None, h.path());
    let script = ok(&run_in(&vars, h.path(), &["completion", "bash"]));
    let file = h.path().join("leafseal.bash");
    std::fs::write(&file, script).expect("write script");
    let probe = format!(
        r#"source '{}'
complete -p leafseal || exit 9
COMP_WORDS=(leafseal ro); COMP_CWORD=1; COMP_LINE='leafseal ro'; COMP_POINT=${{#COMP_LINE}}
_leafseal leafseal ro leafseal
echo "SUB: ${{COMPREPLY[*]}}"
COMP_WORDS=(leafseal set --val); COMP_CWORD=2; COMP_LINE='leafseal set --val'; COMP_POINT=${{#COMP_LINE}}
_leafseal leafseal --val set
echo "FLAG: ${{COMPREPLY[*]}}"
"#,
        file.display()
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &probe])
        .output()
        .expect("run bash");
    let text = ok(&out);
    assert!(text.contains("-F _leafseal leafseal"), "{text}");
    let sub = text
        .lines()
        .find(|l| l.starts_with("SUB:"))
        .expect("SUB line");
    assert!(sub.contains("rotate"), "{text}");
    let flag = text
        .lines()
        .find(|l| l.starts_with("FLAG:"))
        .expect("FLAG line");
    assert!(
        flag.contains("--value-stdin") && flag.contains("--value-file"),
        "{text}"
    );
}

#[test]
fn completion_scripts_for_every_shell() {
    let h = home();
    let vars = env_vars(None, h.path());
    for (shell, marker) in [
        ("bash", "_leafseal"),
        ("zsh", "#compdef leafseal"),
        ("fish", "complete -c leafseal"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "edit:completion:arg-completer[leafseal]"),
    ] {
        let s = ok(&run_in(&vars, h.path(), &["completion", shell]));
        assert!(s.contains(marker), "{shell}: {s}");
    }
    let bad = run_in(&vars, h.path(), &["completion", "tcsh"]);
    assert!(!bad.status.success());
}

#[test]
fn man_pages_for_every_subcommand() {
    let h = home();
    let vars = env_vars(None, h.path());
    let dir = h.path().join("man1");
    ok(&run_in(
        &vars,
        h.path(),
        &["man", "--dir", dir.to_str().expect("utf8")],
    ));
    let pages = subcommands(&dir);
    for want in [
        "leafseal.1",
        "leafseal-encrypt.1",
        "leafseal-decrypt.1",
        "leafseal-edit.1",
        "leafseal-set.1",
        "leafseal-unset.1",
        "leafseal-rotate.1",
        "leafseal-updatekeys.1",
        "leafseal-groups-add.1",
        "leafseal-groups-delete.1",
        "leafseal-exec-env.1",
        "leafseal-exec-file.1",
        "leafseal-completion.1",
        "leafseal-man.1",
    ] {
        assert!(pages.iter().any(|p| p == want), "{want} missing: {pages:?}");
    }
    for p in &pages {
        let path = dir.join(p);
        let text = std::fs::read_to_string(&path).expect("page");
        let name = p.trim_end_matches(".1");
        assert!(text.contains(&format!(".TH {name} 1")), "{p}: {text}");
        assert!(text.contains("Examples:"), "{p} has no examples");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).expect("stat").permissions(),
        );
        assert_eq!(mode & 0o777, 0o644, "{p}");
    }
    // readable by man, when it is installed
    if let Ok(o) = Command::new("man")
        .arg("-l")
        .arg(dir.join("leafseal-set.1"))
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .output()
        && o.status.success()
    {
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.contains("--value-stdin"), "{text}");
    }
    let one = ok(&run_in(&vars, h.path(), &["man", "groups", "add"]));
    assert!(one.contains(".TH leafseal-groups-add 1"), "{one}");
}

#[test]
fn every_subcommand_help_ends_with_examples() {
    let h = home();
    let vars = env_vars(None, h.path());
    let dir = h.path().join("man1");
    ok(&run_in(
        &vars,
        h.path(),
        &["man", "--dir", dir.to_str().expect("utf8")],
    ));
    for p in subcommands(&dir) {
        let name = p.trim_end_matches(".1");
        let mut args: Vec<&str> = name.split('-').skip(1).collect();
        // exec-env, exec-file, merge-driver, install-plugin, exec-plugin are one word
        let joined = args.join(" ");
        let fixed = joined
            .replace("exec env", "exec-env")
            .replace("exec file", "exec-file")
            .replace("merge driver", "merge-driver")
            .replace("install plugin", "install-plugin")
            .replace("exec plugin", "exec-plugin");
        args = fixed.split(' ').filter(|s| !s.is_empty()).collect();
        if args.is_empty() {
            continue;
        }
        args.push("--help");
        let help = ok(&run_in(&vars, h.path(), &args));
        let tail = help.rsplit("Examples:").next().unwrap_or_default();
        assert!(help.contains("\nExamples:\n"), "{args:?}: {help}");
        let examples = tail.lines().filter(|l| l.starts_with("  ")).count();
        assert!((2..=3).contains(&examples), "{args:?}: {tail}");
    }
}

/// One age-encrypted file from the real sops, copied for sops and for leafseal.
struct Pair {
    _tmp: tempfile::TempDir,
    dir: std::path::PathBuf,
    vars: HashMap<String, String>,
    sops: &'static Path,
}

impl Pair {
    fn new() -> Option<Pair> {
        let sops = sops_peer::sops_bin()?;
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().to_owned();
        let vars = env_vars(None, &dir);
        std::fs::write(dir.join("p.yaml"), "a: 1\nb: x\n").expect("plain");
        let enc = Command::new(sops)
            .env_clear()
            .envs(&vars)
            .current_dir(&dir)
            .args(["encrypt", "--age", AGE_RECIPIENT, "p.yaml"])
            .output()
            .expect("sops");
        let enc = ok(&enc);
        for f in ["s.yaml", "l.yaml"] {
            std::fs::write(dir.join(f), &enc).expect("copy");
        }
        Some(Pair {
            _tmp: tmp,
            dir,
            vars,
            sops,
        })
    }

    fn both(&self, args: &[&str], stdin: Option<&[u8]>) {
        for (bin, file) in [
            (self.sops, "s.yaml"),
            (Path::new(env!("CARGO_BIN_EXE_leafseal")), "l.yaml"),
        ] {
            let a: Vec<&str> = args
                .iter()
                .map(|x| if *x == "F" { file } else { x })
                .collect();
            let mut c = Command::new(bin);
            c.env_clear()
                .envs(&self.vars)
                .current_dir(&self.dir)
                .args(&a)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut child = c.spawn().expect("spawn");
            let mut input = child.stdin.take().expect("stdin");
            input
                .write_all(stdin.unwrap_or_default())
                .expect("write stdin");
            drop(input);
            ok(&child.wait_with_output().expect("wait"));
        }
    }

    /// Both files decrypted by the real sops (with the format given), and both raw files.
    fn decrypted(&self, ty: &str) -> [(String, String); 2] {
        ["s.yaml", "l.yaml"].map(|f| {
            let o = Command::new(self.sops)
                .env_clear()
                .envs(&self.vars)
                .current_dir(&self.dir)
                .args(["decrypt", "--input-type", ty, "--output-type", ty, f])
                .output()
                .expect("sops");
            (
                ok(&o),
                std::fs::read_to_string(self.dir.join(f)).expect("read"),
            )
        })
    }
}

#[test]
fn set_value_file_and_value_stdin_as_sops() {
    let Some(p) = Pair::new() else { return };
    std::fs::write(p.dir.join("v.json"), "{\"k\": [1, \"two\"]}\n").expect("v");
    p.both(&["set", "--value-file", "F", r#"["c"]"#, "v.json"], None);
    p.both(
        &["set", "--value-stdin", "F", r#"["d"]"#],
        Some(b"\"from stdin\""),
    );
    p.both(
        &["set", "--idempotent", "F", r#"["d"]"#, "\"from stdin\""],
        None,
    );
    let [(s, _), (l, _)] = p.decrypted("yaml");
    assert_eq!(s, l);
    assert!(l.contains("d: from stdin"), "{l}");
}

#[test]
fn set_and_unset_output_type_as_sops() {
    let Some(p) = Pair::new() else { return };
    p.both(
        &["set", "--output-type", "json", "F", r#"["c"]"#, "\"y\""],
        None,
    );
    let [(s, sraw), (l, lraw)] = p.decrypted("json");
    assert_eq!(s, l);
    assert!(sraw.starts_with('{') && lraw.starts_with('{'), "{lraw}");
    // the value is already set: the file is still converted, as sops does
    p.both(
        &[
            "set",
            "--input-type",
            "json",
            "--output-type",
            "yaml",
            "F",
            r#"["c"]"#,
            "\"y\"",
        ],
        None,
    );
    let [(s, sraw), (l, lraw)] = p.decrypted("yaml");
    assert_eq!(s, l);
    assert!(sraw.starts_with("a: ") && lraw.starts_with("a: "), "{lraw}");
    p.both(
        &[
            "set",
            "--input-type",
            "yaml",
            "--output-type",
            "json",
            "F",
            r#"["c"]"#,
            "\"y\"",
        ],
        None,
    );
    p.both(
        &[
            "unset",
            "--input-type",
            "json",
            "--output-type",
            "yaml",
            "F",
            r#"["a"]"#,
        ],
        None,
    );
    let [(s, sraw), (l, lraw)] = p.decrypted("yaml");
    assert_eq!(s, l);
    assert!(sraw.starts_with("b: ") && lraw.starts_with("b: "), "{lraw}");
}

#[test]
fn set_and_unset_accept_the_shamir_threshold_without_changing_groups() {
    let Some(p) = Pair::new() else { return };
    p.both(
        &[
            "set",
            "--shamir-secret-sharing-threshold",
            "2",
            "F",
            r#"["c"]"#,
            "1",
        ],
        None,
    );
    p.both(
        &[
            "unset",
            "--shamir-secret-sharing-threshold",
            "2",
            "F",
            r#"["b"]"#,
        ],
        None,
    );
    let [(s, sraw), (l, lraw)] = p.decrypted("yaml");
    assert_eq!(s, l);
    assert!(!sraw.contains("shamir_threshold") && !lraw.contains("shamir_threshold"));
}
