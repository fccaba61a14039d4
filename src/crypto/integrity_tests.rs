use super::*;
use crate::tree::Map;

fn key() -> DataKey {
    DataKey::from_slice(&[7u8; 32]).expect("32 bytes")
}

const ENC: &str = "ENC[AES256_GCM,data:AAAA,iv:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]";

fn binding() -> Binding<'static> {
    Binding {
        selector_field: "unencrypted_suffix",
        selector_pattern: "_unencrypted",
        mac_only_encrypted: false,
        lastmodified: "2026-01-01T00:00:00Z",
        mac: "ENC[AES256_GCM,data:mac]",
    }
}

fn sample() -> Document {
    let mut db = Map::new();
    db.push("host_unencrypted", Value::str("db.internal"));
    db.push("port_unencrypted", Value::Int(5432));
    db.push("password", Value::str(ENC));
    let mut m = Map::new();
    m.push("db", Value::Map(db));
    m.push(
        "list",
        Value::Seq(vec![
            SeqItem::Value(Value::str(ENC)),
            SeqItem::Value(Value::Int(1)),
        ]),
    );
    Document::single(m)
}

type Mutation = Box<dyn Fn(&mut Document)>;

fn verified(doc: &Document, b: &Binding<'_>, stored: &str) -> Status {
    verify(Some(stored), doc, b, &key())
}

/// The record an earlier leafseal wrote (v1: the binding first; v2: HMAC-SHA-256).
fn compute_in(version: Version, doc: &Document, b: &Binding<'_>, k: &DataKey) -> String {
    stored_text(version, b.mac, &tag_of(doc, b, k, version))
}

/// The records of `sample()` in every version: what is written now (v3), v2 and v1.
fn all_records() -> [String; 3] {
    [
        compute(&sample(), &binding(), &key()),
        compute_in(Version::V2, &sample(), &binding(), &key()),
        compute_in(Version::V1, &sample(), &binding(), &key()),
    ]
}

#[test]
fn a_record_verifies_and_every_structural_change_is_caught() {
    let [v3, v2, v1] = all_records();
    assert!(v3.starts_with("v3:"), "{v3}");
    assert!(v2.starts_with("v2:"), "{v2}");
    assert!(v1.starts_with("v1:"), "{v1}");
    // Three subkeys, two layouts and two keyed hashes: the tags differ.
    assert_ne!(v3[2..], v2[2..]);
    assert_ne!(v2[2..], v1[2..]);
    assert_ne!(v3[2..], v1[2..]);
    for rec in [v3, v2, v1] {
        every_structural_change_is_caught(&rec);
    }
}

/// The records of `sample()` as they are stored, pinned: a change of a version's layout,
/// subkey or keyed hash would leave every file written in it unverifiable.
#[test]
fn the_stored_records_of_each_version_do_not_change() {
    let [v3, v2, v1] = all_records();
    assert_eq!(
        v3,
        "v3:2f516e8aa5dd19ea:/Seunjjn10AFKn3GsRY1QYNu4E0AhtsCkGs8VlZ+ogQ="
    );
    assert_eq!(
        v2,
        "v2:2f516e8aa5dd19ea:+Yzp48P23tSm+rNu/1BglIhwIMp2gcYqHkDHYQKiSfU="
    );
    assert_eq!(
        v1,
        "v1:2f516e8aa5dd19ea:tPcv2QakcQ8oxXnkG/8BGFE+/qHbYDoe+g2jnH1EdPY="
    );
}

/// v3 is keyed BLAKE3, under a key derived from the data key with BLAKE3's own key
/// derivation, over v2's input with v3's label first.
#[test]
fn a_v3_record_is_keyed_blake3_over_the_v2_layout() {
    let doc = sample();
    let b = binding();
    let mut e = Encoder {
        mac: None,
        buf: Vec::new(),
        mac_only_encrypted: false,
        whole_ciphertexts: false,
    };
    e.bytes(b"leafseal integrity record v3");
    document(&mut e, &doc);
    trailer_v2(&mut e, &b);
    let sub = blake3::derive_key(
        "leafseal 2026-12-07 integrity record v3 keyed BLAKE3 key",
        key().expose(),
    );
    let tag = blake3::keyed_hash(&sub, &e.buf);
    let (version, _, stored) = parse(&compute(&doc, &b, &key())).expect("parses");
    assert_eq!(version, Version::V3);
    assert_eq!(&stored, tag.as_bytes());
}

fn every_structural_change_is_caught(rec: &str) {
    let doc = sample();
    assert_eq!(verified(&doc, &binding(), rec), Status::Valid);

    let mutations: Vec<(&str, Mutation)> = vec![
        (
            "empty string key added",
            Box::new(|d| d.branches[0].push("x", Value::str(""))),
        ),
        (
            "null key added",
            Box::new(|d| d.branches[0].push("x", Value::Null)),
        ),
        (
            "empty map added",
            Box::new(|d| d.branches[0].push("x", Value::Map(Map::new()))),
        ),
        (
            "empty list added",
            Box::new(|d| d.branches[0].push("x", Value::Seq(vec![]))),
        ),
        (
            "null appended to a list",
            Box::new(|d| {
                if let Some(Value::Seq(s)) = d.branches[0].get_mut("list") {
                    s.push(SeqItem::Value(Value::Null));
                }
            }),
        ),
        (
            "clear values re-split",
            Box::new(|d| {
                if let Some(Value::Map(db)) = d.branches[0].get_mut("db") {
                    *db.get_mut("host_unencrypted").expect("host") = Value::str("db.internal5");
                    *db.get_mut("port_unencrypted").expect("port") = Value::Int(432);
                }
            }),
        ),
        (
            "type of an encrypted value changed",
            Box::new(|d| {
                if let Some(Value::Map(db)) = d.branches[0].get_mut("db") {
                    *db.get_mut("password").expect("pw") =
                        Value::str(ENC.replace("type:str", "type:int"));
                }
            }),
        ),
        ("entries reordered", Box::new(|d| d.branches[0].0.reverse())),
        (
            "key renamed",
            Box::new(|d| {
                if let Some(crate::tree::Item::Entry(k, _)) = d.branches[0].0.first_mut() {
                    k.push('x');
                }
            }),
        ),
        ("branch added", Box::new(|d| d.branches.push(Map::new()))),
        (
            "string became a number",
            Box::new(|d| {
                if let Some(Value::Map(db)) = d.branches[0].get_mut("db") {
                    *db.get_mut("port_unencrypted").expect("port") = Value::str("5432");
                }
            }),
        ),
    ];
    for (what, mutate) in mutations {
        let mut d = sample();
        mutate(&mut d);
        assert_eq!(verified(&d, &binding(), rec), Status::Mismatch, "{what}");
        // The streaming reader agrees.
        assert_eq!(
            streamed_verify(&d, &binding(), rec),
            Status::Mismatch,
            "{what}"
        );
    }
    assert_eq!(streamed_verify(&doc, &binding(), rec), Status::Valid);
}

/// [`Streamed`]'s check of `stored` for a one-branch document fed as one run of entries.
fn streamed_verify(doc: &Document, b: &Binding<'_>, stored: &str) -> Status {
    let mut s = Streamed::verifier(&key(), b, Some(stored));
    match doc.branches.as_slice() {
        [root] => s.feed(&entry_tokens(root, b.mac_only_encrypted)),
        // Not one branch: fed as a different document (what a streaming reader cannot
        // be given).
        _ => s.feed(b"?"),
    }
    s.verify(Some(stored), b)
}

#[test]
fn the_settings_and_the_binding_are_covered() {
    for rec in all_records() {
        settings_and_binding_are_covered(&rec);
    }
}

fn settings_and_binding_are_covered(rec: &str) {
    let rec = rec.to_owned();
    let doc = sample();
    let mut b = binding();
    b.selector_field = "encrypted_suffix";
    assert_eq!(verified(&doc, &b, &rec), Status::Mismatch);
    assert_eq!(streamed_verify(&doc, &b, &rec), Status::Mismatch);
    let mut b = binding();
    b.selector_pattern = "_clear";
    assert_eq!(verified(&doc, &b, &rec), Status::Mismatch);
    let mut b = binding();
    b.mac_only_encrypted = true;
    assert_eq!(verified(&doc, &b, &rec), Status::Mismatch);
    let mut b = binding();
    b.lastmodified = "2026-01-02T00:00:00Z";
    assert_eq!(verified(&doc, &b, &rec), Status::Mismatch);
    assert_eq!(streamed_verify(&doc, &b, &rec), Status::Mismatch);
    // The record of another version prefix: the same tag read in the other layout.
    let swapped = if let Some(t) = rec.strip_prefix("v2:") {
        format!("v1:{t}")
    } else {
        format!("v2:{}", &rec[3..])
    };
    assert_eq!(verified(&doc, &binding(), &swapped), Status::Mismatch);
    assert_eq!(
        streamed_verify(&doc, &binding(), &swapped),
        Status::Mismatch
    );
    // Another MAC: the record belongs to an earlier version of the file.
    let mut b = binding();
    b.mac = "ENC[AES256_GCM,data:other]";
    assert_eq!(verified(&doc, &b, &rec), Status::Stale);
    // Another data key.
    let other = DataKey::from_slice(&[8u8; 32]).expect("32 bytes");
    assert_eq!(
        verify(Some(&rec), &doc, &binding(), &other),
        Status::Mismatch
    );
}

#[test]
fn missing_stale_and_malformed_records_are_told_apart_without_the_key() {
    let rec = compute(&sample(), &binding(), &key());
    assert_eq!(status_without_key(None, binding().mac), Status::Missing);
    assert_eq!(status_without_key(Some(""), binding().mac), Status::Missing);
    assert_eq!(status_without_key(Some(&rec), binding().mac), Status::Valid);
    assert_eq!(status_without_key(Some(&rec), "ENC[other]"), Status::Stale);
    let [_, v2, v1] = all_records();
    for old in [v2, v1] {
        assert_eq!(status_without_key(Some(&old), binding().mac), Status::Valid);
        assert_eq!(status_without_key(Some(&old), "ENC[other]"), Status::Stale);
    }
    assert_eq!(
        status_without_key(Some("v3:x:y"), binding().mac),
        Status::Malformed
    );
    let v4 = format!("v4:{}", &rec[3..]);
    assert_eq!(
        status_without_key(Some(&v4), binding().mac),
        Status::Malformed
    );
    assert_eq!(
        status_without_key(Some("v1:abc:!!"), binding().mac),
        Status::Malformed
    );
}

#[test]
fn mac_only_encrypted_leaves_clear_text_editable_but_not_structure() {
    let mut b = binding();
    b.mac_only_encrypted = true;
    let rec = compute(&sample(), &b, &key());
    let mut d = sample();
    if let Some(Value::Map(db)) = d.branches[0].get_mut("db") {
        *db.get_mut("host_unencrypted").expect("host") = Value::str("db.example");
        *db.get_mut("port_unencrypted").expect("port") = Value::Int(6543);
    }
    assert_eq!(verified(&d, &b, &rec), Status::Valid);
    d.branches[0].push("x", Value::Null);
    assert_eq!(verified(&d, &b, &rec), Status::Mismatch);
}

#[test]
fn deep_nesting_does_not_recurse() {
    let mut v = Value::Null;
    for _ in 0..100_000 {
        v = Value::Seq(vec![SeqItem::Value(v)]);
    }
    let mut m = Map::new();
    m.push("deep", v);
    let doc = Document::single(m);
    let rec = compute(&doc, &binding(), &key());
    assert_eq!(verified(&doc, &binding(), &rec), Status::Valid);
    // Dropping a 100,000-level tree recurses in Drop; leak it in this test.
    std::mem::forget(doc);
}

#[test]
fn encrypted_comments_stored_as_list_items_are_comments_here_too() {
    let comment = ENC.replace("type:str", "type:comment");
    let mut with = sample();
    if let Some(Value::Seq(s)) = with.branches[0].get_mut("list") {
        s.insert(1, SeqItem::Value(Value::str(comment.as_str())));
    }
    let rec = compute(&sample(), &binding(), &key());
    assert_eq!(verified(&with, &binding(), &rec), Status::Valid);
}

#[test]
fn a_record_streamed_in_parts_is_the_record_of_the_whole() {
    let doc = sample();
    let b = binding();
    // The root's entries in two runs, the second one's map value opened as an entry
    // whose entries follow in parts (as the streaming writer feeds them).
    let root = &doc.branches[0];
    let mut first = Map::new();
    let mut db = Map::new();
    for (k, v) in root.entries() {
        match v {
            Value::Map(m) if k == "db" => db = m.clone(),
            other => first.push(k, other.clone()),
        }
    }
    let mut s = Streamed::new(&key(), b.mac_only_encrypted);
    s.open_map_entry("db");
    let mut half = Map::new();
    let mut rest = Map::new();
    for (i, (k, v)) in db.entries().enumerate() {
        if i < 2 {
            half.push(k, v.clone());
        } else {
            rest.push(k, v.clone());
        }
    }
    s.feed(&entry_tokens(&half, false));
    s.feed(&entry_tokens(&rest, false));
    s.close_map();
    s.feed(&entry_tokens(&first, false));
    assert_eq!(s.record(&b), compute(&doc, &b, &key()));
}

/// A record to write resumed from a checkpoint of the verifier of `stored` (as a splice
/// resumes it): the same record, in `stored`'s version, as one fed from the start.
fn resumed_and_whole(
    stored: &str,
    runs: &[Vec<u8>],
    replaced: &[u8],
    at: usize,
    b: &Binding<'_>,
) -> (String, String) {
    let mut whole = Streamed::verifier(&key(), b, Some(stored));
    let mut opened = Streamed::verifier(&key(), b, Some(stored));
    let mut at_checkpoint = None;
    for (i, run) in runs.iter().enumerate() {
        let feed = if i == at { replaced } else { run.as_slice() };
        if i == at {
            at_checkpoint = opened.checkpoint();
        }
        whole.feed(feed);
        opened.feed(run);
    }
    let mut resumed = at_checkpoint.expect("a v2 or v3 record has checkpoints");
    resumed.feed(replaced);
    for run in &runs[at + 1..] {
        resumed.feed(run);
    }
    (resumed.record(b), whole.record(b))
}

#[test]
fn a_v1_record_has_no_checkpoint_and_v2_and_v3_ones_do() {
    let [v3, v2, v1] = all_records();
    let b = binding();
    assert!(
        Streamed::verifier(&key(), &b, Some(&v1))
            .checkpoint()
            .is_none()
    );
    for rec in [v3, v2] {
        assert!(
            Streamed::verifier(&key(), &b, Some(&rec))
                .checkpoint()
                .is_some()
        );
    }
    assert!(Streamed::new(&key(), false).checkpoint().is_some());
}

#[test]
fn a_record_streamed_equals_the_tree_record_and_older_files_still_verify_streamed() {
    let doc = sample();
    let b = binding();
    let tokens = entry_tokens(&doc.branches[0], false);
    let mut s = Streamed::new(&key(), false);
    // Fed in pieces across the encoder's flush size.
    for chunk in tokens.chunks(3) {
        s.feed(chunk);
    }
    let rec = s.record(&b);
    assert!(rec.starts_with("v3:"), "{rec}");
    assert_eq!(rec, compute(&doc, &b, &key()));
    for old in all_records() {
        assert_eq!(streamed_verify(&doc, &b, &old), Status::Valid);
    }
}

proptest::proptest! {
    #[test]
    fn a_resumed_record_equals_the_whole_recompute(
        runs in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3000), 1..40),
        replaced in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3000),
        at in 0usize..40,
        lastmodified in "[0-9TZ:-]{0,25}",
    ) {
        let at = at % runs.len();
        let mut b = binding();
        b.lastmodified = &lastmodified;
        let [v3, v2, _] = all_records();
        for (stored, version) in [(v3, "v3:"), (v2, "v2:")] {
            let (resumed, whole) = resumed_and_whole(&stored, &runs, &replaced, at, &b);
            proptest::prop_assert!(resumed.starts_with(version));
            proptest::prop_assert_eq!(resumed, whole);
        }
    }
}

#[test]
fn a_resumed_record_over_large_runs_equals_the_whole_recompute() {
    // Runs larger than the encoder's flush size, so the checkpoint flushes a full buffer.
    let runs: Vec<Vec<u8>> = (0u8..6)
        .map(|i| vec![i; FLUSH_AT / 2 + 777 * usize::from(i)])
        .collect();
    for stored in &all_records()[..2] {
        for at in 0..runs.len() {
            let (resumed, whole) =
                resumed_and_whole(stored, &runs, &vec![9u8; FLUSH_AT + 5], at, &binding());
            assert_eq!(resumed, whole, "{stored}: changed run {at}");
        }
    }
}
