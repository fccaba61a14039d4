//! Prints the time of each phase of decrypting one file (a measuring tool, not a test).
#![allow(clippy::unwrap_used)]

use leafseal::format::{EmitOptions, Format};
use leafseal::keys::KeyContext;
use leafseal::ops;
use std::time::Instant;
// The same allocator as the binary, so the phases match what `leafseal decrypt` does.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let path = std::env::args().nth(1).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let fmt = Format::from_path(&path);
    let ctx = KeyContext::from_env();
    for _ in 0..3 {
        let t = Instant::now();
        let loaded = fmt.store().load(&bytes).unwrap();
        let t1 = t.elapsed();
        let meta = ops::metadata_of(&loaded).unwrap();
        let key = ops::recover_key(&meta, &ctx, &[]).unwrap();
        let t2 = t.elapsed();
        let mut doc = loaded.doc;
        let mut stash = leafseal::crypto::nonces::NonceStash::new();
        let dec = leafseal::crypto::document::decrypt_document(
            &mut doc,
            &key,
            &meta.selector(),
            false,
            None,
        )
        .unwrap();
        let _ = &mut stash;
        let t3 = t.elapsed();
        let out = fmt
            .store()
            .emit(&doc, None, &EmitOptions::default())
            .unwrap();
        let t4 = t.elapsed();
        drop(doc);
        let t5 = t.elapsed();
        eprintln!(
            "load {:?} key {:?} decrypt {:?} emit {:?} drop {:?} ({} bytes, mac {})",
            t1,
            t2 - t1,
            t3 - t2,
            t4 - t3,
            t5 - t4,
            out.len(),
            &dec.mac[..8]
        );
    }
}
