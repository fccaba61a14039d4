//! Round 23's red team of the streaming and splice paths, kept as a regression test:
//! attacks an attacker WITHOUT the key can make on an encrypted YAML file (ciphertexts
//! moved across parts, keys duplicated in a later part, a second `sops` block, a
//! document separator, anchors and merge keys across parts, block scalars that hold
//! `key: ENC[…]` and `sops:` lines, MAC-invisible additions, retyped values, metadata
//! changed), each run through `decrypt` by streaming (several part sizes, the direct
//! part reader on and off) and through the whole tree, and through streamed `rotate -i`
//! and spliced `set` against their tree paths. Every path must give the same exit code
//! and bytes; a refusal prints nothing on stdout and leaves the file byte-identical.
//! The list and its results are in docs/security.md ("Red team of the streaming and
//! splice paths").

mod support;

#[path = "support/stream_env.rs"]
mod stream_env;

use stream_env::*;
use support::*;

/// A plaintext with the constructs the planner cuts around: 80 root entries, a block
/// scalar, a flow map, nested maps and a list, clear values, an empty string.
fn plaintext() -> String {
    let mut out = String::new();
    for i in 0..80 {
        out.push_str(&format!("k{i:03}: value number {i}\n"));
        match i {
            10 => out.push_str("block: |\n  line one\n  line two\n"),
            20 => out.push_str("# a comment\nflow: {a: 1, b: [x, y, z], c: q}\n"),
            30 => out.push_str("n1:\n  x: 1\n  y: two\nn2:\n  x: 9\n  y: ten\n"),
            50 => out.push_str("nested:\n  deep:\n    list:\n      - a\n      - b\n"),
            55 => out.push_str(
                "port_unencrypted: 5432\nhost_unencrypted: db.internal\nnum: 123\nemp: ''\n",
            ),
            _ => {}
        }
    }
    out
}

/// The line of `key` at the root of `text`.
fn line<'a>(text: &'a str, key: &str) -> &'a str {
    let prefix = format!("{key}: ");
    text.lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no line for {key}"))
}

/// The value text (`ENC[…]` or clear) of `key`.
fn value<'a>(text: &'a str, key: &str) -> &'a str {
    &line(text, key)[key.len() + 2..]
}

/// `text` with the line of `key` replaced by `new`.
fn replace_line(text: &str, key: &str, new: &str) -> String {
    text.replacen(&format!("{}\n", line(text, key)), &format!("{new}\n"), 1)
}

/// The attacks with the exit code the tree path gives (0: accepted, the plaintext the
/// key holder wrote).
fn attacks(enc: &str) -> Vec<(&'static str, String, i32)> {
    let after =
        |key: &str, extra: &str| replace_line(enc, key, &format!("{}\n{extra}", line(enc, key)));
    let swapped = replace_line(
        &replace_line(enc, "k005", &format!("k005: {}", value(enc, "k070"))),
        "k070",
        &format!("k070: {}", value(enc, "k005")),
    );
    let body_end = enc.find("\nsops:\n").expect("sops") + 1;
    let (body, meta) = enc.split_at(body_end);
    let cut = body.find("\nk040: ").expect("k040") + 1;
    vec![
        ("ciphertexts swapped across parts", swapped, 25),
        (
            "an entry moved to a later part",
            after("k070", line(enc, "k003")).replacen(&format!("{}\n", line(enc, "k003")), "", 1),
            51,
        ),
        (
            "a key duplicated in a later part",
            after("k070", line(enc, "k003")),
            1,
        ),
        (
            "a quoted duplicate of the sops key",
            after("k040", "\"sops\": x"),
            1,
        ),
        (
            "a second sops block mid-file",
            after("k040", meta.trim_end()),
            1,
        ),
        (
            "a document separator with a copy of sops",
            format!("{}{meta}---\n{}{meta}", &body[..cut], &body[cut..]),
            53,
        ),
        (
            "anchor in one part, alias in another",
            replace_line(
                &replace_line(enc, "k005", &format!("k005: &a {}", value(enc, "k005"))),
                "k070",
                "k070: *a",
            ),
            25,
        ),
        (
            "a merge key of an anchored map",
            enc.replacen("\nn1:\n", "\nn1: &m\n", 1)
                .replacen("\nn2:\n", "\nn2:\n    <<: *m\n", 1),
            25,
        ),
        (
            "a block scalar holding entries and sops",
            replace_line(
                enc,
                "k040",
                &format!(
                    "k040: |\n    k041: {}\n    sops:\n        mac: x",
                    value(enc, "k041")
                ),
            ),
            25,
        ),
        (
            "an empty string added (MAC-invisible)",
            after("k040", "evil: ''"),
            53,
        ),
        (
            "a null added (MAC-invisible)",
            after("k040", "evil: null"),
            53,
        ),
        (
            "an int retyped as a string",
            replace_line(
                enc,
                "num",
                &format!("num: {}", value(enc, "num").replace("type:int", "type:str")),
            ),
            53,
        ),
        (
            "clear values re-split",
            enc.replacen(
                "port_unencrypted: 5432\nhost_unencrypted: db.internal",
                "port_unencrypted: 543\nhost_unencrypted: 2db.internal",
                1,
            ),
            53,
        ),
        (
            "mac_only_encrypted added with a clear edit",
            enc.replacen("    mac: ", "    mac_only_encrypted: true\n    mac: ", 1)
                .replacen("port_unencrypted: 5432", "port_unencrypted: 6666", 1),
            51,
        ),
        (
            "the sops block moved to the middle",
            format!("{}{meta}{}", &body[..cut], &body[cut..]),
            0,
        ),
        ("CRLF line breaks", enc.replace('\n', "\r\n"), 0),
    ]
}

fn encrypted(env: &Env) -> String {
    env.write("plain.yaml", plaintext().as_bytes());
    let out = env.run(&["encrypt", "--age", AGE_RECIPIENT, "plain.yaml"]);
    String::from_utf8(ok(&out)).expect("utf-8")
}

#[test]
fn attacks_get_one_answer_from_every_decrypt_path() {
    let env = Env::new(None);
    let enc = encrypted(&env);
    let plain = ok(&env.tree(&["decrypt", &env.write("orig.yaml", enc.as_bytes())]));
    for (what, text, code) in attacks(&enc) {
        let path = env.write("attacked.yaml", text.as_bytes());
        let tree = env.tree(&["decrypt", &path]);
        assert_eq!(tree.status.code(), Some(code), "{what}: tree path");
        if code == 0 {
            assert_eq!(tree.stdout, plain, "{what}: not the key holder's plaintext");
        } else {
            assert!(tree.stdout.is_empty(), "{what}: output from a refused file");
        }
        for part in [64, 300, 2000] {
            for direct in ["never", "auto"] {
                let s = env.run_vars(
                    &[
                        ("LEAFSEAL_STREAM", "always"),
                        ("LEAFSEAL_STREAM_PART", &part.to_string()),
                        ("LEAFSEAL_STREAM_DIRECT", direct),
                    ],
                    &["decrypt", &path],
                );
                assert_eq!(
                    s.status.code(),
                    Some(code),
                    "{what}: part {part}, direct {direct}: {}",
                    String::from_utf8_lossy(&s.stderr)
                );
                assert_eq!(
                    s.stdout, tree.stdout,
                    "{what}: part {part}, direct {direct}"
                );
            }
        }
    }
}

#[test]
fn attacked_files_are_rotated_and_spliced_as_the_tree_would() {
    let env = Env::new(None);
    let enc = encrypted(&env);
    for (what, text, code) in attacks(&enc) {
        for (command, switch) in [
            (vec!["rotate", "-i"], "LEAFSEAL_STREAM"),
            (vec!["set"], "LEAFSEAL_SPLICE"),
        ] {
            let mut written = Vec::new();
            for mode in ["never", "always"] {
                let path = env.write(&format!("w-{mode}.yaml"), text.as_bytes());
                let mut args: Vec<&str> = command.clone();
                args.push(&path);
                if command[0] == "set" {
                    args.extend(["[\"k040\"]", "\"new\""]);
                }
                let out = env.run_vars(&[(switch, mode), ("LEAFSEAL_STREAM_PART", "300")], &args);
                let after = std::fs::read_to_string(&path).expect("read");
                if code != 0 {
                    assert_eq!(out.status.code(), Some(code), "{what}: {command:?} {mode}");
                    assert_eq!(
                        after, text,
                        "{what}: {command:?} {mode} changed a refused file"
                    );
                    continue;
                }
                ok(&out);
                written.push(ok(&env.tree(&["decrypt", &path])));
            }
            if let [tree, streamed] = &written[..] {
                assert_eq!(tree, streamed, "{what}: {command:?}");
            }
        }
    }
}

/// Round 23 findings (the `rotate_json` fuzz target, then by hand): the streaming paths
/// read the metadata's `version` without regard to case, the tree path (and sops for
/// YAML) only as `version`; so a file whose `version` key was renamed `VERSION` was
/// refused by the tree (exit 1) and decrypted, spliced or rotated by streaming. And a
/// second JSON `sops` member failed the streamed rotation with exit 25 (tree: exit 1).
/// Round 24: a JSON `Version` is the field, as in sops
/// ([`json_metadata_names_read_alike_on_every_path`]); two keys for it are refused.
#[test]
fn metadata_tricks_get_the_tree_paths_answer() {
    let env = Env::new(None);
    let yaml = encrypted(&env).replacen("\n    version: ", "\n    VERSION: ", 1);
    let json_plain: String = format!(
        "{{{}}}",
        (0..60)
            .map(|i| format!("\"k{i:03}\": \"value {i}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    env.write("plain.json", json_plain.as_bytes());
    let json = String::from_utf8(ok(&env.run(&[
        "encrypt",
        "--age",
        AGE_RECIPIENT,
        "plain.json",
    ])))
    .expect("utf-8");
    let meta_at = json.find("\t\"sops\": {").expect("sops member");
    let meta = json[meta_at..json.rfind('}').expect("end")].trim_end();
    let cases = [
        ("yaml", "VERSION", yaml),
        (
            "json",
            "version and Version",
            json.replacen("\"version\"", "\"version\": \"3.9\",\n\t\t\"Version\"", 1),
        ),
        (
            "json",
            "two sops members",
            format!("{{\n{meta},\n{}", &json[2..]),
        ),
    ];
    for (ext, what, text) in cases {
        let name = format!("trick.{ext}");
        let path = env.write(&name, text.as_bytes());
        let tree = env.tree(&["decrypt", &path]);
        assert_eq!(tree.status.code(), Some(1), "{what}: tree decrypt");
        let s = env.run_with("always", Some(300), &["decrypt", &path]);
        assert_eq!(s.status.code(), Some(1), "{what}: streamed decrypt");
        assert!(
            s.stdout.is_empty(),
            "{what}: streamed decrypt printed plaintext"
        );
        let r = env.run_with("always", Some(300), &["rotate", "-i", &path]);
        assert_eq!(
            r.status.code(),
            Some(1),
            "{what}: streamed rotate: {}",
            String::from_utf8_lossy(&r.stderr)
        );
        if ext == "yaml" {
            let set = env.run_vars(
                &[
                    ("LEAFSEAL_SPLICE", "always"),
                    ("LEAFSEAL_STREAM_PART", "300"),
                ],
                &["set", &path, "[\"k040\"]", "\"new\""],
            );
            assert_eq!(set.status.code(), Some(1), "{what}: spliced set");
        }
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            text,
            "{what}: file changed"
        );
    }
}

/// Round 24: the streaming readers and the tree path (and `check`, which uses no key)
/// read a JSON `sops` block's field names as sops does (Go's JSON decoder: any case), so
/// `Version`, `MAC`, `AGE`, an entry's `Recipient`/`Enc` are the fields on every path;
/// a streamed rotation writes them back by their own names. Two keys that name one
/// field are refused on every path. Before, `Version` was refused everywhere (sops
/// decrypts it) and `MAC` plus `mac` was read as the first (sops: the last).
#[test]
fn json_metadata_names_read_alike_on_every_path() {
    let env = Env::new(None);
    let plain: String = format!(
        "{{{}}}",
        (0..60)
            .map(|i| format!("\"k{i:03}\": \"value {i}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    env.write("plain.json", plain.as_bytes());
    let json = String::from_utf8(ok(&env.run(&[
        "encrypt",
        "--age",
        AGE_RECIPIENT,
        "plain.json",
    ])))
    .expect("utf-8");
    env.write(
        ".sops.yaml",
        format!("creation_rules:\n  - age: {AGE_RECIPIENT}\n").as_bytes(),
    );
    let rename = |pairs: &[(&str, &str)]| {
        let mut t = json.clone();
        for (from, to) in pairs {
            t = t.replacen(&format!("\"{from}\""), &format!("\"{to}\""), 1);
        }
        t
    };
    let accepted = [
        ("Version", rename(&[("version", "Version")])),
        ("MAC", rename(&[("mac", "MAC")])),
        (
            "every field renamed",
            rename(&[
                ("version", "VERSION"),
                ("mac", "Mac"),
                ("lastmodified", "LastModified"),
                ("age", "AGE"),
                ("recipient", "Recipient"),
                ("enc", "Enc"),
                ("leafseal_integrity", "Leafseal_Integrity"),
            ]),
        ),
    ];
    let plaintext = ok(&env.tree(&["decrypt", &env.write("orig.json", json.as_bytes())]));
    for (what, text) in &accepted {
        let path = env.write("f.json", text.as_bytes());
        assert_eq!(
            ok(&env.tree(&["decrypt", &path])),
            plaintext,
            "{what}: tree"
        );
        let s = env.run_with("require", Some(300), &["decrypt", &path]);
        assert_eq!(ok(&s), plaintext, "{what}: streamed decrypt");
        let c = env.run(&["check", "f.json"]);
        assert!(
            c.status.success() && !String::from_utf8_lossy(&c.stdout).contains("f.json"),
            "{what}: check: {}",
            String::from_utf8_lossy(&c.stdout)
        );
        ok(&env.run_with("require", Some(300), &["rotate", "-i", &path]));
        let rotated = std::fs::read_to_string(&path).expect("read");
        for field in ["version", "mac", "lastmodified", "age", "recipient", "enc"] {
            assert!(
                rotated.contains(&format!("\"{field}\"")),
                "{what}: the streamed rotation writes `{field}` by its name"
            );
        }
        assert_eq!(
            ok(&env.tree(&["decrypt", &path])),
            plaintext,
            "{what}: rotated"
        );
    }
    let mac_line = json.lines().find(|l| l.contains("\"mac\"")).expect("mac");
    let refused = [
        (
            "version and Version",
            json.replacen("\"version\"", "\"version\": \"3.9\",\n\t\t\"Version\"", 1),
        ),
        (
            "MAC and mac",
            json.replacen(
                mac_line,
                &format!("{}\n{mac_line}", mac_line.replacen("\"mac\"", "\"MAC\"", 1)),
                1,
            ),
        ),
    ];
    for (what, text) in &refused {
        let path = env.write("f.json", text.as_bytes());
        let tree = env.tree(&["decrypt", &path]);
        assert_eq!(tree.status.code(), Some(1), "{what}: tree decrypt");
        let s = env.run_with("always", Some(300), &["decrypt", &path]);
        assert_eq!(s.status.code(), Some(1), "{what}: streamed decrypt");
        assert!(s.stdout.is_empty(), "{what}: streamed decrypt printed");
        assert!(
            String::from_utf8_lossy(&s.stderr).contains("two keys name it"),
            "{what}: {}",
            String::from_utf8_lossy(&s.stderr)
        );
        let r = env.run_with("always", Some(300), &["rotate", "-i", &path]);
        assert_eq!(r.status.code(), Some(1), "{what}: streamed rotate");
        let c = env.run(&["check", "f.json"]);
        assert!(
            String::from_utf8_lossy(&c.stdout).contains("two keys name it"),
            "{what}: check reports it: {}",
            String::from_utf8_lossy(&c.stdout)
        );
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            *text,
            "{what}: changed"
        );
    }
}
