//! Commands over many files in one invocation (`decrypt`, `rotate`): the files are
//! processed on all cores, their results kept in the order given, and the failures
//! reported one by one, each with its file name.

use crate::error::Error;
use crate::error::exit;

/// Runs `f` on every item on all cores, keeping the order of `items`
/// ([`crate::io::workers::map_ordered`]); a worker that died is an internal error.
pub fn map<T: Sync, R: Send>(
    items: &[T],
    f: impl Fn(&T) -> Result<R, Error> + Sync,
) -> Vec<Result<R, Error>> {
    crate::io::workers::map_ordered(items, f)
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Err(Error::new(
                    exit::GENERIC,
                    "internal error: a worker did not finish",
                ))
            })
        })
        .collect()
}

/// Prints every failure of `results` (with its file's name unless the message already
/// starts with it) and returns the first failure, whose exit code the command ends with,
/// and how many failed.
pub fn report_failures<R>(
    files: &[String],
    results: &[Result<R, Error>],
) -> Option<(Error, usize)> {
    let mut first: Option<(Error, usize)> = None;
    for (file, r) in files.iter().zip(results) {
        if let Err(e) = r {
            // Errors from opening the file already name it.
            if e.message.starts_with(&format!("{file}: ")) {
                super::report(e);
            } else {
                super::report(&e.clone().within(file));
            }
            match &mut first {
                Some((_, n)) => *n += 1,
                None => first = Some((e.clone(), 1)),
            }
        }
    }
    first
}
