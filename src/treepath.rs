//! sops's tree paths (`--extract`, `set`, `unset`): `["key"]['key'][0]`.

use crate::error::Error;
use crate::error::exit;
use crate::format::Format;
use crate::format::MAX_DEPTH;
use crate::tree::Document;
use crate::tree::Item;
use crate::tree::Map;
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

/// A value's AAD path (`db:password:`, the keys joined by `:`) in the `["db"]["password"]`
/// form the user types for `--extract`, `set` and `unset`. The AAD does not record list
/// positions, so a value inside a list shows the list's key path.
pub fn from_aad(aad: &str) -> String {
    let keys: Vec<&str> = aad
        .strip_suffix(':')
        .unwrap_or(aad)
        .split(':')
        .filter(|k| !k.is_empty())
        .collect();
    if keys.is_empty() {
        return "the top level".to_owned();
    }
    keys.iter()
        .map(|k| format!("[{}]", serde_json::Value::from(*k)))
        .collect()
}

/// Parses `["a"]['b'][0]`. Quotes are stripped; there are no escapes.
///
/// A path sops 3.11 reads (it splits the text at each `[`; every piece must end with `]`
/// and is a quoted key or an index) means the same here: so a key may hold `]`
/// (`["d]"]`). A key holding `[`, which sops cannot reach, is read as a quoted key that
/// ends at its closing quote followed by `]` and then the end or the next `[`.
pub fn parse(s: &str) -> Result<Vec<Step>, Error> {
    let bad = |why: &str| {
        Error::new(exit::INVALID_TREE_PATH, format!("invalid path: {why}"))
            .hint(r#"write the path as ["key"]["nested"][0]"#)
    };
    let s = s.trim();
    if s.is_empty() {
        return Err(bad("the path is empty"));
    }
    if let Some(steps) = parse_as_sops(s) {
        return Ok(steps);
    }
    let mut steps = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let inner = rest
            .strip_prefix('[')
            .ok_or_else(|| bad("each step must start with ["))?;
        if let Some(q) = inner.chars().next().filter(|c| *c == '"' || *c == '\'') {
            let body = &inner[1..];
            let end = closing_quote(body, q).ok_or_else(|| bad("missing closing quote and ]"))?;
            steps.push(Step::Key(body[..end].to_owned()));
            rest = &body[end + 2..];
        } else {
            let end = inner.find(']').ok_or_else(|| bad("missing ]"))?;
            steps.push(Step::Index(index(&inner[..end]).ok_or_else(|| {
                bad("a step is neither a quoted key nor a list index")
            })?));
            rest = &inner[end + 1..];
        }
    }
    Ok(steps)
}

/// sops's reading of a path (`parseTreePath`), where it succeeds: a piece that starts
/// with a quote is a key without its first and last characters, whatever the last one is
/// (`["a']` is the key `a`, as in sops).
fn parse_as_sops(s: &str) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    for piece in s.split('[').filter(|p| !p.is_empty()) {
        let piece = piece.strip_suffix(']')?;
        if piece.starts_with(['"', '\'']) {
            let inner = piece.get(1..)?;
            let last = inner.char_indices().last()?.0;
            steps.push(Step::Key(inner[..last].to_owned()));
        } else {
            steps.push(Step::Index(index(piece)?));
        }
    }
    (!steps.is_empty()).then_some(steps)
}

/// Where a quoted key that began before `body` ends: its quote `q` followed by `]` and
/// then the end of the path or the next step.
fn closing_quote(body: &str, q: char) -> Option<usize> {
    let b = body.as_bytes();
    (0..b.len()).find(|&i| {
        b[i] == q as u8 && b.get(i + 1) == Some(&b']') && matches!(b.get(i + 2), None | Some(b'['))
    })
}

/// A list index: digits with an optional `+`, or `-0` (sops reads these as Go's `Atoi`
/// does; a negative index makes sops panic and is refused here).
fn index(text: &str) -> Option<usize> {
    let t = text.trim();
    if let Some(zero) = t.strip_prefix('-') {
        return (!zero.is_empty() && zero.bytes().all(|b| b == b'0')).then_some(0);
    }
    let digits = t.strip_prefix('+').unwrap_or(t);
    if digits.starts_with(['+', '-']) {
        return None;
    }
    digits.parse::<usize>().ok()
}

/// Levels of maps and lists in `v` (0 for a scalar). Values come from the readers, so
/// the recursion is at most [`MAX_DEPTH`] deep.
fn height(v: &Value) -> usize {
    match v {
        Value::Map(m) => 1 + m.entries().map(|(_, v)| height(v)).max().unwrap_or(0),
        Value::Seq(s) => {
            1 + s
                .iter()
                .filter_map(|i| match i {
                    SeqItem::Value(v) => Some(height(v)),
                    SeqItem::Comment(_) => None,
                })
                .max()
                .unwrap_or(0)
        }
        _ => 0,
    }
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

/// Sets the value at a path in the first document (sops `set`). Missing steps are
/// created: maps for keys, lists for indices; an index at or past the end appends. A
/// scalar or null met before the end of the path is replaced by the new structure, as
/// in sops. A key step on a list or an index step on a map is an error (exit 7).
pub fn set(doc: &mut Document, path: &[Step], value: Value) -> Result<(), Error> {
    let mismatch = |why: &str| {
        Error::new(
            exit::INVALID_SET_FORMAT,
            format!("cannot set the path: {why}"),
        )
        .hint("a [\"key\"] step needs a map and a [N] step a list at that point of the file")
    };
    let (first, rest) = path
        .split_first()
        .ok_or_else(|| mismatch("the path is empty"))?;
    let Step::Key(k) = first else {
        return Err(mismatch("the top level of a document is a map, not a list"));
    };
    // The document must stay within the readers' nesting limit, or it could not be read
    // back (and deeper trees would exhaust the stack of every recursive stage).
    if path.len().saturating_add(height(&value)) > MAX_DEPTH {
        return Err(Error::new(
            exit::INVALID_SET_FORMAT,
            format!(
                "cannot set the path: the path and the value together would nest deeper \
                 than {MAX_DEPTH} levels, which leafseal refuses to read"
            ),
        )
        .hint("use a shorter path or a flatter value"));
    }
    if doc.branches.is_empty() {
        doc.branches.push(Map::new());
    }
    let root = doc
        .branches
        .first_mut()
        .ok_or_else(|| mismatch("the file has no document"))?;
    let mut slot: &mut Value = match root.0.iter().position(|i| is_entry(i, k)) {
        Some(i) => match root.0.get_mut(i) {
            Some(Item::Entry(_, v)) => v,
            _ => return Err(mismatch("internal index error")),
        },
        None => {
            root.push(k.clone(), build(rest, value));
            return Ok(());
        }
    };
    for (n, step) in rest.iter().enumerate() {
        let tail = &rest[n + 1..];
        if !matches!(slot, Value::Map(_) | Value::Seq(_)) {
            *slot = build(&rest[n..], value);
            return Ok(());
        }
        slot = match (step, slot) {
            (Step::Key(k), Value::Map(m)) => match m.0.iter().position(|i| is_entry(i, k)) {
                Some(i) => match m.0.get_mut(i) {
                    Some(Item::Entry(_, v)) => v,
                    _ => return Err(mismatch("internal index error")),
                },
                None => {
                    m.push(k.clone(), build(tail, value));
                    return Ok(());
                }
            },
            (Step::Index(i), Value::Seq(items)) => {
                let positions: Vec<usize> = value_positions(items);
                match positions.get(*i) {
                    Some(&p) => match items.get_mut(p) {
                        Some(SeqItem::Value(v)) => v,
                        _ => return Err(mismatch("internal index error")),
                    },
                    None => {
                        items.push(SeqItem::Value(build(tail, value)));
                        return Ok(());
                    }
                }
            }
            (Step::Key(_), _) => return Err(mismatch("a key step points into a list")),
            (Step::Index(_), _) => return Err(mismatch("an index step points into a map")),
        };
    }
    *slot = value;
    Ok(())
}

/// Whether the map or list at `path` (not the root) holds one entry or element and
/// comments: [`unset`] of that entry removes the comments too.
pub fn one_left_with_comments(doc: &Document, path: &[Step]) -> bool {
    if path.is_empty() {
        return false;
    }
    match get(doc, path) {
        Ok(Value::Map(m)) => m.entries().count() == 1 && m.0.len() > 1,
        Ok(Value::Seq(items)) => value_positions(items).len() == 1 && items.len() > 1,
        _ => false,
    }
}

/// Removes the entry or list element at a path in the first document (sops `unset`).
/// Returns the removed value, or `None` when the path does not exist.
pub fn unset(doc: &mut Document, path: &[Step]) -> Option<Value> {
    unset_in(Format::Yaml, doc, path)
}

/// [`unset`] for a document written as `format`. In YAML the comments of a map or list
/// left without entries go with its last entry (see below); an INI section's comments
/// stand above its header, where they are read back as the section's, so they stay, as
/// sops 3.11 keeps them.
pub fn unset_in(format: Format, doc: &mut Document, path: &[Step]) -> Option<Value> {
    let drop_lone_comments = format != Format::Ini;
    let (last, parents) = path.split_last()?;
    let root = doc.branches.first_mut()?;
    let (first, middle) = match parents.split_first() {
        Some((f, m)) => (Some(f), m),
        None => (None, &[][..]),
    };
    let Some(first) = first else {
        let Step::Key(k) = last else { return None };
        let i = root.0.iter().position(|i| is_entry(i, k))?;
        return match root.0.remove(i) {
            Item::Entry(_, v) => Some(v),
            Item::Comment(_) => None,
        };
    };
    let Step::Key(k) = first else { return None };
    let mut cur: &mut Value = root.get_mut(k)?;
    for step in middle {
        cur = match (step, cur) {
            (Step::Key(k), Value::Map(m)) => m.get_mut(k)?,
            (Step::Index(i), Value::Seq(items)) => {
                let p = *value_positions(items).get(*i)?;
                match items.get_mut(p)? {
                    SeqItem::Value(v) => v,
                    SeqItem::Comment(_) => return None,
                }
            }
            _ => return None,
        };
    }
    // A map or list left with comments only is written as `{}` or `[]` with the comments
    // after it, where they are read back as the parent's: an encrypted comment, whose AAD
    // is its place, would then no longer decrypt. So the comments go with the last entry.
    match (last, cur) {
        (Step::Key(k), Value::Map(m)) => {
            let i = m.0.iter().position(|i| is_entry(i, k))?;
            let removed = match m.0.remove(i) {
                Item::Entry(_, v) => Some(v),
                Item::Comment(_) => None,
            };
            if drop_lone_comments && !m.0.iter().any(|i| matches!(i, Item::Entry(..))) {
                m.0.clear();
            }
            removed
        }
        (Step::Index(i), Value::Seq(items)) => {
            let p = *value_positions(items).get(*i)?;
            let removed = match items.remove(p) {
                SeqItem::Value(v) => Some(v),
                SeqItem::Comment(_) => None,
            };
            if !items.iter().any(|i| matches!(i, SeqItem::Value(_))) {
                items.clear();
            }
            removed
        }
        _ => None,
    }
}

fn is_entry(item: &Item, key: &str) -> bool {
    matches!(item, Item::Entry(k, _) if k == key)
}

/// Positions of the values (not comment markers) of a list.
fn value_positions(items: &[SeqItem]) -> Vec<usize> {
    items
        .iter()
        .enumerate()
        .filter_map(|(p, it)| matches!(it, SeqItem::Value(_)).then_some(p))
        .collect()
}

/// Builds the structure for the rest of a path that does not exist yet.
fn build(rest: &[Step], value: Value) -> Value {
    rest.iter().rev().fold(value, |inner, step| match step {
        Step::Key(k) => {
            let mut m = Map::new();
            m.push(k.clone(), inner);
            Value::Map(m)
        }
        Step::Index(_) => Value::Seq(vec![SeqItem::Value(inner)]),
    })
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
        assert!(parse("[]").is_err());
        assert!(parse(r#"["a"]x"#).is_err());
        assert!(parse(r#"["a"]["b"#).is_err());
    }

    #[test]
    fn keys_may_hold_brackets() {
        let keys = |s: &str| parse(s).expect(s);
        let k = |k: &str| Step::Key(k.into());
        // sops 3.11 reads these the same way.
        assert_eq!(keys(r#"["c"]["d]"]"#), vec![k("c"), k("d]")]);
        assert_eq!(keys(r#"["a"]b"]"#), vec![k("a\"]b")]);
        assert_eq!(keys(r#"[""][0]"#), vec![k(""), Step::Index(0)]);
        // sops cannot reach a key holding `[`; leafseal can.
        assert_eq!(keys(r#"["a[b]"]"#), vec![k("a[b]")]);
        assert_eq!(
            keys(r#"['x[0]'][1]["y"]"#),
            vec![k("x[0]"), Step::Index(1), k("y")]
        );
        assert_eq!(keys(r#"["[["]["]]"]"#), vec![k("[["), k("]]")]);
        // sops takes any last character of a quoted piece, and Atoi's signs.
        assert_eq!(keys(r#"["a']["b"]"#), vec![k("a"), k("b")]);
        assert_eq!(keys(r#"['b"]"#), vec![k("b")]);
        assert_eq!(
            keys("[\"a\"][-0][+1]"),
            vec![k("a"), Step::Index(0), Step::Index(1)]
        );
        assert!(parse("[\"a\"][-1]").is_err());
        assert!(parse("[\"a\"][--0]").is_err());
        assert!(parse("[\"a\"][+-1]").is_err());
        assert!(parse(r#"["]"#).is_err());
    }
}

#[cfg(test)]
mod set_tests {
    use super::*;
    use crate::tree::Text;

    fn doc() -> Document {
        let mut inner = Map::new();
        inner.push("user", Value::str("u"));
        let mut root = Map::new();
        root.push("db", Value::Map(inner));
        root.push(
            "list",
            Value::Seq(vec![
                SeqItem::Comment(crate::tree::Comment::line("c")),
                SeqItem::Value(Value::Int(1)),
                SeqItem::Value(Value::Int(2)),
            ]),
        );
        root.push("scalar", Value::Int(3));
        Document::single(root)
    }

    fn p(s: &str) -> Vec<Step> {
        parse(s).expect("path")
    }

    #[test]
    fn set_replaces_existing_values() {
        let mut d = doc();
        set(&mut d, &p(r#"["db"]["user"]"#), Value::str("v")).expect("set");
        assert_eq!(
            get(&d, &p(r#"["db"]["user"]"#)).expect("get"),
            &Value::str("v")
        );
        set(&mut d, &p(r#"["list"][1]"#), Value::Int(9)).expect("set");
        assert_eq!(get(&d, &p(r#"["list"][1]"#)).expect("get"), &Value::Int(9));
        // The comment marker is kept and does not count as an index.
        let Some(Value::Seq(items)) = d.branches[0].get("list") else {
            panic!("list")
        };
        assert_eq!(items.len(), 3);
    }

    #[test]
    fn set_creates_missing_steps() {
        let mut d = doc();
        set(&mut d, &p(r#"["a"]["b"][0]["c"]"#), Value::Bool(true)).expect("set");
        assert_eq!(
            get(&d, &p(r#"["a"]["b"][0]["c"]"#)).expect("get"),
            &Value::Bool(true)
        );
        set(&mut d, &p(r#"["list"][7]"#), Value::Int(5)).expect("append");
        assert_eq!(get(&d, &p(r#"["list"][2]"#)).expect("get"), &Value::Int(5));
        set(&mut d, &p(r#"["db"]["new"]"#), Value::Null).expect("set");
        let keys: Vec<&str> = d.branches[0]
            .get("db")
            .and_then(Value::as_map)
            .expect("db")
            .entries()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, ["user", "new"]);
        // A scalar in the way is replaced, as in sops.
        set(
            &mut d,
            &p(r#"["scalar"]["x"]"#),
            Value::Str(Text::from("y")),
        )
        .expect("set");
        assert_eq!(
            get(&d, &p(r#"["scalar"]["x"]"#)).expect("get"),
            &Value::str("y")
        );
        let mut e = Document::default();
        set(&mut e, &p(r#"["k"]"#), Value::Int(1)).expect("empty doc");
        assert_eq!(get(&e, &p(r#"["k"]"#)).expect("get"), &Value::Int(1));
    }

    #[test]
    fn set_rejects_structure_mismatches() {
        let mut d = doc();
        let before = d.clone();
        for path in [r#"[0]"#, r#"["db"][0]"#, r#"["list"]["k"]"#] {
            let e = set(&mut d, &p(path), Value::Int(1)).expect_err(path);
            assert_eq!(e.code, exit::INVALID_SET_FORMAT);
        }
        assert_eq!(d, before);
    }

    #[test]
    fn unset_removes_and_reports_missing() {
        let mut d = doc();
        assert_eq!(
            unset(&mut d, &p(r#"["db"]["user"]"#)),
            Some(Value::str("u"))
        );
        assert!(
            d.branches[0]
                .get("db")
                .and_then(Value::as_map)
                .expect("db")
                .is_empty()
        );
        assert_eq!(unset(&mut d, &p(r#"["list"][0]"#)), Some(Value::Int(1)));
        assert_eq!(get(&d, &p(r#"["list"][0]"#)).expect("get"), &Value::Int(2));
        assert_eq!(unset(&mut d, &p(r#"["scalar"]"#)), Some(Value::Int(3)));
        let before = d.clone();
        for path in [
            r#"["nope"]"#,
            r#"["db"]["user"]"#,
            r#"["list"][5]"#,
            r#"["list"]["k"]"#,
            r#"["db"][0]"#,
            r#"[0]"#,
            r#"["scalar"]["x"]"#,
        ] {
            assert_eq!(unset(&mut d, &p(path)), None, "{path}");
        }
        assert_eq!(d, before);
    }

    /// Found by the differential fuzzer (`splice` target): `unset` of the last key of a
    /// map holding comments wrote them after `{}`, where they were read back as the
    /// parent's, and the encrypted file no longer decrypted (exit 25).
    #[test]
    fn unset_of_the_last_entry_leaves_a_tree_that_reads_back_the_same() {
        use crate::format::EmitOptions;
        use crate::format::Format;
        let yaml = Format::Yaml.store();
        for (text, path) in [
            (
                "a:\n    nested:\n        value: x\n        # trailing\nb: 1\n",
                r#"["a"]["nested"]["value"]"#,
            ),
            (
                "a:\n    list:\n        - x\n        # trailing\nb: 1\n",
                r#"["a"]["list"][0]"#,
            ),
        ] {
            let mut d = yaml.load(text.as_bytes()).expect("load").doc;
            assert!(unset(&mut d, &p(path)).is_some(), "{path}");
            let out = yaml.emit(&d, None, &EmitOptions::default()).expect("emit");
            let back = yaml.load(&out).expect("reload").doc;
            assert_eq!(
                back,
                d,
                "{path}: written as\n{}",
                String::from_utf8_lossy(&out)
            );
        }
    }

    #[test]
    fn aad_paths_are_shown_as_tree_paths() {
        assert_eq!(from_aad("db:password:"), r#"["db"]["password"]"#);
        assert_eq!(from_aad("a \"q\":"), r#"["a \"q\""]"#);
        assert_eq!(from_aad(":"), "the top level");
    }
}
