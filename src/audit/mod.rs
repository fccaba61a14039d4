//! The audit trail: one event per command and file (who, where, which file, which key
//! opened it, which key paths were touched, the outcome — never a value or key material),
//! written to the sinks of the audit configuration.
//!
//! The configuration is sops's `/etc/sops/audit.yaml` (`backends: postgres: -
//! connection_string: …`), or the file named by `LEAFSEAL_AUDIT_CONFIG`, with leafseal's
//! additions in the same file (`file` and `syslog` backends, `required` on every entry).
//! Without a configuration nothing is read beyond that one path and nothing is written.
//!
//! A sink marked `required` that cannot be written makes [`record`] fail; the commands
//! record their event before any plaintext leaves the process, so that failure stops them
//! with nothing released (exit [`AUDIT_FAILED`]).

pub mod pg;
mod sink;

use std::path::PathBuf;
use std::sync::OnceLock;

use crate::error::Error;
use crate::tree::Map;
use crate::tree::SeqItem;
use crate::tree::Value;

/// The exit code of a command stopped because a required audit sink could not be written
/// (or the audit configuration is invalid).
pub const AUDIT_FAILED: i32 = 56;

/// sops's audit configuration path.
pub const SOPS_CONFIG: &str = "/etc/sops/audit.yaml";

/// The environment variable naming another audit configuration file.
pub const CONFIG_ENV: &str = "LEAFSEAL_AUDIT_CONFIG";

/// How a command ended, as far as the event knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The command did (or is about to release) what it was asked.
    Success,
    /// The command failed with this exit code.
    Failed(i32),
}

/// One audit event. Holds names, paths and key identifiers only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// RFC 3339 UTC time.
    pub time: String,
    /// The command: `decrypt`, `edit`, `set`, `unset`, `rotate`, `updatekeys`, `exec-env`,
    /// `exec-file`, `revoke`, …
    pub action: String,
    /// The local user name (from the password database, as sops), or the uid.
    pub user: String,
    /// The host name.
    pub host: String,
    /// The file, as given on the command line.
    pub file: String,
    /// The master key(s) that unwrapped the data key, as `kind id` (several with key
    /// groups); empty when no data key was recovered.
    pub keys: Vec<String>,
    /// The key paths touched (`["a"]["b"]`); never values.
    pub paths: Vec<String>,
    /// The outcome.
    pub outcome: Outcome,
}

impl Event {
    /// A successful event for `action` on `file`, stamped now, with the local user and host.
    pub fn new(action: &str, file: &str) -> Event {
        Event {
            time: crate::tree::Timestamp::now_utc().to_rfc3339(),
            action: action.to_owned(),
            user: local_user(),
            host: host_name(),
            file: file.to_owned(),
            keys: Vec::new(),
            paths: Vec::new(),
            outcome: Outcome::Success,
        }
    }

    /// Sets the keys that unwrapped the data key.
    #[must_use]
    pub fn keys(mut self, keys: Vec<String>) -> Event {
        self.keys = keys;
        self
    }

    /// Sets the key paths touched.
    #[must_use]
    pub fn paths(mut self, paths: Vec<String>) -> Event {
        self.paths = paths;
        self
    }

    /// Sets the outcome.
    #[must_use]
    pub fn outcome(mut self, outcome: Outcome) -> Event {
        self.outcome = outcome;
        self
    }

    /// The event as one JSON object (the JSON-lines, syslog and PostgreSQL `details` form).
    pub fn to_json(&self) -> String {
        let (outcome, code) = match self.outcome {
            Outcome::Success => ("success", 0),
            Outcome::Failed(c) => ("error", c),
        };
        serde_json::json!({
            "time": self.time,
            "tool": "leafseal",
            "action": self.action,
            "user": self.user,
            "host": self.host,
            "file": self.file,
            "keys": self.keys,
            "paths": self.paths,
            "outcome": outcome,
            "exit_code": code,
        })
        .to_string()
    }
}

/// Where events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkKind {
    /// sops's PostgreSQL backend: a row in `audit_event (action, username, file)`, plus the
    /// whole event as JSON in `details_column` when set.
    Postgres {
        /// lib/pq connection string.
        connection_string: String,
        /// A JSONB column that receives [`Event::to_json`] (leafseal extension).
        details_column: Option<String>,
    },
    /// One JSON object per line, appended to a file (created 0600).
    File {
        /// The file.
        path: PathBuf,
    },
    /// An RFC 5424 datagram to a unix socket (`/dev/log` by default).
    Syslog {
        /// The socket.
        socket: PathBuf,
        /// The facility number (default 10, authpriv).
        facility: u8,
    },
}

/// One configured sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sink {
    /// What and where.
    pub kind: SinkKind,
    /// A failure stops the command (true by default for PostgreSQL, as sops exits when it
    /// cannot write its audit row; false by default for the others).
    pub required: bool,
}

/// The audit configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// The sinks, in file order.
    pub sinks: Vec<Sink>,
}

fn config_error(path: &str, msg: impl std::fmt::Display) -> Error {
    Error::new(
        AUDIT_FAILED,
        format!("the audit configuration {path} is invalid: {msg}; nothing was done"),
    )
    .hint(
        "fix the file (see the `Audit trail` section of docs/guide.md), or ask whoever manages it",
    )
}

fn entries<'a>(backends: &'a Map, name: &str, path: &str) -> Result<Vec<&'a Map>, Error> {
    match backends.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Seq(items)) => items
            .iter()
            .filter_map(|i| match i {
                SeqItem::Value(v) => Some(v),
                SeqItem::Comment(_) => None,
            })
            .map(|v| {
                v.as_map()
                    .ok_or_else(|| config_error(path, format!("each `{name}` entry must be a map")))
            })
            .collect(),
        Some(_) => Err(config_error(
            path,
            format!("`backends.{name}` must be a list"),
        )),
    }
}

fn text(m: &Map, key: &str, path: &str) -> Result<Option<String>, Error> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s.as_str().to_owned())),
        Some(_) => Err(config_error(path, format!("`{key}` must be a string"))),
    }
}

fn required(m: &Map, default: bool, path: &str) -> Result<bool, Error> {
    match m.get("required") {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(config_error(path, "`required` must be true or false")),
    }
}

fn facility(name: &str) -> Option<u8> {
    let names = [
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
        "authpriv", "ftp",
    ];
    if let Some(i) = names.iter().position(|n| *n == name) {
        return u8::try_from(i).ok();
    }
    let n: u8 = name.strip_prefix("local")?.parse().ok()?;
    (n <= 7).then_some(16 + n)
}

impl Config {
    /// Parses audit configuration text (`path` is for messages).
    pub fn parse(bytes: &[u8], path: &str) -> Result<Config, Error> {
        use crate::format::Store;
        let loaded = crate::format::yaml::YamlStore
            .load(bytes)
            .map_err(|e| config_error(path, e))?;
        let root = loaded.doc.branches.into_iter().next().unwrap_or_default();
        let backends = match root.get("backends") {
            None | Some(Value::Null) => return Ok(Config::default()),
            Some(Value::Map(m)) => m,
            Some(_) => return Err(config_error(path, "`backends` must be a map")),
        };
        let mut sinks = Vec::new();
        for e in entries(backends, "postgres", path)? {
            let connection_string = text(e, "connection_string", path)?
                .ok_or_else(|| config_error(path, "a postgres entry has no connection_string"))?;
            let details_column = text(e, "details_column", path)?;
            if let Some(c) = &details_column {
                let ok = c
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
                    && c.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                if !ok {
                    return Err(config_error(
                        path,
                        "details_column must be a plain lower-case column name",
                    ));
                }
            }
            sinks.push(Sink {
                kind: SinkKind::Postgres {
                    connection_string,
                    details_column,
                },
                required: required(e, true, path)?,
            });
        }
        for e in entries(backends, "file", path)? {
            let p = text(e, "path", path)?
                .ok_or_else(|| config_error(path, "a file entry has no path"))?;
            sinks.push(Sink {
                kind: SinkKind::File { path: p.into() },
                required: required(e, false, path)?,
            });
        }
        for e in entries(backends, "syslog", path)? {
            let socket = text(e, "socket", path)?.unwrap_or_else(|| "/dev/log".to_owned());
            let fac = match text(e, "facility", path)? {
                None => 10,
                Some(f) => facility(&f)
                    .ok_or_else(|| config_error(path, format!("unknown syslog facility `{f}`")))?,
            };
            sinks.push(Sink {
                kind: SinkKind::Syslog {
                    socket: socket.into(),
                    facility: fac,
                },
                required: required(e, false, path)?,
            });
        }
        Ok(Config { sinks })
    }

    /// Loads the configuration: `LEAFSEAL_AUDIT_CONFIG` when set (it must exist), else
    /// `/etc/sops/audit.yaml` when it exists; `None` when there is none.
    pub fn load(env_path: Option<&str>) -> Result<Option<Config>, Error> {
        let (path, must_exist) = match env_path.filter(|p| !p.is_empty()) {
            Some(p) => (p, true),
            None => (SOPS_CONFIG, false),
        };
        match read_config(path) {
            Ok(bytes) => Config::parse(&bytes, path).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => Ok(None),
            Err(e) => Err(Error::new(
                AUDIT_FAILED,
                format!("cannot read the audit configuration {path}: {e}; nothing was done"),
            )
            .hint(format!("check the file, or unset {CONFIG_ENV}"))),
        }
    }

    /// Writes an event to every sink: `Ok` with a warning per optional sink that failed,
    /// or an error (exit [`AUDIT_FAILED`]) naming the first required sink that failed.
    pub fn submit(&self, event: &Event) -> Result<Vec<String>, Error> {
        let mut warnings = Vec::new();
        for s in &self.sinks {
            if let Err(e) = sink::write(&s.kind, event) {
                let what = sink::describe(&s.kind);
                if s.required {
                    return Err(Error::new(
                        AUDIT_FAILED,
                        format!(
                            "the required audit sink {what} could not record this {} of {}: {e}; stopped before releasing anything",
                            event.action, event.file
                        ),
                    )
                    .hint("make the audit sink reachable and retry, or ask whoever manages the audit configuration"));
                }
                warnings.push(format!(
                    "the audit sink {what} could not record this event: {e}"
                ));
            }
        }
        Ok(warnings)
    }
}

/// The largest audit configuration read (a real one is a few hundred bytes).
pub const CONFIG_MAX: u64 = 1024 * 1024;

/// Reads the audit configuration: a regular file of at most [`CONFIG_MAX`] bytes. A FIFO
/// is not waited on and a device (`/dev/zero`) is not read without end: both are refused.
fn read_config(path: &str) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)?;
    if !f.metadata()?.file_type().is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut bytes = Vec::new();
    f.take(CONFIG_MAX + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > CONFIG_MAX {
        return Err(std::io::Error::other(format!(
            "larger than {CONFIG_MAX} bytes"
        )));
    }
    Ok(bytes)
}

static CONFIG: OnceLock<Result<Option<Config>, Error>> = OnceLock::new();

/// Whether this process has an audit configuration (loaded once, on first use).
pub fn enabled() -> Result<bool, Error> {
    config().map(|c| c.is_some())
}

fn config() -> Result<Option<&'static Config>, Error> {
    CONFIG
        .get_or_init(|| Config::load(std::env::var(CONFIG_ENV).ok().as_deref()))
        .as_ref()
        .map(Option::as_ref)
        .map_err(Clone::clone)
}

/// Records an event with the process's audit configuration: the one call a command makes.
/// Returns warnings for optional sinks that failed; fails (exit [`AUDIT_FAILED`]) when a
/// required sink could not be written or the configuration is invalid. Without a
/// configuration it does nothing.
pub fn record(event: &Event) -> Result<Vec<String>, Error> {
    match config()? {
        None => Ok(Vec::new()),
        Some(c) => c.submit(event),
    }
}

/// The local user name: the password-database entry of the real uid (as sops's
/// `user.Current`), else `$USER`, else the uid.
pub fn local_user() -> String {
    let uid = rustix::process::getuid().as_raw();
    if let Ok(passwd) = std::fs::read_to_string("/etc/passwd") {
        for line in passwd.lines() {
            let mut f = line.split(':');
            let (Some(name), _, Some(id)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            if id.parse::<u32>().ok() == Some(uid) {
                return name.to_owned();
            }
        }
    }
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| uid.to_string())
}

/// The host name (kernel node name).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

#[cfg(test)]
mod tests;
