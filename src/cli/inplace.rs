//! Helpers shared by the commands that change an existing encrypted file (`set`,
//! `unset`, `rotate`, `updatekeys`, `groups`).

use clap::Args;

use crate::cli;
use crate::error::Error;
use crate::lifecycle;
use crate::lifecycle::splice::Change;
use crate::lifecycle::splice::SpliceOutcome;
use crate::ops;
use crate::ops::Document;
use crate::ops::Format;
use crate::ops::Loaded;
use crate::ops::MetaMap;
use crate::ops::OpenOptions;
use crate::ops::Output;
use crate::policy::Policy;

/// How to open the file.
#[derive(Debug, Args, Clone, Default)]
pub struct OpenArgs {
    /// Go on even if the MAC does not match (the file may have been tampered with).
    #[arg(long)]
    pub ignore_mac: bool,
    /// Key types to try first, comma-separated (age, pgp, kms, gcp_kms, azure_kv, hc_vault).
    #[arg(long, env = "SOPS_DECRYPTION_ORDER", value_name = "TYPES")]
    pub decryption_order: Option<String>,
}

impl OpenArgs {
    /// The library's open options.
    pub fn options(&self, cli: &cli::Cli) -> Result<OpenOptions, Error> {
        Ok(OpenOptions {
            ignore_mac: self.ignore_mac,
            strict_integrity: cli::strict_integrity(cli)?,
            order: match &self.decryption_order {
                Some(s) => super::decryption_order(s)?,
                None => Vec::new(),
            },
        })
    }
}

/// An encrypted file as read from disk.
pub struct Target {
    /// The format it was read with.
    pub format: Format,
    /// The parsed file (values still encrypted).
    pub loaded: Loaded,
}

/// Reads and parses an encrypted file; fails when it has no `sops` metadata. `locked`:
/// the file's own locked destination when it is changed in place, read through it
/// ([`crate::io::read_input_via`]).
pub fn read_target(
    file: &str,
    input_type: Option<&str>,
    locked: Option<&crate::io::Destination>,
) -> Result<Target, Error> {
    let bytes = crate::io::read_input_via(file, locked)?;
    let format = cli::input_format(input_type, file, Some(&bytes))?;
    let loaded = ops::read_encrypted(&bytes, file, format)?;
    Ok(Target { format, loaded })
}

/// The output format: `--output-type` when given, else the input format.
pub fn output_format(flag: Option<&str>, input: Format) -> Result<Format, Error> {
    flag.map_or(Ok(input), cli::parse_format)
}

/// The policy, for store settings: a missing policy is fine, one that cannot be read is
/// an error (sops refuses to run with it; ignoring it could switch off its `leafseal`
/// protections).
pub fn policy_for_output(cli: &cli::Cli) -> Result<Option<Policy>, Error> {
    cli::load_policy_for_reading(cli.config.as_deref())
}

/// Emits an encrypted document with its metadata.
pub fn emit(
    format: Format,
    doc: &Document,
    meta: &MetaMap,
    indent: Option<i64>,
    policy: Option<&Policy>,
) -> Result<Output, Error> {
    let opts = cli::emit_options(indent, policy, format);
    ops::emit_encrypted(format, doc, meta, &opts)
}

/// Tries to make a change by splicing (`set`, `unset`): the emit options are the ones
/// [`emit`] writes with. Warnings of a file that was spliced, or found unchanged, are
/// printed here, as the whole-tree path prints the opened file's.
pub fn splice(
    cli: &cli::Cli,
    bytes: &[u8],
    format: Format,
    change: Change<'_>,
    ctx: &ops::KeyContext,
    open: &OpenOptions,
    file: &str,
) -> Result<SpliceOutcome, Error> {
    let policy = policy_for_output(cli)?;
    let opts = cli::emit_options(None, policy.as_ref(), format);
    let outcome = lifecycle::splice::splice(bytes, format, change, ctx, open, &opts)
        .map_err(|e| e.within(file))?;
    let warnings = match &outcome {
        SpliceOutcome::Written(s) => s.warnings.as_slice(),
        SpliceOutcome::Unchanged { warnings, .. } => warnings.as_slice(),
        SpliceOutcome::Declined(_) => &[],
    };
    for w in warnings {
        cli::warn(&format!("{file}: {w}"));
    }
    Ok(outcome)
}

/// Makes a change by splicing (`set`, `unset`) and writes it: the new file goes to the
/// temporary file of `dest` while the parts are verified, and the audit event `command`
/// is recorded and the temporary file renamed over the target only once the file
/// verified and the change was sealed (a dropped signature is noted). When the file is
/// handed back or found unchanged, nothing is written (the temporary file is removed)
/// and the outcome is returned as by [`splice`].
#[allow(clippy::too_many_arguments)]
pub fn splice_and_write(
    cli: &cli::Cli,
    dest: &crate::io::Destination,
    bytes: &[u8],
    format: Format,
    change: Change<'_>,
    ctx: &ops::KeyContext,
    open: &OpenOptions,
    file: &str,
    command: &'static str,
) -> Result<SpliceOutcome, Error> {
    if !lifecycle::splice::wanted(format, ctx, bytes.len()) {
        return splice(cli, bytes, format, change, ctx, open, file);
    }
    let policy = policy_for_output(cli)?;
    let opts = cli::emit_options(None, policy.as_ref(), format);
    let mut outcome = None;
    let written = dest.write_with_send(&mut |w| {
        let o = lifecycle::splice::splice_into(bytes, format, change, ctx, open, &opts, Some(w))
            .map_err(|e| e.within(file))?;
        let (warnings, written) = match &o {
            SpliceOutcome::Written(s) => (s.warnings.as_slice(), true),
            SpliceOutcome::Unchanged { warnings, .. } => (warnings.as_slice(), false),
            SpliceOutcome::Declined(_) => (&[][..], false),
        };
        for w in warnings {
            cli::warn(&format!("{file}: {w}"));
        }
        if let SpliceOutcome::Written(s) = &o {
            cli::audit::record(command, file, &s.unwrapped_by)?;
        }
        outcome = Some(o);
        if written {
            Ok(())
        } else {
            // Not a failure: nothing is to be written (the temporary file goes).
            Err(Error::new(crate::error::exit::GENERIC, "not spliced"))
        }
    });
    match (written, outcome) {
        (Ok(()), Some(SpliceOutcome::Written(s))) => {
            signature_dropped(file, s.signature_dropped);
            Ok(SpliceOutcome::Written(s))
        }
        (Err(_), Some(o @ (SpliceOutcome::Unchanged { .. } | SpliceOutcome::Declined(_)))) => Ok(o),
        (Err(e), _) => Err(e),
        (Ok(()), _) => Err(Error::new(
            crate::error::exit::GENERIC,
            "internal error: a splice was written without its outcome",
        )),
    }
}

/// Leaves the encrypted text a command read (and has finished with) to the end of the
/// process instead of wiping and freeing it: it is the file as stored (values encrypted,
/// clear values in clear anyway), and for a large file the wipe is tens of megabytes of
/// memory written once more just before the process exits.
pub fn leave_input(input: zeroize::Zeroizing<Vec<u8>>) {
    let mut input = input;
    std::mem::forget(std::mem::take(&mut *input));
}

/// Leaves an encrypted document to the end of the process instead of freeing it value by
/// value (a large part of a big file's run): the command ends right after writing it,
/// and it holds no plaintext — every value the file encrypts is `ENC[…]` text by now, and
/// everything else is stored in clear in the file anyway.
pub fn leave_encrypted(doc: Document) {
    std::mem::forget(doc);
}

/// Prints a note (not a warning) to stderr.
pub fn note(msg: &str) {
    say!("leafseal: {}", crate::cli::for_stderr(msg));
}

/// After a write that dropped a file signature (the signature covered the old state):
/// tells the user to sign again.
pub fn signature_dropped(file: &str, was_signed: bool) {
    if was_signed {
        note(&signature_dropped_note(file));
    }
}

/// The text of [`signature_dropped`]'s note.
pub fn signature_dropped_note(file: &str) -> String {
    format!(
        "{file}: its signature was removed because the file changed; sign it again with `leafseal sign {file}`"
    )
}

/// A named regular file opened to decide whether to stream it (through `locked` when
/// that is the input's own locked destination), with its metadata and length; `None` for
/// anything else (standard input, a FIFO or a device, which the usual reading then reads
/// whole so that it gets all of its data, or a file that cannot be opened or measured,
/// which that reading reports).
pub(crate) fn open_regular(
    file: &str,
    locked: Option<&crate::io::Destination>,
) -> Result<Option<(std::fs::File, std::fs::Metadata, usize)>, Error> {
    if file == "-" {
        return Ok(None);
    }
    let (f, meta) = if let Some(d) = locked {
        match d.open_locked()? {
            (f, Some(meta)) => (f, meta),
            _ => return Ok(None),
        }
    } else {
        if !std::fs::metadata(file).is_ok_and(|m| m.is_file()) {
            return Ok(None);
        }
        let Ok(f) = std::fs::File::open(file) else {
            return Ok(None);
        };
        let Ok(meta) = f.metadata() else {
            return Ok(None);
        };
        (f, meta)
    };
    let len = meta
        .is_file()
        .then_some(meta.len())
        .and_then(|l| usize::try_from(l).ok());
    Ok(len.map(|len| (f, meta, len)))
}
