//! Tests of the lifecycle operations on in-memory documents with generated age keys.

use std::collections::HashMap;
use std::sync::Arc;

use age::secrecy::ExposeSecret;
use proptest::prelude::*;

use super::*;
use crate::crypto::nonces::NonceStash;
use crate::keys::age::AgeKey;
use crate::keys::group as kgroup;
use crate::ops::OpenOptions;
use crate::ops::SealPlan;

struct Ident {
    secret: String,
    key: Arc<dyn MasterKey>,
}

fn ident() -> Ident {
    let id = age::x25519::Identity::generate();
    let recipient = id.to_public().to_string();
    Ident {
        secret: id.to_string().expose_secret().to_owned(),
        key: Arc::new(AgeKey::parse(&recipient).expect("recipient")),
    }
}

/// A context that knows only the given identities (and an empty HOME).
fn ctx(ids: &[&Ident]) -> (tempfile::TempDir, KeyContext) {
    let home = tempfile::tempdir().expect("home");
    let mut vars = HashMap::new();
    vars.insert("HOME".to_owned(), home.path().display().to_string());
    let joined: Vec<&str> = ids.iter().map(|i| i.secret.as_str()).collect();
    vars.insert("SOPS_AGE_KEY".to_owned(), joined.join("\n"));
    (home, KeyContext::with_vars(vars))
}

fn plain() -> Document {
    let mut db = Map::new();
    db.push("user", Value::str("admin"));
    db.push("password", Value::str("hunter2"));
    let mut root = Map::new();
    root.push("db", Value::Map(db));
    root.push("port", Value::Int(5432));
    Document::single(root)
}

/// Seals `plain()` for the groups and opens it again (as a command would).
fn sealed(groups: KeyGroups, threshold: usize, open_with: &[&Ident]) -> (Document, Map, Opened) {
    let (_h, c) = ctx(open_with);
    let plan = SealPlan {
        groups,
        threshold,
        ..Default::default()
    };
    let (doc, map) = ops::seal_new(plain(), &plan, &c, Format::Yaml).expect("seal");
    let opened = open(&doc, &map, open_with).expect("open");
    (doc, map, opened)
}

fn open(doc: &Document, map: &Map, with: &[&Ident]) -> Result<Opened, Error> {
    let (_h, c) = ctx(with);
    let loaded = crate::format::Loaded {
        doc: doc.clone(),
        meta: Some(map.clone()),
    };
    ops::open(loaded, &c, &OpenOptions::default())
}

fn values(doc: &Document) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Map(m) => m.entries().for_each(|(_, v)| walk(v, out)),
            Value::Str(s) => out.push(s.as_str().to_owned()),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(&Value::Map(doc.branches[0].clone()), &mut out);
    out
}

#[test]
fn set_values_parse_like_sops() {
    assert_eq!(parse_set_value(b"5").expect("n"), Value::Float(5.0));
    assert_eq!(parse_set_value(b" 2.5 ").expect("n"), Value::Float(2.5));
    assert_eq!(parse_set_value(b"\"x\"").expect("s"), Value::str("x"));
    assert_eq!(parse_set_value(b"true").expect("b"), Value::Bool(true));
    assert_eq!(parse_set_value(b"null").expect("null"), Value::Null);
    let Value::Map(m) = parse_set_value(br#"{"b":1,"a":[true,"x"]}"#).expect("obj") else {
        panic!("map")
    };
    let keys: Vec<&str> = m.entries().map(|(k, _)| k).collect();
    assert_eq!(keys, ["b", "a"]);
    assert_eq!(m.get("b"), Some(&Value::Int(1)));
    assert!(matches!(parse_set_value(b"[1,2]").expect("arr"), Value::Seq(s) if s.len() == 2));
    for bad in [
        &b""[..],
        b"text",
        b"'single'",
        b"1, \"v\": 2",
        b"\"a\"}, {\"v\": 1",
        b"{",
        b"1 2",
        b"\xff",
    ] {
        let e = parse_set_value(bad).expect_err("invalid");
        assert_eq!(e.code, exit::INVALID_SET_FORMAT);
    }
}

#[test]
fn unchanged_document_is_not_resealed_and_changes_keep_other_ciphertexts() {
    let a = ident();
    let (enc, map, mut opened) = sealed(vec![vec![Arc::clone(&a.key)]], 0, &[&a]);
    let before = opened.doc.clone();
    assert!(
        seal_changes(&before, &mut opened, Format::Yaml)
            .expect("same")
            .is_none()
    );
    let path = crate::treepath::parse(r#"["db"]["password"]"#).expect("path");
    crate::treepath::set(&mut opened.doc, &path, Value::str("new")).expect("set");
    let new_map = seal_changes(&before, &mut opened, Format::Yaml)
        .expect("seal")
        .expect("changed");
    let old_v = values(&enc);
    let new_v = values(&opened.doc);
    assert_eq!(old_v[0], new_v[0], "unchanged value keeps its ciphertext");
    assert_ne!(old_v[1], new_v[1]);
    assert_ne!(map.get("mac"), new_map.get("mac"));
    let again = open(&opened.doc, &new_map, &[&a]).expect("reopen");
    assert_eq!(
        crate::treepath::get(&again.doc, &path).expect("get"),
        &Value::str("new")
    );
}

#[test]
fn rotate_changes_every_ciphertext_and_applies_key_changes() {
    let (a, b) = (ident(), ident());
    let (enc, _map, mut opened) = sealed(vec![vec![Arc::clone(&a.key)]], 0, &[&a]);
    let mut changes = KeyChanges::default();
    changes.add.push(Arc::clone(&b.key));
    changes.remove_list(KeyKind::Age, &a.key.id()).unwrap();
    changes
        .remove_list(KeyKind::Pgp, "ABCDEF0123456789")
        .unwrap();
    let (map, report) = rotate(&mut opened, &changes, &ctx(&[&a]).1, Format::Yaml).expect("rotate");
    assert_eq!(report.unmatched_removals.len(), 1);
    for (o, n) in values(&enc).iter().zip(values(&opened.doc)) {
        assert_ne!(o, &n);
    }
    assert!(open(&opened.doc, &map, &[&a]).is_err(), "a was removed");
    let back = open(&opened.doc, &map, &[&b]).expect("b opens");
    assert_eq!(back.doc, plain());
}

#[test]
fn rotate_fails_without_touching_anything_when_a_key_cannot_wrap() {
    let a = ident();
    let (_e, _m, mut opened) = sealed(vec![vec![Arc::clone(&a.key)]], 0, &[&a]);
    let mut changes = KeyChanges::default();
    changes.remove_list(KeyKind::Age, &a.key.id()).unwrap();
    let e = rotate(&mut opened, &changes, &ctx(&[&a]).1, Format::Yaml).expect_err("no keys left");
    assert_eq!(e.code, exit::NO_ENCRYPTION_KEY_FOUND);
    let mut bad = KeyChanges::default();
    assert!(bad.add_list(KeyKind::Age, "age1notarecipient").is_err());
    let opaque: Arc<dyn MasterKey> = Arc::new(crate::keys::opaque::OpaqueKey::from_fields(
        KeyKind::Kms,
        &crate::keys::KeyFields::new(),
    ));
    bad.add.push(opaque);
    let e = rotate(&mut opened, &bad, &ctx(&[&a]).1, Format::Yaml).expect_err("kms cannot wrap");
    assert_eq!(e.code, exit::ERROR_ENCRYPTING_TREE);
}

#[test]
fn update_plan_diffs_groups_and_thresholds() {
    let (a, b, c) = (ident(), ident(), ident());
    let (_e, map, _o) = sealed(
        vec![vec![Arc::clone(&a.key)], vec![Arc::clone(&b.key)]],
        2,
        &[&a, &b],
    );
    let meta = Metadata::from_map(&map).expect("meta");
    let same = vec![vec![Arc::clone(&a.key)], vec![Arc::clone(&b.key)]];
    assert!(plan_update(&meta, &same, None, 0).is_noop());
    assert!(plan_update(&meta, &same, None, 2).is_noop());
    let three = vec![
        vec![Arc::clone(&a.key)],
        vec![Arc::clone(&b.key)],
        vec![Arc::clone(&c.key)],
    ];
    let p = plan_update(&meta, &three, None, 0);
    assert!(!p.is_noop());
    assert_eq!(p.new_threshold, 2);
    assert!(p.revoked().is_empty());
    let p = plan_update(&meta, &three, None, 3);
    assert_eq!(p.new_threshold, 3);
    // `--shamir-secret-sharing-threshold 0` is no flag (sops): the file's 2 stays.
    let p = plan_update(&meta, &three, Some(0), 0);
    assert_eq!(p.new_threshold, 2);
    let swap = vec![vec![Arc::clone(&c.key), Arc::clone(&a.key)]];
    let p = plan_update(&meta, &swap, None, 0);
    assert_eq!(p.diffs.len(), 2);
    assert_eq!(p.diffs[0].added, vec![(KeyKind::Age, c.key.id())]);
    assert_eq!(p.revoked(), vec![(KeyKind::Age, b.key.id())]);
    assert_eq!(p.new_threshold, 0);
}

#[test]
fn updatekeys_keeps_the_data_key_values_and_mac() {
    let (a, b) = (ident(), ident());
    let (enc, map, _o) = sealed(vec![vec![Arc::clone(&a.key)]], 0, &[&a]);
    let mut meta = Metadata::from_map(&map).expect("meta");
    let key = data_key(&meta, &ctx(&[&a]).1, &[]).expect("key");
    let plan = plan_update(&meta, &vec![vec![Arc::clone(&b.key)]], None, 0);
    let new_map = apply_update(&mut meta, &plan, &key, &ctx(&[]).1).expect("apply");
    assert_eq!(new_map.get("mac"), map.get("mac"));
    assert_eq!(new_map.get("lastmodified"), map.get("lastmodified"));
    assert_eq!(open(&enc, &new_map, &[&b]).expect("b").doc, plain());
    assert!(open(&enc, &new_map, &[&a]).is_err());
}

#[test]
fn groups_add_and_delete_keep_the_data_key() {
    let (a, b, c) = (ident(), ident(), ident());
    let (enc, map, _o) = sealed(vec![vec![Arc::clone(&a.key)]], 0, &[&a]);
    let mut meta = Metadata::from_map(&map).expect("meta");
    let key = data_key(&meta, &ctx(&[&a]).1, &[]).expect("key");
    let m2 = add_group(&mut meta, &key, vec![Arc::clone(&b.key)], None, &ctx(&[]).1).expect("add");
    assert!(open(&enc, &m2, &[&a]).is_err(), "threshold 2 of 2");
    assert_eq!(open(&enc, &m2, &[&a, &b]).expect("ab").doc, plain());
    let m3 = add_group(
        &mut meta,
        &key,
        vec![Arc::clone(&c.key)],
        Some(2),
        &ctx(&[]).1,
    )
    .expect("add");
    for pair in [[&a, &b], [&a, &c], [&b, &c]] {
        assert_eq!(open(&enc, &m3, &pair).expect("pair").doc, plain());
    }
    assert!(open(&enc, &m3, &[&c]).is_err());
    let e = add_group(
        &mut meta,
        &key,
        vec![Arc::clone(&c.key)],
        Some(1),
        &ctx(&[]).1,
    )
    .expect_err("threshold 1");
    assert_eq!(e.code, exit::CONFLICTING_PARAMETERS);
    assert!(add_group(&mut meta, &key, Vec::new(), None, &ctx(&[]).1).is_err());
    let m4 = delete_group(&mut meta, &key, 0, None, &ctx(&[]).1).expect("delete");
    assert!(open(&enc, &m4, &[&a]).is_err());
    assert_eq!(open(&enc, &m4, &[&b, &c]).expect("bc").doc, plain());
    assert!(delete_group(&mut meta, &key, 5, None, &ctx(&[]).1).is_err());
    let e = delete_group(&mut meta, &key, 1, None, &ctx(&[]).1).expect_err("threshold 2 of 1");
    assert_eq!(e.code, exit::GENERIC);
    let m5 = delete_group(&mut meta, &key, 1, Some(1), &ctx(&[]).1).expect("to one");
    assert!(m5.get("shamir_threshold").is_none());
    assert!(m5.get("key_groups").is_none());
    assert_eq!(open(&enc, &m5, &[&b]).expect("b").doc, plain());
    assert!(delete_group(&mut meta, &key, 0, None, &ctx(&[]).1).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Wrapping a data key for n groups with threshold t and recovering it with a
    /// random subset of the groups' identities works exactly when the subset has at
    /// least t groups.
    #[test]
    fn random_group_subsets_recover_iff_threshold_met(
        n in 2usize..=4,
        t_seed in any::<usize>(),
        mask in any::<u8>(),
    ) {
        let t = 2 + t_seed % (n - 1);
        let ids: Vec<Ident> = (0..n).map(|_| ident()).collect();
        let groups: KeyGroups = ids.iter().map(|i| vec![Arc::clone(&i.key)]).collect();
        let key = DataKey::generate().expect("key");
        let wrapped = kgroup::wrap(&groups, t, &key, &ctx(&[]).1).expect("wrap");
        let chosen: Vec<&Ident> =
            ids.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, i)| i).collect();
        let got = kgroup::recover(&wrapped, t, &kgroup::DEFAULT_ORDER, &ctx(&chosen).1);
        if chosen.len() >= t {
            let got = got.expect("recover");
            prop_assert_eq!(got.expose(), key.expose());
        } else {
            prop_assert!(got.is_err());
        }
    }
}

/// A file saying `shamir_threshold: 1` over shares split 2 of 3 (what sops 3.11's
/// `groups add --shamir-secret-sharing-threshold 1` leaves) opens as sops opens it:
/// every group is visited and every share combined, so two groups' keys recover the key
/// and one group's key does not.
#[test]
fn threshold_one_over_a_two_of_three_split_opens_as_in_sops() {
    let ids: Vec<Ident> = (0..3).map(|_| ident()).collect();
    let groups: KeyGroups = ids.iter().map(|i| vec![Arc::clone(&i.key)]).collect();
    let key = DataKey::generate().expect("key");
    let wrapped = kgroup::wrap(&groups, 2, &key, &ctx(&[]).1).expect("wrap");
    for chosen in [
        vec![&ids[0], &ids[1]],
        vec![&ids[1], &ids[2]],
        ids.iter().collect(),
    ] {
        let got = kgroup::recover(&wrapped, 1, &kgroup::DEFAULT_ORDER, &ctx(&chosen).1)
            .expect("two groups or more");
        assert_eq!(got.expose(), key.expose());
    }
    let e = kgroup::recover(&wrapped, 1, &kgroup::DEFAULT_ORDER, &ctx(&[&ids[2]]).1)
        .expect_err("one group");
    assert_eq!((e.recovered, e.threshold), (1, 2), "{e}");
}

#[test]
fn stash_is_empty_after_rekey() {
    let a = ident();
    let (_e, _m, mut opened) = sealed(vec![vec![Arc::clone(&a.key)]], 0, &[&a]);
    assert!(!opened.stash.is_empty());
    let groups = current_groups(&opened.meta.key_groups);
    rekey(&mut opened, &groups, 0, &ctx(&[]).1, Format::Yaml).expect("rekey");
    let empty: &NonceStash = &opened.stash;
    assert!(empty.is_empty());
}

#[test]
fn adopt_types_keeps_integral_floats() {
    let mut old = Map::new();
    old.push("f", Value::Float(5.0));
    old.push("g", Value::Float(2.5));
    old.push(
        "l",
        Value::Seq(vec![crate::tree::SeqItem::Value(Value::Float(1.0))]),
    );
    let old = Document::single(old);
    let mut new = Map::new();
    new.push("f", Value::Int(5));
    new.push("g", Value::Int(2));
    new.push(
        "l",
        Value::Seq(vec![crate::tree::SeqItem::Value(Value::Int(1))]),
    );
    new.push("x", Value::Int(1));
    let mut new = Document::single(new);
    adopt_types(&old, &mut new);
    let m = &new.branches[0];
    assert_eq!(m.get("f"), Some(&Value::Float(5.0)));
    assert_eq!(m.get("g"), Some(&Value::Int(2)));
    assert_eq!(m.get("x"), Some(&Value::Int(1)));
    assert_eq!(
        m.get("l"),
        Some(&Value::Seq(vec![crate::tree::SeqItem::Value(
            Value::Float(1.0)
        )]))
    );
}

/// A `set` value whose object repeats a key is refused (exit 7): the YAML written from it
/// could not be read back (round-18 fuzz).
#[test]
fn a_set_value_with_a_repeated_key_is_refused() {
    for text in [
        r#"{"k":1,"k":2}"#,
        r#"{"a":{"x":1,"y":2,"x":3}}"#,
        r#"[{"k":1},{"j":1,"j":2}]"#,
    ] {
        let e = parse_set_value(text.as_bytes()).expect_err(text);
        assert_eq!(e.code, exit::INVALID_SET_FORMAT, "{text}");
        assert!(e.message.contains("twice"), "{}", e.message);
    }
    assert!(parse_set_value(br#"{"k":1,"j":{"k":2}}"#).is_ok());
}

/// Round 22 (write_dotenv fuzz target): `set` of a bool (or a float, a timestamp) left in
/// clear by an `encrypted_regex`, in a dotenv or INI file, entered the MAC as `False`
/// but was written `false` and read back as the string `false`: the written file failed
/// its MAC (exit 51). The value in clear now enters the MAC as the text written.
#[test]
fn clear_scalars_set_in_dotenv_and_ini_read_back() {
    let me = ident();
    let (_h, c) = ctx(&[&me]);
    for format in [Format::Dotenv, Format::Ini] {
        let mut leaves = Map::new();
        leaves.push("password", Value::str("hunter2"));
        leaves.push("flag", Value::str("x"));
        let root = if format == Format::Ini {
            let mut r = Map::new();
            r.push("app", Value::Map(leaves));
            r
        } else {
            leaves
        };
        let plan = SealPlan {
            groups: vec![vec![Arc::clone(&me.key)]],
            selector: crate::ops::Selector::from_field("encrypted_regex", "^password$")
                .expect("regex"),
            ..Default::default()
        };
        let (doc, map) = ops::seal_new(Document::single(root), &plan, &c, format).expect("seal");
        let store = format.store();
        let first = store
            .emit(&doc, Some(&map), &Default::default())
            .expect("emit");
        let loaded = store.load(&first).expect("load");
        let mut opened = ops::open(loaded, &c, &OpenOptions::default()).expect("open");
        let at = |k: &str| {
            let mut p = Vec::new();
            if format == Format::Ini {
                p.push(crate::treepath::Step::Key("app".into()));
            }
            p.push(crate::treepath::Step::Key(k.into()));
            p
        };
        crate::treepath::set(&mut opened.doc, &at("flag"), Value::Bool(false)).expect("set");
        crate::treepath::set(&mut opened.doc, &at("ratio"), Value::Float(2.0)).expect("set");
        let meta = seal_if_changed(true, &mut opened, format)
            .expect("seal")
            .expect("changed");
        let written = store
            .emit(&opened.doc, Some(&meta), &Default::default())
            .expect("emit");
        let back = store.load(&written).expect("load");
        let reopened = ops::open(back, &c, &OpenOptions::default()).unwrap_or_else(|e| {
            panic!("{format:?}: the written file does not open: {}", e.message)
        });
        let flag = crate::treepath::get(&reopened.doc, &at("flag")).expect("flag");
        assert_eq!(flag, &Value::str("false"), "{format:?}");
        let ratio = crate::treepath::get(&reopened.doc, &at("ratio")).expect("ratio");
        assert_eq!(ratio, &Value::str("2.0"), "{format:?}");
    }
}
