//! A JSON file changed between the planning read and the part reads is declined (read again
//! whole by the caller), never decrypted from parts of two different texts.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use super::decrypt_file;
use crate::format::EmitOptions;
use crate::keys::KeyContext;
use crate::ops::OpenOptions;
use crate::stream::Outcome;

fn ctx() -> KeyContext {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut vars = HashMap::new();
    let key = root.join("fixtures/sops/keys/age-test-keys.txt");
    vars.insert("SOPS_AGE_KEY_FILE".to_owned(), key.display().to_string());
    vars.insert(crate::stream::PART_ENV.to_owned(), "64".to_owned());
    vars.insert(crate::stream::BLOCK_ENV.to_owned(), "7".to_owned());
    KeyContext::with_vars(vars)
}

/// Decrypts a copy of the age fixture, calling `change` (with its path) after planning.
fn decrypt_changed(change: &dyn Fn(&Path)) -> Outcome {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text =
        std::fs::read(root.join("fixtures/sops/json/example.age.v3.7.1.json")).expect("fixture");
    let dir = tempfile::tempdir().expect("dir");
    let p = dir.path().join("f.json");
    std::fs::write(&p, &text).expect("write");
    let f = File::open(&p).expect("open");
    let opts = OpenOptions {
        ignore_mac: false,
        order: Vec::new(),
        strict_integrity: false,
    };
    let r = decrypt_file(
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

#[test]
fn an_unchanged_file_is_decrypted() {
    assert!(matches!(decrypt_changed(&|_| ()), Outcome::Done(_)));
}

#[test]
fn a_file_grown_after_planning_is_declined() {
    let o = decrypt_changed(&|p| {
        let mut f = File::options().append(true).open(p).expect("open");
        f.write_all(b"\n").expect("append");
    });
    assert!(declined(&o));
}

#[test]
fn a_file_truncated_after_planning_is_declined() {
    let o = decrypt_changed(&|p| {
        let f = File::options().write(true).open(p).expect("open");
        let n = f.metadata().expect("meta").len();
        f.set_len(n / 2).expect("truncate");
    });
    assert!(matches!(o, Outcome::Declined(_)));
}

#[test]
fn a_file_rewritten_in_place_after_planning_is_declined() {
    let o = decrypt_changed(&|p| {
        let text = std::fs::read(p).expect("read");
        std::fs::write(p, &text).expect("rewrite");
        touch_later(p);
    });
    assert!(declined(&o));
}

#[test]
fn a_file_replaced_by_rename_is_declined() {
    // The open file is still the one planned, but its name is another file's now: the
    // caller reads that one whole.
    let o = decrypt_changed(&|p| {
        let other = p.with_extension("new");
        std::fs::write(&other, b"{\"a\": 1}\n").expect("write");
        std::fs::rename(&other, p).expect("rename");
    });
    assert!(declined(&o));
}
