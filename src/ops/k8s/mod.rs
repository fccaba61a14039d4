//! The decoded view of Kubernetes Secret manifests (`decrypt --k8s-decode`, `edit`, the
//! git textconv driver): in every YAML document of `kind: Secret`, the values under
//! `data` are base64 — the view shows them decoded, and saving encodes them again.
//!
//! * Decoding: a `data` value that is valid standard base64 becomes its text, or a
//!   `!!binary` value when it is not UTF-8. Anything else (not a string, not valid
//!   base64) is shown as it is. `stringData` is already plain and is never touched.
//! * Encoding ([`encode`]): every `data` value whose decoded form did not change gets back
//!   its exact original string, so its plaintext — and, through the IV stash, its
//!   ciphertext — stays byte-identical; a changed or new value is written as standard
//!   padded base64 of its text (or of its bytes for `!!binary`; a number or boolean
//!   typed without quotes is encoded as its text).
//!
//! Also the resource helpers of the Kubernetes integrations ([`crate::integrations`]):
//! a YAML stream of resources ([`emit_stream`]), a scalar's text ([`scalar_string`]), and
//! the small resource model of `resource.rs` ([`Resource`], [`Fields`], [`Secret`]), through
//! which the integrations read configurations and build manifests without the tree.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::Error;
use crate::error::exit;
use crate::format::EmitOptions;
use crate::format::Format;
use crate::format::Output;
use crate::tree::Bytes;
use crate::tree::Document;
use crate::tree::Item;
use crate::tree::Map;
use crate::tree::Value;

mod resource;

pub use resource::Field;
pub use resource::Fields;
pub use resource::NotFlat;
pub use resource::Resource;
pub use resource::Secret;
pub use resource::Text;
pub use resource::emit_resources;
pub use resource::env_entries;
pub use resource::parse_resources;
pub use resource::plaintext_of;
pub use resource::resources_of;

/// Whether a YAML document is a Kubernetes Secret (`kind: Secret`).
pub fn is_secret(doc: &Map) -> bool {
    matches!(doc.get("kind"), Some(Value::Str(s)) if s.as_str() == "Secret")
}

/// Whether any document of `doc` is a Kubernetes Secret.
pub fn has_secret(doc: &Document) -> bool {
    doc.branches.iter().any(is_secret)
}

fn decode_value(v: &Value) -> Option<Value> {
    let Value::Str(s) = v else { return None };
    let raw = STANDARD.decode(s.as_str()).ok()?;
    Some(match String::from_utf8(raw) {
        Ok(text) => Value::str(text),
        Err(e) => Value::Bytes(Bytes::new(e.into_bytes())),
    })
}

/// Decodes the `data` values of every Secret in place; returns how many were decoded.
pub fn decode(doc: &mut Document) -> usize {
    let mut n = 0;
    for branch in doc.branches.iter_mut().filter(|b| is_secret(b)) {
        let Some(Value::Map(data)) = branch.get_mut("data") else {
            continue;
        };
        for item in &mut data.0 {
            if let Item::Entry(_, v) = item
                && let Some(d) = decode_value(v)
            {
                *v = d;
                n += 1;
            }
        }
    }
    n
}

fn encode_value(v: &Value) -> Option<Value> {
    match v {
        Value::Str(s) => Some(Value::str(STANDARD.encode(s.as_str().as_bytes()))),
        Value::Bytes(b) => Some(Value::str(STANDARD.encode(b.as_slice()))),
        Value::Null | Value::Map(_) | Value::Seq(_) => None,
        other => crate::format::flatten::render_scalar(other)
            .map(|t| Value::str(STANDARD.encode(t.as_bytes()))),
    }
}

/// Encodes the `data` values of every Secret of `edited` (a decoded view) back to
/// base64. `original` is the document before [`decode`]: a value whose decoded form is
/// unchanged gets its original string back, byte for byte. Documents are matched by
/// position, keys by name.
pub fn encode(edited: &mut Document, original: &Document) {
    for (i, branch) in edited.branches.iter_mut().enumerate() {
        if !is_secret(branch) {
            continue;
        }
        let orig_data = original
            .branches
            .get(i)
            .filter(|b| is_secret(b))
            .and_then(|b| match b.get("data") {
                Some(Value::Map(m)) => Some(m),
                _ => None,
            });
        let Some(Value::Map(data)) = branch.get_mut("data") else {
            continue;
        };
        for item in &mut data.0 {
            let Item::Entry(k, v) = item else { continue };
            if let Some(orig) = orig_data.and_then(|m| m.get(k)) {
                let view = decode_value(orig).unwrap_or_else(|| orig.clone());
                if view == *v {
                    *v = orig.clone();
                    continue;
                }
            }
            if let Some(e) = encode_value(v) {
                *v = e;
            }
        }
    }
}

/// The YAML layout of everything these integrations print: two-space indentation, the way
/// kubectl and kustomize write manifests.
pub const K8S_YAML: EmitOptions = EmitOptions { indent: Some(2) };

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
pub fn scalar_string(v: &Value) -> Option<Text> {
    match v {
        Value::Bytes(b) => Some(Text::new(String::from_utf8_lossy(b).into_owned())),
        other => {
            crate::format::flatten::render_scalar(other).map(|s| Text::new(s.as_str().to_owned()))
        }
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
mod tests;
