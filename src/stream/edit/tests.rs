use zeroize::Zeroizing;

use super::Kept;
use super::mac_from;
use crate::crypto::mac::MacHasher;

/// Parts with their MAC inputs and checkpoints, as the open keeps them.
fn kept(parts: &[&[&[u8]]], moe: bool) -> Vec<Kept> {
    let mut mac = MacHasher::new(moe);
    let mut out = Vec::new();
    for p in parts {
        let mac_at = mac.clone();
        for m in *p {
            mac.update(m);
        }
        out.push(Kept {
            plain: 0..0,
            mac_input: p.iter().map(|m| Zeroizing::new(m.to_vec())).collect(),
            mac_at,
            record_at: None,
            tokens: (None, Vec::new(), false),
        });
    }
    out
}

/// The MAC hashed from the start over every part, part `i` replaced.
fn sequential(parts: &[&[&[u8]]], i: usize, changed: &[&[u8]], moe: bool) -> String {
    let mut mac = MacHasher::new(moe);
    for (j, p) in parts.iter().enumerate() {
        for m in if j == i { changed } else { *p } {
            mac.update(m);
        }
    }
    mac.finish()
}

#[test]
fn checkpointed_mac_equals_the_sequential_one_for_every_changed_part() {
    let parts: &[&[&[u8]]] = &[
        &[b"first", b"1"],
        &[b"second"],
        &[],
        &[b"third", b"x", b"y"],
        &[b"last"],
    ];
    let changed: &[&[u8]] = &[b"edited", b"42"];
    let new: Vec<Zeroizing<Vec<u8>>> = changed.iter().map(|m| Zeroizing::new(m.to_vec())).collect();
    for moe in [false, true] {
        let k = kept(parts, moe);
        for i in 0..parts.len() {
            let got = mac_from(&k, i, &new).expect("part exists").finish();
            assert_eq!(
                got,
                sequential(parts, i, changed, moe),
                "part {i}, moe {moe}"
            );
            // The unchanged file's MAC too (the part's own input fed again).
            let same: Vec<Zeroizing<Vec<u8>>> = parts[i]
                .iter()
                .map(|m| Zeroizing::new(m.to_vec()))
                .collect();
            let got = mac_from(&k, i, &same).expect("part exists").finish();
            assert_eq!(got, sequential(parts, i, parts[i], moe));
        }
        assert!(mac_from(&k, parts.len(), &new).is_none());
    }
}

/// A leafseal-encrypted YAML document of many parts (at a part size of 64 bytes) in a
/// temporary file, and a key context that opens it.
fn encrypted_file() -> (
    tempfile::TempDir,
    std::path::PathBuf,
    crate::keys::KeyContext,
) {
    let mut plain = String::from("# head\nversion: 3\nlist:\n    - a\n    - b\nbig:\n");
    for i in 0..200 {
        plain.push_str(&format!(
            "    k{i:04}:\n        name: service {i}\n        port: {}\n        on: {}\n",
            8000 + i,
            i % 2 == 0
        ));
    }
    plain.push_str("trailer: end\n");
    let recipients = crate::api::Recipients::new()
        .age("age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw")
        .expect("recipient");
    let enc = crate::api::encrypt_bytes(plain.as_bytes(), crate::ops::Format::Yaml, &recipients)
        .expect("encrypt");
    let dir = tempfile::tempdir().expect("dir");
    let p = dir.path().join("f.yaml");
    std::fs::write(&p, enc).expect("write");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut vars = std::collections::HashMap::new();
    let key = root.join("fixtures/sops/keys/age-test-keys.txt");
    vars.insert("SOPS_AGE_KEY_FILE".to_owned(), key.display().to_string());
    vars.insert(crate::stream::PART_ENV.to_owned(), "64".to_owned());
    vars.insert(crate::stream::BLOCK_ENV.to_owned(), "7".to_owned());
    (dir, p, crate::keys::KeyContext::with_vars(vars))
}

/// How the tests open `src` (two workers, parts of 64 bytes).
fn run<'a>(
    src: super::EditInput<'a>,
    ctx: &'a crate::keys::KeyContext,
    opts: &'a crate::ops::OpenOptions,
    emit: &'a crate::format::EmitOptions,
) -> super::open::Run<'a> {
    super::open::Run {
        src,
        ctx,
        opts,
        emit,
        threads: 2,
        target: 64,
        ahead: crate::stream::Ahead::new(None),
    }
}

fn opened(o: super::EditOpen) -> Box<super::EditSession> {
    match o {
        super::EditOpen::Opened(s) => s,
        super::EditOpen::Declined(k) => panic!("declined (key recovered: {})", k.is_some()),
    }
}

/// The overlapped open (planner next to the workers) and the planned one (the file
/// planned first, as after a guess the final plan does not keep) give the same session:
/// plaintext, parts and the parts' ranges in it; the public entry takes the overlapped one.
#[test]
fn the_overlapped_and_the_planned_open_give_the_same_session() {
    let (_dir, p, ctx) = encrypted_file();
    let f = std::fs::File::open(&p).expect("open");
    let src = super::EditInput::of(&f).expect("regular file");
    let opts = crate::ops::OpenOptions {
        ignore_mac: false,
        order: Vec::new(),
        strict_integrity: true,
    };
    let emit = crate::format::EmitOptions::default();
    let run = || run(src, &ctx, &opts, &emit);
    let over = match super::open::overlapped(&run()) {
        super::open::Overlap::Done(o) => opened(o),
        super::open::Overlap::Rerun(_) => panic!("the overlapped open reran"),
    };
    let planned = opened(super::open::planned(&run(), None));
    let public = opened(super::open_yaml_for_edit(src, &ctx, &opts, &emit).expect("open"));
    assert!(over.parts.len() > 50, "{} parts", over.parts.len());
    let plain = std::str::from_utf8(&over.plaintext).expect("utf8");
    assert!(
        plain.contains("\n    k0199:\n        name: service 199\n"),
        "{plain}"
    );
    for other in [&planned, &public] {
        assert_eq!(other.parts, over.parts);
        assert!(other.plaintext == over.plaintext);
        let ranges = |s: &super::EditSession| -> Vec<std::ops::Range<usize>> {
            s.kept.iter().map(|k| k.plain.clone()).collect()
        };
        assert_eq!(ranges(other), ranges(&over));
        assert_eq!(other.meta_range, over.meta_range);
    }
}

/// A file changed after the session began (here: its modification time moved, as a
/// program writing it in place would) is declined once its parts were read, with the
/// data key kept for the whole-tree path, on both ways of opening.
#[test]
fn a_file_changed_after_the_session_began_is_declined() {
    let (_dir, p, ctx) = encrypted_file();
    let f = std::fs::File::open(&p).expect("open");
    let src = super::EditInput::of(&f).expect("regular file");
    let w = std::fs::File::options().write(true).open(&p).expect("open");
    let m = w.metadata().expect("meta").modified().expect("mtime");
    w.set_modified(m + std::time::Duration::from_secs(5))
        .expect("set mtime");
    assert!(!src.unchanged());
    let opts = crate::ops::OpenOptions {
        ignore_mac: false,
        order: Vec::new(),
        strict_integrity: false,
    };
    let emit = crate::format::EmitOptions::default();
    let run = run(src, &ctx, &opts, &emit);
    assert!(matches!(
        super::open::planned(&run, None),
        super::EditOpen::Declined(Some(_))
    ));
    assert!(matches!(
        super::open_yaml_for_edit(src, &ctx, &opts, &emit).expect("open"),
        super::EditOpen::Declined(Some(_))
    ));
}

/// What the session keeps of a part is the scan's bytes in memory of their size: the
/// tokens and the MAC input unchanged, the room the scan reserved given back (and the
/// MAC input's scan buffer, plaintext, wiped), and a buffer nearly full kept as it is.
#[test]
fn a_part_is_kept_in_memory_of_its_size_with_its_bytes() {
    let mut tokens = Vec::with_capacity(5_000);
    tokens.extend((0..3_000u32).map(|i| (i % 251) as u8));
    let want = tokens.clone();
    let kept = super::open::kept_tokens(tokens);
    assert_eq!(kept, want);
    assert!(kept.capacity() < 3_100, "{}", kept.capacity());

    let mut mac = Zeroizing::new(Vec::with_capacity(10_000));
    mac.extend_from_slice(b"hunter2 and more plaintext");
    let kept = super::open::kept_mac(mac);
    assert_eq!(kept.as_slice(), b"hunter2 and more plaintext");
    assert!(kept.capacity() < 100, "{}", kept.capacity());

    let mut full = Vec::with_capacity(1_000);
    full.resize(990, 7u8);
    let ptr = full.as_ptr();
    let kept = super::open::kept_tokens(full);
    assert_eq!((kept.as_ptr(), kept.len()), (ptr, 990));
}
