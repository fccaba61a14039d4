//! `leafseal check`: a fixture repository (real git) with every kind of finding, a clean
//! repository, `--staged` reading git's index, the shipped pre-commit hook's entry command,
//! and a real `.git/hooks/pre-commit` that blocks a plaintext secret.

mod support;

use std::collections::BTreeSet;
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::process::Output;

use leafseal::format::Store;
use leafseal::format::yaml::YamlStore;
use leafseal::tree::SeqItem;
use leafseal::tree::Value;

/// A second age recipient (from the sops fixtures; no identity needed to encrypt to it).
const AGE_OTHER: &str = "age1tmaae3ld5vpevmsh5yacsauzx8jetg300mpvc4ugp5zr5l6ssq9sla97ep";

/// Secret values used in the fixtures; they must never appear in any output.
const SECRETS: [&str; 4] = ["hunter2", "hunter3", "s3cr3t-token", "dbpass-9"];

struct Repo {
    _home: tempfile::TempDir,
    dir: tempfile::TempDir,
    scratch: tempfile::TempDir,
    vars: HashMap<String, String>,
}

impl Repo {
    fn new() -> Repo {
        let home = tempfile::tempdir().expect("home");
        let dir = tempfile::tempdir().expect("repo");
        let scratch = tempfile::tempdir().expect("scratch");
        let mut vars = support::env_vars(None, home.path());
        for (k, v) in [
            ("GIT_CONFIG_NOSYSTEM", "1"),
            ("GIT_AUTHOR_NAME", "t"),
            ("GIT_AUTHOR_EMAIL", "t@example.invalid"),
            ("GIT_COMMITTER_NAME", "t"),
            ("GIT_COMMITTER_EMAIL", "t@example.invalid"),
        ] {
            vars.insert(k.to_owned(), v.to_owned());
        }
        let r = Repo {
            _home: home,
            dir,
            scratch,
            vars,
        };
        r.git(&["init", "-q", "-b", "main"]);
        r
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn git(&self, args: &[&str]) -> Output {
        Command::new("git")
            .env_clear()
            .envs(&self.vars)
            .current_dir(self.path())
            .args(args)
            .output()
            .expect("run git")
    }

    fn git_ok(&self, args: &[&str]) {
        let out = self.git(args);
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }

    /// Encrypts `text` as file `name` in a scratch directory (no policy there) with the
    /// given flags and returns the encrypted text.
    fn encrypt(&self, name: &str, text: &str, flags: &[&str]) -> String {
        let p = self.scratch.path().join(name);
        std::fs::write(&p, text).expect("write plain");
        let out = support::leafseal(&self.vars)
            .current_dir(self.scratch.path())
            .arg("encrypt")
            .args(flags)
            .arg(name)
            .output()
            .expect("run encrypt");
        assert!(
            out.status.success(),
            "encrypt {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    fn check(&self, args: &[&str]) -> (i32, String, String) {
        let out = support::leafseal(&self.vars)
            .current_dir(self.path())
            .arg("check")
            .args(args)
            .output()
            .expect("run check");
        let stdout = String::from_utf8(out.stdout).expect("utf-8");
        let stderr = String::from_utf8(out.stderr).expect("utf-8");
        for s in SECRETS {
            assert!(!stdout.contains(s) && !stderr.contains(s), "{s} leaked");
        }
        (out.status.code().expect("exit code"), stdout, stderr)
    }
}

fn policy() -> String {
    format!(
        "creation_rules:\n  - path_regex: ^k8s/\n    encrypted_regex: ^(data|stringData)$\n    age: {r}\n  - path_regex: ^secrets/\n    age: {r}\n",
        r = support::AGE_RECIPIENT
    )
}

const K8S_SECRET: &str =
    "apiVersion: v1\nkind: Secret\nmetadata:\n    name: db\ndata:\n    password: dbpass-9\n";

/// (path, kind, severity) of every finding in a JSON report.
fn kinds(json: &str) -> BTreeSet<(String, String, String)> {
    let v: serde_json::Value = serde_json::from_str(json).expect("json output");
    v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            assert!(f["message"].as_str().is_some_and(|m| !m.is_empty()));
            assert!(f["hint"].as_str().is_some_and(|h| !h.is_empty()));
            (
                f["path"].as_str().expect("path").to_owned(),
                f["kind"].as_str().expect("kind").to_owned(),
                f["severity"].as_str().expect("severity").to_owned(),
            )
        })
        .collect()
}

fn set(items: &[(&str, &str, &str)]) -> BTreeSet<(String, String, String)> {
    items
        .iter()
        .map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned()))
        .collect()
}

/// A clean repository: a correctly encrypted secret, a k8s secret under the regex rule,
/// and files no rule matches.
fn clean_repo() -> Repo {
    let r = Repo::new();
    r.write(".sops.yaml", &policy());
    let enc = r.encrypt(
        "app.yaml",
        "password: hunter2\nport_unencrypted: 5432\n",
        &["--age", support::AGE_RECIPIENT],
    );
    r.write("secrets/app.yaml", &enc);
    let enc = r.encrypt(
        "secret.yaml",
        K8S_SECRET,
        &[
            "--age",
            support::AGE_RECIPIENT,
            "--encrypted-regex",
            "^(data|stringData)$",
        ],
    );
    r.write("k8s/secret.yaml", &enc);
    r.write("README.md", "# demo\n");
    r.write("config/app.yaml", "replicas: 3\n");
    r.git_ok(&["add", "-A"]);
    r
}

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
