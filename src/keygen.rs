//! `leafseal keygen`: a new age X25519 identity written to a key file (mode 0600 from the
//! moment the file exists, never over an existing file), and the age recipient of an
//! existing SSH public key. Nothing here prints: [`crate::cli`] does.

use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::path::PathBuf;

use age::secrecy::ExposeSecret;
use zeroize::Zeroizing;

use crate::error::Error;
use crate::error::exit;
use crate::keys::KeyContext;
use crate::tree::Timestamp;

/// The key file `keygen` writes to without `-o`: `$SOPS_AGE_KEY_FILE`, else sops's default
/// `<config dir>/sops/age/keys.txt` (`$XDG_CONFIG_HOME`, else `~/.config`).
pub fn default_key_file(ctx: &KeyContext) -> Option<PathBuf> {
    if let Some(p) = ctx.var("SOPS_AGE_KEY_FILE").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    crate::keys::age::default_keys_file(ctx)
}

/// A new identity: the key file's text (secret) and its recipient (`age1…`).
pub struct NewIdentity {
    /// What goes into the key file, in age-keygen's layout (comment lines, then the key).
    pub file_text: Zeroizing<String>,
    /// The public recipient.
    pub recipient: String,
}

/// Generates a new age X25519 identity.
pub fn generate() -> NewIdentity {
    let id = age::x25519::Identity::generate();
    let recipient = id.to_public().to_string();
    let secret = id.to_string();
    let file_text = Zeroizing::new(format!(
        "# created: {}\n# public key: {recipient}\n{}\n",
        Timestamp::now_utc().to_rfc3339(),
        secret.expose_secret()
    ));
    NewIdentity {
        file_text,
        recipient,
    }
}

/// Writes `text` to a new file `path`: parent directories are created with mode 0700, the
/// file is created with mode 0600 (`O_CREAT|O_EXCL`, so an existing file or a symbolic
/// link at that name is never written through or replaced).
pub fn write_new_key_file(path: &Path, text: &str) -> Result<(), Error> {
    let shown = path.display().to_string();
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.is_dir()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| {
                Error::new(
                    exit::COULD_NOT_WRITE_OUTPUT,
                    format!("cannot create the directory {}: {e}", parent.display()),
                )
                .hint("create it yourself (mode 0700), or choose another place with -o FILE")
            })?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Error::new(
                    exit::COULD_NOT_WRITE_OUTPUT,
                    format!("{shown} already exists; keygen never overwrites or appends to a key file"),
                )
                .hint("the identities in that file may still open your secrets: keep it; write the new identity elsewhere with -o FILE, then add its line to the key file yourself if you want one file")
                .hint(format!("to see the recipient of the existing file: grep 'public key' {shown}"))
            } else {
                Error::new(
                    exit::COULD_NOT_WRITE_OUTPUT,
                    format!("cannot create {shown}: {e}"),
                )
                .hint("check the directory's permissions, or choose another place with -o FILE")
            }
        })?;
    let written = f.write_all(text.as_bytes()).and_then(|()| f.sync_all());
    if let Err(e) = written {
        drop(f);
        let _ = std::fs::remove_file(path);
        return Err(Error::new(
            exit::COULD_NOT_WRITE_OUTPUT,
            format!("cannot write {shown}: {e}"),
        )
        .hint(
            "the partly written file was removed; free space or choose another place with -o FILE",
        ));
    }
    Ok(())
}

/// The age recipient of an SSH public key line (`ssh-ed25519 AAAA… comment`), in the
/// form sops and age take it: `TYPE BASE64`, the comment dropped. Files encrypted to it
/// open with the matching private key (`SOPS_AGE_SSH_PRIVATE_KEY_FILE`, or ~/.ssh/id_*).
pub fn ssh_recipient(line: &str) -> Result<String, Error> {
    let line = line
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("");
    let mut words = line.split_whitespace();
    let (Some(kind), Some(b64)) = (words.next(), words.next()) else {
        return Err(not_ssh("the file holds no `TYPE BASE64` public key line"));
    };
    if !kind.starts_with("ssh-") && !kind.starts_with("sk-ssh-") {
        return Err(not_ssh("the line is not an SSH public key"));
    }
    let recipient = format!("{kind} {b64}");
    crate::keys::age::AgeKey::parse(&recipient)
        .map_err(|e| not_ssh(&format!("the key is not usable as an age recipient: {e}")))?;
    Ok(recipient)
}

fn not_ssh(why: &str) -> Error {
    Error::new(exit::GENERIC, format!("not an SSH public key: {why}"))
        .hint("give the public key file (…/id_ed25519.pub or …/id_rsa.pub), not the private key")
}

/// The `.sops.yaml` snippet that encrypts every file for `recipient`.
pub fn policy_snippet(recipient: &str) -> String {
    format!(
        "creation_rules:\n  - path_regex: .*\n    age: >-\n      {}\n",
        recipient
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_identity_round_trips_through_age() {
        let n = generate();
        let line = n
            .file_text
            .lines()
            .find(|l| l.starts_with("AGE-SECRET-KEY-"))
            .expect("secret line");
        let id: age::x25519::Identity = line.parse().expect("identity parses");
        assert_eq!(id.to_public().to_string(), n.recipient);
        assert!(
            n.file_text
                .contains(&format!("# public key: {}", n.recipient))
        );
    }

    #[test]
    fn ssh_recipient_drops_the_comment_and_rejects_private_keys() {
        let line = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB2bJ6Nbm+Xn2QVOkR6j3WnHp7SSwqkOu3T0SXUdkfZ2 me@host\n";
        assert_eq!(
            ssh_recipient(line).expect("recipient"),
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB2bJ6Nbm+Xn2QVOkR6j3WnHp7SSwqkOu3T0SXUdkfZ2"
        );
        assert!(ssh_recipient("-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n").is_err());
        assert!(ssh_recipient("").is_err());
    }
}
