//! A small model of Kubernetes resources for the integrations (the kustomize generator and
//! its KRM function), so that they read configurations and build manifests without the
//! document tree:
//!
//! * [`Resource`]: one resource (a YAML document) as an opaque value, with the few reads
//!   and changes the KRM protocol needs (kind, annotations, a nested resource, the
//!   resources of a list, appending to a list);
//! * [`Field`] / [`Fields`]: a configuration resource as plain data, scalars rendered by
//!   the one scalar renderer ([`super::scalar_string`]);
//! * [`Secret`]: a Secret manifest as plain data (kind, name, namespace, labels,
//!   annotations, type, `data` and `stringData` entries as rendered strings);
//! * decrypted files as resources ([`resources_of`]), as flat entries ([`env_entries`])
//!   and as their plaintext bytes ([`plaintext_of`]).

use std::borrow::Cow;

use crate::format::Format;
use crate::format::FormatError;
use crate::format::Output;
use crate::tree::Document;
use crate::tree::Map;
use crate::tree::SeqItem;
use crate::tree::Value;

pub use crate::tree::Text;

use super::K8S_YAML;
use super::has_sops_block;
use super::scalar_string;
use super::str_field;

/// One Kubernetes resource (one YAML document), held as an opaque value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Resource(Map);

impl Resource {
    /// A string field at the top level (`None` when absent or not a string).
    pub fn str_field(&self, key: &str) -> Option<&str> {
        str_field(&self.0, key)
    }

    /// `kind`.
    pub fn kind(&self) -> Option<&str> {
        self.str_field("kind")
    }

    fn metadata(&self) -> Option<&Map> {
        self.0.get("metadata").and_then(Value::as_map)
    }

    /// `metadata.name`.
    pub fn name(&self) -> Option<&str> {
        self.metadata().and_then(|m| str_field(m, "name"))
    }

    /// `metadata.namespace`.
    pub fn namespace(&self) -> Option<&str> {
        self.metadata().and_then(|m| str_field(m, "namespace"))
    }

    /// A string annotation (`metadata.annotations.KEY`).
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.metadata()
            .and_then(|m| m.get("annotations"))
            .and_then(Value::as_map)
            .and_then(|a| str_field(a, key))
    }

    /// Whether the resource carries a top-level `sops` metadata map: an encrypted file
    /// that a tool read as a plain resource.
    pub fn is_encrypted(&self) -> bool {
        has_sops_block(&self.0)
    }

    /// Whether the resource has no fields at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The map at `key` as a resource of its own (a ResourceList's `functionConfig`).
    pub fn child(&self, key: &str) -> Option<Resource> {
        self.0
            .get(key)
            .and_then(Value::as_map)
            .cloned()
            .map(Resource)
    }

    /// The maps of the list at `key` (a ResourceList's `items`); empty when it is absent
    /// or not a list.
    pub fn children(&self, key: &str) -> Vec<Resource> {
        match self.0.get(key) {
            Some(Value::Seq(items)) => items
                .iter()
                .filter_map(|i| match i {
                    SeqItem::Value(Value::Map(m)) => Some(Resource(m.clone())),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Appends resources to the list at `key`; a `key` that is absent or not a list is
    /// replaced by a new list, as the last field.
    pub fn append(&mut self, key: &str, resources: Vec<Resource>) {
        let new = resources
            .into_iter()
            .map(|r| SeqItem::Value(Value::Map(r.0)));
        if let Some(Value::Seq(items)) = self.0.get_mut(key) {
            items.extend(new);
            return;
        }
        self.0.remove(key);
        self.0.push(key, Value::Seq(new.collect()));
    }

    /// The resource as plain data (see [`Field`]).
    pub fn fields(&self) -> Fields {
        fields_of(&self.0)
    }

    /// The resource as one YAML document, laid out as kubectl writes manifests.
    pub fn to_yaml(&self) -> Result<Output, FormatError> {
        Format::Yaml
            .store()
            .emit(&Document::single(self.0.clone()), None, &K8S_YAML)
    }

    /// The resource's tree (for [`super::emit_stream`]).
    pub(crate) fn into_map(self) -> Map {
        self.0
    }
}

/// A value of a configuration resource as plain data. Configurations are not secret:
/// this is for generator configurations and ResourceLists, never for decrypted values.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    /// `null` (or an empty value).
    Null,
    /// A string.
    Str(String),
    /// A boolean.
    Bool(bool),
    /// Any other scalar (a number, a timestamp, bytes), as its text.
    Scalar(String),
    /// A list (comment lines dropped).
    List(Vec<Field>),
    /// A map.
    Map(Fields),
}

impl Field {
    /// The string, if this is one (not another scalar).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Field::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The map, if this is one.
    pub fn as_map(&self) -> Option<&Fields> {
        match self {
            Field::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The text of a scalar as the one scalar renderer writes it (`5.0` stays `5.0`,
    /// `true`, the empty string for `null`); `None` for lists and maps.
    pub fn text(&self) -> Option<Cow<'_, str>> {
        match self {
            Field::Null => Some(Cow::Borrowed("")),
            Field::Str(s) | Field::Scalar(s) => Some(Cow::Borrowed(s)),
            Field::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            Field::List(_) | Field::Map(_) => None,
        }
    }
}

/// A map of a configuration resource as plain data, in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Fields(pub Vec<(String, Field)>);

impl Fields {
    /// The value at `key`.
    pub fn get(&self, key: &str) -> Option<&Field> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The string at `key` (`None` when absent or not a string).
    pub fn str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Field::as_str)
    }

    /// The entries, in order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Field)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }
}

fn field_of(v: &Value) -> Field {
    match v {
        Value::Null => Field::Null,
        Value::Str(s) => Field::Str(s.as_str().to_owned()),
        Value::Bool(b) => Field::Bool(*b),
        Value::Map(m) => Field::Map(fields_of(m)),
        Value::Seq(items) => Field::List(
            items
                .iter()
                .filter_map(|i| match i {
                    SeqItem::Value(v) => Some(field_of(v)),
                    SeqItem::Comment(_) => None,
                })
                .collect(),
        ),
        other => Field::Scalar(
            scalar_string(other)
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default(),
        ),
    }
}

fn fields_of(m: &Map) -> Fields {
    Fields(
        m.entries()
            .map(|(k, v)| (k.to_owned(), field_of(v)))
            .collect(),
    )
}

/// A Kubernetes Secret as plain data. [`Secret::to_resource`] writes it in the field
/// order kubectl uses (`apiVersion`, `kind`, `metadata`, `type`, `data`, `stringData`).
#[derive(Debug, Clone, Default)]
pub struct Secret {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: Option<String>,
    /// `metadata.labels`, in order (omitted when empty).
    pub labels: Vec<(String, String)>,
    /// `metadata.annotations`, in order (omitted when empty).
    pub annotations: Vec<(String, String)>,
    /// `type` (e.g. `Opaque`).
    pub type_: String,
    /// `data`: base64 values, in order (always written, even when empty).
    pub data: Vec<(String, Text)>,
    /// `stringData`: plain values, in order (omitted when empty).
    pub string_data: Vec<(String, Text)>,
}

fn pairs(p: &[(String, String)]) -> Value {
    let mut m = Map::new();
    for (k, v) in p {
        m.push(k.as_str(), Value::str(v.as_str()));
    }
    Value::Map(m)
}

fn texts(p: &[(String, Text)]) -> Value {
    let mut m = Map::new();
    for (k, v) in p {
        m.push(k.as_str(), Value::Str(v.clone()));
    }
    Value::Map(m)
}

/// The entries of a map whose values are scalars, rendered by the one scalar renderer;
/// other values are left out.
fn rendered(m: Option<&Map>) -> Vec<(String, Text)> {
    m.map(|m| {
        m.entries()
            .filter_map(|(k, v)| scalar_string(v).map(|t| (k.to_owned(), t)))
            .collect()
    })
    .unwrap_or_default()
}

impl Secret {
    /// The Secret as a resource.
    pub fn to_resource(&self) -> Resource {
        let mut meta = Map::new();
        meta.push("name", Value::str(self.name.as_str()));
        if let Some(ns) = &self.namespace {
            meta.push("namespace", Value::str(ns.as_str()));
        }
        if !self.labels.is_empty() {
            meta.push("labels", pairs(&self.labels));
        }
        if !self.annotations.is_empty() {
            meta.push("annotations", pairs(&self.annotations));
        }
        let mut secret = Map::new();
        secret.push("apiVersion", Value::str("v1"));
        secret.push("kind", Value::str("Secret"));
        secret.push("metadata", Value::Map(meta));
        secret.push("type", Value::str(self.type_.as_str()));
        secret.push("data", texts(&self.data));
        if !self.string_data.is_empty() {
            secret.push("stringData", texts(&self.string_data));
        }
        Resource(secret)
    }

    /// Reads a Secret manifest (`None` for any other kind): the metadata strings, and the
    /// `data` and `stringData` entries as rendered strings (a value that is a map or a
    /// list is left out; `data` values stay base64).
    pub fn from_resource(r: &Resource) -> Option<Secret> {
        if r.kind() != Some("Secret") {
            return None;
        }
        let meta = r.metadata();
        let strings = |key: &str| -> Vec<(String, String)> {
            rendered(meta.and_then(|m| m.get(key)).and_then(Value::as_map))
                .into_iter()
                .map(|(k, v)| (k, v.as_str().to_owned()))
                .collect()
        };
        let map = |key: &str| r.0.get(key).and_then(Value::as_map);
        Some(Secret {
            name: r.name().unwrap_or_default().to_owned(),
            namespace: r.namespace().map(str::to_owned),
            labels: strings("labels"),
            annotations: strings("annotations"),
            type_: r.str_field("type").unwrap_or_default().to_owned(),
            data: rendered(map("data")),
            string_data: rendered(map("stringData")),
        })
    }
}

/// Parses a YAML stream into its resources, one per document (an empty document is an
/// empty resource).
pub fn parse_resources(bytes: &[u8]) -> Result<Vec<Resource>, FormatError> {
    let loaded = Format::Yaml.store().load(bytes)?;
    Ok(loaded.doc.branches.into_iter().map(Resource).collect())
}

/// The resources of a decrypted document, empty documents left out.
pub fn resources_of(doc: Document) -> Vec<Resource> {
    doc.branches
        .into_iter()
        .filter(|b| !b.is_empty())
        .map(Resource)
        .collect()
}

/// Why a document is not a flat list of key/value pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotFlat {
    /// The first key whose value is not a scalar.
    pub key: String,
    /// What that value is (`map`, `list`), never the value.
    pub kind: &'static str,
}

/// The top-level entries of a decrypted document's first part (a dotenv file, a flat YAML
/// or JSON map), every value rendered by the one scalar renderer (`5.0` stays `5.0`).
pub fn env_entries(doc: &Document) -> Result<Vec<(String, Text)>, NotFlat> {
    let Some(first) = doc.branches.first() else {
        return Ok(Vec::new());
    };
    first
        .entries()
        .map(|(k, v)| {
            scalar_string(v).map(|t| (k.to_owned(), t)).ok_or(NotFlat {
                key: k.to_owned(),
                kind: v.kind_name(),
            })
        })
        .collect()
}

/// The plaintext of a decrypted file: the raw bytes of a binary file (`None` when it has
/// no `data` value), else the document written back in its own format.
pub fn plaintext_of(doc: &Document, format: Format) -> Result<Option<Output>, FormatError> {
    if format == Format::Binary {
        return Ok(match doc.branches.first().and_then(|b| b.get("data")) {
            Some(Value::Str(s)) => Some(Output::new(s.as_bytes().to_vec())),
            Some(Value::Bytes(b)) => Some(Output::new(b.to_vec())),
            _ => None,
        });
    }
    format
        .store()
        .emit(doc, None, &Default::default())
        .map(Some)
}

/// Writes resources as one YAML stream (`---` between documents); no resources is empty
/// output.
pub fn emit_resources(resources: Vec<Resource>) -> Result<Output, crate::error::Error> {
    super::emit_stream(resources.into_iter().map(Resource::into_map).collect())
}
