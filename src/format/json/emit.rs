//! The JSON writer: Go `encoding/json` value encoding followed by `json.Indent`, produced
//! in one pass.
//!
//! Iterative (explicit stack), so deep trees do not overflow the stack. The output buffer
//! is wiped when it grows and when it is dropped, so plaintext does not linger in freed
//! memory.

use zeroize::Zeroizing;

use crate::format::EmitOptions;
use crate::format::FormatError;
use crate::format::Output;
use crate::tree::Item;
use crate::tree::Map;
use crate::tree::SeqItem;
use crate::tree::Value;

const FORMAT: &str = "json";

/// The largest indentation accepted (spaces per level).
const MAX_INDENT: i64 = 1024;

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
            "JSON indentation larger than 1024 is not accepted",
        )),
        Some(n) => Ok(vec![b' '; usize::try_from(n).unwrap_or(0)]),
    }
}

/// An output buffer that never leaves copies of its contents in freed memory.
pub struct SecureBuf {
    buf: Output,
}

impl SecureBuf {
    /// An empty buffer with some initial capacity.
    pub fn with_capacity(cap: usize) -> Self {
        SecureBuf {
            buf: Zeroizing::new(Vec::with_capacity(cap)),
        }
    }

    fn reserve(&mut self, extra: usize) {
        let need = self.buf.len().saturating_add(extra);
        if need > self.buf.capacity() {
            let cap = need.max(self.buf.capacity().saturating_mul(2)).max(256);
            let mut grown = Zeroizing::new(Vec::with_capacity(cap));
            grown.extend_from_slice(&self.buf);
            // The old buffer is zeroized when it is dropped here.
            self.buf = grown;
        }
    }

    /// Appends bytes.
    pub fn push(&mut self, b: &[u8]) {
        self.reserve(b.len());
        self.buf.extend_from_slice(b);
    }

    fn byte(&mut self, b: u8) {
        self.reserve(1);
        self.buf.push(b);
    }

    /// The finished output.
    pub fn finish(self) -> Output {
        self.buf
    }
}

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
struct Writer<'a> {
    out: SecureBuf,
    unit: &'a [u8],
    stack: Vec<Frame<'a>>,
}

/// Writes the top-level object of a document, with `meta` appended as a last `sops`
/// member, and a final newline.
pub fn emit_top(map: &Map, meta: Option<&Map>, unit: &[u8]) -> Result<Output, FormatError> {
    let mut w = Writer {
        out: SecureBuf::with_capacity(4096),
        unit,
        stack: Vec::new(),
    };
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
        w.run()?;
    }
    w.out.byte(b'\n');
    Ok(w.out.finish())
}

/// Writes one value on its own, indented the same way, without a final newline (as
/// sops's `EmitValue`).
pub fn emit_single(value: &Value, unit: &[u8]) -> Result<Output, FormatError> {
    let mut w = Writer {
        out: SecureBuf::with_capacity(256),
        unit,
        stack: Vec::new(),
    };
    w.open(Node::Value(value))?;
    w.run()?;
    Ok(w.out.finish())
}

impl<'a> Writer<'a> {
    fn newline(&mut self) {
        self.out.byte(b'\n');
        for _ in 0..self.stack.len() {
            self.out.push(self.unit);
        }
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
            Value::Str(s) => write_str(&mut self.out, s),
            Value::Bytes(b) => write_string(&mut self.out, b),
            Value::Int(i) => write_int(&mut self.out, *i),
            Value::Float(f) => self.out.push(format_float(*f)?.as_bytes()),
            Value::Bool(true) => self.out.push(b"true"),
            Value::Bool(false) => self.out.push(b"false"),
            Value::Time(t) => write_string(&mut self.out, t.to_rfc3339_nano().as_bytes()),
            Value::Null => self.out.push(b"null"),
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

    /// Writes the remaining members of every open container.
    fn run(&mut self) -> Result<(), FormatError> {
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
                        write_str(&mut self.out, k);
                        self.out.push(b": ");
                    }
                    self.open(node)?;
                }
                None => {
                    self.stack.pop();
                    self.newline();
                    self.out.byte(if is_map { b'}' } else { b']' });
                }
            }
        }
    }
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
    for chunk in bytes.utf8_chunks() {
        write_valid(out, chunk.valid().as_bytes());
        for _ in chunk.invalid() {
            out.push(b"\\ufffd");
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

/// Writes valid UTF-8 string content with Go's escapes.
fn write_valid(out: &mut SecureBuf, s: &[u8]) {
    let mut start = 0;
    let mut i = 0;
    while let Some(off) = s
        .get(i..)
        .and_then(|r| r.iter().position(|&b| SPECIAL[usize::from(b)]))
    {
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

/// Writes an integer in decimal without allocating.
fn write_int(out: &mut SecureBuf, n: i64) {
    let mut buf = [0u8; 20];
    let mut pos = buf.len();
    let mut u = n.unsigned_abs();
    loop {
        pos -= 1;
        if let Some(slot) = buf.get_mut(pos) {
            *slot = b'0' + (u % 10) as u8;
        }
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if n < 0 {
        out.byte(b'-');
    }
    out.push(buf.get(pos..).unwrap_or(&[]));
}

/// Formats a float as Go's `encoding/json` writes a `float64`: shortest round-trip digits,
/// positional unless |x| < 1e-6 or |x| >= 1e21 (then `1e-7`, `1.5e+21`). NaN and
/// infinities are an error.
pub fn format_float(f: f64) -> Result<String, FormatError> {
    if !f.is_finite() {
        return Err(FormatError::new(
            FORMAT,
            "NaN and infinite numbers cannot be written as JSON",
        ));
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{f:e}");
        Ok(match s.split_once('e') {
            Some((mant, exp)) if exp.starts_with('-') => format!("{mant}e{exp}"),
            Some((mant, exp)) => format!("{mant}e+{exp}"),
            None => s,
        })
    } else {
        Ok(format!("{f}"))
    }
}
