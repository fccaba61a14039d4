//! Opening a large block-YAML file for `edit` by streaming: the file is planned reading
//! it in blocks, each part is read back, checked, decrypted and written as plaintext on
//! its worker, and the parts are folded in order into the MAC and the integrity record
//! (both verified before the editor sees anything).

use zeroize::Zeroizing;

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
use crate::stream::pipeline::run_parts;
use crate::stream::pool::Pool;
use crate::stream::split::Part;
use crate::stream::yaml_direct::Mode;

/// Opens the encrypted YAML file `src` for editing by streaming, or declines. `emit` are
/// the options of both the editor's plaintext and the written file.
pub fn open_yaml_for_edit(
    src: EditInput<'_>,
    ctx: &KeyContext,
    opts: &OpenOptions,
    emit: &EmitOptions,
) -> Result<EditOpen, Error> {
    let declined = Ok(EditOpen::Declined(None));
    if opts.ignore_mac || src.has_bom() {
        return declined;
    }
    let threads = crate::stream::threads();
    // Memory for the plaintext, touched on another thread while the file is planned.
    let ahead = crate::stream::pool::touch_ahead(src.len());
    let Some(plan) = src.plan(ctx, crate::stream::part_target(ctx, src.len(), threads)) else {
        return declined;
    };
    if plan.meta.end != src.len() || !crate::stream::splice::covers(&plan.parts, plan.meta.start) {
        return declined;
    }
    let mut meta_text = Vec::new();
    if src.read(plan.meta.clone(), &mut meta_text).is_err() {
        return declined;
    }
    let Some((meta, raw)) = crate::stream::splice::read_meta(&meta_text) else {
        return declined;
    };
    if !crate::stream::splice::emits_as(&raw, emit, &meta_text) {
        return declined;
    }
    drop((raw, meta_text));
    let sel = meta.selector();
    if sel.is_comment_based() {
        return declined;
    }
    let Ok((key, unwrapped_by)) = ops::recover_key_with_source(&meta, ctx, &opts.order) else {
        return declined;
    };
    let job = Job {
        cipher: ValueCipher::new(&key),
        sel: &sel,
        mac_only_encrypted: meta.mac_only_encrypted,
        emit,
        direct: Mode::from_env(ctx.var(crate::stream::DIRECT_ENV)),
    };
    let mut mac = MacHasher::new(meta.mac_only_encrypted);
    let mut record = integrity::Streamed::new(&key, &meta.integrity_binding());
    let mut plain = match ahead.take().and_then(|h| h.join().ok()) {
        Some(v) => SecureBuf::reusing(v),
        None => SecureBuf::with_capacity(src.len() / 3),
    };
    // The parts' plaintext buffers go back to the workers once their bytes are joined.
    let texts = Pool::new(threads * 3 + 2);
    let mut kept = Vec::with_capacity(plan.parts.len());
    // Each part is read on its worker into the worker's buffer, with its ranges moved
    // to that text.
    let work = |p: &Part, buf: &mut Vec<u8>| {
        let (text, local) = src.read_part(p, buf).ok()?;
        work(&job, text, &local, texts.take(text.len() / 2 + 64))
    };
    let fold = &mut |p: &Part, r: Option<Opened>| {
        let Some(o) = r else { return false };
        let mac_at = mac.clone();
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
            tokens: (entry, o.tokens, closes),
        });
        true
    };
    if !run_parts(&plan.parts, threads, &work, fold, || None) {
        return Ok(EditOpen::Declined(Some((key, unwrapped_by))));
    }
    let back = |key, by| Ok(EditOpen::Declined(Some((key, by))));
    // Every part was read: from the file that was planned?
    if !src.unchanged() {
        return back(key, unwrapped_by);
    }
    if ops::verify_mac(&meta, &key, &mac.finish()).is_err() {
        return back(key, unwrapped_by);
    }
    let mut warnings = Vec::new();
    let status = record.verify(meta.integrity.as_deref(), &meta.mac);
    let strict = opts.strict_integrity || ops::env_flag(ctx.var(ops::STRICT_INTEGRITY_ENV));
    if ops::judge_integrity(status, strict, &mut warnings).is_err() {
        return back(key, unwrapped_by);
    }
    Ok(EditOpen::Opened(Box::new(EditSession {
        plaintext: plain.finish(),
        parts: plan.parts,
        kept,
        meta,
        meta_range: plan.meta,
        key,
        emit: *emit,
        warnings,
        unwrapped_by,
    })))
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
    let (header, body, sub) = match part {
        Part::Top(r) => (None, r, false),
        Part::Sub {
            body, first: true, ..
        } => (None, body, true),
        Part::Sub { header, body, .. } => (src.get(header.clone()), body, true),
    };
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
                mac_input: vec![d.mac],
                tokens: d.tokens,
                entry_key: d.entry_key,
            });
        }
        None if job.direct == Mode::Require => return None,
        None => {}
    }
    work_tree(job, src, part)
}

/// [`work`] through the part's tree.
fn work_tree(job: &Job<'_>, src: &[u8], part: &Part) -> Option<Opened> {
    let text = crate::stream::splice::part_text(src, part);
    let mut branches = crate::format::yaml::load_fast(&text)?;
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
