//! `leafseal revoke` through the binary on a real git repository: an age recipient used
//! in 3 of 5 files is removed from `.sops.yaml` (comments and layout kept) and from those
//! files, which get new data keys it cannot open, while the other 2 stay byte-identical;
//! `--dry-run` changes nothing; an interrupted revoke is finished by a second run.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::process::Output;

use support::*;

struct Repo {
    home: tempfile::TempDir,
    work: tempfile::TempDir,
    alice: Id,
}

const PLAIN_A: &str = "db:\n    user: app\n    password: hunter2-a\napi_token: tok-a\n";
const PLAIN_B: &str = "{\n\t\"stripe\": {\n\t\t\"key\": \"sk-b\"\n\t},\n\t\"list\": [\n\t\t\"one-b\",\n\t\t\"two-b\"\n\t]\n}\n";
const PLAIN_C: &str = "SMTP_PASSWORD=mail-c\nSMTP_HOST=smtp.example.invalid\n";
const PLAIN_D: &str = "only_bob: secret-d\n";
const PLAIN_E: &str = "also_bob: secret-e\n";

impl Repo {
    /// Five files: three for alice (generated) and bob (the fixture key), two for bob only.
    fn new() -> Repo {
        let r = Repo {
            home: tempfile::tempdir().expect("home"),
            work: tempfile::tempdir().expect("work"),
            alice: new_id(),
        };
        let both = format!("{},{AGE_RECIPIENT}", r.alice.recipient);
        for (rel, plain, keys) in [
            ("shared/a.yaml", PLAIN_A, both.as_str()),
            ("shared/b.json", PLAIN_B, both.as_str()),
            ("shared/c.env", PLAIN_C, both.as_str()),
            ("private/d.yaml", PLAIN_D, AGE_RECIPIENT),
            ("private/e.yaml", PLAIN_E, AGE_RECIPIENT),
        ] {
            r.encrypt(rel, plain, keys);
        }
        r.write(".sops.yaml", &r.policy_text());
        r.git(&["init", "-q"]);
        r.git(&["add", "-A"]);
        r.git(&["commit", "-q", "-m", "init"]);
        r
    }

    fn policy_text(&self) -> String {
        format!(
            "# team keys\ncreation_rules:\n  - path_regex: ^shared/  # alice and bob\n    age: {alice},{AGE_RECIPIENT} # both\n  - path_regex: ^ops/\n    key_groups:\n      - age:\n          - {alice} # alice\n          - {AGE_RECIPIENT}\n  - path_regex: ^private/\n    age: '{AGE_RECIPIENT}'\n",
            alice = self.alice.recipient
        )
    }

    fn vars(&self) -> HashMap<String, String> {
        env_vars(None, self.home.path())
    }

    /// Variables where only `id` is available.
    fn vars_only(&self, id: &Id) -> HashMap<String, String> {
        let mut v = self.vars();
        v.remove("SOPS_AGE_KEY_FILE");
        v.insert("SOPS_AGE_KEY".to_owned(), id.secret.clone());
        v
    }

    fn run_vars(&self, vars: &HashMap<String, String>, args: &[&str]) -> Output {
        run_in(vars, self.work.path(), args)
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_vars(&self.vars(), args)
    }

    fn path(&self, rel: &str) -> std::path::PathBuf {
        self.work.path().join(rel)
    }

    fn write(&self, rel: &str, content: &str) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, content).expect("write");
    }

    fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.path(rel)).expect("read")
    }

    fn encrypt(&self, rel: &str, plain: &str, keys: &str) {
        std::fs::create_dir_all(self.path(rel).parent().expect("parent")).expect("mkdir");
        self.write("plain.tmp", plain);
        let ext = Path::new(rel)
            .extension()
            .and_then(|e| e.to_str())
            .expect("ext");
        let ty = if ext == "env" { "dotenv" } else { ext };
        let o = self.run(&[
            "encrypt",
            "--input-type",
            ty,
            "--age",
            keys,
            "--output",
            rel,
            "plain.tmp",
        ]);
        ok(&o);
        std::fs::remove_file(self.path("plain.tmp")).expect("rm");
    }

    fn git(&self, args: &[&str]) -> String {
        git_in(self.work.path(), self.home.path(), args)
    }

    fn snapshot(&self) -> Vec<(String, Vec<u8>)> {
        [
            ".sops.yaml",
            "shared/a.yaml",
            "shared/b.json",
            "shared/c.env",
            "private/d.yaml",
            "private/e.yaml",
        ]
        .iter()
        .map(|r| (r.to_string(), self.read(r)))
        .collect()
    }

    fn decrypt_with(&self, vars: &HashMap<String, String>, rel: &str) -> Output {
        self.run_vars(vars, &["decrypt", rel])
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

const SHARED: [(&str, &str); 3] = [
    ("shared/a.yaml", PLAIN_A),
    ("shared/b.json", PLAIN_B),
    ("shared/c.env", PLAIN_C),
];

/// Every `ENC[…]` string of a file.
fn ciphertexts(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    text.match_indices("ENC[AES256_GCM,data:")
        .map(|(i, _)| {
            let rest = &text[i..];
            rest[..rest.find(']').expect("end") + 1].to_owned()
        })
        .collect()
}

fn assert_revoked(r: &Repo, before: &[(String, Vec<u8>)], out: &str) {
    let after = r.snapshot();
    // The two files alice could not read are byte-identical.
    for rel in ["private/d.yaml", "private/e.yaml"] {
        let b = &before.iter().find(|(p, _)| p == rel).expect("before").1;
        assert_eq!(&r.read(rel), b, "{rel} changed");
    }
    for (rel, plain) in SHARED {
        let now = r.read(rel);
        let text = String::from_utf8_lossy(&now);
        assert!(
            !text.contains(&r.alice.recipient),
            "{rel} still names alice"
        );
        // A new data key: every value has a new ciphertext.
        let old = ciphertexts(&before.iter().find(|(p, _)| p == rel).expect("before").1);
        let new = ciphertexts(&now);
        assert_eq!(old.len(), new.len(), "{rel}");
        assert!(
            old.iter().all(|c| !new.contains(c)),
            "{rel} kept a ciphertext"
        );
        // alice cannot open it any more; bob (the fixture key) still can.
        let o = r.decrypt_with(&r.vars_only(&r.alice), rel);
        assert_eq!(o.status.code(), Some(128), "alice opened {rel}");
        let o = r.decrypt_with(&r.vars(), rel);
        assert_eq!(ok(&o), plain, "{rel}");
        // The listing names key paths, never values.
        assert!(out.contains(rel), "{rel} not listed:\n{out}");
    }
    for secret in ["hunter2-a", "tok-a", "sk-b", "one-b", "mail-c", "secret-d"] {
        assert!(
            !out.contains(secret),
            "a value leaked into the output:\n{out}"
        );
    }
    for path in [
        r#"["db"]["password"]"#,
        r#"["api_token"]"#,
        r#"["stripe"]["key"]"#,
        r#"["list"][1]"#,
        r#"["SMTP_PASSWORD"]"#,
    ] {
        assert!(out.contains(path), "{path} not listed:\n{out}");
    }
    // .sops.yaml without alice, comments and layout kept.
    let expected = format!(
        "# team keys\ncreation_rules:\n  - path_regex: ^shared/  # alice and bob\n    age: {AGE_RECIPIENT} # both\n  - path_regex: ^ops/\n    key_groups:\n      - age:\n          - {AGE_RECIPIENT}\n  - path_regex: ^private/\n    age: '{AGE_RECIPIENT}'\n"
    );
    assert_eq!(String::from_utf8_lossy(&after[0].1), expected);
    assert!(
        !r.path(".leafseal-revoke.json").exists(),
        "journal left behind"
    );
}

#[test]
fn revoke_rotates_the_three_files_of_the_recipient_and_leaves_the_other_two_alone() {
    let r = Repo::new();
    let before = r.snapshot();

    // --dry-run: the plan, and nothing changes.
    let o = r.run(&["revoke", "--dry-run", &r.alice.recipient]);
    let plan = ok(&o);
    assert!(plan.contains("dry run"), "{plan}");
    assert_eq!(plan.matches("would rotate").count(), 3, "{plan}");
    assert!(plan.contains(r#"["db"]["password"]"#), "{plan}");
    assert_eq!(r.snapshot(), before, "--dry-run changed a file");
    assert!(!r.path(".leafseal-revoke.json").exists());
    assert_eq!(r.git(&["status", "--porcelain"]), "");

    let o = r.run(&["revoke", &r.alice.recipient]);
    let out = ok(&o);
    assert_eq!(out.matches("rotated: new data key").count(), 3, "{out}");
    assert_revoked(&r, &before, &out);
    let mut changed: Vec<String> = r
        .git(&["status", "--porcelain"])
        .lines()
        .map(str::to_owned)
        .collect();
    changed.sort();
    assert_eq!(
        changed,
        [
            " M .sops.yaml",
            " M shared/a.yaml",
            " M shared/b.json",
            " M shared/c.env"
        ]
    );

    // A second run finds nothing to do.
    let o = r.run(&["revoke", "--format", "json", &r.alice.recipient]);
    let v: serde_json::Value = serde_json::from_str(&ok(&o)).expect("json");
    assert_eq!(v["complete"], true);
    assert!(v["policy"].is_null());
    assert!(
        v["files"]
            .as_array()
            .expect("files")
            .iter()
            .all(|f| f["action"] == "unaffected")
    );
}

#[test]
fn an_interrupted_revoke_is_finished_by_running_it_again() {
    let r = Repo::new();
    let before = r.snapshot();
    // b.json cannot be opened this time (its MAC was damaged): the run stops short.
    let good_b = r.read("shared/b.json");
    let text = String::from_utf8(good_b.clone()).expect("utf8");
    let at = text.find("\"mac\": \"ENC[AES256_GCM,data:").expect("mac") + 30;
    let mut broken = text.clone();
    broken.replace_range(
        at..at + 4,
        if &text[at..at + 4] == "AAAA" {
            "BBBB"
        } else {
            "AAAA"
        },
    );
    std::fs::write(r.path("shared/b.json"), &broken).expect("write");

    let o = r.run(&["revoke", "--format", "json", &r.alice.recipient]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["complete"], false);
    let actions: Vec<(String, String)> = v["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            (
                f["path"].as_str().expect("p").to_owned(),
                f["action"].as_str().expect("a").to_owned(),
            )
        })
        .collect();
    assert!(
        actions.contains(&("shared/b.json".to_owned(), "failed".to_owned())),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("shared/a.yaml".to_owned(), "rotated".to_owned())),
        "{actions:?}"
    );
    let journal = String::from_utf8(r.read(".leafseal-revoke.json")).expect("journal");
    assert!(
        journal.contains("shared/b.json") && journal.contains(&r.alice.recipient),
        "{journal}"
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("run the same `leafseal revoke` again"));

    // The file is restored; the same command finishes the job and still lists the
    // secrets of the files the first run rotated.
    std::fs::write(r.path("shared/b.json"), &good_b).expect("restore");
    let o = r.run(&["revoke", &r.alice.recipient]);
    let out = ok(&o);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("resuming"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("shared/a.yaml: already rotated"), "{out}");
    assert!(out.contains("shared/b.json: rotated"), "{out}");
    assert_revoked(&r, &before, &out);
}

#[test]
fn a_rule_left_without_keys_is_refused_unless_forced() {
    let r = Repo::new();
    let only_alice = format!(
        "creation_rules:\n  - path_regex: ^x/\n    age: {}\n  - age: {AGE_RECIPIENT}\n",
        r.alice.recipient
    );
    r.write(".sops.yaml", &only_alice);
    let before = r.snapshot();
    let o = r.run(&["revoke", &r.alice.recipient]);
    assert_eq!(
        o.status.code(),
        Some(111),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
    assert_eq!(r.snapshot(), before, "a refused revoke changed something");

    let o = r.run(&["revoke", "--force", &r.alice.recipient]);
    ok(&o);
    assert_eq!(
        String::from_utf8_lossy(&r.read(".sops.yaml")),
        format!("creation_rules:\n  - path_regex: ^x/\n    age:\n  - age: {AGE_RECIPIENT}\n")
    );
}

#[test]
fn revoke_works_for_a_pgp_fingerprint_and_across_key_groups() {
    let r = Repo::new();
    let gpg = GpgHome::new();
    let mut vars = r.vars();
    vars.insert("GNUPGHOME".to_owned(), gpg.path().display().to_string());
    // One file for age + PGP in one group; one with two Shamir groups (age, PGP + age).
    // Encrypted outside the repository (no creation rule matches these paths).
    let outside = tempfile::tempdir().expect("outside");
    std::fs::write(outside.path().join("x.yaml"), "pgp_secret: p\n").expect("write");
    ok(&run_in(
        &vars,
        outside.path(),
        &[
            "encrypt",
            "-i",
            "--age",
            AGE_RECIPIENT,
            "--pgp",
            PGP_FP,
            "x.yaml",
        ],
    ));
    std::fs::create_dir_all(r.path("pgp")).expect("mkdir");
    std::fs::copy(outside.path().join("x.yaml"), r.path("pgp/x.yaml")).expect("copy");
    let both = format!("{},{AGE_RECIPIENT}", r.alice.recipient);
    r.write(
        "pgp/y.yaml",
        &String::from_utf8_lossy(&r.read("pgp/x.yaml")),
    );
    ok(&r.run_vars(&vars, &["rotate", "-i", "--add-age", &both, "pgp/y.yaml"]));
    ok(&r.run_vars(
        &vars,
        &[
            "groups",
            "add",
            "-i",
            "--file",
            "pgp/y.yaml",
            "--pgp",
            PGP_FP,
            "--age",
            AGE_RECIPIENT,
        ],
    ));
    assert!(String::from_utf8_lossy(&r.read("pgp/y.yaml")).contains("key_groups"));
    let d_before = r.read("private/d.yaml");

    // The fingerprint in lower case names the same key.
    let o = r.run_vars(
        &vars,
        &["revoke", "--format", "json", &PGP_FP.to_lowercase(), "pgp"],
    );
    let v: serde_json::Value = serde_json::from_str(&ok(&o)).expect("json");
    assert_eq!(v["complete"], true, "{v}");
    for f in ["pgp/x.yaml", "pgp/y.yaml"] {
        let text = String::from_utf8_lossy(&r.read(f)).into_owned();
        assert!(
            !text.contains(PGP_FP),
            "{f} still names the PGP key:\n{text}"
        );
        // Without the age key (only gpg), the file no longer opens.
        let mut only_gpg = vars.clone();
        only_gpg.remove("SOPS_AGE_KEY_FILE");
        assert_eq!(r.decrypt_with(&only_gpg, f).status.code(), Some(128), "{f}");
        assert_eq!(ok(&r.decrypt_with(&vars, f)), "pgp_secret: p\n", "{f}");
    }
    assert_eq!(r.read("private/d.yaml"), d_before);
}

#[test]
fn a_revoke_killed_mid_run_is_finished_by_the_next_run() {
    use std::io::BufRead;
    let r = Repo::new();
    let before = r.snapshot();
    // Another process holds shared/b.json's lock, so the run stops there after a.yaml;
    // it is then killed (SIGKILL: no cleanup of any kind).
    // (`-o`: the lock stays with flock itself, so killing flock releases it.)
    let mut holder = Command::new("flock")
        .arg("-o")
        .arg(r.path("shared/b.json"))
        .args(["sleep", "20"])
        .spawn()
        .expect("flock");
    // Wait until the lock is really held.
    for _ in 0..100 {
        let free = Command::new("flock")
            .args(["-n", "-E", "75"])
            .arg(r.path("shared/b.json"))
            .arg("true")
            .status()
            .expect("flock -n");
        if free.code() == Some(75) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mut child = leafseal(&r.vars())
        .current_dir(r.work.path())
        .args(["revoke", &r.alice.recipient])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = std::io::BufReader::new(stderr).lines();
    let waiting = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.contains("waiting for another leafseal process"));
    assert!(waiting, "the run did not reach the locked file");
    child.kill().expect("kill");
    child.wait().expect("wait");
    holder.kill().expect("kill flock");
    holder.wait().expect("wait flock");

    // Part done: a.yaml rotated, b.json untouched, the journal left behind.
    assert!(!String::from_utf8_lossy(&r.read("shared/a.yaml")).contains(&r.alice.recipient));
    assert_eq!(r.read("shared/b.json"), before[2].1);
    assert!(r.path(".leafseal-revoke.json").exists());

    let o = r.run(&["revoke", &r.alice.recipient]);
    let out = ok(&o);
    assert!(out.contains("shared/a.yaml: already rotated"), "{out}");
    assert_revoked(&r, &before, &out);
}

#[test]
fn two_revokes_at_once_both_take_effect() {
    // Found by an adversarial review: each revoke read the policy before it waited for
    // the policy's lock, so the second wrote the policy without the first's removal
    // and a revoked recipient came back (13 of 20 runs). Now a revoke locks the work
    // tree's journal (or its name) for the whole run and the policy before reading.
    let r = Repo::new();
    let carol = new_id();
    let policy = r.policy_text().replacen(
        AGE_RECIPIENT,
        &format!("{AGE_RECIPIENT},{}", carol.recipient),
        1,
    );
    r.write(".sops.yaml", &policy);
    // Hold the policy's lock so that both revokes start before either can write.
    let held = std::fs::File::open(r.path(".sops.yaml")).expect("open");
    rustix::fs::flock(&held, rustix::fs::FlockOperation::LockExclusive).expect("flock");
    let spawn = |who: &str| {
        let mut c = leafseal(&r.vars());
        c.current_dir(r.work.path())
            .args(["revoke", who])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        c.spawn().expect("spawn")
    };
    let first = spawn(&r.alice.recipient);
    let second = spawn(&carol.recipient);
    std::thread::sleep(std::time::Duration::from_millis(700));
    drop(held);
    for c in [first, second] {
        ok(&c.wait_with_output().expect("wait"));
    }
    let after = String::from_utf8(r.read(".sops.yaml")).expect("utf8");
    assert!(
        !after.contains(&r.alice.recipient),
        "alice came back:\n{after}"
    );
    assert!(
        !after.contains(&carol.recipient),
        "carol came back:\n{after}"
    );
    assert!(after.contains(AGE_RECIPIENT), "{after}");
    assert!(!r.path(".leafseal-revoke.json").exists());
    for (rel, plain) in SHARED {
        let o = r.decrypt_with(&r.vars_only(&r.alice), rel);
        assert!(!o.status.success(), "alice still opens {rel}");
        let o = r.run(&["decrypt", rel]);
        assert_eq!(ok(&o), plain, "{rel}");
    }
}
