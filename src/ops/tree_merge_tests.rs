#![allow(clippy::unwrap_used)]
use super::*;
use crate::format::EmitOptions;
use crate::format::Store;
use crate::format::yaml::YamlStore;

fn doc(y: &str) -> Document {
    YamlStore.load(y.as_bytes()).expect("test setup").doc
}

fn yaml(d: &Document) -> String {
    String::from_utf8(
        YamlStore
            .emit(d, None, &EmitOptions::default())
            .expect("test setup")
            .to_vec(),
    )
    .expect("test setup")
}

fn merged(b: &str, o: &str, t: &str) -> String {
    yaml(&merge_documents(Some(&doc(b)), &doc(o), &doc(t)).expect("test setup"))
}

fn conflicts(b: &str, o: &str, t: &str) -> Vec<Conflict> {
    merge_documents(Some(&doc(b)), &doc(o), &doc(t)).unwrap_err()
}

const BASE: &str =
    "db:\n    user: app\n    password: old\napi:\n    token: t0\nlist:\n    - a\n    - b\n";

#[test]
fn changes_on_different_keys_combine() {
    let o = BASE.replace("password: old", "password: new");
    let t = BASE.replace("token: t0", "token: t1");
    assert_eq!(
        merged(BASE, &o, &t),
        "db:\n    user: app\n    password: new\napi:\n    token: t1\nlist:\n    - a\n    - b\n"
    );
}

#[test]
fn same_change_on_both_sides_is_fine() {
    let o = BASE.replace("password: old", "password: same");
    assert_eq!(merged(BASE, &o, &o), o);
}

#[test]
fn additions_and_deletions() {
    // theirs adds a key after `user`, ours deletes `api`.
    let o = "db:\n    user: app\n    password: old\nlist:\n    - a\n    - b\n";
    let t = BASE.replace("    user: app\n", "    user: app\n    port: 5432\n");
    assert_eq!(
        merged(BASE, o, &t),
        "db:\n    user: app\n    port: 5432\n    password: old\nlist:\n    - a\n    - b\n"
    );
    // Both add the same new key with the same value: fine; a new top-level key lands
    // where theirs put it.
    let o = format!("first: 1\n{BASE}");
    let t = format!("first: 1\n{BASE}extra: x\n");
    assert_eq!(merged(BASE, &o, &t), format!("first: 1\n{BASE}extra: x\n"));
}

#[test]
fn conflicts_name_paths_only() {
    let o = BASE.replace("password: old", "password: mine");
    let t = BASE.replace("password: old", "password: yours");
    let c = conflicts(BASE, &o, &t);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].path, r#"["db"]["password"]"#);
    assert!(!format!("{c:?}").contains("mine") && !format!("{c:?}").contains("yours"));
    // delete vs change
    let o = BASE.replace("    token: t0\n", "    other: 1\n");
    let t = BASE.replace("token: t0", "token: t9");
    let c = conflicts(BASE, &o, &t);
    assert_eq!(c[0].path, r#"["api"]["token"]"#);
    assert_eq!(c[0].why, "deleted on one side and changed on the other");
    // different additions
    let o = format!("{BASE}new: 1\n");
    let t = format!("{BASE}new: 2\n");
    assert_eq!(conflicts(BASE, &o, &t)[0].path, r#"["new"]"#);
}

#[test]
fn lists_are_one_value() {
    let o = BASE.replace("    - a\n", "    - a0\n");
    let t = BASE.replace("    - b\n", "    - b0\n");
    let c = conflicts(BASE, &o, &t);
    assert_eq!(c[0].path, r#"["list"]"#);
    // One side only: taken whole.
    assert_eq!(merged(BASE, &o, BASE), o);
}

#[test]
fn comments_follow_the_side_that_changed_them() {
    let b = "# about db\ndb: 1\napi: 2\n";
    let o = "# about db (ours)\ndb: 1\napi: 2\n";
    let t = "# about db\ndb: 1\n# about api\napi: 3\n";
    assert_eq!(
        merged(b, o, t),
        "# about db (ours)\ndb: 1\n# about api\napi: 3\n"
    );
    let t2 = "# about db (theirs)\ndb: 1\napi: 2\n";
    let c = conflicts(b, o, t2);
    assert_eq!(c[0].path, r#"["db"] (comments above it)"#);
}

#[test]
fn documents_merge_by_index() {
    let b = "a: 1\n---\nb: 1\n";
    let o = "a: 2\n---\nb: 1\n";
    let t = "a: 1\n---\nb: 2\n";
    assert_eq!(merged(b, o, t), "a: 2\n---\nb: 2\n");
    let c = conflicts(b, "a: 1\n---\nb: 3\n", t);
    assert_eq!(c[0].path, r#"document 2: ["b"]"#);
}

#[test]
fn add_add_without_base() {
    let o = doc("a: 1\nb: 2\n");
    let t = doc("a: 1\nc: 3\n");
    assert_eq!(
        yaml(&merge_documents(None, &o, &t).expect("test setup")),
        "a: 1\nb: 2\nc: 3\n"
    );
    let t = doc("a: 9\n");
    assert_eq!(
        merge_documents(None, &o, &t).unwrap_err()[0].path,
        r#"["a"]"#
    );
}

#[test]
fn floats_compare_by_bits() {
    assert!(same_value(&Value::Float(f64::NAN), &Value::Float(f64::NAN)));
    assert!(!same_value(&Value::Float(0.0), &Value::Float(-0.0)));
}

/// The round-18 review: ours inserted a document before the one theirs changed, and
/// theirs' new key landed in ours' new document (another Secret, another namespace).
#[test]
fn a_change_in_the_number_of_documents_is_a_conflict() {
    let b = "name: a\n---\nname: b\n";
    let o = "name: c\n---\nname: a\n---\nname: b\n";
    let t = "name: a\nnewkey: x\n---\nname: b\n";
    let c = conflicts(b, o, t);
    assert_eq!(c.len(), 1);
    assert!(c[0].why.contains("number of documents"), "{c:?}");
    // A document deleted on one side.
    assert!(!conflicts(b, "name: a\n", "name: a\n---\nname: B\n").is_empty());
    // The same number of documents still merges by position.
    assert_eq!(
        merged(b, "name: A\n---\nname: b\n", "name: a\n---\nname: B\n"),
        "name: A\n---\nname: B\n"
    );
}

#[test]
fn keys_only_theirs_added_follow_their_predecessor_after_ours_additions() {
    let b = "a: 1\nb: 1\nz: 1\n";
    let o = "o0: 1\na: 1\no1: 1\nb: 1\nz: 1\n";
    let t = "t0: 1\na: 1\nt1: 1\nt2: 1\nb: 1\nt3: 1\nz: 1\nt4: 1\n";
    assert_eq!(
        merged(b, o, t),
        "o0: 1\nt0: 1\na: 1\no1: 1\nt1: 1\nt2: 1\nb: 1\nt3: 1\nz: 1\nt4: 1\n"
    );
}

/// The review's hostile file: theirs adds 160,000 keys. A linear search per key took 86 s
/// (release build); the merge is now in proportion to the maps' size.
#[test]
fn a_merge_of_a_huge_map_takes_time_in_proportion_to_it() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let n = 160_000;
        let mut b = Map::new();
        b.push("k", Value::str("v"));
        let mut o = b.clone();
        o.push("k", Value::str("w"));
        o.0.remove(0);
        let mut t = b.clone();
        for i in 0..n {
            t.push(format!("n{i}"), Value::str(""));
        }
        let d = |m: Map| Document { branches: vec![m] };
        let r = merge_documents(Some(&d(b)), &d(o), &d(t)).map(|m| m.branches[0].0.len());
        let _ = tx.send(r);
    });
    let r = rx
        .recv_timeout(std::time::Duration::from_secs(120))
        .expect("the merge of 160,000 keys did not end within 2 minutes");
    assert_eq!(r.expect("merged"), 160_001);
}

/// Ours deletes `b`; theirs changed the comment above it: both went silently before
/// round 18. An unchanged comment goes with its entry.
#[test]
fn a_comment_changed_above_an_entry_the_other_side_deleted_conflicts() {
    let b = "a: 1\n# keep b\nb: 2\n";
    let c = conflicts(b, "a: 1\n", "a: 1\n# do not remove b\nb: 2\n");
    assert!(c[0].why.contains("comments above it changed"), "{c:?}");
    let c = conflicts(b, "a: 1\n# do not remove b\nb: 2\n", "a: 1\n");
    assert_eq!(c.len(), 1);
    assert_eq!(merged(b, "a: 1\n", "a: 2\n# keep b\nb: 2\n"), "a: 2\n");
}
