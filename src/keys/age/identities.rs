//! Loading age identities from every source of spec 8.1, once per run.
//!
//! Secrets are read into wiped buffers and parsed straight into the `age` crate's secret
//! types. The load report names sources and outcomes only (paths, counts, line numbers,
//! error kinds), never any content.

use std::collections::HashMap;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;

use age::NoCallbacks;
use age::plugin;
use age::ssh;
use age::x25519;
use zeroize::Zeroizing;

use super::command::run_command;
use super::passphrase;
use crate::keys::KeyContext;

/// One usable identity.
pub(super) enum AgeIdentity {
    /// `AGE-SECRET-KEY-1…`.
    X25519(x25519::Identity),
    /// An unencrypted OpenSSH / PEM private key.
    Ssh(ssh::Identity),
    /// `AGE-PLUGIN-<NAME>-1…`, unwrapped by the `age-plugin-<name>` binary on PATH.
    Plugin(plugin::IdentityPluginV1<NoCallbacks>),
}

impl AgeIdentity {
    pub(super) fn as_dyn(&self) -> &dyn age::Identity {
        match self {
            AgeIdentity::X25519(i) => i,
            AgeIdentity::Ssh(i) => i,
            AgeIdentity::Plugin(i) => i,
        }
    }
}

/// Identities loaded from one or more sources, with a per-source report.
#[derive(Default)]
pub(super) struct Loaded {
    /// The usable identities.
    pub(super) identities: Vec<AgeIdentity>,
    /// `source: outcome` lines, in the order the sources were consulted.
    pub(super) report: Vec<String>,
    /// Things the user could do about skipped identities (deduplicated).
    pub(super) hints: Vec<&'static str>,
}

impl Loaded {
    fn note(&mut self, source: &str, outcome: impl AsRef<str>) {
        self.report.push(format!("{source}: {}", outcome.as_ref()));
    }

    fn hint(&mut self, hint: &'static str) {
        if !self.hints.contains(&hint) {
            self.hints.push(hint);
        }
    }
}

/// The per-run cache kept in the [`KeyContext`]: the recipient-independent sources,
/// and the `SOPS_AGE_KEY_CMD` output per recipient (the command sees the recipient).
pub(super) struct IdentityCache {
    pub(super) base: Loaded,
    by_recipient: Mutex<HashMap<String, Arc<Loaded>>>,
}

impl IdentityCache {
    /// The cache of this run, loading the recipient-independent sources on first use.
    pub(super) fn get(ctx: &KeyContext) -> Arc<IdentityCache> {
        ctx.cached(|| IdentityCache {
            base: load_base(ctx),
            by_recipient: Mutex::new(HashMap::new()),
        })
    }

    /// The identities `SOPS_AGE_KEY_CMD` gives for `recipient` (run once per recipient).
    pub(super) fn for_recipient(&self, ctx: &KeyContext, recipient: &str) -> Arc<Loaded> {
        if let Ok(map) = self.by_recipient.lock()
            && let Some(l) = map.get(recipient)
        {
            return Arc::clone(l);
        }
        let loaded = Arc::new(load_key_cmd(ctx, recipient));
        // A command the key services' deadline may have cut short is run again for the
        // next decryption of the run (it has a deadline of its own), not failed from here.
        if crate::keys::deadline::passed() {
            return loaded;
        }
        if let Ok(mut map) = self.by_recipient.lock() {
            map.insert(recipient.to_owned(), Arc::clone(&loaded));
        }
        loaded
    }
}

const HINT_ENCRYPTED_SSH: &str = "to use a passphrase-protected SSH key, set \
     LEAFSEAL_AGE_PASSPHRASE_CMD to a command that prints its passphrase (e.g. \
     `pass show ssh/id_ed25519`), or name the key in SOPS_AGE_SSH_PRIVATE_KEY_FILE and run \
     leafseal from a terminal to be asked for it";
const HINT_ENCRYPTED_FILE: &str = "to use a passphrase-protected (age-encrypted) identity \
     file, set LEAFSEAL_AGE_PASSPHRASE_CMD to a command that prints its passphrase, run \
     leafseal from a terminal to be asked for it, or use SOPS_AGE_KEY_CMD with a command \
     that prints the identities";
const HINT_WRONG_PASSPHRASE: &str = "check the passphrase; with LEAFSEAL_AGE_PASSPHRASE_CMD, \
     check what it prints (its output, minus one trailing newline, is the passphrase; \
     LEAFSEAL_AGE_PASSPHRASE_FOR tells it which file is being unlocked)";
const HINT_PQ: &str = "hybrid post-quantum identities (AGE-SECRET-KEY-PQ-1…) are not \
     supported yet: decrypt with an X25519 or SSH identity of another recipient of the file";
const HINT_PLUGIN: &str = "an age plugin identity (AGE-PLUGIN-<NAME>-1…) needs the \
     `age-plugin-<name>` binary on PATH: install it, or decrypt with another key of the file";

/// Loads every recipient-independent source of spec 8.1.
fn load_base(ctx: &KeyContext) -> Loaded {
    let mut out = Loaded::default();

    // 1. SSH keys.
    match ctx.var("SOPS_AGE_SSH_PRIVATE_KEY_FILE") {
        Some(path) => load_ssh_file(
            ctx,
            &mut out,
            &format!("SOPS_AGE_SSH_PRIVATE_KEY_FILE ({path})"),
            Path::new(path),
            true,
        ),
        None => out.note("SOPS_AGE_SSH_PRIVATE_KEY_FILE", "not set"),
    }
    match ctx.var("SOPS_AGE_SSH_PRIVATE_KEY_CMD") {
        Some(cmd) => {
            let source = "SOPS_AGE_SSH_PRIVATE_KEY_CMD";
            match run_command(cmd, ctx, &[]) {
                Ok(bytes) => parse_ssh(ctx, &mut out, source, &bytes, true),
                Err(e) => out.note(source, e),
            }
        }
        None => out.note("SOPS_AGE_SSH_PRIVATE_KEY_CMD", "not set"),
    }
    match ctx.home() {
        Some(home) => {
            for name in ["id_ed25519", "id_rsa"] {
                let path = home.join(".ssh").join(name);
                let source = path.display().to_string();
                load_ssh_file(ctx, &mut out, &source, &path, false);
            }
        }
        None => out.note("~/.ssh/id_ed25519, ~/.ssh/id_rsa", "HOME not set"),
    }

    // 2. SOPS_AGE_KEY.
    match ctx.var("SOPS_AGE_KEY") {
        Some(text) => parse_identities(ctx, &mut out, "SOPS_AGE_KEY", text.as_bytes()),
        None => out.note("SOPS_AGE_KEY", "not set"),
    }

    // 3. SOPS_AGE_KEY_FILE.
    match ctx.var("SOPS_AGE_KEY_FILE") {
        Some(path) => load_identity_file(
            ctx,
            &mut out,
            &format!("SOPS_AGE_KEY_FILE ({path})"),
            Path::new(path),
        ),
        None => out.note("SOPS_AGE_KEY_FILE", "not set"),
    }

    // 4. SOPS_AGE_KEY_CMD runs per recipient (see `load_key_cmd`).

    // 5. The default keys.txt.
    match default_keys_file(ctx) {
        Some(path) => {
            let source = format!("default key file ({})", path.display());
            load_identity_file(ctx, &mut out, &source, &path);
        }
        None => out.note("default key file", "no config directory (HOME not set)"),
    }
    out
}

/// Runs `SOPS_AGE_KEY_CMD` (if set) with `SOPS_AGE_RECIPIENT=<recipient>`.
fn load_key_cmd(ctx: &KeyContext, recipient: &str) -> Loaded {
    let mut out = Loaded::default();
    let source = "SOPS_AGE_KEY_CMD";
    match ctx.var(source) {
        Some(cmd) => match run_command(cmd, ctx, &[("SOPS_AGE_RECIPIENT", recipient)]) {
            Ok(bytes) => parse_identities(ctx, &mut out, source, &bytes),
            Err(e) => out.note(source, e),
        },
        None => out.note(source, "not set"),
    }
    out
}

/// `<user config dir>/sops/age/keys.txt` as in spec 8.1.
pub(super) fn default_keys_file(ctx: &KeyContext) -> Option<PathBuf> {
    let config_dir = if cfg!(windows) {
        ctx.var("AppData")
            .or_else(|| ctx.var("APPDATA"))
            .map(PathBuf::from)
    } else if let Some(xdg) = ctx.var("XDG_CONFIG_HOME") {
        Some(PathBuf::from(xdg))
    } else if cfg!(target_os = "macos") {
        ctx.home()
            .map(|h| h.join("Library").join("Application Support"))
    } else {
        ctx.home().map(|h| h.join(".config"))
    };
    config_dir.map(|d| d.join("sops").join("age").join("keys.txt"))
}

/// Reads a file into a wiped buffer; `Err` is a content-free outcome.
fn read_secret_file(path: &Path, required: bool) -> Result<Zeroizing<Vec<u8>>, String> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Zeroizing::new(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(if required {
            "file not found".to_owned()
        } else {
            "not present".to_owned()
        }),
        Err(e) => Err(format!("unreadable ({})", e.kind())),
    }
}

fn load_ssh_file(ctx: &KeyContext, out: &mut Loaded, source: &str, path: &Path, required: bool) {
    match read_secret_file(path, required) {
        Ok(bytes) => parse_ssh(ctx, out, source, &bytes, required),
        Err(e) => out.note(source, e),
    }
}

fn parse_ssh(ctx: &KeyContext, out: &mut Loaded, source: &str, bytes: &[u8], may_prompt: bool) {
    match ssh::Identity::from_buffer(bytes, Some(source.to_owned())) {
        Ok(ssh::Identity::Unencrypted(key)) => {
            out.identities
                .push(AgeIdentity::Ssh(ssh::Identity::Unencrypted(key)));
            out.note(source, "SSH key loaded");
        }
        Ok(ssh::Identity::Encrypted(key)) => {
            match passphrase::passphrase_for(ctx, source, may_prompt) {
                Ok(Some(pass)) => match key.decrypt(pass) {
                    Ok(plain) => {
                        out.identities
                            .push(AgeIdentity::Ssh(ssh::Identity::Unencrypted(plain)));
                        out.note(source, "passphrase-protected SSH key unlocked and loaded");
                    }
                    Err(_) => {
                        out.note(
                            source,
                            "SSH key is protected by a passphrase, and the passphrase given did \
                         not unlock it, skipped",
                        );
                        out.hint(HINT_WRONG_PASSPHRASE);
                    }
                },
                Ok(None) => {
                    out.note(source, "SSH key is protected by a passphrase, skipped");
                    out.hint(HINT_ENCRYPTED_SSH);
                }
                Err(e) => {
                    out.note(
                        source,
                        format!("SSH key is protected by a passphrase; {e}; skipped"),
                    );
                    out.hint(HINT_ENCRYPTED_SSH);
                }
            }
        }
        Ok(ssh::Identity::Unsupported(kind)) => {
            let why = match kind {
                ssh::UnsupportedKey::EncryptedPem => "encrypted PEM key".to_owned(),
                ssh::UnsupportedKey::EncryptedSsh(cipher) => {
                    format!("key encrypted with unsupported cipher {cipher}")
                }
                ssh::UnsupportedKey::Hardware(t) => format!("hardware key type {t}"),
                ssh::UnsupportedKey::Type(t) => format!("key type {t}"),
            };
            out.note(source, format!("unsupported SSH key ({why}), skipped"));
        }
        Err(_) => out.note(source, "not an SSH private key age can use, skipped"),
    }
}

fn load_identity_file(ctx: &KeyContext, out: &mut Loaded, source: &str, path: &Path) {
    match read_secret_file(path, true) {
        Ok(bytes) => parse_identities(ctx, out, source, &bytes),
        Err(e) => out.note(source, e),
    }
}

/// An age file (binary or armored), i.e. an identity file protected by a passphrase.
fn is_age_file(bytes: &[u8]) -> bool {
    let start = bytes.trim_ascii_start();
    start.starts_with(b"age-encryption.org/") || start.starts_with(b"-----BEGIN AGE")
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

/// Parses an identities text: one or more identities per line (whitespace separated),
/// blank lines and `#` lines ignored.
fn parse_identities(ctx: &KeyContext, out: &mut Loaded, source: &str, bytes: &[u8]) {
    let may_prompt = true;
    if is_age_file(bytes) {
        match passphrase::passphrase_for(ctx, source, may_prompt) {
            Ok(Some(pass)) => match passphrase::decrypt_identity_file(bytes, pass) {
                Ok(plain) if !is_age_file(&plain) => {
                    let inner = format!("{source}, unlocked with its passphrase");
                    parse_identities(ctx, out, &inner, &plain);
                }
                Ok(_) => out.note(source, "is age-encrypted twice, skipped"),
                Err(e) => {
                    out.note(
                        source,
                        format!("is passphrase-protected (age-encrypted): {e}, skipped"),
                    );
                    out.hint(HINT_WRONG_PASSPHRASE);
                }
            },
            Ok(None) => {
                out.note(
                    source,
                    "is passphrase-protected (age-encrypted) and no passphrase source is \
                     set (LEAFSEAL_AGE_PASSPHRASE_CMD unset, stdin not a terminal), skipped",
                );
                out.hint(HINT_ENCRYPTED_FILE);
            }
            Err(e) => {
                out.note(
                    source,
                    format!("is passphrase-protected (age-encrypted); {e}; skipped"),
                );
                out.hint(HINT_ENCRYPTED_FILE);
            }
        }
        return;
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        out.note(source, "not UTF-8 text, skipped");
        return;
    };
    let mut loaded = 0usize;
    let mut problems = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        for token in line.split_whitespace() {
            if starts_with_ignore_case(token, "AGE-SECRET-KEY-PQ-") {
                problems.push(format!(
                    "line {}: hybrid post-quantum identity not supported yet",
                    n + 1
                ));
                out.hint(HINT_PQ);
            } else if starts_with_ignore_case(token, "AGE-PLUGIN-") {
                match token.parse::<plugin::Identity>() {
                    Ok(id) => {
                        // age-core starts the plugin when it unwraps: with the
                        // process's own setting (`crate::process`).
                        crate::process::huge_pages_on();
                        let name = id.plugin().to_owned();
                        match plugin::IdentityPluginV1::new(&name, &[id], NoCallbacks) {
                            Ok(p) => {
                                out.identities.push(AgeIdentity::Plugin(p));
                                loaded += 1;
                            }
                            Err(_) => {
                                problems.push(format!(
                                    "line {}: plugin identity skipped, `age-plugin-{name}` \
                                     not found on PATH",
                                    n + 1
                                ));
                                out.hint(HINT_PLUGIN);
                            }
                        }
                    }
                    Err(_) => {
                        problems.push(format!("line {}: not a valid age plugin identity", n + 1))
                    }
                }
            } else {
                match token.parse::<x25519::Identity>() {
                    Ok(id) => {
                        out.identities.push(AgeIdentity::X25519(id));
                        loaded += 1;
                    }
                    Err(_) => problems.push(format!("line {}: not an age identity", n + 1)),
                }
            }
        }
    }
    let mut outcome = match loaded {
        0 => "no usable identity".to_owned(),
        1 => "1 identity loaded".to_owned(),
        n => format!("{n} identities loaded"),
    };
    for p in group_problems(&problems) {
        outcome.push_str(", ");
        outcome.push_str(&p);
    }
    out.note(source, outcome);
}

/// The problems of an identity file, one entry per kind of problem with the lines it
/// was found on (a line with several bad words, or a file that is no key file at all, is
/// not listed word by word): `line 3: not an age identity`, `lines 2, 3, 5: …`, and past
/// five lines `lines 2, 3, 4, 5, 6 and 9 more: …`.
pub(super) fn group_problems(problems: &[String]) -> Vec<String> {
    let mut kinds: Vec<(&str, Vec<&str>)> = Vec::new();
    for p in problems {
        let Some((line, what)) = p.strip_prefix("line ").and_then(|r| r.split_once(": ")) else {
            kinds.push((p.as_str(), Vec::new()));
            continue;
        };
        match kinds.iter_mut().find(|(w, _)| *w == what) {
            Some((_, lines)) if lines.last() == Some(&line) => {}
            Some((_, lines)) => lines.push(line),
            None => kinds.push((what, vec![line])),
        }
    }
    kinds
        .into_iter()
        .map(|(what, lines)| match lines.as_slice() {
            [] => what.to_owned(),
            [one] => format!("line {one}: {what}"),
            _ if lines.len() <= 5 => format!("lines {}: {what}", lines.join(", ")),
            _ => format!(
                "lines {} and {} more: {what}",
                lines.get(..5).unwrap_or_default().join(", "),
                lines.len() - 5
            ),
        })
        .collect()
}
