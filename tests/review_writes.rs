//! The write paths of round 3 held to their invariants through the CLI (the round-4
//! review, docs/security.md): `set` compares only the changed value, but by type as well
//! as text; `unset` of a missing path is the documented error; `rotate -i FILE...` gives
//! every file a data key of its own and fresh nonces, and handles links as one file does.

mod support;

use std::collections::HashMap;
use std::path::Path;

use support::*;

fn encrypted(vars: &HashMap<String, String>, dir: &Path, name: &str, plain: &str) {
    std::fs::write(dir.join(name), plain).expect("write");
    let o = run_in(vars, dir, &["encrypt", "-i", "--age", AGE_RECIPIENT, name]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).expect("read")
}

fn decrypt(vars: &HashMap<String, String>, dir: &Path, name: &str) -> String {
    let o = run_in(vars, dir, &["decrypt", name]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).expect("utf8")
}

/// The `ENC[...]` values of a file's text, in order (the MAC aside).
fn enc_values(text: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(text)
        .lines()
        .filter(|l| !l.trim_start().starts_with("mac:"))
        .filter_map(|l| l.find("ENC[").map(|at| l[at..].to_owned()))
        .collect()
}

/// The nonce (`iv:` field) of an `ENC[...]` value.
fn iv(v: &str) -> &str {
    let at = v.find(",iv:").expect("iv") + 4;
    &v[at..at + 44]
}

#[test]
fn set_writes_only_a_change_of_value_or_type() {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let (vars, d) = (env_vars(None, home.path()), dir.path());
    encrypted(
        &vars,
        d,
        "s.yaml",
        "i: 1\ns: \"1\"\nb: true\nf: 1.5\nnothing: null\nm:\n    k: v\n",
    );
    let set = |path: &str, value: &str| run_in(&vars, d, &["set", "s.yaml", path, value]);
    // The same value with the same type: nothing is written (not even lastmodified).
    for (path, value) in [
        (r#"["s"]"#, r#""1""#),
        (r#"["b"]"#, "true"),
        (r#"["f"]"#, "1.5"),
        (r#"["nothing"]"#, "null"),
        (r#"["m"]"#, r#"{"k": "v"}"#),
        (r#"["m"]["k"]"#, r#""v""#),
    ] {
        let before = read(d, "s.yaml");
        let o = set(path, value);
        assert!(o.status.success(), "{path}");
        assert_eq!(read(d, "s.yaml"), before, "{path} = {value}: no write");
    }
    // The same text with another type is a change: the value and its `type:` change.
    for (path, value, shown) in [
        (r#"["s"]"#, "1", "s: 1\n"),
        (r#"["b"]"#, r#""true""#, "b: \"true\"\n"),
        (r#"["nothing"]"#, r#""null""#, "nothing: \"null\"\n"),
        (r#"["i"]"#, r#""1""#, "i: \"1\"\n"),
    ] {
        let before = read(d, "s.yaml");
        let o = set(path, value);
        assert!(o.status.success(), "{path}");
        let after = read(d, "s.yaml");
        assert_ne!(after, before, "{path} = {value}: written");
        let plain = decrypt(&vars, d, "s.yaml");
        assert!(plain.contains(shown), "{path} = {value}:\n{plain}");
        // Every other ciphertext stays (a null was not encrypted before).
        let (b, a) = (enc_values(&before), enc_values(&after));
        let kept = b.iter().filter(|v| a.contains(v)).count();
        assert!(
            kept + 1 >= b.len() && kept + 1 >= a.len(),
            "{path} = {value}"
        );
    }
    // unset of a missing path: exit 1, the file untouched; --idempotent: exit 0.
    let before = read(d, "s.yaml");
    let o = run_in(&vars, d, &["unset", "s.yaml", r#"["nope"]"#]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("the path was not found"));
    assert_eq!(read(d, "s.yaml"), before);
    let o = run_in(
        &vars,
        d,
        &["unset", "--idempotent", "s.yaml", r#"["m"]["nope"]"#],
    );
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(read(d, "s.yaml"), before);
}

#[test]
fn rotating_several_files_gives_each_its_own_data_key_and_fresh_nonces() {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let (vars, d) = (env_vars(None, home.path()), dir.path());
    let plain = "a: same\nb:\n    c: same\n    d:\n        - 1\n        - 2\n";
    encrypted(&vars, d, "one.yaml", plain);
    // A byte copy: the same data key and nonces before the rotation.
    std::fs::copy(d.join("one.yaml"), d.join("two.yaml")).expect("copy");
    // A file named through a symbolic link, a file with a second hard link, a file that
    // fails (not encrypted).
    encrypted(&vars, d, "three.yaml", plain);
    std::os::unix::fs::symlink("three.yaml", d.join("sym.yaml")).expect("symlink");
    encrypted(&vars, d, "four.yaml", plain);
    std::fs::hard_link(d.join("four.yaml"), d.join("hard.yaml")).expect("link");
    std::fs::write(d.join("plain.yaml"), "x: 1\n").expect("write");
    let before: Vec<Vec<u8>> = ["one.yaml", "two.yaml", "three.yaml", "four.yaml"]
        .iter()
        .map(|n| read(d, n))
        .collect();
    // A hard-linked file is refused alone as in a list (exit 3), and left as it was.
    let single = run_in(&vars, d, &["rotate", "-i", "hard.yaml"]);
    assert_eq!(single.status.code(), Some(3));
    let o = run_in(
        &vars,
        d,
        &[
            "rotate",
            "-i",
            "hard.yaml",
            "one.yaml",
            "two.yaml",
            "plain.yaml",
            "sym.yaml",
        ],
    );
    // The first failure's code; every failure named; the failing files left as they were.
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("hard.yaml") && err.contains("plain.yaml"),
        "{err}"
    );
    assert_eq!(read(d, "plain.yaml"), b"x: 1\n");
    assert_eq!(read(d, "hard.yaml"), before[3]);
    assert_eq!(read(d, "four.yaml"), before[3]);
    let mut all_ivs: Vec<String> = before
        .iter()
        .flat_map(|b| enc_values(b))
        .map(|v| iv(&v).to_owned())
        .collect();
    all_ivs.sort_unstable();
    all_ivs.dedup();
    let old_ivs = all_ivs.len();
    let mut fresh = 0;
    for n in ["one.yaml", "two.yaml", "three.yaml"] {
        assert_eq!(decrypt(&vars, d, n), plain, "{n}");
        for v in enc_values(&read(d, n)) {
            all_ivs.push(iv(&v).to_owned());
            fresh += 1;
        }
    }
    // No nonce of a rotated file repeats one from before or from another file.
    all_ivs.sort_unstable();
    all_ivs.dedup();
    assert_eq!(all_ivs.len(), old_ivs + fresh);
    // The symbolic link still names the third file, which was rotated through it.
    let link = std::fs::symlink_metadata(d.join("sym.yaml")).expect("meta");
    assert!(link.file_type().is_symlink());
    assert_ne!(read(d, "three.yaml"), before[2]);
    // The copies no longer share a data key: a value moved from one into the other (same
    // path, so the same AAD) does not decrypt, even with --ignore-mac.
    let one = String::from_utf8(read(d, "one.yaml")).expect("utf8");
    let two = String::from_utf8(read(d, "two.yaml")).expect("utf8");
    let a1 = &enc_values(one.as_bytes())[0];
    let a2 = &enc_values(two.as_bytes())[0];
    std::fs::write(d.join("moved.yaml"), two.replacen(a2.as_str(), a1, 1)).expect("write");
    let o = run_in(&vars, d, &["decrypt", "--ignore-mac", "moved.yaml"]);
    assert_ne!(o.status.code(), Some(0), "the data keys differ");
    assert!(o.stdout.is_empty());
    // Control: before the rotation the copies shared their key, so the same move worked.
    let b1 = &enc_values(&before[0])[0];
    let old_two = String::from_utf8(before[1].clone()).expect("utf8");
    let b2 = &enc_values(&before[1])[0];
    assert_eq!(b1, b2);
    std::fs::write(d.join("same.yaml"), old_two.replacen(b2.as_str(), b1, 1)).expect("write");
    let o = run_in(&vars, d, &["decrypt", "--ignore-mac", "same.yaml"]);
    assert_eq!(o.status.code(), Some(0));
}
