//! `leafseal check`: a policy check that needs no private key, for CI and pre-commit.
//!
//! Every file is held against the `.sops.yaml` creation rule that matches it:
//! a matched file must be encrypted, for exactly the rule's key groups and threshold, with
//! the rule's partial-encryption selector, with every leaf that selector names stored as
//! `ENC[…]`, and with a well-formed `mac`/`lastmodified`. Kustomizations are checked for
//! exec KRM functions that kubectl's embedded kustomize silently skips.
//!
//! Findings name a path, a kind, a message and a hint — never a value or comment text
//! (key paths, key ids and file paths only). Nothing here prints: [`crate::cli`] does.

use std::path::Path;

use crate::format::Format;
use crate::policy::CreationRule;
use crate::policy::Policy;
use crate::tree::Timestamp;

mod analysis;
mod extra;
pub mod files;
mod kustomize;
pub mod services;

pub(crate) use analysis::key_birth;
pub use files::DiskSource;
pub use files::IndexSource;
pub use files::Source;
pub use services::KeyService;
pub use services::key_services;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Fails the check (exit 1).
    Error,
    /// Reported, but fails the check only with `--strict`.
    Warning,
}

impl Severity {
    /// `error` or `warning`.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A file matched by a creation rule has no `sops` metadata.
    Plaintext,
    /// The file's key groups or Shamir threshold differ from its rule's.
    RecipientDrift,
    /// A leaf that the selector says must be encrypted is stored in clear.
    ClearLeaf,
    /// A comment that the selector says must be encrypted is stored in clear (warning).
    ClearComment,
    /// The file records a different partial-encryption selector than its rule names.
    SelectorDrift,
    /// The rule's selector leaves every leaf of the file in clear (e.g. dotenv +
    /// `encrypted_regex`, getsops/sops#1557).
    SelectorEncryptsNothing,
    /// `mac` is absent, empty or not a well-formed `ENC[…]` string.
    MacMissing,
    /// `lastmodified` is absent or not RFC 3339.
    LastmodifiedInvalid,
    /// The `sops` metadata block cannot be read.
    MetadataInvalid,
    /// The data key is older than `--max-key-age`.
    OldDataKey,
    /// A kustomization runs an exec KRM function (warning).
    KustomizeExec,
    /// An encrypted file that no creation rule matches (warning).
    UnmatchedEncrypted,
    /// A file matched by a rule that cannot be parsed in its format (warning).
    Unreadable,
    /// An encrypted file without a current leafseal integrity record (warning; an error
    /// when the policy sets `leafseal.strict_integrity`).
    IntegrityRecord,
    /// An encrypted file that is unsigned, wrongly signed, or signed by a key the
    /// allowed-signers file does not list (`--require-signed`, `leafseal.require_signed`).
    Signature,
    /// git conflict markers in a file matched by a rule or holding sops values (a merge
    /// without leafseal's merge driver).
    ConflictMarkers,
    /// A write-only contribution waits to be absorbed (warning; an error when the field is
    /// malformed).
    PendingContribution,
    /// A Kubernetes Secret's `data`/`stringData` value that the rule leaves in clear
    /// (warning).
    K8sSecretClear,
}

impl Kind {
    /// The kind's name in the output (`plaintext`, `recipient-drift`, …).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Plaintext => "plaintext",
            Kind::RecipientDrift => "recipient-drift",
            Kind::ClearLeaf => "clear-leaf",
            Kind::ClearComment => "clear-comment",
            Kind::SelectorDrift => "selector-drift",
            Kind::SelectorEncryptsNothing => "selector-encrypts-nothing",
            Kind::MacMissing => "mac-missing",
            Kind::LastmodifiedInvalid => "lastmodified-invalid",
            Kind::MetadataInvalid => "metadata-invalid",
            Kind::OldDataKey => "old-data-key",
            Kind::KustomizeExec => "kustomize-exec",
            Kind::UnmatchedEncrypted => "unmatched-encrypted",
            Kind::Unreadable => "unreadable",
            Kind::IntegrityRecord => "integrity-record",
            Kind::Signature => "signature",
            Kind::ConflictMarkers => "conflict-markers",
            Kind::PendingContribution => "pending-contribution",
            Kind::K8sSecretClear => "k8s-secret-clear",
        }
    }

    /// The severity without `--strict`.
    pub fn default_severity(self) -> Severity {
        match self {
            Kind::ClearComment
            | Kind::KustomizeExec
            | Kind::UnmatchedEncrypted
            | Kind::Unreadable
            | Kind::IntegrityRecord
            | Kind::PendingContribution
            | Kind::K8sSecretClear => Severity::Warning,
            _ => Severity::Error,
        }
    }
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The file, as given or as git lists it.
    pub path: String,
    /// What kind of problem.
    pub kind: Kind,
    /// Error or warning (after `--strict`).
    pub severity: Severity,
    /// What is wrong (never a value or comment text).
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

/// Options of a check run.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Maximum data-key age in days.
    pub max_key_age_days: Option<u64>,
    /// Turn warnings into errors.
    pub strict: bool,
    /// "Now" for the key-age check (default: the clock).
    pub now: Option<Timestamp>,
    /// A missing or stale integrity record is an error (also when the policy sets
    /// `leafseal.strict_integrity`).
    pub require_integrity: bool,
}

/// One file to check.
#[derive(Debug, Clone)]
pub struct Target {
    /// The name shown in findings.
    pub display: String,
    /// The file's path on disk (absolute or relative to the current directory), used for
    /// rule matching and, with [`DiskSource`], for reading.
    pub path: std::path::PathBuf,
}

/// The outcome of a run.
#[derive(Debug, Default)]
pub struct Report {
    /// Every finding, in file order.
    pub findings: Vec<Finding>,
    /// How many files were looked at.
    pub files_checked: usize,
}

impl Report {
    /// Findings with [`Severity::Error`].
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }
}

/// Collects findings for one file.
pub(crate) struct Sink<'a> {
    path: &'a str,
    strict: bool,
    out: &'a mut Vec<Finding>,
}

impl Sink<'_> {
    pub(crate) fn push(&mut self, kind: Kind, message: impl Into<String>, hint: impl Into<String>) {
        self.push_as(kind, self.strict, message, hint);
    }

    /// [`Sink::push`], an error when `error` is set whatever the kind's default severity.
    pub(crate) fn push_as(
        &mut self,
        kind: Kind,
        error: bool,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        let severity = if error {
            Severity::Error
        } else {
            kind.default_severity()
        };
        self.out.push(Finding {
            path: self.path.to_owned(),
            kind,
            severity,
            message: message.into(),
            hint: hint.into(),
        });
    }
}

/// Whether a file name is a kustomization.
pub fn is_kustomization(path: &Path) -> bool {
    matches!(
        path.file_name().and_then(|n| n.to_str()),
        Some("kustomization.yaml" | "kustomization.yml" | "Kustomization")
    )
}

/// The format leafseal reads a file in: by extension; `.toml` with a TOML `sops` table is
/// TOML, otherwise binary (as sops).
pub fn format_of(path: &Path, bytes: &[u8]) -> Format {
    let name = path.to_string_lossy();
    if name.to_ascii_lowercase().ends_with(".toml") && crate::format::toml::sniff(bytes) {
        return Format::Toml;
    }
    Format::from_path(&name)
}

/// A file with a `sops` block whose metadata cannot be read.
#[derive(Debug, Clone)]
pub struct Skipped {
    /// The file.
    pub path: String,
    /// Why.
    pub reason: String,
}

/// Calls `each` with every encrypted file among `targets` (read through `source`), its bytes
/// and its metadata. `.sops.yaml`, unreadable files, files that do not parse and files without
/// a `sops` block are passed over; a file whose metadata cannot be read goes to `skipped`.
pub fn each_sealed<'t>(
    targets: &'t [Target],
    source: &dyn Source,
    skipped: &mut Vec<Skipped>,
    mut each: impl FnMut(&'t Target, &[u8], crate::metadata::Metadata),
) {
    for t in targets {
        if t.path.file_name().and_then(|n| n.to_str()) == Some(crate::policy::FILE_NAME) {
            continue;
        }
        let Ok(Some(bytes)) = source.read(&t.path) else {
            continue;
        };
        let format = format_of(&t.path, &bytes);
        let Ok(loaded) = format.store().load(&bytes) else {
            continue;
        };
        let Some(raw) = loaded.meta else { continue };
        match crate::metadata::Metadata::from_map(&raw) {
            Ok(meta) => each(t, &bytes, meta),
            Err(e) => skipped.push(Skipped {
                path: t.display.clone(),
                reason: format!("its sops metadata cannot be read: {e}"),
            }),
        }
    }
}

/// The rule that governs a file, if any (a policy whose rules match nothing gives none).
fn rule_for<'p>(policy: Option<&'p Policy>, path: &Path) -> Option<&'p CreationRule> {
    policy.and_then(|p| p.rule_for(path).ok().flatten())
}

/// How a file's recipients differ from the `.sops.yaml` rule that governs it (the
/// `recipient-drift` finding of `check`): `Some(message)` when they differ.
pub fn recipient_drift(
    policy: Option<&Policy>,
    path: &Path,
    meta: &crate::metadata::Metadata,
) -> Option<String> {
    rule_for(policy, path).and_then(|r| analysis::recipient_drift(r, meta))
}

/// Whether a `.sops.yaml` rule governs `path`.
pub fn has_rule(policy: Option<&Policy>, path: &Path) -> bool {
    rule_for(policy, path).is_some()
}

/// Checks the targets against the policy, reading their contents through `source`.
pub fn run(
    policy: Option<&Policy>,
    targets: &[Target],
    source: &dyn Source,
    opts: &CheckOptions,
) -> Report {
    let now = opts.now.unwrap_or_else(Timestamp::now_utc);
    let opts = &CheckOptions {
        require_integrity: opts.require_integrity || policy.is_some_and(|p| p.strict_integrity),
        ..opts.clone()
    };
    // Files are independent: checked on all cores, their findings kept in target order.
    let per_file = crate::io::workers::map_ordered(targets, |t| {
        let mut findings = Vec::new();
        let checked = check_target(policy, t, source, opts, now, &mut findings);
        (checked, findings)
    });
    let mut report = Report::default();
    for (t, r) in targets.iter().zip(per_file) {
        match r {
            Some((checked, findings)) => {
                report.files_checked += usize::from(checked);
                report.findings.extend(findings);
            }
            None => Sink {
                path: &t.display,
                strict: opts.strict,
                out: &mut report.findings,
            }
            .push(
                Kind::Unreadable,
                "the file could not be checked (internal error)".to_owned(),
                "run `leafseal check` on this file alone",
            ),
        }
    }
    report
}

/// Checks one target, pushing its findings to `out`; whether a file was read and checked.
fn check_target(
    policy: Option<&Policy>,
    t: &Target,
    source: &dyn Source,
    opts: &CheckOptions,
    now: Timestamp,
    out: &mut Vec<Finding>,
) -> bool {
    let mut sink = Sink {
        path: &t.display,
        strict: opts.strict,
        out,
    };
    let bytes = match source.read(&t.path) {
        Ok(Some(b)) => b,
        // Listed but gone (deleted in the work tree, or a directory): nothing to check.
        Ok(None) => return false,
        Err(e) => {
            let hint = if e.kind() == std::io::ErrorKind::PermissionDenied {
                "check the file's permissions"
            } else {
                "check what the path is (`ls -l`): check reads regular files only"
            };
            sink.push(
                Kind::Unreadable,
                format!("the file cannot be read: {e}"),
                hint,
            );
            return false;
        }
    };
    if is_kustomization(&t.path) {
        kustomize::check(&t.path, &bytes, source, &mut sink);
    }
    if t.path.file_name().and_then(|n| n.to_str()) != Some(crate::policy::FILE_NAME) {
        let rule = rule_for(policy, &t.path);
        analysis::check_file(&t.path, &bytes, rule, opts, now, &mut sink);
    }
    true
}

#[cfg(test)]
mod tests;
