//! (4) `.sops.yaml` parity: for a table of policies both tools pick the same rule, so the
//! same recipients, groups, Shamir threshold, partial-encryption settings and stores
//! options (compared on the masked encrypted files), from the repository root, from a
//! subdirectory (policy lookup upwards) and with `--config`.

use crate::harness::Peer;
use crate::harness::Tool;
use crate::harness::assert_no_differences;
use crate::harness::same_layout;
use crate::support::AGE_RECIPIENT;
use crate::support::GpgHome;
use crate::support::PGP_FP;

const AGE2: &str = "age1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvun";

const YAML: &str =
    "user_plain: alice\npassword: hunter2\ndata:\n  token: t0k\nlist:\n  - a\n  - b\n";
const JSON: &str =
    "{\"user_plain\": \"alice\", \"password\": \"hunter2\", \"data\": {\"token\": \"t0k\"}}\n";

fn policy_text() -> String {
    format!(
        "stores:
  yaml:
    indent: 2
  json:
    indent: 3
creation_rules:
  - path_regex: secrets/prod/.*\\.yaml$
    age: {AGE_RECIPIENT},{AGE2}
    unencrypted_suffix: _plain
  - path_regex: secrets/dev/
    pgp: {PGP_FP}
    age: {AGE_RECIPIENT}
    encrypted_regex: ^(password|data)$
  - path_regex: groups/
    shamir_threshold: 2
    key_groups:
      - age:
          - {AGE_RECIPIENT}
      - age:
          - {AGE2}
        pgp:
          - {PGP_FP}
  - path_regex: mac/
    age: {AGE_RECIPIENT}
    mac_only_encrypted: true
    encrypted_suffix: _plain
  - age: {AGE2}
    unencrypted_regex: ^user
"
    )
}

/// Encrypts `file` (relative to `cwd`) with both tools using only the policy (plus
/// `extra` arguments), then cross-decrypts and compares layouts.
fn policy_case(p: &Peer, cwd: &str, file: &str, extra: &[&str], label: &str) -> Result<(), String> {
    let mut args: Vec<&str> = extra.to_vec();
    args.push("encrypt");
    args.push(file);
    let dir = p.path(cwd);
    let s = p.run_at(Tool::Sops, &dir, &args);
    let l = p.run_at(Tool::Leafseal, &dir, &args);
    if !s.ok() || !l.ok() {
        if s.code == l.code && !s.ok() && !l.ok() {
            return Err(format!(
                "{label}: both refuse (exit {}): {}",
                s.code,
                s.stderr.trim()
            ));
        }
        return Err(format!(
            "{label}: sops exit {} ({}), leafseal exit {} ({})",
            s.code,
            s.stderr.trim(),
            l.code,
            l.stderr.trim()
        ));
    }
    let ext = file.rsplit('.').next().unwrap_or("yaml");
    let (sn, ln) = (
        format!("out-sops-{label}.{ext}"),
        format!("out-leafseal-{label}.{ext}"),
    );
    p.write(&sn, &s.stdout);
    p.write(&ln, &l.stdout);
    let a = p
        .decrypt_both(&sn, &[])
        .map_err(|e| format!("{label}: {e}"))?;
    let b = p
        .decrypt_both(&ln, &[])
        .map_err(|e| format!("{label}: {e}"))?;
    if a != b {
        return Err(format!(
            "{label}: decrypted outputs of the two files differ"
        ));
    }
    same_layout(
        label,
        &String::from_utf8_lossy(&l.stdout),
        &String::from_utf8_lossy(&s.stdout),
    )
}

/// Gives both tools the two age identities the policies here name.
fn use_both_age_identities(p: &mut Peer) {
    let mut keys =
        std::fs::read_to_string(crate::harness::fixture("keys/age-test-keys.txt")).expect("keys");
    keys.push_str(
        &std::fs::read_to_string(crate::harness::fixture(
            "keys/age-vectors/x25519-identity.txt",
        ))
        .expect("keys"),
    );
    p.write("keys.txt", keys);
    let kf = p.path("keys.txt").display().to_string();
    p.vars.insert("SOPS_AGE_KEY_FILE".into(), kf);
}

#[test]
fn sops_yaml_rules_pick_the_same_keys_and_settings() {
    let gpg = GpgHome::new();
    let Some(mut p) = Peer::new(Some(&gpg)) else {
        return;
    };
    use_both_age_identities(&mut p);
    p.write(".sops.yaml", policy_text());
    for dir in [
        "secrets/prod",
        "secrets/dev",
        "groups",
        "mac",
        "other/deep/er",
    ] {
        p.write(&format!("{dir}/s.yaml"), YAML);
        p.write(&format!("{dir}/s.json"), JSON);
    }
    let alt = policy_text().replace("indent: 2", "indent: 6");
    p.write("conf/alt-policy.yaml", alt);
    let mut diffs = Vec::new();
    let mut cases = 0;
    let mut run = |cwd: &str, file: &str, extra: &[&str], label: &str| {
        cases += 1;
        if let Err(e) = policy_case(&p, cwd, file, extra, label) {
            diffs.push(e);
        }
    };
    for dir in [
        "secrets/prod",
        "secrets/dev",
        "groups",
        "mac",
        "other/deep/er",
    ] {
        for ext in ["yaml", "json"] {
            let tag = dir.replace('/', "_");
            run(
                "",
                &format!("{dir}/s.{ext}"),
                &[],
                &format!("root-{tag}-{ext}"),
            );
            run(
                dir,
                &format!("s.{ext}"),
                &[],
                &format!("subdir-{tag}-{ext}"),
            );
        }
    }
    // Key groups (Shamir) in the flat formats, the binary store and multi-document YAML.
    for (name, text) in [
        ("groups/s.env", "A=1\nB=two\n"),
        ("groups/s.ini", "[s]\nk = v\n"),
        ("groups/s.bin", "raw\x00bytes"),
        ("groups/m.yaml", "a: 1\n---\nb: [2, 3]\n"),
    ] {
        p.write(name, text);
        let label = format!("groups-{}", name.replace(['/', '.'], "_"));
        run("", name, &[], &label);
    }
    let alt = p.path("conf/alt-policy.yaml").display().to_string();
    run(
        "",
        "secrets/prod/s.yaml",
        &["--config", &alt],
        "config-flag",
    );
    run(
        "other",
        "deep/er/s.yaml",
        &["--config", &alt],
        "config-flag-subdir",
    );
    assert_no_differences(".sops.yaml", cases, &diffs);
}

/// Both tools read regexes with Go's syntax: `\w` is ASCII, so `path_regex: '^\w+/'`
/// does not pick the first rule for `données/x.yaml`, and `unencrypted_regex: '^\w+$'`
/// leaves `déjà` encrypted but `plain` clear.
#[test]
fn regexes_are_read_with_gos_syntax() {
    let Some(mut p) = Peer::new(None) else {
        return;
    };
    use_both_age_identities(&mut p);
    p.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - path_regex: '^\\w+/'\n    age: {AGE_RECIPIENT}\n    encrypted_regex: '^password$'\n  - age: {AGE2}\n    unencrypted_regex: '^\\w+$'\n"
        ),
    );
    let text = "plain: a\ndéjà: secret\npassword: hunter2\n";
    p.write("données/x.yaml", text);
    p.write("data/x.yaml", text);
    let mut diffs = Vec::new();
    for (file, label) in [
        ("données/x.yaml", "non-ascii-dir"),
        ("data/x.yaml", "ascii-dir"),
    ] {
        if let Err(e) = policy_case(&p, "", file, &[], label) {
            diffs.push(e);
        }
    }
    assert_no_differences("Go regex syntax", 2, &diffs);
}
