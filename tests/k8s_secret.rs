//! Kubernetes Secret manifests: `decrypt --k8s-decode`, `edit` through the decoded view
//! (every other ciphertext stays byte-identical; the real sops still reads the file), the
//! git textconv driver (flag and `.sops.yaml` opt-in), and `check`'s warning about a
//! Secret whose `data` the matching rule leaves in clear.

#[path = "support/sops.rs"]
mod sops_peer;
mod support;

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use support::*;

// "aHVudGVyMg==" is "hunter2", "YWRtaW4=" is "admin", "/w==" the byte 0xff.
const SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n    name: db\ntype: Opaque\ndata:\n    password: aHVudGVyMg==\n    user: YWRtaW4=\n    blob: /w==\nstringData:\n    note: plain text\n";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn vars(dir: &Path) -> HashMap<String, String> {
    let mut v = env_vars(None, dir);
    v.insert("TMPDIR".to_owned(), dir.display().to_string());
    v
}

fn setup() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tmp");
    std::fs::write(d.path().join("secret.yaml"), SECRET).expect("write");
    let out = run_in(
        &vars(d.path()),
        d.path(),
        &[
            "encrypt",
            "-i",
            "--age",
            AGE_RECIPIENT,
            "--encrypted-regex",
            "^(data|stringData)$",
            "secret.yaml",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    d
}

#[test]
fn decrypt_k8s_decode_shows_data_decoded_and_leaves_the_file_alone() {
    let d = setup();
    let before = std::fs::read(d.path().join("secret.yaml")).expect("read");
    let out = run_in(&vars(d.path()), d.path(), &["decrypt", "secret.yaml"]);
    assert_eq!(text(&out.stdout), SECRET, "{}", text(&out.stderr));
    let out = run_in(
        &vars(d.path()),
        d.path(),
        &["decrypt", "--k8s-decode", "secret.yaml"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains("    password: hunter2\n"), "{shown}");
    assert!(shown.contains("    user: admin\n"), "{shown}");
    assert!(shown.contains("    blob: !!binary /w==\n"), "{shown}");
    assert!(
        shown.contains("    note: plain text\n"),
        "stringData untouched: {shown}"
    );
    assert_eq!(
        std::fs::read(d.path().join("secret.yaml")).expect("read"),
        before
    );
}

#[test]
fn editing_through_the_decoded_view_keeps_every_other_ciphertext() {
    let d = setup();
    let before = std::fs::read_to_string(d.path().join("secret.yaml")).expect("read");
    // The editor sees decoded values and changes one of them.
    let script = d.path().join("ed.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nset -e\ngrep -q '^    password: hunter2$' \"$1\"\ngrep -q '^    user: admin$' \"$1\"\nsed -i 's/^    password: hunter2$/    password: s3cret-rotated/' \"$1\"\n",
    )
    .expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut v = vars(d.path());
    v.insert("SOPS_EDITOR".to_owned(), script.display().to_string());
    let out = run_in(&v, d.path(), &["edit", "secret.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let after = std::fs::read_to_string(d.path().join("secret.yaml")).expect("read");
    let churn = |l: &&str| {
        let t = l.trim_start();
        t.starts_with("password:")
            || t.starts_with("lastmodified:")
            || t.starts_with("mac:")
            || t.starts_with("leafseal_integrity:")
    };
    let old: Vec<&str> = before.lines().filter(|l| !churn(l)).collect();
    let new: Vec<&str> = after.lines().filter(|l| !churn(l)).collect();
    assert_eq!(
        old, new,
        "only the edited value and the MAC lines may change"
    );
    assert_ne!(before, after);
    // The stored form is still base64 of the new value.
    let out = run_in(
        &vars(d.path()),
        d.path(),
        &[
            "decrypt",
            "--extract",
            r#"["data"]["password"]"#,
            "secret.yaml",
        ],
    );
    assert_eq!(
        text(&out.stdout),
        "czNjcmV0LXJvdGF0ZWQ=",
        "{}",
        text(&out.stderr)
    );
    if let Some(bin) = sops_peer::sops_bin() {
        let out = Command::new(bin)
            .env_clear()
            .envs(vars(d.path()))
            .current_dir(d.path())
            .args(["decrypt", "secret.yaml"])
            .output()
            .expect("sops");
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(
            text(&out.stdout),
            SECRET.replace("aHVudGVyMg==", "czNjcmV0LXJvdGF0ZWQ=")
        );
    }
    // --no-k8s-decode shows the stored base64.
    std::fs::write(
        &script,
        "#!/bin/sh\nset -e\ngrep -q '^    password: czNjcmV0LXJvdGF0ZWQ=$' \"$1\"\n",
    )
    .expect("script");
    let out = run_in(&v, d.path(), &["edit", "--no-k8s-decode", "secret.yaml"]);
    assert_eq!(out.status.code(), Some(200), "{}", text(&out.stderr));
}

#[test]
fn textconv_decodes_on_request_or_by_policy() {
    let d = setup();
    let run = |args: &[&str]| text(&run_in(&vars(d.path()), d.path(), args).stdout);
    let plain = run(&["git", "textconv", "secret.yaml"]);
    assert!(plain.contains("password: aHVudGVyMg=="), "{plain}");
    let decoded = run(&["git", "textconv", "--k8s-decode", "secret.yaml"]);
    assert!(decoded.contains("password: hunter2"), "{decoded}");
    std::fs::write(
        d.path().join(".sops.yaml"),
        format!("creation_rules:\n  - age: {AGE_RECIPIENT}\nleafseal:\n  k8s_decode: true\n"),
    )
    .expect("policy");
    let by_policy = run(&["git", "textconv", "secret.yaml"]);
    assert!(by_policy.contains("password: hunter2"), "{by_policy}");
}

#[test]
fn git_setup_registers_the_k8s_diff_driver() {
    let d = tempfile::tempdir().expect("tmp");
    let git = Command::new("git")
        .current_dir(d.path())
        .args(["init", "-q"])
        .output()
        .expect("git");
    assert!(git.status.success());
    let out = run_in(
        &vars(d.path()),
        d.path(),
        &["git", "setup", "--pattern", "*.enc.yaml"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let cfg = Command::new("git")
        .current_dir(d.path())
        .args(["config", "--local", "diff.leafseal-k8s.textconv"])
        .output()
        .expect("git");
    assert!(
        text(&cfg.stdout)
            .trim_end()
            .ends_with("git textconv --k8s-decode"),
        "{}",
        text(&cfg.stdout)
    );
}

#[test]
fn check_warns_about_a_secret_whose_data_the_rule_leaves_in_clear() {
    let d = tempfile::tempdir().expect("tmp");
    std::fs::write(
        d.path().join(".sops.yaml"),
        format!("creation_rules:\n  - age: {AGE_RECIPIENT}\n    encrypted_regex: ^password$\n"),
    )
    .expect("policy");
    std::fs::write(d.path().join("secret.yaml"), SECRET).expect("write");
    let out = run_in(&vars(d.path()), d.path(), &["encrypt", "-i", "secret.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run_in(&vars(d.path()), d.path(), &["check", "secret.yaml"]);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(all.contains("k8s-secret-clear"), "{all}");
    assert!(all.contains("data:user"), "{all}");
    assert!(all.contains("stringData:note"), "{all}");
    assert!(!all.contains("data:password"), "{all}");
    assert!(!all.contains("YWRtaW4"), "no values: {all}");
    // A rule that encrypts data and stringData gives no such warning.
    std::fs::write(
        d.path().join(".sops.yaml"),
        format!(
            "creation_rules:\n  - age: {AGE_RECIPIENT}\n    encrypted_regex: ^(data|stringData)$\n"
        ),
    )
    .expect("policy");
    std::fs::write(d.path().join("secret.yaml"), SECRET).expect("write");
    let out = run_in(&vars(d.path()), d.path(), &["encrypt", "-i", "secret.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run_in(&vars(d.path()), d.path(), &["check", "secret.yaml"]);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!all.contains("k8s-secret-clear"), "{all}");
}
