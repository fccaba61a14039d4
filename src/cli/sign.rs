//! `leafseal sign FILE` and `leafseal verify FILE...`: SSH signatures over a file's
//! encrypted state (see [`crate::signing`]), and the signature check `decrypt` and
//! `check` share.

use std::path::Path;
use std::path::PathBuf;

use clap::Args;

use crate::cli;
use crate::cli::Cli;
use crate::cli::inplace;
use crate::error::Error;
use crate::error::exit;
use crate::metadata::Metadata;
use crate::ops;
use crate::ops::Document;
use crate::ops::KeyContext;
use crate::signing;
use crate::signing::Verdict;

/// Arguments of `sign`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  leafseal sign --key ~/.ssh/id_ed25519 secrets/app.yaml
  LEAFSEAL_SIGNING_KEY=~/.ssh/id_ed25519 leafseal sign secrets/db.yaml")]
pub struct SignArgs {
    /// The encrypted file to sign (in place; only its `leafseal_signature` field changes).
    pub file: String,
    /// SSH key to sign with: a private key, or a public key whose private half is in
    /// ssh-agent (default: LEAFSEAL_SIGNING_KEY, else git's user.signingkey when
    /// gpg.format is ssh).
    #[arg(long, value_name = "PATH")]
    pub key: Option<PathBuf>,
    /// Input format (default: from the extension).
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
    #[command(flatten)]
    pub open: inplace::OpenArgs,
}

/// Arguments of `verify`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  leafseal verify secrets/app.yaml          (allowed signers from .sops.yaml)
  leafseal verify --allowed-signers .allowed_signers --format json secrets/*.yaml")]
pub struct VerifyArgs {
    /// Encrypted files to check.
    #[arg(required = true)]
    pub files: Vec<String>,
    /// Allowed-signers file (git's format) instead of `leafseal.allowed_signers` in .sops.yaml.
    #[arg(long, value_name = "PATH")]
    pub allowed_signers: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: super::check::OutputFormat,
}

fn sign_error(e: signing::SignError) -> Error {
    Error::new(exit::SIGNATURE, e.message)
}

/// Runs `sign`: opens the file's data key, checks the MAC and integrity record (writing
/// a record when there is none), signs, and writes the file back with the signature.
pub fn run_sign(cli: &Cli, a: &SignArgs) -> Result<i32, Error> {
    if a.open.ignore_mac {
        return Err(Error::new(
            exit::CONFLICTING_PARAMETERS,
            "sign does not take --ignore-mac: a signature vouches for a file whose MAC was checked",
        )
        .hint("restore the file from version control, or re-save it after checking it (`leafseal edit`), then sign it"));
    }
    let dest = cli::update(cli, Path::new(&a.file))?;
    let target = inplace::read_target(&a.file, a.input_type.as_deref(), Some(&dest))?;
    let ctx = crate::cli::key_context();
    // Open a copy completely (data key, every value, MAC, integrity record): nobody
    // signs a state that was already tampered with.
    let (mut meta, warnings) = ops::open_to_sign(&target.loaded, &ctx, &a.open.options(cli)?)
        .map_err(|e| e.within(&a.file))?;
    for w in &warnings {
        cli::warn(&format!("{}: {w}", a.file));
    }
    let scratch = tempfile::Builder::new()
        .prefix("leafseal-sign")
        .tempdir()
        .map_err(|e| {
            Error::new(
                exit::GENERIC,
                format!("cannot create a temporary directory: {e}"),
            )
        })?;
    let (key_path, from) = signing::signing_key(a.key.as_deref(), &ctx, scratch.path())
        .map_err(|e| sign_error(e).hint("generate one with `ssh-keygen -t ed25519`, and list its public key in the allowed-signers file named by .sops.yaml"))?;
    let value = signing::sign(&target.loaded.doc, &meta, &key_path, &ctx).map_err(|e| {
        sign_error(e).hint(format!("the key came from {from}; check that the file exists and is an SSH key (or that ssh-agent holds it)"))
    })?;
    signing::store(&mut meta, value);
    let policy = inplace::policy_for_output(cli)?;
    let out = inplace::emit(
        target.format,
        &target.loaded.doc,
        &meta.to_map(),
        None,
        policy.as_ref(),
    )?;
    dest.write(&out)?;
    inplace::note(&format!(
        "{}: signed with {} (namespace `{}`)",
        a.file,
        key_path.display(),
        signing::NAMESPACE
    ));
    Ok(0)
}

/// The allowed-signers file for a run: the flag, else the policy's.
fn allowed_signers(flag: Option<&Path>, cli: &Cli) -> Result<PathBuf, Error> {
    let policy = cli::load_policy(cli.config.as_deref())?;
    signing::allowed_signers_path(flag, policy.as_ref()).ok_or_else(|| {
        Error::new(exit::SIGNATURE, "no allowed-signers file to check signatures against")
            .hint("pass --allowed-signers PATH, or set `leafseal: {allowed_signers: PATH}` in .sops.yaml (git's allowed-signers format: `PRINCIPAL KEYTYPE KEY` per line)")
    })
}

/// Checks one file without any key.
fn verify_file(file: &str, allowed: &Path, ctx: &KeyContext) -> Result<Verdict, Error> {
    let target = inplace::read_target(file, None, None)?;
    let meta = ops::metadata_of(&target.loaded)?;
    signing::verify(&target.loaded.doc, &meta, allowed, ctx).map_err(sign_error)
}

/// Runs `verify`; exit 0 when every file is validly signed by an allowed signer, else 54.
pub fn run_verify(cli: &Cli, a: &VerifyArgs) -> Result<i32, Error> {
    let allowed = allowed_signers(a.allowed_signers.as_deref(), cli)?;
    let ctx = crate::cli::key_context();
    let mut bad = 0;
    let mut rows = Vec::new();
    for f in &a.files {
        let (status, detail, principal) = match verify_file(f, &allowed, &ctx) {
            Ok(v) => {
                let status = match &v {
                    Verdict::Valid { .. } => "valid",
                    Verdict::Unsigned => "unsigned",
                    Verdict::UnknownSigner { .. } => "unknown-signer",
                    Verdict::Invalid { .. } => "invalid",
                };
                let principal = match &v {
                    Verdict::Valid { principal, .. } => Some(principal.clone()),
                    _ => None,
                };
                (status, v.describe(), principal)
            }
            Err(e) => ("error", e.message, None),
        };
        if status != "valid" {
            bad += 1;
        }
        rows.push((f.clone(), status, detail, principal));
    }
    let out = match a.format {
        super::check::OutputFormat::Human => {
            let mut s = String::new();
            for (f, _, detail, _) in &rows {
                s.push_str(&format!("{f}: {detail}\n"));
            }
            if bad > 0 {
                s.push_str(&format!(
                    "leafseal verify: {bad} of {} file(s) not validly signed by an allowed signer\n",
                    rows.len()
                ));
            }
            s
        }
        super::check::OutputFormat::Json => {
            let files: Vec<serde_json::Value> = rows
                .iter()
                .map(|(f, status, detail, principal)| {
                    serde_json::json!({"file": f, "status": status, "detail": detail, "principal": principal})
                })
                .collect();
            format!(
                "{}\n",
                serde_json::json!({"files": files, "allowed_signers": allowed.display().to_string()})
            )
        }
    };
    crate::io::write_stdout(out.as_bytes())?;
    Ok(if bad > 0 { exit::SIGNATURE } else { 0 })
}

/// The signature settings for reading a file: where the allowed signers are and whether a
/// signature is required.
#[derive(Debug, Clone, Default)]
pub struct ReadCheck {
    /// The allowed-signers file, if any is configured.
    pub allowed: Option<PathBuf>,
    /// `leafseal.require_signed`.
    pub required: bool,
}

impl ReadCheck {
    /// From the policy.
    pub fn from_policy(policy: Option<&crate::policy::Policy>) -> ReadCheck {
        ReadCheck {
            allowed: policy.and_then(|p| p.allowed_signers.clone()),
            required: policy.is_some_and(|p| p.require_signed),
        }
    }

    /// Whether [`ReadCheck::check`] has anything to check for a file with this metadata
    /// (it needs the whole encrypted tree then).
    pub fn needs_tree(&self, meta: &Metadata) -> bool {
        self.required || signing::present(meta)
    }

    /// `decrypt`'s check before anything is decrypted: a bad signature is a warning, or an
    /// error under `require_signed`; an unsigned file is an error only under it.
    pub fn check(
        &self,
        name: &str,
        doc: &Document,
        meta: &Metadata,
        ctx: &KeyContext,
    ) -> Result<(), Error> {
        if !self.required && !signing::present(meta) {
            return Ok(());
        }
        let verdict = match &self.allowed {
            Some(allowed) => signing::verify(doc, meta, allowed, ctx).map_err(sign_error),
            None => Err(Error::new(
                exit::SIGNATURE,
                "no allowed-signers file is configured, so the signature cannot be checked",
            )),
        };
        let problem = match verdict {
            Ok(Verdict::Valid { .. }) => return Ok(()),
            Ok(Verdict::Unsigned) => "the file is not signed".to_owned(),
            Ok(v) => v.describe(),
            Err(e) if self.required => e.message,
            // Nothing configured to check against and nothing required: stay quiet.
            Err(_) if self.allowed.is_none() => return Ok(()),
            Err(e) => e.message,
        };
        if self.required {
            return Err(Error::new(
                exit::SIGNATURE,
                format!("{name}: {problem}, and .sops.yaml requires signed files (leafseal.require_signed); nothing was decrypted"),
            )
            .hint(format!("run `leafseal verify {name}` for details; if the current state is trusted, a person listed in the allowed-signers file signs it with `leafseal sign {name}`")));
        }
        cli::warn(&format!(
            "{name}: {problem}; run `leafseal verify {name}` for details"
        ));
        Ok(())
    }
}
