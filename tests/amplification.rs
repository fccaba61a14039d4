//! Hostile shapes whose memory used to be far above their size (round 24's memory
//! campaign; the table is in docs/security.md, "Memory amplification"). The peak memory
//! of each run is read the way `/usr/bin/time` reads it (the children's `ru_maxrss`,
//! through `python3`, which the test suite needs anyway), so that going back to the old
//! amplification fails the test.

mod support;

use std::path::Path;
use std::process::Stdio;

use support::AGE_RECIPIENT;
use support::env_vars;

/// Runs `leafseal ARGS` in `dir`, its standard output into `dir/out`; its exit code, its
/// standard error and its peak resident memory in MB.
fn run_measured(
    vars: &std::collections::HashMap<String, String>,
    dir: &Path,
    args: &[&str],
) -> (i32, String, u64) {
    let script = "import resource, subprocess, sys\n\
                  with open('out', 'wb') as out:\n    \
                  r = subprocess.run(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.PIPE)\n\
                  sys.stderr.buffer.write(r.stderr)\n\
                  print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n";
    let o = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_leafseal"))
        .args(args)
        .env_clear()
        .envs(vars)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("python3");
    let said = String::from_utf8_lossy(&o.stdout);
    let mut fields = said
        .split_whitespace()
        .map(|f| f.parse::<i64>().expect("number"));
    let code = fields.next().expect("exit code");
    let kb = fields.next().expect("peak");
    (
        i32::try_from(code).expect("code"),
        String::from_utf8_lossy(&o.stderr).into_owned(),
        u64::try_from(kb).expect("kb") / 1024,
    )
}

/// 4,000 keys each holding a flow list 250 deep (2 MB): the YAML writer reserved its
/// output from an estimate that counted indentation at every depth, about 340 MB per MB
/// of such a file, all of it touched when the buffer was wiped (release build, 1 MB:
/// `encrypt` 535 MB, `decrypt` 530 MB; this file about twice that). Block YAML writes a
/// list of lists on one line (`- - - 1`), so the output is about the input's size.
#[test]
fn deeply_nested_lists_are_written_in_memory_near_their_size() {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let text: String = (0..4000)
        .map(|i| format!("k{i}: {}1{}\n", "[".repeat(250), "]".repeat(250)))
        .collect();
    std::fs::write(dir.path().join("deep.yaml"), &text).expect("write");
    let vars = env_vars(None, home.path());
    let args = ["encrypt", "-i", "--age", AGE_RECIPIENT, "deep.yaml"];
    let (code, err, mb) = run_measured(&vars, dir.path(), &args);
    assert_eq!(code, 0, "encrypt: {err}");
    assert!(mb < 250, "encrypt of a 2 MB file peaked at {mb} MB");
    let (code, err, mb) = run_measured(&vars, dir.path(), &["decrypt", "deep.yaml"]);
    assert_eq!(code, 0, "decrypt: {err}");
    assert!(mb < 250, "decrypt of a 2 MB file peaked at {mb} MB");
    let out = std::fs::read_to_string(dir.path().join("out")).expect("output");
    // `k0:` then `    - - … - 1` on the next line, for every key.
    assert_eq!(out.lines().count(), 8000, "two lines per key");
    let deepest = format!("    {}1", "- ".repeat(250));
    assert!(
        out.lines().skip(1).step_by(2).all(|l| l == deepest),
        "{}",
        &out[..200]
    );
}

/// `[[t]]` / `k=1` (1 MB, 100,000 tables, `--input-type toml`): toml_edit's document
/// costs about 1 KB per table on top of its parser's tokens and events (debug build:
/// `encrypt` 234 MB, `decrypt` of leafseal's encryption 263 MB). Beyond 100,000 keys,
/// tables and array elements the TOML reader now refuses the file before parsing it
/// (exit code 2 for plaintext, 1 for an encrypted file, as for other input beyond the
/// limits) in 25 MB; a file just under the budget (333 KB) takes about 105 MB (debug).
#[test]
fn toml_arrays_of_tables_are_bounded() {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let vars = env_vars(None, home.path());
    let encrypt = [
        "encrypt",
        "-i",
        "--input-type",
        "toml",
        "--output-type",
        "toml",
        "--age",
        AGE_RECIPIENT,
        "t.toml",
    ];
    let decrypt = [
        "decrypt",
        "--input-type",
        "toml",
        "--output-type",
        "toml",
        "t.toml",
    ];

    std::fs::write(dir.path().join("t.toml"), "[[t]]\nk=1\n".repeat(100_000)).expect("write");
    let (code, err, mb) = run_measured(&vars, dir.path(), &encrypt);
    assert!(mb < 60, "encrypt of a 1 MB file peaked at {mb} MB");
    assert_eq!(code, 2, "encrypt of 300,000 structures: {err}");
    assert!(err.contains("more than 100000 keys, tables"), "{err}");

    // Three per table: 33,333 tables are 99,999, one short of the budget.
    let under = "[[t]]\nk=1\n".repeat(33_333);
    std::fs::write(dir.path().join("t.toml"), &under).expect("write");
    let (code, err, mb) = run_measured(&vars, dir.path(), &encrypt);
    assert_eq!(code, 0, "encrypt: {err}");
    assert!(mb < 160, "encrypt of 33,333 tables peaked at {mb} MB");
    let (code, err, mb) = run_measured(&vars, dir.path(), &decrypt);
    assert_eq!(code, 0, "decrypt: {err}");
    assert!(mb < 160, "decrypt of 33,333 tables peaked at {mb} MB");
    let out = std::fs::read_to_string(dir.path().join("out")).expect("output");
    assert_eq!(
        out.matches("[[t]]\nk = 1\n").count(),
        33_333,
        "{}",
        &out[..80]
    );
}
