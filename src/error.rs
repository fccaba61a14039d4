//! The top-level error: a message, hints that say what to do next, and a
//! sops-compatible exit code (docs/exit-codes.md).

use std::fmt;

/// sops's exit codes (cmd/sops/codes), which leafseal keeps so scripts work unchanged.
pub mod exit {
    /// Generic error (metadata not found, config errors, extract path not found, …).
    pub const GENERIC: i32 = 1;
    /// The input file could not be read or parsed.
    pub const COULD_NOT_READ_INPUT: i32 = 2;
    /// The output file could not be written.
    pub const COULD_NOT_WRITE_OUTPUT: i32 = 3;
    /// The tree could not be emitted in the output format.
    pub const ERROR_DUMPING_TREE: i32 = 4;
    /// Invalid KMS encryption context.
    pub const INVALID_KMS_CONTEXT: i32 = 6;
    /// Invalid set/unset path or value.
    pub const INVALID_SET_FORMAT: i32 = 7;
    /// Conflicting parameters.
    pub const CONFLICTING_PARAMETERS: i32 = 8;
    /// The MAC could not be encrypted.
    pub const ERROR_ENCRYPTING_MAC: i32 = 21;
    /// The tree could not be encrypted.
    pub const ERROR_ENCRYPTING_TREE: i32 = 23;
    /// A value could not be decrypted (tampered, moved, wrong key).
    pub const ERROR_DECRYPTING_TREE: i32 = 25;
    /// Keys cannot be added to or removed from a file that does not exist.
    pub const CANNOT_CHANGE_KEYS_OF_NONEXISTENT_FILE: i32 = 49;
    /// MAC mismatch, undecryptable MAC, or no MAC.
    pub const MAC_MISMATCH: i32 = 51;
    /// leafseal only: the integrity record does not match the file (a change outside the
    /// sops MAC: structure, empty or null values, `type:`), or, under the strict setting,
    /// the record is missing or stale.
    pub const INTEGRITY_MISMATCH: i32 = 53;
    /// leafseal only: a file signature is missing (where one is required), does not match
    /// the file, or is by a key the allowed-signers file does not list.
    pub const SIGNATURE: i32 = 54;
    /// leafseal only: a pending contribution cannot be applied (altered, bound to another
    /// file or path, for keys the file no longer has, or unsigned where signing is required).
    pub const CONTRIBUTION: i32 = 55;
    /// Invalid `--extract` path.
    pub const INVALID_TREE_PATH: i32 = 91;
    /// The file has no document (empty YAML).
    pub const NO_DOCUMENT: i32 = 92;
    /// No file given, file missing, wrong number of arguments.
    pub const NO_FILE_SPECIFIED: i32 = 100;
    /// No encryption key was given or configured.
    pub const NO_ENCRYPTION_KEY_FOUND: i32 = 111;
    /// A key type is repeated in the decryption order.
    pub const DUPLICATE_DECRYPTION_KEY_TYPE: i32 = 112;
    /// No master key could recover the data key.
    pub const COULD_NOT_RETRIEVE_KEY: i32 = 128;
    /// `edit`: the file was not modified.
    pub const FILE_HAS_NOT_BEEN_MODIFIED: i32 = 200;
    /// `edit`: no editor found.
    pub const NO_EDITOR_FOUND: i32 = 201;
    /// The file's `version` is not semver.
    pub const FAILED_TO_COMPARE_VERSIONS: i32 = 202;
    /// The file is already encrypted.
    pub const FILE_ALREADY_ENCRYPTED: i32 = 203;
}

/// What kind of failure an [`Error`] is: a stable, coarse classification for programs
/// (the exact exit code stays available as [`Error::code`]). New kinds may be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input could not be read or parsed, or is not what the operation needs (exit
    /// codes 2, 92, 100, 202).
    Input,
    /// The output could not be produced or written (3, 4).
    Output,
    /// The arguments or settings do not fit together, or a value or path is malformed
    /// (6, 7, 8, 91, 112).
    Usage,
    /// No key to encrypt with was given or configured (111).
    NoEncryptionKey,
    /// No available key could unwrap the file's data key (128).
    KeyUnavailable,
    /// The file fails its authentication: a value, the MAC or the leafseal integrity
    /// record does not match (25, 51, 53). Nothing decrypted is returned.
    Tampered,
    /// A required file signature is missing, wrong or untrusted (54).
    Signature,
    /// The file is already encrypted (203).
    AlreadyEncrypted,
    /// Anything else (1 and the remaining codes).
    Other,
}

/// An error for the user: what went wrong, what to do, and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The exit code (see [`exit`]).
    pub code: i32,
    /// What went wrong (one paragraph; never a secret value or comment text).
    pub message: String,
    /// What to do next, worded for any caller (no command-line flags).
    pub hints: Vec<String>,
    /// The setting or input that would get past this error, for a face to word in its own
    /// terms (the command line names its flags: see `cli::report`). Its neutral wording
    /// is already one of [`Error::hints`].
    pub remedy: Option<Remedy>,
    /// The setting the message is about, for a face to name in its own terms (the command
    /// line names its flag: see `cli::report`). The message names it as
    /// [`Setting::name`] does.
    pub setting: Option<Setting>,
}

/// A setting an [`Error`]'s message names: the library's message uses
/// [`Setting::name`], which names no command-line flag; the command line puts its flag
/// in its place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Setting {
    /// The AWS KMS encryption context (`key:value,key2:value2`) of the keys given.
    KmsEncryptionContext,
    /// AWS KMS keys to encrypt for.
    KmsKeys,
    /// AWS KMS keys to add to a file.
    AddedKmsKeys,
    /// The partial-encryption settings together (at most one may be given).
    Selectors,
    /// One partial-encryption setting, by its metadata field name (`encrypted_regex`, …:
    /// one of `walk::Selector::FIELDS`).
    Selector(&'static str),
    /// A key service address.
    KeyService,
}

impl Setting {
    /// The words a library message uses for the setting (no command-line flag).
    pub fn name(self) -> &'static str {
        match self {
            Setting::KmsEncryptionContext => "AWS KMS encryption context",
            Setting::KmsKeys => "AWS KMS",
            Setting::AddedKmsKeys => "added AWS KMS",
            Setting::Selectors => {
                "unencrypted_suffix, encrypted_suffix, unencrypted_regex, encrypted_regex, unencrypted_comment_regex and encrypted_comment_regex"
            }
            Setting::Selector(field) => field,
            Setting::KeyService => "the key service",
        }
    }
}

/// A remedy a face can word for its own surface: which setting or input would get past
/// an [`Error`]. The library's wording ([`Remedy::hint`]) names no command-line flag; the
/// command line replaces it with one that does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Remedy {
    /// The input did not parse: its format may be other than its name says.
    InputFormat,
    /// An encrypted file did not parse: damaged, or its format is other than its name says.
    EncryptedInputFormat,
    /// The file has no sops metadata: encrypt it, or its format was mis-detected.
    NotEncrypted,
    /// Strict integrity refused a missing or stale record: re-save, or turn it off.
    StrictIntegrity,
    /// The MAC does not match: restore the file, or skip the check if the change is trusted.
    IgnoreMac,
    /// Encrypting without any key: give recipients or a creation rule.
    NoKeysGiven,
    /// Revoking the file's only key: add another recipient first.
    RevokeOnlyKey,
    /// Revoking a group's only key: add a key to the group, or force dropping the group.
    RevokeEmptiesGroup,
    /// Adding a key group without keys: give recipients.
    NewGroupWithoutKeys,
    /// Removing a group would leave fewer groups than the threshold: lower it.
    ThresholdTooHigh,
    /// The integrity record saw a change made outside leafseal: restore the file, or
    /// re-save it after reviewing the change.
    ReviewChange,
}

impl Remedy {
    /// The wording for any caller: names no command-line flag.
    pub fn hint(self) -> &'static str {
        match self {
            Remedy::InputFormat => {
                "check that the file is well-formed, or name its format explicitly if the file name is misleading"
            }
            Remedy::EncryptedInputFormat => {
                "check that the file is well-formed (restore it from version control if it was damaged), or name its format explicitly if the file name is misleading"
            }
            Remedy::NotEncrypted => "encrypt it first, or check which format it was read as",
            Remedy::StrictIntegrity => {
                "check the file's history, then re-save it with leafseal (rotate or edit it) to write a current record; or turn off the strict integrity setting (LEAFSEAL_STRICT_INTEGRITY, `leafseal.strict_integrity` in .sops.yaml)"
            }
            Remedy::IgnoreMac => {
                "the file was changed outside leafseal/sops (values edited, reordered or removed). Restore it from version control; skip the MAC check only if you trust the change"
            }
            Remedy::NoKeysGiven => {
                "give an age recipient or a PGP fingerprint, or add a creation rule with keys to .sops.yaml"
            }
            Remedy::RevokeOnlyKey => {
                "add another recipient first (rotate the data key with an added recipient, or add a creation rule and update the file's keys), then revoke"
            }
            Remedy::RevokeEmptiesGroup => {
                "add another key to that group first, or force dropping the group (the threshold is capped at the number of groups left)"
            }
            Remedy::NewGroupWithoutKeys => "give one or more age recipients or PGP fingerprints",
            Remedy::ThresholdTooHigh => {
                "give a Shamir threshold the remaining groups can meet (1 when one group remains)"
            }
            Remedy::ReviewChange => {
                "restore the file from version control and compare it with its history; if a person you trust made the change with another tool, re-save the file with leafseal (edit it, or rotate it in place) after checking it"
            }
        }
    }
}

impl Error {
    /// The kind of failure (stable across releases, unlike the message).
    pub fn kind(&self) -> ErrorKind {
        match self.code {
            exit::COULD_NOT_READ_INPUT
            | exit::NO_DOCUMENT
            | exit::NO_FILE_SPECIFIED
            | exit::FAILED_TO_COMPARE_VERSIONS => ErrorKind::Input,
            exit::COULD_NOT_WRITE_OUTPUT | exit::ERROR_DUMPING_TREE => ErrorKind::Output,
            exit::INVALID_KMS_CONTEXT
            | exit::INVALID_SET_FORMAT
            | exit::CONFLICTING_PARAMETERS
            | exit::INVALID_TREE_PATH
            | exit::DUPLICATE_DECRYPTION_KEY_TYPE => ErrorKind::Usage,
            exit::NO_ENCRYPTION_KEY_FOUND => ErrorKind::NoEncryptionKey,
            exit::COULD_NOT_RETRIEVE_KEY => ErrorKind::KeyUnavailable,
            exit::ERROR_DECRYPTING_TREE | exit::MAC_MISMATCH | exit::INTEGRITY_MISMATCH => {
                ErrorKind::Tampered
            }
            exit::SIGNATURE => ErrorKind::Signature,
            exit::FILE_ALREADY_ENCRYPTED => ErrorKind::AlreadyEncrypted,
            _ => ErrorKind::Other,
        }
    }

    /// A new error with an exit code.
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
            hints: Vec::new(),
            remedy: None,
            setting: None,
        }
    }

    /// The same error, its message prefixed with the file it is about.
    #[must_use]
    pub fn within(self, file: &str) -> Self {
        Error {
            message: format!("{file}: {}", self.message),
            ..self
        }
    }

    /// Adds a hint.
    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    /// Records a remedy and adds its neutral wording as a hint.
    #[must_use]
    pub fn remedy(mut self, remedy: Remedy) -> Self {
        self.hints.push(remedy.hint().to_owned());
        self.remedy = Some(remedy);
        self
    }

    /// Records the setting the message is about (the message names it as
    /// [`Setting::name`] does).
    #[must_use]
    pub fn about(mut self, setting: Setting) -> Self {
        self.setting = Some(setting);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Result with the top-level error.
pub type Result<T> = std::result::Result<T, Error>;
