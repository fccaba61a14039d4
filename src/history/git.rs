//! The versions of one file in git: every commit that touched it (renames followed), with
//! the file's path at that commit and its content read on demand (one version at a time).
//! Runs the `git` binary; prints nothing.

use std::path::Path;
use std::path::PathBuf;

use crate::error::Error;
use crate::error::exit;

/// One commit, as shown to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// The full hash.
    pub hash: String,
    /// The abbreviated hash.
    pub short: String,
    /// The author's name.
    pub author: String,
    /// The author date, ISO 8601 (`git log %aI`).
    pub date: String,
    /// The subject line.
    pub subject: String,
}

/// The file at one commit.
#[derive(Debug, Clone)]
pub struct Version {
    /// The commit.
    pub commit: Commit,
    /// The file's path at that commit, relative to the work tree root.
    pub path: String,
    /// Whether the file exists at that commit (`false`: the commit deleted it).
    pub present: bool,
    /// The work tree root, where [`Version::bytes`] asks git for the content.
    top: PathBuf,
}

impl Version {
    /// The content, read from git now (`None` when the commit deleted the file). Versions
    /// are read one at a time, so that a long history of a large file is never held in
    /// memory at once. A version git has but cannot give (over the output bound, git
    /// failing) is an error, not a deletion.
    pub fn bytes(&self) -> Result<Option<Vec<u8>>, Error> {
        if !self.present {
            return Ok(None);
        }
        let spec = format!("{}:{}", self.commit.hash, self.path);
        run(&self.top, &["cat-file", "blob", &spec])
            .map(Some)
            .map_err(|e| e.within(&format!("{} at {}", self.path, self.commit.short)))
    }
}

fn git_error(msg: String) -> Error {
    Error::new(exit::GENERIC, msg)
}

fn run(dir: &Path, args: &[&str]) -> Result<Vec<u8>, Error> {
    let out = crate::process::capture::output_within(
        crate::process::git_in_own_group()
            .current_dir(dir)
            .args(["-c", "core.quotePath=false"])
            .args(args),
        crate::process::capture::GIT_OUTPUT_MAX,
        None,
    )
    .map_err(|e| {
        git_error(format!("cannot run git: {e}")).hint("install git and make sure it is on PATH")
    })?;
    if !out.status.success() {
        return Err(git_error(format!(
            "`git {}` failed: {}",
            args.first().copied().unwrap_or(""),
            crate::process::capture::stderr_text(&out.stderr, crate::git::GIT_ERROR_CHARS)
        )));
    }
    Ok(out.stdout.to_vec())
}

/// The directory to run git in for `file`, and the file's name relative to it.
fn locate(file: &Path) -> (PathBuf, PathBuf) {
    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = file
        .file_name()
        .map_or_else(|| file.to_owned(), PathBuf::from);
    (dir, name)
}

/// Whether `file` lies in a git work tree.
pub fn in_repository(file: &Path) -> bool {
    let (dir, _) = locate(file);
    run(&dir, &["rev-parse", "--is-inside-work-tree"]).is_ok()
}

/// Every version of `file` in the history of `HEAD`, newest first (renames followed).
/// An empty list when git knows no commit of it.
pub fn versions(file: &Path) -> Result<Vec<Version>, Error> {
    let (dir, name) = locate(file);
    let top = run(&dir, &["rev-parse", "--show-toplevel"]).map_err(|e| {
        e.hint("history and the git part of access need the file to be in a git repository")
    })?;
    let top = PathBuf::from(String::from_utf8_lossy(&top).trim_end_matches(['\n', '\r']));
    let name = name.to_string_lossy().into_owned();
    let out = match run(
        &dir,
        &[
            "log",
            "--no-ext-diff",
            "--no-textconv",
            "--follow",
            "--name-only",
            "--format=%x1e%H%x1f%h%x1f%an%x1f%aI%x1f%s",
            "--",
            &name,
        ],
    ) {
        Ok(o) => o,
        // A repository without any commit yet.
        Err(_) if run(&dir, &["rev-parse", "--verify", "-q", "HEAD"]).is_err() => {
            return Ok(Vec::new());
        }
        Err(e) => return Err(e),
    };
    let text = String::from_utf8_lossy(&out);
    let mut v = Vec::new();
    for rec in text.split('\u{1e}').filter(|r| !r.trim().is_empty()) {
        let mut lines = rec.lines();
        let header = lines.next().unwrap_or("");
        let f: Vec<&str> = header.split('\u{1f}').collect();
        let [hash, short, author, date, subject] = f.as_slice() else {
            continue;
        };
        let Some(path) = lines.map(str::trim).rfind(|l| !l.is_empty()) else {
            continue;
        };
        // Whether the commit's tree lists the file: a deletion. Whether git can give its
        // content is [`Version::bytes`]'s question: a blob missing from the object store
        // (a damaged or partial clone) is an error there, not a deletion, and a tree git
        // cannot read is an error here.
        let listed = run(&top, &["ls-tree", "-z", "--full-tree", hash, "--", path])
            .map_err(|e| e.within(&format!("{path} at {short}")))?;
        let present = !listed.is_empty();
        v.push(Version {
            commit: Commit {
                hash: (*hash).to_owned(),
                short: (*short).to_owned(),
                author: (*author).to_owned(),
                date: (*date).to_owned(),
                subject: (*subject).to_owned(),
            },
            path: path.to_owned(),
            present,
            top: top.clone(),
        });
    }
    Ok(v)
}
