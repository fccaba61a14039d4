//! Interop with an independent reader: the `sops-age` npm package (pinned to 4.0.2 by
//! `tests/interop/package-lock.json`) decrypts what the real `leafseal` binary writes.
//!
//! The package is installed once with `npm ci` into `<target dir>/interop-node` (reused
//! while the committed lock file is unchanged); every test then starts one `node` process
//! that decrypts all of its files (`tests/interop/sops-age-decrypt.mjs`). A missing `node`
//! or `npm`, or a failed install, FAILS these tests: they never skip.
//!
//! What sops-age 4.0.2 can and cannot read (read out of its `dist/index.js`; each point
//! is asserted below so a different version is noticed):
//! * YAML, JSON and dotenv files with age recipients in the top-level `age` list: read.
//!   INI is not supported (`Unknown SOPS file type: ini`); a binary-store file is JSON and
//!   reads as `{"data": …}` with `fileType: "json"`.
//! * The MAC is never verified: `decrypt()` ends in an empty statement
//!   `if (sops.sops.mac && sops.sops.lastmodified) ;`. Tampering that only the MAC detects
//!   (an edited clear-text value, reordered list items) goes unnoticed; tampered ciphertext
//!   or a value moved to another key is still rejected by AES-GCM with the path AAD.
//! * Key groups / Shamir are not supported: its schema requires a top-level `sops.age`
//!   array, and a file with `key_groups` has none (sops writes it that way too, spec 6.1).
//! * `type:time` values (YAML timestamps, sops ≥3.10) are rejected ("Invalid SOPS data
//!   type: time").
//! * Map keys made only of digits (`"2024": …`) are dropped from the AAD (its
//!   `path2gopath` removes every all-digit path element to skip list indices), so such
//!   values fail to decrypt ("invalid ghash tag").
//! * Multi-document YAML is rejected by its parser ("Source contains multiple documents").
//! * Numbers become JavaScript doubles: ints above 2^53 lose precision, and the float
//!   plaintexts `+Inf`, `-Inf` and `NaN` all come back as NaN (`parseFloat`).
//! * dotenv is read with the `dotenv` package, which trims keys: a key with spaces
//!   (`foo = bar` → key `foo `) gets the wrong AAD and fails to decrypt. Clear values
//!   (`_unencrypted` keys) get its quote and comment rules: `X="q"` reads `q`, `X=a#b`
//!   reads `a` (sops keeps such values verbatim).
//!
//! None of these is a leafseal deviation from the sops format (shared spec, sections 2–6).

mod support;

#[path = "interop/sops_age.rs"]
mod sops_age;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;
use serde_json::json;
use sops_age::*;
use support::*;

const YAML: &str = r#"# Application settings (this comment is encrypted)
app:
    name: leafseal
    port: 5432
    negative: -17
    ratio: 0.25
    whole_float: 1.0
    tiny: 1.0e-7
    debug: true
    verbose: false
    nothing: null
    empty: ""
    unicode: "héllo wörld — 日本語 🚀"
    clé: valeur
    key with spaces: 'single: quoted'
    multiline: |
        line one
        line two
    no_final_newline: |-
        a
        b
    # a comment inside a map
    tags:
        - alpha
        - 42
        - nested: deep
          more: [1, 2.5, true]
        - [x, y]
    empty_map: {}
    empty_list: []
public_unencrypted:
    host: example.org
    port: 8080
    enabled: true
    strings: ["yes", "123", "1.10", "null", "~", "0755", "a: b", "a #b", " lead", "tab\t", "'"]
    when: 2024-01-02T03:04:05Z
password_unencrypted: plain
"#;

fn yaml_expected() -> Value {
    json!({
        "app": {
            "name": "leafseal", "port": 5432, "negative": -17, "ratio": 0.25,
            "whole_float": 1, "tiny": 1e-7, "debug": true, "verbose": false,
            "nothing": null, "empty": "", "unicode": "héllo wörld — 日本語 🚀",
            "clé": "valeur", "key with spaces": "single: quoted",
            "multiline": "line one\nline two\n", "no_final_newline": "a\nb",
            "tags": ["alpha", 42, {"nested": "deep", "more": [1, 2.5, true]}, ["x", "y"]],
            "empty_map": {}, "empty_list": [],
        },
        "public_unencrypted": {
            "host": "example.org", "port": 8080, "enabled": true,
            "strings": ["yes", "123", "1.10", "null", "~", "0755", "a: b", "a #b", " lead", "tab\t", "'"],
            // A clear timestamp is re-emitted plain; YAML 1.2 (the `yaml` package) reads a string.
            "when": "2024-01-02T03:04:05Z",
        },
        "password_unencrypted": "plain",
    })
}

const JSON_DOC: &str = r#"{"name": "leafseal", "port": 5432, "ratio": 0.5, "float_int": 3.0,
 "big_float": 1e21, "t": true, "f": false, "n": null, "e": "",
 "u": "ünï <&> \u2028 🚀", "ctl": "\u0001\t", "ключ": "значение", "a:b": "colon key",
 "list": [1, "two", {"three": 3.75}, [null, [false]]],
 "nested": {"deep": {"x": "y", "empty": {}, "none": []}},
 "api_unencrypted": {"k": 1, "html": "<b>&</b>"}}
"#;

fn json_expected() -> Value {
    json!({
        "name": "leafseal", "port": 5432, "ratio": 0.5, "float_int": 3, "big_float": 1e21,
        "t": true, "f": false, "n": null, "e": "", "u": "ünï <&> \u{2028} 🚀",
        "ctl": "\u{1}\t", "ключ": "значение", "a:b": "colon key",
        "list": [1, "two", {"three": 3.75}, [null, [false]]],
        "nested": {"deep": {"x": "y", "empty": {}, "none": []}},
        "api_unencrypted": {"k": 1, "html": "<b>&</b>"},
    })
}

const DOTENV: &str = "DB_USER=admin\nDB_PASS=s3cr=t#not-a-comment\n# a comment\nEMPTY=\n\
MULTI=line1\\nline2\nUNICODE=日本語 ✓\nSPACES=  padded  \nTOKEN_unencrypted=visible\n";

fn dotenv_expected() -> Value {
    json!({
        "DB_USER": "admin", "DB_PASS": "s3cr=t#not-a-comment", "EMPTY": "",
        "MULTI": "line1\nline2", "UNICODE": "日本語 ✓", "SPACES": "  padded  ",
        "TOKEN_unencrypted": "visible",
    })
}

#[test]
fn sops_age_decrypts_what_leafseal_writes() {
    let w = Work::new();
    let regex_plain = "user: alice\npassword: hunter2\ndb:\n    password: s3cret\n    port: 5432\n";
    let binary_plain = "raw bytes\nwith ünïcode\n\tand no final newline";
    // (job, expected data, plaintext secrets that must not appear in the encrypted file)
    let mut cases: Vec<(Job, Value, &[&str])> = vec![
        (
            job("yaml", w.encrypt("config.yaml", YAML, &[]), "yaml"),
            yaml_expected(),
            &[
                "leafseal",
                "valeur",
                "line one",
                "Application settings",
                "a comment",
            ],
        ),
        (
            job(
                "yaml-indent2",
                w.encrypt("indent2.yaml", YAML, &["--indent", "2"]),
                "yaml",
            ),
            yaml_expected(),
            &["leafseal"],
        ),
        (
            job(
                "yaml-mac-only-encrypted",
                w.encrypt("maconly.yaml", YAML, &["--mac-only-encrypted"]),
                "yaml",
            ),
            yaml_expected(),
            &["leafseal"],
        ),
        (
            job(
                "yaml-encrypted-regex",
                w.encrypt(
                    "regex.yaml",
                    regex_plain,
                    &["--encrypted-regex", "^password$"],
                ),
                "yaml",
            ),
            json!({"user": "alice", "password": "hunter2", "db": {"password": "s3cret", "port": 5432}}),
            &["hunter2", "s3cret"],
        ),
        (
            job("json", w.encrypt("config.json", JSON_DOC, &[]), "json"),
            json_expected(),
            &["leafseal", "значение", "3.75"],
        ),
        (
            job("dotenv", w.encrypt("app.env", DOTENV, &[]), "env"),
            dotenv_expected(),
            &["admin", "s3cr", "padded", "a comment"],
        ),
        (
            // The binary store writes a JSON envelope; sops-age reads it as JSON.
            job("binary", w.encrypt("blob.txt", binary_plain, &[]), "json"),
            json!({"data": binary_plain}),
            &["raw bytes"],
        ),
    ];
    // sops-age finding the identity itself through SOPS_AGE_KEY_FILE.
    let mut by_env = job("json-key-from-env", cases[4].0.path.clone(), "json");
    by_env.key_from_env = true;
    cases.push((by_env, json_expected(), &[]));

    let partial = read(&cases[3].0.path);
    assert!(partial.contains("user: alice\n") && partial.contains("port: 5432\n"));
    assert!(read(&cases[2].0.path).contains("mac_only_encrypted: true"));
    for (j, _, secrets) in &cases {
        // The integrity record's field name contains "leafseal", one of the words checked.
        let text: String = read(&j.path)
            .lines()
            .filter(|l| !l.contains("leafseal_integrity"))
            .collect();
        for s in *secrets {
            assert!(!text.contains(s), "{}: `{s}` left in clear", j.name);
        }
    }

    let jobs: Vec<Job> = cases.iter().map(|(j, _, _)| j.clone()).collect();
    let results = sops_age_decrypt(&jobs);
    for (j, want, _) in &cases {
        match &results[&j.name] {
            Ok(got) => assert_same(&j.name, got, want),
            Err(e) => panic!(
                "{}: sops-age could not decrypt leafseal's output: {e}",
                j.name
            ),
        }
    }
}

/// Leaves of decrypted data grouped by path (map keys joined by `:`), values in walk order
/// within each path. Nulls are skipped, as in the fixtures' leaf lists.
fn leaves_by_path(v: &Value, path: &str, out: &mut BTreeMap<String, Vec<Value>>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}:{k}")
                };
                leaves_by_path(x, &p, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| leaves_by_path(x, path, out)),
        Value::Null => {}
        leaf => out.entry(path.to_owned()).or_default().push(leaf.clone()),
    }
}

#[test]
fn sops_age_decrypts_the_sops_age_fixtures() {
    let names = [
        "yaml/example.age.v3.7.1.yaml",
        "json/example.age.v3.7.1.json",
    ];
    let jobs: Vec<Job> = names
        .iter()
        .map(|n| {
            let ty = if n.ends_with(".json") { "json" } else { "yaml" };
            job(n, sops_fixture(n), ty)
        })
        .collect();
    let results = sops_age_decrypt(&jobs);
    for n in names {
        let got = results[n].as_ref().unwrap_or_else(|e| panic!("{n}: {e}"));
        let name = n.rsplit('/').next().expect("file name");
        let expected: Value = serde_json::from_str(&read(&sops_fixture(&format!(
            "expected/{name}.leaves.json"
        ))))
        .expect("leaves json");
        let mut want = BTreeMap::new();
        for leaf in expected["leaves_in_mac_order"].as_array().expect("leaves") {
            // Typed values: strings, numbers, booleans.
            let v = leaf["value"].clone();
            let path = leaf["path"].as_str().expect("path").to_owned();
            want.entry(path).or_insert_with(Vec::new).push(v);
        }
        let mut have = BTreeMap::new();
        leaves_by_path(got, "", &mut have);
        assert_same(n, &json!(have), &json!(want));
    }
}

#[test]
fn tampering_sops_age_rejects_bad_ciphertext_but_does_not_check_the_mac() {
    let w = Work::new();
    let plain = "token: s3cret\nlist: [a, b]\npublic_unencrypted: visible\n";
    let enc = read(&w.encrypt("t.yaml", plain, &[]));
    let write = |name: &str, text: String| -> PathBuf {
        assert_ne!(text, enc, "{name}: the edit changed nothing");
        w.write(name, &text)
    };
    // 1. A clear-text value edited by hand: only the MAC notices.
    let clear_edit = write(
        "clear-edit.yaml",
        enc.replace("public_unencrypted: visible", "public_unencrypted: edited"),
    );
    // 2. List items swapped: only the MAC notices (list indices are not in the AAD).
    let list_line = |i: usize| {
        enc.lines()
            .filter(|l| l.starts_with("    - ENC["))
            .nth(i)
            .expect("list item")
            .to_owned()
    };
    let (first, second) = (list_line(0), list_line(1));
    let swapped = write(
        "swapped.yaml",
        enc.replace(&first, "@@FIRST@@")
            .replace(&second, &first)
            .replace("@@FIRST@@", &second),
    );
    // 3. One base64 character of the ciphertext changed.
    let token_line = enc
        .lines()
        .find(|l| l.starts_with("token: ENC[AES256_GCM,data:"))
        .expect("token line");
    let mut bad = token_line.as_bytes().to_vec();
    let at = "token: ENC[AES256_GCM,data:".len();
    bad[at] = if bad[at] == b'A' { b'B' } else { b'A' };
    let bad = String::from_utf8(bad).expect("ascii");
    let flipped = write("flipped.yaml", enc.replace(token_line, &bad));
    // 4. An encrypted value moved to another key (wrong AAD).
    let moved = write("moved.yaml", enc.replace("token: ENC[", "other: ENC["));

    // leafseal rejects all four.
    assert_eq!(w.decrypt_code(&clear_edit), 51, "MAC mismatch");
    assert_eq!(w.decrypt_code(&swapped), 51, "MAC mismatch");
    assert_eq!(w.decrypt_code(&flipped), 25, "undecryptable value");
    assert_eq!(w.decrypt_code(&moved), 25, "undecryptable value");

    let results = sops_age_decrypt(&[
        job("clear-edit", clear_edit, "yaml"),
        job("swapped", swapped, "yaml"),
        job("flipped", flipped, "yaml"),
        job("moved", moved, "yaml"),
    ]);
    // sops-age 4.0.2 never verifies the MAC: it accepts the MAC-only tampering.
    let ok = |n: &str| results[n].clone().unwrap_or_else(|e| panic!("{n}: {e}"));
    assert_same(
        "clear-edit",
        &ok("clear-edit"),
        &json!({"token": "s3cret", "list": ["a", "b"], "public_unencrypted": "edited"}),
    );
    assert_same(
        "swapped",
        &ok("swapped"),
        &json!({"token": "s3cret", "list": ["b", "a"], "public_unencrypted": "visible"}),
    );
    // ...but AES-GCM with the path AAD catches changed or moved ciphertext.
    for n in ["flipped", "moved"] {
        let e = results[n].clone().expect_err(n);
        assert!(e.contains("invalid ghash tag"), "{n}: {e}");
    }
}

#[test]
fn sops_age_limitations_on_valid_leafseal_files() {
    let w = Work::new();
    let r = AGE_RECIPIENT;
    let policy = w.write(
        "shamir.sops.yaml",
        &format!(
            "creation_rules:\n  - key_groups:\n      - age: [{r}]\n      - age: [{r}]\n    shamir_threshold: 2\n"
        ),
    );
    let policy = policy.display().to_string();
    let files = [
        (
            "time",
            w.encrypt("time.yaml", "when: 2024-01-02T03:04:05Z\n", &[]),
            "yaml",
        ),
        (
            "digit-key",
            w.encrypt("digits.yaml", "\"2024\": year\n", &[]),
            "yaml",
        ),
        (
            "shamir",
            w.encrypt_with("shamir.yaml", "a: secret\n", &["--config", &policy]),
            "yaml",
        ),
        (
            "multi-doc",
            w.encrypt("multi.yaml", "a: 1\n---\nb: 2\n", &[]),
            "yaml",
        ),
        (
            "numbers",
            w.encrypt(
                "numbers.yaml",
                "big: 9007199254740993\ninf: .inf\nninf: -.inf\nnan: .nan\n",
                &[],
            ),
            "yaml",
        ),
        (
            "dotenv-spaces",
            w.encrypt("spaces.env", "foo = bar\n", &[]),
            "env",
        ),
        (
            "dotenv-clear",
            w.encrypt(
                "clear.env",
                "URL_unencrypted=http://x/#frag\nQ_unencrypted=\"quoted\"\nS=x\n",
                &[],
            ),
            "env",
        ),
        ("ini", w.encrypt("app.ini", "[s]\nk = v\n", &[]), "ini"),
        (
            "list-comment",
            w.encrypt(
                "list-comment.yaml",
                "tags:\n    - a\n    # note\n    - b\n",
                &[],
            ),
            "yaml",
        ),
    ];
    // Every file is valid: leafseal itself decrypts each one (MAC checked).
    for (name, path, _) in &files {
        assert_eq!(w.decrypt_code(path), 0, "leafseal decrypt {name}");
    }
    let shamir = read(&files[2].1);
    assert!(shamir.contains("key_groups:") && shamir.contains("shamir_threshold: 2"));

    let jobs: Vec<Job> = files.iter().map(|(n, p, t)| job(n, p.clone(), t)).collect();
    let results = sops_age_decrypt(&jobs);
    let err = |n: &str| results[n].clone().expect_err(n);
    for (n, want) in [
        ("time", "Invalid SOPS data type: time"),
        ("digit-key", "invalid ghash tag"),
        ("multi-doc", "multiple documents"),
        ("dotenv-spaces", "invalid ghash tag"),
        ("ini", "Unknown SOPS file type: ini"),
        // sops (and leafseal) store an encrypted comment inside a list as a list item.
        ("list-comment", "Invalid SOPS data type: comment"),
    ] {
        let e = err(n);
        assert!(e.contains(want), "{n}: expected `{want}`, got: {e}");
    }
    // Key groups: the schema requires a top-level `sops.age` array.
    let e = err("shamir");
    assert!(
        e.contains("\"age\"") && e.contains("Required"),
        "shamir: {e}"
    );
    // Doubles only: 2^53+1 rounds, and ±Inf/NaN all become NaN.
    let got = results["numbers"].clone().expect("numbers");
    assert_eq!(got["big"].as_u64(), Some(9_007_199_254_740_992));
    for k in ["inf", "ninf", "nan"] {
        assert_eq!(got[k], json!({"$float": "NaN"}), "{k}");
    }
    // dotenv clear values go through the `dotenv` package's quote and comment rules.
    let got = results["dotenv-clear"].clone().expect("dotenv-clear");
    assert_same(
        "dotenv-clear",
        &got,
        &json!({"URL_unencrypted": "http://x/", "Q_unencrypted": "quoted", "S": "x"}),
    );
}
