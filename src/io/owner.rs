//! Which owner, group and mode a file that replaces an existing one gets.
//!
//! Encrypted content keeps the replaced file's mode bits and, where the process may set
//! them, its owner and group: the file stays whoever's it was. Plaintext keeps them only
//! when the replaced file belonged to the writer (the mode of one's own file is one's
//! own choice, as sops keeps it). A file of another user's (one pre-created in a shared
//! directory, or a user's file written by root) is replaced by a file of the writer's
//! with mode 0600, as a new file is: keeping its owner, or the group and other bits its
//! owner chose, would hand that owner the plaintext.

use std::fs;
use std::os::unix::fs::MetadataExt;

/// What a write puts in the file: decides what it takes from the file it replaces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Content {
    /// Encrypted (or no secret at all): the replaced file's owner, group and mode kept.
    #[default]
    Encrypted,
    /// Decrypted values: kept only from a file the writer owned.
    Plaintext,
}

/// Owner, group and mode of a file (the replaced one, or the writer's new one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ownership {
    /// Owner (user id).
    pub uid: u32,
    /// Group id.
    pub gid: u32,
    /// Permission bits, with setuid, setgid and sticky (`mode & 0o7777`).
    pub mode: u32,
}

impl Ownership {
    /// A file's, from its metadata.
    pub fn of(m: &fs::Metadata) -> Ownership {
        Ownership {
            uid: m.uid(),
            gid: m.gid(),
            mode: m.mode() & 0o7777,
        }
    }
}

/// A plaintext write over another user's file: the new file is the writer's, mode 0600.
/// What the replaced file was, for the warning the command prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Narrowed {
    /// The replaced file's owner, group and mode.
    pub former: Ownership,
}

/// The mode of a new plaintext file, and of one replacing another user's file.
pub const PRIVATE_MODE: u32 = 0o600;

/// What the new file takes from the one it replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inherited {
    /// The owner and group to give it (each as far as the process may); `None`: it stays
    /// the writer's.
    pub owner: Option<(u32, u32)>,
    /// Its mode once it is in place.
    pub mode: u32,
    /// Set when plaintext replaced another user's file.
    pub narrowed: Option<Narrowed>,
}

/// The rule (see the module docs), from the replaced file, the writer's new file (its
/// owner is the writer's file-system user id) and the content.
pub fn inherit(replaced: Ownership, writer_uid: u32, content: Content) -> Inherited {
    if content == Content::Plaintext && replaced.uid != writer_uid {
        return Inherited {
            owner: None,
            mode: PRIVATE_MODE,
            narrowed: Some(Narrowed { former: replaced }),
        };
    }
    Inherited {
        owner: Some((replaced.uid, replaced.gid)),
        mode: replaced.mode,
        narrowed: None,
    }
}

/// Gives `f` (the writer's new file, `mine`) the owner and group of `inherited` as far
/// as this process may (root; or a group the user belongs to); otherwise it stays the
/// user's.
pub fn give_owner(f: &fs::File, mine: Ownership, inherited: &Inherited) {
    let Some((uid, gid)) = inherited.owner else {
        return;
    };
    if (mine.uid, mine.gid) == (uid, gid) {
        return;
    }
    let uid = rustix::fs::Uid::from_raw(uid);
    let gid = rustix::fs::Gid::from_raw(gid);
    if rustix::fs::fchown(f, Some(uid), Some(gid)).is_err() {
        let _ = rustix::fs::fchown(f, None, Some(gid));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: u32 = 1000;
    const OTHER: u32 = 1001;

    fn file(uid: u32, mode: u32) -> Ownership {
        Ownership {
            uid,
            gid: 2000,
            mode,
        }
    }

    #[test]
    fn plaintext_over_another_users_file_is_the_writers_and_0600() {
        for mode in [0o644, 0o640, 0o604, 0o600, 0o666, 0o2755, 0o400] {
            let replaced = file(OTHER, mode);
            let got = inherit(replaced, ME, Content::Plaintext);
            assert_eq!(got.owner, None, "{mode:o}");
            assert_eq!(got.mode, 0o600, "{mode:o}");
            assert_eq!(got.narrowed, Some(Narrowed { former: replaced }));
        }
    }

    #[test]
    fn root_writing_plaintext_over_a_users_file_keeps_neither_owner_nor_mode() {
        let got = inherit(file(OTHER, 0o600), 0, Content::Plaintext);
        assert_eq!((got.owner, got.mode), (None, 0o600));
        assert!(got.narrowed.is_some());
    }

    #[test]
    fn plaintext_over_the_writers_own_file_keeps_its_mode_and_group() {
        for mode in [0o644, 0o640, 0o600, 0o2750] {
            let got = inherit(file(ME, mode), ME, Content::Plaintext);
            assert_eq!(got.owner, Some((ME, 2000)));
            assert_eq!(got.mode, mode);
            assert_eq!(got.narrowed, None);
        }
    }

    #[test]
    fn encrypted_content_keeps_owner_group_and_mode_whoever_owned_the_file() {
        for uid in [ME, OTHER, 0] {
            let got = inherit(file(uid, 0o644), ME, Content::Encrypted);
            assert_eq!(got.owner, Some((uid, 2000)));
            assert_eq!(got.mode, 0o644);
            assert_eq!(got.narrowed, None);
        }
    }
}
