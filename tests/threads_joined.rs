//! Every thread leafseal starts is joined, never detached (round 26): dropping a thread's
//! handle calls `pthread_detach`, and glibc's detach racing with the thread's exit
//! crashed a test in round 25. A preloaded library counts `pthread_detach` calls while
//! the commands that use threads (large files streamed and parsed on every core, the
//! tree path, several files at once) run; the count must be 0.

mod support;

use std::path::Path;
use std::path::PathBuf;
use std::process::Command;

/// Builds the counting library with the C compiler (the one Rust links with).
fn counter(dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/threads_joined/count_detach.c");
    let lib = dir.join("count_detach.so");
    let out = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".to_owned()))
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&lib)
        .arg(&src)
        .arg("-ldl")
        .output()
        .expect("run cc");
    assert!(
        out.status.success(),
        "cc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    lib
}

/// A JSON document of about `n` × 60 bytes with a large object (so that it is parsed,
/// streamed and written on several threads).
fn large_json(n: usize) -> String {
    let items: Vec<String> = (0..n)
        .map(|i| format!("\"k{i:07}\": \"value number {i} of the large document\""))
        .collect();
    format!("{{\"small\": 1, \"big\": {{{}}}}}\n", items.join(", "))
}

fn large_yaml(n: usize) -> String {
    let mut s = String::from("small: 1\nbig:\n");
    for i in 0..n {
        s.push_str(&format!(
            "    k{i:07}: value number {i} of the large document\n"
        ));
    }
    s
}

#[test]
fn no_command_detaches_a_thread() {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let lib = counter(dir.path());
    let mut vars = support::env_vars(None, home.path());
    vars.insert("LD_PRELOAD".to_owned(), lib.display().to_string());
    std::fs::write(dir.path().join("big.json"), large_json(25_000)).expect("write json");
    std::fs::write(dir.path().join("big.yaml"), large_yaml(25_000)).expect("write yaml");
    let runs: [&[&str]; 7] = [
        &["encrypt", "-i", "--age", support::AGE_RECIPIENT, "big.json"],
        &["encrypt", "-i", "--age", support::AGE_RECIPIENT, "big.yaml"],
        &["decrypt", "big.json"],
        &["decrypt", "big.yaml"],
        &["decrypt", "--extract", "[\"big\"]", "big.json"],
        &["rotate", "-i", "big.json", "big.yaml"],
        &["set", "big.yaml", "[\"small\"]", "2"],
    ];
    for args in runs {
        let out = support::run_in(&vars, dir.path(), args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {stderr}");
        let count = stderr
            .lines()
            .find_map(|l| l.strip_prefix("PTHREAD_DETACH_CALLS="))
            .unwrap_or_else(|| panic!("{args:?}: the counter did not report: {stderr}"));
        assert_eq!(count, "0", "{args:?} detached {count} thread(s)");
    }
}
