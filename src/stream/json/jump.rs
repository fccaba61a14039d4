//! Cutting the rest of a large JSON document's big member without reading it line by
//! line.
//!
//! The overlapped planners (`overlap` for the decrypt, `encrypt::json_overlap` for the
//! encrypt) read the head of the document line by line until they have settled the root
//! members before the big member and the big member's first sub-parts. When the tail
//! shows that the big member is the last root member (the byte before the metadata's
//! comma, or before the root's closing brace in a plaintext, closes an object, on a line
//! at the root members' indentation, and no root member starts within [`PROBE`] bytes
//! before it), the rest of the member is cut by jumping: from each cut, `target` bytes
//! ahead, then to the first `,` that ends a line followed by a line at the member's inner
//! indentation starting with `"` (a member line, as sops and leafseal write them). Only
//! a few KiB per part are looked at instead of the whole text; the workers read every
//! byte of every part anyway.
//!
//! Nothing here is trusted: as for the line planner, every part is read by the strict
//! reader as a run of members, and the parts, the commas at the cuts, the brace found
//! here and the metadata tile the file exactly, so a document whose parts are all taken
//! is the object they describe. A guess that does not hold (a long root member after
//! the big member, a comma at another depth) makes a part that the reader declines; the
//! caller then plans the document line by line, as before.

use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;

use super::Part;
use super::split::Planner;
use super::split::is_ws;

/// How far before the metadata the file is searched for the start of another root
/// member: past this, a root member after the big member is found only by the part
/// reader (and the file is planned again).
pub(in crate::stream) const PROBE: usize = 1 << 20;

/// How much is read at a time while looking for a cut.
const WINDOW: usize = 8 * 1024;

/// Where the rest of the big member is and how a cut in it looks.
#[derive(Debug)]
pub(in crate::stream) struct Jump {
    /// Where the next sub-part starts (after the last cut published).
    from: usize,
    /// The big member's closing brace.
    close: usize,
    /// What a cut looks like: `,`, a line break, the inner indentation and `"`.
    pattern: Vec<u8>,
    /// Whether root members come before the big member.
    after_members: bool,
}

/// Where the text is: a file, read a range at a time, or memory.
pub(in crate::stream) trait Text {
    /// The bytes of `range` (read into `buf` when they must be read); `None` when they
    /// cannot be read whole.
    fn bytes<'b>(&'b self, range: Range<usize>, buf: &'b mut Vec<u8>) -> Option<&'b [u8]>;
}

impl Text for File {
    fn bytes<'b>(&'b self, range: Range<usize>, buf: &'b mut Vec<u8>) -> Option<&'b [u8]> {
        buf.resize(range.len(), 0);
        self.read_exact_at(buf, range.start as u64).ok()?;
        Some(buf)
    }
}

impl Text for [u8] {
    fn bytes<'b>(&'b self, range: Range<usize>, _: &'b mut Vec<u8>) -> Option<&'b [u8]> {
        self.get(range)
    }
}

impl Jump {
    /// [`Jump::start`] from where `planner` is (before the line at `at`): the jump, the
    /// parts it has settled and the big member's key range.
    pub(in crate::stream) fn from_planner(
        text: &(impl Text + ?Sized),
        planner: &Planner,
        target: usize,
        at: usize,
        next: (usize, u8),
    ) -> Option<(Jump, Vec<Part>, Range<usize>)> {
        let (parts, key) = planner.settled(target)?;
        let j = Jump::start(text, &parts, at, planner.indentations()?, next)?;
        Some((j, parts, key))
    }

    /// The jump from the parts settled so far (`parts`, ending with a sub-part of the big
    /// member), when the tail shows the big member last: `seen` is where the line planner
    /// stopped, `root` and `inner` the root members' and the big member's members'
    /// indentation, and `next` the byte that follows the big member (but for
    /// whitespace) and where it is: the comma before the metadata member, or the root's
    /// closing brace in a plaintext.
    pub(in crate::stream) fn start(
        text: &(impl Text + ?Sized),
        parts: &[Part],
        seen: usize,
        (root, inner): (&[u8], &[u8]),
        (next, byte): (usize, u8),
    ) -> Option<Jump> {
        let Some(Part::Sub {
            body,
            after_members,
            ..
        }) = parts.last()
        else {
            return None;
        };
        let mut pattern = b",\n".to_vec();
        pattern.extend_from_slice(inner);
        pattern.push(b'"');
        if pattern.len() > WINDOW / 4 {
            return None;
        }
        // The last cut published looks as the cuts searched for (not, say, a comma with
        // spaces or a carriage return after it: such a file is planned line by line).
        let cut = body.end;
        let mut buf = Vec::new();
        if text.bytes(cut..cut.checked_add(pattern.len())?, &mut buf)? != pattern {
            return None;
        }
        // The tail, from where the planner stopped or `PROBE` bytes before the byte that
        // follows the member, to that byte. (From the line break before the line the
        // planner stopped at: that line may start a root member too.)
        let lo = seen.saturating_sub(1).max(next.saturating_sub(PROBE));
        if lo >= next {
            return None;
        }
        let tail = text.bytes(lo..next.checked_add(1)?, &mut buf)?;
        let (&last, before) = tail.split_last()?;
        if last != byte {
            return None;
        }
        let at = before.iter().rposition(|&b| !is_ws(b))?;
        // The big member's closing brace alone on its line, at the root's indentation.
        let line_start = before.get(..at)?.iter().rposition(|&b| b == b'\n')? + 1;
        if before.get(at) != Some(&b'}') || before.get(line_start..at)? != root {
            return None;
        }
        // No root member starts in between.
        let mut member = b"\n".to_vec();
        member.extend_from_slice(root);
        member.push(b'"');
        if memchr::memmem::find(before, &member).is_some() {
            return None;
        }
        let close = lo + at;
        (close > cut).then_some(Jump {
            from: cut + 1,
            close,
            pattern,
            after_members: *after_members,
        })
    }

    /// Cuts the rest of the member into parts of at least `target` bytes (as the line
    /// planner cuts them), handing each to `found` in order; the last one closes the
    /// member. `None` when the file could not be read.
    pub(in crate::stream) fn run(
        self,
        text: &(impl Text + ?Sized),
        target: usize,
        mut found: impl FnMut(Part),
    ) -> Option<()> {
        let finder = memchr::memmem::Finder::new(&self.pattern);
        let mut buf = Vec::with_capacity(WINDOW);
        let mut from = self.from;
        let sub = |body: Range<usize>, last: bool| Part::Sub {
            body,
            first: false,
            last,
            after_members: self.after_members,
        };
        loop {
            let mut at = from.saturating_add(target.max(1));
            let cut = loop {
                if at >= self.close {
                    break None;
                }
                let end = at.saturating_add(WINDOW).min(self.close);
                let window = text.bytes(at..end, &mut buf)?;
                if let Some(i) = finder.find(window) {
                    break Some(at + i);
                }
                if end == self.close {
                    break None;
                }
                // The next window starts early enough to find a cut across the boundary.
                at = end - (self.pattern.len() - 1);
            };
            let Some(cut) = cut else { break };
            found(sub(from..cut, false));
            from = cut + 1;
        }
        found(sub(from..self.close, true));
        Some(())
    }
}
