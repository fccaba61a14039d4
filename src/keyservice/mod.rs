//! sops's key service: the gRPC `KeyService` (Encrypt/Decrypt of a data key with a master
//! key) over plaintext HTTP/2, on TCP or a unix socket.
//!
//! * [`client`]: [`RemoteKeyService`], a [`crate::keys::KeyService`] that a
//!   [`crate::keys::KeyContext`] tries after (or instead of) the keys of this machine, for
//!   every wrap and unwrap (`--keyservice`, `--enable-local-keyservice`).
//! * [`server`]: `leafseal keyservice`, which answers those requests with the keys of the
//!   machine it runs on, for every key kind leafseal supports.
//! * [`proto`]: the protocol's messages and their mapping to master keys.
//!
//! The protocol has no authentication and no TLS (as in sops): a key service listens on
//! loopback or a unix socket, and is reached from another machine through an SSH forward.
//! A tokio runtime (one thread) exists only while a key service is in use.

pub mod client;
mod conn;
pub mod proto;
pub mod server;

pub use client::RemoteKeyService;

use std::path::PathBuf;

use crate::error::Error;
use crate::error::exit;

/// The gRPC method paths (the proto has no package, so the service is `KeyService`).
pub(crate) const ENCRYPT_PATH: &str = "/KeyService/Encrypt";
/// See [`ENCRYPT_PATH`].
pub(crate) const DECRYPT_PATH: &str = "/KeyService/Decrypt";

/// Where a key service listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// `HOST:PORT`.
    Tcp(String),
    /// A unix socket's path.
    Unix(PathBuf),
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Tcp(a) => write!(f, "tcp://{a}"),
            Address::Unix(p) => write!(f, "unix://{}", p.display()),
        }
    }
}

impl Address {
    /// Parses a `--keyservice` URI as sops does: `tcp://HOST:PORT` (also `tcp4`, `tcp6`)
    /// or `unix:///PATH`.
    pub fn parse_uri(uri: &str) -> Result<Address, Error> {
        let bad = |why: &str| {
            Error::new(
                exit::GENERIC,
                format!("invalid key service address `{uri}`: {why}"),
            )
            .hint(
                "write it as tcp://HOST:PORT (e.g. tcp://127.0.0.1:5000) or unix:///PATH/TO/SOCKET",
            )
        };
        let Some((scheme, rest)) = uri.split_once("://") else {
            return Err(bad("it has no scheme"));
        };
        match scheme {
            "tcp" | "tcp4" | "tcp6" => {
                let host = rest.split('/').next().unwrap_or_default();
                match host.rsplit_once(':') {
                    Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok() => {
                        Ok(Address::Tcp(host.to_owned()))
                    }
                    _ => Err(bad("it needs a host and a port")),
                }
            }
            "unix" => {
                if rest.starts_with('/') {
                    Ok(Address::Unix(PathBuf::from(rest)))
                } else {
                    Err(bad("a unix socket needs an absolute path (three slashes)"))
                }
            }
            other => Err(bad(&format!("unknown scheme `{other}`"))),
        }
    }

    /// The address to listen on, from `keyservice --network NET --address ADDR`.
    pub fn listen(network: &str, address: &str) -> Result<Address, Error> {
        match network {
            "tcp" | "tcp4" | "tcp6" => Ok(Address::Tcp(address.to_owned())),
            "unix" => Ok(Address::Unix(PathBuf::from(address))),
            other => Err(Error::new(
                exit::GENERIC,
                format!("unknown key service network `{other}`"),
            )
            .hint("use --network tcp (with --address HOST:PORT) or --network unix (with --address /PATH)")),
        }
    }
}

/// Key services for a [`crate::keys::KeyContext`], from `--keyservice` URIs; each call's
/// bound is [`client::DEFAULT_TIMEOUT`] or the whole seconds in the process's
/// [`client::TIMEOUT_VAR`].
pub fn services_from_uris(
    uris: &[String],
) -> Result<Vec<std::sync::Arc<dyn crate::keys::KeyService>>, Error> {
    let timeout = std::env::var(client::TIMEOUT_VAR)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&s| s > 0)
        .map_or(client::DEFAULT_TIMEOUT, std::time::Duration::from_secs);
    let mut out: Vec<std::sync::Arc<dyn crate::keys::KeyService>> = Vec::new();
    for uri in uris {
        let address = Address::parse_uri(uri)?;
        out.push(std::sync::Arc::new(
            RemoteKeyService::new(uri.clone(), address).with_timeout(timeout),
        ));
    }
    Ok(out)
}

/// A one-thread tokio runtime with I/O and timers.
pub(crate) fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
}

/// An error and its causes, joined (transport errors say little at the top).
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        cur = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::Address;

    #[test]
    fn uris_parse_as_sops_writes_them() {
        assert_eq!(
            Address::parse_uri("tcp://127.0.0.1:5000").expect("tcp"),
            Address::Tcp("127.0.0.1:5000".into())
        );
        assert_eq!(
            Address::parse_uri("unix:///tmp/s.sock").expect("unix"),
            Address::Unix("/tmp/s.sock".into())
        );
        for bad in [
            "127.0.0.1:5000",
            "tcp://host",
            "unix://rel.sock",
            "http://h:1",
        ] {
            assert!(Address::parse_uri(bad).is_err(), "{bad}");
        }
    }
}
