//! Parallel decryption of one large document: the walk is cut into independent runs
//! (top-level items before the largest top-level map or list, that container's elements
//! in equal chunks, the top-level items after it); each run is decrypted on its own
//! thread into its own MAC buffer and stash, and the parts are joined in walk order.

use super::*;
use crate::tree::Item;
use crate::tree::SeqItem;

/// Below this many elements in the largest container, threads do not pay off.
const MIN_ITEMS: usize = 2048;

enum Run<'t> {
    Items(&'t mut [Item], String, bool),
    Seq(&'t mut [SeqItem], String, bool),
}

type Part = Result<(MacChunks, Option<NonceStash>, usize), DocumentError>;

/// The decrypted parts by run, and how many workers are still running.
struct Slots {
    parts: Vec<Option<Part>>,
    workers: usize,
}

/// Counts a worker out when it ends, also when it ends by a panic, so that the thread
/// hashing the parts never waits for one that nobody will deliver.
struct Leaving<'a> {
    slots: &'a std::sync::Mutex<Slots>,
    ready: &'a std::sync::Condvar,
}

impl Drop for Leaving<'_> {
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

pub(super) fn decrypt(
    doc: &mut Document,
    cipher: &ValueCipher,
    sel: &Selector,
    mac_only_encrypted: bool,
    keep_stash: bool,
    threads: usize,
) -> Option<Result<(Decrypted, Option<NonceStash>), DocumentError>> {
    let [branch] = doc.branches.as_mut_slice() else {
        return None;
    };
    let len_of = |v: &Value| match v {
        Value::Map(m) => m.0.len(),
        Value::Seq(s) => s.len(),
        _ => 0,
    };
    let (big, size) = branch
        .0
        .iter()
        .enumerate()
        .filter_map(|(i, it)| match it {
            Item::Entry(_, v) => Some((i, len_of(v))),
            Item::Comment(_) => None,
        })
        .max_by_key(|&(_, n)| n)?;
    if size < MIN_ITEMS {
        return None;
    }
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
            for c in m.0.chunks_mut(chunk) {
                runs.push(Run::Items(c, prefix.clone(), matched));
            }
        }
        Value::Seq(s) => {
            for c in s.chunks_mut(chunk) {
                runs.push(Run::Seq(c, prefix.clone(), matched));
            }
        }
        _ => return None,
    }
    runs.push(Run::Items(after, String::new(), false));

    // Workers take runs in order and leave each result in its slot; this thread hashes
    // the MAC parts in walk order as they arrive, overlapping SHA-512 with decryption.
    let total = runs.len();
    let slots = std::sync::Mutex::new(Slots {
        parts: (0..total).map(|_| None).collect(),
        workers: threads,
    });
    let ready = std::sync::Condvar::new();
    let queue = std::sync::Mutex::new(runs.into_iter().enumerate());
    let mut mac = MacHasher::new(mac_only_encrypted);
    let mut stash = keep_stash.then(NonceStash::new);
    let mut clear_comments = 0;
    let mut failed = Some(DocumentError::Worker);
    std::thread::scope(|s| {
        for _ in 0..threads {
            let work = || {
                let _leaving = Leaving {
                    slots: &slots,
                    ready: &ready,
                };
                loop {
                    let next = queue.lock().ok().and_then(|mut q| q.next());
                    let Some((i, run)) = next else { break };
                    let part = run_one(run, cipher, sel, mac_only_encrypted, keep_stash);
                    if let Ok(mut slots) = slots.lock()
                        && let Some(slot) = slots.parts.get_mut(i)
                    {
                        *slot = Some(part);
                    }
                    ready.notify_one();
                }
            };
            if std::thread::Builder::new().spawn_scoped(s, work).is_err()
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
                Ok((bytes, local, clear)) => {
                    for c in &bytes.0 {
                        mac.update(c);
                    }
                    if let (Some(s), Some(l)) = (stash.as_mut(), local) {
                        s.append(l);
                    }
                    clear_comments += clear;
                }
            }
        }
        // Every part arrived and was hashed in order.
        failed = None;
    });
    if let Some(e) = failed {
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
    run: Run<'_>,
    cipher: &ValueCipher,
    sel: &Selector,
    mac_only_encrypted: bool,
    keep_stash: bool,
) -> Part {
    let mut d = LeafDecryptor {
        cipher,
        mac_only_encrypted,
        mac: MacSink::Buffer(MacChunks::default()),
        stash: keep_stash.then(NonceStash::new),
        clear_comments: 0,
        scratch: Zeroizing::new(Vec::new()),
    };
    let dir = Direction::Decrypting;
    let mut f = |info: LeafInfo<'_>, leaf: Leaf<'_>| d.visit(info, leaf);
    match run {
        Run::Items(items, prefix, m) => walk::walk_map_items(items, &prefix, m, sel, dir, &mut f)?,
        Run::Seq(items, prefix, m) => walk::walk_seq_items(items, &prefix, m, sel, dir, &mut f)?,
    }
    let bytes = match d.mac {
        MacSink::Buffer(b) => b,
        MacSink::Hash(_) => MacChunks::default(),
    };
    Ok((bytes, d.stash, d.clear_comments))
}
