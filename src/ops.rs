//! The operations every command is built from: open an encrypted file (recover the data
//! key, decrypt, verify the MAC) and seal a plaintext document (encrypt, MAC, wrap).
//! No printing here; errors carry sops's exit codes and hints.

use std::sync::Arc;

use crate::crypto::DataKey;
use crate::crypto::document;
use crate::crypto::document::DocumentError;
use crate::crypto::mac;
use crate::crypto::nonces::NonceStash;
use crate::error::Error;
use crate::error::exit;
use crate::format::FormatError;
use crate::format::Loaded;
use crate::keys::KeyContext;
use crate::keys::KeyKind;
use crate::keys::MasterKey;
use crate::keys::group;
use crate::metadata::FORMAT_VERSION;
use crate::metadata::Metadata;
use crate::tree::Document;
use crate::tree::Map;
use crate::tree::Timestamp;
use crate::walk::Selector;

/// How to open a file.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Skip the MAC check (`--ignore-mac`).
    pub ignore_mac: bool,
    /// Key kinds to try first, in order (`--decryption-order`); empty = age, pgp, rest.
    pub order: Vec<KeyKind>,
}

/// A decrypted file, with what is needed to write it back.
#[derive(Debug)]
pub struct Opened {
    /// The plaintext document.
    pub doc: Document,
    /// The file's metadata.
    pub meta: Metadata,
    /// The recovered data key.
    pub key: DataKey,
    /// The nonce of every decrypted value, to keep unchanged ciphertexts on re-encryption.
    pub stash: NonceStash,
    /// Non-fatal notes for the user (never a value).
    pub warnings: Vec<String>,
}

/// Maps a parse error of an input file.
pub fn read_error(e: FormatError) -> Error {
    Error::new(
        exit::COULD_NOT_READ_INPUT,
        format!("cannot parse the input as {}: {e}", e.format),
    )
    .hint("check that the file is well-formed, or pass --input-type if the extension is misleading")
}

/// Maps a parse error of a file that should be encrypted (decrypt, edit, set, unset,
/// rotate, exec-*): exit 1, as sops, whose code 2 is only for inputs to `encrypt`.
pub fn encrypted_read_error(e: FormatError) -> Error {
    Error::new(
        exit::GENERIC,
        format!("cannot parse the encrypted file as {}: {e}", e.format),
    )
    .hint("check that the file is well-formed (restore it from version control if it was damaged), or pass --input-type if the extension is misleading")
}

/// Parses the `--decryption-order` / `SOPS_DECRYPTION_ORDER` list.
pub fn parse_order(s: &str) -> Result<Vec<KeyKind>, Error> {
    let mut out = Vec::new();
    for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let kind = KeyKind::from_field(name).ok_or_else(|| {
            Error::new(
                exit::GENERIC,
                format!("unknown key type `{name}` in the decryption order"),
            )
            .hint("use a comma list of: age, pgp, kms, gcp_kms, azure_kv, hc_vault, hckms")
        })?;
        if out.contains(&kind) {
            return Err(Error::new(
                exit::DUPLICATE_DECRYPTION_KEY_TYPE,
                format!("key type `{name}` appears twice in the decryption order"),
            ));
        }
        out.push(kind);
    }
    Ok(out)
}

/// Reads the metadata of a loaded file, or fails with sops's "metadata not found".
pub fn metadata_of(loaded: &Loaded) -> Result<Metadata, Error> {
    let raw = loaded.meta.as_ref().ok_or_else(|| {
        Error::new(
            exit::GENERIC,
            "sops metadata not found: this file is not encrypted",
        )
        .hint("encrypt it first with `leafseal encrypt`, or check --input-type")
    })?;
    let meta = Metadata::from_map(raw).map_err(|e| {
        Error::new(
            exit::GENERIC,
            format!("the sops metadata block is invalid: {e}"),
        )
        .hint("the file may have been edited by hand; restore it from version control")
    })?;
    // sops parses lastmodified when it loads the file, before any key is used.
    meta.mac_aad().map_err(|_| {
        Error::new(
            exit::GENERIC,
            "the sops metadata block is invalid: lastmodified is missing or not an RFC 3339 timestamp",
        )
        .hint("the file may have been edited by hand; restore it from version control")
    })?;
    Ok(meta)
}

/// Recovers the data key of a file.
pub fn recover_key(meta: &Metadata, ctx: &KeyContext, order: &[KeyKind]) -> Result<DataKey, Error> {
    let order: Vec<KeyKind> = if order.is_empty() {
        group::DEFAULT_ORDER.to_vec()
    } else {
        order.to_vec()
    };
    group::recover(&meta.key_groups, meta.threshold(), &order, ctx).map_err(|e| {
        Error::new(
            exit::COULD_NOT_RETRIEVE_KEY,
            format!("failed to get the data key required to decrypt this file: {e}"),
        )
        .hint("make one of the keys listed above available: for age set SOPS_AGE_KEY_FILE (or SOPS_AGE_KEY); for PGP import the private key into gpg (check GNUPGHOME)")
    })
}

fn decrypt_error(e: DocumentError) -> Error {
    Error::new(exit::ERROR_DECRYPTING_TREE, format!("error decrypting the file: {e}"))
        .hint("the file was modified outside leafseal/sops or is corrupt; restore it from version control")
}

/// Opens an encrypted file: recovers the data key, decrypts every value, verifies the MAC,
/// and remembers every value's nonce so that writing it back keeps unchanged ciphertexts.
pub fn open(loaded: Loaded, ctx: &KeyContext, opts: &OpenOptions) -> Result<Opened, Error> {
    open_impl(loaded, ctx, opts, true)
}

/// [`open`] for read-only uses (`decrypt`, `exec-*`, diff): skips the nonce stash, which
/// is a large part of the decryption cost of big files. The returned stash is empty.
pub fn open_for_reading(
    loaded: Loaded,
    ctx: &KeyContext,
    opts: &OpenOptions,
) -> Result<Opened, Error> {
    open_impl(loaded, ctx, opts, false)
}

fn open_impl(
    loaded: Loaded,
    ctx: &KeyContext,
    opts: &OpenOptions,
    keep_stash: bool,
) -> Result<Opened, Error> {
    let meta = metadata_of(&loaded)?;
    let key = recover_key(&meta, ctx, &opts.order)?;
    let mut doc = loaded.doc;
    let mut stash = NonceStash::new();
    let sel = meta.selector();
    let dec = document::decrypt_document(
        &mut doc,
        &key,
        &sel,
        meta.mac_only_encrypted,
        keep_stash.then_some(&mut stash),
    )
    .map_err(decrypt_error)?;
    let mut warnings = Vec::new();
    if dec.clear_comments > 0 {
        warnings.push(format!(
            "{} comment(s) that should be encrypted were stored in clear and were kept as they are",
            dec.clear_comments
        ));
    }
    if !opts.ignore_mac {
        verify_mac(&meta, &key, &dec.mac)?;
    }
    Ok(Opened {
        doc,
        meta,
        key,
        stash,
        warnings,
    })
}

/// Checks the stored MAC against the recomputed one, in constant time.
pub fn verify_mac(meta: &Metadata, key: &DataKey, computed: &str) -> Result<(), Error> {
    let mismatch = |why: &str| {
        Error::new(exit::MAC_MISMATCH, format!("MAC mismatch: {why}"))
            .hint("the file was changed outside leafseal/sops (values edited, reordered or removed). Restore it from version control; use --ignore-mac only if you trust the change")
    };
    if meta.mac.trim().is_empty() {
        return Err(mismatch("the file has no MAC"));
    }
    let aad = meta.mac_aad().map_err(|_| {
        mismatch("lastmodified is not a valid timestamp, so the MAC cannot be checked")
    })?;
    let stored = mac::open_mac(key, meta.mac.trim(), &aad).map_err(|_| {
        mismatch("the stored MAC cannot be decrypted (it or lastmodified was altered)")
    })?;
    if !mac::mac_eq(&stored, computed) {
        return Err(mismatch("the stored MAC does not match the file's content"));
    }
    Ok(())
}

/// What to encrypt a new file for.
#[derive(Debug, Clone, Default)]
pub struct SealPlan {
    /// Key groups (one group for flag-given keys).
    pub groups: Vec<Vec<Arc<dyn MasterKey>>>,
    /// Shamir threshold (0 = number of groups).
    pub threshold: usize,
    /// The selector to apply and record; `None` writes the default suffix, except for
    /// binary files, which record none.
    pub selector: Option<Selector>,
    /// Only encrypted values enter the MAC.
    pub mac_only_encrypted: bool,
    /// The file is a binary (raw) file.
    pub binary: bool,
}

/// Encrypts a plaintext document with a new data key and returns it with its metadata map.
pub fn seal_new(
    mut doc: Document,
    plan: &SealPlan,
    ctx: &KeyContext,
) -> Result<(Document, Map), Error> {
    if plan.groups.iter().all(Vec::is_empty) {
        // sops 3.11 exits 1 here ("no keys provided through command line options").
        return Err(Error::new(exit::GENERIC, "no encryption keys were given")
            .hint("pass --age RECIPIENT or --pgp FINGERPRINT, or add a creation rule with keys to .sops.yaml"));
    }
    if plan.groups.len() > 1 {
        let t = if plan.threshold == 0 {
            plan.groups.len()
        } else {
            plan.threshold
        };
        if t < 2 && plan.threshold != 0 || t > plan.groups.len() {
            return Err(Error::new(
                exit::CONFLICTING_PARAMETERS,
                format!(
                    "invalid Shamir threshold {t} for {} key groups",
                    plan.groups.len()
                ),
            )
            .hint("the threshold must be between 2 and the number of key groups"));
        }
    }
    let key = DataKey::generate().map_err(|e| {
        Error::new(
            exit::ERROR_ENCRYPTING_TREE,
            format!("cannot create a data key: {e}"),
        )
    })?;
    let groups = group::wrap(&plan.groups, plan.threshold, &key, ctx).map_err(|e| {
        Error::new(exit::ERROR_ENCRYPTING_TREE, e.to_string())
            .hint("check that every recipient is valid and reachable; nothing was written")
    })?;
    let selector = if plan.binary {
        None
    } else {
        Some(plan.selector.clone().unwrap_or_default())
    };
    let mut meta = Metadata {
        key_groups: groups,
        shamir_threshold: if plan.groups.len() > 1 {
            plan.threshold
        } else {
            0
        },
        lastmodified: String::new(),
        mac: String::new(),
        mac_only_encrypted: plan.mac_only_encrypted,
        selector,
        version: FORMAT_VERSION.to_owned(),
        extra: Vec::new(),
    };
    let map = reseal(&mut doc, &mut meta, &key, None)?;
    Ok((doc, map))
}

/// Encrypts a plaintext document with an existing data key (reusing nonces of unchanged
/// values from the stash), sets `lastmodified` to now, recomputes and stores the MAC, and
/// returns the metadata map to write.
pub fn reseal(
    doc: &mut Document,
    meta: &mut Metadata,
    key: &DataKey,
    stash: Option<&NonceStash>,
) -> Result<Map, Error> {
    let sel = meta.selector();
    let mac_hex = document::encrypt_document(doc, key, &sel, meta.mac_only_encrypted, stash)
        .map_err(|e| {
            Error::new(
                exit::ERROR_ENCRYPTING_TREE,
                format!("error encrypting the file: {e}"),
            )
        })?;
    meta.lastmodified = Timestamp::now_utc().to_rfc3339();
    meta.mac = mac::seal_mac(key, &mac_hex, &meta.lastmodified).map_err(|e| {
        Error::new(
            exit::ERROR_ENCRYPTING_MAC,
            format!("error encrypting the MAC: {e}"),
        )
    })?;
    Ok(meta.to_map())
}
