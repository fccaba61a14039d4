//! `set` and `unset` by splicing equal the whole-tree path's output, and a no-op writes nothing.

use super::*;

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
