//! End-to-end tests of the `leafseal` binary on real files.

mod support;

use std::process::Output;

use support::*;

struct Env {
    gpg: GpgHome,
    home: tempfile::TempDir,
    work: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            gpg: GpgHome::new(),
            home: tempfile::tempdir().expect("home"),
            work: tempfile::tempdir().expect("work"),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, &[], None)
    }

    fn run_with(&self, args: &[&str], extra: &[(&str, &str)], stdin: Option<&[u8]>) -> Output {
        let mut vars = env_vars(Some(&self.gpg), self.home.path());
        for (k, v) in extra {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        let mut cmd = leafseal(&vars);
        cmd.current_dir(self.work.path()).args(args);
        match stdin {
            None => {
                cmd.stdin(std::process::Stdio::null());
                cmd.output().expect("run leafseal")
            }
            Some(data) => {
                use std::io::Write;
                cmd.stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped());
                let mut child = cmd.spawn().expect("spawn");
                child
                    .stdin
                    .take()
                    .expect("stdin")
                    .write_all(data)
                    .expect("write");
                child.wait_with_output().expect("wait")
            }
        }
    }

    fn file(&self, name: &str, content: &[u8]) -> String {
        let p = self.work.path().join(name);
        std::fs::write(&p, content).expect("write");
        p.display().to_string()
    }
}

fn ok(o: &Output) -> &[u8] {
    assert!(
        o.status.success(),
        "exit {:?}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    &o.stdout
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

#[test]
fn format_fixtures_decrypt_to_the_exact_sops_bytes() {
    let env = Env::new();
    for (file, expected) in [
        ("yaml/format.enc.yaml", "format.enc.yaml.decrypted"),
        ("json/format.enc.json", "format.enc.json.decrypted"),
        ("dotenv/format.enc.env", "format.enc.env.decrypted"),
        ("ini/format.enc.ini", "format.enc.ini.decrypted"),
    ] {
        let out = env.run(&["decrypt", &sops_fixture(file).display().to_string()]);
        let want = std::fs::read(sops_fixture(&format!("expected/{expected}"))).expect("expected");
        assert_eq!(ok(&out), &want[..], "{file}");
    }
}

#[test]
fn binary_fixture_decrypts_to_raw_bytes() {
    let env = Env::new();
    let out = env.run(&[
        "decrypt",
        &sops_fixture("binary/example.v3.5.0.txt")
            .display()
            .to_string(),
    ]);
    let text = String::from_utf8(ok(&out).to_vec()).expect("utf8");
    assert!(text.starts_with("Welcome to SOPS!"), "{text}");
}

#[test]
fn mac_failures_exit_51_and_ignore_mac_opens() {
    let env = Env::new();
    for file in ["yaml/example.mac-mismatch.v3.5.0.yaml", "yaml/no_mac.yaml"] {
        let path = sops_fixture(file).display().to_string();
        let out = env.run(&["decrypt", &path]);
        assert_eq!(code(&out), 51, "{file}");
        assert!(out.stdout.is_empty(), "{file}: no partial output");
        ok(&env.run(&["decrypt", "--ignore-mac", &path]));
    }
}

#[test]
fn age_round_trip_for_every_format() {
    let env = Env::new();
    let cases: &[(&str, &[u8])] = &[
        (
            "a.yaml",
            b"# top comment\nb: 1\na:\n    - x\n    # was inline: sops writes line comments above\n    - z\nc_unencrypted: clear\n",
        ),
        (
            "a.json",
            b"{\n\t\"b\": 1,\n\t\"a\": [\n\t\t\"x\",\n\t\t2.5\n\t]\n}\n",
        ),
        ("a.env", b"#comment\nB=1\nA=s3cr3t two words\n"),
        ("a.ini", b"[sec]\nb = 1\na = s3cr3t-two\n"),
        ("a.bin", b"\x00\x01raw bytes\xff"),
    ];
    for (name, content) in cases {
        let path = env.file(name, content);
        let enc = env.run(&["encrypt", "--age", AGE_RECIPIENT, &path]);
        let enc = ok(&enc).to_vec();
        assert!(
            !enc.windows(6).any(|w| w == b"s3cr3t"),
            "{name}: plaintext leaked"
        );
        let enc_path = env.file(&format!("enc.{name}"), &enc);
        let dec = env.run(&["decrypt", &enc_path]);
        assert_eq!(ok(&dec), *content, "{name}");
    }
}

#[test]
fn encrypt_refuses_an_encrypted_file_with_exit_203() {
    let env = Env::new();
    let out = env.run(&[
        "encrypt",
        "--age",
        AGE_RECIPIENT,
        &sops_fixture("yaml/format.enc.yaml").display().to_string(),
    ]);
    assert_eq!(code(&out), 203);
}

#[test]
fn empty_yaml_exits_92() {
    let env = Env::new();
    let path = env.file("empty.yaml", b"");
    assert_eq!(
        code(&env.run(&["encrypt", "--age", AGE_RECIPIENT, &path])),
        92
    );
}

#[test]
fn in_place_and_output_are_atomic_and_exclusive() {
    let env = Env::new();
    let path = env.file("s.yaml", b"password: hunter2\n");
    ok(&env.run(&["encrypt", "-i", "--age", AGE_RECIPIENT, &path]));
    let enc = std::fs::read(&path).expect("read");
    assert!(String::from_utf8_lossy(&enc).contains("ENC[AES256_GCM,"));
    let out = env.work.path().join("plain.yaml");
    ok(&env.run(&["decrypt", "--output", &out.display().to_string(), &path]));
    assert_eq!(std::fs::read(&out).expect("read"), b"password: hunter2\n");
    assert_eq!(
        code(&env.run(&["decrypt", "-i", "--output", "x", &path])),
        8
    );
    // A failed decrypt in place leaves the file untouched.
    let before = std::fs::read(&path).expect("read");
    let failed = env.run_with(
        &["decrypt", "-i", &path],
        &[("SOPS_AGE_KEY_FILE", "/nonexistent")],
        None,
    );
    assert_eq!(code(&failed), 128);
    assert_eq!(std::fs::read(&path).expect("read"), before);
    let leftovers: Vec<_> = std::fs::read_dir(env.work.path())
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn extract_prints_one_value() {
    let env = Env::new();
    let path = sops_fixture("yaml/example.v3.10.2.yaml")
        .display()
        .to_string();
    let out = env.run(&["decrypt", "--extract", r#"["app2"]["db"]["user"]"#, &path]);
    assert_eq!(ok(&out), b"eve");
    let out = env.run(&["decrypt", "--extract", r#"["nope"]"#, &path]);
    assert_ne!(code(&out), 0);
    let out = env.run(&["decrypt", "--extract", "garbage", &path]);
    assert_eq!(code(&out), 91);
}

#[test]
fn yaml_decrypts_to_json() {
    let env = Env::new();
    let path = sops_fixture("yaml/format.enc.yaml").display().to_string();
    let out = env.run(&["decrypt", "--output-type", "json", &path]);
    assert_eq!(ok(&out), b"{\n\t\"foo\": \"bar\"\n}\n");
}

#[test]
fn stdin_with_input_type() {
    let env = Env::new();
    let enc = env.run_with(
        &["encrypt", "--input-type", "yaml", "--age", AGE_RECIPIENT],
        &[],
        Some(b"k: v\n"),
    );
    let enc = ok(&enc).to_vec();
    let dec = env.run_with(&["decrypt", "--input-type", "yaml"], &[], Some(&enc));
    assert_eq!(ok(&dec), b"k: v\n");
}

#[test]
fn malformed_inputs_fail_cleanly_without_echoing_content() {
    let env = Env::new();
    for (name, content) in [
        ("bad.yaml", &b"a: [unclosed SECRETVALUE\n"[..]),
        ("bad.json", b"{\"a\": SECRETVALUE"),
        ("bad.env", b"SECRETVALUE\n"),
        ("bad.ini", b"[unclosed SECRETVALUE\n"),
    ] {
        let path = env.file(name, content);
        let dec = env.run(&["decrypt", &path]);
        assert_ne!(code(&dec), 0, "{name}");
        assert!(
            !String::from_utf8_lossy(&dec.stderr).contains("SECRETVALUE"),
            "{name}"
        );
        let out = env.run(&["encrypt", "--age", AGE_RECIPIENT, &path]);
        assert_ne!(code(&out), 0, "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("SECRETVALUE"), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
}

#[test]
fn tampered_values_fail_closed() {
    let env = Env::new();
    let path = env.file(
        "t.yaml",
        b"a: secret-one\nb: secret-two\nc_unencrypted: clear\n",
    );
    let enc = env.run(&["encrypt", "--age", AGE_RECIPIENT, &path]);
    let enc = String::from_utf8(ok(&enc).to_vec()).expect("utf8");
    let line = |k: &str| {
        enc.lines()
            .find(|l| l.starts_with(k))
            .expect("line")
            .to_owned()
    };
    let (a, b) = (line("a: "), line("b: "));
    let mutations: Vec<(&str, String)> = vec![
        (
            "swap values",
            enc.replace(&a, &format!("a: {}", &b[3..]))
                .replace(&b, &format!("b: {}", &a[3..])),
        ),
        ("delete key", enc.replace(&format!("{b}\n"), "")),
        (
            "edit clear value",
            enc.replace("c_unencrypted: clear", "c_unencrypted: dirty"),
        ),
        ("flip data byte", flip(&enc, &a, "data:")),
        ("flip iv byte", flip(&enc, &a, "iv:")),
        ("flip tag byte", flip(&enc, &a, "tag:")),
        ("truncate value", enc.replace(&a, &a[..a.len() - 10])),
        ("flip mac", flip(&enc, &line("    mac: "), "data:")),
    ];
    for (what, text) in mutations {
        assert_ne!(text, enc, "{what}: mutation applied");
        let p = env.file("tampered.yaml", text.as_bytes());
        let out = env.run(&["decrypt", &p]);
        assert_ne!(code(&out), 0, "{what}");
        assert!(out.stdout.is_empty(), "{what}: no output on failure");
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("secret-"),
            "{what}"
        );
    }
}

/// Changes one base64 character right after `field` in `line`.
fn flip(doc: &str, line: &str, field: &str) -> String {
    let i = line.find(field).expect("field") + field.len() + 1;
    let mut l = line.to_owned();
    let c = l.as_bytes()[i];
    let r = if c == b'A' { "B" } else { "A" };
    l.replace_range(i..i + 1, r);
    doc.replace(line, &l)
}

#[test]
fn filestatus_reports_encryption() {
    let env = Env::new();
    let out = env.run(&[
        "filestatus",
        &sops_fixture("yaml/format.enc.yaml").display().to_string(),
    ]);
    assert_eq!(ok(&out), b"{\"encrypted\":true}\n");
    let plain = env.file("p.yaml", b"a: 1\n");
    assert_eq!(
        ok(&env.run(&["filestatus", &plain])),
        b"{\"encrypted\":false}\n"
    );
}

#[test]
fn policy_rules_choose_keys_and_selectors() {
    let env = Env::new();
    std::fs::write(
        env.work.path().join(".sops.yaml"),
        format!(
            "creation_rules:\n  - path_regex: prod/.*\\.yaml$\n    encrypted_regex: ^(data|stringData)$\n    age: {AGE_RECIPIENT}\n  - path_regex: \\.yaml$\n    pgp: {PGP_FP}\n"
        ),
    )
    .expect("policy");
    std::fs::create_dir(env.work.path().join("prod")).expect("mkdir");
    let p = env.file("prod/s.yaml", b"kind: Secret\ndata:\n    k: v\n");
    let enc = env.run(&["encrypt", "prod/s.yaml"]);
    let text = String::from_utf8(ok(&enc).to_vec()).expect("utf8");
    assert!(text.contains("kind: Secret"), "{text}");
    assert!(
        text.contains("encrypted_regex: ^(data|stringData)$"),
        "{text}"
    );
    assert!(text.contains(AGE_RECIPIENT));
    let _ = p;
    let q = env.file("other.yaml", b"x: y\n");
    let enc = env.run(&["encrypt", &q]);
    let text = String::from_utf8(ok(&enc).to_vec()).expect("utf8");
    assert!(text.contains(PGP_FP), "{text}");
    let r = env.file("nomatch.json", b"{}");
    assert_eq!(code(&env.run(&["encrypt", &r])), 1);
}

#[test]
fn many_files_decrypt_in_one_invocation() {
    let env = Env::new();
    let mut paths = Vec::new();
    for i in 0..5 {
        let p = env.file(
            &format!("s{i}.yaml"),
            format!("kind: Secret\nvalue: v{i}\n").as_bytes(),
        );
        ok(&env.run(&["encrypt", "-i", "--age", AGE_RECIPIENT, &p]));
        paths.push(p);
    }
    let mut args = vec!["decrypt"];
    args.extend(paths.iter().map(String::as_str));
    let out = env.run(&args);
    let text = String::from_utf8(ok(&out).to_vec()).expect("utf8");
    let want: Vec<String> = (0..5)
        .map(|i| format!("kind: Secret\nvalue: v{i}\n"))
        .collect();
    assert_eq!(text, want.join("---\n"));
    // One bad file: nothing is printed, the error names the file.
    let bad = env.file("bad.yaml", b"kind: Secret\n");
    args.push(&bad);
    let out = env.run(&args);
    assert_ne!(code(&out), 0);
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.yaml"));
    // In place, each file.
    args.pop();
    args.push("-i");
    ok(&env.run(&args));
    assert_eq!(
        std::fs::read(&paths[3]).expect("read"),
        b"kind: Secret\nvalue: v3\n"
    );
}

/// Timestamps become strings: rops stores offset date-times as `type:str`.
fn times_as_strings(v: &mut leafseal::tree::Value) {
    use leafseal::tree::Item;
    use leafseal::tree::SeqItem;
    use leafseal::tree::Value;
    match v {
        Value::Time(t) => *v = Value::str(t.to_rfc3339_nano()),
        Value::Map(m) => {
            for i in m.0.iter_mut() {
                if let Item::Entry(_, v) = i {
                    times_as_strings(v);
                }
            }
        }
        Value::Seq(items) => {
            for i in items.iter_mut() {
                if let SeqItem::Value(v) = i {
                    times_as_strings(v);
                }
            }
        }
        _ => {}
    }
}

fn toml_tree(bytes: &[u8]) -> leafseal::tree::Value {
    let mut doc = leafseal::format::Format::Toml
        .store()
        .load(bytes)
        .expect("toml")
        .doc;
    let mut v = leafseal::tree::Value::Map(doc.branches.remove(0));
    times_as_strings(&mut v);
    // Comments are not compared: rops drops them.
    fn strip(v: &mut leafseal::tree::Value) {
        use leafseal::tree::Item;
        use leafseal::tree::SeqItem;
        use leafseal::tree::Value;
        match v {
            Value::Map(m) => {
                m.0.retain(|i| matches!(i, Item::Entry(..)));
                for i in m.0.iter_mut() {
                    if let Item::Entry(_, v) = i {
                        strip(v);
                    }
                }
            }
            Value::Seq(items) => {
                items.retain(|i| matches!(i, SeqItem::Value(_)));
                for i in items.iter_mut() {
                    if let SeqItem::Value(v) = i {
                        strip(v);
                    }
                }
            }
            _ => {}
        }
    }
    strip(&mut v);
    v
}

#[test]
fn rops_toml_files_decrypt_through_the_cli() {
    let env = Env::new();
    for name in ["app", "partial", "unicode"] {
        let enc = support::fixtures().join(format!("rops/{name}.rops.toml"));
        let out = env.run(&["decrypt", &enc.display().to_string()]);
        let plain = std::fs::read(support::fixtures().join(format!("rops/{name}.plain.toml")))
            .expect("plain");
        assert_eq!(toml_tree(ok(&out)), toml_tree(&plain), "{name}");
    }
}

#[test]
fn toml_is_binary_by_default_and_leaf_encrypted_on_request() {
    let env = Env::new();
    let text = b"# settings\ntitle = \"x\"\n\n[db]\npassword = \"hunter2\" # secret\nport = 5432\n";
    let path = env.file("conf.toml", text);
    // Default: sops's binary envelope (JSON), readable by sops.
    let enc = env.run(&["encrypt", "--age", AGE_RECIPIENT, &path]);
    let enc = ok(&enc).to_vec();
    assert!(
        enc.starts_with(b"{\n\t\"data\": \"ENC["),
        "{}",
        String::from_utf8_lossy(&enc)
    );
    let p = env.file("conf.enc.toml", &enc);
    assert_eq!(ok(&env.run(&["decrypt", &p])), text);
    // Leaf encryption: keys and comments stay readable, values are encrypted.
    let enc = env.run(&[
        "encrypt",
        "--input-type",
        "toml",
        "--age",
        AGE_RECIPIENT,
        &path,
    ]);
    let enc = String::from_utf8(ok(&enc).to_vec()).expect("utf8");
    assert!(
        enc.contains("[db]") && enc.contains("password = \"ENC[AES256_GCM,"),
        "{enc}"
    );
    assert!(!enc.contains("hunter2"));
    let p = env.file("conf2.enc.toml", enc.as_bytes());
    assert_eq!(
        ok(&env.run(&["decrypt", &p])),
        text,
        "decrypted text keeps comments, order and layout"
    );
}
