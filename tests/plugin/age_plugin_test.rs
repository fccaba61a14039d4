//! `age-plugin-test`: a deliberately INSECURE age plugin for the test suite only.
//!
//! It implements the two state machines of the age plugin protocol (recipient-v1 and
//! identity-v1) with a "wrap" that is no wrap at all: the stanza `test` carries the
//! file key in the clear. It is compiled by the tests with `rustc` (std only) and put
//! on PATH; it must never be installed anywhere.

use std::io::BufRead;
use std::io::Write;

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64_encode(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn b64_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let Some(v) = B64.iter().position(|x| *x == c) else {
            fail("bad base64");
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn fail(why: &str) -> ! {
    eprintln!("age-plugin-test: {why}");
    std::process::exit(1)
}

struct Stanza {
    args: Vec<String>,
    body: Vec<u8>,
}

/// Reads `-> args…` and the body lines (the last one shorter than 64 columns).
fn read_stanza(input: &mut impl BufRead) -> Stanza {
    let mut line = String::new();
    if input.read_line(&mut line).unwrap_or(0) == 0 {
        fail("unexpected end of input");
    }
    let Some(header) = line.trim_end_matches('\n').strip_prefix("-> ") else {
        fail("expected a stanza");
    };
    let args = header.split(' ').map(str::to_owned).collect();
    let mut text = String::new();
    loop {
        let mut l = String::new();
        if input.read_line(&mut l).unwrap_or(0) == 0 {
            fail("unexpected end of input in a body");
        }
        let l = l.trim_end_matches('\n');
        text.push_str(l);
        if l.len() < 64 {
            break;
        }
    }
    Stanza {
        args,
        body: b64_decode(&text),
    }
}

fn send(out: &mut impl Write, header: &str, body: &[u8]) {
    let text = b64_encode(body);
    let mut lines: Vec<&str> = Vec::new();
    let mut rest = text.as_str();
    while rest.len() >= 64 {
        let (a, b) = rest.split_at(64);
        lines.push(a);
        rest = b;
    }
    lines.push(rest);
    let _ = write!(out, "-> {header}\n{}\n", lines.join("\n"));
    let _ = out.flush();
}

/// Appends `what` to the file named by `AGE_PLUGIN_TEST_LOG`, when set: the tests count
/// the wraps and unwraps a command made (one line each, one `write` call each). Each is
/// followed by a line `thp:` and the plugin's own `THP_enabled` from /proc (empty when
/// the kernel does not show it): leafseal must start it with the setting it was given.
fn log(what: &str) {
    if let Some(path) = std::env::var_os("AGE_PLUGIN_TEST_LOG") {
        let thp = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("THP_enabled:").map(|v| v.trim().to_owned()))
            })
            .unwrap_or_default();
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path);
        if let Ok(mut f) = file {
            let _ = f.write_all(format!("{what}\nthp:{thp}\n").as_bytes());
        }
    }
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut out = std::io::stdout().lock();
    // Phase 1: read everything the client sends until `done`.
    let mut received = Vec::new();
    loop {
        let s = read_stanza(&mut input);
        if s.args[0] == "done" {
            break;
        }
        received.push(s);
    }
    match mode.as_str() {
        "--age-plugin=recipient-v1" => {
            let keys: Vec<&Stanza> = received
                .iter()
                .filter(|s| s.args[0] == "wrap-file-key")
                .collect();
            for (i, k) in keys.iter().enumerate() {
                send(&mut out, &format!("recipient-stanza {i} test"), &k.body);
                log("wrap");
                let _ok = read_stanza(&mut input);
            }
        }
        "--age-plugin=identity-v1" => {
            for s in &received {
                if s.args[0] == "recipient-stanza" && s.args.get(2).map(String::as_str) == Some("test")
                {
                    send(&mut out, &format!("file-key {}", s.args[1]), &s.body);
                    log("unwrap");
                    let _ok = read_stanza(&mut input);
                }
            }
        }
        other => fail(&format!("unknown mode {other}")),
    }
    send(&mut out, "done", &[]);
}
