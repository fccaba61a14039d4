//! The operations every command is built from: open an encrypted file (recover the data
//! key, decrypt, verify the MAC) and seal a plaintext document (encrypt, MAC, wrap).
//! No printing here; errors carry sops's exit codes and hints.

use std::sync::Arc;

use crate::crypto::DataKey;
use crate::crypto::document;
use crate::crypto::integrity;
use crate::crypto::mac;
use crate::crypto::nonces::NonceStash;
use crate::error::Error;
use crate::error::Remedy;
use crate::error::exit;
use crate::format::FormatError;
use crate::keys::MasterKey;
use crate::keys::group;
use crate::metadata::FORMAT_VERSION;
use crate::metadata::Metadata;

use crate::tree::Map;
use crate::tree::Timestamp;

pub mod context;
mod decrypt_errors;
mod faces;
pub mod flags;
pub mod k8s;
pub mod merge;
mod seal;
pub mod tree_merge;

pub(crate) use decrypt_errors::blame_key_service;
pub(crate) use decrypt_errors::decrypt_error;
pub(crate) use decrypt_errors::wrong_key_symptom;

pub use seal::SealPlan;
pub use seal::new_sealing;
pub use seal::plan_or_existing;
pub use seal::reseal;
pub use seal::reuse_conflicts;
pub use seal::seal_mac_now;
pub use seal::seal_new;

pub use faces::Document;
pub use faces::EmitOptions;
pub use faces::Extracted;
pub use faces::Format;
pub use faces::KeyContext;
pub use faces::KeyKind;
pub use faces::Kind;
pub use faces::Loaded;
pub use faces::MetaMap;
pub use faces::Output;
pub use faces::Selector;
pub use faces::classify;
pub use faces::emit_encrypted;
pub use faces::emit_plain;
pub use faces::extract_map;
pub use faces::format_for;
pub use faces::format_of_stored;
pub use faces::is_encrypted;
pub use faces::read_any;
pub use faces::read_edited;
pub use faces::read_encrypted;
pub use faces::read_plaintext;
pub use faces::render_plain;
pub use flags::KeyGroup;
pub use flags::KeyLists;
pub use flags::keys_from_flags;
pub use flags::selector_from_flags;

/// How to open a file.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Skip the MAC check (`--ignore-mac`).
    pub ignore_mac: bool,
    /// Key kinds to try first, in order (`--decryption-order`); empty = age, pgp, rest.
    pub order: Vec<KeyKind>,
    /// A missing or stale integrity record is an error, not a warning (`--strict-integrity`,
    /// `LEAFSEAL_STRICT_INTEGRITY`, or `leafseal: {strict_integrity: true}` in `.sops.yaml`).
    pub strict_integrity: bool,
}

/// The environment variable that turns on the strict integrity setting.
pub const STRICT_INTEGRITY_ENV: &str = "LEAFSEAL_STRICT_INTEGRITY";

/// Whether an environment value turns a boolean setting on.
pub fn env_flag(v: Option<&str>) -> bool {
    v.is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

/// The warning given when [`OpenOptions::ignore_mac`] skips the integrity checks; it
/// starts with [`IGNORE_MAC_WARNING_LEAD`], where the command line names its flag.
pub const IGNORE_MAC_WARNING: &str = "integrity checks skipped: the MAC and the leafseal integrity record were not checked, so nothing \
     guarantees that this file is what its last writer sealed: values changed, removed, \
     added or reordered outside leafseal/sops go unnoticed (each value's own authentication \
     is still checked)";

/// The lead of [`IGNORE_MAC_WARNING`] (before its first colon), which names the setting.
pub const IGNORE_MAC_WARNING_LEAD: &str = "integrity checks skipped";

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
    /// The state of the integrity record when the file was opened.
    pub integrity: integrity::Status,
    /// The master key(s) that unwrapped the data key, as `kind id` (for the audit trail).
    pub unwrapped_by: Vec<String>,
}

/// Maps a parse error of an input file.
pub fn read_error(e: FormatError) -> Error {
    Error::new(
        exit::COULD_NOT_READ_INPUT,
        format!("cannot parse the input as {}: {e}", e.format),
    )
    .remedy(Remedy::InputFormat)
}

/// Maps a parse error of a file that should be encrypted (decrypt, edit, set, unset,
/// rotate, exec-*): exit 1, as sops, whose code 2 is only for inputs to `encrypt`.
pub fn encrypted_read_error(e: FormatError) -> Error {
    Error::new(
        exit::GENERIC,
        format!("cannot parse the encrypted file as {}: {e}", e.format),
    )
    .remedy(Remedy::EncryptedInputFormat)
}

/// Parses a file that should be encrypted (decrypt, edit, set, unset, rotate, exec-*):
/// git conflict markers are reported as such (exit 2, see [`crate::conflict`]); a parse
/// error is [`encrypted_read_error`], naming the file; a `version` sops would refuse is
/// exit 1 ([`check_stored_version`]).
pub fn load_encrypted(format: Format, bytes: &[u8], name: &str) -> Result<Loaded, Error> {
    crate::conflict::check(bytes, name)?;
    let loaded = format
        .store()
        .load(bytes)
        .map_err(|e| encrypted_read_error(e).within(name))?;
    if let Some(raw) = &loaded.meta {
        check_stored_version(format, raw).map_err(|e| e.within(name))?;
    }
    Ok(loaded)
}

/// Parses the `--decryption-order` / `SOPS_DECRYPTION_ORDER` list. An entry that names
/// no key type (`gpg`, `AGE`: the names are lower-case) is skipped, as sops skips it;
/// [`unknown_order_entries`] lists them for a warning. A name given twice is sops's
/// duplicate-key-type error (112).
pub fn parse_order(s: &str) -> Result<Vec<KeyKind>, Error> {
    let mut out = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if seen.contains(&name) {
            return Err(Error::new(
                exit::DUPLICATE_DECRYPTION_KEY_TYPE,
                format!("key type `{name}` appears twice in the decryption order"),
            )
            .hint("name each key type once"));
        }
        seen.push(name);
        if let Some(kind) = KeyKind::from_field(name) {
            out.push(kind);
        }
    }
    Ok(out)
}

/// The entries of a decryption order that name no key type (skipped by [`parse_order`]).
pub fn unknown_order_entries(s: &str) -> Vec<&str> {
    s.split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty() && KeyKind::from_field(n).is_none())
        .collect()
}

/// Reads the metadata of a loaded file, or fails with sops's "metadata not found".
pub fn metadata_of(loaded: &Loaded) -> Result<Metadata, Error> {
    let raw = loaded.meta.as_ref().ok_or_else(|| {
        Error::new(
            exit::GENERIC,
            "sops metadata not found: this file is not encrypted",
        )
        .remedy(Remedy::NotEncrypted)
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
        let trailing = meta.lastmodified.trim() != meta.lastmodified
            && Timestamp::parse_rfc3339(meta.lastmodified.trim()).is_some();
        let why = if trailing {
            "lastmodified has blanks or a line break (a CR) around the timestamp, which sops refuses too"
        } else {
            "lastmodified is missing or not an RFC 3339 timestamp"
        };
        Error::new(
            exit::GENERIC,
            format!("the sops metadata block is invalid: {why}"),
        )
        .hint("the file may have been edited by hand; restore it from version control")
    })?;
    Ok(meta)
}

/// Checks the `version` of an encrypted file's raw metadata as sops does when it loads
/// the file ([`crate::metadata::check_version`]): a missing, empty or non-semver version
/// is exit 1. Not for TOML, a format sops does not read (rops writes no `version`).
pub fn check_stored_version(format: Format, raw: &Map) -> Result<(), Error> {
    if format == Format::Toml {
        return Ok(());
    }
    let version = match raw.get("version") {
        None => "",
        Some(v) => v.as_str().unwrap_or(""),
    };
    crate::metadata::check_version(version).map_err(|why| {
        Error::new(
            exit::GENERIC,
            format!("the sops metadata block is invalid: {why}; sops refuses such a file too"),
        )
        .hint("the field was removed or edited by hand: restore the file from version control, or set `version` back to the sops release that wrote it (for example 3.9.0; neither the MAC nor the integrity record covers it)")
    })
}

/// Recovers the data key of a file.
pub fn recover_key(meta: &Metadata, ctx: &KeyContext, order: &[KeyKind]) -> Result<DataKey, Error> {
    recover_key_with_source(meta, ctx, order).map(|(key, _)| key)
}

/// [`recover_key`], also naming the master key(s) that unwrapped it (`kind id`).
pub fn recover_key_with_source(
    meta: &Metadata,
    ctx: &KeyContext,
    order: &[KeyKind],
) -> Result<(DataKey, Vec<String>), Error> {
    let order: Vec<KeyKind> = if order.is_empty() {
        group::DEFAULT_ORDER.to_vec()
    } else {
        order.to_vec()
    };
    group::recover_with_keys(&meta.key_groups, meta.threshold(), &order, ctx).map_err(|e| {
        let err = Error::new(
            exit::COULD_NOT_RETRIEVE_KEY,
            format!("failed to get the data key required to decrypt this file: {e}"),
        );
        if e.combine.is_some() {
            return err.hint(
                "the parts unwrapped from the key groups do not make a data key together: the \
                 file's sops metadata may be damaged; restore it from version control",
            );
        }
        let services: Vec<&str> = ctx.key_services().iter().map(|s| s.address()).collect();
        if services.is_empty() {
            err.hint("make one of the keys listed above available: for age set SOPS_AGE_KEY_FILE (or SOPS_AGE_KEY); for PGP import the private key into gpg (check GNUPGHOME)")
        } else {
            err.hint(format!(
                "check that the key service at {} is running and holds one of the keys listed above (its own SOPS_AGE_KEY_FILE, gpg keyring or cloud credentials)",
                services.join(", ")
            ))
        }
    })
}

/// Opens an encrypted file: recovers the data key, decrypts every value, verifies the MAC,
/// and remembers every value's nonce so that writing it back keeps unchanged ciphertexts.
pub fn open(loaded: Loaded, ctx: &KeyContext, opts: &OpenOptions) -> Result<Opened, Error> {
    open_impl(loaded, ctx, opts, true, None)
}

/// [`open`] with a data key already recovered (and the master keys that unwrapped it),
/// e.g. by a splicing attempt that handed the file back.
pub fn open_with_key(
    loaded: Loaded,
    ctx: &KeyContext,
    opts: &OpenOptions,
    key: Option<(DataKey, Vec<String>)>,
) -> Result<Opened, Error> {
    open_impl(loaded, ctx, opts, true, key)
}

/// [`open`] for read-only uses (`decrypt`, `exec-*`, diff): skips the nonce stash, which
/// is a large part of the decryption cost of big files. The returned stash is empty.
pub fn open_for_reading(
    loaded: Loaded,
    ctx: &KeyContext,
    opts: &OpenOptions,
) -> Result<Opened, Error> {
    open_impl(loaded, ctx, opts, false, None)
}

/// [`open_for_reading`] with a data key already recovered (and the master keys that
/// unwrapped it), e.g. by a streaming attempt that handed the file back.
pub fn open_for_reading_with_key(
    loaded: Loaded,
    ctx: &KeyContext,
    opts: &OpenOptions,
    key: (DataKey, Vec<String>),
) -> Result<Opened, Error> {
    open_impl(loaded, ctx, opts, false, Some(key))
}

/// [`open_for_reading`] of a file whose metadata the caller has read already with
/// [`metadata_of`] (e.g. to check its signature first), with a data key when one was
/// recovered: the metadata, and the selector regex it compiled, are not read again.
pub fn open_for_reading_with_meta(
    loaded: Loaded,
    meta: Metadata,
    ctx: &KeyContext,
    opts: &OpenOptions,
    key: Option<(DataKey, Vec<String>)>,
) -> Result<Opened, Error> {
    open_read(loaded, Some(meta), ctx, opts, false, key)
}

fn open_impl(
    loaded: Loaded,
    ctx: &KeyContext,
    opts: &OpenOptions,
    keep_stash: bool,
    recovered: Option<(DataKey, Vec<String>)>,
) -> Result<Opened, Error> {
    open_read(loaded, None, ctx, opts, keep_stash, recovered)
}

fn open_read(
    loaded: Loaded,
    meta: Option<Metadata>,
    ctx: &KeyContext,
    opts: &OpenOptions,
    keep_stash: bool,
    recovered: Option<(DataKey, Vec<String>)>,
) -> Result<Opened, Error> {
    let meta = match meta {
        Some(m) => m,
        None => metadata_of(&loaded)?,
    };
    let (key, unwrapped_by) = match recovered {
        Some(k) => k,
        None => recover_key_with_source(&meta, ctx, &opts.order)?,
    };
    let mut warnings = Vec::new();
    // The record is computed over the encrypted text, so before decryption; it is judged
    // after the MAC, so that a change the MAC sees gets sops's exit code (51), and exit 53
    // means a change only the record saw.
    let status = (!opts.ignore_mac).then(|| {
        integrity::verify(
            meta.integrity.as_deref(),
            &loaded.doc,
            &meta.integrity_binding(),
            &key,
        )
    });
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
    .map_err(|e| {
        let wrong_key = wrong_key_symptom(&e);
        let err = decrypt_error(e);
        if wrong_key {
            blame_key_service(err, &meta, ctx)
        } else {
            err
        }
    })?;
    if dec.clear_comments > 0 {
        warnings.push(format!(
            "{} comment(s) that should be encrypted were stored in clear and were kept as they are",
            dec.clear_comments
        ));
    }
    let status = match status {
        Some(status) => {
            verify_mac(&meta, &key, &dec.mac).map_err(|e| blame_key_service(e, &meta, ctx))?;
            let strict = opts.strict_integrity || env_flag(ctx.var(STRICT_INTEGRITY_ENV));
            judge_integrity(status, strict, &mut warnings)?
        }
        None => {
            warnings.push(IGNORE_MAC_WARNING.to_owned());
            integrity::Status::Missing
        }
    };
    Ok(Opened {
        doc,
        meta,
        key,
        stash,
        warnings,
        integrity: status,
        unwrapped_by,
    })
}

/// Turns the state of a file's integrity record into the outcome: a record that does not
/// match is a tamper error (exit 53); a missing, stale or unreadable one is a warning, or
/// an error when `strict`.
pub fn judge_integrity(
    status: integrity::Status,
    strict: bool,
    warnings: &mut Vec<String>,
) -> Result<integrity::Status, Error> {
    let problem = match status {
        integrity::Status::Valid => return Ok(status),
        integrity::Status::Mismatch => {
            return Err(Error::new(
                exit::INTEGRITY_MISMATCH,
                "integrity check failed: the file's structure or clear values were changed outside leafseal (keys, empty or null values, lists, containers or the type of an encrypted value differ from what was encrypted), in a way the sops MAC cannot see; nothing was output",
            )
            .remedy(Remedy::ReviewChange));
        }
        integrity::Status::Missing => {
            "has no leafseal integrity record (written by sops or another tool, or the record was removed)"
        }
        integrity::Status::Stale => {
            "has a leafseal integrity record for an earlier version of the file (rewritten since by sops or another tool)"
        }
        integrity::Status::Malformed => {
            "has an integrity record this version of leafseal cannot read (damaged, or of a version written by a newer leafseal: upgrade to check it)"
        }
    };
    if strict {
        return Err(Error::new(
            exit::INTEGRITY_MISMATCH,
            format!("the file {problem}, and the strict integrity setting is on"),
        )
        .remedy(Remedy::StrictIntegrity));
    }
    warnings.push(format!(
        "the file {problem}: only the sops MAC was checked, which does not cover keys with empty or null values, empty maps or lists, or how clear values are split. Re-save it with leafseal to add a record"
    ));
    Ok(status)
}

/// Writes a current integrity record for a file whose values are unchanged but whose
/// metadata is rewritten (`updatekeys`, `groups`): a valid record is kept; a missing or
/// stale one is replaced only after the whole file has been decrypted and its MAC
/// verified, so that a record never vouches for a change it did not see. A mismatching
/// record is an error.
pub fn certify(
    encrypted: &Document,
    meta: &mut Metadata,
    key: &DataKey,
    strict: bool,
    warnings: &mut Vec<String>,
) -> Result<(), Error> {
    // The key groups change, and they are part of what a signature covers.
    crate::signing::remove(meta);
    let status = integrity::verify(
        meta.integrity.as_deref(),
        encrypted,
        &meta.integrity_binding(),
        key,
    );
    if status == integrity::Status::Valid {
        return Ok(());
    }
    let mut doc = encrypted.clone();
    let dec = document::decrypt_document(
        &mut doc,
        key,
        &meta.selector(),
        meta.mac_only_encrypted,
        None,
    )
    .map_err(decrypt_error)?;
    doc.wipe_in_place();
    verify_mac(meta, key, &dec.mac)?;
    judge_integrity(status, strict, warnings)?;
    meta.integrity = Some(integrity::compute(
        encrypted,
        &meta.integrity_binding(),
        key,
    ));
    Ok(())
}

/// Opens a copy of an encrypted file completely (data key, every value, MAC, integrity
/// record) and returns its metadata, with a current integrity record when it had none or a
/// stale one: the state a signature vouches for (`sign`). The warnings are for the user.
pub fn open_to_sign(
    loaded: &Loaded,
    ctx: &KeyContext,
    opts: &OpenOptions,
) -> Result<(Metadata, Vec<String>), Error> {
    let copy = Loaded {
        doc: loaded.doc.clone(),
        meta: loaded.meta.clone(),
    };
    let Opened {
        doc: plain,
        mut meta,
        key,
        integrity: status,
        warnings,
        ..
    } = open(copy, ctx, opts)?;
    drop(plain);
    if status != integrity::Status::Valid {
        // Checked by `open` (MAC verified): a current record makes the signed state
        // complete.
        meta.integrity = Some(integrity::compute(
            &loaded.doc,
            &meta.integrity_binding(),
            &key,
        ));
    }
    Ok((meta, warnings))
}

/// Drops a file signature from metadata that is about to be rewritten: the signature is
/// over the old state. Returns whether there was one (the caller may print a notice).
pub fn drop_signature(meta: &mut Metadata) -> bool {
    crate::signing::remove(meta)
}

/// Checks the stored MAC against the recomputed one, in constant time.
pub fn verify_mac(meta: &Metadata, key: &DataKey, computed: &str) -> Result<(), Error> {
    let mismatch = |why: &str| {
        Error::new(exit::MAC_MISMATCH, format!("MAC mismatch: {why}")).remedy(Remedy::IgnoreMac)
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
