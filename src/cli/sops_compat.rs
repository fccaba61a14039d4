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
];

/// sops flags without a leafseal meaning, dropped.
const IGNORED_FLAGS: &[&str] = &["--verbose", "--disable-version-check"];

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

/// Rewrites a sops command line (`args[0]` is the program name).
pub fn rewrite(args: &[String]) -> Result<Rewrite, Error> {
    let prog = args.first().cloned().unwrap_or_else(|| "sops".to_owned());
    let rest = args.get(1..).unwrap_or_default();
    let mut mode: Option<&str> = None;
    let mut version = false;
    let mut help = false;
    let mut out: Vec<String> = Vec::new();
    let mut positionals = 0usize;
    let mut i = 0;
    while let Some(a) = rest.get(i) {
        i += 1;
        if a == "--" {
            out.extend(rest.get(i - 1..).unwrap_or_default().iter().cloned());
            positionals += rest.len().saturating_sub(i);
            break;
        }
        if positionals == 0 && mode.is_none() && SUBCOMMANDS.contains(&a.as_str()) {
            let mut v = vec![prog, a.clone()];
            v.extend(out);
            v.extend(rest.get(i..).unwrap_or_default().iter().cloned());
            // `keyservice --verbose` logs its requests in leafseal too.
            let keep_verbose = a == "keyservice";
            v.retain(|x| {
                !IGNORED_FLAGS.contains(&x.as_str()) || (keep_verbose && x == "--verbose")
            });
            return Ok(Rewrite::Args(v));
        }
        let set_mode = |mode: &mut Option<&str>, m: &'static str| -> Result<(), Error> {
            match mode {
                Some(old) if *old != m => Err(conflict(
                    "only one of --encrypt, --decrypt and --rotate may be given",
                )),
                _ => {
                    *mode = Some(m);
                    Ok(())
                }
            }
        };
        match a.as_str() {
            "-d" | "--decrypt" => set_mode(&mut mode, "decrypt")?,
            "-e" | "--encrypt" => set_mode(&mut mode, "encrypt")?,
            "-r" | "--rotate" => set_mode(&mut mode, "rotate")?,
            "-i" | "--in-place" => out.push("--in-place".to_owned()),
            "-s" | "--show-master-keys" => out.push("--show-master-keys".to_owned()),
            "-v" | "--version" => version = true,
            "-h" | "--help" => help = true,
            s if IGNORED_FLAGS.contains(&s) => {}
            s if cluster(s).is_some() => {
                for b in cluster(s).unwrap_or_default().bytes() {
                    match b {
                        b'd' => set_mode(&mut mode, "decrypt")?,
                        b'e' => set_mode(&mut mode, "encrypt")?,
                        b'r' => set_mode(&mut mode, "rotate")?,
                        b'i' => out.push("--in-place".to_owned()),
                        b's' => out.push("--show-master-keys".to_owned()),
                        _ => {}
                    }
                }
            }
            s if s.starts_with('-') && s.len() > 1 => {
                out.push(a.clone());
                if takes_value(s)
                    && let Some(v) = rest.get(i)
                {
                    out.push(v.clone());
                    i += 1;
                }
            }
            _ => {
                positionals += 1;
                out.push(a.clone());
            }
        }
    }
    let sub = match mode {
        Some(m) => m,
        None if help => return Ok(Rewrite::Args(vec![prog, "--help".to_owned()])),
        None if version => return Ok(Rewrite::Version),
        None if positionals > 0 => "edit",
        None => return Ok(Rewrite::Args(vec![prog, "--help".to_owned()])),
    };
    if !has_subcommand(sub) {
        return Err(Error::new(
            exit::GENERIC,
            format!(
                "this leafseal build has no `{sub}` command, so `sops` without -d/-e cannot run it"
            ),
        )
        .hint("use `sops -d FILE` / `sops -e FILE`, or leafseal's own commands"));
    }
    if sub == "edit"
        && let Some(at) = out.iter().position(|x| x == "--set")
    {
        return set_form(prog, out, at);
    }
    if sub != "edit" {
        // sops accepts -s in every mode and uses it only when editing.
        out.retain(|x| x != "--show-master-keys");
    }
    let mut v = vec![prog, sub.to_owned()];
    if help {
        v.push("--help".to_owned());
    }
    v.extend(out);
    Ok(Rewrite::Args(v))
}

/// `sops [-i] --set 'PATH VALUE' FILE` (the edit mode's one-string set) becomes
/// `set FILE PATH VALUE`: the path ends at the first `] ` whose prefix is a valid path,
/// as sops splits it; anything else is sops's invalid set format (exit 7).
fn set_form(prog: String, mut out: Vec<String>, at: usize) -> Result<Rewrite, Error> {
    let spec = out.get(at + 1).cloned().unwrap_or_default();
    out.drain(at..(at + 2).min(out.len()));
    out.retain(|x| x != "--in-place" && x != "--show-master-keys");
    let split = spec.match_indices("] ").find_map(|(i, _)| {
        let (path, rest) = spec.split_at(i + 1);
        crate::treepath::parse(path)
            .is_ok()
            .then(|| (path.to_owned(), rest.trim_start().to_owned()))
    });
    let Some((path, value)) = split else {
        return Err(Error::new(exit::INVALID_SET_FORMAT, "Invalid --set format")
            .hint(r#"write it as --set '["key"]["sub"] JSON-VALUE', e.g. --set '["db"]["port"] 5432'"#));
    };
    let mut v = vec![prog, "set".to_owned()];
    v.extend(out);
    v.push(path);
    v.push(value);
    Ok(Rewrite::Args(v))
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

/// Looks at the process arguments: unchanged unless the program is called `sops`, or is
/// called `leafseal` the sops way ([`is_legacy_form`]).
pub fn intercept(args: Vec<OsString>) -> Action {
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
    match rewrite(&strs) {
        Ok(Rewrite::Args(v)) => Action::Run(v.into_iter().map(OsString::from).collect()),
        Ok(Rewrite::Version) => {
            let line = format!("{}\n", version_line());
            match crate::io::write_stdout(line.as_bytes()) {
                Ok(()) => Action::Exit(0),
                Err(e) => {
                    cli::report(&e);
                    Action::Exit(e.code)
                }
            }
        }
        Err(e) => {
            cli::report(&e);
            Action::Exit(e.code)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rw(s: &str) -> Rewrite {
        let args: Vec<String> = s.split_whitespace().map(str::to_owned).collect();
        rewrite(&args).unwrap()
    }

    fn args(s: &str) -> Rewrite {
        Rewrite::Args(s.split_whitespace().map(str::to_owned).collect())
    }

    #[test]
    fn flag_forms() {
        assert_eq!(rw("sops -d f.yaml"), args("sops decrypt f.yaml"));
        assert_eq!(
            rw("sops --decrypt --input-type yaml --output-type yaml f"),
            args("sops decrypt --input-type yaml --output-type yaml f")
        );
        assert_eq!(rw("sops -e -i f"), args("sops encrypt --in-place f"));
        assert_eq!(rw("sops -i -e f"), args("sops encrypt --in-place f"));
        assert_eq!(rw("sops -ei f"), args("sops encrypt --in-place f"));
        assert_eq!(
            rw("sops --encrypt --age R f"),
            args("sops encrypt --age R f")
        );
        assert_eq!(
            rw("sops -d --extract [\"a\"] f"),
            args("sops decrypt --extract [\"a\"] f")
        );
        assert_eq!(
            rw("sops --verbose --disable-version-check -d f"),
            args("sops decrypt f")
        );
        assert_eq!(rw("sops --version"), Rewrite::Version);
        assert_eq!(rw("sops -v"), Rewrite::Version);
        assert_eq!(rw("sops -d -s f"), args("sops decrypt f"));
        assert_eq!(rw("sops -r -i f"), args("sops rotate --in-place f"));
    }

    #[test]
    fn the_set_flag_becomes_the_set_command() {
        let a: Vec<String> = ["sops", "-i", "--set", r#"["a b"] {"x": "y z"}"#, "f.yaml"]
            .map(str::to_owned)
            .to_vec();
        if has_subcommand("edit") {
            assert_eq!(
                rewrite(&a).unwrap(),
                Rewrite::Args(
                    ["sops", "set", "f.yaml", r#"["a b"]"#, r#"{"x": "y z"}"#]
                        .map(str::to_owned)
                        .to_vec()
                )
            );
            let bad: Vec<String> = ["sops", "--set", r#"["q"]"#, "f.yaml"]
                .map(str::to_owned)
                .to_vec();
            assert_eq!(rewrite(&bad).unwrap_err().code, exit::INVALID_SET_FORMAT);
        }
    }

    #[test]
    fn show_master_keys_reaches_edit() {
        let a: Vec<String> = ["sops", "-s", "f.yaml"].map(str::to_owned).to_vec();
        if let Ok(r) = rewrite(&a) {
            assert_eq!(r, args("sops edit --show-master-keys f.yaml"));
        }
        assert_eq!(rw("sops edit -s f.yaml"), args("sops edit -s f.yaml"));
    }

    #[test]
    fn flag_values_are_not_subcommands() {
        assert_eq!(
            rw("sops -d --output decrypt f"),
            args("sops decrypt --output decrypt f")
        );
        assert_eq!(
            rw("sops -e --input-type=yaml f"),
            args("sops encrypt --input-type=yaml f")
        );
    }

    #[test]
    fn subcommand_forms_pass_through() {
        assert_eq!(rw("sops decrypt f"), args("sops decrypt f"));
        assert_eq!(
            rw("sops --config c.yaml encrypt --age R f"),
            args("sops encrypt --config c.yaml --age R f")
        );
        assert_eq!(rw("sops filestatus f"), args("sops filestatus f"));
        assert_eq!(
            rw("sops --enable-local-keyservice=false --keyservice tcp://h:5000 -d f"),
            args("sops decrypt --enable-local-keyservice=false --keyservice tcp://h:5000 f")
        );
        assert_eq!(
            rw("sops keyservice --net unix --addr /s --verbose"),
            args("sops keyservice --net unix --addr /s --verbose")
        );
        assert_eq!(
            rw("sops --verbose decrypt --verbose f"),
            args("sops decrypt f")
        );
    }

    #[test]
    fn conflicts_and_missing_commands() {
        let a: Vec<String> = ["sops", "-d", "-e", "f"].map(str::to_owned).to_vec();
        assert_eq!(rewrite(&a).unwrap_err().code, exit::CONFLICTING_PARAMETERS);
        let edit: Vec<String> = ["sops", "f.yaml"].map(str::to_owned).to_vec();
        match rewrite(&edit) {
            Ok(r) => assert_eq!(r, args("sops edit f.yaml")),
            Err(e) => assert!(e.message.contains("no `edit` command")),
        }
    }

    #[test]
    fn only_the_sops_name_is_rewritten() {
        assert!(is_sops("/usr/local/bin/sops"));
        assert!(is_sops("sops"));
        assert!(!is_sops("/usr/bin/leafseal"));
        assert!(!is_sops("sopsy"));
        let a = vec![OsString::from("leafseal"), OsString::from("decrypt")];
        assert_eq!(intercept(a.clone()), Action::Run(a));
    }

    #[test]
    fn leafseal_called_the_sops_way() {
        let v = |s: &str| -> Vec<String> { s.split_whitespace().map(str::to_owned).collect() };
        assert!(is_legacy_form(&v("leafseal -d f")));
        assert!(is_legacy_form(&v("leafseal -ei f")));
        assert!(is_legacy_form(&v("leafseal --config c.yaml -d f")));
        assert!(is_legacy_form(&v(
            "leafseal --strict-integrity --decrypt f"
        )));
        assert!(!is_legacy_form(&v("leafseal decrypt -i f")));
        assert!(!is_legacy_form(&v("leafseal --config c.yaml decrypt f")));
        assert!(!is_legacy_form(&v("leafseal --help")));
        assert!(!is_legacy_form(&v("leafseal -V")));
        assert!(!is_legacy_form(&v("leafseal")));
        let a = vec![
            OsString::from("leafseal"),
            OsString::from("-d"),
            OsString::from("f"),
        ];
        assert_eq!(
            intercept(a),
            Action::Run(vec![
                OsString::from("leafseal"),
                OsString::from("decrypt"),
                OsString::from("f")
            ])
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod props {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn rewrite_never_panics(args in proptest::collection::vec("(-[deirsvh]{1,3}|--[a-z-]{1,12}|[a-z.]{0,6}|decrypt|--)", 0..8)) {
            let mut v = vec!["sops".to_owned()];
            v.extend(args);
            let _ = rewrite(&v);
        }
    }
}
