//! The tree-free path of the streaming YAML encrypt: one part's plaintext lines read in
//! order, without building its tree, for both passes of `super` (the MAC input, then the
//! encrypted text and its integrity tokens).
//!
//! The scanner accepts a subset of what the fast block-YAML reader
//! (`format/yaml/fast.rs`) accepts and follows its rules line for line (indentation,
//! indentless lists, plain, quoted and literal scalars, the same character and key
//! checks), so that it never takes a part the reader would reject. Where the reader
//! hands events to the tree builder, the scanner applies the builder's rules itself
//! (scalar typing with the same `resolve` functions, duplicate and non-string keys, the
//! nesting limit, and where each comment lands: before the next key or list item,
//! inside a collection that closes when its column is at or right of the collection's,
//! an end-of-line comment before its entry), and writes at once what the emitter
//! (`format/yaml/emit.rs`) writes for that tree: its indentation, list dashes, comments
//! on their own lines at the collection's column (encrypted ones as `#ENC[…]`, or as a
//! `- ENC[…]` item inside a list), a blank line after foot comments where the emitter
//! puts one, and each scalar as its `ENC[…]` text (`Sealer`, AAD = the key path,
//! `type:` from the scalar's resolved type) or, when the selector leaves it clear, as the
//! emitter renders that value. The MAC input is the plaintext form of each leaf in
//! document order (the tree walk's order) and the integrity tokens are those
//! `integrity::entry_tokens` gives for the encrypted tree.
//!
//! Anything else (several documents, flow collections, anchors, tags, folded scalars,
//! lists in lists, empty list items, `{}`/`[]`, a key the emitter would not write from
//! its own text, a comment at the end of the root map, comment-based selectors, …) makes
//! [`part`] return `Ok(None)`, and the part is read as a tree as before: the direct path
//! only ever saves work, the bytes are those of the tree path.

use std::borrow::Cow;
use std::collections::HashSet;

use zeroize::Zeroizing;

use crate::crypto::document::DocumentError;
use crate::crypto::document::Sealer;
use crate::crypto::integrity::Tokens;
use crate::crypto::value;
use crate::crypto::value::ValueType;
use crate::format::MAX_DEPTH;
use crate::format::Output;
use crate::format::yaml::inline_string;
use crate::format::yaml::inline_value;
use crate::format::yaml::scan::is_dash;
use crate::format::yaml::scan::plain_key;
use crate::format::yaml::scan::plain_resolves_to_str;
use crate::format::yaml::scan::plain_start_ok;
use crate::format::yaml::scan::plain_value;
use crate::format::yaml::scan::quoted;
use crate::format::yaml::scan::resolve_plain;
use crate::format::yaml::scan::scan_line;
use crate::format::yaml::scan::spaces;
use crate::tree::Text;
use crate::tree::Value;
use crate::tree::is_encrypted_comment_text;
use crate::walk::Selector;

mod out;

use out::Chunks;
use out::Em;

/// Longest implicit key the fast reader accepts.
const MAX_KEY: usize = 1000;
/// Maps with more keys are checked for duplicates with a set.
const LINEAR_DUP_SCAN: usize = 24;

/// What every part of a file shares.
pub(super) struct Job<'a> {
    pub sel: &'a Selector,
    pub mac_only: bool,
    /// The emitter's indentation.
    pub n: usize,
}

/// One part read directly.
pub(super) struct Done {
    /// The encrypted text (writing pass), the header line of a later sub-part included.
    pub out: Option<Output>,
    /// The integrity tokens (of the big entry's map for a sub-part).
    pub tokens: Vec<u8>,
    /// The MAC input (MAC pass).
    pub mac: Vec<Zeroizing<Vec<u8>>>,
    /// The root key of a sub-part.
    pub entry_key: Option<String>,
}

enum Fail {
    /// Not in the subset: the part's tree path.
    Decline,
    /// Sealing failed (the random generator).
    Seal(DocumentError),
}

type R<T> = Result<T, Fail>;

/// Recycled buffers for the writing pass: the text and the tokens.
pub(super) struct Bufs {
    pub out: Vec<u8>,
    pub tokens: Vec<u8>,
}

/// Reads one part directly: the MAC pass without `sealer`, the writing pass with it
/// (writing into `bufs`' allocations). `sub` for a part whose root holds the big entry
/// alone (its tokens are that entry's map's). `Ok(None)` when the part must be read as a
/// tree.
pub(super) fn part(
    text: &[u8],
    sub: bool,
    job: &Job<'_>,
    sealer: Option<&mut Sealer<'_>>,
    bufs: Bufs,
) -> Result<Option<Done>, DocumentError> {
    if job.sel.is_comment_based() {
        return Ok(None);
    }
    let Ok(s) = std::str::from_utf8(text) else {
        return Ok(None);
    };
    let write = sealer.is_some();
    let mut st = St {
        src: text,
        text: s,
        pos: 0,
        job,
        sealer,
        em: Em::new(write, bufs.out, text.len().saturating_mul(9) / 2 + 65536),
        tokens: Tokens::reusing(bufs.tokens, job.mac_only),
        mac: Chunks::default(),
        want_mac: !write,
        aad: String::new(),
        stack: Vec::new(),
        keys: Vec::new(),
        pending: Vec::new(),
        open: None,
        has_root: false,
        root_keys: 0,
        first_key: None,
        first_is_map: false,
    };
    match st.run() {
        Ok(()) => {}
        Err(Fail::Decline) => return Ok(None),
        Err(Fail::Seal(e)) => return Err(e),
    }
    let mut tokens = st.tokens.into_bytes();
    let mut entry_key = None;
    if sub {
        let (1, Some(k), true) = (st.root_keys, st.first_key, st.first_is_map) else {
            return Ok(None);
        };
        entry_key = Some(k.to_owned());
    }
    if let (true, Some(k)) = (write, &entry_key) {
        // `K`, the key's length and text, `M` … `m`: the map's entries alone.
        let start = 1 + 8 + k.len() + 1;
        if tokens.len() < start + 1
            || tokens.first() != Some(&b'K')
            || tokens.get(start - 1) != Some(&b'M')
            || tokens.last() != Some(&b'm')
        {
            return Ok(None);
        }
        tokens.truncate(tokens.len() - 1);
        tokens.drain(..start);
    }
    Ok(Some(Done {
        out: write.then(|| st.em.finish()),
        tokens,
        mac: st.mac.0,
        entry_key,
    }))
}

/// An open block collection.
struct Frame<'a> {
    seq: bool,
    /// The input column of its keys or dashes.
    col: usize,
    /// The builder's indentation of it: pending comments at or right of it close with it.
    bind: usize,
    /// The emitter's indentation of it.
    out: usize,
    /// The length of its own key path in `St::aad`.
    base: usize,
    /// Whether a key on its path matched the selector.
    matched: bool,
    /// Where its keys start in `St::keys`.
    keys: usize,
    set: Option<HashSet<&'a str>>,
    /// A list: clear comments were written since its last item (foot comments).
    foot: bool,
}

/// A value after `key:` or `-`.
enum Val<'a> {
    Scalar(Cow<'a, str>, bool),
    Block(Zeroizing<String>),
    /// Nothing: null, or a block collection on the next lines (`open`).
    Empty,
    /// `{}` (`true`) or `[]`.
    Flow(bool),
}

struct St<'a, 'j, 's, 'c> {
    src: &'a [u8],
    text: &'a str,
    pos: usize,
    job: &'j Job<'j>,
    sealer: Option<&'s mut Sealer<'c>>,
    em: Em,
    tokens: Tokens,
    mac: Chunks,
    want_mac: bool,
    aad: String,
    stack: Vec<Frame<'a>>,
    keys: Vec<&'a str>,
    /// Comment lines waiting for their place: (text after `#`, column).
    pending: Vec<(&'a str, usize)>,
    /// A `key:` at this column whose value is a block collection on the next lines, and
    /// whether its path matched.
    open: Option<(usize, bool)>,
    has_root: bool,
    root_keys: usize,
    first_key: Option<&'a str>,
    first_is_map: bool,
}

impl<'a> St<'a, '_, '_, '_> {
    /// The tokens, in the writing pass only.
    fn tok(&mut self) -> Toks<'_> {
        Toks(self.em.on.then_some(&mut self.tokens))
    }

    fn peek(&self, pos: usize) -> Option<(&'a [u8], usize, bool)> {
        let src: &'a [u8] = self.src;
        if pos >= src.len() {
            return None;
        }
        let (end, ok) = scan_line(src, pos);
        let line = src.get(pos..end)?;
        Some((line, (end + 1).min(src.len()), ok))
    }

    fn take(&mut self, line: &'a [u8], ok: bool, next: usize) -> R<&'a str> {
        if !ok {
            return Err(Fail::Decline);
        }
        let text = self
            .text
            .get(self.pos..self.pos.saturating_add(line.len()))
            .ok_or(Fail::Decline)?;
        self.pos = next;
        Ok(text)
    }

    fn run(&mut self) -> R<()> {
        while let Some((line, next, ok)) = self.peek(self.pos) {
            let text = self.take(line, ok, next)?;
            let b = text.as_bytes();
            let ind = spaces(b, 0);
            match b.get(ind) {
                None => continue,
                Some(b'#') => {
                    let t = text.get(ind + 1..).ok_or(Fail::Decline)?;
                    self.pending.push((t, ind));
                    continue;
                }
                _ => {}
            }
            if ind == 0 && (b.starts_with(b"---") || b.starts_with(b"...")) {
                return Err(Fail::Decline);
            }
            self.content(text, ind)?;
        }
        if !self.has_root || self.open.is_some() {
            return Err(Fail::Decline);
        }
        while !self.stack.is_empty() {
            self.pop()?;
        }
        Ok(())
    }

    fn decide(&self, matched: bool) -> R<bool> {
        match self.job.sel {
            Selector::UnencryptedSuffix(_) | Selector::UnencryptedRegex(_) => Ok(!matched),
            Selector::EncryptedSuffix(_) | Selector::EncryptedRegex(_) => Ok(matched),
            Selector::UnencryptedCommentRegex(_) | Selector::EncryptedCommentRegex(_) => {
                Err(Fail::Decline)
            }
        }
    }

    fn push(&mut self, f: Frame<'a>) -> R<()> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(Fail::Decline);
        }
        if self.stack.len() == 1 && self.root_keys == 1 {
            self.first_is_map = !f.seq;
        }
        if !self.stack.is_empty() {
            if f.seq {
                self.tok().list(true);
            } else {
                self.tok().map(true);
            }
        }
        self.stack.push(f);
        Ok(())
    }

    fn content(&mut self, text: &'a str, ind: usize) -> R<()> {
        let b = text.as_bytes();
        let dash = is_dash(b.get(ind..).unwrap_or_default());
        if !self.has_root {
            if ind != 0 || dash {
                return Err(Fail::Decline);
            }
            self.push(Frame {
                seq: false,
                col: 0,
                bind: 0,
                out: 0,
                base: 0,
                matched: false,
                keys: 0,
                set: None,
                foot: false,
            })?;
            self.has_root = true;
        } else if let Some((kc, matched)) = self.open.take() {
            let parent = self.stack.last().map_or(0, |f| f.out);
            let out = self.job.n * ((parent + self.job.n) / self.job.n);
            let base = self.aad.len();
            let keys = self.keys.len();
            if dash {
                let bind = if ind == kc {
                    ind + 1 + spaces(b, ind + 1)
                } else {
                    ind
                };
                self.push(Frame {
                    seq: true,
                    col: ind,
                    bind,
                    out,
                    base,
                    matched,
                    keys,
                    set: None,
                    foot: false,
                })?;
            } else {
                if ind <= kc {
                    return Err(Fail::Decline);
                }
                self.push(Frame {
                    seq: false,
                    col: ind,
                    bind: ind,
                    out,
                    base,
                    matched,
                    keys,
                    set: None,
                    foot: false,
                })?;
            }
        } else {
            self.close_to(ind, dash)?;
        }
        match self.stack.last() {
            Some(f) if !f.seq && !dash => {
                let c = f.col;
                self.entry(text, c)
            }
            Some(f) if f.seq && dash => {
                let d = f.col;
                self.item(text, d)
            }
            _ => Err(Fail::Decline),
        }
    }

    fn close_to(&mut self, ind: usize, dash: bool) -> R<()> {
        loop {
            let Some(f) = self.stack.last() else {
                return Err(Fail::Decline);
            };
            let keep = if f.seq {
                ind == f.col && dash
            } else {
                ind == f.col
            };
            if keep {
                return Ok(());
            }
            if ind > f.col || self.stack.len() == 1 {
                return Err(Fail::Decline);
            }
            self.pop()?;
        }
    }

    /// Closes the innermost collection: the pending comments at or right of it are its
    /// foot comments.
    fn pop(&mut self) -> R<()> {
        let Some(f) = self.stack.last() else {
            return Err(Fail::Decline);
        };
        let take = self.pending.iter().take_while(|p| p.1 >= f.bind).count();
        if self.stack.len() == 1 {
            // Comments at the end of the root map: the tree path's business.
            if take > 0 {
                return Err(Fail::Decline);
            }
            self.stack.pop();
            return Ok(());
        }
        let taken: Vec<(&'a str, usize)> = self.pending.drain(..take).collect();
        let depth = self.stack.len() - 1;
        for (t, _) in taken {
            self.comment(depth, t)?;
        }
        let Some(f) = self.stack.pop() else {
            return Err(Fail::Decline);
        };
        let foot = if f.seq { f.foot } else { take > 0 };
        if foot {
            self.em.foot(f.out);
        }
        self.keys.truncate(f.keys);
        if f.seq {
            self.tok().list(false);
        } else {
            self.tok().map(false);
        }
        Ok(())
    }

    /// A comment placed in the collection at `depth` of the stack.
    fn comment(&mut self, depth: usize, t: &'a str) -> R<()> {
        let Some(f) = self.stack.get(depth) else {
            return Err(Fail::Decline);
        };
        let (seq, out, base, matched) = (f.seq, f.out, f.base, f.matched);
        if is_encrypted_comment_text(t) || t.starts_with("ENC[") {
            return Err(Fail::Decline);
        }
        let encrypt = self.decide(matched)? && !t.is_empty();
        if !self.em.on {
            return Ok(());
        }
        if !encrypt {
            self.em.comment(out, t);
            if let Some(f) = self.stack.get_mut(depth) {
                f.foot = seq;
            }
            return Ok(());
        }
        let aad = match self.aad.get(..base) {
            Some("") => ":",
            Some(a) => a,
            None => return Err(Fail::Decline),
        };
        let Some(s) = self.sealer.as_mut() else {
            return Err(Fail::Decline);
        };
        let enc = s
            .seal(aad, t.as_bytes(), ValueType::Comment)
            .map_err(Fail::Seal)?;
        if seq {
            self.em.write_indent(out);
            self.em.dash();
            self.em.write_text(&enc);
            if let Some(f) = self.stack.get_mut(depth) {
                f.foot = false;
            }
        } else {
            self.em.comment(out, &enc);
        }
        Ok(())
    }

    /// Every pending comment, into the innermost collection (before its next entry).
    fn heads(&mut self) -> R<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let depth = self.stack.len() - 1;
        let taken: Vec<(&'a str, usize)> = std::mem::take(&mut self.pending);
        for (t, _) in taken {
            self.comment(depth, t)?;
        }
        Ok(())
    }

    /// A key (plain or quoted) at byte `c`: its text and the index after its `:`.
    fn key_at(text: &'a str, c: usize) -> R<Option<(Cow<'a, str>, bool, usize)>> {
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

    /// A key line of the innermost map, whose keys are at column `c`.
    fn entry(&mut self, text: &'a str, c: usize) -> R<()> {
        let Some((k, plain, after)) = Self::key_at(text, c)? else {
            return Err(Fail::Decline);
        };
        let Cow::Borrowed(k) = k else {
            return Err(Fail::Decline);
        };
        if k == "<<" || (plain && !key_is_str(k)) {
            return Err(Fail::Decline);
        }
        self.dup_check(k)?;
        let depth = self.stack.len() - 1;
        if depth == 0 {
            if k == "sops" {
                return Err(Fail::Decline);
            }
            self.root_keys += 1;
            if self.root_keys == 1 {
                self.first_key = Some(k);
            }
        }
        let rendered = inline_string(k, true).ok_or(Fail::Decline)?;
        let (val, comment) = self.value(text, after, c, true)?;
        let (out, base, fm) = match self.stack.last() {
            Some(f) => (f.out, f.base, f.matched),
            None => return Err(Fail::Decline),
        };
        // Comments before the key, then the one at the end of the line.
        self.heads()?;
        if let Some(t) = comment {
            self.comment(depth, t)?;
        }
        self.em.write_indent(out);
        self.em.write_text(&rendered);
        self.em.colon();
        self.tok().key(k);
        self.aad.truncate(base);
        self.aad.push_str(k);
        self.aad.push(':');
        let matched = fm || self.job.sel.component_matches(k);
        match val {
            Val::Empty if self.nested_follows(c, true) => {
                self.open = Some((c, matched));
                Ok(())
            }
            val => self.leaf(val, matched),
        }
    }

    fn dup_check(&mut self, k: &'a str) -> R<()> {
        let Some(f) = self.stack.last_mut() else {
            return Err(Fail::Decline);
        };
        let mine = self.keys.get(f.keys..).unwrap_or_default();
        let fresh = match &mut f.set {
            Some(set) => set.insert(k),
            None if mine.len() < LINEAR_DUP_SCAN => !mine.contains(&k),
            None => {
                let mut set: HashSet<&'a str> = HashSet::with_capacity(4 * LINEAR_DUP_SCAN);
                set.extend(mine.iter().copied());
                let fresh = set.insert(k);
                f.set = Some(set);
                fresh
            }
        };
        if !fresh {
            return Err(Fail::Decline);
        }
        self.keys.push(k);
        Ok(())
    }

    /// A list item line of the innermost list, whose dashes are at column `d`.
    fn item(&mut self, text: &'a str, d: usize) -> R<()> {
        let b = text.as_bytes();
        let c = d + 1 + spaces(b, d + 1);
        match b.get(c) {
            None | Some(b'#') => return Err(Fail::Decline),
            Some(_) => {}
        }
        if is_dash(b.get(c..).unwrap_or_default()) {
            return Err(Fail::Decline);
        }
        let (out, base, matched) = match self.stack.last() {
            Some(f) => (f.out, f.base, f.matched),
            None => return Err(Fail::Decline),
        };
        let depth = self.stack.len() - 1;
        if Self::key_at(text, c)?.is_some() {
            self.heads()?;
            self.em.write_indent(out);
            self.em.dash();
            if let Some(f) = self.stack.last_mut() {
                f.foot = false;
            }
            self.aad.truncate(base);
            let keys = self.keys.len();
            self.push(Frame {
                seq: false,
                col: c,
                bind: c,
                out: out + 2,
                base,
                matched,
                keys,
                set: None,
                foot: false,
            })?;
            return self.entry(text, c);
        }
        let (val, comment) = self.value(text, c, d, false)?;
        self.heads()?;
        if let Some(t) = comment {
            self.comment(depth, t)?;
        }
        self.em.write_indent(out);
        self.em.dash();
        if let Some(f) = self.stack.last_mut() {
            f.foot = false;
        }
        self.aad.truncate(base);
        self.leaf(val, matched)
    }

    /// The value after `key:` (`key`, at byte `at`) or `-` (the value's first byte at
    /// `at`), and the comment at the end of its line. `parent` is the key's or the
    /// dash's column.
    fn value(
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
                Ok((Val::Flow(map), self.trail(text, v + 2)?))
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
    fn trail(&self, text: &'a str, at: usize) -> R<Option<&'a str>> {
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

    fn nested_follows(&self, kc: usize, dash_same: bool) -> bool {
        let mut pos = self.pos;
        while let Some((b, next, _)) = self.peek(pos) {
            let ind = spaces(b, 0);
            match b.get(ind) {
                None | Some(b'#') => pos = next,
                Some(_) => {
                    return ind > kc
                        || (dash_same && ind == kc && is_dash(b.get(ind..).unwrap_or_default()));
                }
            }
        }
        false
    }

    /// A literal block scalar whose `|` is at byte `h` (the fast reader's rules).
    fn literal(&mut self, text: &'a str, h: usize, parent: usize) -> R<(Val<'a>, Option<&'a str>)> {
        let b = text.as_bytes();
        let (mut explicit, mut chomp) = (None, b' ');
        let mut i = h + 1;
        while let Some(&c) = b.get(i) {
            match c {
                b'1'..=b'9' if explicit.is_none() => explicit = Some((c - b'0') as usize),
                b'-' | b'+' if chomp == b' ' => chomp = c,
                _ => break,
            }
            i += 1;
        }
        let n = spaces(b, i);
        let comment = match b.get(i + n) {
            None => None,
            Some(b'#') if n > 0 => Some(text.get(i + n + 1..).ok_or(Fail::Decline)?),
            Some(_) => return Err(Fail::Decline),
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
        match chomp {
            b'-' => {}
            b'+' => out.extend(std::iter::repeat_n('\n', breaks + 1)),
            _ => out.push('\n'),
        }
        Ok((Val::Block(out), comment))
    }

    /// A scalar leaf at the path in `aad`: its MAC input, its text and its tokens.
    fn leaf(&mut self, val: Val<'a>, matched: bool) -> R<()> {
        let encrypt = self.decide(matched)?;
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
            let enc = s.seal(&self.aad, p, typ).map_err(Fail::Seal)?;
            self.em.write_text(&enc);
            self.tok().text(&enc);
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
struct Toks<'t>(Option<&'t mut Tokens>);

impl Toks<'_> {
    fn key(self, k: &str) {
        if let Some(t) = self.0 {
            t.key(k);
        }
    }
    fn map(self, open: bool) {
        if let Some(t) = self.0 {
            t.map(open);
        }
    }
    fn list(self, open: bool) {
        if let Some(t) = self.0 {
            t.list(open);
        }
    }
    fn text(self, s: &str) {
        if let Some(t) = self.0 {
            t.text(s);
        }
    }
    fn scalar(self, v: &Value) {
        if let Some(t) = self.0 {
            t.scalar(v);
        }
    }
}

/// Whether a plain key reads as a string (the builder rejects any other key).
fn key_is_str(k: &str) -> bool {
    str_plain(k) || matches!(resolve_plain(k), Ok(Value::Str(_)))
}

/// [`plain_resolves_to_str`], answered at once for a word that starts with a letter and
/// is longer than every YAML 1.1 and 1.2 special word (`false`, `FALSE`, `null`, `yes`,
/// `off`, …: at most five characters).
fn str_plain(s: &str) -> bool {
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
fn quick_number(s: &str) -> Option<ValueType> {
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

#[cfg(test)]
mod tests;
