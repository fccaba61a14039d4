use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::sync::Arc;
use std::sync::Mutex;

use zeroize::Zeroizing;

use super::KeyContext;
use super::KeyError;
use super::KeyService;
use super::MasterKey;

/// A key service that records the calls it gets and answers as told.
#[derive(Debug)]
struct Fake {
    name: &'static str,
    works: bool,
    calls: Arc<Mutex<Vec<&'static str>>>,
}

impl KeyService for Fake {
    fn address(&self) -> &str {
        self.name
    }
    fn wrap(&self, _key: &dyn MasterKey, _secret: &[u8]) -> Result<String, KeyError> {
        self.calls.lock().expect("calls").push(self.name);
        match self.works {
            true => Ok(format!(
                "-----BEGIN PGP MESSAGE-----\nenc by {}\n-----END PGP MESSAGE-----",
                self.name
            )),
            false => Err(KeyError::new(format!("{} is down", self.name))),
        }
    }
    fn unwrap(&self, _key: &dyn MasterKey, _enc: &str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        self.calls.lock().expect("calls").push(self.name);
        match self.works {
            true => Ok(Zeroizing::new(self.name.as_bytes().to_vec())),
            false => Err(KeyError::new(format!("{} is down", self.name))),
        }
    }
}

#[test]
fn key_services_are_tried_after_the_local_keys_in_order() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let svc = |name, works| {
        Arc::new(Fake {
            name,
            works,
            calls: Arc::clone(&calls),
        }) as Arc<dyn KeyService>
    };
    // A PGP key whose gpg home is missing: the local attempt fails.
    let key = super::key_from_str(
        super::KeyKind::Pgp,
        "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4",
    )
    .expect("key");
    let vars = [("GNUPGHOME".to_owned(), "/nonexistent/gnupg".to_owned())];
    let ctx = KeyContext::with_vars(vars.iter().cloned().collect())
        .with_key_services(vec![svc("a", false), svc("b", true), svc("c", true)], true);
    let got = ctx.unwrap_key(key.as_ref(), "x").expect("b answers");
    assert_eq!(got.as_slice(), b"b");
    assert!(
        ctx.wrap_key(key.as_ref(), b"k")
            .expect("wrap")
            .contains("enc by b")
    );
    assert_eq!(*calls.lock().expect("calls"), ["a", "b", "a", "b"]);

    let all_down = KeyContext::with_vars(vars.iter().cloned().collect())
        .with_key_services(vec![svc("a", false)], false);
    let e = all_down.unwrap_key(key.as_ref(), "x").expect_err("down");
    assert_eq!(e.message, "a is down", "the local keys were not tried");

    let none =
        KeyContext::with_vars(vars.iter().cloned().collect()).with_key_services(Vec::new(), false);
    let e = none
        .wrap_key(key.as_ref(), b"k")
        .expect_err("nothing to use");
    assert!(e.message.contains("no key service to use"), "{e}");
}

#[test]
fn variables_that_are_not_utf8_are_skipped_and_named() {
    let bad = || OsString::from_vec(vec![0xff, 0xfe]);
    let ctx = KeyContext::from_os_vars([
        (OsString::from("SOPS_AGE_KEY_FILE"), OsString::from("/k")),
        (OsString::from("AWS_PROFILE"), bad()),
        (bad(), OsString::from("x")),
    ]);
    assert_eq!(ctx.var("SOPS_AGE_KEY_FILE"), Some("/k"));
    assert_eq!(ctx.var("AWS_PROFILE"), None);
    assert_eq!(ctx.vars().len(), 1);
    assert_eq!(ctx.not_utf8_vars(), ["AWS_PROFILE", "\u{FFFD}\u{FFFD}"]);
}

/// Whether text shown from a key is inert: no hidden character but newline (terminal
/// escapes, bidirectional overrides) and none of the key material planted below.
fn inert(s: &str) -> bool {
    !s.chars().any(|c| crate::redact::is_hidden(c) && c != '\n') && !s.contains("QQQQ")
}

/// Hostile ids planted in a file's metadata (round-19 review): every kind keeps its entry
/// as the file has it, and its id, its errors, its doctor probe and the key group reports
/// show the entry only as inert text.
#[test]
#[cfg(all(
    feature = "aws",
    feature = "azure",
    feature = "vault",
    feature = "gcp",
    feature = "hckms"
))]
fn hostile_ids_are_kept_verbatim_and_shown_inert() {
    use super::KeyFields;
    use super::KeyKind;
    use super::StoredKey;
    use super::group;

    const SECRET: &str =
        "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ";
    let entry = |pairs: &[(&str, &str)]| {
        let mut f = KeyFields::new();
        for (k, v) in pairs {
            f.push_str(*k, *v);
        }
        f
    };
    let arn_secret = format!("arn:aws:kms:us-east-1:123456789012:alias/{SECRET}");
    let gcp_secret = format!("projects/p/locations/l/keyRings/r/cryptoKeys/{SECRET}");
    let hckms_secret = format!("tr-west-1:{SECRET}");
    let cases = [
        // Refused by the source (an ASCII control character): kept as an opaque entry.
        (
            KeyKind::Kms,
            entry(&[(
                "arn",
                "arn:aws:kms:us-east-1:1:key/\u{1b}]0;x\u{7}\u{1b}[2J",
            )]),
            "AQICAHhvZ2Vy",
        ),
        (
            KeyKind::Kms,
            entry(&[
                ("arn", "arn:aws:kms:us-east-1:123456789012:alias/\u{202e}x"),
                ("aws_profile", "p\u{1b}[5m\u{202e}"),
            ]),
            "AQICAHhvZ2Vy",
        ),
        (
            KeyKind::Kms,
            entry(&[
                ("arn", &arn_secret),
                ("role", "arn:aws:iam::123456789012:role/\u{202e}r"),
            ]),
            "AQICAHhvZ2Vy",
        ),
        (
            KeyKind::HcVault,
            entry(&[
                ("vault_address", "https://v\u{1b}[31m\u{202e}.example:8200"),
                ("engine_path", "transit"),
                ("key_name", "k"),
            ]),
            "vault:v1:abc",
        ),
        (
            KeyKind::HcVault,
            entry(&[
                ("vault_address", "https://v.example:8200"),
                ("engine_path", "transit"),
                ("key_name", SECRET),
            ]),
            "vault:v1:abc",
        ),
        (
            KeyKind::AzureKv,
            entry(&[
                (
                    "vault_url",
                    "https://e\u{1b}]0;x\u{7}\u{202e}.vault.azure.net",
                ),
                ("name", "k"),
                ("version", "v1"),
            ]),
            "abc",
        ),
        (
            KeyKind::AzureKv,
            entry(&[
                ("vault_url", "https://ok.vault.azure.net"),
                ("name", SECRET),
                ("version", "v1"),
            ]),
            "abc",
        ),
        (
            KeyKind::GcpKms,
            entry(&[("resource_id", &gcp_secret)]),
            "AQICAHhvZ2Vy",
        ),
        (KeyKind::Hckms, entry(&[("key_id", &hckms_secret)]), "abc"),
        // Refused by the source: kept as an opaque entry.
        (
            KeyKind::Hckms,
            entry(&[("key_id", "tr-west-1\u{85}\u{2028}:\u{1b}[2Jx")]),
            "abc",
        ),
    ];
    // Every network source fails at once and without a connection anywhere but the
    // refused loopback port.
    let vars = [
        ("HOME", "/nonexistent-home"),
        ("PATH", "/nonexistent-bin"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:9"),
        ("GCE_METADATA_HOST", "127.0.0.1:9"),
    ];
    let ctx = KeyContext::with_vars(
        vars.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    );
    let mut stored = Vec::new();
    for (kind, e, enc) in &cases {
        let key = super::key_from_entry(*kind, e).expect("kept");
        assert!(inert(&key.display_id()), "{kind:?}: {}", key.display_id());
        // Display only: the entry is written back as the file has it.
        let fields = key.fields();
        for (name, value) in e.iter() {
            assert_eq!(fields.get(name), Some(value), "{kind:?} {name}");
        }
        // `id` stays the key's identity as the file has it (compared, never shown).
        let planted = e
            .iter()
            .any(|(_, v)| v.as_str().is_some_and(|s| s.contains("QQQQ")));
        assert_eq!(key.id().contains("QQQQ"), planted, "{kind:?}");
        let err = key.unwrap(enc, &ctx).expect_err("no credentials");
        assert!(inert(&err.to_string()), "{kind:?}: {err}");
        let probe = key.probe(&ctx);
        let said = format!("{:?} {:?}", probe.source, probe.status);
        assert!(inert(&said), "{kind:?}: {said}");
        stored.push(StoredKey {
            key,
            enc: (*enc).to_owned(),
            created_at: None,
        });
    }
    let groups = vec![stored];
    let e = group::recover(&groups, 0, &group::DEFAULT_ORDER, &ctx).expect_err("nobody");
    assert_eq!(e.attempts.len(), cases.len());
    assert!(inert(&e.to_string()), "{e}");
    let keys: Vec<Vec<Arc<dyn MasterKey>>> = groups
        .iter()
        .map(|g| g.iter().map(|s| Arc::clone(&s.key)).collect())
        .collect();
    let data_key = crate::crypto::DataKey::from_slice(&[7; 32]).expect("32 bytes");
    let e = group::wrap(&keys, 0, &data_key, &ctx).expect_err("nobody");
    assert!(inert(&e.to_string()), "{e}");
}

/// A key service that wraps to fixed text and unwraps `enc` (a number) to that many bytes.
#[derive(Debug)]
struct Fixed(&'static str);

impl KeyService for Fixed {
    fn address(&self) -> &str {
        "tcp://fixed"
    }
    fn wrap(&self, _key: &dyn MasterKey, _secret: &[u8]) -> Result<String, KeyError> {
        Ok(self.0.to_owned())
    }
    fn unwrap(&self, _key: &dyn MasterKey, enc: &str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        Ok(Zeroizing::new(vec![7; enc.parse().unwrap_or(0)]))
    }
}

fn through(services: &[&'static str]) -> KeyContext {
    let list = services
        .iter()
        .map(|s| Arc::new(Fixed(s)) as Arc<dyn KeyService>)
        .collect();
    KeyContext::with_vars(Default::default()).with_key_services(list, false)
}

fn pgp(fp: &str) -> Arc<dyn MasterKey> {
    super::key_from_str(super::KeyKind::Pgp, fp).expect("key")
}

const ARMORED: &str = "-----BEGIN PGP MESSAGE-----\n\nwcBMA\n-----END PGP MESSAGE-----";

#[test]
fn an_empty_or_foreign_wrapped_key_fails_the_wrap() {
    let key = pgp("FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4");
    let e = through(&["", "not an age file"])
        .wrap_key(key.as_ref(), &[1; 32])
        .expect_err("nothing usable");
    assert!(e.message.contains("cannot be used: it is empty"), "{e}");
    assert!(
        e.message.contains("not an ASCII-armored PGP message"),
        "{e}"
    );
    // A service answering properly after them is used.
    let enc = through(&["", ARMORED])
        .wrap_key(key.as_ref(), &[1; 32])
        .expect("the second service");
    assert_eq!(enc, ARMORED);
    // Writing a file: nothing is returned, so nothing is written.
    let groups = vec![vec![key]];
    let data_key = crate::crypto::DataKey::from_slice(&[7; 32]).expect("32 bytes");
    let e = super::group::wrap(&groups, 0, &data_key, &through(&[""])).expect_err("empty");
    assert!(e.to_string().contains("it is empty"), "{e}");
}

#[test]
fn a_key_unwrapping_to_a_wrong_length_fails_alone_and_the_next_key_is_tried() {
    use super::StoredKey;
    use super::group;
    let stored = |fp: &str, enc: &str| StoredKey {
        key: pgp(fp),
        enc: enc.to_owned(),
        created_at: None,
    };
    let short = stored("FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4", "31");
    let good = stored("AAC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4", "32");
    let ctx = through(&[ARMORED]);
    let groups = vec![vec![short.clone(), good]];
    let (key, used) =
        group::recover_with_keys(&groups, 0, &group::DEFAULT_ORDER, &ctx).expect("second key");
    assert_eq!(key.expose(), &[7; 32]);
    assert_eq!(used, ["pgp AAC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4"]);

    let e = group::recover(&[vec![short]], 0, &group::DEFAULT_ORDER, &ctx).expect_err("short");
    assert_eq!(e.attempts.len(), 1);
    assert!(e.combine.is_none());
    let said = e.to_string();
    assert!(
        said.starts_with("no key could decrypt the data key. Tried:"),
        "{said}"
    );
    assert!(
        said.contains("31 bytes, not the 32 bytes of a data key"),
        "{said}"
    );
    assert!(!said.contains("shares"), "{said}");
}
