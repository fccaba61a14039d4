//! Passphrases for protected identities: age-encrypted (scrypt) identity files and
//! passphrase-protected OpenSSH keys.
//!
//! The passphrase comes from `LEAFSEAL_AGE_PASSPHRASE_CMD` (a leafseal extension): a
//! command run without a shell, with `LEAFSEAL_AGE_PASSPHRASE_FOR=<the protected source>`
//! in its environment, whose stdout (one trailing newline removed) is the passphrase.
//! Without it, and only when stdin is a terminal, it is asked for on the controlling
//! terminal (`/dev/tty`, echo off) as sops 3.11 does; otherwise there is no passphrase
//! and the caller reports the source as skipped (never a wait for input). It is held in
//! a wiped buffer and never printed.

use std::io::Read;

use age::secrecy::SecretString;
use zeroize::Zeroizing;

use super::command::run_command;
use crate::keys::KeyContext;

/// The highest scrypt work factor (log2) accepted for an identity file.
const MAX_WORK_FACTOR: u8 = 22;

/// The variable naming the passphrase command.
pub(super) const PASSPHRASE_CMD: &str = "LEAFSEAL_AGE_PASSPHRASE_CMD";

/// The passphrase for `target` (a content-free source description), `Ok(None)` when no
/// passphrase command is configured, `Err` a content-free outcome.
pub(super) fn passphrase_for(
    ctx: &KeyContext,
    target: &str,
    may_prompt: bool,
) -> Result<Option<SecretString>, String> {
    let Some(cmd) = ctx.var(PASSPHRASE_CMD) else {
        // Only the command line asks on the terminal; a library caller configures a
        // passphrase command instead.
        return if may_prompt && ctx.interactive() {
            prompt_on_terminal(target)
        } else {
            Ok(None)
        };
    };
    let out = run_command(cmd, ctx, &[("LEAFSEAL_AGE_PASSPHRASE_FOR", target)])
        .map_err(|e| format!("{PASSPHRASE_CMD}: {e}"))?;
    let mut end = out.len();
    if out[..end].ends_with(b"\n") {
        end -= 1;
        if out[..end].ends_with(b"\r") {
            end -= 1;
        }
    }
    let text = std::str::from_utf8(&out[..end])
        .map_err(|_| format!("{PASSPHRASE_CMD}: its output is not UTF-8 text"))?;
    if text.is_empty() {
        return Err(format!("{PASSPHRASE_CMD}: it printed an empty passphrase"));
    }
    Ok(Some(SecretString::from(text.to_owned())))
}

/// Decrypts an age-encrypted (passphrase, scrypt) identity file. `Err` is content-free.
pub(super) fn decrypt_identity_file(
    bytes: &[u8],
    passphrase: SecretString,
) -> Result<Zeroizing<Vec<u8>>, String> {
    let reader = age::armor::ArmoredReader::new(bytes);
    let decryptor =
        age::Decryptor::new_buffered(reader).map_err(|e| format!("not a valid age file ({e})"))?;
    if !decryptor.is_scrypt() {
        return Err("it is encrypted to a key, not to a passphrase".to_owned());
    }
    let mut identity = age::scrypt::Identity::new(passphrase);
    // The age crate's default limit depends on how fast this machine runs scrypt; use
    // the fixed limit of the age reference implementation (2^22) instead, so a file
    // written with the usual work factor (2^18) opens everywhere.
    identity.set_max_work_factor(MAX_WORK_FACTOR);
    let mut reader = decryptor
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::DecryptionFailed | age::DecryptError::NoMatchingKeys => {
                "the passphrase is wrong".to_owned()
            }
            age::DecryptError::ExcessiveWork { required, .. } => format!(
                "its scrypt work factor (2^{required}) is above the limit (2^{MAX_WORK_FACTOR})"
            ),
            other => format!("cannot decrypt it ({other})"),
        })?;
    let mut plain = Zeroizing::new(Vec::with_capacity(4096));
    reader
        .read_to_end(&mut plain)
        .map_err(|e| format!("it is damaged ({})", e.kind()))?;
    Ok(plain)
}

/// Asks on the controlling terminal with echo off, when stdin is a terminal; `Ok(None)`
/// when there is no terminal to ask on.
#[cfg(unix)]
fn prompt_on_terminal(target: &str) -> Result<Option<SecretString>, String> {
    use std::io::BufRead;
    use std::io::IsTerminal;
    use std::io::Write;

    use rustix::termios::LocalModes;
    use rustix::termios::OptionalActions;

    if !std::io::stdin().is_terminal() {
        return Ok(None);
    }
    let Ok(tty) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
    else {
        return Ok(None);
    };
    let saved = rustix::termios::tcgetattr(&tty)
        .map_err(|e| format!("cannot use the terminal to ask for the passphrase ({e})"))?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    quiet.local_modes.insert(LocalModes::ECHONL);
    rustix::termios::tcsetattr(&tty, OptionalActions::Now, &quiet)
        .map_err(|e| format!("cannot turn off echo on the terminal ({e})"))?;
    let mut line = Zeroizing::new(String::new());
    let asked = (&tty)
        .write_all(format!("Enter passphrase for {target}: ").as_bytes())
        .and_then(|()| std::io::BufReader::new(&tty).read_line(&mut line));
    // Restore echo whatever happened.
    let restored = rustix::termios::tcsetattr(&tty, OptionalActions::Now, &saved);
    asked.map_err(|e| {
        format!(
            "cannot read the passphrase from the terminal ({})",
            e.kind()
        )
    })?;
    restored.map_err(|e| format!("cannot restore the terminal ({e})"))?;
    let text = line.trim_end_matches(['\n', '\r']);
    if text.is_empty() {
        return Err("an empty passphrase was entered".to_owned());
    }
    Ok(Some(SecretString::from(text.to_owned())))
}

#[cfg(not(unix))]
fn prompt_on_terminal(_target: &str) -> Result<Option<SecretString>, String> {
    Ok(None)
}
