//! Write-only contributions through the binary: a user who holds only public keys
//! contributes a value to a file encrypted for two age recipients and a PGP key; the real
//! sops 3.11 reads the file before, with the pending entry, and after `absorb`; `absorb`
//! by a key holder changes only the new value's line plus `lastmodified`, `mac` and the
//! integrity record; altered contributions and unsigned ones under `require_signed` are
//! refused; `check` and `access` list pending contributions.

#[path = "support/sops.rs"]
mod sops_peer;
mod support;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::process::Output;

use support::*;

const PLAIN: &str = "db:\n    user: admin\n    password: hunter2\nother: x\n";

struct Setup {
    home: tempfile::TempDir,
    work: tempfile::TempDir,
    /// A gpg home holding the secret key (the key holder's).
    gpg: GpgHome,
    /// A gpg home holding only the public key (the contributor's).
    pub_gpg: tempfile::TempDir,
    second_recipient: String,
}

impl Setup {
    fn new() -> Setup {
        let home = tempfile::tempdir().expect("home");
        let work = tempfile::tempdir().expect("work");
        let gpg = GpgHome::new();
        let pub_gpg = tempfile::Builder::new()
            .prefix("ls-gpgpub")
            .tempdir_in("/tmp")
            .expect("tempdir");
        std::fs::set_permissions(
            pub_gpg.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .expect("chmod");
        let exported = Command::new("gpg")
            .env("GNUPGHOME", gpg.path())
            .args(["--batch", "--export", PGP_FP])
            .output()
            .expect("gpg export");
        assert!(exported.status.success() && !exported.stdout.is_empty());
        let pubring = pub_gpg.path().join("pub.gpg");
        std::fs::write(&pubring, &exported.stdout).expect("write");
        let imported = Command::new("gpg")
            .env("GNUPGHOME", pub_gpg.path())
            .args(["--batch", "--quiet", "--import"])
            .arg(&pubring)
            .output()
            .expect("gpg import");
        assert!(imported.status.success());
        let mut s = Setup {
            home,
            work,
            gpg,
            pub_gpg,
            second_recipient: String::new(),
        };
        // A second age recipient whose identity nobody here uses.
        let out = s.run_holder(&["keygen", "--output", "second.txt"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let key = std::fs::read_to_string(s.path("second.txt")).expect("key");
        let second = key
            .lines()
            .find_map(|l| l.strip_prefix("# public key: "))
            .expect("public key line")
            .trim()
            .to_owned();
        std::fs::remove_file(s.path("second.txt")).expect("rm");
        s.second_recipient = second;
        s
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.work.path().join(rel)
    }

    fn holder_vars(&self) -> HashMap<String, String> {
        env_vars(Some(&self.gpg), self.home.path())
    }

    /// No age identity, and a gpg home with only the public key.
    fn contributor_vars(&self) -> HashMap<String, String> {
        let mut v = HashMap::new();
        v.insert("HOME".to_owned(), self.home.path().display().to_string());
        v.insert("PATH".to_owned(), std::env::var("PATH").unwrap_or_default());
        v.insert(
            "GNUPGHOME".to_owned(),
            self.pub_gpg.path().display().to_string(),
        );
        v
    }

    fn run_holder(&self, args: &[&str]) -> Output {
        run_in(&self.holder_vars(), self.work.path(), args)
    }

    fn run_contributor(&self, args: &[&str]) -> Output {
        run_in(&self.contributor_vars(), self.work.path(), args)
    }

    fn encrypted(&self, name: &str) {
        std::fs::write(self.path("plain.yaml"), PLAIN).expect("write");
        let recipients = format!("{AGE_RECIPIENT},{}", self.second_recipient);
        let out = self.run_holder(&[
            "encrypt",
            "--age",
            &recipients,
            "--pgp",
            PGP_FP,
            "--output",
            name,
            "plain.yaml",
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        std::fs::remove_file(self.path("plain.yaml")).expect("rm");
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).expect("read")
    }

    /// The real sops decrypts the file with the key holder's age identity.
    fn sops_decrypts(&self, name: &str) -> Option<String> {
        let bin = sops_peer::sops_bin()?;
        let out = Command::new(bin)
            .env_clear()
            .envs(self.holder_vars())
            .current_dir(self.work.path())
            .args(["decrypt", name])
            .output()
            .expect("sops");
        assert!(
            out.status.success(),
            "sops decrypt failed: {}",
            text(&out.stderr)
        );
        Some(text(&out.stdout))
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.pub_gpg.path())
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn is_meta_churn(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("lastmodified:") || t.starts_with("mac:") || t.starts_with("leafseal_integrity:")
}

#[test]
fn a_public_key_holder_contributes_and_a_key_holder_absorbs_with_a_minimal_diff() {
    let s = Setup::new();
    s.encrypted("s.yaml");
    let before = s.read("s.yaml");
    if let Some(plain) = s.sops_decrypts("s.yaml") {
        assert_eq!(plain, PLAIN);
    }
    // The contributor cannot open the file...
    let denied = s.run_contributor(&["decrypt", "s.yaml"]);
    assert_eq!(denied.status.code(), Some(128), "{}", text(&denied.stderr));
    // ...but can contribute to it.
    let out = s.run_contributor(&["contribute", "s.yaml", r#"["db"]["token"]"#, r#""tok-42""#]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("pending"));
    let pending = s.read("s.yaml");
    assert!(pending.contains("leafseal_pending:"));
    assert!(!pending.contains("tok-42"), "the value is never in clear");
    // The file is byte-identical up to the new metadata entry, appended at its end.
    assert!(pending.starts_with(&before), "{pending}");
    assert!(pending[before.len()..].starts_with("    leafseal_pending:"));
    // sops still reads the file (the MAC is unchanged and valid); leafseal too, strictly.
    if let Some(plain) = s.sops_decrypts("s.yaml") {
        assert_eq!(plain, PLAIN);
    }
    let strict = s.run_holder(&["--strict-integrity", "decrypt", "s.yaml"]);
    assert!(strict.status.success(), "{}", text(&strict.stderr));
    assert_eq!(text(&strict.stdout), PLAIN);

    let out = s.run_holder(&["absorb", "s.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(r#"applied ["db"]["token"]"#));
    let after = s.read("s.yaml");
    assert!(!after.contains("leafseal_pending"));
    // Only the new value's line plus lastmodified, mac and the integrity record differ.
    let old: Vec<&str> = before.lines().filter(|l| !is_meta_churn(l)).collect();
    let new: Vec<&str> = after.lines().filter(|l| !is_meta_churn(l)).collect();
    assert_eq!(new.len(), old.len() + 1, "{after}");
    let at = new
        .iter()
        .position(|l| l.starts_with("    token: ENC[AES256_GCM,"))
        .expect("the new value's line");
    let mut without = new.clone();
    without.remove(at);
    assert_eq!(without, old);
    assert_eq!(new[at - 1], old[at - 1]);
    assert!(old[at - 1].starts_with("    password: ENC["));
    let expected = "db:\n    user: admin\n    password: hunter2\n    token: tok-42\nother: x\n";
    if let Some(plain) = s.sops_decrypts("s.yaml") {
        assert_eq!(plain, expected);
    }
    let strict = s.run_holder(&["--strict-integrity", "decrypt", "s.yaml"]);
    assert!(strict.status.success(), "{}", text(&strict.stderr));
    assert_eq!(text(&strict.stdout), expected);
}

fn contribute_one(s: &Setup) -> String {
    s.encrypted("s.yaml");
    let out = s.run_contributor(&["contribute", "s.yaml", r#"["db"]["token"]"#, r#""tok-42""#]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    s.read("s.yaml")
}

#[test]
fn an_altered_contribution_is_refused_and_nothing_is_written() {
    let s = Setup::new();
    let pending = contribute_one(&s);
    // Flip one character of the sealed value's ciphertext.
    let line = pending
        .lines()
        .find(|l| l.trim_start().starts_with("value: ENC[AES256_GCM,data:"))
        .expect("value line");
    let at = line.find("data:").expect("data") + 5;
    let mut altered_line = line.to_owned();
    let c = &line[at..at + 1];
    altered_line.replace_range(at..at + 1, if c == "A" { "B" } else { "A" });
    let tampered = pending.replace(line, &altered_line);
    std::fs::write(s.path("s.yaml"), &tampered).expect("write");
    let out = s.run_holder(&["absorb", "s.yaml"]);
    assert_eq!(out.status.code(), Some(55), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("does not authenticate"));
    assert!(!text(&out.stderr).contains("tok-42"));
    assert_eq!(s.read("s.yaml"), tampered, "nothing was written");

    // A contribution moved to another path is refused too.
    let moved = pending.replace(r#"path: '["db"]["token"]'"#, r#"path: '["other"]'"#);
    assert_ne!(moved, pending);
    std::fs::write(s.path("s.yaml"), &moved).expect("write");
    let out = s.run_holder(&["absorb", "s.yaml"]);
    assert_eq!(out.status.code(), Some(55), "{}", text(&out.stderr));

    // --skip drops it; the values, MAC and record stay.
    let id = pending
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("id: "))
        .expect("id")
        .to_owned();
    let out = s.run_holder(&["absorb", "--skip", &id, "s.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let after = s.read("s.yaml");
    assert!(!after.contains("leafseal_pending"));
    let out = s.run_holder(&["--strict-integrity", "decrypt", "s.yaml"]);
    assert_eq!(text(&out.stdout), PLAIN, "{}", text(&out.stderr));
}

#[test]
fn check_and_access_list_pending_contributions() {
    let s = Setup::new();
    let pending = contribute_one(&s);
    let id = pending
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("id: "))
        .expect("id")
        .to_owned();
    std::fs::write(
        s.path(".sops.yaml"),
        format!(
            "creation_rules:\n  - age: {AGE_RECIPIENT},{}\n    pgp: {PGP_FP}\n",
            s.second_recipient
        ),
    )
    .expect("policy");
    let out = s.run_contributor(&["check", "s.yaml"]);
    let err = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(err.contains("pending-contribution"), "{err}");
    assert!(err.contains(&id), "{err}");
    assert_eq!(out.status.code(), Some(0), "a warning only: {err}");
    let out = s.run_contributor(&["check", "--strict", "s.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let out = s.run_contributor(&["access", "s.yaml"]);
    let all = text(&out.stdout);
    assert!(
        all.contains(&format!("pending contribution: {id} [\"db\"][\"token\"]")),
        "{all}{}",
        text(&out.stderr)
    );
}

#[test]
fn sops_reads_a_file_with_a_pending_contribution_and_drops_it_when_it_rewrites() {
    let s = Setup::new();
    contribute_one(&s);
    let Some(bin) = sops_peer::sops_bin() else {
        return;
    };
    let out = Command::new(bin)
        .env_clear()
        .envs(s.holder_vars())
        .current_dir(s.work.path())
        .args(["set", "s.yaml", r#"["other"]"#, r#""y""#])
        .output()
        .expect("sops set");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!s.read("s.yaml").contains("leafseal_pending"));
}

#[test]
fn with_signing_required_only_contributions_by_an_allowed_signer_are_absorbed() {
    let s = Setup::new();
    s.encrypted("s.yaml");
    let keys = s.home.path().join("keys");
    std::fs::create_dir(&keys).expect("mkdir");
    let alice = ssh_key(&keys, "alice");
    let mallory = ssh_key(&keys, "mallory");
    let pubkey = std::fs::read_to_string(alice.with_extension("pub")).expect("pub");
    let mut f = pubkey.split_whitespace();
    let (t, k) = (f.next().expect("type"), f.next().expect("key"));
    std::fs::write(
        s.path("allowed_signers"),
        format!("alice@example.invalid {t} {k}\n"),
    )
    .expect("write");
    std::fs::write(
        s.path(".sops.yaml"),
        format!("creation_rules:\n  - age: {AGE_RECIPIENT}\nleafseal:\n  allowed_signers: allowed_signers\n  require_signed: true\n"),
    )
    .expect("policy");
    let plain = s.read("s.yaml");
    // Unsigned: refused.
    let out = s.run_contributor(&["contribute", "s.yaml", r#"["a"]"#, r#""v1""#]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = s.run_holder(&["absorb", "s.yaml"]);
    assert_eq!(out.status.code(), Some(55), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("not signed"));
    // Signed by a key the allowed-signers file does not list: refused.
    std::fs::write(s.path("s.yaml"), &plain).expect("reset");
    let m = mallory.display().to_string();
    let out = s.run_contributor(&[
        "contribute",
        "--sign-key",
        &m,
        "s.yaml",
        r#"["a"]"#,
        r#""v1""#,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = s.run_holder(&["absorb", "s.yaml"]);
    assert_eq!(out.status.code(), Some(55), "{}", text(&out.stderr));
    // Signed by alice: absorbed, and the signer is named.
    std::fs::write(s.path("s.yaml"), &plain).expect("reset");
    let a = alice.display().to_string();
    let out = s.run_contributor(&[
        "contribute",
        "--sign-key",
        &a,
        "s.yaml",
        r#"["a"]"#,
        r#""v1""#,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = s.run_holder(&["absorb", "s.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("signed by alice@example.invalid"));
    // The absorbed file is a new state: its key holder signs it, then it opens under
    // require_signed.
    let out = s.run_holder(&["sign", "--key", &a, "s.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = s.run_holder(&["decrypt", "--extract", r#"["a"]"#, "s.yaml"]);
    assert_eq!(text(&out.stdout), "v1", "{}", text(&out.stderr));
}

#[test]
fn absorb_without_files_finds_the_tracked_files_with_pending_contributions() {
    let s = Setup::new();
    s.encrypted("s.yaml");
    s.encrypted("untouched.yaml");
    std::fs::write(s.path("s.json"), "{\"a\": \"x\"}\n").expect("write");
    std::fs::write(s.path("s.env"), "A=x\n").expect("write");
    for f in ["s.json", "s.env"] {
        let out = s.run_holder(&["encrypt", "-i", "--age", AGE_RECIPIENT, f]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let git = |args: &[&str]| {
        let o = Command::new("git")
            .current_dir(s.work.path())
            .env("HOME", s.home.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(args)
            .output()
            .expect("git");
        assert!(o.status.success(), "{}", text(&o.stderr));
    };
    git(&["init", "-q"]);
    for (f, path) in [
        ("s.yaml", r#"["db"]["token"]"#),
        ("s.json", r#"["B"]"#),
        ("s.env", r#"["B"]"#),
    ] {
        let out = s.run_contributor(&["contribute", f, path, r#""new""#]);
        assert!(out.status.success(), "{f}: {}", text(&out.stderr));
        if let Some(bin) = sops_peer::sops_bin() {
            let o = Command::new(bin)
                .env_clear()
                .envs(s.holder_vars())
                .current_dir(s.work.path())
                .args(["decrypt", f])
                .output()
                .expect("sops");
            assert!(o.status.success(), "sops reads {f}: {}", text(&o.stderr));
        }
    }
    let untouched = s.read("untouched.yaml");
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "pending"]);
    let out = s.run_holder(&["absorb"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    for f in ["s.yaml", "s.json", "s.env"] {
        assert!(err.contains(&format!("{f}: applied")), "{err}");
        assert!(!s.read(f).contains("leafseal_pending"), "{f}");
    }
    assert_eq!(s.read("untouched.yaml"), untouched);
    let out = s.run_holder(&["decrypt", "s.env"]);
    assert_eq!(text(&out.stdout), "A=x\nB=new\n", "{}", text(&out.stderr));
}

#[test]
fn set_keeps_a_pending_contribution_valid_and_rotation_makes_it_stale() {
    let s = Setup::new();
    contribute_one(&s);
    let out = s.run_holder(&["set", "s.yaml", r#"["other"]"#, r#""y""#]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let after_set = s.read("s.yaml");
    assert!(after_set.contains("leafseal_pending:"));
    let out = s.run_holder(&["rotate", "-i", "s.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = s.run_holder(&["absorb", "s.yaml"]);
    assert_eq!(out.status.code(), Some(55), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("rotated"),
        "{}",
        text(&out.stderr)
    );
    // Before the rotation, the same contribution is absorbed after the `set`.
    std::fs::write(s.path("s.yaml"), &after_set).expect("reset");
    let out = s.run_holder(&["absorb", "s.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = s.run_holder(&["decrypt", "--extract", r#"["db"]["token"]"#, "s.yaml"]);
    assert_eq!(text(&out.stdout), "tok-42", "{}", text(&out.stderr));
}

/// Round 20: `encrypt` reusing an existing file (`--output EXISTING`, `--reuse FILE`)
/// kept that file's pending contributions in its output. With `--reuse A --output B`
/// they landed in B, whose wrapped data keys (the binding) are A's, so `absorb B` applied
/// a contribution made for A. `encrypt` now writes only the plaintext it is given: the
/// contributions are dropped with a warning that counts them, A is left as it was, and
/// an output that would otherwise be A byte for byte is re-sealed without them.
#[test]
fn encrypt_reusing_a_file_drops_its_pending_contributions_with_a_warning() {
    let s = Setup::new();
    let pending = contribute_one(&s);
    std::fs::write(s.path("plain.yaml"), PLAIN).expect("write");
    // Into another file: none carried over, the source untouched.
    let out = s.run_holder(&[
        "encrypt",
        "--reuse",
        "s.yaml",
        "--output",
        "other.yaml",
        "plain.yaml",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("dropped 1 pending contribution(s) of s.yaml"),
        "{err}"
    );
    assert!(!s.read("other.yaml").contains("leafseal_pending"));
    assert_eq!(s.read("s.yaml"), pending);
    let out = s.run_holder(&["absorb", "other.yaml"]);
    assert!(
        !text(&out.stderr).contains("applied"),
        "{}",
        text(&out.stderr)
    );
    let out = s.run_holder(&["decrypt", "other.yaml"]);
    assert_eq!(text(&out.stdout), PLAIN, "{}", text(&out.stderr));
    // Over the file itself, with the same plaintext and with a changed one.
    for plain in [
        PLAIN,
        "db:\n    user: admin\n    password: changed\nother: x\n",
    ] {
        std::fs::write(s.path("s.yaml"), &pending).expect("reset");
        std::fs::write(s.path("plain.yaml"), plain).expect("write");
        let out = s.run_holder(&["encrypt", "--output", "s.yaml", "plain.yaml"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("dropped 1 pending contribution(s)"),
            "{}",
            text(&out.stderr)
        );
        assert!(!s.read("s.yaml").contains("leafseal_pending"));
        let out = s.run_holder(&["--strict-integrity", "decrypt", "s.yaml"]);
        assert_eq!(text(&out.stdout), plain, "{}", text(&out.stderr));
    }
    // A file without contributions: no warning, and the same plaintext gives the file
    // back byte for byte.
    let out = s.run_holder(&["encrypt", "--output", "s.yaml", "plain.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("dropped"),
        "{}",
        text(&out.stderr)
    );
    let once = s.read("s.yaml");
    let out = s.run_holder(&["encrypt", "--output", "s.yaml", "plain.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(s.read("s.yaml"), once);
}
