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

/// A Vault key whose server refuses the connection, tried before the age key.
const UNREACHABLE_VAULT_KEY: &str = "    hc_vault:\n        - vault_address: http://127.0.0.1:1\n          \
                                     engine_path: transit\n          key_name: k\n          \
                                     created_at: \"2024-01-01T00:00:00Z\"\n          \
                                     enc: vault:v1:AAAA\n";

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
    start_with_helper(ESCAPING_HELPER, helper_timeout_secs)
}

/// [`start_with_escaping_helper`] with the helper `script` (`{P}`: the pids file).
fn start_with_helper(
    script: &str,
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
    std::fs::write(&helper, script.replace("{P}", &pids.display().to_string())).expect("script");
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

/// A Vault token helper that cannot start (not found) is never registered, so nothing
/// turned off the subreaper its start had turned on: `exec-env`'s command then ran with
/// leafseal a subreaper, and the orphans of its tree became leafseal's children (zombies
/// leafseal never reaps, for as long as the command runs). Now leafseal is an ordinary
/// process again before it starts a program that is not a helper. The command writes the
/// parent of an orphan it made; it must not be leafseal.
#[test]
fn a_helper_that_never_started_leaves_no_subreaper_behind() {
    let Ok(setsid) = which_setsid() else {
        eprintln!("no setsid here: the case without a terminal is not checked");
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let home = tempfile::tempdir().expect("home");
    let mut vars = support::env_vars(None, home.path());
    // A Vault key tried first (its token helper does not exist), then the age key.
    sealed_with_keys_first(&vars, dir.path(), UNREACHABLE_VAULT_KEY);
    let config = home.path().join("vault.hcl");
    std::fs::write(&config, "token_helper = \"/nonexistent/token-helper\"\n").expect("config");
    vars.insert("VAULT_CONFIG_PATH".to_owned(), config.display().to_string());
    vars.insert("SOPS_HC_VAULT_ALLOWLIST".to_owned(), "all".to_owned());
    vars.insert(
        "SOPS_DECRYPTION_ORDER".to_owned(),
        "hc_vault,age".to_owned(),
    );
    let parent = dir.path().join("orphan-parent");
    let script = format!(
        "(sleep 5 & echo $! > '{p}.pid'); sleep 0.3; \
         awk '{{print $4}}' /proc/$(cat '{p}.pid')/stat > '{p}'",
        p = parent.display()
    );
    // `setsid` does not fork here: the child's id is leafseal's.
    let mut child = std::process::Command::new(setsid)
        .arg(env!("CARGO_BIN_EXE_leafseal"))
        .args(["exec-env", "secret.yaml", &script])
        .env_clear()
        .envs(&vars)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("leafseal");
    let leafseal = child.id().to_string();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err)
        .expect("stderr");
    let status = child.wait().expect("wait");
    let orphan = std::fs::read_to_string(format!("{}.pid", parent.display())).unwrap_or_default();
    let _ = all_end_soon(&[orphan.trim().to_owned()]);
    assert!(status.success(), "{status:?}: {err}");
    let adopted_by = std::fs::read_to_string(&parent).expect("the command ran");
    assert!(!adopted_by.trim().is_empty());
    assert_ne!(
        adopted_by.trim(),
        leafseal,
        "the command's orphan became leafseal's child: leafseal was still a subreaper"
    );
}

/// A helper that forks without pause (`setsid` children and orphans, 3000 of each at
/// most, each id written down) when its time limit stops it: a pass over `/proc` is
/// slower than the forking, so the passes end (their time bound) while new processes
/// still appear. Before the review of round 26 the kill then ended the walk: the
/// children the last passes missed (135 to 1501 in five runs) lived on after leafseal.
/// Now another round finds them (adopted by leafseal once their parents were killed).
#[test]
fn a_helper_forking_without_pause_at_its_time_limit_leaves_nothing_behind() {
    const FORKING_HELPER: &str = "#!/bin/sh\n\
         ( i=0; while [ $i -lt 3000 ]; do (setsid sleep 600 & echo $! >> '{P}.orphans'); \
         i=$((i+1)); done ) &\n\
         i=0; while [ $i -lt 3000 ]; do setsid sleep 600 & echo $! >> '{P}.direct'; \
         i=$((i+1)); done\nexec sleep 600\n";
    let Some((mut child, dir, _keep)) = start_with_helper(FORKING_HELPER, "1") else {
        eprintln!("no setsid here: the case without a terminal is not checked");
        return;
    };
    let began = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break Some(s);
        }
        if began.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    std::thread::sleep(Duration::from_millis(500));
    let mut forked = Vec::new();
    for suffix in [".direct", ".orphans"] {
        let list =
            std::fs::read_to_string(dir.path().join(format!("pids{suffix}"))).unwrap_or_default();
        forked.extend(list.split_whitespace().map(str::to_owned));
    }
    // Alive (not a zombie waiting for `init`) and still a `sleep`.
    let alive: Vec<&String> = forked
        .iter()
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            stat.contains("(sleep)")
                && stat
                    .rsplit_once(')')
                    .is_some_and(|(_, t)| !t.trim_start().starts_with('Z'))
        })
        .collect();
    for chunk in alive.chunks(500) {
        let _ = std::process::Command::new("kill")
            .arg("-KILL")
            .args(chunk.iter().map(|p| p.as_str()))
            .stderr(Stdio::null())
            .status();
    }
    let status = status.expect("leafseal did not end after the helper's time limit");
    assert_eq!(status.code(), Some(128), "{status:?}");
    assert!(
        forked.len() > 100,
        "the helper forked only {}",
        forked.len()
    );
    assert!(
        alive.is_empty(),
        "{} of the {} processes the helper forked outlived leafseal",
        alive.len(),
        forked.len()
    );
}

/// A helper that ends by itself keeps what it started, also when leafseal adopted it (a
/// `gpg-agent` an `aws-vault` started): a Vault token helper leaves a `setsid` orphan and
/// answers; then an AWS `credential_process` runs out of time. Before the review of round
/// 26 that second helper's kill path stopped every orphan leafseal had adopted, the first
/// helper's daemon with it; now the orphans left when no helper ran any more are kept.
#[test]
fn a_daemon_a_finished_helper_left_survives_a_later_helpers_time_limit() {
    let Ok(setsid) = which_setsid() else {
        eprintln!("no setsid here: the case without a terminal is not checked");
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let home = tempfile::tempdir().expect("home");
    let mut vars = support::env_vars(None, home.path());
    // Tried in this order: Vault (its server refuses the connection), AWS KMS, age.
    let others = format!(
        "{UNREACHABLE_VAULT_KEY}    kms:\n        - arn: arn:aws:kms:us-east-1:111122223333:key/k1\n          \
         created_at: \"2024-01-01T00:00:00Z\"\n          enc: AQICAHhvZ2Vy\n          \
         aws_profile: \"\"\n"
    );
    sealed_with_keys_first(&vars, dir.path(), &others);
    let daemon = dir.path().join("daemon");
    let token_helper = home.path().join("token-helper");
    std::fs::write(
        &token_helper,
        format!(
            "#!/bin/sh\n(setsid sleep 600 >/dev/null 2>&1 </dev/null & echo $! > '{}')\necho s.token\n",
            daemon.display()
        ),
    )
    .expect("token helper");
    let hanging = home.path().join("credential-process");
    std::fs::write(&hanging, "#!/bin/sh\nexec sleep 600\n").expect("helper");
    for script in [&token_helper, &hanging] {
        std::fs::set_permissions(script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
    }
    let vault_config = home.path().join("vault.hcl");
    std::fs::write(
        &vault_config,
        format!("token_helper = \"{}\"\n", token_helper.display()),
    )
    .expect("vault config");
    let aws_config = home.path().join("aws-config");
    std::fs::write(
        &aws_config,
        format!("[profile p]\ncredential_process = {}\n", hanging.display()),
    )
    .expect("aws config");
    for (k, v) in [
        ("VAULT_CONFIG_PATH", vault_config.display().to_string()),
        ("SOPS_HC_VAULT_ALLOWLIST", "all".to_owned()),
        ("AWS_CONFIG_FILE", aws_config.display().to_string()),
        ("AWS_PROFILE", "p".to_owned()),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:1".to_owned()),
        ("LEAFSEAL_HELPER_TIMEOUT_SECS", "1".to_owned()),
    ] {
        vars.insert(k.to_owned(), v);
    }
    let began = Instant::now();
    let out = std::process::Command::new(setsid)
        .arg(env!("CARGO_BIN_EXE_leafseal"))
        .args([
            "decrypt",
            "--decryption-order",
            "hc_vault,kms,age",
            "secret.yaml",
        ])
        .env_clear()
        .envs(&vars)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("leafseal");
    let took = began.elapsed();
    let pid = std::fs::read_to_string(&daemon).unwrap_or_default();
    let pid = pid.trim().to_owned();
    let alive = !pid.is_empty() && !ends_soon(&pid);
    let _ = all_end_soon(std::slice::from_ref(&pid));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {err}", out.status);
    assert!(!pid.is_empty(), "the token helper never ran: {err}");
    // The AWS helper ran until its 1 s limit.
    assert!(took >= Duration::from_secs(1), "{took:?}: {err}");
    assert!(
        alive,
        "the finished helper's daemon was killed at the later helper's limit"
    );
}
