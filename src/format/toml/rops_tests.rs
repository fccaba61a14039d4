//! Interoperability with rops (`rops-cli` 0.1.7), whose TOML layout this store follows.
//!
//! `fixtures/rops/*.rops.toml` were written by rops from the `*.plain.toml` twins (see
//! `fixtures/rops/README.md`). The data key is unwrapped here with the `age` crate and
//! the test identity, then every leaf is opened with its path as AAD.
//! `fixtures/rops/leafseal.enc.toml` goes the other way: written by [`seal_for_rops`]
//! (the way the walker will encrypt) and decrypted by rops.

use std::io::Read;
use std::io::Write;
use std::path::PathBuf;

use super::*;
use crate::crypto::DataKey;
use crate::crypto::mac;
use crate::crypto::value::EncValue;
use crate::crypto::value::ValueType;
use crate::crypto::value::is_encrypted;
use crate::crypto::value::open;
use crate::crypto::value::plaintext_of;
use crate::crypto::value::seal;
use crate::crypto::value::value_from_plaintext;
use crate::format::EmitOptions;
use crate::tree::Comment;
use crate::tree::Item;
use crate::tree::SeqItem;
use crate::tree::Text;
use crate::tree::Timestamp;

const RECIPIENT: &str = "age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw";
const SUFFIX: &str = "_unencrypted";

fn fixture(name: &str) -> Vec<u8> {
    let p: PathBuf = [env!("CARGO_MANIFEST_DIR"), "fixtures", "rops", name]
        .iter()
        .collect();
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn identity() -> age::x25519::Identity {
    let p: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "fixtures",
        "sops",
        "keys",
        "age-test-keys.txt",
    ]
    .iter()
    .collect();
    let text = std::fs::read_to_string(p).expect("key file");
    let line = text
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .expect("secret key line");
    line.parse().expect("age identity")
}

/// Unwraps the data key from the first `[[sops.age]]` entry.
fn unwrap_data_key(meta: &Map) -> DataKey {
    let Some(Value::Seq(age)) = meta.get("age") else {
        panic!("no age list")
    };
    let Some(SeqItem::Value(Value::Map(entry))) = age.first() else {
        panic!("empty age list")
    };
    assert_eq!(
        entry.get("recipient").and_then(Value::as_str),
        Some(RECIPIENT)
    );
    let enc = entry.get("enc").and_then(Value::as_str).expect("enc");
    let armored = age::armor::ArmoredReader::new(enc.as_bytes());
    let decryptor = age::Decryptor::new(armored).expect("age header");
    let id = identity();
    let mut reader = decryptor
        .decrypt(std::iter::once(&id as &dyn age::Identity))
        .expect("age decrypt");
    let mut key = Vec::new();
    reader.read_to_end(&mut key).expect("read key");
    DataKey::from_slice(&key).expect("32-byte data key")
}

fn wrap_data_key(key: &DataKey) -> String {
    let recipient: age::x25519::Recipient = RECIPIENT.parse().expect("recipient");
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
            .expect("encryptor");
    let mut out = Vec::new();
    let armor = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
        .expect("armor");
    let mut w = encryptor.wrap_output(armor).expect("wrap");
    w.write_all(key.expose()).expect("write");
    w.finish().and_then(|a| a.finish()).expect("finish");
    String::from_utf8(out).expect("armor is text")
}

fn aad(path: &[String]) -> String {
    let mut s = String::new();
    for p in path {
        s.push_str(p);
        s.push(':');
    }
    s
}

fn clear_by_suffix(path: &[String]) -> bool {
    path.iter().any(|p| p.ends_with(SUFFIX))
}

/// What a decryption walk saw.
#[derive(Default)]
struct Opened {
    encrypted: usize,
    clear_leaves: Vec<String>,
}

fn open_value(v: &Value, key: &DataKey, path: &[String], seen: &mut Opened) -> Value {
    match v {
        Value::Map(m) => Value::Map(open_map(m, key, path, seen)),
        Value::Seq(items) => Value::Seq(
            items
                .iter()
                .map(|i| match i {
                    SeqItem::Value(v) => SeqItem::Value(open_value(v, key, path, seen)),
                    SeqItem::Comment(c) => SeqItem::Comment(open_comment(c, key, path)),
                })
                .collect(),
        ),
        Value::Str(s) if is_encrypted(s) => {
            let enc = EncValue::parse(s).expect("ENC value");
            let plain = open(key, &enc, aad(path).as_bytes()).expect("value opens with path AAD");
            seen.encrypted += 1;
            value_from_plaintext(&plain, enc.typ).expect("typed plaintext")
        }
        other => {
            seen.clear_leaves.push(aad(path));
            other.clone()
        }
    }
}

fn open_map(m: &Map, key: &DataKey, path: &[String], seen: &mut Opened) -> Map {
    let mut out = Map::new();
    for item in &m.0 {
        match item {
            Item::Entry(k, v) => {
                let mut p = path.to_vec();
                p.push(k.clone());
                out.push(k.clone(), open_value(v, key, &p, seen));
            }
            Item::Comment(c) => out.push_comment(open_comment(c, key, path)),
        }
    }
    out
}

/// Comments are opened with the path of the map or list that holds them.
fn open_comment(c: &Comment, key: &DataKey, path: &[String]) -> Comment {
    let text = if is_encrypted(&c.text) {
        let enc = EncValue::parse(&c.text).expect("ENC comment");
        assert_eq!(enc.typ, ValueType::Comment);
        let plain = open(key, &enc, aad(path).as_bytes()).expect("comment opens");
        Text::from(String::from_utf8(plain.to_vec()).expect("utf8"))
    } else {
        c.text.clone()
    };
    Comment {
        text,
        inline: c.inline,
    }
}

fn mac_feed(v: &Value, h: &mut mac::MacHasher) {
    match v {
        Value::Map(m) => m.entries().for_each(|(_, v)| mac_feed(v, h)),
        Value::Seq(items) => items.iter().for_each(|i| {
            if let SeqItem::Value(v) = i {
                mac_feed(v, h)
            }
        }),
        other => {
            if let Some((bytes, _)) = plaintext_of(other) {
                h.update(&bytes);
            }
        }
    }
}

fn mac_of(m: &Map) -> String {
    let mut h = mac::MacHasher::new(false);
    mac_feed(&Value::Map(m.clone()), &mut h);
    h.finish()
}

/// What rops's decrypted output holds for a plaintext tree: no comments, and date-times
/// as strings (rops encrypts them as `type:str`).
fn as_rops_sees_it(v: &Value) -> Value {
    match v {
        Value::Map(m) => Value::Map(Map(m
            .0
            .iter()
            .filter_map(|i| match i {
                Item::Entry(k, v) => Some(Item::Entry(k.clone(), as_rops_sees_it(v))),
                Item::Comment(_) => None,
            })
            .collect())),
        Value::Seq(items) => Value::Seq(
            items
                .iter()
                .filter_map(|i| match i {
                    SeqItem::Value(v) => Some(SeqItem::Value(as_rops_sees_it(v))),
                    SeqItem::Comment(_) => None,
                })
                .collect(),
        ),
        Value::Time(t) => Value::str(t.to_rfc3339_nano()),
        other => other.clone(),
    }
}

/// The same value with every map's entries sorted by key.
fn sorted(v: &Value) -> Value {
    match v {
        Value::Map(m) => {
            let mut items: Vec<Item> =
                m.0.iter()
                    .map(|i| match i {
                        Item::Entry(k, v) => Item::Entry(k.clone(), sorted(v)),
                        Item::Comment(c) => Item::Comment(c.clone()),
                    })
                    .collect();
            items.sort_by(|a, b| match (a, b) {
                (Item::Entry(x, _), Item::Entry(y, _)) => x.cmp(y),
                _ => std::cmp::Ordering::Equal,
            });
            Value::Map(Map(items))
        }
        Value::Seq(items) => Value::Seq(
            items
                .iter()
                .map(|i| match i {
                    SeqItem::Value(v) => SeqItem::Value(sorted(v)),
                    SeqItem::Comment(c) => SeqItem::Comment(c.clone()),
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn load(bytes: &[u8]) -> (Map, Option<Map>) {
    let mut l = TomlStore.load(bytes).expect("load");
    (l.doc.branches.remove(0), l.meta)
}

/// Loads an encrypted fixture, opens every leaf and checks the MAC; returns the opened
/// tree and what was seen.
fn open_file(bytes: &[u8]) -> (Map, Opened) {
    let (enc, meta) = load(bytes);
    let meta = meta.expect("sops table");
    let key = unwrap_data_key(&meta);
    let mut seen = Opened::default();
    let opened = open_map(&enc, &key, &[], &mut seen);
    let lastmodified = meta
        .get("lastmodified")
        .and_then(Value::as_str)
        .expect("lastmodified");
    let ts = Timestamp::parse_rfc3339(lastmodified).expect("RFC 3339 lastmodified");
    let stored = meta.get("mac").and_then(Value::as_str).expect("mac");
    let stored = mac::open_mac(&key, stored, &ts.to_rfc3339()).expect("MAC opens");
    assert_eq!(stored, mac_of(&opened), "MAC over the leaves in load order");
    (opened, seen)
}

#[test]
fn rops_fixtures_load_decrypt_and_match_their_plaintext_twins() {
    for (name, leaves) in [("app", 29), ("partial", 4), ("unicode", 13)] {
        let (opened, seen) = open_file(&fixture(&format!("{name}.rops.toml")));
        let (plain, none) = load(&fixture(&format!("{name}.plain.toml")));
        assert!(none.is_none());
        assert_eq!(seen.encrypted, leaves, "{name}: encrypted leaves");
        assert_eq!(
            Value::Map(opened),
            as_rops_sees_it(&Value::Map(plain)),
            "{name}"
        );
    }
}

#[test]
fn rops_fixture_partial_keeps_unencrypted_suffix_leaves_clear() {
    let (_, meta) = load(&fixture("partial.rops.toml"));
    assert_eq!(
        meta.as_ref()
            .and_then(|m| m.get("unencrypted_suffix"))
            .and_then(Value::as_str),
        Some(SUFFIX)
    );
    let (_, seen) = open_file(&fixture("partial.rops.toml"));
    assert_eq!(
        seen.clear_leaves,
        [
            "port_unencrypted:",
            "host_unencrypted:",
            "nested_unencrypted:note:"
        ]
    );
}

#[test]
fn rops_fixture_metadata_layout() {
    let (_, meta) = load(&fixture("app.rops.toml"));
    let meta = meta.expect("meta");
    let keys: Vec<&str> = meta.entries().map(|(k, _)| k).collect();
    // rops writes no `version` and no selector unless one was asked for.
    assert_eq!(keys, ["lastmodified", "mac", "age"]);
    let lm = meta
        .get("lastmodified")
        .and_then(Value::as_str)
        .expect("lm");
    let ts = Timestamp::parse_rfc3339(lm).expect("rfc3339");
    assert_eq!(ts.to_rfc3339(), lm, "seconds precision, Z");
}

#[test]
fn rops_fixtures_emit_back_byte_identical() {
    // app.rops.toml: rops's pretty layout is the one this emitter writes, except that
    // rops ends the file with an empty line.
    let bytes = fixture("app.rops.toml");
    let (doc, meta) = load(&bytes);
    let out = TomlStore
        .emit(
            &Document::single(doc),
            meta.as_ref(),
            &EmitOptions::default(),
        )
        .expect("emit");
    let mut expected = String::from_utf8(bytes).expect("utf8");
    assert_eq!(expected.pop(), Some('\n'));
    assert_eq!(String::from_utf8_lossy(&out), expected);
    // The others differ in blank lines / nested-array indentation only; trees are kept.
    for name in ["partial.rops.toml", "unicode.rops.toml"] {
        let (doc, meta) = load(&fixture(name));
        let out = TomlStore
            .emit(
                &Document::single(doc.clone()),
                meta.as_ref(),
                &EmitOptions::default(),
            )
            .expect("emit");
        let (doc2, meta2) = load(&out);
        assert_eq!(doc2, doc, "{name}");
        assert_eq!(meta2, meta, "{name}");
    }
}

// ---------- the other direction: leafseal writes, rops reads ----------

fn seal_value(v: &Value, key: &DataKey, path: &[String], h: &mut mac::MacHasher) -> Value {
    match v {
        Value::Map(m) => Value::Map(seal_map(m, key, path, h)),
        Value::Seq(items) => Value::Seq(
            items
                .iter()
                .map(|i| match i {
                    SeqItem::Value(v) => SeqItem::Value(seal_value(v, key, path, h)),
                    SeqItem::Comment(c) => SeqItem::Comment(seal_comment(c, key, path)),
                })
                .collect(),
        ),
        Value::Null => Value::Null,
        leaf => {
            let (plain, typ) = plaintext_of(leaf).expect("leaf");
            h.update(&plain);
            if clear_by_suffix(path) || plain.is_empty() && typ == ValueType::Str {
                leaf.clone()
            } else {
                let enc = seal(key, &plain, aad(path).as_bytes(), typ, None).expect("seal");
                Value::str(enc.render())
            }
        }
    }
}

fn seal_comment(c: &Comment, key: &DataKey, path: &[String]) -> Comment {
    if clear_by_suffix(path) || c.text.is_empty() {
        return c.clone();
    }
    let enc = seal(
        key,
        c.text.as_bytes(),
        aad(path).as_bytes(),
        ValueType::Comment,
        None,
    )
    .expect("seal");
    Comment {
        text: Text::from(enc.render()),
        inline: c.inline,
    }
}

fn seal_map(m: &Map, key: &DataKey, path: &[String], h: &mut mac::MacHasher) -> Map {
    let mut out = Map::new();
    for item in &m.0 {
        match item {
            Item::Entry(k, v) => {
                let mut p = path.to_vec();
                p.push(k.clone());
                out.push(k.clone(), seal_value(v, key, &p, h));
            }
            Item::Comment(c) => out.push_comment(seal_comment(c, key, path)),
        }
    }
    out
}

/// Encrypts a plaintext TOML file the way the walker will (leaves and comments sealed
/// with the path AAD, MAC over all leaves, data key wrapped for the test recipient) and
/// writes it with the metadata layout rops reads.
fn seal_for_rops(plain: &[u8], lastmodified: &str) -> Vec<u8> {
    let (tree, _) = load(plain);
    let key = DataKey::generate().expect("rng");
    let mut h = mac::MacHasher::new(false);
    let sealed = seal_map(&tree, &key, &[], &mut h);
    let mac_text = mac::seal_mac(&key, &h.finish(), lastmodified).expect("mac");
    let mut entry = Map::new();
    entry.push("enc", Value::str(wrap_data_key(&key)));
    entry.push("recipient", Value::str(RECIPIENT));
    let mut meta = Map::new();
    // sops ≥ 3.13 field order; rops does not care about order or the extra `version`.
    meta.push("age", Value::Seq(vec![SeqItem::Value(Value::Map(entry))]));
    meta.push("lastmodified", Value::str(lastmodified));
    meta.push("mac", Value::str(mac_text));
    meta.push("unencrypted_suffix", Value::str(SUFFIX));
    meta.push("version", Value::str("3.13.2"));
    TomlStore
        .emit(
            &Document::single(sealed),
            Some(&meta),
            &EmitOptions::default(),
        )
        .expect("emit")
        .to_vec()
}

#[test]
fn leafseal_sealed_toml_decrypts_back_to_its_plaintext() {
    let plain = fixture("leafseal.plain.toml");
    let written = seal_for_rops(&plain, "2026-01-02T03:04:05Z");
    let (opened, _) = open_file(&written);
    let (tree, _) = load(&plain);
    assert_eq!(opened, tree, "comments and key order kept");
}

#[test]
fn leafseal_fixture_written_for_rops_opens_with_leafseal() {
    // leafseal.enc.toml was written by `seal_for_rops` and decrypted by rops (README).
    let (opened, seen) = open_file(&fixture("leafseal.enc.toml"));
    let (tree, _) = load(&fixture("leafseal.plain.toml"));
    assert_eq!(opened, tree);
    assert_eq!(
        seen.clear_leaves,
        ["port_unencrypted:", "clear_unencrypted:note:"]
    );
}

/// Runs rops (path in `ROPS_BIN`) on a freshly sealed file and on the committed
/// `leafseal.enc.toml`; both must decrypt to the plaintext as rops sees it.
/// `ROPS_BIN=/work/tools/bin/rops cargo test --lib rops_binary -- --ignored`
#[test]
#[ignore = "needs the rops binary in ROPS_BIN"]
fn rops_binary_decrypts_leafseal_toml() {
    let bin = std::env::var("ROPS_BIN").expect("ROPS_BIN");
    let secret = std::fs::read_to_string(
        [
            env!("CARGO_MANIFEST_DIR"),
            "fixtures/sops/keys/age-test-keys.txt",
        ]
        .iter()
        .collect::<PathBuf>(),
    )
    .expect("keys");
    let secret = secret
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .expect("secret")
        .to_owned();
    let plain = fixture("leafseal.plain.toml");
    let fresh = seal_for_rops(&plain, &Timestamp::now_utc().to_rfc3339());
    if let Ok(path) = std::env::var("LEAFSEAL_WRITE_FIXTURE") {
        std::fs::write(path, &fresh).expect("write fixture");
    }
    let (tree, _) = load(&plain);
    for input in [fresh, fixture("leafseal.enc.toml")] {
        let mut child = std::process::Command::new(&bin)
            .args(["decrypt", "--format", "toml"])
            .env("ROPS_AGE", &secret)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn rops");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(&input)
            .expect("feed rops");
        let out = child.wait_with_output().expect("rops output");
        assert!(
            out.status.success(),
            "rops failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // rops checked the MAC (our key order) before printing; its printer then moves
        // tables after plain values, so compare with sorted keys.
        let (decrypted, meta) = load(&out.stdout);
        assert!(meta.is_none());
        assert_eq!(
            sorted(&Value::Map(decrypted)),
            sorted(&as_rops_sees_it(&Value::Map(tree.clone())))
        );
    }
}
