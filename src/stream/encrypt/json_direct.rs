//! The tree-free path of the streaming JSON encrypt: one part's plaintext members read in
//! order, without building their tree, for both passes of `super` (the MAC input, then
//! the encrypted text and its integrity tokens).
//!
//! The scanner takes strict JSON only, a subset of what the tree reader
//! (`format/json/parse.rs`) accepts: the four whitespace bytes, strings without raw
//! control bytes and with valid escapes (a `\u` escape of a lone surrogate is declined:
//! the reader replaces it), numbers in JSON's grammar whose value the reader keeps
//! (`number_value`), `true`, `false`, `null`, and nesting up to [`MAX_DEPTH`]. A key
//! with an escape, a `sops` member at the root, duplicate keys among the part's own
//! members (reported to the caller, which checks them across parts as for a tree) and
//! anything else it does not know make [`part`] return `Ok(None)`: the part is then read
//! as a tree, so that every error of an unusual file is the tree path's.
//!
//! Where the tree path re-emits the part's encrypted tree with the JSON writer
//! (`format/json/emit.rs`, `Writer::map_members`), the scanner writes the same bytes as
//! it reads: each member on its own line at the writer's indentation, `": "` after the
//! key (written by `write_string`), `{}` and `[]` for empty containers, each leaf the
//! selector picks as its `ENC[…]` text (`Sealer`, AAD = the key path, `type:` from the
//! leaf's type) and every other leaf as the writer writes its value (`write_scalar`).
//! The MAC input is the plaintext form of each leaf in document order (the walk's
//! order, `value::plaintext_of`), and the integrity tokens are those
//! `integrity::entry_tokens` gives for the encrypted tree (of the big member's object
//! for a sub-part).

use zeroize::Zeroizing;

use super::direct::Bufs;
use super::direct::Chunks;
use super::direct::Done;
use super::direct::quick_number;
use super::direct::token_room;
use crate::crypto::document::DocumentError;
use crate::crypto::document::Sealer;
use crate::crypto::integrity::Tokens;
use crate::crypto::value;
use crate::crypto::value::ValueType;
use crate::format::json::emit::SecureBuf;
use crate::format::json::emit::write_scalar;
use crate::format::json::emit::write_string;
use crate::format::json::number_end;
use crate::format::json::number_value;
use crate::tree::Value;
use crate::walk::Selector;

/// The deepest nesting taken (deeper parts are read as trees, with the reader's limit).
const MAX_DEPTH: usize = 64;

/// What every part of a file shares.
pub(super) struct Job<'a> {
    pub sel: &'a Selector,
    pub mac_only: bool,
    /// The writer's indentation unit.
    pub unit: &'a [u8],
}

/// Which part of the plan this is (`json_split::Part`).
pub(super) enum Kind<'a> {
    /// Members of the root; `first`: the root's first ones (the output opens the root).
    Top { first: bool },
    /// Members of the object of the big root member `key`.
    Sub {
        first: bool,
        last: bool,
        after_members: bool,
        key: &'a str,
    },
}

enum Fail {
    /// Not in the subset: the part's tree path.
    Decline,
    /// Sealing failed (the random generator).
    Seal(DocumentError),
}

type R<T> = Result<T, Fail>;

/// Reads one part (`text`: a run of members without braces) directly: the MAC pass
/// without `sealer`, the writing pass with it (writing into `bufs`' allocations).
/// `Ok(None)` when the part must be read as a tree.
pub(super) fn part(
    text: &[u8],
    kind: &Kind<'_>,
    job: &Job<'_>,
    sealer: Option<&mut Sealer<'_>>,
    bufs: Bufs<'_>,
) -> Result<Option<Done>, DocumentError> {
    if job.sel.is_comment_based() {
        return Ok(None);
    }
    // Validated once: every string is then a slice of it between ASCII quotes.
    let Ok(s) = std::str::from_utf8(text) else {
        return Ok(None);
    };
    let write = sealer.is_some();
    // Room for the whole text and tokens at once: a buffer that grows copies what it
    // holds into fresh memory (large.json's encrypted text is about 3.2 times its
    // plaintext). Room reserved and never written costs nothing.
    let (out, tokens_buf) = if write {
        (
            SecureBuf::reusing(bufs.out(text.len().saturating_mul(4) + 65536)),
            bufs.tokens(token_room(text.len())),
        )
    } else {
        (SecureBuf::reusing(Vec::new()), Vec::new())
    };
    let mut sc = Scan {
        src: text,
        text: s,
        pos: 0,
        job,
        sealer,
        on: write,
        out,
        tokens: Tokens::reusing(tokens_buf, job.mac_only),
        mac: Chunks::new(bufs.mac_pool()),
        aad: String::new(),
        indent: vec![b'\n'],
        scratch: Zeroizing::new(Vec::new()),
        keys: Vec::new(),
    };
    let (depth, first) = match *kind {
        Kind::Top { first } => {
            if first && write {
                sc.out.byte(b'{');
            }
            (1, first)
        }
        Kind::Sub {
            first,
            after_members,
            key,
            ..
        } => {
            if first && write {
                sc.out.byte(if after_members { b',' } else { b'{' });
                sc.newline_at(1);
                write_string(&mut sc.out, key.as_bytes());
                sc.out.push(b": {");
            }
            sc.aad.push_str(key);
            sc.aad.push(':');
            (2, first)
        }
    };
    let matched = match kind {
        Kind::Top { .. } => false,
        Kind::Sub { key, .. } => job.sel.component_matches(key),
    };
    match sc.run(depth, first, matched) {
        Ok(()) => {}
        Err(Fail::Decline) => return Ok(None),
        Err(Fail::Seal(e)) => return Err(e),
    }
    if let Kind::Sub { last: true, .. } = kind
        && write
    {
        sc.newline_at(1);
        sc.out.byte(b'}');
    }
    let entry_key = match kind {
        Kind::Top { .. } => None,
        Kind::Sub { key, .. } => Some((*key).to_owned()),
    };
    Ok(Some(Done {
        out: write.then(|| sc.out.finish()),
        tokens: sc.tokens.into_bytes(),
        mac: sc.mac.into_inner(),
        entry_key,
        keys: sc.keys,
    }))
}

/// A string read from the text.
enum Str<'a> {
    /// Without escapes: its text in the file.
    Raw(&'a str),
    /// With escapes: its value is in `Scan::scratch`.
    Unescaped,
}

struct Scan<'a, 'j, 's, 'c> {
    src: &'a [u8],
    /// `src` as text.
    text: &'a str,
    pos: usize,
    job: &'j Job<'j>,
    sealer: Option<&'s mut Sealer<'c>>,
    /// The writing pass.
    on: bool,
    out: SecureBuf,
    tokens: Tokens,
    mac: Chunks<'a>,
    aad: String,
    /// A line break and the indentation unit repeated for the deepest level so far.
    indent: Vec<u8>,
    /// The value of a string with escapes (wiped on drop).
    scratch: Zeroizing<Vec<u8>>,
    /// The keys of the part's own members (MAC pass).
    keys: Vec<String>,
}

impl<'a> Scan<'a, '_, '_, '_> {
    fn skip_ws(&mut self) {
        let src = self.src;
        let mut i = self.pos;
        // A line's indentation eight spaces at a time (deep lines of an indented file
        // start with many), the rest byte by byte.
        loop {
            while src.get(i..i + 8) == Some(b"        ".as_slice()) {
                i += 8;
            }
            match src.get(i) {
                Some(b' ' | b'\t' | b'\n' | b'\r') => i += 1,
                _ => break,
            }
        }
        self.pos = i;
    }

    /// The next byte after whitespace.
    fn next(&mut self) -> Option<u8> {
        self.skip_ws();
        self.src.get(self.pos).copied()
    }

    fn newline_at(&mut self, depth: usize) {
        let n = depth.saturating_mul(self.job.unit.len()).saturating_add(1);
        while self.indent.len() < n {
            self.indent.extend_from_slice(self.job.unit);
        }
        self.out.push(self.indent.get(..n).unwrap_or(b"\n"));
    }

    /// The part's members at `depth` (the root's are at 1): the first without a comma
    /// before it in the output when `first`; then nothing but whitespace.
    fn run(&mut self, depth: usize, first: bool, matched: bool) -> R<()> {
        let mut count = 0usize;
        loop {
            if self.next() != Some(b'"') {
                return Err(Fail::Decline);
            }
            if self.on && (count > 0 || !first) {
                self.out.byte(b',');
            }
            let k = self.member(depth, matched)?;
            // The root's `sops` member is the metadata, and `SOPS` names it for sops's
            // reader: the tree path's business.
            if depth == 1 && crate::metadata::names::names_the_metadata(k) {
                return Err(Fail::Decline);
            }
            // (The keys are checked across parts after the MAC pass only.)
            if !self.on {
                self.keys.push(k.to_owned());
            }
            count += 1;
            match self.next() {
                Some(b',') => self.pos += 1,
                None => return Ok(()),
                Some(_) => return Err(Fail::Decline),
            }
        }
    }

    /// One member (`"key": value`) at `depth`; its key.
    fn member(&mut self, depth: usize, matched: bool) -> R<&'a str> {
        let Str::Raw(k) = self.string(true)? else {
            return Err(Fail::Decline);
        };
        if self.next() != Some(b':') {
            return Err(Fail::Decline);
        }
        self.pos += 1;
        if self.on {
            self.newline_at(depth);
            write_string(&mut self.out, k.as_bytes());
            self.out.push(b": ");
            self.tokens.key(k);
        }
        let len = self.aad.len();
        self.aad.push_str(k);
        self.aad.push(':');
        let m = matched || self.job.sel.component_matches(k);
        let r = self.value(depth, m);
        self.aad.truncate(len);
        r?;
        Ok(k)
    }

    /// A value whose line is at `depth`.
    fn value(&mut self, depth: usize, matched: bool) -> R<()> {
        match self.next() {
            Some(open @ (b'{' | b'[')) => self.container(depth, matched, open == b'{'),
            Some(b'"') => {
                let s = self.string(false)?;
                self.text(s, matched)
            }
            Some(b't') => self.word(b"true", &Value::Bool(true), matched),
            Some(b'f') => self.word(b"false", &Value::Bool(false), matched),
            Some(b'n') => self.word(b"null", &Value::Null, matched),
            Some(b'-' | b'0'..=b'9') => self.number(matched),
            _ => Err(Fail::Decline),
        }
    }

    fn container(&mut self, depth: usize, matched: bool, is_map: bool) -> R<()> {
        if depth >= MAX_DEPTH {
            return Err(Fail::Decline);
        }
        self.pos += 1;
        let close = if is_map { b'}' } else { b']' };
        if self.on {
            if is_map {
                self.tokens.map(true);
            } else {
                self.tokens.list(true);
            }
        }
        if self.next() == Some(close) {
            self.pos += 1;
            if self.on {
                self.out.push(if is_map { b"{}" } else { b"[]" });
            }
        } else {
            if self.on {
                self.out.byte(if is_map { b'{' } else { b'[' });
            }
            let mut first = true;
            loop {
                if self.on && !first {
                    self.out.byte(b',');
                }
                first = false;
                if is_map {
                    if self.next() != Some(b'"') {
                        return Err(Fail::Decline);
                    }
                    self.member(depth + 1, matched)?;
                } else {
                    if self.on {
                        self.newline_at(depth + 1);
                    }
                    self.value(depth + 1, matched)?;
                }
                match self.next() {
                    Some(b',') => self.pos += 1,
                    Some(c) if c == close => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(Fail::Decline),
                }
            }
            if self.on {
                self.newline_at(depth);
                self.out.byte(close);
            }
        }
        if self.on {
            if is_map {
                self.tokens.map(false);
            } else {
                self.tokens.list(false);
            }
        }
        Ok(())
    }

    /// A string at `pos` (its opening quote): its text, or its value in `scratch` when it
    /// has escapes (`key`: escapes are declined).
    fn string(&mut self, key: bool) -> R<Str<'a>> {
        let start = self.pos + 1;
        let src: &'a [u8] = self.src;
        let rest = src.get(start..).ok_or(Fail::Decline)?;
        let end = memchr::memchr2(b'"', b'\\', rest).ok_or(Fail::Decline)?;
        let run = rest.get(..end).ok_or(Fail::Decline)?;
        if has_control(run) {
            return Err(Fail::Decline);
        }
        if rest.get(end) == Some(&b'"') {
            self.pos = start + end + 1;
            let t = self.text.get(start..start + end).ok_or(Fail::Decline)?;
            return Ok(Str::Raw(t));
        }
        if key {
            return Err(Fail::Decline);
        }
        self.scratch.clear();
        let mut i = 0usize;
        loop {
            let r = rest.get(i..).ok_or(Fail::Decline)?;
            let n = memchr::memchr2(b'"', b'\\', r).ok_or(Fail::Decline)?;
            let run = r.get(..n).ok_or(Fail::Decline)?;
            if has_control(run) {
                return Err(Fail::Decline);
            }
            crate::secbuf::extend_wiped(&mut self.scratch, run);
            i += n;
            if rest.get(i) == Some(&b'"') {
                self.pos = start + i + 1;
                return Ok(Str::Unescaped);
            }
            let (c, len) = unescape(rest.get(i..).unwrap_or_default()).ok_or(Fail::Decline)?;
            let mut b = [0u8; 4];
            crate::secbuf::extend_wiped(&mut self.scratch, c.encode_utf8(&mut b).as_bytes());
            i += len;
        }
    }

    /// Whether the selector wants the current leaf encrypted.
    fn decide(&self, matched: bool) -> bool {
        match self.job.sel {
            Selector::UnencryptedSuffix(_) | Selector::UnencryptedRegex(_) => !matched,
            Selector::EncryptedSuffix(_) | Selector::EncryptedRegex(_) => matched,
            // (Declined in `part`.)
            Selector::UnencryptedCommentRegex(_) | Selector::EncryptedCommentRegex(_) => false,
        }
    }

    /// A string leaf.
    fn text(&mut self, s: Str<'a>, matched: bool) -> R<()> {
        let encrypt = self.decide(matched);
        let scratch = std::mem::take(&mut self.scratch);
        let plain: &[u8] = match s {
            Str::Raw(t) => t.as_bytes(),
            Str::Unescaped => &scratch,
        };
        let r = self.leaf(plain, ValueType::Str, encrypt, None);
        self.scratch = scratch;
        r
    }

    /// `true`, `false` or `null`.
    fn word(&mut self, w: &[u8], v: &Value, matched: bool) -> R<()> {
        if self.src.get(self.pos..self.pos + w.len()) != Some(w) {
            return Err(Fail::Decline);
        }
        self.pos += w.len();
        let encrypt = self.decide(matched);
        match value::plaintext_of(v) {
            Some((p, typ)) => self.leaf(&p, typ, encrypt, Some(v)),
            None => {
                if self.on {
                    write_scalar(&mut self.out, v).map_err(|_| Fail::Decline)?;
                    self.tokens.scalar(v);
                }
                Ok(())
            }
        }
    }

    /// A number in JSON's grammar whose value the reader keeps.
    fn number(&mut self, matched: bool) -> R<()> {
        let start = self.pos;
        let src = self.src;
        let (at, integral) = number_end(src, start).ok_or(Fail::Decline)?;
        // A number runs into the next token only through a byte of its own grammar.
        if src
            .get(at)
            .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-'))
        {
            return Err(Fail::Decline);
        }
        self.pos = at;
        let t = self.text.get(start..at).ok_or(Fail::Decline)?;
        let encrypt = self.decide(matched);
        if encrypt && let Some(typ) = quick_number(t) {
            return self.leaf(t.as_bytes(), typ, true, None);
        }
        let v = number_value(t, integral).map_err(|_| Fail::Decline)?;
        let (p, typ) = value::plaintext_of(&v).ok_or(Fail::Decline)?;
        self.leaf(&p, typ, encrypt, Some(&v))
    }

    /// A leaf whose plaintext form is `plain`: its MAC input, then (writing pass) its
    /// `ENC[…]` text, or the writer's text of its value `v` (a string's when `None`).
    fn leaf(&mut self, plain: &[u8], typ: ValueType, encrypt: bool, v: Option<&Value>) -> R<()> {
        if !self.on {
            if !self.job.mac_only || encrypt {
                self.mac.extend(plain);
            }
            return Ok(());
        }
        if encrypt && !plain.is_empty() {
            let Some(s) = self.sealer.as_mut() else {
                return Err(Fail::Decline);
            };
            let aad = &self.aad;
            self.out.byte(b'"');
            let at = self.out.as_slice().len();
            let span = self
                .out
                .append_with(value::sealed_len(plain.len(), typ), |out| {
                    s.seal_append(aad, plain, typ, out)
                })
                .map_err(Fail::Seal)?;
            self.out.byte(b'"');
            let tag = self
                .out
                .as_slice()
                .get(at + span.tag_at..at + span.tag_at + 24)
                .and_then(|t| std::str::from_utf8(t).ok())
                .ok_or(Fail::Decline)?;
            self.tokens.encrypted(typ.name(), span.data_len, tag);
            return Ok(());
        }
        match v {
            Some(v) => {
                write_scalar(&mut self.out, v).map_err(|_| Fail::Decline)?;
                self.tokens.scalar(v);
            }
            None => {
                write_string(&mut self.out, plain);
                let t = std::str::from_utf8(plain).map_err(|_| Fail::Decline)?;
                self.tokens.text(t);
            }
        }
        Ok(())
    }
}

/// Whether `run` holds a control byte (below 0x20), which JSON strings may not hold raw.
/// Without the early exit of `any`, so that the compiler checks many bytes per step.
fn has_control(run: &[u8]) -> bool {
    run.iter().fold(false, |found, &b| found | (b < 0x20))
}

/// The character of the escape at the start of `e` (its `\`) and the escape's length;
/// `None` for an invalid escape or a lone surrogate (the reader's business).
fn unescape(e: &[u8]) -> Option<(char, usize)> {
    let c = match e.get(1)? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => {
            let hi = hex4(e.get(2..6)?)?;
            if (0xD800..0xDC00).contains(&hi) {
                if e.get(6..8)? != b"\\u" {
                    return None;
                }
                let lo = hex4(e.get(8..12)?)?;
                if !(0xDC00..0xE000).contains(&lo) {
                    return None;
                }
                let cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                return Some((char::from_u32(cp)?, 12));
            }
            return Some((char::from_u32(hi)?, 6));
        }
        _ => return None,
    };
    Some((c, 2))
}

/// Four hex digits.
fn hex4(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b.get(..4)? {
        v = (v << 4) | char::from(c).to_digit(16)?;
    }
    Some(v)
}

#[cfg(test)]
mod tests;
