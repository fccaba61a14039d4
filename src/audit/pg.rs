//! A minimal PostgreSQL client for the audit sink: the frontend/backend protocol v3 over
//! TCP or a unix socket, authentication (trust, cleartext password, md5, SCRAM-SHA-256), and
//! one parameterised statement through the extended query protocol (Parse, Bind,
//! Execute, Sync), so that no event field is ever interpolated into SQL text.
//!
//! TLS is not implemented: a connection string must say `sslmode=disable`; any other
//! mode (including none, which lib/pq — the driver sops uses — treats as `require`) is
//! refused before connecting, so an audit connection never silently goes unencrypted.

use std::io::Read;
use std::io::Write;

use base64::Engine;
use hmac::Hmac;
use hmac::Mac;
use sha2::Digest;
use sha2::Sha256;

/// What failed; the text never contains the password.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PgError(pub String);

fn err(s: impl Into<String>) -> PgError {
    PgError(s.into())
}

mod conninfo;
mod md5;
pub use conninfo::ConnInfo;

trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

/// An open, authenticated connection.
pub struct Conn {
    s: Box<dyn Stream>,
}

fn cstr(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(s.as_bytes());
    buf.push(0);
}

fn len_i32(n: usize) -> Result<[u8; 4], PgError> {
    i32::try_from(n)
        .map(i32::to_be_bytes)
        .map_err(|_| err("audit message too large"))
}

fn take_cstr(b: &[u8]) -> (&[u8], &[u8]) {
    match b.iter().position(|&c| c == 0) {
        Some(i) => (&b[..i], &b[i + 1..]),
        None => (b, &[]),
    }
}

/// The text of an ErrorResponse: severity, SQLSTATE and message.
fn server_error(body: &[u8]) -> PgError {
    let (mut sev, mut code, mut msg) = (String::new(), String::new(), String::new());
    let mut rest = body;
    while let Some((&t, r)) = rest.split_first() {
        if t == 0 {
            break;
        }
        let (v, r) = take_cstr(r);
        let v = String::from_utf8_lossy(v).into_owned();
        match t {
            b'S' => sev = v,
            b'C' => code = v,
            b'M' => msg = v,
            _ => {}
        }
        rest = r;
    }
    err(format!("the server said {sev} {code}: {msg}"))
}

fn be32(b: &[u8]) -> Result<u32, PgError> {
    b.get(..4)
        .and_then(|x| <[u8; 4]>::try_from(x).ok())
        .map(u32::from_be_bytes)
        .ok_or_else(|| err("malformed message from the server"))
}

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], data: &[u8]) -> Result<[u8; 32], PgError> {
    let mut m = HmacSha256::new_from_slice(key).map_err(|_| err("HMAC key"))?;
    m.update(data);
    Ok(m.finalize().into_bytes().into())
}

impl Conn {
    /// Connects and authenticates.
    pub fn connect(ci: &ConnInfo) -> Result<Conn, PgError> {
        let s: Box<dyn Stream> = if ci.host.starts_with('/') {
            let path = format!("{}/.s.PGSQL.{}", ci.host, ci.port);
            let s = std::os::unix::net::UnixStream::connect(&path)
                .map_err(|e| err(format!("cannot connect to {path}: {e}")))?;
            s.set_read_timeout(Some(ci.timeout)).ok();
            s.set_write_timeout(Some(ci.timeout)).ok();
            Box::new(s)
        } else {
            use std::net::ToSocketAddrs;
            let addrs = (ci.host.as_str(), ci.port)
                .to_socket_addrs()
                .map_err(|e| err(format!("cannot resolve {}: {e}", ci.host)))?;
            let mut last = err(format!("{} has no address", ci.host));
            let mut found = None;
            for a in addrs {
                match std::net::TcpStream::connect_timeout(&a, ci.timeout) {
                    Ok(s) => {
                        found = Some(s);
                        break;
                    }
                    Err(e) => last = err(format!("cannot connect to {a}: {e}")),
                }
            }
            let s = found.ok_or(last)?;
            s.set_read_timeout(Some(ci.timeout)).ok();
            s.set_write_timeout(Some(ci.timeout)).ok();
            s.set_nodelay(true).ok();
            Box::new(s)
        };
        let mut c = Conn { s };
        let mut body = 196_608_i32.to_be_bytes().to_vec();
        for (k, v) in [
            ("user", ci.user.as_str()),
            ("database", ci.dbname.as_str()),
            ("application_name", "leafseal"),
            ("client_encoding", "UTF8"),
        ] {
            cstr(&mut body, k);
            cstr(&mut body, v);
        }
        body.push(0);
        let mut msg = len_i32(body.len() + 4)?.to_vec();
        msg.extend_from_slice(&body);
        c.send_raw(&msg)?;
        c.authenticate(ci)?;
        Ok(c)
    }

    fn send_raw(&mut self, b: &[u8]) -> Result<(), PgError> {
        self.s
            .write_all(b)
            .and_then(|()| self.s.flush())
            .map_err(|e| err(format!("cannot send to the server: {e}")))
    }

    fn msg(t: u8, body: &[u8]) -> Result<Vec<u8>, PgError> {
        let mut m = Vec::with_capacity(body.len() + 5);
        m.push(t);
        m.extend_from_slice(&len_i32(body.len() + 4)?);
        m.extend_from_slice(body);
        Ok(m)
    }

    fn recv(&mut self) -> Result<(u8, Vec<u8>), PgError> {
        let mut head = [0u8; 5];
        self.s
            .read_exact(&mut head)
            .map_err(|e| err(format!("cannot read from the server: {e}")))?;
        let len = be32(&head[1..])? as usize;
        if !(4..=1 << 24).contains(&len) {
            return Err(err("malformed message length from the server"));
        }
        let mut body = vec![0u8; len - 4];
        self.s
            .read_exact(&mut body)
            .map_err(|e| err(format!("cannot read from the server: {e}")))?;
        Ok((head[0], body))
    }

    fn authenticate(&mut self, ci: &ConnInfo) -> Result<(), PgError> {
        let mut scram: Option<Scram> = None;
        loop {
            let (t, body) = self.recv()?;
            match t {
                b'E' => return Err(server_error(&body)),
                b'R' => {
                    let code = be32(&body)?;
                    let data = &body[4..];
                    match code {
                        0 => {}
                        3 => {
                            let mut b = Vec::new();
                            cstr(&mut b, &ci.password);
                            self.send_raw(&Self::msg(b'p', &b)?)?;
                        }
                        5 => {
                            let salt = data
                                .get(..4)
                                .ok_or_else(|| err("malformed md5 request from the server"))?;
                            let mut b = Vec::new();
                            cstr(&mut b, &md5::password_message(&ci.user, &ci.password, salt));
                            self.send_raw(&Self::msg(b'p', &b)?)?;
                        }
                        10 => {
                            let offered = data.split(|&c| c == 0).any(|m| m == b"SCRAM-SHA-256");
                            if !offered {
                                return Err(err(
                                    "the server offers no SASL mechanism leafseal supports (SCRAM-SHA-256)",
                                ));
                            }
                            let s = Scram::new()?;
                            let first = s.client_first();
                            let mut b = Vec::new();
                            cstr(&mut b, "SCRAM-SHA-256");
                            b.extend_from_slice(&len_i32(first.len())?);
                            b.extend_from_slice(first.as_bytes());
                            self.send_raw(&Self::msg(b'p', &b)?)?;
                            scram = Some(s);
                        }
                        11 => {
                            let s = scram
                                .as_mut()
                                .ok_or_else(|| err("unexpected SASL message from the server"))?;
                            let fin = s.client_final(&ci.password, data)?;
                            self.send_raw(&Self::msg(b'p', fin.as_bytes())?)?;
                        }
                        12 => {
                            let s = scram
                                .as_ref()
                                .ok_or_else(|| err("unexpected SASL message from the server"))?;
                            s.verify_server(data)?;
                        }
                        other => {
                            return Err(err(format!(
                                "the server asks for an authentication method leafseal does not support (code {other})"
                            )));
                        }
                    }
                }
                b'Z' => return Ok(()),
                // ParameterStatus, BackendKeyData, NoticeResponse.
                _ => {}
            }
        }
    }

    /// Runs one parameterised statement (`$1`, `$2`, … bound as text).
    pub fn execute(&mut self, sql: &str, params: &[&str]) -> Result<(), PgError> {
        let mut out = Vec::new();
        let mut b = Vec::new();
        cstr(&mut b, "");
        cstr(&mut b, sql);
        b.extend_from_slice(&0i16.to_be_bytes());
        out.extend(Self::msg(b'P', &b)?);
        let mut b = Vec::new();
        cstr(&mut b, "");
        cstr(&mut b, "");
        b.extend_from_slice(&0i16.to_be_bytes());
        let n = i16::try_from(params.len()).map_err(|_| err("too many parameters"))?;
        b.extend_from_slice(&n.to_be_bytes());
        for p in params {
            b.extend_from_slice(&len_i32(p.len())?);
            b.extend_from_slice(p.as_bytes());
        }
        b.extend_from_slice(&0i16.to_be_bytes());
        out.extend(Self::msg(b'B', &b)?);
        let mut b = Vec::new();
        cstr(&mut b, "");
        b.extend_from_slice(&0i32.to_be_bytes());
        out.extend(Self::msg(b'E', &b)?);
        out.extend(Self::msg(b'S', &[])?);
        self.send_raw(&out)?;
        let mut failure = None;
        let mut done = false;
        loop {
            let (t, body) = self.recv()?;
            match t {
                b'E' => failure = Some(server_error(&body)),
                b'C' => done = true,
                b'Z' => break,
                _ => {}
            }
        }
        match failure {
            Some(e) => Err(e),
            None if done => Ok(()),
            None => Err(err("the server did not complete the statement")),
        }
    }

    /// Says goodbye (best effort).
    pub fn close(mut self) {
        if let Ok(m) = Self::msg(b'X', &[]) {
            let _ = self.send_raw(&m);
        }
    }
}

/// A SCRAM-SHA-256 exchange (RFC 5802/7677, no channel binding).
struct Scram {
    nonce: String,
    auth_message: String,
    server_key: [u8; 32],
}

impl Scram {
    fn new() -> Result<Scram, PgError> {
        let mut raw = [0u8; 18];
        crate::crypto::random_bytes(&mut raw).map_err(|e| err(e.to_string()))?;
        Ok(Scram {
            nonce: base64::engine::general_purpose::STANDARD.encode(raw),
            auth_message: String::new(),
            server_key: [0; 32],
        })
    }

    fn first_bare(&self) -> String {
        // PostgreSQL takes the user from the startup message, so the SCRAM name is empty.
        format!("n=,r={}", self.nonce)
    }

    fn client_first(&self) -> String {
        format!("n,,{}", self.first_bare())
    }

    fn client_final(&mut self, password: &str, server_first: &[u8]) -> Result<String, PgError> {
        let sf = std::str::from_utf8(server_first).map_err(|_| err("malformed SCRAM message"))?;
        let (mut r, mut s, mut i) = (None, None, None);
        for part in sf.split(',') {
            if let Some(v) = part.strip_prefix("r=") {
                r = Some(v);
            } else if let Some(v) = part.strip_prefix("s=") {
                s = Some(v);
            } else if let Some(v) = part.strip_prefix("i=") {
                i = v.parse::<u32>().ok();
            }
        }
        let (Some(r), Some(s), Some(i)) = (r, s, i) else {
            return Err(err("malformed SCRAM message from the server"));
        };
        if !r.starts_with(&self.nonce) || i == 0 {
            return Err(err(
                "the server's SCRAM nonce or iteration count is invalid",
            ));
        }
        let salt = base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(|_| err("malformed SCRAM salt"))?;
        let mut salted = zeroize::Zeroizing::new([0u8; 32]);
        let iters = std::num::NonZeroU32::new(i).ok_or_else(|| err("SCRAM iteration count"))?;
        ring::pbkdf2::derive(
            ring::pbkdf2::PBKDF2_HMAC_SHA256,
            iters,
            &salt,
            password.as_bytes(),
            &mut *salted,
        );
        let client_key = hmac(&*salted, b"Client Key")?;
        let stored_key: [u8; 32] = Sha256::digest(client_key).into();
        let without_proof = format!("c=biws,r={r}");
        self.auth_message = format!("{},{sf},{without_proof}", self.first_bare());
        let sig = hmac(&stored_key, self.auth_message.as_bytes())?;
        let proof: Vec<u8> = client_key.iter().zip(sig).map(|(a, b)| a ^ b).collect();
        self.server_key = hmac(&*salted, b"Server Key")?;
        Ok(format!(
            "{without_proof},p={}",
            base64::engine::general_purpose::STANDARD.encode(proof)
        ))
    }

    fn verify_server(&self, data: &[u8]) -> Result<(), PgError> {
        let text = std::str::from_utf8(data).map_err(|_| err("malformed SCRAM message"))?;
        let v = text
            .split(',')
            .find_map(|p| p.strip_prefix("v="))
            .ok_or_else(|| err("the server's SCRAM reply has no signature"))?;
        let got = base64::engine::general_purpose::STANDARD
            .decode(v)
            .map_err(|_| err("malformed SCRAM server signature"))?;
        let want = hmac(&self.server_key, self.auth_message.as_bytes())?;
        if subtle::ConstantTimeEq::ct_eq(got.as_slice(), want.as_slice()).into() {
            Ok(())
        } else {
            Err(err(
                "the server's SCRAM signature is wrong: it does not know the password",
            ))
        }
    }
}
