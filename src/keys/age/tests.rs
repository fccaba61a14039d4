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

fn assert_armor_layout(enc: &str) {
    assert!(
        enc.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"),
        "{enc}"
    );
    assert!(
        enc.ends_with("\n-----END AGE ENCRYPTED FILE-----\n"),
        "{enc}"
    );
    assert!(!enc.contains('\r'));
    let body: Vec<&str> = enc.lines().collect();
    let body = &body[1..body.len() - 1];
    for (i, l) in body.iter().enumerate() {
        if i + 1 < body.len() {
            assert_eq!(l.len(), 64, "{enc}");
        } else {
            assert!(!l.is_empty() && l.len() <= 64, "{enc}");
        }
    }
}

/// The stanza types of the header, without the random `…-grease` stanza the `age` crate
/// always adds (ignored by every age implementation, including sops's).
fn stanza_types(enc: &str) -> Vec<String> {
    use base64::Engine;
    let b64: String = enc.lines().filter(|l| !l.starts_with("-----")).collect();
    let bin = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let header_end = bin.windows(4).position(|w| w == b"\n---").unwrap();
    String::from_utf8_lossy(&bin[..header_end])
        .lines()
        .filter_map(|l| l.strip_prefix("-> "))
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .filter(|t| !t.ends_with("-grease"))
        .collect()
}

#[test]
fn wrap_unwrap_round_trip_x25519() {
    let identity = x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let secret_text = identity.to_string();
    let (_h, ctx) = ctx_with(&[("SOPS_AGE_KEY", secret_text.expose_secret())]);
    let k = key(&format!("  {recipient}\n"));
    assert_eq!(k.id(), recipient);
    for len in [32usize, 33] {
        let secret: Vec<u8> = (0..len as u8).collect();
        let enc = k.wrap(&secret, &ctx).unwrap();
        assert_armor_layout(&enc);
        assert_eq!(stanza_types(&enc), ["X25519"]);
        assert_eq!(k.unwrap(&enc, &ctx).unwrap().as_slice(), secret.as_slice());
        // Another recipient's identity does not open it.
        let (_h2, other) = ctx_with(&[("SOPS_AGE_KEY_FILE", &vector("x25519-identity.txt"))]);
        assert!(k.unwrap(&enc, &other).is_err());
    }
}

#[test]
fn wrap_unwrap_round_trip_ssh_ed25519() {
    let (_h, ctx) = ctx_with(&[(
        "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
        &vector("ssh-ed25519-identity"),
    )]);
    let k = key(&ssh_recipient());
    assert_eq!(k.id(), ssh_recipient().trim());
    let secret = [7u8; 32];
    let enc = k.wrap(&secret, &ctx).unwrap();
    assert_armor_layout(&enc);
    assert_eq!(stanza_types(&enc), ["ssh-ed25519"]);
    assert_eq!(k.unwrap(&enc, &ctx).unwrap().as_slice(), &secret);
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

#[test]
fn parse_recipients() {
    let k = key(" age1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvun\n");
    assert_eq!(
        k.id(),
        "age1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvun"
    );
    assert_eq!(k.kind(), KeyKind::Age);
    assert!(!k.has_created_at());

    let err = AgeKey::parse("age1pq1qqqqqqqqqqqqqqqqqqqq").unwrap_err();
    assert!(err.message.contains("post-quantum") && err.message.contains("not supported"));
    assert!(err.hint.is_some());
    let err = AgeKey::parse("age1yubikey1qwertyqqqqqqqqqqqqqqqqqqq").unwrap_err();
    assert!(
        err.message
            .contains("invalid age plugin recipient (age1yubikey1…)"),
        "{err}"
    );
    // A well-formed plugin recipient parses (the plugin is only looked up when used).
    let k = key("age1test1d3jkzennv4skcgr5v4ehggrjv43kjurfv4h8ghyv2xr");
    assert_eq!(
        k.id(),
        "age1test1d3jkzennv4skcgr5v4ehggrjv43kjurfv4h8ghyv2xr"
    );
    let err = AgeKey::parse("age1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvuX")
        .unwrap_err();
    assert!(err.message.contains("not a valid age1"), "{err}");
    assert!(AgeKey::parse("ssh-ed25519 AAAAnotbase64!").is_err());
    assert!(AgeKey::parse("").is_err());
    assert!(AgeKey::parse("hello").is_err());
    let err = AgeKey::parse("ecdsa-sha2-nistp256 AAAA").unwrap_err();
    assert!(err.message.contains("invalid age recipient"));
}

#[test]
fn entry_fields() {
    let mut entry = KeyFields::new();
    entry.push("recipient", FieldValue::str(x25519_recipient().trim()));
    entry.push("enc", FieldValue::str("x"));
    let k = AgeKey::from_fields(&entry).unwrap();
    let out = k.fields();
    assert_eq!(
        out.iter()
            .map(|(k, v)| (k.to_owned(), v.as_str().unwrap().to_owned()))
            .collect::<Vec<_>>(),
        vec![("recipient".to_owned(), x25519_recipient().trim().to_owned())]
    );
    assert!(AgeKey::from_fields(&KeyFields::new()).is_err());
    // A recipient in the metadata that does not parse: the data key is still unwrapped
    // with the identity (sops ignores the field; leafseal exited 128, round-18 fuzz), and
    // encrypting for it fails with the parse error.
    let mut bad = KeyFields::new();
    bad.push("recipient", FieldValue::str("age1pq1abc"));
    let k = AgeKey::from_fields(&bad).unwrap();
    let (_h, ctx) = ctx_with(&[("SOPS_AGE_KEY_FILE", &vector("x25519-identity.txt"))]);
    let enc = read("keys/age-vectors/x25519-data.age.txt");
    assert_eq!(k.unwrap(&enc, &ctx).unwrap().as_slice(), b"data");
    let err = k.wrap(b"data", &ctx).unwrap_err();
    assert!(
        err.message.contains("cannot encrypt for the age recipient"),
        "{err}"
    );
    // Shown without terminal escapes, and a pasted identity is not shown at all; the
    // entry itself is kept as the file has it (a rewrite keeps it byte for byte).
    let hostile = "\u{1b}]0;PWN\u{7}\u{1b}[2J\u{202e}age1x";
    let mut esc = KeyFields::new();
    esc.push("recipient", FieldValue::str(hostile));
    let k = AgeKey::from_fields(&esc).unwrap();
    assert_eq!(k.display_id(), "?]0;PWN??[2J?age1x");
    assert_eq!(k.id(), hostile);
    assert_eq!(k.fields(), esc);
    let err = k.wrap(b"data", &ctx).unwrap_err();
    assert!(!err.message.contains('\u{1b}'), "{err}");
    let pasted = "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ";
    let mut secret = KeyFields::new();
    secret.push("recipient", FieldValue::str(pasted));
    let k = AgeKey::from_fields(&secret).unwrap();
    let shown = k.display_id();
    assert!(!shown.contains("QQQQ"), "{shown}");
    assert_eq!(k.fields(), secret);
    let (_h, empty) = ctx_with(&[]);
    let err = k.unwrap(&enc, &empty).unwrap_err();
    assert!(!err.message.contains("QQQQ"), "{err}");
    // A valid SSH recipient may carry any comment after the key: it is used, kept and
    // shown inert.
    let commented = format!("{} \u{1b}]0;PWN\u{7}\u{202e}x", ssh_recipient().trim());
    let mut ssh = KeyFields::new();
    ssh.push("recipient", FieldValue::str(commented.as_str()));
    let k = AgeKey::from_fields(&ssh).unwrap();
    assert!(k.wrap(b"data", &ctx).is_ok(), "the recipient parses");
    assert_eq!(k.id(), commented);
    assert_eq!(
        k.display_id(),
        format!("{} ?]0;PWN??x", ssh_recipient().trim())
    );
}

proptest::proptest! {
    #[test]
    fn parse_and_unwrap_never_panic(s in ".*") {
        let _ = AgeKey::parse(&s);
        let (_h, ctx) = ctx_with(&[]);
        let _ = key(&x25519_recipient()).unwrap(&s, &ctx);
    }
}

/// The public test recipients of the age crate's `tag` and `tagpq` modules (age 1.3
/// hardware-tag types; the identities live in hardware, so only encryption is checked).
const TAG_RECIPIENT: &str = "age1tag1qt8lw0ual6avlwmwatk888yqnmdamm7xfd0wak53ut6elz5c4swx2yqdj4e";

fn tagpq_recipient() -> String {
    read("keys/age-vectors/tagpq-recipient.txt")
        .trim()
        .to_owned()
}

#[test]
fn hardware_tag_recipients_encrypt_natively_including_post_quantum() {
    let (_h, ctx) = ctx_with(&[]);
    let k = key(TAG_RECIPIENT);
    let enc = k.wrap(b"data key", &ctx).unwrap();
    assert_eq!(stanza_types(&enc), ["p256tag"]);

    let pq = tagpq_recipient();
    let k = key(&pq);
    assert_eq!(k.id(), pq);
    let enc = k.wrap(b"data key", &ctx).unwrap();
    assert_eq!(stanza_types(&enc), ["mlkem768p256tag"]);

    let err = AgeKey::parse("age1tagpq1qqqqqqqqqqqqqqqqqqqqqqqqq").unwrap_err();
    assert!(err.message.contains("invalid age tag recipient"), "{err}");
}
