//! Large documents through the CLI: big enough for every parallel path (the two-thread
//! JSON reader above 1 MB, parallel decryption and the parallel JSON writer above 2,048
//! elements in one container). They must round-trip exactly, and a tampered value in
//! the middle must fail closed with no output, as on small files.

mod support;

#[path = "support/stream_env.rs"]
mod stream_env;

use std::path::Path;

use stream_env::*;
use support::*;

const SERVICES: usize = 3000;

fn large_json() -> String {
    let mut s = String::from("{\n\t\"version\": 3,\n\t\"services\": {\n");
    for i in 0..SERVICES {
        if i > 0 {
            s.push_str(",\n");
        }
        s.push_str(&format!(
            "\t\t\"svc-{i:05}\": {{\n\t\t\t\"name\": \"service {i} \\\"quoted\\\" é\",\n\t\t\t\"replicas\": {},\n\t\t\t\"cpu\": {}.25,\n\t\t\t\"enabled\": {},\n\t\t\t\"ports\": [\n\t\t\t\t{},\n\t\t\t\t{}\n\t\t\t],\n\t\t\t\"owner\": null\n\t\t}}",
            i % 7,
            i % 13,
            i % 2 == 0,
            8000 + i,
            9000 + i
        ));
    }
    s.push_str("\n\t},\n\t\"trailer\": \"end\"\n}\n");
    s
}

fn large_yaml() -> String {
    let mut s = String::from("# large document\nversion: 3\nservices:\n");
    for i in 0..SERVICES {
        s.push_str(&format!(
            "    svc-{i:05}:\n        # owner of service {i}\n        name: service {i}\n        replicas: {}\n        enabled: {}\n        ports:\n            - {}\n            - {}\n",
            i % 7,
            i % 2 == 0,
            8000 + i,
            9000 + i
        ));
    }
    s.push_str("trailer: end\n");
    s
}

fn round_trip_and_tamper(env: &Env, name: &str, plain: &str, key: &str) {
    let path = env.write(name, plain.as_bytes());
    let enc = ok(&env.run(&["encrypt", "--age", AGE_RECIPIENT, &path]));
    assert!(enc.len() > 1 << 20, "big enough for the parallel reader");
    let enc = String::from_utf8(enc).expect("utf8");
    assert!(!enc.contains("service 1500"), "values are encrypted");
    let encp = env.write(&format!("enc.{name}"), enc.as_bytes());
    let dec = ok(&env.run(&["decrypt", &encp]));
    assert_eq!(
        String::from_utf8_lossy(&dec),
        plain,
        "{name}: decrypt(encrypt(x)) == x, byte for byte"
    );

    // A value in the middle (a parallel run of its own) and one near the end.
    for from in [0.5, 0.9] {
        let bad = env.write(&format!("bad.{name}"), tamper(&enc, key, from).as_bytes());
        let out = env.run(&["decrypt", &bad]);
        assert_eq!(out.status.code(), Some(25), "{name} at {from}");
        assert!(out.stdout.is_empty(), "{name}: no output on failure");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("could not be decrypted"), "{err}");
        assert!(
            !err.contains("service "),
            "no plaintext in the error: {err}"
        );
    }

    // decrypt -i: the tampered file stays byte-identical.
    let bad = env.write(&format!("bad-i.{name}"), tamper(&enc, key, 0.5).as_bytes());
    let before = std::fs::read(&bad).expect("read");
    assert_eq!(env.run(&["decrypt", "-i", &bad]).status.code(), Some(25));
    assert_eq!(std::fs::read(&bad).expect("read"), before);
    assert!(
        std::fs::read_dir(Path::new(&bad).parent().expect("dir"))
            .expect("dir")
            .filter_map(Result::ok)
            .all(|e| !e.file_name().to_string_lossy().contains(".tmp")),
        "no temporary file left behind"
    );
}

#[test]
fn large_json_round_trips_and_fails_closed_on_every_parallel_path() {
    let env = Env::new(None);
    round_trip_and_tamper(&env, "big.json", &large_json(), "\"replicas\"");
}

#[test]
fn large_yaml_round_trips_and_fails_closed() {
    let env = Env::new(None);
    round_trip_and_tamper(&env, "big.yaml", &large_yaml(), "replicas:");
}

#[test]
fn large_json_broken_after_the_middle_is_a_parse_error_with_its_line() {
    let env = Env::new(None);
    let plain = large_json();
    let path = env.write("p.json", plain.as_bytes());
    let enc =
        String::from_utf8(ok(&env.run(&["encrypt", "--age", AGE_RECIPIENT, &path]))).expect("utf8");
    // A `;` instead of the `,` after a service object well after the middle.
    let at = enc.len() * 3 / 4;
    let close = at + enc[at..].find("\n\t\t},").expect("member end");
    let mut broken = enc.clone();
    broken.replace_range(close + 4..close + 5, ";");
    let line = broken[..close].matches('\n').count() + 2;
    let p = env.write("broken.json", broken.as_bytes());
    let out = env.run(&["decrypt", &p]);
    assert_ne!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("line {line}")),
        "line {line} in: {err}"
    );
}
