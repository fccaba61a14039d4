//! `set` and `unset` by splicing (`LEAFSEAL_SPLICE`), through the binary on real files
//! cut into many tiny parts (`LEAFSEAL_STREAM_PART`): the output equals the whole-tree
//! path's (`LEAFSEAL_SPLICE=never`) on every line but the changed value's ciphertext
//! (a fresh nonce) and the metadata; both decrypt to the expected plaintext with leafseal
//! and with the real sops 3.11 (its MAC check passes); a tampered file fails with the
//! whole-tree path's exit code and message and is left byte for byte; layouts the
//! whole-tree path would rewrite, and inserts, are handed back to it.

mod support;

#[path = "splice_writes/edit.rs"]
mod edit;
#[path = "splice_writes/fallbacks.rs"]
mod fallbacks;
#[path = "splice_writes/set_unset.rs"]
mod set_unset;

#[path = "support/stream_env.rs"]
mod stream_env;
#[path = "support/stream_writes.rs"]
mod stream_writes;

use std::process::Output;

use stream_env::*;
use stream_writes::*;

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
