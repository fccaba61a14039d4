//! Every encrypted file in fixtures/sops (written by real sops releases) decrypts with its
//! test key to the values listed in fixtures/sops/expected, and the broken ones fail the
//! way sops fails.

mod support;

use leafseal::error::exit;
use leafseal::format::Format;
use leafseal::ops;
use leafseal::ops::OpenOptions;
use leafseal::tree::Document;
use leafseal::tree::Value;
use leafseal::walk;
use leafseal::walk::Direction;
use leafseal::walk::Leaf;
use leafseal::walk::Selector;
use serde_json::Value as Json;
use support::*;

/// (fixture, MAC state)
const FIXTURES: &[(&str, Mac)] = &[
    ("yaml/format.enc.yaml", Mac::Ok),
    ("yaml/example.v3.10.2.yaml", Mac::Ok),
    ("yaml/example.age.v3.7.1.yaml", Mac::Ok),
    ("yaml/example.mac-mismatch.v3.5.0.yaml", Mac::Mismatch),
    ("yaml/comments.enc.yaml", Mac::Ok),
    ("yaml/multiple_keys.yaml", Mac::Ok),
    ("yaml/no_mac.yaml", Mac::Absent),
    ("json/format.enc.json", Mac::Ok),
    ("json/example.v3.5.0.json", Mac::Ok),
    ("json/example.age.v3.7.1.json", Mac::Ok),
    ("json/secret.enc.v3.5.0.json", Mac::Ok),
    ("json/example.legacy.v1.6.json", Mac::Ok),
    ("dotenv/format.enc.env", Mac::Ok),
    ("ini/format.enc.ini", Mac::Ok),
    ("ini/example.age.v3.7.1.ini", Mac::Ok),
    ("ini/example.v3.2.0.ini", Mac::Ok),
    ("binary/example.v3.5.0.txt", Mac::Ok),
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mac {
    Ok,
    Mismatch,
    Absent,
}

/// (aad, value) of every non-null, non-comment leaf in walk order.
fn leaves(doc: &mut Document) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    walk::walk::<()>(
        doc,
        &Selector::default(),
        Direction::Decrypting,
        &mut |info, leaf| {
            if let Leaf::Value(v) = leaf
                && !matches!(v, Value::Null)
            {
                out.push((info.aad.to_owned(), v.clone()));
            }
            Ok(())
        },
    )
    .expect("walk");
    out
}

fn matches_expected(v: &Value, typ: &str, want: &Json) -> bool {
    match (v, want) {
        (Value::Str(s), Json::String(w)) => typ == "str" && s.as_str() == w,
        (Value::Int(i), Json::Number(n)) => typ == "int" && n.as_i64() == Some(*i),
        (Value::Float(f), Json::Number(n)) => typ == "float" && n.as_f64() == Some(*f),
        (Value::Bool(b), Json::Bool(w)) => typ == "bool" && b == w,
        (Value::Time(t), Json::String(w)) => typ == "time" && &t.to_rfc3339_nano() == w,
        _ => false,
    }
}

fn expected(file: &str) -> Json {
    let name = file.rsplit('/').next().expect("name");
    let p = sops_fixture(&format!("expected/{name}.leaves.json"));
    serde_json::from_slice(&std::fs::read(p).expect("expected file")).expect("json")
}

#[test]
fn every_sops_fixture_decrypts_to_the_expected_leaves() {
    let gpg = GpgHome::new();
    let home = tempfile::tempdir().expect("home");
    let ctx = key_context(Some(&gpg), home.path());
    for (file, mac) in FIXTURES {
        let bytes = std::fs::read(sops_fixture(file)).expect("fixture");
        let fmt = Format::from_path(file);
        let loaded = fmt
            .store()
            .load(&bytes)
            .unwrap_or_else(|e| panic!("{file}: load: {e}"));
        let opts = OpenOptions {
            ignore_mac: *mac != Mac::Ok,
            ..OpenOptions::default()
        };
        let mut opened =
            ops::open(loaded, &ctx, &opts).unwrap_or_else(|e| panic!("{file}: open: {e:?}"));
        let want = expected(file);
        assert_eq!(
            hex(opened.key.expose()),
            want["data_key_hex"].as_str().expect("hex"),
            "{file}: data key"
        );
        let got = leaves(&mut opened.doc);
        let want_leaves = want["leaves_in_mac_order"].as_array().expect("leaves");
        assert_eq!(got.len(), want_leaves.len(), "{file}: number of leaves");
        for ((aad, v), w) in got.iter().zip(want_leaves) {
            let want_aad = match w.get("aad").and_then(Json::as_str) {
                Some(a) => a.to_owned(),
                None => format!("{}:", w["path"].as_str().expect("path")),
            };
            assert_eq!(aad, &want_aad, "{file}: leaf order");
            let typ = w["type"].as_str().expect("type");
            assert!(
                matches_expected(v, typ, &w["value"]),
                "{file}: value at {aad} ({typ})"
            );
            if let Some(mb) = w.get("mac_bytes").and_then(Json::as_str) {
                let (plain, _) = leafseal::crypto::value::plaintext_of(v).expect("leaf");
                assert_eq!(&plain[..], mb.as_bytes(), "{file}: MAC bytes at {aad}");
            }
        }
    }
}

#[test]
fn broken_macs_fail_with_exit_51_and_open_with_ignore_mac() {
    let gpg = GpgHome::new();
    let home = tempfile::tempdir().expect("home");
    let ctx = key_context(Some(&gpg), home.path());
    for (file, mac) in FIXTURES.iter().filter(|(_, m)| *m != Mac::Ok) {
        let bytes = std::fs::read(sops_fixture(file)).expect("fixture");
        let store = Format::from_path(file).store();
        let err = ops::open(
            store.load(&bytes).expect("load"),
            &ctx,
            &OpenOptions::default(),
        )
        .expect_err("MAC check must fail");
        assert_eq!(err.code, exit::MAC_MISMATCH, "{file}");
        if *mac == Mac::Absent {
            assert!(err.message.contains("no MAC"), "{file}: {}", err.message);
        }
        let ignore = OpenOptions {
            ignore_mac: true,
            ..OpenOptions::default()
        };
        ops::open(store.load(&bytes).expect("load"), &ctx, &ignore)
            .expect("opens with --ignore-mac");
    }
}

#[test]
fn age_fixtures_open_without_gpg() {
    let home = tempfile::tempdir().expect("home");
    let ctx = key_context(None, home.path());
    for file in [
        "yaml/example.age.v3.7.1.yaml",
        "json/example.age.v3.7.1.json",
        "ini/example.age.v3.7.1.ini",
    ] {
        let bytes = std::fs::read(sops_fixture(file)).expect("fixture");
        let loaded = Format::from_path(file).store().load(&bytes).expect("load");
        ops::open(loaded, &ctx, &OpenOptions::default())
            .unwrap_or_else(|e| panic!("{file}: {e:?}"));
    }
}

#[test]
fn no_key_lists_every_key_tried() {
    let home = tempfile::tempdir().expect("home");
    let mut vars = env_vars(None, home.path());
    vars.remove("SOPS_AGE_KEY_FILE");
    let empty_gpg = tempfile::tempdir().expect("gpg");
    vars.insert(
        "GNUPGHOME".to_owned(),
        empty_gpg.path().display().to_string(),
    );
    let ctx = leafseal::keys::KeyContext::with_vars(vars);
    let bytes = std::fs::read(sops_fixture("yaml/example.age.v3.7.1.yaml")).expect("fixture");
    let loaded = Format::Yaml.store().load(&bytes).expect("load");
    let err = ops::open(loaded, &ctx, &OpenOptions::default()).expect_err("no key");
    assert_eq!(err.code, exit::COULD_NOT_RETRIEVE_KEY);
    assert!(
        err.message
            .contains("age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw"),
        "{}",
        err.message
    );
    assert!(
        err.message
            .contains("age1tmaae3ld5vpevmsh5yacsauzx8jetg300mpvc4ugp5zr5l6ssq9sla97ep"),
        "{}",
        err.message
    );
    let _ = std::process::Command::new("gpgconf")
        .env("GNUPGHOME", empty_gpg.path())
        .args(["--kill", "gpg-agent"])
        .output();
}
