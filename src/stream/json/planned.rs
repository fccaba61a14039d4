//! The JSON file path without the overlapped planner: the file is planned first, then
//! its parts are read back and decrypted (the fallback of `overlap`, and the tests'
//! entry point with a hook between the two reads).

use super::Run;
use super::decrypt_planned;
use super::split;
use crate::error::Error;
#[cfg(test)]
use crate::format::EmitOptions;
#[cfg(test)]
use crate::keys::KeyContext;
#[cfg(test)]
use crate::metadata::Metadata;
#[cfg(test)]
use crate::ops::OpenOptions;
use crate::stream::Outcome;
use crate::stream::Source;

/// [`decrypt_json_file`] without the overlapped planner, calling `after_plan` between
/// the planning read and the part reads (tests: the file changed in between).
#[cfg(test)]
pub(super) fn decrypt_file(
    file: &std::fs::File,
    ctx: &KeyContext,
    opts: &OpenOptions,
    emit: &EmitOptions,
    needs_tree: &dyn Fn(&Metadata) -> bool,
    after_plan: &dyn Fn(),
) -> Result<Outcome, Error> {
    if opts.ignore_mac {
        return Ok(Outcome::Declined(None));
    }
    // The file is read twice (planned, then its parts): a file changed in between (written
    // in place, truncated, grown) is read whole by the caller instead, as for YAML.
    let Some(before) = crate::stream::blocks::Stamp::of(file) else {
        return Ok(Outcome::Declined(None));
    };
    let ahead = crate::stream::pool::touch_ahead(usize::try_from(before.len).unwrap_or(0));
    let args = crate::stream::blocks::Args {
        file,
        skip: 0,
        ctx,
        opts,
        emit,
        needs_tree,
    };
    planned(&args, &before, ahead, after_plan, None)
}

/// Plans the file, then decrypts its parts (`known`: a data key already recovered from
/// the metadata at that range, used when the plan finds the metadata there).
pub(super) fn planned(
    args: &crate::stream::blocks::Args<'_>,
    before: &crate::stream::blocks::Stamp,
    ahead: crate::stream::Ahead,
    after_plan: &dyn Fn(),
    known: crate::stream::blocks::KnownKey,
) -> Result<Outcome, Error> {
    let (file, ctx) = (args.file, args.ctx);
    let block = crate::stream::blocks::block_size(ctx);
    let mut planner = split::Planner::new();
    let mut reader = crate::stream::blocks::At { file, pos: 0 };
    let Ok(Some(len)) =
        crate::stream::blocks::scan_lines(&mut reader, block, |at, line| planner.line(at, line))
    else {
        return Ok(Outcome::Declined(None));
    };
    if len as u64 != before.len {
        return Ok(Outcome::Declined(None));
    }
    let threads = crate::stream::threads();
    let Some(plan) = planner.finish(len, crate::stream::part_target(ctx, len, threads)) else {
        return Ok(Outcome::Declined(None));
    };
    after_plan();
    let mut meta = Vec::new();
    let mut big_key = Vec::new();
    if crate::stream::blocks::read_range(file, 0, plan.meta.clone(), &mut meta).is_err()
        || plan.big_key.as_ref().is_some_and(|r| {
            crate::stream::blocks::read_range(file, 0, r.clone(), &mut big_key).is_err()
        })
    {
        return Ok(Outcome::Declined(None));
    }
    let key = known.and_then(|(at, key)| (at == plan.meta).then_some(key));
    let run = Run {
        src: Source::File { file, skip: 0 },
        parts: &plan.parts,
        len,
        threads,
        ahead,
    };
    let big_key = plan.big_key.is_some().then_some(big_key.as_slice());
    let result = decrypt_planned(
        &run,
        big_key,
        &meta,
        key,
        ctx,
        args.opts,
        args.emit,
        args.needs_tree,
    );
    if crate::stream::blocks::Stamp::of(file).is_none_or(|now| now != *before) {
        // What was decrypted (or refused) may not be the file's text any more.
        return Ok(Outcome::Declined(None));
    }
    result
}
