//! What the stream_review tests share beyond `support/stream_env.rs`: a file encrypted
//! so that it can be edited, and the comparison of a file streamed and read as a tree.

use crate::stream_env::*;
use crate::support::*;

impl Env {
    /// Encrypts `plain` (named `name`, its extension gives the format) with the test age
    /// key, the MAC over encrypted values only and no integrity record, so that clear
    /// values can be edited afterwards without breaking either.
    pub fn encrypt_editable(&self, name: &str, plain: &[u8]) -> Vec<u8> {
        let p = self.write(name, plain);
        let out = self.run_blocks(
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
    let tree = env.run_blocks("never", None, None, &["decrypt", path]);
    for (part, block) in [(1, 1), (1, 7), (16, 3), (64, 64), (1 << 20, 1 << 20)] {
        let s = env.run_blocks("always", Some(part), Some(block), &["decrypt", path]);
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
    env.run_blocks("require", Some(16), None, &["decrypt", path])
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
