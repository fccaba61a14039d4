//! Several decrypted files as one document (`exec-env`, `exec-file` and `render` with more
//! than one file): the first documents' top-level maps merged in order, maps merged key by
//! key at every depth.
//!
//! A conflict is one path given different values by two files (two scalars that differ,
//! or a map in one file and a scalar or list in the other; lists are values, never merged
//! element by element). A conflict is an error naming the path and both files, unless
//! the later file is allowed to win (`--later-wins`), which reports each override. The
//! same value in two files is not a conflict. Messages never contain values.

use std::collections::HashMap;

use crate::error::Error;
use crate::error::exit;
use crate::tree::Document;
use crate::tree::Item;
use crate::tree::Map;
use crate::tree::Value;

/// The merged document and what it had to say about overrides.
#[derive(Debug)]
pub struct Merged {
    /// One document: the merged top-level map.
    pub doc: Document,
    /// One line per value a later file replaced (with `later_wins`).
    pub overrides: Vec<String>,
}

struct State<'a> {
    names: &'a [String],
    /// Where each inserted subtree came from: path → file index (the latest file that
    /// set it).
    origins: HashMap<String, usize>,
    overrides: Vec<String>,
    later_wins: bool,
}

impl State<'_> {
    /// The file that set the longest recorded path `path` starts with. Every recorded
    /// path ends in `"]`, so only the prefixes of `path` that end so are looked up (one
    /// hash lookup per level, not a scan of every recorded path per conflict).
    fn origin(&self, path: &str) -> &str {
        (2..=path.len())
            .rev()
            .filter(|&end| path.as_bytes().get(end - 2..end) == Some(b"\"]"))
            .find_map(|end| path.get(..end).and_then(|p| self.origins.get(p)))
            .and_then(|i| self.names.get(*i))
            .map_or("an earlier file", String::as_str)
    }
}

/// Merges the documents, in order; `names` are the files they came from (same length).
pub fn merge(docs: Vec<Document>, names: &[String], later_wins: bool) -> Result<Merged, Error> {
    let mut st = State {
        names,
        origins: HashMap::new(),
        overrides: Vec::new(),
        later_wins,
    };
    let mut acc = Map::new();
    for (i, doc) in docs.into_iter().enumerate() {
        let Some(top) = doc.branches.into_iter().next() else {
            continue;
        };
        merge_map(&mut acc, top, "", i, &mut st)?;
    }
    Ok(Merged {
        doc: Document::single(acc),
        overrides: st.overrides,
    })
}

fn merge_map(
    acc: &mut Map,
    new: Map,
    prefix: &str,
    file: usize,
    st: &mut State<'_>,
) -> Result<(), Error> {
    // Where each key of `acc` is (its first entry, as `Map::get_mut`): a lookup per
    // merged entry instead of a scan of `acc` (100k keys merged with a second file took
    // 55 s that way: the audit's execenv_merge_quadratic case).
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, item) in acc.0.iter().enumerate() {
        if let Item::Entry(k, _) = item {
            index.entry(k.clone()).or_insert(i);
        }
    }
    for item in new.0 {
        let Item::Entry(k, v) = item else { continue };
        let path = format!("{prefix}[\"{k}\"]");
        let found = index.get(&k).and_then(|&i| match acc.0.get_mut(i) {
            Some(Item::Entry(_, old)) => Some(old),
            _ => None,
        });
        match found {
            None => {
                st.origins.insert(path, file);
                index.insert(k.clone(), acc.0.len());
                acc.push(k, v);
            }
            Some(Value::Map(old)) if matches!(v, Value::Map(_)) => {
                if let Value::Map(m) = v {
                    merge_map(old, m, &path, file, st)?;
                }
            }
            Some(old) if *old == v => {}
            Some(old) => {
                let earlier = st.origin(&path).to_owned();
                let this = st.names.get(file).map_or("a later file", String::as_str);
                if !st.later_wins {
                    return Err(Error::new(
                        exit::GENERIC,
                        format!("{path} has different values in {earlier} and {this}; stopped before any value was passed on"),
                    )
                    .hint("remove the key from one of the files, or pass --later-wins to let the later file's value win (each override is reported)"));
                }
                st.overrides.push(format!(
                    "{path} from {this} overrides the value from {earlier}"
                ));
                st.origins.insert(path, file);
                *old = v;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn doc(n: usize, value: &str) -> Document {
        let mut m = Map::new();
        for i in 0..n {
            m.push(format!("K{i:06}"), Value::str(value));
        }
        Document::single(m)
    }

    #[test]
    fn many_keys_merge_in_linear_time_in_order_audit_execenv_merge_quadratic() {
        // Two files of 100k keys that all differ: a scan of the merged map per key and a
        // scan of every recorded origin per override took minutes; lookups, well under
        // a second (release).
        let names = ["a.env".to_owned(), "b.env".to_owned()];
        let start = std::time::Instant::now();
        let m = merge(vec![doc(100_000, "1"), doc(100_000, "2")], &names, true).unwrap();
        assert!(start.elapsed() < std::time::Duration::from_secs(20));
        assert_eq!(m.overrides.len(), 100_000);
        assert_eq!(
            m.overrides[5],
            "[\"K000005\"] from b.env overrides the value from a.env"
        );
        let top = &m.doc.branches[0];
        let keys: Vec<&str> = top.entries().map(|(k, _)| k).collect();
        assert_eq!(keys.len(), 100_000);
        assert_eq!(keys[..2], ["K000000", "K000001"]);
        assert_eq!(top.get("K099999"), Some(&Value::str("2")));
    }

    #[test]
    fn a_nested_conflict_names_the_file_that_set_the_enclosing_map() {
        let mut a = Map::new();
        let mut inner = Map::new();
        inner.push("x", Value::str("1"));
        a.push("db", Value::Map(inner.clone()));
        let mut b = Map::new();
        b.push("other", Value::str("o"));
        let mut c = Map::new();
        let mut inner2 = Map::new();
        inner2.push("x", Value::str("2"));
        c.push("db", Value::Map(inner2));
        let names = ["a".to_owned(), "b".to_owned(), "c".to_owned()];
        let docs = vec![
            Document::single(a),
            Document::single(b),
            Document::single(c),
        ];
        let err = merge(docs, &names, false).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(r#"["db"]["x"] has different values in a and c"#),
            "{text}"
        );
    }
}
