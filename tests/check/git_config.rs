//! A repository whose own `.git/config` names programs (a checkout from a tarball or a
//! shared directory can carry one): the git leafseal runs must not start them.

use std::os::unix::fs::PermissionsExt;

use super::*;

/// A program that records that it ran, in `ran` (outside the repository).
fn trap(r: &Repo, ran: &Path) -> String {
    let script = r.scratch.path().join("trap.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$0 $*\" >> '{}'\n", ran.display()),
    )
    .expect("write trap");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    script.display().to_string()
}

#[test]
fn check_and_access_do_not_run_programs_the_repository_config_names() {
    let r = clean_repo();
    let ran = r.scratch.path().join("ran.log");
    let program = trap(&r, &ran);
    let hooks = r.scratch.path().join("hooks");
    std::fs::create_dir_all(&hooks).expect("mkdir hooks");
    for hook in ["post-index-change", "pre-commit"] {
        std::fs::copy(&program, hooks.join(hook)).expect("copy hook");
    }
    r.git_ok(&["config", "core.fsmonitor", &program]);
    r.git_ok(&["config", "core.hooksPath", &hooks.display().to_string()]);
    r.git_ok(&["config", "diff.external", &program]);
    // The trap is armed: git's own status starts the monitor.
    r.git_ok(&["status", "--porcelain"]);
    assert!(ran.exists(), "git status did not start the planted monitor");
    std::fs::remove_file(&ran).expect("reset");

    let (code, _, stderr) = r.check(&[]);
    assert_eq!(code, 0, "{stderr}");
    let access = support::leafseal(&r.vars)
        .current_dir(r.path())
        .arg("access")
        .output()
        .expect("run access");
    assert!(
        access.status.success(),
        "{}",
        String::from_utf8_lossy(&access.stderr)
    );
    let log = std::fs::read_to_string(&ran).unwrap_or_default();
    assert!(
        log.is_empty(),
        "leafseal's git ran a planted program: {log}"
    );
}
