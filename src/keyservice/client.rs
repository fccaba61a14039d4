//! The client: a [`KeyService`] that sends each wrap/unwrap to a remote key service
//! (`leafseal keyservice` or `sops keyservice`).

use std::sync::Mutex;
use std::time::Duration;

use tonic::transport::Channel;
use tonic::transport::Endpoint;
use zeroize::Zeroizing;

use super::Address;
use super::proto;
use crate::keys::KeyError;
use crate::keys::KeyService;
use crate::keys::MasterKey;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A remote key service at one address. Connects on first use; the runtime and the
/// connection are kept for the rest of the run.
pub struct RemoteKeyService {
    uri: String,
    address: Address,
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
            state: Mutex::new(None),
        }
    }

    fn unreachable(&self, detail: &str) -> KeyError {
        KeyError::with_hint(
            format!("could not reach the key service at {}: {detail}", self.uri),
            format!(
                "start it on the machine that holds the key (`leafseal keyservice` or `sops keyservice`) and forward it here (e.g. ssh -L), or check the --keyservice address {}",
                self.uri
            ),
        )
    }

    async fn connect(address: &Address) -> Result<Channel, tonic::transport::Error> {
        match address {
            Address::Tcp(hostport) => {
                Endpoint::from_shared(format!("http://{hostport}"))?
                    .connect_timeout(CONNECT_TIMEOUT)
                    .connect()
                    .await
            }
            Address::Unix(path) => {
                let path = path.clone();
                Endpoint::from_static("http://localhost")
                    .connect_timeout(CONNECT_TIMEOUT)
                    .connect_with_connector(tower::service_fn(move |_: http::Uri| {
                        let path = path.clone();
                        async move {
                            let stream = tokio::net::UnixStream::connect(path).await?;
                            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
                        }
                    }))
                    .await
            }
        }
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
        let result = state.runtime.block_on(async {
            let channel = match cached {
                Some(c) => c,
                None => Self::connect(address)
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
        });
        match result {
            Ok((channel, resp)) => {
                state.channel = Some(channel);
                Ok(resp)
            }
            Err(Err(detail)) => {
                state.channel = None;
                Err(self.unreachable(&detail))
            }
            Err(Ok(status)) => {
                if status.code() == tonic::Code::Unavailable {
                    state.channel = None;
                    return Err(self.unreachable(status.message()));
                }
                Err(KeyError::new(format!(
                    "the key service at {} failed: {}{}",
                    self.uri,
                    status.message(),
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
        let resp: proto::EncryptResponse = self.call(super::ENCRYPT_PATH, request)?;
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
