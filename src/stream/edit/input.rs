//! The encrypted file an edit session reads: never whole (a 43 MB input buffer, fresh
//! memory the kernel must zero, was the largest cost of opening a large file), but in
//! blocks for the plan, part by part on the workers, and range by range when the edited
//! part is sealed and the new file written.
//!
//! The file is read from the open to the write, so it must stay the file that was
//! opened: [`EditInput::unchanged`] compares its identity, links, length and change
//! times with those taken when the session began. The open declines a file changed
//! while it was read (the caller then reads it whole), and the caller checks again once
//! the new file is written and before it replaces the old one: a file changed
//! meanwhile by a program that does not take leafseal's lock is then left as that
//! program wrote it, and the edit is not written.

use std::fs::File;
use std::io::Write;
use std::ops::Range;
use std::os::unix::fs::FileExt;

use crate::keys::KeyContext;
use crate::stream::blocks;
use crate::stream::blocks::Stamp;
use crate::stream::split::Part;
use crate::stream::split::Plan;

/// The size of the pieces a range is copied in.
const COPY_BLOCK: usize = 1 << 20;

/// An encrypted file opened for editing (see the module docs).
#[derive(Clone, Copy)]
pub struct EditInput<'a> {
    file: &'a File,
    stamp: Stamp,
}

impl std::fmt::Debug for EditInput<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EditInput({} bytes)", self.stamp.len)
    }
}

impl<'a> EditInput<'a> {
    /// The regular file `file` as it is now, or `None` for anything else (a FIFO, a
    /// device, a file whose metadata cannot be read).
    pub fn of(file: &'a File) -> Option<EditInput<'a>> {
        let stamp = Stamp::of(file)?;
        usize::try_from(stamp.len).ok()?;
        Some(EditInput { file, stamp })
    }

    /// The file.
    pub(in crate::stream) fn file(&self) -> &'a File {
        self.file
    }

    /// Its length when the session began.
    pub fn len(&self) -> usize {
        usize::try_from(self.stamp.len).unwrap_or(usize::MAX)
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.stamp.len == 0
    }

    /// Whether it is still the file the session began with (same identity, links,
    /// length and change times).
    pub fn unchanged(&self) -> bool {
        Stamp::of(self.file).is_some_and(|now| now == self.stamp)
    }

    /// Whether it starts with a byte-order mark.
    pub(in crate::stream) fn has_bom(&self) -> bool {
        let mut head = [0u8; 3];
        self.file.read_exact_at(&mut head, 0).is_ok() && head == *b"\xEF\xBB\xBF"
    }

    /// The whole text, read once more (for the paths that need it whole: the
    /// whole-tree path, a file written in place), when the file is unchanged.
    pub fn read_whole(&self) -> std::io::Result<zeroize::Zeroizing<Vec<u8>>> {
        let mut out = zeroize::Zeroizing::new(Vec::new());
        self.read(0..self.len(), &mut out)?;
        if !self.unchanged() {
            return Err(changed_error());
        }
        Ok(out)
    }

    /// Appends `range` of the text to `out`.
    pub(in crate::stream) fn read(
        &self,
        range: Range<usize>,
        out: &mut Vec<u8>,
    ) -> std::io::Result<()> {
        if range.end > self.len() {
            return Err(changed_error());
        }
        blocks::read_range(self.file, 0, range, out)
    }

    /// Plans the parts, reading the file in blocks (`LEAFSEAL_STREAM_BLOCK` bytes, 1 MiB
    /// by default); `None` for a text the planner declines or a length that is not the
    /// session's.
    pub(in crate::stream) fn plan(&self, ctx: &KeyContext, target: usize) -> Option<Plan> {
        blocks::plan_file(self.file, 0, self.len(), blocks::block_size(ctx), target)
    }

    /// Reads `part` into `buf` (its entry's header line first, for a later part of an
    /// entry): the text and the part with its ranges in that text.
    pub(in crate::stream) fn read_part<'b>(
        &self,
        part: &Part,
        buf: &'b mut Vec<u8>,
    ) -> std::io::Result<(&'b [u8], Part)> {
        blocks::read_part(self.file, part, buf)
    }

    /// Fills `buf` with the text from offset `at` on.
    pub fn fill(&self, at: usize, buf: &mut [u8]) -> std::io::Result<()> {
        if at.saturating_add(buf.len()) > self.len() {
            return Err(changed_error());
        }
        self.file.read_exact_at(buf, at as u64)
    }

    /// Writes `range` of the text to `out`, a block at a time.
    pub fn copy_range(&self, range: Range<usize>, out: &mut dyn Write) -> std::io::Result<()> {
        let mut buf = vec![0u8; COPY_BLOCK.min(range.len())];
        let mut at = range.start;
        while at < range.end {
            let n = COPY_BLOCK.min(range.end - at);
            self.fill(at, &mut buf[..n])?;
            out.write_all(&buf[..n])?;
            at += n;
        }
        Ok(())
    }
}

/// The error for a file that changed while it was being edited.
pub(super) fn changed_error() -> std::io::Error {
    std::io::Error::other(
        "the file was changed by another program while it was being edited (leafseal's own commands wait for the edit to end)",
    )
}
