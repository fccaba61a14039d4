//! Helpers shared by the benchmark files: the corpus of ../shared/bench/gen.py (`GEN=` to
//! point elsewhere; generated once into target/bench-corpus), a key context with the test
//! age key, and in-memory encryption of a corpus file.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::OnceLock;

use leafseal::format::EmitOptions;
use leafseal::format::Format;
use leafseal::keys::KeyContext;
use leafseal::keys::KeyKind;
use leafseal::ops;
use leafseal::ops::SealPlan;

pub const RECIPIENT: &str = "age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw";

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn ctx() -> KeyContext {
    let mut vars = HashMap::new();
    vars.insert(
        "SOPS_AGE_KEY_FILE".to_owned(),
        root()
            .join("fixtures/sops/keys/age-test-keys.txt")
            .display()
            .to_string(),
    );
    vars.insert("HOME".to_owned(), "/nonexistent".to_owned());
    KeyContext::with_vars(vars)
}

/// The plaintext corpus, generated once into target/bench-corpus.
pub fn corpus() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = root().join("target/bench-corpus");
        if !dir.join("MANIFEST.sha256").exists() {
            // GEN=path/to/gen.py, else ../shared/bench (a checkout) or ../../shared/bench
            // (a worktree), as scripts/bench-targets.sh looks for it.
            let script = std::env::var_os("GEN")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    let near = root().join("../shared/bench/gen.py");
                    match near.exists() {
                        true => near,
                        false => root().join("../../shared/bench/gen.py"),
                    }
                });
            let status = std::process::Command::new("python3")
                .arg(script)
                .arg("--out")
                .arg(&dir)
                .status()
                .expect("run gen.py");
            assert!(status.success(), "gen.py failed");
        }
        dir
    })
}

/// Encrypts a plaintext file in memory for the benchmark's input.
pub fn encrypted(rel: &str) -> Vec<u8> {
    let path = corpus().join(rel);
    let fmt = Format::from_path(rel);
    let plain = std::fs::read(&path).expect("corpus file");
    let loaded = fmt.store().load(&plain).expect("parse corpus");
    let key = leafseal::keys::key_from_str(KeyKind::Age, RECIPIENT).expect("recipient");
    let plan = SealPlan {
        groups: vec![vec![Arc::clone(&key)]],
        ..SealPlan::default()
    };
    let (doc, meta) = ops::seal_new(loaded.doc, &plan, &ctx(), fmt).expect("encrypt");
    fmt.store()
        .emit(&doc, Some(&meta), &EmitOptions::default())
        .expect("emit")
        .to_vec()
}
