//! A service's reply and how its error messages are shown: the service's own message
//! from a JSON error body, on one bounded line, with every credential the request used
//! (a token header, a client secret or refresh token in a form body, a data key in a
//! JSON body, a signing key the caller named) replaced with `[redacted]`. A service
//! that quotes the request back in its error (or a hostile one) cannot make leafseal
//! print the user's credentials.

use zeroize::Zeroizing;

use super::Body;
use super::Request;
use crate::redact;

/// Headers whose values are credentials (lower case).
const SECRET_HEADERS: [&str; 4] = [
    "authorization",
    "x-vault-token",
    "x-security-token",
    "x-aws-ec2-metadata-token",
];

/// Form and JSON body fields whose values are credentials or key material, in the
/// form [`is_secret_field`] compares: lower case, without `_` or `-`. So `plain_text`
/// (HuaweiCloud KMS), `Plaintext` (AWS KMS) and `plaintext` (GCP KMS, Vault) are one
/// entry, and a service's spelling of a field cannot slip past the list.
const SECRET_FIELDS: [&str; 15] = [
    "clientsecret",
    "clientassertion",
    "assertion",
    "password",
    "refreshtoken",
    "subjecttoken",
    "jwt",
    "secretid",
    "token",
    "code",
    "plaintext",
    "value",
    "accesstoken",
    "secretaccesskey",
    "sessiontoken",
];

/// Whether a form or JSON body field holds a credential or key material
/// ([`SECRET_FIELDS`]), whatever its case and `_`/`-` separators.
fn is_secret_field(name: &str) -> bool {
    let folded: String = name
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    SECRET_FIELDS.contains(&folded.as_str())
}

/// A response: status and body (wiped on drop, as it may hold a data key).
pub(crate) struct Reply {
    pub status: u16,
    pub body: Zeroizing<String>,
    /// The credentials the request used, masked wherever the body is shown.
    secrets: Vec<Zeroizing<String>>,
}

impl Reply {
    /// A reply to a request that used no credentials (tests).
    #[cfg(test)]
    pub fn new(status: u16, body: Zeroizing<String>) -> Reply {
        Reply {
            status,
            body,
            secrets: Vec::new(),
        }
    }

    /// A reply to `req`: the credentials it used are kept to be masked.
    pub(super) fn to(req: &Request<'_>, status: u16, body: Zeroizing<String>) -> Reply {
        Reply {
            status,
            body,
            secrets: request_secrets(req),
        }
    }

    /// Whether the status is 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON, or a description of why it is not (never the body itself).
    pub fn json(&self) -> Result<serde_json::Value, String> {
        serde_json::from_str(&self.body).map_err(|e| {
            format!(
                "the response is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            )
        })
    }

    /// Text taken from this reply as it may be shown: one bounded line, without the
    /// request's credentials ([`redact::scrub`]).
    pub fn shown(&self, text: &str) -> String {
        let secrets: Vec<&str> = self.secrets.iter().map(|s| s.as_str()).collect();
        redact::scrub(text, &secrets)
    }

    /// The service's error message from the body, if it has a known shape, as shown.
    pub fn service_message(&self) -> Option<String> {
        service_message(&self.body)
            .map(|m| self.shown(&m))
            .filter(|m| !m.is_empty())
    }

    /// `HTTP 403: message` (or just `HTTP 403` when the body carries no message).
    pub fn describe(&self) -> String {
        match self.service_message() {
            Some(m) => format!("HTTP {}: {m}", self.status),
            None => format!("HTTP {}", self.status),
        }
    }
}

/// The credentials `req` carries: values of credential headers (with and without their
/// scheme, `Bearer …`), of credential fields of a form or JSON body, and those the
/// caller named ([`Request::secret`]).
fn request_secrets(req: &Request<'_>) -> Vec<Zeroizing<String>> {
    let mut out: Vec<Zeroizing<String>> = Vec::new();
    let mut add = |v: &str| {
        let v = v.trim();
        if !v.is_empty() && !out.iter().any(|s| s.as_str() == v) {
            out.push(Zeroizing::new(v.to_owned()));
        }
    };
    for (name, value) in &req.headers {
        if SECRET_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            add(value);
            if let Some((_, token)) = value.split_once(' ') {
                add(token);
            }
        }
    }
    for s in &req.secrets {
        add(s);
    }
    match &req.body {
        Body::Form(form) => {
            for pair in form.split('&') {
                if let Some((k, v)) = pair.split_once('=')
                    && is_secret_field(k)
                {
                    add(&percent_decoded(v));
                }
            }
        }
        Body::Json(json) => {
            if let Ok(serde_json::Value::Object(o)) = serde_json::from_str(json) {
                for (k, v) in &o {
                    if let (true, Some(v)) = (is_secret_field(k), v.as_str()) {
                        add(v);
                    }
                }
            }
        }
        Body::Empty | Body::Raw(..) => {}
    }
    out
}

/// A form value decoded (`%XX` escapes and `+`).
fn percent_decoded(s: &str) -> Zeroizing<String> {
    let b = s.as_bytes();
    let mut out = Zeroizing::new(Vec::with_capacity(b.len()));
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'%', Some(x)) => {
                out.push(x);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    Zeroizing::new(String::from_utf8_lossy(&out).into_owned())
}

/// The error message of a JSON error body in one of the shapes the services use:
/// Vault `{"errors":[…]}`, Google/Azure `{"error":{"message":…,"status"|"code":…}}`,
/// OAuth `{"error":"…","error_description":"…"}`, on one bounded line
/// ([`redact::server_text`]); [`Reply::service_message`] also masks the credentials.
pub(crate) fn service_message(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let text = if let Some(errors) = v.get("errors").and_then(|e| e.as_array()) {
        let parts: Vec<&str> = errors.iter().filter_map(|e| e.as_str()).collect();
        if parts.is_empty() {
            return None;
        }
        parts.join("; ")
    } else {
        match v.get("error")? {
            serde_json::Value::Object(o) => {
                let message = o.get("message").and_then(|m| m.as_str()).unwrap_or("");
                let code = o
                    .get("status")
                    .and_then(|s| s.as_str())
                    .or_else(|| o.get("code").and_then(|c| c.as_str()));
                match (code, message.is_empty()) {
                    (Some(c), false) => format!("{c}: {message}"),
                    (Some(c), true) => c.to_owned(),
                    (None, false) => message.to_owned(),
                    (None, true) => return None,
                }
            }
            serde_json::Value::String(code) => {
                match v.get("error_description").and_then(|d| d.as_str()) {
                    Some(d) => format!("{code}: {d}"),
                    None => code.clone(),
                }
            }
            _ => return None,
        }
    };
    Some(redact::server_text(&text))
}
