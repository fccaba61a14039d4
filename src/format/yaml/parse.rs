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
    let mut opts = Options::default();
    opts.max_buffered_comment_events = usize::MAX;
    // The builder enforces the exact limit; the parser's own stops just above it.
    opts.block_nesting_limit = crate::format::MAX_DEPTH + 2;
    opts.flow_nesting_limit = crate::format::MAX_DEPTH + 2;
    let mut b = Builder::new(input.len());
    for ev in Parser::new_from_str_with_options(input, opts) {
        let (ev, span) = ev.map_err(|e| scan_error(&e))?;
        feed(&mut b, ev, &span)?;
    }
    Ok(b.finish())
}

fn feed(b: &mut Builder, ev: Event<'_>, span: &Span) -> Result<(), FormatError> {
    let sp = Sp {
        line: span.start.line(),
        col: span.start.col(),
        end_line: span.end.line(),
    };
    let ev = match ev {
        Event::DocumentStart(..) => Ev::DocStart,
        Event::DocumentEnd => Ev::DocEnd,
        Event::Comment(text, placement) => Ev::Comment(text, placement == Placement::Right),
        Event::Scalar(text, style, anchor, tag) => {
            let kind = match style {
                ScalarStyle::Plain => Kind::Plain,
                ScalarStyle::Literal | ScalarStyle::Folded => Kind::Block,
                _ => Kind::Quoted,
            };
            let tag: Option<Cow<'_, Tag>> = tag;
            return b.event(
                Ev::Scalar(text, kind, anchor, tag_suffix(tag.as_deref())),
                &sp,
            );
        }
        Event::Alias(id) => Ev::Alias(id),
        Event::UnresolvedAlias(_) => Ev::UnknownAlias,
        Event::MappingStart(_, anchor, _) => Ev::MapStart(anchor),
        Event::SequenceStart(_, anchor, _) => Ev::SeqStart(anchor),
        Event::MappingEnd => Ev::MapEnd,
        Event::SequenceEnd => Ev::SeqEnd,
        _ => {
            b.touch(&sp);
            return Ok(());
        }
    };
    b.event(ev, &sp)
}
