//! `rotate` of a block-YAML or JSON file read from disk in parts
//! ([`prepare_rotate_file`]), never whole: the parts are planned on a thread of their own
//! while the workers rotate those already published, each read from the file by the
//! worker that rotates it.

use std::fs::File;
use std::ops::Range;
use std::sync::Mutex;

use super::Ciphers;
use super::Layouts;
use super::PreparedRotate;
use super::RotOut;
use super::RotatePrepare;
use crate::crypto::integrity;
use crate::error::Error;
use crate::format::EmitOptions;
use crate::format::Format;
use crate::keys::KeyContext;
use crate::lifecycle::KeyChanges;
use crate::ops::OpenOptions;
use crate::stream::blocks;
use crate::stream::blocks::Stamp;
use crate::stream::encrypt::layout::JsonLayout;
use crate::stream::encrypt::layout::YamlLayout;
use crate::stream::json::split as json_split;
use crate::stream::overlap;
use crate::stream::pipeline::Parts;
use crate::stream::split;
use crate::stream::split::Part;

/// [`super::prepare_rotate`] for a block-YAML or JSON file on disk, never read whole.
/// Its metadata is read from its tail first (as the overlapped decrypt does,
/// `stream::overlap`), and [`PreparedRotate::write`] then plans the file in blocks on a
/// thread of its own while the workers rotate the parts already published, each read
/// again from the file by the worker that rotates it. So the 43 MB of a 10 MB file's
/// encrypted text are never held in fresh memory (the kernel zeroing them was the
/// largest and most variable part of a rotation), and the planner's pass no longer
/// comes before the first part. The file must still be the one that was planned once
/// every part was read (its identity, links, length and change times), and the final
/// plan must begin with the parts published and end with the metadata where the tail
/// was read; otherwise, as for anything declined, the caller reads the file whole (the
/// CLI streams it from memory with the data key handed back, then takes the tree path).
/// A JSON file is planned as the streamed decrypt plans it
/// (`stream::json::plan_feeding`: the rest of its big member cut by jumping when the
/// tail shows that member last); a part the readers decline there may be a guess that
/// did not hold, and is declined as any other. A file with a byte-order mark is
/// declined (read whole).
pub fn prepare_rotate_file<'a>(
    file: &'a File,
    format: Format,
    ctx: &KeyContext,
    opts: &OpenOptions,
    changes: &KeyChanges,
    emit: &'a EmitOptions,
) -> Result<RotatePrepare<'a>, Error> {
    let declined = || Ok(RotatePrepare::Declined(None));
    if opts.ignore_mac || !matches!(format, Format::Yaml | Format::Json) {
        return declined();
    }
    let Some(before) = Stamp::of(file) else {
        return declined();
    };
    let Ok(len) = usize::try_from(before.len) else {
        return declined();
    };
    if blocks::bom(file) != 0 {
        return declined();
    }
    let tail = if format == Format::Json {
        crate::stream::json::tail_meta(file, len)
            .and_then(|(at, text)| Some((at, crate::stream::json::read_meta(&text)?)))
    } else {
        overlap::tail_meta(file, 0, len)
            .and_then(|(at, text)| Some((at, crate::stream::read_meta(&text)?)))
    };
    let Some((meta_at, meta)) = tail else {
        return declined();
    };
    let threads = crate::stream::threads();
    let plan = Planning {
        len,
        block: blocks::block_size(ctx),
        target: crate::stream::part_target(ctx, len, threads),
        meta_at,
    };
    // The layout reads no text and has no parts of its own: the parts come from the
    // planner, and each part's text from the file (for JSON, with the big member's key
    // once the planner has found it).
    let layout = if format == Format::Json {
        let Some(l) = JsonLayout::fed(&[], None, emit) else {
            return declined();
        };
        Layouts::Json(l)
    } else {
        Layouts::Yaml(YamlLayout::from_plan(&[], local_plan(), emit))
    };
    let text = Text::File { file, before, plan };
    super::ready(layout, meta, text, threads, ctx, opts, changes, emit, None)
}

/// Where the encrypted text of a rotation is.
pub(super) enum Text<'a> {
    /// In memory, whole, with the layout's plan.
    Mem(&'a [u8]),
    /// In a file as it was when its metadata was read (`before`), to be planned.
    File {
        file: &'a File,
        before: Stamp,
        plan: Planning,
    },
}

/// How a file is planned while it is rotated.
pub(super) struct Planning {
    len: usize,
    block: usize,
    target: usize,
    /// Where the metadata was read from the tail: the final plan must find it there.
    meta_at: Range<usize>,
}

/// A plan of no parts, for the layout of one part's text read from a file (which reads
/// only the part's ranges).
fn local_plan() -> split::Plan {
    split::Plan {
        parts: Vec::new(),
        meta: 0..0,
    }
}

/// Rotates a YAML file's parts as the planner publishes them (see
/// [`prepare_rotate_file`]), each read from the file by its worker.
#[allow(clippy::type_complexity)]
pub(super) fn rotate(
    p: &PreparedRotate<'_>,
    l: &YamlLayout<'_>,
    file: &File,
    before: &Stamp,
    plan: &Planning,
    old_record: integrity::Streamed,
    out: &mut dyn std::io::Write,
) -> Result<Option<(integrity::Streamed, Vec<String>)>, Error> {
    let emit = p.emit;
    let work = |part: &Part, ciphers: Ciphers<'_>, scratch: &mut Vec<u8>| {
        let Ok((src, local)) = blocks::read_part(file, part, scratch) else {
            return RotOut::Decline;
        };
        let l = YamlLayout::from_plan(src, local_plan(), emit);
        p.rotate_yaml(&l, src, &local, ciphers)
    };
    let feed = overlap::Feed::<Part>::default();
    let Planning {
        len,
        block,
        target,
        ref meta_at,
    } = *plan;
    let planner = || overlap::plan_feeding(file, 0, block, len, target, meta_at, &feed);
    beside_planner(&feed, planner, || {
        let as_planned = || as_planned(&feed, file, before);
        p.parts(l, &feed, old_record, out, &work, &as_planned)
    })
}

/// Rotates a JSON file's parts as the planner publishes them (see
/// [`prepare_rotate_file`]), each read from the file by its worker; as [`rotate`].
#[allow(clippy::type_complexity)]
pub(super) fn rotate_json(
    p: &PreparedRotate<'_>,
    file: &File,
    before: &Stamp,
    plan: &Planning,
    old_record: integrity::Streamed,
    out: &mut dyn std::io::Write,
) -> Result<Option<(integrity::Streamed, Vec<String>)>, Error> {
    let feed = overlap::Feed::<json_split::Part>::default();
    // The big member's key text, announced before its first parts are published.
    let big: Mutex<Option<Range<usize>>> = Mutex::new(None);
    let Planning {
        len,
        block,
        target,
        ref meta_at,
    } = *plan;
    let (feed, big) = (&feed, &big);
    let planner =
        || crate::stream::json::plan_feeding(file, block, len, target, meta_at, feed, big);
    let rotated = beside_planner(feed, planner, || {
        // The layout needs the big member's key: wait for the first part.
        feed.wait(0)?;
        let key = big
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let mut key_text = Vec::new();
        if let Some(r) = &key {
            blocks::read_range(file, 0, r.clone(), &mut key_text).ok()?;
        }
        let at = key.map(|_| 0..key_text.len());
        let layout = JsonLayout::fed(&key_text, at, p.emit)?;
        let work = |part: &json_split::Part, ciphers: Ciphers<'_>, scratch: &mut Vec<u8>| {
            let Ok(body) = blocks::read_joined(file, 0, None, part.body(), scratch) else {
                return RotOut::Decline;
            };
            let local = part.moved_to(0..body.len());
            p.rotate_json(&layout.over(body), &local, ciphers)
        };
        let as_planned = || as_planned(feed, file, before);
        Some(p.parts(&layout, feed, old_record, out, &work, &as_planned))
    });
    rotated.transpose().map(Option::flatten)
}

/// Runs `planner` (which feeds `feed`) on a thread of its own while `fold` takes the
/// parts it publishes; whatever ended the fold, the planner is then stopped and joined.
fn beside_planner<P, T, R>(
    feed: &overlap::Feed<P>,
    planner: impl FnOnce() -> T + Send,
    fold: impl FnOnce() -> R,
) -> R
where
    P: Clone + PartialEq + Send,
    T: Send,
{
    std::thread::scope(|s| {
        let planner = s.spawn(planner);
        let r = fold();
        feed.stop();
        let _ = planner.join();
        r
    })
}

/// Whether the parts folded were the file's as it was planned: parts of another text
/// (a file written in place, truncated or replaced meanwhile), or of a final plan that
/// did not begin with the parts published, are thrown away (the file is read again
/// whole).
fn as_planned<P: Clone + PartialEq>(feed: &overlap::Feed<P>, file: &File, before: &Stamp) -> bool {
    feed.matched() && Stamp::of(file) == Some(*before)
}

impl Text<'_> {
    /// Whether the text is no longer what was read (a file changed since): then no key
    /// read from it is handed to the tree path, which reads the file anew.
    pub(super) fn changed(&self) -> bool {
        match self {
            Text::Mem(_) => false,
            Text::File { file, before, .. } => Stamp::of(file) != Some(*before),
        }
    }
}
