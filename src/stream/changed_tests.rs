//! The tests, shared by the YAML and the JSON block readers, that a file changed between
//! the planning read and the part reads is declined (read again whole by the caller),
//! never decrypted from parts of two different texts. Each reader's test module calls
//! [`changed_tests!`] with a [`Doc`] naming its decrypt function and its fixture.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use crate::error::Error;
use crate::format::EmitOptions;
use crate::keys::KeyContext;
use crate::metadata::Metadata;
use crate::ops::OpenOptions;
use crate::stream::Outcome;

/// A reader's `decrypt_file`: the file, then `after_plan` called between the reads.
pub(crate) type DecryptFile = fn(
    &File,
    &KeyContext,
    &OpenOptions,
    &EmitOptions,
    &dyn Fn(&Metadata) -> bool,
    &dyn Fn(),
) -> Result<Outcome, Error>;

/// What the tests need of one format.
pub(crate) struct Doc {
    /// The reader under test.
    pub decrypt: DecryptFile,
    /// The age-encrypted fixture, relative to the crate's root.
    pub fixture: &'static str,
    /// The copy's file name (its extension names the format).
    pub name: &'static str,
    /// Bytes appended to grow the file.
    pub tail: &'static [u8],
    /// Another document of the format, renamed over the file.
    pub other: &'static [u8],
}

fn ctx() -> KeyContext {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut vars = HashMap::new();
    let key = root.join("fixtures/sops/keys/age-test-keys.txt");
    vars.insert("SOPS_AGE_KEY_FILE".to_owned(), key.display().to_string());
    vars.insert(crate::stream::PART_ENV.to_owned(), "64".to_owned());
    vars.insert(crate::stream::BLOCK_ENV.to_owned(), "7".to_owned());
    KeyContext::with_vars(vars)
}

/// Decrypts a copy of the doc's fixture, calling `change` (with its path) after planning.
fn decrypt_changed(doc: &Doc, change: &dyn Fn(&Path)) -> Outcome {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read(root.join(doc.fixture)).expect("fixture");
    let dir = tempfile::tempdir().expect("dir");
    let p = dir.path().join(doc.name);
    std::fs::write(&p, &text).expect("write");
    let f = File::open(&p).expect("open");
    let opts = OpenOptions {
        ignore_mac: false,
        order: Vec::new(),
        strict_integrity: false,
    };
    let r = (doc.decrypt)(
        &f,
        &ctx(),
        &opts,
        &EmitOptions::default(),
        &|_| false,
        &|| change(&p),
    );
    r.expect("no error")
}

fn declined(o: &Outcome) -> bool {
    matches!(o, Outcome::Declined(None))
}

/// Sets the file's modification time a few seconds on (a change within the same tick of
/// the clock keeps it otherwise).
fn touch_later(p: &Path) {
    let f = File::options().write(true).open(p).expect("open");
    let m = f.metadata().expect("meta").modified().expect("mtime");
    f.set_modified(m + Duration::from_secs(5))
        .expect("set mtime");
}

pub(crate) fn an_unchanged_file_is_decrypted(doc: &Doc) {
    assert!(matches!(decrypt_changed(doc, &|_| ()), Outcome::Done(_)));
}

pub(crate) fn a_file_grown_after_planning_is_declined(doc: &Doc) {
    let o = decrypt_changed(doc, &|p| {
        let mut f = File::options().append(true).open(p).expect("open");
        f.write_all(doc.tail).expect("append");
    });
    assert!(declined(&o));
}

pub(crate) fn a_file_truncated_after_planning_is_declined(doc: &Doc) {
    let o = decrypt_changed(doc, &|p| {
        let f = File::options().write(true).open(p).expect("open");
        let n = f.metadata().expect("meta").len();
        f.set_len(n / 2).expect("truncate");
    });
    assert!(matches!(o, Outcome::Declined(_)));
}

pub(crate) fn a_file_rewritten_in_place_after_planning_is_declined(doc: &Doc) {
    let o = decrypt_changed(doc, &|p| {
        let text = std::fs::read(p).expect("read");
        std::fs::write(p, &text).expect("rewrite");
        touch_later(p);
    });
    assert!(declined(&o));
}

pub(crate) fn a_file_replaced_by_rename_is_declined(doc: &Doc) {
    // The open file is still the one planned, but its name is another file's now: the
    // caller reads that one whole.
    let o = decrypt_changed(doc, &|p| {
        let other = p.with_extension("new");
        std::fs::write(&other, doc.other).expect("write");
        std::fs::rename(&other, p).expect("rename");
    });
    assert!(declined(&o));
}

/// One `#[test]` a case above, for the [`Doc`] given (a constant expression).
macro_rules! changed_tests {
    ($doc:expr) => {
        const DOC: $crate::stream::changed_tests::Doc = $doc;
        #[test]
        fn an_unchanged_file_is_decrypted() {
            $crate::stream::changed_tests::an_unchanged_file_is_decrypted(&DOC);
        }
        #[test]
        fn a_file_grown_after_planning_is_declined() {
            $crate::stream::changed_tests::a_file_grown_after_planning_is_declined(&DOC);
        }
        #[test]
        fn a_file_truncated_after_planning_is_declined() {
            $crate::stream::changed_tests::a_file_truncated_after_planning_is_declined(&DOC);
        }
        #[test]
        fn a_file_rewritten_in_place_after_planning_is_declined() {
            $crate::stream::changed_tests::a_file_rewritten_in_place_after_planning_is_declined(
                &DOC,
            );
        }
        #[test]
        fn a_file_replaced_by_rename_is_declined() {
            $crate::stream::changed_tests::a_file_replaced_by_rename_is_declined(&DOC);
        }
    };
}
pub(crate) use changed_tests;
