//! sops's tree paths (`--extract`, `set`, `unset`): `["key"]['key'][0]`.

use crate::error::Error;
use crate::error::exit;
use crate::tree::Document;
use crate::tree::SeqItem;
use crate::tree::Value;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A map key.
    Key(String),
    /// A list index.
    Index(usize),
}

/// Parses `["a"]['b'][0]`. Quotes are stripped; no escapes; `[` and `]` cannot occur in keys.
pub fn parse(s: &str) -> Result<Vec<Step>, Error> {
    let bad = |why: &str| {
        Error::new(exit::INVALID_TREE_PATH, format!("invalid path: {why}"))
            .hint(r#"write the path as ["key"]["nested"][0]"#)
    };
    let mut steps = Vec::new();
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad("the path is empty"));
    }
    while !rest.is_empty() {
        let inner = rest
            .strip_prefix('[')
            .ok_or_else(|| bad("each step must start with ["))?;
        let end = inner.find(']').ok_or_else(|| bad("missing ]"))?;
        let part = &inner[..end];
        rest = &inner[end + 1..];
        let quoted = |q: char| part.len() >= 2 && part.starts_with(q) && part.ends_with(q);
        if quoted('"') || quoted('\'') {
            steps.push(Step::Key(part[1..part.len() - 1].to_owned()));
        } else {
            let i = part
                .trim()
                .parse::<usize>()
                .map_err(|_| bad("a step is neither a quoted key nor a list index"))?;
            steps.push(Step::Index(i));
        }
    }
    Ok(steps)
}

/// Finds the value at a path in the first document.
pub fn get<'a>(doc: &'a Document, path: &[Step]) -> Result<&'a Value, Error> {
    let not_found = || {
        Error::new(exit::GENERIC, "the path was not found in the file")
            .hint("check the key names and list indices")
    };
    let root = doc.branches.first().ok_or_else(not_found)?;
    let (first, rest) = path.split_first().ok_or_else(not_found)?;
    let Step::Key(k) = first else {
        return Err(not_found());
    };
    let mut cur = root.get(k).ok_or_else(not_found)?;
    for step in rest {
        cur = match (step, cur) {
            (Step::Key(k), Value::Map(m)) => m.get(k).ok_or_else(not_found)?,
            (Step::Index(i), Value::Seq(items)) => items
                .iter()
                .filter_map(|it| match it {
                    SeqItem::Value(v) => Some(v),
                    SeqItem::Comment(_) => None,
                })
                .nth(*i)
                .ok_or_else(not_found)?,
            _ => return Err(not_found()),
        };
    }
    Ok(cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sops_paths() {
        assert_eq!(
            parse(r#"["a"]['b'][3]"#).expect("ok"),
            vec![Step::Key("a".into()), Step::Key("b".into()), Step::Index(3)]
        );
        assert!(parse("a.b").is_err());
        assert!(parse(r#"["a""#).is_err());
        assert!(parse("").is_err());
    }
}
