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
}

/// Reads and decrypts one sops-encrypted file. A file without sops metadata is an error:
/// every file a generator names must be encrypted.
pub fn decrypt_file(path: &Path, ctx: &KeyContext) -> Result<Decrypted, Error> {
    let shown = path.display().to_string();
    let input = crate::io::read_input(&shown)?;
    let format = format_of(path, &input);
    let loaded = ops::read_any(&input, &shown, format)?;
    let opened = ops::open(loaded, ctx, &OpenOptions::default()).map_err(|e| within(&shown, e))?;
    Ok(Decrypted {
        doc: opened.doc,
        format,
    })
}

/// Prefixes an error's message with the file it is about.
pub fn within(file: &str, e: Error) -> Error {
    e.within(file)
}
