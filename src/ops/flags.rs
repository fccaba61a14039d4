//! Keys named on a command line (`--age`, `--kms`, `--add-pgp`, …) turned into master
//! keys. The faces keep their argument parsers; the key lists they collect come here as
//! text. The errors name no flag: a message about one setting names it as
//! [`Setting::name`] does and records it ([`Error::setting`]), so that the command line
//! can name its flag instead (`cli/hints.rs`).

use std::sync::Arc;

use crate::error::Error;
use crate::error::Setting;
use crate::error::exit;
use crate::keys;
use crate::keys::KeyKind;
use crate::keys::MasterKey;
use crate::lifecycle::KeyChanges;
use crate::walk::Selector;

/// One key group, as given on the command line.
pub type KeyGroup = Vec<Arc<dyn MasterKey>>;

/// The key lists of one group: for each kind, the comma-separated lists as typed.
#[derive(Debug, Clone, Default)]
pub struct KeyLists<'a> {
    /// `(kind, list)` pairs in the order the faces list their flags.
    pub lists: Vec<(KeyKind, &'a str)>,
    /// `--encryption-context` (`key:value,key2:value2`), for the AWS KMS keys.
    pub encryption_context: Option<&'a str>,
    /// `--aws-profile`, for the AWS KMS keys.
    pub aws_profile: Option<&'a str>,
}

/// An AWS KMS encryption context.
type KmsContext = std::collections::BTreeMap<String, String>;

/// Parses a KMS encryption context flag (exit 6 when malformed), in every build: without
/// the `aws` feature the AWS KMS keys themselves are refused, naming the missing feature,
/// and a malformed context still is, as sops refuses it whatever the keys.
fn kms_context(s: &str) -> Result<KmsContext, Error> {
    keys::kms_context::parse(s).map_err(|e| {
        let setting = Setting::KmsEncryptionContext;
        // The key source's own hint is the one added below.
        Error::new(
            exit::INVALID_KMS_CONTEXT,
            format!("invalid {}: {}", setting.name(), e.message),
        )
        .about(setting)
        .hint("write it as key:value,key2:value2")
    })
}

/// Parses one key of a kind; the error names the kind and shows the key masked.
pub fn parse_key(kind: KeyKind, s: &str) -> Result<Arc<dyn MasterKey>, Error> {
    keys::key_from_str(kind, s).map_err(|e| {
        Error::new(
            exit::GENERIC,
            format!(
                "invalid {} key `{}`: {e}",
                kind.field(),
                crate::redact::redact(s)
            ),
        )
    })
}

fn split(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn push_unique(group: &mut KeyGroup, key: Arc<dyn MasterKey>) {
    if !group
        .iter()
        .any(|k| k.kind() == key.kind() && k.id() == key.id())
    {
        group.push(key);
    }
}

#[cfg(feature = "aws")]
fn kms_list(
    list: &str,
    context: &KmsContext,
    profile: Option<&str>,
    setting: Setting,
) -> Result<KeyGroup, Error> {
    let keys = keys::awskms::KmsKey::list_from_str(list, context, profile).map_err(|e| {
        Error::new(
            exit::GENERIC,
            format!("invalid {} key: {e}", setting.name()),
        )
        .about(setting)
    })?;
    Ok(keys
        .into_iter()
        .map(|k| Arc::new(k) as Arc<dyn MasterKey>)
        .collect())
}

#[cfg(not(feature = "aws"))]
fn kms_list(list: &str, _: &KmsContext, _: Option<&str>, _: Setting) -> Result<KeyGroup, Error> {
    split(list).map(|s| parse_key(KeyKind::Kms, s)).collect()
}

/// The keys of `encrypt`'s key flags, as one group (empty when none): every kind but AWS
/// KMS in the order given, then the AWS KMS keys (`ARN[+ROLE]`, with the encryption
/// context and profile). Duplicates are dropped.
pub fn keys_from_flags(f: &KeyLists<'_>) -> Result<KeyGroup, Error> {
    let mut group = KeyGroup::new();
    for (kind, list) in f.lists.iter().filter(|(k, _)| *k != KeyKind::Kms) {
        crate::lifecycle::no_empty_age_item(*kind, list)?;
        for s in split(list) {
            push_unique(&mut group, parse_key(*kind, s)?);
        }
    }
    // Read (and so checked) even when no AWS KMS key uses it, as sops's `encrypt` and
    // `edit` refuse a malformed context with exit 6 whatever the keys.
    let context = match f.encryption_context {
        Some(c) => kms_context(c)?,
        None => Default::default(),
    };
    let kms: Vec<&str> = f
        .lists
        .iter()
        .filter(|(k, _)| *k == KeyKind::Kms)
        .map(|(_, l)| *l)
        .collect();
    if kms.is_empty() {
        return Ok(group);
    }
    for list in kms {
        for key in kms_list(list, &context, f.aws_profile, Setting::KmsKeys)? {
            push_unique(&mut group, key);
        }
    }
    Ok(group)
}

/// The keys of a new group (`groups add`): every kind in the order given; an AWS KMS key
/// takes the encryption context and profile when either is given. Duplicates are dropped.
pub fn group_from_flags(f: &KeyLists<'_>) -> Result<KeyGroup, Error> {
    let mut group = KeyGroup::new();
    let context = match f.encryption_context {
        Some(c) => kms_context(c)?,
        None => Default::default(),
    };
    for (kind, list) in &f.lists {
        for s in split(list) {
            if *kind == KeyKind::Kms && (f.encryption_context.is_some() || f.aws_profile.is_some())
            {
                for key in kms_list(s, &context, f.aws_profile, Setting::KmsKeys)? {
                    push_unique(&mut group, key);
                }
                continue;
            }
            push_unique(&mut group, parse_key(*kind, s)?);
        }
    }
    Ok(group)
}

/// The key changes of `rotate`/`updatekeys`-style `--add-*`/`--rm-*` flags: `adds` and
/// `removes` are `(kind, list)` pairs; with an encryption context, the added AWS KMS keys
/// carry it (and are added first).
pub fn changes_from_flags(
    adds: &[(KeyKind, &str)],
    removes: &[(KeyKind, &str)],
    encryption_context: Option<&str>,
) -> Result<KeyChanges, Error> {
    let mut c = KeyChanges::default();
    if let Some(ctx) = encryption_context {
        let context = kms_context(ctx)?;
        for (_, list) in adds.iter().filter(|(k, _)| *k == KeyKind::Kms) {
            c.add
                .extend(kms_list(list, &context, None, Setting::AddedKmsKeys)?);
        }
    }
    for kind in KIND_ORDER {
        if !(kind == KeyKind::Kms && encryption_context.is_some()) {
            for (_, list) in adds.iter().filter(|(k, _)| *k == kind) {
                c.add_list(kind, list)?;
            }
        }
        for (_, list) in removes.iter().filter(|(k, _)| *k == kind) {
            c.remove_list(kind, list)?;
        }
    }
    Ok(c)
}

/// The order in which key changes are applied, kind by kind.
const KIND_ORDER: [KeyKind; 7] = [
    KeyKind::Age,
    KeyKind::Pgp,
    KeyKind::Kms,
    KeyKind::GcpKms,
    KeyKind::Hckms,
    KeyKind::AzureKv,
    KeyKind::HcVault,
];

/// The partial-encryption selector of the command line's flags: `given` pairs each
/// metadata field (`unencrypted_suffix`, `encrypted_regex`, …) with its flag's value. At
/// most one may be set (exit 8 otherwise); a bad regex is exit 1, naming the setting.
/// An empty value counts as not given, as in sops (which tests each flag against `""`):
/// an empty suffix or pattern would otherwise select every value or none.
pub fn selector_from_flags(given: &[(&str, Option<&str>)]) -> Result<Option<Selector>, Error> {
    let set: Vec<(&str, &str)> = given
        .iter()
        .filter_map(|(f, v)| v.filter(|v| !v.is_empty()).map(|v| (*f, v)))
        .collect();
    if set.len() > 1 {
        let setting = Setting::Selectors;
        return Err(Error::new(
            exit::CONFLICTING_PARAMETERS,
            format!("only one of {} may be given", setting.name()),
        )
        .about(setting));
    }
    match set.first() {
        None => Ok(None),
        Some((field, v)) => Selector::from_field(field, v).map_err(|e| {
            let e = Error::new(exit::GENERIC, format!("invalid {field}: {e}"));
            match Selector::FIELDS.iter().copied().find(|f| *f == *field) {
                Some(f) => e.about(Setting::Selector(f)),
                None => e,
            }
        }),
    }
}
