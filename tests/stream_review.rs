//! The streaming decrypt paths (`leafseal::stream`) held to the tree path on odd inputs
//! (the round-4 review, docs/security.md): every layout either streams to the same bytes
//! as `LEAFSEAL_STREAM=never` or is declined and gives the tree path's error and exit
//! code; nothing reaches stdout or `--output` before the MAC and the integrity record were
//! verified.

mod support;

use std::collections::HashMap;
use std::path::Path;

use support::*;

struct Env {
    _home: tempfile::TempDir,
    work: tempfile::TempDir,
    vars: HashMap<String, String>,
}

impl Env {
    fn new() -> Env {
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
    fn run(
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

    fn write(&self, name: &str, data: &[u8]) -> String {
        let p = self.work.path().join(name);
        std::fs::write(&p, data).expect("write");
        p.display().to_string()
    }

    /// Encrypts `plain` (named `name`, its extension gives the format) with the test age
    /// key, the MAC over encrypted values only and no integrity record, so that clear
    /// values can be edited afterwards without breaking either.
    fn encrypt_editable(&self, name: &str, plain: &[u8]) -> Vec<u8> {
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
fn same_both_ways(env: &Env, path: &str) -> bool {
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

fn replace_once(src: &[u8], old: &[u8], new: &[u8]) -> Vec<u8> {
    let at = src
        .windows(old.len())
        .position(|w| w == old)
        .unwrap_or_else(|| panic!("{:?} not found", String::from_utf8_lossy(old)));
    let mut out = src[..at].to_vec();
    out.extend_from_slice(new);
    out.extend_from_slice(&src[at + old.len()..]);
    out
}

const PLAIN_YAML: &str = "# top\na: 1\nb_unencrypted: x\nbig:\n    x: 1\n    y_unencrypted: x\n    w: |\n        line one\n        sops: no\n    v: \"has sops:\\n inside\"\n    deep:\n        d1:\n            d2:\n                d3: [1, 2, {e: f}]\n    z: 2\nc: end\n";

#[test]
fn a_comment_after_the_metadata_is_written_as_the_tree_path_writes_it() {
    let env = Env::new();
    let base = env.encrypt_editable("plain.yaml", PLAIN_YAML.as_bytes());
    assert!(same_both_ways(&env, &env.write("base.yaml", &base)));
    // The encrypted comment of the first line, again after the metadata.
    let first = base.split_inclusive(|&b| b == b'\n').next().expect("line");
    assert!(first.starts_with(b"#ENC["));
    for (name, tail) in [
        ("clear.yaml", b"# end\n".to_vec()),
        ("encrypted.yaml", first.to_vec()),
        ("indented.yaml", b"    # end\n".to_vec()),
        ("blank.yaml", b"\n# end\n\n".to_vec()),
    ] {
        let mut t = base.clone();
        t.extend_from_slice(&tail);
        same_both_ways(&env, &env.write(name, &t));
    }
    let mut t = base.clone();
    t.extend_from_slice(b"# end\n");
    let out = env.run("never", None, None, &["decrypt", &env.write("c.yaml", &t)]);
    assert!(out.stdout.ends_with(b"# end\n"), "the tree path keeps it");
    // Followed by a root key, the comment is that key's and the file still streams.
    let mut t = base.clone();
    t.extend_from_slice(b"# c\nzz_unencrypted: 1\n");
    assert!(same_both_ways(&env, &env.write("key.yaml", &t)));
}

#[test]
fn a_fifo_and_a_symlink_decrypt_as_the_tree_path_does() {
    let env = Env::new();
    let base = env.encrypt_editable("plain.yaml", PLAIN_YAML.as_bytes());
    let path = env.write("base.yaml", &base);
    let tree = env.run("never", None, None, &["decrypt", &path]);
    assert!(tree.status.success());
    let link = env.work.path().join("link.yaml");
    std::os::unix::fs::symlink(&path, &link).expect("symlink");
    let link = link.display().to_string();
    assert!(same_both_ways(&env, &link));
    let s = env.run("always", Some(1), Some(3), &["decrypt", &link]);
    assert!(s.stdout == tree.stdout);
    // A named pipe is read once, whole (the block reader opens regular files only).
    let fifo = env.work.path().join("pipe.yaml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    for _ in 0..3 {
        let writer = {
            let fifo = fifo.clone();
            let data = base.clone();
            std::thread::spawn(move || {
                use std::io::Write;
                let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&fifo) else {
                    return;
                };
                // Written in two steps: a reader that opened the pipe and closed it
                // again may end this writer with a broken pipe.
                let (a, b) = data.split_at(data.len() / 2);
                let _ = f.write_all(a);
                std::thread::sleep(std::time::Duration::from_millis(20));
                let _ = f.write_all(b);
            })
        };
        let fifo_arg = fifo.display().to_string();
        let s = env.run("always", Some(1), Some(3), &["decrypt", &fifo_arg]);
        // A writer still waiting for a reader (leafseal never opened the pipe) is let go.
        {
            use std::os::unix::fs::OpenOptionsExt;
            let _unblock = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(0o4000) // O_NONBLOCK
                .open(&fifo);
            writer.join().expect("writer");
        }
        assert_eq!(
            s.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&s.stderr)
        );
        assert!(s.stdout == tree.stdout);
    }
}
