//! Comparing the editor's text with the plaintext it was given, in memory or by reading
//! the edited file in blocks (so that the edited text is never held whole when only one
//! part changed): the common prefix and suffix, and which part they leave changed.

use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;

use zeroize::Zeroizing;

/// The block in which the texts are compared (one `memcmp` each) before the first
/// differing byte is looked for; also the size of the reads of the edited file.
const BLOCK: usize = 64 * 1024;

/// The length of the longest common prefix of `a` and `b`.
pub(super) fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut at = 0;
    while at < n {
        let end = (at + BLOCK).min(n);
        let (x, y) = (&a[at..end], &b[at..end]);
        if x != y {
            return at + x.iter().zip(y).take_while(|(p, q)| p == q).count();
        }
        at = end;
    }
    n
}

/// The length of the longest common suffix of `a` and `b`, at most `max`.
pub(super) fn common_suffix(a: &[u8], b: &[u8], max: usize) -> usize {
    let n = max.min(a.len()).min(b.len());
    let mut done = 0;
    while done < n {
        let step = BLOCK.min(n - done);
        let x = &a[a.len() - done - step..a.len() - done];
        let y = &b[b.len() - done - step..b.len() - done];
        if x != y {
            let same = x
                .iter()
                .rev()
                .zip(y.iter().rev())
                .take_while(|(p, q)| p == q);
            return done + same.count();
        }
        done += step;
    }
    n
}

/// How the edited file compares with the plaintext `old`.
pub(super) enum InFile {
    /// The same bytes.
    Same,
    /// Changed between the common prefix and suffix: the edited file's length, and
    /// those two lengths.
    Changed {
        len: usize,
        prefix: usize,
        suffix: usize,
    },
}

/// Compares the edited `file` with `old` by reading it in blocks from both ends (a
/// buffer of one block, wiped).
pub(super) fn compare_file(old: &[u8], file: &File) -> std::io::Result<InFile> {
    let len = usize::try_from(file.metadata()?.len())
        .map_err(|_| std::io::Error::other("the edited file is too large"))?;
    let mut buf = Zeroizing::new(vec![0u8; BLOCK]);
    let n = len.min(old.len());
    let mut prefix = 0;
    while prefix < n {
        let step = BLOCK.min(n - prefix);
        let got = &mut buf[..step];
        file.read_exact_at(got, prefix as u64)?;
        let want = &old[prefix..prefix + step];
        if got != want {
            prefix += common_prefix(want, got);
            break;
        }
        prefix += step;
    }
    if prefix == n && len == old.len() {
        return Ok(InFile::Same);
    }
    let room = n - prefix;
    let mut suffix = 0;
    while suffix < room {
        let step = BLOCK.min(room - suffix);
        let got = &mut buf[..step];
        file.read_exact_at(got, (len - suffix - step) as u64)?;
        let want = &old[old.len() - suffix - step..old.len() - suffix];
        if got != want {
            suffix += common_suffix(want, got, step);
            break;
        }
        suffix += step;
    }
    Ok(InFile::Changed {
        len,
        prefix,
        suffix,
    })
}

/// Reads `range` of the edited file (wiped on drop).
pub(super) fn read_range(file: &File, range: Range<usize>) -> std::io::Result<Zeroizing<Vec<u8>>> {
    let mut text = Zeroizing::new(vec![0u8; range.len()]);
    file.read_exact_at(&mut text, range.start as u64)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The prefix and suffix the in-memory comparison finds, as `compare_file` reports
    /// them (`None`: the same text).
    fn in_memory(old: &[u8], new: &[u8]) -> Option<(usize, usize, usize)> {
        let prefix = common_prefix(old, new);
        if prefix == old.len() && old.len() == new.len() {
            return None;
        }
        let room = old.len().min(new.len()) - prefix;
        Some((new.len(), prefix, common_suffix(old, new, room)))
    }

    #[test]
    fn the_file_comparison_finds_what_the_in_memory_one_finds() {
        let old: Vec<u8> = (0..3 * BLOCK + 777).map(|i| (i * 7 % 251) as u8).collect();
        let mut cases: Vec<Vec<u8>> = vec![old.clone(), Vec::new(), old[..10].to_vec()];
        for at in [
            0,
            1,
            BLOCK - 1,
            BLOCK,
            BLOCK + 1,
            2 * BLOCK + 5,
            old.len() - 1,
        ] {
            let mut changed = old.clone();
            changed[at] ^= 0x55;
            cases.push(changed);
            let mut longer = old.clone();
            longer.splice(at..at, b"inserted text".iter().copied());
            cases.push(longer);
            let mut shorter = old.clone();
            shorter.drain(at..(at + 300).min(old.len()));
            cases.push(shorter);
        }
        let mut appended = old.clone();
        appended.extend_from_slice(b"tail");
        cases.push(appended);
        let dir = tempfile::tempdir().expect("dir");
        for (n, new) in cases.iter().enumerate() {
            let p = dir.path().join(format!("{n}"));
            std::fs::write(&p, new).expect("write");
            let f = File::open(&p).expect("open");
            let got = match compare_file(&old, &f).expect("compare") {
                InFile::Same => None,
                InFile::Changed {
                    len,
                    prefix,
                    suffix,
                } => Some((len, prefix, suffix)),
            };
            assert_eq!(got, in_memory(&old, new), "case {n}");
            if let Some((len, prefix, suffix)) = got {
                let mid = read_range(&f, prefix..len - suffix).expect("read");
                assert_eq!(mid.as_slice(), &new[prefix..len - suffix], "case {n}");
            }
        }
    }
}
