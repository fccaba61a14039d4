//! Tests of the age key source against the sops fixtures and age vectors.

use std::collections::HashMap;
use std::path::PathBuf;

use age::secrecy::ExposeSecret;

use super::*;

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/sops")
        .join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(fixture(rel)).unwrap()
}

fn vector(name: &str) -> String {
    fixture("keys/age-vectors").join(name).display().to_string()
}

/// A context with an empty temporary HOME (so the real ~/.ssh and ~/.config are never
/// read) plus the given variables.
fn ctx_with(vars: &[(&str, &str)]) -> (tempfile::TempDir, KeyContext) {
    let home = tempfile::tempdir().unwrap();
    let mut map = HashMap::new();
    map.insert("HOME".to_owned(), home.path().display().to_string());
    if let Ok(path) = std::env::var("PATH") {
        map.insert("PATH".to_owned(), path);
    }
    for (k, v) in vars {
        map.insert((*k).to_owned(), (*v).to_owned());
    }
    (home, KeyContext::with_vars(map))
}

fn key(recipient: &str) -> AgeKey {
    AgeKey::parse(recipient).unwrap()
}

fn x25519_recipient() -> String {
    read("keys/age-vectors/x25519-recipient.txt")
}

fn ssh_recipient() -> String {
    read("keys/age-vectors/ssh-ed25519-recipient.txt")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `n`-th (0-based) block-literal `enc: |` text of a sops YAML file, by string scan.
fn yaml_enc(yaml: &str, n: usize) -> String {
    let lines: Vec<&str> = yaml.lines().collect();
    let starts: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("enc: |"))
        .map(|(i, _)| i)
        .collect();
    let start = starts[n] + 1;
    let indent = lines[start].len() - lines[start].trim_start().len();
    let mut out = String::new();
    for l in &lines[start..] {
        if l.len() - l.trim_start().len() < indent || l.trim().is_empty() {
            break;
        }
        out.push_str(&l[indent..]);
        out.push('\n');
    }
    out
}

fn data_key_hex(rel: &str) -> String {
    let json = read(rel);
    let at = json.find("\"data_key_hex\": \"").unwrap() + "\"data_key_hex\": \"".len();
    json[at..at + 64].to_owned()
}

fn unwrap_err(key: &AgeKey, enc: &str, ctx: &KeyContext) -> KeyError {
    key.unwrap(enc, ctx).unwrap_err()
}

#[test]
fn x25519_vector_via_key_file() {
    let (_h, ctx) = ctx_with(&[("SOPS_AGE_KEY_FILE", &vector("x25519-identity.txt"))]);
    let enc = read("keys/age-vectors/x25519-data.age.txt");
    let plain = key(&x25519_recipient()).unwrap(&enc, &ctx).unwrap();
    assert_eq!(plain.as_slice(), b"data");
}

#[test]
fn x25519_vector_via_sops_age_key() {
    // The identity file text as is (comment line included).
    let ids = read("keys/age-vectors/x25519-identity.txt");
    let (_h, ctx) = ctx_with(&[("SOPS_AGE_KEY", &ids)]);
    let enc = read("keys/age-vectors/x25519-data.age.txt");
    assert_eq!(
        key(&x25519_recipient())
            .unwrap(&enc, &ctx)
            .unwrap()
            .as_slice(),
        b"data"
    );

    // Several identities on one line, whitespace separated (sops 3.13).
    let other = read("keys/age-vectors/other-x25519-identity.txt");
    let right = ids.lines().last().unwrap();
    let combined = format!("# keys\n{}  \t{}\n\n", other.trim(), right);
    let (_h, ctx) = ctx_with(&[("SOPS_AGE_KEY", &combined)]);
    assert_eq!(
        key(&x25519_recipient())
            .unwrap(&enc, &ctx)
            .unwrap()
            .as_slice(),
        b"data"
    );
}

#[test]
fn ssh_vector_via_ssh_key_file() {
    let (_h, ctx) = ctx_with(&[(
        "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
        &vector("ssh-ed25519-identity"),
    )]);
    let enc = read("keys/age-vectors/ssh-ed25519-data.age.txt");
    assert_eq!(
        key(&ssh_recipient()).unwrap(&enc, &ctx).unwrap().as_slice(),
        b"data"
    );
}

#[test]
fn ssh_vector_via_default_ssh_key_and_ssh_key_cmd() {
    let enc = read("keys/age-vectors/ssh-ed25519-data.age.txt");
    let (home, ctx) = ctx_with(&[]);
    std::fs::create_dir(home.path().join(".ssh")).unwrap();
    std::fs::copy(
        vector("ssh-ed25519-identity"),
        home.path().join(".ssh/id_ed25519"),
    )
    .unwrap();
    assert_eq!(
        key(&ssh_recipient()).unwrap(&enc, &ctx).unwrap().as_slice(),
        b"data"
    );

    let cmd = format!("cat '{}'", vector("ssh-ed25519-identity"));
    let (_h, ctx) = ctx_with(&[("SOPS_AGE_SSH_PRIVATE_KEY_CMD", &cmd)]);
    assert_eq!(
        key(&ssh_recipient()).unwrap(&enc, &ctx).unwrap().as_slice(),
        b"data"
    );
}

#[test]
fn wrong_identity_fails_clearly() {
    let (_h, ctx) = ctx_with(&[("SOPS_AGE_KEY_FILE", &vector("other-x25519-identity.txt"))]);
    let enc = read("keys/age-vectors/x25519-data.age.txt");
    let err = unwrap_err(&key(&x25519_recipient()), &enc, &ctx);
    assert!(
        err.message.contains("no identity matched this recipient"),
        "{err}"
    );
    assert!(err.message.contains("SOPS_AGE_KEY_FILE ("), "{err}");
    assert!(err.message.contains("1 identity loaded"), "{err}");
    assert!(err.message.contains("SOPS_AGE_KEY: not set"), "{err}");
    assert!(!err.to_string().contains("AGE-SECRET-KEY"), "{err}");
}

#[test]
fn no_identities_at_all() {
    let (_h, ctx) = ctx_with(&[("SOPS_AGE_KEY_FILE", "/nonexistent/keys.txt")]);
    let enc = read("keys/age-vectors/x25519-data.age.txt");
    let err = unwrap_err(&key(&x25519_recipient()), &enc, &ctx);
    assert!(err.message.contains("no age identities found"), "{err}");
    assert!(
        err.message
            .contains("SOPS_AGE_KEY_FILE (/nonexistent/keys.txt): file not found"),
        "{err}"
    );
    assert!(err.message.contains("default key file ("), "{err}");
    assert!(err.message.contains("id_ed25519: not present"), "{err}");
    assert!(
        err.hint
            .as_deref()
            .unwrap()
            .contains("set SOPS_AGE_KEY_FILE"),
        "{err}"
    );
}

#[test]
fn hybrid_pq_identity_is_reported_unsupported() {
    let (_h, ctx) = ctx_with(&[("SOPS_AGE_KEY_FILE", &vector("hybrid-pq-identity.txt"))]);
    let enc = read("keys/age-vectors/x25519-data.age.txt");
    let err = unwrap_err(&key(&x25519_recipient()), &enc, &ctx);
    assert!(
        err.message
            .contains("line 1: hybrid post-quantum identity not supported yet"),
        "{err}"
    );
    assert!(
        err.hint
            .as_deref()
            .unwrap()
            .contains("(AGE-SECRET-KEY-PQ-1…) are not supported yet")
    );
    assert!(!err.to_string().contains("JPDDEMSK"), "{err}");
}

#[test]
fn passphrase_protected_identity_file_is_reported() {
    let (_h, ctx) = ctx_with(&[(
        "SOPS_AGE_KEY_FILE",
        &vector("passphrase-protected-identity.age.txt"),
    )]);
    let enc = read("keys/age-vectors/x25519-data.age.txt");
    let err = unwrap_err(&key(&x25519_recipient()), &enc, &ctx);
    assert!(err.message.contains("passphrase-protected"), "{err}");
    assert!(
        err.hint
            .as_deref()
            .unwrap()
            .contains("set LEAFSEAL_AGE_PASSPHRASE_CMD"),
        "{err}"
    );
}

#[test]
fn passphrase_protected_identity_file_opens_with_the_passphrase_command() {
    let file = vector("passphrase-protected-identity.age.txt");
    let enc = read("keys/age-vectors/x25519-data.age.txt");
    let (_h, ctx) = ctx_with(&[
        ("SOPS_AGE_KEY_FILE", &file),
        ("LEAFSEAL_AGE_PASSPHRASE_CMD", "printf %s passphrase"),
    ]);
    let plain = key(&x25519_recipient()).unwrap(&enc, &ctx).unwrap();
    assert_eq!(plain.as_slice(), b"data");

    let (_h, ctx) = ctx_with(&[
        ("SOPS_AGE_KEY_FILE", &file),
        ("LEAFSEAL_AGE_PASSPHRASE_CMD", "false"),
    ]);
    let err = unwrap_err(&key(&x25519_recipient()), &enc, &ctx);
    assert!(
        err.message
            .contains("LEAFSEAL_AGE_PASSPHRASE_CMD: `false` failed"),
        "{err}"
    );
}

#[test]
fn a_file_that_holds_no_keys_lists_each_bad_line_once() {
    // r20 12: a YAML file as SOPS_AGE_KEY_FILE listed "line 3: not an age identity"
    // once per word of the line.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.txt");
    std::fs::write(&path, "a: b c\nd: e\nf: g\n").unwrap();
    let (_h, ctx) = ctx_with(&[("SOPS_AGE_KEY_FILE", path.to_str().unwrap())]);
    let enc = read("keys/age-vectors/x25519-data.age.txt");
    let err = unwrap_err(&key(&x25519_recipient()), &enc, &ctx);
    assert!(
        err.message
            .contains("no usable identity, lines 1, 2, 3: not an age identity"),
        "{err}"
    );
    assert_eq!(
        err.message.matches("not an age identity").count(),
        1,
        "{err}"
    );
    let many: Vec<String> = (1..=9).map(|n| format!("line {n}: x")).collect();
    assert_eq!(
        super::identities::group_problems(&many),
        vec!["lines 1, 2, 3, 4, 5 and 4 more: x".to_owned()]
    );
}

#[test]
fn bad_identity_line_is_reported_without_content() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.txt");
    let good = read("keys/age-vectors/x25519-identity.txt");
    std::fs::write(&path, format!("AGE-SECRET-KEY-1SECRETSTUFF\n{good}")).unwrap();
    let (_h, ctx) = ctx_with(&[("SOPS_AGE_KEY_FILE", path.to_str().unwrap())]);
    let enc = read("keys/age-vectors/ssh-ed25519-data.age.txt");
    let err = unwrap_err(&key(&ssh_recipient()), &enc, &ctx);
    assert!(
        err.message
            .contains("1 identity loaded, line 1: not an age identity"),
        "{err}"
    );
    assert!(!err.to_string().contains("SECRETSTUFF"), "{err}");
    // The valid identity on line 3 still works.
    let enc = read("keys/age-vectors/x25519-data.age.txt");
    assert_eq!(
        key(&x25519_recipient())
            .unwrap(&enc, &ctx)
            .unwrap()
            .as_slice(),
        b"data"
    );
}

#[test]
fn sops_example_age_file_unwraps_to_its_data_key() {
    let yaml = read("yaml/example.age.v3.7.1.yaml");
    let keys = fixture("keys/age-test-keys.txt").display().to_string();
    let (_h, ctx) = ctx_with(&[("SOPS_AGE_KEY_FILE", &keys)]);
    let first = key("age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw");
    let dk = first.unwrap(&yaml_enc(&yaml, 0), &ctx).unwrap();
    assert_eq!(
        hex(&dk),
        data_key_hex("expected/example.age.v3.7.1.yaml.leaves.json")
    );

    let second = key("age1tmaae3ld5vpevmsh5yacsauzx8jetg300mpvc4ugp5zr5l6ssq9sla97ep");
    let err = second.unwrap(&yaml_enc(&yaml, 1), &ctx).unwrap_err();
    assert!(
        err.message.contains("no identity matched this recipient"),
        "{err}"
    );
}

#[test]
fn unwrap_tolerates_surrounding_whitespace_and_crlf() {
    let (_h, ctx) = ctx_with(&[("SOPS_AGE_KEY_FILE", &vector("x25519-identity.txt"))]);
    let enc = read("keys/age-vectors/x25519-data.age.txt");
    let messy = format!("\n  {}  ", enc.replace('\n', "\r\n"));
    assert_eq!(
        key(&x25519_recipient())
            .unwrap(&messy, &ctx)
            .unwrap()
            .as_slice(),
        b"data"
    );
    let no_newline = enc.trim_end();
    assert_eq!(
        key(&x25519_recipient())
            .unwrap(no_newline, &ctx)
            .unwrap()
            .as_slice(),
        b"data"
    );
    let err = key(&x25519_recipient())
        .unwrap("garbage", &ctx)
        .unwrap_err();
    assert!(err.message.contains("not a valid age file"), "{err}");
}

#[cfg(unix)]
#[test]
fn key_cmd_gets_the_recipient_and_runs_once_per_recipient() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("print keys.sh");
    let log = dir.path().join("log");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$SOPS_AGE_RECIPIENT|$1\" >> '{}'\ncat '{}'\n",
            log.display(),
            vector("x25519-identity.txt")
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cmd = format!("'{}' \"an arg\"", script.display());
    let (_h, ctx) = ctx_with(&[("SOPS_AGE_KEY_CMD", &cmd)]);
    let enc = read("keys/age-vectors/x25519-data.age.txt");
    let k = key(&x25519_recipient());
    assert_eq!(k.unwrap(&enc, &ctx).unwrap().as_slice(), b"data");
    assert_eq!(k.unwrap(&enc, &ctx).unwrap().as_slice(), b"data");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert_eq!(logged, format!("{}|an arg\n", x25519_recipient().trim()));

    // A failing command is reported by name and status.
    let (_h, ctx) = ctx_with(&[("SOPS_AGE_KEY_CMD", "false")]);
    let err = k.unwrap(&enc, &ctx).unwrap_err();
    assert!(
        err.message.contains("SOPS_AGE_KEY_CMD: `false` failed"),
        "{err}"
    );
    let (_h, ctx) = ctx_with(&[("SOPS_AGE_KEY_CMD", "/nonexistent/tool")]);
    let err = k.unwrap(&enc, &ctx).unwrap_err();
    assert!(
        err.message.contains("could not run `/nonexistent/tool`"),
        "{err}"
    );
}

#[test]
fn identities_are_loaded_once_per_context() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.txt");
    std::fs::copy(vector("x25519-identity.txt"), &path).unwrap();
    let (_h, ctx) = ctx_with(&[("SOPS_AGE_KEY_FILE", path.to_str().unwrap())]);
    let enc = read("keys/age-vectors/x25519-data.age.txt");
    let k = key(&x25519_recipient());
    assert_eq!(k.unwrap(&enc, &ctx).unwrap().as_slice(), b"data");
    std::fs::remove_file(&path).unwrap();
    // Still works: the identities were cached in the context.
    assert_eq!(k.unwrap(&enc, &ctx).unwrap().as_slice(), b"data");
}

#[test]
fn default_keys_txt_locations() {
    let enc = read("keys/age-vectors/x25519-data.age.txt");
    let k = key(&x25519_recipient());

    // $XDG_CONFIG_HOME/sops/age/keys.txt
    let xdg = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(xdg.path().join("sops/age")).unwrap();
    std::fs::copy(
        vector("x25519-identity.txt"),
        xdg.path().join("sops/age/keys.txt"),
    )
    .unwrap();
    let (_h, ctx) = ctx_with(&[("XDG_CONFIG_HOME", xdg.path().to_str().unwrap())]);
    assert_eq!(k.unwrap(&enc, &ctx).unwrap().as_slice(), b"data");

    // ~/.config/sops/age/keys.txt (Linux, no XDG_CONFIG_HOME)
    if cfg!(target_os = "linux") {
        let (home, ctx) = ctx_with(&[]);
        std::fs::create_dir_all(home.path().join(".config/sops/age")).unwrap();
        std::fs::copy(
            vector("x25519-identity.txt"),
            home.path().join(".config/sops/age/keys.txt"),
        )
        .unwrap();
        assert_eq!(k.unwrap(&enc, &ctx).unwrap().as_slice(), b"data");
        assert_eq!(
            identities::default_keys_file(&ctx).unwrap(),
            home.path().join(".config/sops/age/keys.txt")
        );
    }
}

mod recipients;

#[cfg(unix)]
#[test]
fn a_key_command_cut_short_by_the_deadline_runs_again_for_the_next_decryption() {
    use std::os::unix::fs::PermissionsExt;
    // The first run sleeps (the key services' deadline stops it), later ones print the
    // identity. A stopped run must not be remembered as the command's answer for the
    // rest of the run (the next file's decryption has a deadline of its own).
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("key.sh");
    let marker = dir.path().join("ran");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nif [ -e '{m}' ]; then cat '{k}'; else : > '{m}'; exec sleep 60; fi\n",
            m = marker.display(),
            k = vector("x25519-identity.txt")
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cmd = script.display().to_string();
    let (_h, ctx) = ctx_with(&[("SOPS_AGE_KEY_CMD", &cmd)]);
    let enc = read("keys/age-vectors/x25519-data.age.txt");
    let k = key(&x25519_recipient());
    {
        let _deadline =
            crate::keys::deadline::scope_for_test(std::time::Duration::from_millis(300));
        let err = k.unwrap(&enc, &ctx).unwrap_err();
        assert!(
            err.message
                .contains("did not finish before the key services' deadline"),
            "{err}"
        );
    }
    assert_eq!(k.unwrap(&enc, &ctx).unwrap().as_slice(), b"data");
}
