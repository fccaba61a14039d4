//! The `age` key source.
//!
//! `enc` is a complete ASCII-armored age v1 file encrypted to exactly one recipient
//! (spec 7.3). Decryption tries every identity found in the sources of spec 8.1,
//! loaded once per run through [`KeyContext::cached`].

use std::io::Read;

use age::NoCallbacks;
use age::armor::ArmoredReader;
use age::plugin;
use age::ssh;
use age::x25519;
use zeroize::Zeroizing;

use crate::keys::FieldValue;
use crate::keys::KeyContext;
use crate::keys::KeyError;
use crate::keys::KeyFields;
use crate::keys::KeyKind;
use crate::keys::MasterKey;
use crate::keys::Probe;
use crate::keys::ProbeStatus;

mod command;
mod identities;
mod passphrase;
#[cfg(test)]
mod tests;

use identities::IdentityCache;

/// sops's default age key file, `<config dir>/sops/age/keys.txt` (spec 8.1), when a
/// config directory is known.
pub fn default_keys_file(ctx: &KeyContext) -> Option<std::path::PathBuf> {
    identities::default_keys_file(ctx)
}

/// The parsed form of a recipient.
#[derive(Clone)]
enum Recipient {
    /// `age1…` X25519.
    X25519(x25519::Recipient),
    /// `ssh-ed25519 …` / `ssh-rsa …`.
    Ssh(ssh::Recipient),
    /// `age1<plugin>1…`, wrapped by the `age-plugin-<plugin>` binary found on PATH.
    Plugin(plugin::Recipient),
    /// `age1tag1…`: a P-256 hardware-tag recipient (encryption is native; the identity
    /// lives in hardware and is used through a plugin).
    Tag(age::tag::Recipient),
    /// `age1tagpq1…`: the post-quantum hybrid (ML-KEM-768 + P-256) hardware-tag recipient.
    TagPq(Box<age::tagpq::Recipient>),
}

impl std::fmt::Debug for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Recipient::X25519(r) => f.debug_tuple("X25519").field(r).finish(),
            Recipient::Ssh(r) => f.debug_tuple("Ssh").field(r).finish(),
            Recipient::Plugin(r) => f.debug_tuple("Plugin").field(&r.to_string()).finish(),
            Recipient::Tag(r) => f.debug_tuple("Tag").field(r).finish(),
            Recipient::TagPq(r) => f.debug_tuple("TagPq").field(r).finish(),
        }
    }
}

/// A `age` master key: one recipient.
#[derive(Debug, Clone)]
pub struct AgeKey {
    id: String,
    /// `None` for a metadata entry whose recipient does not parse: decryption needs only
    /// the identity and the wrapped key (sops ignores the field too); encrypting for it
    /// fails with the parse error.
    recipient: Option<Recipient>,
}

impl AgeKey {
    /// Parses the command-line / policy form: an `age1…` X25519 recipient or an
    /// `ssh-ed25519 …` / `ssh-rsa …` public key line (trimmed), or an age plugin
    /// recipient `age1<plugin>1…`. Hybrid post-quantum (`age1pq1…`) recipients are
    /// rejected: the age crate does not implement them.
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        let id = s.trim();
        let recipient = parse_recipient(id)?;
        Ok(AgeKey {
            id: id.to_owned(),
            recipient: Some(recipient),
        })
    }

    /// Parses a metadata entry (`recipient`). A missing or `null` recipient is the
    /// empty one, as sops reads it (Go's zero value): decrypting needs only `enc`, a
    /// rewrite writes `recipient: ""` (as sops does), `rotate` refuses to encrypt for it
    /// and `updatekeys` shows it removed.
    pub fn from_fields(entry: &KeyFields) -> Result<Self, KeyError> {
        let id = match entry.get("recipient") {
            None | Some(FieldValue::Null) => "",
            Some(v) => v
                .as_str()
                .ok_or_else(|| KeyError::new("age entry whose `recipient` is not a string"))?,
        };
        let id = id.trim();
        let recipient = parse_recipient(id).ok();
        // Kept as the file has it, so a rewrite keeps the entry; a recipient from a file
        // anyone can edit (even one that parses: an SSH key's comment) is shown only
        // through `display_id` (round-18 and round-19 reviews).
        Ok(AgeKey {
            id: id.to_owned(),
            recipient,
        })
    }

    /// The recipient as given (trimmed), e.g. `age1…` or `ssh-ed25519 AAAA… comment`.
    pub fn recipient(&self) -> &str {
        &self.id
    }
}

fn parse_recipient(id: &str) -> Result<Recipient, KeyError> {
    if id.starts_with("ssh-") || id.starts_with("sk-ssh-") {
        return id.parse::<ssh::Recipient>().map(Recipient::Ssh).map_err(|e| {
            let why = match e {
                ssh::ParseRecipientKeyError::RsaModulusTooLarge => {
                    "the RSA key is larger than age supports".to_owned()
                }
                ssh::ParseRecipientKeyError::RsaModulusTooSmall => {
                    "the RSA key is smaller than 2048 bits".to_owned()
                }
                ssh::ParseRecipientKeyError::Unsupported(t) => {
                    format!(
                        "SSH key type {} is not supported",
                        crate::redact::display_id(&t)
                    )
                }
                _ => "not a valid SSH public key".to_owned(),
            };
            KeyError::with_hint(
                format!("invalid age SSH recipient: {why}"),
                "use an `ssh-ed25519 AAAA…` or `ssh-rsa AAAA…` public key line, or an `age1…` recipient",
            )
        });
    }
    let lower = id.to_ascii_lowercase();
    if lower.starts_with("age-secret-key-") || lower.starts_with("age-plugin-") {
        return Err(KeyError::with_hint(
            "this is an age identity (a secret key), not a recipient; it was not used, and \
             it is not shown here",
            "give the public recipient instead (`age-keygen -y keys.txt` prints it); if the \
             identity was pasted where others can see it, treat it as exposed",
        ));
    }
    if lower.starts_with("age1pq1") {
        return Err(KeyError::with_hint(
            "hybrid post-quantum age recipients (age1pq1…) are not supported: the age crate \
             leafseal is built on (0.12) does not implement them",
            "use an X25519 (`age1…`), SSH or plugin recipient",
        ));
    }
    // Hardware-tag recipients, which the age crate implements natively (age 1.3 types).
    for (prefix, pq) in [("age1tagpq1", true), ("age1tag1", false)] {
        if lower.starts_with(prefix) {
            let parsed = if pq {
                id.parse::<age::tagpq::Recipient>()
                    .map(|r| Recipient::TagPq(Box::new(r)))
            } else {
                id.parse::<age::tag::Recipient>().map(Recipient::Tag)
            };
            return parsed.map_err(|_| {
                KeyError::with_hint(
                    format!("invalid age tag recipient ({prefix}…): not a valid key"),
                    "check the recipient for typos; the hardware key's plugin prints it",
                )
            });
        }
    }
    if let Some(rest) = lower.strip_prefix("age1") {
        if let Ok(r) = id.parse::<x25519::Recipient>() {
            return Ok(Recipient::X25519(r));
        }
        // Bech32 data never contains '1': a second separator means `age1<plugin>1…`.
        if let Some((name, _)) = rest.split_once('1') {
            return id
                .parse::<plugin::Recipient>()
                .map(Recipient::Plugin)
                .map_err(|_| {
                    KeyError::with_hint(
                        format!(
                            "invalid age plugin recipient (age1{}1…): not a valid Bech32 \
                             string",
                            crate::redact::display_id(name)
                        ),
                        "check the recipient for typos; the plugin's documentation says how to \
                         print it",
                    )
                });
        }
        return Err(KeyError::with_hint(
            "invalid age recipient: not a valid age1… Bech32 string",
            "check the recipient for typos (`age-keygen -y keys.txt` prints it)",
        ));
    }
    Err(KeyError::with_hint(
        "invalid age recipient: expected `age1…`, `ssh-ed25519 …` or `ssh-rsa …`",
        "`age-keygen -y keys.txt` prints the recipient of an age identity",
    ))
}

/// The error for a plugin binary that is not on PATH.
fn plugin_missing(name: &str, id: &str) -> KeyError {
    KeyError::with_hint(
        format!(
            "cannot use the age plugin recipient {id}: `age-plugin-{name}` was not found on PATH"
        ),
        format!("install the age-plugin-{name} binary and put its directory on PATH"),
    )
}

impl MasterKey for AgeKey {
    fn kind(&self) -> KeyKind {
        KeyKind::Age
    }

    fn id(&self) -> String {
        self.id.clone()
    }

    fn wrap(&self, secret: &[u8], _ctx: &KeyContext) -> Result<String, KeyError> {
        let Some(recipient) = &self.recipient else {
            let e = parse_recipient(&self.id).err();
            return Err(KeyError::with_hint(
                format!(
                    "cannot encrypt for the age recipient in the file's metadata: {}",
                    e.map_or_else(|| "it does not parse".to_owned(), |e| e.message)
                ),
                "replace it with a valid recipient in .sops.yaml and run updatekeys, or remove it",
            ));
        };
        let armored = match recipient {
            Recipient::X25519(r) => age::encrypt_and_armor(r, secret),
            Recipient::Ssh(r) => age::encrypt_and_armor(r, secret),
            Recipient::Plugin(r) => {
                // age-core starts the plugin itself: with the process's own setting.
                crate::process::huge_pages_on();
                let name = r.plugin();
                let wrapper =
                    plugin::RecipientPluginV1::new(name, std::slice::from_ref(r), &[], NoCallbacks)
                        .map_err(|_| plugin_missing(name, &self.display_id()))?;
                age::encrypt_and_armor(&wrapper, secret)
            }
            Recipient::Tag(r) => age::encrypt_and_armor(r, secret),
            Recipient::TagPq(r) => age::encrypt_and_armor(r.as_ref(), secret),
        }
        .map_err(|e| {
            KeyError::with_hint(
                format!("age encryption to {} failed: {e}", self.display_id()),
                "for a plugin recipient, check the plugin's own messages above",
            )
        })?;
        // age writes the platform line ending; sops files always use "\n".
        Ok(armored.replace("\r\n", "\n"))
    }

    fn unwrap(&self, enc: &str, ctx: &KeyContext) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        // Tolerate surrounding whitespace and CRLF line ends around the armor.
        let mut normalized = enc.replace("\r\n", "\n").trim().to_owned();
        normalized.push('\n');
        let decryptor = age::Decryptor::new_buffered(ArmoredReader::new(normalized.as_bytes()))
            .map_err(|e| {
                KeyError::with_hint(
                    format!(
                        "the age `enc` of {} is not a valid age file: {e}",
                        self.display_id()
                    ),
                    "the metadata may have been edited or damaged",
                )
            })?;

        let cache = IdentityCache::get(ctx);
        let from_cmd = cache.for_recipient(ctx, &self.id);
        let all: Vec<&dyn age::Identity> = cache
            .base
            .identities
            .iter()
            .chain(from_cmd.identities.iter())
            .map(|i| i.as_dyn())
            .collect();
        let count = all.len();

        let failure = |what: String| -> KeyError {
            let mut report: Vec<&str> = cache.base.report.iter().map(String::as_str).collect();
            report.extend(from_cmd.report.iter().map(String::as_str));
            let mut hints: Vec<&str> = Vec::new();
            if count == 0 {
                hints.push(
                    "set SOPS_AGE_KEY_FILE to your keys.txt (or SOPS_AGE_KEY / SOPS_AGE_KEY_CMD, \
                     or SOPS_AGE_SSH_PRIVATE_KEY_FILE for an SSH key)",
                );
            } else {
                hints.push(
                    "add the identity of this recipient to SOPS_AGE_KEY_FILE, SOPS_AGE_KEY or \
                     the default key file, or decrypt with another key of the file",
                );
            }
            for h in cache.base.hints.iter().chain(from_cmd.hints.iter()) {
                if !hints.contains(h) {
                    hints.push(h);
                }
            }
            KeyError::with_hint(
                format!(
                    "cannot decrypt the age data key for {}: {what}; sources consulted: {}",
                    self.display_id(),
                    report.join("; ")
                ),
                hints.join("; "),
            )
        };

        if count == 0 {
            return Err(failure("no age identities found".to_owned()));
        }
        let mut reader = match decryptor.decrypt(all.into_iter()) {
            Ok(r) => r,
            Err(age::DecryptError::NoMatchingKeys) => {
                let tried = if count == 1 {
                    "1 identity tried".to_owned()
                } else {
                    format!("{count} identities tried")
                };
                return Err(failure(format!(
                    "no identity matched this recipient ({tried})"
                )));
            }
            Err(e) => return Err(failure(format!("age decryption failed: {e}"))),
        };
        // Reserve up front so the buffer holding the secret is not reallocated (and copied).
        let mut plain = Zeroizing::new(Vec::with_capacity(1024));
        reader.read_to_end(&mut plain).map_err(|e| {
            KeyError::with_hint(
                format!(
                    "the age `enc` of {} is damaged: {}",
                    self.display_id(),
                    e.kind()
                ),
                "the metadata may have been edited or damaged",
            )
        })?;
        Ok(plain)
    }

    /// The identity sources that loaded identities, then a round trip: a random value
    /// wrapped to this recipient and unwrapped with the identities found.
    fn probe(&self, ctx: &KeyContext) -> Probe {
        let cache = IdentityCache::get(ctx);
        let from_cmd = cache.for_recipient(ctx, &self.id);
        let found: Vec<&str> = cache
            .base
            .report
            .iter()
            .chain(from_cmd.report.iter())
            .map(String::as_str)
            .filter(|l| l.contains(" loaded"))
            .collect();
        let source = (!found.is_empty()).then(|| found.join("; "));
        let mut sample = Zeroizing::new([0u8; 32]);
        let status = match getrandom::fill(sample.as_mut_slice()) {
            Err(_) => ProbeStatus::NotChecked("no randomness for the round trip".to_owned()),
            Ok(()) => match self
                .wrap(sample.as_slice(), ctx)
                .and_then(|enc| self.unwrap(&enc, ctx))
            {
                Ok(back) if back.as_slice() == sample.as_slice() => {
                    ProbeStatus::Ok("an identity matches this recipient".to_owned())
                }
                Ok(_) => {
                    ProbeStatus::Failed(KeyError::new("the age round trip gave another value"))
                }
                Err(e) => ProbeStatus::Failed(e),
            },
        };
        Probe { source, status }
    }

    fn fields(&self) -> KeyFields {
        let mut entry = KeyFields::new();
        entry.push_str("recipient", self.id.as_str());
        entry
    }
}
