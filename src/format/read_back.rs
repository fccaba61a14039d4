//! The tree a format's reader makes of what its writer writes: what the integrity record
//! of a file written in that format must cover.
//!
//! Some formats do not keep every tree they can write: an INI file always reads back
//! with a `DEFAULT` section first; INI and dotenv values read back as text (a clear
//! number or timestamp, or a null written as the empty string); a clear YAML timestamp
//! written to JSON (or to the binary store's JSON envelope) reads back as a string. A record computed over the tree that was
//! sealed would not match the file as it is read back (leafseal refused such files with
//! exit 53 before round 18), so the record is computed over the tree read back from the
//! written text. What may differ is checked: only that `DEFAULT` section and the kind of
//! a scalar that is not a string. A document whose keys, structure or string values
//! would change on the way (an INI section named `default` in another case written first,
//! without its header, reads back as `DEFAULT`; a clear dotenv value holding the two
//! characters `\n`) is refused: neither tool could read that file back.

use crate::format::EmitOptions;
use crate::format::Format;
use crate::format::FormatError;
use crate::format::MAX_DEPTH;
use crate::tree::Document;
use crate::tree::Item;
use crate::tree::Map;
use crate::tree::SeqItem;
use crate::tree::Value;

/// The data tree `format`'s reader makes of what its writer writes for `doc` (an
/// encrypted document, without its metadata), when that can differ from `doc`; `None`
/// when it reads back the same tree. An error is a document this format cannot write so
/// that it reads back the same keys, structure and string values.
pub fn read_back(format: Format, doc: &Document) -> Result<Option<Document>, FormatError> {
    let needed = match format {
        Format::Ini | Format::Dotenv => true,
        // The binary store writes a structured document as a JSON envelope (round 20 F10:
        // leafseal refused its own `--output-type binary` file of a clear timestamp).
        Format::Json | Format::Binary => doc.branches.iter().any(|b| holds_time(b, 0)),
        Format::Yaml | Format::Toml => false,
    };
    if !needed {
        return Ok(None);
    }
    let name = reading_store(format).name();
    let refused = |why: &str| {
        FormatError::new(
            name,
            format!("this document cannot be written so that it reads back the same: {why}"),
        )
    };
    let back = match written_then_read(format, doc) {
        Ok(back) => back,
        Err(Reread::Write(e)) => return Err(e),
        Err(Reread::Read(e)) => {
            return Err(refused(&format!("the written text does not parse ({e})")));
        }
    };
    if back.branches.len() != doc.branches.len() {
        return Err(refused("the number of documents changes"));
    }
    for (i, (sealed, read)) in doc.branches.iter().zip(&back.branches).enumerate() {
        let mut read_entries: Vec<(&str, &Value)> = read.entries().collect();
        if format == Format::Ini && sealed.get(crate::format::ini::DEFAULT_SECTION).is_none() {
            // The implicit section the reader always makes, when the tree had none.
            match read_entries.first() {
                Some((k, Value::Map(m)))
                    if *k == crate::format::ini::DEFAULT_SECTION && m.is_empty() =>
                {
                    read_entries.remove(0);
                }
                Some((k, _)) if *k == crate::format::ini::DEFAULT_SECTION => {
                    return Err(refused(
                        "the first INI section, named `default` in another case, is written \
                         without a header and reads back as `DEFAULT`; rename that section",
                    ));
                }
                _ => {}
            }
        }
        same_entries(sealed, &read_entries, 0).map_err(|why| {
            refused(&format!(
                "{why} (document {}, nesting level {})",
                i + 1,
                why.level + 1
            ))
        })?;
    }
    Ok(Some(back))
}

/// Why [`written_then_read`] has no tree: the writer refused the document, or its text
/// did not parse.
#[derive(Debug)]
pub enum Reread {
    /// The writer refused the document.
    Write(FormatError),
    /// The written text did not parse.
    Read(FormatError),
}

/// The store that writes and reads `format` here (the binary store reads an envelope
/// back only with a MAC in it: it is read as JSON).
fn reading_store(format: Format) -> &'static dyn crate::format::Store {
    match format {
        Format::Binary => Format::Json.store(),
        _ => format.store(),
    }
}

/// The tree `format`'s reader makes of the text its writer writes for `doc` (an
/// encrypted document, without its metadata). Written with metadata, so that it is read
/// as an encrypted file is (the dotenv reader keeps a byte-order mark in a key only in
/// an encrypted file).
pub fn written_then_read(format: Format, doc: &Document) -> Result<Document, Reread> {
    let store = reading_store(format);
    let mut meta = Map::new();
    meta.push("version", Value::str("0"));
    let written = store
        .emit(doc, Some(&meta), &EmitOptions::default())
        .map_err(Reread::Write)?;
    Ok(store.load(&written).map_err(Reread::Read)?.doc)
}

/// Where and how a tree read back differs.
#[derive(Debug)]
struct Differs {
    what: &'static str,
    level: usize,
}

impl std::fmt::Display for Differs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.what)
    }
}

fn entries_of(m: &Map) -> Vec<(&str, &Value)> {
    m.entries().collect()
}

fn same_entries(sealed: &Map, read: &[(&str, &Value)], level: usize) -> Result<(), Differs> {
    let differs = |what| Err(Differs { what, level });
    let sealed: Vec<(&str, &Value)> = sealed.entries().collect();
    if sealed.len() != read.len() {
        return differs("the number of keys changes (a key is split, merged or dropped)");
    }
    for ((ks, vs), (kr, vr)) in sealed.iter().zip(read) {
        if ks != kr {
            return differs("a key reads back under another name");
        }
        same_value(vs, vr, level)?;
    }
    Ok(())
}

fn same_value(sealed: &Value, read: &Value, level: usize) -> Result<(), Differs> {
    let differs = |what| Err(Differs { what, level });
    if level > MAX_DEPTH {
        return differs("the document is nested too deeply");
    }
    match (sealed, read) {
        (Value::Map(a), Value::Map(b)) => same_entries(a, &entries_of(b), level + 1),
        (Value::Seq(a), Value::Seq(b)) => {
            let values = |items: &[SeqItem]| -> Vec<Value> {
                items
                    .iter()
                    .filter_map(|i| match i {
                        SeqItem::Value(Value::Str(s))
                            if crate::tree::is_encrypted_comment_text(s.as_str()) =>
                        {
                            None
                        }
                        SeqItem::Value(v) => Some(v.clone()),
                        SeqItem::Comment(_) => None,
                    })
                    .collect()
            };
            let (a, b) = (values(a), values(b));
            if a.len() != b.len() {
                return differs("the number of list items changes");
            }
            a.iter()
                .zip(&b)
                .try_for_each(|(x, y)| same_value(x, y, level + 1))
        }
        (Value::Map(_) | Value::Seq(_), _) | (_, Value::Map(_) | Value::Seq(_)) => {
            differs("a value reads back as another kind of node")
        }
        (Value::Str(a), Value::Str(b)) if a.as_str() != b.as_str() => {
            differs("a value's text changes (an encrypted value, or a clear one)")
        }
        (Value::Str(_), Value::Str(_)) => Ok(()),
        (Value::Str(_), _) => differs("a text value reads back as another type"),
        // A clear number, bool, timestamp, bytes or null the format keeps as text.
        _ => Ok(()),
    }
}

/// Whether a map holds a timestamp value anywhere (depth is bounded by [`MAX_DEPTH`]).
fn holds_time(map: &Map, depth: usize) -> bool {
    map.0.iter().any(|i| match i {
        Item::Entry(_, v) => value_holds_time(v, depth),
        Item::Comment(_) => false,
    })
}

fn value_holds_time(v: &Value, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    match v {
        Value::Time(_) => true,
        Value::Map(m) => holds_time(m, depth + 1),
        Value::Seq(items) => items.iter().any(|i| match i {
            SeqItem::Value(v) => value_holds_time(v, depth + 1),
            SeqItem::Comment(_) => false,
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ini(text: &str) -> Document {
        Format::Ini.store().load(text.as_bytes()).expect("ini").doc
    }

    #[test]
    fn an_ini_tree_without_default_reads_back_with_an_empty_one() {
        let mut m = Map::new();
        let mut s = Map::new();
        s.push("a", Value::Int(5));
        s.push("n", Value::Null);
        m.push("k", Value::Map(s));
        let back = read_back(Format::Ini, &Document::single(m))
            .expect("written")
            .expect("differs");
        assert_eq!(back, ini("[k]\na = 5\nn =\n"));
    }

    #[test]
    fn a_first_section_named_default_in_another_case_is_refused() {
        let mut m = Map::new();
        let mut s = Map::new();
        s.push("a", Value::str("x"));
        m.push("default", Value::Map(s));
        let e = read_back(Format::Ini, &Document::single(m)).expect_err("refused");
        assert!(e.message.contains("rename that section"), "{e}");
    }

    #[test]
    fn a_dotenv_value_that_changes_on_the_way_is_refused() {
        let mut m = Map::new();
        m.push("a", Value::str("x\\ny"));
        let e = read_back(Format::Dotenv, &Document::single(m)).expect_err("refused");
        assert!(e.message.contains("text changes"), "{e}");
        let mut m = Map::new();
        m.push("a=b", Value::str("x"));
        assert!(read_back(Format::Dotenv, &Document::single(m)).is_err());
    }

    #[test]
    fn yaml_and_json_without_timestamps_are_not_read_back() {
        let mut m = Map::new();
        m.push("a", Value::Int(1));
        let doc = Document::single(m);
        assert_eq!(read_back(Format::Yaml, &doc), Ok(None));
        assert_eq!(read_back(Format::Json, &doc), Ok(None));
        assert_eq!(read_back(Format::Binary, &doc), Ok(None));
    }

    /// A clear timestamp written to the binary store's JSON envelope reads back as a
    /// string (round 20 F10: leafseal refused its own file, exit 53).
    #[test]
    fn a_timestamp_in_a_binary_envelope_reads_back_as_a_string() {
        let yaml = Format::Yaml
            .store()
            .load(
                b"k_unencrypted: 2024-01-02
",
            )
            .expect("yaml")
            .doc;
        let back = read_back(Format::Binary, &yaml)
            .expect("written")
            .expect("differs");
        assert_eq!(
            back.branches[0].get("k_unencrypted"),
            Some(&Value::str("2024-01-02T00:00:00Z"))
        );
    }
}
