//! Failures of local input: malformed plaintext, tampering, editors, renderers and git drivers.

use super::*;

#[test]
fn encrypt_of_malformed_plaintext_names_positions_not_values() {
    let s = scene();
    let d = s.dir.path();
    let cases: [(&str, &[u8], &[&str]); 17] = [
        (
            "a.yaml",
            b"a: C4NARYv4lue9X-y1\nb: [C4NARYv4lue9X-y2\n",
            &[],
        ),
        ("b.yaml", b"a: \"C4NARYv4lue9X-y3\\q\"\n", &[]),
        ("c.yaml", b"a: C4NARYv4lue9X-y4\na: C4NARYv4lue9X-y5\n", &[]),
        (
            "d.yaml",
            b"a: C4NARYv4lue9X-y6\n  b: C4NARYv4lue9X-y7\n",
            &[],
        ),
        ("e.yaml", b"a: C4NARYv4lue9X\xff\xfe-y8\n", &[]),
        ("f.yaml", b"a: &x C4NARYv4lue9X-y9\nb: *nope\n", &[]),
        ("g.yaml", b"- C4NARYv4lue9X-y10\n", &[]),
        (
            "a.json",
            b"{\"a\": \"C4NARYv4lue9X-j1\", \"b\": C4NARYv4lue9X}",
            &[],
        ),
        ("b.json", b"{\"a\": \"C4NARYv4lue9X-j2\\q\"}", &[]),
        ("c.json", b"{\"a\": \"C4NARYv4lue9X\xff-j3\"}", &[]),
        ("d.json", b"{\"a\": \"C4NARYv4lue9X-j4", &[]),
        ("a.env", b"A=C4NARYv4lue9X-e1\nC4NARYv4lue9X-e2\n", &[]),
        ("b.env", b"A=C4NARYv4lue9X\xff-e3\n", &[]),
        ("a.ini", b"[s]\na=C4NARYv4lue9X-i1\nC4NARYv4lue9X-i2\n", &[]),
        (
            "b.ini",
            b"[s]\na=C4NARYv4lue9X-i3\na=C4NARYv4lue9X-i4\n",
            &[],
        ),
        (
            "a.toml",
            b"a = \"C4NARYv4lue9X-t1\"\nb = C4NARYv4lue9X-t2\n",
            &["--input-type", "toml"],
        ),
        (
            "b.toml",
            b"a = \"C4NARYv4lue9X-t3\"\na = \"C4NARYv4lue9X-t4\"\n",
            &["--input-type", "toml"],
        ),
    ];
    for (name, content, extra) in cases {
        write(d, name, content);
        let mut args = vec!["encrypt", "--age", AGE_RECIPIENT];
        args.extend_from_slice(extra);
        args.push(name);
        fails_clean(&s.vars, d, &args);
        // The same bytes through the sops drop-in flags and through stdin.
        let mut args = vec!["-e", "--age", AGE_RECIPIENT];
        args.extend_from_slice(extra);
        args.push(name);
        fails_clean(&s.vars, d, &args);
    }
}

#[test]
fn decrypt_set_and_conversions_fail_without_values() {
    let s = scene();
    let d = s.dir.path();
    let f = encrypted(&s.vars, d, "s.yaml", PLAIN_YAML.as_bytes());
    let f = f.as_str();
    let nested = encrypted(
        &s.vars,
        d,
        "n.json",
        b"{\"a\":{\"b\":\"C4NARYv4lue9X-n1\"},\"c\":[1,{\"d\":\"C4NARYv4lue9X-n2\"}],\"z\":null}",
    );
    let n = nested.as_str();
    for args in [
        vec!["decrypt", "--output-type", "dotenv", f],
        vec!["decrypt", "--output-type", "ini", f],
        vec!["decrypt", "--output-type", "dotenv", n],
        vec!["decrypt", "--output-type", "ini", n],
        vec!["decrypt", "--output-type", "toml", n],
        vec!["decrypt", "--extract", "[\"db\"][\"nope\"]", f],
        vec!["decrypt", "--extract", "[\"db\"][\"password\"][\"x\"]", f],
        vec!["decrypt", "--extract", "[\"list\"][7]", f],
        vec!["decrypt", "--extract", "[\"db\"", f],
        vec![
            "decrypt",
            "--extract",
            "[\"db\"]",
            "--output-type",
            "dotenv",
            n,
        ],
        vec!["set", f, "[\"db\"][\"password\"]", "\"C4NARYv4lue9X-s1"],
        vec!["set", f, "[\"db\"][\"password\"]", "C4NARYv4lue9X-s2"],
        vec!["set", f, "[\"db\"][\"password\"]", "{\"a\": C4NARYv4lue9X}"],
        vec![
            "set",
            f,
            "[\"db\"][\"password\"]",
            "\"C4NARYv4lue9X-s3\\q\"",
        ],
        vec!["set", f, "[\"list\"][\"x\"]", "\"C4NARYv4lue9X-s4\""],
        vec!["set", f, "[\"sops\"]", "\"C4NARYv4lue9X-s5\""],
        vec!["set", f, "not a path", "\"C4NARYv4lue9X-s6\""],
        vec!["unset", f, "[\"db\"][\"nope\"]"],
        vec!["exec-env", n, "true"],
        vec!["exec-file", "--output-type", "dotenv", n, "true"],
    ] {
        fails_clean(&s.vars, d, &args);
    }
    write(d, "v1", b"\"C4NARYv4lue9X-vf1");
    write(d, "v2", b"C4NARYv4lue9X-vf2 is not JSON");
    write(d, "v3", b"\"C4NARYv4lue9X\xff-vf3\"");
    for v in ["v1", "v2", "v3"] {
        fails_clean(&s.vars, d, &["set", "--value-file", f, "[\"a\"]", v]);
    }
    fails_clean_with(
        &s.vars,
        d,
        &["set", "--value-stdin", f, "[\"a\"]"],
        b"C4NARYv4lue9X-stdin {",
    );
    let nul = encrypted(&s.vars, d, "nul.json", b"{\"A\":\"C4NARYv4lue9X\\u0000x\"}");
    fails_clean(&s.vars, d, &["exec-env", &nul, "true"]);
    // The file is unchanged by every failure above: it still decrypts.
    let out = run_with(&s.vars, d, &["decrypt", f], b"");
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn tampered_files_wrong_keys_and_key_sources_show_no_secret() {
    let s = scene();
    let d = s.dir.path();
    let f = encrypted(&s.vars, d, "s.yaml", PLAIN_YAML.as_bytes());
    let text = std::fs::read_to_string(d.join(&f)).expect("read");
    // A removed value (MAC mismatch) and an altered MAC.
    let removed: String = text
        .lines()
        .filter(|l| !l.starts_with("flag:"))
        .map(|l| format!("{l}\n"))
        .collect();
    write(d, "t1.yaml", removed.as_bytes());
    let altered = text.replacen(
        "mac: ENC[AES256_GCM,data:",
        "mac: ENC[AES256_GCM,data:AA",
        1,
    );
    write(d, "t2.yaml", altered.as_bytes());
    for t in ["t1.yaml", "t2.yaml"] {
        fails_clean(&s.vars, d, &["decrypt", t]);
        fails_clean(&s.vars, d, &["exec-env", t, "true"]);
        fails_clean(&s.vars, d, &["-d", t]);
        let out = run_with(&s.vars, d, &["git", "textconv", t], b"");
        assert_no_mark(&format!("textconv {t}"), &out);
    }

    // Key sources holding marked key material, none of which opens the file.
    write(
        d,
        "k1.txt",
        b"AGE-SECRET-KEY-1C4NARYV4LUE9XQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ\n",
    );
    write(d, "k2.txt", b"C4NARYv4lue9X-garbage-identity-line\n");
    write(
        d,
        "id_bad",
        b"-----BEGIN OPENSSH PRIVATE KEY-----\nC4NARYv4lue9XsshAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
    );
    script(d, "cmd1.sh", b"echo C4NARYv4lue9X-cmd-output");
    script(
        d,
        "cmd2.sh",
        b"echo AGE-SECRET-KEY-1C4NARYV4LUE9X-cmd; exit 3",
    );
    let mut keyless = s.vars.clone();
    keyless.remove("SOPS_AGE_KEY_FILE");
    let dir = d.display().to_string();
    let sources: [(&str, String); 7] = [
        ("SOPS_AGE_KEY_FILE", format!("{dir}/k1.txt")),
        ("SOPS_AGE_KEY_FILE", format!("{dir}/k2.txt")),
        ("SOPS_AGE_KEY", "C4NARYv4lue9X-env-age-key".to_owned()),
        ("SOPS_AGE_KEY", "AGE-SECRET-KEY-1C4NARYV4LUE9X".to_owned()),
        ("SOPS_AGE_SSH_PRIVATE_KEY_FILE", format!("{dir}/id_bad")),
        ("SOPS_AGE_KEY_CMD", format!("{dir}/cmd1.sh")),
        ("SOPS_AGE_KEY_CMD", format!("{dir}/cmd2.sh")),
    ];
    for (var, value) in sources {
        let mut vars = keyless.clone();
        vars.insert(var.to_owned(), value);
        fails_clean(&vars, d, &["decrypt", &f]);
        fails_clean(&vars, d, &["set", &f, "[\"db\"][\"password\"]", "\"x\""]);
        let out = run_with(&vars, d, &["doctor", &f], b"");
        assert_no_mark(&format!("doctor with {var}"), &out);
    }
}

#[test]
fn edit_with_a_breaking_editor_and_render_show_no_secret() {
    let s = scene();
    let d = s.dir.path();
    let f = encrypted(&s.vars, d, "s.yaml", PLAIN_YAML.as_bytes());
    let editors: [&[u8]; 5] = [
        b"printf 'a: C4NARYv4lue9X-ed1\\nb: [C4NARYv4lue9X-ed2\\n' > \"$1\"",
        b"printf 'a: C4NARYv4lue9X-ed3\\n\\377\\376\\n' > \"$1\"",
        b"printf 'a: C4NARYv4lue9X-ed4\\na: C4NARYv4lue9X-ed5\\n' > \"$1\"",
        b"printf 'sops: C4NARYv4lue9X-ed6\\n' > \"$1\"",
        b"exit 3",
    ];
    for (i, body) in editors.iter().enumerate() {
        let editor = script(d, &format!("editor{i}.sh"), body);
        let mut vars = s.vars.clone();
        vars.insert("EDITOR".to_owned(), editor);
        fails_clean(&vars, d, &["edit", &f]);
    }
    write(
        d,
        "t1.tmpl",
        b"C4NARYv4lue9X-tpl {{ [\"db\"][\"password\"] }} {{ [\"zz\"] }}\n",
    );
    write(d, "t2.tmpl", b"x {{ [\"db\"] }}\n");
    write(
        d,
        "t3.tmpl",
        b"x {{ [\"db\"][\"password\"] }} {{ [\"db\" \n",
    );
    for t in ["t1.tmpl", "t2.tmpl", "t3.tmpl"] {
        fails_clean(&s.vars, d, &["render", t, &f]);
    }
}

#[test]
fn renderers_and_git_drivers_fail_without_values() {
    let s = scene();
    let d = s.dir.path();
    std::fs::create_dir(d.join("app")).expect("mkdir");
    let secret = b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\nstringData:\n  pw: C4NARYv4lue9X-argo\n";
    write(d, "app/a.yaml", secret);
    let out = run_with(
        &s.vars,
        d,
        &["encrypt", "-i", "--age", AGE_RECIPIENT, "app/a.yaml"],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // A broken manifest after a good one: nothing is printed, not even the good one.
    write(
        d,
        "app/z.yaml",
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: z\ndata:\n  x: [C4NARYv4lue9X-cm\n",
    );
    fails_clean(&s.vars, d, &["argocd", "generate", "app"]);
    std::fs::remove_file(d.join("app/z.yaml")).expect("rm");
    let mut keyless = s.vars.clone();
    keyless.remove("SOPS_AGE_KEY_FILE");
    fails_clean(&keyless, d, &["argocd", "generate", "app"]);

    let nested = encrypted(
        &s.vars,
        d,
        "n.json",
        b"{\"a\":{\"b\":\"C4NARYv4lue9X-kz\"},\"c\":\"C4NARYv4lue9X-kz2\"}",
    );
    write(
        d,
        "gen.yaml",
        format!(
            "apiVersion: leafseal.dev/v1\nkind: SecretGenerator\nmetadata:\n  name: g\n\
             secretFrom:\n  - metadata:\n      name: s\n    envs: [{nested}]\n"
        )
        .as_bytes(),
    );
    fails_clean(&s.vars, d, &["kustomize", "exec-plugin", "gen.yaml"]);

    // Merge driver: values changed on both sides, and a side that is plaintext.
    let base = encrypted(&s.vars, d, "o.yaml", b"a: C4NARYv4lue9X-base\nb: x\n");
    let ours = encrypted(&s.vars, d, "a.yaml", b"a: C4NARYv4lue9X-ours\nb: x\n");
    let theirs = encrypted(&s.vars, d, "b.yaml", b"a: C4NARYv4lue9X-theirs\nb: x\n");
    fails_clean(
        &s.vars,
        d,
        &["git", "merge-driver", &base, &ours, &theirs, &ours],
    );
    write(d, "plain.yaml", b"a: C4NARYv4lue9X-plain\n");
    fails_clean(
        &s.vars,
        d,
        &["git", "merge-driver", &base, &ours, "plain.yaml", &ours],
    );
}
