//! Helpers for tests/interop_sops_age.rs: installing the pinned `sops-age` npm package,
//! running it on a batch of files, and encrypting test files with the real binary.

use std::collections::HashMap;
use std::path::Path;
use std::path::PathBuf;
use std::process::Command;
use std::process::Output;
use std::sync::OnceLock;

use serde_json::Value;
use serde_json::json;

use crate::support::AGE_RECIPIENT;
use crate::support::age_key_file;
use crate::support::env_vars;
use crate::support::leafseal;

/// The pinned sops-age version (must match tests/interop/package-lock.json).
pub const SOPS_AGE_VERSION: &str = "4.0.2";

pub fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// `<target dir>/interop-node`.
pub fn node_prefix() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR has a parent")
        .join("interop-node")
}

pub fn installed_version(prefix: &Path) -> Option<String> {
    let text = std::fs::read_to_string(prefix.join("node_modules/sops-age/package.json")).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    v.get("version")?.as_str().map(str::to_owned)
}

/// Installs sops-age (once per lock file) and returns the install prefix.
pub fn sops_age_prefix() -> &'static Path {
    static PREFIX: OnceLock<PathBuf> = OnceLock::new();
    PREFIX.get_or_init(install_sops_age)
}

pub fn install_sops_age() -> PathBuf {
    let prefix = node_prefix();
    std::fs::create_dir_all(&prefix).expect("create the interop-node directory");
    // Test processes may run in parallel (cargo nextest): serialize the install.
    let lock = std::fs::File::create(prefix.with_extension("lock")).expect("lock file");
    lock.lock().expect("lock interop-node");
    let want = std::fs::read(interop_dir().join("package-lock.json")).expect("lock file");
    let stamp = prefix.join(".leafseal-stamp");
    let fresh = std::fs::read(&stamp).ok().as_deref() == Some(&want[..])
        && installed_version(&prefix).as_deref() == Some(SOPS_AGE_VERSION);
    if !fresh {
        for f in ["package.json", "package-lock.json"] {
            std::fs::copy(interop_dir().join(f), prefix.join(f)).expect("copy npm manifest");
        }
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"])
            .current_dir(&prefix)
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run npm (Node.js and npm are required for this test): {e}")
            });
        assert!(
            out.status.success(),
            "npm ci of sops-age into {} failed:\n{}{}",
            prefix.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            installed_version(&prefix).as_deref(),
            Some(SOPS_AGE_VERSION),
            "npm ci did not install sops-age {SOPS_AGE_VERSION}"
        );
        std::fs::write(&stamp, &want).expect("write stamp");
    }
    prefix
}

/// One file for sops-age to decrypt.
#[derive(Clone)]
pub struct Job {
    pub name: String,
    pub path: PathBuf,
    pub file_type: &'static str,
    /// Let sops-age find the key through SOPS_AGE_KEY_FILE instead of the `secretKey` option.
    pub key_from_env: bool,
}

pub fn job(name: &str, path: PathBuf, file_type: &'static str) -> Job {
    Job {
        name: name.to_owned(),
        path,
        file_type,
        key_from_env: false,
    }
}

/// Decrypts all jobs in one node process; name → decrypted data or sops-age's error.
pub fn sops_age_decrypt(jobs: &[Job]) -> HashMap<String, Result<Value, String>> {
    let prefix = sops_age_prefix();
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = json!({
        "secretKeyFile": age_key_file(),
        "jobs": jobs.iter().map(|j| json!({
            "name": j.name,
            "path": j.path,
            "fileType": j.file_type,
            "keyFrom": if j.key_from_env { "env" } else { "option" },
        })).collect::<Vec<_>>(),
    });
    let spec_path = dir.path().join("jobs.json");
    std::fs::write(&spec_path, spec.to_string()).expect("write jobs");
    let home = dir.path().join("home");
    std::fs::create_dir(&home).expect("home");
    let out = Command::new("node")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("SOPS_AGE_KEY_FILE", age_key_file())
        .arg(interop_dir().join("sops-age-decrypt.mjs"))
        .arg(prefix)
        .arg(&spec_path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run node (required for this test): {e}"));
    assert!(
        out.status.success(),
        "node sops-age-decrypt.mjs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("node printed JSON");
    assert_eq!(v["sopsAgeVersion"], SOPS_AGE_VERSION);
    let results = v["results"].as_object().expect("results");
    assert_eq!(results.len(), jobs.len(), "one result per job");
    results
        .iter()
        .map(|(name, r)| {
            let res = if r["ok"] == true {
                Ok(r["value"].clone())
            } else {
                Err(r["error"].as_str().unwrap_or("?").to_owned())
            };
            (name.clone(), res)
        })
        .collect()
}

/// JSON equality with numbers compared as doubles (JavaScript has only doubles).
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

pub fn assert_same(name: &str, got: &Value, want: &Value) {
    assert!(
        same(got, want),
        "{name}: sops-age decrypted\n{}\nexpected\n{}",
        serde_json::to_string_pretty(got).unwrap_or_default(),
        serde_json::to_string_pretty(want).unwrap_or_default()
    );
}

/// A scratch directory where the real leafseal binary encrypts files.
pub struct Work {
    home: tempfile::TempDir,
    dir: tempfile::TempDir,
}

impl Work {
    pub fn new() -> Work {
        Work {
            home: tempfile::tempdir().expect("home"),
            dir: tempfile::tempdir().expect("work"),
        }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        leafseal(&env_vars(None, self.home.path()))
            .current_dir(self.dir.path())
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run leafseal")
    }

    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, content).expect("write");
        p
    }

    /// Encrypts `plaintext` (file name `name` decides the format) for the age test
    /// recipient with extra flags; returns the encrypted file (`enc.<name>`).
    pub fn encrypt(&self, name: &str, plaintext: &str, flags: &[&str]) -> PathBuf {
        let mut all = vec!["--age", AGE_RECIPIENT];
        all.extend_from_slice(flags);
        self.encrypt_with(name, plaintext, &all)
    }

    /// Like `encrypt`, with only the given flags (keys from a policy, say).
    pub fn encrypt_with(&self, name: &str, plaintext: &str, flags: &[&str]) -> PathBuf {
        let plain = self.write(name, plaintext);
        let out_path = self.dir.path().join(format!("enc.{name}"));
        let mut args = vec!["encrypt"];
        args.extend_from_slice(flags);
        let plain_s = plain.display().to_string();
        let out_s = out_path.display().to_string();
        args.extend_from_slice(&["--output", &out_s, &plain_s]);
        let o = self.run(&args);
        assert!(
            o.status.success(),
            "leafseal encrypt {name} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        out_path
    }

    /// leafseal's own exit code when decrypting `file`.
    pub fn decrypt_code(&self, file: &Path) -> i32 {
        let o = self.run(&["decrypt", &file.display().to_string()]);
        o.status.code().expect("exit code")
    }
}

pub fn read(p: &Path) -> String {
    std::fs::read_to_string(p).expect("read")
}
