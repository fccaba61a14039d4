//! The seeds of the targets on encrypted files (fixtures and generated documents,
//! encrypted with the test age key, each followed by two later versions under the same
//! data key) and their mutations: the edits an attacker without the key can make.

use std::path::Path;
use std::sync::Arc;

use leafseal::format::EmitOptions;
use leafseal::format::Format;
use leafseal::keys::KeyKind;
use leafseal::ops;
use leafseal::ops::SealPlan;
use leafseal::tree::Value;
use leafseal::walk::Selector;

use super::Edit;
use super::Rng;
use super::context;
use super::tree_change;

/// The recipient of `fixtures/sops/keys/age-test-keys.txt`.
const RECIPIENT: &str = "age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw";

/// Plaintext files larger than this are not seeds.
const MAX_PLAIN: usize = 12 * 1024;

/// Generated YAML documents: nested maps and lists, comments, unicode, every scalar type,
/// a long list, block scalars, several documents.
fn generated_yaml() -> Vec<String> {
    let mut long = String::from("# a long list\nitems:\n");
    for i in 0..300 {
        long.push_str(&format!("    - item-{i}\n"));
    }
    long.push_str("tail: end\n");
    let mut wide = String::new();
    for i in 0..120 {
        wide.push_str(&format!("key{i}:\n    pass: p{i}\n    n: {i}\n"));
    }
    let mut deep = String::new();
    for d in 0..24 {
        deep.push_str(&format!("{}l{d}:\n", "    ".repeat(d)));
    }
    deep.push_str(&format!("{}leaf: bottom\n", "    ".repeat(24)));
    vec![
        "# head comment\napp:\n    name: web # trailing\n    replicas: 3\n    ratio: 0.25\n    on: true\n    off: false\n    when: 2024-01-02T03:04:05Z\n    none: null\n    empty: \"\"\n    # inner\n    list:\n        - a\n        - 1\n        - 2.5\n        - false\n        - nested:\n            k: v\n        - - x\n          - y\ndb:\n    password: \"s3cr3t: with colon\"\n    user_unencrypted: admin\n".to_owned(),
        "unicode: \"héllo wörld ✓ 日本\"\n\"quoted key\": 'single'\nemoji: \"🔑\"\nescaped: \"tab\\tnew\\nline\"\nbig: 9223372036854775807\nneg: -12\nexp: 1.5e+30\nhex: \"0x1F\"\n".to_owned(),
        long,
        wide,
        deep,
        "block: |\n    line one\n    line two\nfolded: >-\n    folded\n    text\nkeep: |+\n    kept\n\nafter: x\n".to_owned(),
        "a: 1\nb: two\n---\nc: 3\nd:\n    - four\n---\ne: {f: g}\n".to_owned(),
        "- first\n- second:\n      x: 1\n- [a, b]\n".to_owned(),
    ]
}

/// Generated JSON documents.
fn generated_json() -> Vec<String> {
    let mut long = String::from("{\"items\": [");
    for i in 0..300 {
        long.push_str(&format!("{}\"item-{i}\"", if i > 0 { ", " } else { "" }));
    }
    long.push_str("], \"tail\": \"end\"}");
    vec![
        "{\"app\": {\"name\": \"web\", \"replicas\": 3, \"ratio\": 0.25, \"on\": true, \"none\": null, \"empty\": \"\", \"list\": [\"a\", 1, 2.5, false, {\"k\": \"v\"}, [\"x\"]]}, \"db\": {\"password\": \"s3:cr\", \"user_unencrypted\": \"admin\"}}".to_owned(),
        "{\"unicode\": \"héllo ✓ 日本 \\u00e9 \\ud83d\\udd11\", \"big\": 9223372036854775807, \"neg\": -12, \"exp\": 1.5e30, \"obj\": {}, \"arr\": []}".to_owned(),
        long,
        "[1, \"two\", {\"three\": [3]}]".to_owned(),
    ]
}

/// The ways files are encrypted: the default, MAC over encrypted values only, and a
/// regex that leaves most values in clear.
fn plans() -> Vec<SealPlan> {
    let Ok(key) = leafseal::keys::key_from_str(KeyKind::Age, RECIPIENT) else {
        return Vec::new();
    };
    let group = vec![vec![Arc::clone(&key)]];
    let regex = Selector::from_field("encrypted_regex", "^(pass|password|name|a|c)$")
        .ok()
        .flatten();
    vec![
        SealPlan {
            groups: group.clone(),
            ..SealPlan::default()
        },
        SealPlan {
            groups: group.clone(),
            mac_only_encrypted: true,
            ..SealPlan::default()
        },
        SealPlan {
            groups: group,
            selector: regex,
            ..SealPlan::default()
        },
    ]
}

/// `plain` encrypted with `plan` in `fmt`, or `None` when it is not a document to seal.
fn seal(fmt: Format, plain: &[u8], plan: &SealPlan) -> Option<Vec<u8>> {
    let store = fmt.store();
    let loaded = store.load(plain).ok()?;
    if loaded.meta.is_some() {
        return None;
    }
    let (enc, meta) = ops::seal_new(loaded.doc, plan, &context(&[]), fmt).ok()?;
    let out = store
        .emit(&enc, Some(&meta), &EmitOptions::default())
        .ok()?;
    Some(out.to_vec())
}

/// Later versions of an encrypted file (same data key): a value set, one removed.
fn versions(fmt: Format, file: &[u8]) -> Vec<Vec<u8>> {
    let ctx = context(&[]);
    let mut out = Vec::new();
    let mut paths = Vec::new();
    if let Ok(loaded) = ops::read_encrypted(file, "seed.yaml", fmt)
        && let Ok(opened) = ops::open_with_key(loaded, &ctx, &Default::default(), None)
    {
        super::scalar_paths(&opened.doc, &mut paths);
    }
    if let Some(first) = paths.first() {
        let set = Edit::Set(first.clone(), Value::str("rolled back?"));
        if let Ok(Some(v2)) = tree_change(fmt, file, &set, &ctx, None) {
            out.push(v2);
        }
    }
    if let Some(last) = paths.last()
        && let Ok(Some(v3)) = tree_change(fmt, file, &Edit::Unset(last.clone()), &ctx, None)
    {
        out.push(v3);
    }
    out
}

/// The fixture extension of a format.
fn extension(fmt: Format) -> &'static str {
    match fmt {
        Format::Json => "json",
        Format::Toml => "toml",
        Format::Dotenv => "env",
        Format::Ini => "ini",
        Format::Binary => "txt",
        Format::Yaml => "yaml",
    }
}

/// The generated YAML documents written in `fmt` (those it can hold); for binary, their
/// text as it is.
fn generated_in(fmt: Format) -> Vec<Vec<u8>> {
    let yaml = generated_yaml();
    if fmt == Format::Binary {
        return yaml.into_iter().map(String::into_bytes).collect();
    }
    yaml.iter()
        .filter_map(|y| {
            let doc = Format::Yaml.store().load(y.as_bytes()).ok()?.doc;
            let out = fmt.store().emit(&doc, None, &EmitOptions::default()).ok()?;
            fmt.store().load(&out).ok()?;
            Some(out.to_vec())
        })
        .collect()
}

/// The seed corpus of a target: encrypted fixture files (they decrypt with the test
/// keys) as they are, plaintext fixtures and generated documents encrypted each way,
/// and (YAML, and every `write_*` format) each file's later versions right after it.
pub fn corpus(target: &str, fixtures: &Path) -> Vec<Vec<u8>> {
    let write = super::write::format_of(target);
    let fmt = match target {
        "stream_json" | "rotate_json" => Format::Json,
        _ => write.unwrap_or(Format::Yaml),
    };
    let ext = extension(fmt);
    let mut plain: Vec<Vec<u8>> = match (fmt, write) {
        (Format::Json, None) => generated_json()
            .into_iter()
            .map(String::into_bytes)
            .collect(),
        (Format::Yaml, _) => generated_yaml()
            .into_iter()
            .map(String::into_bytes)
            .collect(),
        (Format::Json, Some(_)) => generated_json()
            .into_iter()
            .map(String::into_bytes)
            .chain(generated_in(fmt))
            .collect(),
        _ => generated_in(fmt),
    };
    let mut sealed = Vec::new();
    let mut paths = Vec::new();
    super::super::files(fixtures, &mut paths);
    paths.retain(|p| p.extension().is_some_and(|e| e == ext));
    for p in paths {
        let Ok(bytes) = std::fs::read(&p) else {
            continue;
        };
        if bytes.len() > MAX_PLAIN {
            continue;
        }
        let encrypted = fmt.store().load(&bytes).is_ok_and(|l| l.meta.is_some());
        if encrypted {
            sealed.push(bytes);
        } else {
            plain.push(bytes);
        }
    }
    let plans = plans();
    for (i, p) in plain.iter().enumerate() {
        // Every document the default way; every third one each other way too.
        for plan in plans.iter().take(if i % 3 == 0 { plans.len() } else { 1 }) {
            if let Some(file) = seal(fmt, p, plan) {
                sealed.push(file);
            }
        }
    }
    if fmt == Format::Json && write.is_none() {
        return sealed;
    }
    let mut out = Vec::new();
    for file in sealed {
        let later = versions(fmt, &file);
        out.push(file);
        out.extend(later);
    }
    out
}

/// The line ranges of `v` (each without its newline).
fn lines(v: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &b) in v.iter().enumerate() {
        if b == b'\n' {
            out.push(start..i);
            start = i + 1;
        }
    }
    if start < v.len() {
        out.push(start..v.len());
    }
    out
}

/// The ranges of every `ENC[…]` in `v`.
fn encs(v: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(at) = v
        .get(i..)
        .and_then(|r| r.windows(4).position(|w| w == b"ENC["))
    {
        let start = i + at;
        let Some(len) = v
            .get(start..)
            .and_then(|r| r.iter().position(|&b| b == b']'))
        else {
            break;
        };
        out.push(start..start + len + 1);
        i = start + len + 1;
    }
    out
}

fn pick_range(rng: &mut Rng, ranges: &[std::ops::Range<usize>]) -> Option<std::ops::Range<usize>> {
    ranges.get(rng.below(ranges.len())).cloned()
}

/// A copy of a sibling seed (an earlier or later version of the same file, in YAML).
fn sibling<'a>(rng: &mut Rng, seeds: &'a [Vec<u8>], at: usize) -> &'a [u8] {
    let lo = at.saturating_sub(2);
    let i = lo + rng.below(5);
    seeds.get(i).map_or(&[], Vec::as_slice)
}

/// The byte range of the `sops` block (from its line to the end).
fn sops_block(v: &[u8]) -> Option<std::ops::Range<usize>> {
    let at = v
        .windows(6)
        .position(|w| w == b"\nsops:" || w == b"\nsops_")
        .or_else(|| v.windows(7).position(|w| w == b"\n[sops]"))
        .map(|p| p + 1)
        .or_else(|| v.windows(7).position(|w| w == b"\"sops\":"))?;
    Some(at..v.len())
}

/// One edit an attacker without the key can make to an encrypted file.
fn tamper(rng: &mut Rng, v: &mut Vec<u8>, seeds: &[Vec<u8>], at: usize) {
    let ls = lines(v);
    let es = encs(v);
    match rng.below(17) {
        0 => {
            // Swap two ciphertexts.
            if let (Some(a), Some(b)) = (pick_range(rng, &es), pick_range(rng, &es))
                && a.end <= b.start
            {
                let (ta, tb) = (v[a.clone()].to_vec(), v[b.clone()].to_vec());
                v.splice(b, ta);
                v.splice(a, tb);
            }
        }
        1 => {
            // Graft a line of another version of the same file at the same place.
            let other = sibling(rng, seeds, at);
            let ols = lines(other);
            let n = rng.below(ls.len().max(1));
            if let (Some(mine), Some(theirs)) = (ls.get(n), ols.get(n)) {
                let t = other[theirs.clone()].to_vec();
                v.splice(mine.clone(), t);
            }
        }
        2 => {
            // One character of a ciphertext's base64 (data, iv or tag) changed.
            if let Some(r) = pick_range(rng, &es)
                && r.len() > 20
            {
                let i = r.start + 15 + rng.below(r.len() - 20);
                v[i] = b"AZaz09+/=,:"[rng.below(11)];
            }
        }
        3 => {
            // Another type.
            if let Some(r) = pick_range(rng, &es)
                && let Some(t) = v[r.clone()].windows(5).position(|w| w == b"type:")
            {
                let ty: &[u8] = [
                    &b"str"[..],
                    b"int",
                    b"float",
                    b"bool",
                    b"time",
                    b"bytes",
                    b"comment",
                    b"x",
                ][rng.below(8)];
                let from = r.start + t + 5;
                v.splice(from..r.end - 1, ty.iter().copied());
            }
        }
        4 => {
            // Indentation: spaces added or removed, or a tab.
            if let Some(l) = pick_range(rng, &ls) {
                match rng.below(3) {
                    0 => {
                        let n = 1 + rng.below(4);
                        v.splice(l.start..l.start, std::iter::repeat_n(b' ', n));
                    }
                    1 => {
                        let spaces = v[l.clone()].iter().take_while(|&&b| b == b' ').count();
                        let n = (1 + rng.below(4)).min(spaces);
                        v.drain(l.start..l.start + n);
                    }
                    _ => v.splice(l.start..l.start, [b'\t']).for_each(drop),
                }
            }
        }
        5 => {
            // A line removed.
            if let Some(l) = pick_range(rng, &ls) {
                v.drain(l.start..(l.end + 1).min(v.len()));
            }
        }
        6 => {
            // A line copied elsewhere.
            if let (Some(l), Some(to)) = (pick_range(rng, &ls), pick_range(rng, &ls)) {
                let mut line = v[l].to_vec();
                line.push(b'\n');
                v.splice(to.start..to.start, line);
            }
        }
        7 => {
            // A key renamed: a character before its colon.
            if let Some(l) = pick_range(rng, &ls)
                && let Some(c) = v[l.clone()]
                    .windows(2)
                    .position(|w| w == b": " || w == b"\":")
                && c > 0
            {
                v[l.start + c - 1] ^= 1 << rng.below(5);
            }
        }
        8 => {
            // The MAC or the time it was made: changed, or taken from another version.
            let key: &[u8] = [&b"mac"[..], b"lastmodified", b"leafseal_integrity"][rng.below(3)];
            if let Some(l) = ls.iter().find(|l| {
                let t = v[(*l).clone()].trim_ascii_start();
                t.starts_with(key) || t.get(1..).is_some_and(|x| x.starts_with(key))
            }) {
                let other = sibling(rng, seeds, at);
                let theirs = lines(other).into_iter().find(|o| {
                    other[o.clone()] != v[l.clone()]
                        && other[o.clone()].trim_ascii_start().starts_with(key)
                });
                match (rng.below(3), theirs) {
                    (0, Some(o)) => {
                        let t = other[o].to_vec();
                        v.splice(l.clone(), t);
                    }
                    (1, _) => {
                        v.drain(l.start..(l.end + 1).min(v.len()));
                    }
                    _ if !l.is_empty() => {
                        let i = l.start + rng.below(l.len());
                        v[i] ^= 1 << rng.below(6);
                    }
                    _ => {}
                }
            }
        }
        9 => {
            // A comment, a blank line or trailing spaces.
            if let Some(l) = pick_range(rng, &ls) {
                let t: &[u8] = [&b"# injected\n"[..], b"\n", b"    # indented\n"][rng.below(3)];
                if rng.below(2) == 0 {
                    v.splice(l.start..l.start, t.iter().copied());
                } else {
                    v.splice(l.end..l.end, b"  ".iter().copied());
                }
            }
        }
        10 => {
            // An edit at a part boundary of a small part size.
            let part = [7usize, 16, 64, 256, 1024][rng.below(5)];
            let at = part * rng.below(v.len() / part + 1);
            let t: &[u8] = [&b"\n"[..], b" ", b"- ", b":", b"#"][rng.below(5)];
            if rng.below(2) == 0 {
                v.splice(at.min(v.len())..at.min(v.len()), t.iter().copied());
            } else if at < v.len() {
                v.remove(at);
            }
        }
        11 => {
            // Two neighbouring lines swapped.
            let n = rng.below(ls.len().max(1));
            if let (Some(a), Some(b)) = (ls.get(n), ls.get(n + 1)) {
                let (ta, tb) = (v[a.clone()].to_vec(), v[b.clone()].to_vec());
                v.splice(b.clone(), ta);
                v.splice(a.clone(), tb);
            }
        }
        12 => {
            // The whole `sops` block of another version (or another file).
            let other = if rng.below(2) == 0 {
                sibling(rng, seeds, at)
            } else {
                seeds
                    .get(rng.below(seeds.len()))
                    .map_or(&[][..], Vec::as_slice)
            };
            if let (Some(mine), Some(theirs)) = (sops_block(v), sops_block(other)) {
                let t = other[theirs].to_vec();
                v.splice(mine, t);
            }
        }
        13 => {
            // A ciphertext replaced by a value in clear.
            if let Some(r) = pick_range(rng, &es) {
                let t: &[u8] =
                    [&b"plain"[..], b"42", b"true", b"null", b"\"\"", b"ENC[]"][rng.below(6)];
                v.splice(r, t.iter().copied());
            }
        }
        14 => {
            // A subtree removed: a line and the deeper-indented lines after it.
            let n = rng.below(ls.len().max(1));
            if let Some(l) = ls.get(n) {
                let depth = |r: &std::ops::Range<usize>| {
                    v[r.clone()]
                        .iter()
                        .take_while(|&&b| b == b' ' || b == b'-')
                        .count()
                };
                let d = depth(l);
                let end = ls[n + 1..]
                    .iter()
                    .find(|r| depth(r) <= d)
                    .map_or(v.len(), |r| r.start);
                v.drain(l.start..end);
            }
        }
        15 => {
            // A ciphertext of another version of the file at the same place.
            let other = sibling(rng, seeds, at);
            let oe = encs(other);
            let n = rng.below(es.len().max(1));
            if let (Some(mine), Some(theirs)) = (es.get(n), oe.get(n)) {
                let t = other[theirs.clone()].to_vec();
                v.splice(mine.clone(), t);
            }
        }
        _ => {
            // A document marker, a flow collection or a quote somewhere.
            let t: &[u8] = [
                &b"---\n"[..],
                b"{}",
                b"[]",
                b"'",
                b"\"",
                b"&a ",
                b"*a",
                b"? ",
            ][rng.below(8)];
            let to = pick_range(rng, &ls).map_or(0, |l| l.start);
            v.splice(to..to, t.iter().copied());
        }
    }
}

/// One input: a seed with one to three attacker's edits, and sometimes one of the
/// generic mutations on top.
pub fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let at = rng.below(seeds.len());
    let mut v = seeds.get(at).cloned().unwrap_or_default();
    for _ in 0..1 + rng.below(3) {
        tamper(rng, &mut v, seeds, at);
    }
    if rng.below(4) == 0 {
        v = super::super::mutate(rng, std::slice::from_ref(&v));
    }
    v
}
