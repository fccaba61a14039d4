//! leafseal called as `sops` (through a symlink), with the command-line forms that
//! helm-secrets and other sops callers use.

mod support;

use std::path::Path;
use std::path::PathBuf;
use std::process::Command;
use std::process::Output;
use std::process::Stdio;

use support::*;

struct Shim {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    sops: PathBuf,
}

const PLAIN: &str = "app:\n    password: hunter2\n    port: 5432\n";

impl Shim {
    fn new() -> Shim {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().to_owned();
        let sops = dir.join("bin/sops");
        std::fs::create_dir_all(sops.parent().expect("bin")).expect("mkdir");
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_leafseal"), &sops).expect("symlink");
        std::fs::write(dir.join("values.yaml"), PLAIN).expect("plain");
        Shim {
            _tmp: tmp,
            dir,
            sops,
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.sops);
        c.env_clear()
            .envs(env_vars(None, &self.dir))
            .args(args)
            .current_dir(&self.dir);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run sops shim")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "sops {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf8")
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).expect("read")
    }

    fn write(&self, name: &str, body: &str) {
        std::fs::write(self.dir.join(name), body).expect("write");
    }

    /// `values.yaml` encrypted into `secrets.yaml`.
    fn encrypted(&self) {
        let enc = self.ok(&["-e", "--age", AGE_RECIPIENT, "values.yaml"]);
        self.write("secrets.yaml", &enc);
    }
}

fn assert_encrypted(text: &str) {
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("password: ENC[AES256_GCM,"), "{text}");
    // helm-secrets' probe for "is this file encrypted".
    assert!(
        text.lines()
            .any(|l| l.contains("mac") && l.ends_with(",type:str]")),
        "{text}"
    );
}

#[test]
fn version_line() {
    let s = Shim::new();
    let v = s.ok(&["--version"]);
    assert_eq!(
        v,
        format!("sops 3.13.2 (leafseal {})\n", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(s.ok(&["-v"]), v);
    // Under its own name, leafseal is not rewritten.
    let own = leafseal(&env_vars(None, &s.dir))
        .arg("--version")
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&own.stdout).starts_with("leafseal "));
}

#[test]
fn decrypt_forms() {
    let s = Shim::new();
    s.encrypted();
    assert_encrypted(&s.read("secrets.yaml"));
    assert_eq!(s.ok(&["-d", "secrets.yaml"]), PLAIN);
    assert_eq!(s.ok(&["--decrypt", "secrets.yaml"]), PLAIN);
    assert_eq!(s.ok(&["decrypt", "secrets.yaml"]), PLAIN);
    assert_eq!(
        s.ok(&[
            "--decrypt",
            "--input-type",
            "yaml",
            "--output-type",
            "yaml",
            "secrets.yaml"
        ]),
        PLAIN
    );
    assert_eq!(
        s.ok(&["-d", "--extract", "[\"app\"][\"password\"]", "secrets.yaml"]),
        "hunter2"
    );
    assert_eq!(
        s.ok(&["-d", "--output-type", "json", "secrets.yaml"]),
        "{\n\t\"app\": {\n\t\t\"password\": \"hunter2\",\n\t\t\"port\": 5432\n\t}\n}\n"
    );
    // sops-only flags are accepted and ignored.
    assert_eq!(
        s.ok(&["--disable-version-check", "--verbose", "-d", "secrets.yaml"]),
        PLAIN
    );
}

/// The exact calls of helm-secrets' sops backend.
#[test]
fn helm_secrets_backend_calls() {
    let s = Shim::new();
    // helm-secrets passes no key: the creation rule of .sops.yaml gives it.
    s.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - path_regex: .*\n    age: {AGE_RECIPIENT}\n"),
    );
    // _sops_backend_encrypt_file: to stdout, to --output, --in-place.
    let enc = s.ok(&[
        "--encrypt",
        "--input-type",
        "yaml",
        "--output-type",
        "yaml",
        "values.yaml",
    ]);
    assert_encrypted(&enc);
    s.ok(&[
        "--encrypt",
        "--input-type",
        "yaml",
        "--output-type",
        "yaml",
        "--output",
        "secrets.yaml",
        "values.yaml",
    ]);
    assert_encrypted(&s.read("secrets.yaml"));
    // _sops_backend_decrypt_file with an output file.
    s.ok(&[
        "--decrypt",
        "--input-type",
        "yaml",
        "--output-type",
        "yaml",
        "--output",
        "secrets.yaml.dec",
        "secrets.yaml",
    ]);
    assert_eq!(s.read("secrets.yaml.dec"), PLAIN);
    // ... in place.
    s.write("copy.yaml", &s.read("secrets.yaml"));
    s.ok(&[
        "--decrypt",
        "--input-type",
        "yaml",
        "--output-type",
        "yaml",
        "--in-place",
        "copy.yaml",
    ]);
    assert_eq!(s.read("copy.yaml"), PLAIN);
    // _sops_backend_decrypt_literal: JSON on /dev/stdin.
    let lit = encrypt_stdin(&s, "{\"k\": \"v\"}");
    let mut c = s.cmd(&[
        "--decrypt",
        "--input-type",
        "json",
        "--output-type",
        "json",
        "/dev/stdin",
    ]);
    let out = pipe(&mut c, &lit);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "{\n\t\"k\": \"v\"\n}\n"
    );
}

fn pipe(c: &mut Command, input: &str) -> Output {
    use std::io::Write;
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

fn encrypt_stdin(s: &Shim, json: &str) -> String {
    let mut c = s.cmd(&[
        "--encrypt",
        "--input-type",
        "json",
        "--output-type",
        "json",
        "--age",
        AGE_RECIPIENT,
        "/dev/stdin",
    ]);
    let out = pipe(&mut c, json);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}

#[test]
fn in_place_and_filestatus() {
    let s = Shim::new();
    assert_eq!(
        s.ok(&["filestatus", "values.yaml"]),
        "{\"encrypted\":false}\n"
    );
    s.ok(&["-e", "-i", "--age", AGE_RECIPIENT, "values.yaml"]);
    assert_encrypted(&s.read("values.yaml"));
    assert_eq!(
        s.ok(&["filestatus", "values.yaml"]),
        "{\"encrypted\":true}\n"
    );
    s.ok(&["-i", "-d", "values.yaml"]);
    assert_eq!(s.read("values.yaml"), PLAIN);
    s.ok(&["-ei", "--age", AGE_RECIPIENT, "values.yaml"]);
    assert_encrypted(&s.read("values.yaml"));
    s.ok(&["decrypt", "--in-place", "values.yaml"]);
    assert_eq!(s.read("values.yaml"), PLAIN);
    s.ok(&[
        "encrypt",
        "--age",
        AGE_RECIPIENT,
        "--in-place",
        "values.yaml",
    ]);
    assert_encrypted(&s.read("values.yaml"));
}

#[test]
fn errors_keep_sops_exit_codes() {
    let s = Shim::new();
    s.encrypted();
    // Wrong key: sops's 128, nothing on stdout.
    let mut c = s.cmd(&["-d", "secrets.yaml"]);
    c.env(
        "SOPS_AGE_KEY_FILE",
        sops_fixture("keys/age-vectors/other-x25519-identity.txt"),
    );
    let out = c.output().expect("run");
    assert_eq!(out.status.code(), Some(128));
    assert!(out.stdout.is_empty());
    // Both modes: conflicting parameters (8).
    assert_eq!(s.run(&["-d", "-e", "secrets.yaml"]).status.code(), Some(8));
    // Encrypting an encrypted file: 203.
    let out = s.run(&["-e", "--age", AGE_RECIPIENT, "secrets.yaml"]);
    assert_eq!(out.status.code(), Some(203));
    // The editor form `sops FILE` is `edit`: a plaintext file is refused, untouched.
    let before = std::fs::read(s.dir.join("values.yaml")).expect("read");
    let out = s.run(&["values.yaml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("not encrypted"), "{err}");
    assert_eq!(
        std::fs::read(s.dir.join("values.yaml")).expect("read"),
        before
    );
    assert!(Path::new(&s.sops).exists());
}
