//! The streaming `encrypt` of large block-YAML and JSON files (`leafseal::stream`,
//! `prepare_encrypt`) against the tree path it replaces, through the binary on real
//! files. Both paths draw fresh data keys and nonces, so the outputs are compared by
//! structure: every `ENC[…]` has the same ciphertext length and type at the same place,
//! the text is identical line by line outside the `ENC[…]` values, the wrapped data key,
//! `lastmodified`, the MAC and the integrity record; both decrypt (with the integrity
//! record required) to the same plaintext, which proves every AAD is the value's path;
//! and the real sops 3.11 decrypts the streamed result (its MAC check passes).

mod support;

#[path = "support/stream_env.rs"]
mod stream_env;

use std::path::Path;

use stream_env::*;
use support::*;

/// Encrypts `path` through the tree path and through the streaming path (several part
/// sizes) with `args` added, and checks that exit codes and stderr are the same and the
/// outputs have the same structure and plaintext. Returns whether the file was streamed
/// (`LEAFSEAL_STREAM=require` accepted it).
fn same_both_ways(env: &Env, path: &str, args: &[&str]) -> bool {
    let mut cmd = vec!["encrypt", "--age", AGE_RECIPIENT];
    cmd.extend_from_slice(args);
    cmd.push(path);
    let tree = env.run_with("never", None, &cmd);
    let tree_plain = tree
        .status
        .success()
        .then(|| decrypt(env, &tree.stdout, path));
    for part in [1, 4096, 1 << 20] {
        let s = env.run_with("always", Some(part), &cmd);
        assert_eq!(s.status.code(), tree.status.code(), "{path} (part {part})");
        assert_eq!(
            String::from_utf8_lossy(&s.stderr),
            String::from_utf8_lossy(&tree.stderr),
            "{path} (part {part})"
        );
        if !tree.status.success() {
            continue;
        }
        assert_eq!(
            structure(&s.stdout),
            structure(&tree.stdout),
            "{path} (part {part}): the streamed file's layout differs"
        );
        assert!(
            Some(decrypt(env, &s.stdout, path)) == tree_plain,
            "{path} (part {part}): the streamed file decrypts to another plaintext"
        );
    }
    env.run_with("require", Some(64), &cmd).status.success()
}

/// Decrypts an encrypted text named like `like` (for its format), with the integrity
/// record required.
fn decrypt(env: &Env, enc: &[u8], like: &str) -> Vec<u8> {
    let ext = Path::new(like)
        .extension()
        .map_or("yaml".to_owned(), |e| e.to_string_lossy().into_owned());
    let p = env.write(&format!("check.{ext}"), enc);
    ok(&env.run_with("never", None, &["decrypt", &p]))
}

/// The plaintext YAML and JSON files of a directory tree, sorted; encrypted ones are
/// decrypted (tree path) into `env`'s directory first.
fn plaintexts(env: &Env, dir: &Path, out: &mut Vec<String>) {
    let mut found = Vec::new();
    files_ending(dir, &["yaml", "yml", "json"], &mut found);
    for p in found {
        let Some(ext) = p.extension().map(|e| e.to_string_lossy().into_owned()) else {
            continue;
        };
        let text = std::fs::read(&p).expect("read");
        if text.is_empty() {
            continue;
        }
        if text.windows(14).any(|w| w == b"ENC[AES256_GCM") {
            let path = p.display().to_string();
            let d = env.run_with("never", None, &["decrypt", &path]);
            if d.status.success() {
                let name = format!("plain-{}.{ext}", out.len());
                out.push(env.write(&name, &d.stdout));
            }
        } else {
            out.push(p.display().to_string());
        }
    }
}

#[test]
fn every_fixture_encrypts_the_same_streamed_and_as_a_tree() {
    let env = Env::strict(None);
    let mut files = Vec::new();
    plaintexts(&env, &fixtures(), &mut files);
    if let Some(shared) = shared_interop() {
        plaintexts(&env, &shared, &mut files);
    }
    let mut streamed = 0;
    for f in &files {
        streamed += usize::from(same_both_ways(&env, f, &[]));
    }
    assert!(files.len() >= 10, "plaintexts found: {}", files.len());
    assert!(
        streamed >= 5,
        "only {streamed} of {} were streamed",
        files.len()
    );
}

/// A block-YAML document with comments (at the top, before keys, inside lists), lists at
/// their key's indentation, suffix-selected clear values, empty and null values, and
/// every scalar type.
fn large_yaml(services: usize) -> String {
    let mut s = String::from("# large document\nversion: 3\nservices:\n");
    for i in 0..services {
        s.push_str(&format!(
            "    svc-{i:05}:\n        # owner of service {i}\n        name: service {i}\n        replicas: {}\n        cpu: {}.5\n        enabled: {}\n        note_unencrypted: plain {i}\n        ports:\n            - {}\n            # the second port\n            - {}\n        env:\n            - name: MODE\n              value: same\n        empty: \"\"\n        nothing: null\n        none: {{}}\n",
            i % 7,
            i % 5,
            i % 2 == 0,
            8000 + i,
            9000 + i
        ));
    }
    s.push_str("# before the list\nlist:\n    - a\n    - b\ntrailer: end\n# the end\n");
    s
}

/// The same kind of document as JSON, indented as sops writes it.
fn large_json(services: usize) -> String {
    let mut s = String::from("{\n\t\"version\": 3,\n\t\"services\": {");
    for i in 0..services {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            "\n\t\t\"svc-{i:05}\": {{\n\t\t\t\"name\": \"service {i}\",\n\t\t\t\"replicas\": {},\n\t\t\t\"cpu\": {}.5,\n\t\t\t\"enabled\": {},\n\t\t\t\"note_unencrypted\": \"plain {i}\",\n\t\t\t\"ports\": [\n\t\t\t\t{},\n\t\t\t\t{}\n\t\t\t],\n\t\t\t\"empty\": \"\",\n\t\t\t\"nothing\": null,\n\t\t\t\"none\": {{}},\n\t\t\t\"list\": []\n\t\t}}",
            i % 7,
            i % 5,
            i % 2 == 0,
            8000 + i,
            9000 + i
        ));
    }
    s.push_str("\n\t},\n\t\"list\": [\n\t\t\"a\",\n\t\t\"b\"\n\t],\n\t\"trailer\": \"end\"\n}\n");
    s
}

#[test]
fn generated_documents_stream_with_any_part_size_and_selector() {
    let env = Env::strict(None);
    let yaml = env.write("big.yaml", large_yaml(600).as_bytes());
    let json = env.write("big.json", large_json(600).as_bytes());
    for path in [&yaml, &json] {
        for args in [
            &[][..],
            &["--encrypted-regex", "^(name|cpu|ports)$"],
            &["--unencrypted-regex", "^replicas$"],
            &["--encrypted-suffix", "able"],
            &["--mac-only-encrypted"],
            &["--mac-only-encrypted", "--encrypted-regex", "^name$"],
        ] {
            assert!(
                same_both_ways(&env, path, args),
                "{path} {args:?}: not streamed"
            );
        }
    }
}

#[test]
fn large_files_are_streamed_by_default_and_the_real_sops_decrypts_them() {
    let env = Env::strict(None);
    // Large enough to be streamed without LEAFSEAL_STREAM.
    for (name, plain) in [
        ("big.yaml", large_yaml(6000)),
        ("big.json", large_json(6000)),
    ] {
        let plain = plain.into_bytes();
        assert!(plain.len() > 1 << 20);
        let path = env.write(name, &plain);
        let auto = ok(&env.run_vars(
            &[("LEAFSEAL_STREAM_PART", "8192")],
            &["encrypt", "--age", AGE_RECIPIENT, &path],
        ));
        let tree = ok(&env.run_with("never", None, &["encrypt", "--age", AGE_RECIPIENT, &path]));
        assert_eq!(structure(&auto), structure(&tree), "{name}");
        let enc = env.write(&format!("enc.{name}"), &auto);
        let back = ok(&env.run_with("never", None, &["decrypt", &enc]));
        let tree_back = decrypt(&env, &tree, name);
        assert!(back == tree_back, "{name}: round trip");
        if let Some(out) = sops_decrypt(&env, &enc) {
            assert!(out == back, "{name}: sops decrypts the streamed file");
        }
    }
}

#[test]
fn in_place_and_output_files_are_written_atomically() {
    let env = Env::strict(None);
    let plain = large_yaml(600);
    let target = env.write("target.yaml", plain.as_bytes());
    // Through a symbolic link: the link stays, the file it names is replaced.
    let link = env.work.path().join("link.yaml");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    let link = link.display().to_string();
    ok(&env.run_with(
        "require",
        Some(4096),
        &["encrypt", "-i", "--age", AGE_RECIPIENT, &link],
    ));
    assert!(
        std::fs::symlink_metadata(&link)
            .expect("link")
            .file_type()
            .is_symlink()
    );
    let enc = std::fs::read(&target).expect("read");
    assert!(enc.windows(14).any(|w| w == b"ENC[AES256_GCM"));
    let back = ok(&env.run_with("never", None, &["decrypt", &target]));
    assert!(back == plain.as_bytes(), "round trip");
    // --output to a new file: 0600.
    let src = env.write("src.yaml", plain.as_bytes());
    let out = env.work.path().join("out.yaml").display().to_string();
    ok(&env.run_with(
        "require",
        Some(4096),
        &["encrypt", "--age", AGE_RECIPIENT, "--output", &out, &src],
    ));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&out).expect("out").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(ok(&env.run_with("never", None, &["decrypt", &out])) == plain.as_bytes());
    // No temporary file is left.
    let left: Vec<_> = std::fs::read_dir(env.work.path())
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".leafseal-tmp."))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_failing_write_after_output_started_leaves_the_file_untouched() {
    let env = Env::strict(None);
    let plain = large_yaml(600);
    let path = env.write("big.yaml", plain.as_bytes());
    // The file size limit makes writes fail (SIGXFSZ, or EFBIG when it is ignored) once
    // the temporary file holds 32 KiB: well after the first parts were written.
    let bin = env!("CARGO_BIN_EXE_leafseal");
    let script = format!(
        "trap '' XFSZ; ulimit -f 64; exec '{bin}' encrypt -i --age {AGE_RECIPIENT} '{path}'"
    );
    let mut vars = env.vars.clone();
    vars.insert("LEAFSEAL_STREAM".to_owned(), "require".to_owned());
    vars.insert("LEAFSEAL_STREAM_PART".to_owned(), "4096".to_owned());
    let out = std::process::Command::new("sh")
        .env_clear()
        .envs(&vars)
        .current_dir(env.work.path())
        .args(["-c", &script])
        .output()
        .expect("sh");
    // leafseal catches the signal itself (exit 128 + 25) when the shell could not
    // ignore it; otherwise the write fails (exit 3). Either way the file is unchanged.
    let err = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(3) => assert!(
            err.contains("write failed") && err.contains("left unchanged"),
            "{err}"
        ),
        Some(153) => assert!(err.contains("unchanged"), "{err}"),
        other => panic!("exit {other:?}: {err}"),
    }
    assert!(std::fs::read(&path).expect("read") == plain.as_bytes());
    let left: Vec<_> = std::fs::read_dir(env.work.path())
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".leafseal-tmp."))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // Standard output that cannot be written: the same exit code and message as the
    // tree path.
    for mode in ["require", "never"] {
        let mut vars = env.vars.clone();
        vars.insert("LEAFSEAL_STREAM".to_owned(), mode.to_owned());
        let out = leafseal(&vars)
            .current_dir(env.work.path())
            .args(["encrypt", "--age", AGE_RECIPIENT, &path])
            .stdout(std::fs::File::create("/dev/full").expect("/dev/full"))
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(3), "{mode}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("cannot write to standard output"),
            "{mode}: {err}"
        );
    }
}

#[test]
fn unusual_plaintexts_take_the_tree_path_with_its_errors() {
    let env = Env::strict(None);
    let big = large_yaml(600);
    for (name, text, code) in [
        // A flow map inside a part: the part reader declines, the tree path encrypts.
        ("flow.yaml", format!("{big}flow: {{a: 1, b: [2, 3]}}\n"), 0),
        // A `sops` entry: already encrypted (exit 203 as for the tree path).
        ("sops.yaml", format!("{big}sops:\n    version: 3\n"), 203),
        // Text that is not YAML at all in the middle.
        ("bad.yaml", format!("{big}bad: [unclosed\n"), -1),
        (
            "dup.json",
            large_json(600).replacen("\"version\": 3,", "\"trailer\": 3,", 1),
            -1,
        ),
    ] {
        let path = env.write(name, text.as_bytes());
        let cmd = ["encrypt", "--age", AGE_RECIPIENT, path.as_str()];
        let tree = env.run_with("never", None, &cmd);
        let auto = env.run_with("always", Some(4096), &cmd);
        assert_eq!(auto.status.code(), tree.status.code(), "{name}");
        if code >= 0 {
            assert_eq!(tree.status.code(), Some(code), "{name}");
        }
        assert_eq!(
            String::from_utf8_lossy(&auto.stderr),
            String::from_utf8_lossy(&tree.stderr),
            "{name}"
        );
        if tree.status.success() {
            assert_eq!(structure(&auto.stdout), structure(&tree.stdout), "{name}");
        }
        let req = env.run_with("require", Some(4096), &cmd);
        assert!(!req.status.success(), "{name}: declined under require");
    }
}

/// A one-pass failure: the last part is declined (text the part reader cannot take, a
/// `sops` entry) or the data key cannot be wrapped once every part is encrypted (a PGP
/// key the keyring does not hold). Standard output gets nothing, an `-i` target is left
/// as it was and no temporary file stays; exit code and message are the tree path's.
#[test]
fn a_failure_after_the_parts_were_encrypted_leaves_no_output() {
    let env = Env::strict(None);
    let big = large_yaml(600);
    for (name, text, extra) in [
        ("last-bad.yaml", format!("{big}bad: [unclosed\n"), None),
        (
            "last-sops.yaml",
            format!("{big}sops:\n    version: 3\n"),
            None,
        ),
        ("wrap.yaml", big.clone(), Some(PGP_FP)),
        ("wrap.json", large_json(600), Some(PGP_FP)),
    ] {
        let path = env.write(name, text.as_bytes());
        let mut cmd = vec!["encrypt", "--age", AGE_RECIPIENT];
        if let Some(fp) = extra {
            cmd.extend_from_slice(&["--pgp", fp]);
        }
        // (Twice: gpg's first run in a new home says that it created its keyring.)
        let _ = env.run_with("never", None, &[&cmd[..], &[path.as_str()]].concat());
        let tree = env.run_with("never", None, &[&cmd[..], &[path.as_str()]].concat());
        assert!(!tree.status.success(), "{name}: the tree path fails too");
        for part in [64, 4096] {
            let s = env.run_with("always", Some(part), &[&cmd[..], &[path.as_str()]].concat());
            assert_eq!(s.status.code(), tree.status.code(), "{name} (part {part})");
            assert_eq!(
                String::from_utf8_lossy(&s.stderr),
                String::from_utf8_lossy(&tree.stderr),
                "{name} (part {part})"
            );
            assert!(
                s.stdout.is_empty(),
                "{name} (part {part}): output was written"
            );
            let inplace = env.run_with(
                "always",
                Some(part),
                &[&cmd[..], &["-i", path.as_str()]].concat(),
            );
            assert_eq!(inplace.status.code(), tree.status.code(), "{name} -i");
            assert!(
                std::fs::read(&path).expect("read") == text.as_bytes(),
                "{name} (part {part}): the -i target changed"
            );
        }
    }
    let left: Vec<_> = std::fs::read_dir(env.work.path())
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".leafseal-tmp."))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// The one-pass writer with tiny parts (every part a few entries, sub-parts of the big
/// entry included): the output decrypts with leafseal (integrity record required) and
/// with the real sops 3.11 to the plaintext it was made from.
#[test]
fn tiny_parts_decrypt_with_leafseal_and_the_real_sops() {
    let env = Env::strict(None);
    for (name, plain) in [
        ("tiny.yaml", large_yaml(300)),
        ("tiny.json", large_json(300)),
    ] {
        let path = env.write(name, plain.as_bytes());
        let enc = ok(&env.run_with(
            "require",
            Some(1),
            &["encrypt", "--age", AGE_RECIPIENT, &path],
        ));
        let back = decrypt(&env, &enc, name);
        let tree = ok(&env.run_with("never", None, &["encrypt", "--age", AGE_RECIPIENT, &path]));
        assert_eq!(structure(&enc), structure(&tree), "{name}");
        assert!(back == decrypt(&env, &tree, name), "{name}: round trip");
        let encp = env.write(&format!("enc.{name}"), &enc);
        if let Some(out) = sops_decrypt(&env, &encp) {
            assert!(out == back, "{name}: sops decrypts the streamed file");
        }
    }
}

// ---------------------------------------------------------------------------------
// rotate: the streaming writer with a decrypt in front
// ---------------------------------------------------------------------------------

/// Rotates `enc` (an encrypted file) to stdout through the tree path and the streaming
/// path (several part sizes), and in place through the streaming path; checks exit
/// codes, stderr, the structure of the outputs and their plaintext. Returns whether the
/// streaming path took the file.
fn rotates_the_same(env: &Env, enc: &str, args: &[&str]) -> bool {
    let mut cmd = vec!["rotate"];
    cmd.extend_from_slice(args);
    cmd.push(enc);
    let tree = env.run_with("never", None, &cmd);
    let plain = ok(&env.run_with("never", None, &["decrypt", enc]));
    for part in [1, 4096, 1 << 20] {
        let s = env.run_with("always", Some(part), &cmd);
        assert_eq!(s.status.code(), tree.status.code(), "{enc} (part {part})");
        assert_eq!(
            String::from_utf8_lossy(&s.stderr),
            String::from_utf8_lossy(&tree.stderr),
            "{enc} (part {part})"
        );
        if !tree.status.success() {
            assert!(s.stdout.is_empty(), "{enc} (part {part}): no output");
            continue;
        }
        assert_eq!(
            structure(&s.stdout),
            structure(&tree.stdout),
            "{enc} (part {part})"
        );
        assert!(decrypt(env, &s.stdout, enc) == plain, "{enc} (part {part})");
    }
    // A YAML or JSON file named is read from disk in parts; from standard input it is
    // rotated from memory: both as the tree path.
    let format = [".yaml", ".json"]
        .into_iter()
        .find(|e| enc.ends_with(e))
        .map(|e| &e[1..]);
    if let Some(format) = format {
        let mut piped = vec!["rotate"];
        piped.extend_from_slice(args);
        piped.extend(["--input-type", format, "-"]);
        let text = std::fs::read(enc).expect("read");
        let s = env.run_stdin("always", &piped, &text);
        assert_eq!(s.status.code(), tree.status.code(), "{enc} (stdin)");
        if tree.status.success() {
            assert_eq!(
                structure(&s.stdout),
                structure(&tree.stdout),
                "{enc} (stdin)"
            );
            assert!(decrypt(env, &s.stdout, enc) == plain, "{enc} (stdin)");
        }
    }
    env.run_with("require", Some(64), &cmd).status.success()
}

#[test]
fn rotate_streams_the_same_as_the_tree_path() {
    let env = Env::strict(None);
    // (No comment before `sops:`: the decrypt planner declines those.)
    let yaml = env.write(
        "big.yaml",
        large_yaml(600).replace("# the end\n", "").as_bytes(),
    );
    let json = env.write("big.json", large_json(600).as_bytes());
    for path in [&yaml, &json] {
        for args in [
            &[][..],
            &["--encrypted-regex", "^(name|cpu|ports)$"],
            &["--mac-only-encrypted"],
        ] {
            let mut cmd = vec!["encrypt", "--age", AGE_RECIPIENT];
            cmd.extend_from_slice(args);
            cmd.push(path);
            let enc = ok(&env.run_with("never", None, &cmd));
            let ext = if path.ends_with("json") {
                "json"
            } else {
                "yaml"
            };
            let p = env.write(&format!("enc.{ext}"), &enc);
            assert!(rotates_the_same(&env, &p, &[]), "{path} {args:?}");
            assert!(
                rotates_the_same(
                    &env,
                    &p,
                    &[
                        "--add-age",
                        "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
                    ]
                ),
                "{path} {args:?}"
            );
        }
    }
    // Every encrypted fixture the tree path rotates.
    let mut files = Vec::new();
    fn encrypted(dir: &Path, out: &mut Vec<String>) {
        let mut found = Vec::new();
        files_ending(dir, &["yaml", "json"], &mut found);
        for p in found {
            if std::fs::read(&p)
                .expect("read")
                .windows(14)
                .any(|w| w == b"ENC[AES256_GCM")
            {
                out.push(p.display().to_string());
            }
        }
    }
    encrypted(&fixtures(), &mut files);
    // sops's files have no integrity record: not required here.
    let mut env = env;
    env.vars.remove("LEAFSEAL_STRICT_INTEGRITY");
    let mut streamed = 0;
    for f in &files {
        let d = env.run_with("never", None, &["decrypt", f]);
        if d.status.success() {
            streamed += usize::from(rotates_the_same(&env, f, &[]));
        }
    }
    // (The age fixtures; the PGP ones need a key this environment does not have.)
    assert!(streamed >= 2, "only {streamed} fixtures were streamed");
}

#[test]
fn rotate_in_place_writes_only_a_verified_file() {
    let plain = large_yaml(600).replace("# the end\n", "");
    let edits = Edits {
        entry: "    svc-00300:",
        next: "    svc-00301:",
        added: "    svc-extra: null\n",
        value: "name: ENC[AES256_GCM,data:",
    };
    in_place_verified("yaml", &plain, &edits);
}

#[test]
fn rotate_in_place_writes_only_a_verified_json_file() {
    // The big member last: the planner cuts it by jumping.
    let plain = large_json(600).replace(
        "\n\t},\n\t\"list\": [\n\t\t\"a\",\n\t\t\"b\"\n\t],\n\t\"trailer\": \"end\"\n}\n",
        "\n\t}\n}\n",
    );
    assert!(plain.ends_with("\n\t\t}\n\t}\n}\n"), "the services last");
    let edits = Edits {
        entry: "\n\t\t\"svc-00300\":",
        next: "\n\t\t\"svc-00301\":",
        added: "\n\t\t\"svc-extra\": null,",
        value: "\"name\": \"ENC[AES256_GCM,data:",
    };
    in_place_verified("json", &plain, &edits);
}

/// Where [`in_place_verified`] changes an encrypted file: an entry (from `entry` to
/// `next`) removed, `added` inserted before it, the last `value` tampered with.
struct Edits {
    entry: &'static str,
    next: &'static str,
    added: &'static str,
    value: &'static str,
}

/// A large file (`ext`: its format) rotated in place by streaming; tampered copies
/// refused with their exit codes and left as they were.
fn in_place_verified(ext: &str, plain: &str, edits: &Edits) {
    let env = Env::strict(None);
    let path = env.write(&format!("big.{ext}"), plain.as_bytes());
    let enc = ok(&env.run_with("never", None, &["encrypt", "--age", AGE_RECIPIENT, &path]));
    let enc = String::from_utf8(enc).expect("utf8");
    // A good file: rotated in place (streamed), every value has a new nonce.
    let good = env.write(&format!("good.{ext}"), enc.as_bytes());
    ok(&env.run_with("require", Some(4096), &["rotate", "-i", &good]));
    let rotated = std::fs::read_to_string(&good).expect("read");
    assert_eq!(structure(rotated.as_bytes()), structure(enc.as_bytes()));
    assert!(!rotated.contains(&enc[enc.find("ENC[").expect("enc")..][..60]));
    assert!(ok(&env.run_with("never", None, &["decrypt", &good])) == plain.as_bytes());
    // sops 3.11 decrypts the streamed rotation.
    if let Some(out) = sops_decrypt(&env, &good) {
        assert!(out == plain.as_bytes(), "sops decrypts the rotated file");
    }
    // A value changed near the end (25), an entry removed (51), a null entry added (53):
    // the file is left as it was, and nothing is printed without -i.
    let cut_at = enc.find(edits.entry).expect("entry");
    let cut_end = enc.find(edits.next).expect("next");
    let mut removed = enc.clone();
    removed.replace_range(cut_at..cut_end, "");
    let mut added = enc.clone();
    added.insert_str(cut_at, edits.added);
    let last = enc.rfind(edits.value).expect("name") + edits.value.len();
    let mut tampered = enc.clone();
    let c = if &enc[last..=last] == "A" { "B" } else { "A" };
    tampered.replace_range(last..=last, c);
    for (name, text, code) in [
        ("tampered", tampered, 25),
        ("removed", removed, 51),
        ("added", added, 53),
    ] {
        let p = env.write(&format!("{name}.{ext}"), text.as_bytes());
        for mode in ["require", "never"] {
            let out = env.run_with(mode, Some(4096), &["rotate", "-i", &p]);
            assert_eq!(out.status.code(), Some(code), "{name} ({mode})");
            assert!(
                std::fs::read_to_string(&p).expect("read") == text,
                "{name} ({mode}): unchanged"
            );
            let out = env.run_with(mode, Some(4096), &["rotate", &p]);
            assert_eq!(out.status.code(), Some(code), "{name} ({mode}), stdout");
            assert!(out.stdout.is_empty(), "{name} ({mode}): nothing printed");
        }
    }
    let left: Vec<_> = std::fs::read_dir(env.work.path())
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".leafseal-tmp."))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
