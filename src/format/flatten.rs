//! Flattening of the metadata tree for dotenv (`sops_` prefix) and INI (`[sops]` section):
//! `__map_<name>` for a map member, `__list_<index>` for a list element.
//!
//! [`flatten`] turns the nested metadata [`Map`] into `(flat key, string)` pairs in
//! depth-first order, following the map's own order (the caller sorts it the way the
//! targeted sops version does). [`unflatten`] is the inverse; it accepts the pairs in any
//! order (files before sops 3.13 have the keys sorted as strings or in random order).
//!
//! The scalar rendering used here ([`render_scalar`]) is also the one the dotenv and INI
//! stores use for non-string values (sops's `ValToString`).

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::collections::HashSet;

use zeroize::Zeroizing;

use crate::format::FormatError;
use crate::tree::Item;
use crate::tree::Map;
use crate::tree::SeqItem;
use crate::tree::Value;

/// Separator before a map member's name.
pub const MAP_SEPARATOR: &str = "__map_";
/// Separator before a list element's index.
pub const LIST_SEPARATOR: &str = "__list_";

/// Maximum number of path segments in one flat key (the real metadata needs 6).
const MAX_DEPTH: usize = 64;

const FORMAT: &str = "metadata";

pub use super::number::go_format_float_g;

/// Renders a float like sops's `ValToString`: Go `%G` with the shortest digits, and `.0`
/// appended to finite values that would otherwise look like integers (`5` → `5.0`,
/// `1e6` → `1E+06`, `25.4` → `25.4`, NaN → `NaN`).
pub fn render_float(f: f64) -> String {
    let mut s = go_format_float_g(f, true);
    if f.is_finite() && !s.contains('.') && !s.contains('E') {
        s.push_str(".0");
    }
    s
}

/// Renders a scalar the way sops's dotenv and INI stores write non-container values:
/// strings as they are, ints in decimal, bools `true`/`false`, floats per
/// [`render_float`], timestamps RFC 3339 with seconds precision. Null renders as the empty
/// string (sops would write Go's `<nil>`). `None` for containers and for bytes that are not
/// valid UTF-8.
pub fn render_scalar(value: &Value) -> Option<Zeroizing<String>> {
    Some(Zeroizing::new(match value {
        Value::Str(s) => s.as_str().to_owned(),
        Value::Bytes(b) => std::str::from_utf8(b.as_slice()).ok()?.to_owned(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => render_float(*f),
        Value::Bool(b) => if *b { "true" } else { "false" }.to_owned(),
        Value::Time(t) => t.to_rfc3339(),
        Value::Null => String::new(),
        Value::Map(_) | Value::Seq(_) => return None,
    }))
}

/// Flattens the metadata tree into `(flat key, value)` pairs: depth-first, in the map's
/// order; a map member adds `__map_<name>`, a list element `__list_<i>` (comment markers
/// do not take an index); the top level has no separator. Nulls, empty maps and empty
/// lists produce nothing. Two leaves that flatten to the same key are an error.
pub fn flatten(meta: &Map) -> Result<Vec<(String, String)>, FormatError> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    flatten_map(meta, "", &mut out, &mut seen, 0)?;
    Ok(out)
}

fn flatten_map(
    map: &Map,
    prefix: &str,
    out: &mut Vec<(String, String)>,
    seen: &mut HashSet<String>,
    depth: usize,
) -> Result<(), FormatError> {
    for item in &map.0 {
        if let Item::Entry(k, v) = item {
            flatten_value(v, format!("{prefix}{k}"), out, seen, depth)?;
        }
    }
    Ok(())
}

fn flatten_value(
    value: &Value,
    key: String,
    out: &mut Vec<(String, String)>,
    seen: &mut HashSet<String>,
    depth: usize,
) -> Result<(), FormatError> {
    if depth > MAX_DEPTH {
        return Err(FormatError::new(FORMAT, "metadata is nested too deeply"));
    }
    match value {
        Value::Map(m) => flatten_map(m, &format!("{key}{MAP_SEPARATOR}"), out, seen, depth + 1),
        Value::Seq(items) => {
            let values = items.iter().filter_map(|i| match i {
                SeqItem::Value(v) => Some(v),
                SeqItem::Comment(_) => None,
            });
            for (i, v) in values.enumerate() {
                flatten_value(v, format!("{key}{LIST_SEPARATOR}{i}"), out, seen, depth + 1)?;
            }
            Ok(())
        }
        Value::Null => Ok(()),
        leaf => {
            let text = render_scalar(leaf)
                .ok_or_else(|| FormatError::new(FORMAT, "metadata value is not valid UTF-8"))?;
            if !seen.insert(key.clone()) {
                return Err(FormatError::new(
                    FORMAT,
                    "two metadata entries flatten to the same key",
                ));
            }
            out.push((key, text.as_str().to_owned()));
            Ok(())
        }
    }
}

/// One path segment of a flat key.
enum Token<'a> {
    Key(&'a str),
    Index(usize),
}

/// Splits a flat key the way sops does: scanning left to right, every occurrence of
/// `__map_` or `__list_` starts a new segment.
fn tokenize(path: &str) -> Result<Vec<Token<'_>>, FormatError> {
    #[derive(Clone, Copy)]
    enum State {
        Normal,
        Map,
        List,
    }
    let bytes = path.as_bytes();
    let mut tokens = Vec::new();
    let mut state = State::Normal;
    let mut start = 0;
    let mut i = 0;
    let mut finish = |state: State, start: usize, end: usize| -> Result<(), FormatError> {
        let tok = match state {
            State::Normal => Token::Key(path.get(start..end).unwrap_or("")),
            State::Map => Token::Key(path.get(start + MAP_SEPARATOR.len()..end).unwrap_or("")),
            State::List => {
                let digits = path.get(start + LIST_SEPARATOR.len()..end).unwrap_or("");
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(FormatError::new(
                        FORMAT,
                        "invalid list index in metadata key",
                    ));
                }
                Token::Index(digits.parse::<usize>().map_err(|_| {
                    FormatError::new(FORMAT, "list index out of range in metadata key")
                })?)
            }
        };
        tokens.push(tok);
        if tokens.len() > MAX_DEPTH {
            return Err(FormatError::new(
                FORMAT,
                "metadata key is nested too deeply",
            ));
        }
        Ok(())
    };
    while i < bytes.len() {
        let rest = bytes.get(i..).unwrap_or(&[]);
        if rest.starts_with(MAP_SEPARATOR.as_bytes()) {
            finish(state, start, i)?;
            state = State::Map;
            start = i;
            i += MAP_SEPARATOR.len();
        } else if rest.starts_with(LIST_SEPARATOR.as_bytes()) {
            finish(state, start, i)?;
            state = State::List;
            start = i;
            i += LIST_SEPARATOR.len();
        } else {
            i += 1;
        }
    }
    finish(state, start, bytes.len())?;
    Ok(tokens)
}

/// A node of the un-flattening arena.
#[derive(Default)]
struct Node {
    value: Option<String>,
    keys: Vec<(String, usize)>,
    key_index: HashMap<String, usize>,
    indices: BTreeMap<usize, usize>,
}

/// Un-flattens `(flat key, value)` pairs (the `sops_` prefix already removed) into the
/// nested metadata map. The pairs may come in any order; list indices are sorted
/// numerically and must be contiguous from 0; a name may not be both a leaf and a
/// container; the same flat key twice is an error. Leaves become [`Value::Str`], except
/// `shamir_threshold`, which becomes a number; map members keep their first-seen order.
pub fn unflatten(items: Vec<(String, String)>) -> Result<Map, FormatError> {
    let mut arena: Vec<Node> = vec![Node::default()];
    for (key, value) in items {
        let tokens = tokenize(&key)?;
        let mut cur = 0usize;
        for tok in tokens {
            let existing = match (&tok, arena.get(cur)) {
                (Token::Key(k), Some(n)) => n.key_index.get(*k).copied(),
                (Token::Index(i), Some(n)) => n.indices.get(i).copied(),
                (_, None) => None,
            };
            let next = match existing {
                Some(n) => n,
                None => {
                    let id = arena.len();
                    arena.push(Node::default());
                    if let Some(node) = arena.get_mut(cur) {
                        match tok {
                            Token::Key(k) => {
                                node.keys.push((k.to_owned(), id));
                                node.key_index.insert(k.to_owned(), id);
                            }
                            Token::Index(i) => {
                                node.indices.insert(i, id);
                            }
                        }
                    }
                    id
                }
            };
            cur = next;
        }
        match arena.get_mut(cur) {
            Some(node) if node.value.is_none() => node.value = Some(value),
            _ => {
                return Err(FormatError::new(FORMAT, "duplicate metadata key"));
            }
        }
    }
    match convert(&arena, 0, 0)? {
        Value::Map(mut m) => {
            decode_thresholds(&mut m, 0)?;
            Ok(m)
        }
        _ => Err(FormatError::new(FORMAT, "metadata is not a mapping")),
    }
}

/// Turns every `shamir_threshold` (the file's, and a pending contribution's) from text
/// into a number, as sops's `DecodeNonStrings` does for dotenv and INI (Go's
/// `strconv.Atoi`: optional sign, decimal digits, nothing else). The metadata reader
/// refuses a threshold given as a string, as sops does in JSON and YAML.
fn decode_thresholds(m: &mut Map, depth: usize) -> Result<(), FormatError> {
    if depth > MAX_DEPTH {
        return Err(FormatError::new(
            FORMAT,
            "metadata key is nested too deeply",
        ));
    }
    for item in &mut m.0 {
        let Item::Entry(k, v) = item else { continue };
        match v {
            Value::Str(s) if k.eq_ignore_ascii_case("shamir_threshold") => {
                let n: i64 = s.as_str().parse().map_err(|_| {
                    FormatError::new(
                        FORMAT,
                        "shamir_threshold is not an integer (sops refuses it too)",
                    )
                })?;
                *v = Value::Int(n);
            }
            Value::Map(inner) => decode_thresholds(inner, depth + 1)?,
            Value::Seq(items) => {
                for i in items {
                    if let SeqItem::Value(Value::Map(inner)) = i {
                        decode_thresholds(inner, depth + 1)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn convert(arena: &[Node], id: usize, depth: usize) -> Result<Value, FormatError> {
    let node = arena
        .get(id)
        .ok_or_else(|| FormatError::new(FORMAT, "internal error while unflattening"))?;
    if depth > MAX_DEPTH + 1 {
        return Err(FormatError::new(
            FORMAT,
            "metadata key is nested too deeply",
        ));
    }
    let kinds = usize::from(node.value.is_some())
        + usize::from(!node.keys.is_empty())
        + usize::from(!node.indices.is_empty());
    if kinds > 1 {
        return Err(FormatError::new(
            FORMAT,
            "a metadata name is used both as a value and as a container",
        ));
    }
    if let Some(v) = &node.value {
        return Ok(Value::str(v.as_str()));
    }
    if !node.indices.is_empty() {
        let mut list = Vec::with_capacity(node.indices.len());
        for (expected, (index, child)) in node.indices.iter().enumerate() {
            if *index != expected {
                return Err(FormatError::new(
                    FORMAT,
                    "metadata list indices are not contiguous from 0",
                ));
            }
            list.push(SeqItem::Value(convert(arena, *child, depth + 1)?));
        }
        return Ok(Value::Seq(list));
    }
    let mut map = Map::new();
    for (k, child) in &node.keys {
        map.push(k.clone(), convert(arena, *child, depth + 1)?);
    }
    Ok(Value::Map(map))
}

#[cfg(test)]
mod tests;
