//! The command line: argument parsing, dispatch, and the only place that prints.

use std::path::Path;
use std::path::PathBuf;

use clap::Args;
use clap::Parser;
use clap::Subcommand;

use crate::error::Error;
use crate::error::exit;
use crate::format::EmitOptions;
use crate::format::Format;
use crate::io;
use crate::policy;
use crate::policy::Policy;

mod argocd;
mod check;
mod decrypt;
mod edit;
mod encrypt;
mod exec_env;
mod exec_file;
mod filestatus;
mod git;
mod groups;
mod inplace;
mod kustomize;
mod rotate;
mod set;
pub mod sops_compat;
mod unset;
mod updatekeys;

/// leafseal — encrypted secrets in git, compatible with sops.
#[derive(Debug, Parser)]
#[command(name = "leafseal", version, about, long_about = None)]
pub struct Cli {
    /// Policy file to use instead of searching for .sops.yaml from the current directory.
    #[arg(long, global = true, env = "SOPS_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Encrypt a plaintext file (leaf values only; keys, structure and order stay readable).
    Encrypt(encrypt::EncryptArgs),
    /// Decrypt a file to standard output (or --output / --in-place).
    Decrypt(decrypt::DecryptArgs),
    /// Edit an encrypted file in your editor (creates it when it does not exist).
    Edit(edit::EditArgs),
    /// Print {"encrypted":true} or {"encrypted":false} for a file.
    Filestatus(filestatus::FilestatusArgs),
    /// Check files against .sops.yaml without any private key (CI, pre-commit).
    Check(check::CheckArgs),
    /// Set one value in place, e.g. set FILE '["db"]["password"]' '"s3cret"' (VALUE is JSON).
    Set(set::SetArgs),
    /// Remove one entry in place, e.g. unset FILE '["db"]["password"]'.
    Unset(unset::UnsetArgs),
    /// Re-key a file: new data key, every value re-encrypted; --add-*/--rm-* change its keys.
    Rotate(rotate::RotateArgs),
    /// Make files' keys match the policy (.sops.yaml), keeping their data keys.
    Updatekeys(updatekeys::UpdatekeysArgs),
    /// Add or delete key groups (Shamir) of a file.
    Groups(groups::GroupsArgs),
    /// Run a command with the file's top-level values as environment variables.
    ExecEnv(exec_env::ExecEnvArgs),
    /// Run a command that reads the decrypted file from a FIFO (or temp file) given as {}.
    ExecFile(exec_file::ExecFileArgs),
    /// git integration: `setup`, and the `textconv` diff and `merge-driver` merge drivers.
    Git(git::GitArgs),
    /// kustomize/kpt secret generator: legacy exec plugin, KRM function, plugin installer.
    Kustomize(kustomize::KustomizeArgs),
    /// Argo CD config management plugin: render a manifest directory, decrypting secrets.
    Argocd(argocd::ArgocdArgs),
}

/// Input/output selection shared by the commands.
#[derive(Debug, Args, Clone)]
pub struct IoArgs {
    /// Input format: yaml, json, dotenv, ini, toml or binary (default: from the extension).
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
    /// Output format (default: the input format).
    #[arg(long, value_name = "TYPE")]
    pub output_type: Option<String>,
    /// Use this name instead of the file's for the format and the policy rules (needed for stdin).
    #[arg(long, value_name = "NAME")]
    pub filename_override: Option<String>,
    /// Write the result over the input file (atomically).
    #[arg(short = 'i', long)]
    pub in_place: bool,
    /// Write the result to this file (atomically) instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Indentation of YAML/JSON output (overrides the policy's stores settings).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub indent: Option<i64>,
}

impl IoArgs {
    /// The name used for the format and policy matching.
    pub fn name<'a>(&'a self, file: &'a str) -> &'a str {
        self.filename_override.as_deref().unwrap_or(file)
    }

    /// Checks `-i` against `--output` and stdin.
    pub fn check(&self, file: &str) -> Result<(), Error> {
        if self.in_place && self.output.is_some() {
            return Err(Error::new(
                exit::CONFLICTING_PARAMETERS,
                "--in-place and --output cannot be used together",
            ));
        }
        if self.in_place && file == "-" {
            return Err(Error::new(
                exit::CONFLICTING_PARAMETERS,
                "--in-place cannot be used with standard input",
            ));
        }
        Ok(())
    }

    /// Writes the result where the flags say.
    pub fn write(&self, file: &str, data: &[u8]) -> Result<(), Error> {
        if self.in_place {
            io::atomic_write(Path::new(file), data)
        } else if let Some(out) = &self.output {
            io::atomic_write(out, data)
        } else {
            io::write_stdout(data)
        }
    }
}

/// Parses a `--input-type`/`--output-type` value.
pub fn parse_format(name: &str) -> Result<Format, Error> {
    Format::from_name(name).ok_or_else(|| {
        Error::new(exit::GENERIC, format!("unknown file type `{name}`"))
            .hint("use one of: yaml, json, dotenv, ini, toml, binary")
    })
}

/// The input format: the flag, else the extension; a `.toml` file is read with the TOML
/// store when it holds a TOML `sops` table, else as sops's binary envelope.
pub fn input_format(flag: Option<&str>, name: &str, bytes: Option<&[u8]>) -> Result<Format, Error> {
    if let Some(f) = flag {
        return parse_format(f);
    }
    if name == "-" {
        return Ok(Format::Binary);
    }
    if name.to_ascii_lowercase().ends_with(".toml")
        && let Some(b) = bytes
        && crate::format::toml::sniff(b)
    {
        return Ok(Format::Toml);
    }
    Ok(Format::from_path(name))
}

/// Finds and loads the policy (`--config`/`SOPS_CONFIG`, else `.sops.yaml` upwards from
/// the current directory). No policy is fine.
pub fn load_policy(explicit: Option<&Path>) -> Result<Option<Policy>, Error> {
    let path = match explicit {
        Some(p) => Some(p.to_owned()),
        None => std::env::current_dir().ok().and_then(|d| policy::find(&d)),
    };
    let Some(path) = path else { return Ok(None) };
    let p = Policy::load(&path).map_err(|e| {
        Error::new(exit::GENERIC, e.to_string())
            .hint("fix the policy file, or point --config at another one")
    })?;
    for w in &p.warnings {
        warn(&format!("{}: {w}", path.display()));
    }
    Ok(Some(p))
}

/// Emit options for a format: the flag, else the policy's stores setting.
pub fn emit_options(flag: Option<i64>, policy: Option<&Policy>, format: Format) -> EmitOptions {
    EmitOptions {
        indent: flag.or_else(|| policy.and_then(|p| p.stores.indent_for(format))),
    }
}

/// Prints a warning to stderr.
pub fn warn(msg: &str) {
    eprintln!("leafseal: warning: {msg}");
}

/// Prefixes (or whole names) of the environment variables leafseal reads.
const READ_VARS: &[&str] = &[
    "SOPS_",
    "AWS_",
    "GOOGLE_",
    "GCE_",
    "CLOUDSDK_",
    "AZURE_",
    "IDENTITY_",
    "VAULT_",
    "BAO_",
    "GNUPGHOME",
    "HOME",
    "XDG_",
    "SSL_CERT_",
    "NO_PROXY",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "ALL_PROXY",
    "APPDATA",
    "PATH",
    "TMPDIR",
];

/// The key context over the process environment. Variables that are not valid UTF-8 are
/// skipped; a warning names those leafseal would have read (never their values).
pub fn key_context() -> crate::keys::KeyContext {
    let ctx = crate::keys::KeyContext::from_env();
    for name in ctx.not_utf8_vars() {
        let upper = name.to_ascii_uppercase();
        let read = |p: &&str| match p.ends_with('_') {
            true => upper.starts_with(p),
            false => upper == *p,
        };
        if READ_VARS.iter().any(read) {
            warn(&format!(
                "environment variable {name} is not valid UTF-8 and is ignored; \
                 set it to UTF-8 text if leafseal should use it"
            ));
        }
    }
    ctx
}

/// Runs the command line; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    let result = match &cli.command {
        Command::Encrypt(a) => encrypt::run(&cli, a),
        Command::Decrypt(a) => decrypt::run(&cli, a),
        Command::Filestatus(a) => filestatus::run(a),
        Command::Check(a) => check::run(&cli, a),
        Command::Edit(a) => edit::run(&cli, a),
        Command::Set(a) => set::run(&cli, a),
        Command::Unset(a) => unset::run(&cli, a),
        Command::Rotate(a) => rotate::run(&cli, a),
        Command::Updatekeys(a) => updatekeys::run(&cli, a),
        Command::Groups(a) => groups::run(&cli, a),
        Command::ExecEnv(a) => exec_env::run(&cli, a),
        Command::ExecFile(a) => exec_file::run(&cli, a),
        Command::Git(a) => git::run(&cli, a),
        Command::Kustomize(a) => kustomize::run(a),
        Command::Argocd(a) => argocd::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            report(&e);
            e.code
        }
    }
}

/// Prints an error and its hints to stderr.
pub fn report(e: &Error) {
    let mut s = format!("leafseal: error: {}", e.message.trim_end());
    for h in &e.hints {
        s.push_str("\n  hint: ");
        s.push_str(h);
    }
    eprintln!("{s}");
}
