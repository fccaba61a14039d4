//! A deterministic mutation fuzzer for leafseal's parsers that runs on stable Rust.
//!
//! Each target feeds inputs to one parser entry point (and, where the parser accepts the
//! input, the code that runs on its result: emitting the tree back, converting the
//! metadata, matching policy rules). Inputs are seed files from `fixtures/` plus small
//! built-in seeds, mutated with byte flips, insertions of interesting tokens, deletions,
//! duplications, splices with other seeds, deep nesting, huge or tiny numbers, invalid
//! UTF-8 and byte-order marks. A panic is caught, counted and its input kept. The same
//! seed and iteration count always produce the same inputs.
//!
//! Shared by `examples/fuzz/main.rs` (long campaigns in an optimised build) and
//! `tests/fuzz_quick.rs` (a short run in the normal test suite).

use std::panic::AssertUnwindSafe;
use std::panic::catch_unwind;
use std::path::Path;

use leafseal::crypto::value::EncFields;
use leafseal::crypto::value::EncValue;
use leafseal::crypto::value::ValueType;
use leafseal::crypto::value::value_from_plaintext;
use leafseal::format::EmitOptions;
use leafseal::format::Format;
use leafseal::metadata::Metadata;
use leafseal::policy::Policy;

#[path = "sealed.rs"]
pub mod sealed;

/// The parser targets; [`targets`] adds the ones on encrypted files ([`sealed`]).
pub const PARSER_TARGETS: &[&str] = &[
    "yaml", "json", "toml", "dotenv", "ini", "enc", "metadata", "policy",
];

/// Every fuzz target: one per parser, then the differential ones on encrypted files, the
/// write commands' and the re-keying ones (each list kept once, where its targets are
/// run).
pub fn targets() -> Vec<&'static str> {
    [
        PARSER_TARGETS,
        sealed::TARGETS,
        sealed::WRITE_TARGETS,
        sealed::KEY_TARGETS,
    ]
    .concat()
}

/// Inputs larger than this are cut (keeps each run short; depth attacks fit easily).
const MAX_INPUT: usize = 96 * 1024;
/// Seed files larger than this are skipped.
const MAX_SEED: usize = 16 * 1024;

#[path = "rng.rs"]
mod rng;
pub use rng::Rng;

impl Rng {
    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len()))
    }
}

/// What a run found.
#[derive(Debug, Default)]
pub struct Report {
    /// Inputs tried.
    pub inputs: u64,
    /// Inputs the parser accepted.
    pub accepted: u64,
    /// Inputs that made something panic.
    pub panics: u64,
    /// The first few inputs that panicked.
    pub panicking: Vec<Vec<u8>>,
}

/// Tokens that matter to one or more of the formats.
const TOKENS: &[&[u8]] = &[
    b"- ",
    b": ",
    b"? ",
    b"[",
    b"]",
    b"{",
    b"}",
    b",",
    b"\"",
    b"'",
    b"&a ",
    b"*a",
    b"!!str ",
    b"!!binary ",
    b"!!int ",
    b"!!float ",
    b"!!timestamp ",
    b"|",
    b">-",
    b"# c",
    b"\n",
    b"\r\n",
    b"\t",
    b"---\n",
    b"...\n",
    b"%YAML 1.2\n",
    b"<<: *a",
    b"=",
    b"[sops]\n",
    b"sops_",
    b"\\",
    b"\\u0000",
    b"\\ud800",
    b"\"\"\"",
    b"'''",
    b"[[a]]\n",
    b"a.b.c",
    b"null",
    b"true",
    b"~",
    b"ENC[AES256_GCM,data:",
    b",iv:",
    b",tag:",
    b",type:str]",
    b"type:int]",
    b"type:float]",
    b"type:bool]",
    b"type:time]",
    b"type:bytes]",
    b"type:comment]",
    b"sops:\n",
    b"mac: ",
    b"lastmodified: ",
    b"version: 3.9.0\n",
    b"age:\n",
    b"- recipient: ",
    b"enc: ",
    b"key_groups:\n",
    b"shamir_threshold: ",
    b"encrypted_regex: ",
    b"creation_rules:\n",
    b"- path_regex: ",
    b"stores:\n",
    b"indent: ",
    b"2024-01-01T00:00:00Z",
    b"1979-05-27",
    b"0x7f",
    b"0o17",
    b"0b101",
    b".inf",
    b"-.nan",
    b"1_000",
    b"+1",
    b"\xEF\xBB\xBF",
];

/// Numbers that sit at or beyond the limits of the types they become.
const NUMBERS: &[&[u8]] = &[
    b"9223372036854775807",
    b"9223372036854775808",
    b"-9223372036854775809",
    b"18446744073709551616",
    b"123456789012345678901234567890123456789",
    b"1e-400",
    b"1e400",
    b"-0",
    b"-0.0",
    b"4.9e-324",
    b"1.7976931348623157e308",
    b"0.30000000000000000001",
    b"1e99999999999999999999",
    b"0e-99999999999999999999",
];

/// Invalid or awkward UTF-8.
const BAD_UTF8: &[&[u8]] = &[
    b"\xff",
    b"\xc3\x28",
    b"\xe2\x82",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\xc0\xaf",
    b"\x00",
    b"\xEF\xBB\xBF",
    "\u{FEFF}".as_bytes(),
    "\u{2028}".as_bytes(),
    "é".as_bytes(),
];

/// One level of nesting, per shape (written `n` times).
const NESTS: &[(&[u8], &[u8])] = &[
    (b"- ", b"null"),
    (b"[", b"]"),
    (b"{\"a\": ", b"}"),
    (b"{a: ", b"}"),
    (b"a.", b"x = 1"),
    (b"a = [", b"]"),
    (b"- &a ", b"*a"),
    (b"\n  ", b"x"),
];

/// Built-in seeds for every target (small, hostile shapes included).
fn builtin(target: &str) -> Vec<Vec<u8>> {
    let s: &[&str] = match target {
        "yaml" => &[
            "a: 1\nb: [x, {c: d}]\n# c\n",
            "a: &x {b: c}\nd: *x\n<<: *x\n",
            "- - - null\n",
            "a: |\n  text\n  more\nb: >-\n  folded\n",
            "---\na: 1\n---\nb: 2\n...\n",
            "a: !!binary aGVsbG8=\nb: !!int '1'\nc: 2001-12-14t21:59:43.10-05:00\n",
        ],
        "json" => &[
            "{\"a\": 1, \"b\": [true, null, 1.5e3, \"x\\u00e9\"], \"c\": {}}",
            "{\"a\": {\"b\": {\"c\": [[[]]]}}}",
            "{\"n\": -0.0, \"m\": 12345678901234567}",
        ],
        "toml" => &[
            "a = 1\n[b]\nc = \"x\"\n[[d]]\ne = [1, 2]\n",
            "a.b.c = 1\nx = { y = { z = [ { w = 1 } ] } }\n",
            "t = 1979-05-27T07:32:00Z\nu = 1979-05-27\n# c\n",
            "[sops]\nmac = \"x\"\nversion = \"3.9.0\"\n[[sops.age]]\nrecipient = \"r\"\nenc = \"e\"\n",
        ],
        "dotenv" => &[
            "A=1\nB=two\\nlines\n#c\n",
            "sops_version=3.9.0\nsops_mac=x\nsops_age__list_0__map_recipient=r\n",
        ],
        "ini" => &[
            "[s]\na = 1\nb = \"q\"\n; c\n",
            "[sops]\nversion = 3.9.0\nage__list_0__map_recipient = r\n",
            "a = \"\"\"multi\nline\"\"\"\n",
        ],
        "enc" => &[
            "ENC[AES256_GCM,data:aGk=,iv:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]",
            "ENC[AES256_GCM,data:,iv:,tag:,type:int]",
        ],
        "metadata" => &[
            "sops:\n    age:\n        - recipient: age1x\n          enc: x\n    lastmodified: \"2024-01-01T00:00:00Z\"\n    mac: ENC[AES256_GCM,data:aGk=,iv:AAAA,tag:AAAA,type:str]\n    version: 3.9.0\n",
            "sops:\n    key_groups:\n        - age:\n            - recipient: r\n              enc: e\n    shamir_threshold: 2\n    encrypted_regex: ^a\n",
        ],
        "policy" => &[
            "creation_rules:\n  - path_regex: \\.yaml$\n    age: age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw\n",
            "stores:\n  yaml:\n    indent: 2\ncreation_rules:\n  - path_regex: x\n    key_groups:\n      - pgp: [A]\n        age: [b]\n    shamir_threshold: 1\n  - encrypted_regex: ^d\n",
            "destination_rules: []\ncreation_rules: []\n",
        ],
        _ => &[],
    };
    s.iter().map(|x| x.as_bytes().to_vec()).collect()
}

/// The extensions of the fixture files that seed a target.
fn extensions(target: &str) -> &'static [&'static str] {
    match target {
        "yaml" | "policy" => &["yaml", "yml"],
        "json" => &["json"],
        "toml" => &["toml"],
        "dotenv" => &["env"],
        "ini" => &["ini"],
        "metadata" => &["yaml", "yml", "json", "env", "ini"],
        _ => &["yaml", "yml", "json", "env", "ini", "toml"],
    }
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Every `ENC[…]` string in `text`.
fn enc_strings(text: &[u8], out: &mut Vec<Vec<u8>>) {
    let mut i = 0;
    while let Some(at) = text
        .get(i..)
        .and_then(|r| r.windows(4).position(|w| w == b"ENC["))
    {
        let start = i + at;
        let end = text
            .get(start..)
            .and_then(|r| r.iter().position(|&b| b == b']'))
            .map_or(text.len(), |e| start + e + 1);
        if let Some(s) = text.get(start..end) {
            out.push(s.to_vec());
        }
        i = end;
    }
}

/// The seed corpus of a target: built-in seeds plus fixture files (sorted, so the corpus
/// and therefore the run are the same on every machine with the same fixtures).
pub fn corpus(target: &str, fixtures: &Path) -> Vec<Vec<u8>> {
    if sealed::is_sealed(target) {
        return sealed::corpus(target, fixtures);
    }
    let mut out = builtin(target);
    let mut paths = Vec::new();
    files(fixtures, &mut paths);
    let exts = extensions(target);
    for p in paths {
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !exts.contains(&ext) {
            continue;
        }
        let Ok(bytes) = std::fs::read(&p) else {
            continue;
        };
        if target == "enc" {
            let before = out.len();
            enc_strings(&bytes, &mut out);
            // A few per file are enough.
            out.truncate(before + 16);
        } else if target == "policy" {
            if p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains("sops"))
            {
                out.push(bytes);
            }
        } else if bytes.len() <= MAX_SEED {
            out.push(bytes);
        }
    }
    out
}

/// Applies one to four random mutations to a copy of a random seed.
pub fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut v = rng.pick(seeds).cloned().unwrap_or_default();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let len = v.len();
        let at = rng.below(len + 1);
        match rng.below(16) {
            0 | 1 => {
                if let Some(b) = v.get_mut(at) {
                    *b ^= 1 << rng.below(8);
                }
            }
            2 => {
                if let Some(b) = v.get_mut(at) {
                    *b = rng.next() as u8;
                }
            }
            3..=5 => {
                let t = rng.pick(TOKENS).copied().unwrap_or(b"");
                v.splice(at..at, t.iter().copied());
            }
            6 => {
                let n = rng.below(64).min(len - at.min(len));
                v.drain(at..at + n);
            }
            7 => {
                // Duplicate a range somewhere else.
                let n = rng.below(256).min(len - at.min(len));
                let chunk: Vec<u8> = v.get(at..at + n).unwrap_or(&[]).to_vec();
                let to = rng.below(v.len() + 1);
                v.splice(to..to, chunk);
            }
            8 => {
                // Splice: our head, another seed's tail.
                if let Some(other) = rng.pick(seeds) {
                    let from = rng.below(other.len() + 1);
                    v.truncate(at);
                    v.extend_from_slice(other.get(from..).unwrap_or(&[]));
                }
            }
            9 => {
                let t = rng.pick(NUMBERS).copied().unwrap_or(b"");
                v.splice(at..at, t.iter().copied());
            }
            10 => {
                let t = rng.pick(BAD_UTF8).copied().unwrap_or(b"");
                v.splice(at..at, t.iter().copied());
            }
            11 => {
                // Deep nesting: just below, at, just above the limit, or far above it.
                let n = *rng
                    .pick(&[8usize, 255, 256, 257, 300, 2_000, 20_000])
                    .unwrap_or(&8);
                let (open, close) = rng.pick(NESTS).copied().unwrap_or((b"[", b"]"));
                let mut deep = Vec::with_capacity(n * (open.len() + close.len()));
                for _ in 0..n {
                    deep.extend_from_slice(open);
                }
                deep.extend_from_slice(close);
                if close.len() == 1 {
                    for _ in 1..n {
                        deep.extend_from_slice(close);
                    }
                }
                v.splice(at..at, deep);
            }
            12 => {
                // Repeat a line.
                let start = v
                    .get(..at)
                    .and_then(|h| h.iter().rposition(|&b| b == b'\n'));
                let start = start.map_or(0, |s| s + 1);
                let end = v
                    .get(at..)
                    .and_then(|t| t.iter().position(|&b| b == b'\n'))
                    .map_or(v.len(), |e| at + e + 1);
                let line: Vec<u8> = v.get(start..end).unwrap_or(&[]).to_vec();
                let times = 1 + rng.below(3);
                for _ in 0..times {
                    v.splice(end..end, line.iter().copied());
                }
            }
            13 => v.truncate(at),
            14 => {
                // Random bytes.
                let n = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                v.splice(at..at, bytes);
            }
            _ => {
                // Swap two bytes.
                let other = rng.below(len);
                if at < len {
                    v.swap(at, other);
                }
            }
        }
    }
    v.truncate(MAX_INPUT);
    v
}

fn store(format: Format, input: &[u8]) -> bool {
    let store = format.store();
    match store.load(input) {
        Ok(loaded) => {
            let opts = EmitOptions::default();
            let _ = store.emit(&loaded.doc, loaded.meta.as_ref(), &opts);
            if let Some(first) = loaded.doc.branches.first()
                && let Some((_, v)) = first.entries().next()
            {
                let _ = store.emit_value(v, &opts);
            }
            true
        }
        Err(e) => {
            let _ = e.to_string();
            false
        }
    }
}

fn metadata(input: &[u8]) -> bool {
    let mut ok = false;
    for f in [Format::Yaml, Format::Json, Format::Dotenv, Format::Ini] {
        if let Ok(loaded) = f.store().load(input)
            && let Some(meta) = loaded.meta
            && let Ok(md) = Metadata::from_map(&meta)
        {
            ok = true;
            let _ = md.to_map();
            let _ = md.mac_aad();
            let _ = md.selector();
            let _ = md.threshold();
        }
    }
    ok
}

fn enc(input: &[u8]) -> bool {
    let text = String::from_utf8_lossy(input);
    let mut ok = EncValue::parse(&text).is_ok_and(|v| !v.render().is_empty());
    ok |= EncFields::parse(&text).is_ok();
    for typ in [
        ValueType::Str,
        ValueType::Int,
        ValueType::Float,
        ValueType::Bool,
        ValueType::Time,
        ValueType::Comment,
        ValueType::Bytes,
    ] {
        ok |= value_from_plaintext(input, typ).is_ok();
    }
    ok
}

fn policy(input: &[u8]) -> bool {
    match Policy::parse(input, Path::new("/nonexistent/.sops.yaml")) {
        Ok(p) => {
            for f in [
                "/nonexistent/a.yaml",
                "/nonexistent/secrets/b.enc.json",
                "c",
            ] {
                let _ = p.rule_for(Path::new(f));
                let _ = p.match_path(Path::new(f));
            }
            let _ = p.stores.indent_for(Format::Yaml);
            true
        }
        Err(e) => {
            let _ = e.to_string();
            false
        }
    }
}

/// Feeds one input to a target's parser; `true` when it was accepted.
pub fn exercise(target: &str, input: &[u8]) -> bool {
    match target {
        "yaml" => store(Format::Yaml, input),
        "json" => store(Format::Json, input),
        "toml" => store(Format::Toml, input),
        "dotenv" => store(Format::Dotenv, input),
        "ini" => store(Format::Ini, input),
        "enc" => enc(input),
        "metadata" => metadata(input),
        "policy" => policy(input),
        _ => sealed::exercise(target, input),
    }
}

/// Runs `iterations` inputs against `target`; every seed is also tried unmutated first.
/// `progress` is called every 2^20 inputs. (Used by `tests/fuzz_quick.rs`; the campaign
/// driver calls [`run_with`].)
#[allow(dead_code)]
pub fn run(
    target: &str,
    seeds: &[Vec<u8>],
    iterations: u64,
    seed: u64,
    progress: &mut dyn FnMut(&Report),
) -> Report {
    run_with(
        target,
        seeds,
        Limits {
            iterations,
            seed,
            until: None,
        },
        progress,
        &mut |_| {},
    )
}

/// How long a run goes on.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// At most this many inputs.
    pub iterations: u64,
    /// The seed of the mutations.
    pub seed: u64,
    /// Stop at this time (checked every 16 inputs).
    pub until: Option<std::time::Instant>,
}

/// [`run`] with a time limit, calling `kept` with each panicking input as soon as it
/// panicked (so that a run stopped early has kept it).
pub fn run_with(
    target: &str,
    seeds: &[Vec<u8>],
    limits: Limits,
    progress: &mut dyn FnMut(&Report),
    kept: &mut dyn FnMut(&[u8]),
) -> Report {
    let mut rng = Rng::new(limits.seed ^ fnv(target.as_bytes()));
    let mut report = Report::default();
    let mut i = 0u64;
    while i < limits.iterations {
        if i.is_multiple_of(16) && limits.until.is_some_and(|t| std::time::Instant::now() >= t) {
            break;
        }
        let input = match seeds.get(i as usize) {
            Some(s) => s.clone(),
            None if sealed::is_sealed(target) => sealed::mutate(&mut rng, seeds),
            None => mutate(&mut rng, seeds),
        };
        match catch_unwind(AssertUnwindSafe(|| exercise(target, &input))) {
            Ok(true) => report.accepted += 1,
            Ok(false) => {}
            Err(_) => {
                report.panics += 1;
                kept(&input);
                if report.panicking.len() < 16 {
                    report.panicking.push(input);
                }
            }
        }
        report.inputs += 1;
        i += 1;
        if i & ((1 << 20) - 1) == 0 {
            progress(&report);
        }
    }
    report
}

/// FNV-1a, to give each target its own input stream for the same seed.
fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}
