//! `leafseal render`: a template filled from a decrypted document. No printing here.
//!
//! The syntax is deliberately small:
//!
//! * `{{ PATH }}` is replaced by the value at `PATH`, a tree path as `set` and
//!   `--extract` take it (`["db"]["password"]`, `["hosts"][0]`); spaces inside the braces
//!   are ignored. Strings are inserted as they are; numbers, booleans and timestamps as
//!   the dotenv store writes them.
//! * `{{ PATH | json }}` inserts the value as a JSON literal (a string quoted and
//!   escaped), for JSON or YAML configuration; `{{ PATH | base64 }}` inserts its text
//!   base64-encoded (standard alphabet, padded).
//! * `\{{` is a literal `{{` (the backslash is dropped); nothing else is special.
//!
//! A path that is missing, null, a map or a list, an unknown filter, or a `{{` without
//! its `}}` on the same line is an error that names the template line and the path, never
//! a value; nothing is written then. A missing key never becomes an empty string.

use base64::Engine;
use zeroize::Zeroizing;

use crate::error::Error;
use crate::error::exit;
use crate::format::flatten::render_scalar;
use crate::tree::Document;
use crate::tree::Value;
use crate::treepath;

/// The exit code of a template error (a missing key included).
pub const TEMPLATE_ERROR: i32 = exit::GENERIC;

fn err(line: usize, msg: impl std::fmt::Display) -> Error {
    Error::new(
        TEMPLATE_ERROR,
        format!("template line {line}: {msg}; nothing was written"),
    )
}

/// Fills `template` from `doc`.
pub fn render(template: &[u8], doc: &Document) -> Result<Zeroizing<Vec<u8>>, Error> {
    let mut out = Zeroizing::new(Vec::with_capacity(template.len() + 256));
    let mut rest = template;
    let mut line = 1usize;
    while let Some(at) = find(rest, b"{{") {
        let before = &rest[..at];
        line += before.iter().filter(|b| **b == b'\n').count();
        if before.last() == Some(&b'\\') {
            out.extend_from_slice(&before[..before.len() - 1]);
            out.extend_from_slice(b"{{");
            rest = &rest[at + 2..];
            continue;
        }
        out.extend_from_slice(before);
        let inner_start = &rest[at + 2..];
        let end = find(inner_start, b"}}")
            .filter(|e| !inner_start[..*e].contains(&b'\n'))
            .ok_or_else(|| err(line, "`{{` has no `}}` on the same line"))?;
        let inner = std::str::from_utf8(&inner_start[..end])
            .map_err(|_| err(line, "a placeholder is not valid UTF-8"))?;
        placeholder(inner, doc, line, &mut out)?;
        rest = &inner_start[end + 2..];
    }
    out.extend_from_slice(rest);
    Ok(out)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn placeholder(
    inner: &str,
    doc: &Document,
    line: usize,
    out: &mut Zeroizing<Vec<u8>>,
) -> Result<(), Error> {
    let (path_text, filter) = match inner.split_once('|') {
        Some((p, f)) => (p.trim(), Some(f.trim())),
        None => (inner.trim(), None),
    };
    let path = treepath::parse(path_text).map_err(|e| {
        err(line, format!("`{path_text}` is not a path ({})", e.message))
            .hint(r#"write placeholders as {{ ["key"]["nested"] }}; write \{{ for a literal {{"#)
    })?;
    let value = treepath::get(doc, &path).map_err(|_| {
        err(line, format!("{path_text} is not in the decrypted file(s)"))
            .hint("check the key names (`leafseal decrypt FILE` shows them), or add the value with `leafseal set`")
    })?;
    let text = match value {
        Value::Null => return Err(err(line, format!("{path_text} is null"))),
        Value::Map(_) | Value::Seq(_) => {
            return Err(err(
                line,
                format!(
                    "{path_text} is a {}; only single values can be inserted",
                    value.kind_name()
                ),
            )
            .hint("point the placeholder at one value inside it"));
        }
        other => render_scalar(other)
            .ok_or_else(|| err(line, format!("{path_text} cannot be rendered as text")))?,
    };
    match filter {
        None => out.extend_from_slice(text.as_bytes()),
        Some("json") => {
            let lit = match value {
                Value::Str(_) | Value::Bytes(_) | Value::Time(_) => {
                    serde_json::Value::String(text.to_string()).to_string()
                }
                _ => text.to_string(),
            };
            out.extend_from_slice(Zeroizing::new(lit).as_bytes());
        }
        Some("base64") => {
            let enc =
                Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(text.as_bytes()));
            out.extend_from_slice(enc.as_bytes());
        }
        Some(other) => {
            return Err(err(line, format!("unknown filter `{other}`"))
                .hint("the filters are `json` and `base64`"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Map;

    fn doc() -> Document {
        let mut db = Map::new();
        db.push("password", Value::str("p\"w"));
        db.push("port", Value::Int(5432));
        let mut top = Map::new();
        top.push("db", Value::Map(db));
        Document::single(top)
    }

    #[test]
    fn placeholders_filters_and_escapes() {
        let t = br#"url=pg://{{ ["db"]["password"] }}@h:{{["db"]["port"]}} j={{ ["db"]["password"] | json }} b={{ ["db"]["port"] | base64 }} \{{ kept }}"#;
        let out = render(t, &doc()).expect("renders");
        assert_eq!(
            std::str::from_utf8(&out).expect("utf8"),
            r#"url=pg://p"w@h:5432 j="p\"w" b=NTQzMg== {{ kept }}"#
        );
    }

    #[test]
    fn a_missing_key_is_an_error_with_the_line_never_an_empty_string() {
        let e = render(b"a\nb={{ [\"db\"][\"user\"] }}\n", &doc()).expect_err("missing");
        assert!(e.message.contains("line 2"), "{}", e.message);
        assert!(e.message.contains(r#"["db"]["user"]"#));
        let e = render(b"{{ [\"db\"] }}", &doc()).expect_err("map");
        assert!(e.message.contains("map"));
        assert!(render(b"{{ [\"db\"][\"port\"]\n}}", &doc()).is_err());
        assert!(render(b"{{ [\"db\"][\"port\"] | upper }}", &doc()).is_err());
    }
}
