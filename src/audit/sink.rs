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
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .mode_0600()
                .open(path)
                .map_err(|e| e.to_string())?;
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
