//! The leafseal integrity record through the CLI: a tamper suite that edits
//! leafseal-written files as text, without any key, in every way the sops MAC cannot see,
//! and expects decrypt (and the other readers) to fail closed with exit 53 and print
//! nothing; files without a record (written or rewritten by sops) still decrypt with a
//! warning, and are refused under the strict setting; the real sops 3.11 reads files that
//! carry a record.

#[path = "support/sops.rs"]
mod sops_peer;
mod support;

#[path = "integrity/records.rs"]
mod records;
#[path = "integrity/tampering.rs"]
mod tampering;
#[path = "integrity/versions.rs"]
mod versions;

use std::collections::HashMap;
use std::path::Path;

use support::*;

const INTEGRITY_MISMATCH: i32 = 53;

fn encrypt(vars: &HashMap<String, String>, dir: &Path, name: &str, plain: &str) -> String {
    std::fs::write(dir.join(name), plain).expect("write");
    let out = run_in(vars, dir, &["encrypt", "-i", "--age", AGE_RECIPIENT, name]);
    assert!(
        out.status.success(),
        "encrypt {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let enc = std::fs::read_to_string(dir.join(name)).expect("read");
    assert!(enc.contains("leafseal_integrity"), "{enc}");
    enc
}

/// Applies `edit` to the encrypted text, writes it as `name`, decrypts it, and expects the
/// tamper exit code with nothing on stdout.
fn expect_tamper(
    vars: &HashMap<String, String>,
    dir: &Path,
    name: &str,
    enc: &str,
    what: &str,
    edit: impl Fn(&str) -> String,
) {
    let tampered = edit(enc);
    assert_ne!(tampered, enc, "{name}: the edit `{what}` changed nothing");
    std::fs::write(dir.join(name), &tampered).expect("write");
    let out = run_in(vars, dir, &["decrypt", name]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(INTEGRITY_MISMATCH),
        "{name}: `{what}` was not caught: {err}"
    );
    assert!(out.stdout.is_empty(), "{name}: `{what}` printed output");
    assert!(
        err.contains(name) && err.contains("integrity check failed"),
        "{err}"
    );
    // The MAC alone does not see these changes: --ignore-mac aside, that is the point.
    let plain = run_in(vars, dir, &["decrypt", "--ignore-mac", name]);
    assert!(
        plain.status.success(),
        "{what}: --ignore-mac still opens it"
    );
    std::fs::write(dir.join(name), enc).expect("restore");
}

fn insert_after(enc: &str, anchor: &str, text: &str) -> String {
    let at = enc.find(anchor).expect("anchor") + anchor.len();
    format!("{}{text}{}", &enc[..at], &enc[at..])
}

/// Replaces `type:from` with `type:to` in the first ENC value of the line that starts with
/// `line_start`.
fn retype(enc: &str, line_start: &str, from: &str, to: &str) -> String {
    enc.lines()
        .map(|l| {
            if l.trim_start().starts_with(line_start) {
                l.replacen(&format!("type:{from}]"), &format!("type:{to}]"), 1)
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}
