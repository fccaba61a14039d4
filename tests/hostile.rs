//! Hostile input through the CLI (issue #10, point 2): deep nesting planted in an
//! encrypted file, alias bombs, environment variables that are not UTF-8, and the
//! inputs that used to be changed silently (invalid UTF-8 in JSON, numbers beyond 64
//! bits, duplicate INI keys, byte-order marks, deep TOML). Every case must end with a
//! clean exit code and a message naming the place: never a panic (134) or a stack
//! overflow (SIGSEGV/SIGABRT), never unbounded memory, never a workspace left behind.

mod support;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Output;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

use support::AGE_RECIPIENT;
use support::env_vars;
use support::leafseal;
use support::run_in;

/// Nesting far beyond the limit: overflowed the stack before the limit existed.
const HUGE: usize = 45_000;

struct T {
    home: tempfile::TempDir,
    dir: tempfile::TempDir,
    xdg: tempfile::TempDir,
}

impl T {
    fn new() -> T {
        let t = T {
            home: tempfile::tempdir().expect("home"),
            dir: tempfile::tempdir().expect("dir"),
            xdg: tempfile::tempdir().expect("xdg"),
        };
        std::fs::set_permissions(t.xdg.path(), std::fs::Permissions::from_mode(0o700))
            .expect("chmod");
        t
    }

    fn vars(&self) -> HashMap<String, String> {
        let mut v = env_vars(None, self.home.path());
        v.insert(
            "XDG_RUNTIME_DIR".to_owned(),
            self.xdg.path().display().to_string(),
        );
        v.insert("TMPDIR".to_owned(), self.xdg.path().display().to_string());
        v
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.path(name), bytes).expect("write");
    }

    fn run(&self, args: &[&str]) -> Output {
        run_in(&self.vars(), self.dir.path(), args)
    }

    /// An encrypted YAML file (`user`, `password`) written as `name`; returns its bytes.
    fn encrypted_yaml(&self, name: &str) -> Vec<u8> {
        self.write("plain.yaml", b"user: alice\npassword: s3cret\n");
        let o = self.run(&["encrypt", "--age", AGE_RECIPIENT, "plain.yaml"]);
        assert_ok(&o);
        self.write(name, &o.stdout);
        o.stdout
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_ok(o: &Output) {
    assert!(o.status.success(), "{:?}: {}", o.status, stderr(o));
}

/// A clean refusal: the exit code, no signal, no panic message.
fn assert_refused(o: &Output, code: i32, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.signal(), None, "killed by a signal: {err}");
    assert_eq!(o.status.code(), Some(code), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!err.contains("overflow"), "{err}");
    for n in needles {
        assert!(err.contains(n), "missing {n:?} in: {err}");
    }
}

/// `deep:` followed by `levels` nested compact sequences ending in `leaf`, in front of
/// `rest` (an encrypted file: `null` adds nothing to the MAC, so the MAC still matches).
fn planted(levels: usize, leaf: &str, rest: &[u8]) -> Vec<u8> {
    let mut v = b"deep:\n".to_vec();
    v.extend_from_slice("- ".repeat(levels).as_bytes());
    v.extend_from_slice(leaf.as_bytes());
    v.push(b'\n');
    v.extend_from_slice(rest);
    v
}

/// A damaged encrypted file (unreadable before any key is used) exits 1, as with sops; a
/// plaintext given to `encrypt` exits 2.
const DAMAGED: i32 = 1;

/// The nesting-depth error of the YAML readers (the 256th level is the 255th `- `).
const DEEP_YAML: &[&str] = &[
    "nesting too deep (more than 256 levels",
    "(line 2, column 511)",
];

#[test]
fn deep_nesting_planted_in_an_encrypted_file_is_refused_by_decrypt() {
    let t = T::new();
    let enc = t.encrypted_yaml("enc.yaml");
    for leaf in ["null", "x"] {
        t.write("deep.yaml", &planted(HUGE, leaf, &enc));
        let o = t.run(&["decrypt", "deep.yaml"]);
        assert_refused(&o, DAMAGED, DEEP_YAML);
        assert!(o.stdout.is_empty());
    }
    // Also as the value read by set and by the other readers of encrypted files.
    let o = t.run(&["set", "deep.yaml", r#"["user"]"#, r#""bob""#]);
    assert_refused(&o, DAMAGED, DEEP_YAML);
    let o = t.run(&["filestatus", "deep.yaml"]);
    assert_eq!(o.status.signal(), None, "{}", stderr(&o));
}

#[test]
fn deep_null_nesting_fails_fast_in_bounded_memory() {
    // 20,000 levels ending in null used to decrypt with exit 0 after allocating 1.6 GB.
    let t = T::new();
    let enc = t.encrypted_yaml("enc.yaml");
    t.write("deep.yaml", &planted(20_000, "null", &enc));
    let start = Instant::now();
    let o = match which_prlimit() {
        Some(prlimit) => {
            let mut c = std::process::Command::new(prlimit);
            c.env_clear()
                .envs(t.vars())
                .current_dir(t.dir.path())
                .arg("--as=600000000")
                .arg(env!("CARGO_BIN_EXE_leafseal"))
                .args(["decrypt", "deep.yaml"])
                .stdin(Stdio::null());
            c.output().expect("prlimit")
        }
        None => t.run(&["decrypt", "deep.yaml"]),
    };
    assert_refused(&o, DAMAGED, DEEP_YAML);
    assert!(start.elapsed() < Duration::from_secs(20));
}

/// Runs leafseal in `t`'s directory with at most `bytes` of address space (when prlimit
/// is installed).
fn run_limited(t: &T, bytes: u64, args: &[&str]) -> Output {
    let Some(prlimit) = which_prlimit() else {
        return t.run(args);
    };
    let mut c = std::process::Command::new(prlimit);
    c.env_clear()
        .envs(t.vars())
        .current_dir(t.dir.path())
        .arg(format!("--as={bytes}"))
        .arg(env!("CARGO_BIN_EXE_leafseal"))
        .args(args)
        .stdin(Stdio::null());
    c.output().expect("prlimit")
}

/// Nine levels of lists of 512 whose first item nests again and whose other 511 are
/// empty (`"a": [[[...],[],...],[],...]`), in JSON and in flow YAML.
fn nested_first_lists(levels: usize) -> String {
    let mut v = String::from("[]");
    for _ in 0..levels {
        v = format!("[{v}{}]", ",[]".repeat(511));
    }
    v
}

#[test]
fn nested_sampled_lists_do_not_blow_up_the_output_estimate_audit_json_estimate() {
    // The writers' size estimate multiplied its 1-in-16 sampling weight at every level:
    // 16^9 times too big, "memory allocation of 570018896928136 bytes failed" and an
    // abort (134) in encrypt and decrypt of a 26 KB file.
    let t = T::new();
    let lists = nested_first_lists(9);
    for (name, plain) in [
        ("n.json", format!("{{\"a\": {lists}, \"k\": \"v\"}}\n")),
        ("n.yaml", format!("a: {lists}\nk: v\n")),
    ] {
        t.write(name, plain.as_bytes());
        let o = run_limited(
            &t,
            1_500_000_000,
            &["encrypt", "--age", AGE_RECIPIENT, name],
        );
        assert_ok(&o);
        assert_eq!(o.status.signal(), None);
        let enc = format!("enc.{name}");
        t.write(&enc, &o.stdout);
        let o = run_limited(&t, 1_500_000_000, &["decrypt", &enc]);
        assert_ok(&o);
        assert!(String::from_utf8_lossy(&o.stdout).contains("[]"));
    }
}

#[test]
fn a_gpg_that_prints_without_end_is_stopped_audit_pgp_decompression_bomb() {
    // `gpg --decrypt` of a planted compressed message prints 512 MiB from 2 KB; its
    // whole output used to be read before the 32-byte check (803 MB resident). A stand-in
    // gpg that never stops printing must be stopped at the bound, in bounded memory.
    let t = T::new();
    let enc = String::from_utf8(t.encrypted_yaml("enc.yaml")).expect("utf-8");
    let swapped = enc
        .replacen(
            "    age:\n        - enc: |\n",
            "    pgp:\n        - fp: 0123456789ABCDEF0123456789ABCDEF01234567\n          created_at: \"2026-12-06T13:04:32Z\"\n          enc: |\n",
            1,
        )
        .replacen(&format!("          recipient: {AGE_RECIPIENT}\n"), "", 1);
    assert_ne!(swapped, enc);
    t.write("pgp.yaml", swapped.as_bytes());
    let gpg = t.path("endless-gpg");
    std::fs::write(&gpg, "#!/bin/sh\nexec yes\n").expect("write");
    std::fs::set_permissions(&gpg, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let Some(prlimit) = which_prlimit() else {
        return;
    };
    let begun = Instant::now();
    let o = std::process::Command::new(prlimit)
        .env_clear()
        .envs(t.vars())
        .env("SOPS_GPG_EXEC", &gpg)
        .env_remove("SOPS_AGE_KEY_FILE")
        .current_dir(t.dir.path())
        .arg("--as=1000000000")
        .arg(env!("CARGO_BIN_EXE_leafseal"))
        .args(["decrypt", "pgp.yaml"])
        .stdin(Stdio::null())
        .output()
        .expect("prlimit");
    assert_refused(&o, 128, &["printed more than 4096 bytes and was stopped"]);
    assert!(begun.elapsed() < Duration::from_secs(30));
}

fn which_prlimit() -> Option<&'static Path> {
    ["/usr/bin/prlimit", "/bin/prlimit"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())
}

#[test]
fn nesting_at_the_limit_still_works_on_worker_threads() {
    let t = T::new();
    let enc = t.encrypted_yaml("enc.yaml");
    // 255 compact sequences under a top-level key: 256 levels, the most accepted. Planted
    // without the key, the nulls add nothing to the MAC, but the integrity record sees
    // them: a tamper error, not a crash.
    t.write("a.yaml", &planted(255, "null", &enc));
    let o = t.run(&["decrypt", "a.yaml"]);
    assert_refused(&o, 53, &["integrity check failed"]);
    // Encrypted at that depth by leafseal, several files are decrypted on worker threads.
    t.write("p.yaml", &planted(255, "leaf-secret", b"k: v\n"));
    let o = t.run(&["encrypt", "--age", AGE_RECIPIENT, "p.yaml"]);
    assert_ok(&o);
    t.write("p.enc.yaml", &o.stdout);
    t.write("q.enc.yaml", &o.stdout);
    let o = t.run(&["decrypt", "p.enc.yaml", "q.enc.yaml"]);
    assert_ok(&o);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(out.matches("leaf-secret").count(), 2, "{out}");
    // One level more is refused.
    t.write("c.yaml", &planted(256, "null", &enc));
    assert_refused(&t.run(&["decrypt", "c.yaml"]), DAMAGED, DEEP_YAML);
}

#[test]
fn git_textconv_and_merge_driver_survive_deep_nesting() {
    let t = T::new();
    let enc = t.encrypted_yaml("enc.yaml");
    let deep = planted(HUGE, "null", &enc);
    t.write("deep.yaml", &deep);
    // textconv prints what it cannot decrypt unchanged and exits 0.
    let o = t.run(&["git", "textconv", "deep.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(o.stdout, deep);
    // The merge driver: hostile "theirs", then hostile "base"; %A is left untouched.
    for (base, theirs) in [("enc.yaml", "deep.yaml"), ("deep.yaml", "enc.yaml")] {
        std::fs::copy(t.path("enc.yaml"), t.path("ours.yaml")).expect("copy");
        let o = t.run(&[
            "git",
            "merge-driver",
            base,
            "ours.yaml",
            theirs,
            "secrets.yaml",
        ]);
        let err = stderr(&o);
        assert_eq!(o.status.signal(), None, "{err}");
        // A conflict (the hostile side does not read as an encrypted file).
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(err.contains("merge conflict"), "{err}");
        assert_eq!(std::fs::read(t.path("ours.yaml")).expect("read"), enc);
    }
}

#[test]
fn edit_refuses_deep_nesting_from_the_editor_and_leaves_no_workspace() {
    let t = T::new();
    let enc = t.encrypted_yaml("secrets.yaml");
    // The editor plants the nesting in front of the decrypted text.
    let editor = t.dir.path().join("plant.sh");
    std::fs::write(
        &editor,
        format!(
            "#!/bin/sh\nset -e\nF=\"$1\"\ncp \"$F\" \"$F.orig\"\n\
             {{ printf 'deep:\\n'; printf '%{HUGE}s' '' | sed 's/ /- /g'; printf 'null\\n'; \
             cat \"$F.orig\"; }} > \"$F\"\nrm \"$F.orig\"\n"
        ),
    )
    .expect("editor");
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut v = t.vars();
    v.insert("SOPS_EDITOR".to_owned(), editor.display().to_string());
    let o = run_in(&v, t.dir.path(), &["edit", "secrets.yaml"]);
    assert_refused(&o, 2, &["nesting too deep", "was not changed"]);
    assert_eq!(std::fs::read(t.path("secrets.yaml")).expect("read"), enc);
    let left: Vec<_> = std::fs::read_dir(t.xdg.path())
        .expect("xdg")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "workspace left behind: {left:?}");
}

/// Seven levels of nine-fold aliases: 236 bytes that expand to 9^7 scalars (76 MB).
fn alias_bomb() -> String {
    let mut s = String::from("a: &a [x,x,x,x,x,x,x,x,x]\n");
    let names = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    for w in names.windows(2) {
        let refs = vec![format!("*{}", w[0]); 9].join(",");
        s.push_str(&format!("{}: &{} [{refs}]\n", w[1], w[1]));
    }
    s
}

#[test]
fn alias_bomb_is_refused_before_it_grows() {
    let bomb = alias_bomb();
    assert_eq!(bomb.len(), 236);
    let t = T::new();
    let enc = t.encrypted_yaml("enc.yaml");
    let mut planted = bomb.clone().into_bytes();
    planted.extend_from_slice(&enc);
    t.write("bomb.enc.yaml", &planted);
    t.write("bomb.yaml", bomb.as_bytes());
    let start = Instant::now();
    let o = t.run(&["decrypt", "bomb.enc.yaml"]);
    assert_refused(&o, DAMAGED, &["alias expansion is too large", "(line "]);
    let o = t.run(&["encrypt", "--age", AGE_RECIPIENT, "bomb.yaml"]);
    assert_refused(&o, 2, &["alias expansion is too large"]);
    assert!(start.elapsed() < Duration::from_secs(20));
    // Ordinary anchors and merge keys still work.
    t.write(
        "anchors.yaml",
        b"base: &b {user: u, pass: p}\nprod:\n    <<: *b\n    pass: q\nlist: [*b, *b]\n",
    );
    assert_ok(&t.run(&["encrypt", "--age", AGE_RECIPIENT, "anchors.yaml"]));
}

#[test]
fn an_alias_bomb_padded_to_megabytes_is_refused_in_little_memory() {
    // The old budget grew with the input (4 nodes per byte): this 5.5 MB file took
    // 893 MB (debug build) before it was refused; go-yaml's rule refuses it at its
    // first thousands of nodes.
    let bomb = alias_bomb();
    let mut plain = bomb.clone().into_bytes();
    plain.extend_from_slice(b"#");
    plain.resize(5_500_000, b'p');
    plain.push(b'\n');
    let t = T::new();
    let enc = t.encrypted_yaml("enc.yaml");
    t.write("bomb.yaml", &plain);
    plain.extend_from_slice(&enc);
    t.write("bomb.enc.yaml", &plain);
    let o = run_limited(
        &t,
        600_000_000,
        &["encrypt", "--age", AGE_RECIPIENT, "bomb.yaml"],
    );
    assert_refused(&o, 2, &["alias expansion is too large", "(line "]);
    let o = run_limited(&t, 600_000_000, &["decrypt", "bomb.enc.yaml"]);
    assert_refused(&o, DAMAGED, &["alias expansion is too large", "(line "]);
}

#[test]
fn environment_variables_that_are_not_utf8_are_skipped() {
    let t = T::new();
    t.encrypted_yaml("enc.yaml");
    let run = |name: &str| {
        let mut c = leafseal(&t.vars());
        c.current_dir(t.dir.path())
            .env(name, OsStr::from_bytes(b"\xff\xfe"))
            .args(["decrypt", "enc.yaml"])
            .stdin(Stdio::null());
        c.output().expect("run")
    };
    // A variable leafseal does not read: silently ignored (this aborted with 134).
    let o = run("BAD");
    assert_ok(&o);
    assert_eq!(o.stdout, b"user: alice\npassword: s3cret\n");
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
    // One it reads: ignored with a warning naming it (never its value).
    let o = run("AWS_PROFILE");
    assert_ok(&o);
    let err = stderr(&o);
    assert!(err.contains("AWS_PROFILE is not valid UTF-8"), "{err}");
}

#[test]
fn json_invalid_utf8_is_refused_with_the_byte_offset() {
    let t = T::new();
    t.write("bad.json", b"{\"a\": \"ok\",\n \"b\": \"x\xffy\"}\n");
    let o = t.run(&["encrypt", "--age", AGE_RECIPIENT, "bad.json"]);
    assert_refused(
        &o,
        2,
        &["invalid UTF-8", "byte offset 20", "(line 2, column 9)"],
    );
}

#[test]
fn json_numbers_beyond_64_bits_are_refused_with_the_path() {
    let t = T::new();
    for (n, what) in [
        ("123456789012345678901234567890", "does not fit in 64 bits"),
        ("9223372036854775808", "does not fit in 64 bits"),
        ("1e-400", "too small"),
        ("1e400", "too large"),
    ] {
        t.write(
            "n.json",
            format!("{{\"db\": {{\"ports\": [1, {n}]}}}}").as_bytes(),
        );
        let o = t.run(&["encrypt", "--age", AGE_RECIPIENT, "n.json"]);
        assert_refused(&o, 2, &[what, r#"["db"]["ports"][1]"#]);
        assert!(!stderr(&o).contains(n), "{}", stderr(&o));
    }
    // Exact values are kept.
    t.write(
        "n.json",
        b"{\"a\": 9223372036854775807, \"b\": 0.1, \"c\": 1e-300}",
    );
    assert_ok(&t.run(&["encrypt", "--age", AGE_RECIPIENT, "n.json"]));
}

#[test]
fn ini_duplicate_key_is_refused() {
    let t = T::new();
    t.write(
        "d.ini",
        b"[db]\npassword = hunter2a\nuser = u\npassword = hunter2b\n",
    );
    let o = t.run(&["encrypt", "--age", AGE_RECIPIENT, "d.ini"]);
    assert_refused(
        &o,
        2,
        &[
            "\"password\" is defined twice in section [db]",
            "line 2",
            "(line 4, column 1)",
        ],
    );
    assert!(!stderr(&o).contains("hunter2"), "{}", stderr(&o));
}

#[test]
fn byte_order_marks_are_named_where_they_are() {
    let t = T::new();
    t.write("bom.json", b"\xEF\xBB\xBF{\"a\": 1}\n");
    let o = t.run(&["encrypt", "--age", AGE_RECIPIENT, "bom.json"]);
    assert_refused(&o, 2, &["byte-order mark", "(line 1, column 1)"]);
    t.write("bom.toml", b"a = 1\n\xEF\xBB\xBFb = 2\n");
    let o = t.run(&[
        "encrypt",
        "--input-type",
        "toml",
        "--age",
        AGE_RECIPIENT,
        "bom.toml",
    ]);
    assert_refused(&o, 2, &["byte-order mark", "(line 2, column 1)"]);
    t.write("bom2.env", b"A=1\n\xEF\xBB\xBFB=2\n");
    let o = t.run(&["encrypt", "--age", AGE_RECIPIENT, "bom2.env"]);
    assert_refused(&o, 2, &["byte-order mark", "(line 2, column 1)"]);
    // A BOM at the start of a plaintext dotenv file is refused too: sops makes it part
    // of the first key (its path `\u{FEFF}A:`), which a program would not find as `A`;
    // dropping it (before round 18) gave the key another name than sops gives it.
    t.write("bom.env", b"\xEF\xBB\xBFA=1\n");
    let o = t.run(&["encrypt", "--age", AGE_RECIPIENT, "bom.env"]);
    assert_refused(&o, 2, &["byte-order mark", "(line 1, column 1)"]);
    t.write("bom3.env", b"\xEF\xBB\xBF# c\nA=1\n");
    let o = t.run(&["encrypt", "--age", AGE_RECIPIENT, "bom3.env"]);
    assert_refused(
        &o,
        2,
        &["byte-order mark starts the line", "(line 1, column 1)"],
    );
}

#[test]
fn deep_toml_is_refused_with_its_place() {
    let t = T::new();
    let parts = |n: usize| vec!["a"; n].join(".");
    let cases = [
        (
            format!("x = 1\n[{}]\nb = 1\n", parts(HUGE)),
            "(line 2, column 1)",
        ),
        (format!("x = 1\n{} = 1\n", parts(200)), "(line 2, column 1)"),
        (
            format!("x = 1\na = {}{}\n", "[".repeat(HUGE), "]".repeat(HUGE)),
            "(line 2,",
        ),
    ];
    for (doc, place) in cases {
        t.write("deep.toml", doc.as_bytes());
        let o = t.run(&[
            "encrypt",
            "--input-type",
            "toml",
            "--age",
            AGE_RECIPIENT,
            "deep.toml",
        ]);
        assert_refused(&o, 2, &["nesting too deep", place]);
    }
}

#[test]
fn yaml_and_toml_numbers_that_would_change_are_refused_with_the_path() {
    let t = T::new();
    for (doc, what, path) in [
        (
            "x:\n  - 1\n  - a: 123456789012345678901234567890\n",
            "does not fit in 64 bits",
            r#"["x"][1]["a"]"#,
        ),
        ("b: 1e-400\n", "too small", r#"["b"]"#),
        ("c: 0.30000000000000000001\n", "more digits", r#"["c"]"#),
    ] {
        t.write("n.yaml", doc.as_bytes());
        let o = t.run(&["encrypt", "--age", AGE_RECIPIENT, "n.yaml"]);
        assert_refused(&o, 2, &[what, path]);
    }
    t.write("n.toml", b"a = 1.5\n[t]\nx = [1, 1e-400]\n");
    let o = t.run(&[
        "encrypt",
        "--input-type",
        "toml",
        "--age",
        AGE_RECIPIENT,
        "n.toml",
    ]);
    assert_refused(&o, 2, &["cannot be kept exactly", r#"["t"]["x"][1]"#]);
    // Exact values are kept, with the usual spellings.
    t.write(
        "ok.yaml",
        b"a: 0.1\nb: 1e-300\nc: 1_000\nd: .5\ne: .inf\nf: 0x1F\n",
    );
    assert_ok(&t.run(&["encrypt", "--age", AGE_RECIPIENT, "ok.yaml"]));
}

#[test]
fn set_refuses_a_path_that_would_nest_beyond_the_limit() {
    let t = T::new();
    let enc = t.encrypted_yaml("s.yaml");
    // 20,000 steps overflowed the stack; 300 wrote a file that could not be read back.
    for n in [300, 20_000] {
        let path = "[\"a\"]".repeat(n);
        let o = t.run(&["set", "s.yaml", &path, "\"x\""]);
        assert_refused(&o, 7, &["deeper than 256 levels"]);
        assert_eq!(std::fs::read(t.path("s.yaml")).expect("read"), enc);
    }
    // Path and value count together; 256 levels in all is fine and reads back.
    let path = "[\"a\"]".repeat(250);
    let o = t.run(&["set", "s.yaml", &path, "[[[[[[[1]]]]]]]"]);
    assert_refused(&o, 7, &["deeper than 256 levels"]);
    let o = t.run(&["set", "s.yaml", &path, "[[[[[[1]]]]]]"]);
    assert_ok(&o);
    assert_ok(&t.run(&["decrypt", "s.yaml"]));
}

#[test]
fn deep_policy_file_is_a_policy_error() {
    let t = T::new();
    let mut policy = b"creation_rules:\n".to_vec();
    policy.extend_from_slice(&planted(HUGE, "x", b"")[6..]);
    t.write(".sops.yaml", &policy);
    t.write("a.yaml", b"a: 1\n");
    let o = t.run(&["encrypt", "a.yaml"]);
    assert_refused(
        &o,
        1,
        &["policy file", "nesting too deep", "(line 2, column 511)"],
    );
}

#[test]
fn a_key_longer_than_a_plain_key_may_be_is_written_as_an_explicit_key() {
    // Round 15 refused keys over 1024 characters (it wrote every key as a plain key,
    // which YAML does not allow past 1024). Since round 16 a key over 128 bytes is
    // written as go-yaml writes it, `? key` then `: value`, which reads back in both tools.
    let t = T::new();
    t.encrypted_yaml("s.yaml");
    let long = "k".repeat(1100);
    let o = t.run(&["set", "s.yaml", &format!("[\"{long}\"]"), "\"v\""]);
    assert_ok(&o);
    let o = t.run(&["decrypt", "s.yaml"]);
    assert_ok(&o);
    assert!(String::from_utf8_lossy(&o.stdout).contains(&format!("? {long}\n: v\n")));
    t.write("explicit.yaml", format!("? {long}\n: v\nb: 1\n").as_bytes());
    let o = t.run(&["encrypt", "--age", AGE_RECIPIENT, "explicit.yaml"]);
    assert_ok(&o);
    let enc = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        enc.starts_with(&format!("? {long}\n: ENC[")),
        "{}",
        &enc[..40]
    );
    t.write("explicit.enc.yaml", enc.as_bytes());
    let o = t.run(&["decrypt", "explicit.enc.yaml"]);
    assert_ok(&o);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("? {long}\n: v\nb: 1\n")
    );
}

#[test]
fn json_with_two_sops_members_or_a_duplicate_metadata_key_is_refused() {
    // Found by the round-16 review: the first `sops` member was used and the rest
    // ignored, with no warning, on the whole-tree and the streaming path alike (YAML,
    // INI and dotenv refuse such files; sops 3.11 stops too).
    let t = T::new();
    t.write("p.json", b"{\"a\": \"hunter2\", \"b\": \"two\"}");
    let o = t.run(&["encrypt", "--age", AGE_RECIPIENT, "p.json"]);
    assert_ok(&o);
    let enc = String::from_utf8(o.stdout).expect("utf-8");
    let close = enc.rfind('}').expect("object");
    let twice = format!(
        "{},\n\t\"sops\": \"garbage\"\n}}\n",
        enc[..close].trim_end()
    );
    let first = enc.replacen('{', "{\n\t\"sops\": {\"x\": 1},", 1);
    let mac = enc.replacen("\"mac\":", "\"mac\": \"garbage\",\n\t\t\"mac\":", 1);
    // A large file, for the streaming decrypt (its metadata is read from the tail).
    let big_plain = format!(
        "{{{}}}",
        (0..40_000)
            .map(|i| format!("\"k{i}\": \"{}\"", "v".repeat(40)))
            .collect::<Vec<_>>()
            .join(",\n")
    );
    t.write("big.json", big_plain.as_bytes());
    let o = t.run(&["encrypt", "--age", AGE_RECIPIENT, "big.json"]);
    assert_ok(&o);
    let big = String::from_utf8(o.stdout).expect("utf-8");
    assert!(big.len() > 2 << 20);
    let big_mac = big.replacen("\"mac\":", "\"mac\": \"garbage\",\n\t\t\"mac\":", 1);
    let big_first = big.replacen('{', "{\n\t\"sops\": {\"mac\": \"x\"},", 1);
    for (name, text, needle) in [
        ("twice.json", &twice, "2 'sops' members"),
        ("first.json", &first, "2 'sops' members"),
        ("mac.json", &mac, "the key 'mac' appears twice"),
        ("big_mac.json", &big_mac, "the key 'mac' appears twice"),
        ("big_first.json", &big_first, "2 'sops' members"),
    ] {
        t.write(name, text.as_bytes());
        for cmd in [
            &["decrypt", name][..],
            &["decrypt", "--strict-integrity", name],
        ] {
            let o = t.run(cmd);
            assert_refused(&o, 1, &["duplicate metadata", needle]);
            assert!(o.stdout.is_empty(), "{name}: output");
            assert!(!stderr(&o).contains("hunter2"));
        }
    }
}
