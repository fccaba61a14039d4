//! exec --user/--background, rotate and groups --encryption-context, edit --output-type
//! and --show-master-keys, and the legacy global forms under the `sops` name, each
//! against the real sops 3.11.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::process::Stdio;

use super::Pair;
use super::home;
use super::moto;
use super::ok;
use crate::support::*;

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

#[test]
fn decryption_order_on_every_command_that_sops_takes_it_on() {
    let Some(mut p) = Pair::new() else { return };
    p.vars.insert("EDITOR".into(), "true".into());
    let leaf = Path::new(env!("CARGO_BIN_EXE_leafseal"));
    let code = |bin: &Path, file: &str, args: &[&str], env: Option<&str>| {
        let mut c = Command::new(bin);
        c.env_clear()
            .envs(&p.vars)
            .current_dir(&p.dir)
            .args(args.iter().map(|a| if *a == "F" { file } else { a }))
            .stdin(Stdio::null());
        if let Some(order) = env {
            c.env("SOPS_DECRYPTION_ORDER", order);
        }
        c.output().expect("run").status.code()
    };
    for cmd in [
        &["decrypt", "F"][..],
        &["edit", "F"][..],
        &["set", "F", r#"["z"]"#, "1"][..],
        &["unset", "--idempotent", "F", r#"["z"]"#][..],
        &["rotate", "F"][..],
        &["exec-env", "F", "true"][..],
        &["exec-file", "F", "true"][..],
    ] {
        // a duplicate type: sops's exit 112, from the variable and from the flag
        let s = code(p.sops, "s.yaml", cmd, Some("age,age"));
        let l = code(leaf, "l.yaml", cmd, Some("age,age"));
        assert_eq!(s, Some(112), "{cmd:?}");
        assert_eq!(l, s, "{cmd:?} with SOPS_DECRYPTION_ORDER");
        let mut flagged = vec![cmd[0], "--decryption-order", "age,age"];
        flagged.extend(&cmd[1..]);
        assert_eq!(code(leaf, "l.yaml", &flagged, None), s, "{flagged:?}");
        // a valid order works
        let mut good = vec![cmd[0], "--decryption-order", "pgp,age"];
        good.extend(&cmd[1..]);
        let s = code(p.sops, "s.yaml", &good, None);
        let l = code(leaf, "l.yaml", &good, None);
        assert_eq!(l, s, "{good:?}");
    }
}

#[test]
fn filename_override_picks_the_format_as_sops() {
    let Some(p) = Pair::new() else { return };
    std::fs::write(p.dir.join("in.txt"), "{\"k\": \"v\"}").expect("input");
    let leaf = Path::new(env!("CARGO_BIN_EXE_leafseal"));
    let run = |bin: &Path, args: &[&str], stdin: Option<&str>| {
        let mut c = Command::new(bin);
        c.env_clear().envs(&p.vars).current_dir(&p.dir).args(args);
        match stdin {
            Some(f) => c.stdin(std::fs::File::open(p.dir.join(f)).expect("stdin")),
            None => c.stdin(Stdio::null()),
        };
        ok(&c.output().expect("run"))
    };
    let enc = [
        "encrypt",
        "--filename-override",
        "a.json",
        "--age",
        AGE_RECIPIENT,
    ];
    for (args, stdin) in [
        (enc.to_vec(), Some("in.txt")),
        ([&enc[..], &["in.txt"]].concat(), None),
    ] {
        let s = run(p.sops, &args, stdin);
        let l = run(leaf, &args, stdin);
        // both are JSON (the .txt name alone would be the binary store)
        assert!(
            s.starts_with("{\n\t\"k\": \"ENC[") && l.starts_with("{\n\t\"k\": \"ENC["),
            "{l}"
        );
        std::fs::write(p.dir.join("l.json.txt"), &l).expect("write");
        let back = run(
            p.sops,
            &["decrypt", "--filename-override", "x.json", "l.json.txt"],
            None,
        );
        assert_eq!(back, "{\n\t\"k\": \"v\"\n}\n");
    }
    // rotate reads and writes with the overridden name's format
    let s = run(
        p.sops,
        &["rotate", "--filename-override", "x.json", "l.json.txt"],
        None,
    );
    let l = run(
        leaf,
        &["rotate", "--filename-override", "x.json", "l.json.txt"],
        None,
    );
    assert!(s.starts_with("{\n") && l.starts_with("{\n"), "{l}");
}
