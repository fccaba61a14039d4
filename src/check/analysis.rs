//! The per-file checks: plaintext, metadata well-formedness, recipient drift, selector
//! drift, clear leaves, the "selector encrypts nothing" trap and the data-key age.

use std::collections::BTreeSet;
use std::path::Path;

use crate::check::CheckOptions;
use crate::check::Kind;
use crate::check::Sink;
use crate::check::format_of;
use crate::crypto::integrity;
use crate::crypto::value::EncFields;
use crate::crypto::value::EncValue;
use crate::crypto::value::ValueType;
use crate::crypto::value::is_encrypted;
use crate::format::Format;
use crate::metadata::Metadata;
use crate::policy::CreationRule;
use crate::tree::Document;
use crate::tree::Timestamp;
use crate::tree::Value;
use crate::walk;
use crate::walk::Direction;
use crate::walk::Leaf;
use crate::walk::Selector;

/// Whether the bytes hold a sops-encrypted value (for files no rule matches).
fn looks_encrypted(bytes: &[u8]) -> bool {
    bytes.windows(15).any(|w| w == b"ENC[AES256_GCM,")
}

/// Checks one (non-policy) file.
pub(crate) fn check_file(
    path: &Path,
    bytes: &[u8],
    rule: Option<&CreationRule>,
    opts: &CheckOptions,
    now: Timestamp,
    sink: &mut Sink<'_>,
) {
    if let Some(line) = crate::conflict::find(bytes)
        && (rule.is_some() || looks_encrypted(bytes))
    {
        sink.push(
            Kind::ConflictMarkers,
            format!("git conflict markers (line {line}): a merge without leafseal's merge driver left two versions of the file in it"),
            format!("run `leafseal git setup` in this clone, then redo the file's merge: `git checkout -m -- {}` while the merge is going on, else reset to before the merge and merge again", path.display()),
        );
        return;
    }
    let format = format_of(path, bytes);
    let loaded = match format.store().load(bytes) {
        Ok(l) => l,
        Err(e) => {
            if rule.is_some() && format != Format::Binary {
                sink.push(
                    Kind::Unreadable,
                    format!(
                        "matched by a creation rule but cannot be parsed as {}: {e}",
                        format.name()
                    ),
                    "fix the syntax, or narrow the rule's path_regex if this file is not a secret",
                );
            }
            return;
        }
    };
    let mut doc = loaded.doc;
    let Some(rule) = rule else {
        if let Some(raw) = &loaded.meta {
            sink.push(
                Kind::UnmatchedEncrypted,
                "the file is encrypted but no creation rule in .sops.yaml matches it",
                "add a creation rule whose path_regex matches this file, so that its keys are checked and re-encryption uses the right keys",
            );
            if let Ok(meta) = Metadata::from_map(raw) {
                crate::check::extra::pending(&meta, sink);
            }
        }
        return;
    };
    crate::check::extra::k8s_secret(format, &doc, &rule_selector(rule, format), sink);
    let Some(raw) = loaded.meta else {
        plaintext(rule, format, &mut doc, sink);
        return;
    };
    let meta = match Metadata::from_map(&raw) {
        Ok(m) => m,
        Err(e) => {
            sink.push(
                Kind::MetadataInvalid,
                format!("the sops metadata block cannot be read: {e}"),
                "the file was probably edited by hand; restore it from version control or re-encrypt it",
            );
            return;
        }
    };
    mac_and_lastmodified(&meta, sink);
    crate::check::extra::pending(&meta, sink);
    integrity_record(&meta, opts.require_integrity, sink);
    drift(rule, &meta, sink);
    selectors(rule, format, &meta, &mut doc, sink);
    if let Some(days) = opts.max_key_age_days {
        key_age(&meta, days, now, sink);
    }
}

/// The selector a rule applies on encryption (its own, else the default suffix). sops ≥ 3.11
/// drops selectors for binary files, whose one `data` value is always encrypted.
pub(crate) fn rule_selector(rule: &CreationRule, format: Format) -> Selector {
    if format == Format::Binary {
        return Selector::default();
    }
    rule.selector.clone().unwrap_or_default()
}

fn describe(sel: &Selector) -> String {
    format!("{}: {}", sel.field(), sel.pattern())
}

fn same_selector(a: &Selector, b: &Selector) -> bool {
    a.field() == b.field() && a.pattern() == b.pattern()
}

/// Leaves a selector would leave in clear, and leaves in total (non-null, non-empty).
#[derive(Default)]
struct Tally {
    leaves: usize,
    selected: usize,
    /// Key paths (AAD form without the trailing `:`) of selected leaves stored in clear.
    clear: BTreeSet<String>,
    /// Key paths holding a selected comment stored in clear.
    clear_comments: BTreeSet<String>,
    /// Key paths of selected values and comments that start like an encrypted value
    /// (`ENC[AES256_GCM,`) but are not one: clear text behind the prefix, text after the
    /// `]`, a line added to the value by hand. decrypt refuses them (exit 25); a prefix
    /// test let them pass as encrypted.
    malformed: BTreeSet<String>,
}

/// How a selected string is stored: encrypted, in clear, or shaped like an encrypted
/// value without being one. The same keyless test decrypt applies ([`EncFields::parse`]).
enum Stored {
    Encrypted,
    Clear,
    Malformed,
}

fn stored(s: &str) -> Stored {
    if EncFields::parse(s).is_ok() {
        Stored::Encrypted
    } else if is_encrypted(s) {
        Stored::Malformed
    } else {
        Stored::Clear
    }
}

fn display_path(aad: &str) -> String {
    let p = aad.strip_suffix(':').unwrap_or(aad);
    if p.is_empty() {
        "(top level)".to_owned()
    } else {
        p.to_owned()
    }
}

fn tally(doc: &mut Document, sel: &Selector) -> Tally {
    let mut t = Tally::default();
    let _ = walk::walk::<()>(doc, sel, Direction::Decrypting, &mut |info, leaf| {
        match leaf {
            Leaf::Value(v) => {
                let how = match v {
                    Value::Null => return Ok(()),
                    Value::Str(s) if s.as_str().is_empty() => return Ok(()),
                    Value::Str(s) => stored(s.as_str()),
                    _ => Stored::Clear,
                };
                t.leaves += 1;
                if info.encrypt {
                    t.selected += 1;
                    match how {
                        Stored::Encrypted => {}
                        Stored::Clear => {
                            t.clear.insert(display_path(info.aad));
                        }
                        Stored::Malformed => {
                            t.malformed.insert(display_path(info.aad));
                        }
                    }
                }
            }
            Leaf::Comment(c) => {
                let text = c.text.as_str();
                if info.encrypt && !text.trim().is_empty() {
                    match stored(text.trim()) {
                        Stored::Encrypted => {}
                        Stored::Clear => {
                            t.clear_comments.insert(display_path(info.aad));
                        }
                        Stored::Malformed => {
                            t.malformed.insert(display_path(info.aad));
                        }
                    }
                }
            }
        }
        Ok(())
    });
    t
}

fn nothing_selected_hint(format: Format, sel: &Selector) -> String {
    let flat = matches!(format, Format::Dotenv | Format::Ini);
    let selecting = matches!(
        sel,
        Selector::EncryptedRegex(_) | Selector::EncryptedSuffix(_)
    );
    if flat && selecting {
        format!(
            "{} keys are flat (no `data:`/`stringData:` parent), so `{}` matches no key and every value stays in clear (getsops/sops#1557); add a creation rule for these files before this one, without a selector or with one that names the variables",
            format.name(),
            describe(sel)
        )
    } else {
        format!(
            "the rule's `{}` selects no key of this file, so encrypting it protects nothing; fix the selector, or exclude the file from the rule's path_regex",
            describe(sel)
        )
    }
}

fn plaintext(rule: &CreationRule, format: Format, doc: &mut Document, sink: &mut Sink<'_>) {
    if format == Format::Binary && rule.path_regex.is_none() {
        // A catch-all rule matches every file of the repository; only files leafseal
        // reads as structured data are held to it (documented).
        return;
    }
    let mut hint =
        "encrypt it (`leafseal encrypt -i FILE`) before committing, or keep it out of git"
            .to_owned();
    if rule.path_regex.is_none() {
        hint.push_str("; the matching rule has no path_regex and so covers every file — add one if this file is not a secret");
    }
    sink.push(
        Kind::Plaintext,
        format!(
            "matched by a creation rule but not encrypted (no sops metadata; read as {})",
            format.name()
        ),
        hint,
    );
    let sel = rule_selector(rule, format);
    let t = tally(doc, &sel);
    if t.leaves > 0 && t.selected == 0 {
        sink.push(
            Kind::SelectorEncryptsNothing,
            format!(
                "the rule's `{}` would leave all {} value(s) of this file in clear",
                describe(&sel),
                t.leaves
            ),
            nothing_selected_hint(format, &sel),
        );
    }
}

fn mac_and_lastmodified(meta: &Metadata, sink: &mut Sink<'_>) {
    let mac = meta.mac.trim();
    let problem = if mac.is_empty() {
        Some("the metadata has no MAC (`mac` is absent or empty)")
    } else {
        match EncValue::parse(mac) {
            Ok(v) if v.typ == ValueType::Str => None,
            Ok(_) => Some("the metadata's `mac` is not an encrypted string (wrong type)"),
            Err(_) => Some("the metadata's `mac` is not a well-formed ENC[AES256_GCM,…] value"),
        }
    };
    if let Some(p) = problem {
        sink.push(
            Kind::MacMissing,
            p,
            "without a MAC, tampering with the file cannot be detected; restore the file from version control or re-encrypt it",
        );
    }
    if meta.mac_aad().is_err() {
        sink.push(
            Kind::LastmodifiedInvalid,
            "the metadata's `lastmodified` is missing or not an RFC 3339 timestamp",
            "the MAC cannot be verified without it; restore the file from version control or re-encrypt it",
        );
    }
}

/// Whether the file carries a current leafseal integrity record (checked without the key:
/// present, well-formed, and bound to the file's MAC).
fn integrity_record(meta: &Metadata, required: bool, sink: &mut Sink<'_>) {
    use crate::crypto::integrity::Status;
    let why = match integrity::status_without_key(meta.integrity.as_deref(), &meta.mac) {
        Status::Valid | Status::Mismatch => return,
        Status::Missing => {
            "the file has no leafseal integrity record (written by sops or another tool, or the record was removed), so changes outside the sops MAC (empty or null values, empty containers, re-split clear values, the type of an encrypted value) would go unnoticed"
        }
        Status::Stale => {
            "the file's leafseal integrity record belongs to an earlier version of the file (it was rewritten by sops or another tool since)"
        }
        Status::Malformed => {
            "the file's leafseal integrity record is not in a form this version of leafseal reads (damaged, or of a version written by a newer leafseal)"
        }
    };
    sink.push_as(
        Kind::IntegrityRecord,
        required || sink.strict,
        why,
        "check the file's history, then re-save it with leafseal (`leafseal updatekeys -y FILE`, `leafseal rotate -i FILE` or `leafseal edit`) to write a current record",
    );
}

/// `kind id` strings of a group.
/// Keys by kind field name and id (in the order of their `kind id` text).
fn ids<'a>(
    keys: impl Iterator<Item = (crate::keys::KeyKind, String)> + 'a,
) -> BTreeSet<(&'static str, String)> {
    keys.map(|(k, id)| (k.field(), id)).collect()
}

fn drift(rule: &CreationRule, meta: &Metadata, sink: &mut Sink<'_>) {
    if let Some(msg) = recipient_drift(rule, meta) {
        sink.push(
            Kind::RecipientDrift,
            msg,
            "run `leafseal updatekeys FILE` (or `sops updatekeys FILE`) so the file is encrypted for exactly the rule's keys; add `--rotate` when a key was removed",
        );
    }
}

/// How the file's key groups and threshold differ from its creation rule's, if they do
/// (`None` also when the rule names no keys).
pub(crate) fn recipient_drift(rule: &CreationRule, meta: &Metadata) -> Option<String> {
    if rule.key_groups.is_empty() {
        // The rule names no keys (they come from the command line): nothing to compare.
        return None;
    }
    let mut parts = Vec::new();
    let n = rule.key_groups.len().max(meta.key_groups.len());
    for i in 0..n {
        let want = rule
            .key_groups
            .get(i)
            .map(|g| ids(g.iter().map(|k| (k.kind(), k.id()))))
            .unwrap_or_default();
        let have = meta
            .key_groups
            .get(i)
            .map(|g| ids(g.iter().map(|s| (s.key.kind(), s.key.id()))))
            .unwrap_or_default();
        if want == have {
            continue;
        }
        // Compared as the files have them, shown as `display_id` shows them.
        let shown =
            |(kind, id): &(&str, String)| format!("{kind} {}", crate::redact::display_id(id));
        let added: Vec<String> = have.difference(&want).map(shown).collect();
        let removed: Vec<String> = want.difference(&have).map(shown).collect();
        let mut s = format!("key group {}:", i + 1);
        if !added.is_empty() {
            s.push_str(&format!(
                " in the file but not in the rule: {}",
                added.join(", ")
            ));
            if !removed.is_empty() {
                s.push(';');
            }
        }
        if !removed.is_empty() {
            s.push_str(&format!(
                " in the rule but missing from the file: {}",
                removed.join(", ")
            ));
        }
        parts.push(s);
    }
    let want_t = if rule.shamir_threshold == 0 {
        rule.key_groups.len()
    } else {
        rule.shamir_threshold
    };
    if want_t != meta.threshold() {
        parts.push(format!(
            "shamir threshold: the rule says {want_t}, the file has {}",
            meta.threshold()
        ));
    }
    (!parts.is_empty()).then(|| {
        format!(
            "the file's recipients differ from its creation rule ({} group(s) in the rule, {} in the file): {}",
            rule.key_groups.len(),
            meta.key_groups.len(),
            parts.join("; ")
        )
    })
}

fn selectors(
    rule: &CreationRule,
    format: Format,
    meta: &Metadata,
    doc: &mut Document,
    sink: &mut Sink<'_>,
) {
    let want = rule_selector(rule, format);
    let have = if format == Format::Binary {
        Selector::default()
    } else {
        meta.selector()
    };
    if !same_selector(&want, &have) {
        sink.push(
            Kind::SelectorDrift,
            format!(
                "the file was encrypted with `{}` but its creation rule says `{}`",
                describe(&have),
                describe(&want)
            ),
            "re-encrypt the file under the current rule (decrypt, then `leafseal encrypt`) so the rule decides what is encrypted",
        );
    }
    let by_rule = tally(doc, &want);
    let mut clear = by_rule.clear.clone();
    let mut clear_comments = by_rule.clear_comments.clone();
    let mut malformed = by_rule.malformed.clone();
    if !same_selector(&want, &have) {
        let by_file = tally(doc, &have);
        clear.extend(by_file.clear);
        clear_comments.extend(by_file.clear_comments);
        malformed.extend(by_file.malformed);
    }
    for p in &malformed {
        sink.push(
            Kind::ClearLeaf,
            format!("the value or comment at `{p}` starts like an encrypted value but is not a well-formed ENC[AES256_GCM,…] value (clear text after the prefix, text after `]`, or a line added to it), so it may hold clear text; decrypt refuses it"),
            "the file was edited by hand; restore the value from version control, or set it again with `leafseal set` (and rotate the secret if clear text was committed)",
        );
    }
    for p in &clear {
        sink.push(
            Kind::ClearLeaf,
            format!("the value at `{p}` must be encrypted under the selector but is stored in clear"),
            "the file was edited by hand or encrypted with another selector; decrypt and re-encrypt it (`leafseal decrypt` then `leafseal encrypt`) and rotate the exposed secret",
        );
    }
    for p in &clear_comments {
        sink.push(
            Kind::ClearComment,
            format!("a comment under `{p}` must be encrypted under the selector but is stored in clear"),
            "comments added by hand to an encrypted file stay in clear; decrypt and re-encrypt the file",
        );
    }
    if by_rule.leaves > 0 && by_rule.selected == 0 {
        sink.push(
            Kind::SelectorEncryptsNothing,
            format!(
                "the rule's `{}` leaves all {} value(s) of this file in clear",
                describe(&want),
                by_rule.leaves
            ),
            nothing_selected_hint(format, &want),
        );
    }
}

/// The data key's age: from the newest `created_at` of the file's key entries, or from
/// `lastmodified` when no entry records one (age-only files).
pub(crate) fn key_birth(meta: &Metadata) -> Option<(Timestamp, &'static str)> {
    let newest = meta
        .key_groups
        .iter()
        .flatten()
        .filter_map(|s| s.created_at.as_deref())
        .filter_map(|c| Timestamp::parse_rfc3339(c.trim()))
        .max_by_key(Timestamp::to_unix);
    match newest {
        Some(t) => Some((t, "the newest `created_at` of the key entries")),
        None => Timestamp::parse_rfc3339(meta.lastmodified.trim())
            .map(|t| (t, "`lastmodified`, as no key entry records `created_at`")),
    }
}

fn key_age(meta: &Metadata, max_days: u64, now: Timestamp, sink: &mut Sink<'_>) {
    let Some((born, from)) = key_birth(meta) else {
        return;
    };
    let secs = now.to_unix().saturating_sub(born.to_unix());
    let days = u64::try_from(secs / 86_400).unwrap_or(0);
    if days > max_days {
        sink.push(
            Kind::OldDataKey,
            format!(
                "the data key is {days} days old, more than the allowed {max_days} (measured from {from})"
            ),
            "rotate the data key: `leafseal rotate -i FILE` (or `sops rotate -i FILE`)",
        );
    }
}
