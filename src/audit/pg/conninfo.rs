//! Connection strings as lib/pq (sops's PostgreSQL driver) reads them: a `postgres://`
//! URL or `key=value` pairs. Only `sslmode=disable` is accepted (no TLS, see the parent).

use std::time::Duration;

use super::PgError;
use super::err;

/// A parsed connection string (URL or `key=value` form, as lib/pq accepts them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnInfo {
    /// Host name, IP address, or a directory holding the unix socket (starts with `/`).
    pub host: String,
    /// Port.
    pub port: u16,
    /// User name.
    pub user: String,
    /// Password (may be empty).
    pub password: String,
    /// Database.
    pub dbname: String,
    /// Connect timeout.
    pub timeout: Duration,
}

fn pct_decode(s: &str) -> Result<String, PgError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| err("the connection string has an invalid %-escape"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| err("the connection string is not UTF-8"))
}

fn split_kv(s: &str) -> Result<Vec<(String, String)>, PgError> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(err(
                "the connection string has a setting without `=value` (quote values that contain spaces)",
            ));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut val = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next() {
                    Some('\\') => val.extend(chars.next()),
                    Some('\'') => break,
                    Some(c) => val.push(c),
                    None => return Err(err("the connection string has an unterminated quote")),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                if c == '\\' {
                    chars.next();
                    val.extend(chars.next());
                    continue;
                }
                val.push(c);
                chars.next();
            }
        }
        out.push((key, val));
    }
}

fn url_pairs(s: &str) -> Result<Vec<(String, String)>, PgError> {
    let rest = s
        .strip_prefix("postgres://")
        .or_else(|| s.strip_prefix("postgresql://"))
        .ok_or_else(|| err("not a postgres:// URL"))?;
    let (main, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, db) = main.split_once('/').unwrap_or((main, ""));
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let mut out = Vec::new();
    if let Some(u) = userinfo {
        let (user, pass) = u.split_once(':').unwrap_or((u, ""));
        out.push(("user".to_owned(), pct_decode(user)?));
        if u.contains(':') {
            out.push(("password".to_owned(), pct_decode(pass)?));
        }
    }
    let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
        let (h, p) = h
            .split_once(']')
            .ok_or_else(|| err("the connection URL has an unterminated [IPv6] host"))?;
        (h, p.strip_prefix(':').unwrap_or(""))
    } else {
        hostport.split_once(':').unwrap_or((hostport, ""))
    };
    if !host.is_empty() {
        out.push(("host".to_owned(), pct_decode(host)?));
    }
    if !port.is_empty() {
        out.push(("port".to_owned(), port.to_owned()));
    }
    if !db.is_empty() {
        out.push(("dbname".to_owned(), pct_decode(db)?));
    }
    for kv in query.split('&').filter(|q| !q.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        out.push((pct_decode(k)?, pct_decode(v)?));
    }
    Ok(out)
}

impl ConnInfo {
    /// Parses a connection string; `default_user` is used when it names no user (lib/pq
    /// uses the local user name). Refuses every `sslmode` but `disable`.
    pub fn parse(s: &str, default_user: &str) -> Result<ConnInfo, PgError> {
        let s = s.trim();
        let pairs = if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            url_pairs(s)?
        } else {
            split_kv(s)?
        };
        let mut ci = ConnInfo {
            host: "localhost".to_owned(),
            port: 5432,
            user: default_user.to_owned(),
            password: String::new(),
            dbname: String::new(),
            timeout: Duration::from_secs(10),
        };
        let mut sslmode = None;
        for (k, v) in pairs {
            match k.as_str() {
                "host" => ci.host = v,
                "port" => {
                    ci.port = v
                        .parse()
                        .map_err(|_| err(format!("invalid port `{v}` in the connection string")))?;
                }
                "user" => ci.user = v,
                "password" => ci.password = v,
                "dbname" => ci.dbname = v,
                "sslmode" => sslmode = Some(v),
                "connect_timeout" => {
                    let secs: u64 = v.parse().map_err(|_| {
                        err(format!(
                            "invalid connect_timeout `{v}` in the connection string"
                        ))
                    })?;
                    if secs > 0 {
                        ci.timeout = Duration::from_secs(secs);
                    }
                }
                // Settings that do not change how an INSERT is sent.
                "application_name" | "fallback_application_name" | "search_path" => {}
                other => {
                    return Err(err(format!(
                        "the connection string setting `{other}` is not supported by leafseal's audit client"
                    )));
                }
            }
        }
        match sslmode.as_deref() {
            Some("disable") => {}
            Some(m) => {
                return Err(err(format!(
                    "sslmode={m}: leafseal's audit client does not implement TLS, and refuses to send audit events without the protection this mode asks for"
                )));
            }
            None => {
                return Err(err(
                    "the connection string has no sslmode, which lib/pq (used by sops) treats as sslmode=require; leafseal's audit client does not implement TLS and will not fall back to an unencrypted connection",
                ));
            }
        }
        if ci.dbname.is_empty() {
            ci.dbname = ci.user.clone();
        }
        Ok(ci)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_url_and_kv() {
        let ci = ConnInfo::parse(
            "postgres://sops:p%40ss@127.0.0.1:5433/audit?sslmode=disable&connect_timeout=3",
            "me",
        )
        .expect("url");
        assert_eq!(ci.host, "127.0.0.1");
        assert_eq!(ci.port, 5433);
        assert_eq!(ci.user, "sops");
        assert_eq!(ci.password, "p@ss");
        assert_eq!(ci.dbname, "audit");
        assert_eq!(ci.timeout, Duration::from_secs(3));
        let ci = ConnInfo::parse(
            "host=/run/pg port=5432 user=a password='x y\\'z' sslmode=disable",
            "me",
        )
        .expect("kv");
        assert_eq!(ci.host, "/run/pg");
        assert_eq!(ci.password, "x y'z");
        assert_eq!(ci.dbname, "a");
    }

    #[test]
    fn refuses_tls_modes_and_missing_sslmode() {
        for s in [
            "postgres://a@h/db",
            "postgres://a@h/db?sslmode=require",
            "host=h sslmode=verify-full",
            "host=h sslmode=prefer",
        ] {
            let e = ConnInfo::parse(s, "me").expect_err(s);
            assert!(e.0.contains("TLS"), "{e}");
        }
    }
}
