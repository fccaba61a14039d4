//! The textconv diff driver: an encrypted file becomes its plaintext (in the file's own
//! format, as `decrypt` prints it) so `git diff`, `git log -p` and `git show` show what
//! changed. A file that cannot be decrypted (not encrypted, no key, corrupt, MAC mismatch)
//! is passed through byte for byte, so git shows the ciphertext and nothing breaks.
//!
//! Never prompts: key sources run non-interactively (`gpg --batch --no-tty`); the only
//! output is the converted text (stdout) and at most one warning (stderr, by the CLI).

use crate::ops;
use crate::ops::EmitOptions;
use crate::ops::Format;
use crate::ops::KeyContext;
use crate::ops::Kind;
use crate::ops::OpenOptions;
use crate::ops::Output;

/// The result of converting one file.
#[derive(Debug)]
pub struct Textconv {
    /// What git should diff: the plaintext, or the input bytes unchanged.
    pub output: Output,
    /// Why the input was passed through, for one line on stderr (never a value). `None`
    /// when the file was decrypted or is simply not encrypted.
    pub warning: Option<String>,
}

/// The format of `name`, from its extension (a `.toml` file holding a TOML `sops` table
/// is TOML, otherwise sops's binary envelope).
pub fn format_for(name: &str, bytes: &[u8]) -> Format {
    ops::format_of_stored(name, bytes)
}

/// Text on one line: its lines trimmed and joined with a space.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Converts a file for `git diff`. Never fails: see the module docs. With `k8s_decode`,
/// Kubernetes Secrets' `data` values are shown base64-decoded
/// ([`crate::integrations::k8s`]).
pub fn textconv(
    bytes: &[u8],
    name: &str,
    ctx: &KeyContext,
    opts: &EmitOptions,
    k8s_decode: bool,
    strict_integrity: bool,
) -> Textconv {
    let fmt = format_for(name, bytes);
    let passthrough = |warning: Option<String>| Textconv {
        output: Output::new(bytes.to_vec()),
        warning,
    };
    if let Some(line) = crate::conflict::find(bytes) {
        return passthrough(Some(format!(
            "git conflict markers (line {line}): a merge without leafseal's merge driver; showing the file as it is (run `leafseal git setup`, then redo the merge)"
        )));
    }
    let loaded = match ops::classify(bytes, fmt) {
        Kind::Encrypted(l) => l,
        Kind::Unparseable(e) => {
            return passthrough(Some(format!(
                "cannot parse as {} ({e}); showing the file as it is",
                fmt.name()
            )));
        }
        Kind::Plain(_) => return passthrough(None),
    };
    // A `version` sops and `decrypt` refuse is shown as it is, as `decrypt` shows nothing.
    if let Some(raw) = &loaded.meta
        && let Err(e) = ops::check_stored_version(fmt, raw)
    {
        return passthrough(Some(format!(
            "{}; showing the file as it is",
            one_line(&e.message)
        )));
    }
    let open_opts = OpenOptions {
        strict_integrity,
        ..OpenOptions::default()
    };
    let mut opened = match ops::open(loaded, ctx, &open_opts) {
        Ok(o) => o,
        Err(e) => {
            // The whole message on one line: a user without the key needs the list of
            // keys tried, and git shows one line per warning best.
            let mut w = format!(
                "cannot decrypt, so the diff shows the encrypted file: {}",
                one_line(&e.message)
            );
            for h in &e.hints {
                w.push_str(" (hint: ");
                w.push_str(&one_line(h));
                w.push(')');
            }
            return passthrough(Some(w));
        }
    };
    if k8s_decode {
        ops::k8s::decode(&mut opened.doc);
    }
    match ops::emit_plain(fmt, &opened.doc, None, opts) {
        // A file without a valid integrity record is shown, with the note that says so
        // (under `strict_integrity` it was not opened).
        Ok(out) => Textconv {
            output: out,
            warning: (!opened.warnings.is_empty()).then(|| opened.warnings.join("; ")),
        },
        Err(e) => passthrough(Some(format!("{}; showing the encrypted file", e.message))),
    }
}
