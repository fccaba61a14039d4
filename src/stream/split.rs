//! Cutting an encrypted block-YAML document into parts that can be read, decrypted and
//! written one at a time, on several threads, and give together exactly what the whole
//! document gives.
//!
//! Parts are cut only where the cut cannot change how the text reads: before a key line
//! of the root map (column 0) or, inside one large root entry whose value is a block
//! map, before a key line of that map (its indentation), and only where the lines before
//! are not comments, or are comments at the key's own indentation (not separated by a
//! blank line), which then start the part with their key: every comment stays next to
//! the entry it sits before. Anything unusual (several documents, a root list, flow or quoted
//! keys at the root, a comment just before `sops:`, duplicate keys) yields no plan and the
//! caller reads the whole document as a tree. Each part is then read by the fast
//! block-YAML reader alone; if any part is outside its subset, the whole plan is dropped.

use std::collections::HashSet;
use std::ops::Range;

/// One part of the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    /// Some entries of the root map, read as a document of their own.
    Top(Range<usize>),
    /// Some entries of the map under one root entry. The part is read as the document
    /// `header` + line break + `body`; `first` parts hold the header line (and any
    /// comments before it) in `body` already.
    Sub {
        /// The `key:` line of the root entry (without its line break).
        header: Range<usize>,
        /// The part's text.
        body: Range<usize>,
        /// The first part of the entry (its body starts with the header).
        first: bool,
        /// The last part of the entry.
        last: bool,
    },
}

impl Part {
    /// What the line scan of a part reads in `src`: the header line of a later part of an
    /// entry (read before the body), the body's range, and whether it is part of an
    /// entry.
    pub(crate) fn scan_input<'s>(&self, src: &'s [u8]) -> (Option<&'s [u8]>, &Range<usize>, bool) {
        match self {
            Part::Top(r) => (None, r, false),
            Part::Sub {
                body, first: true, ..
            } => (None, body, true),
            Part::Sub { header, body, .. } => (src.get(header.clone()), body, true),
        }
    }
}

/// The parts of a document and where its `sops` entry is.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The parts, in document order.
    pub parts: Vec<Part>,
    /// The text of the root `sops:` entry.
    pub meta: Range<usize>,
}

/// The lines of `src[range]` as (start, end without the line break), found with a
/// vectorised search for the line breaks.
fn lines(src: &[u8], range: Range<usize>) -> impl Iterator<Item = (usize, usize)> + '_ {
    let base = range.start;
    let end = range.end;
    let mut start = base;
    memchr::memchr_iter(b'\n', &src[range])
        .map(move |p| base + p)
        .chain(std::iter::once(end))
        .filter_map(move |nl| {
            let line = (start, nl);
            start = nl + 1;
            (line.0 < end).then_some(line)
        })
}

fn indent(line: &[u8]) -> usize {
    line.iter().take_while(|&&b| b == b' ').count()
}

/// The text of a plain key on a key line (after its indentation), or `None` when the
/// line is not a simple `key:` / `key: value` line.
fn plain_key(rest: &[u8]) -> Option<&[u8]> {
    let first = *rest.first()?;
    if b"#-?:,[]{}&*!|>'\"%@`\t".contains(&first) {
        return None;
    }
    let mut i = 0;
    while i < rest.len() {
        if rest[i] == b':' && matches!(rest.get(i + 1), None | Some(b' ')) {
            let key = &rest[..i];
            let key = key.strip_suffix(b" ").map_or(key, |k| k);
            if key.is_empty() || key.ends_with(b" ") || key.windows(2).any(|w| w == b" #") {
                return None;
            }
            return Some(key);
        }
        i += 1;
    }
    None
}

/// Whether a key line holds the key and nothing after its colon.
fn bare_key_line(rest: &[u8], key: &[u8]) -> bool {
    rest.get(key.len()..)
        .is_some_and(|after| after.first() == Some(&b':') && after[1..].iter().all(|&b| b == b' '))
}

/// What the lines before a key line were (blank lines aside): where a part that starts
/// with that key may start.
#[derive(Clone, Copy, Default)]
enum Before {
    /// Not a comment: the part starts at the key line.
    #[default]
    Content,
    /// A run of comment lines, all at this indentation and not separated by blank lines,
    /// starting at this offset: the part starts with the run, when it is at the key's
    /// indentation (the comments are the key's own).
    Comments { start: usize, col: usize },
    /// Anything else: no part may start at the key.
    Mixed,
}

impl Before {
    /// Where a part may start at a key line at `col` starting at `line_start`.
    fn cut(self, col: usize, line_start: usize) -> Option<usize> {
        match self {
            Before::Content => Some(line_start),
            Before::Comments { start, col: c } if c == col => Some(start),
            _ => None,
        }
    }

    /// The state after a comment line at `col` starting at `start`.
    fn comment(self, col: usize, start: usize, blank_since: bool) -> Before {
        match self {
            Before::Content => Before::Comments { start, col },
            Before::Comments { start: s, col: c } if c == col && !blank_since => {
                Before::Comments { start: s, col }
            }
            _ => Before::Mixed,
        }
    }
}

/// A root entry: its key line, where a part may start with it, and what the scan of
/// its lines found (for cutting it into sub-parts).
struct TopKey {
    /// Where its line starts and ends (without the line break).
    line: (usize, usize),
    cut: Option<usize>,
    is_sops: bool,
    /// Whether its line is `key:` alone (a block value may follow).
    bare: bool,
    /// The scan of the entry's lines.
    sub: SubScan,
}

/// Why an entry cannot be cut into sub-parts (the first reason met, in line order).
#[derive(Clone, Copy, PartialEq, Eq)]
enum SubStop {
    /// The entry is not a block map that can be cut: it stays one part.
    Uncuttable,
    /// A duplicate key: the document is read as a tree when the entry would be cut.
    Duplicate,
}

/// The scan of the lines of one root entry, after its key line: the key lines of the
/// map under it where a sub-part may start.
#[derive(Default)]
struct SubScan {
    col: Option<usize>,
    seen: HashSet<Vec<u8>>,
    before: Before,
    blank: bool,
    /// Whether the map's first key line was seen (it stays with the header line).
    first: bool,
    /// Where later sub-parts may start.
    cuts: Vec<usize>,
    stop: Option<SubStop>,
}

impl SubScan {
    /// One line of the entry (after its key line), starting at `ls`.
    fn line(&mut self, ls: usize, line: &[u8]) {
        if self.stop.is_some() {
            return;
        }
        let ind = indent(line);
        let Some(&c) = line.get(ind) else {
            self.blank = true;
            return;
        };
        if c == b'#' {
            self.before = self.before.comment(ind, ls, self.blank);
            self.blank = false;
            return;
        }
        self.blank = false;
        let col = *self.col.get_or_insert(ind);
        if col == 0 || ind < col {
            self.stop = Some(SubStop::Uncuttable);
            return;
        }
        if ind == col {
            let Some(k) = plain_key(&line[ind..]) else {
                self.stop = Some(SubStop::Uncuttable);
                return;
            };
            if !self.seen.insert(k.to_vec()) {
                self.stop = Some(SubStop::Duplicate);
                return;
            }
            if !self.first {
                self.first = true;
            } else if let Some(at) = self.before.cut(col, ls) {
                self.cuts.push(at);
            }
        }
        self.before = Before::Content;
    }
}

/// Plans the parts of a document from its lines, given one at a time in order (so that a
/// file can be planned from blocks read one after the other, without holding it whole).
pub(crate) struct Planner {
    tops: Vec<TopKey>,
    seen: HashSet<Vec<u8>>,
    before: Before,
    blank: bool,
    /// A comment line was seen after the `sops:` key line and no root key since: at the
    /// end of the file it is a comment of the document (the tree path writes it), which
    /// the metadata part would drop.
    comment_after_meta: bool,
}

impl Planner {
    pub(crate) fn new() -> Planner {
        Planner {
            tops: Vec::new(),
            seen: HashSet::new(),
            before: Before::Content,
            blank: false,
            comment_after_meta: false,
        }
    }

    /// Takes the next line (without its line break), starting at byte `ls`; `false`
    /// when the document cannot be cut (it is read as a tree).
    pub(crate) fn line(&mut self, ls: usize, line: &[u8]) -> bool {
        let le = ls + line.len();
        let ind = indent(line);
        let Some(&c) = line.get(ind) else {
            self.blank = true;
            if let Some(t) = self.tops.last_mut() {
                t.sub.line(ls, line);
            }
            return true;
        };
        if c == b'\r' || c == b'\t' {
            return false;
        }
        if c == b'#' {
            self.before = self.before.comment(ind, ls, self.blank);
            self.blank = false;
            if let Some(t) = self.tops.last_mut() {
                self.comment_after_meta |= t.is_sops;
                t.sub.line(ls, line);
            }
            return true;
        }
        self.blank = false;
        // A list at the root's indentation belongs to the entry above (sops writes
        // lists at their key's indentation); a root list or a marker is declined.
        let root_dash = ind == 0 && c == b'-' && (line.starts_with(b"- ") || line == b"-");
        if ind > 0 || root_dash {
            let Some(t) = self.tops.last_mut() else {
                if root_dash {
                    return false;
                }
                self.before = Before::Content;
                return true;
            };
            t.sub.line(ls, line);
            self.before = Before::Content;
            return true;
        }
        // (A git conflict marker or separator line is not a key line: a file with one
        // is always read as a tree, which reports the conflict.)
        let Some(key) = plain_key(line) else {
            return false;
        };
        if !self.seen.insert(key.to_vec()) {
            return false;
        }
        let is_sops = key == b"sops";
        let cut = self.before.cut(0, ls);
        if is_sops && cut != Some(ls) {
            // Comments just before `sops` belong to the document, not to the metadata.
            return false;
        }
        // The previous entry's scan ends here: its set of keys is no longer needed.
        if let Some(t) = self.tops.last_mut() {
            t.sub.seen = HashSet::new();
        }
        self.comment_after_meta = false;
        self.tops.push(TopKey {
            line: (ls, le),
            cut,
            is_sops,
            bare: bare_key_line(line, key),
            sub: SubScan::default(),
        });
        self.before = Before::Content;
        true
    }

    /// The plan for a document of `len` bytes whose lines were all given, aiming at
    /// `target` bytes per part.
    pub(crate) fn finish(self, len: usize, target: usize) -> Option<Plan> {
        if self.comment_after_meta {
            return None;
        }
        let meta_at = self.tops.iter().position(|t| t.is_sops)?;
        if meta_at == 0 {
            return None;
        }
        let meta_end = match self.tops.get(meta_at + 1) {
            None => len,
            // The entry after `sops` must start a part, so that the metadata part is alone.
            Some(t) => t.cut?,
        };
        let meta = self.tops[meta_at].line.0..meta_end;
        self.cut(len, target, Some(meta_at), meta)
    }

    /// The plan for a plaintext document (no `sops` entry: one is declined) of `len`
    /// bytes whose lines were all given: the parts cover the whole text, and
    /// [`Plan::meta`] is the empty range at its end.
    pub(crate) fn finish_plain(self, len: usize, target: usize) -> Option<Plan> {
        if self.tops.iter().any(|t| t.is_sops) {
            return None;
        }
        self.cut(len, target, None, len..len)
    }

    /// The parts around the `sops` entry at `meta_at` (text `meta`), if any.
    fn cut(
        self,
        len: usize,
        target: usize,
        meta_at: Option<usize>,
        meta: Range<usize>,
    ) -> Option<Plan> {
        cut_tops(&self.tops, len, target, meta_at, meta)
    }

    /// The first parts of the plan that [`finish`](Self::finish) will most likely give,
    /// from the lines seen so far: while a large root entry that is a block map is being
    /// scanned, the parts before it and its sub-parts up to its last cut so far (the
    /// sub-parts are cut greedily, so these do not change as more lines come, unless
    /// the entry turns out not to be cuttable, or the entry after it joins its
    /// segment). Empty when nothing is settled yet. Only a guess: the caller compares it
    /// with the final plan (see `stream::overlap`).
    pub(crate) fn settled(&self, target: usize) -> Vec<Part> {
        let Some((t, before)) = self.tops.split_last() else {
            return Vec::new();
        };
        if t.is_sops
            || !t.bare
            || t.sub.stop.is_some()
            || !t.sub.first
            || before.iter().any(|b| b.is_sops)
        {
            return Vec::new();
        }
        let start = if before.is_empty() {
            0
        } else {
            let Some(c) = t.cut else {
                return Vec::new();
            };
            c
        };
        let mut bounds = vec![start];
        let mut last = start;
        for &c in &t.sub.cuts {
            if c - last >= target {
                bounds.push(c);
                last = c;
            }
        }
        if bounds.len() < 2 {
            return Vec::new();
        }
        let mut parts = if before.is_empty() {
            Vec::new()
        } else {
            match cut_tops(before, start, target, None, start..start) {
                Some(p) => p.parts,
                None => return Vec::new(),
            }
        };
        let header = t.line.0..t.line.1;
        parts.extend(bounds.windows(2).enumerate().map(|(i, w)| Part::Sub {
            header: header.clone(),
            body: w[0]..w[1],
            first: i == 0,
            last: false,
        }));
        parts
    }
}

/// [`Planner::cut`] over the root entries `tops`.
fn cut_tops(
    tops: &[TopKey],
    len: usize,
    target: usize,
    meta_at: Option<usize>,
    meta: Range<usize>,
) -> Option<Plan> {
    // Segments: runs of root entries between cut points (the first starts at 0 and
    // keeps the comments at the top of the file).
    let mut segments: Vec<(usize, Vec<usize>)> = Vec::new();
    for (i, t) in tops.iter().enumerate() {
        if Some(i) == meta_at {
            continue;
        }
        match (segments.last_mut(), t.cut) {
            (None, _) => segments.push((0, vec![i])),
            (Some(_), Some(c)) => segments.push((c, vec![i])),
            (Some((_, keys)), None) if meta_at.is_none_or(|m| i != m + 1) => keys.push(i),
            (Some(_), None) => return None,
        }
    }
    let starts: Vec<usize> = segments.iter().map(|(s, _)| *s).collect();
    let mut parts = Vec::new();
    let mut group: Option<Range<usize>> = None;
    for (j, (start, keys)) in segments.into_iter().enumerate() {
        let mut end = starts.get(j + 1).copied().unwrap_or(len);
        if meta.start > start && meta.start < end {
            end = meta.start;
        }
        let range = start..end;
        let subs = if range.len() > target && keys.len() == 1 {
            sub_parts(&tops[keys[0]], range.clone(), target)?
        } else {
            None
        };
        match subs {
            Some(subs) => {
                if let Some(g) = group.take() {
                    parts.push(Part::Top(g));
                }
                parts.extend(subs);
            }
            None => {
                if let Some(g) = group.as_mut()
                    && g.end != range.start
                {
                    parts.push(Part::Top(g.clone()));
                    group = None;
                }
                let g = group.get_or_insert(range.start..range.start);
                g.end = range.end;
                if g.len() >= target {
                    parts.push(Part::Top(g.clone()));
                    group = None;
                }
            }
        }
    }
    if let Some(g) = group {
        parts.push(Part::Top(g));
    }
    if parts.is_empty() {
        return None;
    }
    Some(Plan { parts, meta })
}

/// Plans the parts of `src` (a block-YAML document without a byte-order mark), aiming at
/// `target` bytes per part.
pub(crate) fn plan(src: &[u8], target: usize) -> Option<Plan> {
    let mut p = Planner::new();
    for (ls, le) in lines(src, 0..src.len()) {
        if !p.line(ls, &src[ls..le]) {
            return None;
        }
    }
    p.finish(src.len(), target)
}

/// Plans the parts of a plaintext block-YAML document `src` (without a byte-order mark
/// and without a `sops` entry), aiming at `target` bytes per part (see
/// [`Planner::finish_plain`]).
pub(crate) fn plan_plain(src: &[u8], target: usize) -> Option<Plan> {
    let mut p = Planner::new();
    for (ls, le) in lines(src, 0..src.len()) {
        if !p.line(ls, &src[ls..le]) {
            return None;
        }
    }
    p.finish_plain(src.len(), target)
}

/// The parts of one large root entry `key:` whose value is a block map (its lines were
/// scanned as they came), or `Some(None)` when it is not one that can be cut; `None` for
/// a document to decline.
#[allow(clippy::option_option)]
fn sub_parts(top: &TopKey, range: Range<usize>, target: usize) -> Option<Option<Vec<Part>>> {
    if !top.bare {
        return Some(None);
    }
    match top.sub.stop {
        Some(SubStop::Uncuttable) => return Some(None),
        Some(SubStop::Duplicate) => return None,
        None => {}
    }
    if !top.sub.first || top.sub.cuts.is_empty() {
        return Some(None);
    }
    let header = top.line.0..top.line.1;
    let mut bounds = vec![range.start];
    let mut last = range.start;
    for &c in &top.sub.cuts {
        if c - last >= target {
            bounds.push(c);
            last = c;
        }
    }
    bounds.push(range.end);
    if bounds.len() < 3 {
        return Some(None);
    }
    let n = bounds.len() - 1;
    Some(Some(
        (0..n)
            .map(|i| Part::Sub {
                header: header.clone(),
                body: bounds[i]..bounds[i + 1],
                first: i == 0,
                last: i + 1 == n,
            })
            .collect(),
    ))
}

#[cfg(test)]
#[path = "split_tests.rs"]
mod tests;
