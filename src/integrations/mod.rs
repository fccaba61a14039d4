//! Kubernetes and GitOps integrations: a kustomize secret generator (legacy exec plugin
//! and KRM function, also run by kpt) and the Argo CD config-management-plugin renderer.
//!
//! Everything here is library code: it reads files, decrypts them with [`crate::ops`] and
//! returns Kubernetes resources as trees and YAML bytes. Nothing prints; a decryption
//! failure is always an error (never is ciphertext passed on as if it were the output).

use std::path::Path;

use crate::error::Error;
use crate::error::exit;
use crate::ops;
use crate::ops::EmitOptions;
use crate::ops::Format;
use crate::ops::KeyContext;
use crate::ops::OpenOptions;
use crate::ops::Output;
use crate::tree::Document;
use crate::tree::Map;
use crate::tree::Value;

pub mod argocd;
pub use crate::ops::k8s;
pub mod kustomize;

/// The YAML layout of everything these integrations print: two-space indentation, the way
/// kubectl and kustomize write manifests.
pub const K8S_YAML: EmitOptions = EmitOptions { indent: Some(2) };

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

/// Writes resources as one YAML stream (`---` between documents).
pub fn emit_stream(resources: Vec<Map>) -> Result<Output, Error> {
    if resources.is_empty() {
        return Ok(Output::new(Vec::new()));
    }
    Format::Yaml
        .store()
        .emit(
            &Document {
                branches: resources,
            },
            None,
            &K8S_YAML,
        )
        .map_err(|e| {
            Error::new(
                exit::ERROR_DUMPING_TREE,
                format!("cannot write the resources as YAML: {e}"),
            )
        })
}

/// The string form of a scalar (what a dotenv or ConfigMap value would hold); `None` for
/// maps and lists. One rule for every place leafseal turns a value into text
/// ([`crate::format::flatten::render_scalar`], sops's dotenv rule: `5.0` stays `5.0`);
/// bytes that are not UTF-8 are decoded lossily here.
pub fn scalar_string(v: &Value) -> Option<crate::tree::Text> {
    match v {
        Value::Bytes(b) => Some(crate::tree::Text::new(
            String::from_utf8_lossy(b).into_owned(),
        )),
        other => crate::format::flatten::render_scalar(other)
            .map(|s| crate::tree::Text::new(s.as_str().to_owned())),
    }
}

/// A string field of a map (`None` when absent or not a string).
pub fn str_field<'a>(m: &'a Map, key: &str) -> Option<&'a str> {
    m.get(key).and_then(Value::as_str)
}

/// Whether a resource tree carries a top-level `sops` metadata map (an encrypted file that
/// a tool read as a plain resource).
pub fn has_sops_block(m: &Map) -> bool {
    m.get("sops")
        .and_then(Value::as_map)
        .is_some_and(|s| s.get("mac").is_some() || s.get("version").is_some())
}

#[cfg(test)]
mod scalar_tests {
    use super::scalar_string;
    use crate::tree::Value;

    /// The kustomize generator, exec-env and the dotenv/INI stores write a value the same
    /// way (they once disagreed on integral floats).
    #[test]
    fn every_renderer_agrees() {
        for (v, text) in [
            (Value::Float(5.0), "5.0"),
            (Value::Float(1e6), "1E+06"),
            (Value::Float(25.4), "25.4"),
            (Value::Int(5), "5"),
            (Value::Bool(true), "true"),
            (Value::Null, ""),
            (Value::str("x"), "x"),
        ] {
            let via_integrations = scalar_string(&v).expect("scalar");
            let via_stores = crate::format::flatten::render_scalar(&v).expect("scalar");
            assert_eq!(via_integrations.as_str(), text);
            assert_eq!(via_stores.as_str(), text);
        }
    }
}
