//! Key services and helper programs get only the time left before the deadline.

use super::*;

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
    let status = super::signals_after_helper::terminate(child);
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
pub(crate) fn which_setsid() -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("setsid"))
        .find(|p| p.is_file())
        .ok_or(())
}
