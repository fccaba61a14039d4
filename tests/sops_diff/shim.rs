//! (8) leafseal called as `sops` (a symlink named sops) against the real sops, with the
//! command lines helm-secrets, Flux's documentation and sops-nix users run.

use crate::harness::Peer;
use crate::harness::Tool;
use crate::harness::assert_no_differences;
use crate::harness::same_layout;
use crate::support::AGE_RECIPIENT;

const SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: basic-auth\n  namespace: default\ntype: Opaque\nstringData:\n  username: admin\n  password: hunter2\ndata:\n  token: dG9rZW4=\n";
const VALUES: &str = "db:\n  password: hunter2\n  port: 5432\nreplicas: 2\n";

#[test]
fn sops_command_lines_give_the_same_output() {
    let Some(mut p) = Peer::new(None) else { return };
    // leafseal under the name `sops`.
    let bin = p.path("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_leafseal"), bin.join("sops")).expect("symlink");
    p.set_leafseal_exe(bin.join("sops"));
    let mut diffs = Vec::new();
    let mut cases = 0;
    for tool in [Tool::Sops, Tool::Leafseal] {
        let t = format!("{tool:?}").to_lowercase();
        p.write(&format!("{t}/secret.yaml"), SECRET);
        p.write(&format!("{t}/values.yaml"), VALUES);
    }
    // Writers: both tools on the same command line, in place, then compared.
    let writes: &[(&str, &[&str])] = &[
        (
            "flux encrypt in place",
            &[
                "--age",
                AGE_RECIPIENT,
                "--encrypt",
                "--encrypted-regex",
                "^(data|stringData)$",
                "--in-place",
                "secret.yaml",
            ],
        ),
        (
            "helm-secrets encrypt in place",
            &[
                "--encrypt",
                "--age",
                AGE_RECIPIENT,
                "--input-type",
                "yaml",
                "--output-type",
                "yaml",
                "--in-place",
                "values.yaml",
            ],
        ),
    ];
    for (label, args) in writes {
        cases += 1;
        let file = args.last().copied().unwrap_or_default();
        let mut outs = Vec::new();
        for tool in [Tool::Sops, Tool::Leafseal] {
            let dir = p.path(&format!("{tool:?}").to_lowercase());
            let o = p.run_at(tool, &dir, args);
            if !o.ok() {
                diffs.push(format!(
                    "{label}: {tool:?} failed ({}): {}",
                    o.code, o.stderr
                ));
            }
            outs.push(std::fs::read_to_string(dir.join(file)).expect("read"));
        }
        if let Err(e) = same_layout(label, &outs[1], &outs[0]) {
            diffs.push(e);
        }
    }
    // Readers: each tool's file read by both tools.
    let reads: &[(&str, &[&str])] = &[
        (
            "helm-secrets decrypt",
            &[
                "--decrypt",
                "--input-type",
                "yaml",
                "--output-type",
                "yaml",
                "values.yaml",
            ],
        ),
        ("decrypt -d", &["-d", "secret.yaml"]),
        (
            "sops-nix extract",
            &["-d", "--extract", "[\"db\"][\"password\"]", "values.yaml"],
        ),
        (
            "extract map",
            &["-d", "--extract", "[\"db\"]", "values.yaml"],
        ),
        (
            "output json",
            &["-d", "--output-type", "json", "values.yaml"],
        ),
        (
            "output dotenv refused (nested)",
            &["-d", "--output-type", "dotenv", "secret.yaml"],
        ),
        ("filestatus", &["filestatus", "values.yaml"]),
        ("decrypt subcommand", &["decrypt", "secret.yaml"]),
        (
            "exec-env refused (nested)",
            &["exec-env", "values.yaml", "echo $replicas"],
        ),
        (
            "extract missing",
            &["-d", "--extract", "[\"nope\"]", "values.yaml"],
        ),
    ];
    for writer in [Tool::Sops, Tool::Leafseal] {
        let dir = p.path(&format!("{writer:?}").to_lowercase());
        for (label, args) in reads {
            cases += 1;
            let s = p.run_at(Tool::Sops, &dir, args);
            let l = p.run_at(Tool::Leafseal, &dir, args);
            let must_work = !label.contains("missing") && !label.contains("refused");
            if s.code != l.code || s.stdout != l.stdout || must_work != s.ok() {
                diffs.push(format!(
                    "{label} on the file {writer:?} wrote: sops exit {}:\n{}\nleafseal-as-sops exit {}:\n{}\n{}",
                    s.code,
                    s.text(),
                    l.code,
                    l.text(),
                    l.stderr.trim()
                ));
            }
        }
    }
    assert_no_differences("sops drop-in", cases, &diffs);
}
