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
