//! git conflict markers in an encrypted file.
//!
//! In a clone where `leafseal git setup` never ran, git merges an encrypted file as text:
//! when both sides changed it, the result holds `<<<<<<<`, `=======` and `>>>>>>>` lines
//! around two ciphertexts. Such a file is no longer a sops file, and its parse error alone
//! ("did not find expected key") would not tell the user what happened. The reading
//! commands and `check` look for the markers first and say so.

use std::sync::LazyLock;

use crate::error::Error;
use crate::error::exit;

/// A marker line at the start of a line: `<<<<<<<` or `>>>>>>>` followed by a space or
/// the end of the line (git writes `<<<<<<< HEAD`, `>>>>>>> branch`). The literal lets the
/// regex engine skip ahead with its substring search, so a large file costs little.
static MARKER: LazyLock<Option<regex::bytes::Regex>> =
    LazyLock::new(|| regex::bytes::Regex::new(r"(?m)^(?:<{7}|>{7})(?: |\r?$)").ok());

/// The separator line between the two sides.
static SEPARATOR: LazyLock<Option<regex::bytes::Regex>> =
    LazyLock::new(|| regex::bytes::Regex::new(r"(?m)^={7}\r?$").ok());

/// The 1-based line of the first conflict marker, when the text holds a complete conflict
/// (an opening `<<<<<<<` line, a `=======` line after it and a closing `>>>>>>>` line
/// after that). A lone look-alike line is not a conflict.
pub fn find(bytes: &[u8]) -> Option<usize> {
    // Every conflict has an opening `<<<<<<<`: without one, no regex is built (building
    // them was a third of a tiny file's decrypt).
    if !crate::find::contains(bytes, b"<<<<<<<") {
        return None;
    }
    let marker = MARKER.as_ref()?;
    let separator = SEPARATOR.as_ref()?;
    let open = marker
        .find_iter(bytes)
        .find(|m| bytes.get(m.start()) == Some(&b'<'))?;
    let sep = separator.find_at(bytes, open.end())?;
    marker
        .find_iter(bytes.get(sep.end()..)?)
        .find(|m| bytes.get(sep.end() + m.start()) == Some(&b'>'))?;
    let before = bytes.get(..open.start()).unwrap_or_default();
    Some(before.iter().filter(|&&b| b == b'\n').count() + 1)
}

/// The hints that say how to redo the merge of `name` with leafseal's merge driver.
pub fn redo_hints(name: &str) -> Vec<String> {
    vec![
        "a merge without leafseal's merge driver (this clone never ran `leafseal git setup`) merged the encrypted text line by line; the file is not a sops file until the merge is redone".to_owned(),
        format!("during the merge: run `leafseal git setup` once in this clone, then `git checkout -m -- {name}` redoes this file's merge with the driver (by key path; a key both sides changed is reported by path and the file keeps your side, to be edited with `leafseal edit`)"),
        "after a merge commit: `git reset --hard ORIG_HEAD` (or `git merge --abort` while it is still going on), run `leafseal git setup`, and merge again".to_owned(),
    ]
}

/// The error for a file with conflict markers (exit 2, the input cannot be read).
pub fn error(name: &str, line: usize) -> Error {
    let mut e = Error::new(
        exit::COULD_NOT_READ_INPUT,
        format!(
            "{name} has git conflict markers (line {line}): a text merge left two versions of the encrypted file in it"
        ),
    );
    for h in redo_hints(name) {
        e = e.hint(h);
    }
    e
}

/// Fails with [`error`] when `bytes` hold a conflict.
pub fn check(bytes: &[u8], name: &str) -> Result<(), Error> {
    match find(bytes) {
        Some(line) => Err(error(name, line)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_complete_conflict_is_found_with_its_line() {
        let t = b"a: 1\n<<<<<<< HEAD\nb: x\n=======\nb: y\n>>>>>>> other\nc: 2\n";
        assert_eq!(find(t), Some(2));
        let crlf = b"<<<<<<< HEAD\r\nb: x\r\n=======\r\nb: y\r\n>>>>>>> o\r\n";
        assert_eq!(find(crlf), Some(1));
        let diff3 = b"x\n<<<<<<< ours\na\n||||||| base\nb\n=======\nc\n>>>>>>> theirs\n";
        assert_eq!(find(diff3), Some(2));
    }

    #[test]
    fn look_alikes_are_not_conflicts() {
        assert_eq!(find(b"a: 1\n"), None);
        assert_eq!(find(b"a: <<<<<<< HEAD\n=======\n>>>>>>> x\n"), None);
        assert_eq!(find(b"<<<<<<<< eight\n=======\n>>>>>>> x\n"), None);
        assert_eq!(find(b"<<<<<<< HEAD\nno separator\n>>>>>>> x\n"), None);
        assert_eq!(find(b">>>>>>> x\n=======\n<<<<<<< HEAD\n"), None);
        assert_eq!(find(b"<<<<<<< HEAD\n=======\n"), None);
        assert_eq!(find(b"=======\n>>>>>>> x\n"), None);
        assert_eq!(find(b"a: <<<<<<<\n"), None);
    }

    #[test]
    fn the_error_names_the_file_and_the_fix() {
        let e = error("s.yaml", 3);
        assert_eq!(e.code, exit::COULD_NOT_READ_INPUT);
        assert!(
            e.message
                .contains("s.yaml has git conflict markers (line 3)")
        );
        assert!(e.hints.iter().any(|h| h.contains("leafseal git setup")));
        assert!(
            e.hints
                .iter()
                .any(|h| h.contains("git checkout -m -- s.yaml"))
        );
    }
}
