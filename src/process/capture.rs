//! Reading what a started program prints, with a hard bound on its standard output.
//!
//! `Command::output` and `Child::wait_with_output` keep everything a program prints. The
//! programs leafseal reads a secret from (`gpg --decrypt`, `SOPS_AGE_KEY_CMD`, an AWS
//! `credential_process`, a Vault token helper) print a few bytes to a few kilobytes, but
//! what they print is not under leafseal's control: `gpg --decrypt` of a planted 2 KB
//! compressed OpenPGP message prints 512 MiB (the audit's pgp_decompression_bomb case).
//! [`capture`] keeps at most a given number of bytes of standard output, stops the
//! program when it prints more, and keeps at most [`STDERR_MAX`] bytes of its errors
//! (the rest is read and dropped, so the program never blocks on a full pipe).

use std::io::Read;
use std::io::Write;
use std::process::Child;
use std::process::ExitStatus;

use zeroize::Zeroizing;

/// The most of a program's standard error that is kept (its first lines are what an
/// error message quotes).
pub const STDERR_MAX: usize = 64 * 1024;

/// What a program printed, within the bounds.
pub struct Captured {
    /// How it ended (killed, when its output was too long).
    pub status: ExitStatus,
    /// Its standard output (wiped when dropped: it is usually a secret), at most the
    /// bound given to [`capture`].
    pub stdout: Zeroizing<Vec<u8>>,
    /// The first [`STDERR_MAX`] bytes of its standard error, when it was piped.
    pub stderr: Vec<u8>,
    /// Whether it printed more than the bound (it was then stopped, and `stdout` holds
    /// only the first bytes).
    pub too_long: bool,
}

/// Writes `input` to `child`'s standard input (when it is piped; then closes it), reads
/// at most `stdout_max` bytes of its standard output, and waits for it. A program that
/// prints more than `stdout_max` bytes is killed; the result says so in
/// [`Captured::too_long`]. Standard output must be piped.
pub fn capture(child: &mut Child, input: &[u8], stdout_max: usize) -> std::io::Result<Captured> {
    let stdin = child.stdin.take();
    let stderr = child.stderr.take();
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| std::io::Error::other("standard output is not piped"))?;
    let (read, err) = std::thread::scope(|s| {
        if let Some(mut w) = stdin {
            // A program that exits without reading its input closes the pipe: that is
            // its answer, not an error here. Dropping the handle closes the pipe.
            s.spawn(move || {
                let _ = w.write_all(input);
            });
        }
        let err = stderr.map(|e| s.spawn(move || read_stderr(e)));
        let read = read_bounded(&mut stdout, stdout_max);
        if matches!(read, Ok((_, true))) {
            // Killed before waiting, so the standard error reader sees the end of it.
            let _ = child.kill();
        }
        drop(stdout);
        let err = err.and_then(|h| h.join().ok()).unwrap_or_default();
        (read, err)
    });
    let status = child.wait()?;
    let (stdout, too_long) = read?;
    Ok(Captured {
        status,
        stdout,
        stderr: err,
        too_long,
    })
}

/// Reads at most `max` bytes into a buffer allocated once (a growing `Vec` would free
/// copies of a secret unwiped); `true` when there was more.
fn read_bounded(r: &mut impl Read, max: usize) -> std::io::Result<(Zeroizing<Vec<u8>>, bool)> {
    let mut buf = Zeroizing::new(vec![0u8; max.saturating_add(1)]);
    let mut filled = 0;
    while let Some(room) = buf.get_mut(filled..).filter(|r| !r.is_empty()) {
        match r.read(room) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let too_long = filled > max;
    buf.truncate(filled.min(max));
    Ok((buf, too_long))
}

/// The first [`STDERR_MAX`] bytes of a standard error pipe; the rest is read and dropped.
fn read_stderr(mut e: impl Read) -> Vec<u8> {
    let mut kept = Vec::new();
    let _ = (&mut e).take(STDERR_MAX as u64).read_to_end(&mut kept);
    let _ = std::io::copy(&mut e, &mut std::io::sink());
    kept
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::process::Stdio;

    use super::*;

    fn sh(script: &str) -> Child {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    #[test]
    fn output_within_the_bound_is_kept_whole() {
        let mut c = sh("cat; printf oops >&2");
        let got = capture(&mut c, b"0123456789", 10).unwrap();
        assert!(got.status.success());
        assert!(!got.too_long);
        assert_eq!(&got.stdout[..], b"0123456789");
        assert_eq!(got.stderr, b"oops");
    }

    #[test]
    fn endless_output_stops_the_program_audit_pgp_decompression_bomb() {
        // `yes` never ends on its own: only the bound stops it.
        let mut c = sh("exec yes");
        let got = capture(&mut c, b"", 4096).unwrap();
        assert!(got.too_long);
        assert!(!got.status.success());
        assert_eq!(got.stdout.len(), 4096);
    }

    #[test]
    fn endless_standard_error_is_drained_not_kept() {
        let mut c = sh("head -c 1000000 /dev/zero >&2; printf ok");
        let got = capture(&mut c, b"", 16).unwrap();
        assert_eq!(&got.stdout[..], b"ok");
        assert_eq!(got.stderr.len(), STDERR_MAX);
    }
}
