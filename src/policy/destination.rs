//! `destination_rules` of `.sops.yaml`: where `publish` sends a file (sops's
//! `config.destinationRule`).
//!
//! A rule has a `path_regex` (none matches every file), exactly one destination (an S3
//! bucket, a GCS bucket or a Vault KV path), an optional `recreation_rule` (a creation
//! rule whose keys re-encrypt the file before an S3/GCS upload) and `omit_extensions`.
//! As in sops, a rule naming no destination or several is an error only when `publish`
//! uses it, so a policy with such a rule still works for every other command.

use crate::goregex::GoRegex;

use super::CreationRule;
use super::PolicyError;
use super::parse::Ctx;
use crate::tree::Map;
use crate::tree::Value;

/// Where a destination rule publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// `s3_bucket` (+ `s3_prefix`): the encrypted file is uploaded as an object.
    S3 {
        /// The bucket.
        bucket: String,
        /// Prepended to the object name as is (`secrets/`).
        prefix: String,
    },
    /// `gcs_bucket` (+ `gcs_prefix`): the encrypted file is uploaded as an object.
    Gcs {
        /// The bucket.
        bucket: String,
        /// Prepended to the object name as is.
        prefix: String,
    },
    /// `vault_path` (+ `vault_address`, `vault_kv_mount_name`, `vault_kv_version`): the
    /// decrypted data is written as a KV secret.
    Vault {
        /// `vault_address`; empty means `VAULT_ADDR` (or `BAO_ADDR`), else
        /// `https://127.0.0.1:8200`, as the Vault client defaults.
        address: String,
        /// `vault_path`, always ending in `/` (sops appends one).
        path: String,
        /// `vault_kv_mount_name`, default `secret/`, always ending in `/`.
        mount: String,
        /// `vault_kv_version`: 1 or 2 (anything else is 2, as in sops).
        version: u8,
    },
}

/// One `destination_rules` entry.
#[derive(Debug, Clone)]
pub struct DestinationRule {
    /// The path regex; `None` matches every file.
    pub path_regex: Option<GoRegex>,
    /// The destination, or why the rule has no usable one (reported by `publish`).
    pub destination: Result<Destination, String>,
    /// The `recreation_rule`, when it names keys.
    pub recreation: Option<CreationRule>,
    /// `omit_extensions`.
    pub omit_extensions: bool,
}

const FIELDS: [&str; 11] = [
    "path_regex",
    "s3_bucket",
    "s3_prefix",
    "gcs_bucket",
    "gcs_prefix",
    "vault_path",
    "vault_address",
    "vault_kv_mount_name",
    "vault_kv_version",
    "recreation_rule",
    "omit_extensions",
];

fn opt_string(cx: &Ctx<'_>, m: &Map, name: &str, at: &str) -> Result<String, PolicyError> {
    match m.get(name) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(v) => cx.string(v, &format!("{at}.{name}")),
    }
}

/// Parses one rule.
pub(super) fn parse(
    cx: &Ctx<'_>,
    m: &Map,
    at: &str,
    warnings: &mut Vec<String>,
) -> Result<DestinationRule, PolicyError> {
    let regex = opt_string(cx, m, "path_regex", at)?;
    let path_regex = if regex.is_empty() {
        None
    } else {
        Some(GoRegex::new(&regex).map_err(|e| {
            cx.invalid(
                format!("{at}.path_regex"),
                format!("invalid regular expression: {e}"),
            )
        })?)
    };
    let s3 = opt_string(cx, m, "s3_bucket", at)?;
    let gcs = opt_string(cx, m, "gcs_bucket", at)?;
    let vault_path = opt_string(cx, m, "vault_path", at)?;
    let version = match m.get("vault_kv_version") {
        None | Some(Value::Null) => 2,
        Some(v) => match cx.usize(v, &format!("{at}.vault_kv_version"))? {
            1 => 1,
            _ => 2,
        },
    };
    let count = [&s3, &gcs, &vault_path]
        .iter()
        .filter(|s| !s.is_empty())
        .count();
    let destination = if count > 1 {
        Err(format!(
            "{at} names more than one destination (s3_bucket, gcs_bucket, vault_path); a rule \
             can have only one"
        ))
    } else if !s3.is_empty() {
        Ok(Destination::S3 {
            bucket: s3,
            prefix: opt_string(cx, m, "s3_prefix", at)?,
        })
    } else if !gcs.is_empty() {
        Ok(Destination::Gcs {
            bucket: gcs,
            prefix: opt_string(cx, m, "gcs_prefix", at)?,
        })
    } else if !vault_path.is_empty() {
        let slash = |mut s: String| {
            if !s.ends_with('/') {
                s.push('/');
            }
            s
        };
        let mount = opt_string(cx, m, "vault_kv_mount_name", at)?;
        Ok(Destination::Vault {
            address: opt_string(cx, m, "vault_address", at)?,
            path: slash(vault_path),
            mount: slash(if mount.is_empty() {
                "secret/".to_owned()
            } else {
                mount
            }),
            version,
        })
    } else {
        Err(format!(
            "{at} names no destination (s3_bucket, gcs_bucket or vault_path)"
        ))
    };
    let recreation = match m.get("recreation_rule") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let rat = format!("{at}.recreation_rule");
            let rule = super::parse::parse_rule(cx, cx.map(v, &rat)?, &rat, warnings)?;
            (!rule.key_groups.iter().all(Vec::is_empty)).then_some(rule)
        }
    };
    let omit_extensions = match m.get("omit_extensions") {
        None | Some(Value::Null) => false,
        Some(v) => cx.bool(v, &format!("{at}.omit_extensions"))?,
    };
    for (k, _) in m.entries() {
        if !FIELDS.contains(&k) {
            warnings.push(format!("unknown field `{k}` in {at} ignored"));
        }
    }
    Ok(DestinationRule {
        path_regex,
        destination,
        recreation,
        omit_extensions,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::policy::Policy;

    #[test]
    fn rules_as_sops_reads_them() {
        let text = b"destination_rules:\n  - path_regex: 's3/.*'\n    s3_bucket: b\n    s3_prefix: p/\n    omit_extensions: true\n  - path_regex: 'gcs/.*'\n    gcs_bucket: g\n  - path_regex: 'v1/.*'\n    vault_path: app\n    vault_kv_version: 1\n    vault_kv_mount_name: kv\n  - path_regex: 'two/.*'\n    s3_bucket: b\n    vault_path: x\n  - s3_bucket: last\n    recreation_rule:\n      age: age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw\n";
        let p = Policy::parse(text, Path::new("/x/.sops.yaml")).expect("test value");
        assert_eq!(p.destinations.len(), 5);
        assert_eq!(
            p.destination_for("s3/a.yaml")
                .expect("test value")
                .destination,
            Ok(Destination::S3 {
                bucket: "b".into(),
                prefix: "p/".into()
            })
        );
        assert!(
            p.destination_for("s3/a.yaml")
                .expect("test value")
                .omit_extensions
        );
        assert_eq!(
            p.destination_for("v1/a.yaml")
                .expect("test value")
                .destination,
            Ok(Destination::Vault {
                address: String::new(),
                path: "app/".into(),
                mount: "kv/".into(),
                version: 1
            })
        );
        assert!(
            p.destination_for("two/a")
                .expect("test value")
                .destination
                .is_err()
        );
        let last = p.destination_for("other.yaml").expect("test value");
        assert!(last.recreation.is_some());
        assert!(
            p.destination_for("gcs/a")
                .expect("test value")
                .recreation
                .is_none()
        );
    }
}
