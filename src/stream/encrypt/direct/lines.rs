//! The line-level readers of the tree-free YAML encrypt: keys, values, end-of-line
//! comments, literal blocks (the fast reader's rules), the scalar typing shortcuts, and
//! the token writer that is off in the MAC pass.

use std::borrow::Cow;

use zeroize::Zeroizing;

use super::*;

impl<'a> St<'a, '_, '_, '_> {
    /// A key (plain or quoted) at byte `c`: its text and the index after its `:`.
    pub(super) fn key_at(text: &'a str, c: usize) -> R<Option<(Cow<'a, str>, bool, usize)>> {
        let b = text.as_bytes();
        match b.get(c) {
            Some(b'"' | b'\'') => {
                let (k, after) = quoted(text, c).map_err(|_| Fail::Decline)?;
                let colon = after + spaces(b, after);
                if b.get(colon) == Some(&b':') && matches!(b.get(colon + 1), None | Some(b' ')) {
                    Ok(Some((k, false, colon + 1)))
                } else {
                    Ok(None)
                }
            }
            _ => {
                if !plain_start_ok(b.get(c..).unwrap_or_default()) {
                    return Ok(None);
                }
                match plain_key(b, c) {
                    Some((end, after)) if end - c <= MAX_KEY => Ok(Some((
                        Cow::Borrowed(text.get(c..end).ok_or(Fail::Decline)?),
                        true,
                        after,
                    ))),
                    Some(_) => Err(Fail::Decline),
                    None => Ok(None),
                }
            }
        }
    }

    /// The value after `key:` (`key`, at byte `at`) or `-` (the value's first byte at
    /// `at`), and the comment at the end of its line. `parent` is the key's or the
    /// dash's column.
    pub(super) fn value(
        &mut self,
        text: &'a str,
        at: usize,
        parent: usize,
        key: bool,
    ) -> R<(Val<'a>, Option<&'a str>)> {
        let b = text.as_bytes();
        let v = at + spaces(b, at);
        let Some(&first) = b.get(v) else {
            return if key {
                Ok((Val::Empty, self.trail(text, at)?))
            } else {
                Err(Fail::Decline)
            };
        };
        if v == at && key {
            return Err(Fail::Decline);
        }
        match first {
            b'#' if key => Ok((Val::Empty, self.trail(text, at)?)),
            b'|' => self.literal(text, v, parent),
            b'{' | b'[' => {
                let map = first == b'{';
                match b.get(v + 1) {
                    Some(b'}') if map => {}
                    Some(b']') if !map => {}
                    _ => return Err(Fail::Decline),
                }
                if self.stack.len() >= MAX_DEPTH {
                    return Err(Fail::Decline);
                }
                let comment = self.trail(text, v + 2)?;
                // `x: [] # c`: the tree path makes the comment the list's only item,
                // which this scan does not write; the part is read as a tree instead.
                if key && !map && comment.is_some() {
                    return Err(Fail::Decline);
                }
                Ok((Val::Flow(map), comment))
            }
            b'"' | b'\'' => {
                let (s, after) = quoted(text, v).map_err(|_| Fail::Decline)?;
                Ok((Val::Scalar(s, false), self.trail(text, after)?))
            }
            _ => {
                if !plain_start_ok(b.get(v..).unwrap_or_default()) {
                    return Err(Fail::Decline);
                }
                let (end, rest) = plain_value(b, v).map_err(|_| Fail::Decline)?;
                let s = text.get(v..end).ok_or(Fail::Decline)?;
                Ok((Val::Scalar(Cow::Borrowed(s), true), self.trail(text, rest)?))
            }
        }
    }

    /// The end of a line after a value: spaces, then nothing or a comment.
    pub(super) fn trail(&self, text: &'a str, at: usize) -> R<Option<&'a str>> {
        let b = text.as_bytes();
        let n = spaces(b, at);
        match b.get(at + n) {
            None => Ok(None),
            Some(b'#') if at + n > 0 && b.get(at + n - 1) == Some(&b' ') => {
                Ok(Some(text.get(at + n + 1..).ok_or(Fail::Decline)?))
            }
            Some(_) => Err(Fail::Decline),
        }
    }

    ///
    /// (The line is found with a plain search for its end: a line with characters the
    /// fast reader does not take is refused when it is read, whatever this decides.)
    pub(super) fn nested_follows(&self, kc: usize, dash_same: bool) -> bool {
        let src: &[u8] = self.src;
        let mut pos = self.pos;
        while let Some(rest) = src.get(pos..).filter(|r| !r.is_empty()) {
            let end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
            let b = rest.get(..end).unwrap_or_default();
            let ind = spaces(b, 0);
            match b.get(ind) {
                None | Some(b'#') => pos += end + 1,
                Some(_) => {
                    return ind > kc
                        || (dash_same && ind == kc && is_dash(b.get(ind..).unwrap_or_default()));
                }
            }
        }
        false
    }

    /// A literal block scalar whose `|` is at byte `h` (the fast reader's rules).
    pub(super) fn literal(
        &mut self,
        text: &'a str,
        h: usize,
        parent: usize,
    ) -> R<(Val<'a>, Option<&'a str>)> {
        let b = text.as_bytes();
        let (explicit, chomp, at) = block_header(b, h).ok_or(Fail::Decline)?;
        let comment = match at {
            None => None,
            Some(at) => Some(text.get(at + 1..).ok_or(Fail::Decline)?),
        };
        let mut m = explicit.map(|k| parent + k);
        let mut out = Zeroizing::new(String::new());
        let (mut breaks, mut lead_max, mut first) = (0usize, 0usize, true);
        while let Some((tb, next, ok)) = self.peek(self.pos) {
            let s = spaces(tb, 0);
            if s == tb.len() {
                match m {
                    Some(m) if s > m => return Err(Fail::Decline),
                    None => lead_max = lead_max.max(s),
                    _ => {}
                }
                breaks += 1;
                self.take(tb, ok, next)?;
            } else {
                let mm = match m {
                    Some(mm) => mm,
                    None if s <= parent || lead_max > s => return Err(Fail::Decline),
                    None => {
                        m = Some(s);
                        s
                    }
                };
                if s < mm {
                    break;
                }
                let t = self.take(tb, ok, next)?;
                if first {
                    first = false;
                } else {
                    out.push('\n');
                }
                out.extend(std::iter::repeat_n('\n', breaks));
                breaks = 0;
                out.push_str(t.get(mm..).ok_or(Fail::Decline)?);
            }
            if next == self.src.len() && !self.src.ends_with(b"\n") {
                return Err(Fail::Decline);
            }
        }
        if first || m.is_none() {
            return Err(Fail::Decline);
        }
        chomp_block(&mut out, chomp, breaks);
        Ok((Val::Block(out), comment))
    }

    /// A scalar leaf at the path in `aad`: its MAC input, its text and its tokens.
    pub(super) fn leaf(&mut self, val: Val<'a>, matched: bool) -> R<()> {
        let encrypt = self.decide(matched)?;
        self.after_null = matches!(val, Val::Empty);
        if let Val::Flow(map) = val {
            self.em.write_text(if map { "{}" } else { "[]" });
            if map {
                self.tok().map(true);
                self.tok().map(false);
            } else {
                self.tok().list(true);
                self.tok().list(false);
            }
            return Ok(());
        }
        let typed: Option<Value> = match &val {
            Val::Empty => Some(Value::Null),
            Val::Scalar(s, true) if quick_number(s).is_some() => None,
            Val::Scalar(s, true) if !str_plain(s) => match resolve_plain(s) {
                Ok(Value::Str(_)) => None,
                Ok(v) => Some(v),
                Err(_) => return Err(Fail::Decline),
            },
            _ => None,
        };
        let holder = typed.as_ref().and_then(value::plaintext_of);
        let (plain, typ): (Option<&[u8]>, ValueType) = match (&typed, &holder, &val) {
            (None, _, Val::Scalar(s, true)) if let Some(t) = quick_number(s) => {
                (Some(s.as_bytes()), t)
            }
            (Some(_), Some((p, t)), _) => (Some(&p[..]), *t),
            (Some(_), None, _) => (None, ValueType::Str),
            (None, _, Val::Scalar(s, _)) => (Some(s.as_bytes()), ValueType::Str),
            (None, _, Val::Block(s)) => (Some(s.as_bytes()), ValueType::Str),
            (None, _, Val::Empty | Val::Flow(_)) => return Err(Fail::Decline),
        };
        if self.want_mac
            && let Some(p) = plain
            && (!self.job.mac_only || encrypt)
        {
            self.mac.extend(p);
        }
        if !self.em.on {
            return Ok(());
        }
        if encrypt
            && let Some(p) = plain
            && !p.is_empty()
        {
            let Some(s) = self.sealer.as_mut() else {
                return Err(Fail::Decline);
            };
            let aad = &self.aad;
            let (span, at) = self
                .em
                .write_with(value::sealed_len(p.len(), typ), |out| {
                    s.seal_append(aad, p, typ, out)
                })
                .map_err(Fail::Seal)?;
            // The tokens from the fields just written (what `Tokens::text` finds in
            // them again).
            let tag = self
                .em
                .written()
                .get(at + span.tag_at..at + span.tag_at + 24)
                .and_then(|t| std::str::from_utf8(t).ok())
                .ok_or(Fail::Decline)?;
            self.tokens.encrypted(typ.name(), span.data_len, tag);
            return Ok(());
        }
        // A value left clear: the emitter's own rendering of it.
        let clear = match (typed, &val) {
            (Some(t), _) => t,
            (None, Val::Scalar(s, true)) if quick_number(s).is_some() => {
                resolve_plain(s).map_err(|_| Fail::Decline)?
            }
            (None, _) => {
                let s =
                    std::str::from_utf8(plain.unwrap_or_default()).map_err(|_| Fail::Decline)?;
                if is_encrypted_comment_text(s) {
                    return Err(Fail::Decline);
                }
                Value::Str(Text::from(s))
            }
        };
        let r = inline_value(&clear).ok_or(Fail::Decline)?;
        self.em.write_text(&r);
        self.tok().scalar(&clear);
        Ok(())
    }
}

/// [`Tokens`] when they are wanted (the MAC pass skips them).
pub(super) struct Toks<'t>(pub(super) Option<&'t mut Tokens>);

impl Toks<'_> {
    pub(super) fn key(self, k: &str) {
        if let Some(t) = self.0 {
            t.key(k);
        }
    }
    pub(super) fn map(self, open: bool) {
        if let Some(t) = self.0 {
            t.map(open);
        }
    }
    pub(super) fn list(self, open: bool) {
        if let Some(t) = self.0 {
            t.list(open);
        }
    }
    pub(super) fn scalar(self, v: &Value) {
        if let Some(t) = self.0 {
            t.scalar(v);
        }
    }
}

/// Whether a plain key reads as a string (the builder rejects any other key).
pub(super) fn key_is_str(k: &str) -> bool {
    str_plain(k) || matches!(resolve_plain(k), Ok(Value::Str(_)))
}

/// [`plain_resolves_to_str`], answered at once for a word that starts with a letter and
/// is longer than every YAML 1.1 and 1.2 special word (`false`, `FALSE`, `null`, `yes`,
/// `off`, …: at most five characters).
pub(super) fn str_plain(s: &str) -> bool {
    match s.as_bytes().first() {
        Some(c) if c.is_ascii_alphabetic() && s.len() > 5 => true,
        _ => plain_resolves_to_str(s),
    }
}

/// The type of a plain scalar that is a number whose text is already the plaintext form
/// of the value it resolves to: a decimal integer without leading zeros (not `-0`), or a
/// decimal fraction without leading zeros in its integer part and without trailing zeros,
/// of at most 15 characters (so at most 15 significant digits: the nearest double prints
/// back as the same digits, Go's `FormatFloat(f, 'f', -1)` and `value::format_float`).
/// `None` for anything else, which `resolve_plain` types.
pub(in crate::stream::encrypt) fn quick_number(s: &str) -> Option<ValueType> {
    let b = s.as_bytes();
    let digits = b.strip_prefix(b"-").unwrap_or(b);
    if digits.is_empty() || digits.len() > 15 || s == "-0" {
        return None;
    }
    let (int, frac) = match digits.iter().position(|&c| c == b'.') {
        Some(i) => (digits.get(..i)?, Some(digits.get(i + 1..)?)),
        None => (digits, None),
    };
    let all = |d: &[u8]| !d.is_empty() && d.iter().all(u8::is_ascii_digit);
    if !all(int) || (int.len() > 1 && int.first() == Some(&b'0')) {
        return None;
    }
    match frac {
        None => Some(ValueType::Int),
        Some(f) if all(f) && f.last() != Some(&b'0') => Some(ValueType::Float),
        Some(_) => None,
    }
}
