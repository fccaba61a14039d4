//! The command-line surface: completion scripts, man pages, `--help` examples, and the
//! sops flags of `set`/`unset` compared with the real sops 3.11.

mod support;

#[path = "support/sops.rs"]
mod sops_peer;

#[path = "support/moto.rs"]
mod moto;

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

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

#[test]
fn exec_user_runs_the_command_as_that_user_as_sops() {
    if !is_root() {
        eprintln!("SKIPPED: --user needs root");
        return;
    }
    let Some(p) = Pair::new() else { return };
    let run = |bin: &Path, file: &str, args: &[&str]| {
        let mut c = Command::new(bin);
        c.env_clear()
            .envs(&p.vars)
            .current_dir(&p.dir)
            .args(args.iter().map(|a| if *a == "F" { file } else { a }));
        ok(&c.output().expect("run"))
    };
    let leaf = Path::new(env!("CARGO_BIN_EXE_leafseal"));
    for args in [
        &["exec-env", "--user", "nobody", "F", "id -u; echo $b"][..],
        &[
            "exec-file",
            "--no-fifo",
            "--user",
            "nobody",
            "F",
            "id -u; cat {}",
        ][..],
        &["exec-file", "--user", "nobody", "F", "id -u; cat {}"][..],
    ] {
        let l = run(leaf, "l.yaml", args);
        let s = run(p.sops, "s.yaml", args);
        assert_eq!(l, s, "{args:?}");
        assert!(l.starts_with("65534\n"), "{args:?}: {l}");
    }
    let no = Command::new(leaf)
        .env_clear()
        .envs(&p.vars)
        .current_dir(&p.dir)
        .args(["exec-env", "--user", "no-such-user", "l.yaml", "true"])
        .output()
        .expect("run");
    assert!(!no.status.success());
    assert!(String::from_utf8_lossy(&no.stderr).contains("no user `no-such-user`"));
}

#[test]
fn exec_env_background_returns_without_waiting() {
    let h = home();
    let Some(p) = Pair::new() else { return };
    let marker = h.path().join("done");
    let cmd = format!("sleep 2; echo \"$b\" > '{}'", marker.display());
    let start = std::time::Instant::now();
    // (the child inherits stdout and stderr, so they are not pipes here)
    let st = leafseal(&p.vars)
        .current_dir(&p.dir)
        .args(["exec-env", "--background", "l.yaml", &cmd])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run");
    assert!(st.success());
    assert!(start.elapsed() < std::time::Duration::from_secs(2));
    assert!(!marker.exists());
    for _ in 0..100 {
        if marker.exists() && std::fs::read(&marker).is_ok_and(|b| b == b"x\n") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(std::fs::read(&marker).expect("the command ran"), b"x\n");
    let f = run_in(
        &p.vars,
        &p.dir,
        &["exec-file", "--background", "l.yaml", "cat {}"],
    );
    assert!(!f.status.success());
    assert!(String::from_utf8_lossy(&f.stderr).contains("--background"));
}

#[test]
fn rotate_encryption_context_for_added_kms_keys_as_sops() {
    let Some(mut p) = Pair::new() else { return };
    let moto = moto::Moto::start();
    let arn = moto.create_key();
    for (k, v) in [
        ("AWS_ACCESS_KEY_ID", "AKIDLEAFSEALTEST"),
        (
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        ),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL", moto.url.as_str()),
        ("AWS_ENDPOINT_URL_KMS", moto.url.as_str()),
        ("LEAFSEAL_HTTP_RETRY_DELAY_MS", "10"),
    ] {
        p.vars.insert(k.into(), v.into());
    }
    p.both(
        &[
            "rotate",
            "-i",
            "--add-kms",
            &arn,
            "--encryption-context",
            "app:leafseal,env:test",
            "--rm-age",
            AGE_RECIPIENT,
            "F",
        ],
        None,
    );
    // Only the KMS key is left: decrypting (by sops) proves the context was used to wrap.
    p.vars.remove("SOPS_AGE_KEY_FILE");
    let [(s, sraw), (l, lraw)] = p.decrypted("yaml");
    assert_eq!(s, l);
    assert_eq!(l, "a: 1\nb: x\n");
    for raw in [&sraw, &lraw] {
        assert!(
            raw.contains("app: leafseal") && raw.contains("env: test"),
            "{raw}"
        );
        assert!(!raw.contains("age:"), "{raw}");
    }
    // The wrong context is refused with the exit code sops uses.
    let o = run_in(
        &p.vars,
        &p.dir,
        &[
            "rotate",
            "--add-kms",
            &arn,
            "--encryption-context",
            "nocolon",
            "l.yaml",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(leafseal::error::exit::INVALID_KMS_CONTEXT)
    );
}

/// An editor script that saves the buffer to `copy` and then runs `sed -i EXPR` on it.
fn editor(dir: &Path, copy: &str, expr: &str) -> String {
    let path = dir.join(format!("ed-{copy}.sh"));
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\ncp \"$1\" '{}'\nsed -i '{expr}' \"$1\"\n",
            dir.join(copy).display()
        ),
    )
    .expect("editor");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    path.display().to_string()
}

#[test]
fn edit_output_type_edits_and_writes_in_that_format_as_sops() {
    let Some(mut p) = Pair::new() else { return };
    p.vars
        .insert("EDITOR".into(), editor(&p.dir, "buf-s", "s/\"x\"/\"z\"/"));
    let s = Command::new(p.sops)
        .env_clear()
        .envs(&p.vars)
        .current_dir(&p.dir)
        .args(["edit", "--output-type", "json", "s.yaml"])
        .stdin(Stdio::null())
        .output()
        .expect("sops");
    ok(&s);
    p.vars
        .insert("EDITOR".into(), editor(&p.dir, "buf-l", "s/\"x\"/\"z\"/"));
    ok(&run_in(
        &p.vars,
        &p.dir,
        &["edit", "--output-type", "json", "l.yaml"],
    ));
    let read = |f: &str| std::fs::read_to_string(p.dir.join(f)).expect("read");
    assert_eq!(read("buf-s"), read("buf-l"));
    assert!(read("buf-l").starts_with("{\n"), "{}", read("buf-l"));
    let [(s, sraw), (l, lraw)] = p.decrypted("json");
    assert_eq!(s, l);
    assert!(l.contains("\"b\": \"z\""), "{l}");
    assert!(sraw.starts_with('{') && lraw.starts_with('{'));
}

#[test]
fn edit_show_master_keys_shows_the_metadata_read_only() {
    let Some(mut p) = Pair::new() else { return };
    p.vars
        .insert("EDITOR".into(), editor(&p.dir, "buf-s", "s/^b: x$/b: q/"));
    let s = Command::new(p.sops)
        .env_clear()
        .envs(&p.vars)
        .current_dir(&p.dir)
        .args(["edit", "--show-master-keys", "s.yaml"])
        .stdin(Stdio::null())
        .output()
        .expect("sops");
    ok(&s);
    // leafseal: the value change is saved, the change to the metadata is not.
    p.vars.insert(
        "EDITOR".into(),
        editor(
            &p.dir,
            "buf-l",
            "s/^b: x$/b: q/; s/unencrypted_suffix: _unencrypted/unencrypted_suffix: _plain/",
        ),
    );
    ok(&run_in(&p.vars, &p.dir, &["edit", "-s", "l.yaml"]));
    let read = |f: &str| std::fs::read_to_string(p.dir.join(f)).expect("read");
    for buf in [read("buf-s"), read("buf-l")] {
        assert!(buf.starts_with("a: 1\nb: x\nsops:\n"), "{buf}");
        assert!(
            buf.contains(&format!("recipient: {AGE_RECIPIENT}")),
            "{buf}"
        );
        assert!(buf.contains("-----BEGIN AGE ENCRYPTED FILE-----"), "{buf}");
    }
    let [_, (l, lraw)] = p.decrypted("yaml");
    assert_eq!(l, "a: 1\nb: q\n");
    assert!(lraw.contains("unencrypted_suffix: _unencrypted"), "{lraw}");
    // Without the flag the buffer has no metadata.
    p.vars
        .insert("EDITOR".into(), editor(&p.dir, "buf-n", "s/^b: q$/b: r/"));
    ok(&run_in(&p.vars, &p.dir, &["edit", "l.yaml"]));
    assert_eq!(read("buf-n"), "a: 1\nb: q\n");
}

#[test]
fn legacy_global_forms_under_the_sops_name_as_sops() {
    let Some(mut p) = Pair::new() else { return };
    let shim = p.dir.join("bin/sops");
    std::fs::create_dir_all(p.dir.join("bin")).expect("bin");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_leafseal"), &shim).expect("symlink");
    let run = |bin: &Path, vars: &HashMap<String, String>, args: &[&str]| {
        Command::new(bin)
            .env_clear()
            .envs(vars)
            .current_dir(&p.dir)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run")
    };
    // -d
    let s = ok(&run(p.sops, &p.vars, &["-d", "s.yaml"]));
    let l = ok(&run(&shim, &p.vars, &["-d", "l.yaml"]));
    assert_eq!(s, l);
    // -r -i, then the real sops decrypts it
    ok(&run(&shim, &p.vars, &["-r", "-i", "l.yaml"]));
    assert_eq!(ok(&run(p.sops, &p.vars, &["-d", "l.yaml"])), s);
    // -i -e, then the real sops decrypts it
    std::fs::write(p.dir.join("new.yaml"), "k: v\n").expect("plain");
    ok(&run(
        &shim,
        &p.vars,
        &["-i", "-e", "--age", AGE_RECIPIENT, "new.yaml"],
    ));
    assert_eq!(ok(&run(p.sops, &p.vars, &["-d", "new.yaml"])), "k: v\n");
    // -s FILE: the editor with the master keys shown
    p.vars
        .insert("EDITOR".into(), editor(&p.dir, "buf-l", "s/^b: x$/b: q/"));
    ok(&run(&shim, &p.vars, &["-s", "l.yaml"]));
    let buf = std::fs::read_to_string(p.dir.join("buf-l")).expect("buffer");
    assert!(
        buf.contains("sops:\n") && buf.contains(AGE_RECIPIENT),
        "{buf}"
    );
    assert_eq!(ok(&run(p.sops, &p.vars, &["-d", "l.yaml"])), "a: 1\nb: q\n");
    // --set 'PATH VALUE' (edit mode) sets one value, as sops
    let spec = r#"["a b"] {"x": "y z"}"#;
    ok(&run(&shim, &p.vars, &["-i", "--set", spec, "l.yaml"]));
    ok(&run(p.sops, &p.vars, &["-i", "--set", spec, "s.yaml"]));
    assert_eq!(
        ok(&run(p.sops, &p.vars, &["-d", "l.yaml"])),
        ok(&run(p.sops, &p.vars, &["-d", "s.yaml"])).replace("b: x", "b: q")
    );
    let bad = run(&shim, &p.vars, &["--set", r#"["q"]"#, "l.yaml"]);
    assert_eq!(bad.status.code(), Some(7));
    // `sops completion bash` completes the `sops` command
    let script = ok(&run(&shim, &p.vars, &["completion", "bash"]));
    assert!(
        script.contains("-F _sops") && script.contains(" sops"),
        "{script}"
    );
    // -d -s: -s only matters when editing, in both
    assert_eq!(
        ok(&run(&shim, &p.vars, &["-d", "-s", "l.yaml"])),
        ok(&run(p.sops, &p.vars, &["-d", "-s", "l.yaml"]))
    );
}
