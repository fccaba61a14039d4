//! Cutting an encrypted block-YAML document into parts that can be read, decrypted and
//! written one at a time, on several threads, and give together exactly what the whole
//! document gives.
//!
//! Parts are cut only where the cut cannot change how the text reads: before a key line
//! of the root map (column 0) or, inside one large root entry whose value is a block
//! map, before a key line of that map (its indentation), and only where the line before
//! (blank lines aside) is not a comment, so that every comment stays in the part of the
//! entry it sits in. Anything unusual (several documents, a root list, flow or quoted
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

/// The parts of a document and where its `sops` entry is.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The parts, in document order.
    pub parts: Vec<Part>,
    /// The text of the root `sops:` entry.
    pub meta: Range<usize>,
}

/// A line: its text range (without the line break) and where the next line starts.
struct Line {
    start: usize,
    end: usize,
}

fn lines(src: &[u8]) -> Vec<Line> {
    let mut out = Vec::with_capacity(src.len() / 48);
    let mut start = 0;
    while start < src.len() {
        let end = memchr(src, start);
        out.push(Line { start, end });
        start = end + 1;
    }
    out
}

fn memchr(src: &[u8], from: usize) -> usize {
    src.get(from..)
        .and_then(|s| s.iter().position(|&b| b == b'\n'))
        .map_or(src.len(), |p| from + p)
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

/// A root entry: its key line and whether a part may start there.
struct TopKey {
    line: usize,
    cut: bool,
    is_sops: bool,
}

/// Plans the parts of `src` (a block-YAML document without a byte-order mark), aiming at
/// `target` bytes per part.
pub(crate) fn plan(src: &[u8], target: usize) -> Option<Plan> {
    let ls = lines(src);
    let mut tops: Vec<TopKey> = Vec::new();
    let mut seen: HashSet<&[u8]> = HashSet::new();
    let mut prev_comment = false;
    for (n, l) in ls.iter().enumerate() {
        let line = &src[l.start..l.end];
        let ind = indent(line);
        let Some(&c) = line.get(ind) else {
            continue;
        };
        if c == b'\r' || c == b'\t' {
            return None;
        }
        if ind > 0 {
            prev_comment = c == b'#';
            continue;
        }
        match c {
            b'#' => {
                prev_comment = true;
                continue;
            }
            // A list at the root's indentation belongs to the entry above (sops writes
            // lists at their key's indentation); a root list or a marker is declined.
            b'-' if line.starts_with(b"- ") || line == b"-" => {
                if tops.is_empty() {
                    return None;
                }
                prev_comment = false;
                continue;
            }
            _ => {}
        }
        let key = plain_key(line)?;
        if !seen.insert(key) {
            return None;
        }
        let is_sops = key == b"sops";
        if is_sops && prev_comment {
            return None;
        }
        tops.push(TopKey {
            line: n,
            cut: !prev_comment,
            is_sops,
        });
        prev_comment = false;
    }
    let meta_at = tops.iter().position(|t| t.is_sops)?;
    if meta_at == 0 {
        return None;
    }
    // The entry after `sops` must start a part, so that the metadata part is alone.
    if tops.get(meta_at + 1).is_some_and(|t| !t.cut) {
        return None;
    }
    let start_of = |i: usize| tops.get(i).map_or(src.len(), |t| ls[t.line].start);
    let meta = start_of(meta_at)..start_of(meta_at + 1);
    // Segments: runs of root entries between cut points (the first starts at 0 and
    // keeps the comments at the top of the file).
    let mut segments: Vec<(Range<usize>, Vec<usize>)> = Vec::new();
    for (i, t) in tops.iter().enumerate() {
        if i == meta_at {
            continue;
        }
        let start = if segments.is_empty() { 0 } else { ls[t.line].start };
        let end = start_of(i + 1);
        match segments.last_mut() {
            Some((r, keys)) if !t.cut => {
                r.end = end;
                keys.push(i);
            }
            _ => segments.push((start..end, vec![i])),
        }
    }
    // A cut before `sops` ends the segment before it there; the segment after it starts
    // at the next entry.
    let mut parts = Vec::new();
    let mut group: Option<Range<usize>> = None;
    for (range, keys) in segments {
        let big = range.len() > target && keys.len() == 1;
        let subs = if big {
            sub_parts(src, &ls, tops[keys[0]].line, range.clone(), target)?
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
                let g = group.get_or_insert(range.start..range.start);
                if g.end != range.start {
                    parts.push(Part::Top(g.clone()));
                    *g = range.start..range.start;
                }
                g.end = range.end;
                if g.len() >= target
                    && let Some(g) = group.take()
                {
                    parts.push(Part::Top(g));
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

/// The parts of one large root entry `key:` whose value is a block map, or `Ok(None)`
/// when it is not one that can be cut; `None` (outer) for a document to decline.
#[allow(clippy::option_option)]
fn sub_parts(
    src: &[u8],
    ls: &[Line],
    key_line: usize,
    range: Range<usize>,
    target: usize,
) -> Option<Option<Vec<Part>>> {
    let kl = &ls[key_line];
    let head = &src[kl.start..kl.end];
    let Some(key) = plain_key(head) else {
        return Some(None);
    };
    if !bare_key_line(head, key) {
        return Some(None);
    }
    let mut cuts: Vec<usize> = Vec::new();
    let mut col = None;
    let mut seen: HashSet<&[u8]> = HashSet::new();
    let mut prev_comment = false;
    for l in ls[key_line + 1..].iter().take_while(|l| l.start < range.end) {
        let line = &src[l.start..l.end];
        let ind = indent(line);
        let Some(&c) = line.get(ind) else {
            continue;
        };
        if c == b'#' {
            prev_comment = true;
            continue;
        }
        let col = *col.get_or_insert(ind);
        if col == 0 || ind < col {
            return Some(None);
        }
        if ind == col {
            let Some(k) = plain_key(&line[ind..]) else {
                return Some(None);
            };
            if !seen.insert(k) {
                return None;
            }
            if !prev_comment && !cuts.is_empty() {
                cuts.push(l.start);
            } else if cuts.is_empty() {
                // The first entry stays with the header line.
                cuts.push(range.start);
            }
        }
        prev_comment = false;
    }
    if cuts.len() < 2 {
        return Some(None);
    }
    let header = kl.start..kl.end;
    let mut bounds = vec![range.start];
    let mut last = range.start;
    for &c in &cuts[1..] {
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
mod tests {
    use super::*;

    #[test]
    fn cuts_root_entries_and_a_large_map() {
        let src = b"# head\na: 1\nbig:\n    x: 1\n    y: 2\n    # c\n    z: 3\n    w: 4\nb: 2\nsops:\n    mac: m\n";
        let p = plan(src, 8).expect("plan");
        assert_eq!(&src[p.meta.clone()], b"sops:\n    mac: m\n");
        let texts: Vec<String> = p
            .parts
            .iter()
            .map(|part| match part {
                Part::Top(r) => format!("T[{}]", String::from_utf8_lossy(&src[r.clone()])),
                Part::Sub { body, first, .. } => {
                    format!("S{}[{}]", u8::from(*first), String::from_utf8_lossy(&src[body.clone()]))
                }
            })
            .collect();
        assert_eq!(
            texts,
            vec![
                "T[# head\na: 1\n]",
                "S1[big:\n    x: 1\n]",
                "S0[    y: 2\n    # c\n    z: 3\n]",
                "S0[    w: 4\n]",
                "T[b: 2\n]",
            ]
        );
    }

    #[test]
    fn declines_what_it_cannot_cut_safely() {
        assert!(plan(b"a: 1\n# c\nsops:\n    mac: m\n", 8).is_none());
        assert!(plan(b"a: 1\na: 2\nsops:\n    mac: m\n", 8).is_none());
        assert!(plan(b"- a\nsops:\n    mac: m\n", 8).is_none());
        assert!(plan(b"a: 1\n---\nb: 2\nsops:\n    mac: m\n", 8).is_none());
        assert!(plan(b"\"a\": 1\nsops:\n    mac: m\n", 8).is_none());
        assert!(plan(b"a: 1\n", 8).is_none());
        assert!(plan(b"big:\n    x: 1\n    x: 2\nsops:\n    mac: m\n", 4).is_none());
    }
}
