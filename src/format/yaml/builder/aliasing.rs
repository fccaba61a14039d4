//! go-yaml v3's bound on alias expansion, which sops 3.11 applies to a plaintext YAML
//! file (its first document) before encrypting it: every node the decoder visits is one
//! decode, and every node visited through an alias (the copies) is also an alias
//! decode. Once there are more than 100 alias decodes and more than 1,000 decodes, the
//! share of alias decodes may be at most 99% up to 400,000 decodes, 10% from 4,000,000,
//! and falls linearly in between; the check runs at every decode, so a document is
//! refused at the first node where its count so far breaks the rule.
//!
//! The builder counts the same nodes as the events arrive: a document, each map, list
//! and scalar (keys included) once, an alias once plus every node of its anchor's
//! subtree (nested aliases expanded). A merge key's value (`<<: *a`) is counted where it
//! stands, and the merging map's other keys once more at its end, as go-yaml decodes
//! them again before merging; go-yaml also merges after the map's other keys, skips
//! merged values whose key is already set and does not decode a list of merged maps
//! itself, so near the boundary a document with merge keys may be refused a few nodes
//! earlier (or, for a list of merged maps, one node later) than sops refuses it.

/// Decodes below which 99% may come from aliases.
const LOW: u64 = 400_000;
/// Decodes from which only 10% may come from aliases.
const HIGH: u64 = 4_000_000;

/// The share of alias decodes go-yaml allows after `decodes` decodes.
fn allowed_share(decodes: u64) -> f64 {
    if decodes <= LOW {
        0.99
    } else if decodes >= HIGH {
        0.10
    } else {
        // Exact in f64: both counts are far below 2^53.
        0.99 - 0.89 * ((decodes - LOW) as f64 / (HIGH - LOW) as f64)
    }
}

/// Whether `aliases` of `decodes` decodes break go-yaml's rule.
pub(super) fn excessive(decodes: u64, aliases: u64) -> bool {
    aliases > 100 && decodes > 1000 && aliases as f64 / decodes as f64 > allowed_share(decodes)
}

/// The running counts of one document.
#[derive(Debug, Default)]
pub(super) struct DecodeCount {
    decodes: u64,
    aliases: u64,
    /// `decodes` before each open map or list: its own count is taken at its end (for an
    /// anchor on it).
    open: Vec<u64>,
}

impl DecodeCount {
    /// A new document: go-yaml's counts start again (sops checks its first document;
    /// leafseal checks each, see docs/compatibility.md).
    pub(super) fn reset(&mut self) {
        self.decodes = 0;
        self.aliases = 0;
        self.open.clear();
    }

    /// One node read as written (not through an alias); `false` if the rule is broken.
    pub(super) fn plain(&mut self) -> bool {
        self.decodes = self.decodes.saturating_add(1);
        !excessive(self.decodes, self.aliases)
    }

    /// A map or list starts (one decode).
    pub(super) fn open(&mut self) -> bool {
        self.open.push(self.decodes);
        self.plain()
    }

    /// A map or list ends: the decodes it took, its own included (what an alias to it
    /// costs).
    pub(super) fn close(&mut self) -> u64 {
        let start = self.open.pop().unwrap_or(0);
        self.decodes.saturating_sub(start)
    }

    /// An alias whose anchored node took `expanded` decodes: the alias node is one
    /// decode, each expanded node one decode and one alias decode. The rule is
    /// monotone along an expansion (the share only grows, the allowance only falls), so
    /// checking its end is checking every step of it.
    pub(super) fn alias(&mut self, expanded: u64) -> bool {
        if !self.plain() {
            return false;
        }
        self.decodes = self.decodes.saturating_add(expanded);
        self.aliases = self.aliases.saturating_add(expanded);
        !excessive(self.decodes, self.aliases)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_share_go_yaml_allows() {
        assert_eq!(allowed_share(1), 0.99);
        assert_eq!(allowed_share(LOW), 0.99);
        assert_eq!(allowed_share(HIGH), 0.10);
        assert_eq!(allowed_share(u64::MAX), 0.10);
        let mid = allowed_share((LOW + HIGH) / 2);
        assert!((mid - 0.545).abs() < 1e-12, "{mid}");
        // The three conditions.
        assert!(!excessive(1000, 990), "1,000 decodes are never refused");
        assert!(excessive(1001, 992));
        assert!(!excessive(1001, 990));
        assert!(
            !excessive(100_000, 100),
            "100 alias decodes are never refused"
        );
        assert!(excessive(HIGH, HIGH / 10 + 1));
        assert!(!excessive(HIGH, HIGH / 10));
    }

    #[test]
    fn an_expansion_is_counted_node_by_node() {
        let mut c = DecodeCount::default();
        // A document, a map, 5 keys and 5 scalars: 12 decodes.
        assert!(c.plain() && c.open());
        for _ in 0..10 {
            assert!(c.plain());
        }
        assert_eq!(c.close(), 11);
        // 1,000 aliases to that map: 1,001 decodes each, 1,000 of them alias.
        let mut refused_at = None;
        for i in 0..1000 {
            assert!(c.plain(), "the key");
            if !c.alias(11) {
                refused_at = Some(i);
                break;
            }
        }
        // 12 + i*13 decodes, i*11 aliases: the share passes 0.99 never, so it is
        // accepted; a bigger anchor goes over.
        assert_eq!(refused_at, None);
        let mut c = DecodeCount::default();
        assert!(c.plain() && c.open() && c.plain() && c.plain());
        assert!(
            c.plain() && c.alias(500),
            "500 of 506 decodes: not over 1,000 yet"
        );
        assert!(c.plain() && !c.alias(500), "1,000 of 1,007 is over 99%");
    }
}
