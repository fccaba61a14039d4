//! The errors of decryption as a face shows them: sops's exit code for each kind of
//! [`DocumentError`], and the key service named when a wrong data key explains one.

use crate::crypto::document::DocumentError;
use crate::error::Error;
use crate::error::exit;
use crate::keys::KeyContext;
use crate::metadata::Metadata;

/// A decryption error as the faces report it, with sops's exit code for its kind.
pub(crate) fn decrypt_error(e: DocumentError) -> Error {
    if matches!(e, DocumentError::CommentTyped { .. }) {
        // sops gives 51 here (its MAC leaves comment-typed text out and no longer matches).
        return Error::new(exit::MAC_MISMATCH, format!("error decrypting the file: {e}"))
            .hint("restore the file from version control: a value typed as a comment cannot be trusted, whatever the MAC says");
    }
    if matches!(e, DocumentError::CommentRetyped { .. }) {
        // sops gives 51 (it decrypts the comment as a value, which enters its MAC).
        return Error::new(exit::MAC_MISMATCH, format!("error decrypting the file: {e}"))
            .hint("restore the file from version control: the MAC does not cover comments, so a changed comment type cannot be checked");
    }
    if matches!(e, DocumentError::EncryptedCommentInClear { .. }) {
        // sops gives 51 (the values after the comment stay ciphertext and the MAC no
        // longer matches); refused even with --ignore-mac, so no ciphertext is shown as
        // plaintext.
        return Error::new(exit::MAC_MISMATCH, format!("error decrypting the file: {e}"))
            .hint("restore the file from version control; if it was written this way, re-create it with a selector that cannot match encrypted text (ENC[AES256_GCM,…])");
    }
    Error::new(exit::ERROR_DECRYPTING_TREE, format!("error decrypting the file: {e}"))
        .hint("the file was modified outside leafseal/sops or is corrupt; restore it from version control")
}

/// Whether a decryption error is what a wrong data key gives: a value or comment whose
/// AES-GCM tag does not verify.
pub(crate) fn wrong_key_symptom(e: &DocumentError) -> bool {
    use crate::crypto::CryptoError::Authentication;
    matches!(
        e,
        DocumentError::Value {
            source: Authentication,
            ..
        } | DocumentError::Comment {
            source: Authentication,
            ..
        }
    )
}

/// `err` (a value that does not decrypt, or a MAC that does not open or match: what a
/// wrong data key gives) for a file whose data key came from a key service: the message
/// says so, naming the service, and a hint comes first; the exit code stays. Other
/// errors, and keys unwrapped on this machine, are left as they are.
pub(crate) fn blame_key_service(mut err: Error, meta: &Metadata, ctx: &KeyContext) -> Error {
    let mut services: Vec<String> = Vec::new();
    for stored in meta.key_groups.iter().flatten() {
        if let Some(addr) = ctx.served_by(&stored.enc) {
            let shown = crate::redact::display_id(&addr).into_owned();
            if !services.contains(&shown) {
                services.push(shown);
            }
        }
    }
    if services.is_empty() {
        return err;
    }
    let list = services.join(", ");
    err.message = format!(
        "{}; the data key came from the key service at {list}, which may have returned a wrong key",
        err.message
    );
    err.hints.insert(
        0,
        format!(
            "check the key service at {list}: it answered for a key this file lists, and a data key that does not open the file is its fault unless the file was changed; decrypt where the key itself is available to tell the two apart"
        ),
    );
    err
}
