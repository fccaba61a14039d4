//! Streaming encryption of large block-YAML and JSON plaintext files: the plaintext is
//! cut into parts by the same planners as the streaming decrypt (`split`,
//! `json::split`, in their plaintext mode), and the parts go twice through the part
//! pipeline (`pipeline::run_parts`):
//!
//! 1. **The MAC pass.** Workers read each part and hand back its MAC input (the plaintext
//!    leaves in walk order, exactly what the whole tree's walk would hash); the calling
//!    thread hashes them in document order. A part the reader declines (or duplicate
//!    keys across JSON parts) sends the file to the tree path before anything was
//!    encrypted or written, so that every error of an unusual file is the tree path's.
//!    A JSON file is planned on a thread of its own while this pass already reads the
//!    parts settled so far (`json_overlap`).
//! 2. **The writing pass**, once the data key is wrapped and the MAC sealed (every
//!    decline was decided by the first pass, so nothing written is taken back): workers
//!    read each part again, encrypt it (fresh nonces, AAD = the full key path), compute
//!    its integrity tokens and write it with the format's emitter; the calling thread
//!    feeds the tokens into the record and hands each part's text to the output in
//!    document order, while the workers go on with the next parts. The metadata block
//!    follows the last part.
//!
//! The encrypted text holds no plaintext, so it can be written as it is produced: the
//! process never holds the whole output, the encrypted tree or the plaintext tree. After
//! the first pass nothing but a failing random generator or a failing output can stop
//! the second, and the caller writes files through a temporary file that is renamed
//! only at the end.

use std::collections::HashSet;

use zeroize::Zeroizing;

use super::Shape;
use super::pipeline::Parts;
use super::pipeline::run_fed;
use super::pipeline::run_parts;
use super::pool::Pools;
use super::yaml_direct::Mode;
use crate::crypto::DataKey;
use crate::crypto::document;
use crate::crypto::document::DocumentError;
use crate::crypto::document::Sealer;
use crate::crypto::integrity;
use crate::crypto::mac::MacHasher;
use crate::crypto::value::ValueCipher;
use crate::error::Error;
use crate::error::exit;
use crate::format::EmitOptions;
use crate::format::Format;
use crate::format::Output;
use crate::keys::KeyContext;
use crate::metadata::Metadata;
use crate::ops;
use crate::ops::SealPlan;
use crate::tree::Document;
use crate::tree::Item;
use crate::tree::Map;
use crate::tree::Value;
use crate::walk::Selector;

mod direct;
mod json_direct;
mod json_overlap;
mod layout;
mod rotate;
#[cfg(test)]
mod test_support;

pub use rotate::PreparedRotate;
pub use rotate::RecoveredKey;
pub use rotate::RotateOutcome;
pub use rotate::RotatePrepare;
pub use rotate::Rotated;
pub use rotate::prepare_rotate;
pub use rotate::prepare_rotate_file;

use super::json::split::Part as JsonPart;
use layout::JsonLayout;
use layout::Layout;
use layout::YamlLayout;

/// A plaintext file whose MAC pass is done and whose data key is wrapped: ready to be
/// written ([`Prepared::write`]).
pub struct Prepared<'a> {
    layout: Layouts<'a>,
    key: DataKey,
    meta: Metadata,
    sel: Selector,
    threads: usize,
    /// Whether parts are read without a tree first (`LEAFSEAL_STREAM_DIRECT`).
    mode: Mode,
}

/// The planned text, by format.
enum Layouts<'a> {
    Yaml(YamlLayout<'a>),
    Json(JsonLayout<'a>),
}

/// What [`prepare_encrypt`] did.
pub enum Prepare<'a> {
    /// Ready to write.
    Ready(Box<Prepared<'a>>),
    /// The file must be encrypted as a whole tree (nothing was done).
    Declined,
}

/// Plans a plaintext file (YAML or JSON in and out, the same format), runs the MAC pass
/// and wraps a new data key for `plan`'s keys; [`Prepare::Declined`] when the file must
/// take the tree path (see the module docs). `input` is the whole plaintext.
pub fn prepare_encrypt<'a>(
    input: &'a [u8],
    format: Format,
    plan: &SealPlan,
    ctx: &KeyContext,
    emit: &'a EmitOptions,
) -> Result<Prepare<'a>, Error> {
    let sel = plan.selector.clone().unwrap_or_default();
    if plan.binary || sel.is_comment_based() || input.starts_with(b"\xEF\xBB\xBF") {
        return Ok(Prepare::Declined);
    }
    let threads = super::threads();
    let target = super::part_target(ctx, input.len(), threads);
    let mode = Mode::from_env(ctx.var(super::DIRECT_ENV));
    let moe = plan.mac_only_encrypted;
    let (layout, mac) = match format {
        Format::Yaml => match YamlLayout::plan(input, target, emit) {
            Some(l) => {
                let mac = mac_pass(&l, l.parts(), &sel, moe, threads.min(l.parts().len()), mode);
                (Layouts::Yaml(l), mac)
            }
            None => return Ok(Prepare::Declined),
        },
        // Planned on a thread of its own while the MAC pass reads the parts settled.
        Format::Json => {
            let pass = |l: &JsonLayout<'_>, parts: &dyn Parts<JsonPart>| {
                mac_pass(l, parts, &sel, moe, threads, mode)
            };
            match json_overlap::plan_with_mac(input, target, emit, &pass) {
                Some((l, mac)) => (Layouts::Json(l), mac),
                None => return Ok(Prepare::Declined),
            }
        }
        _ => return Ok(Prepare::Declined),
    };
    let Some(mac) = mac else {
        return Ok(Prepare::Declined);
    };
    let (key, mut meta) = ops::new_sealing(plan, ctx)?;
    ops::seal_mac_now(&mut meta, &key, &mac)?;
    Ok(Prepare::Ready(Box::new(Prepared {
        layout,
        key,
        meta,
        sel,
        threads,
        mode,
    })))
}

impl Prepared<'_> {
    /// Encrypts the parts and hands the encrypted file to `out` piece by piece, in order
    /// (see the module docs). An error of `out` ends the writing and is returned.
    pub fn write(&mut self, out: &mut dyn std::io::Write) -> Result<(), Error> {
        let record = match &self.layout {
            Layouts::Yaml(l) => write_pass(l, self, out)?,
            Layouts::Json(l) => write_pass(l, self, out)?,
        };
        self.meta.integrity = Some(record.record(&self.meta.integrity_binding()));
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
            .map_err(|e| output_error(&e))
    }
}

/// One part's result in the MAC pass.
enum MacOut {
    Done {
        mac_input: Vec<Zeroizing<Vec<u8>>>,
        keys: Vec<String>,
    },
    Decline,
}

/// The MAC pass: the MAC (upper-case hex) of the whole document, or `None` when a part
/// is declined.
fn mac_pass<L: Layout>(
    l: &L,
    parts: &(impl Parts<L::Part> + ?Sized),
    sel: &Selector,
    mac_only_encrypted: bool,
    threads: usize,
    mode: Mode,
) -> Option<String> {
    let mode = if l.has_direct() { mode } else { Mode::Never };
    // The MAC input's chunks, recycled from part to part (`direct::Chunks`).
    let pools = Pools::new(threads);
    let work = |p: &L::Part, _: &mut Vec<u8>| {
        if mode != Mode::Never {
            let bufs = direct::Bufs {
                pools: Some(&pools),
            };
            match l.direct(p, sel, mac_only_encrypted, None, bufs) {
                Ok(Some(d)) => {
                    return MacOut::Done {
                        mac_input: d.mac,
                        keys: d.keys,
                    };
                }
                Ok(None) if mode == Mode::Require => return MacOut::Decline,
                Ok(None) => {}
                Err(_) => return MacOut::Decline,
            }
        }
        let Some((mut doc, keys)) = l.read(p) else {
            return MacOut::Decline;
        };
        let r = document::mac_input_part(&mut doc, sel, mac_only_encrypted);
        // The plaintext values are wiped as they are dropped (`Text`, `Bytes`).
        drop(doc);
        match r {
            Ok(mac_input) => MacOut::Done { mac_input, keys },
            Err(_) => MacOut::Decline,
        }
    };
    let mut mac = MacHasher::new(mac_only_encrypted);
    let mut root_keys: HashSet<String> = HashSet::new();
    let mut sub_keys: HashSet<String> = HashSet::new();
    let fold = &mut |p: &L::Part, r: MacOut| match r {
        MacOut::Decline => false,
        MacOut::Done { mac_input, keys } => {
            let sub = l.is_sub(p);
            let seen = if sub { &mut sub_keys } else { &mut root_keys };
            for k in keys {
                // A root key that names the metadata (`SOPS`) is the tree path's to judge.
                if (!sub && crate::metadata::names::names_the_metadata(&k)) || !seen.insert(k) {
                    return false;
                }
            }
            for mut m in mac_input {
                mac.update(&m);
                // Wiped and given back for the parts still to read.
                pools.mac.give(std::mem::take(&mut *m), true);
            }
            true
        }
    };
    if !run_fed(parts, threads.max(1), &work, fold, || MacOut::Decline) || !parts.complete() {
        return None;
    }
    if l.big_key().is_some_and(|k| root_keys.contains(k)) {
        return None;
    }
    Some(mac.finish())
}

/// One part's result in the writing pass.
enum WriteOut {
    Done {
        out: Output,
        /// Bytes at the start of `out` that are not part of the output (a header line).
        skip: usize,
        tokens: Vec<u8>,
        entry_key: Option<String>,
    },
    Failed(DocumentError),
    /// The part no longer reads or writes as it did in the MAC pass (a bug).
    Lost,
}

/// The writing pass over the parts (see the module docs): the integrity record of the
/// parts written.
fn write_pass<L: Layout>(
    l: &L,
    p: &Prepared<'_>,
    out: &mut dyn std::io::Write,
) -> Result<integrity::Streamed, Error> {
    let cipher = ValueCipher::new(&p.key);
    // Text and token buffers go back to the workers after each part: fresh memory is
    // what costs most here (the kernel zeroes every new page).
    let pool = Pools::new(p.threads);
    let mac_only = p.meta.mac_only_encrypted;
    let sel = &p.sel;
    let work = |part: &L::Part, _: &mut Vec<u8>| {
        if p.mode != Mode::Never && l.has_direct() {
            let mut sealer = Sealer::new(&cipher);
            let bufs = direct::Bufs { pools: Some(&pool) };
            match l.direct(part, sel, mac_only, Some(&mut sealer), bufs) {
                Ok(Some(d)) => {
                    let Some(out) = d.out else {
                        return WriteOut::Lost;
                    };
                    let Some(skip) = l.skip(part, &out) else {
                        return WriteOut::Lost;
                    };
                    return WriteOut::Done {
                        out,
                        skip,
                        tokens: d.tokens,
                        entry_key: d.entry_key,
                    };
                }
                Ok(None) => {}
                Err(e) => return WriteOut::Failed(e),
            }
        }
        let Some((mut doc, _)) = l.read(part) else {
            return WriteOut::Lost;
        };
        if let Err(e) = document::encrypt_part(&mut doc, &cipher, sel, mac_only) {
            // (What was not encrypted yet is wiped as it is dropped.)
            return WriteOut::Failed(e);
        }
        let Some((tokens, entry_key)) = tokens_of(&doc, l.is_sub(part), mac_only) else {
            return WriteOut::Lost;
        };
        match l.write(part, &doc) {
            Some((out, skip)) => WriteOut::Done {
                out,
                skip,
                tokens,
                entry_key,
            },
            None => WriteOut::Lost,
        }
    };
    let mut record = integrity::Streamed::new(&p.key, p.meta.mac_only_encrypted);
    let mut failed: Option<Error> = None;
    let fold = &mut |part: &L::Part, r: WriteOut| match r {
        WriteOut::Done {
            out: text,
            skip,
            tokens,
            entry_key,
        } => {
            if let (true, Some(k)) = (part.opens_entry(), &entry_key) {
                record.open_map_entry(k);
            }
            record.feed(&tokens);
            if part.closes_entry() {
                record.close_map();
            }
            let written = out.write_all(text.get(skip..).unwrap_or_default());
            let mut text = text;
            pool.out.give(std::mem::take(&mut *text), true);
            pool.tokens.give(tokens, true);
            match written {
                Ok(()) => true,
                Err(e) => {
                    failed = Some(output_error(&e));
                    false
                }
            }
        }
        WriteOut::Failed(e) => {
            failed = Some(Error::new(
                exit::ERROR_ENCRYPTING_TREE,
                format!("error encrypting the file: {e}"),
            ));
            false
        }
        WriteOut::Lost => {
            failed = Some(lost_error());
            false
        }
    };
    let ok = run_parts(l.parts(), p.threads, &work, fold, || WriteOut::Lost);
    if let Some(e) = failed {
        return Err(e);
    }
    if !ok {
        return Err(lost_error());
    }
    Ok(record)
}

/// The integrity tokens of an encrypted part (of the big entry's map for a sub-part,
/// with the entry's key).
fn tokens_of(doc: &Document, sub: bool, mac_only: bool) -> Option<(Vec<u8>, Option<String>)> {
    let root = doc.branches.first()?;
    if !sub {
        return Some((integrity::entry_tokens(root, mac_only), None));
    }
    let mut entries = root.0.iter().filter_map(|i| match i {
        Item::Entry(k, v) => Some((k, v)),
        Item::Comment(_) => None,
    });
    match (entries.next(), entries.next()) {
        (Some((k, Value::Map(inner))), None) => Some((
            integrity::entry_tokens(inner, mac_only),
            Some(k.to_string()),
        )),
        _ => None,
    }
}

/// An output that failed (the caller words it for its destination).
fn output_error(e: &std::io::Error) -> Error {
    Error::new(
        exit::COULD_NOT_WRITE_OUTPUT,
        format!("cannot write the encrypted output: {e}"),
    )
}

fn lost_error() -> Error {
    Error::new(
        exit::ERROR_ENCRYPTING_TREE,
        "internal error: a part of the file could not be encrypted a second time as it was read the first time",
    )
    .hint("run the command again with LEAFSEAL_STREAM=never, and report the problem")
}

/// An empty root map, for [`Layout::tail`] implementations.
fn empty_doc() -> Document {
    Document {
        branches: vec![Map::new()],
    }
}
