//! The pre-commit hooks that run `check`, and `updatekeys` fixing the drift it reports.

use super::*;

/// The `entry` and `pass_filenames` of a hook in the shipped `.pre-commit-hooks.yaml`,
/// read with leafseal's own YAML store. The file is a top-level list, which the store (like
/// sops) does not take as a document, so it is nested under a key first.
fn hook(id: &str) -> (Vec<String>, bool) {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".pre-commit-hooks.yaml");
    let text = std::fs::read_to_string(p).expect("read hooks");
    let nested: String = std::iter::once("hooks:\n".to_owned())
        .chain(text.lines().map(|l| format!("  {l}\n")))
        .collect();
    let loaded = YamlStore.load(nested.as_bytes()).expect("parse hooks");
    let root = loaded.doc.branches.first().expect("document");
    let Some(Value::Seq(items)) = root.get("hooks") else {
        panic!("hooks file is not a list")
    };
    hook_from_seq(items, id)
}

fn hook_from_seq(items: &[SeqItem], id: &str) -> (Vec<String>, bool) {
    for item in items {
        let SeqItem::Value(Value::Map(m)) = item else {
            continue;
        };
        if m.get("id").and_then(Value::as_str) == Some(id) {
            let entry = m.get("entry").and_then(Value::as_str).expect("entry");
            let pass = !matches!(m.get("pass_filenames"), Some(Value::Bool(false)));
            return (entry.split_whitespace().map(str::to_owned).collect(), pass);
        }
    }
    panic!("no hook {id}")
}

/// Runs the hook's entry exactly as declared, with `leafseal` resolved to the binary under
/// test, passing the staged file names as pre-commit does.
fn run_hook_entry(r: &Repo, id: &str) -> (i32, String) {
    let (entry, pass_filenames) = hook(id);
    assert_eq!(entry[0], "leafseal");
    assert!(pass_filenames);
    let staged = r.git(&["diff", "--cached", "--name-only", "-z"]);
    let files: Vec<String> = staged
        .stdout
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    let out = support::leafseal(&r.vars)
        .current_dir(r.path())
        .args(&entry[1..])
        .args(&files)
        .output()
        .expect("run hook entry");
    (
        out.status.code().expect("code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn pre_commit_hook_entry_blocks_plaintext_and_passes_clean_files() {
    let r = clean_repo();
    r.git_ok(&["commit", "-q", "-m", "clean"]);
    for id in ["leafseal-check", "leafseal-check-system"] {
        let (code, out) = run_hook_entry(&r, id);
        assert_eq!(code, 0, "nothing staged: {out}");
    }
    r.write("secrets/leak.yaml", "password: hunter2\n");
    r.write("config/other.yaml", "replicas: 2\n");
    r.git_ok(&["add", "-A"]);
    let (code, out) = run_hook_entry(&r, "leafseal-check");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("secrets/leak.yaml: plaintext:"), "{out}");
    assert!(out.contains("2 file(s) checked"), "{out}");
    r.git_ok(&["rm", "-q", "--cached", "secrets/leak.yaml"]);
    let (code, out) = run_hook_entry(&r, "leafseal-check");
    assert_eq!(code, 0, "{out}");
}

#[test]
fn git_pre_commit_script_blocks_a_plaintext_secret() {
    let r = clean_repo();
    let hook = r.path().join(".git/hooks/pre-commit");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\n# leafseal: refuse commits that break .sops.yaml\nexec \"{}\" check --staged\n",
            env!("CARGO_BIN_EXE_leafseal")
        ),
    )
    .expect("write hook");
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    r.git_ok(&["commit", "-q", "-m", "clean"]);
    let head = r.git(&["rev-parse", "HEAD"]).stdout;

    r.write("secrets/leak.yaml", "password: hunter2\n");
    r.git_ok(&["add", "secrets/leak.yaml"]);
    let out = r.git(&["commit", "-q", "-m", "leak"]);
    assert!(
        !out.status.success(),
        "the commit of a plaintext secret must fail"
    );
    let printed =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        printed.contains("secrets/leak.yaml: plaintext"),
        "{printed}"
    );
    assert!(!printed.contains("hunter2"));
    assert_eq!(r.git(&["rev-parse", "HEAD"]).stdout, head);

    let enc = r.encrypt(
        "leak.yaml",
        "password: hunter2\n",
        &["--age", support::AGE_RECIPIENT],
    );
    r.write("secrets/leak.yaml", &enc);
    r.git_ok(&["add", "secrets/leak.yaml"]);
    r.git_ok(&["commit", "-q", "-m", "encrypted"]);
    assert_ne!(r.git(&["rev-parse", "HEAD"]).stdout, head);
}

#[test]
fn updatekeys_fixes_recipient_drift() {
    let r = clean_repo();
    let both = format!("{},{AGE_OTHER}", support::AGE_RECIPIENT);
    let enc = r.encrypt("drift.yaml", "token: s3cr3t-token\n", &["--age", &both]);
    r.write("secrets/drift.yaml", &enc);
    r.git_ok(&["add", "-A"]);
    let (code, out, _) = r.check(&["--format", "json"]);
    assert_eq!(code, 1);
    assert_eq!(
        kinds(&out),
        set(&[("secrets/drift.yaml", "recipient-drift", "error")])
    );
    // The hint's remedy: updatekeys (needs the age identity, which the test env has).
    let out = support::leafseal(&r.vars)
        .current_dir(r.path())
        .args(["updatekeys", "-y", "secrets/drift.yaml"])
        .output()
        .expect("run updatekeys");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, out, _) = r.check(&["--format", "json"]);
    assert_eq!(code, 0, "{out}");
}
