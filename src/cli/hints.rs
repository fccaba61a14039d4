//! The command line's wording of the library's remedies, settings and warnings: the same
//! advice as [`Remedy::hint`], naming the flags and commands that apply; the flag in place
//! of a [`Setting::name`] in a message; `--ignore-mac` in the warning of a skipped check.

use std::borrow::Cow;

use crate::error::Error;
use crate::error::Remedy;
use crate::error::Setting;

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
        Remedy::ReviewChange => {
            "restore the file from version control and compare it with `git diff`; if a person you trust made the change with another tool, re-save the file with `leafseal edit` or `leafseal rotate -i` after checking it"
        }
        // A remedy added to the library before the command line words it: its neutral
        // wording still helps.
        #[allow(unreachable_patterns)]
        other => other.hint(),
    }
}

/// The command line's flag for a setting.
pub fn flag_name(setting: Setting) -> Cow<'static, str> {
    Cow::Borrowed(match setting {
        Setting::KmsEncryptionContext => "--encryption-context",
        Setting::KmsKeys => "--kms",
        Setting::AddedKmsKeys => "--add-kms",
        Setting::Selectors => {
            "--unencrypted-suffix, --encrypted-suffix, --unencrypted-regex, --encrypted-regex, --unencrypted-comment-regex and --encrypted-comment-regex"
        }
        Setting::Selector(field) => return Cow::Owned(format!("--{}", field.replace('_', "-"))),
        Setting::KeyService => "--keyservice",
        // A setting added to the library before the command line names it: the library's
        // words still say what is meant.
        #[allow(unreachable_patterns)]
        other => other.name(),
    })
}

/// How the command line shows a flag's value is written, after a message about a value
/// it could not read.
fn flag_usage(setting: Setting) -> Option<&'static str> {
    match setting {
        Setting::KmsEncryptionContext => Some("use --encryption-context key:value,key2:value2"),
        _ => None,
    }
}

/// The error's message as the command line shows it: the setting it is about named by
/// its flag (the first occurrence of [`Setting::name`], where the library put it), and
/// how the flag is written where that helps.
pub fn cli_message(e: &Error) -> Cow<'_, str> {
    match e.setting {
        Some(setting) if e.message.contains(setting.name()) => {
            let mut m = e.message.replacen(setting.name(), &flag_name(setting), 1);
            if let Some(usage) = flag_usage(setting) {
                m = format!("{} ({usage})", m.trim_end());
            }
            Cow::Owned(m)
        }
        _ => Cow::Borrowed(&e.message),
    }
}

/// Every remedy, for [`cli_warning`].
const REMEDIES: [Remedy; 11] = [
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
    Remedy::ReviewChange,
];

/// A warning as the command line shows it: the library's warning of skipped integrity
/// checks ([`crate::ops::IGNORE_MAC_WARNING`]) names the flag that skipped them, and a
/// remedy's neutral wording inside a warning (the git diff driver quotes an error's
/// hints in its one-line warning) is replaced by the command line's.
pub fn cli_warning(msg: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(msg);
    if let Some(at) = out.find(crate::ops::IGNORE_MAC_WARNING) {
        let lead = crate::ops::IGNORE_MAC_WARNING_LEAD;
        out = Cow::Owned(format!(
            "{}--ignore-mac{}",
            &out[..at],
            &out[at + lead.len()..]
        ));
    }
    for r in REMEDIES {
        if out.contains(r.hint()) {
            out = Cow::Owned(out.replace(r.hint(), flag_hint(r)));
        }
    }
    out
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
        for r in REMEDIES {
            assert!(!r.hint().contains("--"), "{r:?}: {}", r.hint());
            assert_ne!(flag_hint(r), r.hint(), "{r:?} has a command-line wording");
        }
    }

    #[test]
    fn the_command_line_names_the_setting_by_its_flag() {
        let e = Error::new(
            exit::CONFLICTING_PARAMETERS,
            format!("x: only one of {} may be given", Setting::Selectors.name()),
        )
        .about(Setting::Selectors);
        assert!(!e.message.contains("--"), "{}", e.message);
        assert_eq!(
            cli_message(&e),
            "x: only one of --unencrypted-suffix, --encrypted-suffix, --unencrypted-regex, --encrypted-regex, --unencrypted-comment-regex and --encrypted-comment-regex may be given"
        );
        let e = Error::new(exit::GENERIC, "invalid unencrypted_regex: bad")
            .about(Setting::Selector("unencrypted_regex"));
        assert_eq!(cli_message(&e), "invalid --unencrypted-regex: bad");
        let e = Error::new(
            exit::INVALID_KMS_CONTEXT,
            "invalid AWS KMS encryption context: invalid encryption context: empty key",
        )
        .about(Setting::KmsEncryptionContext);
        assert_eq!(
            cli_message(&e),
            "invalid --encryption-context: invalid encryption context: empty key (use --encryption-context key:value,key2:value2)"
        );
        // Without a setting, or when the message does not name it, nothing changes.
        let plain = Error::new(exit::GENERIC, "invalid AWS KMS key: x");
        assert_eq!(cli_message(&plain), "invalid AWS KMS key: x");
        for s in [
            Setting::KmsEncryptionContext,
            Setting::KmsKeys,
            Setting::AddedKmsKeys,
            Setting::Selectors,
            Setting::Selector("encrypted_regex"),
            Setting::KeyService,
        ] {
            assert!(!s.name().contains("--"), "{s:?}: {}", s.name());
            assert!(flag_name(s).starts_with("--"), "{s:?}");
        }
    }

    #[test]
    fn the_skipped_check_warning_names_the_flag() {
        let lead = format!("{}:", crate::ops::IGNORE_MAC_WARNING_LEAD);
        assert!(crate::ops::IGNORE_MAC_WARNING.starts_with(&lead));
        let lib = format!("f.yaml: {}", crate::ops::IGNORE_MAC_WARNING);
        assert!(!lib.contains("--"), "{lib}");
        let shown = cli_warning(&lib);
        assert!(
            shown.starts_with("f.yaml: --ignore-mac: the MAC and the leafseal integrity record were not checked, so nothing guarantees"),
            "{shown}"
        );
        assert!(shown.ends_with("(each value's own authentication is still checked)"));
        assert_eq!(cli_warning("another warning"), "another warning");
        let quoted = format!("x (hint: {})", Remedy::ReviewChange.hint());
        assert_eq!(
            cli_warning(&quoted),
            format!("x (hint: {})", flag_hint(Remedy::ReviewChange))
        );
    }
}
