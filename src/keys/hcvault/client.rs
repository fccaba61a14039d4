//! The HTTPS client for Vault requests and its TLS settings, read as the Vault client
//! reads them (`BAO_…` names when the `VAULT_…` one is unset):
//!
//! * trusted CAs: `VAULT_CACERT` (a PEM file), `VAULT_CACERT_BYTES` (PEM text) or
//!   `VAULT_CAPATH` (a directory of PEM files), in that order; none: the system trust
//!   store;
//! * a client certificate for mutual TLS: `VAULT_CLIENT_CERT` (PEM certificate chain) and
//!   `VAULT_CLIENT_KEY` (PEM private key), both or neither;
//! * `VAULT_SKIP_VERIFY=true`: the server's certificate is not verified (the CLI warns
//!   on every run while it is set).

use std::path::Path;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::keys::KeyContext;
use crate::keys::KeyError;
use crate::keys::rest;
use crate::keys::rest::Client;

/// The HTTP client for Vault requests, per context. Fails (for every Vault request)
/// when a TLS variable names something unusable.
pub(crate) struct VaultClient {
    pub(super) client: Result<Arc<Client>, KeyError>,
    /// `VAULT_CACERT=<path>` (or the variable used), for hints.
    pub(super) ca_source: Option<String>,
    /// `VAULT_CLIENT_CERT=<path>` when a client certificate is configured.
    pub(super) client_cert: Option<String>,
}

/// The [`VaultClient`] of `ctx` (built on first use).
pub(crate) fn vault_client(ctx: &KeyContext) -> Arc<VaultClient> {
    ctx.cached(|| VaultClient::new(ctx))
}

/// The value of `vault`, else of `bao`, with the name of the variable read.
pub(super) fn vault_or_bao<'a>(
    ctx: &'a KeyContext,
    vault: &'static str,
    bao: &'static str,
) -> Option<(&'static str, &'a str)> {
    ctx.var(vault)
        .map(|v| (vault, v))
        .or_else(|| ctx.var(bao).map(|v| (bao, v)))
}

// Used by `publish` (which needs the aws and gcp features too).
#[cfg_attr(
    not(all(feature = "aws", feature = "gcp", feature = "vault")),
    allow(dead_code)
)]
impl VaultClient {
    /// The HTTP client, or why Vault cannot be used (CA or TLS settings).
    pub(crate) fn http(&self) -> Result<Arc<Client>, KeyError> {
        self.client.clone()
    }

    /// Where the trusted CA certificates came from (`VAULT_CACERT=<path>`), if set.
    pub(crate) fn ca_source(&self) -> Option<&str> {
        self.ca_source.as_deref()
    }
}

impl VaultClient {
    fn new(ctx: &KeyContext) -> VaultClient {
        let fail = |e: KeyError| VaultClient {
            client: Err(e),
            ca_source: None,
            client_cert: None,
        };
        let skip_verify = match skip_verify(ctx) {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        let (cert, cert_source) = match client_cert(ctx) {
            Ok(Some((c, src))) => (Some(c), Some(src)),
            Ok(None) => (None, None),
            Err(e) => return fail(e),
        };
        let hint = "point the variable at the PEM file holding the CA certificate that \
                    signed the Vault server's certificate (VAULT_CAPATH: a directory of such \
                    files), or unset it";
        let loaded = if let Some((var, path)) = vault_or_bao(ctx, "VAULT_CACERT", "BAO_CACERT") {
            Some((
                format!("{var}={path}"),
                rest::tls::load_pem_file(var, Path::new(path)),
            ))
        } else if let Some((var, pem)) = vault_or_bao(ctx, "VAULT_CACERT_BYTES", "BAO_CACERT_BYTES")
        {
            Some((
                var.to_owned(),
                rest::tls::load_pem_bytes(var, pem.as_bytes()),
            ))
        } else if let Some((var, path)) = vault_or_bao(ctx, "VAULT_CAPATH", "BAO_CAPATH") {
            Some((
                format!("{var}={path}"),
                rest::tls::load_pem_dir(var, Path::new(path)),
            ))
        } else {
            None
        };
        match loaded {
            None if cert.is_none() && !skip_verify => VaultClient {
                client: Ok(Client::get(ctx)),
                ca_source: None,
                client_cert: None,
            },
            None => VaultClient {
                client: Ok(Arc::new(Client::with_tls(ctx, None, cert, skip_verify))),
                ca_source: None,
                client_cert: cert_source,
            },
            Some((_, Err(why))) => fail(KeyError::with_hint(
                format!("cannot use the Vault CA certificates: {why}"),
                hint,
            )),
            Some((source, Ok(certs))) => VaultClient {
                client: Ok(Arc::new(Client::with_tls(
                    ctx,
                    Some(certs),
                    cert,
                    skip_verify,
                ))),
                ca_source: Some(source),
                client_cert: cert_source,
            },
        }
    }
}

/// Whether `VAULT_SKIP_VERIFY` (or `BAO_SKIP_VERIFY`) asks to skip verification: true
/// and false values as Go's `strconv.ParseBool` reads them; anything else is an error.
pub(crate) fn skip_verify(ctx: &KeyContext) -> Result<bool, KeyError> {
    let Some((var, value)) = vault_or_bao(ctx, "VAULT_SKIP_VERIFY", "BAO_SKIP_VERIFY") else {
        return Ok(false);
    };
    match value.trim() {
        "" | "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        _ => Err(KeyError::with_hint(
            format!("{var} is not a boolean"),
            format!(
                "set {var} to true or false, or unset it (better: point VAULT_CACERT at the \
                 server's CA and leave verification on)"
            ),
        )),
    }
}

/// The client certificate of `VAULT_CLIENT_CERT` + `VAULT_CLIENT_KEY`, with a label.
fn client_cert(ctx: &KeyContext) -> Result<Option<(ureq::tls::ClientCert, String)>, KeyError> {
    let cert = vault_or_bao(ctx, "VAULT_CLIENT_CERT", "BAO_CLIENT_CERT");
    let key = vault_or_bao(ctx, "VAULT_CLIENT_KEY", "BAO_CLIENT_KEY");
    let hint = "set VAULT_CLIENT_CERT to the PEM file of the client certificate (and its \
                chain) and VAULT_CLIENT_KEY to the PEM file of its private key";
    let ((cvar, cpath), (kvar, kpath)) = match (cert, key) {
        (None, None) => return Ok(None),
        (Some(c), Some(k)) => (c, k),
        (Some((v, _)), None) | (None, Some((v, _))) => {
            return Err(KeyError::with_hint(
                format!("{v} is set but not its pair: a client certificate needs both files"),
                hint,
            ));
        }
    };
    let certs = rest::tls::load_pem_file(cvar, Path::new(cpath)).map_err(|why| {
        KeyError::with_hint(
            format!("cannot use the Vault client certificate: {why}"),
            hint,
        )
    })?;
    let key_pem = std::fs::read(kpath).map(Zeroizing::new).map_err(|e| {
        KeyError::with_hint(
            format!(
                "cannot read the Vault client key {kvar}={kpath}: {}",
                e.kind()
            ),
            hint,
        )
    })?;
    let key = ureq::tls::PrivateKey::from_pem(&key_pem).map_err(|_| {
        KeyError::with_hint(
            format!("{kvar}={kpath} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)"),
            hint,
        )
    })?;
    Ok(Some((
        ureq::tls::ClientCert::new_with_certs(&certs, key),
        format!("{cvar}={cpath}"),
    )))
}
