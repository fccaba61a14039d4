//! Sealing: a new file's data key and metadata, and encrypting a document with a data
//! key, its MAC and its integrity record.

#[allow(clippy::wildcard_imports)]
use super::*;

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
/// `format` is the format the file is written in (see [`reseal`]).
pub fn seal_new(
    mut doc: Document,
    plan: &SealPlan,
    ctx: &KeyContext,
    format: Format,
) -> Result<(Document, Map), Error> {
    let (key, mut meta) = new_sealing(plan, ctx)?;
    let map = reseal(&mut doc, &mut meta, &key, None, format)?;
    Ok((doc, map))
}

/// The first steps of [`seal_new`]: checks the plan, creates a data key, wraps it for
/// every key group and returns it with the new file's metadata (no MAC yet). Also used
/// by the streaming writer (`crate::stream`), which encrypts without a tree.
pub fn new_sealing(plan: &SealPlan, ctx: &KeyContext) -> Result<(DataKey, Metadata), Error> {
    if plan.groups.iter().all(Vec::is_empty) {
        // sops 3.11 exits 1 here ("no keys provided through command line options").
        return Err(
            Error::new(exit::GENERIC, "no encryption keys were given").remedy(Remedy::NoKeysGiven)
        );
    }
    if let Some(i) = plan.groups.iter().position(Vec::is_empty) {
        // sops refuses any empty group ("empty key group provided", exit 1): its share
        // of a Shamir-split key would be wrapped for nobody, and the file could not be
        // opened.
        return Err(Error::new(
            exit::GENERIC,
            format!("key group {i} is empty: every key group needs at least one key"),
        )
        .hint("add a key to the group or remove it from the policy's key_groups"));
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
    let meta = Metadata {
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
        integrity: None,
        extra: Vec::new(),
    };
    Ok((key, meta))
}

/// Sets `lastmodified` to now and stores the MAC (`mac_hex`, upper-case hex) sealed
/// under it, as [`reseal`] does after encrypting.
pub fn seal_mac_now(meta: &mut Metadata, key: &DataKey, mac_hex: &str) -> Result<(), Error> {
    meta.lastmodified = Timestamp::now_utc().to_rfc3339();
    meta.mac = mac::seal_mac(key, mac_hex, &meta.lastmodified).map_err(|e| {
        Error::new(
            exit::ERROR_ENCRYPTING_MAC,
            format!("error encrypting the MAC: {e}"),
        )
    })?;
    Ok(())
}

/// Encrypts a plaintext document with an existing data key (reusing nonces of unchanged
/// values from the stash), sets `lastmodified` to now, recomputes and stores the MAC, and
/// returns the metadata map to write. `format` is the format the file is written in: the
/// integrity record covers the tree its reader makes of the written file
/// ([`crate::format::read_back`]: for INI, dotenv and some JSON, not quite the tree
/// sealed), so that the file reads back as sealed; a document the format cannot write so
/// that it reads back is refused (exit 7).
pub fn reseal(
    doc: &mut Document,
    meta: &mut Metadata,
    key: &DataKey,
    stash: Option<&NonceStash>,
    format: Format,
) -> Result<Map, Error> {
    let sel = meta.selector();
    clear_scalars_as_text(doc, &sel, format);
    if format == Format::Ini {
        // Encrypted, each marker is a string of its own: join what INI holds as one
        // comment before encrypting, or the lines after the first would not decrypt.
        crate::format::ini::join_comments_as_ini_holds_them(doc);
    }
    let mac_hex = document::encrypt_document(doc, key, &sel, meta.mac_only_encrypted, stash)
        .map_err(|e| {
            Error::new(
                exit::ERROR_ENCRYPTING_TREE,
                format!("error encrypting the file: {e}"),
            )
        })?;
    seal_mac_now(meta, key, &mac_hex)?;
    if sel.is_comment_based() {
        comments_stay_with_their_values(doc, key, &sel, meta.mac_only_encrypted, &mac_hex, format)?;
    }
    let written = crate::format::read_back(format, doc).map_err(|e| {
        Error::new(
            exit::ERROR_DUMPING_TREE,
            format!("cannot write the encrypted file as {}: {e}", format.name()),
        )
    })?;
    let sealed = written.as_ref().unwrap_or(doc);
    meta.integrity = Some(integrity::compute(sealed, &meta.integrity_binding(), key));
    // A signature covers the previous state: a rewrite leaves the file unsigned.
    crate::signing::remove(meta);
    Ok(meta.to_map())
}

/// Under a comment rule (`unencrypted_comment_regex`, `encrypted_comment_regex`) a value's
/// fate depends on the comment before it, and the writer may not keep a comment where
/// the reader finds it again: a comment before the first key of a map that is a list
/// item is written above the item's dash and read back as the list's. sops 3.11 writes
/// such a file, and neither tool can open it (exit 51). So the sealed document is
/// written, read back and decrypted with the rule: the MAC must come out the same, else
/// nothing is written (exit 4).
fn comments_stay_with_their_values(
    doc: &Document,
    key: &DataKey,
    sel: &Selector,
    mac_only_encrypted: bool,
    mac_hex: &str,
    format: Format,
) -> Result<(), Error> {
    if format == Format::Binary {
        return Ok(());
    }
    let refused = |why: &str| {
        Error::new(
            exit::ERROR_DUMPING_TREE,
            format!(
                "cannot write the encrypted file as {}: under the comment rule of this file \
                 ({}), {why}, so the file would not open again (sops 3.11 writes such a file \
                 and neither tool can read it)",
                format.name(),
                match sel {
                    Selector::EncryptedCommentRegex(_) => "encrypted_comment_regex",
                    _ => "unencrypted_comment_regex",
                },
            ),
        )
        .hint(
            "move the comment next to a key that is not the first of a map inside a list, \
             or select those values with a suffix or key regex instead of a comment",
        )
    };
    use crate::format::Reread;
    let mut back = crate::format::written_then_read(format, doc).map_err(|e| match e {
        Reread::Write(e) => refused(&format!("the written text cannot be made ({e})")),
        Reread::Read(_) => refused("the written text does not parse"),
    })?;
    match crate::crypto::document::decrypt_document(&mut back, key, sel, mac_only_encrypted, None) {
        Ok(d) if d.mac.eq_ignore_ascii_case(mac_hex) => Ok(()),
        Ok(_) => Err(refused(
            "a comment would not stay next to the value it selects once written (a \
             comment on or before the first key of a map that is a list item is written \
             above the item's dash, where it reads back as the list's)",
        )),
        Err(_) => Err(refused("a value would not decrypt once written")),
    }
}

/// In a format whose reader reads every value in clear as text (dotenv, INI), makes each
/// scalar that stays in clear the text its writer writes (`true`, `1.0`, a timestamp to
/// the second), so that the MAC covers what the file will be read back as. Before round
/// 22 a clear bool (`set file.env '["flag"]' false` under an `encrypted_regex` that leaves
/// it in clear) entered the MAC as `False`, was written `false` and read back as the
/// string `false`: the written file failed its MAC (exit 51). Encrypted values keep their
/// type in their `ENC[…]` and are left as they are.
fn clear_scalars_as_text(doc: &mut Document, sel: &Selector, format: Format) {
    if !matches!(format, Format::Dotenv | Format::Ini) {
        return;
    }
    let _ = crate::walk::walk(
        doc,
        sel,
        crate::walk::Direction::Encrypting,
        &mut |info, leaf| {
            if let (false, crate::walk::Leaf::Value(v)) = (info.encrypt, leaf)
                && !matches!(
                    v,
                    crate::tree::Value::Str(_)
                        | crate::tree::Value::Null
                        | crate::tree::Value::Map(_)
                        | crate::tree::Value::Seq(_)
                )
                && let Some(text) = crate::format::flatten::render_scalar(v)
            {
                *v = crate::tree::Value::str(text.as_str());
            }
            Ok::<(), std::convert::Infallible>(())
        },
    );
}

/// The plan an `encrypt` onto an existing encrypted file asks for, when the invocation
/// names no keys at all (no key flag, no policy rule with keys; sops refuses that): the
/// existing file's groups, and each setting from the plan where the invocation gives
/// one (a selector, a threshold, `mac_only_encrypted`), else the file's. A plan that
/// names keys is returned as it is.
pub fn plan_or_existing(plan: SealPlan, meta: &Metadata) -> SealPlan {
    if !plan.groups.iter().all(Vec::is_empty) {
        return plan;
    }
    SealPlan {
        groups: meta
            .key_groups
            .iter()
            .map(|g| g.iter().map(|s| Arc::clone(&s.key)).collect())
            .collect(),
        threshold: if plan.threshold == 0 {
            meta.shamir_threshold
        } else {
            plan.threshold
        },
        selector: plan.selector.or_else(|| meta.selector.clone()),
        mac_only_encrypted: plan.mac_only_encrypted || meta.mac_only_encrypted,
        binary: plan.binary,
    }
}

/// What keeps a rewrite of an existing encrypted file from reusing its data key and
/// ciphertexts under `plan`: the names of the differences (`key groups`, `shamir
/// threshold`, the selector's field, `mac_only_encrypted`, `metadata fields leafseal
/// does not know`), empty when the file already has exactly the key groups (every
/// recipient of every kind, in order, with all its fields) and settings that `plan`
/// would write. Any key change means a new data key: a removed recipient may have kept
/// the old wrapped data key.
pub fn reuse_conflicts(meta: &Metadata, plan: &SealPlan) -> Vec<&'static str> {
    let mut out = Vec::new();
    let same_groups = meta.key_groups.len() == plan.groups.len()
        && meta.key_groups.iter().zip(&plan.groups).all(|(old, new)| {
            old.len() == new.len()
                && old
                    .iter()
                    .zip(new)
                    .all(|(o, n)| o.key.kind() == n.kind() && o.key.fields() == n.fields())
        });
    if !same_groups {
        out.push("key groups");
    }
    let effective = |t: usize, n: usize| match (n, t) {
        (0 | 1, _) => 0,
        (n, 0) => n,
        (_, t) => t,
    };
    if effective(meta.shamir_threshold, meta.key_groups.len())
        != effective(plan.threshold, plan.groups.len())
    {
        out.push("shamir threshold");
    }
    let wanted = if plan.binary {
        None
    } else {
        Some(plan.selector.clone().unwrap_or_default())
    };
    let form = |s: &Option<Selector>| s.as_ref().map(|s| (s.field(), s.pattern().to_owned()));
    if form(&meta.selector) != form(&wanted) {
        out.push(
            wanted
                .as_ref()
                .or(meta.selector.as_ref())
                .map_or("selector", Selector::field),
        );
    }
    if meta.mac_only_encrypted != plan.mac_only_encrypted {
        out.push("mac_only_encrypted");
    }
    // A field of a newer sops may be a key kind leafseal does not know: a recipient the
    // plan does not name. (leafseal's own signature and pending contributions are not.)
    let own = [crate::signing::FIELD, crate::contrib::FIELD];
    if meta
        .extra
        .iter()
        .any(|(k, _)| !own.iter().any(|f| k.eq_ignore_ascii_case(f)))
    {
        out.push("metadata fields leafseal does not know");
    }
    out
}
