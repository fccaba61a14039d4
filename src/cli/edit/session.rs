//! `edit` of a file opened by streaming ([`lifecycle::splice::open_for_edit`]): the
//! editor gets the session's plaintext; a change the session can splice is written into
//! a temporary file next to the target that was filled with the encrypted input while
//! the editor ran (and flushed to the device meanwhile), so that after the editor only
//! the changed ranges are written (or, when their length changed, the file from the
//! first change on). Anything else takes the whole-tree path as before.
//!
//! The encrypted input is never held whole: it is read from its file when it is needed
//! (the changed part, the copy, the ranges after a change of length), and the file must
//! be the one that was opened until the new one replaces it (the write compares it
//! with what it was when it was locked, `io::Destination`); a file changed meanwhile by
//! a program that does not wait for leafseal's lock is left as that program wrote it,
//! and the edit is not written.

use std::ffi::OsStr;
use std::fs;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;

use super::Checks;
use super::Edited;
use super::edit_loop;
use super::interrupted;
use super::prefill;
use super::raise_version;
use super::unchanged;
use super::write_sealed;
use crate::cli;
use crate::editor;
use crate::editor::Signals;
use crate::editor::Workspace;
use crate::editor::command;
use crate::error::Error;
use crate::lifecycle;
use crate::lifecycle::splice::EditInput;
use crate::lifecycle::splice::EditSession;
use crate::lifecycle::splice::FileSeal;
use crate::ops;
use crate::ops::Format;
use crate::ops::OpenOptions;

/// An existing file opened for editing by streaming (see
/// [`lifecycle::splice::open_for_edit`]).
pub(super) struct Session<'a> {
    pub(super) name: &'a str,
    pub(super) input: EditInput<'a>,
    pub(super) format: Format,
    pub(super) ctx: &'a ops::KeyContext,
    pub(super) open: &'a OpenOptions,
    pub(super) emit: &'a ops::EmitOptions,
}

impl Session<'_> {
    /// Edits the file: the change is spliced into the encrypted text when the session
    /// can, else the file is opened as a whole tree and sealed as before. Also returns
    /// the wiping still under way once the new file is in place, for the caller to wait
    /// for ([`Wipes::wait`]) after closing its descriptors of the replaced file (the last
    /// close frees its blocks, which then runs next to the wiping instead of after it).
    pub(super) fn edit(
        &self,
        session: EditSession,
        dest: &crate::io::Destination,
        editor_cmd: &command::EditorCommand,
        base: &OsStr,
        work_tree: &Path,
    ) -> (Result<i32, Error>, Wipes) {
        let (done_tx, done_rx) = std::sync::mpsc::channel::<Option<Error>>();
        let mut wipes = Wipes {
            rx: done_rx,
            threads: Vec::new(),
        };
        let r = self.edit_with(
            session,
            dest,
            (editor_cmd, base, work_tree),
            done_tx,
            &mut wipes.threads,
        );
        (r, wipes)
    }

    /// [`Session::edit`]: the wiping threads started report to `done_tx` and are kept
    /// in `threads`.
    fn edit_with(
        &self,
        mut session: EditSession,
        dest: &crate::io::Destination,
        (editor_cmd, base, work_tree): (&command::EditorCommand, &OsStr, &Path),
        done_tx: std::sync::mpsc::Sender<Option<Error>>,
        threads: &mut Vec<std::thread::JoinHandle<()>>,
    ) -> Result<i32, Error> {
        let name = self.name;
        for w in &session.warnings {
            cli::warn(&format!("{name}: {w}"));
        }
        raise_version(session.metadata_mut())?;
        cli::audit::record("edit", name, &session.unwrapped_by)?;
        let signals = Signals::install()?;
        let roots = editor::temp_roots(&|k: &str| std::env::var_os(k));
        // The session keeps the plaintext: the edited text is compared with it, no digest.
        let plain = session.take_plaintext();
        let ws = Workspace::create_unhashed(base, &plain, &roots, work_tree)?;
        let mut ws = Some(ws);
        // Taken by the thread that wipes what is left once the change is sealed.
        let (mut plain, mut session) = (Some(plain), Some(session));
        let mut edited = None;
        let mut run = |file: &mut fs::File| -> Result<bool, Error> {
            let (Some(w), Some(sess), Some(old)) = (ws.as_ref(), session.as_mut(), plain.as_ref())
            else {
                return Ok(false);
            };
            let stop = AtomicBool::new(false);
            let mode = prefill::Mode::from_env(self.ctx.var(prefill::COPY_ENV));
            let (result, copied) = std::thread::scope(|t| {
                let file: &fs::File = file;
                let stop = &stop;
                let input = &self.input;
                let copy = t.spawn(move || prefill::prefill(file, input, stop, mode));
                let result = self.run_editor(sess, old, w, editor_cmd, &signals);
                if !matches!(result, Ok(Edited::Spliced(_))) {
                    stop.store(true, Ordering::Relaxed);
                }
                (result, copy.join().unwrap_or(0))
            });
            let s = match result? {
                Edited::Spliced(s) if signals.caught().is_none() => s,
                other => {
                    edited = Some(other);
                    return Ok(false);
                }
            };
            cli::inplace::signature_dropped(name, s.signature_dropped);
            // The edited plaintext was read and sealed: the workspace is removed (as on
            // every path) on one thread and the plaintext and the session's buffers
            // wiped on another (and left to the exit, not freed), while the encrypted
            // file is written and flushed.
            // Each thread reports when its wiping is done (not when it has exited: a
            // thread's exit makes the allocator return freed memory to the system).
            if let Some(w) = ws.take() {
                let (old, sess) = (plain.take(), session.take());
                let tx = done_tx.clone();
                let wiper = move || {
                    if let Some(mut old) = old {
                        // Its written bytes, with a vectorised fill (see
                        // `EditSession::wipe_and_leave`).
                        crate::secbuf::wipe(&mut old);
                        std::mem::forget(old);
                    }
                    if let Some(s) = sess {
                        s.wipe_and_leave();
                    }
                    let _ = tx.send(None);
                };
                let tx = done_tx.clone();
                let remover = move || {
                    let _ = tx.send(w.remove().err());
                };
                // A thread that cannot be started drops what it was given: wiped on drop.
                let mut spawn = |f: Box<dyn FnOnce() + Send>| {
                    if let Ok(handle) = std::thread::Builder::new()
                        .name("leafseal-wipe".to_owned())
                        .spawn(f)
                    {
                        threads.push(handle);
                    }
                };
                spawn(Box::new(wiper));
                spawn(Box::new(remover));
            }
            // A file changed meanwhile is refused by the write itself, last, right before
            // the rename (`io::Destination`); a read of it that failed is named as such.
            s.patch(self.input, file, copied).map_err(|e| {
                if self.input.unchanged() {
                    dest.write_error("write failed", e)
                } else {
                    changed_error(name)
                }
            })?;
            Ok(true)
        };
        let written = if dest.replaces() {
            dest.write_file(&mut run)
        } else {
            Ok(false)
        };
        drop(done_tx);
        if written? {
            return Ok(super::written(&signals, name));
        }
        let (Some(ws), Some(mut session), Some(plain)) = (ws, session, plain) else {
            // Taken only on the way to a completed write.
            return Err(Error::new(
                crate::error::exit::GENERIC,
                "internal error: the edit session ended without a write",
            ));
        };
        let edited = match edited {
            Some(e) => e,
            // A destination written in place: no temporary file to fill first.
            None => self.run_editor(&mut session, &plain, &ws, editor_cmd, &signals)?,
        };
        // Wiped with a vectorised fill, not `Zeroizing`'s byte loop.
        crate::secbuf::discard(plain);
        self.finish(session, edited, ws, dest, &signals)
    }

    /// Runs the editor until it leaves a text that is unchanged, spliced or parsed.
    fn run_editor(
        &self,
        session: &mut EditSession,
        plain: &[u8],
        ws: &Workspace,
        editor_cmd: &command::EditorCommand,
        signals: &Signals,
    ) -> Result<Edited, Error> {
        let mut quick = |ws: &Workspace| -> Result<Option<Edited>, Error> {
            let file = ws.open()?;
            let sealed = session
                .seal_file(plain, self.input, &file)
                .map_err(Workspace::read_error)?;
            match sealed {
                FileSeal::Unchanged => Ok(Some(Edited::Unchanged)),
                FileSeal::Spliced(s) => Ok(Some(Edited::Spliced(s))),
                FileSeal::Declined => {
                    lifecycle::splice::declined_error(self.ctx).map_or(Ok(None), Err)
                }
            }
        };
        edit_loop(
            editor_cmd,
            ws,
            signals,
            self.name,
            self.format,
            false,
            Checks {
                quick: &mut quick,
                unchanged: &|c: &[u8]| c == plain,
            },
        )
    }

    /// The encrypted file read whole, if it is still the file that was opened.
    fn whole(&self) -> Result<zeroize::Zeroizing<Vec<u8>>, Error> {
        self.input.read_whole().map_err(|e| {
            if self.input.unchanged() {
                Error::new(
                    crate::error::exit::COULD_NOT_READ_INPUT,
                    format!("cannot read {}: {e}", self.name),
                )
            } else {
                changed_error(self.name)
            }
        })
    }

    /// What follows the editor when nothing was written yet: an unchanged file, a
    /// signal, a splice into a file written in place, or the whole-tree path.
    fn finish(
        &self,
        session: EditSession,
        edited: Edited,
        ws: Workspace,
        dest: &crate::io::Destination,
        signals: &Signals,
    ) -> Result<i32, Error> {
        let name = self.name;
        match edited {
            Edited::Interrupted(sig) => {
                drop(ws);
                Ok(interrupted(sig, name))
            }
            Edited::Unchanged => {
                drop(ws);
                Ok(unchanged(name))
            }
            Edited::Spliced(s) => {
                // Written in place: over the file that is read, so it is read whole first.
                let input = self.whole()?;
                write_sealed(name, ws, signals, || {
                    cli::inplace::signature_dropped(name, s.signature_dropped);
                    dest.write_pieces(&s.pieces(&input))
                })
            }
            Edited::Doc(mut doc) => {
                // The whole-tree path, with the data key already recovered (the file's
                // warnings were given when it was opened).
                let input = self.whole()?;
                let loaded = ops::load_encrypted(self.format, &input, name)?;
                let mut opened =
                    ops::open_with_key(loaded, self.ctx, self.open, Some(session.into_key()))
                        .map_err(|e| e.within(name))?;
                raise_version(&mut opened.meta)?;
                let signed = crate::signing::present(&opened.meta);
                let map = ops::reseal(
                    &mut doc,
                    &mut opened.meta,
                    &opened.key,
                    Some(&opened.stash),
                    self.format,
                )?;
                crate::cli::inplace::signature_dropped(name, signed);
                let out = ops::emit_encrypted(self.format, &doc, &map, self.emit)?;
                write_sealed(name, ws, signals, || {
                    dest.write(&out)?;
                    crate::cli::inplace::leave_encrypted(doc);
                    Ok(())
                })
            }
        }
    }
}

/// The wiping threads an edit started (see [`Session::edit`]).
pub(super) struct Wipes {
    rx: std::sync::mpsc::Receiver<Option<Error>>,
    /// Joined, never detached (see `crate::threads` for why a detach is avoided).
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Wipes {
    /// Waits until every wiping thread has reported that its wiping is done, reports
    /// their errors, then joins the threads.
    pub(super) fn wait(self) {
        for _ in 0..self.threads.len() {
            match self.rx.recv() {
                Ok(Some(e)) => cli::report(&e),
                Ok(None) => {}
                Err(_) => break,
            }
        }
        for handle in self.threads {
            let _ = handle.join();
        }
    }
}

/// The error for a file changed, while it was being edited, by a program that does not
/// wait for leafseal's lock.
fn changed_error(name: &str) -> Error {
    Error::new(
        crate::error::exit::COULD_NOT_WRITE_OUTPUT,
        format!(
            "{name} was changed by another program while it was being edited; the edit was not written, and {name} is as that program left it"
        ),
    )
    .hint("run the edit again; leafseal's own commands wait for an edit to end, but a program that does not take its lock (a git checkout, another tool) must not write the file meanwhile")
}
