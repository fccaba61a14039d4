//! TOML → tree.
//!
//! The tree is the *logical* table tree: toml_edit already attaches dotted keys and
//! out-of-order `[a.b]` headers to the table they name, in order of first appearance.
//! Comments are read from the decor (the whitespace and comments around keys, values
//! and headers) that toml_edit keeps:
//!
//! * `#` lines before a key, a `[table]` header or the first `[[array]]` header become
//!   full-line comment markers in front of that entry (in the map that holds it);
//! * the comment at the end of a key/value line or of a header line becomes an inline
//!   marker, placed after the full-line ones and still before the entry;
//! * inside arrays and inline tables, comments on their own lines sit before the element
//!   that follows them (or at the end of the list/map); a comment sharing the line of an
//!   element (after its comma) is an inline marker placed before that element — the same
//!   "trailing comment precedes its entry" rule as at table level; an element has one
//!   (`1 # a` then `, # b` on the next line: `# b` is a full-line comment after `1`);
//! * headers of later `[[array]]` elements put their comments into the list, before the
//!   element;
//! * comments after the last entry of the file stay at the end of the root map.

use toml_edit::ArrayOfTables;
use toml_edit::Datetime;
use toml_edit::Decor;
use toml_edit::Document as TomlDocument;
use toml_edit::InlineTable;
use toml_edit::Item;
use toml_edit::Offset;
use toml_edit::RawString;
use toml_edit::Table;
use toml_edit::Value as TValue;

use super::FORMAT;
use super::MAX_DEPTH;
use super::budget;
use crate::format::FormatError;
use crate::format::Loaded;
use crate::metadata::names::FieldNames::GoJsonText;
use crate::metadata::names::canonical_in_store;
use crate::tree::Comment;
use crate::tree::Document;
use crate::tree::Item as TreeItem;
use crate::tree::Map;
use crate::tree::SeqItem;
use crate::tree::Text;
use crate::tree::Timestamp;
use crate::tree::Value;

/// 1-based line and column (in characters) of a byte offset.
pub(super) fn line_col(text: &[u8], offset: usize) -> (usize, usize) {
    let upto = text.get(..offset.min(text.len())).unwrap_or(&[]);
    let line = upto.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = upto
        .iter()
        .rposition(|&b| b == b'\n')
        .map(|p| p + 1)
        .unwrap_or(0);
    let col_bytes = upto.get(line_start..).unwrap_or(&[]);
    // Count characters: every byte that is not a UTF-8 continuation byte starts one.
    let col = col_bytes.iter().filter(|&&b| (b & 0xC0) != 0x80).count() + 1;
    (line, col)
}

/// The input as text, or where it stops being UTF-8.
fn utf8(input: &[u8]) -> Result<&str, FormatError> {
    std::str::from_utf8(input).map_err(|e| {
        let (l, c) = line_col(input, e.valid_up_to());
        FormatError::at(FORMAT, "the file is not valid UTF-8", l, c)
    })
}

/// Parses bytes into a toml_edit document; errors carry a position only.
pub(super) fn parse_document(input: &[u8]) -> Result<TomlDocument<&str>, FormatError> {
    parse_text(input, utf8(input)?)
}

/// Parses text (`input` as UTF-8) into a toml_edit document that keeps the whitespace,
/// comments and representations as spans of `text` (the editable `DocumentMut` would
/// copy every one of them into a string of its own); a text beyond the structure budget
/// is refused first.
fn parse_text<'a>(input: &[u8], text: &'a str) -> Result<TomlDocument<&'a str>, FormatError> {
    budget::check(text)?;
    TomlDocument::parse(text).map_err(|e| match e.span() {
        _ if e.message().contains("recursion limit")
            || e.message().contains("max recursion depth") =>
        {
            const DEEP: &str = "invalid TOML: nesting too deep (a key, table header, array or \
                                inline table with 80 or more levels)";
            match e.span().map(|s| s.start).or_else(|| budget::deep_key(text)) {
                Some(at) => {
                    let (l, c) = line_col(input, at);
                    FormatError::at(FORMAT, DEEP, l, c)
                }
                None => FormatError::new(FORMAT, DEEP),
            }
        }
        Some(span) => {
            let (l, c) = line_col(input, span.start);
            let bom = input
                .get(span.start..)
                .is_some_and(|r| r.starts_with(b"\xEF\xBB\xBF"));
            let msg = if bom {
                "invalid TOML: a byte-order mark (U+FEFF) is only allowed at the start of the file"
            } else {
                "invalid TOML"
            };
            FormatError::at(FORMAT, msg, l, c)
        }
        None => FormatError::new(FORMAT, "invalid TOML"),
    })
}

/// Loads a TOML file: the data tree plus the `sops` table, if any.
///
/// The toml_edit document is consumed while the tree is built: each table, array and
/// value is dropped as soon as the tree has taken it, so that the document (about 1 KB
/// per table: key, decor, span, index map) and the tree are not both at their full size
/// (docs/security.md, "Memory amplification").
pub(super) fn load(input: &[u8]) -> Result<Loaded, FormatError> {
    let text = utf8(input)?;
    let doc = parse_text(input, text)?;
    let src = Source(text);
    let root = doc.as_table();
    let meta = match root.get("sops") {
        None => None,
        Some(Item::Table(t)) => Some(canonical_in_store(
            FORMAT,
            meta_table(src, t, 0)?,
            GoJsonText,
        )?),
        Some(Item::Value(TValue::InlineTable(t))) => Some(canonical_in_store(
            FORMAT,
            meta_inline(src, t, 0)?,
            GoJsonText,
        )?),
        Some(_) => {
            return Err(FormatError::new(
                FORMAT,
                "the top-level sops entry is not a table",
            ));
        }
    };
    let trailing = collect(src.text(doc.trailing()), false);
    let mut map = Map::new();
    table_body(src, doc.into_table(), &mut map, true, 0)?;
    for c in trailing {
        map.push_comment(c);
    }
    map.0.shrink_to_fit();
    Ok(Loaded {
        doc: Document::single(map),
        meta,
    })
}

/// The depth error's message up to the path, which the levels add on the way out.
const TOO_DEEP: &str = "nesting too deep (more than 256 levels of tables and arrays) at ";
const _: () = assert!(MAX_DEPTH == 256, "update TOO_DEEP");

fn too_deep() -> FormatError {
    FormatError::new(FORMAT, TOO_DEEP)
}

/// The message of a number the tree cannot hold exactly, up to the path.
const INEXACT: &str = "a number that cannot be kept exactly (too large, too small or with \
                       more digits than a 64-bit float keeps; write it as a string) at ";

/// Adds one path component (`["key"]` or `[0]`) in front of the path of an error that
/// names one (nesting too deep, an inexact number).
fn within(e: FormatError, key: Option<&str>, index: usize) -> FormatError {
    for prefix in [TOO_DEEP, INEXACT] {
        if let Some(rest) = e.message.strip_prefix(prefix) {
            let comp = match key {
                Some(k) => format!("[{k:?}]"),
                None => format!("[{index}]"),
            };
            return FormatError::new(FORMAT, format!("{prefix}{comp}{rest}"));
        }
    }
    e
}

/// The text the document was parsed from: the document's whitespace, comments and
/// representations are spans of it.
#[derive(Clone, Copy)]
struct Source<'a>(&'a str);

impl<'a> Source<'a> {
    /// The text of a raw string (held by the document, or a span of the source).
    fn text(self, raw: &'a RawString) -> Option<&'a str> {
        raw.as_str()
            .or_else(|| raw.span().and_then(|span| self.0.get(span)))
    }

    /// The original text of a value, as written.
    fn repr(self, repr: Option<&'a toml_edit::Repr>) -> Option<&'a str> {
        repr.and_then(|r| self.text(r.as_raw()))
    }
}

/// A float, unless its text says a value the `f64` does not hold (`1e-400`).
fn float(src: Source<'_>, f: &toml_edit::Formatted<f64>) -> Result<Value, FormatError> {
    let v = *f.value();
    if let Some(raw) = src.repr(f.as_repr()) {
        let plain: String = raw.chars().filter(|&c| c != '_').collect();
        if crate::format::number::check_float(&plain, v, false).is_err() {
            return Err(FormatError::new(FORMAT, INEXACT));
        }
    }
    Ok(Value::Float(v))
}

/// Splits the comments out of a decor string (whitespace, newlines and `#` comments).
/// With `first_may_be_inline`, a comment that is not preceded by a newline is inline
/// (it shares the line of whatever stood before the decor).
fn comments(raw: Option<&str>, first_may_be_inline: bool, push: &mut dyn FnMut(Comment)) {
    let Some(raw) = raw else { return };
    for (i, line) in raw.split('\n').enumerate() {
        let trimmed = line.trim_start_matches([' ', '\t']);
        if let Some(text) = trimmed.strip_prefix('#') {
            let text = text.strip_suffix('\r').unwrap_or(text);
            push(Comment {
                text: Text::from(text),
                inline: first_may_be_inline && i == 0,
            });
        }
    }
}

fn decor_prefix<'a>(src: Source<'a>, d: &'a Decor) -> Option<&'a str> {
    d.prefix().and_then(|r| src.text(r))
}

fn decor_suffix<'a>(src: Source<'a>, d: &'a Decor) -> Option<&'a str> {
    d.suffix().and_then(|r| src.text(r))
}

/// The entries of a table that is written with a header (or the root, or a dotted table).
/// Each entry's item is taken out of the table (and dropped) once converted.
fn table_body(
    src: Source<'_>,
    mut t: Table,
    out: &mut Map,
    is_root: bool,
    depth: usize,
) -> Result<(), FormatError> {
    if depth >= MAX_DEPTH {
        return Err(too_deep());
    }
    for (key, slot) in t.iter_mut() {
        let item = std::mem::take(slot);
        let k = key.get();
        if is_root && k == "sops" {
            // The metadata is split off; comments above its header stay where they are.
            if let Item::Table(sops) = &item {
                comments(decor_prefix(src, sops.decor()), false, &mut |c| {
                    out.push_comment(c)
                });
            }
            continue;
        }
        comments(decor_prefix(src, key.leaf_decor()), false, &mut |c| {
            out.push_comment(c)
        });
        match item {
            Item::None => {}
            Item::Value(v) => {
                comments(decor_prefix(src, v.decor()), false, &mut |c| {
                    out.push_comment(c)
                });
                comments(decor_suffix(src, v.decor()), true, &mut |c| {
                    out.push_comment(c)
                });
                let value = value(src, v, depth + 1).map_err(|e| within(e, Some(k), 0))?;
                out.push(k, value);
            }
            Item::Table(sub) => {
                if !sub.is_dotted() {
                    comments(decor_prefix(src, sub.decor()), false, &mut |c| {
                        out.push_comment(c)
                    });
                    comments(decor_suffix(src, sub.decor()), true, &mut |c| {
                        out.push_comment(c)
                    });
                }
                let mut m = Map::new();
                table_body(src, sub, &mut m, false, depth + 1)
                    .map_err(|e| within(e, Some(k), 0))?;
                m.0.shrink_to_fit();
                out.push(k, Value::Map(m));
            }
            Item::ArrayOfTables(aot) => {
                let seq =
                    array_of_tables(src, aot, out, depth + 1).map_err(|e| within(e, Some(k), 0))?;
                out.push(k, Value::Seq(seq));
            }
        }
    }
    Ok(())
}

fn array_of_tables(
    src: Source<'_>,
    aot: ArrayOfTables,
    parent: &mut Map,
    depth: usize,
) -> Result<Vec<SeqItem>, FormatError> {
    if depth >= MAX_DEPTH {
        return Err(too_deep());
    }
    let mut seq = Vec::new();
    for (i, t) in aot.into_iter().enumerate() {
        let d = t.decor();
        if i == 0 {
            comments(decor_prefix(src, d), false, &mut |c| parent.push_comment(c));
            comments(decor_suffix(src, d), true, &mut |c| parent.push_comment(c));
        } else {
            comments(decor_prefix(src, d), false, &mut |c| {
                seq.push(SeqItem::Comment(c))
            });
            comments(decor_suffix(src, d), true, &mut |c| {
                seq.push(SeqItem::Comment(c))
            });
        }
        let mut m = Map::new();
        table_body(src, t, &mut m, false, depth + 1).map_err(|e| within(e, None, i))?;
        m.0.shrink_to_fit();
        seq.push(SeqItem::Value(Value::Map(m)));
    }
    seq.shrink_to_fit();
    Ok(seq)
}

/// A value written inline (after `=`, in an array or in an inline table).
fn value(src: Source<'_>, v: TValue, depth: usize) -> Result<Value, FormatError> {
    if depth >= MAX_DEPTH && matches!(v, TValue::Array(_) | TValue::InlineTable(_)) {
        return Err(too_deep());
    }
    Ok(match v {
        TValue::String(s) => Value::Str(Text::from(s.into_value())),
        TValue::Integer(i) => Value::Int(*i.value()),
        TValue::Float(f) => float(src, &f)?,
        TValue::Boolean(b) => Value::Bool(*b.value()),
        TValue::Datetime(d) => datetime(d.value(), src.repr(d.as_repr())),
        TValue::Array(a) => {
            let trailing = collect(src.text(a.trailing()), true);
            let mut seq = Vec::new();
            // Index of the last value pushed: a comment on its line is placed before it.
            let mut last: Option<usize> = None;
            for (i, elem) in a.into_iter().enumerate() {
                let d = elem.decor();
                for c in collect(decor_prefix(src, d), true) {
                    place(&mut seq, &mut last, c, SeqItem::Comment, inline_seq_comment);
                }
                let after = collect(decor_suffix(src, d), true);
                last = Some(seq.len());
                seq.push(SeqItem::Value(
                    value(src, elem, depth + 1).map_err(|e| within(e, None, i))?,
                ));
                for c in after {
                    place(&mut seq, &mut last, c, SeqItem::Comment, inline_seq_comment);
                }
            }
            for c in trailing {
                place(&mut seq, &mut last, c, SeqItem::Comment, inline_seq_comment);
            }
            seq.shrink_to_fit();
            Value::Seq(seq)
        }
        TValue::InlineTable(t) => {
            let mut m = Map::new();
            inline_body(src, t, &mut m, depth)?;
            m.0.shrink_to_fit();
            Value::Map(m)
        }
    })
}

/// The entries of an inline table; each value is taken out of the table once converted.
fn inline_body(
    src: Source<'_>,
    mut t: InlineTable,
    out: &mut Map,
    depth: usize,
) -> Result<(), FormatError> {
    let trailing = collect(src.text(t.trailing()), true);
    let mut last: Option<usize> = None;
    for (key, slot) in t.iter_mut() {
        let v = std::mem::replace(slot, TValue::from(false));
        let k = key.get();
        for c in collect(decor_prefix(src, key.leaf_decor()), true) {
            place(
                &mut out.0,
                &mut last,
                c,
                TreeItem::Comment,
                inline_map_comment,
            );
        }
        for c in collect(decor_prefix(src, v.decor()), false) {
            place(
                &mut out.0,
                &mut last,
                c,
                TreeItem::Comment,
                inline_map_comment,
            );
        }
        let after = collect(decor_suffix(src, v.decor()), true);
        let converted = value(src, v, depth + 1).map_err(|e| within(e, Some(k), 0))?;
        last = Some(out.0.len());
        out.push(k, converted);
        for c in after {
            place(
                &mut out.0,
                &mut last,
                c,
                TreeItem::Comment,
                inline_map_comment,
            );
        }
    }
    for c in trailing {
        place(
            &mut out.0,
            &mut last,
            c,
            TreeItem::Comment,
            inline_map_comment,
        );
    }
    Ok(())
}

fn collect(raw: Option<&str>, first_may_be_inline: bool) -> Vec<Comment> {
    let mut v = Vec::new();
    comments(raw, first_may_be_inline, &mut |c| v.push(c));
    v
}

/// Places a comment read inside an array or inline table. An inline comment shares the
/// line of the element before it and goes in front of that element (as at table level,
/// where a line's trailing comment precedes its entry); with no element before it, or
/// when that element already has its inline comment (`1 # a` then `, # b` on the next
/// line: the writer puts one comment at the end of an element's line), it becomes a
/// full-line comment. Other comments are appended.
fn place<T>(
    items: &mut Vec<T>,
    last: &mut Option<usize>,
    mut c: Comment,
    wrap: fn(Comment) -> T,
    inline_of: fn(&T) -> bool,
) {
    match *last {
        Some(p)
            if c.inline
                && p <= items.len()
                && !p
                    .checked_sub(1)
                    .and_then(|before| items.get(before))
                    .is_some_and(inline_of) =>
        {
            items.insert(p, wrap(c));
            *last = Some(p + 1);
        }
        _ => {
            c.inline = false;
            items.push(wrap(c));
        }
    }
}

/// Whether an array item is an inline comment marker.
fn inline_seq_comment(item: &SeqItem) -> bool {
    matches!(item, SeqItem::Comment(c) if c.inline)
}

/// Whether a map item is an inline comment marker.
fn inline_map_comment(item: &TreeItem) -> bool {
    matches!(item, TreeItem::Comment(c) if c.inline)
}

/// An offset date-time becomes a timestamp; local date-times, dates and times (which
/// sops has no type for) become strings holding their original text.
fn datetime(d: &Datetime, raw: Option<&str>) -> Value {
    if let (Some(date), Some(time), Some(offset)) = (d.date, d.time, d.offset) {
        let offset_seconds = match offset {
            Offset::Z => 0,
            Offset::Custom { minutes } => i32::from(minutes) * 60,
        };
        let ts = Timestamp {
            year: date.year,
            month: date.month,
            day: date.day,
            hour: time.hour,
            minute: time.minute,
            second: time.second.unwrap_or(0),
            nanos: time.nanosecond.unwrap_or(0),
            offset_seconds,
        };
        if ts.is_valid() {
            return Value::Time(ts);
        }
    }
    match raw {
        Some(r) => Value::Str(Text::from(r)),
        None => Value::Str(Text::from(d.to_string())),
    }
}

// ----- metadata: plain values, no comments, date-times as their text -----

fn meta_table(src: Source<'_>, t: &Table, depth: usize) -> Result<Map, FormatError> {
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    let mut m = Map::new();
    for (k, item) in t.iter() {
        let v = match item {
            Item::None => continue,
            Item::Value(v) => meta_value(src, v, depth + 1)?,
            Item::Table(sub) => Value::Map(meta_table(src, sub, depth + 1)?),
            Item::ArrayOfTables(aot) => {
                let mut seq = Vec::new();
                for sub in aot.iter() {
                    seq.push(SeqItem::Value(Value::Map(meta_table(src, sub, depth + 1)?)));
                }
                Value::Seq(seq)
            }
        };
        m.push(k, v);
    }
    Ok(m)
}

fn meta_inline(src: Source<'_>, t: &InlineTable, depth: usize) -> Result<Map, FormatError> {
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    let mut m = Map::new();
    for (k, v) in t.iter() {
        let converted = meta_value(src, v, depth + 1)?;
        m.push(k, converted);
    }
    Ok(m)
}

fn meta_value(src: Source<'_>, v: &TValue, depth: usize) -> Result<Value, FormatError> {
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    Ok(match v {
        TValue::Datetime(d) => Value::Str(Text::from(
            src.repr(d.as_repr())
                .map(str::to_owned)
                .unwrap_or_else(|| d.value().to_string()),
        )),
        TValue::Array(a) => {
            let mut seq = Vec::new();
            for elem in a.iter() {
                seq.push(SeqItem::Value(meta_value(src, elem, depth + 1)?));
            }
            Value::Seq(seq)
        }
        TValue::InlineTable(t) => Value::Map(meta_inline(src, t, depth + 1)?),
        // A scalar: the metadata is small, the copy is cheap.
        other => value(src, other.clone(), depth)?,
    })
}
