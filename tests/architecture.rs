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
