//! Streaming `rotate` of large block-YAML and JSON files: the streaming writer with a
//! decrypt in front. The encrypted text is cut by the decrypt planners; the old data key
//! is recovered and the stored MAC opened first, then a new data key is wrapped for the
//! file's keys (after the `--add-*`/`--rm-*` changes) and the new MAC sealed (the MAC is
//! over the plaintext, which a rotation does not change, so the new MAC is the old one
//! once verified). Each part is read, its old integrity tokens taken, decrypted with the
//! old key, encrypted with the new one (fresh nonces), its new tokens taken and written;
//! the calling thread folds the old MAC input and both records in document order and
//! hands the parts to the output. After the last part the old MAC (exit 51) and the old
//! integrity record (exit 53) are verified, and only then is the metadata block written
//! and [`Rotated`] handed back: the caller writes a file through a temporary file renamed
//! only after that, and standard output from a buffer.
//!
//! The text is in memory ([`prepare_rotate`]), or, for a YAML or JSON file on disk, read
//! in parts while it is planned ([`prepare_rotate_file`], `rotate/file.rs`).
//!
//! Declined (the tree path then rotates the file, with the old data key when it was
//! recovered): whatever the decrypt planners or part readers decline, a key that cannot
//! be recovered, a stored MAC that does not open, key changes or a wrap that fail (so
//! that the tree path reports them in its order), a comment-based selector,
//! `--ignore-mac`.

use std::collections::HashSet;

use zeroize::Zeroizing;

use super::super::json::split as json_split;
use super::super::split::Part;
use super::Layouts;
use super::layout::JsonLayout;
use super::layout::Layout;
use super::layout::YamlLayout;
use super::lost_error;
use super::output_error;
use crate::crypto::DataKey;
use crate::crypto::integrity;
use crate::crypto::mac;
use crate::crypto::mac::MacHasher;
use crate::crypto::value::ValueCipher;
use crate::error::Error;
use crate::error::exit;
use crate::format::EmitOptions;
use crate::format::Format;
use crate::keys::KeyContext;
use crate::lifecycle;
use crate::lifecycle::KeyChanges;
use crate::metadata::Metadata;
use crate::ops;
use crate::ops::OpenOptions;
use crate::stream::pipeline::Parts;
use crate::stream::pipeline::run_fed;
use crate::walk::Selector;

mod file;
mod fold;
mod part;
use file::Text;
pub use file::prepare_rotate_file;
use fold::Fold;
use part::Ciphers;
use part::RotOut;
use part::Work;

/// A file ready to be rotated by streaming ([`PreparedRotate::write`]).
pub struct PreparedRotate<'a> {
    layout: Layouts<'a>,
    /// Where the encrypted text is read from.
    text: Text<'a>,
    emit: &'a EmitOptions,
    /// For YAML: the emitter's indentation, for the line scan that rotates a part
    /// without its tree ([`rotate_scanned`]), unless `LEAFSEAL_STREAM_DIRECT=never`.
    scan: Option<usize>,
    /// For JSON: a part is rotated without its tree by the decrypt's direct scan
    /// ([`PreparedRotate::rotate_json`]), unless `LEAFSEAL_STREAM_DIRECT=never`.
    json_scan: bool,
    /// `LEAFSEAL_STREAM_DIRECT=require`: a part the scan does not take hands the file back.
    scan_required: bool,
    old_key: DataKey,
    new_key: DataKey,
    /// The new metadata: new key groups, `lastmodified`, MAC (no record yet).
    meta: Metadata,
    /// The old record as stored, its binding's MAC and `lastmodified` (the selector is
    /// not changed), and the record computed over the old encrypted text.
    old_integrity: Option<String>,
    old_mac: String,
    old_lastmodified: String,
    old_record: Option<integrity::Streamed>,
    /// The old MAC, opened: what the plaintext must hash to.
    expected_mac: Zeroizing<String>,
    sel: Selector,
    threads: usize,
    /// Buffers of JSON parts rotated by the direct scan, recycled by the fold.
    pools: crate::stream::Pools,
    strict_integrity: bool,
    unwrapped_by: Vec<String>,
    signed: bool,
    unmatched_removals: Vec<(crate::keys::KeyKind, String)>,
}

/// A data key recovered by the streaming path, with the master keys that unwrapped it:
/// handed back to the tree path when a file is declined.
pub type RecoveredKey = (DataKey, Vec<String>);

/// What [`prepare_rotate`] did.
pub enum RotatePrepare<'a> {
    /// Ready to write.
    Ready(Box<PreparedRotate<'a>>),
    /// The file must be rotated as a whole tree; the old data key and the keys that
    /// unwrapped it, when they were recovered.
    Declined(Option<(DataKey, Vec<String>)>),
}

/// What a streamed rotation reports (the file was written only if it is returned).
#[derive(Debug)]
pub struct Rotated {
    /// Non-fatal notes of opening the file, as [`ops::Opened::warnings`].
    pub warnings: Vec<String>,
    /// The master key(s) that unwrapped the old data key (`kind id`).
    pub unwrapped_by: Vec<String>,
    /// `--rm-*` keys that are not in the file.
    pub unmatched_removals: Vec<(crate::keys::KeyKind, String)>,
    /// The file was signed (its signature is dropped).
    pub signed: bool,
}

/// What [`PreparedRotate::write`] did.
#[derive(Debug)]
pub enum RotateOutcome {
    /// Everything was verified and written.
    Done(Rotated),
    /// A part was declined while the output was being written: the caller discards it
    /// and rotates the file as a tree, with this data key (none when the file was
    /// changed since its metadata was read: the tree path reads the new one whole).
    Declined(Option<(DataKey, Vec<String>)>),
}

/// Plans an encrypted file (YAML or JSON in and out), recovers its data key (or takes
/// `known`, recovered from the same text by [`prepare_rotate_file`] before it declined),
/// opens its MAC and wraps a new data key (see the module docs).
pub fn prepare_rotate<'a>(
    input: &'a [u8],
    format: Format,
    ctx: &KeyContext,
    opts: &OpenOptions,
    changes: &KeyChanges,
    emit: &'a EmitOptions,
    known: Option<RecoveredKey>,
) -> Result<RotatePrepare<'a>, Error> {
    if opts.ignore_mac || input.starts_with(b"\xEF\xBB\xBF") {
        return Ok(RotatePrepare::Declined(known));
    }
    let threads = super::super::threads();
    let target = super::super::part_target(ctx, input.len(), threads);
    let planned = match format {
        Format::Yaml => super::super::split::plan(input, target).and_then(|plan| {
            let meta = super::super::read_meta(input.get(plan.meta.clone())?)?;
            Some((
                Layouts::Yaml(YamlLayout::from_plan(input, plan, emit)),
                meta,
            ))
        }),
        Format::Json => super::super::json::split::plan(input, target).and_then(|plan| {
            let meta = super::super::json::read_meta(input.get(plan.meta.clone())?)?;
            Some((
                Layouts::Json(JsonLayout::from_plan(input, plan, emit)?),
                meta,
            ))
        }),
        _ => None,
    };
    let Some((layout, meta)) = planned else {
        return Ok(RotatePrepare::Declined(known));
    };
    let text = Text::Mem(input);
    ready(layout, meta, text, threads, ctx, opts, changes, emit, known)
}

/// The common end of [`prepare_rotate`] and [`prepare_rotate_file`] once the text is
/// planned and its metadata read: the old data key recovered (unless `known`), the
/// stored MAC opened, the key changes applied and a new data key wrapped.
#[allow(clippy::too_many_arguments)]
fn ready<'a>(
    layout: Layouts<'a>,
    mut meta: Metadata,
    text: Text<'a>,
    threads: usize,
    ctx: &KeyContext,
    opts: &OpenOptions,
    changes: &KeyChanges,
    emit: &'a EmitOptions,
    known: Option<RecoveredKey>,
) -> Result<RotatePrepare<'a>, Error> {
    let mode = crate::stream::yaml_direct::Mode::from_env(ctx.var(crate::stream::DIRECT_ENV));
    let scan = match (&layout, mode) {
        (_, crate::stream::yaml_direct::Mode::Never) | (Layouts::Json(_), _) => None,
        (Layouts::Yaml(_), _) => crate::format::yaml::emit_indent(emit),
    };
    let json_scan =
        matches!(layout, Layouts::Json(_)) && mode != crate::stream::yaml_direct::Mode::Never;
    let scan_required =
        mode == crate::stream::yaml_direct::Mode::Require && (scan.is_some() || json_scan);
    let sel = meta.selector();
    if sel.is_comment_based() {
        return Ok(RotatePrepare::Declined(known));
    }
    // A key that cannot be recovered, or a MAC that does not open, is reported by the
    // tree path after it has read the whole file.
    let recovered = match known {
        Some(k) => Ok(k),
        None => ops::recover_key_with_source(&meta, ctx, &opts.order),
    };
    let Ok((old_key, unwrapped_by)) = recovered else {
        return Ok(RotatePrepare::Declined(None));
    };
    let expected_mac = match meta
        .mac_aad()
        .ok()
        .and_then(|aad| mac::open_mac(&old_key, meta.mac.trim(), &aad).ok())
    {
        Some(m) if !meta.mac.trim().is_empty() => Zeroizing::new(m),
        _ => return Ok(RotatePrepare::Declined(Some((old_key, unwrapped_by)))),
    };
    let old_record = integrity::Streamed::verifier(
        &old_key,
        &meta.integrity_binding(),
        meta.integrity.as_deref(),
    );
    let old_integrity = meta.integrity.clone();
    let old_mac = meta.mac.clone();
    let old_lastmodified = meta.lastmodified.clone();
    let signed = crate::signing::present(&meta);
    // The key side of `lifecycle::rotate`; any failure is left to the tree path.
    let Ok((groups, unmatched_removals)) = lifecycle::apply_changes(&meta.key_groups, changes)
    else {
        return Ok(RotatePrepare::Declined(Some((old_key, unwrapped_by))));
    };
    let threshold = lifecycle::capped_threshold(meta.shamir_threshold, groups.len());
    let Ok(new_key) = DataKey::generate() else {
        return Ok(RotatePrepare::Declined(Some((old_key, unwrapped_by))));
    };
    if lifecycle::rewrap(&mut meta, &groups, threshold, &new_key, ctx).is_err() {
        return Ok(RotatePrepare::Declined(Some((old_key, unwrapped_by))));
    }
    ops::seal_mac_now(&mut meta, &new_key, &expected_mac)?;
    crate::signing::remove(&mut meta);
    Ok(RotatePrepare::Ready(Box::new(PreparedRotate {
        layout,
        text,
        emit,
        scan,
        json_scan,
        scan_required,
        old_key,
        new_key,
        meta,
        old_integrity,
        old_mac,
        old_lastmodified,
        old_record: Some(old_record),
        expected_mac,
        sel,
        threads,
        pools: crate::stream::Pools::new(threads),
        strict_integrity: opts.strict_integrity
            || ops::env_flag(ctx.var(ops::STRICT_INTEGRITY_ENV)),
        unwrapped_by,
        signed,
        unmatched_removals,
    })))
}

impl PreparedRotate<'_> {
    /// Rotates the parts and hands the new encrypted file to `out` piece by piece, in
    /// order; returns [`RotateOutcome::Done`] only after the old MAC and integrity record
    /// were verified (on an error, or [`RotateOutcome::Declined`], what `out` received
    /// must be discarded).
    pub fn write(&mut self, out: &mut dyn std::io::Write) -> Result<RotateOutcome, Error> {
        let old_record = self.old_record.take().ok_or_else(lost_error)?;
        let folded = match (&self.layout, &self.text) {
            (Layouts::Yaml(l), Text::Mem(src)) => {
                let work = |part: &Part, ciphers: Ciphers<'_>, _: &mut Vec<u8>| {
                    self.rotate_yaml(l, src, part, ciphers)
                };
                self.parts(l, l.parts(), old_record, out, &work, &|| true)?
            }
            (Layouts::Yaml(l), Text::File { file, before, plan }) => {
                file::rotate(self, l, file, before, plan, old_record, out)?
            }
            (Layouts::Json(_), Text::File { file, before, plan }) => {
                file::rotate_json(self, file, before, plan, old_record, out)?
            }
            (Layouts::Json(l), Text::Mem(_)) => {
                let work = |part: &json_split::Part, ciphers: Ciphers<'_>, _: &mut Vec<u8>| {
                    self.rotate_json(l, part, ciphers)
                };
                self.parts(l, l.parts(), old_record, out, &work, &|| true)?
            }
        };
        let Some((new_record, warnings)) = folded else {
            let key =
                (!self.text.changed()).then(|| (self.old_key.clone(), self.unwrapped_by.clone()));
            return Ok(RotateOutcome::Declined(key));
        };
        self.meta.integrity = Some(new_record.record(&self.meta.integrity_binding()));
        let map = self.meta.to_map();
        let tail = match &self.layout {
            Layouts::Yaml(l) => l.tail(&map),
            Layouts::Json(l) => l.tail(&map),
        }
        .ok_or_else(|| {
            Error::new(
                exit::ERROR_DUMPING_TREE,
                "cannot write the metadata of the encrypted file",
            )
        })?;
        out.write_all(&tail)
            .and_then(|()| out.flush())
            .map_err(|e| output_error(&e))?;
        Ok(RotateOutcome::Done(Rotated {
            warnings,
            unwrapped_by: self.unwrapped_by.clone(),
            unmatched_removals: std::mem::take(&mut self.unmatched_removals),
            signed: self.signed,
        }))
    }

    /// Rotates the parts with `work` and writes them, then verifies the old MAC and
    /// record: the new record (to close) and the warnings, or `None` when a part was
    /// declined or the text is no longer the one planned (`unchanged`, asked once every
    /// part was read).
    #[allow(clippy::type_complexity)]
    fn parts<L: Layout>(
        &self,
        l: &L,
        parts: &(impl Parts<L::Part> + ?Sized),
        old_record: integrity::Streamed,
        out: &mut dyn std::io::Write,
        work: &Work<'_, L::Part>,
        unchanged: &dyn Fn() -> bool,
    ) -> Result<Option<(integrity::Streamed, Vec<String>)>, Error> {
        let old = ValueCipher::new(&self.old_key);
        let new = ValueCipher::new(&self.new_key);
        let mac_only = self.meta.mac_only_encrypted;
        let work = |part: &L::Part, scratch: &mut Vec<u8>| work(part, (&old, &new), scratch);
        let mut f = Fold {
            pools: &self.pools,
            mac: MacHasher::new(mac_only),
            old_record,
            new_record: integrity::Streamed::new(&self.new_key, mac_only),
            clear_comments: 0,
            first_error: None,
            failed: None,
            declined: false,
            root_keys: HashSet::new(),
            sub_keys: HashSet::new(),
        };
        let fold = &mut |part: &L::Part, r: RotOut| f.take(l, part, r, out);
        let complete = run_fed(parts, self.threads, &work, fold, || RotOut::Decline);
        if f.declined || l.big_key().is_some_and(|k| f.root_keys.contains(k)) || !unchanged() {
            return Ok(None);
        }
        if let Some(e) = f.failed {
            return Err(e);
        }
        if let Some(e) = f.first_error {
            return Err(ops::decrypt_error(e));
        }
        if !complete {
            return Err(lost_error());
        }
        let mismatch = || {
            Error::new(
                exit::MAC_MISMATCH,
                "MAC mismatch: the stored MAC does not match the file's content",
            )
            .remedy(crate::error::Remedy::IgnoreMac)
        };
        if !mac::mac_eq(&self.expected_mac, &f.mac.finish()) {
            return Err(mismatch());
        }
        let mut warnings = Vec::new();
        if f.clear_comments > 0 {
            warnings.push(format!(
                "{} comment(s) that should be encrypted were stored in clear and were kept as they are",
                f.clear_comments
            ));
        }
        let status = f.old_record.verify(
            self.old_integrity.as_deref(),
            &integrity::Binding {
                lastmodified: &self.old_lastmodified,
                mac: &self.old_mac,
                ..self.meta.integrity_binding()
            },
        );
        ops::judge_integrity(status, self.strict_integrity, &mut warnings)?;
        Ok(Some((f.new_record, warnings)))
    }
}

#[cfg(test)]
mod tests;
