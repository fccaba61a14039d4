//! Benchmarks (divan) of the stages of a decrypt and an encrypt, one by one, on the
//! corpora of ../shared/bench/gen.py: `parse` (bytes to tree), `walk` (visiting every
//! leaf with its AAD, no crypto), `crypto` (the data key's unwrap, and decrypting or
//! encrypting every value of a tree, MAC included) and `emit` (tree to bytes). Run with
//! `cargo bench --bench stages` (or `-- parse` for one stage). The end-to-end figures are
//! in `benches/leafseal.rs`; docs/performance.md has the results.

use leafseal::crypto::DataKey;
use leafseal::crypto::document;
use leafseal::format::EmitOptions;
use leafseal::format::Format;
use leafseal::format::Loaded;
use leafseal::metadata::Metadata;
use leafseal::ops;
use leafseal::tree::Document;
use leafseal::walk;
use leafseal::walk::Direction;
use leafseal::walk::Selector;

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

const FILES: [&str; 4] = ["typical.yaml", "typical.json", "large.yaml", "large.json"];

/// An encrypted corpus file, loaded: its tree (ciphertexts), metadata and data key.
fn loaded_encrypted(rel: &str) -> (Document, Metadata, DataKey) {
    let fmt = Format::from_path(rel);
    let loaded = fmt.store().load(&encrypted(rel)).expect("load");
    let meta = ops::metadata_of(&loaded).expect("metadata");
    let key = ops::recover_key(&meta, &ctx(), &[]).expect("data key");
    (loaded.doc, meta, key)
}

/// A plaintext corpus file, loaded.
fn loaded_plain(rel: &str) -> Document {
    let fmt = Format::from_path(rel);
    let bytes = std::fs::read(corpus().join(rel)).expect("corpus file");
    fmt.store().load(&bytes).expect("load").doc
}

/// Bytes to tree.
mod parse {
    use super::*;

    #[divan::bench(args = FILES, sample_count = 10, sample_size = 1)]
    fn encrypted_file(bencher: divan::Bencher, rel: &str) {
        let bytes = encrypted(rel);
        let fmt = Format::from_path(rel);
        bencher.bench(|| -> Loaded { fmt.store().load(&bytes).expect("load") });
    }

    #[divan::bench(args = FILES, sample_count = 10, sample_size = 1)]
    fn plaintext_file(bencher: divan::Bencher, rel: &str) {
        let bytes = std::fs::read(corpus().join(rel)).expect("corpus file");
        let fmt = Format::from_path(rel);
        bencher.bench(|| -> Loaded { fmt.store().load(&bytes).expect("load") });
    }
}

/// Visiting every leaf with its AAD, without any crypto.
mod walk_leaves {
    use super::*;

    #[divan::bench(args = FILES, sample_count = 10, sample_size = 1)]
    fn every_leaf(bencher: divan::Bencher, rel: &str) {
        let (doc, _, _) = loaded_encrypted(rel);
        let sel = Selector::default();
        bencher
            .with_inputs(|| doc.clone())
            .bench_local_values(|mut doc| {
                let mut n = 0usize;
                walk::walk::<()>(&mut doc, &sel, Direction::Decrypting, &mut |info, _| {
                    n += info.aad.len();
                    Ok(())
                })
                .expect("walk");
                (n, doc)
            });
    }
}

/// The data key's unwrap, and every value's AES-256-GCM with the MAC.
mod crypto {
    use super::*;

    #[divan::bench(sample_count = 20)]
    fn unwrap_age_data_key(bencher: divan::Bencher) {
        let (_, meta, _) = loaded_encrypted("typical.yaml");
        let ctx = ctx();
        bencher.bench(|| ops::recover_key(&meta, &ctx, &[]).expect("data key"));
    }

    #[divan::bench(args = FILES, sample_count = 10, sample_size = 1)]
    fn decrypt_tree(bencher: divan::Bencher, rel: &str) {
        let (doc, meta, key) = loaded_encrypted(rel);
        let sel = meta.selector();
        bencher
            .with_inputs(|| doc.clone())
            .bench_local_values(|mut doc| {
                let d =
                    document::decrypt_document(&mut doc, &key, &sel, false, None).expect("decrypt");
                (d, doc)
            });
    }

    #[divan::bench(args = FILES, sample_count = 10, sample_size = 1)]
    fn encrypt_tree(bencher: divan::Bencher, rel: &str) {
        let doc = loaded_plain(rel);
        let key = DataKey::generate().expect("rng");
        let sel = Selector::default();
        bencher
            .with_inputs(|| doc.clone())
            .bench_local_values(|mut doc| {
                let mac =
                    document::encrypt_document(&mut doc, &key, &sel, false, None).expect("encrypt");
                (mac, doc)
            });
    }
}

/// Tree to bytes.
mod emit {
    use super::*;

    #[divan::bench(args = FILES, sample_count = 10, sample_size = 1)]
    fn plaintext_tree(bencher: divan::Bencher, rel: &str) {
        let doc = loaded_plain(rel);
        let fmt = Format::from_path(rel);
        bencher.bench(|| {
            fmt.store()
                .emit(&doc, None, &EmitOptions::default())
                .expect("emit")
                .len()
        });
    }

    #[divan::bench(args = FILES, sample_count = 10, sample_size = 1)]
    fn encrypted_tree(bencher: divan::Bencher, rel: &str) {
        let fmt = Format::from_path(rel);
        let loaded = fmt.store().load(&encrypted(rel)).expect("load");
        let meta = loaded.meta.clone();
        bencher.bench(|| {
            fmt.store()
                .emit(&loaded.doc, meta.as_ref(), &EmitOptions::default())
                .expect("emit")
                .len()
        });
    }
}
