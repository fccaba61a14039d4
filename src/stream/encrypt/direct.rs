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
use crate::format::yaml::scan::block_header;
use crate::format::yaml::scan::chomp_block;
use crate::format::yaml::scan::end_of_document_feet;
use crate::format::yaml::scan::is_dash;
use crate::format::yaml::scan::line_at;
use crate::format::yaml::scan::mid_document_feet;
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

mod entries;
mod lines;
mod out;

use lines::Toks;
use lines::key_is_str;

pub(super) use lines::quick_number;
pub(super) use out::Chunks;
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
    /// The keys of the part's own members, for the duplicate check across parts (empty
    /// when the reader checked them itself).
    pub keys: Vec<String>,
}

enum Fail {
    /// Not in the subset: the part's tree path.
    Decline,
    /// Sealing failed (the random generator).
    Seal(DocumentError),
}

type R<T> = Result<T, Fail>;

/// Where a pass takes its buffers (the writing pass its text and tokens, the MAC pass its
/// MAC input's chunks): recycled ones from the pools (large enough for the part, so that
/// none grows into fresh memory), or new ones.
pub(super) struct Bufs<'p> {
    pub pools: Option<&'p crate::stream::pool::Pools>,
}

impl<'p> Bufs<'p> {
    /// New buffers only (tests).
    #[cfg(test)]
    pub(super) fn fresh() -> Self {
        Bufs { pools: None }
    }

    /// An empty text buffer of at least `cap` bytes' capacity.
    pub(super) fn out(&self, cap: usize) -> Vec<u8> {
        self.pools
            .map_or_else(|| Vec::with_capacity(cap), |p| p.out.take(cap))
    }

    /// Where the MAC pass's chunks come from (`None`: new ones).
    pub(super) fn mac_pool(&self) -> Option<&'p crate::stream::pool::Pool> {
        self.pools.map(|p| &p.mac)
    }

    /// An empty token buffer of at least `cap` bytes' capacity.
    pub(super) fn tokens(&self, cap: usize) -> Vec<u8> {
        self.pools
            .map_or_else(|| Vec::with_capacity(cap), |p| p.tokens.take(cap))
    }
}

/// Room for the tokens of a part of `len` bytes.
pub(super) fn token_room(len: usize) -> usize {
    len.saturating_mul(3) + 4096
}

/// Reads one part directly: the MAC pass without `sealer`, the writing pass with it
/// (writing into `bufs`' allocations). `sub` for a part whose root holds the big entry
/// alone (its tokens are that entry's map's). `Ok(None)` when the part must be read as a
/// tree.
pub(super) fn part(
    header: Option<&[u8]>,
    text: &[u8],
    sub: bool,
    job: &Job<'_>,
    sealer: Option<&mut Sealer<'_>>,
    bufs: Bufs<'_>,
) -> Result<Option<Done>, DocumentError> {
    if job.sel.is_comment_based() {
        return Ok(None);
    }
    let Ok(s) = std::str::from_utf8(text) else {
        return Ok(None);
    };
    let header = match header.map(std::str::from_utf8) {
        None => None,
        Some(Ok(h)) => Some(h),
        Some(Err(_)) => return Ok(None),
    };
    let write = sealer.is_some();
    let mut st = St {
        src: text,
        text: s,
        pos: 0,
        header,
        job,
        sealer,
        // Room for the whole text and tokens at once (large.yaml's text is 4.7 times its
        // plaintext, its tokens about twice): a buffer that grows copies what it holds
        // into memory the kernel must zero first. Room reserved and never written costs
        // nothing.
        em: Em::new(write, || bufs.out(text.len().saturating_mul(6) + 65536)),
        tokens: Tokens::reusing(
            if write {
                bufs.tokens(token_room(text.len()))
            } else {
                Vec::new()
            },
            job.mac_only,
        ),
        mac: Chunks::new(bufs.mac_pool()),
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
        after_content: false,
        after_null: false,
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
        mac: st.mac.into_inner(),
        entry_key,
        keys: Vec::new(),
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
    /// A line read before `text` (the big entry's `key:` line of a later sub-part), as if
    /// it stood on its own line right before it.
    header: Option<&'a str>,
    job: &'j Job<'j>,
    sealer: Option<&'s mut Sealer<'c>>,
    em: Em,
    tokens: Tokens,
    mac: Chunks<'a>,
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
    /// A content line was read since the last collection closed (the builder's
    /// `after_scalar`).
    after_content: bool,
    /// The last value read was an implicit null (`k:` alone): comments after it at the
    /// end of the document follow the builder's `after_null_feet`, left to the tree path.
    after_null: bool,
}

impl<'a> St<'a, '_, '_, '_> {
    /// The tokens, in the writing pass only.
    fn tok(&mut self) -> Toks<'_> {
        Toks(self.em.on.then_some(&mut self.tokens))
    }

    fn peek(&self, pos: usize) -> Option<(&'a [u8], usize, bool)> {
        line_at(self.src, pos)
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
        if let Some(h) = self.header.take() {
            let b = h.as_bytes();
            if scan_line(b, 0) != (b.len(), true)
                || b.first().is_none_or(|&c| c == b' ' || c == b'#')
            {
                return Err(Fail::Decline);
            }
            self.content(h, 0)?;
            self.after_content = true;
        }
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
            self.after_null = false;
            self.content(text, ind)?;
            self.after_content = true;
        }
        if !self.has_root || self.open.is_some() || (self.after_null && !self.pending.is_empty()) {
            return Err(Fail::Decline);
        }
        // The end of the document: the builder's rule there.
        while !self.stack.is_empty() {
            self.pop(None)?;
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
            if !dash && ind <= kc {
                return Err(Fail::Decline);
            }
            let bind = if dash && ind == kc {
                ind + 1 + spaces(b, ind + 1)
            } else {
                ind
            };
            self.push(Frame {
                seq: dash,
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
            self.close_to(ind, dash)?;
        }
        match self.stack.last() {
            Some(f) if !f.seq && !dash => {
                let c = f.col;
                self.entry(text, c, false)
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
            self.pop(Some(ind))?;
        }
    }

    /// Closes the innermost collection before content at column `next` (`None` at the end
    /// of the document): its foot comments are the pending ones the tree's builder gives
    /// it ([`mid_document_feet`], [`end_of_document_feet`]).
    fn pop(&mut self, next: Option<usize>) -> R<()> {
        let Some(f) = self.stack.last() else {
            return Err(Fail::Decline);
        };
        let innermost = std::mem::take(&mut self.after_content);
        let cols = self.pending.iter().map(|p| p.1);
        // A list at its key's column (`k:` / `- a`): the builder's rule for it.
        let at_key = f.seq && f.bind != f.col;
        let take = match next {
            Some(next) if at_key && next == f.col => 0,
            Some(next) => mid_document_feet(cols, f.bind, next, innermost),
            None => {
                let indent = if at_key { f.col } else { f.bind };
                end_of_document_feet(cols, indent, innermost, self.stack.len() == 1)
            }
        };
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
}

#[cfg(test)]
mod tests;
