//! The one line scanner of the streamed YAML paths that read a part without a tree: the
//! decrypt's direct path (`super::yaml_direct`) and the splice's scan (`super::splice::
//! direct`, behind `set`, `unset`, `edit` and `rotate`).
//!
//! It reads a part's lines one at a time and keeps the block layout the emitter writes:
//! which line is a key, a value, a list item or a comment, the open collections (their
//! column, their keys, whether a key on their path matched the selector), the key path
//! that is the values' AAD, the record's structure tokens (`M`/`m`, `L`/`l`, the keys);
//! it declines (`None`) any line outside that layout. What a caller does with what it
//! reads (write the plaintext, prove the canonical form, seal again) is its
//! [`Actions`]; the scanner calls them in document order.

use std::collections::HashSet;

use zeroize::Zeroizing;

use crate::crypto::integrity::direct as tok;
use crate::crypto::value;
use crate::crypto::value::EncFields;
use crate::crypto::value::ValueCipher;
use crate::crypto::value::ValueType;
use crate::walk::Selector;

/// What a caller does with the lines the scanner reads. Any `None` declines the part.
pub(in crate::stream) trait Actions<'a> {
    /// Whether the caller takes this key (the scanner has already declined the empty
    /// key, `<<` and a root `sops`).
    fn key_allowed(&self, k: &str) -> bool;

    /// A record marker, already written to the scanner's own tokens.
    fn tag(&mut self, _t: u8) {}

    /// The tokens of the map under the part's one root entry start here.
    fn sub_start(&mut self) {}

    /// A key read in the map at `depth` (1: the root map), its token already written.
    fn key(&mut self, _depth: usize, _k: &'a str) {}

    /// A `key:` line with a block collection on the lines below it.
    fn block_key(&mut self, _line: &'a str) {}

    /// `{}` or `[]` (`v`) after `head` (the line up to the space before it).
    fn empty(&mut self, _head: &'a str, _v: &'a str) {}

    /// An encrypted comment before a key at column `col`: its text after the `#`, its
    /// fields, its plaintext (one line, opened with `aad`).
    fn comment(
        &mut self,
        col: usize,
        text: &'a str,
        f: &EncFields<'_>,
        plain: &str,
        aad: &str,
    ) -> Option<()>;

    /// An `ENC[…]` value `v` after `head` that the selector picks, not yet parsed;
    /// `at`: the column of the key, or of the dash of a list item (`true`). The AAD is
    /// `scan.aad`.
    fn value(
        &mut self,
        scan: &mut ScanState<'a>,
        head: &'a str,
        v: &'a str,
        at: (usize, bool),
    ) -> Option<()>;
}

/// An open block collection.
struct Frame<'a> {
    seq: bool,
    /// The column of its keys or dashes.
    col: usize,
    /// The length of the key path of its values.
    base: usize,
    /// Whether a key on the path matched the selector.
    matched: bool,
    /// Where its keys start in `ScanState::keys`.
    keys: usize,
    /// Its keys, once it has many (a quicker duplicate check).
    set: Option<HashSet<&'a str>>,
}

/// The scanner's state for one part, and the buffers the callers' actions share.
pub(in crate::stream) struct ScanState<'a> {
    pub cipher: &'a ValueCipher,
    pub sel: &'a Selector,
    /// The emitter's indentation.
    pub n: usize,
    /// The record tokens, in document order.
    pub tokens: Vec<u8>,
    /// The MAC input of the values, in order.
    pub mac: Zeroizing<Vec<u8>>,
    /// The plaintext of the value or comment last opened.
    pub plain: Zeroizing<Vec<u8>>,
    /// The key path of the current value (its AAD).
    pub aad: String,
    stack: Vec<Frame<'a>>,
    /// The keys of the open maps (duplicate keys go to the tree path, which rejects them).
    keys: Vec<&'a str>,
    /// After a `key:` line: the column the block under it must start at.
    expect: Option<usize>,
    /// Comment lines waiting for the key line they stand before: (column, text).
    comments: Vec<(usize, &'a str)>,
    /// How many root keys were read.
    root_keys: usize,
    /// The first root key (the entry of a part of an entry).
    root_key: Option<&'a str>,
    /// Where the tokens of the map under the root key start.
    sub_start: usize,
    /// Whether the key of the block that `expect` waits for matched the selector.
    child_matched: bool,
}

/// A part's scan: the shared state and the caller's actions.
pub(in crate::stream) struct Lines<'a, A> {
    pub scan: ScanState<'a>,
    pub act: A,
}

/// Whether the selector picks a value (or comment) whose path matched it or not (the
/// comment-based selectors never reach the streaming path).
fn picked(sel: &Selector, matched: bool) -> bool {
    match sel {
        Selector::UnencryptedSuffix(_) | Selector::UnencryptedRegex(_) => !matched,
        Selector::EncryptedSuffix(_) | Selector::EncryptedRegex(_) => matched,
        Selector::UnencryptedCommentRegex(_) | Selector::EncryptedCommentRegex(_) => false,
    }
}

/// Splits `key: rest` / `key:` into the key and what follows the colon.
fn split_key(s: &str) -> Option<(&str, &str)> {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(p) = memchr::memchr(b':', &b[from..]) {
        let p = from + p;
        match b.get(p + 1) {
            None | Some(b' ') => return Some((&s[..p], &s[p + 1..])),
            _ => from = p + 1,
        }
    }
    None
}

/// The tokens `start..end` of a part of an entry, moved to the front of the buffer
/// rather than copied into a new one.
pub(in crate::stream) fn entry_tokens(
    mut tokens: Vec<u8>,
    start: usize,
    end: usize,
) -> Option<Vec<u8>> {
    if start > end || end > tokens.len() {
        return None;
    }
    tokens.truncate(end);
    tokens.drain(..start);
    Some(tokens)
}

impl<'a> ScanState<'a> {
    /// A scan with these buffers (`tokens` and `mac` are written from their start).
    pub(in crate::stream) fn new(
        cipher: &'a ValueCipher,
        sel: &'a Selector,
        n: usize,
        tokens: Vec<u8>,
        mac: Zeroizing<Vec<u8>>,
    ) -> ScanState<'a> {
        ScanState {
            cipher,
            sel,
            n,
            tokens,
            mac,
            plain: Zeroizing::new(Vec::with_capacity(256)),
            aad: String::with_capacity(128),
            stack: Vec::with_capacity(16),
            keys: Vec::with_capacity(64),
            expect: None,
            comments: Vec::new(),
            root_keys: 0,
            root_key: None,
            sub_start: 0,
            child_matched: false,
        }
    }

    /// Whether a `key:` line waits for the block under it.
    pub(in crate::stream) fn expects_block(&self) -> bool {
        self.expect.is_some()
    }

    /// Whether comment lines wait for their key line.
    pub(in crate::stream) fn comments_waiting(&self) -> bool {
        !self.comments.is_empty()
    }

    /// The part's first root key.
    pub(in crate::stream) fn root_key(&self) -> Option<&'a str> {
        self.root_key
    }

    /// Where the tokens of the map under the root key start.
    pub(in crate::stream) fn sub_start(&self) -> usize {
        self.sub_start
    }
}

impl<'a, A: Actions<'a>> Lines<'a, A> {
    /// A record marker, to the scan's tokens and the caller's.
    fn tag(&mut self, t: u8) {
        tok::tag(&mut self.scan.tokens, t);
        self.act.tag(t);
    }

    /// Reads one line (without its line break).
    pub(in crate::stream) fn line(&mut self, line: &'a str) -> Option<()> {
        let ind = line.bytes().take_while(|&b| b == b' ').count();
        let rest = &line[ind..];
        if rest.is_empty()
            || rest.ends_with(' ')
            || memchr::memchr2(b'\t', b'\r', rest.as_bytes()).is_some()
        {
            return None;
        }
        if let Some(c) = rest.strip_prefix('#') {
            if self.scan.expect.is_some_and(|e| e != ind) {
                return None;
            }
            self.scan.comments.push((ind, c));
            return Some(());
        }
        let dash = rest.starts_with("- ");
        if dash && !self.scan.comments.is_empty() {
            // Comments in a list: the tree path places them.
            return None;
        }
        if let Some(cc) = self.scan.expect.take() {
            if ind != cc {
                return None;
            }
            let (matched, keys) = (self.scan.child_matched, self.scan.keys.len());
            self.tag(if dash { b'L' } else { b'M' });
            let s = &mut self.scan;
            if s.stack.len() == 1 && s.root_key.is_some() && s.sub_start == 0 {
                s.sub_start = s.tokens.len();
                self.act.sub_start();
            }
            let base = self.scan.aad.len();
            self.scan.stack.push(Frame {
                seq: dash,
                col: cc,
                base,
                matched,
                keys,
                set: None,
            });
        } else if self.scan.stack.is_empty() {
            if ind != 0 || dash {
                return None;
            }
            self.scan.stack.push(Frame {
                seq: false,
                col: 0,
                base: 0,
                matched: false,
                keys: 0,
                set: None,
            });
        } else {
            while self.scan.stack.last().is_some_and(|f| f.col > ind) && self.scan.stack.len() > 1 {
                self.close();
            }
            let top = self.scan.stack.last()?;
            if top.col != ind || top.seq != dash {
                return None;
            }
        }
        if dash {
            self.item(line, ind)
        } else {
            self.comments_before(ind)?;
            self.entry(line, ind)
        }
    }

    /// The end of the part: no block or comment left waiting, a root key read, every
    /// collection but the root map closed; for a part of an entry (`sub`), one root
    /// entry whose value is a block map, the tokens ending with that map's end.
    pub(in crate::stream) fn end(&mut self, sub: bool) -> Option<()> {
        if self.scan.expect.is_some() || !self.scan.comments.is_empty() || self.scan.root_keys == 0
        {
            return None;
        }
        while self.scan.stack.len() > 1 {
            self.close();
        }
        let s = &self.scan;
        if sub
            && (s.root_keys != 1
                || s.tokens.get(s.sub_start.wrapping_sub(1)) != Some(&b'M')
                || s.tokens.last() != Some(&b'm'))
        {
            return None;
        }
        Some(())
    }

    /// Closes the innermost open collection.
    fn close(&mut self) {
        if let Some(f) = self.scan.stack.pop() {
            self.tag(if f.seq { b'l' } else { b'm' });
            self.scan.keys.truncate(f.keys);
            self.scan.aad.truncate(f.base);
        }
    }

    /// Opens the comments waiting for a key line at `col` of the innermost map and hands
    /// them to the caller.
    fn comments_before(&mut self, col: usize) -> Option<()> {
        if self.scan.comments.is_empty() {
            return Some(());
        }
        let top = self.scan.stack.last()?;
        if !picked(self.scan.sel, top.matched) {
            return None;
        }
        self.scan.aad.truncate(top.base);
        let s = &mut self.scan;
        for &(c, text) in &s.comments {
            if c != col || !value::is_encrypted(text) {
                return None;
            }
            let f = EncFields::parse(text).ok()?;
            if f.typ != ValueType::Comment {
                // A retyped comment: the tree path refuses it.
                return None;
            }
            let aad = if s.aad.is_empty() { ":" } else { &s.aad };
            f.open_into(s.cipher, aad.as_bytes(), &mut s.plain).ok()?;
            let plain = std::str::from_utf8(&s.plain).ok()?;
            if memchr::memchr2(b'\n', b'\r', plain.as_bytes()).is_some() {
                return None;
            }
            self.act.comment(c, text, &f, plain, aad)?;
        }
        s.comments.clear();
        Some(())
    }

    /// A `key: …` line at `col` in the innermost map (after a dash when `line` has one).
    fn entry(&mut self, line: &'a str, col: usize) -> Option<()> {
        let (k, after) = split_key(&line[col..])?;
        if k.is_empty() || k == "<<" || (k == "sops" && self.scan.stack.len() == 1) {
            return None;
        }
        if !self.act.key_allowed(k) {
            return None;
        }
        let s = &mut self.scan;
        let depth = s.stack.len();
        let top = s.stack.last_mut()?;
        let (base, matched) = (top.base, top.matched);
        let mine = s.keys.get(top.keys..)?;
        let dup = match top.set.as_mut() {
            Some(set) => !set.insert(k),
            None => mine.contains(&k),
        };
        if dup {
            return None;
        }
        if top.set.is_none() && mine.len() >= 32 {
            top.set = Some(mine.iter().copied().chain([k]).collect());
        }
        s.keys.push(k);
        if depth == 1 {
            s.root_keys += 1;
            s.root_key.get_or_insert(k);
        }
        s.aad.truncate(base);
        s.aad.push_str(k);
        s.aad.push(':');
        let matched = matched || s.sel.component_matches(k);
        tok::key(&mut s.tokens, k.as_bytes());
        self.act.key(depth, k);
        if after.is_empty() {
            // A block collection follows on the next lines, at the emitter's indentation.
            self.act.block_key(line);
            let s = &mut self.scan;
            s.expect = Some(s.n * ((col + s.n) / s.n));
            s.child_matched = matched;
            return Some(());
        }
        let head = &line[..line.len() - after.len()];
        self.scalar(head, &after[1..], matched, (col, false))
    }

    /// A `- …` line with its dash at `d`.
    fn item(&mut self, line: &'a str, d: usize) -> Option<()> {
        let content = &line[d + 2..];
        if content.starts_with([' ', '-', '#']) {
            return None;
        }
        let top = self.scan.stack.last()?;
        let (base, matched) = (top.base, top.matched);
        if content.starts_with("ENC[") || content == "{}" || content == "[]" {
            self.scan.aad.truncate(base);
            return self.scalar(&line[..d + 1], content, matched, (d, true));
        }
        // A map in the item: its keys at the dash column + 2, the first on this line.
        self.tag(b'M');
        self.scan.aad.truncate(base);
        let keys = self.scan.keys.len();
        self.scan.stack.push(Frame {
            seq: false,
            col: d + 2,
            base,
            matched,
            keys,
            set: None,
        });
        self.entry(line, d + 2)
    }

    /// The value `v` after `head` (one space between): `{}`, `[]`, or an encrypted value
    /// the selector picks, handed to the caller.
    fn scalar(
        &mut self,
        head: &'a str,
        v: &'a str,
        matched: bool,
        at: (usize, bool),
    ) -> Option<()> {
        match v {
            "{}" => {
                self.tag(b'M');
                self.tag(b'm');
                self.act.empty(head, v);
                return Some(());
            }
            "[]" => {
                self.tag(b'L');
                self.tag(b'l');
                self.act.empty(head, v);
                return Some(());
            }
            _ => {}
        }
        if !picked(self.scan.sel, matched)
            || !value::is_encrypted(v)
            || !v.ends_with(']')
            || memchr::memchr(b' ', v.as_bytes()).is_some()
        {
            return None;
        }
        self.act.value(&mut self.scan, head, v, at)
    }
}
