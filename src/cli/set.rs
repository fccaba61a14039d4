//! `leafseal set FILE PATH VALUE`: change one value in place, with a minimal diff.

use std::path::Path;
use std::path::PathBuf;

use clap::Args;
use zeroize::Zeroizing;

use crate::cli::Cli;
use crate::cli::inplace;
use crate::cli::inplace::OpenArgs;
use crate::error::Error;
use crate::error::exit;
use crate::lifecycle;
use crate::ops;
use crate::treepath;

/// Arguments of `set`.
#[derive(Debug, Args)]
pub struct SetArgs {
    /// The encrypted file (changed in place, atomically).
    pub file: String,
    /// The path, e.g. '["app"]["db"]["password"]' or '["list"][0]'; missing steps are created.
    pub path: String,
    /// The value as JSON: '"text"', 5 (stored as a float, as sops does), true, null, '{"a":1}'.
    #[arg(allow_hyphen_values = true)]
    pub value: Option<String>,
    /// Read the JSON value from standard input.
    #[arg(long)]
    pub value_stdin: bool,
    /// Read the JSON value from this file.
    #[arg(long, value_name = "FILE")]
    pub value_file: Option<PathBuf>,
    /// Do not write when the value is already set (leafseal never rewrites an unchanged
    /// file; accepted for sops compatibility).
    #[arg(long)]
    pub idempotent: bool,
    /// Input format (default: from the extension).
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
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
    let given = usize::from(a.value.is_some())
        + usize::from(a.value_stdin)
        + usize::from(a.value_file.is_some());
    if given > 1 {
        return Err(Error::new(
            exit::CONFLICTING_PARAMETERS,
            "give the value once: as an argument, with --value-stdin or with --value-file",
        ));
    }
    if let Some(v) = &a.value {
        return Ok(Zeroizing::new(v.as_bytes().to_vec()));
    }
    if a.value_stdin {
        let mut buf = crate::secbuf::SecureBuf::with_capacity(4096);
        buf.read_all(&mut std::io::stdin().lock()).map_err(|e| {
            Error::new(
                exit::COULD_NOT_READ_INPUT,
                format!("cannot read standard input: {e}"),
            )
        })?;
        return Ok(buf.finish());
    }
    if let Some(f) = &a.value_file {
        return crate::io::read_input(&f.display().to_string());
    }
    Err(Error::new(exit::INVALID_SET_FORMAT, "no value given")
        .hint(r#"leafseal set FILE '["key"]' '"value"' (the value is JSON), or use --value-stdin / --value-file"#))
}

/// Runs `set`.
pub fn run(cli: &Cli, a: &SetArgs) -> Result<i32, Error> {
    crate::cli::audit::expect("set", &a.file, std::slice::from_ref(&a.path))?;
    let path = parse_path(&a.path)?;
    let value = lifecycle::parse_set_value(&read_value(a)?)?;
    let dest = crate::cli::update(cli, Path::new(&a.file))?;
    let target = inplace::read_target(&a.file, a.input_type.as_deref())?;
    lifecycle::reserved::check_path(target.format, &path)?;
    let ctx = crate::cli::key_context();
    let mut opened =
        ops::open(target.loaded, &ctx, &a.open.options(cli)?).map_err(|e| e.within(&a.file))?;
    for w in &opened.warnings {
        crate::cli::warn(&format!("{}: {w}", a.file));
    }
    let before = opened.doc.clone();
    treepath::set(&mut opened.doc, &path, value)?;
    let signed = crate::signing::present(&opened.meta);
    let Some(meta) = lifecycle::seal_changes(&before, &mut opened)? else {
        if !a.idempotent {
            inplace::note(&format!(
                "{}: the value is already set; the file was not changed",
                a.file
            ));
        }
        return Ok(0);
    };
    let policy = inplace::policy_for_output(cli);
    let out = inplace::emit(target.format, &opened.doc, &meta, None, policy.as_ref())?;
    crate::cli::audit::record("set", &a.file, &opened.unwrapped_by)?;
    dest.write(&out)?;
    inplace::signature_dropped(&a.file, signed);
    Ok(0)
}
