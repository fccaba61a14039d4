//! Byte searches for the paths a small file takes, which never ask which CPU features
//! the machine has.
//!
//! `memchr::memchr` and `memchr::memmem` pick their AVX2 code at the first call through
//! std's feature detection, a series of `cpuid` instructions; under a hypervisor each one
//! leaves the virtual machine, and together they were about 2% of a tiny file's
//! `decrypt`. The searches here use SSE2, which every x86-64 processor has (no detection),
//! and `memchr`'s portable code elsewhere. The large-file paths keep `memchr` itself.

/// The first `needle` in `hay`.
pub fn byte(needle: u8, hay: &[u8]) -> Option<usize> {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    if let Some(one) = memchr::arch::x86_64::sse2::memchr::One::new(needle) {
        return one.find(hay);
    }
    memchr::arch::all::memchr::One::new(needle).find(hay)
}

/// The last `needle` in `hay`.
pub fn rbyte(needle: u8, hay: &[u8]) -> Option<usize> {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    if let Some(one) = memchr::arch::x86_64::sse2::memchr::One::new(needle) {
        return one.rfind(hay);
    }
    memchr::arch::all::memchr::One::new(needle).rfind(hay)
}

/// Whether `hay` holds `needle` (not empty) anywhere: each place of its first byte is
/// checked in turn, which suits a needle whose first byte is rare in the haystack.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    let Some((&first, _)) = needle.split_first() else {
        return true;
    };
    let mut from = 0;
    while let Some(p) = hay.get(from..).and_then(|h| byte(first, h)) {
        if hay.get(from + p..).is_some_and(|h| h.starts_with(needle)) {
            return true;
        }
        from += p + 1;
    }
    false
}

/// Below this size a search uses [`contains`]: `memchr::memmem`'s first call costs more
/// (its feature detection) than searching a small text without it.
const SMALL_HAY: usize = 1 << 20;

/// Whether `hay` holds `needle` (not empty): [`contains`] for a text under 1 MiB,
/// `memchr::memmem` (AVX2 after its one-time detection) for a larger one, where the
/// detection's cost is lost in the search.
pub fn contains_scaled(hay: &[u8], needle: &[u8]) -> bool {
    if hay.len() < SMALL_HAY {
        contains(hay, needle)
    } else {
        memchr::memmem::find(hay, needle).is_some()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_searches_agree_with_the_naive_ones() {
        // A fixed pseudo-random text over a few letters, with runs of `<` in it.
        let mut x = 12345u32;
        let hay: Vec<u8> = (0..300)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                b"ab,]<<<"[(x >> 16) as usize % 7]
            })
            .collect();
        for n in [0, 1, 15, 16, 17, 31, 32, 33, 64, 100, 300] {
            let h = &hay[..n];
            for needle in [b',', b']', b'<', b'z'] {
                assert_eq!(
                    super::byte(needle, h),
                    h.iter().position(|&b| b == needle),
                    "{n} {needle}"
                );
                assert_eq!(
                    super::rbyte(needle, h),
                    h.iter().rposition(|&b| b == needle),
                    "{n} {needle}"
                );
            }
            for needle in [&b"<<"[..], b"<<<", b"ab,", b"<<<<<<<", b"]<a", b"zz", b""] {
                assert_eq!(
                    super::contains(h, needle),
                    needle.is_empty() || h.windows(needle.len()).any(|w| w == needle),
                    "{n} {needle:?}"
                );
            }
        }
        assert!(
            hay.windows(3).any(|w| w == b"<<<"),
            "the text has runs to find"
        );
        assert!(super::contains(b"x\n<<<<<< <<<<<<<<", b"<<<<<<<"));
        assert!(!super::contains(b"<<<<<<\n<<<<<<", b"<<<<<<<"));
    }

    #[test]
    fn the_scaled_search_agrees_on_both_sides_of_its_size() {
        for len in [
            0,
            100,
            super::SMALL_HAY - 1,
            super::SMALL_HAY,
            super::SMALL_HAY + 7,
        ] {
            let mut hay = vec![b'a'; len];
            assert!(!super::contains_scaled(&hay, b"\nsops:"), "{len}");
            if len > 10 {
                let at = len - 7;
                hay[at..at + 6].copy_from_slice(b"\nsops:");
                assert!(super::contains_scaled(&hay, b"\nsops:"), "{len}");
            }
        }
    }
}
