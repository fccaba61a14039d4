//! The INI store (spec 2.4 and 6.5), following go-ini's reading and writing rules.
//!
//! Tree shape: one branch; every section (the implicit `DEFAULT` one always first) is an
//! entry `name → map`, the map holding `key → string` entries. Comments become comment
//! markers: a section's comment is the first item of its map, a key's comment the item
//! right after the key; the marker text has its leading `;`/`#` and spaces removed.
//!
//! The `[sops]` section holds the flattened metadata (no prefix); on reading, every
//! two-character `\n` in its values becomes a newline (this covers both the escaped form
//! and the `"""` multi-line values of sops 3.13.0/3.13.1); on writing, newlines are
//! written as `\n` again and the section comes last.

use crate::secbuf::SecureBuf;
use zeroize::Zeroizing;

use crate::format::EmitOptions;
use crate::format::FormatError;
use crate::format::Loaded;
use crate::format::Output;
use crate::format::Store;
use crate::format::flatten;
use crate::tree::Comment;
use crate::tree::Document;
use crate::tree::Item;
use crate::tree::Map;
use crate::tree::Value;

mod comments;
mod emit;
mod parse;

pub use comments::join_comments_as_ini_holds_them;

use crate::metadata::names;
use emit::OutKey;
use emit::OutSection;

const FORMAT: &str = "ini";

/// The name of the metadata section.
pub const SOPS_SECTION: &str = "sops";

/// The name of the section the reader always makes first (keys before any header).
pub const DEFAULT_SECTION: &str = "DEFAULT";

/// The ini store.
#[derive(Debug, Clone, Copy, Default)]
pub struct IniStore;

/// sops's `stripCommentChar`: drops the leading run of `;`/space (or `#`/space).
fn strip_comment_char(s: &str) -> &str {
    if s.starts_with(';') {
        s.trim_start_matches([';', ' '])
    } else if s.starts_with('#') {
        s.trim_start_matches(['#', ' '])
    } else {
        s
    }
}

fn with_format(e: FormatError) -> FormatError {
    FormatError {
        format: FORMAT,
        ..e
    }
}

/// Renders a key's value; containers cannot be written.
fn render(value: &Value) -> Result<Zeroizing<String>, FormatError> {
    match value {
        Value::Map(_) | Value::Seq(_) => Err(FormatError::new(
            FORMAT,
            format!(
                "an INI value cannot be a {}: values may only be nested section → key",
                value.kind_name()
            ),
        )),
        other => flatten::render_scalar(other)
            .ok_or_else(|| FormatError::new(FORMAT, "value is not valid UTF-8")),
    }
}

/// Turns one section map of the tree into the writer's form (go-ini's `NewKey` semantics:
/// a repeated key keeps its first position and takes the later value). Comment markers
/// are kept where INI can hold them (round 23; sops 3.11 drops the ones marked *):
/// `leading` (the top-level markers before this section*), the markers before the first
/// key (the first one, then the others*) make the section's comment; a run of markers
/// after a key makes that key's comment (sops keeps only the last one*). Joined markers
/// are one comment of several lines, which is how an INI reader reads them back.
fn section_from_map(name: &str, map: &Map, leading: &str) -> Result<OutSection, FormatError> {
    if name.is_empty() {
        return Err(FormatError::new(FORMAT, "empty section name"));
    }
    let mut sec = OutSection {
        name: name.to_owned(),
        comment: Zeroizing::new(leading.to_owned()),
        keys: Vec::new(),
    };
    let mut items = map.0.iter().peekable();
    while let Some(Item::Comment(c)) = items.peek() {
        join_comment(&mut sec.comment, c.text.as_str());
        items.next();
    }
    let mut last: Option<usize> = None;
    // Whether the item before is a comment marker: a run of markers is joined, while a
    // marker after a repeated key replaces the comment its first place had (as go-ini).
    let mut after_comment = false;
    // Where each key name is in `sec.keys` (a repeated name keeps its first place and
    // takes the last value, as go-ini does); a lookup per key keeps this linear.
    let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for item in items {
        match item {
            Item::Comment(c) => {
                if let Some(key) = last.and_then(|i| sec.keys.get_mut(i)) {
                    if after_comment {
                        join_comment(&mut key.comment, c.text.as_str());
                    } else {
                        key.comment = Zeroizing::new(c.text.as_str().to_owned());
                    }
                }
                after_comment = true;
            }
            Item::Entry(k, v) => {
                after_comment = false;
                if k.is_empty() {
                    return Err(FormatError::new(FORMAT, "empty key name"));
                }
                let value = render(v)?;
                if let Some(&i) = index.get(k.as_str()) {
                    if let Some(key) = sec.keys.get_mut(i) {
                        key.value = value;
                    }
                    last = Some(i);
                } else {
                    index.insert(k.as_str(), sec.keys.len());
                    last = Some(sec.keys.len());
                    sec.keys.push(OutKey {
                        name: k.clone(),
                        value,
                        comment: Zeroizing::new(String::new()),
                    });
                }
            }
        }
    }
    Ok(sec)
}

/// Adds a comment marker's text to a comment as its next line.
fn join_comment(comment: &mut Zeroizing<String>, text: &str) {
    if !comment.is_empty() {
        comment.push('\n');
    }
    comment.push_str(text);
}

impl Store for IniStore {
    fn name(&self) -> &'static str {
        "ini"
    }

    fn load(&self, input: &[u8]) -> Result<Loaded, FormatError> {
        let parse::RawFile {
            sections,
            mut trailing,
        } = parse::parse(input)?;
        let mut data = Map::new();
        let mut meta_section: Option<parse::RawSection> = None;
        for sec in sections {
            if sec.name == SOPS_SECTION {
                if meta_section.is_some() {
                    return Err(FormatError::new(FORMAT, "found a duplicate [sops] section"));
                }
                // leafseal writes a trailing comment of the data as the comment of the
                // `[sops]` header, the section written last (sops ignores it).
                if trailing.is_empty() && !sec.comment.is_empty() {
                    trailing = Zeroizing::new(sec.comment.as_str().to_owned());
                }
                meta_section = Some(sec);
                continue;
            }
            let mut map = Map::new();
            if !sec.comment.is_empty() {
                map.push_comment(Comment::line(strip_comment_char(&sec.comment)));
            }
            for key in sec.keys {
                map.push(key.name, Value::str(key.value.as_str()));
                if !key.comment.is_empty() {
                    map.push_comment(Comment::line(strip_comment_char(&key.comment)));
                }
            }
            data.push(sec.name, Value::Map(map));
        }
        if !trailing.is_empty() {
            data.push_comment(Comment::line(strip_comment_char(&trailing)));
        }
        let meta = match meta_section {
            None => None,
            Some(sec) => {
                let items = sec
                    .keys
                    .into_iter()
                    .map(|k| (k.name, k.value.replace("\\n", "\n")))
                    .collect();
                let m = flatten::unflatten(items).map_err(with_format)?;
                Some(names::canonical_in_store(
                    "ini",
                    m,
                    names::FieldNames::GoJsonText,
                )?)
            }
        };
        Ok(Loaded {
            doc: Document::single(data),
            meta,
        })
    }

    fn emit(
        &self,
        doc: &Document,
        meta: Option<&Map>,
        _opts: &EmitOptions,
    ) -> Result<Output, FormatError> {
        if doc.branches.len() > 1 {
            return Err(FormatError::new(
                FORMAT,
                "an INI file holds exactly one document",
            ));
        }
        let mut sections = Vec::new();
        // Top-level comment markers: the comment of the section after them, or after the
        // last section the file's trailing comment.
        let mut trailing = Zeroizing::new(String::new());
        for item in doc.branches.iter().flat_map(|b| b.0.iter()) {
            let (name, value) = match item {
                Item::Comment(c) => {
                    join_comment(&mut trailing, c.text.as_str());
                    continue;
                }
                Item::Entry(name, value) => (name, value),
            };
            let Value::Map(map) = value else {
                return Err(FormatError::new(
                    FORMAT,
                    format!(
                        "top-level INI values must be sections (maps), found a {}",
                        value.kind_name()
                    ),
                ));
            };
            let leading = std::mem::take(&mut trailing);
            sections.push(section_from_map(name, map, &leading)?);
        }
        if let Some(meta) = meta {
            let flat = flatten::flatten(meta).map_err(with_format)?;
            sections.push(OutSection {
                name: SOPS_SECTION.to_owned(),
                comment: std::mem::take(&mut trailing),
                keys: flat
                    .into_iter()
                    .map(|(name, value)| OutKey {
                        name,
                        value: Zeroizing::new(value.replace('\n', "\\n")),
                        comment: Zeroizing::new(String::new()),
                    })
                    .collect(),
            });
        }
        let mut out = SecureBuf::with_capacity(1024);
        emit::write(&sections, &trailing, &mut out);
        Ok(out.finish())
    }

    /// One value (`--extract`): sops writes it as JSON (`json.Marshal`), so a string
    /// comes quoted and a timestamp with its fractional seconds; a map or list is refused
    /// (sops writes Go's internal form of a map).
    fn emit_value(&self, value: &Value, _opts: &EmitOptions) -> Result<Output, FormatError> {
        if let Value::Map(_) | Value::Seq(_) = value {
            render(value)?;
        }
        crate::format::json::JsonStore
            .emit_value(value, &EmitOptions::default())
            .map_err(|e| FormatError::new(FORMAT, e.to_string()))
    }
}

#[cfg(test)]
mod tests;
