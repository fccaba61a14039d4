//! `publish`: sends encrypted files to the destinations of `.sops.yaml`'s
//! `destination_rules` (S3, GCS: the encrypted file, re-encrypted per the rule's
//! `recreation_rule`; Vault KV: the decrypted data), as sops's `publish` does.

use std::io::BufRead;
use std::io::Write;
use std::path::Path;
use std::path::PathBuf;

use clap::Args;

use crate::cli;
use crate::cli::Cli;
use crate::error::Error;
use crate::error::exit;
use crate::ops;
use crate::ops::Format;
use crate::ops::KeyContext;
use crate::ops::OpenOptions;
use crate::ops::SealPlan;
use crate::policy::Policy;
use crate::publish;
use crate::publish::Destination;

/// Arguments of `publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The encrypted file, or with --recursive a directory.
    pub file: PathBuf,
    /// Publish without asking for confirmation (otherwise each upload is confirmed on
    /// standard input).
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Drop the file extension from the destination name.
    #[arg(long)]
    pub omit_extensions: bool,
    /// Publish every file below the directory (names keep their path below it).
    #[arg(long)]
    pub recursive: bool,
    /// Accepted for sops compatibility; leafseal has no debug log.
    #[arg(long, hide = true)]
    pub verbose: bool,
    /// Key types to try first, comma-separated (age, pgp, kms, gcp_kms, azure_kv, hc_vault, hckms).
    #[arg(long, env = "SOPS_DECRYPTION_ORDER", value_name = "TYPES")]
    pub decryption_order: Option<String>,
    /// Input format: yaml, json, dotenv, ini, toml or binary (default: from the extension).
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
}

struct Run<'a> {
    a: &'a PublishArgs,
    policy: Policy,
    ctx: KeyContext,
    open: OpenOptions,
}

/// Runs `publish`.
pub fn run(cli: &Cli, a: &PublishArgs) -> Result<i32, Error> {
    let Some(policy) = cli::load_policy(cli.config.as_deref())? else {
        return Err(Error::new(
            exit::GENERIC,
            "no .sops.yaml found: publish needs its destination_rules",
        )
        .hint("run publish below the directory holding .sops.yaml, or pass --config PATH"));
    };
    let meta = std::fs::metadata(&a.file).map_err(|e| {
        Error::new(
            exit::GENERIC,
            format!("cannot read {}: {e}", a.file.display()),
        )
    })?;
    if meta.is_dir() && !a.recursive {
        return Err(Error::new(
            exit::GENERIC,
            format!(
                "{} is a directory: publishing a directory needs --recursive",
                a.file.display()
            ),
        ));
    }
    let order = match &a.decryption_order {
        Some(s) => super::decryption_order(s)?,
        None => Vec::new(),
    };
    let files = if meta.is_dir() {
        let mut out = Vec::new();
        walk(&a.file, &mut out)?;
        out
    } else {
        vec![a.file.clone()]
    };
    let run = Run {
        a,
        ctx: cli::key_context(),
        open: OpenOptions {
            order,
            strict_integrity: cli.strict_integrity || policy.strict_integrity,
            ..OpenOptions::default()
        },
        policy,
    };
    let root = a.recursive.then_some(a.file.as_path());
    for f in &files {
        run.one(f, root).map_err(|e| {
            let name = f.display().to_string();
            if e.message.starts_with(&format!("{name}: ")) {
                e
            } else {
                e.within(&name)
            }
        })?;
    }
    Ok(0)
}

/// Every file below `dir`, in lexical order (as Go's filepath.Walk); symbolic links to
/// directories are not followed.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), Error> {
    let read = |e: std::io::Error| {
        Error::new(
            exit::GENERIC,
            format!("cannot read the directory {}: {e}", dir.display()),
        )
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(read)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read)?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        if e.file_type().map_err(read)?.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

impl Run<'_> {
    fn one(&self, file: &Path, root: Option<&Path>) -> Result<(), Error> {
        let a = self.a;
        let shown = file.display().to_string();
        let rule = self.policy.destination_for(&shown).ok_or_else(|| {
            Error::new(
                exit::GENERIC,
                format!(
                    "no destination rule in {} matches {shown}",
                    self.policy.path.display()
                ),
            )
            .hint("add a destination_rules entry whose path_regex matches this path")
        })?;
        let dest = rule.destination.clone().map_err(|why| {
            Error::new(exit::GENERIC, why)
                .hint("give the rule exactly one of s3_bucket, gcs_bucket or vault_path")
        })?;
        let name = publish::destination_name(file, root, a.omit_extensions || rule.omit_extensions);
        let input = crate::io::read_input(&shown)?;
        let format = cli::input_format(a.input_type.as_deref(), &shown, Some(&input))?;
        let loaded = match ops::classify(&input, format) {
            ops::Kind::Encrypted(l) | ops::Kind::Plain(l) => l,
            ops::Kind::Unparseable(e) => return Err(ops::encrypted_read_error(e)),
        };
        // Only encrypted files are published.
        let old_meta = ops::metadata_of(&loaded)?;
        cli::audit::expect("publish", &shown, &[])?;
        let target = publish::describe(&dest, &self.ctx, &name);
        enum Payload {
            File(Vec<u8>),
            Data(zeroize::Zeroizing<Vec<u8>>),
        }
        let mut keys_used = Vec::new();
        let payload = match (&dest, &rule.recreation) {
            (Destination::Vault { .. }, _) => {
                let opened = ops::open_for_reading(loaded, &self.ctx, &self.open)?;
                warn_all(&shown, &opened.warnings);
                keys_used = opened.unwrapped_by.clone();
                Payload::Data(publish::data_json(&opened.doc)?)
            }
            (_, Some(rec)) => {
                let opened = ops::open_for_reading(loaded, &self.ctx, &self.open)?;
                warn_all(&shown, &opened.warnings);
                keys_used = opened.unwrapped_by.clone();
                let before: Vec<String> = old_meta
                    .key_groups
                    .iter()
                    .flatten()
                    .map(|k| format!("{} {}", k.key.kind().field(), k.key.display_id()))
                    .collect();
                let after: Vec<String> = rec
                    .key_groups
                    .iter()
                    .flatten()
                    .map(|k| format!("{} {}", k.kind().field(), k.display_id()))
                    .collect();
                if before != after {
                    say!("leafseal: {shown}: re-encrypting for the recreation rule's keys:");
                    for k in after.iter().filter(|k| !before.contains(k)) {
                        say!("  + {k}");
                    }
                    for k in before.iter().filter(|k| !after.contains(k)) {
                        say!("  - {k}");
                    }
                }
                let plan = SealPlan {
                    groups: rec.key_groups.clone(),
                    threshold: rec.shamir_threshold,
                    selector: rec.selector.clone(),
                    mac_only_encrypted: rec.mac_only_encrypted,
                    binary: format == Format::Binary,
                };
                let (doc, meta) = ops::seal_new(opened.doc, &plan, &self.ctx, format)?;
                let opts = cli::emit_options(None, Some(&self.policy), format);
                let out = ops::emit_encrypted(format, &doc, &meta, &opts)?;
                Payload::File(out.to_vec())
            }
            (_, None) => Payload::File(input.to_vec()),
        };
        if !a.yes && !confirm(file, &target)? {
            let msg = format!("publication of {shown} canceled");
            cli::audit::forget("publish", &shown);
            if a.recursive {
                say!("leafseal: {msg}");
                return Ok(());
            }
            return Err(Error::new(exit::GENERIC, msg));
        }
        // Before anything leaves: a required audit sink that fails stops it here.
        cli::audit::record("publish", &shown, &keys_used)?;
        match payload {
            Payload::File(bytes) => {
                publish::upload(&dest, &self.ctx, &name, bytes)?;
                say!("leafseal: published {shown} to {target}");
            }
            Payload::Data(json) => {
                match publish::vault_kv::write(&dest, &self.ctx, &name, &json)? {
                    publish::vault_kv::Outcome::Written => {
                        say!("leafseal: published {shown} to {target}");
                    }
                    publish::vault_kv::Outcome::Unchanged => {
                        say!("leafseal: {target} is already up to date");
                    }
                }
            }
        }
        Ok(())
    }
}

fn warn_all(file: &str, warnings: &[String]) {
    for w in warnings {
        cli::warn(&format!("{file}: {w}"));
    }
}

/// Asks `uploading FILE to TARGET ? (y/n): ` on standard error until the answer is `y` or
/// `n`, reading standard input (a terminal or not, as sops does). End of input is an
/// error that points at -y.
fn confirm(file: &Path, target: &str) -> Result<bool, Error> {
    let abs = std::path::absolute(file).unwrap_or_else(|_| file.to_owned());
    let stdin = std::io::stdin();
    let mut lines = stdin.lock();
    loop {
        say_inline!("uploading {} to {target} ? (y/n): ", abs.display());
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        let n = lines
            .read_line(&mut line)
            .map_err(|e| Error::new(exit::GENERIC, format!("cannot read the answer: {e}")))?;
        if n == 0 {
            say!();
            return Err(Error::new(
                exit::GENERIC,
                "no answer to the confirmation question: standard input is closed",
            )
            .hint("answer y or n, or pass -y (--yes) to publish without asking"));
        }
        match line.trim() {
            "y" => return Ok(true),
            "n" => return Ok(false),
            _ => {}
        }
    }
}
