//! The kustomize trap: a kustomization whose generators/transformers/validators name a KRM
//! function with an `exec:` runtime (`config.kubernetes.io/function` annotation), e.g.
//! KSOPS. kubectl's embedded kustomize (kubectl 1.32) has no `--enable-exec` and silently
//! renders nothing for such a generator.

use std::path::Path;

use crate::check::Kind;
use crate::check::Sink;
use crate::check::Source;
use crate::check::files::normalize;
use crate::format::Store;
use crate::format::yaml::YamlStore;
use crate::tree::Map;
use crate::tree::SeqItem;
use crate::tree::Value;

/// The fields whose entries are KRM function configurations.
const FUNCTION_FIELDS: [&str; 3] = ["generators", "transformers", "validators"];

/// The annotation naming a KRM function's runtime (and its legacy spelling).
const ANNOTATIONS: [&str; 2] = ["config.kubernetes.io/function", "config.k8s.io/function"];

/// Kustomization file names, in kustomize's lookup order.
const KUSTOMIZATION_NAMES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

const HINT: &str = "kubectl's embedded kustomize (kubectl kustomize / kubectl apply -k, kubectl 1.32) cannot run exec KRM functions and silently renders nothing for them; build with standalone `kustomize build --enable-alpha-plugins --enable-exec`, render with kpt, or use the legacy exec plugin form";

/// Whether an annotation value (itself YAML, e.g. `exec:\n  path: ksops`) names an exec runtime.
fn is_exec_spec(spec: &str) -> bool {
    if let Ok(l) = YamlStore.load(spec.as_bytes())
        && l.doc.branches.iter().any(|b| b.get("exec").is_some())
    {
        return true;
    }
    spec.lines().any(|l| l.trim_start().starts_with("exec:"))
}

/// The `kind/name` of every resource in a YAML stream that declares an exec function.
fn exec_functions(bytes: &[u8]) -> Vec<String> {
    let Ok(loaded) = YamlStore.load(bytes) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for doc in &loaded.doc.branches {
        let meta = doc.get("metadata").and_then(Value::as_map);
        let annotations = meta
            .and_then(|m| m.get("annotations"))
            .and_then(Value::as_map);
        let Some(annotations) = annotations else {
            continue;
        };
        let exec = ANNOTATIONS
            .iter()
            .filter_map(|a| annotations.get(a).and_then(Value::as_str))
            .any(is_exec_spec);
        if exec {
            let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("?");
            let name = meta
                .and_then(|m| m.get("name"))
                .and_then(Value::as_str)
                .unwrap_or("?");
            out.push(format!("{kind}/{name}"));
        }
    }
    out
}

fn strings(root: &Map, field: &str) -> Vec<String> {
    match root.get(field) {
        Some(Value::Seq(items)) => items
            .iter()
            .filter_map(|i| match i {
                SeqItem::Value(Value::Str(s)) => Some(s.as_str().to_owned()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn read_kustomization(dir: &Path, source: &dyn Source) -> Option<Map> {
    for name in KUSTOMIZATION_NAMES {
        if let Ok(Some(b)) = source.read(&dir.join(name)) {
            let loaded = YamlStore.load(&b).ok()?;
            return loaded.doc.branches.into_iter().next();
        }
    }
    None
}

/// Exec functions an entry refers to: inline YAML, a file, or a directory holding a
/// kustomization whose resources are function configurations.
fn entry_functions(dir: &Path, entry: &str, source: &dyn Source) -> Vec<String> {
    if entry.contains('\n') {
        return exec_functions(entry.as_bytes());
    }
    if entry.contains("://") || entry.starts_with("github.com/") {
        return Vec::new();
    }
    let target = normalize(&dir.join(entry));
    if let Ok(Some(b)) = source.read(&target) {
        return exec_functions(&b);
    }
    let Some(k) = read_kustomization(&target, source) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for r in strings(&k, "resources") {
        if r.contains("://") {
            continue;
        }
        if let Ok(Some(b)) = source.read(&normalize(&target.join(&r))) {
            out.extend(exec_functions(&b));
        }
    }
    out
}

/// Checks one kustomization file.
pub(crate) fn check(path: &Path, bytes: &[u8], source: &dyn Source, sink: &mut Sink<'_>) {
    let Ok(loaded) = YamlStore.load(bytes) else {
        return;
    };
    let Some(root) = loaded.doc.branches.first() else {
        return;
    };
    let dir = path.parent().unwrap_or(Path::new(""));
    for field in FUNCTION_FIELDS {
        for (i, entry) in strings(root, field).iter().enumerate() {
            let functions = entry_functions(dir, entry, source);
            if functions.is_empty() {
                continue;
            }
            let what = if entry.contains('\n') {
                format!("inline `{field}` entry {}", i + 1)
            } else {
                format!("`{field}` entry `{entry}`")
            };
            sink.push(
                Kind::KustomizeExec,
                format!(
                    "{what} declares a KRM function with an exec runtime ({}) via the config.kubernetes.io/function annotation",
                    functions.join(", ")
                ),
                HINT,
            );
        }
    }
}
