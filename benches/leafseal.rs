//! Benchmarks (divan): value encryption, and parse + decrypt + emit of the corpora that
//! ../shared/bench/gen.py writes (typical ~50-key file, ~10 MB YAML/JSON, 1,000 small
//! GitOps files). Run with `cargo bench --bench leafseal`. Figures: docs/performance.md.

use std::collections::HashMap;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::OnceLock;

use leafseal::crypto::DataKey;
use leafseal::crypto::value;
use leafseal::crypto::value::EncValue;
use leafseal::crypto::value::ValueType;
use leafseal::format::EmitOptions;
use leafseal::format::Format;
use leafseal::keys::KeyContext;
use leafseal::keys::KeyKind;
use leafseal::ops;
use leafseal::ops::OpenOptions;
use leafseal::ops::SealPlan;

// The binary's allocator, so that the figures match `leafseal`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    divan::main();
}

const RECIPIENT: &str = "age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn ctx() -> KeyContext {
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
fn corpus() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = root().join("target/bench-corpus");
        if !dir.join("MANIFEST.sha256").exists() {
            let script = root().join("../shared/bench/gen.py");
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
fn encrypted(rel: &str) -> Vec<u8> {
    let path = corpus().join(rel);
    let fmt = Format::from_path(rel);
    let plain = std::fs::read(&path).expect("corpus file");
    let loaded = fmt.store().load(&plain).expect("parse corpus");
    let key = leafseal::keys::key_from_str(KeyKind::Age, RECIPIENT).expect("recipient");
    let plan = SealPlan {
        groups: vec![vec![Arc::clone(&key)]],
        ..SealPlan::default()
    };
    let (doc, meta) = ops::seal_new(loaded.doc, &plan, &ctx()).expect("encrypt");
    fmt.store()
        .emit(&doc, Some(&meta), &EmitOptions::default())
        .expect("emit")
        .to_vec()
}

fn decrypt_bytes(fmt: Format, bytes: &[u8], ctx: &KeyContext) -> usize {
    let loaded = fmt.store().load(bytes).expect("load");
    let opened = ops::open(loaded, ctx, &OpenOptions::default()).expect("open");
    fmt.store()
        .emit(&opened.doc, None, &EmitOptions::default())
        .expect("emit")
        .len()
}

#[divan::bench(args = [16, 256, 4096])]
fn value_encrypt(bencher: divan::Bencher, len: usize) {
    let key = DataKey::generate().expect("rng");
    let plain = vec![b'x'; len];
    bencher.bench(|| {
        value::seal(&key, &plain, b"a:b:c:", ValueType::Str, None)
            .expect("seal")
            .render()
    });
}

#[divan::bench(args = [16, 256, 4096])]
fn value_decrypt(bencher: divan::Bencher, len: usize) {
    let key = DataKey::generate().expect("rng");
    let text = value::seal(&key, &vec![b'x'; len], b"a:b:c:", ValueType::Str, None)
        .expect("seal")
        .render();
    bencher.bench(|| {
        let enc = EncValue::parse(&text).expect("parse");
        value::open(&key, &enc, b"a:b:c:").expect("open")
    });
}

#[divan::bench(args = ["typical.yaml", "typical.json", "typical.env", "edge.yaml"], sample_count = 50)]
fn decrypt_small(bencher: divan::Bencher, rel: &str) {
    let bytes = encrypted(rel);
    let ctx = ctx();
    let fmt = Format::from_path(rel);
    bencher.bench(|| decrypt_bytes(fmt, &bytes, &ctx));
}

#[divan::bench(args = ["large.yaml", "large.json"], sample_count = 5, sample_size = 1)]
fn decrypt_large(bencher: divan::Bencher, rel: &str) {
    let bytes = encrypted(rel);
    let ctx = ctx();
    let fmt = Format::from_path(rel);
    bencher.bench(|| decrypt_bytes(fmt, &bytes, &ctx));
}

#[divan::bench(args = ["large.yaml"], sample_count = 5, sample_size = 1)]
fn parse_only(bencher: divan::Bencher, rel: &str) {
    let bytes = std::fs::read(corpus().join(rel)).expect("corpus");
    let fmt = Format::from_path(rel);
    bencher.bench(|| fmt.store().load(&bytes).expect("load").doc.branches.len());
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn decrypt_gitops_1000_files(bencher: divan::Bencher) {
    let mut files = Vec::new();
    let mut stack = vec![corpus().join("gitops")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("dir").filter_map(Result::ok) {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml") {
                let rel = p.strip_prefix(corpus()).expect("rel").display().to_string();
                files.push(encrypted(&rel));
            }
        }
    }
    let ctx = ctx();
    bencher.bench(|| {
        files
            .iter()
            .map(|b| decrypt_bytes(Format::Yaml, b, &ctx))
            .sum::<usize>()
    });
}
