//! What the splice and scan write tests share on top of `stream_env.rs`: a plaintext
//! encrypted in place, a strict decryption, and one value's ciphertext tampered with.
//! Included with `#[path = "support/stream_writes.rs"] mod stream_writes;` next to
//! `stream_env`.
#![allow(dead_code)]

use crate::stream_env::Env;
use crate::stream_env::ok;
use crate::support::AGE_RECIPIENT;

impl Env {
    /// Encrypts `plain` into `name`; returns its path.
    pub fn encrypted(&self, name: &str, plain: &str) -> String {
        let p = self.path(name);
        std::fs::write(&p, plain).expect("write");
        ok(&self.run_vars(&[], &["encrypt", "-i", "--age", AGE_RECIPIENT, &p]));
        p
    }

    /// The file's plaintext, with its integrity record required.
    pub fn decrypt(&self, path: &str) -> String {
        let out = self.run_vars(&[("LEAFSEAL_STRICT_INTEGRITY", "1")], &["decrypt", path]);
        String::from_utf8(ok(&out)).expect("utf8")
    }
}

/// Replaces the `n`th `key: ENC[…]` value (in file order) with `with(value)`.
pub fn tamper_nth(text: &str, key: &str, n: usize, with: impl Fn(&str) -> String) -> String {
    let mut seen = 0;
    text.lines()
        .map(|l| {
            if l.trim_start().starts_with(&format!("{key}: ENC[")) {
                seen += 1;
                if seen == n + 1 {
                    let (k, v) = l.split_once(": ").expect("value");
                    return format!("{k}: {}\n", with(v));
                }
            }
            format!("{l}\n")
        })
        .collect()
}
