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
//!
//! The lines are read by `super::yaml_lines` (the scanner the splice reads its parts
//! with); this module is its [`Actions`] for the decrypt.

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

use super::Job;
use super::PartOut;
use super::yaml_lines::Actions;
use super::yaml_lines::Lines;
use super::yaml_lines::ScanState;
use super::yaml_lines::entry_tokens;

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

/// The decrypt's actions on the scanner's lines: the plaintext written where each
/// `ENC[…]` value and comment stood, the other lines copied.
struct Decrypt {
    out: SecureBuf,
}

impl<'a> Actions<'a> for Decrypt {
    fn key_allowed(&self, k: &str) -> bool {
        is_plain_key(k)
    }

    fn block_key(&mut self, line: &'a str) {
        self.out.push(line.as_bytes());
        self.out.byte(b'\n');
    }

    fn empty(&mut self, head: &'a str, v: &'a str) {
        write(&mut self.out, head, v);
    }

    fn comment(
        &mut self,
        col: usize,
        _text: &'a str,
        _f: &EncFields<'_>,
        plain: &str,
        _aad: &str,
    ) -> Option<()> {
        self.out.repeat(b' ', col);
        self.out.byte(b'#');
        self.out.push(plain.as_bytes());
        self.out.byte(b'\n');
        Some(())
    }

    fn value(
        &mut self,
        scan: &mut ScanState<'a>,
        head: &'a str,
        v: &'a str,
        at: (usize, bool),
    ) -> Option<()> {
        let f = EncFields::parse(v).ok()?;
        // The record's token from the fields just parsed.
        if !tok::parsed(&mut scan.tokens, &f, v) {
            return None;
        }
        if f.typ == ValueType::Comment {
            // An encrypted comment stored as a list item: the tree path lifts it. On a
            // map value it is an edit the tree path leaves out of the MAC.
            return None;
        }
        f.open_into(scan.cipher, scan.aad.as_bytes(), &mut scan.plain)
            .ok()?;
        match f.typ {
            ValueType::Str | ValueType::Bytes | ValueType::Comment => {
                let s = std::str::from_utf8(&scan.plain).ok()?;
                crate::secbuf::extend_wiped(&mut scan.mac, s.as_bytes());
                push_string_line(&mut self.out, scan.n, head, s, at);
                Some(())
            }
            typ => {
                let val = value::value_from_plaintext(&scan.plain, typ).ok()?;
                let mac = &mut scan.mac;
                value::with_plaintext(&val, |p, _| crate::secbuf::extend_wiped(mac, p));
                match inline_value(&val) {
                    Some(r) => write(&mut self.out, head, &r),
                    None => {
                        self.out.push(head.as_bytes());
                        scalar_after(&mut self.out, scan.n, &val, at.0, at.1);
                    }
                }
                Some(())
            }
        }
    }
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
    let mut st = Lines {
        scan: ScanState::new(
            &job.cipher,
            job.sel,
            n,
            job.pools.tokens.take(text.len() / 2 + 64),
            Zeroizing::new(job.pools.mac.take(text.len() / 4 + 64)),
        ),
        act: Decrypt {
            out: SecureBuf::reusing(job.pools.out.take(text.len() / 2 + 64)),
        },
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
        let mark = st.act.out.as_slice().len();
        st.line(line)?;
        if i == 0 && skip_first {
            // The header line of a later part of an entry: read only to give the entries
            // their place (written by the entry's first part).
            if st.act.out.as_slice().len() != mark + line.len() + 1 || st.scan.comments_waiting() {
                return None;
            }
            st.act.out.wipe_from(mark);
        }
    }
    st.end(sub)?;
    let Lines { scan, act } = st;
    let (tokens, entry_key) = if sub {
        let end = scan.tokens.len() - 1;
        let (sub_start, key) = (scan.sub_start(), scan.root_key());
        let tokens = entry_tokens(scan.tokens, sub_start, end)?;
        (tokens, key.map(str::to_owned))
    } else {
        (scan.tokens, None)
    };
    Some(PartOut::Done {
        out: act.out.finish(),
        skip: 0,
        tokens,
        mac_input: vec![scan.mac],
        clear_comments: 0,
        entry_key,
        pooled: true,
    })
}

/// Writes a line: `head`, a space and the value `v`.
fn write(out: &mut SecureBuf, head: &str, v: &str) {
    out.push(head.as_bytes());
    out.byte(b' ');
    out.push(v.as_bytes());
    out.byte(b'\n');
}
