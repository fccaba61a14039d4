//! Inputs that expand: alias bombs, sampled nested lists, a gpg that prints without end.

use super::*;

/// Nine levels of lists of 512 whose first item nests again and whose other 511 are
/// empty (`"a": [[[...],[],...],[],...]`), in JSON and in flow YAML.
fn nested_first_lists(levels: usize) -> String {
    let mut v = String::from("[]");
    for _ in 0..levels {
        v = format!("[{v}{}]", ",[]".repeat(511));
    }
    v
}

#[test]
fn nested_sampled_lists_do_not_blow_up_the_output_estimate_audit_json_estimate() {
    // The writers' size estimate multiplied its 1-in-16 sampling weight at every level:
    // 16^9 times too big, "memory allocation of 570018896928136 bytes failed" and an
    // abort (134) in encrypt and decrypt of a 26 KB file.
    let t = T::new();
    let lists = nested_first_lists(9);
    for (name, plain) in [
        ("n.json", format!("{{\"a\": {lists}, \"k\": \"v\"}}\n")),
        ("n.yaml", format!("a: {lists}\nk: v\n")),
    ] {
        t.write(name, plain.as_bytes());
        let o = run_limited(
            &t,
            1_500_000_000,
            &["encrypt", "--age", AGE_RECIPIENT, name],
        );
        assert_ok(&o);
        assert_eq!(o.status.signal(), None);
        let enc = format!("enc.{name}");
        t.write(&enc, &o.stdout);
        let o = run_limited(&t, 1_500_000_000, &["decrypt", &enc]);
        assert_ok(&o);
        assert!(String::from_utf8_lossy(&o.stdout).contains("[]"));
    }
}

#[test]
fn a_gpg_that_prints_without_end_is_stopped_audit_pgp_decompression_bomb() {
    // `gpg --decrypt` of a planted compressed message prints 512 MiB from 2 KB; its
    // whole output used to be read before the 32-byte check (803 MB resident). A stand-in
    // gpg that never stops printing must be stopped at the bound, in bounded memory.
    let t = T::new();
    let enc = String::from_utf8(t.encrypted_yaml("enc.yaml")).expect("utf-8");
    let swapped = enc
        .replacen(
            "    age:\n        - enc: |\n",
            "    pgp:\n        - fp: 0123456789ABCDEF0123456789ABCDEF01234567\n          created_at: \"2026-12-06T13:04:32Z\"\n          enc: |\n",
            1,
        )
        .replacen(&format!("          recipient: {AGE_RECIPIENT}\n"), "", 1);
    assert_ne!(swapped, enc);
    t.write("pgp.yaml", swapped.as_bytes());
    let gpg = t.path("endless-gpg");
    std::fs::write(&gpg, "#!/bin/sh\nexec yes\n").expect("write");
    std::fs::set_permissions(&gpg, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let Some(prlimit) = which_prlimit() else {
        return;
    };
    let begun = Instant::now();
    let o = std::process::Command::new(prlimit)
        .env_clear()
        .envs(t.vars())
        .env("SOPS_GPG_EXEC", &gpg)
        .env_remove("SOPS_AGE_KEY_FILE")
        .current_dir(t.dir.path())
        .arg("--as=1000000000")
        .arg(env!("CARGO_BIN_EXE_leafseal"))
        .args(["decrypt", "pgp.yaml"])
        .stdin(Stdio::null())
        .output()
        .expect("prlimit");
    assert_refused(&o, 128, &["printed more than 4096 bytes and was stopped"]);
    assert!(begun.elapsed() < Duration::from_secs(30));
}

/// Seven levels of nine-fold aliases: 236 bytes that expand to 9^7 scalars (76 MB).
fn alias_bomb() -> String {
    let mut s = String::from("a: &a [x,x,x,x,x,x,x,x,x]\n");
    let names = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    for w in names.windows(2) {
        let refs = vec![format!("*{}", w[0]); 9].join(",");
        s.push_str(&format!("{}: &{} [{refs}]\n", w[1], w[1]));
    }
    s
}

#[test]
fn alias_bomb_is_refused_before_it_grows() {
    let bomb = alias_bomb();
    assert_eq!(bomb.len(), 236);
    let t = T::new();
    let enc = t.encrypted_yaml("enc.yaml");
    let mut planted = bomb.clone().into_bytes();
    planted.extend_from_slice(&enc);
    t.write("bomb.enc.yaml", &planted);
    t.write("bomb.yaml", bomb.as_bytes());
    let start = Instant::now();
    let o = t.run(&["decrypt", "bomb.enc.yaml"]);
    assert_refused(&o, DAMAGED, &["alias expansion is too large", "(line "]);
    let o = t.run(&["encrypt", "--age", AGE_RECIPIENT, "bomb.yaml"]);
    assert_refused(&o, 2, &["alias expansion is too large"]);
    assert!(start.elapsed() < Duration::from_secs(20));
    // Ordinary anchors and merge keys still work.
    t.write(
        "anchors.yaml",
        b"base: &b {user: u, pass: p}\nprod:\n    <<: *b\n    pass: q\nlist: [*b, *b]\n",
    );
    assert_ok(&t.run(&["encrypt", "--age", AGE_RECIPIENT, "anchors.yaml"]));
}

#[test]
fn an_alias_bomb_padded_to_megabytes_is_refused_in_little_memory() {
    // The old budget grew with the input (4 nodes per byte): this 5.5 MB file took
    // 893 MB (debug build) before it was refused; go-yaml's rule refuses it at its
    // first thousands of nodes.
    let bomb = alias_bomb();
    let mut plain = bomb.clone().into_bytes();
    plain.extend_from_slice(b"#");
    plain.resize(5_500_000, b'p');
    plain.push(b'\n');
    let t = T::new();
    let enc = t.encrypted_yaml("enc.yaml");
    t.write("bomb.yaml", &plain);
    plain.extend_from_slice(&enc);
    t.write("bomb.enc.yaml", &plain);
    let o = run_limited(
        &t,
        600_000_000,
        &["encrypt", "--age", AGE_RECIPIENT, "bomb.yaml"],
    );
    assert_refused(&o, 2, &["alias expansion is too large", "(line "]);
    let o = run_limited(&t, 600_000_000, &["decrypt", "bomb.enc.yaml"]);
    assert_refused(&o, DAMAGED, &["alias expansion is too large", "(line "]);
}
