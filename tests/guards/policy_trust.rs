//! A `.sops.yaml` above the git work tree is used with a notice.

use super::*;

#[test]
fn a_policy_above_the_git_work_tree_is_used_with_a_notice() {
    let top = tempfile::tempdir().expect("top");
    let home = tempfile::tempdir().expect("home");
    let repo = top.path().join("repo");
    std::fs::create_dir_all(repo.join(".git")).expect("mkdir");
    std::fs::write(repo.join("p.yaml"), "a: 1\n").expect("write");
    let outside = top.path().join(".sops.yaml");
    std::fs::write(
        &outside,
        format!("creation_rules:\n  - age: {AGE_RECIPIENT}\n"),
    )
    .expect("write");
    let vars = env_vars(None, home.path());
    let out = run_in(&vars, &repo, &["encrypt", "p.yaml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("outside the git work tree") && err.contains(&outside.display().to_string()),
        "{err}"
    );
    assert_eq!(err.matches("outside the git work tree").count(), 1, "{err}");
    // The git merge driver, which reads the policy for its output settings, too.
    for side in ["base.yaml", "ours.yaml", "theirs.yaml"] {
        std::fs::write(repo.join(side), &out.stdout).expect("write");
    }
    let out = run_in(
        &vars,
        &repo,
        &[
            "git",
            "merge-driver",
            "base.yaml",
            "ours.yaml",
            "theirs.yaml",
            "s.yaml",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("outside the git work tree"),
        "{}",
        stderr(&out)
    );
    // Chosen explicitly: no notice.
    let out = run_in(
        &vars,
        &repo,
        &[
            "--config",
            &outside.display().to_string(),
            "encrypt",
            "p.yaml",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!stderr(&out).contains("outside the git work tree"));
    // A policy inside the work tree: no notice.
    std::fs::copy(&outside, repo.join(".sops.yaml")).expect("copy");
    let out = run_in(&vars, &repo, &["encrypt", "p.yaml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
}
