//! Write-only contributions (`contribute`, `absorb`): a value sealed for a file's
//! recipients by someone who cannot open the file, kept in the metadata field [`FIELD`]
//! until a key holder applies it.
//!
//! A contribution is a small sealed object of its own:
//!
//! * a fresh 32-byte *contribution key*, wrapped for every key of every key group of the
//!   file exactly as a data key is ([`crate::keys::group::wrap`]: age and PGP public
//!   keys, KMS `Encrypt`, Shamir shares when the file has several groups), written with
//!   the same fields as the `sops` block's key lists;
//! * the value (its JSON text, as `set` takes it) encrypted with that key in the
//!   `ENC[AES256_GCM,…]` form, with an AAD ([`aad`]) that binds the contribution's id,
//!   the target path, the time, the file's *key binding* ([`file_binding`]: a digest of
//!   the file's wrapped data keys, which only a rotation or a recipient change alters)
//!   and the target's *base* ([`target::base`]: a digest of the value the path holds when
//!   the contribution is made, as stored, or "absent"). `absorb` applies it only while
//!   the target still holds that value, so an applied contribution pasted back from
//!   history, or one made before the value changed, is refused;
//! * optionally an SSH signature (the `leafseal_signature` form) over [`message`].
//!
//! The field is one the sops MAC, the leafseal integrity record and the file signature do
//! not cover, so adding a contribution changes no value, no MAC and no record: sops reads
//! the file as before. Nothing here prints; errors carry exit 55
//! ([`crate::error::exit::CONTRIBUTION`]).

use std::path::Path;
use std::sync::Arc;

use sha2::Digest;
use zeroize::Zeroizing;

use crate::crypto::DataKey;
use crate::crypto::value;
use crate::crypto::value::EncValue;
use crate::crypto::value::ValueType;
use crate::error::Error;
use crate::error::exit;
use crate::keys::KeyContext;
use crate::keys::KeyKind;
use crate::keys::MasterKey;
use crate::keys::group;
use crate::metadata::Metadata;
use crate::tree::Item;
use crate::tree::Map;
use crate::tree::Timestamp;
use crate::tree::Value;

mod apply;
mod entry;
pub mod target;

pub use apply::Applied;
pub use apply::Plan;
pub use apply::Run;
pub use apply::named;
pub use apply::plan;
pub use entry::from_raw;
pub use entry::to_raw;

/// The metadata field that holds pending contributions (ignored by sops).
pub const FIELD: &str = "leafseal_pending";
/// The version of the contribution format (AAD and signed message): `v2` binds the
/// target's base; `v1` entries (without one) are refused by `absorb`.
pub const VERSION: &str = "v2";

/// One pending contribution.
#[derive(Debug, Clone)]
pub struct Pending {
    /// A random id (16 hex digits), to name it in listings and `absorb --skip`.
    pub id: String,
    /// The target path as given (`["db"]["password"]`).
    pub path: String,
    /// When it was made (RFC 3339, UTC).
    pub created: String,
    /// The file's key binding when it was made ([`file_binding`]).
    pub binding: String,
    /// What the target held when it was made ([`target::base`]); `None` for an entry of
    /// the first format, which `absorb` refuses.
    pub base: Option<String>,
    /// The value's JSON text, encrypted with the contribution key (`ENC[…]`).
    pub value: String,
    /// The contribution key, wrapped for the file's key groups.
    pub key_groups: Vec<Vec<crate::keys::StoredKey>>,
    /// The Shamir threshold of those groups (0 = one group).
    pub shamir_threshold: usize,
    /// An SSH signature over [`message`], when the contributor signed.
    pub signature: Option<String>,
}

impl Pending {
    /// The Shamir threshold in force.
    pub fn threshold(&self) -> usize {
        if self.shamir_threshold == 0 {
            self.key_groups.len()
        } else {
            self.shamir_threshold
        }
    }
}

fn refused(msg: impl Into<String>) -> Error {
    Error::new(exit::CONTRIBUTION, msg)
}

/// A digest of a file's wrapped data keys (every `enc` of every group, sorted): it stays
/// the same through `set`, `edit` and `absorb`, and changes when the data key is rotated
/// or the recipients change, which makes a contribution made earlier stale.
pub fn file_binding(meta: &Metadata) -> String {
    let mut h = sha2::Sha256::new();
    h.update(b"leafseal file keys v1\n");
    for (gi, g) in meta.key_groups.iter().enumerate() {
        let mut encs: Vec<&str> = g.iter().map(|s| s.enc.trim()).collect();
        encs.sort_unstable();
        for e in encs {
            h.update(format!("{gi} {e}\n").as_bytes());
        }
    }
    hex(&h.finalize())
}

/// The AAD of a contribution's value (an entry without a base keeps the `v1` form).
pub fn aad(p: &Pending) -> String {
    match &p.base {
        Some(base) => format!(
            "leafseal contribution {VERSION}\nid {}\ncreated {}\nbinding {}\npath {}\nbase {}\n",
            p.id, p.created, p.binding, p.path, base
        ),
        None => format!(
            "leafseal contribution v1\nid {}\ncreated {}\nbinding {}\npath {}\n",
            p.id, p.created, p.binding, p.path
        ),
    }
}

/// The text a contribution's signature covers: the AAD plus the encrypted value.
pub fn message(p: &Pending) -> String {
    format!("{}value {}\n", aad(p), p.value.trim())
}

/// The keys to wrap a contribution key for: every key the file lists, in its groups.
fn master_keys(meta: &Metadata) -> Result<Vec<Vec<Arc<dyn MasterKey>>>, Error> {
    let groups: Vec<Vec<Arc<dyn MasterKey>>> = meta
        .key_groups
        .iter()
        .map(|g| g.iter().map(|s| s.key.clone()).collect())
        .collect();
    if groups.iter().all(Vec::is_empty) {
        return Err(refused("the file lists no keys to seal a contribution for"));
    }
    Ok(groups)
}

/// Seals `value_json` for the file described by `meta`, to be set by a key holder where
/// `plan` (made by [`plan`] from the same value) says. Needs only the file's public keys
/// (and KMS `Encrypt`).
pub fn create(
    meta: &Metadata,
    plan: &Plan,
    value_json: &[u8],
    ctx: &KeyContext,
    sign_key: Option<&Path>,
) -> Result<Pending, Error> {
    let key = DataKey::generate().map_err(|e| {
        Error::new(
            exit::ERROR_ENCRYPTING_TREE,
            format!("cannot create a key: {e}"),
        )
    })?;
    let groups = master_keys(meta)?;
    let wrapped = group::wrap(&groups, meta.shamir_threshold, &key, ctx).map_err(|e| {
        Error::new(exit::ERROR_ENCRYPTING_TREE, e.to_string())
            .hint("a contribution is sealed for every key the file lists; make each one usable for encryption (public keys in gpg, KMS Encrypt permission), or ask a key holder to set the value")
    })?;
    let mut id = [0u8; 8];
    crate::crypto::random_bytes(&mut id).map_err(|e| {
        Error::new(
            exit::ERROR_ENCRYPTING_TREE,
            format!("cannot create an id: {e}"),
        )
    })?;
    let mut p = Pending {
        id: hex(&id),
        path: plan.path.clone(),
        created: Timestamp::now_utc().to_rfc3339(),
        binding: file_binding(meta),
        base: Some(plan.base.clone()),
        value: String::new(),
        key_groups: wrapped,
        shamir_threshold: if meta.key_groups.len() > 1 {
            meta.threshold()
        } else {
            0
        },
        signature: None,
    };
    let sealed = value::seal(
        &key,
        value_json.trim_ascii(),
        aad(&p).as_bytes(),
        ValueType::Str,
        None,
    )
    .map_err(|e| {
        Error::new(
            exit::ERROR_ENCRYPTING_TREE,
            format!("cannot encrypt the value: {e}"),
        )
    })?;
    p.value = sealed.render();
    if let Some(k) = sign_key {
        let sig = crate::signing::sign_message(&message(&p), k, ctx)
            .map_err(|e| Error::new(exit::SIGNATURE, e.message))?;
        p.signature = Some(sig);
    }
    Ok(p)
}

/// Opens a contribution with the key holder's identities: checks that it is bound to
/// this file's keys, recovers its key and decrypts the value's JSON text (the tag covers
/// the id, the path, the time and the binding). Never echoes the value.
pub fn open(
    p: &Pending,
    meta: &Metadata,
    ctx: &KeyContext,
    order: &[KeyKind],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let name = named(p);
    if p.binding != file_binding(meta) {
        return Err(refused(format!(
            "{name} was made for other keys of this file (the data key was rotated or the recipients changed since), or was copied from another file"
        ))
        .hint("ask the contributor to contribute again, and drop this entry"));
    }
    let order: Vec<KeyKind> = if order.is_empty() {
        group::DEFAULT_ORDER.to_vec()
    } else {
        order.to_vec()
    };
    let (key, _) = group::recover_with_keys(&p.key_groups, p.threshold(), &order, ctx)
        .map_err(|e| {
            Error::new(
                exit::COULD_NOT_RETRIEVE_KEY,
                format!("cannot open {name}: {e}"),
            )
            .hint("make one of the file's keys available (SOPS_AGE_KEY_FILE, gpg secret key, KMS access)")
        })?;
    let enc = EncValue::parse(p.value.trim())
        .map_err(|e| refused(format!("{name}: the value is malformed ({e})")))?;
    value::open(&key, &enc, aad(p).as_bytes()).map_err(|_| {
        refused(format!(
            "{name} does not authenticate: its value, path, id, time, binding or base was altered after it was sealed"
        ))
        .hint("drop this entry and ask the contributor to contribute again")
    })
}

/// The pending contributions stored in a file's metadata (none when the field is absent).
pub fn list(meta: &Metadata) -> Result<Vec<Pending>, Error> {
    match meta
        .extra
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(FIELD))
    {
        None => Ok(Vec::new()),
        Some((_, v)) => from_raw(v),
    }
}

/// Replaces the pending contributions of `meta` (removing the field when none is left).
pub fn store(meta: &mut Metadata, pending: &[Pending]) {
    meta.extra.retain(|(k, _)| !k.eq_ignore_ascii_case(FIELD));
    if !pending.is_empty() {
        meta.extra.push((FIELD.to_owned(), to_raw(pending)));
    }
}

/// Removes every pending contribution from `meta` and returns how many there were (an
/// entry that cannot be read counts as one): for writers that make a file from a
/// plaintext (`encrypt` reusing an existing file), where contributions made for the
/// previous file must not carry over.
pub fn take(meta: &mut Metadata) -> usize {
    let mut n = 0;
    meta.extra.retain(|(k, v)| {
        if !k.eq_ignore_ascii_case(FIELD) {
            return true;
        }
        n += match v {
            Value::Seq(items) => items.len(),
            Value::Null => 0,
            _ => 1,
        };
        false
    });
    n
}

/// Adds a contribution to a raw metadata map as read from the file, leaving every other
/// field (and its order) as it is, so the rewritten file differs only by the new entry.
pub fn append_raw(raw: &mut Map, p: &Pending) -> Result<(), Error> {
    let existing = raw.0.iter_mut().find_map(|i| match i {
        Item::Entry(k, v) if k.eq_ignore_ascii_case(FIELD) => Some(v),
        _ => None,
    });
    let new_item = match to_raw(std::slice::from_ref(p)) {
        Value::Seq(mut s) => s.pop(),
        _ => None,
    };
    let Some(new_item) = new_item else {
        return Err(refused("cannot write the contribution"));
    };
    match existing {
        Some(Value::Seq(items)) => items.push(new_item),
        Some(Value::Null) | None => {
            raw.0
                .retain(|i| !matches!(i, Item::Entry(k, _) if k.eq_ignore_ascii_case(FIELD)));
            raw.push(FIELD, Value::Seq(vec![new_item]));
        }
        Some(_) => {
            return Err(refused(format!(
                "the file's `{FIELD}` metadata field is malformed (not a list)"
            ))
            .hint("restore the file from version control"));
        }
    }
    Ok(())
}

/// Checks that `p`, appended to a file now written as `written` in `format`, reads back
/// from it unchanged (a dotenv or INI metadata line keeps some texts only approximately:
/// a path such an entry could not carry would never authenticate at `absorb`).
pub fn reads_back(format: crate::format::Format, written: &[u8], p: &Pending) -> Result<(), Error> {
    let differs = |why: &str| {
        Error::new(
            exit::INVALID_SET_FORMAT,
            format!(
                "cannot contribute to {}: a {} file cannot hold this contribution ({why})",
                crate::redact::inert(&p.path),
                format.name()
            ),
        )
        .hint("use a path without backslashes, line breaks or other control characters")
    };
    let raw = format
        .store()
        .load(written)
        .map_err(|e| {
            differs(&format!(
                "the written file does not read back: {}",
                e.message
            ))
        })?
        .meta
        .unwrap_or_default();
    let back = raw
        .entries()
        .find(|(k, _)| k.eq_ignore_ascii_case(FIELD))
        .map(|(_, v)| from_raw(v))
        .transpose()?
        .unwrap_or_default();
    match back.last() {
        Some(b)
            if b.id == p.id
                && b.path == p.path
                && b.created == p.created
                && b.binding == p.binding
                && b.base == p.base
                && b.value == p.value
                && b.signature == p.signature =>
        {
            Ok(())
        }
        _ => Err(differs("it reads back changed")),
    }
}

#[cfg(test)]
mod tests;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
