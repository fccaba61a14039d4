//! Programs leafseal starts and reads from, replaced by fakes on PATH that misbehave:
//! a `git` that prints without end, one that exits leaving a program behind that holds
//! its output open, one whose complaint carries terminal escapes. Each run must end
//! quickly with a clear error and bounded memory (round 22, "bounded output of every
//! program leafseal runs"). The credential helpers' time limits are tested beside them
//! (`keys::awskms::creds`, `keys::hcvault::auth`), the shared capture in
//! `process::capture`.

mod support;

#[path = "program_bounds/deadlines.rs"]
mod deadlines;
#[path = "program_bounds/escapes.rs"]
mod escapes;
#[path = "program_bounds/git.rs"]
mod git;
#[path = "program_bounds/signals_after_helper.rs"]
mod signals_after_helper;

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

/// A directory holding a fake `git` whose `ls-files` runs `ls_files` (shell); its
/// `rev-parse --show-toplevel` prints the current directory, as in a repository's root.
/// It skips the `-c NAME=VALUE` settings leafseal puts first on every git command line
/// (round 26).
fn fake_git(ls_files: &str) -> tempfile::TempDir {
    let bin = tempfile::tempdir().expect("bin");
    let git = bin.path().join("git");
    std::fs::write(
        &git,
        format!("#!/bin/sh\nwhile [ \"$1\" = -c ]; do shift 2; done\ncase \"$1\" in\n  rev-parse) pwd ;;\n  ls-files) {ls_files} ;;\n  *) exit 1 ;;\nesac\n"),
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

/// Writes `dir/secret.yaml`, `password: hunter2` encrypted for the test age key, with the
/// metadata entries `first` (lines under `sops:`) put before the age entry, so that those
/// keys are tried first and the age key then decrypts.
fn sealed_with_keys_first(vars: &HashMap<String, String>, dir: &Path, first: &str) {
    let file = dir.join("secret.yaml");
    std::fs::write(&file, "password: hunter2\n").expect("plain");
    let out = support::run_in(
        vars,
        dir,
        &[
            "encrypt",
            "-i",
            "--age",
            support::AGE_RECIPIENT,
            "secret.yaml",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sealed = std::fs::read_to_string(&file).expect("sealed");
    let entries = format!("sops:\n{first}");
    std::fs::write(&file, sealed.replacen("sops:\n", &entries, 1)).expect("entries");
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

/// The programs a key source starts, each faked by one that sleeps.
#[derive(Clone, Copy, Debug)]
enum Program {
    CredentialProcess,
    VaultTokenHelper,
    Az,
    Gpg,
    AgeKeyCommand,
}
