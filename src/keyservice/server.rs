//! The server: `leafseal keyservice` answers Encrypt/Decrypt requests with the keys of
//! this machine (age identities, gpg's keyring, cloud credentials, …).
//!
//! Requests are handled one at a time, each on a blocking thread (key sources call gpg
//! or HTTP services), so `--prompt` questions come in order. Nothing here prints: the
//! command line passes callbacks for the prompt and the log.

use std::convert::Infallible;
use std::future::Future;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;

use zeroize::Zeroizing;

use super::Address;
use super::conn::Incoming;
pub use super::conn::Limits;
use super::proto;
use crate::error::Error;
use crate::error::exit;
use crate::keys::KeyContext;
use crate::keys::KeyKind;

/// What a Decrypt may return: a data key (32 bytes) or a Shamir share of one (33). Any
/// other plaintext is refused, so that the service cannot be used to decrypt other
/// things encrypted to this machine's keys (sops's own key service decrypts anything).
const DATA_KEY_LENGTHS: [usize; 2] = [32, 33];

/// Requests one connection may have open at once (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS):
/// each buffers up to a [`MAX_REQUEST_BYTES`] message and takes a blocking thread. A
/// client that wants more waits for a stream to finish (HTTP/2 clients, sops's gRPC one
/// included, queue their calls under the announced limit).
const STREAMS_PER_CONNECTION: u32 = 8;

/// The largest request message decoded (gRPC's default is 4 MB). A request carries one
/// wrapped data key (an age stanza, a PGP message, a KMS blob: a few kB) or a data key
/// to wrap: with 4 MB, 64 connections × 8 streams held 2.1 GB (round 26).
const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// How long open connections may take to finish after SIGINT/SIGTERM.
const GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// One request, as shown to the prompt and the log (never the data).
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// `encrypt` or `decrypt`.
    pub operation: &'static str,
    /// The key's kind.
    pub kind: KeyKind,
    /// The key's string form (recipient, fingerprint, ARN, …).
    pub id: String,
}

/// Asks whether to answer a request; false refuses it.
pub type PromptFn = Arc<dyn Fn(&RequestInfo) -> bool + Send + Sync>;
/// Receives one log line.
pub type LogFn = Arc<dyn Fn(&str) + Send + Sync>;

/// How to run the server.
pub struct ServerOptions {
    /// Where to listen.
    pub address: Address,
    /// Asked before each request, if set.
    pub prompt: Option<PromptFn>,
    /// Receives a line per request (`--verbose`), if set.
    pub log: Option<LogFn>,
    /// Told the address actually listened on (a TCP port 0 becomes the real port).
    pub on_listen: Box<dyn FnOnce(&str) + Send>,
    /// Bounds on connections (count, silence).
    pub limits: Limits,
}

struct Handler {
    ctx: KeyContext,
    prompt: Option<PromptFn>,
    log: Option<LogFn>,
    /// One request at a time.
    turn: Mutex<()>,
}

impl Handler {
    fn log(&self, line: &str) {
        if let Some(l) = &self.log {
            l(line);
        }
    }

    /// Checks the key and asks the prompt; returns the master key to use.
    fn admit(
        &self,
        operation: &'static str,
        key: Option<&proto::Key>,
    ) -> Result<Arc<dyn crate::keys::MasterKey>, tonic::Status> {
        let Some(kt) = key.and_then(|k| k.key_type.as_ref()) else {
            self.log(&format!("{operation} request without a key: refused"));
            return Err(tonic::Status::not_found("Must provide a key"));
        };
        let (kind, id) = proto::describe(kt);
        // The id comes from the client: shown without control characters, and masked
        // when it holds key material.
        let id = crate::redact::display_id(&id).into_owned();
        let info = RequestInfo {
            operation,
            kind,
            id,
        };
        self.log(&format!(
            "{operation} request with {} key {}",
            kind.field(),
            info.id
        ));
        let master = proto::key_from_proto(kt).map_err(|e| {
            self.log(&format!(
                "  refused: {}",
                crate::redact::inert(&crate::redact::shown_text(&e.to_string()))
            ));
            tonic::Status::invalid_argument(format!("invalid {} key: {e}", kind.field()))
        })?;
        if let Some(p) = &self.prompt
            && !p(&info)
        {
            self.log("  refused by the user");
            return Err(tonic::Status::permission_denied("Request rejected by user"));
        }
        Ok(master)
    }

    fn encrypt(&self, req: proto::EncryptRequest) -> Result<proto::EncryptResponse, tonic::Status> {
        let _turn = self.turn.lock().unwrap_or_else(|p| p.into_inner());
        let plaintext = Zeroizing::new(req.plaintext);
        let key = self.admit("encrypt", req.key.as_ref())?;
        match key.wrap(&plaintext, &self.ctx) {
            Ok(enc) => {
                self.log("  done");
                Ok(proto::EncryptResponse {
                    ciphertext: enc.into_bytes(),
                })
            }
            Err(e) => {
                self.log(&format!("  failed: {e}"));
                Err(tonic::Status::unknown(e.to_string()))
            }
        }
    }

    fn decrypt(&self, req: proto::DecryptRequest) -> Result<proto::DecryptResponse, tonic::Status> {
        let _turn = self.turn.lock().unwrap_or_else(|p| p.into_inner());
        let key = self.admit("decrypt", req.key.as_ref())?;
        let enc = String::from_utf8_lossy(&req.ciphertext);
        match key.unwrap(&enc, &self.ctx) {
            Ok(secret) if !DATA_KEY_LENGTHS.contains(&secret.len()) => {
                self.log("  refused: the result is not a data key");
                Err(tonic::Status::invalid_argument(
                    "the ciphertext does not hold a data key or a key share (32 or 33 bytes); \
                     this key service decrypts only those",
                ))
            }
            Ok(mut secret) => {
                self.log("  done");
                Ok(proto::DecryptResponse {
                    plaintext: std::mem::take(&mut *secret),
                })
            }
            Err(e) => {
                self.log(&format!("  failed: {e}"));
                Err(tonic::Status::unknown(e.to_string()))
            }
        }
    }
}

/// Runs one request's handler on a blocking thread.
/// The request arrived whole: its connection counts it as handled until the answer.
async fn blocking<Req, Resp>(
    handler: Arc<Handler>,
    request: tonic::Request<Req>,
    f: fn(&Handler, Req) -> Result<Resp, tonic::Status>,
) -> Result<tonic::Response<Resp>, tonic::Status>
where
    Req: Send + 'static,
    Resp: Send + 'static,
{
    let _handling = request
        .extensions()
        .get::<super::conn::ConnProgress>()
        .map(|p| p.0.handling());
    let req = request.into_inner();
    tokio::task::spawn_blocking(move || f(&handler, req))
        .await
        .map_err(|_| tonic::Status::internal("the request handler failed"))?
        .map(tonic::Response::new)
}

async fn route(
    handler: Arc<Handler>,
    req: http::Request<tonic::body::Body>,
) -> Result<http::Response<tonic::body::Body>, Infallible> {
    let resp = match req.uri().path() {
        super::ENCRYPT_PATH => {
            let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::<
                proto::EncryptResponse,
                proto::EncryptRequest,
            >::default())
            .max_decoding_message_size(MAX_REQUEST_BYTES);
            let svc = tower::service_fn(move |r: tonic::Request<proto::EncryptRequest>| {
                blocking(Arc::clone(&handler), r, Handler::encrypt)
            });
            grpc.unary(svc, req).await
        }
        super::DECRYPT_PATH => {
            let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::<
                proto::DecryptResponse,
                proto::DecryptRequest,
            >::default())
            .max_decoding_message_size(MAX_REQUEST_BYTES);
            let svc = tower::service_fn(move |r: tonic::Request<proto::DecryptRequest>| {
                blocking(Arc::clone(&handler), r, Handler::decrypt)
            });
            grpc.unary(svc, req).await
        }
        other => {
            handler.log(&format!("unknown method {other}: refused"));
            tonic::Status::unimplemented(format!("unknown method {other}")).into_http()
        }
    };
    Ok(resp)
}

fn listen_error(address: &Address, e: &std::io::Error) -> Error {
    let hint = match (address, e.kind()) {
        (Address::Unix(p), std::io::ErrorKind::AddrInUse) => format!(
            "another key service may be running; if not, remove the stale socket {}",
            p.display()
        ),
        (_, std::io::ErrorKind::AddrInUse) => {
            "another program listens there: choose another --address".to_owned()
        }
        _ => "check --network and --address".to_owned(),
    };
    Error::new(
        exit::GENERIC,
        format!("the key service could not listen on {address}: {e}"),
    )
    .hint(hint)
}

/// Removes the unix socket when the server stops, however it stops.
struct SocketFile(PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Binds a unix socket readable and writable by its owner only (0600 from the start:
/// the umask is narrowed around the bind).
fn bind_unix(path: &Path) -> std::io::Result<std::os::unix::net::UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let old = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o177));
    let bound = std::os::unix::net::UnixListener::bind(path);
    rustix::process::umask(old);
    let listener = bound?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// The signals that stop the server in order: every catchable signal whose default
/// action ends the process (SIGPIPE aside), as `io::signals::CAUGHT` lists them. The
/// command leaves the signals to the server (`io::signals::leave_to_caller`): once a
/// credential helper has started leafseal's signal thread, a signal not watched here
/// would be swallowed by that thread and the server would go on serving.
const STOPPING: [rustix::process::Signal; 15] = {
    use rustix::process::Signal;
    [
        Signal::INT,
        Signal::TERM,
        Signal::HUP,
        Signal::QUIT,
        Signal::USR1,
        Signal::USR2,
        Signal::ALARM,
        Signal::VTALARM,
        Signal::PROF,
        Signal::XCPU,
        Signal::XFSZ,
        Signal::IO,
        Signal::SYS,
        Signal::TRAP,
        Signal::ABORT,
    ]
};

/// How often the server looks whether the command line's signal thread recorded a
/// signal ([`shutdown_signal`]).
const RECORDED_CHECK: std::time::Duration = std::time::Duration::from_millis(100);

/// A future that completes on any of [`STOPPING`] (SIGINT, SIGTERM, SIGHUP, SIGQUIT,
/// SIGUSR1, …), or once the command line's signal thread has recorded a signal (the
/// `keyservice` command starts it in recording mode, `io::signals::defer`): the
/// real-time signals, SIGSTKFLT and SIGPWR end a process by default too, and reach the
/// server that way (tokio cannot watch SIGRTMAX, 64). Each ends the server the same
/// orderly way (requests in flight get [`GRACE`], a unix socket is removed).
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::SignalKind;
    use tokio::signal::unix::signal;
    let mut watched = STOPPING
        .iter()
        .map(|s| signal(SignalKind::from_raw(s.as_raw())))
        .collect::<std::io::Result<Vec<_>>>()?;
    let mut recorded_check = tokio::time::interval(RECORDED_CHECK);
    Ok(std::future::poll_fn(move |cx| {
        // Every stream is polled, so each registers its waker.
        let mut any = false;
        for s in &mut watched {
            any |= s.poll_recv(cx).is_ready();
        }
        // Polled until pending, so that the interval registers its waker.
        while recorded_check.poll_tick(cx).is_ready() {
            if crate::io::signals::caught().is_some() {
                any = true;
                break;
            }
        }
        if any {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    }))
}

/// Serves until one of `STOPPING` arrives (SIGINT, SIGTERM, …); a unix socket is
/// removed on the way out.
pub fn serve(ctx: KeyContext, opts: ServerOptions) -> Result<(), Error> {
    let runtime = super::runtime().map_err(|e| {
        Error::new(
            exit::GENERIC,
            format!("could not start the key service: {e}"),
        )
    })?;
    let handler = Arc::new(Handler {
        ctx,
        prompt: opts.prompt,
        log: opts.log,
        turn: Mutex::new(()),
    });
    let svc = tower::service_fn(move |req| route(Arc::clone(&handler), req));
    let address = opts.address;
    let signal_error = |e: std::io::Error| {
        Error::new(
            exit::GENERIC,
            format!("could not watch for SIGINT/SIGTERM: {e}"),
        )
    };
    let served = runtime.block_on(async {
        let signal = shutdown_signal().map_err(signal_error)?;
        // After a signal, open connections get a moment to finish, then the server stops
        // regardless (a client may keep its connection open).
        let late = shutdown_signal().map_err(signal_error)?;
        let deadline = async move {
            late.await;
            tokio::time::sleep(GRACE).await;
        };
        let serving = async {
            // gRPC passes "no limit" down to HTTP/2 unless told: without this, one
            // connection could open any number of requests at once.
            let server =
                tonic::transport::Server::builder().max_concurrent_streams(STREAMS_PER_CONNECTION);
            match &address {
                Address::Tcp(a) => {
                    let std_listener = std::net::TcpListener::bind(a.as_str())
                        .and_then(|l| l.set_nonblocking(true).map(|()| l))
                        .map_err(|e| listen_error(&address, &e))?;
                    let listener = tokio::net::TcpListener::from_std(std_listener)
                        .map_err(|e| listen_error(&address, &e))?;
                    let local = listener
                        .local_addr()
                        .map(|a| format!("tcp://{a}"))
                        .unwrap_or_else(|_| address.to_string());
                    (opts.on_listen)(&local);
                    let incoming = Incoming::new(listener, opts.limits);
                    server
                        .serve_with_incoming_shutdown(svc, incoming, signal)
                        .await
                }
                Address::Unix(p) => {
                    let std_listener = bind_unix(p).map_err(|e| listen_error(&address, &e))?;
                    let _socket = SocketFile(p.clone());
                    let listener = tokio::net::UnixListener::from_std(std_listener)
                        .map_err(|e| listen_error(&address, &e))?;
                    (opts.on_listen)(&address.to_string());
                    let incoming = Incoming::new(listener, opts.limits);
                    server
                        .serve_with_incoming_shutdown(svc, incoming, signal)
                        .await
                }
            }
            .map_err(|e| {
                Error::new(
                    exit::GENERIC,
                    format!("the key service stopped: {}", super::chain(&e)),
                )
            })
        };
        let mut serving = std::pin::pin!(serving);
        let mut deadline = std::pin::pin!(deadline);
        std::future::poll_fn(|cx| {
            if let std::task::Poll::Ready(r) = serving.as_mut().poll(cx) {
                return std::task::Poll::Ready(r);
            }
            deadline.as_mut().poll(cx).map(|()| Ok(()))
        })
        .await
    });
    // Blocking threads (a request waiting for gpg or a prompt) are not waited for.
    runtime.shutdown_background();
    served
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// The server stops on the signals the command line's signal thread catches (it
    /// leaves them to the server): the two lists must not drift apart.
    #[cfg(feature = "cli")]
    #[test]
    fn the_server_stops_on_every_signal_the_signal_thread_catches() {
        let stopping: Vec<i32> = STOPPING.iter().map(|s| s.as_raw()).collect();
        assert_eq!(stopping, crate::io::signals::CAUGHT.to_vec());
    }

    fn handler(prompt: Option<PromptFn>) -> Handler {
        Handler {
            ctx: KeyContext::with_vars(HashMap::new()),
            prompt,
            log: None,
            turn: Mutex::new(()),
        }
    }

    fn age_key() -> proto::Key {
        proto::Key {
            key_type: Some(proto::KeyType::AgeKey(proto::AgeKey {
                recipient: "age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw".into(),
            })),
        }
    }

    #[test]
    fn requests_without_a_key_or_with_an_unusable_kind_get_grpc_errors() {
        let h = handler(None);
        let e = h
            .decrypt(proto::DecryptRequest {
                key: None,
                ciphertext: b"x".to_vec(),
            })
            .expect_err("no key");
        assert_eq!(e.code(), tonic::Code::NotFound);
        let hckms = proto::Key {
            key_type: Some(proto::KeyType::HckmsKey(proto::HckmsKey {
                key_id: "tr-1:0123".into(),
            })),
        };
        let e = h
            .encrypt(proto::EncryptRequest {
                key: Some(hckms),
                plaintext: vec![1; 32],
            })
            .expect_err("hckms without credentials");
        // A key that fails (here: no HuaweiCloud credentials on the server) is Unknown,
        // with the key source's own message.
        assert_eq!(e.code(), tonic::Code::Unknown);
        assert!(e.message().contains("HuaweiCloud"), "{}", e.message());
    }

    #[test]
    fn the_prompt_sees_the_key_and_can_refuse() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = Arc::clone(&seen);
        let prompt: PromptFn = Arc::new(move |info: &RequestInfo| {
            seen2.lock().expect("seen").push(format!(
                "{} {} {}",
                info.operation,
                info.kind.field(),
                info.id
            ));
            info.operation == "encrypt"
        });
        let h = handler(Some(prompt));
        let e = h
            .decrypt(proto::DecryptRequest {
                key: Some(age_key()),
                ciphertext: b"x".to_vec(),
            })
            .expect_err("refused");
        assert_eq!(e.code(), tonic::Code::PermissionDenied);
        let enc = h
            .encrypt(proto::EncryptRequest {
                key: Some(age_key()),
                plaintext: vec![7; 32],
            })
            .expect("allowed");
        assert!(String::from_utf8_lossy(&enc.ciphertext).contains("BEGIN AGE ENCRYPTED FILE"));
        let seen = seen.lock().expect("seen");
        assert_eq!(seen.len(), 2);
        assert!(seen[0].starts_with("decrypt age age1yt3tf"), "{seen:?}");
    }
}
