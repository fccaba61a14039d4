//! The direct path for one part of a streamed YAML decrypt: the part's lines are read one
//! at a time, each `ENC[…]` value and comment is decrypted where it stands and its line is
//! written with the plaintext rendered by the YAML emitter's own scalar rendering, the
//! rest of the line copied as it is; no tree is built.
//!
//! It takes only lines whose layout the emitter writes the same way (`key: ENC[…]`,
//! `key:` over a block at the emitter's next indentation, `- ENC[…]`, `- key: …`,
//! `key: {}` / `key: []`, `#ENC[…]` comments before a key at its column), every value
//! encrypted and picked by the selector. Anything else, or any value that does not
//! decrypt, makes it decline ([`part`] returns `None`) and the part is read as a tree,
//! which gives the same bytes, MAC input and integrity tokens, or the error.

use std::collections::HashSet;

use zeroize::Zeroizing;

use crate::crypto::integrity::direct as tok;
use crate::crypto::value;
use crate::crypto::value::EncFields;
use crate::crypto::value::ValueType;
use crate::format::yaml::inline_value;
use crate::format::yaml::is_plain_key;
use crate::format::yaml::push_string_line;
use crate::format::yaml::scalar_after;
use crate::secbuf::SecureBuf;
use crate::walk::Selector;

use super::Job;
use super::PartOut;

/// The environment variable that chooses the direct path of YAML and JSON parts: `never`
/// reads every part as a tree, `require` sends the whole file to the tree path when any
/// part is not taken by the direct path (tests: shows that it was); unset, the direct
/// path is tried first.
pub const DIRECT_ENV: &str = "LEAFSEAL_STREAM_DIRECT";

/// How parts are read.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Mode {
    /// The direct path, else the part's tree.
    Auto,
    /// Always the part's tree.
    Never,
    /// The direct path only: a part it declines sends the whole file to the tree path.
    Require,
}

impl Mode {
    pub(super) fn from_env(v: Option<&str>) -> Mode {
        match v.map(str::to_ascii_lowercase).as_deref() {
            Some("never" | "0" | "off") => Mode::Never,
            Some("require") => Mode::Require,
            _ => Mode::Auto,
        }
    }
}

/// The direct path's setting for one file.
pub(super) struct Setting {
    /// The emitter's indentation (`None`: the direct path is not taken).
    pub indent: Option<usize>,
    pub mode: Mode,
}

/// How the part's text is laid out around its entries.
#[derive(Clone, Copy)]
pub(super) enum Shape {
    /// Entries of the root map.
    Top,
    /// Entries of the map under the one root entry of the part's first line; `first`
    /// when that line is part of the output.
    Sub { first: bool },
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
    /// Where its keys start in `State::keys`.
    keys: usize,
    /// Its keys, once it has many (a quicker duplicate check).
    set: Option<HashSet<&'a str>>,
}

/// The part being read.
struct State<'a> {
    job: &'a Job<'a>,
    n: usize,
    out: SecureBuf,
    tokens: Vec<u8>,
    mac: Zeroizing<Vec<u8>>,
    plain: Zeroizing<Vec<u8>>,
    aad: String,
    stack: Vec<Frame<'a>>,
    /// The keys of the open maps (duplicate keys go to the tree path, which rejects them).
    keys: Vec<&'a str>,
    /// After a `key:` line: the column the block under it must start at.
    expect: Option<usize>,
    /// Comment lines waiting for the key line they stand before: (column, text).
    comments: Vec<(usize, &'a str)>,
    /// How many root keys were read.
    root_keys: usize,
    /// The first root key (the entry of a `Sub` part).
    root_key: Option<&'a str>,
    /// Where the tokens of the map under the root key start (`Sub` parts).
    sub_start: usize,
    /// Whether the key of the block that `expect` waits for matched the selector.
    child_matched: bool,
}

/// Reads, decrypts and writes one part's text directly, or `None` when the part must be
/// read as a tree (see the module docs).
pub(super) fn part(
    job: &Job<'_>,
    indent: Option<usize>,
    text: &[u8],
    shape: Shape,
) -> Option<PartOut> {
    let text = std::str::from_utf8(text).ok()?;
    let n = indent?;
    let mut st = State {
        job,
        n,
        out: SecureBuf::reusing(job.pools.out.take(text.len() / 2 + 64)),
        tokens: job.pools.tokens.take(text.len() / 2 + 64),
        mac: Zeroizing::new(job.pools.mac.take(text.len() / 4 + 64)),
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
    };
    let sub = matches!(shape, Shape::Sub { .. });
    let skip_first = matches!(shape, Shape::Sub { first: false });
    let body = text.strip_suffix('\n').unwrap_or(text);
    let mut start = 0;
    let breaks = memchr::memchr_iter(b'\n', body.as_bytes()).chain(std::iter::once(body.len()));
    for (i, nl) in breaks.enumerate() {
        // Line breaks are ASCII: `start..nl` are character boundaries.
        let line = body.get(start..nl)?;
        start = nl + 1;
        let mark = st.out.as_slice().len();
        st.line(line)?;
        if i == 0 && skip_first {
            // The header line of a later part of an entry: read only to give the entries
            // their place (written by the entry's first part).
            if st.out.as_slice().len() != mark + line.len() + 1 || !st.comments.is_empty() {
                return None;
            }
            st.out.wipe_from(mark);
        }
    }
    if st.expect.is_some() || !st.comments.is_empty() || st.root_keys == 0 {
        return None;
    }
    while st.stack.len() > 1 {
        st.close();
    }
    let (tokens, entry_key) = if sub {
        if st.root_keys != 1
            || st.tokens.get(st.sub_start.wrapping_sub(1)) != Some(&b'M')
            || st.tokens.last() != Some(&b'm')
        {
            return None;
        }
        let end = st.tokens.len() - 1;
        let mut tokens = std::mem::take(&mut st.tokens);
        tokens.truncate(end);
        tokens.drain(..st.sub_start.min(end));
        (tokens, st.root_key.map(str::to_owned))
    } else {
        (st.tokens, None)
    };
    Some(PartOut::Done {
        out: st.out.finish(),
        skip: 0,
        tokens,
        mac_input: vec![st.mac],
        clear_comments: 0,
        entry_key,
        pooled: true,
    })
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

impl<'a> State<'a> {
    fn line(&mut self, line: &'a str) -> Option<()> {
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
            // Comments in a list: the tree path places them.
            return None;
        }
        if let Some(cc) = self.expect.take() {
            if ind != cc {
                return None;
            }
            let (matched, keys) = (self.child_matched, self.keys.len());
            if dash {
                tok::tag(&mut self.tokens, b'L');
            } else {
                tok::tag(&mut self.tokens, b'M');
            }
            if self.stack.len() == 1 && self.root_key.is_some() && self.sub_start == 0 {
                self.sub_start = self.tokens.len();
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

    /// Closes the innermost open collection.
    fn close(&mut self) {
        if let Some(f) = self.stack.pop() {
            tok::tag(&mut self.tokens, if f.seq { b'l' } else { b'm' });
            self.keys.truncate(f.keys);
            self.aad.truncate(f.base);
        }
    }

    /// Writes the comments waiting for a key line at `col` of the innermost map.
    fn comments_before(&mut self, col: usize) -> Option<()> {
        if self.comments.is_empty() {
            return Some(());
        }
        let top = self.stack.last()?;
        if !picked(self.job.sel, top.matched) {
            return None;
        }
        self.aad.truncate(top.base);
        let comments = std::mem::take(&mut self.comments);
        for &(c, text) in &comments {
            if c != col || !value::is_encrypted(text) {
                return None;
            }
            let f = EncFields::parse(text).ok()?;
            if f.typ != ValueType::Comment {
                // A retyped comment: the tree path refuses it.
                return None;
            }
            let aad = if self.aad.is_empty() { ":" } else { &self.aad };
            f.open_into(&self.job.cipher, aad.as_bytes(), &mut self.plain)
                .ok()?;
            let plain = std::str::from_utf8(&self.plain).ok()?;
            if memchr::memchr2(b'\n', b'\r', plain.as_bytes()).is_some() {
                return None;
            }
            self.out.repeat(b' ', col);
            self.out.byte(b'#');
            self.out.push(plain.as_bytes());
            self.out.byte(b'\n');
        }
        self.comments = comments;
        self.comments.clear();
        Some(())
    }

    /// A `key: …` line at `col` in the innermost map (after a dash when `line` has one).
    fn entry(&mut self, line: &'a str, col: usize) -> Option<()> {
        let (k, after) = split_key(&line[col..])?;
        if k.is_empty() || k == "<<" || (k == "sops" && self.stack.len() == 1) {
            return None;
        }
        if !is_plain_key(k) {
            return None;
        }
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
        if self.stack.len() == 1 {
            self.root_keys += 1;
            self.root_key.get_or_insert(k);
        }
        self.aad.truncate(base);
        self.aad.push_str(k);
        self.aad.push(':');
        let matched = matched || self.job.sel.component_matches(k);
        tok::key(&mut self.tokens, k.as_bytes());
        let head = &line[..line.len() - after.len()];
        if after.is_empty() {
            // A block collection follows on the next lines, at the emitter's indentation.
            self.out.push(head.as_bytes());
            self.out.byte(b'\n');
            self.expect = Some(self.n * ((col + self.n) / self.n));
            self.child_matched = matched;
            return Some(());
        }
        self.scalar(head, &after[1..], matched, (col, false))
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
            return self.scalar(&line[..d + 1], content, matched, (d, true));
        }
        // A map in the item: its keys at the dash column + 2, the first on this line.
        tok::tag(&mut self.tokens, b'M');
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

    /// Writes `head` and the value `v` after it (one space between); `at`: the column of
    /// the key, or of the dash of a list item (`true`).
    fn scalar(&mut self, head: &str, v: &str, matched: bool, at: (usize, bool)) -> Option<()> {
        match v {
            "{}" => {
                tok::tag(&mut self.tokens, b'M');
                tok::tag(&mut self.tokens, b'm');
                write(&mut self.out, head, "{}");
                return Some(());
            }
            "[]" => {
                tok::tag(&mut self.tokens, b'L');
                tok::tag(&mut self.tokens, b'l');
                write(&mut self.out, head, "[]");
                return Some(());
            }
            _ => {}
        }
        if !picked(self.job.sel, matched)
            || !value::is_encrypted(v)
            || !v.ends_with(']')
            || memchr::memchr(b' ', v.as_bytes()).is_some()
        {
            return None;
        }
        let f = EncFields::parse(v).ok()?;
        // The record's token from the fields just parsed (the same bytes as finding them
        // again, for a value that decrypts; one that does not sends the part to the tree).
        match f.tag_text {
            Some(tag) => tok::fields(&mut self.tokens, f.typ.name(), f.data.len(), tag),
            None if tok::encrypted(&mut self.tokens, v) => {}
            None => return None,
        }
        if f.typ == ValueType::Comment {
            // An encrypted comment stored as a list item: the tree path lifts it. On a
            // map value it is an edit the tree path leaves out of the MAC.
            return None;
        }
        f.open_into(&self.job.cipher, self.aad.as_bytes(), &mut self.plain)
            .ok()?;
        match f.typ {
            ValueType::Str | ValueType::Bytes | ValueType::Comment => {
                let s = std::str::from_utf8(&self.plain).ok()?;
                crate::secbuf::extend_wiped(&mut self.mac, s.as_bytes());
                push_string_line(&mut self.out, self.n, head, s, at);
                Some(())
            }
            typ => {
                let val = value::value_from_plaintext(&self.plain, typ).ok()?;
                let mac = &mut self.mac;
                value::with_plaintext(&val, |p, _| crate::secbuf::extend_wiped(mac, p));
                match inline_value(&val) {
                    Some(r) => write(&mut self.out, head, &r),
                    None => {
                        self.out.push(head.as_bytes());
                        scalar_after(&mut self.out, self.n, &val, at.0, at.1);
                    }
                }
                Some(())
            }
        }
    }
}

/// Writes a line: `head`, a space and the value `v`.
fn write(out: &mut SecureBuf, head: &str, v: &str) {
    out.push(head.as_bytes());
    out.byte(b' ');
    out.push(v.as_bytes());
    out.byte(b'\n');
}
