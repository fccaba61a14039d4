//! Duplicate-key detection for one mapping of the tree builder.

use std::collections::HashSet;

use crate::tree::Item;

/// Maps with at most this many items are checked for duplicate keys by a linear scan.
const LINEAR_DUP_SCAN: usize = 24;

/// Duplicate-key detection for one mapping (first document only).
#[derive(Default)]
pub(super) struct Seen {
    hashes: Option<HashSet<u64>>,
}

fn key_hash(k: &str) -> u64 {
    use std::hash::BuildHasher;
    std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
        .hash_one(k)
}

impl Seen {
    /// Records `k` (to be appended to `items`); `false` if it is already a key there.
    pub(super) fn insert(&mut self, items: &[Item], k: &str) -> bool {
        let scan = |items: &[Item]| {
            !items
                .iter()
                .any(|i| matches!(i, Item::Entry(e, _) if e == k))
        };
        match &mut self.hashes {
            None if items.len() <= LINEAR_DUP_SCAN => scan(items),
            None => {
                let mut set: HashSet<u64> = items
                    .iter()
                    .filter_map(|i| match i {
                        Item::Entry(e, _) => Some(key_hash(e)),
                        Item::Comment(_) => None,
                    })
                    .collect();
                let fresh = set.insert(key_hash(k)) || scan(items);
                self.hashes = Some(set);
                fresh
            }
            Some(set) => set.insert(key_hash(k)) || scan(items),
        }
    }
}
