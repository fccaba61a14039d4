//! Writing the spliced file while its parts are still being verified: the folding thread
//! hands each part's piece (a range of the input, or the part written again) to a writer
//! thread as it folds it, so that the 43 MB of a large file go to the temporary file
//! during the pass instead of after it. The caller's sink is the temporary file of an
//! atomic write ([`crate::io::Destination::write_with_send`]): it becomes the target only
//! after the splice verified the file and sealed the new metadata, and holds nothing but
//! the encrypted text; on any other outcome the caller discards it.

use std::io::Write;
use std::ops::Range;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::sync::mpsc;

/// One piece of the new file, in order.
pub(in crate::stream) enum Piece {
    /// Bytes of the input, kept as they are.
    Input(Range<usize>),
    /// New text.
    Text(Vec<u8>),
}

/// The folding thread's end: pieces sent in order (nothing when there is no sink).
pub(in crate::stream) struct Pieces<'a> {
    tx: Option<mpsc::Sender<Piece>>,
    stop: &'a AtomicBool,
}

impl Pieces<'_> {
    /// Sends the next piece (ignored once the writer stopped: the caller learns why from
    /// [`with_writer`]'s result).
    pub(in crate::stream) fn send(&self, p: Piece) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(p);
        }
    }

    /// Whether pieces go anywhere.
    pub(in crate::stream) fn live(&self) -> bool {
        self.tx.is_some()
    }

    /// Tells the writer to drop what is still queued (the output will be discarded).
    pub(in crate::stream) fn abandon(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Runs `body` with a writer thread that writes the pieces it is sent to `sink` (from
/// `input` for [`Piece::Input`]); returns `body`'s result, the sink (for what follows
/// the pieces) and the first write error.
pub(in crate::stream) fn with_writer<'s, R>(
    input: &[u8],
    sink: Option<&'s mut (dyn Write + Send)>,
    body: impl FnOnce(&Pieces<'_>) -> R,
) -> (R, Option<&'s mut (dyn Write + Send)>, std::io::Result<()>) {
    let stop = AtomicBool::new(false);
    let Some(sink) = sink else {
        let pieces = Pieces {
            tx: None,
            stop: &stop,
        };
        return (body(&pieces), None, Ok(()));
    };
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel::<Piece>();
        let stop = &stop;
        let writer = s.spawn(move || {
            let mut res = Ok(());
            for p in rx {
                if stop.load(Ordering::Relaxed) {
                    continue;
                }
                let r = match &p {
                    Piece::Input(r) => input.get(r.clone()).map_or_else(
                        || Err(std::io::Error::other("a piece outside the input")),
                        |b| sink.write_all(b),
                    ),
                    Piece::Text(t) => sink.write_all(t),
                };
                if let Err(e) = r {
                    stop.store(true, Ordering::Relaxed);
                    res = Err(e);
                }
            }
            (res, sink)
        });
        let pieces = Pieces { tx: Some(tx), stop };
        let r = body(&pieces);
        drop(pieces);
        match writer.join() {
            Ok((res, sink)) => (r, Some(sink), res),
            Err(_) => (
                r,
                None,
                Err(std::io::Error::other("the writer thread ended")),
            ),
        }
    })
}

impl super::Splice {
    /// Turns `file`, whose first `copied` bytes are those of `input` (the file the splice
    /// was made from, copied while the editor ran), into the new file: when all of
    /// `input` is there and every replacement has the length of the range it replaces (a
    /// value changed for one of the same length and type, and the `sops` block, whose
    /// sealed fields have fixed lengths), only those ranges are written over; otherwise
    /// the file is cut where the copy or the first replacement ends and the rest is
    /// written from there, the kept ranges copied from `input`.
    pub fn patch(
        &self,
        input: crate::stream::EditInput<'_>,
        file: &mut std::fs::File,
        copied: usize,
    ) -> std::io::Result<()> {
        use std::io::Seek;
        use std::os::unix::fs::FileExt;
        let len = input.len();
        let first = self.edits.first().map_or(len, |(r, _)| r.start);
        if copied >= len && self.edits.iter().all(|(r, t)| r.len() == t.len()) {
            for (r, t) in &self.edits {
                file.write_all_at(t, r.start as u64)?;
            }
            return Ok(());
        }
        let from = first.min(copied);
        file.set_len(from as u64)?;
        file.seek(std::io::SeekFrom::Start(from as u64))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        let mut at = from;
        for (r, t) in &self.edits {
            input.copy_range(at..r.start.max(at), &mut out)?;
            out.write_all(t)?;
            at = r.end;
        }
        input.copy_range(at..len.max(at), &mut out)?;
        out.flush()
    }
}
