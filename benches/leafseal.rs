//! Benchmarks (divan): value encryption, and parse + decrypt + emit of the corpora that
//! ../shared/bench/gen.py writes (typical ~50-key file, ~10 MB YAML/JSON, 1,000 small
//! GitOps files). Run with `cargo bench --bench leafseal`; the stages one by one (parse,
//! walk, crypto, emit) are in `benches/stages.rs`. Figures: docs/performance.md.

use leafseal::crypto::DataKey;
use leafseal::crypto::value;
use leafseal::crypto::value::EncValue;
use leafseal::crypto::value::ValueType;
use leafseal::format::EmitOptions;
use leafseal::format::Format;
use leafseal::keys::KeyContext;
use leafseal::ops;
use leafseal::ops::OpenOptions;

// The binary's allocator, so that the figures match `leafseal`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod common;

use common::corpus;
use common::ctx;
use common::encrypted;

fn main() {
    divan::main();
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

/// One value as the large corpora hold them (a few bytes under a key path of about 40),
/// with the key expanded once: leafseal's value cipher against the `aes-gcm` crate's
/// one-chain GHASH on the same value.
#[divan::bench(args = [8, 40, 200])]
fn value_open_expanded(bencher: divan::Bencher, len: usize) {
    let key = DataKey::generate().expect("rng");
    let aad = b"services:infra-basalt-00000:image:registry:";
    let enc = value::seal(&key, &vec![b'x'; len], aad, ValueType::Str, None).expect("seal");
    let cipher = value::ValueCipher::new(&key);
    bencher.bench(|| value::open_with(&cipher, &enc, aad).expect("open"));
}

/// [`value_open_expanded`] through the `aes-gcm` crate.
#[divan::bench(args = [8, 40, 200])]
fn value_open_expanded_aes_gcm_crate(bencher: divan::Bencher, len: usize) {
    use aes_gcm::KeyInit;
    use aes_gcm::aead::AeadInPlace;
    use aes_gcm::aead::generic_array::GenericArray;
    let key = DataKey::generate().expect("rng");
    let aad = b"services:infra-basalt-00000:image:registry:";
    let enc = value::seal(&key, &vec![b'x'; len], aad, ValueType::Str, None).expect("seal");
    let cipher = aes_gcm::AesGcm::<aes_gcm::aes::Aes256, aes_gcm::aead::consts::U32>::new(
        GenericArray::from_slice(key.expose()),
    );
    bencher.bench(|| {
        let mut buf = enc.data.clone();
        cipher
            .decrypt_in_place_detached(
                GenericArray::from_slice(&enc.iv),
                aad,
                &mut buf,
                GenericArray::from_slice(&enc.tag),
            )
            .expect("open");
        buf
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
