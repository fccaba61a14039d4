//! How a master key describes itself: its identifying fields as plain data.
//!
//! A key source never sees the document tree. It reads a [`KeyFields`] (parsed from a
//! metadata entry or a `.sops.yaml` `key_groups` entry by `crate::metadata` and
//! `crate::policy`) and writes one (which `crate::metadata` turns into the entry). The
//! order of the fields is the order in which they are written.

use crate::time::Timestamp;

/// One field value of a key's description.
///
/// Key sources only ever write [`FieldValue::Str`] and [`FieldValue::Map`]; the other
/// variants exist so that an entry this build cannot use ([`super::opaque::OpaqueKey`])
/// survives a rewrite unchanged.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// A string.
    Str(String),
    /// A nested mapping (AWS KMS `context`).
    Map(KeyFields),
    /// A list.
    List(Vec<FieldValue>),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A timestamp.
    Time(Timestamp),
    /// Bytes that are not UTF-8.
    Bytes(Vec<u8>),
    /// No value.
    Null,
}

impl FieldValue {
    /// A string value.
    pub fn str(s: impl Into<String>) -> Self {
        FieldValue::Str(s.into())
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            FieldValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The mapping, if this is one.
    pub fn as_map(&self) -> Option<&KeyFields> {
        match self {
            FieldValue::Map(m) => Some(m),
            _ => None,
        }
    }

    /// A scalar written as text the way sops's YAML decoding would give it to a string
    /// field (`42`, `true`, `1.5`); `None` for strings' absence, maps, lists and null.
    pub fn scalar_text(&self) -> Option<String> {
        match self {
            FieldValue::Str(s) => Some(s.clone()),
            FieldValue::Int(i) => Some(i.to_string()),
            FieldValue::Bool(b) => Some(b.to_string()),
            FieldValue::Float(f) => Some(f.to_string()),
            _ => None,
        }
    }
}

/// A key's fields, in order. Names may repeat only if the source entry repeated them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KeyFields(pub Vec<(String, FieldValue)>);

impl KeyFields {
    /// No fields.
    pub fn new() -> Self {
        KeyFields(Vec::new())
    }

    /// Appends a field.
    pub fn push(&mut self, name: impl Into<String>, value: FieldValue) {
        self.0.push((name.into(), value));
    }

    /// Appends a string field.
    pub fn push_str(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.push(name, FieldValue::Str(value.into()));
    }

    /// Removes every field named `name` and returns the first one's value.
    pub fn remove(&mut self, name: &str) -> Option<FieldValue> {
        let i = self.0.iter().position(|(k, _)| k == name)?;
        let first = self.0.remove(i).1;
        self.0.retain(|(k, _)| k != name);
        Some(first)
    }

    /// The first field named `name`.
    pub fn get(&self, name: &str) -> Option<&FieldValue> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// The string field named `name`, if it is present and a string.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(FieldValue::as_str)
    }

    /// The fields in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &FieldValue)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
