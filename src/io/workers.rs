//! Independent items processed on all cores, their results kept in the order given: the
//! multi-file commands (`decrypt`, `rotate`, `updatekeys`) and `check` use it.

/// Runs `f` on every item on all cores (one worker per core, at most one per item; no
/// thread at all for a single item), keeping the order of `items`. A slot is `None` only
/// if its worker could not store the result (a poisoned lock); a panic in `f` is carried
/// to the caller as with [`std::thread::scope`].
pub fn map_ordered<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<Option<R>> {
    let threads = super::cores().min(items.len());
    if threads <= 1 {
        return items.iter().map(|t| Some(f(t))).collect();
    }
    // Work for every core: each worker's allocations gain from huge pages as a large
    // file's do (see `crate::process`; the 1,000-file decrypt took 3-6% longer without).
    crate::process::huge_pages_on();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<R>>> =
        items.iter().map(|_| std::sync::Mutex::new(None)).collect();
    let work = || {
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(item) = items.get(i) else { break };
            let r = f(item);
            if let Some(Ok(mut slot)) = slots.get(i).map(|m| m.lock()) {
                *slot = Some(r);
            }
        }
    };
    std::thread::scope(|s| {
        let mut workers = crate::threads::Joined::with_capacity(threads);
        let started = (0..threads)
            .filter(|_| {
                workers
                    .spawn(s, std::thread::Builder::new(), work)
                    .is_some()
            })
            .count();
        if started == 0 {
            // No thread could be started: the items are done here.
            work();
        }
    });
    slots
        .into_iter()
        .map(|m| m.into_inner().ok().flatten())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::map_ordered;

    #[test]
    fn results_keep_the_order_of_the_items() {
        let items: Vec<u32> = (0..1000).collect();
        let out = map_ordered(&items, |n| {
            // Uneven work so that workers finish out of order.
            let spin = (n % 7) * 1000;
            (0..spin).fold(*n, |a, b| a.wrapping_add(b & 1)) - (0..spin).map(|b| b & 1).sum::<u32>()
        });
        let got: Vec<u32> = out
            .into_iter()
            .map(|r| r.expect("every slot filled"))
            .collect();
        assert_eq!(got, items);
    }

    #[test]
    fn no_items_and_one_item() {
        let none: Vec<u8> = Vec::new();
        assert!(map_ordered(&none, |b| *b).is_empty());
        assert_eq!(map_ordered(&[7u8], |b| *b + 1), vec![Some(8)]);
    }
}
