//! The `sops` command-line shim: when leafseal runs under the name `sops` (a symlink or a
//! copy named `sops`), sops's flag-style command line is rewritten into leafseal's
//! subcommands before clap sees it, so tools that call a `sops` binary (helm-secrets,
//! Flux's docs, editors, scripts) work unchanged.
//!
//! `sops -d F`, `sops --decrypt --input-type yaml --output-type yaml [--output O] F`,
//! `sops -e [-i] F`, `sops --encrypt --age R F`, `sops -d --extract P F` become the
//! `decrypt`/`encrypt` commands; `sops decrypt …`, `sops encrypt …`, `sops filestatus F`
//! pass through; `sops --version` prints `sops 3.13.2 (leafseal X.Y.Z)`; `sops F` (the
//! editor) maps to `edit` when this build has it.
//!
//! The same flag forms work under the name `leafseal` (`leafseal -d F`, `leafseal -e -i F`,
//! `leafseal -r -i F`, `leafseal -s F`, `leafseal --set '…' F`): when the first argument
//! after leafseal's own global flags is one of sops's mode flags, the command line is
//! rewritten the same way; everything else goes to clap unchanged.

use std::ffi::OsString;
use std::path::Path;

use crate::cli;
use crate::error::Error;
use crate::error::exit;

mod legacy;

pub use legacy::Rewritten;
pub use legacy::rewrite_warn;

/// What `main` does after the shim looked at the command line.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Parse and run these arguments.
    Run(Vec<OsString>),
    /// Exit with this code (the shim printed what it had to).
    Exit(i32),
}

/// The result of rewriting a sops command line.
#[derive(Debug, PartialEq, Eq)]
pub enum Rewrite {
    /// leafseal arguments (the first is the program name).
    Args(Vec<String>),
    /// Print the version line.
    Version,
    /// Print this text on standard output and exit 0 (`--generate-bash-completion`).
    Print(String),
}

/// Flags of sops that take a value (so their value is not mistaken for the file name or a
/// subcommand).
const VALUE_FLAGS: &[&str] = &[
    "--input-type",
    "--output-type",
    "--output",
    "--extract",
    "--set",
    "--config",
    "--filename-override",
    "--indent",
    "-a",
    "--age",
    "-p",
    "--pgp",
    "-k",
    "--kms",
    "--gcp-kms",
    "--azure-kv",
    "--hc-vault-transit",
    "--hckms",
    "--aws-profile",
    "--encryption-context",
    "--encrypted-regex",
    "--unencrypted-regex",
    "--encrypted-suffix",
    "--unencrypted-suffix",
    "--encrypted-comment-regex",
    "--unencrypted-comment-regex",
    "--shamir-secret-sharing-threshold",
    "--decryption-order",
    "--keyservice",
    "--add-age",
    "--rm-age",
    "--add-pgp",
    "--rm-pgp",
    "--add-kms",
    "--rm-kms",
    "--add-gcp-kms",
    "--rm-gcp-kms",
    "--add-hckms",
    "--rm-hckms",
    "--add-azure-kv",
    "--rm-azure-kv",
    "--add-hc-vault-transit",
    "--rm-hc-vault-transit",
];

/// sops flags without a leafseal meaning, dropped.
const IGNORED_FLAGS: &[&str] = &[
    "--verbose",
    "--disable-version-check",
    "--check-for-updates",
];

/// sops (and leafseal) subcommands passed through.
const SUBCOMMANDS: &[&str] = &[
    "decrypt",
    "encrypt",
    "filestatus",
    "rotate",
    "edit",
    "updatekeys",
    "set",
    "unset",
    "groups",
    "exec-env",
    "exec-file",
    "publish",
    "keyservice",
    "completion",
    "help",
];

/// The version line printed for `sops --version`.
pub fn version_line() -> String {
    format!(
        "sops {} (leafseal {})",
        crate::metadata::FORMAT_VERSION,
        env!("CARGO_PKG_VERSION")
    )
}

/// Whether a program name (argv\[0\]) is `sops`.
pub fn is_sops(argv0: &str) -> bool {
    let base = Path::new(argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    base == "sops" || base == "sops.exe"
}

fn takes_value(flag: &str) -> bool {
    !flag.contains('=') && VALUE_FLAGS.contains(&flag)
}

/// The letters of a cluster of sops's short boolean flags (`-di`, `-ei`).
fn cluster(s: &str) -> Option<&str> {
    s.strip_prefix('-')
        .filter(|r| r.len() > 1 && r.bytes().all(|b| b"deirs".contains(&b)))
}

/// Whether `name` is a leafseal subcommand (without building the command tree).
fn has_subcommand(name: &str) -> bool {
    <super::Command as clap::Subcommand>::has_subcommand(name)
}

fn conflict(msg: &str) -> Error {
    Error::new(exit::CONFLICTING_PARAMETERS, msg)
}

/// Rewrites a sops command line (`args[0]` is the program name); the warnings
/// [`rewrite_warn`] would print are dropped.
pub fn rewrite(args: &[String]) -> Result<Rewrite, Error> {
    rewrite_warn(args).map(|r| r.rewrite)
}

/// leafseal's global flags, which may come before a subcommand (the ones with a value
/// first).
const GLOBAL_VALUE_FLAGS: &[&str] = &["--config"];
const GLOBAL_FLAGS: &[&str] = &[
    "--strict-integrity",
    "--allow-outside-root",
    "--force-target",
];

/// sops's flags that only make sense as its legacy (pre-subcommand) command line: one of
/// them first means `leafseal` was called the sops way.
const LEGACY_FLAGS: &[&str] = &[
    "-d",
    "--decrypt",
    "-e",
    "--encrypt",
    "-r",
    "--rotate",
    "-i",
    "--in-place",
    "-s",
    "--show-master-keys",
    "--set",
    "--extract",
    "--output",
    "--input-type",
    "--output-type",
    "--ignore-mac",
    "--verbose",
    "--disable-version-check",
    "--check-for-updates",
];

/// Whether a `leafseal` command line uses sops's legacy flag form: the first argument after
/// leafseal's global flags is a sops mode flag (or a cluster such as `-di`).
pub fn is_legacy_form(args: &[String]) -> bool {
    let mut i = 1;
    while let Some(a) = args.get(i) {
        let flag = a.split('=').next().unwrap_or_default();
        if GLOBAL_VALUE_FLAGS.contains(&flag) {
            i += if a.contains('=') { 1 } else { 2 };
            continue;
        }
        if GLOBAL_FLAGS.contains(&flag) {
            i += 1;
            continue;
        }
        return LEGACY_FLAGS.contains(&flag) || cluster(a).is_some();
    }
    false
}

/// The flags sops reads as not given when their value is empty (`--output ''` writes to
/// standard output, `--input-type ''` takes the format from the extension,
/// `exec-file --filename ''` uses `tmp-file`).
const EMPTY_MEANS_UNSET: &[&str] = &["--input-type", "--output-type", "--output", "--filename"];

/// The sops subcommands ([`SUBCOMMANDS`]) that take no [`EMPTY_MEANS_UNSET`] flag.
const WITHOUT_FILE_FLAGS: &[&str] = &["publish", "keyservice", "completion", "help"];

/// Drops `--input-type ''`, `--output-type ''`, `--output ''` and `--filename ''` (and
/// their `--flag=` forms) before a `--`, as sops reads an empty value as no flag: for a
/// sops-named call, a legacy form, or a sops subcommand. leafseal's own commands keep
/// clap's refusal.
pub fn drop_empty_flags(args: Vec<OsString>) -> Vec<OsString> {
    let strs: Vec<Option<&str>> = args.iter().map(|a| a.to_str()).collect();
    let sops_named = strs.first().copied().flatten().is_some_and(is_sops);
    let sub = subcommand_word(&strs);
    let plain: Option<Vec<String>> = strs.iter().map(|a| a.map(str::to_owned)).collect();
    let applies = sops_named
        || sub.is_some_and(|s| SUBCOMMANDS.contains(&s) && !WITHOUT_FILE_FLAGS.contains(&s))
        || plain.as_deref().is_some_and(is_legacy_form);
    if !applies {
        return args;
    }
    let mut out = Vec::with_capacity(args.len());
    let mut i = 0;
    let mut after_dashes = false;
    while i < args.len() {
        let a = strs[i];
        if !after_dashes && i > 0 {
            if a == Some("--") {
                after_dashes = true;
            } else if a.is_some_and(|f| EMPTY_MEANS_UNSET.contains(&f)) {
                if strs.get(i + 1).copied().flatten() == Some("") {
                    i += 2;
                    continue;
                }
            } else if a.is_some_and(|f| {
                f.strip_suffix('=')
                    .is_some_and(|f| EMPTY_MEANS_UNSET.contains(&f))
            }) {
                i += 1;
                continue;
            }
        }
        out.push(args[i].clone());
        i += 1;
    }
    out
}

/// The first word after the program name that is neither a flag nor the value of a
/// leafseal global flag (`--config FILE`): the subcommand, if any.
fn subcommand_word<'a>(strs: &[Option<&'a str>]) -> Option<&'a str> {
    let mut words = strs.iter().skip(1).map(|a| a.unwrap_or("-"));
    while let Some(a) = words.next() {
        if GLOBAL_VALUE_FLAGS.contains(&a) {
            words.next();
        } else if !a.starts_with('-') {
            return Some(a);
        }
    }
    None
}

/// Looks at the process arguments: unchanged unless the program is called `sops`, or is
/// called `leafseal` the sops way ([`is_legacy_form`]). Empty `--input-type`,
/// `--output-type` and `--output` values are dropped first ([`drop_empty_flags`]).
pub fn intercept(args: Vec<OsString>) -> Action {
    let args = drop_empty_flags(args);
    let Some(argv0) = args.first().and_then(|a| a.to_str()) else {
        return Action::Run(args);
    };
    if !is_sops(argv0) {
        let strs: Option<Vec<String>> =
            args.iter().map(|a| a.to_str().map(str::to_owned)).collect();
        if !strs.as_deref().is_some_and(is_legacy_form) {
            return Action::Run(args);
        }
    }
    let Some(strs) = args
        .iter()
        .map(|a| a.to_str().map(str::to_owned))
        .collect::<Option<Vec<String>>>()
    else {
        return Action::Run(args);
    };
    let rewritten = match rewrite_warn(&strs) {
        Ok(r) => r,
        Err(e) => {
            cli::report(&e);
            return Action::Exit(e.code);
        }
    };
    for w in &rewritten.warnings {
        cli::warn(w);
    }
    if let Some(file) = rewritten.must_exist.filter(|f| !Path::new(f).exists()) {
        let e = Error::new(
            exit::NO_FILE_SPECIFIED,
            format!("cannot operate on non-existent file {file}"),
        )
        .hint("check the file name: rotate works on an existing encrypted file");
        cli::report(&e);
        return Action::Exit(e.code);
    }
    let text = match rewritten.rewrite {
        Rewrite::Args(v) => return Action::Run(v.into_iter().map(OsString::from).collect()),
        Rewrite::Version => format!("{}\n", version_line()),
        Rewrite::Print(text) => text,
    };
    match crate::io::write_stdout(text.as_bytes()) {
        Ok(()) => Action::Exit(0),
        Err(e) => {
            cli::report(&e);
            Action::Exit(e.code)
        }
    }
}

#[cfg(test)]
mod tests;
