//! `set` and `unset` by splicing (`LEAFSEAL_SPLICE`), through the binary on real files
//! cut into many tiny parts (`LEAFSEAL_STREAM_PART`): the output equals the whole-tree
//! path's (`LEAFSEAL_SPLICE=never`) on every line but the changed value's ciphertext
//! (a fresh nonce) and the metadata; both decrypt to the expected plaintext with leafseal
//! and with the real sops 3.11 (its MAC check passes); a tampered file fails with the
//! whole-tree path's exit code and message and is left byte for byte; layouts the
//! whole-tree path would rewrite, and inserts, are handed back to it.

mod support;

#[path = "support/stream_env.rs"]
mod stream_env;

use std::process::Output;

use stream_env::*;
use support::*;

/// A document with nested maps, lists with repeated values under one path (a shared
/// AAD), comments before keys and inside entries, and every scalar type.
fn doc(services: usize) -> String {
    let mut s =
        String::from("# top of the file\nversion: 3\ngenerator:\n    name: gen\n    seed: 7\n");
    s.push_str("services:\n");
    for i in 0..services {
        if i % 5 == 0 {
            s.push_str(&format!("    # group {i}\n"));
        }
        s.push_str(&format!(
            "    svc-{i:04}:\n        # owner of service {i}\n        name: service {i}\n        replicas: {}\n        cpu: {}.5\n        enabled: {}\n        when: 2024-01-0{}T10:00:00Z\n        empty: \"\"\n        nothing: null\n        env:\n            - name: MODE\n              value: same\n            - name: MODE\n              value: same\n        ports:\n            - {}\n            - {}\n",
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
    /// Encrypts `plain` into `name`; returns its path.
    fn encrypted(&self, name: &str, plain: &str) -> String {
        let p = self.path(name);
        std::fs::write(&p, plain).expect("write");
        ok(&self.run_vars(&[], &["encrypt", "-i", "--age", AGE_RECIPIENT, &p]));
        p
    }

    fn decrypt(&self, path: &str) -> String {
        let out = self.run_vars(&[("LEAFSEAL_STRICT_INTEGRITY", "1")], &["decrypt", path]);
        String::from_utf8(ok(&out)).expect("utf8")
    }
}

/// Runs one command on two copies of `src`, spliced and whole; returns both paths.
fn both(env: &Env, src: &str, part: &str, args: &[&str], tag: &str) -> (String, String) {
    both_in(env, src, "require", part, args, tag)
}

/// [`both`] with another `LEAFSEAL_SPLICE` setting for the spliced copy.
fn both_in(
    env: &Env,
    src: &str,
    mode: &str,
    part: &str,
    args: &[&str],
    tag: &str,
) -> (String, String) {
    let (a, b) = (
        env.path(&format!("{tag}-s.yaml")),
        env.path(&format!("{tag}-w.yaml")),
    );
    std::fs::copy(src, &a).expect("copy");
    std::fs::copy(src, &b).expect("copy");
    let with = |p: &str| {
        let mut v: Vec<&str> = args.to_vec();
        v.insert(1, p);
        v.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>()
    };
    let (aa, bb) = (with(&a), with(&b));
    let aa: Vec<&str> = aa.iter().map(String::as_str).collect();
    let bb: Vec<&str> = bb.iter().map(String::as_str).collect();
    ok(&env.run_vars(
        &[("LEAFSEAL_SPLICE", mode), ("LEAFSEAL_STREAM_PART", part)],
        &aa,
    ));
    ok(&env.run_vars(&WHOLE, &bb));
    (a, b)
}

#[test]
fn set_by_splicing_equals_the_whole_tree_path() {
    let env = Env::new(None);
    let src = env.encrypted("src.yaml", &doc(60));
    let plain = env.decrypt(&src);
    let cases: &[(&str, &str, &str, &str, bool)] = &[
        // (path, value, text before, text after) in the plaintext, and whether it is
        // spliced at every part size
        (r#"["version"]"#, "4", "version: 3\n", "version: 4\n", true),
        (
            r#"["services"]["svc-0031"]["name"]"#,
            r#""renamed""#,
            "name: service 31\n",
            "name: renamed\n",
            true,
        ),
        (
            r#"["services"]["svc-0007"]["ports"][1]"#,
            "1234",
            "- 9007\n",
            "- 1234\n",
            true,
        ),
        (
            r#"["services"]["svc-0002"]["enabled"]"#,
            "false",
            "svc-0002:\n        # owner of service 2\n        name: service 2\n        replicas: 2\n        cpu: 2.5\n        enabled: true\n",
            "svc-0002:\n        # owner of service 2\n        name: service 2\n        replicas: 2\n        cpu: 2.5\n        enabled: false\n",
            true,
        ),
        (
            r#"["services"]["svc-0059"]["nothing"]"#,
            r#""now set""#,
            "svc-0059:\n        # owner of service 59\n        name: service 59\n        replicas: 3\n        cpu: 7.5\n        enabled: false\n        when: 2024-01-06T10:00:00Z\n        empty: \"\"\n        nothing: null\n",
            "svc-0059:\n        # owner of service 59\n        name: service 59\n        replicas: 3\n        cpu: 7.5\n        enabled: false\n        when: 2024-01-06T10:00:00Z\n        empty: \"\"\n        nothing: now set\n",
            true,
        ),
        (
            r#"["trailer"]"#,
            r#""the end""#,
            "trailer: end\n",
            "trailer: the end\n",
            true,
        ),
        // Inserts below a first key that is there (round 15): the new key goes at the
        // end of its map, as the whole-tree path puts it, with any maps on the way.
        (
            r#"["services"]["svc-0031"]["added"]"#,
            r#""new value""#,
            "            - 9031\n",
            "            - 9031\n        added: new value\n",
            true,
        ),
        (
            r#"["generator"]["extra"]["deep"]"#,
            "5",
            "    seed: 7\n",
            "    seed: 7\n    extra:\n        deep: 5\n",
            false,
        ),
        // New first keys: after every part, before the `sops` block.
        (
            r#"["new-top"]"#,
            r#""at the end""#,
            "    - b\n    - a\n",
            "    - b\n    - a\nnew-top: at the end\n",
            true,
        ),
        (
            r#"["new-map"]["a"]["b"]"#,
            "true",
            "    - b\n    - a\n",
            "    - b\n    - a\nnew-map:\n    a:\n        b: true\n",
            true,
        ),
    ];
    for (i, (path, value, from, to, every_size)) in cases.iter().enumerate() {
        for part in ["1", "700", "100000"] {
            // With one entry per part, `generator`'s entries are parts of their own, and
            // a new one belongs to none of them: the whole-tree path writes it.
            let mode = if *every_size || part != "1" {
                "require"
            } else {
                "always"
            };
            let (a, b) = both_in(
                &env,
                &src,
                mode,
                part,
                &["set", path, value],
                &format!("set{i}-{part}"),
            );
            same_but_value(&a, &b, 1);
            let want = plain.replacen(from, to, 1);
            assert_ne!(want, plain, "{path}");
            assert_eq!(env.decrypt(&a), want, "{path}");
            assert_eq!(env.decrypt(&b), want, "{path}");
            if part == "700" {
                sops_agrees(&env, &a, &want);
            }
        }
    }
}

#[test]
fn set_of_a_value_shared_by_list_items_keeps_the_whole_tree_paths_nonces() {
    // `env` items share their AAD and their value: the IV stash hands out their nonces
    // in walk order, and changing the first gives the second the first one's nonce.
    // The splice writes the part with the part's own stash: the same lines.
    let env = Env::new(None);
    let src = env.encrypted("src.yaml", &doc(20));
    let (a, b) = both(
        &env,
        &src,
        "300",
        &[
            "set",
            r#"["services"]["svc-0011"]["env"][0]["value"]"#,
            r#""other""#,
        ],
        "shared",
    );
    let (sa, sb) = (
        std::fs::read_to_string(&a).expect("read"),
        std::fs::read_to_string(&b).expect("read"),
    );
    let lines = |s: &str| s.lines().filter(|l| !meta_line(l)).count();
    assert_eq!(lines(&sa), lines(&sb));
    let diff = sa
        .lines()
        .zip(sb.lines())
        .filter(|(x, y)| x != y && !meta_line(x))
        .count();
    assert_eq!(diff, 1, "only the changed value's fresh nonce differs");
    assert_eq!(env.decrypt(&a), env.decrypt(&b));
    // Setting the list's `a` to `b` (a value another item holds at that path).
    let (a, b) = both(
        &env,
        &src,
        "300",
        &["set", r#"["list"][0]"#, r#""b""#],
        "list",
    );
    same_but_value(&a, &b, 1);
    assert!(
        env.decrypt(&a)
            .ends_with("list:\n    - b\n    - b\n    - a\n")
    );
}

#[test]
fn set_of_the_same_value_writes_nothing() {
    let env = Env::new(None);
    let src = env.encrypted("src.yaml", &doc(10));
    let before = std::fs::read(&src).expect("read");
    let out = env.run_vars(
        &spliced("200"),
        &[
            "set",
            &src,
            r#"["services"]["svc-0003"]["name"]"#,
            r#""service 3""#,
        ],
    );
    ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the value is already set"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&src).expect("read"), before);
}

#[test]
fn unset_by_splicing_equals_the_whole_tree_path() {
    let env = Env::new(None);
    let src = env.encrypted("src.yaml", &doc(40));
    let plain = env.decrypt(&src);
    let svc = |i: usize| {
        let start = plain.find(&format!("    svc-{i:04}:\n")).expect("svc");
        let end = plain[start + 4..]
            .find("\n    svc-")
            .or_else(|| plain[start + 4..].find("\n#"))
            .map(|e| start + 4 + e + 1)
            .expect("end");
        (start, end)
    };
    let (s12, e12) = svc(12);
    let cases: Vec<(&str, String)> = vec![
        (
            r#"["services"]["svc-0012"]"#,
            format!("{}{}", &plain[..s12], &plain[e12..]),
        ),
        // A service after a comment: the comment is handled as the whole-tree path
        // handles it (compared below).
        (r#"["services"]["svc-0010"]"#, String::new()),
        (
            r#"["services"]["svc-0013"]["cpu"]"#,
            plain.replacen(
                "        cpu: 0.5\n        enabled: false\n        when: 2024-01-05",
                "        enabled: false\n        when: 2024-01-05",
                1,
            ),
        ),
        (
            r#"["services"]["svc-0021"]["ports"][0]"#,
            plain.replacen("            - 8021\n", "", 1),
        ),
        (r#"["version"]"#, plain.replacen("version: 3\n", "", 1)),
        (
            r#"["list"][2]"#,
            plain.replacen("    - b\n    - a\n", "    - b\n", 1),
        ),
    ];
    for (i, (path, want)) in cases.iter().enumerate() {
        assert_ne!(want, &plain, "{path}");
        for part in ["1", "500", "100000"] {
            // A part left with only a comment (the one before the removed service, when
            // the service is a part of its own; the file's first comment, when `version`
            // is) is handed back.
            let mode = if (i == 1 && part != "100000") || (i == 4 && part == "1") {
                "always"
            } else {
                "require"
            };
            let tag = format!("unset{i}-{part}");
            let (a, b) = both_in(&env, &src, mode, part, &["unset", path], &tag);
            same_but_value(&a, &b, 0);
            let want = if want.is_empty() {
                env.decrypt(&b)
            } else {
                want.clone()
            };
            assert_ne!(want, plain);
            assert_eq!(env.decrypt(&a), want, "{path}");
            if part == "500" {
                sops_agrees(&env, &a, &want);
            }
        }
    }
}

/// Replaces the `ENC[…]` text of the `n`th value line holding `key:` with `with(old)`.
fn tamper(text: &str, key: &str, n: usize, with: impl Fn(&str) -> String) -> String {
    let mut seen = 0;
    text.lines()
        .map(|l| {
            if l.trim_start().starts_with(&format!("{key}: ENC[")) {
                seen += 1;
                if seen == n + 1 {
                    let (k, v) = l.split_once(": ").expect("value");
                    return format!("{k}: {}\n", with(v));
                }
            }
            format!("{l}\n")
        })
        .collect()
}

#[test]
fn tampered_files_fail_as_on_the_whole_tree_path_and_are_left_alone() {
    let env = Env::new(None);
    let src = env.encrypted("src.yaml", &doc(30));
    let text = std::fs::read_to_string(&src).expect("read");
    let flip = |v: &str| {
        // A flipped byte of the ciphertext: the value no longer authenticates.
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
    // Two ports of one service swapped (same AAD: each still decrypts; the MAC sees it).
    let swapped_ports = {
        let lines: Vec<&str> = text.lines().collect();
        let i = lines
            .iter()
            .position(|l| l.trim_start().starts_with("ports:"))
            .expect("ports");
        let mut v: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
        v.swap(i + 1, i + 2);
        v.join("\n") + "\n"
    };
    // The two `env` values of a service swapped (same AAD, same plaintext: only the
    // integrity record sees it).
    let swapped_env = {
        let lines: Vec<&str> = text.lines().collect();
        let values: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].trim_start().starts_with("value: ENC["))
            .take(2)
            .collect();
        let mut v: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
        v.swap(values[0], values[1]);
        v.join("\n") + "\n"
    };
    let cases = vec![
        ("a flipped byte", tamper(&text, "cpu", 25, flip)),
        (
            "values of two paths swapped",
            tamper(&text, "name", 3, |_| name_of(20)),
        ),
        ("ports swapped", swapped_ports),
        ("env values swapped", swapped_env),
    ];
    for (what, bad) in cases {
        for (cmd, args) in [
            ("set", vec![r#"["services"]["svc-0001"]["name"]"#, r#""x""#]),
            ("unset", vec![r#"["services"]["svc-0001"]["cpu"]"#]),
        ] {
            let mut codes = Vec::new();
            for (mode, part) in [("always", "400"), ("never", "400"), ("always", "1")] {
                let p = env.path("bad.yaml");
                std::fs::write(&p, &bad).expect("write");
                let mut argv = vec![cmd, p.as_str()];
                argv.extend(args.iter().copied());
                let out = env.run_vars(
                    &[("LEAFSEAL_SPLICE", mode), ("LEAFSEAL_STREAM_PART", part)],
                    &argv,
                );
                assert!(!out.status.success(), "{what}: {cmd} ({mode}) succeeded");
                assert_eq!(
                    std::fs::read_to_string(&p).expect("read"),
                    bad,
                    "{what}: {cmd} left the file"
                );
                codes.push((
                    out.status.code(),
                    String::from_utf8_lossy(&out.stderr).into_owned(),
                ));
            }
            assert_eq!(codes[0], codes[1], "{what}: {cmd}: same code and message");
            assert_eq!(codes[2], codes[1], "{what}: {cmd}: same code and message");
        }
    }
}

/// Halves the indentation of every line (4 spaces to 2, list items' continuation lines
/// kept two columns after their dash): a layout the YAML store does
/// not write, with the same tree, MAC and integrity record.
fn two_spaces(text: &str) -> String {
    text.lines()
        .map(|l| {
            let n = l.len() - l.trim_start_matches(' ').len();
            format!("{}{}\n", " ".repeat(n / 4 * 2 + n % 4), &l[n..])
        })
        .collect()
}

#[test]
fn other_layouts_and_inserts_take_the_whole_tree_path() {
    let env = Env::new(None);
    let src = env.encrypted("src.yaml", &doc(20));
    let text = std::fs::read_to_string(&src).expect("read");
    let set_name = ["set", r#"["services"]["svc-0004"]["name"]"#, r#""x""#];
    // A block scalar for the metadata's age stanza keeps its text: only indent the data.
    let (data, meta) = text.split_at(text.find("\nsops:\n").expect("sops") + 1);
    let flow = {
        // `generator: {name: "ENC[…]", seed: "ENC[…]"}` on one line.
        let start = text.find("generator:\n").expect("gen");
        let end = text.find("services:\n").expect("services");
        let value = |k: &str| {
            text[start..end]
                .lines()
                .find_map(|l| l.trim_start().strip_prefix(k))
                .expect("value")
                .to_owned()
        };
        format!(
            "{}generator: {{name: \"{}\", seed: \"{}\"}}\n{}",
            &text[..start],
            value("name: "),
            value("seed: "),
            &text[end..]
        )
    };
    let layouts = vec![
        ("2-space indentation", format!("{}{meta}", two_spaces(data))),
        ("flow style", flow),
        (
            "an encrypted comment out of place",
            text.replacen(
                "    svc-0004:\n        #ENC[",
                "    svc-0004:\n          #ENC[",
                1,
            ),
        ),
    ];
    for (what, layout) in layouts {
        let p = env.path("layout.yaml");
        std::fs::write(&p, &layout).expect("write");
        // Still a valid file, which the splice hands back.
        let out = env.run_vars(&spliced("300"), &{
            let mut v = vec![set_name[0], p.as_str()];
            v.extend(&set_name[1..]);
            v
        });
        assert!(!out.status.success(), "{what}: spliced");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("LEAFSEAL_SPLICE=require"),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let auto = [
            ("LEAFSEAL_SPLICE", "always"),
            ("LEAFSEAL_STREAM_PART", "300"),
        ];
        let (a, b) = (env.path("l-auto.yaml"), env.path("l-whole.yaml"));
        for (q, vars) in [(&a, &auto[..]), (&b, &WHOLE[..])] {
            std::fs::write(q, &layout).expect("write");
            let mut v = vec![set_name[0], q.as_str()];
            v.extend(&set_name[1..]);
            ok(&env.run_vars(vars, &v));
        }
        same_but_value(&a, &b, 1);
        // Written again whole: the store's own layout, not the input's.
        assert!(
            std::fs::read_to_string(&a)
                .expect("read")
                .contains("\n        name: ENC[")
        );
    }
    // A new entry of a map cut into parts, a key with a `:`, a container value and
    // another output format. (Other inserts are spliced:
    // `set_by_splicing_equals_the_whole_tree_path`.)
    for (args, tag) in [
        (
            vec!["set", r#"["services"]["svc-9999"]"#, r#""n""#],
            "new entry of a cut map",
        ),
        (
            vec!["set", r#"["generator"]["a:b"]"#, r#""n""#],
            "a key with a colon",
        ),
        (vec!["set", r#"["generator"]"#, r#"{"a": 1}"#], "container"),
        (vec!["unset", r#"["services"]["svc-0099"]"#], "absent"),
    ] {
        let p = env.path(&format!("{tag}.yaml"));
        std::fs::copy(&src, &p).expect("copy");
        let mut v = vec![args[0], p.as_str()];
        v.extend(&args[1..]);
        let out = env.run_vars(&spliced("300"), &v);
        assert!(!out.status.success(), "{tag}: spliced");
        let (a, b) = (
            env.path(&format!("{tag}-a.yaml")),
            env.path(&format!("{tag}-b.yaml")),
        );
        let mut outs = Vec::new();
        for (q, vars) in [(&a, &[("LEAFSEAL_SPLICE", "always")][..]), (&b, &WHOLE[..])] {
            std::fs::copy(&src, q).expect("copy");
            let mut v = vec![args[0], q.as_str()];
            v.extend(&args[1..]);
            outs.push(env.run_vars(vars, &v));
        }
        assert_eq!(outs[0].status.code(), outs[1].status.code(), "{tag}");
        if outs[0].status.success() {
            assert_eq!(env.decrypt(&a), env.decrypt(&b), "{tag}");
        }
    }
}

/// Writes an editor script running `sed -i EXPR` on its file; returns its path.
fn editor(env: &Env, tag: &str, sed: &str) -> String {
    let p = env.path(&format!("ed-{tag}.sh"));
    std::fs::write(&p, format!("#!/bin/sh\nsed -i '{sed}' \"$1\"\n")).expect("editor");
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    p
}

/// Runs `edit` with an editor and extra variables.
fn edit(env: &Env, ed: &str, extra: &[(&str, &str)], file: &str) -> Output {
    let mut vars: Vec<(&str, &str)> = vec![("EDITOR", ed)];
    vars.extend_from_slice(extra);
    env.run_vars(&vars, &["edit", file])
}

#[test]
fn edit_by_splicing_equals_the_whole_tree_path() {
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
        (
            "time",
            // (The first service with that time only: the others are other parts.)
            "0,/^        when: 2024-01-03T10:00:00Z$/s//        when: later/",
        ),
        ("list", "s/^    - b$/    - c/"),
    ];
    for (tag, sed) in cases {
        let ed = editor(&env, tag, sed);
        for part in ["1", "600", "100000"] {
            let (a, b) = (env.path("e-s.yaml"), env.path("e-w.yaml"));
            std::fs::copy(&src, &a).expect("copy");
            std::fs::copy(&src, &b).expect("copy");
            let out = edit(&env, &ed, &spliced(part), &a);
            assert!(
                out.status.success(),
                "{tag} in parts of {part}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            ok(&edit(&env, &ed, &WHOLE, &b));
            same_but_value(&a, &b, 1);
            let want = env.decrypt(&b);
            assert_ne!(want, plain, "{tag}");
            assert_eq!(env.decrypt(&a), want, "{tag}");
            if part == "600" {
                sops_agrees(&env, &a, &want);
            }
        }
    }
}

#[test]
fn edits_the_splice_cannot_make_take_the_whole_tree_path() {
    let env = Env::new(None);
    let src = env.encrypted("src.yaml", &doc(30));
    let cases = [
        // Two services, each a part of its own.
        (
            "two parts",
            "s/^        name: service 3$/        name: x/; s/^        name: service 17$/        name: y/",
        ),
        (
            "a new key",
            "s/^        name: service 5$/        name: service 5\\n        extra: 1/",
        ),
        ("a removed key", "/^        name: service 6$/d"),
        (
            "a new comment",
            "s/^        name: service 8$/        # note\\n        name: service 8/",
        ),
        (
            "a value made a map",
            "s/^        name: service 9$/        name: {a: 1}/",
        ),
    ];
    for (what, sed) in cases {
        let ed = editor(&env, "x", sed);
        let a = env.path("x-s.yaml");
        std::fs::copy(&src, &a).expect("copy");
        let out = edit(&env, &ed, &spliced("1"), &a);
        assert!(!out.status.success(), "{what}: spliced");
        assert_eq!(
            std::fs::read(&a).expect("read"),
            std::fs::read(&src).expect("read")
        );
        let b = env.path("x-w.yaml");
        for (p, vars) in [
            (
                &a,
                &[("LEAFSEAL_SPLICE", "always"), ("LEAFSEAL_STREAM_PART", "1")][..],
            ),
            (&b, &WHOLE[..]),
        ] {
            std::fs::copy(&src, p).expect("copy");
            ok(&edit(&env, &ed, vars, p));
        }
        let (x, y) = (
            std::fs::read_to_string(&a).expect("read"),
            std::fs::read_to_string(&b).expect("read"),
        );
        assert_eq!(
            x.lines().filter(|l| !meta_line(l)).count(),
            y.lines().filter(|l| !meta_line(l)).count(),
            "{what}"
        );
        assert_eq!(env.decrypt(&a), env.decrypt(&b), "{what}");
    }
}

#[test]
fn edit_without_a_change_and_edit_of_a_tampered_file_write_nothing() {
    let env = Env::new(None);
    let src = env.encrypted("src.yaml", &doc(20));
    let before = std::fs::read(&src).expect("read");
    let ed = editor(&env, "noop", "s/^version: 3$/version: 3/");
    let out = edit(&env, &ed, &spliced("1"), &src);
    assert_eq!(
        out.status.code(),
        Some(200),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("File has not changed"));
    assert_eq!(std::fs::read(&src).expect("read"), before);

    let text = String::from_utf8(before).expect("utf8");
    let lines: Vec<&str> = text.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.trim_start().starts_with("ports:"))
        .expect("ports");
    let mut v: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    v.swap(i + 1, i + 2);
    let bad = v.join("\n") + "\n";
    let flipped = tamper(&text, "cpu", 7, |v| v.replacen("data:", "data:A", 1));
    let ed = editor(&env, "one", "s/^version: 3$/version: 4/");
    for (what, bad) in [("ports swapped", bad), ("a value changed", flipped)] {
        let mut seen = Vec::new();
        for mode in ["always", "never"] {
            let p = env.path("bad.yaml");
            std::fs::write(&p, &bad).expect("write");
            let out = edit(
                &env,
                &ed,
                &[("LEAFSEAL_SPLICE", mode), ("LEAFSEAL_STREAM_PART", "1")],
                &p,
            );
            assert!(!out.status.success(), "{what} ({mode})");
            assert_eq!(std::fs::read_to_string(&p).expect("read"), bad, "{what}");
            seen.push((
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            ));
        }
        assert_eq!(seen[0], seen[1], "{what}: same code and message");
    }
}
