//! Tests of document encryption and decryption.

use super::*;
use crate::tree::Comment;
use crate::tree::Map;
use crate::tree::SeqItem;

fn sample() -> Document {
    let mut m = Map::new();
    m.push_comment(Comment::line(" hello"));
    m.push("s", Value::str("secret"));
    m.push("i", Value::Int(-42));
    m.push("f", Value::Float(1.5));
    m.push("b", Value::Bool(true));
    m.push("e", Value::str(""));
    m.push("n", Value::Null);
    m.push("x_unencrypted", Value::Int(5));
    m.push(
        "l",
        Value::Seq(vec![
            SeqItem::Value(Value::str("a")),
            SeqItem::Value(Value::Int(1)),
        ]),
    );
    Document::single(m)
}

/// A document large enough for the parallel path, with comments, lists and clear values.
fn big() -> Document {
    let mut services = Map::new();
    for i in 0..5000 {
        let mut svc = Map::new();
        if i % 7 == 0 {
            svc.push_comment(Comment::line(format!(" service {i}")));
        }
        svc.push("name", Value::str(format!("svc-{i}")));
        svc.push("port", Value::Int(i));
        svc.push("ratio_unencrypted", Value::Float(i as f64 / 3.0));
        svc.push(
            "tags",
            Value::Seq(vec![
                SeqItem::Value(Value::str("same")),
                SeqItem::Value(Value::str("same")),
            ]),
        );
        services.push(format!("s{i}"), Value::Map(svc));
    }
    let mut top = Map::new();
    top.push("version", Value::Int(3));
    top.push("services", Value::Map(services));
    top.push("tail", Value::str("end"));
    Document::single(top)
}

#[test]
fn mac_chunks_keep_every_byte_in_order_without_reallocating() {
    let mut c = MacChunks::default();
    let mut all = Vec::new();
    for i in 0..5000u32 {
        let piece: Vec<u8> = (0..(i % 97) * 3).map(|j| (i + j) as u8).collect();
        c.extend(&piece);
        all.extend_from_slice(&piece);
    }
    assert!(c.0.len() > 2, "several chunks");
    assert!(c.0.iter().all(|ch| ch.capacity() == MacChunks::CHUNK));
    let joined: Vec<u8> = c.0.iter().flat_map(|ch| ch.iter().copied()).collect();
    assert_eq!(joined, all);
}

#[test]
fn parallel_decryption_equals_sequential() {
    let key = DataKey::generate().expect("rng");
    let sel = Selector::default();
    for mac_only in [false, true] {
        let mut enc = big();
        let mac = encrypt_document(&mut enc, &key, &sel, mac_only, None).expect("enc");
        let (mut a, mut b) = (enc.clone(), enc.clone());
        let (mut sa, mut sb) = (NonceStash::new(), NonceStash::new());
        let cipher = ValueCipher::new(&key);
        let pa = parallel::decrypt(&mut a, &cipher, &sel, mac_only, true, 2)
            .expect("parallel path taken")
            .expect("decrypts");
        sa.append(pa.1.expect("stash"));
        let sb_out =
            decrypt_sequential(&mut b, &cipher, &sel, mac_only, Some(&mut sb)).expect("decrypts");
        assert_eq!(pa.0.mac, mac);
        assert_eq!(sb_out.mac, mac);
        assert_eq!(a, big());
        assert_eq!(b, big());
        assert!(sa == sb, "same stash in the same order");
    }
}

#[test]
fn parallel_decryption_reports_the_failing_path() {
    let key = DataKey::generate().expect("rng");
    let sel = Selector::default();
    let mut enc = big();
    encrypt_document(&mut enc, &key, &sel, false, None).expect("enc");
    let Some(Value::Map(services)) = enc.branches[0].get_mut("services") else {
        panic!("services")
    };
    let Some(Value::Map(svc)) = services.get_mut("s4321") else {
        panic!("s4321")
    };
    *svc.get_mut("port").expect("port") = Value::Int(1);
    let err = decrypt_document(&mut enc, &key, &sel, false, None).expect_err("tampered");
    assert!(
        matches!(err, DocumentError::NotEncrypted { ref path, .. } if path == "services:s4321:port:"),
        "{err}"
    );
}

#[test]
fn round_trip_and_mac_agree() {
    let key = DataKey::generate().expect("rng");
    let sel = Selector::default();
    let mut doc = sample();
    let mac1 = encrypt_document(&mut doc, &key, &sel, false, None).expect("enc");
    let m = &doc.branches[0];
    assert!(
        m.get("s")
            .and_then(Value::as_str)
            .is_some_and(value::is_encrypted)
    );
    assert_eq!(m.get("e"), Some(&Value::str("")));
    assert_eq!(m.get("x_unencrypted"), Some(&Value::Int(5)));
    let mut stash = NonceStash::new();
    let dec = decrypt_document(&mut doc, &key, &sel, false, Some(&mut stash)).expect("dec");
    assert_eq!(dec.mac, mac1);
    assert_eq!(doc, sample());
    // Re-encrypting with the stash reproduces the same ciphertext.
    let mut a = sample();
    let mut b = sample();
    encrypt_document(&mut a, &key, &sel, false, Some(&stash)).expect("enc");
    encrypt_document(&mut b, &key, &sel, false, Some(&stash)).expect("enc");
    assert_eq!(a, b);
}

#[test]
fn moved_value_fails() {
    let key = DataKey::generate().expect("rng");
    let sel = Selector::default();
    let mut doc = sample();
    encrypt_document(&mut doc, &key, &sel, false, None).expect("enc");
    let s = doc.branches[0].get("s").cloned().expect("s");
    *doc.branches[0].get_mut("i").expect("i") = s;
    let err = decrypt_document(&mut doc, &key, &sel, false, None).expect_err("must fail");
    assert!(matches!(err, DocumentError::Value { ref path, .. } if path == "i:"));
}

#[test]
fn clear_value_where_encrypted_expected_fails() {
    let key = DataKey::generate().expect("rng");
    let sel = Selector::default();
    let mut doc = sample();
    encrypt_document(&mut doc, &key, &sel, false, None).expect("enc");
    *doc.branches[0].get_mut("i").expect("i") = Value::Int(7);
    let err = decrypt_document(&mut doc, &key, &sel, false, None).expect_err("must fail");
    assert!(matches!(err, DocumentError::NotEncrypted { .. }));
}

#[test]
fn mac_only_encrypted_ignores_clear_values() {
    let key = DataKey::generate().expect("rng");
    let sel = Selector::default();
    let mut a = sample();
    let mut b = sample();
    *b.branches[0].get_mut("x_unencrypted").expect("x") = Value::Int(6);
    let ma = encrypt_document(&mut a, &key, &sel, true, None).expect("enc");
    let mb = encrypt_document(&mut b, &key, &sel, true, None).expect("enc");
    assert_eq!(ma, mb);
    let mut c = sample();
    let mut d = sample();
    *d.branches[0].get_mut("x_unencrypted").expect("x") = Value::Int(6);
    let mc = encrypt_document(&mut c, &key, &sel, false, None).expect("enc");
    let md = encrypt_document(&mut d, &key, &sel, false, None).expect("enc");
    assert_ne!(mc, md);
}

/// `big` with its services in a list: runs of one list share AADs.
fn big_list() -> Document {
    let mut doc = big();
    let Some(Value::Map(services)) = doc.branches[0].get("services").cloned() else {
        panic!("services")
    };
    let items = services
        .0
        .into_iter()
        .filter_map(|it| match it {
            crate::tree::Item::Entry(_, v) => Some(SeqItem::Value(v)),
            crate::tree::Item::Comment(_) => None,
        })
        .collect();
    *doc.branches[0].get_mut("services").expect("services") = Value::Seq(items);
    doc
}

#[test]
fn parallel_encryption_with_the_stash_equals_sequential() {
    let key = DataKey::generate().expect("rng");
    let sel = Selector::default();
    let cipher = ValueCipher::new(&key);
    for mac_only in [false, true] {
        // Fresh nonces everywhere, then the stash of every value's nonce.
        let mut enc = big();
        let mac = encrypt_document(&mut enc, &key, &sel, mac_only, None).expect("enc");
        let mut plain = enc.clone();
        let mut stash = NonceStash::new();
        let dec =
            decrypt_document(&mut plain, &key, &sel, mac_only, Some(&mut stash)).expect("dec");
        assert_eq!(dec.mac, mac);
        assert_eq!(plain, big());
        // Both paths reproduce every ciphertext (repeated list items included) and the MAC.
        let mut a = big();
        let ma = encrypt::encrypt_parallel(&mut a, &cipher, &sel, mac_only, Some(&stash), 2)
            .expect("parallel path taken")
            .expect("enc");
        let mut b = big();
        let mb = encrypt::encrypt_sequential(&mut b, &cipher, &sel, mac_only, Some(&stash))
            .expect("enc");
        assert_eq!(ma, mac);
        assert_eq!(mb, mac);
        assert!(a == enc, "parallel encryption keeps every ciphertext");
        assert!(b == enc, "sequential encryption keeps every ciphertext");
    }
}

#[test]
fn parallel_encryption_of_a_large_list_needs_no_stash_to_round_trip() {
    let key = DataKey::generate().expect("rng");
    let sel = Selector::default();
    let cipher = ValueCipher::new(&key);
    let mut enc = big_list();
    let mut stash = NonceStash::new();
    // With a stash, runs of one list could hand out a shared value's nonces out of walk
    // order: the parallel path declines.
    assert!(encrypt::encrypt_parallel(&mut enc, &cipher, &sel, false, Some(&stash), 2).is_none());
    assert!(enc == big_list(), "nothing was done");
    let mac = encrypt::encrypt_parallel(&mut enc, &cipher, &sel, false, None, 2)
        .expect("parallel path taken")
        .expect("enc");
    let mut plain = enc.clone();
    let dec = decrypt_document(&mut plain, &key, &sel, false, Some(&mut stash)).expect("dec");
    assert_eq!(dec.mac, mac);
    assert!(plain == big_list());
    // Through the public entry point (sequential with the stash), every ciphertext stays.
    let mut again = big_list();
    let m2 = encrypt_document(&mut again, &key, &sel, false, Some(&stash)).expect("enc");
    assert_eq!(m2, mac);
    assert!(again == enc);
}

#[test]
fn fresh_nonces_are_never_handed_out_twice() {
    let mut src = encrypt::NonceSource::new();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..1000 {
        assert!(seen.insert(src.next().expect("rng")));
    }
}

#[test]
fn parallel_encryption_with_the_stash_declines_keys_with_colons() {
    let key = DataKey::generate().expect("rng");
    let sel = Selector::default();
    let cipher = ValueCipher::new(&key);
    let stash = NonceStash::new();
    // `a:b` at the top and `b` under `a` share the AAD `a:b:`.
    let mut doc = big();
    doc.branches[0].push("services:s1", Value::str("x"));
    assert!(encrypt::encrypt_parallel(&mut doc, &cipher, &sel, false, Some(&stash), 2).is_none());
    let mut doc = big();
    let Some(Value::Map(services)) = doc.branches[0].get_mut("services") else {
        panic!("services")
    };
    services.push("s1:name", Value::str("x"));
    assert!(encrypt::encrypt_parallel(&mut doc, &cipher, &sel, false, Some(&stash), 2).is_none());
    assert!(encrypt::encrypt_parallel(&mut doc, &cipher, &sel, false, None, 2).is_some());
}

#[test]
fn the_core_count_is_asked_for_only_above_the_split_threshold() {
    // A small document never asks (the lookup reads cgroup files at start-up).
    let never = || -> usize { panic!("the core count was asked for a small document") };
    assert_eq!(parallel::threads_for(&sample(), 8, never), 1);
    let mut two = sample();
    two.branches.push(Map::new());
    assert_eq!(parallel::threads_for(&two, 8, never), 1);
    // A large one asks once, and is capped.
    let asked = std::cell::Cell::new(0);
    let cores = || {
        asked.set(asked.get() + 1);
        16
    };
    assert_eq!(parallel::threads_for(&big(), 8, cores), 8);
    assert_eq!(asked.get(), 1);
}
