//! YAML merge keys (`<<: *anchor`) in `.sops.yaml`, applied as go-yaml v3 (which sops
//! uses) applies them when it decodes the policy: the merged value is a mapping or a
//! list of mappings; a key written in the mapping itself wins over a merged one, and in
//! a list the first mapping that has a key wins. Merging is shallow (a merged key's
//! value replaces, it is not merged into), and it applies at every level, key groups
//! included.

use std::collections::HashSet;

use crate::tree::Item;
use crate::tree::Map;
use crate::tree::SeqItem;
use crate::tree::Value;

/// The merge key.
const MERGE: &str = "<<";

/// `v` with every merge key applied, at every depth. A merge value that is neither a
/// mapping nor a list of mappings is an error (go-yaml refuses it too), given as the
/// path of the offending mapping.
pub(super) fn apply(v: &Value, at: &str) -> Result<Value, String> {
    Ok(match v {
        Value::Map(m) => Value::Map(apply_map(m, at)?),
        Value::Seq(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(match item {
                    SeqItem::Value(v) => SeqItem::Value(apply(v, &format!("{at}[{i}]"))?),
                    other => other.clone(),
                });
            }
            Value::Seq(out)
        }
        other => other.clone(),
    })
}

/// Whether the policy text holds a quoted `<<` key (`"<<":` or `'<<':`). go-yaml merges
/// only a plain `<<` (or one tagged `!!merge`) and reads a quoted one as an ordinary key,
/// which sops ignores; the tree here no longer tells the two apart, so such a policy is
/// refused rather than merged.
pub(super) fn has_quoted_merge_key(text: &[u8]) -> bool {
    [&b"\"<<\""[..], &b"'<<'"[..]].iter().any(|q| {
        text.windows(q.len()).enumerate().any(|(i, w)| {
            w == *q
                && text[i + q.len()..]
                    .iter()
                    .find(|b| !matches!(b, b' ' | b'\t'))
                    == Some(&b':')
        })
    })
}

/// [`apply`], with the path made only for a container (where a merge key can be): a
/// scalar is copied as it is.
fn apply_at(v: &Value, at: impl FnOnce() -> String) -> Result<Value, String> {
    match v {
        Value::Map(_) | Value::Seq(_) => apply(v, &at()),
        other => Ok(other.clone()),
    }
}

fn apply_map(m: &Map, at: &str) -> Result<Map, String> {
    let child = |k: &str| {
        if at.is_empty() {
            k.to_owned()
        } else {
            format!("{at}.{k}")
        }
    };
    let mut out = Map::new();
    // The keys already in `out`: a merged entry is added only when its key is new. A
    // hash set rather than `out.get` (a linear scan): a 100k-key map merged 20 times took
    // 709 s that way (the audit's policy_merge_quadratic case).
    let mut present: HashSet<String> = HashSet::new();
    let mut merged: Vec<&Map> = Vec::new();
    for (k, v) in m.entries() {
        if k == MERGE {
            match v {
                Value::Map(src) => merged.push(src),
                Value::Seq(items) => {
                    for item in items {
                        match item {
                            SeqItem::Value(Value::Map(src)) => merged.push(src),
                            SeqItem::Value(_) => {
                                return Err(format!(
                                    "{}: a merge key (<<) list must hold only mappings",
                                    child(MERGE)
                                ));
                            }
                            _ => {}
                        }
                    }
                }
                _ => {
                    return Err(format!(
                        "{}: a merge key (<<) must name a mapping or a list of mappings",
                        child(MERGE)
                    ));
                }
            }
            continue;
        }
        present.insert(k.to_owned());
        out.push(k, apply_at(v, || child(k))?);
    }
    for src in merged {
        // Moved out of the applied copy (not cloned a second time).
        for item in apply_map(src, &child(MERGE))?.0 {
            if let Item::Entry(k, v) = item
                && !present.contains(&k)
            {
                present.insert(k.clone());
                out.push(k, v);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::policy::Policy;

    const A0: &str = "age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw";
    const A1: &str = "age1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvun";

    #[test]
    fn explicit_keys_win_then_the_first_merged_map() {
        let text = format!(
            "a: &a\n  shamir_threshold: 2\n  key_groups:\n    - age: [{A0}]\n    - age: [{A1}]\nb: &b\n  encrypted_regex: ^x$\n  shamir_threshold: 1\ncreation_rules:\n  - age: {A1}\n    encrypted_regex: ^own$\n    <<: [*a, *b]\n"
        );
        let p = Policy::parse(text.as_bytes(), Path::new(".sops.yaml")).expect("parses");
        let r = &p.rules[0];
        assert_eq!(
            r.key_groups.len(),
            2,
            "key_groups merged (and win over flat age)"
        );
        assert_eq!(r.shamir_threshold, 2, "the first map in the list wins");
        assert_eq!(r.selector.as_ref().map(|s| s.pattern()), Some("^own$"));
        assert!(
            p.warnings.iter().all(|w| !w.contains("<<")),
            "{:?}",
            p.warnings
        );
    }

    #[test]
    fn merge_inside_a_key_group() {
        let text = format!(
            "g: &g\n  age: [{A0}]\ncreation_rules:\n  - key_groups:\n      - <<: *g\n        pgp: []\n"
        );
        let p = Policy::parse(text.as_bytes(), Path::new(".sops.yaml")).expect("parses");
        assert_eq!(p.rules[0].key_groups[0].len(), 1);
    }

    /// go-yaml merges only a plain `<<`: a quoted one is an ignored field in sops, and a
    /// null merge value is refused by sops (the round-19 review found both merged or
    /// accepted here; the quoted one left a value in clear that sops encrypts).
    #[test]
    fn a_quoted_or_null_merge_key_is_refused() {
        for key in ["\"<<\"", "'<<'", "\"<<\"  "] {
            let text = format!(
                "b: &b\n  unencrypted_regex: ^other$\ncreation_rules:\n  - age: {A0}\n    {key}: *b\n"
            );
            let e = Policy::parse(text.as_bytes(), Path::new(".sops.yaml")).expect_err(key);
            assert!(e.to_string().contains("quoted"), "{key}: {e}");
        }
        let text = format!("creation_rules:\n  - age: {A0}\n    <<: ~\n");
        assert!(Policy::parse(text.as_bytes(), Path::new(".sops.yaml")).is_err());
        assert!(!super::has_quoted_merge_key(b"path_regex: '<<'x\n"));
    }

    #[test]
    fn a_large_merge_is_linear_and_keeps_the_order_audit_policy_merge_quadratic() {
        use crate::tree::Map;
        use crate::tree::SeqItem;
        use crate::tree::Value;
        // 100k keys merged twice into a map with one own key: 10^10 key comparisons with
        // a linear lookup per merged entry (minutes), a fraction of a second with the set.
        let mut big = Map::new();
        for i in 0..100_000 {
            big.push(format!("k{i:06}"), Value::Int(i));
        }
        let mut m = Map::new();
        m.push("k000007", Value::str("own"));
        m.push(
            super::MERGE,
            Value::Seq(vec![
                SeqItem::Value(Value::Map(big.clone())),
                SeqItem::Value(Value::Map(big)),
            ]),
        );
        let start = std::time::Instant::now();
        let Ok(Value::Map(out)) = super::apply(&Value::Map(m), "") else {
            panic!("merges");
        };
        assert!(start.elapsed() < std::time::Duration::from_secs(20));
        let keys: Vec<&str> = out.entries().map(|(k, _)| k).collect();
        assert_eq!(keys.len(), 100_000);
        assert_eq!(keys[..3], ["k000007", "k000000", "k000001"]);
        assert_eq!(out.get("k000007"), Some(&Value::str("own")));
        assert_eq!(out.get("k099999"), Some(&Value::Int(99_999)));
    }
}
