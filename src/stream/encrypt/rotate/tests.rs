//! `rotate` of a YAML or JSON file read from disk in parts ([`prepare_rotate_file`]): a
//! file changed once its metadata was read is declined (read again whole by the caller,
//! with no key read from the old text), never rotated from parts of two texts; an
//! unchanged file is rotated to the plaintext it held, with the parts cut at every size,
//! every part by the scan (no tree), as the same text is rotated from memory.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use zeroize::Zeroizing;

use super::RotateOutcome;
use super::RotatePrepare;
use super::prepare_rotate;
use super::prepare_rotate_file;
use crate::error::Error;
use crate::format::EmitOptions;
use crate::format::Format;
use crate::keys::KeyContext;
use crate::lifecycle::KeyChanges;
use crate::metadata::Metadata;
use crate::ops::OpenOptions;
use crate::stream::Outcome;
use crate::stream::Streamed;

/// The shared cases' reader: the file (JSON with `JSON`, else YAML) rotated into memory
/// (`after_plan` once its metadata was read, before the planner starts), its output as
/// the outcome's.
fn rotate_file<const JSON: bool>(
    f: &File,
    ctx: &KeyContext,
    opts: &OpenOptions,
    emit: &EmitOptions,
    _needs_tree: &dyn Fn(&Metadata) -> bool,
    after_plan: &dyn Fn(),
) -> Result<Outcome, Error> {
    let format = if JSON { Format::Json } else { Format::Yaml };
    let changes = KeyChanges::default();
    let mut p = match prepare_rotate_file(f, format, ctx, opts, &changes, emit)? {
        RotatePrepare::Ready(p) => p,
        RotatePrepare::Declined(key) => return Ok(Outcome::Declined(key)),
    };
    after_plan();
    let mut out = Vec::new();
    Ok(match p.write(&mut out)? {
        RotateOutcome::Done(_) => Outcome::Done(Streamed {
            out: Zeroizing::new(out),
            warnings: Vec::new(),
            unwrapped_by: Vec::new(),
        }),
        RotateOutcome::Declined(key) => Outcome::Declined(key),
    })
}

crate::stream::changed_tests::changed_tests!(crate::stream::changed_tests::Doc {
    decrypt: rotate_file::<false>,
    fixture: "fixtures/sops/yaml/example.age.v3.7.1.yaml",
    name: "f.yaml",
    tail: b"zz: 1\n",
    other: b"a: 1\n",
});

/// The same cases for a JSON file.
mod json {
    crate::stream::changed_tests::changed_tests!(crate::stream::changed_tests::Doc {
        decrypt: super::rotate_file::<true>,
        fixture: "fixtures/sops/json/example.age.v3.7.1.json",
        name: "f.json",
        tail: b"\n",
        other: b"{\"a\": 1}\n",
    });
}

/// The test key, parts of `part` bytes, the planner's blocks of `block` bytes, and every
/// part rotated by the line scan (`LEAFSEAL_STREAM_DIRECT=require`: a part the scan
/// does not take declines the file, rather than going through its tree, which would
/// hide a part read wrong).
fn ctx(part: usize, block: usize) -> KeyContext {
    ctx_direct(part, block, "require")
}

/// [`ctx`] with `LEAFSEAL_STREAM_DIRECT` set to `direct`.
fn ctx_direct(part: usize, block: usize, direct: &str) -> KeyContext {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let key = root.join("fixtures/sops/keys/age-test-keys.txt");
    KeyContext::with_vars(HashMap::from([
        ("SOPS_AGE_KEY_FILE".to_owned(), key.display().to_string()),
        (crate::stream::PART_ENV.to_owned(), part.to_string()),
        (crate::stream::BLOCK_ENV.to_owned(), block.to_string()),
        (crate::stream::DIRECT_ENV.to_owned(), direct.to_owned()),
    ]))
}

/// The plaintext of an encrypted text, through the tree path.
fn plaintext(format: Format, enc: &[u8], ctx: &KeyContext) -> Vec<u8> {
    let loaded = crate::ops::load_encrypted(format, enc, "f").expect("load");
    let opened = crate::ops::open_for_reading(loaded, ctx, &OpenOptions::default()).expect("open");
    let out =
        crate::ops::emit_plain(format, &opened.doc, None, &EmitOptions::default()).expect("emit");
    out.to_vec()
}

/// The rotated text, or `None` when the rotation was declined.
fn rotated(prepared: Result<RotatePrepare<'_>, Error>) -> Option<Vec<u8>> {
    let RotatePrepare::Ready(mut r) = prepared.expect("no error") else {
        return None;
    };
    let mut out = Vec::new();
    match r.write(&mut out).expect("no error") {
        RotateOutcome::Done(_) => Some(out),
        RotateOutcome::Declined(_) => None,
    }
}

/// A leafseal-written YAML file with one large entry (cut into parts of its entries),
/// lists, a list of maps and every scalar type but null (which the line scan leaves to
/// a part's tree); with `json`, the same document as JSON (a large member cut into
/// parts of its members, jumped over when it is the last one).
fn generated(json: bool) -> Vec<u8> {
    // The large entry last: the JSON planner cuts it by jumping.
    let mut plain = String::from("version: 3\nlist:\n    - a\n    - b\ntrailer: end\nservices:\n");
    for i in 0..60 {
        plain.push_str(&format!(
            "    svc-{i:03}:\n        name: service {i}\n        replicas: {}\n        cpu: {}.5\n        enabled: {}\n        ports:\n            - {}\n            - {}\n        env:\n            - name: MODE\n              value: same\n",
            i % 7,
            i % 5,
            i % 2 == 0,
            8000 + i,
            9000 + i
        ));
    }
    let to = crate::api::Recipients::new()
        .age("age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw")
        .expect("recipient");
    let (format, plain) = if json {
        let loaded =
            crate::ops::read_plaintext(plain.as_bytes(), "f.yaml", Format::Yaml).expect("read");
        let text = crate::ops::emit_plain(Format::Json, &loaded.doc, None, &EmitOptions::default())
            .expect("emit");
        (Format::Json, text.to_vec())
    } else {
        (Format::Yaml, plain.into_bytes())
    };
    crate::api::encrypt_bytes(&plain, format, &to).expect("encrypt")
}

#[test]
fn a_file_is_rotated_from_its_parts_as_it_is_from_memory() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |p: &str| std::fs::read(root.join(p)).expect("fixture");
    // The first is rotated by streaming; sops's own layout and comments in lists are
    // not the line scan's, and are declined by both alike.
    let texts = [
        ("generated", Format::Yaml, generated(false), true),
        ("generated JSON", Format::Json, generated(true), true),
        (
            "sops 3.7.1",
            Format::Yaml,
            read("fixtures/sops/yaml/example.age.v3.7.1.yaml"),
            false,
        ),
        (
            "comments in lists",
            Format::Yaml,
            read("fixtures/sops/v3.11.0/comments-in-lists.enc.yaml"),
            false,
        ),
    ];
    let opts = OpenOptions::default();
    let (changes, emit) = (KeyChanges::default(), EmitOptions::default());
    for (fixture, format, text, streamed) in texts {
        let dir = tempfile::tempdir().expect("dir");
        let p = dir.path().join("f");
        std::fs::write(&p, &text).expect("write");
        for (part, block) in [(1, 7), (64, 7), (300, 4096), (1 << 20, 1 << 20)] {
            let ctx = ctx(part, block);
            let f = File::open(&p).expect("open");
            let from_file = rotated(prepare_rotate_file(
                &f, format, &ctx, &opts, &changes, &emit,
            ));
            let from_memory = rotated(prepare_rotate(
                &text, format, &ctx, &opts, &changes, &emit, None,
            ));
            let (from_file, from_memory) = match (from_file, from_memory) {
                (Some(f), Some(m)) => (f, m),
                (None, None) => {
                    assert!(!streamed, "{fixture} (part {part}): declined");
                    continue;
                }
                (f, _) => panic!(
                    "{fixture} (part {part}): from the file alone {}",
                    f.is_some()
                ),
            };
            assert!(streamed, "{fixture} (part {part}): streamed");
            let plain = plaintext(format, &text, &ctx);
            assert_ne!(from_file, text, "{fixture} (part {part}): rotated");
            assert_eq!(
                plaintext(format, &from_file, &ctx),
                plain,
                "{fixture} (part {part})"
            );
            assert_eq!(
                plaintext(format, &from_memory, &ctx),
                plain,
                "{fixture} (part {part})"
            );
            // The same text but for the values' ciphertexts and the metadata.
            let shape = |t: &[u8]| {
                let t = String::from_utf8_lossy(t).into_owned();
                let meta = if format == Format::Json {
                    "\"sops\":"
                } else {
                    "\nsops:"
                };
                let body = &t[..t.rfind(meta).unwrap_or(t.len())];
                body.split("ENC[")
                    .map(|s| s.split_once(']').map_or(s, |(_, rest)| rest).to_owned())
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                shape(&from_file),
                shape(&from_memory),
                "{fixture} (part {part})"
            );
            // And as each part's tree writes it.
            let trees = ctx_direct(part, block, "never");
            let from_trees = rotated(prepare_rotate(
                &text, format, &trees, &opts, &changes, &emit, None,
            ))
            .expect("rotated through the parts' trees");
            assert_eq!(
                shape(&from_file),
                shape(&from_trees),
                "{fixture} (part {part})"
            );
        }
    }
}
