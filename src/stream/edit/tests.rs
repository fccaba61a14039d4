use zeroize::Zeroizing;

use super::Kept;
use super::mac_from;
use crate::crypto::mac::MacHasher;

/// Parts with their MAC inputs and checkpoints, as the open keeps them.
fn kept(parts: &[&[&[u8]]], moe: bool) -> Vec<Kept> {
    let mut mac = MacHasher::new(moe);
    let mut out = Vec::new();
    for p in parts {
        let mac_at = mac.clone();
        for m in *p {
            mac.update(m);
        }
        out.push(Kept {
            plain: 0..0,
            mac_input: p.iter().map(|m| Zeroizing::new(m.to_vec())).collect(),
            mac_at,
            tokens: (None, Vec::new(), false),
        });
    }
    out
}

/// The MAC hashed from the start over every part, part `i` replaced.
fn sequential(parts: &[&[&[u8]]], i: usize, changed: &[&[u8]], moe: bool) -> String {
    let mut mac = MacHasher::new(moe);
    for (j, p) in parts.iter().enumerate() {
        for m in if j == i { changed } else { *p } {
            mac.update(m);
        }
    }
    mac.finish()
}

#[test]
fn checkpointed_mac_equals_the_sequential_one_for_every_changed_part() {
    let parts: &[&[&[u8]]] = &[
        &[b"first", b"1"],
        &[b"second"],
        &[],
        &[b"third", b"x", b"y"],
        &[b"last"],
    ];
    let changed: &[&[u8]] = &[b"edited", b"42"];
    let new: Vec<Zeroizing<Vec<u8>>> = changed.iter().map(|m| Zeroizing::new(m.to_vec())).collect();
    for moe in [false, true] {
        let k = kept(parts, moe);
        for i in 0..parts.len() {
            let got = mac_from(&k, i, &new).expect("part exists").finish();
            assert_eq!(
                got,
                sequential(parts, i, changed, moe),
                "part {i}, moe {moe}"
            );
            // The unchanged file's MAC too (the part's own input fed again).
            let same: Vec<Zeroizing<Vec<u8>>> = parts[i]
                .iter()
                .map(|m| Zeroizing::new(m.to_vec()))
                .collect();
            let got = mac_from(&k, i, &same).expect("part exists").finish();
            assert_eq!(got, sequential(parts, i, parts[i], moe));
        }
        assert!(mac_from(&k, parts.len(), &new).is_none());
    }
}
