//! The writing side of the tree-free YAML encrypt: the YAML emitter's line and
//! indentation state (`format/yaml/emit.rs`: `write_indent`, `write_indicator`,
//! `write_text`, `comment_lines`, the blank line after foot comments), driven in the
//! order in which the emitter would visit the part's tree, and the MAC input kept in
//! fixed chunks.

use zeroize::Zeroizing;

use crate::format::Output;
use crate::secbuf::SecureBuf;

const SPACES: &[u8; 64] = b"                                                                ";

/// The emitter's state for one part's text (`on == false`: nothing is written, the MAC
/// pass).
pub(super) struct Em {
    out: SecureBuf,
    pub(super) on: bool,
    column: usize,
    whitespace: bool,
    indention: bool,
    foot: Option<usize>,
}

impl Em {
    /// `buf`: where the allocation to write into comes from (taken only when `on`).
    pub(super) fn new(on: bool, buf: impl FnOnce() -> Vec<u8>) -> Em {
        let out = SecureBuf::reusing(if on { buf() } else { Vec::new() });
        Em {
            out,
            on,
            column: 0,
            whitespace: true,
            indention: true,
            foot: None,
        }
    }

    fn put_break(&mut self) {
        self.out.byte(b'\n');
        self.column = 0;
        self.whitespace = true;
        self.indention = true;
    }

    pub(super) fn write_indent(&mut self, ind: usize) {
        if !self.on {
            return;
        }
        if !self.indention || self.column > ind || (self.column == ind && !self.whitespace) {
            self.put_break();
        }
        if self.foot == Some(ind) {
            self.put_break();
        }
        while self.column < ind {
            let n = (ind - self.column).min(SPACES.len());
            self.out.push(&SPACES[..n]);
            self.column += n;
        }
        self.whitespace = true;
        self.indention = true;
        self.foot = None;
    }

    fn write_raw(&mut self, s: &[u8]) {
        self.out.push(s);
        self.column += s.len();
    }

    /// `-` of a list item (`write_indicator("-", true, false, true)`).
    pub(super) fn dash(&mut self) {
        if !self.on {
            return;
        }
        if !self.whitespace {
            self.write_raw(b" ");
        }
        self.write_raw(b"-");
        self.whitespace = false;
    }

    /// `:` after a key (`write_indicator(":", false, false, false)`).
    pub(super) fn colon(&mut self) {
        if !self.on {
            return;
        }
        self.write_raw(b":");
        self.whitespace = false;
        self.indention = false;
    }

    pub(super) fn write_text(&mut self, s: &str) {
        if !self.on {
            return;
        }
        if !self.whitespace {
            self.write_raw(b" ");
        }
        self.write_raw(s.as_bytes());
        self.whitespace = false;
        self.indention = false;
    }

    /// [`Em::write_text`] of what `f` appends straight into the text (at most `max`
    /// bytes, of which the column counts every one): `f`'s result and the offset in the
    /// text where its bytes start.
    pub(super) fn write_with<T, E>(
        &mut self,
        max: usize,
        f: impl FnOnce(&mut Vec<u8>) -> Result<T, E>,
    ) -> Result<(T, usize), E> {
        if !self.whitespace {
            self.write_raw(b" ");
        }
        let at = self.out.as_slice().len();
        let r = self.out.append_with(max, f)?;
        self.column += self.out.as_slice().len() - at;
        self.whitespace = false;
        self.indention = false;
        Ok((r, at))
    }

    /// The text written so far.
    pub(super) fn written(&self) -> &[u8] {
        self.out.as_slice()
    }

    /// A comment on its own line at `ind` (`comment_lines`; the text holds no line break).
    pub(super) fn comment(&mut self, ind: usize, text: &str) {
        if !self.on {
            return;
        }
        self.write_indent(ind);
        self.write_raw(b"#");
        self.write_raw(text.as_bytes());
        self.put_break();
    }

    /// After foot comments of a collection written at `ind`.
    pub(super) fn foot(&mut self, ind: usize) {
        self.foot = Some(ind);
    }

    pub(super) fn finish(mut self) -> Output {
        if self.column > 0 {
            self.out.byte(b'\n');
        }
        self.out.finish()
    }
}

/// MAC input in fixed-capacity chunks (a growing buffer would leave copies of the
/// plaintext in the memory it frees), taken from the MAC pass's pool when it has one: the
/// pass folds each part's chunks and gives them back, so that the parts after the first
/// few write into memory already touched, not into new pages the kernel must zero.
pub(in crate::stream::encrypt) struct Chunks<'p> {
    chunks: Vec<Zeroizing<Vec<u8>>>,
    pool: Option<&'p crate::stream::pool::Pool>,
}

impl<'p> Chunks<'p> {
    const CHUNK: usize = 64 * 1024;

    /// No chunks yet; new ones from `pool` (or the allocator).
    pub(in crate::stream::encrypt) fn new(pool: Option<&'p crate::stream::pool::Pool>) -> Self {
        Chunks {
            chunks: Vec::new(),
            pool,
        }
    }

    pub(in crate::stream::encrypt) fn extend(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let room = self.chunks.last().map_or(0, |c| c.capacity() - c.len());
            if room == 0 {
                let cap = Self::CHUNK.max(bytes.len().min(1 << 20));
                let chunk = self
                    .pool
                    .map_or_else(|| Vec::with_capacity(cap), |p| p.take(cap));
                self.chunks.push(Zeroizing::new(chunk));
                continue;
            }
            let (now, rest) = bytes.split_at(room.min(bytes.len()));
            if let Some(c) = self.chunks.last_mut() {
                c.extend_from_slice(now);
            }
            bytes = rest;
        }
    }

    /// The chunks, in order.
    pub(in crate::stream::encrypt) fn into_inner(self) -> Vec<Zeroizing<Vec<u8>>> {
        self.chunks
    }
}
