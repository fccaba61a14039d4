//! `edit` by splicing: equal output, edits it cannot make, and edits that write nothing.

use super::*;

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
    let flipped = tamper_nth(&text, "cpu", 7, |v| v.replacen("data:", "data:A", 1));
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
