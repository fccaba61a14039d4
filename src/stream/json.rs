//! Streaming decryption of large JSON files: the encrypted text is cut into runs of
//! members (`split`), each run is read by the strict JSON reader, decrypted and written by
//! the JSON store's writer at its depth on all cores, and folded in document order by the
//! same machinery as the block-YAML path (`super::pipeline::run_parts`, `super::Accumulated`). The
//! output is the same, byte for byte, as the tree path's, and it is released only after
//! the MAC and the integrity record were verified.
//!
//! Declined (to the tree path): a layout the planner does not take (not indented as sops
//! writes JSON, a root that is not an object, `sops` not the last root member, a
//! byte-order mark), any part the reader does not take, a `sops` member elsewhere,
//! duplicate keys at the root or in the big member, a signature to check, `--ignore-mac`
//! and anything the caller leaves out (`--extract`, another output format).

mod direct;
pub(super) mod jump;
mod overlap;
mod planned;
mod reseal;
pub(in crate::stream) mod scalars;
pub(super) mod split;

pub(in crate::stream) use direct::Leaves;
pub(super) use overlap::Publisher;
pub(in crate::stream) use overlap::plan_feeding;
pub(in crate::stream) use overlap::tail_meta;
pub(in crate::stream) use reseal::Resealed;
pub(in crate::stream) use reseal::reseal_part;

use crate::metadata::names::names_the_metadata;
use std::collections::HashSet;

use super::Accumulated;
use super::Outcome;
use super::PartOut;
use super::Shape;
use super::Source;
use crate::crypto::DataKey;
use crate::crypto::document;
use crate::crypto::document::DocumentError;
use crate::crypto::integrity;
use crate::crypto::mac::MacHasher;
use crate::crypto::value::ValueCipher;
use crate::error::Error;
use crate::format::EmitOptions;
use crate::format::json::emit::SecureBuf;
use crate::format::json::emit::Writer;
use crate::format::json::emit::estimate_items;
use crate::format::json::emit::indent_unit;
use crate::format::json::emit::with_slack;
use crate::format::json::parse_object_one_thread;
use crate::keys::KeyContext;
use crate::metadata::Metadata;
use crate::ops;
use crate::ops::OpenOptions;
use crate::tree::Document;
use crate::tree::Item;
use crate::tree::Map;
use crate::tree::Value;
use crate::walk::Selector;

use split::Part;

impl Shape for Part {
    fn opens_entry(&self) -> bool {
        matches!(self, Part::Sub { first: true, .. })
    }

    fn closes_entry(&self) -> bool {
        matches!(self, Part::Sub { last: true, .. })
    }

    fn text_len(&self) -> usize {
        self.body().len()
    }
}

/// Decrypts an encrypted JSON file (JSON output) by streaming, or declines (see the
/// module docs). `needs_tree` says whether the file's metadata asks for a check that
/// needs the whole encrypted tree (a file signature).
pub fn decrypt_json(
    input: &[u8],
    ctx: &KeyContext,
    opts: &OpenOptions,
    emit: &EmitOptions,
    needs_tree: &dyn Fn(&Metadata) -> bool,
) -> Result<Outcome, Error> {
    if opts.ignore_mac {
        return Ok(Outcome::Declined(None));
    }
    let threads = super::threads();
    let target = super::part_target(ctx, input.len(), threads);
    let Some(plan) = split::plan(input, target) else {
        return Ok(Outcome::Declined(None));
    };
    let big_key = plan.big_key.as_ref().map(|r| input[r.clone()].to_vec());
    let meta = input[plan.meta.clone()].to_vec();
    let run = Run {
        src: Source::Mem(input),
        parts: &plan.parts,
        len: input.len(),
        threads,
        ahead: super::Ahead::new(None),
    };
    decrypt_planned(
        &run,
        big_key.as_deref(),
        &meta,
        None,
        ctx,
        opts,
        emit,
        needs_tree,
    )
}

/// [`decrypt_json`] reading the encrypted file from `file` in blocks, never whole (as
/// [`super::decrypt_yaml_file`]): the planner sees its lines one block at a time, and
/// each part is read again by the worker that works on it. Whatever it declines is read
/// whole by the caller, which then takes the tree path (conflict markers are found
/// there: a marker line is never part of a member the part reader accepts, nor of the
/// metadata).
pub fn decrypt_json_file(
    file: &std::fs::File,
    ctx: &KeyContext,
    opts: &OpenOptions,
    emit: &EmitOptions,
    needs_tree: &dyn Fn(&Metadata) -> bool,
) -> Result<Outcome, Error> {
    decrypt_overlapped(file, ctx, opts, emit, needs_tree, &|| ())
}

/// [`decrypt_json_file`]: planned while its first parts are decrypted when its metadata
/// can be read from its tail first (module `overlap`), else planned first. `before_plan`
/// is called once the data key was recovered, before the planner starts (tests: the file
/// changed in between).
fn decrypt_overlapped(
    file: &std::fs::File,
    ctx: &KeyContext,
    opts: &OpenOptions,
    emit: &EmitOptions,
    needs_tree: &dyn Fn(&Metadata) -> bool,
    before_plan: &dyn Fn(),
) -> Result<Outcome, Error> {
    if opts.ignore_mac {
        return Ok(Outcome::Declined(None));
    }
    let Some(before) = super::blocks::Stamp::of(file) else {
        return Ok(Outcome::Declined(None));
    };
    let ahead = super::pool::touch_ahead(usize::try_from(before.len).unwrap_or(0));
    let args = super::blocks::Args {
        file,
        skip: 0,
        ctx,
        opts,
        emit,
        needs_tree,
    };
    let known = match overlap::decrypt(&args, &before, &ahead, before_plan)? {
        super::overlap::Overlapped::Done(outcome) => return Ok(outcome),
        super::overlap::Overlapped::Rerun(known) => known,
    };
    planned::planned(&args, &before, ahead, &|| (), known)
}

/// A planned document: where it is and how it is cut.
struct Run<'a> {
    src: Source<'a>,
    /// The parts: a plan's, or those of a plan still being made (`overlap`).
    parts: &'a dyn super::pipeline::Parts<Part>,
    /// The length of the encrypted text.
    len: usize,
    threads: usize,
    /// Memory for the output, touched ahead (`pool::touch_ahead`).
    ahead: super::Ahead,
}

/// Decrypts a planned document, given the text of its big member's key (when one is cut
/// into parts) and of its metadata member.
#[allow(clippy::too_many_arguments)]
fn decrypt_planned(
    run: &Run<'_>,
    big_key: Option<&[u8]>,
    meta_text: &[u8],
    key: Option<(DataKey, Vec<String>)>,
    ctx: &KeyContext,
    opts: &OpenOptions,
    emit: &EmitOptions,
    needs_tree: &dyn Fn(&Metadata) -> bool,
) -> Result<Outcome, Error> {
    let Ok(unit) = indent_unit(emit) else {
        return Ok(Outcome::Declined(None));
    };
    let threads = run.threads;
    let big_key = match big_key {
        // A second `sops` member (the last one is the metadata), or one that names it in
        // another case (`SOPS`), is the tree path's to judge.
        Some(t) => match read_key(t) {
            Some(k) if !names_the_metadata(&k) => Some(k),
            _ => return Ok(Outcome::Declined(None)),
        },
        None => None,
    };
    let Some(meta) = read_meta(meta_text) else {
        return Ok(Outcome::Declined(None));
    };
    let sel = meta.selector();
    if needs_tree(&meta) || sel.is_comment_based() {
        return Ok(Outcome::Declined(None));
    }
    // As for YAML: a key that cannot be recovered is reported by the tree path.
    let recovered = match key {
        Some(k) => Ok(k),
        None => ops::recover_key_with_source(&meta, ctx, &opts.order),
    };
    let Ok((key, unwrapped_by)) = recovered else {
        return Ok(Outcome::Declined(None));
    };
    let pools = super::Pools::new(threads);
    let job = Job {
        src: run.src,
        pools: &pools,
        cipher: ValueCipher::new(&key),
        sel: &sel,
        mac_only_encrypted: meta.mac_only_encrypted,
        unit: &unit,
        big_key: big_key.as_deref(),
        direct: DirectMode::from_ctx(ctx),
    };
    let mut acc = Accumulated {
        mac: MacHasher::new(meta.mac_only_encrypted),
        record: integrity::Streamed::verifier(
            &key,
            &meta.integrity_binding(),
            meta.integrity.as_deref(),
        ),
        out: SecureBuf::with_capacity(0),
        input_len: run.len,
        sample: 0,
        clear_comments: 0,
        first_error: None,
        ahead: run.ahead.take(),
    };
    // The metadata member's key is taken: a root member that names it in a part (a second
    // `sops` member, or `SOPS`, which sops reads as the metadata too) is the tree path's
    // to judge.
    let mut root_keys: HashSet<String> = HashSet::from(["sops".to_owned()]);
    let mut big_keys: HashSet<String> = HashSet::new();
    let work = |p: &Part, scratch: &mut Vec<u8>| work(&job, p, scratch);
    let fold = &mut |p: &Part, (r, keys): (PartOut, Vec<String>)| {
        let seen = match p {
            Part::Top { .. } => &mut root_keys,
            Part::Sub { .. } => &mut big_keys,
        };
        for k in keys {
            let root = matches!(p, Part::Top { .. });
            if (root && names_the_metadata(&k)) || !seen.insert(k) {
                return false;
            }
        }
        acc.take(p, r, &pools)
    };
    let lost = || (PartOut::Failed(DocumentError::Worker), Vec::new());
    if !super::pipeline::run_fed(run.parts, threads, &work, fold, lost)
        || !run.parts.complete()
        || big_key.as_deref().is_some_and(|k| root_keys.contains(k))
    {
        return Ok(Outcome::Declined(Some((key, unwrapped_by))));
    }
    acc.out.push(b"\n}\n");
    super::finish(acc, &meta, &key, unwrapped_by, opts, ctx)
}

/// The key of the big member from its text before the `{` (`"key":`).
fn read_key(text: &[u8]) -> Option<String> {
    let mut t = Vec::with_capacity(text.len() + 6);
    t.push(b'{');
    t.extend_from_slice(text);
    t.extend_from_slice(b"null}");
    let map = parse_object_one_thread(&t).ok()?;
    match map.0.as_slice() {
        [Item::Entry(k, Value::Null)] => Some(k.clone()),
        _ => None,
    }
}

/// The `sops` metadata from the text of the last root member, or `None` when the tree
/// path should judge it.
pub(super) fn read_meta(text: &[u8]) -> Option<Metadata> {
    let map = parse_object_one_thread(&wrap(b"{", text, b"}")).ok()?;
    let mut items = map.0.into_iter();
    let (Some(Item::Entry(k, Value::Map(m))), None) = (items.next(), items.next()) else {
        return None;
    };
    if k != "sops" || crate::format::json::duplicate_key(&m).is_some() {
        return None;
    }
    super::block_metadata(crate::format::Format::Json, m).map(|(meta, _)| meta)
}

/// `open` + `body` + `close` in one buffer (encrypted text only).
fn wrap(open: &[u8], body: &[u8], close: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(open.len() + body.len() + close.len());
    t.extend_from_slice(open);
    t.extend_from_slice(body);
    t.extend_from_slice(close);
    t
}

/// The direct path's setting ([`super::DIRECT_ENV`]: `never` reads every part as a
/// tree; `require` declines a file with any part the direct path does not take;
/// otherwise parts laid out as the writer lays them out are written directly, module
/// `direct`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum DirectMode {
    Never,
    On,
    Require,
}

impl DirectMode {
    fn from_ctx(ctx: &KeyContext) -> DirectMode {
        match ctx
            .var(super::DIRECT_ENV)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("never" | "0" | "off") => DirectMode::Never,
            Some("require") => DirectMode::Require,
            _ => DirectMode::On,
        }
    }
}

/// What every part needs.
struct Job<'a> {
    src: Source<'a>,
    cipher: ValueCipher,
    sel: &'a Selector,
    mac_only_encrypted: bool,
    unit: &'a [u8],
    big_key: Option<&'a str>,
    direct: DirectMode,
    /// Buffers recycled from part to part.
    pools: &'a super::Pools,
}

/// Reads, decrypts and writes one part; also hands back the keys of its members (for the
/// duplicate check across parts).
fn work(job: &Job<'_>, part: &Part, scratch: &mut Vec<u8>) -> (PartOut, Vec<String>) {
    let body = match job.src {
        Source::Mem(src) => &src[part.body()],
        Source::File { file, skip } => {
            match super::blocks::read_joined(file, skip, None, part.body(), scratch) {
                Ok(t) => t,
                Err(_) => return (PartOut::Decline, Vec::new()),
            }
        }
    };
    if job.direct != DirectMode::Never {
        match write_direct(job, part, body) {
            Some(done) => return done,
            None if job.direct == DirectMode::Require => return (PartOut::Decline, Vec::new()),
            None => {}
        }
    }
    let read = match part {
        Part::Top { .. } => parse_object_one_thread(&wrap(b"{", body, b"}")),
        // At the member's own depth, so that the nesting limit is the tree path's.
        Part::Sub { .. } => {
            parse_object_one_thread(&wrap(b"{\"\":{", body, b"}}")).map(|mut m| match m.0.pop() {
                Some(Item::Entry(_, Value::Map(inner))) if m.0.is_empty() => inner,
                _ => Map::new(),
            })
        }
    };
    let Ok(map) = read else {
        return (PartOut::Decline, Vec::new());
    };
    // Every part holds members (an empty one would be `,,` or `{,`).
    if map.0.is_empty() {
        return (PartOut::Decline, Vec::new());
    }
    let keys: Vec<String> = map
        .0
        .iter()
        .filter_map(|i| match i {
            Item::Entry(k, _) => Some(k.clone()),
            Item::Comment(_) => None,
        })
        .collect();
    let tokens = integrity::entry_tokens(&map, job.mac_only_encrypted);
    let (root, entry_key) = match part {
        Part::Top { .. } => {
            if map.get("sops").is_some() {
                return (PartOut::Decline, Vec::new());
            }
            (map, None)
        }
        Part::Sub { .. } => {
            let Some(k) = job.big_key else {
                return (PartOut::Decline, Vec::new());
            };
            let mut root = Map::new();
            root.0.push(Item::Entry(k.to_string(), Value::Map(map)));
            (root, Some(k.to_string()))
        }
    };
    let mut doc = Document {
        branches: vec![root],
    };
    let dec = match document::decrypt_part(&mut doc, &job.cipher, job.sel, job.mac_only_encrypted) {
        Ok(d) => d,
        Err(e) => {
            doc.wipe_in_place();
            return (PartOut::Failed(e), keys);
        }
    };
    let out = write(job, part, &doc);
    doc.wipe_in_place();
    drop(doc);
    let Some(out) = out else {
        return (PartOut::Decline, Vec::new());
    };
    (
        PartOut::Done {
            out,
            skip: 0,
            tokens,
            mac_input: dec.mac_input,
            clear_comments: dec.clear_comments,
            entry_key,
            pooled: false,
        },
        keys,
    )
}

/// The direct path (module `direct`) on one part, or `None` when the part is to be read
/// as a tree.
fn write_direct(job: &Job<'_>, part: &Part, body: &[u8]) -> Option<(PartOut, Vec<String>)> {
    let leaves = direct::Leaves {
        cipher: &job.cipher,
        sel: job.sel,
        mac_only_encrypted: job.mac_only_encrypted,
        unit: job.unit,
        pools: job.pools,
    };
    // The plaintext is shorter than its `ENC[…]` text, escapes aside.
    let out = SecureBuf::reusing(job.pools.out.take(body.len() / 2 + 256));
    let (done, entry_key, out) = reseal::direct_part(part, body, job.big_key, &leaves, out, None)?;
    Some((
        PartOut::Done {
            out: out.finish(),
            skip: 0,
            tokens: done.tokens,
            mac_input: done.mac_input,
            clear_comments: 0,
            entry_key,
            pooled: true,
        },
        done.keys,
    ))
}

/// Writes a decrypted part as the JSON store's writer writes those members in the whole
/// document: the root's `{` before the first, the big member's key and brackets around
/// its parts; the root's closing `}` is added after the last part.
fn write(job: &Job<'_>, part: &Part, doc: &Document) -> Option<crate::format::Output> {
    let root = doc.branches.first()?;
    let unit = job.unit;
    match part {
        Part::Top { first, .. } => {
            let est = with_slack(estimate_items(&root.0, 1, unit.len()));
            let mut w = Writer::new(
                SecureBuf::with_capacity_hint(est.saturating_add(1)),
                unit,
                0,
            );
            if *first {
                w.out.byte(b'{');
            }
            w.map_members(&root.0, None, *first, false).ok()?;
            Some(w.out.finish())
        }
        Part::Sub {
            first,
            last,
            after_members,
            ..
        } => {
            let [Item::Entry(k, Value::Map(inner))] = root.0.as_slice() else {
                return None;
            };
            let est = with_slack(estimate_items(&inner.0, 2, unit.len()));
            let mut w = Writer::new(
                SecureBuf::with_capacity_hint(est.saturating_add(k.len() + 16)),
                unit,
                0,
            );
            if *first {
                if *after_members {
                    w.out.byte(b',');
                } else {
                    w.out.byte(b'{');
                }
                w.newline_at(1);
                w.key(k);
                w.out.byte(b'{');
            }
            w.base_depth = 1;
            w.map_members(&inner.0, None, *first, false).ok()?;
            if *last {
                w.newline_at(1);
                w.out.byte(b'}');
            }
            Some(w.out.finish())
        }
    }
}

#[cfg(test)]
#[path = "json_changed_tests.rs"]
mod changed_tests;
