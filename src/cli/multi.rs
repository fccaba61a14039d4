//! Commands over many files in one invocation (`decrypt`, `rotate`): the files are
//! processed on all cores, their results kept in the order given, and the failures
//! reported one by one, each with its file name.

use crate::error::Error;
use crate::error::exit;

/// Runs `f` on every item on all cores (one worker per core, at most one per item),
/// keeping the order of `items`.
pub fn map<T: Sync, R: Send>(
    items: &[T],
    f: impl Fn(&T) -> Result<R, Error> + Sync,
) -> Vec<Result<R, Error>> {
    let threads = crate::io::cores().min(items.len());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<Result<R, Error>>>> =
        items.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    if let Some(Ok(mut slot)) = slots.get(i).map(|m| m.lock()) {
                        *slot = Some(r);
                    }
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|m| {
            m.into_inner().ok().flatten().unwrap_or_else(|| {
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
