//! The tree form of a key's description: a metadata entry (or a `.sops.yaml`
//! `key_groups` entry) as a [`Map`] ⇄ the plain [`KeyFields`] a key source reads and
//! writes. Key sources never see the tree; this is the only place that converts.
//!
//! Comment markers are dropped (sops writes none in its metadata); every value kind
//! round-trips, so an entry kept verbatim by `keys::opaque` is written back as read.

use crate::keys::FieldValue;
use crate::keys::KeyFields;
use crate::tree::Bytes;
use crate::tree::Item;
use crate::tree::Map;
use crate::tree::SeqItem;
use crate::tree::Value;

/// The fields of a metadata entry, in order, without comment markers.
pub(crate) fn fields_from_map(entry: &Map) -> KeyFields {
    KeyFields(
        entry
            .entries()
            .map(|(k, v)| (k.to_owned(), field_from_value(v)))
            .collect(),
    )
}

/// One value of an entry as plain data.
pub(crate) fn field_from_value(v: &Value) -> FieldValue {
    match v {
        Value::Map(m) => FieldValue::Map(fields_from_map(m)),
        Value::Seq(items) => FieldValue::List(
            items
                .iter()
                .filter_map(|i| match i {
                    SeqItem::Value(v) => Some(field_from_value(v)),
                    SeqItem::Comment(_) => None,
                })
                .collect(),
        ),
        Value::Str(s) => FieldValue::Str(s.as_str().to_owned()),
        Value::Bytes(b) => FieldValue::Bytes(b.as_slice().to_vec()),
        Value::Int(i) => FieldValue::Int(*i),
        Value::Float(f) => FieldValue::Float(*f),
        Value::Bool(b) => FieldValue::Bool(*b),
        Value::Time(t) => FieldValue::Time(*t),
        Value::Null => FieldValue::Null,
    }
}

/// The entry a key's fields describe, in the fields' order.
pub(crate) fn map_from_fields(fields: &KeyFields) -> Map {
    Map(fields
        .iter()
        .map(|(k, v)| Item::Entry(k.to_owned(), value_from_field(v)))
        .collect())
}

/// One plain value as a tree value.
pub(crate) fn value_from_field(v: &FieldValue) -> Value {
    match v {
        FieldValue::Str(s) => Value::str(s.as_str()),
        FieldValue::Map(m) => Value::Map(map_from_fields(m)),
        FieldValue::List(items) => Value::Seq(
            items
                .iter()
                .map(|v| SeqItem::Value(value_from_field(v)))
                .collect(),
        ),
        FieldValue::Int(i) => Value::Int(*i),
        FieldValue::Float(f) => Value::Float(*f),
        FieldValue::Bool(b) => Value::Bool(*b),
        FieldValue::Time(t) => Value::Time(*t),
        FieldValue::Bytes(b) => Value::Bytes(Bytes::new(b.clone())),
        FieldValue::Null => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    #[test]
    fn every_value_kind_round_trips_and_comments_are_dropped() {
        let mut nested = Map::new();
        nested.push("b", Value::str("2"));
        nested.push("a", Value::Int(1));
        let mut m = Map::new();
        m.push("s", Value::str("text"));
        m.0.push(Item::Comment(crate::tree::Comment::line("note")));
        m.push("ctx", Value::Map(nested));
        m.push(
            "list",
            Value::Seq(vec![
                SeqItem::Value(Value::Bool(true)),
                SeqItem::Value(Value::Float(1.5)),
            ]),
        );
        m.push("t", Value::Time(Timestamp::default()));
        m.push("raw", Value::Bytes(Bytes::new(vec![0xff, 0x00])));
        m.push("none", Value::Null);
        let fields = fields_from_map(&m);
        assert_eq!(fields.0.len(), 6, "the comment is not a field");
        assert_eq!(fields.get_str("s"), Some("text"));
        assert_eq!(
            fields
                .get("ctx")
                .and_then(FieldValue::as_map)
                .and_then(|c| c.get("a")),
            Some(&FieldValue::Int(1))
        );
        let back = map_from_fields(&fields);
        let mut expected = m.clone();
        expected.0.retain(|i| matches!(i, Item::Entry(..)));
        assert_eq!(back, expected);
    }
}
