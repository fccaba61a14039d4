//! Signed files through the binary on a real git repository with keys made by
//! `ssh-keygen`: sign + verify, a value changed by `leafseal set` or by a text edit
//! without re-signing, a signer missing from the allowed-signers file, a file rewritten
//! by the real sops, `check --require-signed`, and `decrypt` under `require_signed`.

#[path = "support/sops.rs"]
mod sops_peer;
mod support;

use std::collections::HashMap;
use std::path::Path;
use std::path::PathBuf;
use std::process::Output;

use support::*;

struct Repo {
    home: tempfile::TempDir,
    work: tempfile::TempDir,
    alice: PathBuf,
    mallory: PathBuf,
}

const PLAIN: &str = "db:\n    password: hunter2\nuser: app\n";

impl Repo {
    fn new(policy_extra: &str) -> Repo {
        let home = tempfile::tempdir().expect("home");
        let work = tempfile::tempdir().expect("work");
        let keys = home.path().join("keys");
        std::fs::create_dir(&keys).expect("mkdir");
        let alice = ssh_key(&keys, "alice");
        let mallory = ssh_key(&keys, "mallory");
        let r = Repo {
            home,
            work,
            alice,
            mallory,
        };
        let pubkey = std::fs::read_to_string(r.alice.with_extension("pub")).expect("pub");
        let mut fields = pubkey.split_whitespace();
        let (t, k) = (fields.next().expect("type"), fields.next().expect("key"));
        r.write(
            "allowed_signers",
            &format!("alice@example.invalid {t} {k}\n"),
        );
        r.write(
            ".sops.yaml",
            &format!("creation_rules:\n  - age: {AGE_RECIPIENT}\nleafseal:\n  allowed_signers: allowed_signers\n{policy_extra}"),
        );
        for name in ["s.yaml", "t.yaml"] {
            r.write("plain.tmp", PLAIN);
            ok(&r.run(&[
                "encrypt",
                "--input-type",
                "yaml",
                "--output",
                name,
                "plain.tmp",
            ]));
        }
        std::fs::remove_file(r.path("plain.tmp")).expect("rm");
        r.git(&["init", "-q"]);
        r.git(&["add", "-A"]);
        r.git(&["commit", "-q", "-m", "init"]);
        r
    }

    fn vars(&self) -> HashMap<String, String> {
        env_vars(None, self.home.path())
    }

    fn run(&self, args: &[&str]) -> Output {
        run_in(&self.vars(), self.work.path(), args)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.work.path().join(rel)
    }

    fn write(&self, rel: &str, content: &str) {
        std::fs::write(self.path(rel), content).expect("write");
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).expect("read")
    }

    fn git(&self, args: &[&str]) -> String {
        git_in(self.work.path(), self.home.path(), args)
    }

    fn sign(&self, file: &str, key: &Path) -> Output {
        self.run(&["sign", "--key", key.to_str().expect("utf8"), file])
    }
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn sign_then_verify_and_every_unsigned_change_fails() {
    let r = Repo::new("");
    let before = r.read("s.yaml");
    ok(&r.sign("s.yaml", &r.alice));
    let signed = r.read("s.yaml");
    // Only the signature line was added: values, MAC and integrity record are untouched.
    let added: Vec<&str> = signed
        .lines()
        .filter(|l| !before.lines().any(|b| b == *l))
        .collect();
    assert_eq!(added.len(), 1, "{added:?}");
    assert!(
        added[0]
            .trim_start()
            .starts_with("leafseal_signature: v2:ssh-ed25519:"),
        "{added:?}"
    );
    assert!(before.lines().all(|l| signed.contains(l)));

    let o = r.run(&["verify", "s.yaml"]);
    assert!(
        ok(&o).contains("s.yaml: good signature by alice@example.invalid (ssh-ed25519 SHA256:"),
        "{}",
        stdout(&o)
    );
    // decrypt is quiet about a good signature, and the file still opens (record valid).
    let o = r.run(&["decrypt", "s.yaml"]);
    assert_eq!(ok(&o), PLAIN);
    assert_eq!(stderr(&o), "");
    r.git(&["commit", "-qam", "signed"]);

    // A text edit of one ciphertext without re-signing: verify fails (no key needed).
    let edited = signed.replacen("ENC[AES256_GCM,data:", "ENC[AES256_GCM,data:AA", 1);
    r.write("s.yaml", &edited);
    let o = r.run(&["verify", "--format", "json", "s.yaml"]);
    assert_eq!(o.status.code(), Some(54), "{}", stdout(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["files"][0]["status"], "invalid");
    assert!(
        v["files"][0]["detail"]
            .as_str()
            .expect("detail")
            .contains("changed after it was signed")
    );
    r.git(&["checkout", "s.yaml"]);

    // A change of the key groups in the text is seen too (the metadata is signed).
    let edited = signed.replace("recipient: age1", "recipient: age2");
    r.write("s.yaml", &edited);
    assert_eq!(r.run(&["verify", "s.yaml"]).status.code(), Some(54));
    r.git(&["checkout", "s.yaml"]);

    // `leafseal set` changes a value: the signature is dropped with a notice, and the
    // file now verifies as unsigned.
    let o = r.run(&["set", "s.yaml", r#"["user"]"#, r#""other""#]);
    ok(&o);
    assert!(
        stderr(&o).contains("its signature was removed"),
        "{}",
        stderr(&o)
    );
    assert!(!r.read("s.yaml").contains("leafseal_signature"));
    let o = r.run(&["verify", "s.yaml"]);
    assert_eq!(o.status.code(), Some(54));
    assert!(stdout(&o).contains("s.yaml: not signed"), "{}", stdout(&o));

    // Signing again makes it verify.
    ok(&r.sign("s.yaml", &r.alice));
    ok(&r.run(&["verify", "s.yaml"]));
}

#[test]
fn a_signer_missing_from_allowed_signers_fails_and_decrypt_warns_or_refuses() {
    let r = Repo::new("");
    ok(&r.sign("s.yaml", &r.mallory));
    let o = r.run(&["verify", "s.yaml"]);
    assert_eq!(o.status.code(), Some(54));
    assert!(
        stdout(&o).contains("not in the allowed-signers file"),
        "{}",
        stdout(&o)
    );
    // --allowed-signers overrides the policy's file.
    let pubkey = std::fs::read_to_string(r.mallory.with_extension("pub")).expect("pub");
    r.write(
        "other_signers",
        &format!("mallory@example.invalid {pubkey}"),
    );
    let o = r.run(&["verify", "--allowed-signers", "other_signers", "s.yaml"]);
    assert!(ok(&o).contains("good signature by mallory@example.invalid"));

    // decrypt warns about the signature but decrypts.
    let o = r.run(&["decrypt", "s.yaml"]);
    assert_eq!(ok(&o), PLAIN);
    assert!(
        stderr(&o)
            .contains("warning: s.yaml: signed by a key that is not in the allowed-signers file"),
        "{}",
        stderr(&o)
    );

    // Under require_signed, it refuses, for a wrongly signed and for an unsigned file.
    let policy = r.read(".sops.yaml");
    r.write(".sops.yaml", &format!("{policy}  require_signed: true\n"));
    for f in ["s.yaml", "t.yaml"] {
        let o = r.run(&["decrypt", f]);
        assert_eq!(o.status.code(), Some(54), "{f}: {}", stderr(&o));
        assert_eq!(stdout(&o), "", "{f}");
        assert!(
            stderr(&o).contains("requires signed files"),
            "{}",
            stderr(&o)
        );
    }
    ok(&r.sign("t.yaml", &r.alice));
    assert_eq!(ok(&r.run(&["decrypt", "t.yaml"])), PLAIN);
}

#[test]
fn check_require_signed_reports_unsigned_and_wrongly_signed_files() {
    let r = Repo::new("");
    ok(&r.sign("s.yaml", &r.alice));
    r.git(&["commit", "-qam", "sign s"]);
    // Without the option, signatures are not looked at.
    ok(&r.run(&["check"]));
    let o = r.run(&["check", "--require-signed", "--format", "json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let findings: Vec<(String, String)> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["path"].as_str().expect("p").to_owned(),
                f["kind"].as_str().expect("k").to_owned(),
            )
        })
        .collect();
    assert_eq!(findings, [("t.yaml".to_owned(), "signature".to_owned())]);

    // The policy option does the same; a signature by an unlisted key is a finding too.
    let policy = r.read(".sops.yaml");
    r.write(".sops.yaml", &format!("{policy}  require_signed: true\n"));
    ok(&r.sign("t.yaml", &r.mallory));
    r.git(&["commit", "-qam", "sign t"]);
    let o = r.run(&["check"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o)
            .contains("t.yaml: signature: signed by a key that is not in the allowed-signers file"),
        "{}",
        stdout(&o)
    );
    ok(&r.sign("t.yaml", &r.alice));
    r.git(&["commit", "-qam", "re-sign t"]);
    ok(&r.run(&["check"]));
}

#[test]
fn signing_key_from_git_config_and_environment() {
    let r = Repo::new("");
    r.git(&["config", "gpg.format", "ssh"]);
    r.git(&["config", "user.signingkey", r.alice.to_str().expect("utf8")]);
    ok(&r.run(&["sign", "s.yaml"]));
    assert!(ok(&r.run(&["verify", "s.yaml"])).contains("alice@example.invalid"));
    let mut vars = r.vars();
    vars.insert(
        "LEAFSEAL_SIGNING_KEY".to_owned(),
        r.mallory.display().to_string(),
    );
    ok(&run_in(&vars, r.work.path(), &["sign", "s.yaml"]));
    assert_eq!(r.run(&["verify", "s.yaml"]).status.code(), Some(54));
}

#[test]
fn a_file_rewritten_by_sops_shows_as_unsigned() {
    let Some(sops) = sops_peer::sops_bin() else {
        return;
    };
    let r = Repo::new("");
    ok(&r.sign("s.yaml", &r.alice));
    ok(&r.run(&["verify", "s.yaml"]));
    let o = std::process::Command::new(sops)
        .env_clear()
        .envs(r.vars())
        .stdin(std::process::Stdio::null())
        .current_dir(r.work.path())
        .args(["set", "s.yaml", r#"["user"]"#, r#""by-sops""#])
        .output()
        .expect("sops");
    assert!(o.status.success(), "sops set: {}", stderr(&o));
    assert!(!r.read("s.yaml").contains("leafseal_signature"));
    let o = r.run(&["verify", "s.yaml"]);
    assert_eq!(o.status.code(), Some(54));
    assert!(stdout(&o).contains("s.yaml: not signed"), "{}", stdout(&o));
    // Signing the sops-written file checks it, writes a current integrity record too.
    ok(&r.sign("s.yaml", &r.alice));
    ok(&r.run(&["verify", "s.yaml"]));
    let o = r.run(&["decrypt", "s.yaml"]);
    assert!(ok(&o).contains("by-sops"));
    assert_eq!(stderr(&o), "", "no integrity warning after sign");
}

#[test]
fn a_tampered_file_is_not_signed() {
    let r = Repo::new("");
    let text = r.read("s.yaml");
    let i = text.find("ENC[AES256_GCM,data:").expect("enc") + 20;
    let mut t = text.clone();
    t.replace_range(i..i + 1, if &text[i..i + 1] == "A" { "B" } else { "A" });
    r.write("s.yaml", &t);
    let o = r.sign("s.yaml", &r.alice);
    assert!(!o.status.success());
    assert!(!r.read("s.yaml").contains("leafseal_signature"));
    let o = r.run(&[
        "sign",
        "--ignore-mac",
        "--key",
        r.alice.to_str().expect("utf8"),
        "s.yaml",
    ]);
    assert_eq!(o.status.code(), Some(8));
}

#[test]
fn json_dotenv_and_ini_files_are_signed_too() {
    let r = Repo::new("");
    for (name, plain, ty) in [
        ("j.json", "{\n\t\"a\": \"x\"\n}\n", "json"),
        ("e.env", "A=x\nB=y\n", "dotenv"),
        ("i.ini", "[s]\na = x\n", "ini"),
    ] {
        r.write("plain.tmp", plain);
        ok(&r.run(&["encrypt", "--input-type", ty, "--output", name, "plain.tmp"]));
        ok(&r.sign(name, &r.alice));
        assert!(r.read(name).contains("leafseal_signature"), "{name}");
        assert!(
            ok(&r.run(&["verify", name])).contains("good signature"),
            "{name}"
        );
        assert_eq!(ok(&r.run(&["decrypt", name])), plain, "{name}");
        let o = r.run(&["rotate", "-i", name]);
        ok(&o);
        assert!(
            stderr(&o).contains("its signature was removed"),
            "{name}: {}",
            stderr(&o)
        );
        assert_eq!(r.run(&["verify", name]).status.code(), Some(54), "{name}");
    }
}

/// Round 25: the signed digest took each ciphertext's type, length and tag only. A
/// ciphertext or an IV changed in place (same length, same tag), or text appended after
/// the closing bracket, left `verify` and `check --require-signed` reporting a good
/// signature on a file whose value no longer decrypts. v2 signatures cover every
/// ciphertext whole.
#[test]
fn a_ciphertext_or_iv_changed_in_place_breaks_the_signature() {
    let r = Repo::new("");
    ok(&r.sign("s.yaml", &r.alice));
    let signed = r.read("s.yaml");
    ok(&r.run(&["verify", "s.yaml"]));
    let field = |name: &str| -> (usize, usize) {
        let start = signed.find(name).expect("field") + name.len();
        let end = start + signed[start..].find(',').expect("comma");
        (start, end)
    };
    let same_length_other = |text: &str| -> String {
        text.chars()
            .map(|c| {
                if c == 'A' {
                    'B'
                } else if c == '=' {
                    '='
                } else {
                    'A'
                }
            })
            .collect()
    };
    for (what, altered) in [
        ("ciphertext", {
            let (s, e) = field("data:");
            let mut t = signed.clone();
            t.replace_range(s..e, &same_length_other(&signed[s..e]));
            t
        }),
        ("iv", {
            let (s, e) = field(",iv:");
            let mut t = signed.clone();
            t.replace_range(s..e, &same_length_other(&signed[s..e]));
            t
        }),
        (
            "text after the bracket",
            signed.replacen(",type:str]", ",type:str]x", 1),
        ),
    ] {
        assert_ne!(altered, signed);
        r.write("s.yaml", &altered);
        let o = r.run(&["verify", "s.yaml"]);
        assert_eq!(o.status.code(), Some(54), "{what}: {}", stdout(&o));
        assert!(
            stdout(&o).contains("changed after it was signed"),
            "{what}: {}",
            stdout(&o)
        );
        assert!(
            !r.run(&["check", "--require-signed", "s.yaml"])
                .status
                .success(),
            "{what}"
        );
        // The value does not decrypt either: the signature now agrees with that.
        assert!(!r.run(&["decrypt", "s.yaml"]).status.success(), "{what}");
    }
    assert!(
        signed.contains("leafseal_signature: v2:ssh-ed25519:"),
        "{signed}"
    );
}

/// A file signed before round 25 (signature v1) still verifies, and changes v1 covers
/// (a value's length, the key groups) still break it.
#[test]
fn a_v1_signature_from_before_round_25_still_verifies() {
    let r = Repo::new("");
    let dir = fixtures().join("signing");
    let text = std::fs::read_to_string(dir.join("v1-signed.yaml")).expect("fixture");
    assert!(text.contains("leafseal_signature: v1:ssh-ed25519:"));
    r.write("v1.yaml", &text);
    let allowed = dir.join("v1-allowed-signers");
    let allowed = allowed.to_str().expect("utf8");
    let o = r.run(&["verify", "--allowed-signers", allowed, "v1.yaml"]);
    let said = ok(&o);
    assert!(
        said.contains("good signature by alice@example.invalid"),
        "{}",
        stdout(&o)
    );
    // Good, and said to be the weaker version, with what to do about it.
    assert!(
        said.contains("of version v1, which does not cover each value's ciphertext bytes")
            && said.contains("run `leafseal sign` on the file again"),
        "{said}"
    );
    r.write(
        "v1.yaml",
        &text.replacen("ENC[AES256_GCM,data:", "ENC[AES256_GCM,data:AA", 1),
    );
    let o = r.run(&["verify", "--allowed-signers", allowed, "v1.yaml"]);
    assert_eq!(o.status.code(), Some(54), "{}", stdout(&o));
}
