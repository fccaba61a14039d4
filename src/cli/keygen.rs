//! `leafseal keygen`: a new age identity in a 0600 key file, or the age recipient of an
//! existing SSH public key; both print the `.sops.yaml` snippet that uses it.

use std::path::PathBuf;

use clap::Args;

use crate::cli::Cli;
use crate::error::Error;
use crate::error::exit;
use crate::keygen;

/// Arguments of `keygen`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  leafseal keygen                             (to $SOPS_AGE_KEY_FILE or the sops default)
  leafseal keygen -o ~/keys/ci.txt            (another file; never overwritten)
  leafseal keygen --ssh ~/.ssh/id_ed25519.pub (recipient of an existing SSH key)")]
pub struct KeygenArgs {
    /// The key file to create (default: $SOPS_AGE_KEY_FILE, else sops's default
    /// ~/.config/sops/age/keys.txt). An existing file is never overwritten or appended to.
    #[arg(short = 'o', long, value_name = "FILE", conflicts_with = "ssh")]
    pub output: Option<PathBuf>,
    /// Print the age recipient of an existing SSH public key instead (default
    /// ~/.ssh/id_ed25519.pub); writes nothing.
    #[arg(long, value_name = "PUBKEY_FILE", num_args = 0..=1)]
    pub ssh: Option<Option<PathBuf>>,
    /// Output format: text, or one JSON object {"recipient", "key_file", "sops_yaml"}.
    #[arg(long, value_enum, default_value = "human")]
    pub format: KeygenFormat,
}

/// Output format of `keygen`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeygenFormat {
    /// The recipient and the `.sops.yaml` snippet, as text.
    Human,
    /// One JSON object (the secret key is never part of it).
    Json,
}

fn print_recipient(
    recipient: &str,
    key_file: Option<&std::path::Path>,
    format: KeygenFormat,
) -> Result<(), Error> {
    let snippet = keygen::policy_snippet(recipient);
    let text = match format {
        KeygenFormat::Human => format!(
            "Public key: {recipient}\n\n# .sops.yaml: encrypt every file for this key (add it to your rules' `age:` lists, comma-separated)\n{snippet}"
        ),
        KeygenFormat::Json => {
            let v = serde_json::json!({
                "recipient": recipient,
                "key_file": key_file.map(|p| p.display().to_string()),
                "sops_yaml": snippet,
            });
            format!("{v}\n")
        }
    };
    crate::io::write_stdout(text.as_bytes())
}

/// Runs `keygen`.
pub fn run(_cli: &Cli, a: &KeygenArgs) -> Result<i32, Error> {
    let ctx = crate::cli::key_context();
    if let Some(ssh) = &a.ssh {
        let path = match ssh {
            Some(p) => p.clone(),
            None => ctx
                .home()
                .map(|h| h.join(".ssh").join("id_ed25519.pub"))
                .ok_or_else(|| {
                    Error::new(
                        exit::GENERIC,
                        "HOME is not set, so there is no default SSH key",
                    )
                    .hint("name the public key file: leafseal keygen --ssh PATH.pub")
                })?,
        };
        let line = std::fs::read_to_string(&path).map_err(|e| {
            Error::new(
                exit::COULD_NOT_READ_INPUT,
                format!("cannot read {}: {e}", path.display()),
            )
            .hint("name the public key file: leafseal keygen --ssh PATH.pub")
        })?;
        let recipient =
            keygen::ssh_recipient(&line).map_err(|e| e.within(&path.display().to_string()))?;
        print_recipient(&recipient, None, a.format)?;
        return Ok(0);
    }
    let path = match &a.output {
        Some(p) => p.clone(),
        None => keygen::default_key_file(&ctx).ok_or_else(|| {
            Error::new(
                exit::GENERIC,
                "no place for the key file: HOME and XDG_CONFIG_HOME are not set",
            )
            .hint("name the file: leafseal keygen -o FILE")
        })?,
    };
    let id = keygen::generate();
    keygen::write_new_key_file(&path, &id.file_text)?;
    say!(
        "leafseal: wrote a new age identity to {} (mode 0600); keep it secret and back it up",
        path.display()
    );
    print_recipient(&id.recipient, Some(&path), a.format)?;
    Ok(0)
}
