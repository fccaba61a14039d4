//! Inputs whose reading used to take time quadratic in the length of one line: a YAML
//! document written on one line with hundreds of thousands of flow collections
//! (`k: [[],[],…]`, `k: {a0: {}, …}`). The full YAML reader searched back to the start of
//! the line for every collection it met (round 24, found by the memory campaign: a 1 MB
//! file of empty lists was still encrypting after 90 s). Each run here has a CPU-time
//! limit (`ulimit -t`), not a wall-clock one, so the machine's load does not matter: a
//! quadratic reader needs minutes of CPU for these 3 MB files, a linear one seconds.

mod support;

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

use support::AGE_RECIPIENT;
use support::env_vars;

/// Encrypts `text` (a YAML file) under a CPU-time limit of 60 s and checks it worked.
fn encrypts_within_the_cpu_limit(name: &str, text: &str) {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join(name), text).expect("write");
    let vars = env_vars(None, home.path());
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -t 60; \"$LEAFSEAL\" encrypt --age {AGE_RECIPIENT} {name} > out.yaml"
        ))
        .env_clear()
        .envs(&vars)
        .env("LEAFSEAL", env!("CARGO_BIN_EXE_leafseal"))
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("sh");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        o.status.signal(),
        None,
        "{name}: stopped by a signal (SIGXCPU: over 60 s of CPU): {err}"
    );
    assert!(o.status.success(), "{name}: {err}");
    let out = std::fs::read_to_string(dir.path().join("out.yaml")).expect("output");
    assert!(out.contains("sops:"), "{name}: no metadata written");
}

#[test]
fn a_one_line_document_of_many_empty_lists_is_read_in_linear_time() {
    let text = format!("k: [{}[]]\n", "[],".repeat(1_000_000));
    encrypts_within_the_cpu_limit("lists.yaml", &text);
}

#[test]
fn a_one_line_document_of_many_empty_maps_is_read_in_linear_time() {
    let mut text = String::from("k: {");
    for i in 0..600_000 {
        text.push_str(&format!("a{i}: {{}}, "));
    }
    text.push_str("z: {}}\n");
    encrypts_within_the_cpu_limit("maps.yaml", &text);
}
