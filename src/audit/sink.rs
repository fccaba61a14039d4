//! Writing one event to one sink.

use std::io::Write;

use super::Event;
use super::Outcome;
use super::SinkKind;
use super::pg;

/// A short, password-free description of a sink for messages.
pub fn describe(kind: &SinkKind) -> String {
    match kind {
        SinkKind::Postgres {
            connection_string, ..
        } => match pg::ConnInfo::parse(connection_string, "") {
            Ok(ci) => format!("postgres {}:{}/{}", ci.host, ci.port, ci.dbname),
            Err(_) => "postgres".to_owned(),
        },
        SinkKind::File { path } => format!("file {}", path.display()),
        SinkKind::Syslog { socket, .. } => format!("syslog {}", socket.display()),
    }
}

/// Writes the event; the error text never holds a password.
pub fn write(kind: &SinkKind, event: &Event) -> Result<(), String> {
    match kind {
        SinkKind::Postgres {
            connection_string,
            details_column,
        } => postgres(connection_string, details_column.as_deref(), event),
        SinkKind::File { path } => {
            let mut line = event.to_json();
            line.push('\n');
            let mut f = open_log(path)?;
            // One write of the whole line: appends from concurrent processes do not mix.
            f.write_all(line.as_bytes())
                .and_then(|()| f.sync_data())
                .map_err(|e| e.to_string())
        }
        SinkKind::Syslog { socket, facility } => {
            let severity = match event.outcome {
                Outcome::Success => 6,
                Outcome::Failed(_) => 4,
            };
            let pri = u32::from(*facility) * 8 + severity;
            let msg = format!(
                "<{pri}>1 {} {} leafseal {} - - {}",
                event.time,
                event.host,
                std::process::id(),
                event.to_json()
            );
            let s = std::os::unix::net::UnixDatagram::unbound().map_err(|e| e.to_string())?;
            s.set_write_timeout(Some(std::time::Duration::from_secs(5)))
                .map_err(|e| e.to_string())?;
            s.send_to(msg.as_bytes(), socket)
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    }
}

/// Opens the JSON-lines log for appending, created 0600 when missing. A log shared by
/// several users sits in a directory they can all write to, so whoever can write there
/// may have replaced it: the last component is not followed when it is a symbolic link
/// (the line would be appended to whatever file it names, with the caller's rights), a
/// FIFO is not waited on (`O_NONBLOCK`: opening one without a reader would block the
/// command forever), and only a regular file with a single link is written (not a
/// device, socket or FIFO, nor a hard link to another file).
fn open_log(path: &std::path::Path) -> Result<std::fs::File, String> {
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::fs::OpenOptionsExt;
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode_0600()
        .custom_flags(flags.bits() as i32)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(code) if code == rustix::io::Errno::LOOP.raw_os_error() => {
                "the log path is a symbolic link, which is not followed (name the real file in the audit configuration)".to_owned()
            }
            Some(code) if code == rustix::io::Errno::NXIO.raw_os_error() => {
                "the log path is a FIFO or socket, not a regular file".to_owned()
            }
            _ => e.to_string(),
        })?;
    let meta = f.metadata().map_err(|e| e.to_string())?;
    if !meta.file_type().is_file() {
        return Err("the log path is not a regular file (a FIFO, device or socket)".to_owned());
    }
    if meta.nlink() > 1 {
        return Err(format!(
            "the log file has {} hard links; it is written only when it has one (another link could be any file of the same file system)",
            meta.nlink()
        ));
    }
    // Back to blocking writes (the flag only mattered for opening a FIFO).
    rustix::fs::fcntl_setfl(&f, rustix::fs::OFlags::APPEND).map_err(|e| e.to_string())?;
    Ok(f)
}

trait Mode0600 {
    fn mode_0600(&mut self) -> &mut Self;
}

impl Mode0600 for std::fs::OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::mode(self, 0o600)
    }
}

fn postgres(conn: &str, details: Option<&str>, event: &Event) -> Result<(), String> {
    let ci = pg::ConnInfo::parse(conn, &event.user).map_err(|e| e.0)?;
    let mut c = pg::Conn::connect(&ci).map_err(|e| e.0)?;
    // The columns sops writes, so existing queries keep working; leafseal's full event
    // goes to the optional JSONB column. The column name was checked when the
    // configuration was read (lower-case letters, digits, `_`); every value is a parameter.
    let json = event.to_json();
    let r = match details {
        None => c.execute(
            "INSERT INTO audit_event (action, username, file) VALUES ($1, $2, $3)",
            &[&event.action, &event.user, &event.file],
        ),
        Some(col) => c.execute(
            &format!(
                "INSERT INTO audit_event (action, username, file, {col}) VALUES ($1, $2, $3, $4::jsonb)"
            ),
            &[&event.action, &event.user, &event.file, &json],
        ),
    };
    c.close();
    r.map_err(|e| e.0)
}
