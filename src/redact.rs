//! Masking key material in text meant for the terminal: the last line of defence before
//! `cli` prints an error, a hint or a warning. Messages should never contain a secret in
//! the first place; this catches the cases where user input (a key given in the wrong
//! place, a pasted credential file) would otherwise be echoed.
//!
//! Masked: age identities (`AGE-SECRET-KEY-1…`), age plugin identities (`AGE-PLUGIN-…`),
//! PEM and OpenPGP private key blocks (`-----BEGIN … PRIVATE KEY…-----` up to the matching
//! `-----END …-----`, or to the end of the text when it is cut), and Vault tokens
//! (`hvs.…`, `hvb.…`, `hvr.…`). Matching is case-insensitive.

use std::borrow::Cow;

/// What a masked age identity is replaced with.
pub const AGE_SECRET_MASK: &str = "AGE-SECRET-KEY-1[redacted]";
/// What a masked age plugin identity is replaced with.
pub const AGE_PLUGIN_MASK: &str = "AGE-PLUGIN-[redacted]";
/// What a masked private key block is replaced with.
pub const PRIVATE_KEY_MASK: &str = "[redacted private key]";

const AGE_SECRET: &str = "AGE-SECRET-KEY-";
const AGE_PLUGIN: &str = "AGE-PLUGIN-";
const PEM_BEGIN: &str = "-----BEGIN ";
const PEM_END: &str = "-----END ";
const PEM_DASHES: &str = "-----";
/// Longest PEM label considered (`ENCRYPTED PRIVATE KEY`, `PGP PRIVATE KEY BLOCK`, …).
const MAX_LABEL: usize = 64;
const VAULT_PREFIXES: [&str; 3] = ["hvs.", "hvb.", "hvr."];
/// Shortest body masked after an age identity prefix (real ones have 59 or more).
const MIN_KEY_BODY: usize = 16;
/// Shortest token body masked after a Vault prefix (real tokens are much longer).
const VAULT_MIN_BODY: usize = 16;

fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

fn find_ci(s: &str, needle: &str) -> Option<usize> {
    let n = needle.len();
    if s.len() < n {
        return None;
    }
    (0..=s.len() - n).find(|&i| s.as_bytes()[i..i + n].eq_ignore_ascii_case(needle.as_bytes()))
}

fn token_len(s: &str, extra: &[u8]) -> usize {
    s.bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || extra.contains(b))
        .count()
}

/// A private key block at the start of `s`: its length in bytes, if it is one.
fn private_block_len(s: &str) -> Option<usize> {
    if !starts_with_ci(s, PEM_BEGIN) {
        return None;
    }
    let header_end = PEM_BEGIN.len() + find_ci(&s[PEM_BEGIN.len()..], PEM_DASHES)?;
    let label = &s[PEM_BEGIN.len()..header_end];
    if label.len() > MAX_LABEL || find_ci(label, "PRIVATE").is_none() {
        return None;
    }
    let after = header_end + PEM_DASHES.len();
    let Some(end_at) = find_ci(&s[after..], PEM_END).map(|i| after + i) else {
        return Some(s.len());
    };
    let tail = end_at + PEM_END.len();
    Some(match find_ci(&s[tail..], PEM_DASHES) {
        Some(i) => tail + i + PEM_DASHES.len(),
        None => s.len(),
    })
}

/// What to mask at the start of `s`: the length to drop and the replacement.
fn secret_at(s: &str, prev: Option<u8>) -> Option<(usize, &'static str)> {
    for (prefix, mask) in [(AGE_SECRET, AGE_SECRET_MASK), (AGE_PLUGIN, AGE_PLUGIN_MASK)] {
        if starts_with_ci(s, prefix) {
            // Only a real key (a long Bech32 body), not a mention such as `AGE-PLUGIN-…`.
            let body = token_len(&s[prefix.len()..], b"-");
            if body >= MIN_KEY_BODY {
                return Some((prefix.len() + body, mask));
            }
        }
    }
    if let Some(len) = private_block_len(s) {
        return Some((len, PRIVATE_KEY_MASK));
    }
    let word_start = !prev.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'.');
    if word_start {
        for p in VAULT_PREFIXES {
            if starts_with_ci(s, p) {
                let body = token_len(&s[p.len()..], b"_-");
                if body >= VAULT_MIN_BODY {
                    return Some((p.len() + body, "hv?.[redacted]"));
                }
            }
        }
    }
    None
}

/// `text` with every piece of key material it contains masked (borrowed when there is
/// none).
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    let bytes = text.as_bytes();
    while i < bytes.len() {
        // Every pattern starts with an ASCII byte, so `i` is a char boundary when tested.
        if !bytes[i].is_ascii() || !text.is_char_boundary(i) {
            i += 1;
            continue;
        }
        let prev = i.checked_sub(1).map(|p| bytes[p]);
        if let Some((len, mask)) = secret_at(&text[i..], prev) {
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(&text[copied..i]);
            o.push_str(mask);
            i += len.max(1);
            copied = i;
        } else {
            i += 1;
        }
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut o) => {
            o.push_str(&text[copied..]);
            Cow::Owned(o)
        }
    }
}

/// `s` with every control character shown as `?`: text from a file (a name, a key id)
/// that would otherwise put terminal escapes or a line of its own into a message.
pub fn inert(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Whether `s` contains key material that [`redact`] would mask.
pub fn contains_secret(s: &str) -> bool {
    matches!(redact(s), Cow::Owned(_))
}

#[cfg(test)]
mod tests {
    use super::*;

    const AGE_ID: &str =
        "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ";

    #[test]
    fn age_identities_are_masked() {
        let msg = format!("invalid age key `{AGE_ID}`: expected age1…");
        let r = redact(&msg);
        assert_eq!(
            r,
            format!("invalid age key `{AGE_SECRET_MASK}`: expected age1…")
        );
        assert!(!redact(&AGE_ID.to_lowercase()).contains("qqqq"));
        let plugin = "x AGE-PLUGIN-YUBIKEY-1QQQQQQQQQQQQQQQQQ y";
        assert_eq!(redact(plugin), format!("x {AGE_PLUGIN_MASK} y"));
        let pq = "AGE-SECRET-KEY-PQ-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ.";
        assert_eq!(redact(pq), format!("{AGE_SECRET_MASK}."));
        // Mentions in hints are kept.
        for hint in [
            "hybrid post-quantum identities (AGE-SECRET-KEY-PQ-1…) are not supported",
            "age plugin identities (AGE-PLUGIN-…) are not supported yet",
            "lines starting with AGE-SECRET-KEY-1",
        ] {
            assert_eq!(redact(hint), hint);
        }
    }

    #[test]
    fn private_key_blocks_are_masked() {
        let pem =
            "a -----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY----- z";
        assert_eq!(redact(pem), format!("a {PRIVATE_KEY_MASK} z"));
        let json =
            r#"{"private_key":"-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"}"#;
        assert_eq!(
            redact(json),
            format!(r#"{{"private_key":"{PRIVATE_KEY_MASK}\n"}}"#)
        );
        let cut = "key: -----BEGIN PGP PRIVATE KEY BLOCK-----\nlQdG";
        assert_eq!(redact(cut), format!("key: {PRIVATE_KEY_MASK}"));
        let public = "-----BEGIN PGP PUBLIC KEY BLOCK-----\nmQ\n-----END PGP PUBLIC KEY BLOCK-----";
        assert_eq!(redact(public), public);
    }

    #[test]
    fn vault_tokens_are_masked_and_ordinary_text_is_kept() {
        let t = "token hvs.CAESIJ1abcdefghijklmnopqrstuv rejected";
        assert_eq!(redact(t), "token hv?.[redacted] rejected");
        for keep in [
            "age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw",
            "https://vault.example:8200/v1/transit/keys/k",
            "file.hvs.yaml",
            "naïve ünïcode — fine",
            "",
        ] {
            assert!(matches!(redact(keep), Cow::Borrowed(_)), "{keep}");
        }
    }
}
