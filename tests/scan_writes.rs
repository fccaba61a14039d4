//! Round 5 of the large-file writes. `set`/`unset` by splicing (`LEAFSEAL_SPLICE`): parts
//! that do not hold the path are proved and decrypted by a line scan without a tree
//! (`LEAFSEAL_STREAM_DIRECT`: `require` makes any such part the scan does not take hand
//! the file back, `never` reads every part as a tree), and the new file is written to its
//! temporary file while the parts are verified. The streamed `rotate`: parts laid out as
//! the emitter lays them out are sealed again line by line without a tree. Through the
//! binary on real files cut into tiny parts (`LEAFSEAL_STREAM_PART`): the output equals
//! the whole-tree path's and the tree-read splice's on every line but the changed values'
//! ciphertext and the metadata; it decrypts with leafseal (strict integrity) and the real
//! sops 3.11; a tampered file fails as on the whole-tree path, is left byte for byte, and
//! no temporary file is left; a failing write leaves the file; a symbolic link is written
//! through.

mod support;

#[path = "support/stream_env.rs"]
mod stream_env;
#[path = "support/stream_writes.rs"]
mod stream_writes;

use stream_env::*;
use stream_writes::*;

/// A document every part of which the scan takes: nested maps, lists of scalars and of
/// maps, comments before keys, every scalar type, `{}` and `[]`, no clear values.
fn doc(services: usize) -> String {
    let mut s = String::from(
        "# top of the file\nversion: 3\ngenerator:\n    name: gen\n    seed: 7\nempty_map: {}\n",
    );
    s.push_str("services:\n");
    for i in 0..services {
        if i % 5 == 0 {
            s.push_str(&format!("    # group {i}\n"));
        }
        s.push_str(&format!(
            "    svc-{i:04}:\n        # owner of service {i}\n        name: service {i}\n        replicas: {}\n        cpu: {}.5\n        enabled: {}\n        when: 2024-01-0{}T10:00:00Z\n        none: []\n        env:\n            - name: MODE\n              value: same\n            - name: MODE\n              value: same\n        ports:\n            - {}\n            - {}\n        note: |-\n            two\n            lines\n",
            i % 7,
            i % 13,
            i % 2 == 0,
            1 + i % 9,
            8000 + i,
            9000 + i
        ));
    }
    s.push_str("# before the trailer\ntrailer: end\nlist:\n    - a\n    - b\n    - a\n");
    s
}

impl Env {
    /// The temporary files left in the work directory.
    fn temporaries(&self) -> Vec<String> {
        std::fs::read_dir(self.work.path())
            .expect("dir")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".leafseal-tmp."))
            .collect()
    }
}

/// Splicing required, every part but the holder scanned without a tree.
fn scanned(part: &str) -> [(&'static str, &str); 3] {
    [
        ("LEAFSEAL_SPLICE", "require"),
        ("LEAFSEAL_STREAM_DIRECT", "require"),
        ("LEAFSEAL_STREAM_PART", part),
    ]
}

/// Splicing required, every part read as a tree (the round-4 splice).
fn tree_read(part: &str) -> [(&'static str, &str); 3] {
    [
        ("LEAFSEAL_SPLICE", "require"),
        ("LEAFSEAL_STREAM_DIRECT", "never"),
        ("LEAFSEAL_STREAM_PART", part),
    ]
}

/// Runs `args` (the file inserted second) on a copy of `src` under `vars`.
fn run_on(env: &Env, src: &str, name: &str, vars: &[(&str, &str)], args: &[&str]) -> String {
    let p = env.path(name);
    std::fs::copy(src, &p).expect("copy");
    let mut v: Vec<&str> = args.to_vec();
    v.insert(1, &p);
    ok(&env.run_vars(vars, &v));
    p
}

#[test]
fn set_and_unset_with_scanned_parts_equal_the_tree_paths() {
    let env = Env::new(None);
    let src = env.encrypted("src.yaml", &doc(40));
    let plain = env.decrypt(&src);
    let sets: &[(&str, &str, &str, &str)] = &[
        (r#"["version"]"#, "4", "version: 3\n", "version: 4\n"),
        (
            r#"["services"]["svc-0031"]["name"]"#,
            r#""renamed""#,
            "name: service 31\n",
            "name: renamed\n",
        ),
        (
            r#"["services"]["svc-0007"]["ports"][1]"#,
            "1234",
            "- 9007\n",
            "- 1234\n",
        ),
        (
            r#"["services"]["svc-0039"]["name"]"#,
            r#""last""#,
            "name: service 39\n",
            "name: last\n",
        ),
        (
            r#"["trailer"]"#,
            r#""the end""#,
            "trailer: end\n",
            "trailer: the end\n",
        ),
    ];
    for (i, (path, value, from, to)) in sets.iter().enumerate() {
        for part in ["1", "500", "100000"] {
            let args = ["set", path, value];
            let a = run_on(
                &env,
                &src,
                &format!("s{i}-{part}.yaml"),
                &scanned(part),
                &args,
            );
            let b = run_on(
                &env,
                &src,
                &format!("t{i}-{part}.yaml"),
                &tree_read(part),
                &args,
            );
            let c = run_on(&env, &src, &format!("w{i}-{part}.yaml"), &WHOLE, &args);
            same_but_value(&a, &b, 1);
            same_but_value(&a, &c, 1);
            let want = plain.replacen(from, to, 1);
            assert_ne!(want, plain, "{path}");
            assert_eq!(env.decrypt(&a), want, "{path}");
            if part == "500" {
                sops_agrees(&env, &a, &want);
            }
        }
    }
    let unsets: &[(&str, &str, &str)] = &[
        (
            r#"["services"]["svc-0012"]["cpu"]"#,
            "        cpu: 12.5\n",
            "",
        ),
        (r#"["generator"]["seed"]"#, "    seed: 7\n", ""),
        (r#"["list"][1]"#, "    - b\n", ""),
    ];
    for (i, (path, from, to)) in unsets.iter().enumerate() {
        for part in ["1", "500"] {
            let args = ["unset", path];
            let a = run_on(
                &env,
                &src,
                &format!("us{i}-{part}.yaml"),
                &scanned(part),
                &args,
            );
            let c = run_on(&env, &src, &format!("uw{i}-{part}.yaml"), &WHOLE, &args);
            assert_eq!(
                std::fs::read_to_string(&a).expect("a").lines().count(),
                std::fs::read_to_string(&c).expect("c").lines().count()
            );
            same_but_value(&a, &c, 0);
            let want = plain.replacen(from, to, 1);
            assert_ne!(want, plain, "{path}");
            assert_eq!(env.decrypt(&a), want, "{path}");
            if part == "500" {
                sops_agrees(&env, &a, &want);
            }
        }
    }
    assert!(env.temporaries().is_empty(), "{:?}", env.temporaries());
}

#[test]
fn tampered_files_fail_as_on_the_whole_tree_path_with_scanned_parts() {
    let env = Env::new(None);
    let src = env.encrypted("src.yaml", &doc(30));
    let text = std::fs::read_to_string(&src).expect("read");
    let flip = |v: &str| {
        let i = "ENC[AES256_GCM,data:".len();
        let c = if &v[i..=i] == "A" { "B" } else { "A" };
        format!("{}{c}{}", &v[..i], &v[i + 1..])
    };
    let name_of = |n: usize| {
        text.lines()
            .filter(|l| l.trim_start().starts_with("name: ENC["))
            .nth(n)
            .and_then(|l| l.split_once(": "))
            .map(|(_, v)| v.to_owned())
            .expect("name")
    };
    let swap_lines = |first: &str, nth: usize| {
        let lines: Vec<&str> = text.lines().collect();
        let i = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.trim_start().starts_with(first))
            .nth(nth)
            .map(|(i, _)| i)
            .expect("line");
        let mut v: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
        v.swap(i + 1, i + 2);
        v.join("\n") + "\n"
    };
    // The `env` values of a late service swapped: same AAD and plaintext, only the
    // integrity record sees it.
    let swapped_env = {
        let lines: Vec<&str> = text.lines().collect();
        let values: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].trim_start().starts_with("value: ENC["))
            .skip(40)
            .take(2)
            .collect();
        let mut v: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
        v.swap(values[0], values[1]);
        v.join("\n") + "\n"
    };
    let cases = vec![
        ("a flipped byte", tamper_nth(&text, "cpu", 25, flip)),
        (
            "values of two paths swapped",
            tamper_nth(&text, "name", 23, |_| name_of(20)),
        ),
        ("ports swapped", swap_lines("ports:", 22)),
        ("env values swapped", swapped_env),
    ];
    for (what, bad) in cases {
        for (cmd, args) in [
            ("set", vec![r#"["services"]["svc-0001"]["name"]"#, r#""x""#]),
            ("unset", vec![r#"["services"]["svc-0001"]["cpu"]"#]),
        ] {
            let mut codes = Vec::new();
            for vars in [
                &[
                    ("LEAFSEAL_SPLICE", "always"),
                    ("LEAFSEAL_STREAM_PART", "300"),
                ][..],
                &[("LEAFSEAL_SPLICE", "always"), ("LEAFSEAL_STREAM_PART", "1")][..],
                &WHOLE[..],
            ] {
                let p = env.path("bad.yaml");
                std::fs::write(&p, &bad).expect("write");
                let mut argv = vec![cmd, p.as_str()];
                argv.extend(args.iter().copied());
                let out = env.run_vars(vars, &argv);
                assert!(!out.status.success(), "{what}: {cmd} {vars:?} succeeded");
                assert_eq!(
                    std::fs::read_to_string(&p).expect("read"),
                    bad,
                    "{what}: {cmd} left the file"
                );
                assert!(
                    env.temporaries().is_empty(),
                    "{what}: {:?}",
                    env.temporaries()
                );
                codes.push((
                    out.status.code(),
                    String::from_utf8_lossy(&out.stderr).into_owned(),
                ));
            }
            assert_eq!(codes[0], codes[2], "{what}: {cmd}: same code and message");
            assert_eq!(codes[1], codes[2], "{what}: {cmd}: same code and message");
        }
    }
}

#[test]
fn a_failing_write_during_the_splice_leaves_the_file() {
    let env = Env::new(None);
    let src = env.encrypted("src.yaml", &doc(300));
    let before = std::fs::read(&src).expect("read");
    assert!(before.len() > 200_000, "{}", before.len());
    // Writes fail once the temporary file holds 64 KiB: while the parts are folded.
    let bin = env!("CARGO_BIN_EXE_leafseal");
    let script =
        format!("trap '' XFSZ; ulimit -f 128; exec '{bin}' set '{src}' '[\"trailer\"]' '\"x\"'");
    let mut vars = env.vars.clone();
    vars.insert("LEAFSEAL_SPLICE".to_owned(), "require".to_owned());
    vars.insert("LEAFSEAL_STREAM_PART".to_owned(), "4096".to_owned());
    let out = std::process::Command::new("sh")
        .env_clear()
        .envs(&vars)
        .current_dir(env.work.path())
        .args(["-c", &script])
        .output()
        .expect("sh");
    let err = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(3) => assert!(
            err.contains("write failed") && err.contains("left unchanged"),
            "{err}"
        ),
        Some(153) => assert!(err.contains("unchanged"), "{err}"),
        other => panic!("exit {other:?}: {err}"),
    }
    assert!(std::fs::read(&src).expect("read") == before);
    assert!(env.temporaries().is_empty(), "{:?}", env.temporaries());
}

#[test]
fn a_symbolic_link_is_written_through_and_the_mode_kept() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new(None);
    let src = env.encrypted("src.yaml", &doc(20));
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let link = env.path("link.yaml");
    std::os::unix::fs::symlink(&src, &link).expect("symlink");
    ok(&env.run_vars(&scanned("400"), &["set", &link, r#"["version"]"#, "5"]));
    assert!(
        std::fs::symlink_metadata(&link)
            .expect("link")
            .file_type()
            .is_symlink()
    );
    let mode = std::fs::metadata(&src).expect("src").permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    assert!(env.decrypt(&src).contains("version: 5\n"));
    assert!(env.temporaries().is_empty(), "{:?}", env.temporaries());
}

/// Every `ENC[…]` text reduced to its type and data length (what the tree path and the
/// scan must agree on: the ciphertext and nonce are fresh), the metadata lines dropped.
fn shape(path: &str) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("read");
    let body = text.split("\nsops:\n").next().expect("body").to_owned();
    body.lines()
        .map(|l| {
            let mut out = String::new();
            let mut rest = l;
            while let Some(i) = rest.find("ENC[AES256_GCM,data:") {
                out.push_str(&rest[..i]);
                let after = &rest[i + "ENC[AES256_GCM,data:".len()..];
                let data = after.split(',').next().expect("data");
                let typ = after
                    .split(",type:")
                    .nth(1)
                    .and_then(|t| t.split(']').next())
                    .expect("type");
                out.push_str(&format!("ENC<{}:{typ}>", data.len()));
                rest = &after[after.find(']').expect("]") + 1..];
            }
            out.push_str(rest);
            out
        })
        .collect()
}

#[test]
fn rotate_with_scanned_parts_equals_the_tree_path() {
    let env = Env::new(None);
    let src = env.encrypted("src.yaml", &doc(40));
    let plain = env.decrypt(&src);
    let before = std::fs::read_to_string(&src).expect("read");
    for part in ["1", "500", "100000"] {
        let stream = [
            ("LEAFSEAL_STREAM", "require"),
            ("LEAFSEAL_STREAM_DIRECT", "require"),
            ("LEAFSEAL_STREAM_PART", part),
        ];
        let a = run_on(
            &env,
            &src,
            &format!("r-{part}.yaml"),
            &stream,
            &["rotate", "-i"],
        );
        let tree = [("LEAFSEAL_STREAM", "never")];
        let b = run_on(
            &env,
            &src,
            &format!("rt-{part}.yaml"),
            &tree,
            &["rotate", "-i"],
        );
        assert_eq!(shape(&a), shape(&b), "part {part}");
        assert_eq!(shape(&a), shape(&src), "part {part}");
        assert_eq!(env.decrypt(&a), plain);
        // Every value was sealed again: no ciphertext of the old file is left.
        let after = std::fs::read_to_string(&a).expect("read");
        let old: std::collections::HashSet<&str> = before
            .split("data:")
            .skip(1)
            .filter_map(|s| s.split(',').next())
            .collect();
        assert!(
            after
                .split("data:")
                .skip(1)
                .filter_map(|s| s.split(',').next())
                .all(|d| !old.contains(d) || d.len() < 8),
            "part {part}"
        );
        if part == "500" {
            sops_agrees(&env, &a, &plain);
        }
    }
    // Tampered: the same failure as the tree path, the file left, no temporary file.
    let flip = |v: &str| {
        let i = "ENC[AES256_GCM,data:".len();
        let c = if &v[i..=i] == "A" { "B" } else { "A" };
        format!("{}{c}{}", &v[..i], &v[i + 1..])
    };
    let swapped_env = {
        let lines: Vec<&str> = before.lines().collect();
        let values: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].trim_start().starts_with("value: ENC["))
            .skip(30)
            .take(2)
            .collect();
        let mut v: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
        v.swap(values[0], values[1]);
        v.join("\n") + "\n"
    };
    for (what, bad) in [
        ("a flipped byte", tamper_nth(&before, "cpu", 33, flip)),
        ("env values swapped", swapped_env),
    ] {
        let mut codes = Vec::new();
        for vars in [
            &[
                ("LEAFSEAL_STREAM", "always"),
                ("LEAFSEAL_STREAM_PART", "300"),
            ][..],
            &[("LEAFSEAL_STREAM", "never")][..],
        ] {
            let p = env.path("bad.yaml");
            std::fs::write(&p, &bad).expect("write");
            let out = env.run_vars(vars, &["rotate", "-i", &p]);
            assert!(!out.status.success(), "{what}: {vars:?} succeeded");
            assert_eq!(std::fs::read_to_string(&p).expect("read"), bad, "{what}");
            assert!(
                env.temporaries().is_empty(),
                "{what}: {:?}",
                env.temporaries()
            );
            codes.push((
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            ));
        }
        assert_eq!(codes[0], codes[1], "{what}: same code and message");
    }
}

/// An editor that keeps a copy of the plaintext it was given (`seen-TAG.yaml`) and then
/// runs `sed` on it.
fn editor(env: &Env, tag: &str, sed: &str) -> String {
    let p = env.path(&format!("ed-{tag}.sh"));
    let seen = env.path(&format!("seen-{tag}.yaml"));
    std::fs::write(
        &p,
        format!("#!/bin/sh\ncp \"$1\" '{seen}'\nsed -i '{sed}' \"$1\"\n"),
    )
    .expect("editor");
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    p
}

#[test]
fn edit_with_scanned_parts_equals_the_tree_paths() {
    let env = Env::new(None);
    let src = env.encrypted("src.yaml", &doc(40));
    let plain = env.decrypt(&src);
    let cases = [
        ("version", "s/^version: 3$/version: 4/"),
        (
            "name",
            "s/^        name: service 31$/        name: renamed/",
        ),
        ("port", "s/^            - 9007$/            - \"a string\"/"),
        ("note", "0,/^            two$/s//            three/"),
        ("list", "s/^    - b$/    - c/"),
    ];
    for (tag, sed) in cases {
        for part in ["1", "600", "100000"] {
            let mut results = Vec::new();
            for (mode, vars) in [
                ("scan", &scanned(part)[..]),
                ("tree", &tree_read(part)[..]),
                ("whole", &WHOLE[..]),
            ] {
                let t = format!("{tag}-{part}-{mode}");
                let ed = editor(&env, &t, sed);
                let f = env.path(&format!("{t}.yaml"));
                std::fs::copy(&src, &f).expect("copy");
                let mut v: Vec<(&str, &str)> = vec![("EDITOR", ed.as_str())];
                v.extend_from_slice(vars);
                ok(&env.run_vars(&v, &["edit", &f]));
                let seen =
                    std::fs::read_to_string(env.path(&format!("seen-{t}.yaml"))).expect("seen");
                assert_eq!(seen, plain, "{t}: the editor's plaintext");
                results.push(f);
            }
            same_but_value(&results[0], &results[1], 1);
            same_but_value(&results[0], &results[2], 1);
            let want = env.decrypt(&results[2]);
            assert_ne!(want, plain, "{tag}");
            assert_eq!(env.decrypt(&results[0]), want, "{tag}");
            if part == "600" {
                sops_agrees(&env, &results[0], &want);
            }
        }
    }
    assert!(env.temporaries().is_empty(), "{:?}", env.temporaries());
}
