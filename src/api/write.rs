//! Encrypting, and the read-modify-write operations on encrypted files (set, unset,
//! rotate, updatekeys, edit): the same sealing as the commands, so unchanged values keep
//! their ciphertext byte for byte and every write carries a fresh MAC and integrity
//! record. Writes are atomic and follow the command line's rules for links.

use std::path::Path;

use super::Keys;
use super::Recipients;
use crate::error::Error;
use crate::error::exit;
use crate::format::EmitOptions;
use crate::format::Format;
use crate::lifecycle;
use crate::ops;
use crate::ops::Opened;
use crate::tree::Document;
use crate::tree::Map;
use crate::tree::Value;
use crate::treepath;

/// Whether an operation changed the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Changed {
    /// The file was rewritten.
    Written,
    /// Nothing to change: the file was left as it was, byte for byte.
    Unchanged,
}

/// Encrypts plaintext written in `format` for `recipients`; returns the encrypted file.
pub fn encrypt_bytes(
    plain: &[u8],
    format: Format,
    recipients: &Recipients,
) -> Result<Vec<u8>, Error> {
    if recipients.is_empty() {
        return Err(Error::new(exit::GENERIC, "no encryption keys were given")
            .hint("add recipients, or build them with Recipients::for_path from a .sops.yaml"));
    }
    let loaded = format.store().load(plain).map_err(ops::read_error)?;
    if loaded.meta.is_some() {
        return Err(Error::new(
            exit::FILE_ALREADY_ENCRYPTED,
            "the data is already encrypted",
        ));
    }
    // Wrapping for public keys needs no identity and no environment.
    let ctx = crate::keys::KeyContext::with_vars(Default::default());
    let (doc, meta) = ops::seal_new(loaded.doc, &recipients.plan(format), &ctx, format)?;
    emit(format, &doc, &meta, recipients.indent()).map(|o| o.to_vec())
}

/// Encrypts a plaintext file by the `.sops.yaml` found for it (as `leafseal encrypt FILE`
/// does without key flags); returns the encrypted bytes and writes nothing.
pub fn encrypt_file(path: impl AsRef<Path>) -> Result<Vec<u8>, Error> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let plain = crate::io::read_input(&name)?;
    let recipients = Recipients::for_path(path)?;
    encrypt_bytes(&plain, Format::from_path(&name), &recipients).map_err(|e| e.within(&name))
}

/// Sets the value at a key path (`["db"]["password"]`; missing steps are created).
/// Unchanged values keep their ciphertext; setting the value already there writes
/// nothing.
pub fn set_file(
    path: impl AsRef<Path>,
    key_path: &str,
    value: Value,
    keys: &Keys,
) -> Result<Changed, Error> {
    let steps = treepath::parse(key_path)?;
    edit_file(path, keys, |doc| treepath::set(doc, &steps, value))
}

/// Removes the value at a key path; an error if there is none.
pub fn unset_file(path: impl AsRef<Path>, key_path: &str, keys: &Keys) -> Result<Changed, Error> {
    let steps = treepath::parse(key_path)?;
    edit_with_format(path, keys, |doc, format| {
        match treepath::unset_in(format, doc, &steps) {
            Some(_) => Ok(()),
            None => Err(Error::new(
                exit::INVALID_TREE_PATH,
                format!("there is no value at {key_path}"),
            )),
        }
    })
}

/// Changes a file through a callback on its plaintext document, then re-seals it with
/// the same data key: values the callback did not change keep their ciphertext. If the
/// callback fails, or leaves the document as it was, nothing is written.
pub fn edit_file(
    path: impl AsRef<Path>,
    keys: &Keys,
    change: impl FnOnce(&mut Document) -> Result<(), Error>,
) -> Result<Changed, Error> {
    edit_with_format(path, keys, |doc, _| change(doc))
}

/// [`edit_file`] with the file's format passed to the callback.
fn edit_with_format(
    path: impl AsRef<Path>,
    keys: &Keys,
    change: impl FnOnce(&mut Document, Format) -> Result<(), Error>,
) -> Result<Changed, Error> {
    let path = path.as_ref();
    let mut file = OpenFile::open(path, keys)?;
    let before = file.opened.doc.clone();
    change(&mut file.opened.doc, file.format)?;
    lifecycle::adopt_types(&before, &mut file.opened.doc);
    match lifecycle::seal_changes(&before, &mut file.opened, file.format)? {
        Some(meta) => file.write(&meta),
        None => Ok(Changed::Unchanged),
    }
}

/// Rotates a file's data key: a new key, every value re-encrypted, wrapped for the same
/// recipients.
pub fn rotate_file(path: impl AsRef<Path>, keys: &Keys) -> Result<Changed, Error> {
    let mut file = OpenFile::open(path.as_ref(), keys)?;
    let (meta, _) = lifecycle::rotate(
        &mut file.opened,
        &lifecycle::KeyChanges::default(),
        &keys.ctx,
        file.format,
    )?;
    file.write(&meta)
}

/// Applies the `.sops.yaml` creation rule that matches the file to its key groups (as
/// `leafseal updatekeys -y`): the data key and every value are kept, the key is wrapped
/// for the rule's keys. A file already up to date is not written.
pub fn updatekeys_file(path: impl AsRef<Path>, keys: &Keys) -> Result<Changed, Error> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let rule = Recipients::for_path(path)?;
    let (dest, format, loaded) = load_encrypted(path)?;
    let rule = rule.plan(format);
    let meta = ops::metadata_of(&loaded)?;
    let plan = lifecycle::plan_update(&meta, &rule.groups, None, rule.threshold);
    if plan.is_noop() {
        return Ok(Changed::Unchanged);
    }
    let updated = lifecycle::update_keys(loaded, &plan, false, &keys.ctx, &keys.open, format)
        .map_err(|e| e.within(&name))?;
    let out = emit(format, &updated.doc, &updated.meta, None)?;
    dest.write(&out)?;
    Ok(Changed::Written)
}

/// Resolves and locks the destination of an encrypted file, then reads and parses it
/// (values still encrypted).
fn load_encrypted(
    path: &Path,
) -> Result<(crate::io::Destination, Format, crate::format::Loaded), Error> {
    let name = path.display().to_string();
    let policy_dir = std::path::absolute(path)
        .ok()
        .and_then(|a| a.parent().and_then(crate::policy::find))
        .and_then(|p| p.parent().map(Path::to_owned));
    let options = crate::io::WriteOptions {
        policy_dir,
        ..Default::default()
    };
    let dest = crate::io::Destination::open(path, &options)?.lock(&|| {})?;
    let bytes = dest.read_locked()?;
    let format = Format::for_input(&name, Some(&bytes));
    let loaded = format
        .store()
        .load(&bytes)
        .map_err(ops::encrypted_read_error)
        .map_err(|e| e.within(&name))?;
    if loaded.meta.is_none() {
        return Err(Error::new(
            exit::GENERIC,
            format!("{name} is not encrypted (it has no sops metadata)"),
        )
        .hint("encrypt it first"));
    }
    Ok((dest, format, loaded))
}

/// An encrypted file opened for a change: its format, its decrypted form, and its
/// destination (resolved and locked before it was read).
struct OpenFile {
    format: Format,
    opened: Opened,
    dest: crate::io::Destination,
}

impl OpenFile {
    fn open(path: &Path, keys: &Keys) -> Result<OpenFile, Error> {
        let name = path.display().to_string();
        let (dest, format, loaded) = load_encrypted(path)?;
        let opened = ops::open(loaded, &keys.ctx, &keys.open).map_err(|e| e.within(&name))?;
        Ok(OpenFile {
            format,
            opened,
            dest,
        })
    }

    fn write(self, meta: &Map) -> Result<Changed, Error> {
        let out = emit(self.format, &self.opened.doc, meta, None)?;
        self.dest.write(&out)?;
        Ok(Changed::Written)
    }
}

fn emit(
    format: Format,
    doc: &Document,
    meta: &Map,
    indent: Option<i64>,
) -> Result<crate::format::Output, Error> {
    format
        .store()
        .emit(doc, Some(meta), &EmitOptions { indent })
        .map_err(|e| {
            Error::new(
                exit::ERROR_DUMPING_TREE,
                format!("cannot write the encrypted file as {}: {e}", format.name()),
            )
        })
}
