//! What the streaming, splicing and large-file tests share: a scratch directory with a
//! test home and the test keys, runs of the binary with the streaming settings
//! (`LEAFSEAL_STREAM`, its part, block and direct-path sizes) or other variables, a
//! generated age identity for the library-level tests, and the files to compare.
//!
//! Included by path next to `mod support;`:
//! `#[path = "support/stream_env.rs"] mod stream_env;` and `use stream_env::*;`.
#![allow(dead_code)]

#[path = "sops.rs"]
mod sops_peer;

use std::collections::HashMap;
use std::path::Path;
use std::path::PathBuf;
use std::process::Output;
use std::sync::Arc;
use std::sync::OnceLock;

use age::secrecy::ExposeSecret;
use leafseal::keys::KeyKind;

use crate::support::*;

/// A test home and a work directory, and the variables every run gets.
pub struct Env {
    _home: tempfile::TempDir,
    pub work: tempfile::TempDir,
    pub vars: HashMap<String, String>,
}

impl Env {
    pub fn new(gpg: Option<&GpgHome>) -> Env {
        let home = tempfile::tempdir().expect("home");
        let work = tempfile::tempdir().expect("work");
        let vars = env_vars(gpg, home.path());
        Env {
            _home: home,
            work,
            vars,
        }
    }

    /// [`Env::new`] with the integrity record required (`LEAFSEAL_STRICT_INTEGRITY=1`).
    pub fn strict(gpg: Option<&GpgHome>) -> Env {
        let mut env = Env::new(gpg);
        env.vars
            .insert("LEAFSEAL_STRICT_INTEGRITY".to_owned(), "1".to_owned());
        env
    }

    /// The path of `name` in the work directory.
    pub fn path(&self, name: &str) -> String {
        self.work.path().join(name).display().to_string()
    }

    /// Writes `data` to `name` in the work directory; returns its path.
    pub fn write(&self, name: &str, data: &[u8]) -> String {
        let p = self.path(name);
        std::fs::write(&p, data).expect("write");
        p
    }

    /// Runs leafseal with the variables every run gets.
    pub fn run(&self, args: &[&str]) -> Output {
        run_in(&self.vars, self.work.path(), args)
    }

    /// Runs leafseal with these variables set (`None`: unset, as none of the streaming
    /// settings is set to begin with).
    pub fn run_set(&self, set: &[(&str, Option<&str>)], args: &[&str]) -> Output {
        let mut vars = self.vars.clone();
        for (k, v) in set {
            match v {
                Some(v) => vars.insert((*k).to_owned(), (*v).to_owned()),
                None => vars.remove(*k),
            };
        }
        run_in(&vars, self.work.path(), args)
    }

    /// Runs leafseal with these variables set as well.
    pub fn run_vars(&self, extra: &[(&str, &str)], args: &[&str]) -> Output {
        let set: Vec<(&str, Option<&str>)> = extra.iter().map(|(k, v)| (*k, Some(*v))).collect();
        self.run_set(&set, args)
    }

    /// Runs leafseal on the tree path (`LEAFSEAL_STREAM=never`).
    pub fn tree(&self, args: &[&str]) -> Output {
        self.run_set(&[("LEAFSEAL_STREAM", Some("never"))], args)
    }

    /// Runs leafseal with `LEAFSEAL_STREAM` (and the part size) set as given.
    pub fn run_with(&self, stream: &str, part: Option<usize>, args: &[&str]) -> Output {
        self.run_blocks(stream, part, None, args)
    }

    /// [`Env::run_with`], also setting the size of the blocks a file is read in.
    pub fn run_blocks(
        &self,
        stream: &str,
        part: Option<usize>,
        block: Option<usize>,
        args: &[&str],
    ) -> Output {
        let part = part.map(|p| p.to_string());
        let block = block.map(|b| b.to_string());
        self.run_set(
            &[
                ("LEAFSEAL_STREAM", Some(stream)),
                ("LEAFSEAL_STREAM_PART", part.as_deref()),
                (leafseal::stream::BLOCK_ENV, block.as_deref()),
            ],
            args,
        )
    }

    /// [`Env::run_with`] with the direct part path set (`LEAFSEAL_STREAM_DIRECT`).
    pub fn run_direct(&self, direct: &str, part: Option<usize>, args: &[&str]) -> Output {
        let part = part.map(|p| p.to_string());
        self.run_set(
            &[
                ("LEAFSEAL_STREAM", Some("always")),
                (leafseal::stream::DIRECT_ENV, Some(direct)),
                ("LEAFSEAL_STREAM_PART", part.as_deref()),
            ],
            args,
        )
    }

    /// Runs leafseal with `data` on standard input (the in-memory streaming path).
    pub fn run_stdin(&self, stream: &str, args: &[&str], data: &[u8]) -> Output {
        use std::io::Write;
        let mut vars = self.vars.clone();
        vars.insert("LEAFSEAL_STREAM".to_owned(), stream.to_owned());
        let mut child = leafseal(&vars)
            .current_dir(self.work.path())
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(data).expect("write stdin");
        drop(stdin);
        child.wait_with_output().expect("wait")
    }
}

/// The run's stdout, after asserting that it succeeded (its stderr otherwise).
pub fn ok(out: &Output) -> Vec<u8> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout.clone()
}

/// Decrypts `path` with the real sops when it is available: its MAC check must pass and
/// the plaintext must be `plain`.
pub fn sops_agrees(env: &Env, path: &str, plain: &str) {
    let Some(out) = sops_decrypt(env, path) else {
        return;
    };
    assert_eq!(String::from_utf8(out).expect("utf8"), plain);
}

/// The real sops binary, when it could be installed (`None` outside CI without it).
pub fn sops_binary() -> Option<&'static Path> {
    sops_peer::sops_bin()
}

/// What the real sops prints decrypting `path` (with `env`'s variables), after asserting
/// that it succeeded; `None` when sops is not available.
pub fn sops_decrypt(env: &Env, path: &str) -> Option<Vec<u8>> {
    let sops = sops_peer::sops_bin()?;
    let out = std::process::Command::new(sops)
        .env_clear()
        .envs(&env.vars)
        .current_dir(env.work.path())
        .stdin(std::process::Stdio::null())
        .args(["decrypt", path])
        .output()
        .expect("sops");
    Some(ok(&out))
}

/// Replaces one base64 character of the `data:` field of the first value at `key` after
/// `from` (a fraction of the text).
pub fn tamper(enc: &str, key: &str, from: f64) -> String {
    let start = (enc.len() as f64 * from) as usize;
    let at = start + enc[start..].find(key).expect("key after start");
    let d = at + enc[at..].find("data:").expect("data") + "data:".len();
    let c = enc.as_bytes()[d];
    let r = if c == b'A' { "B" } else { "A" };
    let mut t = enc.to_owned();
    t.replace_range(d..d + 1, r);
    t
}

/// A generated age identity for the library-level tests: its variables (the identity in
/// `SOPS_AGE_KEY`, no home) and its recipient as a master key.
pub struct Keys {
    pub vars: HashMap<String, String>,
    pub key: Arc<dyn leafseal::keys::MasterKey>,
}

/// The identity of [`Keys`], made once per test binary.
pub fn keys() -> &'static Keys {
    static K: OnceLock<Keys> = OnceLock::new();
    K.get_or_init(|| {
        let id = age::x25519::Identity::generate();
        let recipient = id.to_public().to_string();
        let mut vars = HashMap::new();
        vars.insert(
            "SOPS_AGE_KEY".to_owned(),
            id.to_string().expose_secret().to_owned(),
        );
        vars.insert("HOME".to_owned(), "/nonexistent".to_owned());
        let key = leafseal::keys::key_from_str(KeyKind::Age, &recipient).expect("recipient");
        Keys { vars, key }
    })
}

/// The files of a directory tree whose extension is one of `exts`, sorted.
pub fn files_ending(dir: &Path, exts: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files_ending(&p, exts, out);
        } else if p.extension().is_some_and(|e| exts.iter().any(|x| e == *x)) {
            out.push(p);
        }
    }
}

/// The YAML files of a directory tree, sorted.
pub fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    files_ending(dir, &["yaml", "yml"], out);
}

/// The JSON files of a directory tree, sorted.
pub fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    files_ending(dir, &["json"], out);
}

/// The shared sops interop files, when this checkout sits next to them.
pub fn shared_interop() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        root.join("../shared/interop"),
        root.join("../../shared/interop"),
    ]
    .into_iter()
    .find(|p| p.is_dir())
}

/// Splicing forced (an error if the file is handed back), in parts of `part` bytes.
pub fn spliced(part: &str) -> [(&'static str, &str); 2] {
    [
        ("LEAFSEAL_SPLICE", "require"),
        ("LEAFSEAL_STREAM_PART", part),
    ]
}

/// The whole-tree path forced.
pub const WHOLE: [(&str, &str); 1] = [("LEAFSEAL_SPLICE", "never")];

/// Whether a line of the `sops` block changes on every write.
pub fn meta_line(l: &str) -> bool {
    ["    lastmodified:", "    mac:", "    leafseal_integrity:"]
        .iter()
        .any(|p| l.starts_with(p))
}

/// Compares the splice's output with the whole-tree path's: the same lines except the
/// metadata's and `values` lines holding `ENC[…]` (the changed value, a fresh nonce in
/// each).
pub fn same_but_value(spliced: &str, whole: &str, values: usize) {
    let a = std::fs::read_to_string(spliced).expect("read");
    let b = std::fs::read_to_string(whole).expect("read");
    let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    assert_eq!(a.len(), b.len(), "same number of lines");
    let differing: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
    let value_lines: Vec<usize> = differing
        .iter()
        .copied()
        .filter(|&i| !meta_line(a[i]))
        .collect();
    assert_eq!(value_lines.len(), values, "lines {value_lines:?} differ");
    for &i in &value_lines {
        assert!(a[i].contains("ENC[") && b[i].contains("ENC["), "{}", a[i]);
        let key = |l: &str| l.split("ENC[").next().map(str::to_owned);
        assert_eq!(key(a[i]), key(b[i]));
    }
    // The MAC and the record (and `lastmodified`, unless both ran within one second).
    assert!(
        (2..=3).contains(&(differing.len() - values)),
        "{differing:?}"
    );
}

/// The encrypted text (YAML or JSON) with what differs between two encryptions of the same plaintext
/// taken out: each `ENC[…]` becomes its ciphertext length and type, the wrapped data key
/// goes, and the lines of `lastmodified`, the MAC and the integrity record are dropped.
pub fn structure(enc: &[u8]) -> String {
    let text = String::from_utf8(enc.to_vec()).expect("utf8");
    let value = regex::Regex::new(
        r"ENC\[AES256_GCM,data:([A-Za-z0-9+/=]*),iv:[A-Za-z0-9+/=]*,tag:[A-Za-z0-9+/=]*,type:([a-z]*)\]",
    )
    .expect("regex");
    let text = value.replace_all(&text, |c: &regex::Captures<'_>| {
        format!("ENC[{}|{}]", c[1].len(), &c[2])
    });
    let age = regex::Regex::new(
        r"(?s)-----BEGIN AGE ENCRYPTED FILE-----.*?-----END AGE ENCRYPTED FILE-----",
    )
    .expect("regex");
    let text = age.replace_all(&text, "AGE");
    text.lines()
        .filter(|l| {
            !["lastmodified", "leafseal_integrity", "mac"]
                .iter()
                .any(|k| {
                    l.trim_start().starts_with(k) || l.trim_start().starts_with(&format!("\"{k}\""))
                })
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Encrypts on the streaming path with the direct part path set to `direct` and parts of
/// `part` bytes (`LEAFSEAL_STREAM=require`: a file the streaming path hands back fails).
pub fn encrypt_direct_run(env: &Env, direct: &str, part: usize, args: &[&str]) -> Output {
    let part = part.to_string();
    env.run_set(
        &[
            ("LEAFSEAL_STREAM", Some("require")),
            (leafseal::stream::DIRECT_ENV, Some(direct)),
            ("LEAFSEAL_STREAM_PART", Some(&part)),
        ],
        args,
    )
}

/// The extension of `path` (the format leafseal reads it as).
fn extension(path: &str) -> &str {
    path.rsplit_once('.').map_or("yaml", |(_, e)| e)
}

/// `enc` (encrypted text of `path`'s format) decrypted on the tree path.
fn decrypt_as(env: &Env, path: &str, enc: &[u8]) -> Vec<u8> {
    let p = env.write(&format!("check.{}", extension(path)), enc);
    ok(&env.run_with("never", None, &["decrypt", &p]))
}

/// `path` encrypted by the tree path and by the direct path (with `mode`, parts of
/// 64 B, 4 KiB and 1 MiB): same structure, same plaintext. Returns the last direct
/// output.
pub fn encrypt_same_as_tree(env: &Env, path: &str, extra: &[&str], mode: &str) -> Vec<u8> {
    let mut args = vec!["encrypt", "--age", AGE_RECIPIENT];
    args.extend_from_slice(extra);
    args.push(path);
    let tree = ok(&env.tree(&args));
    let plain = decrypt_as(env, path, &tree);
    let mut last = Vec::new();
    for part in [64, 4096, 1 << 20] {
        let enc = ok(&encrypt_direct_run(env, mode, part, &args));
        assert_eq!(
            structure(&enc),
            structure(&tree),
            "{path} {extra:?} part {part}: layout differs from the tree path"
        );
        assert!(
            decrypt_as(env, path, &enc) == plain,
            "{path} {extra:?} part {part}: another plaintext"
        );
        last = enc;
    }
    last
}

/// The real sops 3.11 decrypts the direct output `enc` of `path` (its MAC check passes)
/// to what it decrypts the tree path's output of the same file to (compared as
/// [`structure`]: sops leaves some YAML comments in lists encrypted, with other nonces).
pub fn encrypt_sops_agrees_with_tree(env: &Env, path: &str, extra: &[&str], enc: &[u8]) {
    let mut args = vec!["encrypt", "--age", AGE_RECIPIENT];
    args.extend_from_slice(extra);
    args.push(path);
    let tree = ok(&env.tree(&args));
    let ext = extension(path);
    let d = env.write(&format!("sops-direct.{ext}"), enc);
    let t = env.write(&format!("sops-tree.{ext}"), &tree);
    let (Some(a), Some(b)) = (sops_decrypt(env, &t), sops_decrypt(env, &d)) else {
        return;
    };
    assert!(
        structure(&a) == structure(&b),
        "{path} {extra:?}: sops decrypts the two outputs differently"
    );
}

/// A small seeded generator for generated documents (no dependency).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    pub fn pick(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
