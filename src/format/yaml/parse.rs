//! The full YAML reader: granit-parser events translated into builder events.

use std::borrow::Cow;

use granit_parser::Event;
use granit_parser::Options;
use granit_parser::Parser;
use granit_parser::Placement;
use granit_parser::ScalarStyle;
use granit_parser::ScanError;
use granit_parser::Span;
use granit_parser::Tag;

use super::builder::Builder;
use super::builder::Ev;
use super::builder::Kind;
use super::builder::Sp;
use crate::format::FormatError;
use crate::tree::Map;

const FMT: &str = "yaml";

fn scan_error(e: &ScanError) -> FormatError {
    use granit_parser::ErrorKind as K;
    let msg = match e.kind() {
        K::UnexpectedCharacter { .. } => "unexpected character".to_owned(),
        K::Custom(_) => "invalid YAML".to_owned(),
        K::UnknownAnchor => "alias refers to an unknown anchor".to_owned(),
        K::RecursionLimitExceeded => format!(
            "nesting too deep (more than {} levels of mappings and sequences)",
            crate::format::MAX_DEPTH
        ),
        other => {
            let s = other.to_string();
            if s.is_empty() {
                "invalid YAML".to_owned()
            } else {
                s
            }
        }
    };
    let m = e.marker();
    FormatError::at(FMT, format!("invalid YAML: {msg}"), m.line(), m.col() + 1)
}

fn tag_suffix(tag: Option<&Tag>) -> Option<&str> {
    let t = tag?;
    if t.handle() == "tag:yaml.org,2002:" {
        Some(t.suffix())
    } else {
        Some("")
    }
}

/// Parses a YAML stream into branches (one per document).
pub(crate) fn parse(input: &str) -> Result<Vec<Map>, FormatError> {
    let mut yaml11 = super::breaks::any(input.as_bytes()).then(Vec::new);
    // The last line has content and no line break after it.
    let unterminated = input
        .rsplit(['\n', '\r'])
        .next()
        .is_some_and(|last| !last.trim().is_empty());
    let mut opts = Options::default();
    opts.max_buffered_comment_events = usize::MAX;
    // The builder enforces the exact limit; the parser's own stops just above it.
    opts.block_nesting_limit = crate::format::MAX_DEPTH + 2;
    opts.flow_nesting_limit = crate::format::MAX_DEPTH + 2;
    let mut b = Builder::new(input.len());
    b.go_yaml_feet(super::builder::is_plaintext(input.as_bytes()));
    let mut flow = FlowComments::default();
    let mut tail = DocumentTail::new(input);
    let mut pass = |ev, span| flow.pass(ev, span, input, |ev, span| tail.pass(&mut b, ev, span));
    // Comments held until the next event: granit-parser sends an implicit null after the
    // comments that follow it when the key has an anchor (`data: &m1` / `  # c`); the
    // builder takes events in the order of the text.
    let mut comments: Vec<(Event<'_>, Span)> = Vec::new();
    for ev in Parser::new_from_str_with_options(input, opts) {
        let (mut ev, span) = ev.map_err(|e| scan_error(&e))?;
        if let Some(read) = yaml11.as_mut() {
            ev = as_go_yaml_reads(ev, &span, input, read)?;
        }
        if unterminated {
            ev = last_line_unbroken(ev, &span, input);
        }
        refuse_slash_escape(&ev, &span, input)?;
        if matches!(ev, Event::Comment(..)) {
            comments.push((ev, span));
            continue;
        }
        let early = matches!(ev, Event::Scalar(..))
            && span.is_empty()
            && comments
                .first()
                .is_some_and(|(_, c)| c.start.index() > span.start.index());
        if early {
            pass(ev, span)?;
            for (c, at) in comments.drain(..) {
                pass(c, at)?;
            }
        } else {
            for (c, at) in comments.drain(..) {
                pass(c, at)?;
            }
            pass(ev, span)?;
        }
    }
    for (c, at) in comments.drain(..) {
        pass(c, at)?;
    }
    tail.flush(&mut b, true)?;
    if let Some(read) = &yaml11 {
        refuse_unread_breaks(input, read)?;
    }
    Ok(b.finish())
}

/// A block scalar whose last line ends the input without a line break: granit-parser
/// counts the end of the input as a line break (`a: |` then `  x` without `\n` reads
/// `x\n`), go-yaml (sops), as YAML itself, does not (`x`). Found by the round-16
/// differential run: leafseal encrypted a different value from sops's.
fn last_line_unbroken<'a>(ev: Event<'a>, span: &Span, input: &str) -> Event<'a> {
    let Event::Scalar(text, style, anchor, tag) = ev else {
        return ev;
    };
    let block = matches!(style, ScalarStyle::Literal | ScalarStyle::Folded);
    let at_end = span.byte_range().is_some_and(|r| {
        input
            .get(r.end..)
            .is_some_and(|rest| rest.trim().is_empty())
    });
    if !(block && at_end && text.ends_with('\n')) {
        return Event::Scalar(text, style, anchor, tag);
    }
    let mut text = text.into_owned();
    text.pop();
    Event::Scalar(Cow::Owned(text), style, anchor, tag)
}

/// Refuses the escape `\/` in a double-quoted scalar: YAML 1.2 has it, go-yaml (YAML
/// 1.1) does not, and sops refuses the file ("found unknown escape character", exit 2).
/// Reading it would make a file one tool takes and the other does not (round 20, F6).
fn refuse_slash_escape(ev: &Event<'_>, span: &Span, input: &str) -> Result<(), FormatError> {
    if !matches!(ev, Event::Scalar(_, ScalarStyle::DoubleQuoted, ..)) {
        return Ok(());
    }
    let Some(raw) = span.byte_range().and_then(|r| input.get(r)) else {
        return Ok(());
    };
    if !crate::find::contains(raw.as_bytes(), b"\\/") {
        return Ok(());
    }
    let b = raw.as_bytes();
    let mut i = 0;
    while let Some(at) = crate::find::byte(b'\\', b.get(i..).unwrap_or_default()) {
        let at = i + at;
        if b.get(at + 1) == Some(&b'/') {
            let before = input
                .get(..span.byte_range().map_or(0, |r| r.start) + at)
                .unwrap_or_default();
            let (line, col) = line_and_column(before);
            return Err(FormatError::at(
                FMT,
                "invalid YAML: found unknown escape character `\\/` (sops reads YAML 1.1, \
                 which has no such escape; write `/` alone)",
                line,
                col,
            ));
        }
        i = at + 2;
    }
    Ok(())
}

/// A quoted scalar holding U+0085, U+2028 or U+2029 read again as go-yaml (sops) reads
/// it ([`super::breaks`]); its source range is added to `read`.
fn as_go_yaml_reads<'a>(
    ev: Event<'a>,
    span: &Span,
    input: &str,
    read: &mut Vec<std::ops::Range<usize>>,
) -> Result<Event<'a>, FormatError> {
    let Event::Scalar(text, style, anchor, tag) = ev else {
        return Ok(ev);
    };
    let quoted = matches!(style, ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted);
    let range = span.byte_range().filter(|_| quoted);
    let Some(raw) = range.clone().and_then(|r| input.get(r)) else {
        return Ok(Event::Scalar(text, style, anchor, tag));
    };
    if !super::breaks::any(raw.as_bytes()) {
        return Ok(Event::Scalar(text, style, anchor, tag));
    }
    let m = span.start;
    let at = |why: &str| {
        FormatError::at(
            FMT,
            format!("invalid YAML: {why} (read as sops reads line breaks)"),
            m.line(),
            m.col() + 1,
        )
    };
    let text = super::breaks::quoted(raw).map_err(at)?;
    read.extend(range);
    Ok(Event::Scalar(
        Cow::Owned(text.as_str().to_owned()),
        style,
        anchor,
        tag,
    ))
}

/// Refuses U+0085, U+2028 or U+2029 outside a quoted scalar: sops (YAML 1.1) breaks the
/// line there, YAML 1.2 reads a character, so the two would read different documents.
fn refuse_unread_breaks(input: &str, read: &[std::ops::Range<usize>]) -> Result<(), FormatError> {
    let mut ranges = read.iter().peekable();
    for at in super::breaks::offsets(input.as_bytes()) {
        while ranges.next_if(|r| r.end <= at).is_some() {}
        if ranges.peek().is_some_and(|r| r.contains(&at)) {
            continue;
        }
        let before = input.get(..at).unwrap_or_default();
        let (line, col) = line_and_column(before);
        return Err(FormatError::at(
            FMT,
            "a YAML 1.1 line break (U+0085, U+2028 or U+2029) outside quotes: sops reads \
             it as a line break, YAML 1.2 as a character, so the file would not mean the \
             same to both. Put the value in double quotes and write the character as the \
             escape \\N, \\L or \\P",
            line,
            col,
        ));
    }
    Ok(())
}

/// Where the run of spaces that ends at byte `end` of `input` begins, when that run
/// starts its line (only spaces between the line's start and `end`): looked for backwards
/// over the spaces only, so that a long line (a one-line document of 40,000 `[`) is not
/// searched again for every event on it, which made reading such a file quadratic.
fn spaces_from_line_start(input: &[u8], end: usize) -> Option<usize> {
    let before = input.get(..end)?;
    let first = before.iter().rposition(|&c| c != b' ').map_or(0, |i| i + 1);
    (first == 0 || before.get(first - 1) == Some(&b'\n')).then_some(first)
}

/// Whether `text` (after a list item's dash) holds only node properties (`&anchor`,
/// `!tag`), then at most a comment.
fn only_properties(text: &str) -> bool {
    let body = text.split(" #").next().unwrap_or(text);
    let mut words = body.split(' ').filter(|w| !w.is_empty()).peekable();
    words.peek().is_some() && words.all(|w| w.starts_with('&') || w.starts_with('!'))
}

/// The dash column of a list whose events start after its first dash on the same line
/// (granit-parser starts a list at its key's column, `k:` / `- a`, at the first item),
/// for [`Ev::SeqStart`]; the builder checks that it is the key's column.
fn dash_before(input: &str, span: &Span) -> Option<usize> {
    let start = span.byte_range()?.start;
    let bytes = input.as_bytes();
    let spaces = bytes
        .get(..start)?
        .iter()
        .rev()
        .take_while(|&&c| c == b' ')
        .count();
    if spaces == 0 {
        return None;
    }
    let dash = (start - spaces).checked_sub(1)?;
    if bytes.get(dash) != Some(&b'-') {
        return None;
    }
    let line_start = spaces_from_line_start(bytes, dash)?;
    Some(dash - line_start)
}

/// For a map whose first key (at `line`) is on a line after its list item's dash, the
/// line of that lone dash (`-`, or `- # c`), comment lines between; for [`Ev::MapStart`].
/// The comments after that line are the collection's, those before it the list's.
///
/// A dash with only an anchor or tag (`- &a`, `- !!map # c`): go-yaml (sops 3.11) gives
/// the collection every comment since the list's previous item, those before the dash
/// too (measured, round 24), so the line is 0.
/// Only for a collection that starts its line ([`starts_its_line`], checked first).
fn lone_dash_line(input: &str, span: &Span, line: usize) -> Option<usize> {
    let start = span.byte_range()?.start;
    let line_start = spaces_from_line_start(input.as_bytes(), start)?;
    let before = input.get(..line_start.checked_sub(1)?)?;
    for (above, text) in before.rsplit('\n').enumerate() {
        let back = above + 1;
        let t = text.trim_matches([' ', '\r']);
        if t.starts_with('#') {
            continue;
        }
        let after_dash = t.strip_prefix('-')?.trim_start_matches(' ');
        if after_dash.is_empty() || after_dash.starts_with('#') {
            return Some(line.saturating_sub(back));
        }
        return only_properties(after_dash).then_some(0);
    }
    None
}

/// Whether only spaces stand before `span` on its line (a list whose first dash opens
/// its line, not a compact `- - 1`).
fn starts_its_line(input: &str, span: &Span) -> bool {
    span.byte_range()
        .and_then(|r| spaces_from_line_start(input.as_bytes(), r.start))
        .is_some()
}

fn feed(b: &mut Builder, ev: Event<'_>, span: &Span, input: &str) -> Result<(), FormatError> {
    let sp = Sp {
        line: span.start.line(),
        col: span.start.col(),
        end_line: span.end.line(),
    };
    // The end of a flow collection (`}` or `]`): a comment after it on its line is the
    // collection's (see `Builder::flow_collection_ended`).
    let flow_end = matches!(ev, Event::MappingEnd | Event::SequenceEnd)
        && span
            .byte_range()
            .and_then(|r| input.get(r.start..))
            .is_some_and(|t| t.starts_with(['}', ']']));
    let ev = match ev {
        Event::DocumentStart(..) => Ev::DocStart,
        Event::DocumentEnd => Ev::DocEnd,
        Event::Comment(text, placement) => Ev::Comment(text, placement == Placement::Right),
        Event::Scalar(mut text, style, anchor, tag) => {
            let kind = match style {
                ScalarStyle::Plain => Kind::Plain,
                ScalarStyle::Literal | ScalarStyle::Folded => Kind::Block,
                _ => Kind::Quoted,
            };
            // granit-parser gives an implicit null (`k:` alone) as `~` of no width; the
            // builder knows it as the empty text, as the fast reader sends it.
            if kind == Kind::Plain && tag.is_none() && span.is_empty() {
                text = Cow::Borrowed("");
            }
            let tag: Option<Cow<'_, Tag>> = tag;
            return b.event(
                Ev::Scalar(text, kind, anchor, tag_suffix(tag.as_deref())),
                &sp,
            );
        }
        Event::Alias(id) => Ev::Alias(id),
        Event::UnresolvedAlias(_) => Ev::UnknownAlias,
        Event::MappingStart(_, anchor, _) => {
            let dash_line = starts_its_line(input, span)
                .then(|| lone_dash_line(input, span, sp.line))
                .flatten();
            Ev::MapStart(anchor, dash_line)
        }
        Event::SequenceStart(_, anchor, _) => Ev::SeqStart(
            anchor,
            dash_before(input, span),
            starts_its_line(input, span)
                .then(|| lone_dash_line(input, span, sp.line))
                .flatten(),
        ),
        Event::MappingEnd => Ev::MapEnd,
        Event::SequenceEnd => Ev::SeqEnd,
        _ => {
            b.touch(&sp);
            return Ok(());
        }
    };
    b.event(ev, &sp)?;
    if flow_end {
        b.flow_collection_ended(&sp);
    }
    Ok(())
}

/// Comments inside an empty flow collection (`{`, a comment line, `}`) are dropped, as
/// go-yaml (sops) drops them: sops writes a line comment after `abc: {}` inside the
/// braces, encrypted, and never reads it back, so `sops decrypt` shows `abc: {}`. leafseal
/// read such a comment as the parent's and failed to decrypt it (exit 25; the round-16
/// fuzz's F1). A comment inside a flow collection that has items is passed on before
/// its first item, as before.
#[derive(Default)]
struct FlowComments<'a> {
    /// One entry per open collection: whether it is a flow collection that has had no
    /// item yet, and the comments held for it meanwhile.
    open: Vec<(bool, Vec<(Event<'a>, Span)>)>,
}

impl<'a> FlowComments<'a> {
    /// Hands `ev` to `feed`, or holds it, with whatever it releases, in order.
    fn pass(
        &mut self,
        ev: Event<'a>,
        span: Span,
        input: &str,
        mut feed: impl FnMut(Event<'a>, &Span) -> Result<(), FormatError>,
    ) -> Result<(), FormatError> {
        match &ev {
            Event::Comment(..) => {
                if let Some((true, held)) = self.open.last_mut() {
                    held.push((ev, span));
                    return Ok(());
                }
            }
            Event::MappingEnd | Event::SequenceEnd => {
                // An empty flow collection's comments go with it.
                self.open.pop();
            }
            Event::Scalar(..)
            | Event::Alias(_)
            | Event::UnresolvedAlias(_)
            | Event::MappingStart(..)
            | Event::SequenceStart(..) => {
                if let Some((empty, held)) = self.open.last_mut() {
                    *empty = false;
                    for (c, at) in held.drain(..) {
                        feed(c, &at)?;
                    }
                }
                if matches!(ev, Event::MappingStart(..) | Event::SequenceStart(..)) {
                    let flow = span
                        .byte_range()
                        .and_then(|r| input.get(r.start..))
                        .is_some_and(|t| t.starts_with(['{', '[']));
                    self.open.push((flow, Vec::new()));
                }
            }
            _ => {}
        }
        feed(ev, &span)
    }
}

/// Collection ends and comments held until what follows them is known, so that the
/// builder is told when they close the document ([`Builder::closing_at_end`]): only
/// comments follow, and go-yaml places trailing comments by their own rule there. The
/// fast reader tells it at its end of document the same way.
struct DocumentTail<'a> {
    held: Vec<(Event<'a>, Span)>,
    /// Whether a collection end is among the held events.
    ends: bool,
    input: &'a str,
}

impl<'a> DocumentTail<'a> {
    fn new(input: &'a str) -> Self {
        DocumentTail {
            held: Vec::new(),
            ends: false,
            input,
        }
    }

    fn pass(&mut self, b: &mut Builder, ev: Event<'a>, span: &Span) -> Result<(), FormatError> {
        match ev {
            Event::MappingEnd | Event::SequenceEnd => {
                self.ends = true;
                self.held.push((ev, *span));
                Ok(())
            }
            Event::Comment(..) if self.ends => {
                self.held.push((ev, *span));
                Ok(())
            }
            Event::DocumentEnd | Event::StreamEnd => {
                self.flush(b, true)?;
                feed(b, ev, span, self.input)
            }
            _ => {
                self.flush(b, false)?;
                feed(b, ev, span, self.input)
            }
        }
    }

    /// Feeds the held events; `at_end` when the document ends after them.
    fn flush(&mut self, b: &mut Builder, at_end: bool) -> Result<(), FormatError> {
        if self.held.is_empty() {
            return Ok(());
        }
        if at_end && self.ends {
            b.closing_at_end();
        }
        self.ends = false;
        for (ev, span) in self.held.drain(..) {
            feed(b, ev, &span, self.input)?;
        }
        Ok(())
    }
}

/// The line and column (1-based, the column in characters) just after `before`, the
/// text that precedes a position.
fn line_and_column(before: &str) -> (usize, usize) {
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .unwrap_or_default()
        .chars()
        .count()
        + 1;
    (line, col)
}
