//! Opening a large block-YAML file for `edit` by streaming: the file is planned reading
//! it in blocks, each part is read back, checked, decrypted and written as plaintext on
//! its worker, and the parts are folded in order into the MAC and the integrity record
//! (both verified before the editor sees anything).

use zeroize::Zeroizing;

use crate::crypto::DataKey;
use crate::metadata::Metadata;

use crate::crypto::document;
use crate::crypto::integrity;
use crate::crypto::mac::MacHasher;
use crate::crypto::value::ValueCipher;
use crate::error::Error;
use crate::format::EmitOptions;
use crate::format::Output;
use crate::format::Store;
use crate::format::yaml::YamlStore;
use crate::keys::KeyContext;
use crate::ops;
use crate::ops::OpenOptions;
use crate::secbuf::SecureBuf;
use crate::tree::Document;
use crate::walk::Selector;

use super::EditInput;
use super::EditOpen;
use super::EditSession;
use super::Kept;
use crate::stream::blocks::KnownKey;
use crate::stream::overlap::Feed;
use crate::stream::pipeline::Parts;
use crate::stream::pipeline::run_fed;
use crate::stream::pool::Pool;
use crate::stream::split::Part;
use crate::stream::split::Plan;
use crate::stream::yaml_direct::Mode;

/// Opens the encrypted YAML file `src` for editing by streaming, or declines. `emit` are
/// the options of both the editor's plaintext and the written file.
///
/// As the streamed decrypt (`stream::overlap`), the metadata is read first from
/// the file's tail and the planner runs on a thread of its own while the parts it has
/// settled are already decrypted; when the final plan does not begin with those parts
/// (or finds the metadata elsewhere), the file is planned first and opened again.
pub fn open_yaml_for_edit(
    src: EditInput<'_>,
    ctx: &KeyContext,
    opts: &OpenOptions,
    emit: &EmitOptions,
) -> Result<EditOpen, Error> {
    if opts.ignore_mac || src.has_bom() {
        return Ok(EditOpen::Declined(None));
    }
    let run = Run {
        src,
        ctx,
        opts,
        emit,
        threads: crate::stream::threads(),
        target: crate::stream::part_target(ctx, src.len(), crate::stream::threads()),
        // Memory for the plaintext, touched on another thread while the file is planned.
        ahead: crate::stream::pool::touch_ahead(src.len()),
    };
    let known = match overlapped(&run) {
        Overlap::Done(open) => return Ok(open),
        Overlap::Rerun(known) => known,
    };
    Ok(planned(&run, known))
}

/// What opening needs.
pub(super) struct Run<'a> {
    pub(super) src: EditInput<'a>,
    pub(super) ctx: &'a KeyContext,
    pub(super) opts: &'a OpenOptions,
    pub(super) emit: &'a EmitOptions,
    pub(super) threads: usize,
    /// The parts' target size.
    pub(super) target: usize,
    pub(super) ahead: crate::stream::Ahead,
}

/// What the overlapped open did.
pub(super) enum Overlap {
    Done(EditOpen),
    /// Plan first, with this data key when the metadata is found at that range.
    Rerun(KnownKey),
}

/// The open with the planner running next to the workers (see [`open_yaml_for_edit`]).
pub(super) fn overlapped(run: &Run<'_>) -> Overlap {
    let len = run.src.len();
    let Some((meta_at, meta_text)) = crate::stream::overlap::tail_meta(run.src.file(), 0, len)
    else {
        return Overlap::Rerun(None);
    };
    let Some(meta) = checked_meta(&meta_text, run.emit) else {
        return Overlap::Rerun(None);
    };
    drop(meta_text);
    let Ok(key) = ops::recover_key_with_source(&meta, run.ctx, &run.opts.order) else {
        return Overlap::Done(EditOpen::Declined(None));
    };
    let block = crate::stream::blocks::block_size(run.ctx);
    let feed = Feed::<Part>::default();
    let (folded, plan) = std::thread::scope(|s| {
        let (file, at, feed_ref, target) = (run.src.file(), &meta_at, &feed, run.target);
        let planner = s.spawn(move || {
            crate::stream::overlap::plan_feeding(file, 0, block, len, target, at, feed_ref)
        });
        let folded = fold(run, &feed, &meta, &key.0);
        // Whatever ended the fold, the planner is not needed any more.
        feed.stop();
        (folded, planner.join().ok().flatten())
    });
    match (plan, folded) {
        (Some(plan), Some(folded)) if feed.matched() => {
            Overlap::Done(finish(run, plan, folded, meta, key))
        }
        (Some(_), _) => Overlap::Rerun(Some((meta_at, key))),
        (None, _) => Overlap::Done(EditOpen::Declined(Some(key))),
    }
}

/// The open with the file planned first (`known`: a data key already recovered from the
/// metadata at that range).
pub(super) fn planned(run: &Run<'_>, known: KnownKey) -> EditOpen {
    let src = run.src;
    let declined = |k: KnownKey| EditOpen::Declined(k.map(|(_, key)| key));
    let Some(plan) = src.plan(run.ctx, run.target) else {
        return declined(known);
    };
    let mut meta_text = Vec::new();
    if src.read(plan.meta.clone(), &mut meta_text).is_err() {
        return declined(known);
    }
    let Some(meta) = checked_meta(&meta_text, run.emit) else {
        return declined(known);
    };
    drop(meta_text);
    let key = match known {
        Some((at, key)) if at == plan.meta => key,
        other => {
            drop(other);
            match ops::recover_key_with_source(&meta, run.ctx, &run.opts.order) {
                Ok(key) => key,
                Err(_) => return EditOpen::Declined(None),
            }
        }
    };
    match fold(run, &plan.parts, &meta, &key.0) {
        Some(folded) => finish(run, plan, folded, meta, key),
        None => EditOpen::Declined(Some(key)),
    }
}

/// The metadata in `text`, when its `sops` block is emitted as it stands and its
/// selector is not comment-based.
fn checked_meta(text: &[u8], emit: &EmitOptions) -> Option<Metadata> {
    let (meta, raw) = crate::stream::splice::read_meta(text)?;
    if !crate::stream::splice::emits_as(&raw, emit, text) || meta.selector().is_comment_based() {
        return None;
    }
    Some(meta)
}

/// Every part opened and folded in order.
struct Folded {
    plain: SecureBuf,
    kept: Vec<Kept>,
    mac: MacHasher,
    record: integrity::Streamed,
}

/// Opens the parts (read on the workers) and folds them in order into the MAC, the
/// integrity record and the joined plaintext; `None` when a part is declined.
fn fold(
    run: &Run<'_>,
    parts: &(impl Parts<Part> + ?Sized),
    meta: &Metadata,
    key: &DataKey,
) -> Option<Folded> {
    let src = run.src;
    let sel = meta.selector();
    let job = Job {
        cipher: ValueCipher::new(key),
        sel: &sel,
        mac_only_encrypted: meta.mac_only_encrypted,
        emit: run.emit,
        direct: Mode::from_env(run.ctx.var(crate::stream::DIRECT_ENV)),
    };
    let mut mac = MacHasher::new(meta.mac_only_encrypted);
    let mut record =
        integrity::Streamed::verifier(key, &meta.integrity_binding(), meta.integrity.as_deref());
    let mut plain = match run.ahead.take().and_then(|h| h.join().ok()) {
        Some(v) => SecureBuf::reusing(v),
        None => SecureBuf::with_capacity(src.len() / 3),
    };
    // The parts' plaintext buffers go back to the workers once their bytes are joined.
    let texts = Pool::new(run.threads * 3 + 2);
    let mut kept = Vec::new();
    // Each part is read on its worker into the worker's buffer, with its ranges moved
    // to that text.
    let work = |p: &Part, buf: &mut Vec<u8>| {
        let (text, local) = src.read_part(p, buf).ok()?;
        work(&job, text, &local, texts.take(text.len() / 2 + 64))
    };
    let fold = &mut |p: &Part, r: Option<Opened>| {
        let Some(o) = r else { return false };
        let mac_at = mac.clone();
        let record_at = record.checkpoint();
        for m in &o.mac_input {
            mac.update(m);
        }
        let opens = matches!(p, Part::Sub { first: true, .. });
        let closes = matches!(p, Part::Sub { last: true, .. });
        let entry = o.entry_key.filter(|_| opens);
        if let Some(k) = &entry {
            record.open_map_entry(k);
        }
        record.feed(&o.tokens);
        if closes {
            record.close_map();
        }
        let at = plain.as_slice().len();
        plain.push(&o.text);
        let n = o.text.len();
        let mut text = o.text;
        texts.give(std::mem::take(&mut *text), true);
        kept.push(Kept {
            plain: at..at + n,
            mac_input: o.mac_input,
            mac_at,
            record_at,
            tokens: (entry, o.tokens, closes),
        });
        true
    };
    if !run_fed(parts, run.threads, &work, fold, || None) || !parts.complete() {
        return None;
    }
    Some(Folded {
        plain,
        kept,
        mac,
        record,
    })
}

/// The session, once the final plan is known and every part was folded: the plan's
/// layout, the file (unchanged since the session began), the MAC and the integrity
/// record are checked; otherwise the file is declined (with its data key).
fn finish(
    run: &Run<'_>,
    plan: Plan,
    folded: Folded,
    meta: Metadata,
    (key, unwrapped_by): (DataKey, Vec<String>),
) -> EditOpen {
    let len = run.src.len();
    let Folded {
        plain,
        kept,
        mac,
        record,
    } = folded;
    // Every part was read: from the file that was planned?
    if plan.meta.end != len
        || !crate::stream::splice::covers(&plan.parts, plan.meta.start)
        || kept.len() != plan.parts.len()
        || !run.src.unchanged()
        || ops::verify_mac(&meta, &key, &mac.finish()).is_err()
    {
        return EditOpen::Declined(Some((key, unwrapped_by)));
    }
    let mut warnings = Vec::new();
    let status = record.verify(meta.integrity.as_deref(), &meta.integrity_binding());
    let strict = run.opts.strict_integrity || ops::env_flag(run.ctx.var(ops::STRICT_INTEGRITY_ENV));
    if ops::judge_integrity(status, strict, &mut warnings).is_err() {
        return EditOpen::Declined(Some((key, unwrapped_by)));
    }
    EditOpen::Opened(Box::new(EditSession {
        plaintext: plain.finish(),
        parts: plan.parts,
        kept,
        meta,
        meta_range: plan.meta,
        key,
        emit: *run.emit,
        warnings,
        unwrapped_by,
    }))
}

/// What every part needs.
struct Job<'a> {
    cipher: ValueCipher,
    sel: &'a Selector,
    mac_only_encrypted: bool,
    emit: &'a EmitOptions,
    /// `LEAFSEAL_STREAM_DIRECT` (as for `set`).
    direct: Mode,
}

/// One part opened.
struct Opened {
    text: Output,
    mac_input: Vec<Zeroizing<Vec<u8>>>,
    tokens: Vec<u8>,
    entry_key: Option<String>,
}

/// Reads, checks, decrypts and writes one part; `None` hands the file back. The part is
/// first offered to the splice's scan without a tree (which writes the plaintext the
/// decrypt's direct path writes); the tree way below takes what it does not.
fn work(job: &Job<'_>, src: &[u8], part: &Part, out: Vec<u8>) -> Option<Opened> {
    use crate::stream::splice::direct;
    let (header, body, sub) = part.scan_input(src);
    let scanned = match (job.direct, crate::format::yaml::emit_indent(job.emit)) {
        (Mode::Never, _) | (_, None) => None,
        (_, Some(indent)) => {
            let cfg = direct::Scan {
                cipher: &job.cipher,
                sel: job.sel,
                indent,
                // A root `kind` may make the file a Kubernetes Secret, shown decoded.
                k0: Some("kind"),
                k1: None,
            };
            let body = src.get(body.clone())?;
            direct::scan(&cfg, header, body, sub, direct::Write::Plain(out))
        }
    };
    match scanned {
        Some(d) if !sub && d.holds == Some(true) => return None,
        Some(d) => {
            return Some(Opened {
                text: d.plain?,
                mac_input: vec![kept_mac(d.mac)],
                tokens: kept_tokens(d.tokens),
                entry_key: d.entry_key,
            });
        }
        None if job.direct == Mode::Require => return None,
        None => {}
    }
    work_tree(job, src, part)
}

/// A part's record tokens as the session keeps them: copied into memory of their size.
/// The scan's buffer has room for the largest a part's tokens can take (a fifth more
/// than they usually do) and, freed here on the worker, is what the worker's next scan
/// allocates again; the session keeps every part, so the room it never uses would be
/// fresh memory (the kernel zeroes each page first) held to the end.
pub(super) fn kept_tokens(tokens: Vec<u8>) -> Vec<u8> {
    if tokens.capacity() - tokens.len() <= tokens.len() / 16 {
        return tokens;
    }
    tokens.as_slice().to_vec()
}

/// A part's MAC input as the session keeps it, likewise copied into memory of its size
/// (the scan's buffer has room for a quarter of the part's text, about twice what
/// values take); the scan's buffer is wiped before it is freed.
pub(super) fn kept_mac(mut mac: Zeroizing<Vec<u8>>) -> Zeroizing<Vec<u8>> {
    if mac.capacity() - mac.len() <= mac.len() / 16 {
        return mac;
    }
    let kept = Zeroizing::new(mac.as_slice().to_vec());
    // Its written bytes only: `Zeroizing` would also write the room never used.
    let mut scan = std::mem::take(&mut *mac);
    crate::secbuf::wipe(&mut scan);
    kept
}

/// [`work`] through the part's tree.
fn work_tree(job: &Job<'_>, src: &[u8], part: &Part) -> Option<Opened> {
    let text = crate::stream::splice::part_text(src, part);
    let mut branches = crate::format::yaml::load_fast_encrypted(&text)?;
    drop(text);
    let (Some(root), true) = (branches.pop(), branches.is_empty()) else {
        return None;
    };
    // `kind` at the root may make the file a Kubernetes Secret, shown decoded.
    if root.get("sops").is_some()
        || crate::stream::splice::colon_key(&root)
        || (matches!(part, Part::Top(_)) && root.get("kind").is_some())
    {
        return None;
    }
    let mut doc = Document {
        branches: vec![root],
    };
    crate::tree::lift_list_comments(&mut doc);
    let body = match part {
        Part::Top(r) | Part::Sub { body: r, .. } => src.get(r.clone())?,
    };
    if crate::stream::splice::emitted(&doc, part, job.emit).is_none_or(|t| t != body) {
        return None;
    }
    let (tokens, entry_key) =
        crate::stream::splice::tokens_of(doc.branches.first()?, part, job.mac_only_encrypted)?;
    let dec = document::decrypt_part(&mut doc, &job.cipher, job.sel, job.mac_only_encrypted);
    let out = match &dec {
        Ok(d) if d.noncanonical == 0 && d.clear_comments == 0 => {
            YamlStore.emit(&doc, None, job.emit).ok()
        }
        _ => None,
    };
    doc.wipe_in_place();
    let (dec, mut out) = (dec.ok()?, out?);
    if let Part::Sub { first: false, .. } = part {
        if out.first().is_none_or(|&b| b == b' ' || b == b'#') {
            return None;
        }
        let nl = out.iter().position(|&b| b == b'\n')?;
        // The header line is not part of the output; the rest moves to the front.
        out.copy_within(nl + 1.., 0);
        let keep = out.len() - (nl + 1);
        zeroize::Zeroize::zeroize(&mut out[keep..]);
        out.truncate(keep);
    }
    Some(Opened {
        text: out,
        mac_input: dec.mac_input,
        tokens,
        entry_key,
    })
}
