//! What `check` finds in a repository, its usage errors, and the staged mode.

use super::*;

#[test]
fn clean_repository_passes() {
    let r = clean_repo();
    let (code, out, _) = r.check(&["--format", "json", "--max-key-age", "30", "--strict"]);
    assert_eq!(code, 0, "{out}");
    assert!(kinds(&out).is_empty(), "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["files_checked"], 5, "{out}");
    let (code, out, _) = r.check(&[]);
    assert_eq!(code, 0);
    assert!(
        out.contains("5 file(s) checked, 0 finding(s), 0 warning(s)"),
        "{out}"
    );
}

#[test]
fn every_kind_of_finding_is_reported() {
    let r = Repo::new();
    let rec = support::AGE_RECIPIENT;
    r.write(".sops.yaml", &policy());
    // (a) plaintext file matched by a rule.
    r.write("secrets/plain.yaml", "password: hunter2\n");
    // (b) recipients drifted: an extra key the rule does not name.
    let both = format!("{rec},{AGE_OTHER}");
    r.write(
        "secrets/drift.yaml",
        &r.encrypt("drift.yaml", "token: s3cr3t-token\n", &["--age", &both]),
    );
    // (c) a clear leaf added by hand to an encrypted file.
    let enc = r.encrypt("clear.yaml", "password: hunter2\n", &["--age", rec]);
    let edited = enc.replacen("sops:\n", "added_password: hunter3\nsops:\n", 1);
    assert_ne!(enc, edited);
    r.write("secrets/clear.yaml", &edited);
    // (c) the file's selector differs from the rule's.
    r.write(
        "secrets/seldrift.yaml",
        &r.encrypt(
            "seldrift.yaml",
            "password: hunter2\nuser: app\n",
            &["--age", rec, "--encrypted-regex", "^password$"],
        ),
    );
    // (c) dotenv + encrypted_regex (getsops/sops#1557): encrypted, yet every value clear.
    r.write(
        "k8s/app.env",
        &r.encrypt(
            "app.env",
            "DB_PASSWORD=dbpass-9\n",
            &["--age", rec, "--encrypted-regex", "^(data|stringData)$"],
        ),
    );
    // (d) the MAC removed.
    let enc = r.encrypt("nomac.yaml", "password: hunter2\n", &["--age", rec]);
    let nomac: String = enc
        .lines()
        .filter(|l| !l.trim_start().starts_with("mac:"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(enc, nomac);
    r.write("secrets/nomac.yaml", &nomac);
    // (d) lastmodified not RFC 3339.
    let enc = r.encrypt("badtime.yaml", "password: hunter2\n", &["--age", rec]);
    let badtime: String = enc
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("lastmodified:") {
                "    lastmodified: yesterday\n".to_owned()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    r.write("secrets/badtime.yaml", &badtime);
    // (e) an old data key (age only: measured from lastmodified).
    let enc = r.encrypt("old.yaml", "password: hunter2\n", &["--age", rec]);
    let old: String = enc
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("lastmodified:") {
                "    lastmodified: \"2020-01-01T00:00:00Z\"\n".to_owned()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    r.write("secrets/old.yaml", &old);
    // (g) a kustomization with an exec KRM function (KSOPS-style).
    r.write(
        "deploy/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\ngenerators:\n  - ./secret-generator.yaml\nresources:\n  - deployment.yaml\n",
    );
    r.write(
        "deploy/secret-generator.yaml",
        "apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: secret-generator\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: ksops\nfiles:\n  - ./secret.enc.yaml\n",
    );
    r.write("deploy/deployment.yaml", "kind: Deployment\n");
    // An encrypted file that no rule matches (warning).
    r.write(
        "other/enc.yaml",
        &r.encrypt("enc.yaml", "password: hunter2\n", &["--age", rec]),
    );
    r.git_ok(&["add", "-A"]);

    let (code, out, err) = r.check(&["--format", "json", "--max-key-age", "30"]);
    assert_eq!(code, 1, "{out}\n{err}");
    let want = set(&[
        ("secrets/plain.yaml", "plaintext", "error"),
        ("secrets/drift.yaml", "recipient-drift", "error"),
        ("secrets/clear.yaml", "clear-leaf", "error"),
        ("secrets/seldrift.yaml", "selector-drift", "error"),
        // Under the rule's default selector `user` must be encrypted too.
        ("secrets/seldrift.yaml", "clear-leaf", "error"),
        ("k8s/app.env", "selector-encrypts-nothing", "error"),
        ("secrets/nomac.yaml", "mac-missing", "error"),
        // Its record was bound to the MAC that was removed.
        ("secrets/nomac.yaml", "integrity-record", "warning"),
        ("secrets/badtime.yaml", "lastmodified-invalid", "error"),
        ("secrets/old.yaml", "old-data-key", "error"),
        ("deploy/kustomization.yaml", "kustomize-exec", "warning"),
        ("other/enc.yaml", "unmatched-encrypted", "warning"),
    ]);
    assert_eq!(kinds(&out), want, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["files_checked"], 13, "{out}");
    let find = |kind: &str| -> serde_json::Value {
        v["findings"]
            .as_array()
            .expect("array")
            .iter()
            .find(|f| f["kind"] == kind)
            .cloned()
            .expect("finding")
    };
    let drift = find("recipient-drift");
    let msg = drift["message"].as_str().expect("message");
    assert!(
        msg.contains(&format!("in the file but not in the rule: age {AGE_OTHER}")),
        "{msg}"
    );
    assert!(
        find("clear-leaf")["message"]
            .as_str()
            .expect("m")
            .contains("added_password")
    );
    let trap = find("selector-encrypts-nothing");
    assert!(
        trap["hint"].as_str().expect("hint").contains("sops#1557"),
        "{trap}"
    );
    let kexec = find("kustomize-exec");
    let hint = kexec["hint"].as_str().expect("hint");
    assert!(
        hint.contains("--enable-alpha-plugins --enable-exec") && hint.contains("kpt"),
        "{hint}"
    );
    assert!(
        kexec["message"]
            .as_str()
            .expect("m")
            .contains("ksops/secret-generator")
    );

    // Without --max-key-age the old key is not reported; --strict makes warnings count.
    let (_, out, _) = r.check(&["--format", "json"]);
    assert!(!kinds(&out).iter().any(|k| k.1 == "old-data-key"));
    let (_, out, _) = r.check(&["--format", "json", "--strict"]);
    assert!(kinds(&out).contains(&(
        "deploy/kustomization.yaml".to_owned(),
        "kustomize-exec".to_owned(),
        "error".to_owned()
    )));

    // A plaintext dotenv under the regex rule: both plaintext and the trap.
    r.write("k8s/new.env", "API_TOKEN=s3cr3t-token\n");
    let (code, out, _) = r.check(&["--format", "json", "k8s/new.env"]);
    assert_eq!(code, 1);
    assert_eq!(
        kinds(&out),
        set(&[
            ("k8s/new.env", "plaintext", "error"),
            ("k8s/new.env", "selector-encrypts-nothing", "error"),
        ])
    );

    // Human output: `path: kind: message` lines, hints, a summary.
    let (code, out, _) = r.check(&["secrets/plain.yaml", "deploy"]);
    assert_eq!(code, 1);
    assert!(
        out.contains("secrets/plain.yaml: plaintext: matched by a creation rule"),
        "{out}"
    );
    assert!(
        out.contains("deploy/kustomization.yaml: kustomize-exec (warning): "),
        "{out}"
    );
    assert!(out.contains("  hint: "), "{out}");
    assert!(
        out.ends_with("4 file(s) checked, 1 finding(s), 1 warning(s)\n"),
        "{out}"
    );
}

#[test]
fn values_that_only_start_like_encrypted_ones_are_findings_audit_check_enc_prefix() {
    // A prefix test counted these as encrypted ("0 finding(s)", exit 0); decrypt refuses
    // them as malformed (exit 25).
    let r = clean_repo();
    let enc = std::fs::read_to_string(r.path().join("secrets/app.yaml")).expect("read");
    let line = enc
        .lines()
        .find(|l| l.starts_with("password: ENC["))
        .expect("encrypted password line")
        .to_owned();
    let value = line.trim_start_matches("password: ");
    let variants = [
        (
            "secrets/w1.yaml",
            "password: \"ENC[AES256_GCM, hunter2\"".to_owned(),
        ),
        ("secrets/w2.yaml", format!("password: \"{value} hunter2\"")),
        ("secrets/w4.yaml", format!("{line}\n  hunter2")),
    ];
    for (name, replaced) in &variants {
        r.write(name, &enc.replacen(&line, replaced, 1));
    }
    r.git_ok(&["add", "-A"]);
    let (code, out, _) = r.check(&["--format", "json"]);
    assert_ne!(code, 0, "{out}");
    let found = kinds(&out);
    for (name, _) in &variants {
        assert!(
            found.contains(&(
                (*name).to_owned(),
                "clear-leaf".to_owned(),
                "error".to_owned()
            )),
            "{name}: {out}"
        );
    }
    assert!(out.contains("not a well-formed ENC[AES256_GCM"), "{out}");
}

#[test]
fn invalid_policy_is_a_usage_error() {
    let r = Repo::new();
    r.write(
        ".sops.yaml",
        "creation_rules:\n  - path_regex: '(unclosed'\n",
    );
    r.write("a.yaml", "k: v\n");
    let (code, out, err) = r.check(&["a.yaml"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("path_regex"), "{err}");
    let r = Repo::new();
    let (code, _, err) = r.check(&[]);
    assert_eq!(code, 2, "no policy: {err}");
    assert!(err.contains("no .sops.yaml"), "{err}");
}

#[test]
fn staged_mode_reads_the_index_not_the_work_tree() {
    let r = clean_repo();
    // Stage a plaintext secret, then replace the work-tree copy with an encrypted one.
    r.write("secrets/new.yaml", "password: hunter2\n");
    r.git_ok(&["add", "secrets/new.yaml"]);
    let enc = r.encrypt(
        "new.yaml",
        "password: hunter2\n",
        &["--age", support::AGE_RECIPIENT],
    );
    r.write("secrets/new.yaml", &enc);
    let (code, out, _) = r.check(&["--staged", "--format", "json"]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        kinds(&out),
        set(&[("secrets/new.yaml", "plaintext", "error")])
    );
    // The work tree itself is fine.
    let (code, out, _) = r.check(&["--format", "json", "secrets/new.yaml"]);
    assert_eq!(code, 0, "{out}");
    // Staging the encrypted version fixes it.
    r.git_ok(&["add", "secrets/new.yaml"]);
    let (code, out, _) = r.check(&["--staged", "--format", "json"]);
    assert_eq!(code, 0, "{out}");
}
