//! Unit tests of the tree-free YAML encrypt: each document against the tree path of the
//! same part (MAC input, text with the `ENC[…]` values masked, integrity tokens, and the
//! decryption of the direct text).
#![allow(clippy::disallowed_macros)] // test output

use super::lines::quick_number;
use super::lines::str_plain;
use super::*;
use crate::crypto::DataKey;
use crate::crypto::document;
use crate::crypto::integrity;
use crate::crypto::value::ValueCipher;
use crate::format::EmitOptions;
use crate::format::Store;
use crate::format::yaml::YamlStore;
use crate::stream::encrypt::test_support::bufs;
use crate::stream::encrypt::test_support::joined;
use crate::stream::encrypt::test_support::mask;
use crate::tree::Document;

/// The direct path's text of `src` (a whole root map), checked against the tree path;
/// `None` when the direct path declines (then the tree path must read it, or decline
/// too).
fn check_with(src: &str, sel: &Selector, mac_only: bool, indent: Option<i64>) -> Option<String> {
    let opts = EmitOptions { indent };
    let n = crate::format::yaml::emit_indent(&opts).expect("indent");
    let job = Job { sel, mac_only, n };
    let key = DataKey::generate().expect("rng");
    let cipher = ValueCipher::new(&key);
    let mac = part(None, src.as_bytes(), false, &job, None, bufs()).expect("no seal error");
    let mut sealer = Sealer::new(&cipher);
    let wrote =
        part(None, src.as_bytes(), false, &job, Some(&mut sealer), bufs()).expect("no seal error");
    let (Some(mac), Some(wrote)) = (mac, wrote) else {
        return None;
    };
    let mut branches =
        crate::format::yaml::load_fast(src.as_bytes()).expect("fast reader takes it");
    assert_eq!(branches.len(), 1);
    let mut doc = Document {
        branches: vec![branches.remove(0)],
    };
    let tree_mac = document::mac_input_part(&mut doc, sel, mac_only).expect("mac");
    assert_eq!(joined(&mac.mac), joined(&tree_mac), "MAC input of {src:?}");
    document::encrypt_part(&mut doc, &cipher, sel, mac_only).expect("encrypt");
    let tree_out = YamlStore.emit(&doc, None, &opts).expect("emit");
    let out = wrote.out.expect("text");
    let direct = String::from_utf8(out.to_vec()).expect("utf-8");
    let tree = String::from_utf8(tree_out.to_vec()).expect("utf-8");
    assert_eq!(mask(&direct), mask(&tree), "text of {src:?}");
    // The tokens are those of the encrypted tree the text stands for.
    let back = crate::format::yaml::load_fast(direct.as_bytes())
        .or_else(|| {
            YamlStore
                .load(direct.as_bytes())
                .ok()
                .map(|l| l.doc.branches)
        })
        .expect("reads back");
    assert_eq!(
        wrote.tokens,
        integrity::entry_tokens(&back[0], mac_only),
        "tokens of {src:?}"
    );
    // And it decrypts to what the tree path's text decrypts to.
    let decrypt = |t: &str| {
        let branches = YamlStore.load(t.as_bytes()).expect("reads").doc.branches;
        let mut d = Document { branches };
        document::decrypt_part(&mut d, &cipher, sel, mac_only).expect("decrypts");
        YamlStore.emit(&d, None, &opts).expect("emit").to_vec()
    };
    assert_eq!(decrypt(&direct), decrypt(&tree), "decryption of {src:?}");
    Some(direct)
}

fn check(src: &str) -> Option<String> {
    check_with(src, &Selector::default(), false, None)
}

#[test]
fn the_large_corpus_shapes_go_direct() {
    let src = "# top comment\nschemaVersion: 3\ngenerator:\n  name: gen.py\n  seed: 20240611\n  note: \"synthetic, not real\"\n# cluster\nglobal:\n  region: eu-west-1\n  slo: 99.95\n  off: false\nservices:\n  a-00:\n    # owned by infra\n    name: a-00\n    replicas: 5  # autoscaled\n    ports:\n    - 56707\n    - 61791\n    env:\n    - name: T\n      value: \"11145\"\n    - name: F\n      value: hotel\n    # rotate\n    secrets:\n      db: \"x(N\"\n      tls: |\n        -----BEGIN-----\n        abc\n    notes: |\n      Zephyr 😀ok.\n      Romeo.\n";
    assert!(check(src).is_some(), "declined");
}

#[test]
fn layouts_agree_with_the_tree_path() {
    let cases = [
        "a: 1\nb: two\n",
        "a:\n    b: 1\n    c:\n    - x\n    - y: 1\n      z: 2\n",
        "a:\n  - x  # c1\n  # c2\n  - y\n  # foot\nb: 1\n",
        "a:\n  b:\n    c: 1\n    # foot of b\n  # foot of a\nd: 2\n",
        "a:\n- k: 1  # first\n  j: 2\n- k: 3\n  # end of item\n",
        "a: ~\nb:\nc: null  # n\nd: ''\ne: \"\"\n",
        "a: 0x1F\nb: 1e3\nc: .inf\nd: 2001-12-14\ne: yes\nf: True\ng: -0\nh: 1_000\n",
        "a: |-\n  x\n\n  y\nb: |+\n  z\n\nc: |2\n    lead\n",
        "'q': 1\n\"d k\": 2\n",
        "a:  # on the key\n  b: 1\n",
        "#\na: 1\n#   \n",
        "a:\n- |\n  block in list\n- 'q'\n",
        "a: []\nb: {}  # e\nc:\n- []\n- {}\n- x: []\n",
    ];
    for c in cases {
        let _ = check(c);
    }
    for c in [
        "a: 1\nb: two\n",
        "a:\n    b: 1\n    c:\n    - x\n    - y: 1\n      z: 2\n",
        "a:\n  - x  # c1\n  # c2\n  - y\n  # foot\nb: 1\n",
        "a:\n  b:\n    c: 1\n    # foot of b\n  # foot of a\nd: 2\n",
        "a: 0x1F\nb: 1e3\nc: .inf\nd: 2001-12-14\ne: yes\nf: True\ng: -0\nh: 1_000\n",
        "a: []\nb: {}  # e\nc:\n- []\n- {}\n- x: []\n",
        // go-yaml's foot comments (round 16): left of the innermost collection, right
        // of the next key: they end the innermost one.
        "a:\n    b:\n        c: 1\n    # F4\nd: 2\n",
        "a:\n    b:\n        c:\n            x: 1\n    # F4\n# F0\nd: 2\n",
        "a:\n    b:\n        c: 1\n    # F4\n        # G8\nd: 2\n",
        "a:\n    b:\n        c: 1\n        # F8\n    # F4\nd: 2\n",
        "a:\n    b:\n        - 1\n    # F4\nd: 2\n",
        "a:\n    - b: 1\n    # F4\nd: 2\n",
        "a:\n    b:\n        c: 1\n    # M4\n    e: 2\n",
    ] {
        assert!(check(c).is_some(), "declined {c:?}");
    }
}

#[test]
fn declined_layouts() {
    for c in [
        "a: 1\n# end of the root\n",
        "a: [1, 2]\n",
        "a: {x: 1}\n",
        "a: &x 1\nb: *x\n",
        "a: !!str 1\n",
        "a: >\n  folded\n",
        "a:\n- - x\n",
        "a:\n-\n  b: 1\n",
        "a: 1\na: 2\n",
        "1: x\n",
        "---\na: 1\n",
        "sops: 1\n",
        "a: 99999999999999999999\n",
        "<<: 1\n",
    ] {
        assert!(check(c).is_none(), "taken {c:?}");
    }
}

#[test]
fn selectors_and_mac_only() {
    let src = "a: 1\nb_unencrypted: 2\nc:\n  d_unencrypted:\n    e: x\n    # clear?\n    f: 'y'\n  g: 3\nlist:\n- 1\n# in list\n- two\n";
    let sels = [
        Selector::default(),
        Selector::EncryptedSuffix("_unencrypted".into()),
        Selector::EncryptedRegex(crate::goregex::GoRegex::new("^(c|list)$").expect("re")),
        Selector::UnencryptedRegex(crate::goregex::GoRegex::new("^d").expect("re")),
    ];
    for sel in &sels {
        for mac_only in [false, true] {
            for indent in [None, Some(2), Some(3)] {
                assert!(check_with(src, sel, mac_only, indent).is_some(), "{sel:?}");
            }
        }
    }
    let comment = Selector::EncryptedCommentRegex(crate::goregex::GoRegex::new("x").expect("re"));
    assert!(check_with(src, &comment, false, None).is_none());
}

/// Where the direct path stops on a file (`LEAFSEAL_DIRECT_PROBE=FILE`, by hand).
#[test]
#[ignore]
fn probe_a_file() {
    let Some(path) = std::env::var_os("LEAFSEAL_DIRECT_PROBE") else {
        return;
    };
    let text = std::fs::read_to_string(path).expect("read");
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let (mut lo, mut hi) = (1usize, lines.len());
    // The longest prefix of whole root entries the direct path takes.
    let cut = |n: usize| {
        let mut end = n;
        while end < lines.len()
            && (lines[end].starts_with("   ")
                || lines[end].starts_with("  -")
                || lines[end].starts_with("  #"))
        {
            end += 1;
        }
        lines[..end].concat()
    };
    let job = Job {
        sel: &Selector::default(),
        mac_only: false,
        n: 4,
    };
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        let t = cut(mid);
        if part(None, t.as_bytes(), false, &job, None, bufs())
            .expect("ok")
            .is_some()
        {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    eprintln!(
        "takes up to line {lo}; next lines:\n{}",
        lines[lo..(lo + 8).min(lines.len())].concat()
    );
}

#[test]
fn quick_numbers_are_what_the_resolver_and_the_walk_give() {
    let mut words: Vec<String> = [
        "0",
        "-0",
        "00",
        "01",
        "7",
        "-7",
        "42",
        "123456789012345",
        "1234567890123456",
        "-12345678901234",
        "0.5",
        "-0.5",
        "0.50",
        "5.",
        ".5",
        "5.54",
        "20.24",
        "99.95",
        "0.1",
        "0.0001",
        "1.0",
        "1e3",
        "1_000",
        "0x1F",
        "+5",
        "--5",
        "5.5.5",
        "0.000000000001",
        "12345678901.2345",
        "9007199254740993",
        "2001-12-14",
        "1.7976931348623157",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let mut x: u64 = 12345;
    for _ in 0..20_000 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let int = (x >> 40) % 100_000;
        let frac = (x >> 8) % 1_000_000;
        let neg = if x & 1 == 0 { "-" } else { "" };
        words.push(format!("{neg}{int}"));
        words.push(format!("{neg}{int}.{frac}"));
        words.push(format!("{neg}{}.{frac:06}", int % 100));
    }
    for w in &words {
        let Some(t) = quick_number(w) else {
            continue;
        };
        let v = resolve_plain(w).expect("resolves");
        let (plain, typ) = value::plaintext_of(&v).expect("a leaf");
        assert_eq!((&plain[..], typ), (w.as_bytes(), t), "{w}");
    }
    assert_eq!(quick_number("42"), Some(ValueType::Int));
    assert_eq!(quick_number("5.54"), Some(ValueType::Float));
    for w in ["-0", "00", "0.50", "1e3", "5.", ".5", "1234567890123456"] {
        assert_eq!(quick_number(w), None, "{w}");
    }
}

#[test]
fn quick_strings_are_what_the_resolver_says() {
    for w in [
        "falsey",
        "nullable",
        "offset",
        "yes_no",
        "timeoutSeconds",
        "no",
        "off",
        "False",
        "FALSE",
        "y",
        "Yes",
        "on",
        "ON",
        "tags",
        "name",
        "notes",
        "true",
        "null",
    ] {
        assert_eq!(str_plain(w), plain_resolves_to_str(w), "{w}");
    }
}

#[test]
fn a_later_sub_part_read_behind_its_header_line_is_the_joined_text() {
    let (header, body) = ("big:", "  # c\n  a: 1\n  b:\n  - x  # y\n  c: |\n    t\n");
    let joined = format!("{header}\n{body}");
    let sel = Selector::default();
    let job = Job {
        sel: &sel,
        mac_only: false,
        n: 4,
    };
    let key = DataKey::generate().expect("rng");
    let cipher = ValueCipher::new(&key);
    let run = |h: Option<&[u8]>, t: &[u8]| {
        let mut sealer = Sealer::new(&cipher);
        let w = part(h, t, true, &job, Some(&mut sealer), bufs())
            .expect("sealed")
            .expect("taken");
        let m = part(h, t, true, &job, None, bufs())
            .expect("ok")
            .expect("taken");
        let text = String::from_utf8(w.out.expect("text").to_vec()).expect("utf-8");
        // (The tokens hold the values' tags, which differ with the nonces: compared by
        // length here, by content in `layouts_agree_with_the_tree_path`.)
        (mask(&text), w.tokens.len(), joined_mac(&m.mac), w.entry_key)
    };
    let a = run(Some(header.as_bytes()), body.as_bytes());
    let b = run(None, joined.as_bytes());
    assert_eq!(a, b);
    assert_eq!(a.3.as_deref(), Some("big"));
    // The tokens are the big entry's map's alone, as the tree path takes them.
    let tree = crate::format::yaml::load_fast(joined.as_bytes()).expect("fast");
    let crate::tree::Item::Entry(_, Value::Map(inner)) = &tree[0].0[0] else {
        panic!("a map entry");
    };
    let text = a.0.clone();
    assert!(text.starts_with("big:\n    #ENC["), "{text}");
    assert_eq!(inner.entries().count(), 3);
}

fn joined_mac(m: &[Zeroizing<Vec<u8>>]) -> Vec<u8> {
    joined(m)
}
