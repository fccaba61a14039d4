//! The sealing half of a three-way merge of encrypted files (the git merge driver): open
//! each side keeping its encrypted tree, and seal a merged plaintext with one side's data
//! key so that every value equal to a side keeps that side's exact ciphertext. Errors are
//! one line (the merge driver reports them as conflict reasons).

use crate::crypto::DataKey;
use crate::crypto::document;
use crate::crypto::integrity;
use crate::crypto::nonces::NonceStash;
use crate::format::EmitOptions;
use crate::format::Format;
use crate::format::Loaded;
use crate::format::Output;
use crate::keys::KeyContext;
use crate::metadata::FORMAT_VERSION;
use crate::metadata::Metadata;
use crate::tree::Document;
use crate::walk::Selector;

/// One decrypted side of a merge.
#[derive(Debug)]
pub struct Side {
    /// The plaintext.
    pub doc: Document,
    /// The encrypted tree, to refill a shared nonce stash.
    raw: Document,
    /// The side's metadata.
    pub meta: Metadata,
    key: DataKey,
    stash: NonceStash,
    integrity: integrity::Status,
}

impl Side {
    /// Whether the side's integrity record is present and valid.
    pub fn integrity_valid(&self) -> bool {
        self.integrity == integrity::Status::Valid
    }

    /// Whether two sides use the same data key.
    pub fn same_key(&self, other: &Side) -> bool {
        self.key.expose() == other.key.expose()
    }
}

/// Opens one side (`label` names it in the error: "ours", "theirs", "the merge base");
/// with `strict_integrity`, a side without a valid integrity record cannot be opened.
pub fn open_side(
    loaded: Loaded,
    ctx: &KeyContext,
    label: &str,
    strict_integrity: bool,
) -> Result<Side, String> {
    let raw = loaded.doc.clone();
    let opts = super::OpenOptions {
        strict_integrity,
        ..super::OpenOptions::default()
    };
    let o = super::open(loaded, ctx, &opts).map_err(|e| {
        let first = e.message.lines().next().unwrap_or("").to_owned();
        format!("{label} cannot be decrypted: {first}")
    })?;
    Ok(Side {
        doc: o.doc,
        raw,
        meta: o.meta,
        key: o.key,
        stash: o.stash,
        integrity: o.integrity,
    })
}

/// The settings both sides agreed on: the selector as `(field, pattern)` and
/// `mac_only_encrypted`.
pub type Settings = (Option<(&'static str, String)>, bool);

/// A side's encryption settings, comparable across sides.
pub fn settings(m: &Metadata) -> Settings {
    (
        m.selector
            .as_ref()
            .map(|s| (s.field(), s.pattern().to_owned())),
        m.mac_only_encrypted,
    )
}

/// Seals the merged plaintext with `chosen`'s data key and metadata, the agreed settings,
/// and a nonce stash that keeps `chosen`'s ciphertexts (and `other`'s too when both share
/// the data key); then checks that the bytes decrypt and verify before returning them.
pub fn seal_merged(
    doc: &mut Document,
    chosen: Side,
    other: &Side,
    settings: Settings,
    fmt: Format,
    opts: &EmitOptions,
) -> Result<Output, String> {
    let (selector, mac_only) = settings;
    let Side {
        raw,
        mut meta,
        key,
        stash,
        ..
    } = chosen;
    // The merged selector must be the one both sides agreed on: one that does not parse
    // again is a conflict, never silently dropped (the file would be sealed with every
    // value encrypted and a different MAC scope).
    meta.selector = match selector {
        Some((field, pattern)) => Some(
            Selector::from_field(field, &pattern)
                .ok()
                .flatten()
                .ok_or_else(|| {
                    format!("the merged {field} setting cannot be used; resolve the merge by hand")
                })?,
        ),
        None => None,
    };
    meta.mac_only_encrypted = mac_only;
    meta.version = FORMAT_VERSION.to_owned();
    // With a shared data key, theirs' changed values keep theirs' ciphertext as well;
    // the chosen side is decrypted last so its nonces win for equal values.
    let stash = if other.key.expose() == key.expose() {
        let mut shared = NonceStash::new();
        let mut fill = |raw: &Document, m: &Metadata| {
            let mut d = raw.clone();
            document::decrypt_document(
                &mut d,
                &key,
                &m.selector(),
                m.mac_only_encrypted,
                Some(&mut shared),
            )
            .map(|_| ())
        };
        match fill(&other.raw, &other.meta).and_then(|()| fill(&raw, &meta)) {
            Ok(()) => shared,
            Err(_) => stash,
        }
    } else {
        stash
    };
    let map = super::reseal(doc, &mut meta, &key, Some(&stash), fmt)
        .map_err(|e| format!("cannot encrypt the merged file: {}", e.message))?;
    let bytes = fmt
        .store()
        .emit(doc, Some(&map), opts)
        .map_err(|e| format!("cannot write the merged file as {}: {e}", fmt.name()))?;
    check(&bytes, fmt, &key)?;
    Ok(bytes)
}

/// Re-reads the merged bytes and verifies they decrypt and carry a valid MAC.
fn check(bytes: &[u8], fmt: Format, key: &DataKey) -> Result<(), String> {
    let bad = |why: &str| {
        format!("internal check of the merged file failed ({why}); nothing was written")
    };
    let loaded = fmt
        .store()
        .load(bytes)
        .map_err(|_| bad("cannot parse it"))?;
    let meta = super::metadata_of(&loaded).map_err(|_| bad("no metadata"))?;
    let record = integrity::verify(
        meta.integrity.as_deref(),
        &loaded.doc,
        &meta.integrity_binding(),
        key,
    );
    if record != integrity::Status::Valid {
        return Err(bad("integrity record"));
    }
    let mut doc = loaded.doc;
    let dec = document::decrypt_document(
        &mut doc,
        key,
        &meta.selector(),
        meta.mac_only_encrypted,
        None,
    )
    .map_err(|_| bad("cannot decrypt it"))?;
    super::verify_mac(&meta, key, &dec.mac).map_err(|_| bad("MAC mismatch"))
}
