//! Where a policy found by the upward search comes from. A `.sops.yaml` above the git
//! work tree (in a shared parent directory, a home directory, a CI runner's workspace) is
//! not under the repository's review, yet it chooses the keys new files are encrypted for
//! and the key services they talk to: it is still used, as sops does, but with a notice.

use std::path::Path;
use std::path::PathBuf;

/// The root of the git work tree that contains `start` (the nearest directory holding a
/// `.git` directory or file), if any.
pub fn work_tree_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .take(100)
        .find(|d| d.join(".git").exists())
        .map(Path::to_path_buf)
}

/// A notice when `policy` (found by searching upwards from `start`) lies outside the git
/// work tree containing `start`; `None` when it is inside, or when `start` is not in a
/// work tree at all.
pub fn outside_work_tree(policy: &Path, start: &Path) -> Option<String> {
    let root = work_tree_root(start)?;
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let dir = policy.parent().map_or_else(|| policy.to_path_buf(), abs);
    if dir.starts_with(abs(&root)) {
        return None;
    }
    Some(format!(
        "using the policy {}, which is outside the git work tree {}: it is not part of the \
         repository, yet it decides the keys and key services used; check it, or pass \
         --config to choose a policy explicitly",
        policy.display(),
        root.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_above_the_work_tree_gets_a_notice() {
        let top = tempfile::tempdir().expect("tempdir");
        let repo = top.path().join("repo");
        let sub = repo.join("sub");
        std::fs::create_dir_all(&sub).expect("mkdir");
        let outside = top.path().join(".sops.yaml");
        std::fs::write(&outside, "creation_rules: []\n").expect("write");
        // Not a work tree: no notice.
        assert_eq!(outside_work_tree(&outside, &sub), None);
        std::fs::create_dir(repo.join(".git")).expect("mkdir .git");
        let n = outside_work_tree(&outside, &sub).expect("a notice");
        assert!(n.contains(&outside.display().to_string()), "{n}");
        let inside = repo.join(".sops.yaml");
        std::fs::write(&inside, "creation_rules: []\n").expect("write");
        assert_eq!(outside_work_tree(&inside, &sub), None);
    }
}
