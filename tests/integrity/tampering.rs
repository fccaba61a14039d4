//! Changes outside the MAC, in every format and reader, fail closed.

use super::*;

#[test]
fn yaml_changes_outside_the_mac_fail_closed() {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let vars = env_vars(None, home.path());
    let enc = encrypt(
        &vars,
        dir.path(),
        "app.yaml",
        "db:\n    host_unencrypted: db.internal\n    port_unencrypted: 5432\n    password: hunter2\nlist:\n    - a\n    - 1\nempty: \"\"\n",
    );
    let d = dir.path();
    let t =
        |what: &str, f: &dyn Fn(&str) -> String| expect_tamper(&vars, d, "app.yaml", &enc, what, f);
    t("key with an empty string added", &|e| {
        insert_after(e, "empty: \"\"\n", "injected: \"\"\n")
    });
    t("key with null added", &|e| {
        insert_after(e, "empty: \"\"\n", "injected: null\n")
    });
    t("empty map added", &|e| {
        insert_after(e, "empty: \"\"\n", "injected: {}\n")
    });
    t("empty list added", &|e| {
        insert_after(e, "empty: \"\"\n", "injected: []\n")
    });
    t("null appended to a list", &|e| {
        let at = e.find("list:\n").expect("list");
        let end = e[at..].find("\nempty").expect("end") + at + 1;
        format!("{}    - null\n{}", &e[..end], &e[end..])
    });
    t("two clear values re-split", &|e| {
        e.replace(
            "host_unencrypted: db.internal\n",
            "host_unencrypted: db.internal5\n",
        )
        .replace("port_unencrypted: 5432", "port_unencrypted: 432")
    });
    t("type of an encrypted value changed", &|e| {
        retype(e, "- ENC", "int", "str")
    });
    t("an empty value removed", &|e| {
        e.replace("empty: \"\"\n", "")
    });
    t("empty string turned into null", &|e| {
        e.replace("empty: \"\"\n", "empty: null\n")
    });
    t("a clear number turned into a string", &|e| {
        e.replace("port_unencrypted: 5432", "port_unencrypted: \"5432\"")
    });
    t("a second document appended", &|e| {
        format!("{e}---\ninjected: \"\"\n")
    });
}

#[test]
fn json_dotenv_and_ini_changes_outside_the_mac_fail_closed() {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let vars = env_vars(None, home.path());

    let enc = encrypt(
        &vars,
        d,
        "app.json",
        "{\n  \"a\": \"x\",\n  \"l\": [1, \"y\"],\n  \"n\": {\"k\": \"v\"}\n}\n",
    );
    let t =
        |what: &str, f: &dyn Fn(&str) -> String| expect_tamper(&vars, d, "app.json", &enc, what, f);
    t("key with an empty string added", &|e| {
        e.replacen("{\n", "{\n\t\"injected\": \"\",\n", 1)
    });
    t("key with null added", &|e| {
        e.replacen("{\n", "{\n\t\"injected\": null,\n", 1)
    });
    t("empty object added", &|e| {
        e.replacen("{\n", "{\n\t\"injected\": {},\n", 1)
    });
    t("empty array added", &|e| {
        e.replacen("{\n", "{\n\t\"injected\": [],\n", 1)
    });
    t("null appended to a list", &|e| {
        let at = e.find("\"l\": [").expect("list") + "\"l\": [".len();
        format!("{}null,{}", &e[..at], &e[at..])
    });
    t("type of an encrypted value changed", &|e| {
        e.replacen("type:int]", "type:float]", 1)
    });

    let enc = encrypt(
        &vars,
        d,
        "app.env",
        "DB_HOST=db.internal\nDB_PORT=5432\nDB_PASSWORD=hunter2\n",
    );
    let t =
        |what: &str, f: &dyn Fn(&str) -> String| expect_tamper(&vars, d, "app.env", &enc, what, f);
    t("a new empty key", &|e| format!("INJECTED=\n{e}"));
    t("a duplicate key", &|e| format!("DB_HOST=\n{e}"));
    t("type of an encrypted value changed", &|e| {
        retype(e, "DB_PORT", "str", "int")
    });

    let enc = encrypt(
        &vars,
        d,
        "app.ini",
        "[db]\nhost = db.internal\npassword = hunter2\n\n[app]\nname = x\n",
    );
    let t =
        |what: &str, f: &dyn Fn(&str) -> String| expect_tamper(&vars, d, "app.ini", &enc, what, f);
    t("a duplicate section", &|e| format!("[db]\nextra =\n\n{e}"));
    t("a new empty key", &|e| {
        e.replacen("[app]\n", "[app]\ninjected =\n", 1)
    });
}

#[test]
fn every_reader_checks_the_record() {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let mut vars = env_vars(None, home.path());
    let enc = encrypt(&vars, d, "s.yaml", "a: secret\nb: other\n");
    let tampered = format!("injected: \"\"\n{enc}");
    std::fs::write(d.join("s.yaml"), &tampered).expect("write");
    for args in [
        vec!["decrypt", "s.yaml"],
        vec!["decrypt", "--output-type", "json", "s.yaml"],
        vec!["set", "s.yaml", "[\"c\"]", "\"x\""],
        vec!["unset", "s.yaml", "[\"a\"]"],
        vec!["rotate", "-i", "s.yaml"],
        vec!["exec-env", "s.yaml", "true"],
        vec!["exec-file", "s.yaml", "cat {}"],
    ] {
        let out = run_in(&vars, d, &args);
        assert_eq!(
            out.status.code(),
            Some(INTEGRITY_MISMATCH),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("secret"),
            "{args:?}"
        );
        assert_eq!(
            std::fs::read_to_string(d.join("s.yaml")).expect("read"),
            tampered,
            "{args:?} changed the file"
        );
    }
    // The git diff driver shows the encrypted text instead, with a warning.
    let out = run_in(&vars, d, &["git", "textconv", "s.yaml"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), tampered);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("integrity check failed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // edit: refused before the editor runs; the file is untouched.
    vars.insert("EDITOR".into(), "true".into());
    let out = run_in(&vars, d, &["edit", "s.yaml"]);
    assert_eq!(out.status.code(), Some(INTEGRITY_MISMATCH));
    assert_eq!(
        std::fs::read_to_string(d.join("s.yaml")).expect("read"),
        tampered
    );
}

/// Two changes neither the MAC nor the record covers, refused since round 19 (sops
/// ignores the first and refuses the second): text after an `ENC[…]` value's closing
/// bracket (exit 25), and a MAC whose `type:` is not `str` (exit 51). Both on the tree
/// and the streamed decrypt, and nothing reaches stdout.
#[test]
fn text_after_an_encrypted_value_and_a_retyped_mac_are_refused() {
    let home = tempfile::tempdir().expect("home");
    let vars = env_vars(None, home.path());
    let dir = tempfile::tempdir().expect("dir");
    let enc = encrypt(
        &vars,
        dir.path(),
        "t.yaml",
        "db:\n    user: admin\n    password: hunter2\n",
    );
    let trailing = enc
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("password: ENC[") {
                format!("{l}junk")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    let retyped_mac = retype(&enc, "mac: ENC[", "str", "int");
    for (text, code, what) in [
        (trailing, 25, "text after the closing bracket"),
        (retyped_mac, 51, "MAC"),
    ] {
        assert_ne!(text, enc, "{what}: the edit changed nothing");
        std::fs::write(dir.path().join("t.yaml"), &text).expect("write");
        for stream in ["never", "always"] {
            let mut v = vars.clone();
            v.insert("LEAFSEAL_STREAM".to_owned(), stream.to_owned());
            let out = run_in(&v, dir.path(), &["decrypt", "t.yaml"]);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(code), "{what} ({stream}): {err}");
            assert!(out.stdout.is_empty(), "{what} ({stream}): printed output");
            assert!(err.contains(what), "{what} ({stream}): {err}");
        }
    }
}

/// Three leniencies left from the hostile-file campaign (round 20), each refused now as
/// sops 3.11 refuses it: a `lastmodified` with a trailing space or CR (sops: "parsing
/// time …: extra text", exit 1), a `shamir_threshold` given as a string in JSON or YAML
/// (sops: "cannot unmarshal string into … int", exit 1; dotenv and INI hold only text and
/// a number there still reads), and an encrypted comment retyped `type:str` (sops
/// decrypts it as a value, which enters its MAC: exit 51). Nothing reaches stdout, on the
/// tree and the streamed path.
#[test]
fn metadata_and_comment_leniencies_sops_refuses_are_refused() {
    let home = tempfile::tempdir().expect("home");
    let vars = env_vars(None, home.path());
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let yaml = encrypt(
        &vars,
        d,
        "t.yaml",
        "# top note\ndb:\n    # about the password\n    password: hunter2\n",
    );
    let json = encrypt(&vars, d, "t.json", "{\"password\": \"hunter2\"}\n");
    let with_threshold = |enc: &str, json: bool, v: &str| {
        if json {
            insert_after(
                enc,
                "\"sops\": {\n",
                &format!("\t\t\"shamir_threshold\": {v},\n"),
            )
        } else {
            insert_after(enc, "sops:\n", &format!("    shamir_threshold: {v}\n"))
        }
    };
    let lastmod = |enc: &str, tail: &str| {
        let at = enc.find("lastmodified").expect("lastmodified");
        let z = at + enc[at..].find("Z\"").expect("Z");
        format!("{}Z{tail}{}", &enc[..z], &enc[z + 1..])
    };
    let comment_retyped = enc_comment_retyped(&yaml);
    let cases: Vec<(&str, String, i32, &str)> = vec![
        ("t.yaml", lastmod(&yaml, " "), 1, "lastmodified"),
        ("t.yaml", lastmod(&yaml, "\\r"), 1, "lastmodified"),
        ("t.json", lastmod(&json, " "), 1, "lastmodified"),
        ("t.json", lastmod(&json, "\\r"), 1, "lastmodified"),
        (
            "t.json",
            with_threshold(&json, true, "\"1\""),
            1,
            "shamir_threshold",
        ),
        (
            "t.yaml",
            with_threshold(&yaml, false, "\"1\""),
            1,
            "shamir_threshold",
        ),
        ("t.yaml", comment_retyped, 51, "typed `str`"),
    ];
    for (name, text, code, what) in &cases {
        std::fs::write(d.join(name), text).expect("write");
        for stream in ["never", "always"] {
            let mut v = vars.clone();
            v.insert("LEAFSEAL_STREAM".to_owned(), stream.to_owned());
            for args in [vec!["decrypt", name], vec!["decrypt", "--ignore-mac", name]] {
                let out = run_in(&v, d, &args);
                let err = String::from_utf8_lossy(&out.stderr);
                assert_eq!(
                    out.status.code(),
                    Some(*code),
                    "{what} {args:?} ({stream}): {err}"
                );
                assert!(out.stdout.is_empty(), "{what} ({stream}): printed output");
                assert!(err.contains(what), "{what} ({stream}): {err}");
                assert!(!err.contains("hunter2"), "{err}");
            }
        }
    }
    // A number still reads in JSON and YAML, and as text in dotenv (sops's
    // DecodeNonStrings), where a non-number is refused as sops refuses it.
    for (name, text) in [
        ("t.json", with_threshold(&json, true, "1")),
        ("t.yaml", with_threshold(&yaml, false, "1")),
    ] {
        std::fs::write(d.join(name), &text).expect("write");
        let out = run_in(&vars, d, &["decrypt", "--ignore-mac", name]);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let env = encrypt(&vars, d, "t.env", "PASSWORD=hunter2\n");
    for (v, ok) in [("1", true), ("+1", true), ("x", false), (" 1", false)] {
        std::fs::write(d.join("t.env"), format!("{env}sops_shamir_threshold={v}\n"))
            .expect("write");
        let out = run_in(&vars, d, &["decrypt", "--ignore-mac", "t.env"]);
        let err = String::from_utf8_lossy(&out.stderr);
        if ok {
            assert!(out.status.success(), "{v}: {err}");
        } else {
            assert_eq!(out.status.code(), Some(1), "{v}: {err}");
            assert!(err.contains("shamir_threshold"), "{v}: {err}");
        }
    }
}

/// The first encrypted comment's `type:comment]` made `type:str]`.
fn enc_comment_retyped(enc: &str) -> String {
    let at = enc.find("#ENC[").expect("an encrypted comment");
    let t = at + enc[at..].find("type:comment]").expect("type");
    let mut out = enc.to_owned();
    out.replace_range(t..t + "type:comment]".len(), "type:str]");
    out
}
