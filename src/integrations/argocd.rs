//! The Argo CD config-management-plugin renderer for plain-manifest directories: every
//! `*.yaml`, `*.yml` and `*.json` file under a directory, in sorted order, decrypted when
//! it is sops-encrypted and passed through otherwise, as one YAML stream.

use std::path::Path;
use std::path::PathBuf;

use crate::error::Error;
use crate::error::exit;
use crate::integrations;
use crate::integrations::Rendered;
use crate::integrations::confine;
pub use crate::integrations::confine::LoadRestrictor;
use crate::ops;
use crate::ops::Format;
use crate::ops::KeyContext;
use crate::ops::Output;

/// How to walk the application directory.
#[derive(Debug, Clone)]
pub struct WalkOptions {
    /// Descend into subdirectories (default true).
    pub recurse: bool,
    /// Whether a manifest may resolve (through a symbolic link) to a file outside the
    /// application directory (default: refused, exit 2, as Argo CD refuses links that
    /// leave the repository).
    pub restrictor: LoadRestrictor,
}

impl Default for WalkOptions {
    fn default() -> Self {
        WalkOptions {
            recurse: true,
            restrictor: LoadRestrictor::RootOnly,
        }
    }
}

/// File names that are configuration, not manifests, and are never rendered.
pub const SKIPPED_NAMES: [&str; 6] = [
    ".sops.yaml",
    "kustomization.yaml",
    "kustomization.yml",
    "Kustomization",
    "Kptfile",
    "plugin.yaml",
];

fn io_err(p: &Path, e: std::io::Error) -> Error {
    Error::new(
        exit::COULD_NOT_READ_INPUT,
        format!("cannot read {}: {e}", p.display()),
    )
}

fn is_manifest(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    (lower.ends_with(".yaml") || lower.ends_with(".yml") || lower.ends_with(".json"))
        && !name.starts_with('.')
        && !SKIPPED_NAMES.contains(&name)
}

/// The manifest files under `dir`, sorted by path (hidden files and directories skipped).
pub fn manifest_files(dir: &Path, opts: &WalkOptions) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(|e| io_err(&d, e))? {
            let entry = entry.map_err(|e| io_err(&d, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let ty = entry.file_type().map_err(|e| io_err(&entry.path(), e))?;
            if ty.is_dir() {
                if opts.recurse && !name.starts_with('.') {
                    stack.push(entry.path());
                }
            } else if is_manifest(&name) {
                // A FIFO would block the render and a device never ends; git stores
                // neither, but other sources (archives) may (round 21). Links are
                // checked where they lead, by the reader.
                if !ty.is_file() && !ty.is_symlink() {
                    return Err(Error::new(
                        exit::COULD_NOT_READ_INPUT,
                        format!(
                            "{} is not a regular file (a FIFO, socket or device); it is not read",
                            crate::redact::inert(&entry.path().display().to_string())
                        ),
                    )
                    .hint("remove it from the application directory"));
                }
                out.push(entry.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Renders one file: decrypted YAML when encrypted, the bytes as they are for plain YAML,
/// YAML converted from plain JSON; with the notes of the decryption (see
/// [`integrations::open_for_render`]).
pub fn render_file(path: &Path, ctx: &KeyContext) -> Result<(Output, Vec<String>), Error> {
    render_input(
        path,
        crate::io::read_input(&path.display().to_string())?,
        ctx,
    )
}

/// [`render_file`] of the bytes read from `path`.
fn render_input(
    path: &Path,
    input: Output,
    ctx: &KeyContext,
) -> Result<(Output, Vec<String>), Error> {
    let shown = path.display().to_string();
    let format = integrations::format_of(path, &input);
    let loaded = ops::read_any(&input, &shown, format)?;
    if loaded.meta.is_none() {
        if format == Format::Yaml {
            return Ok((input, Vec::new()));
        }
        return Ok((integrations::emit_stream(loaded.doc.branches)?, Vec::new()));
    }
    let opened = integrations::open_for_render(loaded, path, ctx)?;
    Ok((
        integrations::emit_stream(opened.doc.branches)?,
        opened.warnings,
    ))
}

/// Renders every manifest under `dir` into one YAML stream; any failure fails it all.
pub fn generate(dir: &Path, opts: &WalkOptions, ctx: &KeyContext) -> Result<Rendered, Error> {
    let mut all = Output::new(Vec::new());
    let mut warnings = Vec::new();
    for f in manifest_files(dir, opts)? {
        let input = confine::read(&f, opts.restrictor.limit(dir))?;
        let (out, notes) = render_input(&f, input, ctx)?;
        warnings.extend(notes);
        let body = strip_document_start(&out);
        if body.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if !all.is_empty() {
            all.extend_from_slice(b"---\n");
        }
        all.extend_from_slice(body);
        if !body.ends_with(b"\n") {
            all.push(b'\n');
        }
    }
    Ok(Rendered {
        yaml: all,
        warnings,
    })
}

/// Drops a leading `---` line, so files are joined with exactly one separator.
fn strip_document_start(b: &[u8]) -> &[u8] {
    let rest = b.strip_prefix(b"---").unwrap_or(b);
    if rest.len() < b.len() && matches!(rest.first(), None | Some(b'\n' | b'\r')) {
        rest.strip_prefix(b"\r\n")
            .or_else(|| rest.strip_prefix(b"\n"))
            .unwrap_or(rest)
    } else {
        b
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn manifest_names() {
        assert!(is_manifest("a.yaml"));
        assert!(is_manifest("b.YML"));
        assert!(is_manifest("c.json"));
        assert!(!is_manifest(".sops.yaml"));
        assert!(!is_manifest("kustomization.yaml"));
        assert!(!is_manifest("notes.txt"));
        assert!(!is_manifest(".hidden.yaml"));
    }

    /// Round 21: a FIFO named like a manifest blocked `argocd generate` forever.
    #[test]
    fn a_fifo_named_like_a_manifest_is_refused() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.yaml"), "a: 1\n").unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(d.path().join("f.yaml"))
            .status()
            .unwrap();
        assert!(made.success());
        let e = manifest_files(d.path(), &WalkOptions::default()).unwrap_err();
        assert_eq!(e.code, exit::COULD_NOT_READ_INPUT);
        assert!(
            e.message.contains("f.yaml") && e.message.contains("not a regular file"),
            "{}",
            e.message
        );
    }

    #[test]
    fn document_start_is_stripped_once() {
        assert_eq!(strip_document_start(b"---\na: 1\n"), b"a: 1\n");
        assert_eq!(strip_document_start(b"a: 1\n"), b"a: 1\n");
        assert_eq!(strip_document_start(b"--- a\n"), b"--- a\n");
        assert_eq!(strip_document_start(b"---"), b"");
    }
}
