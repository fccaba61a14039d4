//! Masking key material in text meant for the terminal: the last line of defence before
//! `cli` prints an error, a hint or a warning. Messages should never contain a secret in
//! the first place; this catches the cases where user input (a key given in the wrong
//! place, a pasted credential file) would otherwise be echoed.
//!
//! Masked: age identities (`AGE-SECRET-KEY-1…`), age plugin identities (`AGE-PLUGIN-…`),
//! PEM and OpenPGP private key blocks (`-----BEGIN … PRIVATE KEY…-----` up to the matching
//! `-----END …-----`, or to the end of the text when it is cut), and Vault tokens
//! (`hvs.…`, `hvb.…`, `hvr.…`). Matching is case-insensitive.
//!
//! Text a file controls (key ids, what a key source quotes) is made inert as well:
//! [`display_id`] is how every key id is shown (`MasterKey::display_id`), [`shown_text`]
//! how a key source's message is, and [`escape_hidden`] / [`json_escape_hidden`] are the
//! last step before text or JSON reaches the terminal. Text a server sent is shown with
//! [`server_text`] (one bounded line) or [`scrub`] (the same, without the credentials
//! the request used). None of them changes what is written to a file.

use std::borrow::Cow;

mod server;
pub use server::MAX_SERVER_TEXT;
pub use server::SECRET_MASK;
pub use server::mask_encoded_key;
pub use server::mask_raw_key;
#[cfg(feature = "aws")]
pub(crate) use server::percent_encoded;
pub use server::scrub;
pub use server::server_text;

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

/// `s` with every [hidden](is_hidden) character shown as `?`: text from a file (a name, a
/// key id) that would otherwise put terminal escapes, a line of its own or reordered text
/// into a message.
pub fn inert(s: &str) -> String {
    s.chars()
        .map(|c| if is_hidden(c) { '?' } else { c })
        .collect()
}

/// Whether `s` contains key material that [`redact`] would mask.
pub fn contains_secret(s: &str) -> bool {
    matches!(redact(s), Cow::Owned(_))
}

/// Whether `c` acts on a terminal or hides from the reader instead of showing as itself:
/// control characters (C0 with ESC, DEL, C1), Unicode format characters (bidirectional
/// embeddings, overrides, isolates and marks, zero-width characters, the byte-order mark,
/// soft hyphen, tag characters, …), the line and paragraph separators, and the fillers
/// and variation selectors that show as nothing.
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{ad}'
                | '\u{34f}'
                | '\u{600}'..='\u{605}'
                | '\u{61c}'
                | '\u{6dd}'
                | '\u{70f}'
                | '\u{890}'..='\u{891}'
                | '\u{8e2}'
                | '\u{115f}'..='\u{1160}'
                | '\u{17b4}'..='\u{17b5}'
                | '\u{180b}'..='\u{180f}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{206f}'
                | '\u{3164}'
                | '\u{fe00}'..='\u{fe0f}'
                | '\u{feff}'
                | '\u{ffa0}'
                | '\u{fff9}'..='\u{fffb}'
                | '\u{110bd}'
                | '\u{110cd}'
                | '\u{13430}'..='\u{1343f}'
                | '\u{1bca0}'..='\u{1bca3}'
                | '\u{1d173}'..='\u{1d17a}'
                | '\u{e0000}'..='\u{e0fff}'
        )
}

/// Longest key id shown whole, in characters; a longer one is cut to this length, its
/// last character an ellipsis.
pub const MAX_SHOWN_ID: usize = 256;

/// What a key id that contains key material is shown as.
pub const KEY_ID_MASK: &str = "(key material, not a key id: redacted)";

/// A key id (age recipient, PGP fingerprint, KMS ARN, Vault address, …, or any part of
/// one) as messages and reports show it. Ids come from a file's metadata, which whoever
/// can write to the repository controls: an id holding key material is replaced by
/// [`KEY_ID_MASK`], [hidden](is_hidden) characters become `?` ([`inert`]), and an id
/// longer than [`MAX_SHOWN_ID`] characters is cut and ends in `…`. A well-formed id is
/// returned as it is (borrowed).
pub fn display_id(id: &str) -> Cow<'_, str> {
    if contains_secret(id) {
        return Cow::Borrowed(KEY_ID_MASK);
    }
    let clean = if id.chars().any(is_hidden) {
        Cow::Owned(inert(id))
    } else {
        Cow::Borrowed(id)
    };
    match clean.char_indices().nth(MAX_SHOWN_ID) {
        None => clean,
        Some(_) => {
            let mut cut: String = clean.chars().take(MAX_SHOWN_ID - 1).collect();
            cut.push('…');
            Cow::Owned(cut)
        }
    }
}

/// Text put together from strings a file controls (a key source's error message naming
/// the key, a credential source naming a profile) as messages and reports show it: key
/// material masked ([`redact`]) and [hidden](is_hidden) characters other than newline
/// and tab shown as `?`. Borrowed when nothing changes.
pub fn shown_text(s: &str) -> Cow<'_, str> {
    let hide = |c: char| is_hidden(c) && c != '\n' && c != '\t';
    let masked = redact(s);
    if !masked.chars().any(hide) {
        return masked;
    }
    Cow::Owned(
        masked
            .chars()
            .map(|c| if hide(c) { '?' } else { c })
            .collect(),
    )
}

/// `s` with every [hidden](is_hidden) character except those in `keep` written as a
/// visible `\u{…}` escape: the last step before text reaches the terminal.
pub fn escape_hidden<'a>(s: &'a str, keep: &[char]) -> Cow<'a, str> {
    let hide = |c: char| is_hidden(c) && !keep.contains(&c);
    if !s.chars().any(hide) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if hide(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Serialized JSON (as `serde_json` writes it) with every [hidden](is_hidden) character
/// left in its strings written as a JSON `\uXXXX` escape: the same JSON value, but
/// nothing in it acts on a terminal it is printed to. `serde_json` escapes only C0
/// controls; DEL, C1 controls and format characters (U+202E) are written as they are.
pub fn json_escape_hidden(json: String) -> String {
    let hide = |c: char| is_hidden(c) && !matches!(c, '\n' | '\t' | '\r');
    if !json.chars().any(hide) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if hide(c) {
            // Outside strings serde_json writes only ASCII punctuation and whitespace,
            // so a hidden character is always inside a string here.
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    out
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

    #[test]
    fn hidden_characters_are_control_and_format_characters() {
        for c in [
            '\0',
            '\u{7}',
            '\u{1b}',
            '\n',
            '\r',
            '\t',
            '\u{7f}',
            '\u{85}',
            '\u{9b}',
            '\u{ad}',
            '\u{61c}',
            '\u{200b}',
            '\u{200e}',
            '\u{200f}',
            '\u{2028}',
            '\u{2029}',
            '\u{202a}',
            '\u{202e}',
            '\u{2066}',
            '\u{2069}',
            '\u{feff}',
            '\u{e0001}',
            '\u{e0041}',
        ] {
            assert!(is_hidden(c), "{c:?}");
        }
        for c in [
            'a',
            ' ',
            '/',
            ':',
            '+',
            'é',
            'ü',
            '—',
            '…',
            '中',
            '\u{1f512}',
        ] {
            assert!(!is_hidden(c), "{c:?}");
        }
        assert_eq!(inert("a\u{1b}[2J\u{202e}b\nc"), "a?[2J?b?c");
    }

    #[test]
    fn display_id_keeps_ordinary_ids_as_they_are() {
        for id in [
            "age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw",
            "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4",
            "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab+arn:aws:iam::123456789012:role/admin",
            "projects/p/locations/global/keyRings/r/cryptoKeys/k",
            "https://v.vault.azure.net/keys/k/0123456789abcdef",
            "https://vault.example.com:8200/v1/team/transit/keys/app",
            "tr-west-1:0d0466b0-e727-4d9c-b35d-f84bb474a37f",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGR naïve@host",
            "",
        ] {
            assert!(matches!(display_id(id), Cow::Borrowed(_)), "{id}");
        }
    }

    #[test]
    fn display_id_makes_hostile_ids_inert() {
        let esc = "arn:aws:kms:us-east-1:1:key/\u{1b}]0;PWN\u{7}\u{1b}[2J";
        assert_eq!(display_id(esc), "arn:aws:kms:us-east-1:1:key/?]0;PWN??[2J");
        let bidi = "https://vault\u{202e}moc.elgoog\u{2066}.example:8200";
        assert_eq!(display_id(bidi), "https://vault?moc.elgoog?.example:8200");
        assert_eq!(display_id("a\u{9b}1m\u{85}b\r\nc"), "a?1m?b??c");
        // Key material anywhere in an id replaces all of it.
        for secret in [
            format!("arn:aws:kms:us-east-1:1:alias/{AGE_ID}"),
            format!("https://v.vault.azure.net/keys/{}", AGE_ID.to_lowercase()),
            "https://vault.example.com/v1/transit/keys/hvs.CAESIJ1abcdefghijklmnop".to_owned(),
            "x -----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl".to_owned(),
        ] {
            assert_eq!(display_id(&secret), KEY_ID_MASK, "{secret}");
        }
    }

    #[test]
    fn display_id_cuts_long_ids() {
        let exact = "a".repeat(MAX_SHOWN_ID);
        assert_eq!(display_id(&exact), exact);
        let long = format!("arn:aws:kms:us-east-1:1:alias/{}", "é".repeat(1000));
        let shown = display_id(&long);
        assert_eq!(shown.chars().count(), MAX_SHOWN_ID);
        assert!(shown.ends_with('…'), "{shown}");
        assert!(long.starts_with(shown.trim_end_matches('…')));
        // Cut after the hidden characters are replaced: the cut never splits an escape.
        let hidden = "\u{1b}".repeat(MAX_SHOWN_ID * 2);
        let shown = display_id(&hidden);
        assert_eq!(shown, format!("{}…", "?".repeat(MAX_SHOWN_ID - 1)));
    }

    #[test]
    fn shown_text_keeps_lines_and_masks_the_rest() {
        let msg = format!("cannot use key {AGE_ID}:\n\tthe server said \u{1b}[31mno\u{202e}");
        assert_eq!(
            shown_text(&msg),
            format!("cannot use key {AGE_SECRET_MASK}:\n\tthe server said ?[31mno?")
        );
        assert!(matches!(shown_text("plain\ntext"), Cow::Borrowed(_)));
    }

    #[test]
    fn escape_hidden_shows_what_was_hidden() {
        assert_eq!(
            escape_hidden("a\u{1b}[2J\n\tb\u{202e}", &['\n', '\t']),
            "a\\u{1b}[2J\n\tb\\u{202e}"
        );
        assert!(matches!(escape_hidden("a\nb", &['\n']), Cow::Borrowed(_)));
    }

    #[test]
    fn json_escape_hidden_keeps_the_value() {
        let value = serde_json::json!({
            "id": "arn:\u{1b}[2J\u{7f}\u{9b}\u{202e}x\u{e0041}",
            "path": "ok/é\n",
        });
        let text = json_escape_hidden(format!("{value}\n"));
        assert!(!text.chars().any(|c| is_hidden(c) && c != '\n'), "{text}");
        assert!(
            text.contains("\\u202e") && text.contains("\\udb40\\udc41"),
            "{text}"
        );
        let back: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(back, value);
        let plain = "{\"a\":\"b\"}\n".to_owned();
        assert_eq!(json_escape_hidden(plain.clone()), plain);
    }
}
