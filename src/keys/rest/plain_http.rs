//! The plain-http rule shared by every key service (see docs/security.md, "Plain http to
//! key services").

use super::is_loopback_host;
use super::url_host;
use crate::keys::KeyContext;
use crate::keys::KeyError;

/// The variable that allows plain `http://` to addresses other than loopback.
pub const INSECURE_HTTP_VAR: &str = "LEAFSEAL_ALLOW_INSECURE_HTTP";

/// Whether the user opted in to plain http beyond loopback (`LEAFSEAL_ALLOW_INSECURE_HTTP`
/// set to `1`, `true` or `yes`).
pub(crate) fn insecure_http_allowed(ctx: &KeyContext) -> bool {
    ctx.var(INSECURE_HTTP_VAR)
        .is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
}

/// The plain-http rule shared by every key service: an `http://` URL is used only when its
/// host is loopback (`localhost`, 127.0.0.0/8, `::1`), or when the user opted in
/// ([`INSECURE_HTTP_VAR`]). Anything else would send a token or a data key in clear to
/// whatever address a policy file, a file's metadata or a variable names. Returns the
/// message and the hint of the refusal.
pub(crate) fn plain_http_refusal(opted_in: bool, url: &str) -> Option<(String, String)> {
    let url = url.trim_start();
    if opted_in || !url.to_ascii_lowercase().starts_with("http://") {
        return None;
    }
    let host = url_host(url);
    if is_loopback_host(host) {
        return None;
    }
    Some((
        format!(
            "refused to use plain http with {host}: without TLS the token and the data key \
             would cross the network unprotected, readable and changeable by anyone on the way"
        ),
        format!(
            "use an https:// address; plain http is allowed only to loopback addresses \
             (localhost, 127.0.0.1, ::1). If the network to this server is trusted, opt in \
             explicitly with {INSECURE_HTTP_VAR}=1"
        ),
    ))
}

/// [`plain_http_refusal`] as a key error, with the opt-in read from `ctx`.
pub(crate) fn check_plain_http(ctx: &KeyContext, url: &str) -> Result<(), KeyError> {
    match plain_http_refusal(insecure_http_allowed(ctx), url) {
        None => Ok(()),
        Some((message, hint)) => Err(KeyError::with_hint(message, hint)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_loopback_unless_opted_in() {
        for ok in [
            "https://vault.example:8200",
            "http://127.0.0.1:8200/v1/x",
            "http://127.9.0.1/x",
            "http://localhost:8200",
            "HTTP://LOCALHOST:1",
            "http://[::1]:8200/",
        ] {
            assert_eq!(plain_http_refusal(false, ok), None, "{ok}");
        }
        for bad in [
            "http://vault.example:8200/v1/x",
            "http://10.0.0.5",
            "Http://192.0.2.1:80/",
            "http://localhost.evil.example/",
            "http://127.0.0.1.evil.example/",
            "http://[::2]:80/",
            "http://u@127.0.0.1@evil.example/",
        ] {
            let (msg, hint) = plain_http_refusal(false, bad).expect(bad);
            assert!(msg.contains("plain http"), "{msg}");
            assert!(hint.contains(INSECURE_HTTP_VAR), "{hint}");
            assert_eq!(plain_http_refusal(true, bad), None, "{bad}");
        }
        let on = KeyContext::with_vars([(INSECURE_HTTP_VAR.to_owned(), "1".to_owned())].into());
        assert!(check_plain_http(&on, "http://10.0.0.5").is_ok());
        let off = KeyContext::with_vars([(INSECURE_HTTP_VAR.to_owned(), "0".to_owned())].into());
        assert!(check_plain_http(&off, "http://10.0.0.5").is_err());
    }
}
