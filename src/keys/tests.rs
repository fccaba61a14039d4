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
            true => Ok(format!("enc by {}", self.name)),
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
    assert_eq!(ctx.wrap_key(key.as_ref(), b"k").expect("wrap"), "enc by b");
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
