//! `rotate` and `updatekeys`: what they change, and a failure leaves the file as it was.

use super::*;

#[test]
fn rotate_reencrypts_everything_and_changes_keys() {
    let env = Env::new();
    env.encrypted("s.yaml", PLAIN);
    let before = env.read("s.yaml");
    let plain = ok(&env.run(&["decrypt", "s.yaml"])).to_vec();
    // Default: stdout, file untouched.
    let out = ok(&env.run(&["rotate", "s.yaml"])).to_vec();
    assert_eq!(env.read("s.yaml"), before);
    assert!(out.starts_with(b"db:\n"));
    ok(&env.run(&["rotate", "-i", "s.yaml"]));
    let after = env.read("s.yaml");
    let (old, new) = (enc_values(&before), enc_values(&after));
    assert_eq!(old.len(), new.len());
    assert_eq!(old.len(), 6);
    for (o, n) in old.iter().zip(&new) {
        assert_ne!(o, n);
    }
    assert_eq!(ok(&env.run(&["decrypt", "s.yaml"])), plain.as_slice());
    let text = String::from_utf8(after).expect("utf8");
    assert!(text.contains("version: 3.13.2"));

    // Hand the file over to a new identity.
    let id = new_id();
    ok(&env.run(&[
        "rotate",
        "-i",
        "--add-age",
        &id.recipient,
        "--rm-age",
        AGE_RECIPIENT,
        "s.yaml",
    ]));
    let text = String::from_utf8(env.read("s.yaml")).expect("utf8");
    assert!(text.contains(&id.recipient));
    assert!(!text.contains(AGE_RECIPIENT));
    assert_eq!(
        ok(&env.run_vars(&env.vars_with(&[&id]), &["decrypt", "s.yaml"])),
        plain.as_slice()
    );
    assert_eq!(code(&env.run(&["decrypt", "s.yaml"])), 128);
}

#[test]
fn failed_rotate_or_updatekeys_leaves_the_file_byte_identical() {
    let env = Env::new();
    env.encrypted("s.yaml", PLAIN);
    let before = env.read("s.yaml");
    // A PGP key that is not in the (empty) keyring cannot be wrapped for.
    let o = env.run(&["rotate", "-i", "--add-pgp", PGP_FP, "s.yaml"]);
    assert_ne!(code(&o), 0);
    assert!(stderr(&o).contains("nothing was written"), "{}", stderr(&o));
    assert_eq!(env.read("s.yaml"), before);
    // The file's own key is not available.
    let nobody = env.vars_with(&[]);
    let o = env.run_vars(&nobody, &["rotate", "-i", "s.yaml"]);
    assert_eq!(code(&o), 128);
    assert_eq!(env.read("s.yaml"), before);

    env.write(
        ".sops.yaml",
        format!("creation_rules:\n  - age: {AGE_RECIPIENT}\n    pgp: {PGP_FP}\n").as_bytes(),
    );
    let o = env.run(&["updatekeys", "-y", "s.yaml"]);
    assert_ne!(code(&o), 0);
    assert_eq!(env.read("s.yaml"), before);
    let id = new_id();
    env.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - age: {AGE_RECIPIENT},{}\n",
            id.recipient
        )
        .as_bytes(),
    );
    let o = env.run_vars(&nobody, &["updatekeys", "-y", "s.yaml"]);
    assert_eq!(code(&o), 128, "{}", stderr(&o));
    assert_eq!(env.read("s.yaml"), before);
    // Without -y and without a terminal: refused, with a hint.
    let o = env.run(&["updatekeys", "s.yaml"]);
    assert_ne!(code(&o), 0);
    assert!(stderr(&o).contains("-y"), "{}", stderr(&o));
    assert_eq!(env.read("s.yaml"), before);
    // Removing a recipient that is not there is only a warning.
    let o = env.run(&["rotate", "--rm-age", &id.recipient, "s.yaml"]);
    ok(&o);
    assert!(stderr(&o).contains("not in the file"));
}

/// The parsed (still encrypted) document and the metadata fields other than keys.
fn body_and_mac(
    bytes: &[u8],
    fmt: leafseal::format::Format,
) -> (leafseal::tree::Document, Vec<String>) {
    let loaded = fmt.store().load(bytes).expect("load");
    let meta = loaded.meta.expect("meta");
    let fields = ["lastmodified", "mac", "version", "unencrypted_suffix"]
        .iter()
        .map(|f| {
            meta.get(f)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    (loaded.doc, fields)
}

#[test]
fn updatekeys_over_a_tree_changes_only_key_metadata() {
    use leafseal::format::Format;
    let env = Env::new();
    let id = new_id();
    env.encrypted("team/a.yaml", PLAIN);
    env.encrypted("team/sub/b.json", "{\"k\": \"v\", \"n\": 1}\n");
    env.encrypted("other/c.yaml", PLAIN);
    env.encrypted(".git/d.yaml", PLAIN);
    env.write("team/readme.txt", b"not encrypted\n");
    env.write("loose/x.yaml", b"a: 1\n");
    env.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - path_regex: ^team/\n    age: {AGE_RECIPIENT},{}\n  - path_regex: ^other/\n    age: {AGE_RECIPIENT}\n",
            id.recipient
        )
        .as_bytes(),
    );
    let files = [
        ("team/a.yaml", Format::Yaml),
        ("team/sub/b.json", Format::Json),
        ("other/c.yaml", Format::Yaml),
        (".git/d.yaml", Format::Yaml),
    ];
    let before: Vec<Vec<u8>> = files.iter().map(|(f, _)| env.read(f)).collect();
    let o = env.run(&["updatekeys", "-y", "."]);
    ok(&o);
    let err = stderr(&o);
    assert!(err.contains("other/c.yaml: already up to date"), "{err}");
    assert!(err.contains("loose/x.yaml: skipped"), "{err}");
    assert!(
        !err.contains("d.yaml"),
        "hidden directories are skipped: {err}"
    );
    assert!(!err.contains("can still read"), "nothing removed: {err}");
    assert!(String::from_utf8_lossy(&o.stdout).contains(&format!("+ age {}", id.recipient)));
    assert_eq!(env.read("other/c.yaml"), before[2]);
    assert_eq!(env.read(".git/d.yaml"), before[3]);
    for (i, (f, fmt)) in files[..2].iter().enumerate() {
        let now = env.read(f);
        assert_ne!(now, before[i]);
        assert_eq!(
            body_and_mac(&now, *fmt),
            body_and_mac(&before[i], *fmt),
            "{f}"
        );
        let o = env.run_vars(&env.vars_with(&[&id]), &["decrypt", f]);
        ok(&o);
    }
    // Idempotent: a second run changes nothing.
    let now: Vec<Vec<u8>> = files.iter().map(|(f, _)| env.read(f)).collect();
    let o = env.run(&["updatekeys", "-y", "team"]);
    ok(&o);
    assert!(stderr(&o).contains("already up to date"));
    assert_eq!(
        files.iter().map(|(f, _)| env.read(f)).collect::<Vec<_>>(),
        now
    );

    // Removing the fixture key: warning; the data key stays.
    env.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - path_regex: ^team/\n    age: {}\n",
            id.recipient
        )
        .as_bytes(),
    );
    let o = env.run(&["updatekeys", "-y", "team/a.yaml"]);
    ok(&o);
    assert!(
        stderr(&o).contains("can still read the current values"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("--rotate"));
    let a_now = env.read("team/a.yaml");
    assert_eq!(
        body_and_mac(&a_now, Format::Yaml),
        body_and_mac(&before[0], Format::Yaml)
    );
    // --rotate re-keys in the same step: every value changes, the plaintext does not.
    let o = env.run_vars(
        &env.vars_with(&[&id]),
        &["updatekeys", "-y", "--rotate", "team/sub/b.json"],
    );
    ok(&o);
    let b_now = env.read("team/sub/b.json");
    let (old_enc, new_enc) = (enc_values(&before[1]), enc_values(&b_now));
    assert_eq!(old_enc.len(), 2);
    for (o, n) in old_enc.iter().zip(&new_enc) {
        assert_ne!(o, n);
    }
    let dec = ok(&env.run_vars(&env.vars_with(&[&id]), &["decrypt", "team/sub/b.json"])).to_vec();
    assert_eq!(dec, b"{\n\t\"k\": \"v\",\n\t\"n\": 1\n}\n");
    assert_eq!(code(&env.run(&["decrypt", "team/sub/b.json"])), 128);
    // A file no rule matches, named explicitly, fails (the others still run).
    let o = env.run(&["updatekeys", "-y", "other/c.yaml", "team/a.yaml"]);
    assert_ne!(code(&o), 0);
    assert!(
        stderr(&o).contains("team/a.yaml: already up to date"),
        "{}",
        stderr(&o)
    );
}
