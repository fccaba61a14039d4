//! A value typed `comment` in a file without leafseal's integrity record (as sops writes
//! them): its type changed, or a ciphertext copied into a list of maps (list items share
//! a path, so it decrypts there). sops writes that type only for comments and leaves
//! such text out of the MAC: it refuses the first with exit 51 and prints the second as
//! `k: {value: …}` with exit 0. leafseal read the value as a string and printed the file
//! with exit 0 (round-16 review). Now every path (tree, streamed, direct, set) refuses
//! any value typed `comment` with 51 and prints nothing, and a large JSON file that holds
//! YAML comments as array items (sops writes them so) still decrypts without them on
//! every path (with the real sops, which writes them).

mod support;

#[path = "support/stream_env.rs"]
mod stream_env;

use stream_env::*;
use support::*;

/// The metadata without leafseal's integrity record (one line in YAML, one member in
/// JSON), as sops writes it.
fn without_record(enc: &str) -> String {
    let out: Vec<&str> = enc
        .split_inclusive('\n')
        .filter(|l| !l.contains("leafseal_integrity"))
        .collect();
    let out = out.concat();
    assert_ne!(out.len(), enc.len(), "a record was removed");
    out
}

/// `type:str]` made `type:comment]` on the first value after `key`.
fn comment_typed(enc: &str, key: &str) -> String {
    let at = enc.find(key).expect("key");
    let t = at + enc[at..].find("type:str]").expect("type");
    let mut out = enc.to_owned();
    out.replace_range(t..t + "type:str]".len(), "type:comment]");
    out
}

fn assert_refused_51(env: &Env, path: &str, what: &str) {
    for (label, out) in [
        ("tree", env.run_with("never", None, &["decrypt", path])),
        ("auto", env.run_with("auto", None, &["decrypt", path])),
        (
            "small parts",
            env.run_with("auto", Some(4096), &["decrypt", path]),
        ),
        (
            "direct",
            env.run_direct("auto", Some(4096), &["decrypt", path]),
        ),
    ] {
        assert_eq!(
            out.status.code(),
            Some(51),
            "{what} ({label}): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "{what} ({label}): printed output");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("typed as a comment"),
            "{what} ({label}): {err}"
        );
        assert!(
            !err.contains("s3cr3t"),
            "{what} ({label}): secret in the error"
        );
    }
}

fn large_yaml() -> String {
    let mut s = String::from("first: s3cr3t-first\n");
    for i in 0..6_000 {
        s.push_str(&format!(
            "k{i:05}:\n    # note {i}\n    name: service {i}\n    list:\n        # item note\n        - {i}\n"
        ));
    }
    s.push_str("last: s3cr3t-last\n");
    s
}

#[test]
fn a_value_typed_as_a_comment_fails_the_mac_on_every_path() {
    let env = Env::new(None);
    for (name, plain) in [
        (
            "small.yaml",
            "first: s3cr3t-first\nb: x\nlast: s3cr3t-last\n".to_owned(),
        ),
        (
            "small.json",
            "{\n\t\"first\": \"s3cr3t-first\",\n\t\"b\": \"x\",\n\t\"last\": \"s3cr3t-last\"\n}\n"
                .to_owned(),
        ),
        ("large.yaml", large_yaml()),
    ] {
        let path = env.write(name, plain.as_bytes());
        let enc = ok(&env.run_with("never", None, &["encrypt", "--age", AGE_RECIPIENT, &path]));
        let enc = without_record(&String::from_utf8(enc).expect("utf8"));
        let good = env.write(&format!("good-{name}"), enc.as_bytes());
        // Without the record the file still decrypts (with a warning).
        let out = env.run_with("auto", None, &["decrypt", &good]);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, plain.as_bytes(), "{name}");
        for key in ["first", "last"] {
            let bad = env.write(
                &format!("bad-{key}-{name}"),
                comment_typed(&enc, key).as_bytes(),
            );
            assert_refused_51(&env, &bad, &format!("{name}, {key}"));
            // `set` elsewhere in the file reads it first and refuses it too.
            let before = std::fs::read(&bad).expect("read");
            let set = env.run(&["set", &bad, "[\"b\"]", "\"y\""]);
            assert_ne!(set.status.code(), Some(0), "{name}: set accepted it");
            assert_eq!(
                std::fs::read(&bad).expect("read"),
                before,
                "{name}: set wrote"
            );
        }
    }
}

#[test]
fn yaml_comments_kept_as_json_array_items_stay_comments_on_every_path() {
    let env = Env::new(None);
    let plain = large_yaml();
    let path = env.write("c.yaml", plain.as_bytes());
    // sops keeps them (leafseal drops comments when it writes JSON).
    let Some(sops) = sops_binary() else {
        return;
    };
    let enc = std::process::Command::new(sops)
        .env_clear()
        .envs(&env.vars)
        .current_dir(env.work.path())
        .args([
            "encrypt",
            "--age",
            AGE_RECIPIENT,
            "--output-type",
            "json",
            &path,
        ])
        .output()
        .expect("sops");
    let text = String::from_utf8(ok(&enc)).expect("utf8");
    assert!(text.contains("type:comment]\""), "comments are array items");
    let encp = env.write("c.enc.json", text.as_bytes());
    let tree = ok(&env.run_with("never", None, &["decrypt", &encp]));
    assert!(!String::from_utf8_lossy(&tree).contains("item note"));
    for (label, out) in [
        ("auto", env.run_with("auto", None, &["decrypt", &encp])),
        (
            "small parts",
            env.run_with("auto", Some(4096), &["decrypt", &encp]),
        ),
        (
            "direct",
            env.run_direct("auto", Some(4096), &["decrypt", &encp]),
        ),
    ] {
        assert!(out.status.success(), "{label}");
        assert!(ok(&out) == tree, "{label}: differs from the tree path");
    }
}

/// The review's case: a list item's ciphertext copied into the list as a new item with
/// its type made `comment`. Left out of the MAC it would pass and show as data.
#[test]
fn a_ciphertext_copied_into_a_list_of_maps_as_a_comment_is_refused() {
    let env = Env::new(None);
    let path = env.write("l.yaml", b"l:\n    - k: s3cr3t-A\n    - k: s3cr3t-B\n");
    let enc = ok(&env.run_with("never", None, &["encrypt", "--age", AGE_RECIPIENT, &path]));
    let enc = without_record(&String::from_utf8(enc).expect("utf8"));
    let mut lines: Vec<String> = enc.lines().map(str::to_owned).collect();
    let first = lines
        .iter()
        .position(|l| l.starts_with("    - k: ENC["))
        .expect("item");
    let copy = lines[first].replace("type:str]", "type:comment]");
    lines.insert(first + 2, copy);
    let bad = env.write("bad.yaml", (lines.join("\n") + "\n").as_bytes());
    assert_refused_51(&env, &bad, "copied list item");
    // --ignore-mac does not let it through either.
    let out = env.run(&["decrypt", "--ignore-mac", &bad]);
    assert_eq!(out.status.code(), Some(51));
    assert!(out.stdout.is_empty());
}
