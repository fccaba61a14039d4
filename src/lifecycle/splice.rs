//! `set` and `unset` by splicing the change into the encrypted text of a large file
//! instead of decrypting, re-encrypting and writing the whole tree (see
//! [`crate::stream::splice_yaml`]). Same output, byte for byte, as the whole-tree path;
//! anything the splice cannot prove is handed back to that path.

use crate::error::Error;
use crate::ops::EmitOptions;
use crate::ops::Format;
use crate::ops::KeyContext;
use crate::ops::OpenOptions;

pub use crate::stream::Change;
pub use crate::stream::Splice;
pub use crate::stream::SpliceOutcome;

/// Makes `change` in the encrypted file `input` (in `format`, written back in the same
/// format with `emit`) by splicing when the file is one to splice (YAML, large enough
/// or `LEAFSEAL_SPLICE=always`); otherwise, or when the splice hands it back,
/// [`SpliceOutcome::Declined`] (with the data key when it was recovered) and the caller
/// takes the whole-tree path. Under `LEAFSEAL_SPLICE=require` a file handed back is an
/// error.
pub fn splice(
    input: &[u8],
    format: Format,
    change: Change<'_>,
    ctx: &KeyContext,
    opts: &OpenOptions,
    emit: &EmitOptions,
) -> Result<SpliceOutcome, Error> {
    splice_into(input, format, change, ctx, opts, emit, None)
}

/// Whether [`splice`] would try to splice a file of `len` bytes in `format` (otherwise it
/// hands the file back at once).
pub fn wanted(format: Format, ctx: &KeyContext, len: usize) -> bool {
    format == Format::Yaml && crate::stream::splice_wanted(ctx, len)
}

/// [`splice`], writing the new file to `sink` while the file is verified: when the
/// outcome is [`SpliceOutcome::Written`] the sink holds the whole new file; otherwise
/// (and on an error) it holds an unfinished copy of the encrypted text that the caller
/// must discard, as the temporary file of an atomic write that is not renamed.
pub fn splice_into(
    input: &[u8],
    format: Format,
    change: Change<'_>,
    ctx: &KeyContext,
    opts: &OpenOptions,
    emit: &EmitOptions,
    sink: Option<&mut (dyn std::io::Write + Send)>,
) -> Result<SpliceOutcome, Error> {
    let outcome = if wanted(format, ctx, input.len()) {
        crate::stream::splice_yaml(input, change, ctx, opts, emit, sink)?
    } else {
        SpliceOutcome::Declined(None)
    };
    if let (SpliceOutcome::Declined(_), Some(e)) = (&outcome, declined_error(ctx)) {
        return Err(e);
    }
    Ok(outcome)
}

pub use crate::stream::EditInput;
pub use crate::stream::EditOpen;
pub use crate::stream::EditSession;
pub use crate::stream::FileSeal;

/// Opens the encrypted file `input` for `edit` by streaming, when it is one to splice
/// (as [`splice`]): the file is read in blocks and parts, never whole, and must stay
/// unchanged until the edit is written ([`EditInput::unchanged`]); the session then
/// splices the edited plaintext into the file ([`EditSession::seal_file`]). Under
/// `LEAFSEAL_SPLICE=require` a file handed back is an error.
pub fn open_for_edit(
    input: EditInput<'_>,
    format: Format,
    ctx: &KeyContext,
    opts: &OpenOptions,
    emit: &EmitOptions,
) -> Result<EditOpen, Error> {
    let outcome = if format == Format::Yaml && crate::stream::splice_wanted(ctx, input.len()) {
        crate::stream::open_yaml_for_edit(input, ctx, opts, emit)?
    } else {
        EditOpen::Declined(None)
    };
    if let (EditOpen::Declined(_), Some(e)) = (&outcome, declined_error(ctx)) {
        return Err(e);
    }
    Ok(outcome)
}

/// The error for a change handed back to the whole-tree path under
/// `LEAFSEAL_SPLICE=require`, else `None`.
pub fn declined_error(ctx: &KeyContext) -> Option<Error> {
    crate::stream::splice_declined_error(ctx)
}
