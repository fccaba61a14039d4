//! Streaming decryption of large block-YAML files: the encrypted text is cut into parts
//! (`split`), each part is read, decrypted and written on its own (on all cores), and the
//! MAC and the integrity record are computed over the parts in document order, so that
//! the whole tree is never built. The output is the same, byte for byte, as reading the
//! whole tree and writing it ([`crate::ops::open_for_reading`] then the YAML store's
//! `emit`), and it is released only after the MAC and the record were verified: the
//! parts are joined in one buffer in memory, which is written only then.
//!
//! Whatever the part reader cannot take (text outside the fast reader's block subset, a
//! document the planner declines, a signature to check, a comment-based selector,
//! `--ignore-mac`) is handed back as [`Outcome::Declined`], and the caller reads the whole
//! tree as before, so that every error and exit code stays what it was.
//!
//! Large JSON files take the same way through [`decrypt_json`] (module `json`): the part
//! pipeline (`run_parts`), the in-order fold and the verification (`finish`) are
//! shared; only the planner and the part reader/writer are the format's own.

mod blocks;
#[cfg(test)]
mod changed_tests;
mod edit;
mod encrypt;
mod fold;
mod json;
mod overlap;
mod pipeline;
mod pool;
mod splice;
mod split;
mod yaml_direct;
mod yaml_lines;

use std::borrow::Cow;

use crate::crypto::DataKey;
use crate::crypto::document;
use crate::crypto::document::DocumentError;
use crate::crypto::integrity;
use crate::crypto::mac::MacHasher;
use crate::crypto::value::ValueCipher;
use crate::error::Error;
use crate::format::EmitOptions;
use crate::format::Loaded;
use crate::format::Output;
use crate::format::Store;
use crate::format::yaml::YamlStore;
use crate::keys::KeyContext;
use crate::metadata::Metadata;
use crate::ops;
use crate::ops::OpenOptions;
use crate::secbuf::SecureBuf;
use crate::tree::Document;
use crate::tree::Item;
use crate::tree::Value;
use crate::walk::Selector;

use fold::Accumulated;
use fold::PartOut;
use fold::Shape;
use pool::Ahead;
use pool::Pools;
use split::Part;

pub use blocks::BLOCK_ENV;
pub use blocks::decrypt_yaml_file;

pub use json::decrypt_json;
pub use yaml_direct::DIRECT_ENV;

pub use edit::EditInput;
pub use edit::EditOpen;
pub use edit::EditSession;
pub use edit::FileSeal;
pub use edit::open_yaml_for_edit;
pub use encrypt::Prepare;
pub use encrypt::Prepared;
pub use encrypt::PreparedRotate;
pub use encrypt::RecoveredKey;
pub use encrypt::RotateOutcome;
pub use encrypt::RotatePrepare;
pub use encrypt::Rotated;
pub use encrypt::prepare_encrypt;
pub use encrypt::prepare_rotate;
pub use encrypt::prepare_rotate_file;
pub use json::decrypt_json_file;
pub use splice::Change;
pub use splice::SPLICE_ENV;
pub use splice::Splice;
pub use splice::SpliceOutcome;
pub use splice::declined_error as splice_declined_error;
pub use splice::splice_yaml;
pub use splice::wanted as splice_wanted;

/// The environment variable that chooses the path: `always` streams any file the
/// planner accepts, `never` always reads the whole tree; unset, files from
/// [`AUTO_MIN`] bytes are streamed. (For tests and comparisons.)
pub const STREAM_ENV: &str = "LEAFSEAL_STREAM";

/// The environment variable that sets the part size in bytes (tests: many parts in a
/// small file).
pub const PART_ENV: &str = "LEAFSEAL_STREAM_PART";

/// The smallest input streamed by default: below it the tree path is as fast. The same
/// size turns the process's huge pages on (`crate::process`).
pub const AUTO_MIN: usize = crate::process::LARGE_INPUT as usize;

/// A file decrypted by streaming.
#[derive(Debug)]
pub struct Streamed {
    /// The plaintext output (MAC and integrity record verified).
    pub out: Output,
    /// Non-fatal notes, as [`ops::Opened::warnings`].
    pub warnings: Vec<String>,
    /// The master key(s) that unwrapped the data key (`kind id`).
    pub unwrapped_by: Vec<String>,
}

/// What streaming did.
#[derive(Debug)]
pub enum Outcome {
    /// The file was decrypted.
    Done(Streamed),
    /// The file must be read as a whole tree; the data key, when it was already
    /// recovered (with the keys that unwrapped it), so that it is not unwrapped twice.
    Declined(Option<(DataKey, Vec<String>)>),
}

/// Whether a file of `len` bytes is streamed under the environment's setting.
pub fn wanted(ctx: &KeyContext, len: usize) -> bool {
    match ctx.var(STREAM_ENV).map(str::to_ascii_lowercase).as_deref() {
        Some("never" | "0" | "off") => false,
        Some("always" | "1" | "on" | "require") => true,
        _ => len >= AUTO_MIN,
    }
}

/// The error for a file the streaming path handed back under `LEAFSEAL_STREAM=require`
/// (a diagnostic setting for tests and benchmarks: it shows that a file is streamed), or
/// `None` under any other setting.
pub fn declined_error(ctx: &KeyContext) -> Option<Error> {
    ctx.var(STREAM_ENV)
        .is_some_and(|v| v.eq_ignore_ascii_case("require"))
        .then(|| {
            Error::new(
                crate::error::exit::GENERIC,
                "the file cannot be read and written part by part (LEAFSEAL_STREAM=require: the streaming path declined it)",
            )
            .hint("unset LEAFSEAL_STREAM to read it as a whole tree")
        })
}

/// Decrypts an encrypted YAML file by streaming, or declines (see the module docs).
/// `needs_tree` says whether the file's metadata asks for a check that needs the whole
/// encrypted tree (a file signature).
pub fn decrypt_yaml(
    input: &[u8],
    ctx: &KeyContext,
    opts: &OpenOptions,
    emit: &EmitOptions,
    needs_tree: &dyn Fn(&Metadata) -> bool,
) -> Result<Outcome, Error> {
    if opts.ignore_mac {
        return Ok(Outcome::Declined(None));
    }
    let body = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let threads = threads();
    let Some(plan) = split::plan(body, part_target(ctx, body.len(), threads)) else {
        return Ok(Outcome::Declined(None));
    };
    let Some(meta) = read_meta(&body[plan.meta.clone()]) else {
        return Ok(Outcome::Declined(None));
    };
    let run = Run {
        src: Source::Mem(body),
        parts: &plan.parts,
        len: body.len(),
        threads,
        unchanged: None,
        ahead: Ahead::new(None),
    };
    decrypt_planned(&run, meta, None, ctx, opts, emit, needs_tree)
}

/// How many parts are decrypted at once.
fn threads() -> usize {
    crate::io::cores().min(8)
}

/// The part size: `LEAFSEAL_STREAM_PART`, else about 1/80 of the input per core (at
/// least 256 KiB).
fn part_target(ctx: &KeyContext, len: usize, threads: usize) -> usize {
    ctx.var(PART_ENV)
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or_else(|| (len / (threads * 80)).max(256 * 1024))
}

/// Where the encrypted text is.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// In memory (without its byte-order mark).
    Mem(&'a [u8]),
    /// In a file, after `skip` bytes (a byte-order mark): each part is read on its own.
    File {
        file: &'a std::fs::File,
        skip: usize,
    },
}

/// A planned document: where it is and how it is cut.
struct Run<'a> {
    src: Source<'a>,
    /// The parts: a plan's, or those of a plan still being made (`overlap`).
    parts: &'a dyn pipeline::Parts<Part>,
    /// The length of the encrypted text (without a byte-order mark).
    len: usize,
    threads: usize,
    /// For a file read twice (planned, then read in parts): whether it is still the
    /// file that was planned, asked once every part was read; when not, the whole file
    /// is read again as a tree.
    unchanged: Option<&'a dyn Fn() -> bool>,
    /// Memory for the output, touched ahead ([`pool::touch_ahead`]).
    ahead: Ahead,
}

/// Decrypts the planned document whose metadata was read (`key`: its data key, when it
/// was recovered already).
fn decrypt_planned(
    run: &Run<'_>,
    meta: Metadata,
    key: Option<(DataKey, Vec<String>)>,
    ctx: &KeyContext,
    opts: &OpenOptions,
    emit: &EmitOptions,
    needs_tree: &dyn Fn(&Metadata) -> bool,
) -> Result<Outcome, Error> {
    let sel = meta.selector();
    if needs_tree(&meta) || sel.is_comment_based() {
        return Ok(Outcome::Declined(None));
    }
    // A key that cannot be recovered is reported by the tree path, after it has read the
    // whole file, so that a damaged file still gets its parse error first.
    let recovered = match key {
        Some(k) => Ok(k),
        None => ops::recover_key_with_source(&meta, ctx, &opts.order),
    };
    let Ok((key, unwrapped_by)) = recovered else {
        return Ok(Outcome::Declined(None));
    };
    let pools = Pools::new(run.threads);
    let job = Job {
        src: run.src,
        cipher: ValueCipher::new(&key),
        sel: &sel,
        mac_only_encrypted: meta.mac_only_encrypted,
        emit,
        pools: &pools,
    };
    let direct = yaml_direct::Setting {
        indent: crate::format::yaml::emit_indent(emit),
        mode: yaml_direct::Mode::from_env(ctx.var(DIRECT_ENV)),
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
    let work = |p: &Part, scratch: &mut Vec<u8>| work(&job, &direct, p, scratch);
    let fold = &mut |p: &Part, r: PartOut| acc.take(p, r, &pools);
    if !pipeline::run_fed(run.parts, run.threads, &work, fold, || {
        PartOut::Failed(DocumentError::Worker)
    }) || !run.parts.complete()
    {
        return Ok(Outcome::Declined(Some((key, unwrapped_by))));
    }
    if run.unchanged.is_some_and(|same| !same()) {
        // The data key came from metadata that may not be the file's any more.
        return Ok(Outcome::Declined(None));
    }
    finish(acc, &meta, &key, unwrapped_by, opts, ctx)
}

/// Verifies the MAC and the integrity record of a file whose parts were all folded, and
/// hands back its output (or the first decryption error).
fn finish(
    acc: Accumulated,
    meta: &Metadata,
    key: &DataKey,
    unwrapped_by: Vec<String>,
    opts: &OpenOptions,
    ctx: &KeyContext,
) -> Result<Outcome, Error> {
    if let Some(e) = acc.first_error {
        let wrong_key = ops::wrong_key_symptom(&e);
        let err = ops::decrypt_error(e);
        return Err(if wrong_key {
            ops::blame_key_service(err, meta, ctx)
        } else {
            err
        });
    }
    let mut warnings = Vec::new();
    if acc.clear_comments > 0 {
        warnings.push(format!(
            "{} comment(s) that should be encrypted were stored in clear and were kept as they are",
            acc.clear_comments
        ));
    }
    ops::verify_mac(meta, key, &acc.mac.finish())
        .map_err(|e| ops::blame_key_service(e, meta, ctx))?;
    let status = acc
        .record
        .verify(meta.integrity.as_deref(), &meta.integrity_binding());
    let strict = opts.strict_integrity || ops::env_flag(ctx.var(ops::STRICT_INTEGRITY_ENV));
    ops::judge_integrity(status, strict, &mut warnings)?;
    Ok(Outcome::Done(Streamed {
        out: acc.out.finish(),
        warnings,
        unwrapped_by,
    }))
}

/// The `sops` metadata of the file, or `None` when the tree path should judge it.
fn read_meta(text: &[u8]) -> Option<Metadata> {
    let mut branches = crate::format::yaml::load_fast_encrypted(text)?;
    let [root] = branches.as_mut_slice() else {
        return None;
    };
    let Some(Value::Map(m)) = root.remove("sops") else {
        return None;
    };
    block_metadata(crate::format::Format::Yaml, m).map(|(meta, _)| meta)
}

/// The metadata of a file's `sops` block `m` as the streaming paths take it, and the
/// block back: `None` (the whole-file path's to judge, and refuse) when its stored
/// `version` is one that path refuses, or the metadata does not read. Field names are
/// matched as the format's store matches them ([`crate::metadata::names`]).
pub(super) fn block_metadata(
    format: crate::format::Format,
    m: crate::tree::Map,
) -> Option<(Metadata, crate::tree::Map)> {
    // Field names as the tree path's store reads them (`Version` in JSON is `version`);
    // a block it would refuse goes to the tree path for its error.
    let rule = crate::metadata::names::FieldNames::of(format);
    let m = crate::metadata::names::canonical(m, rule).ok()?;
    ops::check_stored_version(format, &m).ok()?;
    let loaded = Loaded {
        doc: Document::default(),
        meta: Some(m),
    };
    let meta = ops::metadata_of(&loaded).ok()?;
    Some((meta, loaded.meta?))
}

/// What every part needs.
struct Job<'a> {
    src: Source<'a>,
    cipher: ValueCipher,
    sel: &'a Selector,
    mac_only_encrypted: bool,
    emit: &'a EmitOptions,
    /// Buffers recycled from part to part.
    pools: &'a Pools,
}

/// Reads, decrypts and writes one part (`scratch`: a buffer for its encrypted text).
fn work(
    job: &Job<'_>,
    direct: &yaml_direct::Setting,
    part: &Part,
    scratch: &mut Vec<u8>,
) -> PartOut {
    let text: Cow<'_, [u8]> = match (job.src, part) {
        (Source::Mem(src), Part::Top(r)) => Cow::Borrowed(&src[r.clone()]),
        (
            Source::Mem(src),
            Part::Sub {
                body, first: true, ..
            },
        ) => Cow::Borrowed(&src[body.clone()]),
        (Source::Mem(src), Part::Sub { header, body, .. }) => {
            let mut t = Vec::with_capacity(header.len() + 1 + body.len());
            t.extend_from_slice(&src[header.clone()]);
            t.push(b'\n');
            t.extend_from_slice(&src[body.clone()]);
            Cow::Owned(t)
        }
        (Source::File { file, skip }, part) => {
            let read = match part {
                Part::Top(r)
                | Part::Sub {
                    body: r,
                    first: true,
                    ..
                } => blocks::read_joined(file, skip, None, r.clone(), scratch),
                Part::Sub { header, body, .. } => {
                    blocks::read_joined(file, skip, Some(header.clone()), body.clone(), scratch)
                }
            };
            match read {
                Ok(t) => Cow::Borrowed(t),
                Err(_) => return PartOut::Decline,
            }
        }
    };
    if direct.mode != yaml_direct::Mode::Never {
        let shape = match part {
            Part::Top(_) => yaml_direct::Shape::Top,
            Part::Sub { first, .. } => yaml_direct::Shape::Sub { first: *first },
        };
        match yaml_direct::part(job, direct.indent, &text, shape) {
            Some(done) => return done,
            None if direct.mode == yaml_direct::Mode::Require => return PartOut::Decline,
            None => {}
        }
    }
    let Some(mut branches) = crate::format::yaml::load_fast_encrypted(&text) else {
        return PartOut::Decline;
    };
    drop(text);
    let (Some(root), true) = (branches.pop(), branches.is_empty()) else {
        return PartOut::Decline;
    };
    if root.get("sops").is_some() {
        return PartOut::Decline;
    }
    let (tokens, entry_key) = match part {
        Part::Top(_) => (integrity::entry_tokens(&root, job.mac_only_encrypted), None),
        Part::Sub { .. } => {
            let mut entries = root.0.iter().filter_map(|i| match i {
                Item::Entry(k, v) => Some((k, v)),
                Item::Comment(_) => None,
            });
            let (Some((k, Value::Map(inner))), None) = (entries.next(), entries.next()) else {
                return PartOut::Decline;
            };
            (
                integrity::entry_tokens(inner, job.mac_only_encrypted),
                Some(k.to_string()),
            )
        }
    };
    let mut doc = Document {
        branches: vec![root],
    };
    let dec = match document::decrypt_part(&mut doc, &job.cipher, job.sel, job.mac_only_encrypted) {
        Ok(d) => d,
        Err(e) => {
            doc.wipe_in_place();
            return PartOut::Failed(e);
        }
    };
    let out = YamlStore.emit(&doc, None, job.emit);
    doc.wipe_in_place();
    drop(doc);
    let Ok(out) = out else {
        return PartOut::Decline;
    };
    let mut skip = 0;
    if let Part::Sub { first: false, .. } = part {
        // The header line was read only to give the entries their place.
        let Some(nl) = out.iter().position(|&b| b == b'\n') else {
            return PartOut::Decline;
        };
        if out.first().is_none_or(|&b| b == b' ' || b == b'#') {
            return PartOut::Decline;
        }
        skip = nl + 1;
    }
    PartOut::Done {
        out,
        skip,
        tokens,
        mac_input: dec.mac_input,
        clear_comments: dec.clear_comments,
        entry_key,
        pooled: false,
    }
}
