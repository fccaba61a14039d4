//! The layering rule of docs/architecture.md, checked on the source: the faces
//! (`src/cli`, `src/git`, `src/integrations`) call the operations layer (`crate::ops`,
//! `crate::lifecycle`, `crate::api`) and never reach the domain modules below it
//! (`format`, `keys`, `tree`, `walk`, `crypto`) directly. A file that still does must be
//! listed in `ALLOWED` with the reason; the list should only get shorter.

use std::path::Path;
use std::path::PathBuf;

/// The directories of the faces.
const FACES: [&str; 3] = ["src/cli", "src/git", "src/integrations"];

/// The domain modules the faces must not name.
const DOMAIN: [&str; 5] = ["format", "keys", "tree", "walk", "crypto"];

/// Files allowed to name domain modules for now, each with why. Empty: the kustomize
/// generator reads its configuration and builds Secrets through `ops::k8s`'s resource
/// model (`Resource`, `Fields`, `Secret`).
const ALLOWED: &[(&str, &str)] = &[];

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).expect("read a source directory");
    for entry in entries {
        let path = entry.expect("read a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Whether `text` starts with `module` followed by a path or item boundary (so that
/// `tree` does not match `treepath`).
fn names_module(text: &str, module: &str) -> bool {
    text.strip_prefix(module)
        .is_some_and(|rest| !rest.starts_with(|c: char| c.is_alphanumeric() || c == '_'))
}

/// The domain modules a line of source names: `crate::MODULE…` anywhere, and the modules
/// of a grouped `use crate::{…}`.
fn domain_refs(line: &str) -> Vec<&'static str> {
    let code = line.split("//").next().unwrap_or("");
    let mut found = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            for part in group.split(',') {
                let part = part.trim();
                for m in DOMAIN {
                    if names_module(part, m) && !found.contains(&m) {
                        found.push(m);
                    }
                }
            }
        }
        for m in DOMAIN {
            if names_module(rest, m) && !found.contains(&m) {
                found.push(m);
            }
        }
    }
    found
}

#[test]
fn the_rule_recognises_the_forms_it_forbids() {
    assert_eq!(domain_refs("use crate::format::Format;"), ["format"]);
    assert_eq!(
        domain_refs("    let k = crate::keys::key_from_str(kind, s);"),
        ["keys"]
    );
    assert_eq!(domain_refs("use crate::tree;"), ["tree"]);
    assert_eq!(domain_refs("use crate::{ops, walk::Selector};"), ["walk"]);
    assert_eq!(
        domain_refs("fn f(d: &crate::crypto::DataKey) {}"),
        ["crypto"]
    );
    assert!(domain_refs("use crate::treepath;").is_empty());
    assert!(domain_refs("use crate::ops::Format;").is_empty());
    assert!(domain_refs("/// see [`crate::format`] // crate::keys").is_empty());
}

#[test]
fn faces_reach_the_domain_only_through_the_operations() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in FACES {
        rust_files(&root.join(dir), &mut files);
    }
    files.sort();
    assert!(files.len() > 20, "the faces' sources were found");
    let mut violations = Vec::new();
    let mut allowed_and_used = Vec::new();
    for path in &files {
        let rel = path
            .strip_prefix(root)
            .expect("under the crate")
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(path).expect("read a source file");
        let mut refs: Vec<String> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for m in domain_refs(line) {
                refs.push(format!("{rel}:{}: crate::{m} in `{}`", n + 1, line.trim()));
            }
        }
        if refs.is_empty() {
            continue;
        }
        if ALLOWED.iter().any(|(f, _)| *f == rel) {
            allowed_and_used.push(rel);
        } else {
            violations.extend(refs);
        }
    }
    assert!(
        violations.is_empty(),
        "these faces name domain modules directly; call an operation (src/ops/, src/lifecycle/) instead, \
         or add one there (see docs/architecture.md, \"Layers\"):\n{}",
        violations.join("\n")
    );
    let stale: Vec<&str> = ALLOWED
        .iter()
        .map(|(f, _)| *f)
        .filter(|f| !allowed_and_used.iter().any(|u| u == f))
        .collect();
    assert!(
        stale.is_empty(),
        "these allow-list entries no longer name domain modules (or are gone): remove them from ALLOWED: {stale:?}"
    );
}

/// Files under `src/keys` allowed to name the document tree, each with why. Empty: a key
/// source reads and writes its description as plain data (`keys::KeyFields`), and
/// `crate::metadata` alone converts it to and from the tree.
const KEYS_ALLOWED: &[(&str, &str)] = &[];

#[test]
fn key_sources_never_see_the_document_tree() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src/keys"), &mut files);
    files.push(root.join("src/keys.rs"));
    files.retain(|p| p.exists());
    files.sort();
    assert!(files.len() > 20, "the key sources were found");
    let mut violations = Vec::new();
    let mut allowed_and_used = Vec::new();
    for path in &files {
        let rel = path
            .strip_prefix(root)
            .expect("under the crate")
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(path).expect("read a source file");
        let mut refs = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            if domain_refs(line).contains(&"tree") || line.contains("super::tree") {
                refs.push(format!("{rel}:{}: `{}`", n + 1, line.trim()));
            }
        }
        if refs.is_empty() {
            continue;
        }
        if KEYS_ALLOWED.iter().any(|(f, _)| *f == rel) {
            allowed_and_used.push(rel);
        } else {
            violations.extend(refs);
        }
    }
    assert!(
        violations.is_empty(),
        "these key-source files name the document tree; describe the key as `keys::KeyFields` \
         and convert in src/metadata/key_fields.rs instead (see docs/architecture.md):\n{}",
        violations.join("\n")
    );
    let stale: Vec<&str> = KEYS_ALLOWED
        .iter()
        .map(|(f, _)| *f)
        .filter(|f| !allowed_and_used.iter().any(|u| u == f))
        .collect();
    assert!(
        stale.is_empty(),
        "these KEYS_ALLOWED entries no longer name the tree (or are gone): remove them: {stale:?}"
    );
}

/// The library layers whose strings must name no command-line flag: their errors, hints
/// and warnings reach library callers, so a flag belongs in the command line's wording
/// (`src/cli/hints.rs`: `Remedy`, `Setting`, the skipped-check warning).
const FLAG_FREE: [&str; 3] = ["src/ops", "src/api", "src/lifecycle"];

/// Files under `FLAG_FREE` allowed to hold a flag name in a string, each with why. Empty.
const FLAG_ALLOWED: &[(&str, &str)] = &[];

/// The string literals of Rust source (normal, byte and raw strings, escapes left as
/// written), with the line each starts on; comments, character literals and lifetimes
/// are skipped.
fn string_literals(src: &str) -> Vec<(usize, String)> {
    let b: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if b[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if c == '\'' {
            // A character literal ('x', '\n', '\''), else a lifetime or label.
            if next == Some('\\') {
                i += 2;
                while i < b.len() && b[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if b.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
            }
        } else if c == '"' {
            let start = line;
            let mut s = String::new();
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' && i + 1 < b.len() {
                    s.push(b[i]);
                    i += 1;
                }
                if b[i] == '\n' {
                    line += 1;
                }
                s.push(b[i]);
                i += 1;
            }
            i += 1;
            out.push((start, s));
        } else if (c == 'r' || (c == 'b' && next == Some('r'))) && (i == 0 || !ident(b[i - 1])) {
            // A raw string: r"…", r#"…"#, br"…".
            let mut j = i + if c == 'b' { 2 } else { 1 };
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                i += 1;
                continue;
            }
            let start = line;
            let close: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            j += 1;
            let mut s = String::new();
            while j < b.len() && !b[j..].starts_with(&close) {
                if b[j] == '\n' {
                    line += 1;
                }
                s.push(b[j]);
                j += 1;
            }
            i = j + close.len();
            out.push((start, s));
        } else if ident(c) {
            while i < b.len() && ident(b[i]) {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    out
}

/// Whether a string names a long flag: `--` followed by a letter (or by `{`, a flag
/// name put together with `format!`), not part of a longer run of dashes.
fn names_flag(s: &str) -> bool {
    let c: Vec<char> = s.chars().collect();
    (0..c.len().saturating_sub(2)).any(|i| {
        c[i] == '-'
            && c[i + 1] == '-'
            && (c[i + 2].is_ascii_alphabetic() || c[i + 2] == '{')
            && (i == 0 || c[i - 1] != '-')
    })
}

#[test]
fn the_flag_rule_reads_strings_as_the_compiler_does() {
    let src = r####"
// "--in-a-comment"
/* "--in-a-block" /* nested "--x" */ */
let a = "plain --flag";
let q = '"'; let e = '\''; fn f<'a>(x: &'a str) {}
let r = r#"raw "--raw" text"#;
let m = "two
lines --m";
let b = b"--bytes";
let dashes = "---\nkind: x";
let fmt = format!("--{}", name);
let ok = "a -- b and --- c";
"####;
    let lits = string_literals(src);
    let flagged: Vec<(usize, &str)> = lits
        .iter()
        .filter(|(_, s)| names_flag(s))
        .map(|(l, s)| (*l, s.as_str()))
        .collect();
    assert_eq!(
        flagged,
        [
            (4, "plain --flag"),
            (6, "raw \"--raw\" text"),
            (7, "two\nlines --m"),
            (9, "--bytes"),
            (11, "--{}"),
        ]
    );
    assert!(lits.iter().any(|(_, s)| s == "---\\nkind: x"));
    assert!(lits.iter().any(|(_, s)| s == "a -- b and --- c"));
}

#[test]
fn library_layers_name_no_command_line_flag() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in FLAG_FREE {
        rust_files(&root.join(dir), &mut files);
    }
    files.sort();
    assert!(files.len() > 20, "the library layers' sources were found");
    let mut violations = Vec::new();
    let mut allowed_and_used = Vec::new();
    for path in &files {
        let rel = path
            .strip_prefix(root)
            .expect("under the crate")
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(path).expect("read a source file");
        let hits: Vec<String> = string_literals(&text)
            .into_iter()
            .filter(|(_, s)| names_flag(s))
            .map(|(n, s)| format!("{rel}:{n}: {s:?}"))
            .collect();
        if hits.is_empty() {
            continue;
        }
        if FLAG_ALLOWED.iter().any(|(f, _)| *f == rel) {
            allowed_and_used.push(rel);
        } else {
            violations.extend(hits);
        }
    }
    assert!(
        violations.is_empty(),
        "these strings of the library layers name command-line flags; name the setting \
         (error::Setting), give an error::Remedy, and word the flag in src/cli/hints.rs \
         (see docs/architecture.md, \"Layers\"):\n{}",
        violations.join("\n")
    );
    let stale: Vec<&str> = FLAG_ALLOWED
        .iter()
        .map(|(f, _)| *f)
        .filter(|f| !allowed_and_used.iter().any(|u| u == f))
        .collect();
    assert!(
        stale.is_empty(),
        "these FLAG_ALLOWED entries no longer name flags (or are gone): remove them: {stale:?}"
    );
}
