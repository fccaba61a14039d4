//! Which files to check and how to read them: the work tree, git's tracked files, or the
//! staged content (`git show :path`) for pre-commit.

use std::io;
use std::path::Component;
use std::path::Path;
use std::path::PathBuf;

use crate::check::Target;

/// Reads file contents for the check.
pub trait Source: Sync {
    /// The bytes of a file; `Ok(None)` when there is no such file (or it is a directory).
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>>;
}

/// Reads the work tree.
#[derive(Debug, Default, Clone, Copy)]
pub struct DiskSource;

impl Source for DiskSource {
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        if path.is_dir() {
            return Ok(None);
        }
        match crate::io::read_path(path) {
            Ok(b) => Ok(Some(b.to_vec())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Reads the staged content (git's index) of a repository.
#[derive(Debug, Clone)]
pub struct IndexSource {
    toplevel: PathBuf,
}

impl IndexSource {
    /// A source over the index of the repository whose work tree root is `toplevel`.
    pub fn new(toplevel: PathBuf) -> Self {
        IndexSource { toplevel }
    }

    /// The path relative to the work tree root, `/`-separated, if the file lies inside it.
    fn relative(&self, path: &Path) -> Option<String> {
        let abs = if path.is_absolute() {
            path.to_owned()
        } else {
            std::env::current_dir().ok()?.join(path)
        };
        let abs = normalize(&abs);
        let rel = abs.strip_prefix(&self.toplevel).ok()?;
        let parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        Some(parts.join("/"))
    }
}

impl Source for IndexSource {
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        let Some(rel) = self.relative(path) else {
            return Ok(None);
        };
        if rel.is_empty() {
            return Ok(None);
        }
        let out = crate::process::capture::output_within(
            crate::process::git_in_own_group()
                .arg("-C")
                .arg(&self.toplevel)
                .args(["cat-file", "blob"])
                .arg(format!(":{rel}")),
            crate::process::capture::GIT_OUTPUT_MAX,
            None,
        )?;
        Ok(out.status.success().then(|| out.stdout.to_vec()))
    }
}

/// Removes `.` and resolves `..` components lexically (no file system access).
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn git(args: &[&str], pathspecs: &[PathBuf]) -> io::Result<Vec<u8>> {
    let mut c = crate::process::git_in_own_group();
    c.args(args);
    if !pathspecs.is_empty() {
        c.arg("--");
        c.args(pathspecs);
    }
    let out = crate::process::capture::output_within(
        &mut c,
        crate::process::capture::GIT_OUTPUT_MAX,
        None,
    )?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "`git {}` failed: {}",
            args.join(" "),
            crate::process::capture::stderr_text(&out.stderr, crate::git::GIT_ERROR_CHARS)
        )));
    }
    Ok(out.stdout.to_vec())
}

fn split_z(out: &[u8]) -> Vec<String> {
    out.split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// The root of the git work tree containing the current directory, if any.
pub fn git_toplevel() -> Option<PathBuf> {
    let out = crate::process::capture::output_within(
        crate::process::git_in_own_group().args(["rev-parse", "--show-toplevel"]),
        crate::process::capture::TOOL_OUTPUT_MAX,
        None,
    )
    .ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout.to_vec()).ok()?;
    let p = PathBuf::from(s.trim_end_matches(['\n', '\r']));
    Some(std::fs::canonicalize(&p).unwrap_or(p))
}

/// Tracked files (`git ls-files -z`), relative to the current directory, limited to the
/// pathspecs when given.
pub fn tracked_files(pathspecs: &[PathBuf]) -> io::Result<Vec<Target>> {
    let out = git(&["ls-files", "-z"], pathspecs)?;
    let mut v: Vec<Target> = split_z(&out)
        .into_iter()
        .map(|s| Target {
            path: PathBuf::from(&s),
            display: s,
        })
        .collect();
    v.dedup_by(|a, b| a.display == b.display);
    Ok(v)
}

/// Tracked files and untracked files git does not ignore (`git ls-files --cached
/// --others --exclude-standard`), relative to the current directory.
pub fn work_tree_files(pathspecs: &[PathBuf]) -> io::Result<Vec<Target>> {
    let out = git(
        &[
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ],
        pathspecs,
    )?;
    let mut v: Vec<Target> = split_z(&out)
        .into_iter()
        .map(|s| Target {
            path: PathBuf::from(&s),
            display: s,
        })
        .collect();
    v.sort_by(|a, b| a.display.cmp(&b.display));
    v.dedup_by(|a, b| a.display == b.display);
    Ok(v)
}

/// Untracked files that git ignores (`git ls-files --others --ignored --exclude-standard`),
/// relative to the current directory.
pub fn ignored_files(pathspecs: &[PathBuf]) -> io::Result<Vec<PathBuf>> {
    let out = git(
        &[
            "ls-files",
            "-z",
            "--others",
            "--ignored",
            "--exclude-standard",
        ],
        pathspecs,
    )?;
    Ok(split_z(&out).into_iter().map(PathBuf::from).collect())
}

/// Staged files (added, copied, modified, renamed), shown relative to the work tree root.
pub fn staged_files(toplevel: &Path, pathspecs: &[PathBuf]) -> io::Result<Vec<Target>> {
    let out = git(
        &[
            "diff",
            "--cached",
            "--name-only",
            "--no-relative",
            "-z",
            "--diff-filter=ACMR",
        ],
        pathspecs,
    )?;
    Ok(split_z(&out)
        .into_iter()
        .map(|s| Target {
            path: toplevel.join(&s),
            display: s,
        })
        .collect())
}

/// Directories never walked into.
const SKIP_DIRS: [&str; 3] = [".git", "target", "node_modules"];

/// Why [`expand`] could not list the files.
#[derive(Debug)]
pub enum ExpandError {
    /// Listing a directory (or asking git) failed.
    Io(io::Error),
    /// A path named by the user is neither a file nor a directory.
    Missing(PathBuf),
}

/// The files under `paths`, each listed once in the order found: a directory gives its
/// tracked and untracked files inside a work tree (`in_work_tree`, so a new plaintext
/// secret is seen before `git add`; git-ignored ones are left out), else every file
/// below it; a file is taken as it is. Shared by `check`, `access` and `revoke`.
pub fn expand(paths: &[PathBuf], in_work_tree: bool) -> Result<Vec<Target>, ExpandError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found = if in_work_tree {
                work_tree_files(std::slice::from_ref(p))
            } else {
                walk_dir(p)
            }
            .map_err(ExpandError::Io)?;
            out.append(&mut found);
        } else if p.is_file() {
            out.push(Target {
                display: p.to_string_lossy().into_owned(),
                path: p.clone(),
            });
        } else {
            return Err(ExpandError::Missing(p.clone()));
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|t| seen.insert(t.path.clone()));
    Ok(out)
}

/// Every file below `dir` (sorted, symlinked directories not followed), skipping `.git`,
/// `target` and `node_modules`.
pub fn walk_dir(dir: &Path) -> io::Result<Vec<Target>> {
    let mut out = Vec::new();
    walk_into(dir, &mut out)?;
    Ok(out)
}

fn walk_into(dir: &Path, out: &mut Vec<Target>) -> io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let ty = e.file_type()?;
        let path = e.path();
        if ty.is_dir() {
            let name = e.file_name();
            if SKIP_DIRS.iter().any(|s| name.as_os_str() == *s) {
                continue;
            }
            walk_into(&path, out)?;
        } else if ty.is_file() || (ty.is_symlink() && path.is_file()) {
            let display = path
                .strip_prefix(".")
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            out.push(Target { display, path });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_resolves_dots() {
        assert_eq!(
            normalize(Path::new("/a/b/../c/./d")),
            PathBuf::from("/a/c/d")
        );
        assert_eq!(normalize(Path::new("a/../../b")), PathBuf::from("../b"));
    }

    #[test]
    fn walk_skips_vendor_dirs() {
        let d = tempfile::tempdir().expect("tempdir");
        for p in [
            "a/x.yaml",
            ".git/config",
            "target/t.json",
            "node_modules/m/i.env",
            "b.env",
        ] {
            let f = d.path().join(p);
            std::fs::create_dir_all(f.parent().expect("parent")).expect("mkdir");
            std::fs::write(&f, b"k: v\n").expect("write");
        }
        let got: Vec<String> = walk_dir(d.path())
            .expect("walk")
            .into_iter()
            .map(|t| {
                t.path
                    .strip_prefix(d.path())
                    .expect("prefix")
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(got, vec!["a/x.yaml".to_owned(), "b.env".to_owned()]);
    }

    #[test]
    fn expand_lists_each_file_once_and_names_a_missing_path() {
        let d = tempfile::tempdir().expect("tempdir");
        for p in ["a/x.yaml", "a/y.env", "z.json"] {
            let f = d.path().join(p);
            std::fs::create_dir_all(f.parent().expect("parent")).expect("mkdir");
            std::fs::write(&f, b"k: v\n").expect("write");
        }
        let dir = d.path().join("a");
        let file = d.path().join("z.json");
        let inner = dir.join("x.yaml");
        let got: Vec<PathBuf> = expand(&[dir.clone(), file.clone(), inner.clone()], false)
            .expect("expand")
            .into_iter()
            .map(|t| t.path)
            .collect();
        assert_eq!(got, vec![inner.clone(), dir.join("y.env"), file.clone()]);
        let missing = d.path().join("nope.yaml");
        match expand(&[file, missing.clone()], false) {
            Err(ExpandError::Missing(p)) => assert_eq!(p, missing),
            other => panic!("expected a missing path, got {other:?}"),
        }
    }
}
