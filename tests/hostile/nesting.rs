//! Nesting beyond the limit, planted or typed in any format or command, is refused cleanly.

use super::*;

#[test]
fn deep_nesting_planted_in_an_encrypted_file_is_refused_by_decrypt() {
    let t = T::new();
    let enc = t.encrypted_yaml("enc.yaml");
    for leaf in ["null", "x"] {
        t.write("deep.yaml", &planted(HUGE, leaf, &enc));
        let o = t.run(&["decrypt", "deep.yaml"]);
        assert_refused(&o, DAMAGED, DEEP_YAML);
        assert!(o.stdout.is_empty());
    }
    // Also as the value read by set and by the other readers of encrypted files.
    let o = t.run(&["set", "deep.yaml", r#"["user"]"#, r#""bob""#]);
    assert_refused(&o, DAMAGED, DEEP_YAML);
    let o = t.run(&["filestatus", "deep.yaml"]);
    assert_eq!(o.status.signal(), None, "{}", stderr(&o));
}

#[test]
fn deep_null_nesting_fails_fast_in_bounded_memory() {
    // 20,000 levels ending in null used to decrypt with exit 0 after allocating 1.6 GB.
    let t = T::new();
    let enc = t.encrypted_yaml("enc.yaml");
    t.write("deep.yaml", &planted(20_000, "null", &enc));
    let start = Instant::now();
    let o = match which_prlimit() {
        Some(prlimit) => {
            let mut c = std::process::Command::new(prlimit);
            c.env_clear()
                .envs(t.vars())
                .current_dir(t.dir.path())
                .arg("--as=600000000")
                .arg(env!("CARGO_BIN_EXE_leafseal"))
                .args(["decrypt", "deep.yaml"])
                .stdin(Stdio::null());
            c.output().expect("prlimit")
        }
        None => t.run(&["decrypt", "deep.yaml"]),
    };
    assert_refused(&o, DAMAGED, DEEP_YAML);
    assert!(start.elapsed() < Duration::from_secs(20));
}

#[test]
fn nesting_at_the_limit_still_works_on_worker_threads() {
    let t = T::new();
    let enc = t.encrypted_yaml("enc.yaml");
    // 255 compact sequences under a top-level key: 256 levels, the most accepted. Planted
    // without the key, the nulls add nothing to the MAC, but the integrity record sees
    // them: a tamper error, not a crash.
    t.write("a.yaml", &planted(255, "null", &enc));
    let o = t.run(&["decrypt", "a.yaml"]);
    assert_refused(&o, 53, &["integrity check failed"]);
    // Encrypted at that depth by leafseal, several files are decrypted on worker threads.
    t.write("p.yaml", &planted(255, "leaf-secret", b"k: v\n"));
    let o = t.run(&["encrypt", "--age", AGE_RECIPIENT, "p.yaml"]);
    assert_ok(&o);
    t.write("p.enc.yaml", &o.stdout);
    t.write("q.enc.yaml", &o.stdout);
    let o = t.run(&["decrypt", "p.enc.yaml", "q.enc.yaml"]);
    assert_ok(&o);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(out.matches("leaf-secret").count(), 2, "{out}");
    // One level more is refused.
    t.write("c.yaml", &planted(256, "null", &enc));
    assert_refused(&t.run(&["decrypt", "c.yaml"]), DAMAGED, DEEP_YAML);
}

#[test]
fn git_textconv_and_merge_driver_survive_deep_nesting() {
    let t = T::new();
    let enc = t.encrypted_yaml("enc.yaml");
    let deep = planted(HUGE, "null", &enc);
    t.write("deep.yaml", &deep);
    // textconv prints what it cannot decrypt unchanged and exits 0.
    let o = t.run(&["git", "textconv", "deep.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(o.stdout, deep);
    // The merge driver: hostile "theirs", then hostile "base"; %A is left untouched.
    for (base, theirs) in [("enc.yaml", "deep.yaml"), ("deep.yaml", "enc.yaml")] {
        std::fs::copy(t.path("enc.yaml"), t.path("ours.yaml")).expect("copy");
        let o = t.run(&[
            "git",
            "merge-driver",
            base,
            "ours.yaml",
            theirs,
            "secrets.yaml",
        ]);
        let err = stderr(&o);
        assert_eq!(o.status.signal(), None, "{err}");
        // A conflict (the hostile side does not read as an encrypted file).
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(err.contains("merge conflict"), "{err}");
        assert_eq!(std::fs::read(t.path("ours.yaml")).expect("read"), enc);
    }
}

#[test]
fn edit_refuses_deep_nesting_from_the_editor_and_leaves_no_workspace() {
    let t = T::new();
    let enc = t.encrypted_yaml("secrets.yaml");
    // The editor plants the nesting in front of the decrypted text.
    let editor = t.dir.path().join("plant.sh");
    std::fs::write(
        &editor,
        format!(
            "#!/bin/sh\nset -e\nF=\"$1\"\ncp \"$F\" \"$F.orig\"\n\
             {{ printf 'deep:\\n'; printf '%{HUGE}s' '' | sed 's/ /- /g'; printf 'null\\n'; \
             cat \"$F.orig\"; }} > \"$F\"\nrm \"$F.orig\"\n"
        ),
    )
    .expect("editor");
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut v = t.vars();
    v.insert("SOPS_EDITOR".to_owned(), editor.display().to_string());
    let o = run_in(&v, t.dir.path(), &["edit", "secrets.yaml"]);
    assert_refused(&o, 2, &["nesting too deep", "was not changed"]);
    assert_eq!(std::fs::read(t.path("secrets.yaml")).expect("read"), enc);
    let left: Vec<_> = std::fs::read_dir(t.xdg.path())
        .expect("xdg")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "workspace left behind: {left:?}");
}

#[test]
fn deep_toml_is_refused_with_its_place() {
    let t = T::new();
    let parts = |n: usize| vec!["a"; n].join(".");
    let cases = [
        (
            format!("x = 1\n[{}]\nb = 1\n", parts(HUGE)),
            "(line 2, column 1)",
        ),
        (format!("x = 1\n{} = 1\n", parts(200)), "(line 2, column 1)"),
        (
            format!("x = 1\na = {}{}\n", "[".repeat(HUGE), "]".repeat(HUGE)),
            "(line 2,",
        ),
    ];
    for (doc, place) in cases {
        t.write("deep.toml", doc.as_bytes());
        let o = t.run(&[
            "encrypt",
            "--input-type",
            "toml",
            "--age",
            AGE_RECIPIENT,
            "deep.toml",
        ]);
        assert_refused(&o, 2, &["nesting too deep", place]);
    }
}

#[test]
fn set_refuses_a_path_that_would_nest_beyond_the_limit() {
    let t = T::new();
    let enc = t.encrypted_yaml("s.yaml");
    // 20,000 steps overflowed the stack; 300 wrote a file that could not be read back.
    for n in [300, 20_000] {
        let path = "[\"a\"]".repeat(n);
        let o = t.run(&["set", "s.yaml", &path, "\"x\""]);
        assert_refused(&o, 7, &["deeper than 256 levels"]);
        assert_eq!(std::fs::read(t.path("s.yaml")).expect("read"), enc);
    }
    // Path and value count together; 256 levels in all is fine and reads back.
    let path = "[\"a\"]".repeat(250);
    let o = t.run(&["set", "s.yaml", &path, "[[[[[[[1]]]]]]]"]);
    assert_refused(&o, 7, &["deeper than 256 levels"]);
    let o = t.run(&["set", "s.yaml", &path, "[[[[[[1]]]]]]"]);
    assert_ok(&o);
    assert_ok(&t.run(&["decrypt", "s.yaml"]));
}

#[test]
fn deep_policy_file_is_a_policy_error() {
    let t = T::new();
    let mut policy = b"creation_rules:\n".to_vec();
    policy.extend_from_slice(&planted(HUGE, "x", b"")[6..]);
    t.write(".sops.yaml", &policy);
    t.write("a.yaml", b"a: 1\n");
    let o = t.run(&["encrypt", "a.yaml"]);
    assert_refused(
        &o,
        1,
        &["policy file", "nesting too deep", "(line 2, column 511)"],
    );
}
