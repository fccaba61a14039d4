//! `set` and `unset` on a large block-YAML file by splicing: the encrypted text is cut
//! into parts as for a streamed decrypt ([`super::split`]), every part is decrypted on
//! all cores and folded in order into the MAC and the integrity record (both verified
//! before anything is written, failing closed), and the new file is the input text with
//! only two pieces replaced: the part that holds the path, written again by the same
//! code as the whole-tree path (decrypted with the IV stash, changed, encrypted, emitted),
//! and the `sops` block (new `lastmodified`, MAC and integrity record).
//!
//! That is the whole-tree path's output byte for byte only where the input is what that
//! path would write, so every part proves it on its worker: the part's encrypted tree,
//! emitted with the output's options, must give the part's text back; every encrypted
//! value and comment must be in the form re-encryption with its own nonce writes
//! ([`document::DecryptedPart::noncanonical`]); no comment that should be encrypted may
//! be in clear; no key may hold a `:` (so that no AAD is shared between two parts, and
//! the part's own IV stash hands out the nonces the whole document's would); and the
//! `sops` block must be last and emitted alone give its own text back. Anything else —
//! a failed check, a path whose first key is absent (or, in a map cut into parts, whose
//! entry is absent) or that names a container, a new value that is a container, a value
//! or MAC that does not verify — hands the file back
//! ([`SpliceOutcome::Declined`]) to the whole-tree path, which then writes today's
//! output or reports today's error with today's exit code.

use std::ops::Range;

use zeroize::Zeroizing;

use crate::crypto::DataKey;
use crate::crypto::document;
use crate::crypto::integrity;
use crate::crypto::mac::MacHasher;
use crate::crypto::value::ValueCipher;
use crate::error::Error;
use crate::format::EmitOptions;
use crate::keys::KeyContext;
use crate::ops;
use crate::ops::OpenOptions;
use crate::tree::Document;
use crate::tree::Value;
use crate::treepath::Step;
use crate::walk::Selector;

use super::pipeline::run_parts;
use super::split::Part;
use super::yaml_direct::Mode;

pub(in crate::stream) mod direct;
mod fold;
mod rewrite;
mod shared;
mod sink;

use fold::Fold;
use fold::finish;
use rewrite::holds;
use rewrite::rewrite;

use sink::Piece;

pub(super) use shared::PartTokens;
pub(super) use shared::colon_key;
pub(super) use shared::covers;
pub(super) use shared::emits_as;
pub(super) use shared::emitted;
pub(super) use shared::part_text;
pub(super) use shared::read_meta;
pub(super) use shared::seal_meta;
pub(super) use shared::sub_entry;
pub(super) use shared::token_refs;
pub(super) use shared::tokens_of;

/// The environment variable that chooses whether `set`/`unset` splice: `never` always
/// takes the whole-tree path; `always` splices files of any size; `require` also makes a
/// file handed back an error (for tests: it shows that a file was spliced); unset, the
/// streaming setting decides ([`super::wanted`]).
pub const SPLICE_ENV: &str = "LEAFSEAL_SPLICE";

/// The change to make. A `Set` of a path that is not there yet below a first key that is
/// (below an entry, in a map cut into parts) adds it as the whole-tree path does.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// Set the scalar at a path (existing, or added: see above) to a scalar value (`set`).
    Set(&'a [Step], &'a Value),
    /// Remove the entry or list element at a path (`unset`).
    Unset(&'a [Step]),
}

/// A spliced file, ready to write.
#[derive(Debug)]
pub struct Splice {
    /// Replacements of ranges of the input (ascending, not overlapping).
    pub(super) edits: Vec<(Range<usize>, Vec<u8>)>,
    /// Non-fatal notes, as [`ops::Opened::warnings`].
    pub warnings: Vec<String>,
    /// The master key(s) that unwrapped the data key (`kind id`).
    pub unwrapped_by: Vec<String>,
    /// Whether a file signature was dropped (it covered the old state).
    pub signature_dropped: bool,
}

impl Splice {
    /// The new file: pieces of `input` (the text given to [`splice_yaml`]) and the
    /// replaced pieces, in order.
    pub fn pieces<'a>(&'a self, input: &'a [u8]) -> Vec<&'a [u8]> {
        let mut out = Vec::with_capacity(self.edits.len() * 2 + 1);
        let mut at = 0;
        for (r, text) in &self.edits {
            out.push(input.get(at..r.start).unwrap_or_default());
            out.push(text.as_slice());
            at = r.end;
        }
        out.push(input.get(at..).unwrap_or_default());
        out
    }
}

/// What splicing did.
#[derive(Debug)]
pub enum SpliceOutcome {
    /// The file verified and the change was made.
    Written(Splice),
    /// The file verified and `set` found the value already set: nothing to write.
    Unchanged {
        /// Non-fatal notes.
        warnings: Vec<String>,
        /// The master key(s) that unwrapped the data key.
        unwrapped_by: Vec<String>,
    },
    /// The whole-tree path must do it; the data key when it was already recovered.
    Declined(Option<(DataKey, Vec<String>)>),
}

/// Whether splicing is wanted for an input of `len` bytes.
pub fn wanted(ctx: &KeyContext, len: usize) -> bool {
    match setting(ctx).as_deref() {
        Some("never" | "0" | "off") => false,
        Some("always" | "1" | "on" | "require") => true,
        _ => super::wanted(ctx, len),
    }
}

fn setting(ctx: &KeyContext) -> Option<String> {
    ctx.var(SPLICE_ENV).map(str::to_ascii_lowercase)
}

/// The error for a file handed back under `LEAFSEAL_SPLICE=require`, else `None`.
pub fn declined_error(ctx: &KeyContext) -> Option<Error> {
    (setting(ctx).as_deref() == Some("require")).then(|| {
        Error::new(
            crate::error::exit::GENERIC,
            "the change cannot be made by splicing (LEAFSEAL_SPLICE=require)",
        )
        .hint("unset LEAFSEAL_SPLICE to write the file from its whole tree")
    })
}

/// Makes `change` in an encrypted YAML file (`input`, read whole) by splicing, or hands
/// it back (see the module docs). `emit` are the options the file is written with.
///
/// With a `sink`, the new file is written to it while the parts are verified (see
/// `sink.rs`): when the outcome is [`SpliceOutcome::Written`] the sink holds the whole
/// new file; on any other outcome it holds an unfinished copy that the caller must
/// discard (the temporary file of an atomic write, never renamed).
pub fn splice_yaml(
    input: &[u8],
    change: Change<'_>,
    ctx: &KeyContext,
    opts: &OpenOptions,
    emit: &EmitOptions,
    sink: Option<&mut (dyn std::io::Write + Send)>,
) -> Result<SpliceOutcome, Error> {
    let declined = Ok(SpliceOutcome::Declined(None));
    if opts.ignore_mac || input.starts_with(b"\xEF\xBB\xBF") || !scalar_change(change) {
        return declined;
    }
    let threads = super::threads();
    let Some(plan) = super::split::plan(input, super::part_target(ctx, input.len(), threads))
    else {
        return declined;
    };
    if plan.meta.end != input.len() || !covers(&plan.parts, plan.meta.start) {
        return declined;
    }
    let Some((meta, raw)) = read_meta(&input[plan.meta.clone()]) else {
        return declined;
    };
    // The `sops` block, emitted alone, must give its text back: the block is written
    // again alone, after the parts.
    if !emits_as(&raw, emit, &input[plan.meta.clone()]) {
        return declined;
    }
    drop(raw);
    let sel = meta.selector();
    if sel.is_comment_based() {
        return declined;
    }
    let Ok((key, unwrapped_by)) = ops::recover_key_with_source(&meta, ctx, &opts.order) else {
        return declined;
    };
    let job = Job {
        src: input,
        key: &key,
        cipher: ValueCipher::new(&key),
        sel: &sel,
        mac_only_encrypted: meta.mac_only_encrypted,
        emit,
        change,
        direct: Mode::from_env(ctx.var(super::DIRECT_ENV)),
    };
    let mut fold = Fold {
        old_mac: MacHasher::new(meta.mac_only_encrypted),
        new_mac: None,
        record: integrity::Streamed::verifier(
            &key,
            &meta.integrity_binding(),
            meta.integrity.as_deref(),
        ),
        new_record: None,
        tokens: Vec::with_capacity(plan.parts.len()),
        holder: None,
        holders: 0,
        same_value: false,
        first_key_seen: false,
    };
    let work = |p: &Part, _: &mut Vec<u8>| work(&job, p);
    let first_key = match change {
        Change::Set(path, _) | Change::Unset(path) => match path.first() {
            Some(Step::Key(k)) => Some(k.as_str()),
            _ => None,
        },
    };
    let (ok, sink, written) = sink::with_writer(input, sink, |pieces| {
        let take = &mut |p: &Part, r: PartOut| {
            let had = fold.holder.is_some();
            if !fold.take(p, r, first_key) {
                return false;
            }
            if pieces.live() {
                match &fold.holder {
                    Some((_, text)) if !had => pieces.send(Piece::Text(text.clone())),
                    _ => pieces.send(Piece::Input(part_range(p).clone())),
                }
            }
            true
        };
        let ok = run_parts(&plan.parts, threads, &work, take, || PartOut::Decline);
        if !ok {
            pieces.abandon();
        }
        ok
    });
    if !ok {
        return Ok(SpliceOutcome::Declined(Some((key, unwrapped_by))));
    }
    let meta_start = plan.meta.start;
    // `set` of a new first key: no part holds the path's first key, and no part is of an
    // entry of that name. The whole-tree path puts it at the end of the document, after
    // every part: its entry is written as a part of its own, which goes right before the
    // `sops` block (its leaves last into the MAC, its tokens last into the record; see
    // `finish`, which uses it only once the file verified).
    let added = if fold.holders == 0 && !fold.first_key_seen && matches!(change, Change::Set(..)) {
        match rewrite::new_first_key(&job, meta_start) {
            Some(new) => Some(new),
            None => return Ok(SpliceOutcome::Declined(Some((key, unwrapped_by)))),
        }
    } else {
        None
    };
    let outcome = finish(
        fold,
        added,
        meta,
        key,
        unwrapped_by,
        opts,
        ctx,
        emit,
        plan.meta,
    )?;
    if let (SpliceOutcome::Written(s), Some(sink)) = (&outcome, sink) {
        // The parts are in the sink; a new first key's entry and the `sops` block follow.
        let mut rest = s.edits.iter().filter(|(r, _)| r.start >= meta_start);
        written
            .and_then(|()| rest.try_for_each(|(_, t)| sink.write_all(t)))
            .map_err(|e| {
                Error::new(
                    crate::error::exit::COULD_NOT_WRITE_OUTPUT,
                    format!("cannot write the file: {e}"),
                )
            })?;
    }
    Ok(outcome)
}

/// The range of the input a part's text is (without the header line of a later part of
/// an entry).
fn part_range(p: &Part) -> &Range<usize> {
    match p {
        Part::Top(r) | Part::Sub { body: r, .. } => r,
    }
}

/// Whether the change can be spliced at all: a scalar value, a path of keys and indices
/// starting with a key.
fn scalar_change(change: Change<'_>) -> bool {
    let path = match change {
        Change::Set(path, v) => {
            if matches!(v, Value::Map(_) | Value::Seq(_)) {
                return false;
            }
            path
        }
        Change::Unset(path) => path,
    };
    // A key with a `:` could give a value an AAD another part's value has (see the
    // module docs): the parts are checked for such keys, and so is the change's path.
    matches!(path.first(), Some(Step::Key(_)))
        && !path
            .iter()
            .any(|s| matches!(s, Step::Key(k) if k.contains(':')))
}

/// What every part needs.
struct Job<'a> {
    src: &'a [u8],
    key: &'a DataKey,
    cipher: ValueCipher,
    sel: &'a Selector,
    mac_only_encrypted: bool,
    emit: &'a EmitOptions,
    change: Change<'a>,
    /// Whether parts that do not hold the path are scanned without a tree first
    /// (`LEAFSEAL_STREAM_DIRECT`: `never` reads every part as a tree, `require` declines
    /// the file when the scan does not take such a part).
    direct: Mode,
}

/// The part that holds the path, written again.
struct NewPart {
    /// Its new text (without the header line of a later part of an entry).
    text: Vec<u8>,
    /// The MAC input of its leaves.
    mac_input: Vec<Zeroizing<Vec<u8>>>,
    /// Its record tokens.
    tokens: Vec<u8>,
}

/// One part's result.
enum PartOut {
    Done {
        mac_input: Vec<Zeroizing<Vec<u8>>>,
        tokens: Vec<u8>,
        entry_key: Option<String>,
        /// For the part that holds the path: `None` when `set` found the value already
        /// set.
        holds: Option<Option<NewPart>>,
    },
    Decline,
}

/// Reads, checks and decrypts one part; writes the part that holds the path again. A
/// part that does not hold the path is first offered to the scan without a tree
/// ([`direct::scan`]); the tree way below takes what it does not.
fn work<'a>(job: &'a Job<'a>, part: &Part) -> PartOut {
    let (header, body, sub) = match part {
        Part::Top(r) => (None, r, false),
        Part::Sub {
            body, first: true, ..
        } => (None, body, true),
        Part::Sub { header, body, .. } => (job.src.get(header.clone()), body, true),
    };
    if job.direct != Mode::Never {
        let path = match job.change {
            Change::Set(p, _) | Change::Unset(p) => p,
        };
        let key = |s: Option<&'a Step>| match s {
            Some(Step::Key(k)) => Some(k.as_str()),
            _ => None,
        };
        let scanned = crate::format::yaml::emit_indent(job.emit).and_then(|indent| {
            let cfg = direct::Scan {
                cipher: &job.cipher,
                sel: job.sel,
                indent,
                k0: key(path.first()),
                k1: key(path.get(1)),
            };
            direct::scan(
                &cfg,
                header,
                job.src.get(body.clone())?,
                sub,
                direct::Write::Nothing,
            )
        });
        match scanned {
            Some(d) if d.holds == Some(false) => {
                return PartOut::Done {
                    mac_input: vec![d.mac],
                    tokens: d.tokens,
                    entry_key: d.entry_key,
                    holds: None,
                };
            }
            // Under `require` only the part that holds the path goes the tree way.
            None if job.direct == Mode::Require => return PartOut::Decline,
            _ => {}
        }
    }
    work_tree(job, part)
}

/// [`work`] through the part's tree.
fn work_tree(job: &Job<'_>, part: &Part) -> PartOut {
    let text = part_text(job.src, part);
    let Some(mut branches) = crate::format::yaml::load_fast_encrypted(&text) else {
        return PartOut::Decline;
    };
    let (Some(root), true) = (branches.pop(), branches.is_empty()) else {
        return PartOut::Decline;
    };
    if root.get("sops").is_some() || colon_key(&root) {
        return PartOut::Decline;
    }
    let mut doc = Document {
        branches: vec![root],
    };
    crate::tree::lift_list_comments(&mut doc);
    // The part's text must be what the whole-tree path writes for it.
    let body = match part {
        Part::Top(r) | Part::Sub { body: r, .. } => &job.src[r.clone()],
    };
    if emitted(&doc, part, job.emit).is_none_or(|t| t != body) {
        return PartOut::Decline;
    }
    drop(text);
    let path = match job.change {
        Change::Set(p, _) | Change::Unset(p) => p,
    };
    let Some(held) = doc.branches.first().and_then(|r| holds(r, part, path)) else {
        return PartOut::Decline;
    };
    let Some((tokens, entry_key)) = doc
        .branches
        .first()
        .and_then(|r| tokens_of(r, part, job.mac_only_encrypted))
    else {
        return PartOut::Decline;
    };
    let encrypted = held.then(|| doc.clone());
    let dec = match document::decrypt_part(&mut doc, &job.cipher, job.sel, job.mac_only_encrypted) {
        Ok(d) => d,
        Err(_) => {
            doc.wipe_in_place();
            return PartOut::Decline;
        }
    };
    doc.wipe_in_place();
    drop(doc);
    if dec.noncanonical > 0 || dec.clear_comments > 0 {
        return PartOut::Decline;
    }
    let holds = match encrypted {
        None => None,
        Some(enc) => match rewrite(job, part, enc) {
            Some(r) => Some(r),
            None => return PartOut::Decline,
        },
    };
    PartOut::Done {
        mac_input: dec.mac_input,
        tokens,
        entry_key,
        holds,
    }
}
