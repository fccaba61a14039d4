//! `edit` of a file opened by streaming hashes the new MAC from the hash state kept at
//! the boundary of the changed part (the parts before it are not hashed again): through
//! the binary, in small parts (`LEAFSEAL_STREAM_PART`, the splice required), an edit in
//! the first part, one in a middle part and one in the last part give the whole-tree
//! path's file (`LEAFSEAL_SPLICE=never`) on every line but the changed value's
//! ciphertext and the metadata, for a file whose MAC covers every value and for one
//! whose MAC covers only the encrypted values (`--mac-only-encrypted`, with plain
//! values, the MAC's seed fed first); each decrypts with leafseal (strict integrity,
//! the MAC checked) and the real sops 3.11.

mod support;

#[path = "support/stream_env.rs"]
mod stream_env;

use stream_env::*;
use support::*;

/// A document of many services, long enough to be cut into many small parts.
fn doc(services: usize) -> String {
    let mut s = String::from("version: 3\nowner:\n    name: first\n    token: t0\n");
    s.push_str("services:\n");
    for i in 0..services {
        s.push_str(&format!(
            "    svc-{i:03}:\n        name: service {i}\n        token: tok-{i}\n        port: {}\n        tags:\n            - a{i}\n            - b{i}\n",
            8000 + i
        ));
    }
    s.push_str("trailer:\n    name: last\n    token: tz\n");
    s
}

#[test]
fn edits_in_the_first_middle_and_last_part_give_the_whole_tree_paths_file() {
    let env = Env::new(None);
    let plain = doc(60);
    let runtime = tempfile::tempdir().expect("runtime dir");
    let rt = runtime.path().display().to_string();
    let variants: [(&str, &[&str]); 2] = [
        ("all", &[]),
        (
            "moe",
            &[
                "--mac-only-encrypted",
                "--encrypted-regex",
                "^(name|token)$",
            ],
        ),
    ];
    // (tag, sed expression, lines holding a changed ENC value in the "all" and "moe" files)
    let cases = [
        ("first", "s/^    token: t0$/    token: T0/", 1, 1),
        (
            "middle",
            "s/^        token: tok-31$/        token: changed/",
            1,
            1,
        ),
        ("last", "s/^    token: tz$/    token: zz/", 1, 1),
        (
            "plain value",
            "s/^            - b58$/            - c58/",
            1,
            0,
        ),
    ];
    for (variant, flags) in variants {
        let src = env.path(&format!("src-{variant}.yaml"));
        std::fs::write(&src, &plain).expect("write");
        let mut args = vec!["encrypt", "-i", "--age", AGE_RECIPIENT];
        args.extend_from_slice(flags);
        args.push(&src);
        ok(&env.run_vars(&[], &args));
        for (tag, sed, all_values, moe_values) in cases {
            let ed = env.path(&format!("ed-{variant}-{}.sh", tag.replace(' ', "-")));
            std::fs::write(&ed, format!("#!/bin/sh\nsed -i '{sed}' \"$1\"\n")).expect("editor");
            std::fs::set_permissions(&ed, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .expect("chmod");
            let (a, b) = (env.path("e-s.yaml"), env.path("e-w.yaml"));
            std::fs::copy(&src, &a).expect("copy");
            std::fs::copy(&src, &b).expect("copy");
            let mut vars = vec![("EDITOR", ed.as_str()), ("XDG_RUNTIME_DIR", rt.as_str())];
            vars.extend_from_slice(&spliced("400"));
            let out = env.run_vars(&vars, &["edit", &a]);
            assert!(
                out.status.success(),
                "{variant} {tag}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let mut vars = vec![("EDITOR", ed.as_str()), ("XDG_RUNTIME_DIR", rt.as_str())];
            vars.extend_from_slice(&WHOLE);
            ok(&env.run_vars(&vars, &["edit", &b]));
            let values = if variant == "moe" {
                moe_values
            } else {
                all_values
            };
            same_but_value(&a, &b, values);
            let strict = [("LEAFSEAL_STRICT_INTEGRITY", "1")];
            let want =
                String::from_utf8(ok(&env.run_vars(&strict, &["decrypt", &b]))).expect("utf8");
            assert_ne!(want, plain, "{variant} {tag}: the editor changed something");
            let got =
                String::from_utf8(ok(&env.run_vars(&strict, &["decrypt", &a]))).expect("utf8");
            assert_eq!(got, want, "{variant} {tag}");
            sops_agrees(&env, &a, &want);
        }
    }
}
