//! (7) exec-env and exec-file: the same environment and the same file contents as sops,
//! with and without `--pristine`, with the `{}` placeholder, `--no-fifo`, `--filename`
//! and `--output-type`.

use crate::harness::Peer;
use crate::harness::Tool;
use crate::harness::assert_no_differences;
use crate::support::AGE_RECIPIENT;

const YAML: &str = "DB_USER: admin\nDB_PASS: \"p@ss word\"\nPORT: 5432\nRATIO: 0.5\nDEBUG: true\nEMPTY: \"\"\nMULTI: |\n  line one\n  line two\nsecret_unencrypted: clear\n";
const JSON: &str =
    "{\"DB_USER\": \"admin\", \"PORT\": 5432, \"BIG\": 12345678901, \"F\": 1.25, \"OK\": false}\n";
/// Nested values: exec-env refuses them (both tools), exec-file passes the document.
const NESTED: &str = "DB_USER: admin\nnested:\n  inner: x\nlist:\n  - a\n  - 2\n";
const ENV: &str = "DB_USER=admin\nDB_PASS=p@ss=word\nEMPTY=\n";

/// The `env` output without the variables a shell sets for itself.
fn env_lines(out: &[u8]) -> Vec<String> {
    let mut v: Vec<String> = String::from_utf8_lossy(out)
        .lines()
        .filter(|l| !l.starts_with("_=") && !l.starts_with("PWD=") && !l.starts_with("SHLVL="))
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

#[test]
fn exec_env_and_exec_file_match_sops() {
    let Some(p) = Peer::new(None) else { return };
    let mut diffs = Vec::new();
    let mut cases = 0;
    for (name, text) in [
        ("e.yaml", YAML),
        ("e.json", JSON),
        ("e.env", ENV),
        ("n.yaml", NESTED),
    ] {
        p.write(&format!("plain-{name}"), text);
        let enc = p.ok(
            Tool::Sops,
            &["encrypt", "--age", AGE_RECIPIENT, &format!("plain-{name}")],
        );
        p.write(name, enc);
        let env_cases: Vec<(String, Vec<&str>)> = vec![
            ("exec-env".into(), vec!["exec-env", name, "env"]),
            (
                "exec-env --pristine".into(),
                vec!["exec-env", "--pristine", name, "env"],
            ),
            (
                "exec-env one variable".into(),
                vec![
                    "exec-env",
                    name,
                    "printf '%s|' \"$DB_USER\" \"$PORT\" \"$MULTI\"",
                ],
            ),
        ];
        for (label, args) in env_cases {
            cases += 1;
            let s = p.run(Tool::Sops, &args);
            let l = p.run(Tool::Leafseal, &args);
            let must_work = name != "n.yaml";
            if s.code != l.code
                || env_lines(&s.stdout) != env_lines(&l.stdout)
                || (must_work && !s.ok())
            {
                diffs.push(format!(
                    "{name} {label}: sops exit {} {:?} / leafseal exit {} {:?} ({})",
                    s.code,
                    env_lines(&s.stdout),
                    l.code,
                    env_lines(&l.stdout),
                    l.stderr.trim()
                ));
            }
        }
        let file_cases: Vec<(&str, Vec<&str>)> = vec![
            ("exec-file fifo", vec!["exec-file", name, "cat {}"]),
            (
                "exec-file --no-fifo",
                vec!["exec-file", "--no-fifo", name, "cat {}"],
            ),
            (
                "exec-file --filename",
                vec![
                    "exec-file",
                    "--no-fifo",
                    "--filename",
                    "custom.txt",
                    name,
                    "basename {}; cat {}",
                ],
            ),
            (
                "exec-file --output-type json",
                vec!["exec-file", "--output-type", "json", name, "cat {}"],
            ),
            (
                "exec-file --output-type yaml",
                vec!["exec-file", "--output-type", "yaml", name, "cat {}"],
            ),
        ];
        for (label, args) in file_cases {
            cases += 1;
            let s = p.run(Tool::Sops, &args);
            let l = p.run(Tool::Leafseal, &args);
            if s.code != l.code || s.stdout != l.stdout || !s.ok() {
                diffs.push(format!(
                    "{name} {label}: sops exit {}:\n{}\nleafseal exit {}:\n{}\n{}",
                    s.code,
                    s.text(),
                    l.code,
                    l.text(),
                    l.stderr.trim()
                ));
            }
        }
    }
    assert_no_differences("exec", cases, &diffs);
}
