//! Kubernetes and GitOps integrations: a kustomize secret generator (legacy exec plugin
//! and KRM function, also run by kpt) and the Argo CD config-management-plugin renderer.
//!
//! Everything here is library code: it reads files, decrypts them with [`crate::ops`] and
//! returns Kubernetes resources ([`crate::ops::k8s::Resource`]) and YAML bytes. Nothing prints; a decryption
//! failure is always an error (never is ciphertext passed on as if it were the output).

use std::path::Path;

use crate::error::Error;
use crate::ops;
use crate::ops::Document;
use crate::ops::Format;
use crate::ops::KeyContext;
use crate::ops::OpenOptions;

pub mod argocd;
pub mod confine;
pub use crate::ops::k8s;
pub use crate::ops::k8s::K8S_YAML;
pub use crate::ops::k8s::emit_stream;
pub use crate::ops::k8s::has_sops_block;
pub use crate::ops::k8s::scalar_string;
pub use crate::ops::k8s::str_field;
pub mod kustomize;

/// The format of a file from its name (a `.toml` file holding a TOML `sops` table is read
/// with the TOML store, as the `decrypt` command does).
pub fn format_of(path: &Path, bytes: &[u8]) -> Format {
    ops::format_of_stored(&path.to_string_lossy(), bytes)
}

/// A decrypted file.
#[derive(Debug)]
pub struct Decrypted {
    /// The plaintext document.
    pub doc: Document,
    /// The file's format.
    pub format: Format,
    /// Notes for stderr, each naming the file (never a value): a missing or stale
    /// integrity record.
    pub warnings: Vec<String>,
}

/// What a generator or renderer prints, and its notes for stderr.
#[derive(Debug)]
pub struct Rendered {
    /// The YAML to print.
    pub yaml: crate::ops::Output,
    /// Notes for stderr (never a value).
    pub warnings: Vec<String>,
}

/// Whether the strict integrity setting covers the file at `path`: a `.sops.yaml` in its
/// directory or any directory above it (the path as named and with links resolved)
/// sets `leafseal: {strict_integrity: true}`, or cannot be read (it cannot switch the
/// setting off). Every policy on the way counts, not the nearest one only: a policy
/// planted in an application's directory must not switch off the repository's setting
/// for the renderer (round-21 review: the generators and `argocd generate` read no
/// policy at all, so a file whose record was removed rendered without a word).
pub fn strict_integrity_for(path: &Path) -> bool {
    let named = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| named.clone());
    let mut seen = std::collections::HashSet::new();
    [named, real].iter().any(|p| {
        p.ancestors().skip(1).any(|dir| {
            let policy = dir.join(crate::policy::FILE_NAME);
            seen.insert(policy.clone())
                && std::fs::symlink_metadata(&policy).is_ok()
                && crate::policy::Policy::load_for_reading(&policy)
                    .map_or(true, |p| p.strict_integrity)
        })
    })
}

/// Opens a loaded file under the strict integrity setting that covers it (see
/// [`strict_integrity_for`]; `LEAFSEAL_STRICT_INTEGRITY` in the context counts too).
pub fn open_for_render(
    loaded: ops::Loaded,
    path: &Path,
    ctx: &KeyContext,
) -> Result<ops::Opened, Error> {
    let shown = path.display().to_string();
    let opts = OpenOptions {
        strict_integrity: strict_integrity_for(path),
        ..OpenOptions::default()
    };
    let mut opened = ops::open(loaded, ctx, &opts).map_err(|e| within(&shown, e))?;
    for w in &mut opened.warnings {
        *w = format!("{}: {w}", crate::redact::inert(&shown));
    }
    Ok(opened)
}

/// Reads and decrypts one sops-encrypted file. A file without sops metadata is an error:
/// every file a generator names must be encrypted.
pub fn decrypt_file(path: &Path, ctx: &KeyContext) -> Result<Decrypted, Error> {
    decrypt_within(path, None, ctx)
}

/// [`decrypt_file`] of a file that must be inside `limit` (links resolved, the file
/// opened checked: [`confine::read`]); `None` allows any path.
pub fn decrypt_within(
    path: &Path,
    limit: Option<&Path>,
    ctx: &KeyContext,
) -> Result<Decrypted, Error> {
    let shown = path.display().to_string();
    let input = confine::read(path, limit)?;
    let format = format_of(path, &input);
    let loaded = ops::read_any(&input, &shown, format)?;
    let opened = open_for_render(loaded, path, ctx)?;
    Ok(Decrypted {
        doc: opened.doc,
        format,
        warnings: opened.warnings,
    })
}

/// Prefixes an error's message with the file it is about.
pub fn within(file: &str, e: Error) -> Error {
    e.within(file)
}
