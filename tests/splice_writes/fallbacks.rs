//! Tampered files fail as on the whole-tree path; other layouts and inserts go to it.

use super::*;

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
        ("a flipped byte", tamper_nth(&text, "cpu", 25, flip)),
        (
            "values of two paths swapped",
            tamper_nth(&text, "name", 3, |_| name_of(20)),
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
