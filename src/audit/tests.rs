use super::*;

#[test]
fn parses_sops_schema_and_extensions() {
    let text = b"backends:
  postgres:
    - connection_string: \"postgres://sops:sops@127.0.0.1/audit?sslmode=disable\"
    - connection_string: \"host=/run/pg sslmode=disable\"
      required: false
      details_column: details
  file:
    - path: /var/log/leafseal.jsonl
      required: true
  syslog:
    - facility: local3
";
    let c = Config::parse(text, "t").expect("parse");
    assert_eq!(c.sinks.len(), 4);
    assert!(
        c.sinks[0].required,
        "postgres is required by default, as sops"
    );
    assert!(!c.sinks[1].required);
    assert_eq!(
        c.sinks[1].kind,
        SinkKind::Postgres {
            connection_string: "host=/run/pg sslmode=disable".into(),
            details_column: Some("details".into())
        }
    );
    assert!(c.sinks[2].required);
    assert_eq!(
        c.sinks[3],
        Sink {
            kind: SinkKind::Syslog {
                socket: "/dev/log".into(),
                facility: 19
            },
            required: false
        }
    );
}

#[test]
fn rejects_bad_configs() {
    for t in [
        &b"backends: [1]"[..],
        b"backends:\n  postgres:\n    - {}\n",
        b"backends:\n  postgres:\n    - connection_string: x\n      details_column: \"a; drop\"\n",
        b"backends:\n  file:\n    - path: /x\n      required: maybe\n",
        b"backends:\n  syslog:\n    - facility: nope\n",
    ] {
        let e = Config::parse(t, "cfg").expect_err("must fail");
        assert_eq!(e.code, AUDIT_FAILED);
    }
    assert_eq!(
        Config::parse(b"{}", "cfg").expect("empty"),
        Config::default()
    );
}

#[test]
fn missing_sops_config_means_no_audit_but_missing_override_fails() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("none.yaml");
    let e = Config::load(p.to_str()).expect_err("explicit path must exist");
    assert_eq!(e.code, AUDIT_FAILED);
}

#[test]
fn file_and_syslog_sinks_write_the_event_and_required_failure_stops() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("a.jsonl");
    let sock = dir.path().join("log.sock");
    let rx = std::os::unix::net::UnixDatagram::bind(&sock).expect("bind");
    let c = Config {
        sinks: vec![
            Sink {
                kind: SinkKind::File { path: log.clone() },
                required: true,
            },
            Sink {
                kind: SinkKind::Syslog {
                    socket: sock.clone(),
                    facility: 10,
                },
                required: true,
            },
        ],
    };
    let ev = Event::new("set", "s.yaml")
        .keys(vec!["age age1xyz".into()])
        .paths(vec!["[\"a\"]".into()]);
    assert!(c.submit(&ev).expect("ok").is_empty());
    let line = std::fs::read_to_string(&log).expect("log");
    let v: serde_json::Value = serde_json::from_str(line.trim()).expect("json");
    assert_eq!(v["action"], "set");
    assert_eq!(v["paths"][0], "[\"a\"]");
    assert_eq!(v["outcome"], "success");
    let mut buf = [0u8; 4096];
    let n = rx.recv(&mut buf).expect("datagram");
    let msg = String::from_utf8_lossy(&buf[..n]);
    assert!(msg.starts_with("<86>1 "), "{msg}");
    assert!(msg.contains("\"action\":\"set\""), "{msg}");

    drop(rx);
    let e = c.submit(&ev).expect_err("syslog down, required");
    assert_eq!(e.code, AUDIT_FAILED);
    let optional = Config {
        sinks: vec![Sink {
            kind: SinkKind::Syslog {
                socket: sock,
                facility: 10,
            },
            required: false,
        }],
    };
    assert_eq!(optional.submit(&ev).expect("warn only").len(), 1);
}

fn required_file_sink(path: &std::path::Path) -> Config {
    Config {
        sinks: vec![Sink {
            kind: SinkKind::File {
                path: path.to_owned(),
            },
            required: true,
        }],
    }
}

/// Round 25: a shared JSON-lines log sits in a directory its users can all write to.
/// The old sink followed a symbolic link or a hard link put in the log's place and
/// appended the event to the file it named, with the caller's rights.
#[test]
fn the_file_sink_writes_through_no_symbolic_or_hard_link() {
    let dir = tempfile::tempdir().expect("tmp");
    let victim = dir.path().join("victim.txt");
    let log = dir.path().join("audit.jsonl");
    let ev = Event::new("decrypt", "s.yaml");
    for link in ["symbolic", "hard"] {
        std::fs::write(&victim, "precious\n").expect("write");
        match link {
            "symbolic" => std::os::unix::fs::symlink(&victim, &log).expect("symlink"),
            _ => std::fs::hard_link(&victim, &log).expect("hard link"),
        }
        let e = required_file_sink(&log)
            .submit(&ev)
            .expect_err("a link in the log's place is refused");
        assert_eq!(e.code, AUDIT_FAILED, "{link}");
        assert_eq!(
            std::fs::read_to_string(&victim).expect("read"),
            "precious\n",
            "{link}: nothing appended"
        );
        std::fs::remove_file(&log).expect("rm");
    }
    // A regular file is created, then appended to.
    let c = required_file_sink(&log);
    c.submit(&ev).expect("created");
    c.submit(&ev).expect("appended");
    assert_eq!(
        std::fs::read_to_string(&log).expect("log").lines().count(),
        2
    );
}

/// Round 25: a FIFO in the log's place made the old sink's open block until a reader came,
/// so every audited command hung. Now it is refused at once.
#[test]
fn a_fifo_in_place_of_the_log_is_refused_without_waiting() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("audit.jsonl");
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        &log,
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .expect("mkfifo");
    let (tx, rx) = std::sync::mpsc::channel();
    let sink = required_file_sink(&log);
    std::thread::spawn(move || {
        let _ = tx.send(sink.submit(&Event::new("decrypt", "s.yaml")).map(|_| ()));
    });
    let outcome = rx.recv_timeout(std::time::Duration::from_secs(10));
    if outcome.is_err() {
        // Release the blocked writer (old code) before failing.
        let _ = std::fs::File::open(&log);
    }
    let e = outcome
        .expect("the sink returned within 10 s")
        .expect_err("a FIFO is refused");
    assert_eq!(e.code, AUDIT_FAILED);
}

/// Round 25: the configuration is read only from a regular file of bounded size (the
/// old code read `LEAFSEAL_AUDIT_CONFIG=/dev/zero` until memory ran out, and waited
/// on a FIFO forever).
#[test]
fn the_configuration_is_a_regular_file_of_bounded_size() {
    let e = Config::load(Some("/dev/zero")).expect_err("a device is refused");
    assert_eq!(e.code, AUDIT_FAILED);
    assert!(e.message.contains("not a regular file"), "{}", e.message);
    let dir = tempfile::tempdir().expect("tmp");
    let big = dir.path().join("big.yaml");
    let mut text = String::from("backends: {}\n");
    text.push_str(&"#".repeat(CONFIG_MAX as usize));
    std::fs::write(&big, text).expect("write");
    let e = Config::load(big.to_str()).expect_err("too large");
    assert!(e.message.contains("larger than"), "{}", e.message);
}
