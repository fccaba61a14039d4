//! The check every wrapped data key passes before it is written to a file: a key source
//! or a key service that answers an encrypt request with an empty or malformed `enc`
//! (a hostile or broken server, a proxy's error page) must fail the wrap, not produce
//! a file that no one can decrypt.

use super::KeyError;
use super::KeyKind;
use super::MasterKey;

const AGE_ARMOR: &str = "-----BEGIN AGE ENCRYPTED FILE-----";
const AGE_ARMOR_END: &str = "-----END AGE ENCRYPTED FILE-----";
const AGE_BINARY: &str = "age-encryption.org/v1\n";
const PGP_ARMOR: &str = "-----BEGIN PGP MESSAGE-----";
const PGP_ARMOR_END: &str = "-----END PGP MESSAGE-----";
const VAULT_PREFIX: &str = "vault:v";

/// Why `enc` cannot be a data key wrapped by a key of `kind`, or `None` when it can: age
/// and PGP need their armor (or age's binary header), Vault its `vault:v…` prefix, the
/// cloud KMSs a non-empty token of printable ASCII (their base64 ciphertext).
pub(crate) fn implausible(kind: KeyKind, enc: &str) -> Option<&'static str> {
    let t = enc.trim();
    if t.is_empty() {
        return Some("it is empty");
    }
    match kind {
        KeyKind::Age => {
            let armored = t.starts_with(AGE_ARMOR) && t.ends_with(AGE_ARMOR_END);
            (!armored && !enc.starts_with(AGE_BINARY)).then_some("it is not an age file")
        }
        KeyKind::Pgp => (!(t.starts_with(PGP_ARMOR) && t.ends_with(PGP_ARMOR_END)))
            .then_some("it is not an ASCII-armored PGP message"),
        KeyKind::HcVault => (!enc.starts_with(VAULT_PREFIX)).then_some("it is not `vault:v…`"),
        KeyKind::Kms | KeyKind::GcpKms | KeyKind::AzureKv | KeyKind::Hckms => {
            (!enc.bytes().all(|b| b.is_ascii_graphic()))
                .then_some("it is not a ciphertext token (printable ASCII without spaces)")
        }
    }
}

/// `enc`, wrapped by `key` at `place` (`by its key source`, `by the key service at …`), if
/// it is plausible ([`implausible`]); else the error that fails the wrap.
pub(crate) fn checked(key: &dyn MasterKey, enc: String, place: &str) -> Result<String, KeyError> {
    match implausible(key.kind(), &enc) {
        None => Ok(enc),
        Some(why) => Err(KeyError::with_hint(
            format!(
                "the data key wrapped with {} key {} {place} cannot be used: {why}",
                key.kind().field(),
                key.display_id()
            ),
            "nothing was written; the key source or key service answered the encrypt \
             request with something that is not a wrapped key: check that it is the \
             service you meant (its endpoint settings, the key service address) and try \
             again",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_foreign_data_keys_are_implausible() {
        for kind in KeyKind::ALL {
            assert!(implausible(kind, "").is_some(), "{kind:?}");
            assert!(implausible(kind, " \n").is_some(), "{kind:?}");
        }
        assert!(implausible(KeyKind::Age, "not an age file").is_some());
        assert!(
            implausible(
                KeyKind::Age,
                "-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n"
            )
            .is_none()
        );
        assert!(implausible(KeyKind::Age, "age-encryption.org/v1\n-> X25519 x\n").is_none());
        assert!(implausible(KeyKind::Pgp, "-----BEGIN PGP MESSAGE-----\n").is_some());
        assert!(
            implausible(
                KeyKind::Pgp,
                "-----BEGIN PGP MESSAGE-----\n\nwcBM\n-----END PGP MESSAGE-----"
            )
            .is_none()
        );
        assert!(implausible(KeyKind::HcVault, "vault:v1:abc").is_none());
        assert!(implausible(KeyKind::HcVault, "abc").is_some());
        assert!(implausible(KeyKind::GcpKms, "CiQA+/=").is_none());
        assert!(implausible(KeyKind::AzureKv, "a b").is_some());
    }
}
