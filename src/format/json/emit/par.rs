//! Writing a large JSON document on several threads.
//!
//! The split is the one the decryptor uses: the largest top-level map or list (the "big"
//! member) is cut into contiguous ranges of elements, one per thread. The calling thread
//! writes the prefix (the `{`, the members before the big one and the big member's key
//! and opening bracket) and the first range straight into the final buffer; every other
//! range is written into its own buffer on its own thread by a writer that starts at the
//! right depth and knows whether an element was written before it (for the `,`). The
//! parts are appended in order (each wiped right after), then the suffix (the closing
//! bracket, the remaining members, the `sops` metadata, the final newline). The bytes
//! are the same as the sequential writer's.

use super::SecureBuf;
use super::Writer;
use super::estimate_items;
use super::estimate_seq;
use super::with_slack;
use crate::format::FormatError;
use crate::format::Output;
use crate::tree::Item;
use crate::tree::Map;
use crate::tree::SeqItem;
use crate::tree::Value;

/// Below this many elements in the largest top-level container, threads do not pay off.
pub(crate) const MIN_ITEMS: usize = 2048;

/// The most threads used.
const MAX_THREADS: usize = 8;

/// The elements of the big member.
#[derive(Clone, Copy)]
enum Big<'a> {
    Map(&'a [Item]),
    Seq(&'a [SeqItem]),
}

impl<'a> Big<'a> {
    fn len(self) -> usize {
        match self {
            Big::Map(items) => items.len(),
            Big::Seq(items) => items.len(),
        }
    }

    /// The index of the first element that is written (not a comment).
    fn first_written(self) -> Option<usize> {
        match self {
            Big::Map(items) => items.iter().position(|i| matches!(i, Item::Entry(..))),
            Big::Seq(items) => items.iter().position(|i| matches!(i, SeqItem::Value(_))),
        }
    }

    fn estimate(self, lo: usize, hi: usize, unit: usize) -> usize {
        match self {
            Big::Map(items) => estimate_items(items.get(lo..hi).unwrap_or(&[]), 2, unit),
            Big::Seq(items) => estimate_seq(items.get(lo..hi).unwrap_or(&[]), 2, unit),
        }
    }

    /// Writes elements `lo..hi` with a writer whose base depth is 1.
    fn write(
        self,
        w: &mut Writer<'a>,
        lo: usize,
        hi: usize,
        first: bool,
    ) -> Result<(), FormatError> {
        match self {
            Big::Map(items) => w.map_members(items.get(lo..hi).unwrap_or(&[]), None, first, false),
            Big::Seq(items) => w.seq_members(items.get(lo..hi).unwrap_or(&[]), first),
        }
    }
}

/// Writes the top-level object on several threads when the document is large enough
/// (`min_items` elements in its largest top-level container) and the machine has more
/// than one core; `None` when the sequential writer should be used.
pub(crate) fn emit_top(
    map: &Map,
    meta: Option<&Map>,
    unit: &[u8],
    min_items: usize,
) -> Option<Result<Output, FormatError>> {
    // Cheap checks first: `available_parallelism` reads cgroup files.
    let big = find_big(map, min_items)?;
    let threads = crate::io::cores().min(MAX_THREADS);
    emit_split(map, big, meta, unit, threads)
}

/// As [`emit_top`] with a given number of threads (tests force the split with it).
#[cfg(test)]
pub(crate) fn emit_top_threads(
    map: &Map,
    meta: Option<&Map>,
    unit: &[u8],
    min_items: usize,
    threads: usize,
) -> Option<Result<Output, FormatError>> {
    let big = find_big(map, min_items)?;
    emit_split(map, big, meta, unit, threads)
}

/// The index of the top-level member with the largest map or list, if it has at least
/// `min_items` (and at least 2) elements.
fn find_big(map: &Map, min_items: usize) -> Option<usize> {
    let (index, size) = map
        .0
        .iter()
        .enumerate()
        .filter_map(|(i, it)| match it {
            Item::Entry(_, Value::Map(m)) => Some((i, m.0.len())),
            Item::Entry(_, Value::Seq(s)) => Some((i, s.len())),
            _ => None,
        })
        .max_by_key(|&(_, n)| n)?;
    (size >= min_items.max(2)).then_some(index)
}

fn emit_split(
    map: &Map,
    index: usize,
    meta: Option<&Map>,
    unit: &[u8],
    threads: usize,
) -> Option<Result<Output, FormatError>> {
    if threads < 2 {
        return None;
    }
    let (before, rest) = map.0.split_at_checked(index)?;
    let (Item::Entry(key, value), after) = rest.split_first()? else {
        return None;
    };
    let (big, open, close) = match value {
        Value::Map(m) => (Big::Map(&m.0), b'{', b'}'),
        Value::Seq(s) => (Big::Seq(s), b'[', b']'),
        _ => return None,
    };
    // An all-comment container is written as `{}`/`[]`: leave that to the sequential
    // writer.
    let first = big.first_written()?;
    let n = big.len();
    let parts = threads.min(n);
    let bounds: Vec<usize> = (0..=parts).map(|i| i * n / parts).collect();
    let ranges: Vec<(usize, usize)> = bounds
        .windows(2)
        .filter_map(|w| match *w {
            [lo, hi] => Some((lo, hi)),
            _ => None,
        })
        .collect();
    let (&(lo0, hi0), others) = ranges.split_first()?;
    let ul = unit.len();

    // Sizes (sampled, cheap) first, so no buffer has to grow.
    let sizes: Vec<usize> = ranges
        .iter()
        .map(|&(lo, hi)| with_slack(big.estimate(lo, hi, ul)))
        .collect();
    let total = estimate_items(before, 1, ul)
        .saturating_add(estimate_items(after, 1, ul))
        .saturating_add(meta.map_or(0, |m| estimate_items(&m.0, 2, ul)))
        .saturating_add(key.len() + 2 * ul + 16);
    let total = sizes
        .iter()
        .fold(with_slack(total), |a, &b| a.saturating_add(b));

    // One range into its own buffer, at the big container's element depth.
    let write_part = move |lo: usize, hi: usize, est: usize| {
        let mut w = Writer::new(SecureBuf::with_capacity_hint(est), unit, 1);
        big.write(&mut w, lo, hi, first >= lo)?;
        Ok::<_, FormatError>(w.out)
    };

    Some(std::thread::scope(|s| {
        // A thread that cannot be started leaves its range to this thread. Every thread
        // is joined, on an early return too (`crate::threads`); parts not taken wipe
        // themselves when dropped.
        let mut threads = crate::threads::Joined::with_capacity(others.len());
        let handles: Vec<_> = others
            .iter()
            .zip(sizes.iter().skip(1))
            .map(|(&(lo, hi), &est)| {
                let h = threads.spawn(s, std::thread::Builder::new(), move || {
                    write_part(lo, hi, est)
                });
                (h, lo, hi, est)
            })
            .collect();

        let mut w = Writer::new(SecureBuf::with_capacity_hint(total), unit, 0);
        w.out.push(b"{");
        w.map_members(before, None, true, false)?;
        if before.iter().any(|i| matches!(i, Item::Entry(..))) {
            w.out.push(b",");
        }
        w.newline_at(1);
        w.key(key);
        w.out.push(&[open]);
        w.base_depth = 1;
        big.write(&mut w, lo0, hi0, true)?;
        w.base_depth = 0;
        for (h, lo, hi, est) in handles {
            let part = match h {
                Some(h) => threads.join(h).ok_or_else(|| {
                    FormatError::new("json", "a writer thread failed while writing the document")
                })?,
                None => write_part(lo, hi, est),
            };
            w.out.append(part?);
        }
        w.newline_at(1);
        w.out.push(&[close]);
        w.map_members(after, meta.map(|m| ("sops", m)), false, true)?;
        w.out.push(b"\n");
        Ok(w.out.finish())
    }))
}
