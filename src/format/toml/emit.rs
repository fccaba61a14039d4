//! Tree → TOML.
//!
//! The output must load back into the same tree (the key order is the MAC order and a
//! comment's place decides its AAD), so the layout follows what the loader reads:
//!
//! * In a table, key/value lines come before sub-tables. A map or a list of maps that
//!   comes *before* a plain value in the tree therefore stays in the table body: a map as
//!   dotted keys (`a.b = 1`) when its comments allow, else as an inline table; a list as
//!   an inline array. Maps after the last plain value become `[a.b]` tables (implicit
//!   when they hold nothing but sub-tables), lists of maps become `[[a.b]]` arrays.
//! * Comment markers before an entry are `#` lines before its key or header; an inline
//!   marker right before the entry is the comment at the end of its line.
//! * The `sops` metadata is a `[sops]` table at the end; its plain values come first,
//!   key lists are `[[sops.age]]` arrays of tables, and multi-line strings (the armored
//!   `enc` keys) are multi-line basic strings.

use std::collections::HashSet;
use std::fmt::Write as _;

use toml_edit::Array;
use toml_edit::ArrayOfTables;
use toml_edit::DocumentMut;
use toml_edit::InlineTable;
use toml_edit::Item;
use toml_edit::Key;
use toml_edit::Table;
use toml_edit::Value as TValue;
use zeroize::Zeroizing;

use super::emit_scalar::datetime;
use super::emit_scalar::string_value;

use super::EMIT_MAX_DEPTH;
use super::FORMAT;
use crate::format::FormatError;
use crate::format::Output;
use crate::tree::Comment;
use crate::tree::Document;
use crate::tree::Item as TreeItem;
use crate::tree::Map;
use crate::tree::SeqItem;
use crate::tree::Value;

const INDENT: &str = "    ";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The data tree: keep order and comments exactly.
    Data,
    /// The `sops` table: plain values first, multi-line strings as `"""` strings.
    Meta,
}

fn err(message: &str) -> FormatError {
    FormatError::new(FORMAT, message)
}

fn too_deep() -> FormatError {
    err("the document is nested too deeply to be written as TOML")
}

/// Writes a document (one branch) with the metadata as a trailing `[sops]` table.
pub(super) fn emit(doc: &Document, meta: Option<&Map>) -> Result<Output, FormatError> {
    let empty = Map::new();
    let root = match doc.branches.as_slice() {
        [] => &empty,
        [one] => one,
        _ => return Err(err("a TOML file holds exactly one document")),
    };
    if meta.is_some() && root.get("sops").is_some() {
        return Err(err("the document already has a top-level sops entry"));
    }
    let mut out = DocumentMut::new();
    let trailing = fill_table(out.as_table_mut(), root, Mode::Data, 0)?;
    match meta {
        Some(meta) => {
            let mut sops = Table::new();
            let _ = fill_table(&mut sops, meta, Mode::Meta, 1)?;
            let mut prefix = String::from("\n");
            for c in &trailing {
                push_comment_line(&mut prefix, c, "")?;
            }
            sops.decor_mut().set_prefix(prefix);
            out.as_table_mut().insert("sops", Item::Table(sops));
        }
        None => {
            let mut s = String::new();
            for c in &trailing {
                push_comment_line(&mut s, c, "")?;
            }
            out.set_trailing(s);
        }
    }
    let written = render(&out);
    if meta.is_some() {
        super::budget::check_written(&written)?;
    }
    Ok(written)
}

/// Writes one value on its own: a map as a TOML document, anything else as a TOML value.
pub(super) fn emit_value(value: &Value) -> Result<Output, FormatError> {
    match value {
        Value::Map(m) => emit(&Document::single(m.clone()), None),
        other => {
            let v = inline_value(other, Mode::Data, 0, 0, true)?;
            let mut s = Zeroizing::new(String::with_capacity(256));
            let _ = write!(s, "{v}");
            s.push('\n');
            Ok(Zeroizing::new(s.as_bytes().to_vec()))
        }
    }
}

fn render(doc: &DocumentMut) -> Output {
    let mut s = Zeroizing::new(String::with_capacity(4096));
    let _ = write!(s, "{doc}");
    let start = s.len() - s.trim_start_matches('\n').len();
    Zeroizing::new(s.as_bytes().get(start..).unwrap_or(&[]).to_vec())
}

/// Checks a comment's text: one line, no control characters TOML forbids.
fn check_comment(c: &Comment) -> Result<(), FormatError> {
    if c.text
        .chars()
        .any(|ch| (ch.is_control() && ch != '\t') || ch == '\u{7f}')
    {
        return Err(err(
            "a comment contains a line break or a control character",
        ));
    }
    Ok(())
}

/// Appends `#text\n` (after `indent`).
fn push_comment_line(s: &mut String, c: &Comment, indent: &str) -> Result<(), FormatError> {
    check_comment(c)?;
    s.push_str(indent);
    s.push('#');
    s.push_str(c.text.as_str());
    s.push('\n');
    Ok(())
}

/// Table-level decor for pending comments: full lines before, a final inline comment at
/// the end of the line. Returns (prefix lines, inline suffix).
fn table_level_decor(pending: &[Comment]) -> Result<(String, Option<String>), FormatError> {
    let (lines, inline) = match pending.split_last() {
        Some((last, rest)) if last.inline => (rest, Some(last)),
        _ => (pending, None),
    };
    let mut prefix = String::new();
    for c in lines {
        push_comment_line(&mut prefix, c, "")?;
    }
    let suffix = match inline {
        Some(c) => {
            check_comment(c)?;
            Some(format!(" #{}", c.text.as_str()))
        }
        None => None,
    };
    Ok((prefix, suffix))
}

/// A map that can be written with a `[header]`: comments after its last entry would
/// load as comments of whatever follows, so such a map is written inline instead.
fn header_map_ok(m: &Map) -> bool {
    !matches!(m.0.last(), Some(TreeItem::Comment(_)))
}

/// A list that can be written as `[[name]]` tables: non-empty, only maps that can have
/// headers, comments only between elements.
fn aot_ok(seq: &[SeqItem]) -> bool {
    matches!(seq.first(), Some(SeqItem::Value(_)))
        && matches!(seq.last(), Some(SeqItem::Value(_)))
        && seq.iter().all(|i| match i {
            SeqItem::Value(Value::Map(m)) => header_map_ok(m),
            SeqItem::Value(_) => false,
            SeqItem::Comment(_) => true,
        })
}

/// Whether an entry's value can go below the table body (as a table or tables).
fn header_kind(v: &Value) -> bool {
    match v {
        Value::Map(m) => header_map_ok(m),
        Value::Seq(s) => aot_ok(s),
        _ => false,
    }
}

/// Fills a table written with a header (or the root). Returns the comments left after
/// the last entry, which the caller places.
fn fill_table(
    t: &mut Table,
    map: &Map,
    mode: Mode,
    depth: usize,
) -> Result<Vec<Comment>, FormatError> {
    if depth > EMIT_MAX_DEPTH {
        return Err(too_deep());
    }
    // In metadata the order does not matter: plain values first, then tables.
    let items: Vec<&TreeItem> = match mode {
        Mode::Data => map.0.iter().collect(),
        Mode::Meta => {
            let entries = map.0.iter().filter(|i| match i {
                TreeItem::Entry(_, Value::Null) => false,
                TreeItem::Entry(..) => true,
                TreeItem::Comment(_) => false,
            });
            let (tables, plain): (Vec<&TreeItem>, Vec<&TreeItem>) =
                entries.partition(|i| matches!(i, TreeItem::Entry(_, v) if header_kind(v)));
            plain.into_iter().chain(tables).collect()
        }
    };
    // Entries up to the last plain value must stay in the table body.
    let body_end = items
        .iter()
        .rposition(|i| matches!(i, TreeItem::Entry(_, v) if !header_kind(v)));
    let mut seen = HashSet::new();
    let mut pending: Vec<Comment> = Vec::new();
    for (idx, item) in items.iter().enumerate() {
        let (key, value) = match item {
            TreeItem::Comment(c) => {
                pending.push(c.clone());
                continue;
            }
            TreeItem::Entry(k, v) => (k.as_str(), v),
        };
        if !seen.insert(key) {
            return Err(err("a table has a duplicate key"));
        }
        let in_body = body_end.is_some_and(|end| idx <= end);
        let (prefix, suffix) = table_level_decor(&pending)?;
        match value {
            Value::Map(m) if !in_body && header_map_ok(m) => {
                let mut sub = Table::new();
                let rest = fill_table(&mut sub, m, mode, depth + 1)?;
                let implicit = pending.is_empty()
                    && rest.is_empty()
                    && !m.is_empty()
                    && m.0.iter().all(|i| match i {
                        TreeItem::Entry(_, v) => header_kind(v),
                        TreeItem::Comment(_) => true,
                    });
                sub.set_implicit(implicit);
                set_header_decor(&mut sub, &prefix, suffix.as_deref(), &rest)?;
                t.insert(key, Item::Table(sub));
            }
            Value::Seq(seq) if !in_body && aot_ok(seq) => {
                let aot = array_of_tables(seq, &prefix, suffix.as_deref(), mode, depth + 1)?;
                t.insert(key, Item::ArrayOfTables(aot));
            }
            Value::Map(m) if pending.is_empty() && dotted_ok(m) => {
                let mut sub = Table::new();
                fill_dotted(&mut sub, m, mode, depth + 1)?;
                t.insert(key, Item::Table(sub));
            }
            other => {
                let mut v = inline_value(other, mode, depth + 1, 0, true)?;
                if let Some(s) = suffix {
                    v.decor_mut().set_suffix(s);
                }
                let mut k = Key::new(key);
                if !prefix.is_empty() {
                    k.leaf_decor_mut().set_prefix(prefix);
                }
                t.insert_formatted(&k, Item::Value(v));
            }
        }
        pending.clear();
    }
    Ok(pending)
}

/// Header decor: comment lines above, the inline comment after the header, and comments
/// left at the end of the table's body right below the header (same table, same AAD).
fn set_header_decor(
    t: &mut Table,
    prefix: &str,
    suffix: Option<&str>,
    rest: &[Comment],
) -> Result<(), FormatError> {
    if !prefix.is_empty() {
        t.decor_mut().set_prefix(format!("\n{prefix}"));
    }
    let mut s = suffix.unwrap_or("").to_owned();
    for c in rest {
        s.push('\n');
        check_comment(c)?;
        s.push('#');
        s.push_str(c.text.as_str());
    }
    if !s.is_empty() {
        t.decor_mut().set_suffix(s);
    }
    Ok(())
}

fn array_of_tables(
    seq: &[SeqItem],
    first_prefix: &str,
    first_suffix: Option<&str>,
    mode: Mode,
    depth: usize,
) -> Result<ArrayOfTables, FormatError> {
    if depth > EMIT_MAX_DEPTH {
        return Err(too_deep());
    }
    let mut aot = ArrayOfTables::new();
    let mut pending: Vec<Comment> = Vec::new();
    let mut first = true;
    for item in seq {
        let m = match item {
            SeqItem::Comment(c) => {
                pending.push(c.clone());
                continue;
            }
            SeqItem::Value(Value::Map(m)) => m,
            SeqItem::Value(_) => return Err(err("internal: array of tables holds a non-map")),
        };
        let mut t = Table::new();
        let rest = fill_table(&mut t, m, mode, depth + 1)?;
        if first {
            set_header_decor(&mut t, first_prefix, first_suffix, &rest)?;
            first = false;
        } else {
            let (prefix, suffix) = table_level_decor(&pending)?;
            set_header_decor(&mut t, &prefix, suffix.as_deref(), &rest)?;
        }
        pending.clear();
        aot.push(t);
    }
    Ok(aot)
}

/// Whether a map in a table body can be written as dotted keys and load back the same:
/// it must be non-empty and end with an entry (comments after the last `a.x = …` line
/// would belong to whatever follows). Nested maps preceded by comments are written as
/// inline tables by [`fill_dotted`], so they need no check here.
fn dotted_ok(m: &Map) -> bool {
    matches!(m.0.last(), Some(TreeItem::Entry(..)))
}

/// Fills a dotted table (`a.b = …` lines inside the parent's body).
fn fill_dotted(t: &mut Table, map: &Map, mode: Mode, depth: usize) -> Result<(), FormatError> {
    if depth > EMIT_MAX_DEPTH {
        return Err(too_deep());
    }
    t.set_dotted(true);
    t.set_implicit(true);
    let mut seen = HashSet::new();
    let mut pending: Vec<Comment> = Vec::new();
    for item in &map.0 {
        let (key, value) = match item {
            TreeItem::Comment(c) => {
                pending.push(c.clone());
                continue;
            }
            TreeItem::Entry(k, v) => (k.as_str(), v),
        };
        if !seen.insert(key) {
            return Err(err("a table has a duplicate key"));
        }
        match value {
            Value::Map(m) if pending.is_empty() && dotted_ok(m) => {
                let mut sub = Table::new();
                fill_dotted(&mut sub, m, mode, depth + 1)?;
                t.insert(key, Item::Table(sub));
            }
            other => {
                let (prefix, suffix) = table_level_decor(&pending)?;
                let mut v = inline_value(other, mode, depth + 1, 0, true)?;
                if let Some(s) = suffix {
                    v.decor_mut().set_suffix(s);
                }
                let mut k = Key::new(key);
                if !prefix.is_empty() {
                    k.leaf_decor_mut().set_prefix(prefix);
                }
                t.insert_formatted(&k, Item::Value(v));
            }
        }
        pending.clear();
    }
    Ok(())
}

/// A value written after `=` or inside an array or inline table. `ind` is the
/// indentation level of the line the value starts on; `multiline_ok` allows spreading an
/// array over several lines (not inside inline tables, unless comments force it).
fn inline_value(
    v: &Value,
    mode: Mode,
    depth: usize,
    ind: usize,
    multiline_ok: bool,
) -> Result<TValue, FormatError> {
    if depth > EMIT_MAX_DEPTH {
        return Err(too_deep());
    }
    Ok(match v {
        Value::Str(s) => string_value(s.as_str(), mode == Mode::Meta),
        Value::Bytes(_) => return Err(err("binary data cannot be written as TOML")),
        Value::Int(i) => TValue::from(*i),
        Value::Float(f) => TValue::from(*f),
        Value::Bool(b) => TValue::from(*b),
        Value::Time(ts) => TValue::from(datetime(ts).map_err(err)?),
        Value::Null => return Err(err("TOML has no null value")),
        Value::Seq(seq) => TValue::Array(array(seq, mode, depth, ind, multiline_ok)?),
        Value::Map(m) => TValue::InlineTable(inline_table(m, mode, depth, ind)?),
    })
}

fn indent_of(level: usize) -> String {
    INDENT.repeat(level.min(EMIT_MAX_DEPTH))
}

/// The elements of an array or inline table with their comments: full-line comments
/// before the element, and the inline comment written at the end of its line (after the
/// comma, so in the decor of whatever follows).
struct Slot<T> {
    before: Vec<Comment>,
    inline: Option<Comment>,
    item: T,
}

/// Groups a sequence of (comment | element) into slots; returns them and the comments
/// left after the last element (all written as full lines).
fn slots<T>(items: impl Iterator<Item = Result<T, Comment>>) -> (Vec<Slot<T>>, Vec<Comment>) {
    let mut out = Vec::new();
    let mut pending: Vec<Comment> = Vec::new();
    for it in items {
        match it {
            Err(c) => pending.push(c),
            Ok(item) => {
                let inline = match pending.last() {
                    Some(c) if c.inline => pending.pop(),
                    _ => None,
                };
                let before = std::mem::take(&mut pending)
                    .into_iter()
                    .map(|mut c| {
                        c.inline = false;
                        c
                    })
                    .collect();
                out.push(Slot {
                    before,
                    inline,
                    item,
                });
            }
        }
    }
    (out, pending)
}

/// The decor written before slot `i` (or, with `i == slots.len()`, the trailing decor):
/// the previous slot's inline comment, then full-line comments, then a line break and
/// the indentation of the next line.
fn between<T>(
    slots: &[Slot<T>],
    i: usize,
    lines: &[Comment],
    indent: &str,
    last_indent: &str,
) -> Result<String, FormatError> {
    let mut s = String::new();
    if let Some(c) = i
        .checked_sub(1)
        .and_then(|p| slots.get(p))
        .and_then(|prev| prev.inline.as_ref())
    {
        check_comment(c)?;
        s.push_str(" #");
        s.push_str(c.text.as_str());
    }
    for c in lines {
        check_comment(c)?;
        s.push('\n');
        s.push_str(indent);
        s.push('#');
        s.push_str(c.text.as_str());
    }
    s.push('\n');
    s.push_str(last_indent);
    Ok(s)
}

fn array(
    seq: &[SeqItem],
    mode: Mode,
    depth: usize,
    ind: usize,
    multiline_ok: bool,
) -> Result<Array, FormatError> {
    let has_comments = seq.iter().any(|i| matches!(i, SeqItem::Comment(_)));
    let (slots, rest) = slots(seq.iter().map(|i| match i {
        SeqItem::Value(v) => Ok(v),
        SeqItem::Comment(c) => Err(c.clone()),
    }));
    let wide = slots
        .iter()
        .any(|s| matches!(s.item, Value::Str(_) | Value::Map(_) | Value::Seq(_)));
    let multiline = has_comments || (multiline_ok && slots.len() > 1 && wide);
    let inner = indent_of(ind + 1);
    let outer = indent_of(ind);
    let mut a = Array::new();
    for (i, slot) in slots.iter().enumerate() {
        let mut tv = inline_value(slot.item, mode, depth + 1, ind + 1, multiline)?;
        if multiline {
            tv.decor_mut()
                .set_prefix(between(&slots, i, &slot.before, &inner, &inner)?);
            tv.decor_mut().set_suffix("");
        }
        a.push_formatted(tv);
    }
    if multiline {
        a.set_trailing_comma(!slots.is_empty());
        a.set_trailing(between(&slots, slots.len(), &rest, &inner, &outer)?);
    }
    Ok(a)
}

fn inline_table(m: &Map, mode: Mode, depth: usize, ind: usize) -> Result<InlineTable, FormatError> {
    let has_comments = m.0.iter().any(|i| matches!(i, TreeItem::Comment(_)));
    let (slots, rest) = slots(m.0.iter().map(|i| match i {
        TreeItem::Entry(k, v) => Ok((k.as_str(), v)),
        TreeItem::Comment(c) => Err(c.clone()),
    }));
    let inner = indent_of(ind + 1);
    let outer = indent_of(ind);
    let mut t = InlineTable::new();
    let mut seen = HashSet::new();
    for (i, slot) in slots.iter().enumerate() {
        let (key, value) = slot.item;
        if !seen.insert(key) {
            return Err(err("a table has a duplicate key"));
        }
        let v = inline_value(value, mode, depth + 1, ind + 1, has_comments)?;
        let mut k = Key::new(key);
        if has_comments {
            k.leaf_decor_mut()
                .set_prefix(between(&slots, i, &slot.before, &inner, &inner)?);
        }
        t.insert_formatted(&k, v);
    }
    if has_comments {
        // Comments inside an inline table need TOML 1.1 (line breaks between braces).
        t.set_trailing_comma(!slots.is_empty());
        t.set_trailing(between(&slots, slots.len(), &rest, &inner, &outer)?);
    }
    Ok(t)
}
