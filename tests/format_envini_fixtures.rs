//! dotenv and INI stores against the real sops fixtures: byte-identical round trips,
//! leaves and AADs in walk order, decryption of every encrypted leaf and comment with the
//! data key from `expected/*.leaves.json`, and the exact decrypted output.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use leafseal::crypto::DataKey;
use leafseal::crypto::value::EncValue;
use leafseal::crypto::value::ValueType;
use leafseal::crypto::value::open;
use leafseal::format::EmitOptions;
use leafseal::format::Store;
use leafseal::format::dotenv::DotenvStore;
use leafseal::format::ini::IniStore;
use leafseal::tree::Item;
use leafseal::tree::Map;
use leafseal::tree::SeqItem;
use leafseal::tree::Value;

fn fixture(rel: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/sops")
        .join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

// ---- a minimal JSON reader for the expected/*.leaves.json files ----

#[derive(Debug, Clone)]
enum J {
    Null,
    Bool(bool),
    Num,
    Str(String),
    Arr(Vec<J>),
    Obj(BTreeMap<String, J>),
}

impl J {
    fn get(&self, k: &str) -> &J {
        match self {
            J::Obj(m) => m.get(k).unwrap_or(&J::Null),
            _ => &J::Null,
        }
    }
    fn str(&self) -> &str {
        match self {
            J::Str(s) => s,
            other => panic!("not a string: {other:?}"),
        }
    }
}

struct P<'a>(&'a [u8], usize);

impl P<'_> {
    fn ws(&mut self) {
        while self.1 < self.0.len() && self.0[self.1].is_ascii_whitespace() {
            self.1 += 1;
        }
    }
    fn value(&mut self) -> J {
        self.ws();
        match self.0[self.1] {
            b'{' => {
                self.1 += 1;
                let mut m = BTreeMap::new();
                loop {
                    self.ws();
                    if self.0[self.1] == b'}' {
                        self.1 += 1;
                        return J::Obj(m);
                    }
                    let J::Str(k) = self.value() else {
                        panic!("key")
                    };
                    self.ws();
                    assert_eq!(self.0[self.1], b':');
                    self.1 += 1;
                    let v = self.value();
                    m.insert(k, v);
                    self.ws();
                    if self.0[self.1] == b',' {
                        self.1 += 1;
                    }
                }
            }
            b'[' => {
                self.1 += 1;
                let mut a = Vec::new();
                loop {
                    self.ws();
                    if self.0[self.1] == b']' {
                        self.1 += 1;
                        return J::Arr(a);
                    }
                    a.push(self.value());
                    self.ws();
                    if self.0[self.1] == b',' {
                        self.1 += 1;
                    }
                }
            }
            b'"' => {
                self.1 += 1;
                let mut s = Vec::new();
                loop {
                    let b = self.0[self.1];
                    self.1 += 1;
                    match b {
                        b'"' => return J::Str(String::from_utf8(s).unwrap()),
                        b'\\' => {
                            let e = self.0[self.1];
                            self.1 += 1;
                            match e {
                                b'n' => s.push(b'\n'),
                                b't' => s.push(b'\t'),
                                b'r' => s.push(b'\r'),
                                b'u' => {
                                    let hex =
                                        std::str::from_utf8(&self.0[self.1..self.1 + 4]).unwrap();
                                    self.1 += 4;
                                    let c = char::from_u32(u32::from_str_radix(hex, 16).unwrap())
                                        .unwrap();
                                    s.extend_from_slice(c.to_string().as_bytes());
                                }
                                other => s.push(other),
                            }
                        }
                        other => s.push(other),
                    }
                }
            }
            b't' => {
                self.1 += 4;
                J::Bool(true)
            }
            b'f' => {
                self.1 += 5;
                J::Bool(false)
            }
            b'n' => {
                self.1 += 4;
                J::Null
            }
            _ => {
                let start = self.1;
                while self.1 < self.0.len() && b"+-.eE0123456789".contains(&self.0[self.1]) {
                    self.1 += 1;
                }
                let _: f64 = std::str::from_utf8(&self.0[start..self.1])
                    .unwrap()
                    .parse()
                    .unwrap();
                J::Num
            }
        }
    }
}

fn expected(name: &str) -> J {
    let bytes = fixture(&format!("expected/{name}.leaves.json"));
    P(&bytes, 0).value()
}

fn data_key(j: &J) -> DataKey {
    let hex = j.get("data_key_hex").str();
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    DataKey::from_slice(&bytes).unwrap()
}

// ---- walking the tree ----

/// A leaf: its key path and string value. A comment: its enclosing path and text.
#[derive(Debug)]
enum Found {
    Leaf(Vec<String>, String),
    Comment(Vec<String>, String),
}

fn walk(map: &Map, path: &mut Vec<String>, out: &mut Vec<Found>) {
    for item in &map.0 {
        match item {
            Item::Comment(c) => out.push(Found::Comment(path.clone(), c.text.as_str().to_owned())),
            Item::Entry(k, v) => {
                path.push(k.clone());
                walk_value(v, path, out);
                path.pop();
            }
        }
    }
}

fn walk_value(v: &Value, path: &mut Vec<String>, out: &mut Vec<Found>) {
    match v {
        Value::Map(m) => walk(m, path, out),
        Value::Seq(items) => {
            for i in items {
                match i {
                    SeqItem::Value(v) => walk_value(v, path, out),
                    SeqItem::Comment(c) => {
                        out.push(Found::Comment(path.clone(), c.text.as_str().to_owned()))
                    }
                }
            }
        }
        Value::Str(s) => out.push(Found::Leaf(path.clone(), s.as_str().to_owned())),
        other => panic!("unexpected {}", other.kind_name()),
    }
}

fn aad(path: &[String]) -> String {
    format!("{}:", path.join(":"))
}

/// Checks every leaf against the expected list and decrypts leaves and comments.
/// Returns the number of encrypted comments opened.
fn check_leaves(store: &dyn Store, file: &str, name: &str) -> usize {
    let loaded = store.load(&fixture(file)).unwrap();
    let exp = expected(name);
    let key = data_key(&exp);
    let J::Arr(leaves) = exp.get("leaves_in_mac_order") else {
        panic!("no leaves")
    };
    let mut found = Vec::new();
    walk(&loaded.doc.branches[0], &mut Vec::new(), &mut found);
    let mut comments = 0;
    let mut leaf_iter = leaves.iter();
    for f in &found {
        match f {
            Found::Leaf(path, value) => {
                let e = leaf_iter
                    .next()
                    .unwrap_or_else(|| panic!("{file}: extra leaf {path:?}"));
                assert_eq!(path.join(":"), e.get("path").str(), "{file}: walk order");
                let J::Bool(encrypted) = e.get("encrypted") else {
                    panic!()
                };
                if *encrypted {
                    assert_eq!(aad(path), e.get("aad").str());
                    let enc = EncValue::parse(value).unwrap();
                    assert_eq!(enc.typ.name(), e.get("type").str());
                    let plain = open(&key, &enc, aad(path).as_bytes())
                        .unwrap_or_else(|_| panic!("{file}: {path:?} does not decrypt"));
                    assert_eq!(std::str::from_utf8(&plain).unwrap(), e.get("value").str());
                } else {
                    assert_eq!(value, e.get("value").str());
                }
            }
            Found::Comment(path, text) => {
                let enc = EncValue::parse(text).unwrap();
                assert_eq!(enc.typ, ValueType::Comment);
                let plain = open(&key, &enc, aad(path).as_bytes())
                    .unwrap_or_else(|_| panic!("{file}: comment in {path:?} does not decrypt"));
                assert!(std::str::from_utf8(&plain).is_ok());
                comments += 1;
            }
        }
    }
    assert!(leaf_iter.next().is_none(), "{file}: missing leaves");
    comments
}

/// Replaces every `ENC[…]` string and comment with its plaintext.
fn decrypt_in_place(map: &mut Map, key: &DataKey, path: &mut Vec<String>) {
    for item in &mut map.0 {
        match item {
            Item::Comment(c) => {
                if let Ok(enc) = EncValue::parse(c.text.as_str()) {
                    let plain = open(key, &enc, aad(path).as_bytes()).unwrap();
                    c.text = std::str::from_utf8(&plain).unwrap().into();
                }
            }
            Item::Entry(k, v) => {
                path.push(k.clone());
                match v {
                    Value::Map(m) => decrypt_in_place(m, key, path),
                    Value::Str(s) => {
                        if let Ok(enc) = EncValue::parse(s.as_str()) {
                            let plain = open(key, &enc, aad(path).as_bytes()).unwrap();
                            *v = Value::str(std::str::from_utf8(&plain).unwrap());
                        }
                    }
                    _ => {}
                }
                path.pop();
            }
        }
    }
}

fn emit(store: &dyn Store, doc: &leafseal::tree::Document, meta: Option<&Map>) -> Vec<u8> {
    store
        .emit(doc, meta, &EmitOptions::default())
        .unwrap()
        .to_vec()
}

// ---- MUST SHOW 1: byte-identical round trips ----

#[test]
fn dotenv_format_enc_env_round_trips_byte_identical() {
    let input = fixture("dotenv/format.enc.env");
    let l = DotenvStore.load(&input).unwrap();
    assert!(l.meta.is_some());
    assert_eq!(emit(&DotenvStore, &l.doc, l.meta.as_ref()), input);
}

#[test]
fn ini_format_enc_ini_round_trips_byte_identical() {
    let input = fixture("ini/format.enc.ini");
    let l = IniStore.load(&input).unwrap();
    let meta = l.meta.as_ref().unwrap();
    let Some(Value::Seq(pgp)) = meta.get("pgp") else {
        panic!()
    };
    let SeqItem::Value(Value::Map(k)) = &pgp[0] else {
        panic!()
    };
    let enc = k.get("enc").and_then(Value::as_str).unwrap();
    assert!(enc.starts_with("-----BEGIN PGP MESSAGE-----\n\nwcBM"));
    assert!(enc.ends_with("\n-----END PGP MESSAGE-----"));
    assert_eq!(emit(&IniStore, &l.doc, l.meta.as_ref()), input);
}

/// Pre-3.13 INI files: the data part is identical; the differences are (a) the order of
/// the `[sops]` keys (random in those versions, ours follows the un-flattened tree) and
/// (b) the empty line old go-ini wrote after the last section.
fn old_ini_reemits_modulo_order(file: &str) -> Map {
    let input = String::from_utf8(fixture(file)).unwrap();
    let l = IniStore.load(input.as_bytes()).unwrap();
    let out = String::from_utf8(emit(&IniStore, &l.doc, l.meta.as_ref())).unwrap();
    let (in_data, in_sops) = input.split_once("[sops]\n").unwrap();
    let (out_data, out_sops) = out.split_once("[sops]\n").unwrap();
    assert_eq!(in_data, out_data);
    assert!(in_sops.ends_with("\n\n") && !out_sops.ends_with("\n\n"));
    let mut a: Vec<&str> = in_sops.lines().filter(|l| !l.is_empty()).collect();
    let mut b: Vec<&str> = out_sops.lines().collect();
    assert_ne!(a, b, "the key order differs");
    a.sort();
    b.sort();
    assert_eq!(a, b);
    l.meta.unwrap()
}

#[test]
fn ini_v3_7_1_random_metadata_order_loads() {
    let meta = old_ini_reemits_modulo_order("ini/example.age.v3.7.1.ini");
    assert_eq!(meta.get("version"), Some(&Value::str("3.7.1")));
    assert_eq!(
        meta.get("lastmodified"),
        Some(&Value::str("2022-03-15T22:12:10Z"))
    );
    let Some(Value::Seq(age)) = meta.get("age") else {
        panic!()
    };
    let recipients: Vec<&str> = age
        .iter()
        .map(|i| {
            let SeqItem::Value(Value::Map(m)) = i else {
                panic!()
            };
            let enc = m.get("enc").and_then(Value::as_str).unwrap();
            assert!(enc.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"));
            assert!(enc.ends_with("-----END AGE ENCRYPTED FILE-----\n"));
            m.get("recipient").and_then(Value::as_str).unwrap()
        })
        .collect();
    assert_eq!(
        recipients,
        [
            "age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw",
            "age1tmaae3ld5vpevmsh5yacsauzx8jetg300mpvc4ugp5zr5l6ssq9sla97ep"
        ]
    );
}

#[test]
fn ini_v3_2_0_loads() {
    let meta = old_ini_reemits_modulo_order("ini/example.v3.2.0.ini");
    assert_eq!(meta.get("version"), Some(&Value::str("3.2.0")));
    let Some(Value::Seq(pgp)) = meta.get("pgp") else {
        panic!()
    };
    let fps: Vec<&str> = pgp
        .iter()
        .map(|i| {
            let SeqItem::Value(Value::Map(m)) = i else {
                panic!()
            };
            assert!(
                m.get("enc")
                    .and_then(Value::as_str)
                    .unwrap()
                    .contains("\n=")
            ); // armor checksum line
            m.get("fp").and_then(Value::as_str).unwrap()
        })
        .collect();
    assert_eq!(
        fps,
        [
            "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4",
            "D7229043384BCC60326C6FB9D8720D957C3D3074"
        ]
    );
}

// ---- MUST SHOW 2: leaves, AADs and decryption ----

#[test]
fn dotenv_fixture_leaves_decrypt() {
    assert_eq!(
        check_leaves(&DotenvStore, "dotenv/format.enc.env", "format.enc.env"),
        0
    );
}

#[test]
fn ini_fixture_leaves_decrypt() {
    assert_eq!(
        check_leaves(&IniStore, "ini/format.enc.ini", "format.enc.ini"),
        0
    );
    // The encrypted `; ENC[…]` section comment opens with the AAD `name:`.
    assert_eq!(
        check_leaves(
            &IniStore,
            "ini/example.age.v3.7.1.ini",
            "example.age.v3.7.1.ini"
        ),
        1
    );
    assert_eq!(
        check_leaves(&IniStore, "ini/example.v3.2.0.ini", "example.v3.2.0.ini"),
        1
    );
}

// ---- MUST SHOW 3: decrypted forms ----

#[test]
fn dotenv_decrypted_output_matches_sops() {
    let want = fixture("expected/format.enc.env.decrypted");
    let mut l = DotenvStore.load(&fixture("dotenv/format.enc.env")).unwrap();
    let key = data_key(&expected("format.enc.env"));
    decrypt_in_place(&mut l.doc.branches[0], &key, &mut Vec::new());
    assert_eq!(emit(&DotenvStore, &l.doc, None), want);
    // And from a hand-built tree.
    let mut m = Map::new();
    m.push("foo ", Value::str(" bar"));
    assert_eq!(
        emit(&DotenvStore, &leafseal::tree::Document::single(m), None),
        want
    );
    assert_eq!(want, b"foo = bar\n");
}

#[test]
fn ini_decrypted_output_matches_sops() {
    let want = fixture("expected/format.enc.ini.decrypted");
    let mut l = IniStore.load(&fixture("ini/format.enc.ini")).unwrap();
    let key = data_key(&expected("format.enc.ini"));
    decrypt_in_place(&mut l.doc.branches[0], &key, &mut Vec::new());
    assert_eq!(emit(&IniStore, &l.doc, None), want);
    assert_eq!(want, b"[foo]\nbar = baz\n");
    // The old example with its encrypted comment decrypts to a readable INI file.
    let mut l = IniStore
        .load(&fixture("ini/example.age.v3.7.1.ini"))
        .unwrap();
    let key = data_key(&expected("example.age.v3.7.1.ini"));
    decrypt_in_place(&mut l.doc.branches[0], &key, &mut Vec::new());
    let out = String::from_utf8(emit(&IniStore, &l.doc, None)).unwrap();
    assert!(out.starts_with("; "), "{out}");
    assert!(
        out.contains(
            "[name]\nfirstName = John\nlastName  = Smith\nage       = 25.4\n\n[address]\n"
        )
    );
    assert!(out.ends_with("[not private]\nnotsecret_unencrypted = hi there!\n"));
}
