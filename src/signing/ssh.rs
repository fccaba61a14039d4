//! Running `ssh-keygen -Y sign|find-principals|verify`, and reading the SSHSIG blob
//! (PROTOCOL.sshsig: "SSHSIG", version, public key, namespace, reserved, hash, signature).

use std::path::Path;
use std::path::PathBuf;
use std::process::Stdio;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::NAMESPACE;
use super::Verdict;
use crate::keys::KeyContext;

/// A signing or checking step that could not run.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SignError {
    /// What went wrong (never key material).
    pub message: String,
}

fn err(message: impl Into<String>) -> SignError {
    SignError {
        message: message.into(),
    }
}

/// The environment variable naming the signing key.
pub const SIGNING_KEY_ENV: &str = "LEAFSEAL_SIGNING_KEY";

/// The signing key: `--key`, else `LEAFSEAL_SIGNING_KEY`, else git's `user.signingkey`
/// when `gpg.format` is `ssh` (a path, `~/` expanded, or a `key::` literal public key,
/// which is written to `scratch` for ssh-keygen to find the private half in ssh-agent).
/// Returns the key file and where it came from.
pub fn signing_key(
    flag: Option<&Path>,
    ctx: &KeyContext,
    scratch: &Path,
) -> Result<(PathBuf, &'static str), SignError> {
    if let Some(p) = flag {
        return Ok((p.to_owned(), "--key"));
    }
    if let Some(p) = ctx.var(SIGNING_KEY_ENV) {
        return Ok((expand(p, ctx), SIGNING_KEY_ENV));
    }
    let git = |key: &str| -> Option<String> {
        let out = crate::process::capture::output_within(
            crate::process::git_in_own_group()
                .args(["config", "--get", key])
                .env_clear()
                .envs(ctx.vars()),
            crate::process::capture::TOOL_OUTPUT_MAX,
            None,
        )
        .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    if git("gpg.format").as_deref() == Some("ssh")
        && let Some(k) = git("user.signingkey")
    {
        if let Some(literal) = k.strip_prefix("key::") {
            let path = scratch.join("signing-key.pub");
            std::fs::write(&path, format!("{literal}\n"))
                .map_err(|e| err(format!("cannot write a temporary file: {e}")))?;
            return Ok((path, "git user.signingkey"));
        }
        return Ok((expand(&k, ctx), "git user.signingkey"));
    }
    Err(err(
        "no SSH signing key: pass --key PATH, set LEAFSEAL_SIGNING_KEY, or configure git (gpg.format=ssh and user.signingkey)",
    ))
}

fn expand(p: &str, ctx: &KeyContext) -> PathBuf {
    match (p.strip_prefix("~/"), ctx.var("HOME")) {
        (Some(rest), Some(home)) => Path::new(home).join(rest),
        _ => PathBuf::from(p),
    }
}

/// Runs ssh-keygen with `input` on stdin; returns (success, stdout, stderr).
fn run(
    args: &[&std::ffi::OsStr],
    input: &[u8],
    ctx: &KeyContext,
) -> Result<(bool, String, String), SignError> {
    let mut child = crate::process::command("ssh-keygen")
        .args(args)
        .env_clear()
        .envs(ctx.vars())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            err(format!(
                "could not run `ssh-keygen` (OpenSSH 8.2 or later is needed): {}",
                e.kind()
            ))
        })?;
    // No time limit: ssh-keygen may ask for the key's passphrase.
    let out = crate::process::capture::capture(
        &mut child,
        input,
        crate::process::capture::TOOL_OUTPUT_MAX,
    )
    .map_err(|e| err(format!("running `ssh-keygen` failed: {}", e.kind())))?;
    if out.too_long {
        return Err(err(format!(
            "`ssh-keygen` printed more than {} bytes and was stopped; check that `ssh-keygen` \
             on PATH is OpenSSH's",
            crate::process::capture::TOOL_OUTPUT_MAX
        )));
    }
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        crate::process::capture::stderr_text(&out.stderr, 2000),
    ))
}

/// Signs `message` with `ssh-keygen -Y sign`; returns the armored signature.
pub(super) fn sign(message: &[u8], key: &Path, ctx: &KeyContext) -> Result<String, SignError> {
    let (ok, stdout, stderr) = run(
        &[
            "-Y".as_ref(),
            "sign".as_ref(),
            "-n".as_ref(),
            NAMESPACE.as_ref(),
            "-f".as_ref(),
            key.as_os_str(),
        ],
        message,
        ctx,
    )?;
    if !ok {
        let why = stderr
            .lines()
            .last()
            .unwrap_or("no reason given")
            .to_owned();
        return Err(err(format!(
            "ssh-keygen could not sign with {}: {why}",
            key.display()
        )));
    }
    Ok(stdout)
}

/// The binary signature inside an armored one.
pub(super) fn dearmor(armored: &str) -> Option<Vec<u8>> {
    let body: String = armored
        .lines()
        .map(str::trim)
        .skip_while(|l| *l != "-----BEGIN SSH SIGNATURE-----")
        .skip(1)
        .take_while(|l| *l != "-----END SSH SIGNATURE-----")
        .collect();
    STANDARD.decode(body).ok()
}

fn armor(blob: &[u8]) -> String {
    let b64 = STANDARD.encode(blob);
    let mut s = String::from("-----BEGIN SSH SIGNATURE-----\n");
    for chunk in b64.as_bytes().chunks(70) {
        s.push_str(&String::from_utf8_lossy(chunk));
        s.push('\n');
    }
    s.push_str("-----END SSH SIGNATURE-----\n");
    s
}

/// The parts of an SSHSIG blob leafseal looks at.
pub(super) struct Blob {
    pub key_type: String,
    pub public_key: Vec<u8>,
    pub namespace: String,
}

fn take_string<'a>(b: &mut &'a [u8]) -> Option<&'a [u8]> {
    let (len, rest) = b.split_first_chunk::<4>()?;
    let n = u32::from_be_bytes(*len) as usize;
    if rest.len() < n {
        return None;
    }
    let (s, rest) = rest.split_at(n);
    *b = rest;
    Some(s)
}

/// Reads an SSHSIG blob.
pub(super) fn parse_blob(blob: &[u8]) -> Option<Blob> {
    let mut b = blob.strip_prefix(b"SSHSIG")?;
    let (version, rest) = b.split_first_chunk::<4>()?;
    if u32::from_be_bytes(*version) != 1 {
        return None;
    }
    b = rest;
    let public_key = take_string(&mut b)?.to_vec();
    let namespace = String::from_utf8(take_string(&mut b)?.to_vec()).ok()?;
    let mut pk = public_key.as_slice();
    let key_type = String::from_utf8(take_string(&mut pk)?.to_vec()).ok()?;
    Some(Blob {
        key_type,
        public_key,
        namespace,
    })
}

/// Checks a signature with `ssh-keygen -Y find-principals` and `-Y verify`.
pub(super) fn verify(
    message: &[u8],
    blob: &[u8],
    key: String,
    allowed: &Path,
    ctx: &KeyContext,
) -> Result<Verdict, SignError> {
    if !allowed.is_file() {
        return Err(err(format!(
            "the allowed-signers file {} does not exist",
            allowed.display()
        )));
    }
    let dir = tempfile::Builder::new()
        .prefix("leafseal-verify")
        .tempdir()
        .map_err(|e| err(format!("cannot create a temporary directory: {e}")))?;
    let sig = dir.path().join("file.sig");
    std::fs::write(&sig, armor(blob))
        .map_err(|e| err(format!("cannot write a temporary file: {e}")))?;
    let (found, principals, _) = run(
        &[
            "-Y".as_ref(),
            "find-principals".as_ref(),
            "-s".as_ref(),
            sig.as_os_str(),
            "-f".as_ref(),
            allowed.as_os_str(),
        ],
        b"",
        ctx,
    )?;
    let principals: Vec<&str> = principals
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if !found || principals.is_empty() {
        return Ok(Verdict::UnknownSigner { key });
    }
    let mut last = String::new();
    for p in principals {
        let (ok, _, stderr) = run(
            &[
                "-Y".as_ref(),
                "verify".as_ref(),
                "-f".as_ref(),
                allowed.as_os_str(),
                "-I".as_ref(),
                p.as_ref(),
                "-n".as_ref(),
                NAMESPACE.as_ref(),
                "-s".as_ref(),
                sig.as_os_str(),
            ],
            message,
            ctx,
        )?;
        if ok {
            return Ok(Verdict::Valid {
                principal: p.to_owned(),
                key,
                legacy: false,
            });
        }
        last = stderr;
    }
    let why = if last.contains("incorrect signature") || last.is_empty() {
        "the file was changed after it was signed (the signature does not match its current state)"
            .to_owned()
    } else {
        format!(
            "the signature does not match the file's current state ({})",
            last.lines().last().unwrap_or("")
        )
    };
    Ok(Verdict::Invalid { why })
}
