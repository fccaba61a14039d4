//! `leafseal decrypt`.

use clap::Args;

use crate::cli;
use crate::cli::Cli;
use crate::cli::IoArgs;
use crate::error::Error;
use crate::error::exit;
use crate::keys::KeyContext;
use crate::ops;
use crate::ops::OpenOptions;
use crate::tree::Document;
use crate::tree::Value;
use crate::treepath;

/// Arguments of `decrypt`.
#[derive(Debug, Args)]
pub struct DecryptArgs {
    /// The encrypted file (`-` or nothing for standard input).
    #[arg(default_value = "-")]
    pub file: String,
    #[command(flatten)]
    io: IoArgs,
    /// Print only the value at this path, e.g. '["app"]["db"]["password"]' or '["list"][0]'.
    #[arg(long, value_name = "PATH")]
    extract: Option<String>,
    /// Decrypt even if the MAC does not match (the file may have been tampered with).
    #[arg(long)]
    ignore_mac: bool,
    /// Key types to try first, comma-separated (age, pgp, kms, gcp_kms, azure_kv, hc_vault).
    #[arg(long, env = "SOPS_DECRYPTION_ORDER", value_name = "TYPES")]
    decryption_order: Option<String>,
}

/// Runs `decrypt`.
pub fn run(cli: &Cli, a: &DecryptArgs) -> Result<i32, Error> {
    a.io.check(&a.file)?;
    let name = a.io.name(&a.file);
    let input = crate::io::read_input(&a.file)?;
    let in_fmt = cli::input_format(a.io.input_type.as_deref(), name, Some(&input))?;
    let out_fmt = match a.io.output_type.as_deref() {
        Some(t) => cli::parse_format(t)?,
        None => in_fmt,
    };
    let order = match &a.decryption_order {
        Some(s) => ops::parse_order(s)?,
        None => Vec::new(),
    };
    let loaded = in_fmt.store().load(&input).map_err(ops::read_error)?;
    let ctx = KeyContext::from_env();
    let opened = ops::open(
        loaded,
        &ctx,
        &OpenOptions {
            ignore_mac: a.ignore_mac,
            order,
        },
    )?;
    for w in &opened.warnings {
        cli::warn(w);
    }
    let policy = if a.io.indent.is_none() {
        cli::load_policy(cli.config.as_deref()).ok().flatten()
    } else {
        None
    };
    let opts = cli::emit_options(a.io.indent, policy.as_ref(), out_fmt);
    let dump = |e: crate::format::FormatError| {
        Error::new(
            exit::ERROR_DUMPING_TREE,
            format!("cannot write the decrypted file as {}: {e}", out_fmt.name()),
        )
    };
    let out = match &a.extract {
        None => out_fmt
            .store()
            .emit(&opened.doc, None, &opts)
            .map_err(dump)?,
        Some(path) => {
            let path = treepath::parse(path)?;
            let value = treepath::get(&opened.doc, &path)?;
            match value {
                Value::Str(s) => zeroize::Zeroizing::new(s.as_bytes().to_vec()),
                Value::Bytes(b) => zeroize::Zeroizing::new(b.to_vec()),
                Value::Map(m) => out_fmt
                    .store()
                    .emit(&Document::single(m.clone()), None, &opts)
                    .map_err(dump)?,
                other => out_fmt.store().emit_value(other, &opts).map_err(dump)?,
            }
        }
    };
    a.io.write(&a.file, &out)?;
    Ok(0)
}
