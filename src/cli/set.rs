//! `leafseal set FILE PATH VALUE`: change one value in place, with a minimal diff.

use std::path::Path;

use clap::Args;
use zeroize::Zeroizing;

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

/// Arguments of `set`.
#[derive(Debug, Args)]
pub struct SetArgs {
    /// The encrypted file (changed in place, atomically).
    pub file: String,
    /// The path, e.g. '["app"]["db"]["password"]' or '["list"][0]'; missing steps are created.
    pub path: String,
    /// The value as JSON: '"text"', 5 (stored as a float, as sops does), true, null,
    /// '{"a":1}'; with --value-file, the file holding the JSON value.
    #[arg(allow_hyphen_values = true)]
    pub value: Option<String>,
    /// Read the JSON value from standard input (no VALUE argument).
    #[arg(long)]
    pub value_stdin: bool,
    /// VALUE is a file to read the JSON value from, as in sops (keeps the secret out of
    /// process listings).
    #[arg(long)]
    pub value_file: bool,
    /// Do not write when the value is already set (leafseal never rewrites an unchanged
    /// file; accepted for sops compatibility).
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

/// Parses a `set`/`unset` path; a bad path is an invalid set format (exit 7) as in sops.
pub(crate) fn parse_path(s: &str) -> Result<Vec<treepath::Step>, Error> {
    treepath::parse(s).map_err(|mut e| {
        e.code = exit::INVALID_SET_FORMAT;
        e
    })
}

fn read_value(a: &SetArgs) -> Result<Zeroizing<Vec<u8>>, Error> {
    if a.value_stdin && a.value_file {
        return Err(Error::new(
            exit::CONFLICTING_PARAMETERS,
            "--value-stdin and --value-file cannot be used together",
        )
        .hint("with --value-file, VALUE names the file holding the JSON value"));
    }
    if a.value_stdin && a.value.is_some() {
        // sops counts the arguments (FILE and PATH with --value-stdin): exit 100.
        return Err(Error::new(
            exit::NO_FILE_SPECIFIED,
            "give the value once: as an argument or with --value-stdin",
        )
        .hint(r#"with --value-stdin: leafseal set --value-stdin FILE '["key"]' < value.json"#));
    }
    if a.value_file {
        let Some(f) = &a.value else {
            return Err(Error::new(
                exit::NO_FILE_SPECIFIED,
                "--value-file needs VALUE: the file holding the JSON value",
            )
            .hint(r#"leafseal set --value-file FILE '["key"]' value.json"#));
        };
        // sops: a value file it cannot read is a plain error (1), not a missing input.
        return read_given(Some(f), None, false, "").map_err(|mut e| {
            if e.code == exit::NO_FILE_SPECIFIED {
                e.code = exit::GENERIC;
            }
            e
        });
    }
    if a.value.is_none() && !a.value_stdin {
        // sops: set needs FILE, PATH and VALUE; one missing is its exit 100.
        return Err(Error::new(
            exit::NO_FILE_SPECIFIED,
            "no value given: set takes FILE, PATH and VALUE",
        )
        .hint(r#"leafseal set FILE '["key"]' '"value"' (the value is JSON), or use --value-stdin / --value-file"#));
    }
    read_given(
        None,
        a.value.as_deref(),
        a.value_stdin,
        r#"leafseal set FILE '["key"]' '"value"' (the value is JSON), or use --value-stdin / --value-file"#,
    )
}

/// The value's bytes from the one source given (the caller has refused two): a file
/// named `file`, the argument `inline` itself, or standard input; `usage` is the hint
/// when none was given. Shared by `set` and `contribute`.
pub(crate) fn read_given(
    file: Option<&str>,
    inline: Option<&str>,
    stdin: bool,
    usage: &str,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    if let Some(f) = file {
        return crate::io::read_input(f);
    }
    if let Some(v) = inline {
        return Ok(Zeroizing::new(v.as_bytes().to_vec()));
    }
    if stdin {
        // Bounded as every input of unknown size is (`io::MAX_UNSIZED_INPUT`).
        return crate::io::read_input("-");
    }
    Err(Error::new(exit::INVALID_SET_FORMAT, "no value given").hint(usage))
}

/// Runs `set`.
pub fn run(cli: &Cli, a: &SetArgs) -> Result<i32, Error> {
    crate::cli::audit::expect("set", &a.file, std::slice::from_ref(&a.path))?;
    let path = parse_path(&a.path)?;
    let value = lifecycle::parse_set_value(&read_value(a)?)?;
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
        let change = Change::Set(&path, &value);
        let spliced = inplace::splice_and_write(
            cli, &dest, &bytes, format, change, &ctx, &open_opts, &a.file, "set",
        )?;
        match spliced {
            // Written, the audit event recorded.
            SpliceOutcome::Written(_) => {
                inplace::leave_input(bytes);
                return Ok(0);
            }
            SpliceOutcome::Unchanged { .. } => {
                if !a.idempotent {
                    already_set(&a.file);
                }
                return Ok(0);
            }
            SpliceOutcome::Declined(key) => recovered = key,
        }
    }
    let loaded = ops::read_encrypted(&bytes, &a.file, format)?;
    drop(bytes);
    lifecycle::reserved::check_path(format, &path)?;
    if let Ok(written_as) = &out_fmt {
        lifecycle::reserved::check_change(*written_as, &path, Some(&value))?;
    }
    let mut opened =
        ops::open_with_key(loaded, &ctx, &open_opts, recovered).map_err(|e| e.within(&a.file))?;
    for w in &opened.warnings {
        crate::cli::warn(&format!("{}: {w}", a.file));
    }
    // Only the value at the path can change: it alone is compared, no copy of the
    // whole document is kept.
    let changed = treepath::get(&opened.doc, &path).map_or(true, |old| *old != value);
    treepath::set(&mut opened.doc, &path, value)?;
    let signed = crate::signing::present(&opened.meta);
    let out_fmt = out_fmt?;
    let meta = match lifecycle::seal_if_changed(changed, &mut opened, out_fmt)? {
        Some(meta) => meta,
        // The value is already set, but --output-type asks for another format: written
        // (as sops does, unless --idempotent).
        None if out_fmt != format && !a.idempotent => ops::reseal(
            &mut opened.doc,
            &mut opened.meta,
            &opened.key,
            Some(&opened.stash),
            out_fmt,
        )?,
        None => {
            if !a.idempotent {
                already_set(&a.file);
            }
            return Ok(0);
        }
    };
    let policy = inplace::policy_for_output(cli)?;
    let out = inplace::emit(out_fmt, &opened.doc, &meta, None, policy.as_ref())?;
    crate::cli::audit::record("set", &a.file, &opened.unwrapped_by)?;
    dest.write(&out)?;
    inplace::leave_encrypted(std::mem::take(&mut opened.doc));
    inplace::signature_dropped(&a.file, signed);
    Ok(0)
}

fn already_set(file: &str) {
    inplace::note(&format!(
        "{file}: the value is already set; the file was not changed"
    ));
}
