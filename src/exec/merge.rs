//! Several decrypted files as one document (`exec-env`, `exec-file` and `render` with more
//! than one file): the first documents' top-level maps merged in order, maps merged key by
//! key at every depth.
//!
//! A conflict is one path given different values by two files (two scalars that differ,
//! or a map in one file and a scalar or list in the other; lists are values, never merged
//! element by element). A conflict is an error naming the path and both files, unless
//! the later file is allowed to win (`--later-wins`), which reports each override. The
//! same value in two files is not a conflict. Messages never contain values.

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
    /// Where each inserted subtree came from: (path, file index).
    origins: Vec<(String, usize)>,
    overrides: Vec<String>,
    later_wins: bool,
}

impl State<'_> {
    fn origin(&self, path: &str) -> &str {
        self.origins
            .iter()
            .filter(|(p, _)| path.starts_with(p.as_str()))
            .max_by_key(|(p, _)| p.len())
            .and_then(|(_, i)| self.names.get(*i))
            .map_or("an earlier file", String::as_str)
    }
}

/// Merges the documents, in order; `names` are the files they came from (same length).
pub fn merge(docs: Vec<Document>, names: &[String], later_wins: bool) -> Result<Merged, Error> {
    let mut st = State {
        names,
        origins: Vec::new(),
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
    for item in new.0 {
        let Item::Entry(k, v) = item else { continue };
        let path = format!("{prefix}[\"{k}\"]");
        match acc.get_mut(&k) {
            None => {
                st.origins.push((path, file));
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
                st.origins.push((path, file));
                *old = v;
            }
        }
    }
    Ok(())
}
