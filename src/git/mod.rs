//! git integration: a textconv diff driver that shows decrypted changes, a three-way merge
//! driver that merges encrypted files by key path without ever writing plaintext to disk,
//! and `git setup`, which configures both for a repository.
//!
//! Everything talks to the real `git` binary through [`std::process::Command`]; no git
//! library is linked. Nothing here prints: the CLI (`leafseal git …`) does.

use std::path::Path;

use crate::error::Error;
use crate::error::exit;

pub mod diff;
pub mod glob;
pub mod merge;
pub mod setup;

/// The driver name used in git config and `.gitattributes` (`diff=leafseal merge=leafseal`).
pub const DRIVER: &str = "leafseal";

/// Runs `git ARGS` in `dir` and returns its trimmed stdout; a failure carries git's stderr
/// (git output never holds plaintext here: only config values and paths).
pub fn git(dir: &Path, args: &[&str]) -> Result<String, Error> {
    let out = crate::process::capture::output_within(
        crate::process::git_in_own_group()
            .current_dir(dir)
            .args(args),
        crate::process::capture::GIT_OUTPUT_MAX,
        None,
    )
    .map_err(|e| {
        Error::new(exit::GENERIC, format!("cannot run git: {e}"))
            .hint("install git and make sure it is on PATH")
    })?;
    if !out.status.success() {
        return Err(Error::new(
            exit::GENERIC,
            format!(
                "`git {}` failed: {}",
                args.first().copied().unwrap_or(""),
                crate::process::capture::stderr_text(&out.stderr, GIT_ERROR_CHARS)
            ),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_owned())
}

/// The most of git's complaint an error message quotes.
pub(crate) const GIT_ERROR_CHARS: usize = 2000;

/// Quotes a word for the POSIX shell git runs driver commands with.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+,:@%=".contains(&b))
    {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("/usr/bin/leafseal"), "/usr/bin/leafseal");
        assert_eq!(shell_quote("/a b/leafseal"), "'/a b/leafseal'");
        assert_eq!(shell_quote("/it's"), r"'/it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("$(x)"), "'$(x)'");
    }
}
