//! Blocking HTTPS calls for the network key sources (Vault transit, GCP Cloud KMS,
//! Azure Key Vault): timeouts, bounded retries with backoff, proxies from the
//! [`KeyContext`], and the services' JSON error bodies.
//!
//! Nothing here ever puts a request body, a header value (tokens) or a response body
//! into an error: callers get the HTTP status and the service's own error message.
//!
//! Tunables (all read from the [`KeyContext`]):
//! * `LEAFSEAL_HTTP_TIMEOUT_SECS`: whole-request timeout (default 30 s; connect 10 s).
//! * `LEAFSEAL_HTTP_RETRY_DELAY_MS`: first retry delay (default 500 ms, doubled per
//!   retry). Requests are tried at most 3 times, on network errors, 429 and 5xx.
//! * `HTTPS_PROXY` / `ALL_PROXY` (or lower case) and `NO_PROXY`; loopback hosts never
//!   go through a proxy.
//!
//! Servers are verified against the bundled Mozilla (webpki) roots, or, for a client
//! made with [`Client::with_tls`], against the given CA certificates only (see
//! [`tls`] for reading them).

// Each network key source is its own cargo feature; a build with only some of them
// leaves parts of this shared client unused.
#![cfg_attr(
    not(all(feature = "aws", feature = "gcp", feature = "azure", feature = "vault")),
    allow(dead_code)
)]

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use attempt::attempt;
use zeroize::Zeroizing;

use crate::keys::KeyContext;

mod attempt;
pub(crate) mod jwt;
mod plain_http;
mod reply;
pub(crate) mod tls;
pub(crate) use plain_http::check_plain_http;
pub(crate) use plain_http::insecure_http_allowed;
pub(crate) use plain_http::plain_http_refusal;
pub(crate) use reply::Reply;
#[cfg(test)]
use reply::service_message;
pub(crate) use tls::SystemRoots;

/// The variable overriding the first retry delay, in milliseconds.
pub const RETRY_DELAY_VAR: &str = "LEAFSEAL_HTTP_RETRY_DELAY_MS";
/// The variable overriding the request timeout, in seconds.
pub const TIMEOUT_VAR: &str = "LEAFSEAL_HTTP_TIMEOUT_SECS";

const ATTEMPTS: u32 = 3;
const DEFAULT_DELAY_MS: u64 = 500;
const DEFAULT_TIMEOUT_SECS: u64 = 30;
const CONNECT_TIMEOUT_SECS: u64 = 10;
/// Largest response body read (all expected replies are tiny).
const MAX_BODY: u64 = 1024 * 1024;

/// The HTTP method of a [`Request`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
}

/// A request body. Bodies may hold secrets, so they are kept in wiped buffers.
pub(crate) enum Body {
    Empty,
    /// `application/json`.
    Json(Zeroizing<String>),
    /// `application/x-www-form-urlencoded`, already encoded with [`form`].
    Form(Zeroizing<String>),
    /// Raw bytes with their content type (an encrypted file being uploaded).
    Raw(Vec<u8>, &'static str),
}

/// One request.
pub(crate) struct Request<'a> {
    pub method: Method,
    pub url: &'a str,
    /// Extra headers (names and values); values may be secret and are never shown.
    pub headers: Vec<(&'a str, &'a str)>,
    pub body: Body,
    /// Credentials the request depends on without carrying them (a signing key), masked
    /// like those it carries wherever the reply is shown.
    pub secrets: Vec<&'a str>,
}

impl<'a> Request<'a> {
    /// A `GET` without body.
    pub fn get(url: &'a str) -> Self {
        Request {
            method: Method::Get,
            url,
            headers: Vec::new(),
            body: Body::Empty,
            secrets: Vec::new(),
        }
    }

    /// A `POST` with a body.
    pub fn post(url: &'a str, body: Body) -> Self {
        Request {
            method: Method::Post,
            url,
            headers: Vec::new(),
            body,
            secrets: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &'a str, value: &'a str) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Names a credential the request depends on (see [`Request::secrets`]).
    pub fn secret(mut self, value: &'a str) -> Self {
        self.secrets.push(value);
        self
    }
}

/// A request that got no usable HTTP response, described without any secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NetError(pub String, pub NetKind);

/// What kind of failure a [`NetError`] is: only [`NetKind::Unreachable`] may be transient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NetKind {
    /// No answer: refused, reset, timed out, or a failed TLS handshake.
    Unreachable,
    /// The server answered with something unusable (too large, not HTTP).
    BadAnswer,
    /// The request could not be made here: a header value that HTTP does not allow (a
    /// credential with a line break), a request too large, plain http refused, or
    /// unusable CA settings.
    Local,
}

impl NetError {
    /// Whether the TLS handshake failed (e.g. an untrusted server certificate).
    pub fn is_tls(&self) -> bool {
        self.0.starts_with(TLS_PREFIX)
    }

    /// Whether trying again may help: no answer, and not a TLS failure.
    fn transient(&self) -> bool {
        self.1 == NetKind::Unreachable && !self.is_tls()
    }

    /// The failure of a request to `url` in words: `URL is unreachable: …`, `the answer
    /// from URL cannot be used: …` or `no request was sent to URL: …`.
    pub fn about(&self, url: &str) -> String {
        match self.1 {
            NetKind::Unreachable => format!("{url} is unreachable: {}", self.0),
            NetKind::BadAnswer => format!("the answer from {url} cannot be used: {}", self.0),
            NetKind::Local => format!("no request was sent to {url}: {}", self.0),
        }
    }
}

const TLS_PREFIX: &str = "TLS error: ";

/// The agents of one run, created once per [`KeyContext`].
pub(crate) struct Client {
    direct: ureq::Agent,
    proxied: Option<ureq::Agent>,
    no_proxy: Vec<String>,
    delay: Duration,
    /// The whole-request timeout of the agents (each call's is at most the time left
    /// before the key services' deadline, `deadline::capped`).
    timeout: Duration,
    /// Why HTTPS requests cannot be made (an unusable `SSL_CERT_FILE`/`SSL_CERT_DIR`).
    roots_error: Option<String>,
    /// Plain http beyond loopback was allowed ([`INSECURE_HTTP_VAR`]).
    insecure_http: bool,
}

impl Client {
    /// The client of this context (created on first use).
    pub fn get(ctx: &KeyContext) -> Arc<Client> {
        ctx.cached(|| Client::new(ctx))
    }

    /// A client trusting the system trust store (as sops does), else the built-in roots.
    fn new(ctx: &KeyContext) -> Client {
        let sys = SystemRoots::get(ctx);
        let mut c = Client::with_roots_opt(ctx, sys.0.clone().ok().flatten());
        c.roots_error = sys.error();
        c
    }

    /// A client for one service's own TLS settings (Vault's): `roots`, the only CA
    /// certificates trusted (`None`: the system trust store, as [`Client::get`]), a
    /// client certificate for mutual TLS, and `skip_verify` to accept any server
    /// certificate (only when the user asked for it). Not cached: the caller keeps it.
    pub fn with_tls(
        ctx: &KeyContext,
        roots: Option<Vec<ureq::tls::Certificate<'static>>>,
        client_cert: Option<ureq::tls::ClientCert>,
        skip_verify: bool,
    ) -> Client {
        let (roots, roots_error) = match roots {
            Some(r) => (Some(ureq::tls::RootCerts::from(r)), None),
            None => {
                let sys = SystemRoots::get(ctx);
                (sys.0.clone().ok().flatten(), sys.error())
            }
        };
        let mut c = Client::build(ctx, roots, client_cert, skip_verify);
        c.roots_error = if skip_verify { None } else { roots_error };
        c
    }

    fn with_roots_opt(ctx: &KeyContext, roots: Option<ureq::tls::RootCerts>) -> Client {
        Client::build(ctx, roots, None, false)
    }

    fn build(
        ctx: &KeyContext,
        roots: Option<ureq::tls::RootCerts>,
        client_cert: Option<ureq::tls::ClientCert>,
        skip_verify: bool,
    ) -> Client {
        let timeout = ctx
            .var(TIMEOUT_VAR)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|&s| s > 0)
            .unwrap_or(DEFAULT_TIMEOUT_SECS);
        let delay = ctx
            .var(RETRY_DELAY_VAR)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(DEFAULT_DELAY_MS);
        let proxy = ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
            .iter()
            .find_map(|v| ctx.var(v))
            .and_then(|p| ureq::Proxy::new(p).ok());
        let no_proxy = ctx
            .var("NO_PROXY")
            .or_else(|| ctx.var("no_proxy"))
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().trim_start_matches('*').to_ascii_lowercase())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let build = |proxy: Option<ureq::Proxy>| -> ureq::Agent {
            let config = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .proxy(proxy)
                .timeout_global(Some(Duration::from_secs(timeout)))
                .timeout_connect(Some(Duration::from_secs(CONNECT_TIMEOUT_SECS.min(timeout))))
                .user_agent(concat!("leafseal/", env!("CARGO_PKG_VERSION")));
            let config = if roots.is_none() && client_cert.is_none() && !skip_verify {
                config
            } else {
                let mut tls = ureq::tls::TlsConfig::builder()
                    .client_cert(client_cert.clone())
                    .disable_verification(skip_verify);
                if let Some(r) = &roots {
                    tls = tls.root_certs(r.clone());
                }
                config.tls_config(tls.build())
            };
            config.build().into()
        };
        Client {
            direct: build(None),
            proxied: proxy.map(|p| build(Some(p))),
            no_proxy,
            delay: Duration::from_millis(delay),
            timeout: Duration::from_secs(timeout),
            roots_error: None,
            insecure_http: insecure_http_allowed(ctx),
        }
    }

    fn agent_for(&self, url: &str) -> &ureq::Agent {
        let Some(proxied) = &self.proxied else {
            return &self.direct;
        };
        let host = url_host(url).to_ascii_lowercase();
        let bypass = is_loopback_host(&host)
            || self.no_proxy.iter().any(|n| {
                n == "*"
                    || host == n.trim_start_matches('.')
                    || host.ends_with(&format!(".{}", n.trim_start_matches('.')))
            });
        if bypass { &self.direct } else { proxied }
    }

    /// Sends `req`, retrying (at most 3 attempts in all) on network errors other than
    /// TLS failures, 429 and 5xx.
    /// A 429/5xx that persists is returned as a [`Reply`].
    pub fn send(&self, req: &Request<'_>) -> Result<Reply, NetError> {
        self.send_with(req, ATTEMPTS)
    }

    /// Sends `req` once, without retries (probes such as the cloud metadata servers).
    pub fn send_once(&self, req: &Request<'_>, timeout: Duration) -> Result<Reply, NetError> {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .timeout_global(Some(crate::keys::deadline::capped(timeout)))
            .build()
            .new_agent();
        attempt(&agent, req, None)
    }

    /// The bounds of one call made now (connect, whole request) when the key services'
    /// deadline is nearer than the agents' own; `None`: the agents' own.
    fn bounds_now(&self) -> Option<(Duration, Duration)> {
        let whole = crate::keys::deadline::capped(self.timeout);
        (whole < self.timeout).then(|| {
            let connect = Duration::from_secs(CONNECT_TIMEOUT_SECS).min(whole);
            (connect, whole)
        })
    }

    fn send_with(&self, req: &Request<'_>, attempts: u32) -> Result<Reply, NetError> {
        if let Some((message, hint)) = plain_http_refusal(self.insecure_http, req.url) {
            return Err(NetError(format!("{message} ({hint})"), NetKind::Local));
        }
        if let Some(e) = &self.roots_error
            && req.url.starts_with("https://")
        {
            return Err(NetError(e.clone(), NetKind::Local));
        }
        let agent = self.agent_for(req.url);
        let mut delay = self.delay;
        let mut tried = 0;
        loop {
            tried += 1;
            let result = attempt(agent, req, self.bounds_now());
            let retry = match &result {
                Ok(r) => r.status == 429 || r.status >= 500,
                Err(e) => e.transient(),
            };
            if !retry || tried >= attempts || crate::keys::deadline::passed() {
                return result.map_err(|e| {
                    if tried > 1 {
                        NetError(format!("{} (after {tried} attempts)", e.0), e.1)
                    } else {
                        e
                    }
                });
            }
            std::thread::sleep(crate::keys::deadline::capped(delay));
            delay = delay.saturating_mul(2);
        }
    }
}

/// Whether the request did not fit ureq's buffer (its headers are too large). ureq does
/// not export the protocol error type, so its text is compared.
fn is_overflow(e: &ureq::Error) -> bool {
    matches!(e, ureq::Error::Protocol(p) if p.to_string().starts_with("output too small"))
}

/// Which kind of failure a transport error is ([`NetKind`]).
pub(crate) fn kind_of(e: &ureq::Error) -> NetKind {
    match e {
        ureq::Error::Http(_) | ureq::Error::BadUri(_) => NetKind::Local,
        ureq::Error::Protocol(_) if is_overflow(e) => NetKind::Local,
        ureq::Error::Protocol(_)
        | ureq::Error::BodyExceedsLimit(_)
        | ureq::Error::LargeResponseHeader(..)
        | ureq::Error::StatusCode(_) => NetKind::BadAnswer,
        _ => NetKind::Unreachable,
    }
}

/// A short description of a transport error (never contains request data).
/// A transport error in words, TLS failures prefixed with `TLS error: `.
pub(crate) fn describe_error(e: &ureq::Error) -> String {
    match e {
        // rustls reports handshake failures (e.g. an untrusted certificate) as
        // `InvalidData` wrapping its own error.
        ureq::Error::Io(io)
            if io.kind() == std::io::ErrorKind::InvalidData && io.get_ref().is_some() =>
        {
            let inner = io.get_ref().map(|e| e.to_string()).unwrap_or_default();
            format!("{TLS_PREFIX}{}", crate::redact::server_text(&inner))
        }
        ureq::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
            std::io::ErrorKind::ConnectionReset => "connection reset".to_owned(),
            std::io::ErrorKind::TimedOut => "timed out".to_owned(),
            std::io::ErrorKind::UnexpectedEof => "connection closed early".to_owned(),
            kind => format!("network error: {kind}"),
        },
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        ureq::Error::HostNotFound => "host not found".to_owned(),
        ureq::Error::ConnectionFailed => "connection failed".to_owned(),
        ureq::Error::BadUri(_) => "invalid URL".to_owned(),
        ureq::Error::Tls(m) => format!("{TLS_PREFIX}{m}"),
        ureq::Error::Rustls(e) => format!("{TLS_PREFIX}{e}"),
        ureq::Error::Pem(_) => format!("{TLS_PREFIX}bad certificate data"),
        ureq::Error::BodyExceedsLimit(_) => {
            format!("the response is larger than {} KiB", MAX_BODY / 1024)
        }
        ureq::Error::Http(_) => "a request header value is not allowed in HTTP (a credential \
             or setting with a line break or another control character?)"
            .to_owned(),
        ureq::Error::Protocol(_) if is_overflow(e) => {
            "the request headers are too large (a credential of hundreds of kilobytes?)".to_owned()
        }
        ureq::Error::Protocol(p) => format!("the answer is not valid HTTP: {p}"),
        other => other.to_string(),
    }
}

pub(crate) use super::address::is_loopback_host;
pub(crate) use super::address::url_host;

/// `application/x-www-form-urlencoded` encoding of `pairs` (in a wiped buffer).
pub(crate) fn form(pairs: &[(&str, &str)]) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::new());
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        encode_component(&mut out, k);
        out.push('=');
        encode_component(&mut out, v);
    }
    out
}

/// Percent-encodes `s` for a form body or a query string.
pub(crate) fn encode_component(out: &mut String, s: &str) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// A JSON string literal (quotes and escapes) appended to `out`; for bodies holding
/// secrets, `out` should be a wiped buffer.
pub(crate) fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A JSON object of string fields, in a wiped buffer.
pub(crate) fn json_object(fields: &[(&str, &str)]) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::from("{"));
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_string(&mut out, k);
        out.push(':');
        push_json_string(&mut out, v);
    }
    out.push('}');
    out
}

/// Takes the string field `name` out of a JSON object into a wiped buffer.
pub(crate) fn take_string(v: &mut serde_json::Value, name: &str) -> Option<Zeroizing<String>> {
    match v.get_mut(name)? {
        serde_json::Value::String(s) => Some(Zeroizing::new(std::mem::take(s))),
        _ => None,
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A bearer token with its expiry (Unix seconds), cached per context.
#[derive(Clone)]
pub(crate) struct Token {
    pub value: Zeroizing<String>,
    pub expires_at: u64,
    /// Where it came from (for error messages), e.g. `GOOGLE_OAUTH_ACCESS_TOKEN`.
    pub source: String,
}

impl Token {
    /// Whether the token is still good for at least a minute.
    pub fn fresh(&self) -> bool {
        self.expires_at > now_secs().saturating_add(60)
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token {{ source: {}, .. }}", self.source)
    }
}

/// Reads an OAuth token response (`access_token`, `expires_in` or `expires_on`).
pub(crate) fn parse_token_reply(reply: &Reply, source: &str) -> Result<Token, String> {
    let mut v = reply.json()?;
    let now = now_secs();
    let expires_at = match v.get("expires_in") {
        Some(serde_json::Value::Number(n)) => n.as_u64().map(|s| now.saturating_add(s)),
        Some(serde_json::Value::String(s)) => s.parse::<u64>().ok().map(|s| now.saturating_add(s)),
        _ => None,
    }
    .or_else(|| match v.get("expires_on") {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.parse::<u64>().ok(),
        _ => None,
    })
    .unwrap_or(now.saturating_add(300));
    let value = take_string(&mut v, "access_token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| "the token response has no `access_token`".to_owned())?;
    Ok(Token {
        value,
        expires_at,
        source: source.to_owned(),
    })
}

/// What a wrap/unwrap call does, for error messages (`op` is `encrypt` or `decrypt`).
pub(crate) fn op_phrase(op: &str) -> &'static str {
    if op == "encrypt" {
        "encrypt the data key"
    } else {
        "decrypt the data key"
    }
}

#[cfg(test)]
mod tests;
