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
use crate::goregex::POLICY_BUDGET;
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
mod merge;
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
    /// Whether `creation_rules` is given (even as an empty list): then a file no rule
    /// matches is an error, as in sops; absent or null, there are no rules.
    pub has_rules: bool,
    /// `leafseal: {k8s_decode: BOOL}`: the decoded view of Kubernetes Secrets' `data`;
    /// `true` also for the git textconv driver, `false` not even in `edit` (unset: `edit`
    /// only).
    pub k8s_decode: Option<bool>,
    /// Read with [`Policy::load_for_reading`]: the creation rules were not read (`rules`
    /// is empty), and [`Policy::rule_for`] refuses to answer.
    pub rules_unread: bool,
}

/// Looks for `.sops.yaml` in `start` and its parents (up to 100 levels).
pub fn find(start: &Path) -> Option<PathBuf> {
    let mut dir = Some(start);
    for _ in 0..100 {
        let d = dir?;
        let candidate = d.join(FILE_NAME);
        // Anything by that name counts, as for sops (which stats it): a directory is
        // found, then fails to read, rather than being skipped.
        if candidate.metadata().is_ok() {
            return Some(candidate);
        }
        dir = d.parent();
    }
    None
}

/// What a rule's compiled regexes are charged against [`POLICY_BUDGET`].
fn regex_cost(rule: &CreationRule) -> usize {
    let path = rule.path_regex.as_ref().map_or(0, GoRegex::compiled_cost);
    let sel = rule
        .selector
        .as_ref()
        .and_then(Selector::regex)
        .map_or(0, GoRegex::compiled_cost);
    path.saturating_add(sel)
}

/// Why a policy whose regexes went over [`POLICY_BUDGET`] at rule `i` of its `kind`
/// (creation, destination) rules is refused.
fn over_budget(kind: &str, i: usize) -> String {
    format!(
        "the regular expressions of the first {} {kind} rules together compile to more \
         than {} MiB, the most leafseal allows one policy (so that a planted .sops.yaml \
         cannot take gigabytes of memory); use fewer rules, or simpler patterns (small \
         repetition counts, ASCII classes such as [a-z] instead of \\pL)",
        i + 1,
        POLICY_BUDGET >> 20
    )
}

impl Policy {
    /// Parses policy text; `path` is used for messages and relative matching.
    pub fn parse(text: &[u8], path: &Path) -> Result<Policy, PolicyError> {
        Self::parse_with(text, path, true)
    }

    /// Parses policy text for a command that reads encrypted files and creates none
    /// (`decrypt`, `exec-*`, the settings of an in-place write): the YAML, the stores,
    /// the destinations and the `leafseal` section are read and checked, the creation
    /// rules only as a list. sops's `decrypt` likewise reads the rules without checking
    /// their patterns and keys, which it checks only for the rule a new file uses.
    pub fn parse_for_reading(text: &[u8], path: &Path) -> Result<Policy, PolicyError> {
        Self::parse_with(text, path, false)
    }

    fn parse_with(text: &[u8], path: &Path, read_rules: bool) -> Result<Policy, PolicyError> {
        let cx = Ctx { path, text };
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
        // Merge keys (`<<: *anchor`) as go-yaml applies them for sops.
        if merge::has_quoted_merge_key(text) {
            return Err(cx.invalid(
                "<<",
                "a quoted `<<` key: sops reads it as an ordinary field and ignores it, while \
                 a plain `<<` merges; remove the quotes to merge, or remove the key",
            ));
        }
        let root = match merge::apply(&Value::Map(root), "") {
            Ok(Value::Map(m)) => m,
            Ok(_) => Map::new(),
            Err(why) => return Err(cx.invalid("<<", why)),
        };
        let mut warnings = Vec::new();
        let mut rules = Vec::new();
        let mut charged = 0usize;
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
                        has_rules: false,
                        k8s_decode: ls.k8s_decode,
                        rules_unread: false,
                    });
                }
                return Err(cx.invalid("creation_rules", "expected a list of rules"));
            };
            for (i, item) in items.iter().enumerate() {
                if let SeqItem::Value(v) = item {
                    let at = format!("creation_rules[{i}]");
                    if read_rules {
                        let rule = parse_rule(&cx, cx.map(v, &at)?, &at, &mut warnings)?;
                        charged = charged.saturating_add(regex_cost(&rule));
                        if charged > POLICY_BUDGET {
                            return Err(cx.invalid(at, over_budget("creation", i)));
                        }
                        rules.push(rule);
                    } else {
                        parse::check_rule_types(&cx, v, &at)?;
                    }
                }
            }
        }
        let has_rules = matches!(root.get("creation_rules"), Some(Value::Seq(_)));
        let stores = match root.get("stores") {
            None | Some(Value::Null) => StoreSettings::default(),
            Some(v) => parse_stores(&cx, cx.map(v, "stores")?)?,
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
            has_rules,
            k8s_decode: ls.k8s_decode,
            rules_unread: !read_rules,
        })
    }

    /// Reads and parses a policy file.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        Self::parse(&Self::read(path)?, path)
    }

    /// Reads a policy file with [`Policy::parse_for_reading`].
    pub fn load_for_reading(path: &Path) -> Result<Policy, PolicyError> {
        Self::parse_for_reading(&Self::read(path)?, path)
    }

    fn read(path: &Path) -> Result<zeroize::Zeroizing<Vec<u8>>, PolicyError> {
        crate::io::read_path(path).map_err(|source| PolicyError::Read {
            path: path.to_owned(),
            source,
        })
    }

    /// The path string rules are matched against, as sops makes it: the file path made
    /// absolute (against the logical working directory, `$PWD`, as Go's `os.Getwd`)
    /// and cleaned lexically (`..` removes the previous component; no symbolic link is
    /// followed), with the policy directory (made absolute the same way) and a `/` cut
    /// off its front when it starts with them; otherwise the absolute path.
    pub fn match_path(&self, file: &Path) -> String {
        let abs = lexical_abs(file);
        let dir = lexical_abs(self.path.parent().unwrap_or(Path::new("")));
        let abs = abs.to_string_lossy();
        let mut prefix = dir.to_string_lossy().into_owned();
        prefix.push('/');
        match abs.strip_prefix(&prefix) {
            Some(rel) => rel.to_owned(),
            None => abs.into_owned(),
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
        if self.rules_unread {
            return Err(PolicyError::Invalid {
                path: self.path.clone(),
                at: "creation_rules".to_owned(),
                why: "the policy was read without its creation rules".to_owned(),
            });
        }
        if self.rules.is_empty() && !self.has_rules {
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

/// The working directory as Go's `os.Getwd` gives it: `$PWD` when it is absolute and
/// names the same directory as `.`, else the resolved one.
fn logical_cwd() -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let real = std::env::current_dir().ok()?;
    let same = |p: &Path| {
        let (Ok(a), Ok(b)) = (std::fs::metadata(p), std::fs::metadata(".")) else {
            return false;
        };
        a.dev() == b.dev() && a.ino() == b.ino()
    };
    match std::env::var_os("PWD").map(PathBuf::from) {
        Some(p) if p.is_absolute() && same(&p) => Some(p),
        _ => Some(real),
    }
}

/// `p` made absolute against [`logical_cwd`] and cleaned as Go's `filepath.Clean`:
/// `.` dropped, `..` removes the previous component (never past the root), nothing
/// resolved on disk.
fn lexical_abs(p: &Path) -> PathBuf {
    use std::path::Component;
    let joined = if p.is_absolute() {
        p.to_owned()
    } else {
        logical_cwd().map_or_else(|| p.to_owned(), |d| d.join(p))
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if out.parent().is_some() {
                    out.pop();
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
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
