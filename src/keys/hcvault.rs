//! The HashiCorp Vault / OpenBao transit key source (`hc_vault`).
//!
//! `enc` is the `ciphertext` (`vault:v1:…`) the transit engine returns for
//! `POST {address}/v1/{engine_path}/encrypt/{key_name}` with the base64 data key;
//! unwrapping posts it to `…/decrypt/{key_name}` (spec 7.3).
//!
//! The token comes from `VAULT_TOKEN`, the token helper or `~/.vault-token`, else a TLS
//! certificate login (see `hcvault/auth.rs`); `VAULT_NAMESPACE` is sent as `X-Vault-Namespace`. Because a file's metadata names the server the token is sent
//! to, addresses are checked against `SOPS_HC_VAULT_ALLOWLIST` first (see
//! [`AllowList`]).
//!
//! TLS: servers are verified against the bundled Mozilla roots, or, as with the Vault
//! client, against only the CA certificates of `VAULT_CACERT` (a PEM file),
//! `VAULT_CACERT_BYTES` (PEM text) or `VAULT_CAPATH` (a directory of PEM files), in that
//! order of precedence (`BAO_…` names are read when the `VAULT_…` one is unset);
//! `VAULT_CLIENT_CERT`/`VAULT_CLIENT_KEY` give a client certificate for mutual TLS, and
//! `VAULT_SKIP_VERIFY` turns verification off (with a warning from the CLI); see
//! `hcvault/client.rs`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::keys::FieldValue;
use crate::keys::KeyContext;
use crate::keys::KeyError;
use crate::keys::KeyFields;
use crate::keys::KeyKind;
use crate::keys::MasterKey;
use crate::keys::Probe;
use crate::keys::rest;
use crate::keys::rest::Request;

/// The allow-list variable (sops's name and semantics).
pub const ALLOWLIST_VAR: &str = "SOPS_HC_VAULT_ALLOWLIST";

/// A `hc_vault` master key: a transit key on a Vault (or OpenBao) server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultKey {
    address: String,
    engine_path: String,
    key_name: String,
    /// Read from a file's metadata (not given by the user on the command line or in
    /// `.sops.yaml`): the address is then only used when an allow-list admits it.
    from_file: bool,
}

impl VaultKey {
    /// Parses the command-line / policy form
    /// `https://vault.example.com:8200/v1/<engine path>/keys/<key name>`.
    /// The engine path may have several segments (`v1/team/transit/keys/k`).
    pub fn parse(uri: &str) -> Result<Self, KeyError> {
        let uri = uri.trim();
        let bad = |why: &str| {
            KeyError::with_hint(
                format!("invalid Vault transit URI: {why}"),
                "write it as https://vault.example.com:8200/v1/<engine path>/keys/<key name>",
            )
        };
        let (scheme, rest) = uri.split_once("://").ok_or_else(|| bad("missing scheme"))?;
        if !scheme.eq_ignore_ascii_case("https") && !scheme.eq_ignore_ascii_case("http") {
            return Err(bad("the scheme must be https or http"));
        }
        if rest.contains(['?', '#']) {
            return Err(bad("query strings and fragments are not allowed"));
        }
        let (authority, path) = rest.split_once('/').ok_or_else(|| bad("missing path"))?;
        if authority.is_empty() || authority.contains('@') {
            return Err(bad("missing host, or credentials in the URL"));
        }
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        let n = segments.len();
        let version_ok = segments.first().is_some_and(|v| {
            v.len() > 1 && v.starts_with('v') && v[1..].bytes().all(|b| b.is_ascii_digit())
        });
        if !version_ok {
            return Err(bad(
                "the path must start with the API version (/v1/); Vault behind a path prefix is not supported",
            ));
        }
        if n < 4 || segments.get(n - 2) != Some(&"keys") {
            return Err(bad("expected /v1/<engine path>/keys/<key name>"));
        }
        let engine: Vec<&str> = segments[1..n - 2].to_vec();
        let key_name = segments[n - 1];
        Self::new(
            &format!("{scheme}://{authority}"),
            &engine.join("/"),
            key_name,
        )
    }

    /// A key from its parts (trusted like [`VaultKey::parse`]).
    pub fn new(address: &str, engine_path: &str, key_name: &str) -> Result<Self, KeyError> {
        let address = address.trim().trim_end_matches('/');
        let engine_path = engine_path.trim().trim_matches('/');
        let key_name = key_name.trim();
        let bad = |why: String| {
            KeyError::with_hint(
                format!("invalid Vault transit key: {why}"),
                "write it as https://vault.example.com:8200/v1/<engine path>/keys/<key name>",
            )
        };
        let lower = address.to_ascii_lowercase();
        if !(lower.starts_with("https://") || lower.starts_with("http://"))
            || rest::url_host(address).is_empty()
            || address.contains(['?', '#', '@', ' '])
        {
            return Err(bad(format!(
                "`{}` is not an http(s) server address",
                crate::redact::display_id(address)
            )));
        }
        if engine_path.is_empty() || !engine_path.split('/').all(valid_segment) {
            return Err(bad(format!(
                "invalid engine path `{}`",
                crate::redact::display_id(engine_path)
            )));
        }
        if !valid_segment(key_name) {
            return Err(bad(format!(
                "invalid key name `{}`",
                crate::redact::display_id(key_name)
            )));
        }
        Ok(VaultKey {
            address: address.to_owned(),
            engine_path: engine_path.to_owned(),
            key_name: key_name.to_owned(),
            from_file: false,
        })
    }

    /// Parses a metadata entry (`vault_address`, `engine_path`, `key_name`). The address
    /// is then subject to the allow-list.
    pub fn from_fields(entry: &KeyFields) -> Result<Self, KeyError> {
        let field = |name: &str| -> Result<&str, KeyError> {
            entry
                .get(name)
                .and_then(FieldValue::as_str)
                .ok_or_else(|| KeyError::new(format!("hc_vault entry without `{name}`")))
        };
        let mut key = Self::new(
            field("vault_address")?,
            field("engine_path")?,
            field("key_name")?,
        )?;
        key.from_file = true;
        Ok(key)
    }

    /// The server address, e.g. `https://vault.example.com:8200`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The transit engine's mount path, e.g. `transit`.
    pub fn engine_path(&self) -> &str {
        &self.engine_path
    }

    /// The transit key's name.
    pub fn key_name(&self) -> &str {
        &self.key_name
    }

    fn url(&self, op: &str) -> String {
        format!(
            "{}/v1/{}/{op}/{}",
            self.address, self.engine_path, self.key_name
        )
    }

    /// Checks the address against the allow-list (see [`AllowList`]).
    fn check_allowed(&self, ctx: &KeyContext) -> Result<(), KeyError> {
        match AllowList::from_ctx(ctx)? {
            Some(list) if list.allows(&self.address) => Ok(()),
            Some(_) => Err(KeyError::with_hint(
                format!(
                    "the Vault address {} is not allowed by {ALLOWLIST_VAR}",
                    crate::redact::display_id(&self.address)
                ),
                format!(
                    "if you trust this server, add it to {ALLOWLIST_VAR} (comma-separated \
                     address prefixes, or `all`)"
                ),
            )),
            None if !self.from_file => Ok(()),
            None => {
                let vault_addr = ctx.var("VAULT_ADDR").or_else(|| ctx.var("BAO_ADDR"));
                if vault_addr.is_some_and(|a| prefix_allows(&with_slash(a.trim()), &self.address)) {
                    return Ok(());
                }
                Err(KeyError::with_hint(
                    format!(
                        "refusing to send a Vault token to {}: the address comes from the \
                         file's metadata, it is not VAULT_ADDR, and {ALLOWLIST_VAR} is not set",
                        crate::redact::display_id(&self.address)
                    ),
                    format!(
                        "if you trust this server, set {ALLOWLIST_VAR}={} (or VAULT_ADDR); \
                         `{ALLOWLIST_VAR}=all` restores sops's default of allowing every address",
                        crate::redact::display_id(&self.address)
                    ),
                ))
            }
        }
    }

    /// Posts `body` to `op` and returns the JSON `data` object's field `field`.
    fn call(
        &self,
        ctx: &KeyContext,
        op: &str,
        body: Zeroizing<String>,
        field: &str,
    ) -> Result<Zeroizing<String>, KeyError> {
        let what = super::rest::op_phrase(op);
        self.check_allowed(ctx)?;
        rest::check_plain_http(ctx, &self.address).map_err(|e| KeyError {
            message: format!(
                "cannot {what} with Vault key {}: {}",
                self.display_id(),
                e.message
            ),
            hint: e.hint,
        })?;
        let http = vault_client(ctx);
        let client = http.client.clone()?;
        let (token, source) = auth::token(ctx, &http, &self.address).map_err(|e| KeyError {
            message: format!(
                "cannot {what} with Vault key {}: {}",
                self.display_id(),
                e.message
            ),
            hint: e.hint,
        })?;
        let url = self.url(op);
        let mut req = Request::post(&url, rest::Body::Json(body)).header("X-Vault-Token", &token);
        if let Some(ns) = ctx.var("VAULT_NAMESPACE") {
            req = req.header("X-Vault-Namespace", ns);
        }
        let reply = client
            .send(&req)
            .map_err(|e| self.net_error(&http, what, &e))?;
        if !reply.ok() {
            let hint = match reply.status {
                401 | 403 => format!(
                    "the token (from {source}) may be expired or lack the `update` capability on \
                     {}/{op}/{}; log in again or ask for a policy that grants it",
                    self.engine_path,
                    crate::redact::display_id(&self.key_name)
                ),
                404 => format!(
                    "check that the transit engine is mounted at `{}` and the key `{}` exists",
                    self.engine_path,
                    crate::redact::display_id(&self.key_name)
                ),
                400 if op == "decrypt" => {
                    "the `enc` value may be damaged, or the key was rotated past \
                     min_decryption_version"
                        .to_owned()
                }
                _ => "try again later, or check the server's status".to_owned(),
            };
            return Err(KeyError::with_hint(
                format!(
                    "cannot {what} with Vault key {} (token from {source}): {}",
                    self.display_id(),
                    reply.describe()
                ),
                hint,
            ));
        }
        let bad = |why: String| {
            KeyError::new(format!(
                "cannot {what} with Vault key {}: {why}",
                self.display_id()
            ))
        };
        let mut json = reply.json().map_err(bad)?;
        let data = json
            .get_mut("data")
            .ok_or_else(|| bad("the response has no `data`".to_owned()))?;
        rest::take_string(data, field).ok_or_else(|| bad(format!("the response has no `{field}`")))
    }

    /// A request that got no HTTP answer, with hints for TLS failures (`what`: `decrypt
    /// the data key`, `check`, …).
    fn net_error(&self, http: &client::VaultClient, what: &str, e: &rest::NetError) -> KeyError {
        if e.is_tls() {
            let hint = match &http.ca_source {
                Some(src) => format!(
                    "the server's certificate is not signed by the CA of {src}; check \
                     that it holds the CA that issued the server's certificate"
                ),
                None => "if the server's certificate is signed by a private CA, set \
                         VAULT_CACERT to that CA's PEM file, or VAULT_CAPATH to a \
                         directory of PEM files"
                    .to_owned(),
            };
            let hint = match &http.client_cert {
                Some(c) => format!(
                    "{hint}; if the server requires a client certificate, check that it \
                     trusts the one of {c}"
                ),
                None => format!(
                    "{hint}; if the server requires a client certificate, set \
                     VAULT_CLIENT_CERT and VAULT_CLIENT_KEY"
                ),
            };
            return KeyError::with_hint(
                format!(
                    "cannot {what} with Vault key {}: the TLS connection to {} failed: {}",
                    self.display_id(),
                    crate::redact::display_id(&self.address),
                    e.0
                ),
                hint,
            );
        }
        // Under TLS 1.3 a server that wants a client certificate rejects the connection
        // after the handshake, so the client may only see the connection closing while
        // it writes its request.
        let lower = e.0.to_ascii_lowercase();
        let dropped = lower.contains("broken pipe")
            || lower.contains("connection reset")
            || lower.contains("unexpected eof");
        if dropped && http.client_cert.is_none() && self.address.starts_with("https://") {
            return KeyError::with_hint(
                format!(
                    "cannot {what} with Vault key {}: the TLS connection to {} was closed by                      the server: {}",
                    self.display_id(),
                    crate::redact::display_id(&self.address),
                    e.0
                ),
                "if the server requires a client certificate, set VAULT_CLIENT_CERT and                  VAULT_CLIENT_KEY; otherwise check that the server is running",
            );
        }
        KeyError::with_hint(
            format!(
                "cannot {what} with Vault key {}: {}",
                self.display_id(),
                e.about(&crate::redact::display_id(&self.address))
            ),
            "check the address, that the server is running, and your network or proxy",
        )
    }
}

/// A path segment of an engine path or a key name: no separators, escapes or spaces.
fn valid_segment(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+' | b'@'))
}

/// `SOPS_HC_VAULT_ALLOWLIST`, with sops's semantics: `all` admits every address, `none`
/// admits none, otherwise a comma-separated list of prefixes (spaces trimmed, each
/// ending in `/`) that `address + "/"` must start with.
///
/// When the variable is unset, sops admits every address. leafseal is stricter for
/// addresses read from a file's metadata (a file could otherwise make it send the
/// user's token to any server): those must match `VAULT_ADDR` (or `BAO_ADDR`) as a
/// prefix; addresses the user gave (command line, `.sops.yaml`) are admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowList {
    /// `all`.
    All,
    /// A list of prefixes (empty for `none`).
    Prefixes(Vec<String>),
}

impl AllowList {
    /// Parses the variable's value.
    pub fn parse(s: &str) -> Result<AllowList, KeyError> {
        match s.trim() {
            "all" => return Ok(AllowList::All),
            "none" => return Ok(AllowList::Prefixes(Vec::new())),
            _ => {}
        }
        let mut out = Vec::new();
        for (i, entry) in s.split(',').enumerate() {
            let entry = entry.trim();
            if entry.is_empty() {
                return Err(KeyError::with_hint(
                    format!("{ALLOWLIST_VAR}'s entry {} is empty", i + 1),
                    "write comma-separated address prefixes, `all` or `none`",
                ));
            }
            out.push(with_slash(entry));
        }
        Ok(AllowList::Prefixes(out))
    }

    /// The list of the context, if the variable is set.
    pub fn from_ctx(ctx: &KeyContext) -> Result<Option<AllowList>, KeyError> {
        ctx.var(ALLOWLIST_VAR).map(Self::parse).transpose()
    }

    /// Whether `address` is admitted.
    pub fn allows(&self, address: &str) -> bool {
        match self {
            AllowList::All => true,
            AllowList::Prefixes(p) => p.iter().any(|p| prefix_allows(p, address)),
        }
    }
}

fn with_slash(s: &str) -> String {
    if s.ends_with('/') {
        s.to_owned()
    } else {
        format!("{s}/")
    }
}

fn prefix_allows(prefix: &str, address: &str) -> bool {
    with_slash(address).starts_with(prefix)
}

impl MasterKey for VaultKey {
    fn kind(&self) -> KeyKind {
        KeyKind::HcVault
    }

    fn id(&self) -> String {
        format!(
            "{}/v1/{}/keys/{}",
            self.address, self.engine_path, self.key_name
        )
    }

    fn wrap(&self, secret: &[u8], ctx: &KeyContext) -> Result<String, KeyError> {
        let encoded = Zeroizing::new(STANDARD.encode(secret));
        let body = rest::json_object(&[("plaintext", encoded.as_str())]);
        let ct = self.call(ctx, "encrypt", body, "ciphertext")?;
        if !ct.starts_with("vault:") {
            return Err(KeyError::new(format!(
                "cannot encrypt the data key with Vault key {}: the ciphertext is not `vault:v…:…`",
                self.display_id()
            )));
        }
        Ok(ct.as_str().to_owned())
    }

    fn unwrap(&self, enc: &str, ctx: &KeyContext) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let enc = enc.trim();
        if !enc.starts_with("vault:") {
            return Err(KeyError::with_hint(
                format!(
                    "the hc_vault `enc` of {} is not a Vault ciphertext",
                    self.display_id()
                ),
                "the metadata may have been edited or damaged",
            ));
        }
        let body = rest::json_object(&[("ciphertext", enc)]);
        let plain = self.call(ctx, "decrypt", body, "plaintext")?;
        STANDARD
            .decode(plain.as_bytes())
            .map(Zeroizing::new)
            .map_err(|_| {
                KeyError::new(format!(
                    "cannot decrypt the data key with Vault key {}: the plaintext is not base64",
                    self.display_id()
                ))
            })
    }

    fn fields(&self) -> KeyFields {
        let mut entry = KeyFields::new();
        entry.push_str("vault_address", self.address.as_str());
        entry.push_str("engine_path", self.engine_path.as_str());
        entry.push_str("key_name", self.key_name.as_str());
        entry
    }

    /// The token source the chain picks, a token lookup and a read of the transit key's
    /// metadata (see `hcvault/probe.rs`).
    fn probe(&self, ctx: &KeyContext) -> Probe {
        self.probe_key(ctx)
    }
}

mod auth;
mod client;
mod probe;
#[cfg(feature = "cli")]
pub(crate) use client::skip_verify;
pub(crate) use client::vault_client;

/// The Vault token for `address` and where it came from (the whole token chain, as for
/// transit calls): used by `publish` to write KV secrets.
#[cfg(all(feature = "aws", feature = "gcp"))]
pub(crate) fn token_for(
    ctx: &KeyContext,
    address: &str,
) -> Result<(Zeroizing<String>, String), KeyError> {
    auth::token(ctx, &vault_client(ctx), address)
}

#[cfg(test)]
mod bao;
#[cfg(test)]
mod tests;
