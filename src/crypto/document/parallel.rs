//! Parallel decryption and encryption of one large document: the walk is cut into
//! independent runs (top-level items before the largest top-level map or list, that
//! container's elements in equal chunks, the top-level items after it); each run is
//! decrypted or encrypted on a worker thread into its own MAC buffer (and stash), and
//! the parts are joined in walk order by the calling thread.

use super::*;
use crate::tree::Item;
use crate::tree::SeqItem;

/// Below this many elements in the largest container, threads do not pay off.
const MIN_ITEMS: usize = 2048;

pub(super) enum Run<'t> {
    Items(&'t mut [Item], String, bool),
    Seq(&'t mut [SeqItem], String, bool),
}

type Part<T> = Result<(MacChunks, T), DocumentError>;

/// The finished parts by run, and how many workers are still running.
struct Slots<T> {
    parts: Vec<Option<Part<T>>>,
    workers: usize,
}

/// Counts a worker out when it ends, also when it ends by a panic, so that the thread
/// hashing the parts never waits for one that nobody will deliver.
struct Leaving<'a, T> {
    slots: &'a std::sync::Mutex<Slots<T>>,
    ready: &'a std::sync::Condvar,
}

impl<T> Drop for Leaving<'_, T> {
    fn drop(&mut self) {
        let mut g = self
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        g.workers = g.workers.saturating_sub(1);
        drop(g);
        self.ready.notify_all();
    }
}

/// The walk of a document cut into independent runs, in walk order.
pub(super) struct Runs<'t> {
    runs: Vec<Run<'t>>,
    /// No AAD can occur in two runs: the largest container is a map and neither its keys
    /// nor the top-level keys hold a `:`. Only then may runs look values up in the IV
    /// stash independently (equal values under one path share a stash entry, handed out
    /// in walk order).
    pub(super) disjoint: bool,
}

/// How many threads to decrypt or encrypt `doc` with: 1 when the document is too small
/// for threads to pay off (see [`cut`]), without asking `cores` how many cores there are
/// (that reads cgroup files, a cost a tiny file's start-up does not need); otherwise at
/// most `max` of them.
pub(super) fn threads_for(doc: &Document, max: usize, cores: impl FnOnce() -> usize) -> usize {
    match doc.branches.as_slice() {
        [branch] if largest(&branch.0).is_some_and(|(_, n)| n >= MIN_ITEMS) => cores().min(max),
        _ => 1,
    }
}

/// The top-level container with the most elements: its index and element count.
fn largest(items: &[Item]) -> Option<(usize, usize)> {
    let len_of = |v: &Value| match v {
        Value::Map(m) => m.0.len(),
        Value::Seq(s) => s.len(),
        _ => 0,
    };
    items
        .iter()
        .enumerate()
        .filter_map(|(i, it)| match it {
            Item::Entry(_, v) => Some((i, len_of(v))),
            Item::Comment(_) => None,
        })
        .max_by_key(|&(_, n)| n)
}

/// Cuts the walk of a one-branch document into runs: the top-level items before the
/// largest top-level container, its elements in chunks, the items after it. `None` when
/// the document is too small for threads to pay off.
pub(super) fn cut<'t>(doc: &'t mut Document, sel: &Selector, threads: usize) -> Option<Runs<'t>> {
    let [branch] = doc.branches.as_mut_slice() else {
        return None;
    };
    let (big, size) = largest(&branch.0)?;
    if size < MIN_ITEMS {
        return None;
    }
    let no_colon = |items: &[Item]| {
        items.iter().all(|it| match it {
            Item::Entry(k, _) => !k.contains(':'),
            Item::Comment(_) => true,
        })
    };
    let mut disjoint = no_colon(&branch.0);
    let (before, rest) = branch.0.split_at_mut(big);
    let (middle, after) = rest.split_first_mut()?;
    let Item::Entry(key, value) = middle else {
        return None;
    };
    let prefix = format!("{key}:");
    let matched = sel.component_matches(key);
    let chunk = size.div_ceil(threads * 4).max(256);
    let mut runs = vec![Run::Items(before, String::new(), false)];
    match value {
        Value::Map(m) => {
            disjoint &= no_colon(&m.0);
            for c in m.0.chunks_mut(chunk) {
                runs.push(Run::Items(c, prefix.clone(), matched));
            }
        }
        Value::Seq(s) => {
            disjoint = false;
            for c in s.chunks_mut(chunk) {
                runs.push(Run::Seq(c, prefix.clone(), matched));
            }
        }
        _ => return None,
    }
    runs.push(Run::Items(after, String::new(), false));
    Some(Runs { runs, disjoint })
}

/// Walks one run with the visitor.
pub(super) fn walk_run(
    run: &mut Run<'_>,
    sel: &Selector,
    dir: Direction,
    f: &mut dyn FnMut(LeafInfo<'_>, Leaf<'_>) -> Result<(), DocumentError>,
) -> Result<(), DocumentError> {
    match run {
        Run::Items(items, prefix, m) => walk::walk_map_items(items, prefix, *m, sel, dir, f),
        Run::Seq(items, prefix, m) => walk::walk_seq_items(items, prefix, *m, sel, dir, f),
    }
}

/// How many leaves of a run the selector encrypts (an upper bound of its stash entries):
/// a walk without crypto, so that the stash is sized once instead of growing.
fn encrypted_leaves(run: &mut Run<'_>, sel: &Selector) -> usize {
    let mut n = 0;
    let _ = walk_run(run, sel, Direction::Decrypting, &mut |info, _| {
        n += usize::from(info.encrypt);
        Ok(())
    });
    n
}

/// Runs `work` on every run on `threads` worker threads while this thread hashes the
/// runs' MAC input into `mac` in walk order, as the parts arrive, and hands each part's
/// other result to `fold`, also in walk order. The first failing part (in walk order)
/// stops the hand-out of further runs and is returned.
pub(super) fn drive<'t, T: Send>(
    runs: Runs<'t>,
    threads: usize,
    mac: &mut MacHasher,
    work: &(dyn Fn(Run<'t>) -> Result<(MacChunks, T), DocumentError> + Sync),
    mut fold: impl FnMut(T),
) -> Result<(), DocumentError> {
    let runs = runs.runs;
    // Workers take runs in order and leave each result in its slot; this thread hashes
    // the MAC parts in walk order as they arrive, overlapping SHA-512 with the crypto.
    let total = runs.len();
    let slots = std::sync::Mutex::new(Slots::<T> {
        parts: (0..total).map(|_| None).collect(),
        workers: threads,
    });
    let ready = std::sync::Condvar::new();
    let queue = std::sync::Mutex::new(runs.into_iter().enumerate());
    let mut failed = Some(DocumentError::Worker);
    std::thread::scope(|s| {
        // Declared before anything this closure locks, so dropped (joined) after it.
        let mut workers = crate::threads::Joined::with_capacity(threads);
        for _ in 0..threads {
            let work = || {
                let _leaving = Leaving {
                    slots: &slots,
                    ready: &ready,
                };
                loop {
                    let next = queue.lock().ok().and_then(|mut q| q.next());
                    let Some((i, run)) = next else { break };
                    let part = work(run);
                    if let Ok(mut slots) = slots.lock()
                        && let Some(slot) = slots.parts.get_mut(i)
                    {
                        *slot = Some(part);
                    }
                    ready.notify_one();
                }
            };
            if workers
                .spawn(s, std::thread::Builder::new(), work)
                .is_none()
                && let Ok(mut g) = slots.lock()
            {
                // One worker fewer; the others (or none) take the runs.
                g.workers -= 1;
            }
        }
        for i in 0..total {
            let part = {
                let Ok(mut guard) = slots.lock() else { return };
                loop {
                    let gone = guard.workers == 0;
                    match guard.parts.get_mut(i).map(Option::take) {
                        Some(Some(part)) => break part,
                        // Every worker ended without delivering this part (no thread
                        // could be started, or one died): fail, never wait forever.
                        Some(None) if gone => return,
                        Some(None) => match ready.wait(guard) {
                            Ok(g) => guard = g,
                            Err(_) => return,
                        },
                        None => return,
                    }
                }
            };
            match part {
                Err(e) => {
                    // Stop handing out work; the workers finish their current run.
                    if let Ok(mut q) = queue.lock() {
                        q.by_ref().for_each(drop);
                    }
                    failed = Some(e);
                    return;
                }
                Ok((bytes, rest)) => {
                    for c in &bytes.0 {
                        mac.update(c);
                    }
                    fold(rest);
                }
            }
        }
        // Every part arrived and was hashed in order.
        failed = None;
    });
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

pub(super) fn decrypt(
    doc: &mut Document,
    cipher: &ValueCipher,
    sel: &Selector,
    mac_only_encrypted: bool,
    keep_stash: bool,
    threads: usize,
) -> Option<Result<(Decrypted, Option<NonceStash>), DocumentError>> {
    let mut runs = cut(doc, sel, threads)?;
    let mut mac = MacHasher::new(mac_only_encrypted);
    let mut stash = keep_stash.then(|| {
        let total = runs.runs.iter_mut().map(|r| encrypted_leaves(r, sel)).sum();
        NonceStash::with_capacity(total)
    });
    let mut clear_comments = 0;
    let work = |run: Run<'_>| run_one(run, cipher, sel, mac_only_encrypted, keep_stash);
    let folded = drive(runs, threads, &mut mac, &work, |(local, clear)| {
        if let (Some(s), Some(l)) = (stash.as_mut(), local) {
            s.append(l);
        }
        clear_comments += clear;
    });
    if let Err(e) = folded {
        return Some(Err(e));
    }
    Some(Ok((
        Decrypted {
            mac: mac.finish(),
            clear_comments,
        },
        stash,
    )))
}

fn run_one(
    mut run: Run<'_>,
    cipher: &ValueCipher,
    sel: &Selector,
    mac_only_encrypted: bool,
    keep_stash: bool,
) -> Part<(Option<NonceStash>, usize)> {
    let mut d = LeafDecryptor {
        cipher,
        mac_only_encrypted,
        mac: MacSink::Buffer(MacChunks::default()),
        stash: keep_stash.then(|| NonceStash::with_capacity(encrypted_leaves(&mut run, sel))),
        clear_comments: 0,
        noncanonical: 0,
        scratch: Zeroizing::new(Vec::new()),
    };
    walk_run(&mut run, sel, Direction::Decrypting, &mut |info, leaf| {
        d.visit(info, leaf)
    })?;
    let bytes = match d.mac {
        MacSink::Buffer(b) => b,
        MacSink::Hash(_) | MacSink::Discard => MacChunks::default(),
    };
    Ok((bytes, (d.stash, d.clear_comments)))
}
