//! One HTTP attempt of [`super::Client`]: the request built from a [`Request`], sent
//! under the agent's bounds or shorter ones (the key services' deadline), and its reply
//! read up to [`MAX_BODY`] bytes.

use std::time::Duration;

use zeroize::Zeroizing;

use super::Body;
use super::MAX_BODY;
use super::Method;
use super::NetError;
use super::Reply;
use super::Request;
use super::describe_error;
use super::kind_of;

/// `builder` with `bounds` (connect, whole request) instead of its agent's, when given.
fn bounded<B>(
    builder: ureq::RequestBuilder<B>,
    bounds: Option<(Duration, Duration)>,
) -> ureq::RequestBuilder<B> {
    match bounds {
        Some((connect, whole)) => builder
            .config()
            .timeout_connect(Some(connect))
            .timeout_global(Some(whole))
            .build(),
        None => builder,
    }
}

pub(super) fn attempt(
    agent: &ureq::Agent,
    req: &Request<'_>,
    bounds: Option<(Duration, Duration)>,
) -> Result<Reply, NetError> {
    let result = match req.method {
        Method::Get => {
            let mut b = bounded(agent.get(req.url), bounds).header("Accept", "application/json");
            for (k, v) in &req.headers {
                b = b.header(*k, *v);
            }
            b.call()
        }
        Method::Post => {
            let mut b = bounded(agent.post(req.url), bounds).header("Accept", "application/json");
            for (k, v) in &req.headers {
                b = b.header(*k, *v);
            }
            match &req.body {
                Body::Empty => b.send_empty(),
                Body::Json(s) => b
                    .header("Content-Type", "application/json")
                    .send(s.as_bytes()),
                Body::Form(s) => b
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .send(s.as_bytes()),
                Body::Raw(bytes, content_type) => b
                    .header("Content-Type", *content_type)
                    .send(bytes.as_slice()),
            }
        }
    };
    let mut resp = result.map_err(|e| NetError(describe_error(&e), kind_of(&e)))?;
    let status = resp.status().as_u16();
    // Bytes, not text: a body that is not UTF-8 is the service's problem to describe
    // (its JSON does not parse), not a network failure to retry.
    let bytes = resp
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_vec()
        .map(Zeroizing::new)
        .map_err(|e| {
            NetError(
                format!("reading the response failed: {}", describe_error(&e)),
                kind_of(&e),
            )
        })?;
    let body = Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned());
    Ok(Reply::to(req, status, body))
}
