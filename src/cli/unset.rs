//! `leafseal unset FILE PATH`: remove one entry in place, with a minimal diff.

use std::path::Path;

use clap::Args;

use crate::cli::Cli;
use crate::cli::inplace;
use crate::cli::inplace::OpenArgs;
use crate::error::Error;
use crate::error::exit;
use crate::lifecycle;
use crate::lifecycle::splice::Change;
use crate::lifecycle::splice::SpliceOutcome;
use crate::ops;
use crate::treepath;

/// Arguments of `unset`.
#[derive(Debug, Args)]
pub struct UnsetArgs {
    /// The encrypted file (changed in place, atomically).
    pub file: String,
    /// The path to remove, e.g. '["app"]["db"]["password"]' or '["list"][0]'.
    pub path: String,
    /// Succeed without writing when the path does not exist.
    #[arg(long)]
    pub idempotent: bool,
    /// Input format (default: from the extension).
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
    /// Write the file back in this format (default: the input format), as sops does.
    #[arg(long, value_name = "TYPE")]
    pub output_type: Option<String>,
    /// Accepted as sops does; like sops, it does not change an existing file's key groups
    /// (use `groups` or `updatekeys --shamir-secret-sharing-threshold`).
    #[arg(long, value_name = "N")]
    pub shamir_secret_sharing_threshold: Option<usize>,
    #[command(flatten)]
    pub open: OpenArgs,
}

/// Runs `unset`.
pub fn run(cli: &Cli, a: &UnsetArgs) -> Result<i32, Error> {
    crate::cli::audit::expect("unset", &a.file, std::slice::from_ref(&a.path))?;
    let path = crate::cli::set::parse_path(&a.path)?;
    let dest =
        crate::cli::update(cli, Path::new(&a.file)).map_err(crate::cli::missing_unreadable)?;
    let bytes = dest.read_locked().map_err(crate::cli::missing_unreadable)?;
    let format = crate::cli::input_format(a.input_type.as_deref(), &a.file, Some(&bytes))?;
    let out_fmt = inplace::output_format(a.output_type.as_deref(), format);
    let ctx = crate::cli::key_context();
    let open_opts = a.open.options(cli)?;
    let mut recovered = None;
    if out_fmt.as_ref().is_ok_and(|f| *f == format)
        && lifecycle::reserved::check_path(format, &path).is_ok()
    {
        let change = Change::Unset(&path);
        let spliced = inplace::splice_and_write(
            cli, &dest, &bytes, format, change, &ctx, &open_opts, &a.file, "unset",
        )?;
        match spliced {
            // Written, the audit event recorded.
            SpliceOutcome::Written(_) => {
                inplace::leave_input(bytes);
                return Ok(0);
            }
            // (Only `set` finds a value already set.)
            SpliceOutcome::Unchanged { .. } => return Ok(0),
            SpliceOutcome::Declined(key) => recovered = key,
        }
    }
    let loaded = ops::read_encrypted(&bytes, &a.file, format)?;
    drop(bytes);
    lifecycle::reserved::check_path(format, &path)?;
    if let Ok(written_as) = &out_fmt {
        lifecycle::reserved::check_change(*written_as, &path, None)?;
    }
    let mut opened =
        ops::open_with_key(loaded, &ctx, &open_opts, recovered).map_err(|e| e.within(&a.file))?;
    for w in &opened.warnings {
        crate::cli::warn(&format!("{}: {w}", a.file));
    }
    let written_as = out_fmt.as_ref().map_or(format, |f| *f);
    if treepath::unset_in(written_as, &mut opened.doc, &path).is_none() {
        if a.idempotent {
            return Ok(0);
        }
        return Err(Error::new(
            exit::GENERIC,
            format!("the path was not found in {}", a.file),
        )
        .hint(
            "check the key names and list indices, or pass --idempotent to accept a missing path",
        ));
    }
    let signed = crate::signing::present(&opened.meta);
    // A value was removed: the document changed.
    let out_fmt = out_fmt?;
    let Some(meta) = lifecycle::seal_if_changed(true, &mut opened, out_fmt)? else {
        return Ok(0);
    };
    let policy = inplace::policy_for_output(cli)?;
    let out = inplace::emit(out_fmt, &opened.doc, &meta, None, policy.as_ref())?;
    crate::cli::audit::record("unset", &a.file, &opened.unwrapped_by)?;
    dest.write(&out)?;
    inplace::leave_encrypted(std::mem::take(&mut opened.doc));
    inplace::signature_dropped(&a.file, signed);
    Ok(0)
}
