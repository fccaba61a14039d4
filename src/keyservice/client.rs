//! The client: a [`KeyService`] that sends each wrap/unwrap to a remote key service
//! (`leafseal keyservice` or `sops keyservice`).
//!
//! Every call is bounded: connecting and the server's first bytes (its HTTP/2 settings,
//! which a key service sends at once) within [`HANDSHAKE_TIMEOUT`], and the whole call
//! within [`DEFAULT_TIMEOUT`] ([`TIMEOUT_VAR`] overrides it). The call bound is long
//! because a key service may wait for a person (a passphrase or a PIN) before it
//! answers; a server that accepts and never speaks fails after the handshake bound.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::AtomicU8;
use std::sync::atomic::Ordering;
use std::task::Context;
use std::task::Poll;
use std::time::Duration;

use tokio::io::AsyncRead;
use tokio::io::AsyncWrite;
use tokio::io::ReadBuf;
use tokio::time::Sleep;

use tonic::transport::Channel;
use tonic::transport::Endpoint;
use zeroize::Zeroizing;

use super::Address;
use super::proto;
use crate::keys::KeyError;
use crate::keys::KeyService;
use crate::keys::MasterKey;
use crate::redact;

/// The variable overriding [`DEFAULT_TIMEOUT`], in seconds.
pub const TIMEOUT_VAR: &str = "LEAFSEAL_KEYSERVICE_TIMEOUT_SECS";

/// How long one call (connection included) may take: long enough for a person to
/// answer a key service's passphrase or PIN prompt.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// How long connecting, and then the server's first bytes, may take (at most the call's
/// bound).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A remote key service at one address. Connects on first use; the runtime and the
/// connection are kept for the rest of the run.
pub struct RemoteKeyService {
    uri: String,
    address: Address,
    timeout: Duration,
    state: Mutex<Option<State>>,
}

struct State {
    runtime: tokio::runtime::Runtime,
    channel: Option<Channel>,
}

impl std::fmt::Debug for RemoteKeyService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RemoteKeyService({})", self.uri)
    }
}

impl RemoteKeyService {
    /// A key service at `address` (`uri` is how the user wrote it, for messages).
    pub fn new(uri: String, address: Address) -> Self {
        RemoteKeyService {
            uri,
            address,
            timeout: DEFAULT_TIMEOUT,
            state: Mutex::new(None),
        }
    }

    /// The same service with `timeout` as the bound of each call (see the module docs).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The bound of a call made now: the service's, or the time left before the key
    /// services' deadline when that is shorter (`keys::deadline::limit_now`); and whether
    /// the deadline is the bound.
    fn call_timeout(&self) -> (Duration, bool) {
        let (bound, by_deadline) = crate::keys::deadline::limit_now(Some(self.timeout));
        (bound.unwrap_or(self.timeout), by_deadline)
    }

    fn unreachable(&self, detail: &str) -> KeyError {
        KeyError::with_hint(
            format!(
                "could not reach the key service at {}: {}",
                self.uri,
                redact::server_text(detail)
            ),
            format!(
                "start it on the machine that holds the key (`leafseal keyservice` or `sops keyservice`) and forward it here (e.g. ssh -L), or check the --keyservice address {}",
                self.uri
            ),
        )
    }

    /// The server said nothing within `after` (the key services' deadline when
    /// `by_deadline`).
    fn silent(&self, after: Duration, by_deadline: bool) -> KeyError {
        let what = format!(
            "the key service at {} accepted the connection but sent nothing",
            self.uri
        );
        KeyError::with_hint(
            if by_deadline {
                crate::keys::deadline::deadline_message(&what)
            } else {
                format!(
                    "{what} within {} s",
                    crate::keys::deadline::shown_seconds(after)
                )
            },
            format!(
                "a key service answers at once: check that {} is a key service \
                 (`leafseal keyservice` or `sops keyservice`) and that it is not stuck",
                self.uri
            ),
        )
    }

    /// The call had no answer within `after` (the key services' deadline when
    /// `by_deadline`).
    fn timed_out(&self, after: Duration, by_deadline: bool) -> KeyError {
        let what = format!("the key service at {} did not answer", self.uri);
        if by_deadline {
            return KeyError::new(crate::keys::deadline::deadline_message(&what));
        }
        KeyError::with_hint(
            format!(
                "{what} within {} s",
                crate::keys::deadline::shown_seconds(after)
            ),
            format!(
                "check that the key service is running and not stuck (a passphrase or PIN \
                 it asks for must be answered within that time); set {TIMEOUT_VAR} to wait \
                 longer"
            ),
        )
    }

    /// Connects, the stream watched by [`FirstBytes`] (which reports into `heard`).
    async fn connect(
        address: &Address,
        handshake: Duration,
        heard: Arc<AtomicU8>,
    ) -> Result<Channel, tonic::transport::Error> {
        let address = address.clone();
        let endpoint = match &address {
            Address::Tcp(hostport) => Endpoint::from_shared(format!("http://{hostport}"))?,
            Address::Unix(_) => Endpoint::from_static("http://localhost"),
        };
        endpoint
            .connect_timeout(handshake)
            .connect_with_connector(tower::service_fn(move |_: http::Uri| {
                let address = address.clone();
                let heard = Arc::clone(&heard);
                async move {
                    let io: Box<dyn Io> = match &address {
                        Address::Tcp(hostport) => {
                            let stream = tokio::net::TcpStream::connect(hostport.as_str()).await?;
                            stream.set_nodelay(true)?;
                            Box::new(stream)
                        }
                        Address::Unix(path) => {
                            Box::new(tokio::net::UnixStream::connect(path).await?)
                        }
                    };
                    heard.store(WAITING, Ordering::Release);
                    let watched = FirstBytes {
                        io,
                        deadline: Some(Box::pin(tokio::time::sleep(handshake))),
                        heard,
                    };
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(watched))
                }
            }))
            .await
    }

    fn call<Req, Resp>(&self, path: &'static str, request: Req) -> Result<Resp, KeyError>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let mut guard = self
            .state
            .lock()
            .map_err(|_| KeyError::new("the key service client failed earlier in this run"))?;
        if guard.is_none() {
            let runtime = super::runtime().map_err(|e| {
                KeyError::new(format!("could not start the key service client: {e}"))
            })?;
            *guard = Some(State {
                runtime,
                channel: None,
            });
        }
        let Some(state) = guard.as_mut() else {
            return Err(KeyError::new("the key service client is not available"));
        };
        let address = &self.address;
        let cached = state.channel.clone();
        let (bound, by_deadline) = self.call_timeout();
        let handshake = HANDSHAKE_TIMEOUT.min(bound);
        // Whether the deadline, not the handshake's own bound, limits the handshake.
        let handshake_by_deadline = by_deadline && bound < HANDSHAKE_TIMEOUT;
        let heard = Arc::new(AtomicU8::new(CONNECTING));
        let watch = Arc::clone(&heard);
        let result = state.runtime.block_on(async {
            let call = async {
                let channel = match cached {
                    Some(c) => c,
                    None => Self::connect(address, handshake, watch)
                        .await
                        .map_err(|e| Err(super::chain(&e)))?,
                };
                let mut grpc = tonic::client::Grpc::new(channel.clone());
                grpc.ready().await.map_err(|e| Err(super::chain(&e)))?;
                let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
                let path = http::uri::PathAndQuery::from_static(path);
                let response = grpc
                    .unary(tonic::Request::new(request), path, codec)
                    .await
                    .map_err(Ok)?;
                Ok::<_, Result<tonic::Status, String>>((channel, response.into_inner()))
            };
            match tokio::time::timeout(bound, call).await {
                Ok(r) => r.map_err(Some),
                Err(_) => Err(None),
            }
        });
        // A new connection on which the server never spoke: said so, whichever bound
        // ran out first (a cached connection leaves `heard` at CONNECTING).
        let first = heard.load(Ordering::Acquire);
        if first == GAVE_UP || (first == WAITING && matches!(result, Err(None))) {
            state.channel = None;
            return Err(self.silent(handshake, handshake_by_deadline));
        }
        match result {
            Ok((channel, resp)) => {
                state.channel = Some(channel);
                Ok(resp)
            }
            Err(None) => {
                state.channel = None;
                Err(self.timed_out(bound, by_deadline))
            }
            Err(Some(Err(detail))) => {
                state.channel = None;
                Err(self.unreachable(&detail))
            }
            Err(Some(Ok(status))) => {
                if status.code() == tonic::Code::Unavailable {
                    state.channel = None;
                    return Err(self.unreachable(status.message()));
                }
                Err(KeyError::new(format!(
                    "the key service at {} failed: {}{}",
                    self.uri,
                    redact::server_text(status.message()),
                    match status.code() {
                        tonic::Code::Unknown => String::new(),
                        c => format!(" ({c:?})"),
                    }
                )))
            }
        }
    }
}

impl KeyService for RemoteKeyService {
    fn address(&self) -> &str {
        &self.uri
    }

    fn wrap(&self, key: &dyn MasterKey, secret: &[u8]) -> Result<String, KeyError> {
        let request = proto::EncryptRequest {
            key: Some(proto::key_to_proto(key)),
            plaintext: secret.to_vec(),
        };
        // A server may quote the request in its status message: not the data key.
        let resp: proto::EncryptResponse =
            self.call(super::ENCRYPT_PATH, request).map_err(|mut e| {
                e.message = redact::mask_encoded_key(&e.message, secret);
                e
            })?;
        String::from_utf8(resp.ciphertext).map_err(|_| {
            KeyError::new(format!(
                "the key service at {} returned an encrypted data key that is not text",
                self.uri
            ))
        })
    }

    fn unwrap(&self, key: &dyn MasterKey, enc: &str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let request = proto::DecryptRequest {
            key: Some(proto::key_to_proto(key)),
            ciphertext: enc.as_bytes().to_vec(),
        };
        let mut resp: proto::DecryptResponse = self.call(super::DECRYPT_PATH, request)?;
        Ok(Zeroizing::new(std::mem::take(&mut resp.plaintext)))
    }
}

/// A connection's stream.
trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// [`FirstBytes`]'s report: not connected yet.
const CONNECTING: u8 = 0;
/// Connected, no byte from the server yet.
const WAITING: u8 = 1;
/// The server has sent a byte.
const HEARD: u8 = 2;
/// The server sent nothing by the deadline: reads fail.
const GAVE_UP: u8 = 3;

/// A stream that fails its reads when the server has sent nothing by `deadline`; after
/// the first byte it is the plain stream. `heard` says which ([`CONNECTING`] until it
/// exists, then [`WAITING`], [`HEARD`] or [`GAVE_UP`]).
struct FirstBytes {
    io: Box<dyn Io>,
    deadline: Option<Pin<Box<Sleep>>>,
    heard: Arc<AtomicU8>,
}

impl AsyncRead for FirstBytes {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.io).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before && self.deadline.is_some() {
                    self.deadline = None;
                    self.heard.store(HEARD, Ordering::Release);
                }
                Poll::Ready(r)
            }
            Poll::Pending => match self.deadline.as_mut().map(|d| d.as_mut().poll(cx)) {
                Some(Poll::Ready(())) => {
                    self.heard.store(GAVE_UP, Ordering::Release);
                    Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the key service sent nothing",
                    )))
                }
                _ => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for FirstBytes {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests;
