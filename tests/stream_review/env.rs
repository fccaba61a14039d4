//! What the stream_review tests share: a scratch directory with the test key, runs with
//! the streaming settings, and the comparison of a file streamed and read as a tree.

use std::collections::HashMap;

use crate::support::*;

pub struct Env {
    _home: tempfile::TempDir,
    pub work: tempfile::TempDir,
    vars: HashMap<String, String>,
}

impl Env {
    pub fn new() -> Env {
        let home = tempfile::tempdir().expect("home");
        let work = tempfile::tempdir().expect("work");
        let vars = env_vars(None, home.path());
        Env {
            _home: home,
            work,
            vars,
        }
    }

    /// Runs leafseal with `LEAFSEAL_STREAM` (and the part and block sizes) set as given.
    pub fn run(
        &self,
        stream: &str,
        part: Option<usize>,
        block: Option<usize>,
        args: &[&str],
    ) -> std::process::Output {
        let mut vars = self.vars.clone();
        vars.insert("LEAFSEAL_STREAM".to_owned(), stream.to_owned());
        if let Some(p) = part {
            vars.insert("LEAFSEAL_STREAM_PART".to_owned(), p.to_string());
        }
        if let Some(b) = block {
            vars.insert(leafseal::stream::BLOCK_ENV.to_owned(), b.to_string());
        }
        run_in(&vars, self.work.path(), args)
    }

    pub fn write(&self, name: &str, data: &[u8]) -> String {
        let p = self.work.path().join(name);
        std::fs::write(&p, data).expect("write");
        p.display().to_string()
    }

    /// Encrypts `plain` (named `name`, its extension gives the format) with the test age
    /// key, the MAC over encrypted values only and no integrity record, so that clear
    /// values can be edited afterwards without breaking either.
    pub fn encrypt_editable(&self, name: &str, plain: &[u8]) -> Vec<u8> {
        let p = self.write(name, plain);
        let out = self.run(
            "never",
            None,
            None,
            &[
                "encrypt",
                "--mac-only-encrypted",
                "--age",
                AGE_RECIPIENT,
                &p,
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).expect("utf8");
        let kept: Vec<&str> = text
            .split_inclusive('\n')
            .filter(|l| !l.contains("leafseal_integrity"))
            .collect();
        kept.concat().into_bytes()
    }
}

/// Decrypts `path` streamed (many part and block sizes) and as a tree: same exit code,
/// stdout and stderr. Returns whether the streaming path took the file.
pub fn same_both_ways(env: &Env, path: &str) -> bool {
    let tree = env.run("never", None, None, &["decrypt", path]);
    for (part, block) in [(1, 1), (1, 7), (16, 3), (64, 64), (1 << 20, 1 << 20)] {
        let s = env.run("always", Some(part), Some(block), &["decrypt", path]);
        assert_eq!(
            s.status.code(),
            tree.status.code(),
            "{path} (part {part}, block {block}): {}",
            String::from_utf8_lossy(&s.stderr)
        );
        assert!(
            s.stdout == tree.stdout,
            "{path} (part {part}, block {block}): streamed output differs:\n--- tree\n{}\n--- stream\n{}",
            String::from_utf8_lossy(&tree.stdout),
            String::from_utf8_lossy(&s.stdout)
        );
        assert_eq!(
            String::from_utf8_lossy(&s.stderr),
            String::from_utf8_lossy(&tree.stderr),
            "{path} (part {part}, block {block})"
        );
    }
    env.run("require", Some(16), None, &["decrypt", path])
        .status
        .success()
}

pub fn replace_once(src: &[u8], old: &[u8], new: &[u8]) -> Vec<u8> {
    let at = src
        .windows(old.len())
        .position(|w| w == old)
        .unwrap_or_else(|| panic!("{:?} not found", String::from_utf8_lossy(old)));
    let mut out = src[..at].to_vec();
    out.extend_from_slice(new);
    out.extend_from_slice(&src[at + old.len()..]);
    out
}
