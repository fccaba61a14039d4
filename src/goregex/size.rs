//! The size limits of compiled regexes: each one's ([`SIZE_TIERS`]) and a policy's
//! together ([`POLICY_BUDGET`]).

use regex::Regex;

use super::GoRegexError;
use super::MAX_PATTERN_LEN;
use super::translate;

/// The compiled-size tiers a regex is charged by (bytes of the `regex` crate's compiled
/// program, its `size_limit`). The last is the most one regex may take: a tenth of the
/// crate's default (10 MiB). `\pL{100}N` (12 bytes of pattern) compiles to 5.4 MB, and
/// 400 such rules took 2.2 GB and 16 s in `leafseal check` (the audit's
/// policy_regex_rules case); real path and key selectors fit the first tier.
pub const SIZE_TIERS: [usize; 3] = [4 << 10, 64 << 10, 1 << 20];

/// The lazy DFA's cache per regex (the crate's default is 2 MiB): a regex whose DFA
/// needs more falls back to a slower engine, with the same matches.
const DFA_SIZE_LIMIT: usize = 256 << 10;

/// The most the regexes of one policy may be charged in all
/// ([`GoRegex::compiled_cost`](super::GoRegex::compiled_cost)): 8192 small ones, or 32 of
/// the largest.
pub const POLICY_BUDGET: usize = 32 << 20;

/// [`compile`](super::compile), with the tier of [`SIZE_TIERS`] the regex fits in. A
/// compile stops as soon as it passes a tier's limit, so trying the tiers in turn costs
/// little.
pub(super) fn compile_costed(pattern: &str) -> Result<(Regex, usize), GoRegexError> {
    if pattern.len() > MAX_PATTERN_LEN {
        return Err(GoRegexError {
            offset: MAX_PATTERN_LEN,
            problem: format!(
                "longer than {MAX_PATTERN_LEN} bytes ({} bytes)",
                pattern.len()
            ),
            expr: String::new(),
            beyond_limits: true,
        });
    }
    let translated = translate(pattern)?;
    for tier in SIZE_TIERS {
        match regex::RegexBuilder::new(&translated)
            .size_limit(tier)
            .dfa_size_limit(DFA_SIZE_LIMIT)
            .build()
        {
            Ok(r) => return Ok((r, tier)),
            Err(regex::Error::CompiledTooBig(_)) => {}
            Err(e) => return Err(beyond_limits(&e)),
        }
    }
    Err(GoRegexError {
        offset: 0,
        problem: format!(
            "its compiled form is larger than {} KiB (the most leafseal allows one regex, \
             to bound the memory a planted policy can take); write it shorter, e.g. with `+` \
             or `*` instead of a large repetition count",
            MAX_COMPILED >> 10
        ),
        expr: String::new(),
        beyond_limits: true,
    })
}

/// The most one compiled regex may take (the last tier).
const MAX_COMPILED: usize = SIZE_TIERS[SIZE_TIERS.len() - 1];

fn beyond_limits(e: &regex::Error) -> GoRegexError {
    GoRegexError {
        offset: 0,
        problem: e.to_string().lines().last().unwrap_or("").trim().to_owned(),
        expr: String::new(),
        beyond_limits: true,
    }
}
