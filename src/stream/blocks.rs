//! Reading a large encrypted file in bounded blocks instead of one buffer: the planner
//! sees its lines one block at a time (one buffer, recycled), and each part is read back
//! on its own by the worker that decrypts it (positioned reads), so that the whole
//! encrypted text is never held in memory: the pages of a 43 MB input buffer (fresh
//! memory the kernel must zero) were the largest cost of a streamed decrypt.
//!
//! Since the file is read twice, it must be the same file both times: its length must be
//! what the planner read, and its identity, link count, length and change times must be
//! the same once every part was read; otherwise the file is declined and read again
//! whole (a file rewritten in place, truncated, grown or replaced in between).

use std::fs::File;
use std::io::Read;
use std::ops::Range;
use std::os::unix::fs::FileExt;

use super::Outcome;
use super::split::Part;
use crate::crypto::DataKey;
use crate::error::Error;
use crate::format::EmitOptions;
use crate::keys::KeyContext;
use crate::metadata::Metadata;
use crate::ops::OpenOptions;

/// The block size for the planner's pass, unless [`BLOCK_ENV`] sets another.
pub(crate) const BLOCK: usize = 1 << 20;

/// The environment variable that sets the block size in bytes (tests: lines cut at
/// every block boundary).
pub const BLOCK_ENV: &str = "LEAFSEAL_STREAM_BLOCK";

/// [`decrypt_yaml`](super::decrypt_yaml) reading the encrypted file from `file` in
/// blocks, never whole (see the module docs): the planner reads it once in blocks of [`BLOCK_ENV`] bytes (1 MiB), and
/// each part is read again by the worker that decrypts it. Whatever it declines is read
/// whole by the caller, which then takes the tree path (the file's conflict markers, if
/// any, are found there: the planner never accepts a marker line).
pub fn decrypt_yaml_file(
    file: &File,
    ctx: &KeyContext,
    opts: &OpenOptions,
    emit: &EmitOptions,
    needs_tree: &dyn Fn(&Metadata) -> bool,
) -> Result<Outcome, Error> {
    decrypt_overlapped(file, ctx, opts, emit, needs_tree, &|| ())
}

/// [`decrypt_yaml_file`], calling `before_plan` once the data key was recovered from the
/// file's tail, before the planner starts (tests: the file changed in between).
fn decrypt_overlapped(
    file: &File,
    ctx: &KeyContext,
    opts: &OpenOptions,
    emit: &EmitOptions,
    needs_tree: &dyn Fn(&Metadata) -> bool,
    before_plan: &dyn Fn(),
) -> Result<Outcome, Error> {
    if opts.ignore_mac {
        return Ok(Outcome::Declined(None));
    }
    let Some(before) = Stamp::of(file) else {
        return Ok(Outcome::Declined(None));
    };
    let ahead = super::pool::touch_ahead(usize::try_from(before.len).unwrap_or(0));
    let skip = bom(file);
    let args = Args {
        file,
        skip,
        ctx,
        opts,
        emit,
        needs_tree,
    };
    // The planner runs while the first parts are decrypted, when the metadata at the end
    // of the file can be read first (`overlap`); else it runs first, as below.
    let known = match super::overlap::decrypt(&args, &before, &ahead, before_plan)? {
        super::overlap::Overlapped::Done(outcome) => return Ok(outcome),
        super::overlap::Overlapped::Rerun(known) => known,
    };
    planned(&args, before, ahead, &|| (), known)
}

/// What a file's decrypt needs.
pub(in crate::stream) struct Args<'a> {
    pub file: &'a File,
    /// The length of its byte-order mark (0 or 3).
    pub skip: usize,
    pub ctx: &'a KeyContext,
    pub opts: &'a OpenOptions,
    pub emit: &'a EmitOptions,
    pub needs_tree: &'a dyn Fn(&Metadata) -> bool,
}

/// A data key recovered from the metadata at a range of the file (offsets after its
/// byte-order mark), with the keys that unwrapped it.
pub(in crate::stream) type KnownKey = Option<(Range<usize>, (DataKey, Vec<String>))>;

/// The length of the file's byte-order mark.
pub(super) fn bom(file: &File) -> usize {
    let mut head = [0u8; 3];
    match file.read_exact_at(&mut head, 0) {
        Ok(()) if head == *b"\xEF\xBB\xBF" => 3,
        _ => 0,
    }
}

/// [`decrypt_yaml_file`] without the overlapped planner, calling `after_plan` between
/// the planning read and the part reads (tests: the file changed in between).
#[cfg(test)]
fn decrypt_file(
    file: &File,
    ctx: &KeyContext,
    opts: &OpenOptions,
    emit: &EmitOptions,
    needs_tree: &dyn Fn(&Metadata) -> bool,
    after_plan: &dyn Fn(),
) -> Result<Outcome, Error> {
    if opts.ignore_mac {
        return Ok(Outcome::Declined(None));
    }
    // The file is read twice (planned, then its parts): a file changed in between (written
    // in place, truncated, grown) would give parts cut at offsets of another text.
    let Some(before) = Stamp::of(file) else {
        return Ok(Outcome::Declined(None));
    };
    let ahead = super::pool::touch_ahead(usize::try_from(before.len).unwrap_or(0));
    let args = Args {
        file,
        skip: bom(file),
        ctx,
        opts,
        emit,
        needs_tree,
    };
    planned(&args, before, ahead, after_plan, None)
}

/// Plans the file, then decrypts its parts (`known`: a data key already recovered from
/// the metadata at that range, used when the plan finds the metadata there).
fn planned(
    args: &Args<'_>,
    before: Stamp,
    ahead: super::Ahead,
    after_plan: &dyn Fn(),
    known: KnownKey,
) -> Result<Outcome, Error> {
    let (file, skip, ctx) = (args.file, args.skip, args.ctx);
    let Some(len) = usize::try_from(before.len)
        .ok()
        .and_then(|l| l.checked_sub(skip))
    else {
        return Ok(Outcome::Declined(None));
    };
    let threads = super::threads();
    let target = super::part_target(ctx, len, threads);
    let Some(plan) = plan_file(file, skip, len, block_size(ctx), target) else {
        return Ok(Outcome::Declined(None));
    };
    after_plan();
    let mut meta_text = Vec::new();
    if read_range(file, skip, plan.meta.clone(), &mut meta_text).is_err() {
        return Ok(Outcome::Declined(None));
    }
    let Some(meta) = super::read_meta(&meta_text) else {
        return Ok(Outcome::Declined(None));
    };
    drop(meta_text);
    let key = known.and_then(|(at, key)| (at == plan.meta).then_some(key));
    let unchanged = || Stamp::of(file).is_some_and(|now| now == before);
    let run = super::Run {
        src: super::Source::File { file, skip },
        parts: &plan.parts,
        len,
        threads,
        unchanged: Some(&unchanged),
        ahead,
    };
    super::decrypt_planned(&run, meta, key, ctx, args.opts, args.emit, args.needs_tree)
}

/// The block size of the planner's reads: [`BLOCK_ENV`] when it is set to a number,
/// else [`BLOCK`].
pub(crate) fn block_size(ctx: &KeyContext) -> usize {
    ctx.var(BLOCK_ENV)
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(BLOCK)
}

/// Plans `file` (`len` bytes after a byte-order mark of `skip`), reading it in blocks of
/// `block` bytes and aiming at `target` bytes per part; `None` for a text the planner
/// declines or one that is not `len` bytes long.
pub(crate) fn plan_file(
    file: &File,
    skip: usize,
    len: usize,
    block: usize,
    target: usize,
) -> Option<super::split::Plan> {
    let mut planner = super::split::Planner::new();
    let mut reader = At { file, pos: skip };
    let read = scan_lines(&mut reader, block, |at, line| planner.line(at, line))
        .ok()
        .flatten()?;
    (read == len).then_some(())?;
    planner.finish(len, target)
}

/// What tells whether an open file was changed: its identity, links, length and change
/// times.
/// (A change within one tick of the file system's clock that keeps the length is not
/// seen: the MAC and the integrity record still cover every value written.)
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Stamp {
    dev: u64,
    ino: u64,
    nlink: u64,
    pub(super) len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    pub(super) fn of(file: &File) -> Option<Stamp> {
        use std::os::unix::fs::MetadataExt;
        let m = file.metadata().ok()?;
        m.is_file().then(|| Stamp {
            dev: m.dev(),
            ino: m.ino(),
            nlink: m.nlink(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }
}

/// A file read from `pos` on with positioned reads (the file's own position is left
/// alone).
pub(crate) struct At<'a> {
    pub file: &'a File,
    pub pos: usize,
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read_at(buf, self.pos as u64)?;
        self.pos += n;
        Ok(n)
    }
}

/// Calls `f` with every line of `r` (its offset from the start of `r`, and its text
/// without the line break), reading `block` bytes at a time; a line longer than a block
/// grows the buffer. The total length read, or `None` when `f` returned `false`.
pub(crate) fn scan_lines(
    r: &mut impl Read,
    block: usize,
    mut f: impl FnMut(usize, &[u8]) -> bool,
) -> std::io::Result<Option<usize>> {
    let block = block.max(1);
    let mut buf = vec![0u8; block];
    // `buf[..filled]` holds the text from offset `base` on; `scanned` bytes of it were
    // cut into lines already (a partial line is kept for the next block).
    let (mut base, mut filled) = (0usize, 0usize);
    loop {
        if filled == buf.len() {
            // The kept partial line fills the buffer: a line longer than a block.
            buf.resize(buf.len() * 2, 0);
        }
        let n = match r.read(&mut buf[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            if filled > 0 && !f(base, &buf[..filled]) {
                return Ok(None);
            }
            return Ok(Some(base + filled));
        }
        let fresh = filled;
        filled += n;
        let mut start = 0;
        // Line breaks are searched only in the new bytes: the kept part has none.
        for nl in memchr::memchr_iter(b'\n', &buf[fresh..filled]) {
            let end = fresh + nl;
            if !f(base + start, &buf[start..end]) {
                return Ok(None);
            }
            start = end + 1;
        }
        buf.copy_within(start..filled, 0);
        base += start;
        filled -= start;
    }
}

/// Reads `range` (offsets after `skip` bytes: a byte-order mark) of `file` into `out`.
pub(crate) fn read_range(
    file: &File,
    skip: usize,
    range: Range<usize>,
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    let at = out.len();
    out.resize(at + range.len(), 0);
    file.read_exact_at(&mut out[at..], (skip + range.start) as u64)
}

/// Reads `header` (when given: it is followed by a line break) and `body` of `file` (as
/// [`read_range`]) into `buf`, reused from part to part without clearing it: the text
/// read, at the start of `buf`.
pub(crate) fn read_joined<'b>(
    file: &File,
    skip: usize,
    header: Option<Range<usize>>,
    body: Range<usize>,
    buf: &'b mut Vec<u8>,
) -> std::io::Result<&'b [u8]> {
    let head = header.as_ref().map_or(0, |h| h.len() + 1);
    let total = head + body.len();
    if buf.len() < total {
        buf.resize(total, 0);
    }
    if let Some(h) = header {
        let n = h.len();
        file.read_exact_at(&mut buf[..n], (skip + h.start) as u64)?;
        buf[n] = b'\n';
    }
    file.read_exact_at(&mut buf[head..total], (skip + body.start) as u64)?;
    Ok(&buf[..total])
}

/// Reads the text of `part` (offsets in a file without a byte-order mark) into `buf`
/// ([`read_joined`]: a later part of an entry behind its entry's `key:` line) and gives
/// it with the part as it stands in that text, so that a part read from a file is read
/// as the same part of the file in memory would be (`rotate`, `edit`).
pub(crate) fn read_part<'b>(
    file: &File,
    part: &Part,
    buf: &'b mut Vec<u8>,
) -> std::io::Result<(&'b [u8], Part)> {
    let (header, body, first, last) = match part {
        Part::Top(r) => {
            let text = read_joined(file, 0, None, r.clone(), buf)?;
            let n = text.len();
            return Ok((text, Part::Top(0..n)));
        }
        Part::Sub {
            header,
            body,
            first,
            last,
        } => (header, body, *first, *last),
    };
    // A first part holds its entry's header line in its body already.
    let joined = (!first).then(|| header.clone());
    let text = read_joined(file, 0, joined, body.clone(), buf)?;
    let h = if first { 0 } else { header.len() };
    let local = Part::Sub {
        header: 0..h,
        body: if first { 0 } else { h + 1 }..text.len(),
        first,
        last,
    };
    Ok((text, local))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(text: &[u8], block: usize) -> (Vec<(usize, Vec<u8>)>, Option<usize>) {
        let mut got = Vec::new();
        let n = scan_lines(&mut &text[..], block, |at, l| {
            got.push((at, l.to_vec()));
            true
        })
        .expect("read");
        (got, n)
    }

    #[test]
    fn lines_are_the_same_for_every_block_size() {
        let text = b"a: 1\n\nlong line here: x\n  b: 2\nlast";
        let want = lines_of(text, 1 << 20);
        assert_eq!(want.1, Some(text.len()));
        assert_eq!(want.0.len(), 5);
        assert_eq!(want.0[4], (text.len() - 4, b"last".to_vec()));
        for block in 1..text.len() + 2 {
            assert_eq!(lines_of(text, block), want, "block {block}");
        }
        let (l, n) = lines_of(b"x\n", 1);
        assert_eq!((l, n), (vec![(0, b"x".to_vec())], Some(2)));
        assert_eq!(lines_of(b"", 3), (Vec::new(), Some(0)));
    }

    #[test]
    fn a_refused_line_stops_the_scan() {
        let mut seen = 0;
        let r = scan_lines(&mut &b"a\nb\nc\n"[..], 2, |_, l| {
            seen += 1;
            l != b"b"
        })
        .expect("read");
        assert_eq!((r, seen), (None, 2));
    }

    #[test]
    fn parts_are_read_back_with_their_header() {
        let dir = tempfile::tempdir().expect("dir");
        let p = dir.path().join("f");
        std::fs::write(&p, b"\xEF\xBB\xBFkey:\n  a: 1\n  b: 2\n").expect("write");
        let f = File::open(&p).expect("open");
        let mut buf = vec![b'x'; 64];
        let t = read_joined(&f, 3, Some(0..4), 12..19, &mut buf).expect("read");
        assert_eq!(t, b"key:\n  b: 2\n");
        let t = read_joined(&f, 3, None, 0..12, &mut buf).expect("read");
        assert_eq!(t, b"key:\n  a: 1\n");
        let mut out = b"x".to_vec();
        read_range(&f, 3, 5..11, &mut out).expect("read");
        assert_eq!(out, b"x  a: 1");
        assert!(read_joined(&f, 3, None, 10..40, &mut buf).is_err());
    }
}

#[cfg(test)]
#[path = "blocks_changed_tests.rs"]
mod changed_tests;
