//! The reserved `sops` keys are refused in plaintexts; unknown metadata fields are kept.

use super::*;

#[test]
fn set_and_unset_refuse_the_reserved_metadata_keys_in_every_format() {
    let env = Env::new();
    env.encrypt("p.yaml", "a: 1\n", "s.yaml");
    env.encrypt("p.json", "{\"a\": 1}\n", "s.json");
    env.encrypt("p.env", "A=1\n", "s.env");
    env.encrypt("p.ini", "[main]\na = 1\n", "s.ini");
    let cases: &[(&str, &str)] = &[
        ("s.yaml", r#"["sops"]"#),
        ("s.yaml", r#"["sops"]["mac"]"#),
        ("s.json", r#"["sops"]"#),
        ("s.json", r#"["sops"]["version"]"#),
        ("s.env", r#"["sops_version"]"#),
        ("s.env", r#"["sops_anything"]"#),
        ("s.env", r#"["sops"]"#),
        ("s.ini", r#"["sops"]"#),
        ("s.ini", r#"["sops"]["mac"]"#),
    ];
    for (file, path) in cases {
        let before = env.read(file);
        let out = env.run(&["set", file, path, r#""x""#]);
        assert_eq!(code(&out), 7, "set {file} {path}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("reserved") && err.contains("hint:"), "{err}");
        assert_eq!(env.read(file), before, "set {file} {path} changed the file");
        let out = env.run(&["unset", file, path]);
        assert_eq!(code(&out), 7, "unset {file} {path}: {}", stderr(&out));
        assert_eq!(
            env.read(file),
            before,
            "unset {file} {path} changed the file"
        );
        // The file still decrypts.
        let out = env.run(&["decrypt", file]);
        assert_eq!(code(&out), 0, "{file}: {}", stderr(&out));
    }
    // Ordinary keys, and `sops` below the top level, still work.
    let out = env.run(&["set", "s.yaml", r#"["b"]["sops"]"#, r#""ok""#]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = env.run(&["set", "s.env", r#"["MY_sops_X"]"#, r#""ok""#]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = env.run(&["decrypt", "s.env"]);
    assert_eq!(stdout(&out), "A=1\nMY_sops_X=ok\n");
}

#[test]
fn encrypt_and_edit_refuse_a_plaintext_with_a_top_level_sops_key() {
    let env = Env::new();
    for (name, text) in [
        ("p.yaml", "a: 1\nsops:\n  x: 1\n"),
        ("p.json", "{\"a\": 1, \"sops\": {\"x\": 1}}"),
        ("p.env", "A=1\nsops_x=1\n"),
        ("p.ini", "[sops]\nx = 1\n"),
    ] {
        env.write(name, text);
        let out = env.run(&["encrypt", "--age", AGE_RECIPIENT, name]);
        assert_eq!(code(&out), 203, "{name}: {}", stderr(&out));
        assert!(out.stdout.is_empty());
    }
    // edit: the editor adds a top-level `sops` entry; the file is left as it was.
    env.encrypt("q.yaml", "a: 1\n", "s.yaml");
    let before = env.read("s.yaml");
    let editor = env.home.path().join("ed.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nprintf 'a: 2\\nsops:\\n  x: 1\\n' > \"$1\"\n",
    )
    .expect("write");
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let out = env.run_with(
        &["edit", "s.yaml"],
        &[("EDITOR", &editor.display().to_string())],
    );
    assert_eq!(code(&out), 203, "{}", stderr(&out));
    assert_eq!(env.read("s.yaml"), before);
}

/// What docs/security.md states: unknown fields at the top level of the `sops` block
/// (a future key kind, a future setting) are kept when `set` rewrites the file.
#[test]
fn unknown_top_level_metadata_fields_are_kept_on_rewrite() {
    let env = Env::new();
    env.encrypt("p.yaml", "a: 1\n", "s.yaml");
    let text = env.read("s.yaml").replacen(
        "sops:\n",
        "sops:\n    future_setting: keep-me\n    future_kms:\n        - id: x\n          enc: y\n",
        1,
    );
    env.write("s.yaml", &text);
    let out = env.run(&["set", "s.yaml", r#"["b"]"#, r#""two""#]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let after = env.read("s.yaml");
    assert!(after.contains("future_setting: keep-me"), "{after}");
    assert!(
        after.contains("future_kms:\n        - id: x\n          enc: \"y\""),
        "{after}"
    );
    let out = env.run(&["decrypt", "s.yaml"]);
    assert_eq!(stdout(&out), "a: 1\nb: two\n");
}
