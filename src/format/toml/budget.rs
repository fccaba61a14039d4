//! Bounds on how much structure a TOML file may hold, checked before toml_edit parses it.
//!
//! toml_edit's document costs about 1 KB per table (its key, decor, span and index map)
//! and a few hundred bytes per key or array element, on top of the tokens and events its
//! parser keeps for the whole file (about 50 bytes per token): a 1 MB file of `[[t]]`
//! headers took 230 MB. A file with more than [`MAX_STRUCTURE`] structural characters is
//! refused before anything is built, which bounds that memory (docs/security.md, "Memory
//! amplification").

use super::FORMAT;
use crate::format::FormatError;

/// The most `=`, `[`, `{` and `,` (outside strings and comments) a TOML file may hold:
/// one per key, two per `[[array]]` header, one per `[table]` header, inline table, array
/// and array element. A secrets file with 100,000 of them is far beyond any seen
/// (leafseal's own `Cargo.lock`, 296 packages, holds 2,907).
pub(super) const MAX_STRUCTURE: usize = 100_000;

/// Refuses a text holding more than [`MAX_STRUCTURE`] structural characters.
pub(super) fn check(text: &str) -> Result<(), FormatError> {
    if over_budget(text) {
        return Err(FormatError::new(FORMAT, over_message("the document holds")));
    }
    Ok(())
}

/// Refuses to write an encrypted document that [`check`] would refuse to read back.
pub(super) fn check_written(output: &[u8]) -> Result<(), FormatError> {
    match std::str::from_utf8(output) {
        Ok(text) if over_budget(text) => Err(FormatError::new(
            FORMAT,
            over_message("the encrypted document would hold"),
        )),
        _ => Ok(()),
    }
}

/// Whether the data, or the sops table on its own, holds more than [`MAX_STRUCTURE`].
fn over_budget(text: &str) -> bool {
    let scan = scan(text, MAX_STRUCTURE + 1);
    scan.count > MAX_STRUCTURE || scan.metadata_count > MAX_STRUCTURE
}

fn over_message(subject: &str) -> String {
    format!(
        "{subject} more than {MAX_STRUCTURE} keys, tables and array elements (counted \
         as `=`, `[`, `{{` and `,` outside strings and comments; the sops table has a \
         budget of its own), more than a secrets file plausibly holds; TOML files are \
         refused beyond that to bound memory"
    )
}

/// The structural characters outside the sops table (see [`scan`]), up to `stop`.
/// The offset of the first line whose key or table header has 80 or more dotted parts
/// (where toml_edit stops without saying where). Dots inside quotes do not count.
pub(super) fn deep_key(text: &str) -> Option<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let mut dots = 0usize;
        let mut quote: Option<char> = None;
        let mut escaped = false;
        for c in line.chars() {
            match quote {
                Some(q) => {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' && q == '"' {
                        escaped = true;
                    } else if c == q {
                        quote = None;
                    }
                }
                None => match c {
                    '"' | '\'' => quote = Some(c),
                    '.' => dots += 1,
                    '=' | ']' | '#' => break,
                    _ => {}
                },
            }
        }
        if dots >= 79 {
            return Some(offset);
        }
        offset += line.len();
    }
    None
}

#[cfg(test)]
pub(super) fn structure_count(text: &str, stop: usize) -> usize {
    scan(text, stop).count
}

/// Whether a text refused by [`check`] has a `[sops]` table (or a table inside it): an
/// encrypted TOML file, whose reading should say why it is refused rather than be taken
/// for another format.
pub(super) fn refused_with_sops_table(text: &str) -> bool {
    over_budget(text) && scan(text, usize::MAX).sops_table
}

/// What [`scan`] found.
struct Scan {
    /// Structural characters outside strings, comments and the sops table.
    count: usize,
    /// Structural characters in the sops table (bounded on their own, so that a file
    /// cannot hide its structure there).
    metadata_count: usize,
    /// Whether a `[sops…]` header was seen.
    sops_table: bool,
}

/// Counts `=`, `[`, `{` and `,` outside strings and comments, apart inside the `[sops]`
/// table (its `[sops…]` and `[[sops…]]` sections: the metadata, which encryption adds),
/// stopping when either count reaches `stop`. A header is a `[` that starts a line
/// outside any array or inline table. A malformed text may be counted loosely
/// (toml_edit then reports where it is wrong): a single-line string that is not closed
/// ends at the end of its line.
fn scan(text: &str, stop: usize) -> Scan {
    let bytes = text.as_bytes();
    let mut sops_table = false;
    let mut count = 0;
    let mut metadata_count = 0;
    let mut depth = 0usize;
    let mut line_start = true;
    let mut in_sops = false;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        i += 1;
        let counted = match b {
            b' ' | b'\t' | b'\r' => continue,
            b'\n' => {
                line_start = true;
                continue;
            }
            b'#' => {
                i = line_end(bytes, i);
                false
            }
            b'"' | b'\'' => {
                i = string_end(bytes, i, b);
                false
            }
            b'[' => {
                if depth == 0 && line_start {
                    in_sops = names_sops(bytes, i);
                    sops_table |= in_sops;
                }
                depth += 1;
                true
            }
            b'{' => {
                depth += 1;
                true
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                false
            }
            b'=' | b',' => true,
            _ => false,
        };
        line_start = false;
        if counted {
            let which = if in_sops {
                &mut metadata_count
            } else {
                &mut count
            };
            *which += 1;
            if *which >= stop {
                break;
            }
        }
    }
    Scan {
        count,
        metadata_count,
        sops_table,
    }
}

/// Whether the table header whose first `[` ends before `from` names `sops` or a table
/// inside it (`[sops]`, `[sops.age]`, `[[sops.age]]`; a quoted `"sops"` is not seen).
fn names_sops(bytes: &[u8], from: usize) -> bool {
    let rest = bytes.get(from..).unwrap_or(&[]);
    let name_at = rest
        .iter()
        .position(|&b| !matches!(b, b'[' | b' ' | b'\t'))
        .unwrap_or(rest.len());
    let name = rest.get(name_at..).unwrap_or(&[]);
    name.starts_with(b"sops") && matches!(name.get(4), Some(b']' | b'.' | b' ' | b'\t'))
}

/// The index of the next newline at or after `from` (or the end).
fn line_end(bytes: &[u8], from: usize) -> usize {
    bytes
        .get(from..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
        .map_or(bytes.len(), |p| from + p)
}

/// The index just after the string whose opening `quote` ends before `from`: a
/// multi-line string when two more quotes follow, else a single-line one. Basic (`"`)
/// strings skip the character after a backslash.
fn string_end(bytes: &[u8], from: usize, quote: u8) -> usize {
    let triple = [quote, quote];
    let multi = bytes.get(from..from + 2) == Some(&triple[..]);
    let mut i = if multi { from + 2 } else { from };
    while let Some(&b) = bytes.get(i) {
        i += 1;
        if b == b'\\' && quote == b'"' {
            i += 1;
        } else if b == quote {
            if !multi {
                return i;
            }
            if bytes.get(i..i + 2) == Some(&triple[..]) {
                return i + 2;
            }
        } else if b == b'\n' && !multi {
            return i;
        }
    }
    bytes.len()
}
