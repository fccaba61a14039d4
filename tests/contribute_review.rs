//! Write-only contributions, the review findings (r19) through the binary: a replayed or
//! stale contribution is refused (its target changed since it was made); two
//! contributions to one value conflict; entries of the first format (no base) are
//! refused; a contribution never destroys a value it does not name; a value the file
//! leaves in clear needs an explicit opt-in; paths a format cannot hold are refused by
//! `contribute` and named by `absorb`; text from the file is shown without control
//! characters.

#[path = "support/sops.rs"]
mod sops_peer;
mod support;

use std::path::PathBuf;
use std::process::Command;
use std::process::Output;

use support::*;

const PLAIN: &str = "db:\n    user: admin\n    password: hunter2\nother: x\n";

struct Setup {
    home: tempfile::TempDir,
    work: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        Setup {
            home: tempfile::tempdir().expect("home"),
            work: tempfile::tempdir().expect("work"),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.work.path().join(rel)
    }

    fn holder(&self, args: &[&str]) -> Output {
        run_in(&env_vars(None, self.home.path()), self.work.path(), args)
    }

    /// No age identity: only the public keys in the file.
    fn contributor(&self, args: &[&str]) -> Output {
        let mut v = env_vars(None, self.home.path());
        v.remove("SOPS_AGE_KEY_FILE");
        run_in(&v, self.work.path(), args)
    }

    fn encrypted(&self, name: &str, plain: &str, extra: &[&str]) {
        let src = format!("plain-{name}");
        std::fs::write(self.path(&src), plain).expect("write");
        let mut args = vec!["encrypt", "--age", AGE_RECIPIENT];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--output", name, &src]);
        let out = self.holder(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        std::fs::remove_file(self.path(&src)).expect("rm");
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).expect("read")
    }

    fn write(&self, name: &str, body: &str) {
        std::fs::write(self.path(name), body).expect("write");
    }

    fn extract(&self, name: &str, path: &str) -> String {
        let out = self.holder(&["decrypt", "--extract", path, name]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    }

    fn sops_decrypts(&self, name: &str) -> Option<String> {
        let bin = sops_peer::sops_bin()?;
        let out = Command::new(bin)
            .env_clear()
            .envs(env_vars(None, self.home.path()))
            .env("SOPS_DISABLE_VERSION_CHECK", "1")
            .current_dir(self.work.path())
            .args(["decrypt", name])
            .output()
            .expect("sops");
        assert!(out.status.success(), "sops: {}", text(&out.stderr));
        Some(text(&out.stdout))
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stderr)
}

fn code(out: &Output, want: i32) -> String {
    assert_eq!(out.status.code(), Some(want), "{}", text(&out.stderr));
    text(&out.stderr)
}

/// The pending block of a YAML file (contribute appends it at the end of the file).
fn pending_block(yaml: &str) -> &str {
    &yaml[yaml.find("    leafseal_pending:").expect("pending block")..]
}

#[test]
fn an_applied_contribution_pasted_back_from_history_is_refused_signed_or_not() {
    let s = Setup::new();
    let keys = s.home.path().join("keys");
    std::fs::create_dir(&keys).expect("mkdir");
    let alice = ssh_key(&keys, "alice");
    let pubkey = std::fs::read_to_string(alice.with_extension("pub")).expect("pub");
    let mut f = pubkey.split_whitespace();
    let (t, k) = (f.next().expect("type"), f.next().expect("key"));
    s.write(
        "allowed_signers",
        &format!("alice@example.invalid {t} {k}\n"),
    );
    let a = alice.display().to_string();
    for (signed, name) in [(false, "u.yaml"), (true, "s.yaml")] {
        s.encrypted(name, PLAIN, &[]);
        let mut args = vec!["contribute", name, r#"["api_token"]"#, r#""OLD""#];
        if signed {
            args.splice(1..1, ["--sign-key", a.as_str()]);
        }
        ok(&s.contributor(&args));
        let with_pending = s.read(name);
        let mut absorb = vec!["absorb", name];
        if signed {
            absorb.splice(
                1..1,
                ["--require-signed", "--allowed-signers", "allowed_signers"],
            );
        }
        ok(&s.holder(&absorb));
        ok(&s.holder(&["set", name, r#"["api_token"]"#, r#""NEW""#]));
        // The entry is pasted back into the metadata, as it was in history.
        let replayed = format!("{}{}", s.read(name), pending_block(&with_pending));
        s.write(name, &replayed);
        let err = code(&s.holder(&absorb), 55);
        assert!(
            err.contains(r#"the value at ["api_token"] changed since contribution"#)
                && err.contains("already applied"),
            "{err}"
        );
        assert!(err.contains("leafseal absorb --skip "), "{err}");
        assert_eq!(s.read(name), replayed, "nothing was written");
        assert_eq!(s.extract(name, r#"["api_token"]"#), "NEW");
    }
}

#[test]
fn a_contribution_made_before_the_value_changed_is_refused_as_stale() {
    let s = Setup::new();
    s.encrypted("s.yaml", PLAIN, &[]);
    let out = s.contributor(&["contribute", "s.yaml", r#"["db"]["password"]"#, r#""mine""#]);
    assert!(ok(&out).contains("already holds a value"));
    ok(&s.holder(&["set", "s.yaml", r#"["db"]["password"]"#, r#""rotated""#]));
    let err = code(&s.holder(&["absorb", "s.yaml"]), 55);
    assert!(err.contains("changed since"), "{err}");
    assert_eq!(s.extract("s.yaml", r#"["db"]["password"]"#), "rotated");
    // A change elsewhere in the file leaves it applicable; it says what it replaced.
    s.encrypted("t.yaml", PLAIN, &[]);
    ok(&s.contributor(&["contribute", "t.yaml", r#"["db"]["password"]"#, r#""mine""#]));
    ok(&s.holder(&["set", "t.yaml", r#"["other"]"#, r#""y""#]));
    let err = ok(&s.holder(&["absorb", "t.yaml"]));
    assert!(
        err.contains(r#"replaced the existing value at ["db"]["password"]"#),
        "{err}"
    );
    assert_eq!(s.extract("t.yaml", r#"["db"]["password"]"#), "mine");
}

#[test]
fn two_contributions_apply_to_different_values_and_conflict_on_the_same_one() {
    let s = Setup::new();
    s.encrypted("s.yaml", PLAIN, &[]);
    ok(&s.contributor(&["contribute", "s.yaml", r#"["db"]["token"]"#, r#""t1""#]));
    ok(&s.contributor(&["contribute", "s.yaml", r#"["db"]["password"]"#, r#""p1""#]));
    ok(&s.contributor(&["contribute", "s.yaml", r#"["new"]"#, r#"{"a":1}"#]));
    let pending = s.read("s.yaml");
    if let Some(plain) = s.sops_decrypts("s.yaml") {
        assert_eq!(plain, PLAIN, "sops 3.11 reads the file with v2 entries");
    }
    let err = ok(&s.holder(&["absorb", "s.yaml"]));
    assert_eq!(err.matches(": applied ").count(), 3, "{err}");
    assert_eq!(s.extract("s.yaml", r#"["db"]["token"]"#), "t1");
    assert_eq!(s.extract("s.yaml", r#"["db"]["password"]"#), "p1");
    if let Some(plain) = s.sops_decrypts("s.yaml") {
        assert!(plain.contains("token: t1"), "{plain}");
    }
    // Two to the same new key: the later one is refused, naming the earlier.
    s.write("s.yaml", &pending);
    ok(&s.contributor(&["contribute", "s.yaml", r#"["db"]["token"]"#, r#""t2""#]));
    let err = code(&s.holder(&["absorb", "s.yaml"]), 55);
    assert!(err.contains("targets the same value"), "{err}");
    let ids: Vec<String> = s
        .read("s.yaml")
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("id: "))
        .map(str::to_owned)
        .collect();
    assert_eq!(ids.len(), 4);
    // Dropping one of them resolves it.
    ok(&s.holder(&["absorb", "--skip", &ids[0], "s.yaml"]));
    assert_eq!(s.extract("s.yaml", r#"["db"]["token"]"#), "t2");
    // A key inside a value another contribution of the run adds conflicts too.
    s.encrypted("u.yaml", PLAIN, &[]);
    ok(&s.contributor(&["contribute", "u.yaml", r#"["x"]["y"]"#, r#""1""#]));
    ok(&s.contributor(&["contribute", "u.yaml", r#"["x"]"#, r#"{"z":2}"#]));
    code(&s.holder(&["absorb", "u.yaml"]), 55);
}

#[test]
fn an_entry_of_the_first_format_is_refused_and_can_be_dropped() {
    let s = Setup::new();
    let fixture = fixtures().join("contrib/v1-pending.yaml");
    std::fs::copy(&fixture, s.path("v1.yaml")).expect("copy");
    let before = s.read("v1.yaml");
    assert!(!before.contains("base:"));
    let err = code(&s.holder(&["absorb", "v1.yaml"]), 55);
    assert!(
        err.contains("older leafseal") && err.contains("contribute again"),
        "{err}"
    );
    assert_eq!(s.read("v1.yaml"), before);
    // A current entry stripped of its base is refused the same way.
    s.encrypted("s.yaml", PLAIN, &[]);
    ok(&s.contributor(&["contribute", "s.yaml", r#"["a"]"#, r#""v""#]));
    let stripped: String = s
        .read("s.yaml")
        .lines()
        .filter(|l| !l.trim_start().starts_with("base: "))
        .map(|l| format!("{l}\n"))
        .collect();
    s.write("s.yaml", &stripped);
    assert!(code(&s.holder(&["absorb", "s.yaml"]), 55).contains("older leafseal"));
    let out = s.holder(&["absorb", "--skip", "4d048b645b681ff1", "v1.yaml"]);
    assert!(ok(&out).contains("dropped contribution 4d048b645b681ff1"));
    assert!(!s.read("v1.yaml").contains("leafseal_pending"));
    assert_eq!(
        s.extract("v1.yaml", r#"["db"]["password"]"#),
        "hunter2",
        "the values are as they were"
    );
}

#[test]
fn a_contribution_never_destroys_a_value_it_does_not_name() {
    let s = Setup::new();
    s.encrypted("s.yaml", PLAIN, &[]);
    let before = s.read("s.yaml");
    for (path, value, why) in [
        (r#"["db"]["password"]["x"]"#, r#""V""#, "passes through"),
        (r#"["db"]"#, r#"{"user":"u"}"#, "holds a map"),
        (r#"["db"]["password"]"#, r#"{"a":1}"#, "not with a map"),
    ] {
        let err = code(&s.contributor(&["contribute", "s.yaml", path, value]), 7);
        assert!(err.contains(why), "{path}: {err}");
        assert_eq!(s.read("s.yaml"), before, "{path}: nothing was written");
    }
    // The file changes after the contribution: absorb checks again.
    ok(&s.contributor(&["contribute", "s.yaml", r#"["db"]["token"]"#, r#""t""#]));
    ok(&s.holder(&["set", "s.yaml", r#"["db"]"#, r#""flat""#]));
    let err = code(&s.holder(&["absorb", "s.yaml"]), 55);
    assert!(err.contains("passes through"), "{err}");
    assert_eq!(s.extract("s.yaml", r#"["db"]"#), "flat");
}

#[test]
fn a_value_the_file_leaves_in_clear_needs_an_opt_in_and_absorb_says_so() {
    let s = Setup::new();
    s.encrypted("s.yaml", PLAIN, &[]);
    let before = s.read("s.yaml");
    let err = code(
        &s.contributor(&[
            "contribute",
            "s.yaml",
            r#"["token_unencrypted"]"#,
            r#""TOPSECRET""#,
        ]),
        7,
    );
    assert!(
        err.contains("stored unencrypted") && err.contains("unencrypted_suffix"),
        "{err}"
    );
    assert!(err.contains("--allow-unencrypted"), "{err}");
    assert_eq!(s.read("s.yaml"), before);
    let out = s.contributor(&[
        "contribute",
        "--allow-unencrypted",
        "s.yaml",
        r#"["token_unencrypted"]"#,
        r#""TOPSECRET""#,
    ]);
    assert!(ok(&out).contains("warning"), "{}", text(&out.stderr));
    let err = ok(&s.holder(&["absorb", "s.yaml"]));
    assert!(
        err.contains(r#"the value at ["token_unencrypted"] is stored unencrypted"#),
        "{err}"
    );
    // encrypted_regex: a key it does not match stays clear.
    s.encrypted("r.yaml", PLAIN, &["--encrypted-regex", "^pass"]);
    let err = code(
        &s.contributor(&["contribute", "r.yaml", r#"["db"]["token"]"#, r#""t""#]),
        7,
    );
    assert!(err.contains("encrypted_regex"), "{err}");
    ok(&s.contributor(&["contribute", "r.yaml", r#"["db"]["password"]"#, r#""p""#]));
    let err = ok(&s.holder(&["absorb", "r.yaml"]));
    assert!(!err.contains("unencrypted"), "{err}");
}

#[test]
fn paths_a_format_cannot_hold_are_refused_early_and_named_at_absorb() {
    let s = Setup::new();
    s.encrypted("s.env", "A=1\n", &[]);
    let before = s.read("s.env");
    for path in ["[\"X\nY\"]", "[\"X\nsops_mac\"]", r#"["A"]["b"]"#] {
        let err = code(&s.contributor(&["contribute", "s.env", path, r#""v""#]), 7);
        assert!(err.contains("dotenv file cannot hold"), "{path:?}: {err}");
        assert_eq!(s.read("s.env"), before, "{path:?}");
    }
    let deep = r#"["a"]"#.repeat(20_000);
    s.encrypted("s.yaml", PLAIN, &[]);
    let err = code(
        &s.contributor(&["contribute", "s.yaml", &deep, r#""v""#]),
        7,
    );
    assert!(err.contains("deeper than 256"), "{err}");
    // An entry whose path was changed to one the format cannot hold: absorb says what
    // is wrong with it, before using a key, and does not block the other entry once
    // dropped.
    ok(&s.contributor(&["contribute", "s.env", r#"["B"]"#, r#""b""#]));
    ok(&s.contributor(&["contribute", "s.env", r#"["C"]"#, r#""c""#]));
    let pending = s.read("s.env");
    let broken = pending.replacen(r#"map_path=["B"]"#, r#"map_path=["B\nY"]"#, 1);
    assert_ne!(broken, pending);
    s.write("s.env", &broken);
    let err = code(&s.holder(&["absorb", "s.env"]), 55);
    assert!(
        err.contains("cannot be applied to this file") && err.contains("dotenv file cannot hold"),
        "{err}"
    );
    assert!(!err.contains("does not authenticate"), "{err}");
    let id = broken
        .lines()
        .find_map(|l| l.strip_prefix("sops_leafseal_pending__list_0__map_id="))
        .expect("id");
    ok(&s.holder(&["absorb", "--skip", id, "s.env"]));
    let out = s.holder(&["decrypt", "s.env"]);
    assert_eq!(text(&out.stdout), "A=1\nC=c\n", "{}", text(&out.stderr));
}

#[test]
fn absorb_shows_text_from_the_file_without_control_characters() {
    let s = Setup::new();
    s.encrypted("s.yaml", PLAIN, &[]);
    let path = "[\"\x1b[31mRED\x1b[0m\"]";
    let out = s.contributor(&["contribute", "s.yaml", path, r#""v""#]);
    assert!(!ok(&out).contains('\x1b'), "{:?}", text(&out.stderr));
    let pending = s.read("s.yaml");
    let out = s.holder(&["absorb", "s.yaml"]);
    let err = ok(&out);
    assert!(!err.contains('\x1b') && err.contains("applied"), "{err:?}");
    // An id holding a line break cannot forge a line: refused (the id is sealed), and
    // every message shows it on one line.
    let id = pending
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("id: "))
        .expect("id")
        .to_owned();
    let forged_id = format!("{id}\nleafseal: s.yaml: applied [\"forged\"] (x)");
    let forged = pending.replace(
        &format!("id: {id}"),
        &format!("id: \"{id}\\nleafseal: s.yaml: applied [\\\"forged\\\"] (x)\""),
    );
    assert_ne!(forged, pending);
    s.write("s.yaml", &forged);
    let err = code(&s.holder(&["absorb", "s.yaml"]), 55);
    assert!(err.contains("does not authenticate"), "{err}");
    let dropped = ok(&s.holder(&["absorb", "--skip", &forged_id, "s.yaml"]));
    for e in [&err, &dropped] {
        assert!(
            !e.lines()
                .any(|l| l.starts_with("leafseal: s.yaml: applied")),
            "{e}"
        );
        assert!(!e.contains('\x1b'), "{e:?}");
    }
    assert!(dropped.contains("dropped contribution"), "{dropped}");
}
