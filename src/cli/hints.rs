//! The command line's wording of the library's remedies: the same advice as
//! [`Remedy::hint`], naming the flags and commands that apply.

use crate::error::Error;
use crate::error::Remedy;

/// The hint for `remedy`, in command-line terms.
pub fn flag_hint(remedy: Remedy) -> &'static str {
    match remedy {
        Remedy::InputFormat => {
            "check that the file is well-formed, or pass --input-type if the extension is misleading"
        }
        Remedy::EncryptedInputFormat => {
            "check that the file is well-formed (restore it from version control if it was damaged), or pass --input-type if the extension is misleading"
        }
        Remedy::NotEncrypted => "encrypt it first with `leafseal encrypt`, or check --input-type",
        Remedy::StrictIntegrity => {
            "check the file's history (`git log -p`), then re-save it with leafseal (`leafseal rotate -i FILE` or `leafseal edit`) to write a current record; or turn off --strict-integrity / LEAFSEAL_STRICT_INTEGRITY / `leafseal.strict_integrity` in .sops.yaml"
        }
        Remedy::IgnoreMac => {
            "the file was changed outside leafseal/sops (values edited, reordered or removed). Restore it from version control; use --ignore-mac only if you trust the change"
        }
        Remedy::NoKeysGiven => {
            "pass --age RECIPIENT or --pgp FINGERPRINT, or add a creation rule with keys to .sops.yaml"
        }
        Remedy::RevokeOnlyKey => {
            "add another recipient first (`leafseal rotate -i --add-age RECIPIENT FILE`, or a creation rule and `leafseal updatekeys`), then revoke"
        }
        Remedy::RevokeEmptiesGroup => {
            "add another key to that group first (`leafseal groups add`), or pass --force to drop the group (the threshold is capped at the number of groups left)"
        }
        Remedy::NewGroupWithoutKeys => "pass --age RECIPIENT or --pgp FINGERPRINT (repeatable)",
        Remedy::ThresholdTooHigh => {
            "pass --shamir-secret-sharing-threshold with a threshold the remaining groups can meet (1 when one group remains)"
        }
        // A remedy added to the library before the command line words it: its neutral
        // wording still helps.
        #[allow(unreachable_patterns)]
        other => other.hint(),
    }
}

/// The error's hints as the command line shows them: the remedy's neutral wording
/// replaced by the flag-specific one.
pub fn cli_hints(e: &Error) -> Vec<String> {
    let Some(remedy) = e.remedy else {
        return e.hints.clone();
    };
    let neutral = remedy.hint();
    e.hints
        .iter()
        .map(|h| {
            if h == neutral {
                flag_hint(remedy).to_owned()
            } else {
                h.clone()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit;

    #[test]
    fn the_command_line_names_the_flag_the_library_does_not() {
        let e = Error::new(exit::MAC_MISMATCH, "MAC mismatch")
            .hint("first")
            .remedy(Remedy::IgnoreMac)
            .hint("last");
        assert!(!e.hints.iter().any(|h| h.contains("--")), "{:?}", e.hints);
        let shown = cli_hints(&e);
        assert_eq!(shown.len(), 3);
        assert_eq!(shown[0], "first");
        assert!(shown[1].contains("use --ignore-mac only if you trust the change"));
        assert_eq!(shown[2], "last");
    }

    #[test]
    fn no_remedy_wording_names_a_flag() {
        for r in [
            Remedy::InputFormat,
            Remedy::EncryptedInputFormat,
            Remedy::NotEncrypted,
            Remedy::StrictIntegrity,
            Remedy::IgnoreMac,
            Remedy::NoKeysGiven,
            Remedy::RevokeOnlyKey,
            Remedy::RevokeEmptiesGroup,
            Remedy::NewGroupWithoutKeys,
            Remedy::ThresholdTooHigh,
        ] {
            assert!(!r.hint().contains("--"), "{r:?}: {}", r.hint());
            assert_ne!(flag_hint(r), r.hint(), "{r:?} has a command-line wording");
        }
    }
}
