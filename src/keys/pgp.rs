//! The `pgp` key source, through the `gpg` binary (sops's fallback path).
//!
//! `SOPS_GPG_EXEC` names the binary (default `gpg`). The child runs with exactly the
//! [`KeyContext`]'s variables, so `GNUPGHOME` and `HOME` from the context are honoured.
//! Errors quote only gpg's own `gpg:` status lines (which never contain the data key).
//! At most `LEAFSEAL_GPG_MAX_PROCS` gpg processes run at once (default: the number of
//! cores, at most 4), however many files or key entries are being processed.

use std::process::Stdio;
use std::sync::Condvar;
use std::sync::Mutex;
use std::sync::PoisonError;

use zeroize::Zeroizing;

use crate::keys::FieldValue;
use crate::keys::KeyContext;
use crate::keys::KeyError;
use crate::keys::KeyFields;
use crate::keys::KeyKind;
use crate::keys::MasterKey;
use crate::keys::Probe;
use crate::keys::ProbeStatus;

/// A `pgp` master key: a key fingerprint.
#[derive(Debug, Clone)]
pub struct PgpKey {
    /// The fingerprint as the user or the file wrote it (what `fp` holds and what gpg is
    /// given), e.g. `0x…` or lower case: sops keeps it so, and a rewrite must too.
    text: String,
    /// The form keys are compared by: upper case, without `0x` and whitespace; `text`
    /// itself when that is not a fingerprint.
    id: String,
}

/// The fewest hexadecimal digits a key named on the command line or in a policy may have:
/// a long key ID. A short one (8 digits) is easily forged; sops 3.11 refuses it too (gpg
/// rejects it where sops passes it as `--trusted-key`).
const LONG_KEY_ID_DIGITS: usize = 16;

/// The compare form of a fingerprint (see [`PgpKey`]), or `None` when `s` is not one:
/// an optional `0x`, 8 to 64 hexadecimal digits, and GnuPG's optional `!`.
fn normalise(s: &str) -> Option<String> {
    let bare = s.strip_prefix("0x").unwrap_or(s);
    let hex = bare.strip_suffix('!').unwrap_or(bare);
    if hex.len() < 8 || hex.len() > 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(bare.to_ascii_uppercase())
}

impl PgpKey {
    /// Parses the command-line / policy form: a hexadecimal fingerprint (or key ID),
    /// optionally with sops's and gpg's `0x` prefix, with all whitespace removed (sops
    /// removes spaces) and its case kept, as sops writes it; a trailing `!` (GnuPG's
    /// "exactly this (sub)key" marker) is kept.
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        let text: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        let id = normalise(&text).ok_or_else(|| {
            KeyError::with_hint(
                "invalid PGP fingerprint: expected hexadecimal digits (40 for a v4 key), optionally after `0x`",
                "`gpg --list-keys --with-colons` lists fingerprints (`fpr` lines)",
            )
        })?;
        if id.trim_end_matches('!').len() < LONG_KEY_ID_DIGITS {
            return Err(KeyError::with_hint(
                format!(
                    "PGP key `{}` is a short key ID (fewer than 16 hexadecimal digits): anyone can make a key with the same ID, and gpg would encrypt to whichever it finds",
                    crate::redact::inert(&text)
                ),
                "give the full 40-digit fingerprint, which `gpg --list-keys --with-colons` prints on its `fpr` lines",
            ));
        }
        Ok(PgpKey { text, id })
    }

    /// Parses a metadata entry (`fp`). The text is kept exactly as written, whatever it
    /// is (sops reads any `fp`, and gpg decrypts without it); only a missing `fp` is an
    /// error.
    pub fn from_fields(entry: &KeyFields) -> Result<Self, KeyError> {
        let text = entry
            .get("fp")
            .and_then(FieldValue::as_str)
            .ok_or_else(|| KeyError::new("pgp entry without `fp`"))?;
        let id = normalise(text).unwrap_or_else(|| text.to_owned());
        Ok(PgpKey {
            text: text.to_owned(),
            id,
        })
    }

    /// The normalised fingerprint (upper case, without `0x`).
    pub fn fingerprint(&self) -> &str {
        &self.id
    }
}

/// What went wrong running gpg, without any secret.
struct GpgFailure {
    message: String,
}

pub(crate) use super::spawn_error;

/// The gpg binary of this context.
fn gpg_binary(ctx: &KeyContext) -> (&str, bool) {
    match ctx.var("SOPS_GPG_EXEC") {
        Some(b) => (b, true),
        None => ("gpg", false),
    }
}

/// The variable that sets how many gpg processes may run at once (default: the number
/// of cores, at most [`DEFAULT_MAX_GPG`]).
pub const MAX_GPG_VAR: &str = "LEAFSEAL_GPG_MAX_PROCS";
/// The default upper bound of concurrent gpg processes.
pub const DEFAULT_MAX_GPG: usize = 4;

/// The bound on concurrent gpg processes for this context.
fn max_gpg(ctx: &KeyContext) -> usize {
    ctx.var(MAX_GPG_VAR)
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(DEFAULT_MAX_GPG)
        })
}

/// gpg processes running now, in the whole process (every thread, every file).
static RUNNING: Mutex<usize> = Mutex::new(0);
static FREED: Condvar = Condvar::new();

/// A slot among the concurrent gpg processes, given back on drop.
struct GpgSlot;

impl GpgSlot {
    /// Waits until fewer than `max` gpg processes run, and takes a slot; waits at most
    /// `within` (the time left before the key services' deadline), `None` then.
    fn acquire(max: usize, within: Option<std::time::Duration>) -> Option<GpgSlot> {
        let until = within.map(|w| std::time::Instant::now() + w);
        let mut running = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
        while *running >= max {
            running = match until {
                None => FREED.wait(running).unwrap_or_else(PoisonError::into_inner),
                Some(until) => {
                    let left = until.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    FREED
                        .wait_timeout(running, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
        *running += 1;
        Some(GpgSlot)
    }
}

impl Drop for GpgSlot {
    fn drop(&mut self) {
        let mut running = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
        *running = running.saturating_sub(1);
        FREED.notify_one();
    }
}

/// The most of `gpg --decrypt`'s standard output that is read: a data key is 32 bytes, a
/// Shamir share 33. Unbounded, a planted compressed OpenPGP message was expanded into
/// memory whole (2.4 KB file → 512 MiB, 803 MB resident).
const DECRYPTED_MAX: usize = 4 * 1024;

/// The most of `gpg --encrypt --armor`'s output that is read (one recipient: about a
/// kilobyte, 2 KB for a 16384-bit RSA key).
const ARMORED_MAX: usize = 64 * 1024;

/// The most of `gpg --list-secret-keys <id>`'s output that is read (one line per key,
/// subkey and user ID).
const LISTING_MAX: usize = 1024 * 1024;

/// What gpg is given on its standard input.
#[derive(Clone, Copy)]
enum GpgInput<'a> {
    /// Key material (the data key to encrypt): masked in gpg's complaint if it echoes it.
    Secret(&'a [u8]),
    /// Nothing secret (an encrypted message, or nothing).
    Public(&'a [u8]),
}

/// Runs gpg with `input` on stdin; returns stdout (wiped on drop). At most
/// [`max_gpg`] gpg processes run at once in this process; further calls wait for a slot.
/// A gpg that prints more than `max` bytes is stopped, and that is a failure. The lines of
/// a failing gpg's complaint that the message quotes never hold the secret input nor what
/// it printed (a decrypted data key), raw or base64- or hex-encoded: the program named by
/// `SOPS_GPG_EXEC` is not trusted with that.
fn run_gpg(
    ctx: &KeyContext,
    args: &[&str],
    input: GpgInput<'_>,
    max: usize,
) -> Result<Zeroizing<Vec<u8>>, GpgFailure> {
    let (input, secret_input) = match input {
        GpgInput::Secret(bytes) => (bytes, Some(bytes)),
        GpgInput::Public(bytes) => (bytes, None),
    };
    let (binary, from_env) = gpg_binary(ctx);
    // Other files' gpg may hold every slot: the wait counts against the deadline too.
    let Some(_slot) = GpgSlot::acquire(max_gpg(ctx), crate::keys::deadline::time_left()) else {
        return Err(GpgFailure {
            message: crate::keys::deadline::program_deadline_message(&format!("`{binary}`")),
        });
    };
    let mut child = crate::process::command(binary)
        .args(args)
        .env_clear()
        .envs(ctx.vars())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| GpgFailure {
            message: if from_env {
                format!(
                    "could not run `{binary}` (from SOPS_GPG_EXEC): {}",
                    spawn_error(&e)
                )
            } else {
                format!("could not run `gpg`: {}", spawn_error(&e))
            },
        })?;
    let output =
        crate::process::capture::capture(&mut child, input, max).map_err(|e| GpgFailure {
            message: format!("running `{binary}` failed: {}", e.kind()),
        })?;
    if output.timed_out {
        // gpg has no time limit of its own (it may wait for a passphrase): only the key
        // services' deadline stops it, when key services are configured.
        return Err(GpgFailure {
            message: crate::keys::deadline::program_deadline_message(&format!("`{binary}`")),
        });
    }
    if output.too_long {
        return Err(GpgFailure {
            message: format!(
                "`{binary}` printed more than {max} bytes and was stopped, far more than the \
                 answer expected (a decrypted data key is 32 bytes, a key share 33): a PGP \
                 `enc` value that decrypts to that much is not a wrapped data key, so the \
                 file may have been tampered with (restore it from version control)"
            ),
        });
    }
    let stdout = output.stdout;
    if !output.status.success() {
        let secrets: Vec<&[u8]> = secret_input
            .into_iter()
            .chain(Some(&stdout[..]).filter(|out| !out.is_empty()))
            .collect();
        let mut stderr = Zeroizing::new(output.stderr);
        for secret in &secrets {
            stderr = Zeroizing::new(crate::redact::mask_raw_key(&stderr, secret));
        }
        let stderr = String::from_utf8_lossy(&stderr);
        let lines: Vec<&str> = stderr
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("gpg:"))
            .take(8)
            .collect();
        let mut message = format!("`{binary}` failed ({})", output.status);
        if !lines.is_empty() {
            let mut quoted = lines.join("; ");
            for secret in &secrets {
                quoted = crate::redact::mask_encoded_key(&quoted, secret);
            }
            message.push_str(": ");
            message.push_str(&quoted);
        }
        return Err(GpgFailure { message });
    }
    Ok(stdout)
}

impl MasterKey for PgpKey {
    fn kind(&self) -> KeyKind {
        KeyKind::Pgp
    }

    fn id(&self) -> String {
        self.id.clone()
    }

    fn wrap(&self, secret: &[u8], ctx: &KeyContext) -> Result<String, KeyError> {
        let args = [
            "--batch",
            "--no-tty",
            "--yes",
            "--trust-model",
            "always",
            "--armor",
            "--encrypt",
            "--recipient",
            self.text.as_str(),
        ];
        let out = run_gpg(ctx, &args, GpgInput::Secret(secret), ARMORED_MAX).map_err(|f| {
            KeyError::with_hint(
                format!(
                    "PGP encryption to {} failed: {}",
                    self.display_id(),
                    f.message
                ),
                "import the public key (`gpg --import` or `gpg --recv-keys`), check GNUPGHOME, \
                 or set SOPS_GPG_EXEC to your gpg binary",
            )
        })?;
        let text = std::str::from_utf8(&out).map_err(|_| {
            KeyError::new(format!(
                "PGP encryption to {} produced no ASCII-armored message",
                self.display_id()
            ))
        })?;
        let text = text.replace("\r\n", "\n");
        let text = text.trim_end_matches('\n');
        if !text.starts_with("-----BEGIN PGP MESSAGE-----") {
            return Err(KeyError::new(format!(
                "PGP encryption to {} produced no ASCII-armored message",
                self.display_id()
            )));
        }
        Ok(text.to_owned())
    }

    fn unwrap(&self, enc: &str, ctx: &KeyContext) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let args = ["--batch", "--no-tty", "--decrypt"];
        run_gpg(ctx, &args, GpgInput::Public(enc.as_bytes()), DECRYPTED_MAX).map_err(|f| {
            KeyError::with_hint(
                format!(
                    "cannot decrypt the PGP data key for {}: {}",
                    self.display_id(),
                    f.message
                ),
                "import the private key (`gpg --import`), check that GNUPGHOME points at your \
                 keyring, and that gpg-agent can ask for its passphrase (set GPG_TTY=$(tty))",
            )
        })
    }

    /// Whether gpg holds the secret key: `gpg --list-secret-keys <fingerprint>` (no
    /// passphrase is asked for, nothing is decrypted).
    fn probe(&self, ctx: &KeyContext) -> Probe {
        let home = ctx
            .var("GNUPGHOME")
            .map(|h| format!("gpg keyring in GNUPGHOME ({h})"))
            .unwrap_or_else(|| "gpg keyring (~/.gnupg)".to_owned());
        let args = [
            "--batch",
            "--no-tty",
            "--with-colons",
            "--list-secret-keys",
            self.text.as_str(),
        ];
        let status = match run_gpg(ctx, &args, GpgInput::Public(&[]), LISTING_MAX) {
            Ok(_) => ProbeStatus::Ok("gpg has the secret key".to_owned()),
            Err(f) => ProbeStatus::Failed(KeyError::with_hint(
                format!(
                    "gpg has no secret key for {}: {}",
                    self.display_id(),
                    f.message
                ),
                "import the private key (`gpg --import`) or point GNUPGHOME at your keyring",
            )),
        };
        Probe {
            source: Some(home),
            status,
        }
    }

    fn fields(&self) -> KeyFields {
        let mut entry = KeyFields::new();
        entry.push_str("fp", self.text.as_str());
        entry
    }
}

#[cfg(test)]
mod tests;
