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

    /// The same part with its text at `at` (a part's text read on its own: `rotate` of
    /// a file).
    pub(crate) fn moved_to(&self, at: Range<usize>) -> Part {
        let mut p = self.clone();
        match &mut p {
            Part::Top { body, .. } | Part::Sub { body, .. } => *body = at,
        }
        p
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

/// Whether `b` is JSON whitespace.
pub(crate) fn is_ws(b: u8) -> bool {
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

/// A root member: where its text starts (after the comma before it, or after the root's
/// `{`) and, when its line ends with `{`, the cut points inside that object.
struct Member {
    start: usize,
    /// The indentation of the object's first member, once its line was seen.
    inner: Option<Vec<u8>>,
    /// Whether the next line gives `inner`.
    opens: bool,
    /// Commas before member lines of the object.
    cuts: Vec<usize>,
    /// The first `{` of the member's text.
    brace: Option<usize>,
    /// The last byte before the comma that ends the member that is not whitespace.
    end: Option<(usize, u8)>,
}

impl Member {
    fn new(start: usize) -> Member {
        Member {
            start,
            inner: None,
            opens: false,
            cuts: Vec::new(),
            brace: None,
            end: None,
        }
    }
}

/// Where the planner is in the document.
enum Phase {
    /// Before the root's `{` (whitespace only).
    Start,
    /// After the root's `{` (which ended its line): the next line gives the root members'
    /// indentation.
    Open,
    /// Among the root members, whose indentation is this.
    Members(Vec<u8>),
}

/// The planner, fed the document's lines one at a time (so that a file can be read in
/// blocks), then [`Planner::finish`]ed.
pub(crate) struct Planner {
    phase: Phase,
    /// The offset of the root's `{`.
    open: usize,
    /// The offset and value of the last byte that is not whitespace so far.
    last: Option<(usize, u8)>,
    /// The same for the byte before that one.
    before_last: Option<(usize, u8)>,
    members: Vec<Member>,
}

impl Planner {
    pub(crate) fn new() -> Planner {
        Planner {
            phase: Phase::Start,
            open: 0,
            last: None,
            before_last: None,
            members: Vec::new(),
        }
    }

    /// Takes the next line (without its line break), starting at byte `at`; `false` when
    /// the document cannot be cut (it is read as a tree).
    pub(crate) fn line(&mut self, at: usize, line: &[u8]) -> bool {
        let ok = self.step(at, line).is_some();
        if let Some(p) = line.iter().rposition(|&b| !is_ws(b)) {
            let before = line
                .get(..p)
                .and_then(|l| l.iter().rposition(|&b| !is_ws(b)));
            self.before_last = match before {
                Some(q) => line.get(q).map(|&b| (at + q, b)),
                None => self.last,
            };
            self.last = line.get(p).map(|&b| (at + p, b));
        }
        ok
    }

    fn step(&mut self, at: usize, line: &[u8]) -> Option<()> {
        match &self.phase {
            Phase::Start => {
                let Some(p) = line.iter().position(|&b| !is_ws(b)) else {
                    return Some(());
                };
                // The root's `{` ends its line.
                if line.get(p) != Some(&b'{') || line.get(p + 1..)?.iter().any(|&b| !is_ws(b)) {
                    return None;
                }
                self.open = at + p;
                self.members.push(Member::new(at + p + 1));
                self.phase = Phase::Open;
                Some(())
            }
            Phase::Open => {
                let ind = indentation(line);
                if line.get(ind.len()) != Some(&b'"') {
                    return None;
                }
                self.phase = Phase::Members(ind.to_vec());
                self.member_line(at, line)
            }
            Phase::Members(_) => self.member_line(at, line),
        }
    }

    /// A line after the root's `{` line.
    fn member_line(&mut self, at: usize, line: &[u8]) -> Option<()> {
        let Phase::Members(u1) = &self.phase else {
            return None;
        };
        let open = self.open;
        let prev = self.last.filter(|&(p, _)| p > open);
        let before_prev = self.before_last;
        let after_comma = prev.is_some_and(|(_, b)| b == b',');
        // (The indentation is a few bytes: compared byte by byte, not with `memcmp`.)
        let is_member = |ind: &[u8]| {
            line.get(ind.len()) == Some(&b'"') && line.iter().zip(ind).all(|(a, b)| a == b)
        };
        let m = self.members.last_mut()?;
        if m.opens {
            // The line after a member line that ended with `{`.
            m.opens = false;
            let ind = indentation(line);
            if ind.len() > u1.len() && line.get(ind.len()) == Some(&b'"') {
                m.inner = Some(ind.to_vec());
            }
        } else if after_comma && is_member(u1) {
            m.end = before_prev;
            self.members.push(Member::new(prev?.0 + 1));
        } else if let Some(inner) = &m.inner
            && after_comma
            && is_member(inner)
        {
            m.cuts.push(prev?.0);
        }
        let m = self.members.last_mut()?;
        if m.brace.is_none() {
            let from = m.start.saturating_sub(at).min(line.len());
            m.brace = memchr::memchr(b'{', line.get(from..)?).map(|p| at + from + p);
        }
        // A member line that ends with `{` opens an object whose members may be cut.
        if m.cuts.is_empty() && m.inner.is_none() && is_member(u1) {
            m.opens = line
                .iter()
                .rposition(|&b| !is_ws(b))
                .and_then(|p| line.get(p))
                == Some(&b'{');
        }
        Some(())
    }

    /// The first parts of the plan that [`finish`](Self::finish) will most likely give,
    /// from the lines seen so far, and the range of the big member's key text: once the
    /// member being read has cut points and is at least twice `target` long (and no
    /// earlier member with cut points is longer), it is taken for the big member, and
    /// the runs of root members before it and its sub-parts up to its last cut so far
    /// are settled (cut greedily, as `finish` cuts them). `None` when nothing is settled
    /// yet. Only a guess: the caller compares it with the final plan.
    pub(crate) fn settled(&self, target: usize) -> Option<(Vec<Part>, Range<usize>)> {
        let Phase::Members(_) = self.phase else {
            return None;
        };
        let (m, before) = self.members.split_last()?;
        let (brace, &last_cut) = (m.brace?, m.cuts.last()?);
        m.inner.as_ref()?;
        let so_far = last_cut.checked_sub(m.start)?;
        if so_far < target.saturating_mul(2) || last_cut <= brace {
            return None;
        }
        let ends: Vec<usize> = self.members.iter().skip(1).map(|n| n.start - 1).collect();
        if before
            .iter()
            .zip(&ends)
            .any(|(b, &end)| !b.cuts.is_empty() && end - b.start >= so_far)
        {
            return None;
        }
        let open = self.open;
        let mut parts = Vec::new();
        let mut run: Option<(usize, usize)> = None;
        let flush = |run: &mut Option<(usize, usize)>, parts: &mut Vec<Part>| {
            if let Some((s, e)) = run.take() {
                parts.push(Part::Top {
                    body: s..e,
                    first: s == open + 1,
                });
            }
        };
        for (b, &end) in before.iter().zip(&ends) {
            let (s, _) = *run.get_or_insert((b.start, end));
            run = Some((s, end));
            if end - s >= target {
                flush(&mut run, &mut parts);
            }
        }
        flush(&mut run, &mut parts);
        let mut from = brace + 1;
        let mut first = true;
        for &cut in &m.cuts {
            if cut - from >= target {
                parts.push(Part::Sub {
                    body: from..cut,
                    first,
                    last: false,
                    after_members: !before.is_empty(),
                });
                first = false;
                from = cut + 1;
            }
        }
        (!first).then_some((parts, m.start..brace))
    }

    /// The root members' indentation and that of the members of the object the member
    /// being read opens, once its first member line was seen.
    pub(crate) fn indentations(&self) -> Option<(&[u8], &[u8])> {
        let Phase::Members(root) = &self.phase else {
            return None;
        };
        Some((root, self.members.last()?.inner.as_deref()?))
    }

    /// The plan of a document of `len` bytes whose lines were all taken, aiming at
    /// `target` bytes per part; `None` when it is not laid out as the planner needs.
    pub(crate) fn finish(self, len: usize, target: usize) -> Option<Plan> {
        self.finish_with(len, target, true)
    }

    /// [`Planner::finish`] for a plaintext document (see [`Planner::finish_with`]).
    pub(crate) fn finish_plain(self, len: usize, target: usize) -> Option<Plan> {
        self.finish_with(len, target, false)
    }

    /// [`Planner::finish`] (`has_meta`: the last root member is the metadata), or for a
    /// plaintext document: no `sops` member is taken off the end, every root member is in
    /// a part, and [`Plan::meta`] is the empty range at the root's `}`.
    fn finish_with(mut self, len: usize, target: usize, has_meta: bool) -> Option<Plan> {
        let _ = len;
        let Phase::Members(_) = self.phase else {
            return None;
        };
        let open = self.open;
        let (close, b) = self.last?;
        if b != b'}' || close <= open {
            return None;
        }
        // The last member is the metadata; the others are parts.
        let (meta, last_end) = if has_meta {
            let meta_member = self.members.pop()?;
            if meta_member.start > close {
                return None;
            }
            (meta_member.start..close, meta_member.start - 1)
        } else {
            // The last member ends before the root's `}` (no member follows to say so).
            if let Some(m) = self.members.last_mut()
                && m.end.is_none()
            {
                m.end = self.before_last;
            }
            (close..close, close)
        };
        let members = self.members;
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
                // The member's own braces: the first `{` after its key, the last `}` before
                // its end (both checked by the part reader, which reads what is between).
                let (brace, (last, b)) = (m.brace?, m.end?);
                if b != b'}' || last <= brace || last >= end {
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
}

/// Plans the parts of `src` (without a byte-order mark), aiming at `target` bytes per
/// part; `None` when the document is not laid out as the planner needs.
pub(crate) fn plan(src: &[u8], target: usize) -> Option<Plan> {
    plan_with(src, target, true)
}

/// Plans the parts of a plaintext document (see [`Planner::finish_with`]): the
/// encrypt plans them while its MAC pass reads them (`encrypt::json_overlap`), and with
/// this when a jump's guess did not hold (module `jump`).
pub(crate) fn plan_plain(src: &[u8], target: usize) -> Option<Plan> {
    plan_with(src, target, false)
}

/// [`plan`] or [`plan_plain`], the lines fed to one [`Planner`].
fn plan_with(src: &[u8], target: usize, has_meta: bool) -> Option<Plan> {
    let mut p = Planner::new();
    let mut at = 0;
    for nl in memchr::memchr_iter(b'\n', src) {
        if !p.line(at, src.get(at..nl)?) {
            return None;
        }
        at = nl + 1;
    }
    if !p.line(at, src.get(at..)?) {
        return None;
    }
    p.finish_with(src.len(), target, has_meta)
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
    fn plaintext_with_the_big_member_last_is_cut() {
        let doc = "{\n\t\"a\": 1,\n\t\"big\": {\n\t\t\"x\": \"1\",\n\t\t\"y\": \"2\",\n\t\t\"z\": \"3\"\n\t}\n}\n";
        let p = plan_plain(doc.as_bytes(), 1).expect("plan");
        let key = p.big_key.clone().map(|r| doc[r].to_string());
        assert_eq!(key.as_deref(), Some("\n\t\"big\": "));
        let texts: Vec<&str> = p.parts.iter().map(|x| &doc[x.body()]).collect();
        assert_eq!(
            texts,
            [
                "\n\t\"a\": 1",
                "\n\t\t\"x\": \"1\"",
                "\n\t\t\"y\": \"2\"",
                "\n\t\t\"z\": \"3\"\n\t"
            ]
        );
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
    fn declines_odd_layouts() {
        assert!(texts("[1,\n2]", 1).is_none());
        assert!(texts("{\"a\": 1, \"sops\": {}}", 1).is_none());
        assert!(texts("{\n\t\"sops\": {}\n}", 1).is_none());
        assert!(texts("", 1).is_none());
    }
}
