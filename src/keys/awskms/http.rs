//! HTTP for the AWS key source: endpoints, timeouts, bounded retries and AWS error bodies.
//!
//! Every failure is described without the request body, headers or credentials; text that
//! comes back from the server is shortened and scrubbed of the caller's secrets.

use std::time::Duration;

use zeroize::Zeroizing;

use crate::keys::KeyContext;
use crate::keys::rest::describe_error;

/// A parsed endpoint URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// `http` or `https`.
    pub scheme: String,
    /// The bare host name or address (IPv6 without brackets).
    pub host: String,
    /// The `Host` header value: host, plus `:port` when not the scheme's default.
    pub authority: String,
    /// The path, `/` when none was given.
    pub path: String,
}

impl Endpoint {
    /// Parses `http[s]://host[:port][/path]`.
    pub(crate) fn parse(url: &str) -> Result<Endpoint, String> {
        let url = url.trim();
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("endpoint `{url}` is not an http(s) URL"))?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return Err(format!("endpoint `{url}` is not an http(s) URL")),
        };
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], rest.get(i..).unwrap_or("/")),
            None => (rest, "/"),
        };
        let path = path.split(['?', '#']).next().unwrap_or("/");
        let path = if path.is_empty() { "/" } else { path };
        if authority.is_empty() || authority.contains('@') {
            return Err(format!("endpoint `{url}` has no usable host"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("endpoint `{url}` has a malformed IPv6 host"))?;
            (h.to_owned(), after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (authority.to_owned(), None),
            }
        };
        let port = match port {
            Some(p) => Some(
                p.parse::<u16>()
                    .map_err(|_| format!("endpoint `{url}` has an invalid port"))?,
            ),
            None => None,
        };
        let host_for_header = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let authority = match port {
            Some(p) if p != default_port => format!("{host_for_header}:{p}"),
            _ => host_for_header,
        };
        Ok(Endpoint {
            scheme,
            host,
            authority,
            path: path.to_owned(),
        })
    }

    /// The full URL of this endpoint.
    pub(crate) fn url(&self) -> String {
        format!("{}://{}{}", self.scheme, self.authority, self.path)
    }

    /// Whether the host is `localhost` or a loopback address (parsed, not a text prefix:
    /// `127.0.0.1.example.com` is not loopback); the rule of the shared plain-http check.
    pub(crate) fn is_loopback(&self) -> bool {
        crate::keys::address::is_loopback_host(&self.host)
    }
}

/// Timeouts and retry policy.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// Connect timeout and whole-call timeout.
    pub timeout: Duration,
    /// Attempts per call (1 = no retry).
    pub attempts: u32,
    /// First retry delay; doubled for each further retry.
    pub base_delay: Duration,
}

impl Settings {
    /// `LEAFSEAL_AWS_TIMEOUT_SECS` (default 10), `AWS_MAX_ATTEMPTS` (default 3, at most 10),
    /// `LEAFSEAL_AWS_RETRY_DELAY_MS` (default 200).
    pub(crate) fn from_ctx(ctx: &KeyContext) -> Settings {
        let num = |name: &str| ctx.var(name).and_then(|v| v.trim().parse::<u64>().ok());
        Settings {
            timeout: Duration::from_secs(num("LEAFSEAL_AWS_TIMEOUT_SECS").unwrap_or(10).max(1)),
            attempts: num("AWS_MAX_ATTEMPTS").unwrap_or(3).clamp(1, 10) as u32,
            base_delay: Duration::from_millis(
                num("LEAFSEAL_AWS_RETRY_DELAY_MS")
                    .unwrap_or(200)
                    .min(60_000),
            ),
        }
    }
}

/// A completed HTTP exchange with a 2xx status.
pub(crate) struct Response {
    /// The body (wiped on drop: it may hold a data key or credentials).
    pub body: Zeroizing<Vec<u8>>,
}

/// Why a call failed, safe to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// No HTTP response (connection refused, timeout, TLS, …).
    Transport {
        /// What happened.
        detail: String,
        /// Attempts made.
        attempts: u32,
    },
    /// A failure trying again cannot fix: an answer that cannot be used (too large, not
    /// HTTP) or a request that cannot be made here (a credential with a line break).
    Unusable {
        /// What happened.
        detail: String,
    },
    /// An HTTP error status with the AWS error code and message, if any.
    Status {
        /// HTTP status.
        status: u16,
        /// AWS error code (`AccessDeniedException`, `InvalidCiphertextException`, …).
        code: Option<String>,
        /// The server's message, shortened and scrubbed.
        message: Option<String>,
        /// Attempts made.
        attempts: u32,
    },
}

impl Failure {
    /// The AWS error code, if the server sent one.
    pub(crate) fn code(&self) -> Option<&str> {
        match self {
            Failure::Status { code, .. } => code.as_deref(),
            Failure::Transport { .. } | Failure::Unusable { .. } => None,
        }
    }

    /// The HTTP status, if there was a response.
    pub(crate) fn status(&self) -> Option<u16> {
        match self {
            Failure::Status { status, .. } => Some(*status),
            Failure::Transport { .. } | Failure::Unusable { .. } => None,
        }
    }

    /// A one-line description.
    pub(crate) fn describe(&self) -> String {
        let tries = |n: u32| {
            if n > 1 {
                format!(" (after {n} attempts)")
            } else {
                String::new()
            }
        };
        match self {
            Failure::Transport { detail, attempts } => {
                format!("no response: {detail}{}", tries(*attempts))
            }
            Failure::Unusable { detail } => detail.clone(),
            Failure::Status {
                status,
                code,
                message,
                attempts,
            } => {
                let mut s = format!("HTTP {status}");
                if let Some(c) = code {
                    s.push(' ');
                    s.push_str(c);
                }
                if let Some(m) = message {
                    s.push_str(": ");
                    s.push_str(m);
                }
                s.push_str(&tries(*attempts));
                s
            }
        }
    }
}

/// Error codes AWS uses for throttling (retried like 5xx).
const THROTTLING: [&str; 9] = [
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
];

/// Whether an AWS error code means "slow down".
pub(crate) fn is_throttling(code: &str) -> bool {
    THROTTLING.contains(&code)
}

fn is_retryable(status: u16, code: Option<&str>) -> bool {
    status >= 500 || status == 429 || code.is_some_and(is_throttling)
}

/// The shared scrubber for text a service sent back (see [`crate::redact::scrub`]).
pub(crate) use crate::redact::scrub;

/// Normalises an AWS error type (`com.amazon.coral.service#Foo:http://…` → `Foo`).
fn normalise_code(raw: &str) -> Option<String> {
    let code = raw.rsplit('#').next().unwrap_or(raw);
    let code = code.split(':').next().unwrap_or(code).trim();
    let ok = !code.is_empty()
        && code.len() <= 100
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_');
    ok.then(|| code.to_owned())
}

/// The text between `<tag>` and `</tag>` (first occurrence), XML entities decoded.
pub(crate) fn xml_tag<'a>(xml: &'a str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let len = xml.get(start..)?.find(&close)?;
    let raw: &'a str = xml.get(start..start + len)?;
    Some(
        raw.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&")
            .trim()
            .to_owned(),
    )
}

/// Code and message of an AWS error body (JSON or XML) or the `x-amzn-ErrorType` header.
fn parse_error(body: &[u8], header: Option<&str>) -> (Option<String>, Option<String>) {
    let text = String::from_utf8_lossy(body);
    let mut code = None;
    let mut message = None;
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(body) {
        for k in ["__type", "code", "Code"] {
            if let Some(c) = map.get(k).and_then(|v| v.as_str()).and_then(normalise_code) {
                code = Some(c);
                break;
            }
        }
        for k in ["message", "Message", "errorMessage"] {
            if let Some(m) = map.get(k).and_then(|v| v.as_str()) {
                message = Some(m.to_owned());
                break;
            }
        }
    } else if text.trim_start().starts_with('<') {
        code = xml_tag(&text, "Code").and_then(|c| normalise_code(&c));
        message = xml_tag(&text, "Message");
    }
    if code.is_none() {
        code = header.and_then(normalise_code);
    }
    (code, message)
}

fn proxy_for(ctx: &KeyContext, ep: &Endpoint) -> Option<ureq::Proxy> {
    if ep.is_loopback() {
        return None;
    }
    if let Some(no) = ctx.var("NO_PROXY").or_else(|| ctx.var("no_proxy")) {
        let host = ep.host.to_ascii_lowercase();
        for pat in no.split(',').map(|p| p.trim().to_ascii_lowercase()) {
            let pat = pat.trim_start_matches('*').trim_start_matches('.');
            if pat.is_empty() && no.trim() == "*" {
                return None;
            }
            if !pat.is_empty() && (host == pat || host.ends_with(&format!(".{pat}"))) {
                return None;
            }
        }
    }
    let names: &[&str] = if ep.scheme == "https" {
        &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
    } else {
        &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
    };
    names
        .iter()
        .find_map(|n| ctx.var(n))
        .and_then(|p| ureq::Proxy::new(p).ok())
}

/// The roots AWS calls trust: the PEM bundle of `AWS_CA_BUNDLE` (else the active
/// profile's `ca_bundle`) alone when it is set (as the AWS SDKs do), else the system trust store as sops uses it (else the built-in
/// roots). An unusable setting is an error naming it.
fn trusted_roots(ctx: &KeyContext) -> Result<Option<ureq::tls::RootCerts>, String> {
    let bundle = match ctx.var("AWS_CA_BUNDLE") {
        Some(p) => Some(("AWS_CA_BUNDLE", std::path::PathBuf::from(p))),
        None => super::creds::profiles::setting(ctx, None, "ca_bundle").map(|p| {
            (
                "ca_bundle (AWS config)",
                super::creds::profiles::expand(ctx, &p),
            )
        }),
    };
    if let Some((var, path)) = bundle {
        return crate::keys::rest::tls::load_pem_file(var, &path)
            .map(|c| Some(ureq::tls::RootCerts::from(c)))
            .map_err(|e| crate::keys::rest::tls::unusable_roots(&e));
    }
    let sys = crate::keys::rest::SystemRoots::get(ctx);
    match sys.error() {
        Some(e) => Err(e),
        None => Ok(sys.0.clone().ok().flatten()),
    }
}

/// An agent whose connect and answer each take at most `timeout`, the whole call `whole`.
fn agent(
    ctx: &KeyContext,
    ep: &Endpoint,
    timeout: Duration,
    whole: Duration,
    roots: Option<ureq::tls::RootCerts>,
) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(timeout))
        .timeout_global(Some(whole))
        .timeout_recv_response(Some(timeout))
        .max_redirects(0)
        .proxy(proxy_for(ctx, ep));
    let config = match roots {
        Some(r) => config.tls_config(ureq::tls::TlsConfig::builder().root_certs(r).build()),
        None => config,
    };
    config.build().new_agent()
}

/// Whether trying again may help (the shared rule of [`crate::keys::rest::NetKind`]).
fn transient(e: &ureq::Error) -> bool {
    crate::keys::rest::kind_of(e) == crate::keys::rest::NetKind::Unreachable
}

fn transport_detail(e: &ureq::Error) -> String {
    match e {
        // A failed handshake (e.g. an untrusted certificate), described as the other key
        // sources describe it.
        ureq::Error::Io(io)
            if io.kind() == std::io::ErrorKind::InvalidData && io.get_ref().is_some() =>
        {
            describe_error(e)
        }
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => describe_error(e),
        ureq::Error::Timeout(_) => "timed out".to_owned(),
        ureq::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
            std::io::ErrorKind::TimedOut => "timed out".to_owned(),
            kind => format!("I/O error ({kind})"),
        },
        ureq::Error::HostNotFound => "host not found".to_owned(),
        ureq::Error::ConnectionFailed => "connection failed".to_owned(),
        ureq::Error::BodyExceedsLimit(_) => "response too large".to_owned(),
        _ => "HTTP error".to_owned(),
    }
}

/// Sends one request with retries. `headers` is called once per attempt (so signatures
/// carry a fresh date) and returns every header to send, `Host` included.
pub(crate) fn send(
    ctx: &KeyContext,
    settings: Settings,
    method: &str,
    ep: &Endpoint,
    headers: &dyn Fn() -> Vec<(String, String)>,
    body: &[u8],
    secrets: &[&str],
) -> Result<Response, Failure> {
    let roots = match trusted_roots(ctx) {
        Ok(r) => r,
        Err(detail) if ep.scheme == "https" => {
            return Err(Failure::Transport {
                detail,
                attempts: 0,
            });
        }
        Err(_) => None,
    };
    let url = ep.url();
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        // Each attempt ends by the key services' deadline (`deadline::capped`).
        let whole = crate::keys::deadline::capped(settings.timeout.saturating_mul(3));
        let agent = agent(ctx, ep, settings.timeout.min(whole), whole, roots.clone());
        let mut builder = ureq::http::Request::builder().method(method).uri(&url);
        for (k, v) in headers() {
            builder = builder.header(k, v);
        }
        let outcome = match builder.body(body.to_vec()) {
            Ok(req) => agent.run(req),
            Err(_) => {
                return Err(Failure::Unusable {
                    detail: "no request was sent: a header value is not allowed in HTTP (a \
                             credential or setting with a line break or another control \
                             character?)"
                        .to_owned(),
                });
            }
        };
        let retry = match outcome {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                let header = resp
                    .headers()
                    .get("x-amzn-errortype")
                    .and_then(|h| h.to_str().ok())
                    .map(str::to_owned);
                let read = resp
                    .body_mut()
                    .with_config()
                    .limit(1 << 20)
                    .read_to_vec()
                    .map(Zeroizing::new);
                match read {
                    Ok(body) if (200..300).contains(&status) => return Ok(Response { body }),
                    Ok(body) => {
                        let (code, message) = parse_error(&body, header.as_deref());
                        let failure = Failure::Status {
                            status,
                            message: message.map(|m| scrub(&m, secrets)),
                            code,
                            attempts: attempt,
                        };
                        if !is_retryable(status, failure.code()) {
                            return Err(failure);
                        }
                        failure
                    }
                    Err(e) if !transient(&e) => {
                        return Err(Failure::Unusable {
                            detail: format!("the answer cannot be used: {}", describe_error(&e)),
                        });
                    }
                    Err(e) => Failure::Transport {
                        detail: format!("reading the response failed: {}", transport_detail(&e)),
                        attempts: attempt,
                    },
                }
            }
            Err(e) if !transient(&e) => {
                return Err(Failure::Unusable {
                    detail: describe_error(&e),
                });
            }
            Err(e) => {
                let detail = transport_detail(&e);
                // Retrying cannot make an untrusted certificate trusted.
                let tls = detail.starts_with("TLS error");
                let failure = Failure::Transport {
                    detail,
                    attempts: attempt,
                };
                if tls {
                    return Err(failure);
                }
                failure
            }
        };
        if attempt >= settings.attempts || crate::keys::deadline::passed() {
            return Err(retry);
        }
        let factor = 1u32 << (attempt - 1).min(10);
        std::thread::sleep(crate::keys::deadline::capped(
            settings.base_delay.saturating_mul(factor),
        ));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let e = Endpoint::parse("http://127.0.0.1:5000").unwrap();
        assert_eq!(e.authority, "127.0.0.1:5000");
        assert_eq!(e.url(), "http://127.0.0.1:5000/");
        let e = Endpoint::parse("https://kms.eu-west-1.amazonaws.com:443/x?y").unwrap();
        assert_eq!(e.authority, "kms.eu-west-1.amazonaws.com");
        assert_eq!(e.path, "/x");
        let e = Endpoint::parse("http://[::1]:8080/").unwrap();
        assert_eq!(
            (e.host.as_str(), e.authority.as_str()),
            ("::1", "[::1]:8080")
        );
        assert!(Endpoint::parse("ftp://x").is_err());
        assert!(Endpoint::parse("http://").is_err());
        assert!(Endpoint::parse("http://u:p@h/").is_err());
        assert!(Endpoint::parse("http://h:99999/").is_err());
    }

    #[test]
    fn error_bodies() {
        let (c, m) = parse_error(
            br#"{"__type":"com.amazonaws.kms#InvalidCiphertextException","message":"bad"}"#,
            None,
        );
        assert_eq!(c.as_deref(), Some("InvalidCiphertextException"));
        assert_eq!(m.as_deref(), Some("bad"));
        let xml = b"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>\
            <Message>not &amp; allowed</Message></Error></ErrorResponse>";
        let (c, m) = parse_error(xml, None);
        assert_eq!(c.as_deref(), Some("AccessDenied"));
        assert_eq!(m.as_deref(), Some("not & allowed"));
        let (c, m) = parse_error(b"garbage", Some("Foo:http://x"));
        assert_eq!((c.as_deref(), m), (Some("Foo"), None));
        assert!(is_retryable(400, Some("ThrottlingException")));
        assert!(is_retryable(503, None));
        assert!(!is_retryable(400, Some("AccessDeniedException")));
    }

    #[test]
    fn scrubbing() {
        let s = scrub(
            "key SECRETKEY\nand token TOK1234 here",
            &["SECRETKEY", "TOK1234", "a"],
        );
        assert_eq!(s, "key [redacted] and token [redacted] here");
        assert!(scrub(&"x".repeat(1000), &[]).chars().count() <= 301);
    }
}
