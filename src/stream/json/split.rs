//! Cutting an encrypted JSON document into parts that can be read, decrypted and written
//! one at a time, on several threads, and give together exactly what the whole document
//! gives.
//!
//! A JSON string never holds a raw line break, so a `,` that ends a line (before
//! whitespace) is structural: it separates two members or two elements of some
//! container. The planner looks for such commas where the next line starts, at the
//! indentation of the root's first member, with a `"` (a root member, as sops and
//! leafseal write them), and, inside the largest root member whose value is an object,
//! where the next line starts at the indentation of that object's first member (one of
//! its members). It does not check that the commas really are at those levels: every
//! part is read on its own by the strict JSON reader as a run of members (wrapped in
//! braces at the same depth), and a document whose root is `{` P1 `,` P2 … `}` where
//! every Pi is a run of members is exactly the object holding all their members in
//! order. A part the reader declines (because a cut was at another level, or anything
//! else) sends the whole document to the tree path. The last root member must be `sops`
//! and is the metadata; the first byte must be `{` and the last `}` (whitespace aside).

use std::ops::Range;

/// One part of the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    /// Some members of the root object (a run of members without braces).
    Top {
        /// The part's text.
        body: Range<usize>,
        /// The first member of the root.
        first: bool,
    },
    /// Some members of the object value of the big root member ([`Plan::big_key`]).
    Sub {
        /// The part's text (a run of members without braces).
        body: Range<usize>,
        /// The first part of the member (its output opens the member).
        first: bool,
        /// The last part of the member (its output closes the member).
        last: bool,
        /// Whether root members are written before the big member (a `,` before it).
        after_members: bool,
    },
}

impl Part {
    /// The part's text.
    pub(crate) fn body(&self) -> Range<usize> {
        match self {
            Part::Top { body, .. } | Part::Sub { body, .. } => body.clone(),
        }
    }
}

/// The parts of a document and where its `sops` member is.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The parts, in document order.
    pub parts: Vec<Part>,
    /// The text of the last root member (a run of one member: `"sops": {…}`).
    pub meta: Range<usize>,
    /// The text before the `{` of the big member (`"key":` with whitespace), when one is
    /// cut into [`Part::Sub`] parts.
    pub big_key: Option<Range<usize>>,
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// The indentation (spaces and tabs) at the start of `line`.
fn indentation(line: &[u8]) -> &[u8] {
    let n = line
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    line.get(..n).unwrap_or_default()
}

/// The offset of the last byte of `src[..end]` that is not whitespace.
fn last_non_ws(src: &[u8], end: usize) -> Option<usize> {
    src.get(..end)?.iter().rposition(|&b| !is_ws(b))
}

/// Whether the line starting at `at` starts with `indent` followed by `"`.
fn member_line(src: &[u8], at: usize, indent: &[u8]) -> bool {
    src.get(at..)
        .is_some_and(|r| r.starts_with(indent) && r.get(indent.len()) == Some(&b'"'))
}

/// A root member: where its text starts (after the comma before it, or after the root's
/// `{`) and, when its line ends with `{`, the cut points inside that object.
struct Member {
    start: usize,
    /// The indentation of the object's first member, once its line was seen.
    inner: Option<Range<usize>>,
    /// Whether the next line gives `inner`.
    opens: bool,
    /// Commas before member lines of the object.
    cuts: Vec<usize>,
}

/// Plans the parts of `src` (without a byte-order mark), aiming at `target` bytes per
/// part; `None` when the document is not laid out as the planner needs.
pub(crate) fn plan(src: &[u8], target: usize) -> Option<Plan> {
    plan_with(src, target, true)
}

/// Plans the parts of a plaintext document (no `sops` member is taken off the end: every
/// root member is in a part, and [`Plan::meta`] is the empty range at the root's `}`).
pub(crate) fn plan_plain(src: &[u8], target: usize) -> Option<Plan> {
    plan_with(src, target, false)
}

/// [`plan`] (`has_meta`: the last root member is the metadata) or [`plan_plain`].
fn plan_with(src: &[u8], target: usize, has_meta: bool) -> Option<Plan> {
    let open = src.iter().position(|&b| !is_ws(b))?;
    let close = last_non_ws(src, src.len())?;
    if src.get(open) != Some(&b'{') || src.get(close) != Some(&b'}') || close <= open {
        return None;
    }
    // The root's `{` ends its line; the next line gives the root members' indentation.
    let first_nl = open + 1 + memchr::memchr(b'\n', src.get(open + 1..close)?)?;
    if src.get(open + 1..first_nl)?.iter().any(|&b| !is_ws(b)) {
        return None;
    }
    let root_indent = {
        let line = src.get(first_nl + 1..close)?;
        let ind = indentation(line);
        if line.get(ind.len()) != Some(&b'"') {
            return None;
        }
        first_nl + 1..first_nl + 1 + ind.len()
    };
    let u1 = src.get(root_indent.clone())?;
    let mut members = vec![Member {
        start: open + 1,
        inner: None,
        opens: false,
        cuts: Vec::new(),
    }];
    // Line by line from the first member's line: `nl` is the line break before the line.
    for nl in memchr::memchr_iter(b'\n', src.get(first_nl..close)?).map(|p| first_nl + p) {
        let at = nl + 1;
        let prev = last_non_ws(src, nl).filter(|&p| p > open);
        let after_comma = prev.is_some_and(|p| src.get(p) == Some(&b','));
        let m = members.last_mut()?;
        if m.opens {
            // The line after a member line that ended with `{`.
            m.opens = false;
            let ind = indentation(src.get(at..close)?);
            if ind.len() > u1.len() && src.get(at + ind.len()) == Some(&b'"') {
                m.inner = Some(at..at + ind.len());
            }
        } else if after_comma && member_line(src, at, u1) {
            members.push(Member {
                start: prev? + 1,
                inner: None,
                opens: false,
                cuts: Vec::new(),
            });
        } else if let Some(inner) = m.inner.clone()
            && after_comma
            && member_line(src, at, src.get(inner)?)
        {
            m.cuts.push(prev?);
        }
        // A member line that ends with `{` opens an object whose members may be cut.
        let m = members.last_mut()?;
        if m.cuts.is_empty() && m.inner.is_none() && member_line(src, at, u1) {
            let end = memchr::memchr(b'\n', src.get(at..close)?).map_or(close, |p| at + p);
            m.opens = last_non_ws(src, end).is_some_and(|p| p >= at && src.get(p) == Some(&b'{'));
        }
    }
    // The last member is the metadata; the others are parts.
    let (meta, last_end) = if has_meta {
        let meta_member = members.pop()?;
        (meta_member.start..close, meta_member.start - 1)
    } else {
        (close..close, close)
    };
    if members.is_empty() {
        return None;
    }
    let ends: Vec<usize> = members
        .iter()
        .skip(1)
        .map(|m| m.start - 1)
        .chain(std::iter::once(last_end))
        .collect();
    // The big member: the longest with cut points, when it is worth cutting.
    let big = members
        .iter()
        .zip(&ends)
        .enumerate()
        .filter(|(_, (m, _))| !m.cuts.is_empty())
        .map(|(i, (m, end))| (i, end - m.start))
        .max_by_key(|&(_, len)| len)
        .filter(|&(_, len)| len >= target.saturating_mul(2))
        .map(|(i, _)| i);
    let mut parts = Vec::new();
    let mut big_key = None;
    let mut run: Option<(usize, usize)> = None;
    let flush = |run: &mut Option<(usize, usize)>, parts: &mut Vec<Part>| {
        if let Some((s, e)) = run.take() {
            parts.push(Part::Top {
                body: s..e,
                first: s == open + 1,
            });
        }
    };
    for (i, (m, &end)) in members.iter().zip(&ends).enumerate() {
        if Some(i) == big {
            flush(&mut run, &mut parts);
            let brace = m.start + memchr::memchr(b'{', src.get(m.start..end)?)?;
            let last = last_non_ws(src, end)?;
            if src.get(last) != Some(&b'}') || last <= brace {
                return None;
            }
            big_key = Some(m.start..brace);
            if m.cuts.iter().any(|&c| c <= brace || c >= last) {
                return None;
            }
            let mut from = brace + 1;
            let mut sub = Vec::new();
            for &cut in m.cuts.iter().chain(std::iter::once(&last)) {
                if cut - from >= target || cut == last {
                    sub.push(from..cut);
                    from = cut + 1;
                }
            }
            let n = sub.len();
            for (j, body) in sub.into_iter().enumerate() {
                parts.push(Part::Sub {
                    body,
                    first: j == 0,
                    last: j + 1 == n,
                    after_members: i > 0,
                });
            }
            continue;
        }
        let (s, _) = *run.get_or_insert((m.start, end));
        run = Some((s, end));
        if end - s >= target {
            flush(&mut run, &mut parts);
        }
    }
    flush(&mut run, &mut parts);
    Some(Plan {
        parts,
        meta,
        big_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(src: &str, target: usize) -> Option<(Vec<String>, String, Option<String>)> {
        let p = plan(src.as_bytes(), target)?;
        Some((
            p.parts.iter().map(|x| src[x.body()].to_string()).collect(),
            src[p.meta].to_string(),
            p.big_key.map(|r| src[r].to_string()),
        ))
    }

    const DOC: &str = "{\n\t\"a\": 1,\n\t\"big\": {\n\t\t\"x\": [\n\t\t\t1,\n\t\t\t2\n\t\t],\n\t\t\"y\": \"v,\",\n\t\t\"z\": {}\n\t},\n\t\"c\": true,\n\t\"sops\": {\n\t\t\"version\": \"3\"\n\t}\n}\n";

    #[test]
    fn cuts_root_and_big_member() {
        let (parts, meta, key) = texts(DOC, 1).expect("plan");
        assert_eq!(meta, "\n\t\"sops\": {\n\t\t\"version\": \"3\"\n\t}\n");
        assert_eq!(key.as_deref(), Some("\n\t\"big\": "));
        assert_eq!(
            parts,
            vec![
                "\n\t\"a\": 1",
                "\n\t\t\"x\": [\n\t\t\t1,\n\t\t\t2\n\t\t]",
                "\n\t\t\"y\": \"v,\"",
                "\n\t\t\"z\": {}\n\t",
                "\n\t\"c\": true",
            ]
        );
    }

    #[test]
    fn big_parts_keep_root_members_together() {
        let (parts, _, key) = texts(DOC, 1 << 20).expect("plan");
        assert_eq!(key, None);
        assert_eq!(parts.len(), 1);
    }

    #[test]
    fn plaintext_keeps_its_last_member() {
        let doc = DOC.replace(",\n\t\"sops\": {\n\t\t\"version\": \"3\"\n\t}", "");
        let p = plan_plain(doc.as_bytes(), 1).expect("plan");
        let close = doc.rfind('}').expect("close");
        assert_eq!(p.meta, close..close);
        let texts: Vec<&str> = p.parts.iter().map(|x| &doc[x.body()]).collect();
        assert_eq!(texts.last(), Some(&"\n\t\"c\": true\n"));
        assert_eq!(
            texts.first(),
            Some(&"\n\t\"a\": 1"),
            "the first member starts after the root's brace"
        );
    }

    #[test]
    fn declines_odd_layouts() {
        assert!(texts("[1,\n2]", 1).is_none());
        assert!(texts("{\"a\": 1, \"sops\": {}}", 1).is_none());
        assert!(texts("{\n\t\"sops\": {}\n}", 1).is_none());
        assert!(texts("", 1).is_none());
    }
}
