//! Programs leafseal starts and reads from, replaced by fakes on PATH that misbehave:
//! a `git` that prints without end, one that exits leaving a program behind that holds
//! its output open, one whose complaint carries terminal escapes. Each run must end
//! quickly with a clear error and bounded memory (round 22, "bounded output of every
//! program leafseal runs"). The credential helpers' time limits are tested beside them
//! (`keys::awskms::creds`, `keys::hcvault::auth`), the shared capture in
//! `process::capture`.

#[path = "program_bounds/signals_after_helper.rs"]
mod signals_after_helper;
mod support;

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

/// A directory holding a fake `git` whose `ls-files` runs `ls_files` (shell); its
/// `rev-parse --show-toplevel` prints the current directory, as in a repository's root.
fn fake_git(ls_files: &str) -> tempfile::TempDir {
    let bin = tempfile::tempdir().expect("bin");
    let git = bin.path().join("git");
    std::fs::write(
        &git,
        format!("#!/bin/sh\ncase \"$1\" in\n  rev-parse) pwd ;;\n  ls-files) {ls_files} ;;\n  *) exit 1 ;;\nesac\n"),
    )
    .expect("write");
    std::fs::set_permissions(&git, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    bin
}

/// What a run printed and how it ended.
struct Run {
    status: ExitStatus,
    stderr: String,
    took: Duration,
}

/// Runs `leafseal check` in `dir` with `bin` first on PATH, under an address-space limit
/// of 1 GiB (an unbounded read then aborts instead of taking the machine's memory); kills
/// it after `limit` (the test then fails: leafseal was kept waiting). Its output goes to
/// files, so a program left behind holding a pipe cannot keep the test waiting either.
fn check_with(bin: &Path, dir: &Path, limit: Duration) -> Run {
    let home = tempfile::tempdir().expect("home");
    let mut vars = support::env_vars(None, home.path());
    let path = format!("{}:{}", bin.display(), vars["PATH"]);
    vars.insert("PATH".to_owned(), path);
    let err_file = dir.join("..").join(format!(
        "stderr-{}",
        dir.file_name().expect("name").to_string_lossy()
    ));
    std::fs::write(
        dir.join(".sops.yaml"),
        format!(
            "creation_rules:\n- path_regex: \\.enc\\.yaml$\n  age: {}\n",
            support::AGE_RECIPIENT
        ),
    )
    .expect("policy");
    let started = Instant::now();
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 1048576; exec \"$LEAFSEAL\" check")
        .env_clear()
        .envs(&vars)
        .env("LEAFSEAL", env!("CARGO_BIN_EXE_leafseal"))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_file).expect("stderr file"))
        .spawn()
        .expect("sh");
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`leafseal check` still ran after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(&err_file).expect("stderr");
    let _ = std::fs::remove_file(&err_file);
    Run {
        status,
        stderr,
        took: started.elapsed(),
    }
}

/// Whether the process `pid` is gone (or a zombie nobody reaps) within two seconds.
fn ends_soon(pid: &str) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(stat)
                if stat
                    .rsplit(')')
                    .next()
                    .is_some_and(|s| s.trim_start().starts_with('Z')) =>
            {
                return true;
            }
            Ok(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    false
}

#[test]
fn git_printing_without_end_is_stopped_at_the_bound() {
    // Before round 22 the list of tracked files was read whole: under the 1 GiB limit
    // the run aborted when the allocation failed (without it, the machine's memory).
    // The `sleep` it starts first must go with it (before round 23 only `git` itself
    // was killed and the `sleep` lived on for its ten minutes).
    let bin = fake_git(
        "sh -c 'echo $$ > \"$(dirname \"$0\")/left.pid\"; exec sleep 600' \"$0\" & exec yes",
    );
    let dir = tempfile::tempdir().expect("dir");
    let run = check_with(bin.path(), dir.path(), Duration::from_secs(60));
    let pid = std::fs::read_to_string(bin.path().join("left.pid")).expect("the sleep's pid");
    assert!(
        ends_soon(pid.trim()),
        "the program git started still runs: {}",
        pid.trim()
    );
    assert_eq!(
        run.status.signal(),
        None,
        "killed by a signal: {}",
        run.stderr
    );
    assert_ne!(run.status.code(), Some(0), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("`git` printed more than 268435456 bytes and was stopped"),
        "{}",
        run.stderr
    );
}

#[test]
fn git_leaving_a_program_behind_does_not_keep_check_waiting() {
    // `git` exits at once; the `sleep` it started holds its output open for a minute.
    // Before round 22 `check` waited for the end of that output: the whole minute.
    let bin = fake_git("sleep 60 & exit 0");
    let dir = tempfile::tempdir().expect("dir");
    let run = check_with(bin.path(), dir.path(), Duration::from_secs(30));
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
    assert!(run.took < Duration::from_secs(20), "took {:?}", run.took);
}

#[test]
fn what_git_says_is_shown_without_terminal_escapes() {
    let bin = fake_git("printf '\\033]0;owned\\007fatal: \\033[31mbroken index\\n' >&2; exit 128");
    let dir = tempfile::tempdir().expect("dir");
    let run = check_with(bin.path(), dir.path(), Duration::from_secs(30));
    assert_ne!(run.status.code(), Some(0), "{}", run.stderr);
    assert!(run.stderr.contains("broken index"), "{}", run.stderr);
    assert!(
        !run.stderr.contains('\u{1b}') && !run.stderr.contains('\u{7}'),
        "{:?}",
        run.stderr
    );
}

/// A server on 127.0.0.1 that accepts every connection and never answers (the
/// connections are kept open for the rest of the test run); its address.
fn silent_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    address
}

/// The `sops` entries of two keys of one network key source (`kind`, as the metadata
/// names it) on `server`; their `enc` values are never read (no server answers).
fn silent_keys(kind: &str, server: &str) -> String {
    let created = "          created_at: \"2024-01-01T00:00:00Z\"\n";
    let mut keys = format!("    {kind}:\n");
    for n in 1..=2 {
        let entry = match kind {
            "hc_vault" => format!(
                "        - vault_address: http://{server}\n          engine_path: transit\n          \
                 key_name: k{n}\n{created}          enc: vault:v1:abc\n"
            ),
            "kms" => format!(
                "        - arn: arn:aws:kms:us-east-1:111122223333:key/k{n}\n{created}          \
                 enc: AQICAHhvZ2Vy\n          aws_profile: \"\"\n"
            ),
            "gcp_kms" => format!(
                "        - resource_id: projects/p/locations/global/keyRings/r/cryptoKeys/k{n}\n\
                 {created}          enc: CiQAabc=\n"
            ),
            "azure_kv" => format!(
                "        - vault_url: https://v{n}.vault.azure.net\n          name: k\n          \
                 version: v1\n{created}          enc: abc\n"
            ),
            _ => format!(
                "        - key_id: cn-north-4:11111111-2222-3333-4444-55555555555{n}\n{created}          \
                 enc: abc:def\n"
            ),
        };
        keys.push_str(&entry);
    }
    keys
}

/// A file whose data key is wrapped only for `keys` (the `sops` entries).
fn file_for_keys(keys: &str) -> String {
    let iv = "A".repeat(22);
    format!(
        "password: ENC[AES256_GCM,data:3q2+7w==,iv:{iv}=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]\n\
         sops:\n{keys}    lastmodified: \"2024-01-01T00:00:00Z\"\n    \
         mac: ENC[AES256_GCM,data:3q2+7w==,iv:{iv}=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]\n    \
         version: 3.9.0\n"
    )
}

/// Runs `leafseal decrypt secret.yaml` (plus `extra` arguments) in `dir` with `vars`;
/// kills it after `limit` (the test then fails).
fn decrypt_with(
    vars: &HashMap<String, String>,
    dir: &Path,
    extra: &[&str],
    limit: Duration,
) -> Run {
    let err_file = dir.join("stderr");
    let started = Instant::now();
    let mut child = support::leafseal(vars)
        .args(extra)
        .args(["decrypt", "secret.yaml"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_file).expect("stderr file"))
        .spawn()
        .expect("leafseal");
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`leafseal decrypt` still ran after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        status,
        stderr: std::fs::read_to_string(&err_file).expect("stderr"),
        took: started.elapsed(),
    }
}

/// The environment of a decryption whose keys and credential endpoints all reach
/// `server`, with a key services deadline of `deadline_secs`.
fn silent_key_vars(home: &Path, server: &str, deadline_secs: &str) -> HashMap<String, String> {
    let mut vars = support::env_vars(None, home);
    let url = format!("http://{server}");
    for (k, v) in [
        ("LEAFSEAL_KEY_SERVICES_DEADLINE_SECS", deadline_secs),
        ("VAULT_TOKEN", "hvs.test"),
        ("SOPS_HC_VAULT_ALLOWLIST", &url),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMIexample"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL_KMS", &url),
        ("SOPS_GCP_KMS_ENDPOINT", &url),
        ("GOOGLE_OAUTH_ACCESS_TOKEN", "ya29.test"),
        ("AZURE_TENANT_ID", "tenant"),
        ("AZURE_CLIENT_ID", "client"),
        ("AZURE_CLIENT_SECRET", "secret"),
        ("AZURE_AUTHORITY_HOST", &url),
        ("HUAWEICLOUD_SDK_AK", "AKIDEXAMPLE"),
        ("HUAWEICLOUD_SDK_SK", "secret"),
        ("HUAWEICLOUD_SDK_PROJECT_ID", "project"),
        ("HUAWEICLOUD_SDK_REGION_KMS_CN_NORTH_4", &url),
    ] {
        vars.insert(k.to_owned(), v.to_owned());
    }
    vars
}

#[test]
fn a_key_service_that_never_answers_is_cut_short_at_the_deadline() {
    // For each network key source, two keys on a server that accepts and never answers,
    // with a 1 s deadline. Before round 23 the deadline was checked between keys only:
    // the first key took its own bounds (AWS KMS 3 attempts of 10 s, Vault and GCP 3 of
    // 30 s) before the second was skipped.
    let server = silent_server();
    let dir = tempfile::tempdir().expect("dir");
    let home = tempfile::tempdir().expect("home");
    let vars = silent_key_vars(home.path(), &server, "1");
    let margin = Duration::from_secs(2);
    for kind in ["hc_vault", "kms", "gcp_kms", "azure_kv", "hckms"] {
        let keys = silent_keys(kind, &server);
        std::fs::write(dir.path().join("secret.yaml"), file_for_keys(&keys)).expect("file");
        let run = decrypt_with(&vars, dir.path(), &[], Duration::from_secs(60));
        eprintln!("two silent {kind} keys, 1 s deadline: {:?}", run.took);
        assert_eq!(run.status.code(), Some(128), "{kind}: {}", run.stderr);
        assert!(
            run.took < Duration::from_secs(1) + margin,
            "{kind} took {:?}: {}",
            run.took,
            run.stderr
        );
        assert!(
            run.stderr.contains(&format!("{kind} "))
                && run
                    .stderr
                    .contains("not tried: the key services of this file"),
            "{kind}: {}",
            run.stderr
        );
    }

    // Through a key service (gRPC) that never answers: its calls too (before: 10 s, the
    // bound of a connection on which the service says nothing).
    let grpc = format!("tcp://{server}");
    let extra = ["--keyservice", &grpc, "--enable-local-keyservice=false"];
    let run = decrypt_with(&vars, dir.path(), &extra, Duration::from_secs(60));
    eprintln!("a silent key service, 1 s deadline: {:?}", run.took);
    assert_eq!(run.status.code(), Some(128), "{}", run.stderr);
    assert!(
        run.took < Duration::from_secs(1) + margin,
        "took {:?}: {}",
        run.took,
        run.stderr
    );
}

/// A script `name` in `bin` that sleeps for a minute (a credential helper, `az`, `gpg`
/// or an age key command that never answers); its path.
fn sleeper(bin: &Path, name: &str) -> String {
    let path = bin.join(name);
    std::fs::write(&path, "#!/bin/sh\nexec sleep 60\n").expect("script");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    path.display().to_string()
}

/// The programs a key source starts, each faked by one that sleeps.
#[derive(Clone, Copy, Debug)]
enum Program {
    CredentialProcess,
    VaultTokenHelper,
    Az,
    Gpg,
    AgeKeyCommand,
}

/// Decrypts a file whose only keys start `program` (a fake that sleeps for a minute),
/// with a 1 s key services' deadline, and checks that the program got only that second.
/// Before round 24 each kept its own limit: 120 s for an AWS credential_process and a
/// Vault token helper, 30 s for `az`, none for `gpg` and SOPS_AGE_KEY_CMD (these two run
/// under the deadline when key services are given: the local key is tried first).
fn stopped_at_the_deadline(program: Program) {
    let server = silent_server();
    let bin = tempfile::tempdir().expect("bin");
    let dir = tempfile::tempdir().expect("dir");
    let home = tempfile::tempdir().expect("home");
    let mut vars = support::env_vars(None, home.path());
    vars.remove("SOPS_AGE_KEY_FILE");
    vars.insert(
        "LEAFSEAL_KEY_SERVICES_DEADLINE_SECS".to_owned(),
        "1".to_owned(),
    );
    let mut set = |k: &str, v: String| vars.insert(k.to_owned(), v);
    let grpc = format!("tcp://{server}");
    let with_service = ["--keyservice", grpc.as_str()];
    let (file, extra, said): (String, &[&str], &str) = match program {
        Program::CredentialProcess => {
            let config = home.path().join("aws-config");
            let helper = sleeper(bin.path(), "credential-process");
            let text = format!("[profile slow]\ncredential_process = {helper}\n");
            std::fs::write(&config, text).expect("aws config");
            set("AWS_CONFIG_FILE", config.display().to_string());
            set("AWS_PROFILE", "slow".to_owned());
            (
                file_for_keys(&silent_keys("kms", &server)),
                &[],
                "credential_process of profile `slow` did not finish before the key services' \
                 deadline",
            )
        }
        Program::VaultTokenHelper => {
            let config = home.path().join("vault-config");
            let helper = sleeper(bin.path(), "vault-helper");
            std::fs::write(&config, format!("token_helper = \"{helper}\"\n")).expect("config");
            set("VAULT_CONFIG_PATH", config.display().to_string());
            set("SOPS_HC_VAULT_ALLOWLIST", format!("http://{server}"));
            (
                file_for_keys(&silent_keys("hc_vault", &server)),
                &[],
                "vault-helper did not finish before the key services' deadline",
            )
        }
        Program::Az => {
            sleeper(bin.path(), "az");
            let path = format!(
                "{}:{}",
                bin.path().display(),
                std::env::var("PATH").unwrap_or_default()
            );
            set("PATH", path);
            // No managed identity here: a closed loopback port, not the metadata service.
            set(
                "AZURE_POD_IDENTITY_AUTHORITY_HOST",
                "http://127.0.0.1:1".to_owned(),
            );
            (
                file_for_keys(&silent_keys("azure_kv", &server)),
                &[],
                "`az` did not finish before the key services' deadline",
            )
        }
        Program::Gpg => {
            set("SOPS_GPG_EXEC", sleeper(bin.path(), "gpg"));
            let keys = "    pgp:\n        - created_at: \"2024-01-01T00:00:00Z\"\n          \
                        enc: abc\n          fp: FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4\n";
            (
                file_for_keys(keys),
                &with_service,
                "gpg` did not finish before the key services' deadline",
            )
        }
        Program::AgeKeyCommand => {
            set("SOPS_AGE_KEY_CMD", sleeper(bin.path(), "age-key"));
            let fixture = support::sops_fixture("yaml/example.age.v3.7.1.yaml");
            (
                std::fs::read_to_string(fixture).expect("age fixture"),
                &with_service,
                "age-key` did not finish before the key services' deadline",
            )
        }
    };
    std::fs::write(dir.path().join("secret.yaml"), file).expect("file");
    let run = decrypt_with(&vars, dir.path(), extra, Duration::from_secs(40));
    eprintln!("{program:?} that never ends, 1 s deadline: {:?}", run.took);
    assert_eq!(run.status.code(), Some(128), "{program:?}: {}", run.stderr);
    assert!(
        run.took < Duration::from_secs(3),
        "{program:?} took {:?}: {}",
        run.took,
        run.stderr
    );
    assert!(run.stderr.contains(said), "{program:?}: {}", run.stderr);
    assert!(
        run.stderr.contains("LEAFSEAL_KEY_SERVICES_DEADLINE_SECS"),
        "{program:?}: {}",
        run.stderr
    );
}

#[test]
fn a_credential_process_gets_only_the_time_left_before_the_deadline() {
    stopped_at_the_deadline(Program::CredentialProcess);
}

#[test]
fn a_vault_token_helper_gets_only_the_time_left_before_the_deadline() {
    stopped_at_the_deadline(Program::VaultTokenHelper);
}

#[test]
fn az_gets_only_the_time_left_before_the_deadline() {
    stopped_at_the_deadline(Program::Az);
}

#[test]
fn gpg_gets_only_the_time_left_before_the_deadline() {
    stopped_at_the_deadline(Program::Gpg);
}

#[test]
fn an_age_key_command_gets_only_the_time_left_before_the_deadline() {
    stopped_at_the_deadline(Program::AgeKeyCommand);
}

/// A credential helper runs in a process group of its own when there is no terminal (a
/// CI job), so the signal that ends leafseal does not reach it by the group. Before
/// round 24 a helper that never ends outlived a leafseal stopped by SIGTERM, with what
/// it had started; now leafseal kills the helper's group before it ends (exit 143).
#[test]
fn a_helper_in_a_group_of_its_own_ends_with_leafseal_on_a_signal() {
    let Ok(setsid) = which_setsid() else {
        eprintln!("no setsid here: the case without a terminal is not checked");
        return;
    };
    let server = silent_server();
    let bin = tempfile::tempdir().expect("bin");
    let dir = tempfile::tempdir().expect("dir");
    let home = tempfile::tempdir().expect("home");
    let helper = bin.path().join("credential-process");
    let pids = dir.path().join("pids");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nsleep 600 &\necho $! > '{0}.child'\necho $$ > '{0}.tmp'\n\
             mv '{0}.tmp' '{0}'\nexec sleep 600\n",
            pids.display()
        ),
    )
    .expect("script");
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let config = home.path().join("aws-config");
    std::fs::write(
        &config,
        format!(
            "[profile slow]\ncredential_process = {}\n",
            helper.display()
        ),
    )
    .expect("aws config");
    let mut vars = support::env_vars(None, home.path());
    vars.remove("SOPS_AGE_KEY_FILE");
    vars.insert("AWS_CONFIG_FILE".to_owned(), config.display().to_string());
    vars.insert("AWS_PROFILE".to_owned(), "slow".to_owned());
    std::fs::write(
        dir.path().join("secret.yaml"),
        file_for_keys(&silent_keys("kms", &server)),
    )
    .expect("file");
    // `setsid` (not a group leader here, so it does not fork) gives leafseal a session
    // without a terminal, whatever the test runs on; leafseal keeps its process id.
    let mut child = std::process::Command::new(setsid)
        .arg(env!("CARGO_BIN_EXE_leafseal"))
        .args(["decrypt", "secret.yaml"])
        .env_clear()
        .envs(&vars)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("leafseal");
    let started = Instant::now();
    while !pids.exists() {
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("the credential helper never started");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let helper_pid = std::fs::read_to_string(&pids)
        .expect("pid")
        .trim()
        .to_owned();
    let child_pid = std::fs::read_to_string(dir.path().join("pids.child"))
        .expect("child pid")
        .trim()
        .to_owned();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let ended = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if ended.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("leafseal did not end on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let helper_gone = ends_soon(&helper_pid);
    let child_gone = ends_soon(&child_pid);
    // Clean up whatever is left before asserting.
    for pid in [&helper_pid, &child_pid] {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", pid])
            .status();
    }
    assert_eq!(status.code(), Some(143), "{status:?}");
    assert!(helper_gone, "the credential helper outlived leafseal");
    assert!(
        child_gone,
        "what the credential helper started outlived leafseal"
    );
}

/// The `setsid` program (util-linux), if it is here.
fn which_setsid() -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("setsid"))
        .find(|p| p.is_file())
        .ok_or(())
}
