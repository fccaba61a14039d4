//! Inputs once changed silently (bytes, numbers, duplicates, marks) are refused or kept.

use super::*;

#[test]
fn environment_variables_that_are_not_utf8_are_skipped() {
    let t = T::new();
    t.encrypted_yaml("enc.yaml");
    let run = |name: &str| {
        let mut c = leafseal(&t.vars());
        c.current_dir(t.dir.path())
            .env(name, OsStr::from_bytes(b"\xff\xfe"))
            .args(["decrypt", "enc.yaml"])
            .stdin(Stdio::null());
        c.output().expect("run")
    };
    // A variable leafseal does not read: silently ignored (this aborted with 134).
    let o = run("BAD");
    assert_ok(&o);
    assert_eq!(o.stdout, b"user: alice\npassword: s3cret\n");
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
    // One it reads: ignored with a warning naming it (never its value).
    let o = run("AWS_PROFILE");
    assert_ok(&o);
    let err = stderr(&o);
    assert!(err.contains("AWS_PROFILE is not valid UTF-8"), "{err}");
}

#[test]
fn json_invalid_utf8_is_refused_with_the_byte_offset() {
    let t = T::new();
    t.write("bad.json", b"{\"a\": \"ok\",\n \"b\": \"x\xffy\"}\n");
    let o = t.run(&["encrypt", "--age", AGE_RECIPIENT, "bad.json"]);
    assert_refused(
        &o,
        2,
        &["invalid UTF-8", "byte offset 20", "(line 2, column 9)"],
    );
}

#[test]
fn json_numbers_beyond_64_bits_are_refused_with_the_path() {
    let t = T::new();
    for (n, what) in [
        ("123456789012345678901234567890", "does not fit in 64 bits"),
        ("9223372036854775808", "does not fit in 64 bits"),
        ("1e-400", "too small"),
        ("1e400", "too large"),
    ] {
        t.write(
            "n.json",
            format!("{{\"db\": {{\"ports\": [1, {n}]}}}}").as_bytes(),
        );
        let o = t.run(&["encrypt", "--age", AGE_RECIPIENT, "n.json"]);
        assert_refused(&o, 2, &[what, r#"["db"]["ports"][1]"#]);
        assert!(!stderr(&o).contains(n), "{}", stderr(&o));
    }
    // Exact values are kept.
    t.write(
        "n.json",
        b"{\"a\": 9223372036854775807, \"b\": 0.1, \"c\": 1e-300}",
    );
    assert_ok(&t.run(&["encrypt", "--age", AGE_RECIPIENT, "n.json"]));
}

#[test]
fn ini_duplicate_key_is_refused() {
    let t = T::new();
    t.write(
        "d.ini",
        b"[db]\npassword = hunter2a\nuser = u\npassword = hunter2b\n",
    );
    let o = t.run(&["encrypt", "--age", AGE_RECIPIENT, "d.ini"]);
    assert_refused(
        &o,
        2,
        &[
            "\"password\" is defined twice in section [db]",
            "line 2",
            "(line 4, column 1)",
        ],
    );
    assert!(!stderr(&o).contains("hunter2"), "{}", stderr(&o));
}

#[test]
fn byte_order_marks_are_named_where_they_are() {
    let t = T::new();
    t.write("bom.json", b"\xEF\xBB\xBF{\"a\": 1}\n");
    let o = t.run(&["encrypt", "--age", AGE_RECIPIENT, "bom.json"]);
    assert_refused(&o, 2, &["byte-order mark", "(line 1, column 1)"]);
    t.write("bom.toml", b"a = 1\n\xEF\xBB\xBFb = 2\n");
    let o = t.run(&[
        "encrypt",
        "--input-type",
        "toml",
        "--age",
        AGE_RECIPIENT,
        "bom.toml",
    ]);
    assert_refused(&o, 2, &["byte-order mark", "(line 2, column 1)"]);
    t.write("bom2.env", b"A=1\n\xEF\xBB\xBFB=2\n");
    let o = t.run(&["encrypt", "--age", AGE_RECIPIENT, "bom2.env"]);
    assert_refused(&o, 2, &["byte-order mark", "(line 2, column 1)"]);
    // A BOM at the start of a plaintext dotenv file is refused too: sops makes it part
    // of the first key (its path `\u{FEFF}A:`), which a program would not find as `A`;
    // dropping it (before round 18) gave the key another name than sops gives it.
    t.write("bom.env", b"\xEF\xBB\xBFA=1\n");
    let o = t.run(&["encrypt", "--age", AGE_RECIPIENT, "bom.env"]);
    assert_refused(&o, 2, &["byte-order mark", "(line 1, column 1)"]);
    t.write("bom3.env", b"\xEF\xBB\xBF# c\nA=1\n");
    let o = t.run(&["encrypt", "--age", AGE_RECIPIENT, "bom3.env"]);
    assert_refused(
        &o,
        2,
        &["byte-order mark starts the line", "(line 1, column 1)"],
    );
}

#[test]
fn yaml_and_toml_numbers_that_would_change_are_refused_with_the_path() {
    let t = T::new();
    for (doc, what, path) in [
        (
            "x:\n  - 1\n  - a: 123456789012345678901234567890\n",
            "does not fit in 64 bits",
            r#"["x"][1]["a"]"#,
        ),
        ("b: 1e-400\n", "too small", r#"["b"]"#),
        ("c: 0.30000000000000000001\n", "more digits", r#"["c"]"#),
    ] {
        t.write("n.yaml", doc.as_bytes());
        let o = t.run(&["encrypt", "--age", AGE_RECIPIENT, "n.yaml"]);
        assert_refused(&o, 2, &[what, path]);
    }
    t.write("n.toml", b"a = 1.5\n[t]\nx = [1, 1e-400]\n");
    let o = t.run(&[
        "encrypt",
        "--input-type",
        "toml",
        "--age",
        AGE_RECIPIENT,
        "n.toml",
    ]);
    assert_refused(&o, 2, &["cannot be kept exactly", r#"["t"]["x"][1]"#]);
    // Exact values are kept, with the usual spellings.
    t.write(
        "ok.yaml",
        b"a: 0.1\nb: 1e-300\nc: 1_000\nd: .5\ne: .inf\nf: 0x1F\n",
    );
    assert_ok(&t.run(&["encrypt", "--age", AGE_RECIPIENT, "ok.yaml"]));
}

#[test]
fn a_key_longer_than_a_plain_key_may_be_is_written_as_an_explicit_key() {
    // Round 15 refused keys over 1024 characters (it wrote every key as a plain key,
    // which YAML does not allow past 1024). Since round 16 a key over 128 bytes is
    // written as go-yaml writes it, `? key` then `: value`, which reads back in both tools.
    let t = T::new();
    t.encrypted_yaml("s.yaml");
    let long = "k".repeat(1100);
    let o = t.run(&["set", "s.yaml", &format!("[\"{long}\"]"), "\"v\""]);
    assert_ok(&o);
    let o = t.run(&["decrypt", "s.yaml"]);
    assert_ok(&o);
    assert!(String::from_utf8_lossy(&o.stdout).contains(&format!("? {long}\n: v\n")));
    t.write("explicit.yaml", format!("? {long}\n: v\nb: 1\n").as_bytes());
    let o = t.run(&["encrypt", "--age", AGE_RECIPIENT, "explicit.yaml"]);
    assert_ok(&o);
    let enc = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        enc.starts_with(&format!("? {long}\n: ENC[")),
        "{}",
        &enc[..40]
    );
    t.write("explicit.enc.yaml", enc.as_bytes());
    let o = t.run(&["decrypt", "explicit.enc.yaml"]);
    assert_ok(&o);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("? {long}\n: v\nb: 1\n")
    );
}

#[test]
fn json_with_two_sops_members_or_a_duplicate_metadata_key_is_refused() {
    // Found by the round-16 review: the first `sops` member was used and the rest
    // ignored, with no warning, on the whole-tree and the streaming path alike (YAML,
    // INI and dotenv refuse such files; sops 3.11 stops too).
    let t = T::new();
    t.write("p.json", b"{\"a\": \"hunter2\", \"b\": \"two\"}");
    let o = t.run(&["encrypt", "--age", AGE_RECIPIENT, "p.json"]);
    assert_ok(&o);
    let enc = String::from_utf8(o.stdout).expect("utf-8");
    let close = enc.rfind('}').expect("object");
    let twice = format!(
        "{},\n\t\"sops\": \"garbage\"\n}}\n",
        enc[..close].trim_end()
    );
    let first = enc.replacen('{', "{\n\t\"sops\": {\"x\": 1},", 1);
    let mac = enc.replacen("\"mac\":", "\"mac\": \"garbage\",\n\t\t\"mac\":", 1);
    // A large file, for the streaming decrypt (its metadata is read from the tail).
    let big_plain = format!(
        "{{{}}}",
        (0..40_000)
            .map(|i| format!("\"k{i}\": \"{}\"", "v".repeat(40)))
            .collect::<Vec<_>>()
            .join(",\n")
    );
    t.write("big.json", big_plain.as_bytes());
    let o = t.run(&["encrypt", "--age", AGE_RECIPIENT, "big.json"]);
    assert_ok(&o);
    let big = String::from_utf8(o.stdout).expect("utf-8");
    assert!(big.len() > 2 << 20);
    let big_mac = big.replacen("\"mac\":", "\"mac\": \"garbage\",\n\t\t\"mac\":", 1);
    let big_first = big.replacen('{', "{\n\t\"sops\": {\"mac\": \"x\"},", 1);
    for (name, text, needle) in [
        ("twice.json", &twice, "2 'sops' members"),
        ("first.json", &first, "2 'sops' members"),
        ("mac.json", &mac, "the key 'mac' appears twice"),
        ("big_mac.json", &big_mac, "the key 'mac' appears twice"),
        ("big_first.json", &big_first, "2 'sops' members"),
    ] {
        t.write(name, text.as_bytes());
        for cmd in [
            &["decrypt", name][..],
            &["decrypt", "--strict-integrity", name],
        ] {
            let o = t.run(cmd);
            assert_refused(&o, 1, &["duplicate metadata", needle]);
            assert!(o.stdout.is_empty(), "{name}: output");
            assert!(!stderr(&o).contains("hunter2"));
        }
    }
}
