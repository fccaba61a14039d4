//! The KMS encryption context flag (`--encryption-context k:v,k2:v2`), read with sops's
//! grammar in every build: sops refuses a malformed context whatever the keys, so a build
//! without the `aws` feature must refuse it too (exit 6) rather than ignore it.

use std::collections::BTreeMap;

use super::KeyError;

/// Parses `--encryption-context k:v,k2:v2` with sops's grammar: the text is split at
/// every `,`, and each item must hold exactly one `:` (so `a:b:c`, an empty item as in
/// `a:b,` and an item without `:` are refused, as sops refuses them with exit 6); keys and
/// values are taken as typed, spaces included. An empty text is no context. An empty key
/// is refused too (AWS KMS takes none; sops passes it on).
pub fn parse(s: &str) -> Result<BTreeMap<String, String>, KeyError> {
    let mut out = BTreeMap::new();
    if s.is_empty() {
        return Ok(out);
    }
    for item in s.split(',') {
        let mut parts = item.split(':');
        let (Some(k), Some(v), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(KeyError::with_hint(
                "invalid encryption context: each comma-separated item must hold exactly \
                 one `:`",
                "write it as key:value,key2:value2",
            ));
        };
        if k.is_empty() {
            return Err(KeyError::with_hint(
                "invalid encryption context: empty key",
                "write it as key:value,key2:value2",
            ));
        }
        out.insert(k.to_owned(), v.to_owned());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_grammar_is_sops_s() {
        let c = super::parse("app:web,env:prod").expect("valid");
        assert_eq!(c.get("app").map(String::as_str), Some("web"));
        assert_eq!(c.len(), 2);
        assert!(super::parse("").expect("empty").is_empty());
        for bad in ["bad", "a:b:c", "a:b,", "a:b,,c:d", " ", ":v"] {
            assert!(super::parse(bad).is_err(), "{bad:?}");
        }
    }
}
