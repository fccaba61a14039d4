//! The splice's proof without a tree, for a part that does not hold the path: its lines
//! are read one at a time (the layout rules of the direct decrypt, `super::super::
//! yaml_direct`, which gives the emitter's bytes for the plaintext; one scanner,
//! `super::super::yaml_lines`, reads the lines of both), every `ENC[…]` value
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
//! The lines are read by the scanner the decrypt's direct path reads them with
//! (`crate::stream::yaml_lines`); this module is its [`Actions`] for the splice.

use zeroize::Zeroizing;

use crate::crypto::document::Sealer;
use crate::crypto::document::comment_holds;
use crate::crypto::integrity::direct as tok;
use crate::crypto::value::EncFields;
use crate::crypto::value::ValueCipher;
use crate::crypto::value::ValueType;
use crate::format::Output;
use crate::format::yaml::is_plain_key;
use crate::secbuf::SecureBuf;
use crate::stream::yaml_lines::Actions;
use crate::stream::yaml_lines::Lines;
use crate::stream::yaml_lines::ScanState;
use crate::stream::yaml_lines::entry_tokens;
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

/// The splice's actions on the scanner's lines: the checks of the canonical form, and
/// the part sealed again or its plaintext.
struct Splice<'a, 's, 'c> {
    rw: Option<Rw<'s, 'c>>,
    /// The plaintext (`edit`), and whether the current line's value was written to it.
    pl: Option<SecureBuf>,
    pl_wrote: bool,
    /// The path's first and second key, and whether they were seen (at the root, and in
    /// the map of the part's one root entry).
    k0: Option<&'a str>,
    k1: Option<&'a str>,
    seen0: bool,
    seen1: bool,
}

type State<'a, 's, 'c> = Lines<'a, Splice<'a, 's, 'c>>;

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
        scan: ScanState::new(
            cfg.cipher,
            cfg.sel,
            n,
            Vec::with_capacity(tokens_capacity(body.len())),
            Zeroizing::new(Vec::with_capacity(body.len() / 4 + 64)),
        ),
        act: Splice {
            rw,
            pl,
            pl_wrote: false,
            k0: cfg.k0,
            k1: cfg.k1,
            seen0: false,
            seen1: false,
        },
    };
    if let Some(h) = header {
        line(&mut st, h)?;
        if !st.scan.expects_block() || st.scan.comments_waiting() {
            return None;
        }
        // Written by the entry's first part.
        if let Some(rw) = st.act.rw.as_mut() {
            rw.out.clear();
        }
        if let Some(pl) = st.act.pl.take() {
            let mut written = pl.finish();
            st.act.pl = Some(SecureBuf::reusing(std::mem::take(&mut *written)));
        }
    }
    let mut start = 0;
    let breaks = memchr::memchr_iter(b'\n', body.as_bytes()).chain(std::iter::once(body.len()));
    for nl in breaks {
        let l = body.get(start..nl)?;
        start = nl + 1;
        line(&mut st, l)?;
    }
    st.end(sub)?;
    let State { mut scan, act } = st;
    let (tokens, entry_key, holds) = if sub {
        let end = scan.tokens.len() - 1;
        let holds = if scan.root_key() != act.k0 {
            Some(false)
        } else if act.k1.is_some() {
            Some(act.seen1)
        } else {
            None
        };
        let sub_start = scan.sub_start();
        let tokens = entry_tokens(std::mem::take(&mut scan.tokens), sub_start, end)?;
        (tokens, scan.root_key().map(str::to_owned), holds)
    } else {
        (std::mem::take(&mut scan.tokens), None, Some(act.seen0))
    };
    let rewritten = match act.rw {
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
        mac: std::mem::take(&mut scan.mac),
        tokens,
        entry_key,
        holds,
        rewritten,
        plain: act.pl.map(SecureBuf::finish),
    })
}

/// Reads one line, then writes it again: sealed (only its value replaced) or in
/// plaintext, when the scan writes.
fn line<'a>(st: &mut State<'a, '_, '_>, line: &'a str) -> Option<()> {
    st.line(line)?;
    let act = &mut st.act;
    if let Some(pl) = act.pl.as_mut() {
        // Comment lines are written before their key line, values by `value`.
        if !std::mem::take(&mut act.pl_wrote) && !line.trim_start().starts_with('#') {
            pl.push(line.as_bytes());
            pl.byte(b'\n');
        }
    }
    if let Some(rw) = act.rw.as_mut() {
        match rw.replaced.take() {
            Some((old, new)) => {
                rw.out
                    .extend_from_slice(line.get(..line.len() - old)?.as_bytes());
                rw.out.extend_from_slice(new.as_bytes());
                rw.out.push(b'\n');
            }
            // A comment line is written before its key line (`comment`).
            None if line.trim_start().starts_with('#') => {}
            None => {
                rw.out.extend_from_slice(line.as_bytes());
                rw.out.push(b'\n');
            }
        }
    }
    Some(())
}

impl<'a> Actions<'a> for Splice<'a, '_, '_> {
    fn key_allowed(&self, k: &str) -> bool {
        // `is_plain_key`: the decrypt's test (its quick style check first), true exactly
        // when the emitter writes the key as it is.
        !k.contains(':') && is_plain_key(k)
    }

    /// A marker of the record's tokens (both records when rewriting).
    fn tag(&mut self, t: u8) {
        if let Some(rw) = self.rw.as_mut() {
            tok::tag(&mut rw.tokens, t);
        }
    }

    fn sub_start(&mut self) {
        if let Some(rw) = self.rw.as_mut() {
            rw.sub_start = rw.tokens.len();
        }
    }

    fn key(&mut self, depth: usize, k: &'a str) {
        if depth == 1 {
            self.seen0 |= self.k0 == Some(k);
        } else if depth == 2 {
            self.seen1 |= self.k1 == Some(k);
        }
        if let Some(rw) = self.rw.as_mut() {
            tok::key(&mut rw.tokens, k.as_bytes());
        }
    }

    /// Checks an encrypted comment (its canonical form), or seals it again.
    fn comment(
        &mut self,
        col: usize,
        text: &'a str,
        f: &EncFields<'_>,
        plain: &str,
        aad: &str,
    ) -> Option<()> {
        match self.rw.as_mut() {
            None if !comment_holds(text.len(), f, plain) => return None,
            None => {
                if let Some(pl) = self.pl.as_mut() {
                    pl.repeat(b' ', col);
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
                rw.out.resize(rw.out.len() + col, b' ');
                rw.out.push(b'#');
                rw.out.extend_from_slice(new.as_bytes());
                rw.out.push(b'\n');
            }
        }
        Some(())
    }

    fn value(
        &mut self,
        scan: &mut ScanState<'a>,
        head: &'a str,
        v: &'a str,
        at: (usize, bool),
    ) -> Option<()> {
        self.inline_value(scan, head, v, at)
    }
}
