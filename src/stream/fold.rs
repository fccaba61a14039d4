//! The parts' results folded in document order: the MAC, the integrity record and the
//! output buffer of a streamed decrypt (the YAML block path and the JSON path), and the
//! recycling of each part's plaintext buffers once folded.

use zeroize::Zeroizing;

use super::pool::Pools;
use super::split::Part;
use crate::crypto::document::DocumentError;
use crate::crypto::integrity;
use crate::crypto::mac::MacHasher;
use crate::format::Output;
use crate::secbuf::SecureBuf;

/// One part's result.
pub(super) enum PartOut {
    Done {
        out: Output,
        /// Bytes at the start of `out` that are not part of the output (a header line).
        skip: usize,
        tokens: Vec<u8>,
        mac_input: Vec<Zeroizing<Vec<u8>>>,
        clear_comments: usize,
        entry_key: Option<String>,
        /// Whether `out` and `mac_input` were taken from the [`Pools`] (and so only ever
        /// appended to): they go back there; other buffers are wiped whole and freed.
        pooled: bool,
    },
    Failed(DocumentError),
    Decline,
}

/// The parts' results folded in document order.
pub(super) struct Accumulated {
    pub(super) mac: MacHasher,
    pub(super) record: integrity::Streamed,
    /// The output so far, in document order (released only after verification).
    pub(super) out: SecureBuf,
    /// The size of the encrypted input, to size `out` from the parts' ratio.
    pub(super) input_len: usize,
    /// The length of the part `out` was last sized from.
    pub(super) sample: usize,
    pub(super) clear_comments: usize,
    pub(super) first_error: Option<DocumentError>,
    /// Memory for `out` being touched on another thread, taken when `out` is first sized.
    pub(super) ahead: Option<super::pool::Touching>,
}

impl Accumulated {
    /// Folds in the next part; `false` when the document must be read whole.
    pub(super) fn take<P: Shape>(&mut self, part: &P, r: PartOut, pools: &Pools) -> bool {
        match r {
            PartOut::Decline => false,
            PartOut::Failed(e) => {
                // Later parts are still read: one the reader declines sends the whole
                // file to the tree path, which then reports what it finds first.
                self.first_error.get_or_insert(e);
                true
            }
            PartOut::Done {
                out,
                mac_input,
                pooled,
                ..
            } if self.first_error.is_some() => {
                recycle(pools, out, mac_input, pooled);
                true
            }
            PartOut::Done {
                out,
                skip,
                tokens,
                mac_input,
                clear_comments,
                entry_key,
                pooled,
            } => {
                for m in &mac_input {
                    self.mac.update(m);
                }
                if let (true, Some(k)) = (part.opens_entry(), &entry_key) {
                    self.record.open_map_entry(k);
                }
                self.record.feed(&tokens);
                pools.tokens.give(tokens, false);
                if part.closes_entry() {
                    self.record.close_map();
                }
                self.clear_comments += clear_comments;
                let text = out.get(skip..).unwrap_or_default();
                let part_len = part.text_len();
                if part_len > self.sample.saturating_mul(4) {
                    // Sized from the first part's ratio of output to input (with a
                    // margin), and again from the first part much larger than that one (a
                    // small first part is a poor sample): growing copies and wipes, and
                    // the whole capacity is wiped when the output is discarded.
                    self.sample = part_len;
                    let est = (self.input_len as f64 * text.len() as f64 / part_len.max(1) as f64
                        * 1.15) as usize;
                    let want = est.min(self.input_len * 2) + 64 * 1024;
                    if let Some(v) = self.ahead.take().and_then(|h| h.join().ok())
                        && v.capacity() > self.out.capacity()
                    {
                        let mut touched = SecureBuf::reusing(v);
                        touched.push(self.out.as_slice());
                        self.out = touched;
                    }
                    if want > self.out.capacity() {
                        // A new buffer of that size (not `reserve`, which at least doubles);
                        // the old one is wiped as it is dropped.
                        let mut sized = SecureBuf::with_capacity(want);
                        sized.push(self.out.as_slice());
                        self.out = sized;
                    }
                }
                self.out.push(text);
                // The part's own buffers are wiped, then reused or freed.
                recycle(pools, out, mac_input, pooled);
                true
            }
        }
    }
}

/// Wipes a folded part's plaintext buffers and puts them back in the pools (or frees
/// them, wiped whole, when they were not the pools').
fn recycle(pools: &Pools, mut out: Output, mac_input: Vec<Zeroizing<Vec<u8>>>, pooled: bool) {
    if !pooled {
        crate::secbuf::discard(out);
        for m in mac_input {
            crate::secbuf::discard(m);
        }
        return;
    }
    pools.out.give(std::mem::take(&mut *out), true);
    for mut m in mac_input {
        pools.mac.give(std::mem::take(&mut *m), true);
    }
}

/// What the in-order fold needs to know of a part, whatever the format.
pub(super) trait Shape {
    /// The first part of a root entry whose map value is cut into parts.
    fn opens_entry(&self) -> bool;
    /// The last part of such an entry.
    fn closes_entry(&self) -> bool;
    /// The length of the part's encrypted text.
    fn text_len(&self) -> usize;
}

impl Shape for Part {
    fn opens_entry(&self) -> bool {
        matches!(self, Part::Sub { first: true, .. })
    }

    fn closes_entry(&self) -> bool {
        matches!(self, Part::Sub { last: true, .. })
    }

    fn text_len(&self) -> usize {
        match self {
            Part::Top(r) => r.len(),
            Part::Sub { body, .. } => body.len(),
        }
    }
}
