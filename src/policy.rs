//! The policy file, `.sops.yaml`: creation rules (path regex → key groups and
//! partial-encryption settings) and store settings.
//!
//! Found by walking up from the current directory (not the file's), unless `--config` /
//! `SOPS_CONFIG` names one. The first rule whose `path_regex` matches the file's path
//! (relative to the config file's directory) wins.

use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;

use crate::format::Format;
use crate::format::Store;
use crate::goregex::GoRegex;
use crate::keys;
use crate::keys::KeyKind;
use crate::keys::MasterKey;
use crate::metadata;
use crate::tree::Map;
use crate::tree::SeqItem;
use crate::tree::Value;
use crate::walk::Selector;

pub mod destination;
mod leafseal;
mod parse;
pub mod revoke;
pub mod search;
mod trust;
pub use trust::outside_work_tree;
pub use trust::work_tree_root;

use parse::Ctx;
use parse::parse_destinations;
use parse::parse_rule;
use parse::parse_stores;

/// The policy file's name.
pub const FILE_NAME: &str = ".sops.yaml";

/// A policy file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file cannot be read.
    #[error("cannot read the policy file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid YAML.
    #[error("the policy file {path} is not valid YAML: {source}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: crate::format::FormatError,
    },
    /// A field has the wrong shape or value.
    #[error("the policy file {path} is invalid: {at}: {why}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Where in the file (e.g. `creation_rules[1].path_regex`).
        at: String,
        /// What is wrong.
        why: String,
    },
    /// The policy has rules and none matches the file.
    #[error("no creation rule in {path} matches {file} (the rules' path_regex, in order: {})", rules.join(", "))]
    NoMatch {
        /// The policy file.
        path: PathBuf,
        /// The file being encrypted.
        file: String,
        /// The rules' path_regex values, in order, quoted.
        rules: Vec<String>,
    },
}

/// One `creation_rules` entry.
#[derive(Debug, Clone)]
pub struct CreationRule {
    /// The path regex; `None` matches every file.
    pub path_regex: Option<GoRegex>,
    /// Key groups (one group for the flat form).
    pub key_groups: Vec<Vec<Arc<dyn MasterKey>>>,
    /// Shamir threshold (0 = number of groups).
    pub shamir_threshold: usize,
    /// The partial-encryption selector, if the rule sets one.
    pub selector: Option<Selector>,
    /// Only encrypted values enter the MAC.
    pub mac_only_encrypted: bool,
}

/// `stores:` settings.
#[derive(Debug, Default, Clone, Copy)]
pub struct StoreSettings {
    /// `stores.yaml.indent`.
    pub yaml_indent: Option<i64>,
    /// `stores.json.indent`.
    pub json_indent: Option<i64>,
    /// `stores.json_binary.indent`.
    pub json_binary_indent: Option<i64>,
}

impl StoreSettings {
    /// The indent setting for a format, if any.
    pub fn indent_for(&self, format: Format) -> Option<i64> {
        match format {
            Format::Yaml => self.yaml_indent,
            Format::Json => self.json_indent,
            Format::Binary => self.json_binary_indent,
            _ => None,
        }
    }
}

/// A loaded policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The policy file.
    pub path: PathBuf,
    /// The creation rules, in order.
    pub rules: Vec<CreationRule>,
    /// Store settings.
    pub stores: StoreSettings,
    /// The `destination_rules` (for `publish`), in order.
    pub destinations: Vec<destination::DestinationRule>,
    /// Unknown fields that were ignored (worth a warning).
    pub warnings: Vec<String>,
    /// `leafseal: {strict_integrity: true}`: a missing or stale integrity record is an
    /// error (sops ignores the `leafseal` section).
    pub strict_integrity: bool,
    /// `leafseal: {allowed_signers: PATH}`: the allowed-signers file (git's format) that
    /// `verify`, `check` and `decrypt` check file signatures against, resolved against the
    /// policy's directory.
    pub allowed_signers: Option<PathBuf>,
    /// `leafseal: {require_signed: true}`: an unsigned or wrongly signed file is a `check`
    /// finding and a `decrypt` error.
    pub require_signed: bool,
    /// `leafseal: {k8s_decode: BOOL}`: the decoded view of Kubernetes Secrets' `data`;
    /// `true` also for the git textconv driver, `false` not even in `edit` (unset: `edit`
    /// only).
    pub k8s_decode: Option<bool>,
}

/// Looks for `.sops.yaml` in `start` and its parents (up to 100 levels).
pub fn find(start: &Path) -> Option<PathBuf> {
    let mut dir = Some(start);
    for _ in 0..100 {
        let d = dir?;
        let candidate = d.join(FILE_NAME);
        if candidate.is_file() {
            return Some(candidate);
        }
        dir = d.parent();
    }
    None
}

impl Policy {
    /// Parses policy text; `path` is used for messages and relative matching.
    pub fn parse(text: &[u8], path: &Path) -> Result<Policy, PolicyError> {
        let cx = Ctx { path };
        let loaded = crate::format::yaml::YamlStore
            .load(text)
            .map_err(|source| PolicyError::Syntax {
                path: path.to_owned(),
                source,
            })?;
        let mut doc = loaded.doc;
        let root = if doc.branches.is_empty() {
            Map::new()
        } else {
            doc.branches.swap_remove(0)
        };
        let mut warnings = Vec::new();
        let mut rules = Vec::new();
        if let Some(v) = root.get("creation_rules") {
            let Value::Seq(items) = v else {
                if matches!(v, Value::Null) {
                    let ls = leafseal::section(&cx, &root)?;
                    return Ok(Policy {
                        path: path.to_owned(),
                        rules,
                        stores: StoreSettings::default(),
                        destinations: parse_destinations(&cx, &root, &mut warnings)?,
                        warnings,
                        strict_integrity: ls.strict_integrity,
                        allowed_signers: ls.allowed_signers,
                        require_signed: ls.require_signed,
                        k8s_decode: ls.k8s_decode,
                    });
                }
                return Err(cx.invalid("creation_rules", "expected a list of rules"));
            };
            for (i, item) in items.iter().enumerate() {
                if let SeqItem::Value(v) = item {
                    let at = format!("creation_rules[{i}]");
                    rules.push(parse_rule(&cx, cx.map(v, &at)?, &at, &mut warnings)?);
                }
            }
        }
        let stores = match root.get("stores") {
            Some(v) => parse_stores(&cx, cx.map(v, "stores")?)?,
            None => StoreSettings::default(),
        };
        let destinations = parse_destinations(&cx, &root, &mut warnings)?;
        let ls = leafseal::section(&cx, &root)?;
        for (k, _) in root.entries() {
            if !matches!(
                k,
                "creation_rules" | "stores" | "destination_rules" | "leafseal"
            ) {
                warnings.push(format!("unknown top-level field `{k}` ignored"));
            }
        }
        Ok(Policy {
            path: path.to_owned(),
            rules,
            stores,
            destinations,
            warnings,
            strict_integrity: ls.strict_integrity,
            allowed_signers: ls.allowed_signers,
            require_signed: ls.require_signed,
            k8s_decode: ls.k8s_decode,
        })
    }

    /// Reads and parses a policy file.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = crate::io::read_path(path).map_err(|source| PolicyError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// The path string rules are matched against: the absolute file path, made relative
    /// to the policy file's directory when it lies below it.
    pub fn match_path(&self, file: &Path) -> String {
        let abs = if file.is_absolute() {
            file.to_owned()
        } else {
            std::env::current_dir()
                .map(|d| d.join(file))
                .unwrap_or_else(|_| file.to_owned())
        };
        let dir = self.path.parent().map(Path::to_owned).unwrap_or_default();
        let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
        let abs_c = abs
            .parent()
            .and_then(|p| std::fs::canonicalize(p).ok())
            .and_then(|p| abs.file_name().map(|n| p.join(n)))
            .unwrap_or(abs);
        match abs_c.strip_prefix(&dir) {
            Ok(rel) => rel.to_string_lossy().into_owned(),
            Err(_) => abs_c.to_string_lossy().into_owned(),
        }
    }

    /// The first destination rule whose `path_regex` matches `path` (the path as given on
    /// the command line, as sops matches it), if any.
    pub fn destination_for(&self, path: &str) -> Option<&destination::DestinationRule> {
        self.destinations
            .iter()
            .find(|r| r.path_regex.as_ref().is_none_or(|re| re.is_match(path)))
    }

    /// The first rule matching `file`. A policy without rules gives `Ok(None)`; a policy
    /// with rules none of which matches is an error (as in sops).
    pub fn rule_for(&self, file: &Path) -> Result<Option<&CreationRule>, PolicyError> {
        if self.rules.is_empty() {
            return Ok(None);
        }
        let p = self.match_path(file);
        self.rules
            .iter()
            .find(|r| r.path_regex.as_ref().is_none_or(|re| re.is_match(&p)))
            .map(Some)
            .ok_or_else(|| PolicyError::NoMatch {
                path: self.path.clone(),
                file: p,
                rules: self
                    .rules
                    .iter()
                    .map(|r| match &r.path_regex {
                        Some(re) => format!("`{}`", re.as_str()),
                        None => "(none)".to_owned(),
                    })
                    .collect(),
            })
    }
}

impl Policy {
    /// The keys and settings a new file named `file` is encrypted with, as sops decides:
    /// keys given directly (`flag_keys`, one group) win over the matching creation rule's
    /// groups; a given selector and threshold override the rule's; `mac_only_encrypted` is
    /// on if either asks for it. A policy with rules none of which matches `file` is an
    /// error even when keys are given, as in sops.
    pub fn seal_plan(
        policy: Option<&Policy>,
        file: &Path,
        given: crate::ops::SealPlan,
    ) -> Result<crate::ops::SealPlan, PolicyError> {
        let rule = match policy {
            Some(p) => p.rule_for(file)?,
            None => None,
        };
        let flag_group = given.groups.into_iter().flatten().collect::<Vec<_>>();
        Ok(crate::ops::SealPlan {
            groups: if !flag_group.is_empty() {
                vec![flag_group]
            } else {
                rule.map(|r| r.key_groups.clone()).unwrap_or_default()
            },
            threshold: if given.threshold != 0 {
                given.threshold
            } else {
                rule.map_or(0, |r| r.shamir_threshold)
            },
            selector: given
                .selector
                .or_else(|| rule.and_then(|r| r.selector.clone())),
            mac_only_encrypted: given.mac_only_encrypted
                || rule.is_some_and(|r| r.mac_only_encrypted),
            binary: given.binary,
        })
    }
}
