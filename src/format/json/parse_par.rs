//! Reading a large JSON document with two threads, with exactly the sequential result.
//!
//! A JSON string never holds a raw newline, so in a valid document a `,` followed by
//! whitespace that includes a newline is structural: the next non-whitespace byte starts
//! an object member or an array element. [`find_split`] picks such a boundary `X` near the
//! middle of the input. A second thread (B) parses from `X` as a *fragment*: it assumes it
//! is inside a container of the kind the first token suggests (an object when `X` is a
//! string followed by `:`, else an array), parses members/elements exactly as the whole
//! parse does, and when that container closes it records its items as one *level*, then
//! carries on in the parent (whose kind it learns from the next token) and so on, until the
//! input ends after a closing bracket. It never consumes anything it cannot check.
//!
//! The main thread (A) parses from the start with the sequential code. Right after each
//! `,` and the whitespace following it, at or after `X`, it offers the position once:
//!
//! * if A is exactly at `X` with `d` containers open, B finished, popped exactly `d`
//!   levels, level `j`'s kind equals the kind of A's container at depth `d - j`, and no
//!   container B opened would have crossed [`MAX_DEPTH`] at A's depth, A appends level `j`'s
//!   items to its container at depth `d - j`, closes and attaches it as the sequential code
//!   does (with the key A already holds for it), and continues at B's last closing bracket;
//! * otherwise (A passed `X` elsewhere, B failed, kinds or depth differ) A drops B's
//!   result and simply goes on sequentially.
//!
//! Why this is exactly the sequential result: from `X`, the sequential parse's actions
//! until its container at depth `d` closes depend only on the bytes from `X`, that
//! container's kind and the depth (for the limit); it only appends to that container. B
//! performs the same actions on a fresh container of the same kind, so its level 0 holds
//! exactly the items the sequential parse appends, and it stops at the same closing
//! bracket. The same holds for each outer level in turn, whose kind A checks. B's depth
//! check is relative (`max_rel`); A checks the absolute limit. B's end is the last level's
//! closing bracket with only whitespace after it, which is where the sequential parse
//! closes the top-level object. Errors are never taken from B: when B failed, A parses the
//! rest itself, so messages, lines and columns are the sequential ones.
//!
//! B never builds values nested deeper than [`MAX_DEPTH`] (deeper input fails the whole
//! parse anyway), so dropping its result needs no more stack than the sequential reader.

use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::thread::ScopedJoinHandle;

use super::parse::Frame;
use super::parse::MAX_DEPTH;
use super::parse::Mode;
use super::parse::Outcome;
use super::parse::Parser;
use super::parse::parse_sequential;
use crate::format::FormatError;
use crate::tree::Item;
use crate::tree::Map;
use crate::tree::SeqItem;
use crate::tree::Value;

/// Inputs at least this long are read by two threads.
pub(super) const DEFAULT_THRESHOLD: usize = 1 << 20;

/// The stack of the fragment thread (only touched pages are used); dropping a value nested
/// [`MAX_DEPTH`] deep recurses.
const FRAGMENT_STACK: usize = 64 << 20;

/// How far past the middle a split boundary is looked for.
const SEARCH_LIMIT: usize = 1 << 20;

/// Parses with two threads when the input is at least `threshold` bytes long, more than
/// one CPU is available and a split boundary is found; sequentially otherwise.
pub(super) fn parse_top_object_with(input: &[u8], threshold: usize) -> Result<Map, FormatError> {
    if input.len() < threshold || crate::io::cores() <= 1 {
        return parse_sequential(input);
    }
    match find_split(input, input.len() / 2) {
        Some(at) => parse_split(input, at),
        None => parse_sequential(input),
    }
}

/// The first structural boundary at or after `from`: the first non-whitespace byte after a
/// `,` followed by whitespace that holds a newline.
pub(super) fn find_split(input: &[u8], from: usize) -> Option<usize> {
    let is_ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let limit = from.saturating_add(SEARCH_LIMIT);
    let mut i = from;
    while i < limit {
        let nl = i + input.get(i..)?.iter().position(|&b| b == b'\n')?;
        let before = input.get(..nl)?.iter().rposition(|b| !is_ws(b));
        if before.and_then(|c| input.get(c)) == Some(&b',') {
            return Some(nl + input.get(nl..)?.iter().position(|b| !is_ws(b))?);
        }
        i = nl + 1;
    }
    None
}

/// Whether a string followed by `:` starts at `at` (an object member, not an element).
fn looks_like_key(s: &[u8], at: usize) -> bool {
    if s.get(at) != Some(&b'"') {
        return false;
    }
    let mut i = at + 1;
    loop {
        match s.get(i) {
            Some(b'"') => break,
            Some(b'\\') => i += 2,
            Some(b'\n') | None => return false,
            Some(_) => i += 1,
        }
    }
    i += 1;
    while let Some(b' ' | b'\t' | b'\r' | b'\n') = s.get(i) {
        i += 1;
    }
    s.get(i) == Some(&b':')
}

/// Parses with a second thread reading from the boundary `at` (any offset: when it is
/// not a boundary the sequential parse never meets it and the result is still exact).
pub(super) fn parse_split(input: &[u8], at: usize) -> Result<Map, FormatError> {
    parse_split_traced(input, at).0
}

/// [`parse_split`], also telling whether the fragment was used.
pub(super) fn parse_split_traced(input: &[u8], at: usize) -> (Result<Map, FormatError>, bool) {
    let cancel = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .stack_size(FRAGMENT_STACK)
            .spawn_scoped(scope, || fragment(input, at, &cancel));
        let Ok(handle) = spawned else {
            return (parse_sequential(input), false);
        };
        let mut join = Join {
            at,
            handle: Some(handle),
            cancel: &cancel,
            spliced: false,
        };
        let mut p = Parser::new(input);
        p.validate_lo(at);
        p.splice_at = at;
        let result = p.top_object(Some(&mut join));
        // Stop the fragment thread early when A finished (or failed) without it.
        cancel.store(true, Ordering::Relaxed);
        // Joined, never dropped: dropping the handle detaches the thread, and glibc's
        // `pthread_detach` racing with the thread's own exit read its descriptor after
        // the exit had unmapped its 64 MiB stack (a SIGSEGV in CI, round 25). The scope
        // waits for the thread anyway, so the join costs nothing.
        if let Some(handle) = join.handle.take() {
            let _ = handle.join();
        }
        (result, join.spliced)
    })
}

/// What the fragment thread hands back.
pub(super) struct Fragment {
    /// The items of each closed level, innermost first.
    levels: Vec<Frame>,
    /// The offset of the last level's closing bracket.
    end: usize,
    /// The largest `open - popped` at which a container was opened (`isize::MIN`: none).
    max_rel: isize,
}

/// Parses the fragment from `at` to the end; `None` when it fails or is cancelled.
fn fragment(input: &[u8], at: usize, cancel: &AtomicBool) -> Option<Fragment> {
    let mut p = Parser::new(input);
    p.quiet = true;
    p.validate_hi(at);
    p.pos = at;
    p.splice_at = 0;
    let base = if looks_like_key(input, at) {
        Frame::Obj(Map::new(), p.parse_key().ok()?)
    } else {
        Frame::Arr(Vec::new())
    };
    let mut state = FragState {
        popped: 0,
        max_rel: isize::MIN,
        levels: Vec::new(),
        cancel,
    };
    match p.run(vec![base], Mode::Fragment(&mut state)) {
        Ok(Outcome::FragmentEnd(end)) => Some(Fragment {
            levels: state.levels,
            end,
            max_rel: state.max_rel,
        }),
        _ => None,
    }
}

/// The fragment parse's own state.
pub(super) struct FragState<'c> {
    /// How many levels have closed.
    pub(super) popped: usize,
    /// See [`Fragment::max_rel`].
    pub(super) max_rel: isize,
    levels: Vec<Frame>,
    cancel: &'c AtomicBool,
}

impl FragState<'_> {
    /// Whether the main thread no longer needs the fragment.
    pub(super) fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// The bottom container is at its closing bracket: records it as a level and continues
    /// in its parent. `Some(end)` when only whitespace follows, `None` when the parent has
    /// a next member/element (the stack then holds the parent and the position is at it).
    pub(super) fn close_level(
        &mut self,
        p: &mut Parser<'_>,
        stack: &mut Vec<Frame>,
    ) -> Result<Option<usize>, FormatError> {
        loop {
            let end = p.pos;
            let Some(frame) = stack.pop() else {
                return Err(p.err("internal parser error"));
            };
            self.levels.push(frame);
            self.popped += 1;
            // The whole parse never has more than MAX_DEPTH containers open.
            if self.popped > MAX_DEPTH {
                return Err(p.err("too many levels"));
            }
            p.pos += 1;
            p.skip_ws();
            match p.peek() {
                None => return Ok(Some(end)),
                Some(b',') => {
                    p.pos += 1;
                    p.skip_ws();
                    if looks_like_key(p.s, p.pos) {
                        let key = p.parse_key()?;
                        stack.push(Frame::Obj(Map::new(), key));
                    } else {
                        stack.push(Frame::Arr(Vec::new()));
                    }
                    return Ok(None);
                }
                Some(b'}') => stack.push(Frame::Obj(Map::new(), String::new())),
                Some(b']') => stack.push(Frame::Arr(Vec::new())),
                Some(_) => return Err(p.err("unexpected character")),
            }
        }
    }
}

/// The main thread's handle on the fragment thread.
pub(super) struct Join<'s> {
    at: usize,
    handle: Option<ScopedJoinHandle<'s, Option<Fragment>>>,
    cancel: &'s AtomicBool,
    spliced: bool,
}

impl Join<'_> {
    /// Called once, at the first comma boundary at or after the split offset, with the
    /// main parse's open containers. True when the fragment was spliced in: the position
    /// is then at the top-level object's closing bracket.
    pub(super) fn offer(
        &mut self,
        p: &mut Parser<'_>,
        stack: &mut Vec<Frame>,
    ) -> Result<bool, FormatError> {
        p.splice_at = usize::MAX;
        if self.cancel.load(Ordering::Relaxed) {
            // Offered before and cancelled: the fragment is not used.
            return Ok(false);
        }
        let fragment = if p.pos == self.at {
            let Some(handle) = self.handle.take() else {
                return Ok(false);
            };
            handle.join().ok().flatten()
        } else {
            if self.handle.is_none() {
                return Ok(false);
            }
            // Cancelled, and left to `parse_split_traced` to join (never detached).
            self.cancel.store(true, Ordering::Relaxed);
            None
        };
        match fragment {
            Some(f) if fits(&f, stack) => {
                splice(f, p, stack)?;
                self.spliced = true;
                Ok(true)
            }
            _ => {
                // Going on alone: validate the rest once instead of string by string.
                p.validate_hi(self.at);
                Ok(false)
            }
        }
    }
}

/// Whether the fragment continues the main parse whose open containers are `stack`.
fn fits(f: &Fragment, stack: &[Frame]) -> bool {
    let d = stack.len();
    let kinds_match = f.levels.len() == d
        && f.levels.iter().zip(stack.iter().rev()).all(|(l, s)| {
            matches!(
                (l, s),
                (Frame::Obj(..), Frame::Obj(..)) | (Frame::Arr(_), Frame::Arr(_))
            )
        });
    let depth_ok = (d as isize - 1).saturating_add(f.max_rel) < MAX_DEPTH as isize;
    kinds_match && depth_ok
}

/// Appends each level to its container, closing and attaching all but the outermost.
fn splice(f: Fragment, p: &mut Parser<'_>, stack: &mut Vec<Frame>) -> Result<(), FormatError> {
    let d = f.levels.len();
    for (j, level) in f.levels.into_iter().enumerate() {
        match (stack.last_mut(), level) {
            (Some(Frame::Obj(map, _)), Frame::Obj(items, _)) => map.0.extend(items.0),
            (Some(Frame::Arr(items)), Frame::Arr(more)) => items.extend(more),
            _ => return Err(p.err("internal parser error")),
        }
        if j + 1 < d {
            let value = match stack.pop() {
                Some(Frame::Obj(map, _)) => Value::Map(map),
                Some(Frame::Arr(items)) => Value::Seq(items),
                None => return Err(p.err("internal parser error")),
            };
            match stack.last_mut() {
                Some(Frame::Obj(map, key)) => map.0.push(Item::Entry(std::mem::take(key), value)),
                Some(Frame::Arr(items)) => items.push(SeqItem::Value(value)),
                None => return Err(p.err("internal parser error")),
            }
        }
    }
    p.pos = f.end;
    Ok(())
}
