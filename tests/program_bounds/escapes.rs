//! Programs a credential helper started that left its process group (`setsid`): before
//! round 26 the group kill (at the helper's time limit, or when a signal ended leafseal)
//! did not reach them, and they outlived leafseal. The helper starts two: one whose
//! parent (the helper) is still alive when it is stopped, and one whose parent (a
//! subshell) has already exited, an orphan that only a subreaper can find.

use super::deadlines::which_setsid;
use super::*;

/// The helper's pids file (`P`), and the two escapes' (`P.direct`, `P.orphan`).
const ESCAPING_HELPER: &str = "#!/bin/sh\n\
     setsid sleep 600 & echo $! > '{P}.direct'\n\
     (setsid sleep 600 & echo $! > '{P}.orphan')\n\
     echo $$ > '{P}.tmp'\nmv '{P}.tmp' '{P}'\nexec sleep 600\n";

/// A running `leafseal decrypt` (under `setsid`: no terminal, so the helper runs in a
/// group of its own) whose AWS `credential_process` is [`ESCAPING_HELPER`], and the
/// directory holding the pids files; `None` without `setsid`.
fn start_with_escaping_helper(
    helper_timeout_secs: &str,
) -> Option<(
    std::process::Child,
    tempfile::TempDir,
    Vec<tempfile::TempDir>,
)> {
    let setsid = which_setsid().ok()?;
    let server = silent_server();
    let bin = tempfile::tempdir().expect("bin");
    let dir = tempfile::tempdir().expect("dir");
    let home = tempfile::tempdir().expect("home");
    let pids = dir.path().join("pids");
    let helper = bin.path().join("credential-process");
    std::fs::write(
        &helper,
        ESCAPING_HELPER.replace("{P}", &pids.display().to_string()),
    )
    .expect("script");
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let config = home.path().join("aws-config");
    std::fs::write(
        &config,
        format!("[profile p]\ncredential_process = {}\n", helper.display()),
    )
    .expect("aws config");
    let mut vars = support::env_vars(None, home.path());
    vars.remove("SOPS_AGE_KEY_FILE");
    vars.insert("AWS_CONFIG_FILE".to_owned(), config.display().to_string());
    vars.insert("AWS_PROFILE".to_owned(), "p".to_owned());
    vars.insert(
        "LEAFSEAL_HELPER_TIMEOUT_SECS".to_owned(),
        helper_timeout_secs.to_owned(),
    );
    std::fs::write(
        dir.path().join("secret.yaml"),
        file_for_keys(&silent_keys("kms", &server)),
    )
    .expect("file");
    let child = std::process::Command::new(setsid)
        .arg(env!("CARGO_BIN_EXE_leafseal"))
        .args(["decrypt", "secret.yaml"])
        .env_clear()
        .envs(&vars)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("leafseal");
    Some((child, dir, vec![bin, home]))
}

/// The pids the helper wrote: itself, the escape whose parent lives, the orphan.
fn escape_pids(dir: &Path, child: &mut std::process::Child) -> [String; 3] {
    let pids = dir.join("pids");
    let began = Instant::now();
    while !pids.exists() {
        if began.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("the credential helper never started");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let read = |suffix: &str| {
        std::fs::read_to_string(format!("{}{suffix}", pids.display()))
            .expect("pid")
            .trim()
            .to_owned()
    };
    [read(""), read(".direct"), read(".orphan")]
}

/// Whether every process of `pids` ends within 2 s; kills what is left either way.
fn all_end_soon(pids: &[String]) -> Vec<bool> {
    let ended: Vec<bool> = pids.iter().map(|p| ends_soon(p)).collect();
    for pid in pids {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", pid])
            .stderr(Stdio::null())
            .status();
    }
    ended
}

#[test]
fn a_helper_stopped_at_its_time_limit_takes_what_left_its_group_with_it() {
    let Some((mut child, dir, _keep)) = start_with_escaping_helper("1") else {
        eprintln!("no setsid here: the case without a terminal is not checked");
        return;
    };
    let pids = escape_pids(dir.path(), &mut child);
    let began = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if began.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = all_end_soon(&pids);
            panic!("leafseal did not end after the helper's time limit");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let ended = all_end_soon(&pids);
    assert_eq!(status.code(), Some(128), "{status:?}");
    assert_eq!(
        ended,
        [true, true, true],
        "helper, its setsid child, its setsid orphan: which ended with it"
    );
}

#[test]
fn a_signal_that_ends_leafseal_takes_what_left_the_helpers_group_with_it() {
    let Some((mut child, dir, _keep)) = start_with_escaping_helper("600") else {
        eprintln!("no setsid here: the case without a terminal is not checked");
        return;
    };
    let pids = escape_pids(dir.path(), &mut child);
    let status = super::signals_after_helper::terminate(child);
    let ended = all_end_soon(&pids);
    assert_eq!(status.code(), Some(143), "{status:?}");
    assert_eq!(
        ended,
        [true, true, true],
        "helper, its setsid child, its setsid orphan: which ended with leafseal"
    );
}
