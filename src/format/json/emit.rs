//! The JSON writer: Go `encoding/json` value encoding followed by `json.Indent`, produced
//! in one pass.
//!
//! Iterative (explicit stack), so deep trees do not overflow the stack. The output buffer
//! is sized from a cheap estimate (module `estimate`) so it rarely grows; every buffer that
//! held output is wiped when it grows, is merged or is dropped, so plaintext does not
//! linger in freed memory. A large document is written on several threads (module `par`).

use zeroize::Zeroizing;

use crate::format::EmitOptions;
use crate::format::FormatError;
use crate::format::Output;
use crate::tree::Item;
use crate::tree::Map;
use crate::tree::SeqItem;
use crate::tree::Value;

mod estimate;
mod number;
pub(crate) mod par;
#[cfg(test)]
mod tests;

pub(crate) use estimate::estimate_items;
pub(crate) use estimate::estimate_items_capped;
pub(crate) use estimate::estimate_seq;
pub(crate) use estimate::with_slack;
pub use number::format_float;
#[cfg(test)]
pub(crate) use number::short_decimal;
use number::write_float;
use number::write_int;

const FORMAT: &str = "json";

/// The largest indentation accepted (spaces per level). sops takes any number; leafseal
/// takes up to 16, four times the default (4), so that the worst case of indentation
/// output (every line `depth × indent` spaces, at most 256 levels deep) is at most four
/// times the default's. At 1024, set by a planted `.sops.yaml`, 13 KB of nested empty
/// lists (outside the MAC) printed 1.55 GB (the audit's json_indent_amplification case).
pub const MAX_INDENT: i64 = 16;

/// The indentation unit for the options: TAB for `None`/-1, else N spaces.
pub fn indent_unit(opts: &EmitOptions) -> Result<Vec<u8>, FormatError> {
    match opts.indent {
        None | Some(-1) => Ok(b"\t".to_vec()),
        Some(n) if n < -1 => Err(FormatError::new(
            FORMAT,
            "JSON indentation smaller than -1 is not accepted",
        )),
        Some(n) if n > MAX_INDENT => Err(FormatError::new(
            FORMAT,
            format!(
                "JSON indentation larger than {MAX_INDENT} spaces is not accepted (a limit of \
                 leafseal's; sops takes more): use --indent {MAX_INDENT} or less, or -1 for a TAB"
            ),
        )),
        Some(n) => Ok(vec![b' '; usize::try_from(n).unwrap_or(0)]),
    }
}

pub use crate::secbuf::SecureBuf;

/// A node to write: a tree value or a bare map (the metadata).
#[derive(Clone, Copy)]
enum Node<'a> {
    Value(&'a Value),
    Map(&'a Map),
}

/// An open container while writing.
enum Frame<'a> {
    Map {
        items: std::slice::Iter<'a, Item>,
        /// An extra last member (the `sops` metadata of the top-level object).
        extra: Option<(&'a str, &'a Map)>,
        first: bool,
    },
    Seq {
        items: std::slice::Iter<'a, SeqItem>,
        first: bool,
    },
}

/// The writer state.
pub(crate) struct Writer<'a> {
    pub(crate) out: SecureBuf,
    unit: &'a [u8],
    /// A newline followed by the indentation unit repeated for the deepest level so far.
    indent: Vec<u8>,
    /// The nesting depth of the bottom frame's container (its members are one deeper).
    pub(crate) base_depth: usize,
    stack: Vec<Frame<'a>>,
}

/// Writes the top-level object of a document, with `meta` appended as a last `sops`
/// member, and a final newline.
///
/// A large document (one top-level map or list with thousands of elements) is written
/// on several threads; the output is the same.
pub fn emit_top(map: &Map, meta: Option<&Map>, unit: &[u8]) -> Result<Output, FormatError> {
    let adjusted = meta.and_then(null_empty_group_lists);
    let meta = adjusted.as_ref().or(meta);
    if let Some(out) = par::emit_top(map, meta, unit, par::MIN_ITEMS) {
        return out;
    }
    emit_top_sequential(map, meta, unit)
}

/// sops writes a key group's always-present but empty key lists (`age`, `hc_vault`) as
/// `[]` in YAML and, being Go nil slices, as `null` in JSON. Returns the metadata with
/// those lists as `null`, or `None` when there is nothing to change.
pub(crate) fn null_empty_group_lists(meta: &Map) -> Option<Map> {
    let Some(Value::Seq(groups)) = meta.get("key_groups") else {
        return None;
    };
    let empty_list = |v: &Value| matches!(v, Value::Seq(s) if s.is_empty());
    let any = groups.iter().any(
        |g| matches!(g, SeqItem::Value(Value::Map(m)) if m.entries().any(|(_, v)| empty_list(v))),
    );
    if !any {
        return None;
    }
    let mut out = meta.clone();
    for item in out.0.iter_mut() {
        if let Item::Entry(k, Value::Seq(groups)) = item
            && k == "key_groups"
        {
            for g in groups.iter_mut() {
                if let SeqItem::Value(Value::Map(m)) = g {
                    for e in m.0.iter_mut() {
                        if let Item::Entry(_, v) = e
                            && empty_list(v)
                        {
                            *v = Value::Null;
                        }
                    }
                }
            }
        }
    }
    Some(out)
}

/// [`emit_top`] on the calling thread only.
pub(crate) fn emit_top_sequential(
    map: &Map,
    meta: Option<&Map>,
    unit: &[u8],
) -> Result<Output, FormatError> {
    let est = estimate_items(&map.0, 1, unit.len())
        .saturating_add(meta.map_or(0, |m| estimate_items(&m.0, 2, unit.len())));
    let mut w = Writer::new(SecureBuf::with_capacity_hint(with_slack(est)), unit, 0);
    let has_entries = map.0.iter().any(|i| matches!(i, Item::Entry(..)));
    if !has_entries && meta.is_none() {
        w.out.push(b"{}");
    } else {
        w.out.byte(b'{');
        w.stack.push(Frame::Map {
            items: map.0.iter(),
            extra: meta.map(|m| ("sops", m)),
            first: true,
        });
        w.run(false)?;
    }
    w.out.byte(b'\n');
    Ok(w.out.finish())
}

/// Writes one value on its own, indented the same way, without a final newline (as
/// sops's `EmitValue`).
pub fn emit_single(value: &Value, unit: &[u8]) -> Result<Output, FormatError> {
    let mut w = Writer::new(SecureBuf::with_capacity(256), unit, 0);
    w.open(Node::Value(value))?;
    w.run(false)?;
    Ok(w.out.finish())
}

impl<'a> Writer<'a> {
    pub(crate) fn new(out: SecureBuf, unit: &'a [u8], base_depth: usize) -> Self {
        Writer {
            out,
            unit,
            indent: vec![b'\n'],
            base_depth,
            stack: Vec::new(),
        }
    }

    /// Writes a newline and the indentation for the current depth.
    #[inline]
    fn newline(&mut self) {
        self.newline_at(self.base_depth + self.stack.len());
    }

    /// Writes a newline and the indentation for `depth`.
    pub(crate) fn newline_at(&mut self, depth: usize) {
        let n = depth.saturating_mul(self.unit.len()).saturating_add(1);
        while self.indent.len() < n {
            self.indent.extend_from_slice(self.unit);
        }
        self.out.push(self.indent.get(..n).unwrap_or(b"\n"));
    }

    /// Writes the members of a map slice (each preceded by `,` unless `first`), at
    /// `base_depth + 1`; the closing brace only if `close`.
    pub(crate) fn map_members(
        &mut self,
        items: &'a [Item],
        extra: Option<(&'a str, &'a Map)>,
        first: bool,
        close: bool,
    ) -> Result<(), FormatError> {
        self.stack.push(Frame::Map {
            items: items.iter(),
            extra,
            first,
        });
        self.run(!close)
    }

    /// Writes list elements (each preceded by `,` unless `first`) at `base_depth + 1`,
    /// without the closing bracket.
    pub(crate) fn seq_members(
        &mut self,
        items: &'a [SeqItem],
        first: bool,
    ) -> Result<(), FormatError> {
        self.stack.push(Frame::Seq {
            items: items.iter(),
            first,
        });
        self.run(true)
    }

    /// Writes a key and `": "`.
    pub(crate) fn key(&mut self, k: &str) {
        write_str(&mut self.out, k);
        self.out.push(b": ");
    }

    /// Writes a scalar, or the opening bracket of a non-empty container (pushing a frame).
    fn open(&mut self, node: Node<'a>) -> Result<(), FormatError> {
        let value = match node {
            Node::Map(m) => return self.open_map(m),
            Node::Value(v) => v,
        };
        match value {
            Value::Map(m) => self.open_map(m)?,
            Value::Seq(items) => {
                if items.iter().any(|i| matches!(i, SeqItem::Value(_))) {
                    self.out.byte(b'[');
                    self.stack.push(Frame::Seq {
                        items: items.iter(),
                        first: true,
                    });
                } else {
                    self.out.push(b"[]");
                }
            }
            scalar => write_scalar(&mut self.out, scalar)?,
        }
        Ok(())
    }

    fn open_map(&mut self, m: &'a Map) -> Result<(), FormatError> {
        if m.0.iter().any(|i| matches!(i, Item::Entry(..))) {
            self.out.byte(b'{');
            self.stack.push(Frame::Map {
                items: m.0.iter(),
                extra: None,
                first: true,
            });
        } else {
            self.out.push(b"{}");
        }
        Ok(())
    }

    /// Writes the remaining members of every open container, closing each; the bottom
    /// container is left open when `keep_open`.
    fn run(&mut self, keep_open: bool) -> Result<(), FormatError> {
        loop {
            let (next, is_map) = match self.stack.last_mut() {
                None => return Ok(()),
                Some(Frame::Map {
                    items,
                    extra,
                    first,
                }) => {
                    let next = items
                        .find_map(|i| match i {
                            Item::Entry(k, v) => Some((k.as_str(), Node::Value(v))),
                            Item::Comment(_) => None,
                        })
                        .or_else(|| extra.take().map(|(k, m)| (k, Node::Map(m))));
                    let was_first = std::mem::replace(first, false);
                    (next.map(|(k, n)| (Some(k), n, was_first)), true)
                }
                Some(Frame::Seq { items, first }) => {
                    let next = items.find_map(|i| match i {
                        SeqItem::Value(v) => Some(Node::Value(v)),
                        SeqItem::Comment(_) => None,
                    });
                    let was_first = std::mem::replace(first, false);
                    (next.map(|n| (None, n, was_first)), false)
                }
            };
            match next {
                Some((key, node, was_first)) => {
                    if !was_first {
                        self.out.byte(b',');
                    }
                    self.newline();
                    if let Some(k) = key {
                        self.key(k);
                    }
                    self.open(node)?;
                }
                None => {
                    self.stack.pop();
                    if keep_open && self.stack.is_empty() {
                        return Ok(());
                    }
                    self.newline();
                    self.out.byte(if is_map { b'}' } else { b']' });
                }
            }
        }
    }
}

/// Writes a scalar value as the writer does inside a document (containers are written
/// as empty ones: the writer itself opens them).
pub(crate) fn write_scalar(out: &mut SecureBuf, v: &Value) -> Result<(), FormatError> {
    match v {
        Value::Str(s) => write_str(out, s),
        Value::Bytes(b) => write_string(out, b),
        Value::Int(i) => write_int(out, *i),
        Value::Float(f) => write_float(out, *f)?,
        Value::Bool(true) => out.push(b"true"),
        Value::Bool(false) => out.push(b"false"),
        Value::Time(t) => {
            let s = Zeroizing::new(t.to_rfc3339_nano());
            write_string(out, s.as_bytes());
        }
        Value::Null => out.push(b"null"),
        Value::Map(_) => out.push(b"{}"),
        Value::Seq(_) => out.push(b"[]"),
    }
    Ok(())
}

/// Whether the writer writes the (UTF-8) bytes `s` as they are between the quotes of a
/// string (nothing in it needs an escape): then the text of a string in a file is the
/// writer's own text for its value.
pub(crate) fn nothing_escaped(s: &[u8]) -> bool {
    let mut i = 0;
    while let Some(off) = s.get(i..).and_then(first_special) {
        i += off;
        match (s.get(i), s.get(i + 1), s.get(i + 2)) {
            (Some(0xE2), Some(0x80), Some(0xA8 | 0xA9)) => return false,
            (Some(0xE2), ..) => i += 1,
            _ => return false,
        }
    }
    true
}

/// Bytes that need a look: the ASCII bytes Go's encoder escapes (with HTML escaping on)
/// and 0xE2, the first byte of U+2028/U+2029.
const SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t[b'<' as usize] = true;
    t[b'>' as usize] = true;
    t[b'&' as usize] = true;
    t[0xE2] = true;
    t
};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Writes a JSON string the way Go's `encoding/json` does: `\"`, `\\`, `\b`, `\f`, `\n`,
/// `\r`, `\t`, other controls and `<`, `>`, `&` as `\u00xx`, U+2028/U+2029 escaped, other
/// non-ASCII raw, and every byte of invalid UTF-8 as `\ufffd`.
pub fn write_string(out: &mut SecureBuf, bytes: &[u8]) {
    out.byte(b'"');
    // ASCII (most secrets) is valid UTF-8 as it is: checked a word at a time, it skips
    // the chunked validation, which walks the text byte by byte.
    if bytes.is_ascii() {
        write_valid(out, bytes);
    } else {
        for chunk in bytes.utf8_chunks() {
            write_valid(out, chunk.valid().as_bytes());
            for _ in chunk.invalid() {
                out.push(b"\\ufffd");
            }
        }
    }
    out.byte(b'"');
}

/// Writes a `str` as a JSON string (as [`write_string`], without re-validating UTF-8).
fn write_str(out: &mut SecureBuf, s: &str) {
    out.byte(b'"');
    write_valid(out, s.as_bytes());
    out.byte(b'"');
}

/// The index of the first byte of `s` that is [`SPECIAL`]. Eight bytes at a time: a
/// word is only looked at byte by byte when it holds a byte below 0x20 or one of the
/// special values (the usual "has zero byte" bit trick, exact as a yes/no answer).
#[inline]
fn first_special(s: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    #[inline(always)]
    fn has_zero(v: u64) -> u64 {
        v.wrapping_sub(LO) & !v & HI
    }
    let special = |b: &u8| SPECIAL[usize::from(*b)];
    let mut chunks = s.chunks_exact(8);
    let mut base = 0;
    for c in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(c);
        let w = u64::from_le_bytes(word);
        let hit = (w.wrapping_sub(LO * 0x20) & !w & HI)
            | has_zero(w ^ (LO * u64::from(b'"')))
            | has_zero(w ^ (LO * u64::from(b'\\')))
            | has_zero(w ^ (LO * u64::from(b'<')))
            | has_zero(w ^ (LO * u64::from(b'>')))
            | has_zero(w ^ (LO * u64::from(b'&')))
            | has_zero(w ^ (LO * 0xE2));
        if hit != 0 {
            return c.iter().position(special).map(|p| base + p);
        }
        base += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(special)
        .map(|p| base + p)
}

/// Writes valid UTF-8 string content with Go's escapes.
fn write_valid(out: &mut SecureBuf, s: &[u8]) {
    let mut start = 0;
    let mut i = 0;
    while let Some(off) = s.get(i..).and_then(first_special) {
        i += off;
        let b = s.get(i).copied().unwrap_or(0);
        let (esc, len): (&[u8], usize) = match b {
            b'"' => (b"\\\"", 1),
            b'\\' => (b"\\\\", 1),
            b'\n' => (b"\\n", 1),
            b'\r' => (b"\\r", 1),
            b'\t' => (b"\\t", 1),
            0x08 => (b"\\b", 1),
            0x0C => (b"\\f", 1),
            0xE2 => match (s.get(i + 1), s.get(i + 2)) {
                (Some(0x80), Some(0xA8)) => (b"\\u2028", 3),
                (Some(0x80), Some(0xA9)) => (b"\\u2029", 3),
                _ => {
                    i += 1;
                    continue;
                }
            },
            _ => (b"", 1),
        };
        out.push(s.get(start..i).unwrap_or(&[]));
        if esc.is_empty() {
            out.push(b"\\u00");
            out.byte(HEX[usize::from(b >> 4)]);
            out.byte(HEX[usize::from(b & 0xF)]);
        } else {
            out.push(esc);
        }
        i += len;
        start = i;
    }
    out.push(s.get(start..).unwrap_or(&[]));
}
