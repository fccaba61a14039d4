//! The splice's proof without a tree, for a part that does not hold the path: its lines
//! are read one at a time (the layout rules of the direct decrypt, `super::super::
//! yaml_direct`, which gives the emitter's bytes for the plaintext), every `ENC[…]` value
//! and comment is decrypted where it stands and must be in the one form re-encryption
//! with its own nonce writes (`crypto::document::value_holds`), no key may hold a `:`,
//! and the MAC input and the integrity tokens are gathered in document order (the bytes
//! the tree walk and `integrity::entry_tokens` give for the same lines).
//!
//! An encrypted value in that form is written by the emitter as a plain scalar (its
//! characters are the prefix, base64 and the field names: nothing the emitter quotes),
//! so a part whose lines are all in the direct path's layout, with such values, is the
//! emitter's text for its encrypted tree: the same proof as emitting the part's tree and
//! comparing the bytes, which the tree path (`super::work`) still does for any part this
//! scanner does not take ([`scan`] returns `None`) and for the part that holds the path.
//!
//! The streaming `rotate` uses the same scan with a [`Sealer`]: every value and comment is
//! sealed again under the new key (fresh nonce, its plaintext in its type's one form, as
//! the tree path re-encrypts it) and each line is written back with only the `ENC[…]`
//! text replaced, with the new record tokens beside the old ones; there the values need
//! not be in their canonical form (they are encrypted again), only laid out as the
//! emitter lays them out.
//!
//! `edit` uses it with the plaintext written as well ([`Output::Plain`]): the part's
//! plaintext as the decrypt's direct path writes it (the emitter's own scalar
//! rendering), with the splice's checks.
//!
//! This is a separate reader rather than a mode of `yaml_direct` so that the decrypt's
//! direct path stays as it is; the two follow the same layout rules.

use std::borrow::Cow;
use std::collections::HashSet;

use zeroize::Zeroizing;

use crate::crypto::document::Sealer;
use crate::crypto::document::comment_holds;
use crate::crypto::integrity::direct as tok;
use crate::crypto::value;
use crate::crypto::value::EncFields;
use crate::crypto::value::ValueCipher;
use crate::crypto::value::ValueType;
use crate::format::Output;
use crate::format::yaml::inline_string;
use crate::secbuf::SecureBuf;
use crate::walk::Selector;

mod inline_value;
mod plain;

/// What every part's scan needs.
pub(in crate::stream) struct Scan<'a> {
    pub cipher: &'a ValueCipher,
    pub sel: &'a Selector,
    /// The emitter's indentation.
    pub indent: usize,
    /// The first two keys of the path the splice changes (to tell whether the part holds
    /// it).
    pub k0: Option<&'a str>,
    pub k1: Option<&'a str>,
}

/// The capacity for a part's record tokens: they take about 0.42 of the encrypted text
/// (a key path and the `ENC` fields but the data for every value), so a buffer sized for
/// half of it never grows. A buffer that grows copies itself into fresh memory three or
/// four times, and fresh memory costs the kernel's page zeroing (`edit` keeps every
/// part's tokens, so none of them is recycled); capacity never written is never touched.
fn tokens_capacity(body_len: usize) -> usize {
    body_len / 2 + 64
}

/// The tokens `start..end` of a sub-part's scan, moved to the front of the scan's own
/// buffer rather than copied into a new one (fresh memory again).
fn entry_tokens(mut tokens: Vec<u8>, start: usize, end: usize) -> Option<Vec<u8>> {
    if start > end || end > tokens.len() {
        return None;
    }
    tokens.truncate(end);
    tokens.drain(..start);
    Some(tokens)
}

/// What a scan writes besides its checks, MAC input and tokens.
pub(in crate::stream) enum Write<'s, 'c> {
    /// Nothing (`set`/`unset`).
    Nothing,
    /// The part sealed again under the sealer's key (`rotate`; canonical form not needed).
    Sealed(&'s mut Sealer<'c>),
    /// The part's plaintext (`edit`), written into this buffer's allocation (a
    /// recycled one: whatever it holds is wiped first).
    Plain(Vec<u8>),
}

/// A part written again under a new key ([`scan`] with a [`Sealer`]).
pub(in crate::stream) struct Rewritten {
    /// Its text (without the header line of a later part of an entry).
    pub text: Vec<u8>,
    /// Its new record tokens.
    pub tokens: Vec<u8>,
}

/// The rewriting side of a scan.
struct Rw<'s, 'c> {
    sealer: &'s mut Sealer<'c>,
    out: Vec<u8>,
    tokens: Vec<u8>,
    sub_start: usize,
    /// The current line's value: the length of its old text and its new text.
    replaced: Option<(usize, String)>,
}

/// What the scan of one part found.
pub(in crate::stream) struct Scanned {
    /// The MAC input of its values, in order.
    pub mac: Zeroizing<Vec<u8>>,
    /// Its record tokens (for a part of an entry: of the entry's map only).
    pub tokens: Vec<u8>,
    /// The key of the entry a part of an entry belongs to.
    pub entry_key: Option<String>,
    /// Whether the part holds the path (as `super::holds`); `None` when the path names
    /// something cut into parts.
    pub holds: Option<bool>,
    /// With a [`Sealer`]: the part written again.
    pub rewritten: Option<Rewritten>,
    /// With [`Write::Plain`]: the part's plaintext.
    pub plain: Option<Output>,
}

/// An open block collection.
struct Frame<'a> {
    seq: bool,
    col: usize,
    base: usize,
    matched: bool,
    keys: usize,
    set: Option<HashSet<&'a str>>,
}

struct State<'a, 's, 'c> {
    rw: Option<Rw<'s, 'c>>,
    /// The plaintext (`edit`), and whether the current line's value was written to it.
    pl: Option<SecureBuf>,
    pl_wrote: bool,
    cipher: &'a value::ValueCipher,
    sel: &'a Selector,
    n: usize,
    tokens: Vec<u8>,
    mac: Zeroizing<Vec<u8>>,
    plain: Zeroizing<Vec<u8>>,
    aad: String,
    stack: Vec<Frame<'a>>,
    keys: Vec<&'a str>,
    expect: Option<usize>,
    comments: Vec<(usize, &'a str)>,
    root_keys: usize,
    root_key: Option<&'a str>,
    sub_start: usize,
    child_matched: bool,
    /// The path's first and second key, and whether they were seen (at the root, and in
    /// the map of the part's one root entry).
    k0: Option<&'a str>,
    k1: Option<&'a str>,
    seen0: bool,
    seen1: bool,
}

/// Scans one part: `header` is the key line of the entry a later part of an entry is
/// read behind, `body` the part's own text. `None` when the part must go the tree way.
/// With [`Write::Sealed`], the part is also written again under the sealer's key (and
/// its values need not be in their canonical form); with [`Write::Plain`], its plaintext
/// is written.
pub(in crate::stream) fn scan<'a>(
    cfg: &Scan<'a>,
    header: Option<&'a [u8]>,
    body: &'a [u8],
    sub: bool,
    write: Write<'_, '_>,
) -> Option<Scanned> {
    let n = cfg.indent;
    let body = std::str::from_utf8(body).ok()?;
    let header = match header {
        Some(h) => Some(std::str::from_utf8(h).ok()?),
        None => None,
    };
    // The emitter ends every line with a line break.
    let body = body.strip_suffix('\n')?;
    let (rw, pl) = match write {
        Write::Nothing => (None, None),
        Write::Sealed(sealer) => (
            Some(Rw {
                sealer,
                out: Vec::with_capacity(body.len() + body.len() / 64 + 64),
                tokens: Vec::with_capacity(tokens_capacity(body.len())),
                sub_start: 0,
                replaced: None,
            }),
            None,
        ),
        Write::Plain(buf) => (None, Some(SecureBuf::reusing(buf))),
    };
    let mut st = State {
        rw,
        pl,
        pl_wrote: false,
        cipher: cfg.cipher,
        sel: cfg.sel,
        n,
        tokens: Vec::with_capacity(tokens_capacity(body.len())),
        mac: Zeroizing::new(Vec::with_capacity(body.len() / 4 + 64)),
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
        k0: cfg.k0,
        k1: cfg.k1,
        seen0: false,
        seen1: false,
    };
    if let Some(h) = header {
        st.line(h)?;
        if st.expect.is_none() || !st.comments.is_empty() {
            return None;
        }
        // Written by the entry's first part.
        if let Some(rw) = st.rw.as_mut() {
            rw.out.clear();
        }
        if let Some(pl) = st.pl.take() {
            let mut written = pl.finish();
            st.pl = Some(SecureBuf::reusing(std::mem::take(&mut *written)));
        }
    }
    let mut start = 0;
    let breaks = memchr::memchr_iter(b'\n', body.as_bytes()).chain(std::iter::once(body.len()));
    for nl in breaks {
        let line = body.get(start..nl)?;
        start = nl + 1;
        st.line(line)?;
    }
    if st.expect.is_some() || !st.comments.is_empty() || st.root_keys == 0 {
        return None;
    }
    while st.stack.len() > 1 {
        st.close();
    }
    let (tokens, entry_key, holds) = if sub {
        if st.root_keys != 1
            || st.tokens.get(st.sub_start.wrapping_sub(1)) != Some(&b'M')
            || st.tokens.last() != Some(&b'm')
        {
            return None;
        }
        let end = st.tokens.len() - 1;
        let holds = if st.root_key != st.k0 {
            Some(false)
        } else if st.k1.is_some() {
            Some(st.seen1)
        } else {
            None
        };
        let tokens = entry_tokens(std::mem::take(&mut st.tokens), st.sub_start, end)?;
        (tokens, st.root_key.map(str::to_owned), holds)
    } else {
        (std::mem::take(&mut st.tokens), None, Some(st.seen0))
    };
    let rewritten = match st.rw.take() {
        None => None,
        Some(rw) => {
            let tokens = if sub {
                let end = rw.tokens.len().checked_sub(1)?;
                entry_tokens(rw.tokens, rw.sub_start, end)?
            } else {
                rw.tokens
            };
            Some(Rewritten {
                text: rw.out,
                tokens,
            })
        }
    };
    Some(Scanned {
        mac: std::mem::take(&mut st.mac),
        tokens,
        entry_key,
        holds,
        rewritten,
        plain: st.pl.take().map(SecureBuf::finish),
    })
}

fn picked(sel: &Selector, matched: bool) -> bool {
    match sel {
        Selector::UnencryptedSuffix(_) | Selector::UnencryptedRegex(_) => !matched,
        Selector::EncryptedSuffix(_) | Selector::EncryptedRegex(_) => matched,
        Selector::UnencryptedCommentRegex(_) | Selector::EncryptedCommentRegex(_) => false,
    }
}

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

impl<'a> State<'a, '_, '_> {
    fn line(&mut self, line: &'a str) -> Option<()> {
        self.read_line(line)?;
        if let Some(pl) = self.pl.as_mut() {
            // Comment lines are written before their key line, values by `scalar`.
            if !std::mem::take(&mut self.pl_wrote) && !line.trim_start().starts_with('#') {
                pl.push(line.as_bytes());
                pl.byte(b'\n');
            }
        }
        if let Some(rw) = self.rw.as_mut() {
            match rw.replaced.take() {
                Some((old, new)) => {
                    rw.out
                        .extend_from_slice(line.get(..line.len() - old)?.as_bytes());
                    rw.out.extend_from_slice(new.as_bytes());
                    rw.out.push(b'\n');
                }
                // A comment line is written before its key line (`comments_before`).
                None if line.trim_start().starts_with('#') => {}
                None => {
                    rw.out.extend_from_slice(line.as_bytes());
                    rw.out.push(b'\n');
                }
            }
        }
        Some(())
    }

    /// A marker of the record's tokens (both records when rewriting).
    fn tag(&mut self, t: u8) {
        tok::tag(&mut self.tokens, t);
        if let Some(rw) = self.rw.as_mut() {
            tok::tag(&mut rw.tokens, t);
        }
    }

    fn read_line(&mut self, line: &'a str) -> Option<()> {
        let ind = line.bytes().take_while(|&b| b == b' ').count();
        let rest = &line[ind..];
        if rest.is_empty()
            || rest.ends_with(' ')
            || memchr::memchr2(b'\t', b'\r', rest.as_bytes()).is_some()
        {
            return None;
        }
        if let Some(c) = rest.strip_prefix('#') {
            if self.expect.is_some_and(|e| e != ind) {
                return None;
            }
            self.comments.push((ind, c));
            return Some(());
        }
        let dash = rest.starts_with("- ");
        if dash && !self.comments.is_empty() {
            return None;
        }
        if let Some(cc) = self.expect.take() {
            if ind != cc {
                return None;
            }
            let (matched, keys) = (self.child_matched, self.keys.len());
            self.tag(if dash { b'L' } else { b'M' });
            if self.stack.len() == 1 && self.root_key.is_some() && self.sub_start == 0 {
                self.sub_start = self.tokens.len();
                if let Some(rw) = self.rw.as_mut() {
                    rw.sub_start = rw.tokens.len();
                }
            }
            self.stack.push(Frame {
                seq: dash,
                col: cc,
                base: self.aad.len(),
                matched,
                keys,
                set: None,
            });
        } else if self.stack.is_empty() {
            if ind != 0 || dash {
                return None;
            }
            self.stack.push(Frame {
                seq: false,
                col: 0,
                base: 0,
                matched: false,
                keys: 0,
                set: None,
            });
        } else {
            while self.stack.last().is_some_and(|f| f.col > ind) && self.stack.len() > 1 {
                self.close();
            }
            let top = self.stack.last()?;
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

    fn close(&mut self) {
        if let Some(f) = self.stack.pop() {
            self.tag(if f.seq { b'l' } else { b'm' });
            self.keys.truncate(f.keys);
            self.aad.truncate(f.base);
        }
    }

    /// Checks the encrypted comments waiting for a key line at `col` of the innermost map.
    fn comments_before(&mut self, col: usize) -> Option<()> {
        if self.comments.is_empty() {
            return Some(());
        }
        let top = self.stack.last()?;
        if !picked(self.sel, top.matched) {
            return None;
        }
        self.aad.truncate(top.base);
        for &(c, text) in &self.comments {
            if c != col || !value::is_encrypted(text) {
                return None;
            }
            let f = EncFields::parse(text).ok()?;
            if f.typ != ValueType::Comment {
                // A retyped comment: the tree path refuses it.
                return None;
            }
            let aad = if self.aad.is_empty() { ":" } else { &self.aad };
            f.open_into(self.cipher, aad.as_bytes(), &mut self.plain)
                .ok()?;
            let plain = std::str::from_utf8(&self.plain).ok()?;
            if memchr::memchr2(b'\n', b'\r', plain.as_bytes()).is_some() {
                return None;
            }
            match self.rw.as_mut() {
                None if !comment_holds(text.len(), &f, plain) => return None,
                None => {
                    if let Some(pl) = self.pl.as_mut() {
                        pl.repeat(b' ', c);
                        pl.byte(b'#');
                        pl.push(plain.as_bytes());
                        pl.byte(b'\n');
                    }
                }
                Some(_) if plain.is_empty() => return None,
                Some(rw) => {
                    let new = rw
                        .sealer
                        .seal(aad, plain.as_bytes(), ValueType::Comment)
                        .ok()?;
                    rw.out.resize(rw.out.len() + c, b' ');
                    rw.out.push(b'#');
                    rw.out.extend_from_slice(new.as_bytes());
                    rw.out.push(b'\n');
                }
            }
        }
        self.comments.clear();
        Some(())
    }

    fn entry(&mut self, line: &'a str, col: usize) -> Option<()> {
        let (k, after) = split_key(&line[col..])?;
        if k.is_empty() || k == "<<" || k.contains(':') || (k == "sops" && self.stack.len() == 1) {
            return None;
        }
        match inline_string(k, true)? {
            Cow::Borrowed(r) if r == k => {}
            _ => return None,
        }
        let depth = self.stack.len();
        let top = self.stack.last_mut()?;
        let (base, matched) = (top.base, top.matched);
        let mine = self.keys.get(top.keys..)?;
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
        self.keys.push(k);
        if depth == 1 {
            self.root_keys += 1;
            self.root_key.get_or_insert(k);
            self.seen0 |= self.k0 == Some(k);
        } else if depth == 2 {
            self.seen1 |= self.k1 == Some(k);
        }
        self.aad.truncate(base);
        self.aad.push_str(k);
        self.aad.push(':');
        let matched = matched || self.sel.component_matches(k);
        tok::key(&mut self.tokens, k.as_bytes());
        if let Some(rw) = self.rw.as_mut() {
            tok::key(&mut rw.tokens, k.as_bytes());
        }
        if after.is_empty() {
            self.expect = Some(self.n * ((col + self.n) / self.n));
            self.child_matched = matched;
            return Some(());
        }
        self.scalar(line, &after[1..], matched, (col, false))
    }

    fn item(&mut self, line: &'a str, d: usize) -> Option<()> {
        let content = &line[d + 2..];
        if content.starts_with([' ', '-', '#']) {
            return None;
        }
        let top = self.stack.last()?;
        let (base, matched) = (top.base, top.matched);
        if content.starts_with("ENC[") || content == "{}" || content == "[]" {
            self.aad.truncate(base);
            return self.scalar(line, content, matched, (d, true));
        }
        self.tag(b'M');
        self.aad.truncate(base);
        let keys = self.keys.len();
        self.stack.push(Frame {
            seq: false,
            col: d + 2,
            base,
            matched,
            keys,
            set: None,
        });
        self.entry(line, d + 2)
    }
}
