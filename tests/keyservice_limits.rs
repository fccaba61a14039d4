//! The key service's bounds: connections over `--max-connections` are closed at once, a
//! connection that sends nothing is closed after 10 seconds, a Decrypt whose result is
//! not a data key (32 bytes) or a share of one (33) is refused, and key ids from the
//! client reach the log without control characters.

#![cfg(feature = "keyservice")]

mod support;

use std::collections::HashMap;
use std::io::BufRead;
use std::io::BufReader;
use std::io::Read;
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::Child;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use std::time::Instant;

use support::*;

const PLAIN: &str = "db:\n    user: admin\n    password: hunter2\n";

/// A `leafseal keyservice --verbose` on a free loopback port, killed on drop.
struct Service {
    child: Child,
    uri: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Service {
    fn start(home: &Path, extra: &[&str]) -> Service {
        let mut child = leafseal(&env_vars(None, home))
            .args(["keyservice", "--address", "127.0.0.1:0", "--verbose"])
            .args(extra)
            .current_dir(home)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the key service");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let log2 = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(at) = line.find("tcp://") {
                    let _ = tx.send(
                        line[at..]
                            .split_whitespace()
                            .next()
                            .unwrap_or("")
                            .to_owned(),
                    );
                }
                log2.lock().expect("log").push(line);
            }
        });
        let uri = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the key service printed its address");
        Service { child, uri, log }
    }

    fn host_port(&self) -> &str {
        self.uri.trim_start_matches("tcp://")
    }

    fn log(&self) -> String {
        self.log.lock().expect("log").join("\n")
    }

    /// Waits (bounded) until the log holds `needle`.
    fn wait_for(&self, needle: &str) -> bool {
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Variables of a client with no key of its own.
fn keyless(home: &Path) -> HashMap<String, String> {
    let mut vars = HashMap::new();
    vars.insert("HOME".to_owned(), home.display().to_string());
    vars.insert("PATH".to_owned(), std::env::var("PATH").unwrap_or_default());
    vars
}

/// Seconds until the server closes `s` (reads return 0 or fail), at most `limit`.
fn seconds_until_closed(mut s: TcpStream, limit: Duration) -> Option<f64> {
    let start = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut buf = [0u8; 64];
    while start.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => return Some(start.elapsed().as_secs_f64()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(start.elapsed().as_secs_f64()),
        }
    }
    None
}

/// Encrypts the test file for the age key with the key present; returns its text.
fn sealed(dir: &Path, home: &Path) -> String {
    std::fs::write(dir.join("plain.yaml"), PLAIN).expect("write");
    let out = run_in(
        &env_vars(None, home),
        dir,
        &["encrypt", "--age", AGE_RECIPIENT, "plain.yaml"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn decrypt_through(uri: &str, dir: &Path, file: &str) -> std::process::Output {
    run_in(
        &keyless(dir),
        dir,
        &[
            "decrypt",
            "--keyservice",
            uri,
            "--enable-local-keyservice=false",
            file,
        ],
    )
}

#[test]
fn connections_over_the_limit_are_closed_and_silent_ones_time_out() {
    let home = tempfile::tempdir().expect("home");
    let svc = Service::start(home.path(), &["--max-connections", "2"]);
    let idle: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(svc.host_port()).expect("connect"))
        .collect();
    // Both are counted before the third arrives.
    std::thread::sleep(Duration::from_millis(300));
    let third = TcpStream::connect(svc.host_port()).expect("connect");
    let closed = seconds_until_closed(third, Duration::from_secs(5));
    assert!(
        closed.is_some_and(|s| s < 3.0),
        "a connection over the limit stayed open ({closed:?})"
    );
    // The two silent ones are closed after about 10 seconds without a byte.
    let first = idle.into_iter().next().expect("one");
    let silent = seconds_until_closed(first, Duration::from_secs(25));
    assert!(
        silent.is_some_and(|s| (7.0..20.0).contains(&s)),
        "a silent connection was closed after {silent:?} s, not about 10"
    );
    // Slots are given back: a real client is served.
    std::thread::sleep(Duration::from_millis(300));
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("s.yaml"), sealed(dir.path(), home.path())).expect("write");
    let out = decrypt_through(&svc.uri, dir.path(), "s.yaml");
    assert!(
        out.status.success(),
        "decrypt through the key service after the flood: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        svc.log()
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("hunter2"));
}

/// Seconds until the server closes `s` while the client sends it one byte every 200 ms
/// of valid HTTP/2 (the preface, then empty SETTINGS frames over and over: a slow
/// client that never sends a request), at most `limit`.
fn seconds_until_closed_while_trickling(mut s: TcpStream, limit: Duration) -> Option<f64> {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    const SETTINGS: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];
    let bytes: Vec<u8> = PREFACE
        .iter()
        .chain(SETTINGS.iter().cycle().take(SETTINGS.len() * 200))
        .copied()
        .collect();
    let start = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut buf = [0u8; 256];
    let mut sent = 0;
    while start.elapsed() < limit {
        let Some(byte) = bytes.get(sent) else { break };
        if s.write_all(std::slice::from_ref(byte)).is_err() {
            return Some(start.elapsed().as_secs_f64());
        }
        sent += 1;
        match s.read(&mut buf) {
            Ok(0) => return Some(start.elapsed().as_secs_f64()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(start.elapsed().as_secs_f64()),
        }
    }
    None
}

/// Before round 26 a byte now and then kept a connection (and its slot) for ever: every
/// slot held that way locked real clients out. Now a connection that delivers no whole
/// request within `--request-within` seconds is closed however it trickles.
#[test]
fn connections_that_only_trickle_bytes_are_closed_and_clients_are_served() {
    let home = tempfile::tempdir().expect("home");
    let svc = Service::start(
        home.path(),
        &["--max-connections", "2", "--request-within", "2"],
    );
    let tricklers: Vec<_> = (0..2)
        .map(|_| {
            let s = TcpStream::connect(svc.host_port()).expect("connect");
            std::thread::spawn(move || {
                seconds_until_closed_while_trickling(s, Duration::from_secs(12))
            })
        })
        .collect();
    for t in tricklers {
        let closed = t.join().expect("trickler");
        assert!(
            closed.is_some_and(|s| (1.0..4.5).contains(&s)),
            "a trickling connection was closed after {closed:?} s, not about 2"
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("s.yaml"), sealed(dir.path(), home.path())).expect("write");
    let out = decrypt_through(&svc.uri, dir.path(), "s.yaml");
    assert!(
        out.status.success(),
        "decrypt through the key service after the trickle: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        svc.log()
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("hunter2"));
}

/// An age ciphertext of `plain` for the test recipient, armored.
fn age_armored(plain: &[u8]) -> String {
    let recipient: age::x25519::Recipient = AGE_RECIPIENT.parse().expect("recipient");
    let enc = age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
        .expect("encryptor");
    let mut out = Vec::new();
    let armor = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
        .expect("armor");
    let mut w = enc.wrap_output(armor).expect("wrap");
    w.write_all(plain).expect("write");
    w.finish().and_then(|a| a.finish()).expect("finish");
    String::from_utf8(out).expect("armor is text")
}

/// `text` with its age `enc` block replaced by `armored` (same indentation).
fn with_age_enc(text: &str, armored: &str) -> String {
    let begin = text.find("-----BEGIN AGE").expect("begin");
    let end_marker = "-----END AGE ENCRYPTED FILE-----";
    let end = text.find(end_marker).expect("end") + end_marker.len();
    let line_start = text[..begin].rfind('\n').map_or(0, |i| i + 1);
    let indent = &text[line_start..begin];
    let body: Vec<String> = armored
        .trim_end()
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                l.to_owned()
            } else {
                format!("{indent}{l}")
            }
        })
        .collect();
    format!("{}{}{}", &text[..begin], body.join("\n"), &text[end..])
}

#[test]
fn decrypt_returns_only_data_keys_and_shows_client_ids_inert() {
    let home = tempfile::tempdir().expect("home");
    let svc = Service::start(home.path(), &[]);
    let dir = tempfile::tempdir().expect("dir");
    let good = sealed(dir.path(), home.path());
    std::fs::write(dir.path().join("good.yaml"), &good).expect("write");
    let out = decrypt_through(&svc.uri, dir.path(), "good.yaml");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The same file whose age stanza holds 100 bytes instead of a data key: the
    // service decrypts it, sees it is no data key and returns nothing.
    let other = with_age_enc(&good, &age_armored(&[7u8; 100]));
    std::fs::write(dir.path().join("other.yaml"), other).expect("write");
    let out = decrypt_through(&svc.uri, dir.path(), "other.yaml");
    assert!(!out.status.success(), "a 100-byte result was accepted");
    assert!(
        svc.wait_for("refused: the result is not a data key"),
        "the service did not refuse the 100-byte result; its log:\n{}",
        svc.log()
    );

    // A key id with terminal escapes and a line break reaches the log inert.
    let hostile = good.replace(
        AGE_RECIPIENT,
        "age1\u{1b}[2J\u{1b}]0;EVIL\u{7}\rforged line",
    );
    std::fs::write(dir.path().join("hostile.yaml"), hostile).expect("write");
    let _ = decrypt_through(&svc.uri, dir.path(), "hostile.yaml");
    let log = svc.log();
    assert!(
        !log.contains('\u{1b}') && !log.contains('\u{7}') && !log.contains('\r'),
        "control characters from the client reached the log:\n{log:?}"
    );
}

/// Round 20: a key service that answers with a wrong data key (32 bytes, so taken as a
/// key) left the user with the generic "the file was modified" error. The error now says
/// the data key came from that key service and may be wrong, naming it, with the exit
/// code as before (25: the first value does not decrypt; sops gives 25 too); on the
/// streamed path as well. A file changed by hand, opened with a good key from the same
/// service, is the same error: the wording says "may".
#[test]
fn a_wrong_data_key_from_a_key_service_is_named_in_the_error() {
    let home = tempfile::tempdir().expect("home");
    let svc = Service::start(home.path(), &[]);
    let dir = tempfile::tempdir().expect("dir");
    let good = sealed(dir.path(), home.path());
    // The age stanza now holds another 32-byte key: the service unwraps it and answers.
    let wrong = with_age_enc(&good, &age_armored(&[7u8; 32]));
    std::fs::write(dir.path().join("wrong.yaml"), wrong).expect("write");
    for stream in ["never", "always"] {
        let mut vars = keyless(dir.path());
        vars.insert("LEAFSEAL_STREAM".to_owned(), stream.to_owned());
        let out = run_in(
            &vars,
            dir.path(),
            &[
                "decrypt",
                "--keyservice",
                &svc.uri,
                "--enable-local-keyservice=false",
                "wrong.yaml",
            ],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(25), "{stream}: {err}");
        assert!(out.stdout.is_empty(), "{stream}: printed output");
        assert!(
            err.contains(&format!(
                "the data key came from the key service at {}, which may have returned a wrong key",
                svc.uri
            )),
            "{stream}: {err}"
        );
    }
    // With the key on this machine the same file gives the same exit code and no
    // mention of a key service.
    let out = run_in(
        &env_vars(None, home.path()),
        dir.path(),
        &["decrypt", "wrong.yaml"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(25), "{err}");
    assert!(!err.contains("key service"), "{err}");
}

/// The server's first SETTINGS frame, as (identifier, value) pairs: the HTTP/2 preface
/// and an empty SETTINGS frame are sent, then frames are read until it arrives.
fn server_settings(host_port: &str) -> Vec<(u16, u32)> {
    let mut s = TcpStream::connect(host_port).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .expect("preface");
    s.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).expect("settings");
    loop {
        let mut head = [0u8; 9];
        s.read_exact(&mut head).expect("a frame header");
        let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).expect("a frame body");
        // SETTINGS (type 4) without the ACK flag.
        if head[3] == 4 && head[4] & 1 == 0 {
            return body
                .chunks_exact(6)
                .map(|c| {
                    (
                        u16::from_be_bytes([c[0], c[1]]),
                        u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
                    )
                })
                .collect();
        }
    }
}

/// Round 25: a connection is bounded in streams too. The server announced no
/// SETTINGS_MAX_CONCURRENT_STREAMS (the gRPC layer passes "no limit" down to HTTP/2), so
/// one client connection could open any number of requests at once, each buffering up to
/// a 4 MB message and each taking a blocking thread: the connection limit bounded
/// nothing in memory. Now at most `STREAMS_PER_CONNECTION` (8) are open per connection.
#[test]
fn a_connection_may_open_only_a_few_streams_at_once() {
    let home = tempfile::tempdir().expect("home");
    let svc = Service::start(home.path(), &[]);
    let settings = server_settings(svc.host_port());
    let max_streams = settings.iter().find(|(id, _)| *id == 3).map(|(_, v)| *v);
    assert_eq!(
        max_streams,
        Some(8),
        "SETTINGS_MAX_CONCURRENT_STREAMS in {settings:?}"
    );
}

/// A request message over 64 kB is refused before it is handled (round 26: with gRPC's
/// 4 MB, 64 connections × 8 streams held 2.1 GB). Real requests carry one wrapped data
/// key, a few kB.
#[test]
fn a_request_over_64_kb_is_refused_unread() {
    let home = tempfile::tempdir().expect("home");
    let svc = Service::start(home.path(), &[]);
    let dir = tempfile::tempdir().expect("dir");
    let good = sealed(dir.path(), home.path());
    // An age stanza of 100 kB of plaintext: well over the limit once armored.
    let big = with_age_enc(&good, &age_armored(&vec![7u8; 100 * 1024]));
    std::fs::write(dir.path().join("big.yaml"), big).expect("write");
    let out = decrypt_through(&svc.uri, dir.path(), "big.yaml");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a 100 kB request was answered");
    assert!(stderr.contains("too large"), "{stderr}\n{}", svc.log());
    assert!(
        !svc.log().contains("refused: the result is not a data key"),
        "the service decrypted the oversized request; its log:\n{}",
        svc.log()
    );
    // A normal request on the same service is still served.
    std::fs::write(dir.path().join("good.yaml"), &good).expect("write");
    let out = decrypt_through(&svc.uri, dir.path(), "good.yaml");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
