//! Tests of the age key source's recipient side: parsing recipients, the metadata
//! entry's fields, wrapping (armor layout, stanza types, round trips for X25519 and SSH
//! keys) and the hardware-tag recipients. The identity side is in the parent module.

use super::*;

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
    // No recipient (or `null`): the empty one, as sops reads it (round 25); it is
    // written back as `recipient: ""`, and encrypting for it fails.
    let none = AgeKey::from_fields(&KeyFields::new()).unwrap();
    assert_eq!(none.recipient(), "");
    assert_eq!(none.fields().get_str("recipient"), Some(""));
    let mut null = KeyFields::new();
    null.push("recipient", FieldValue::Null);
    assert_eq!(AgeKey::from_fields(&null).unwrap().recipient(), "");
    let mut number = KeyFields::new();
    number.push("recipient", FieldValue::Int(5));
    assert!(AgeKey::from_fields(&number).is_err());
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
