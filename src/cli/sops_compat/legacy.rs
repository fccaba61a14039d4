//! Rewriting sops's command line: the legacy flag form (`sops -d F`, `sops -e -i F`,
//! `sops --set 'P V' F`, `sops F`) into leafseal's subcommands, and the subcommand form
//! (`sops decrypt F`) with what sops does with the flags before the subcommand.
//!
//! sops 3.11 (urfave/cli) reads the flags given before a subcommand into the program's
//! own flag set and its subcommands never look at them: `sops -i decrypt F` prints to
//! standard output and leaves F encrypted, `sops --ignore-mac decrypt F` still checks the
//! MAC. Only `--config` is read there. The same parser stops at the first file of the
//! legacy form: `sops -d F --output-type json` ignores `--output-type json`, and
//! `sops -d -i A B` touches only A. leafseal follows both rules, with a warning naming
//! what it ignored.

use super::IGNORED_FLAGS;
use super::Rewrite;
use super::SUBCOMMANDS;
use super::cluster;
use super::conflict;
use super::has_subcommand;
use super::takes_value;
use crate::error::Error;
use crate::error::exit;

/// A rewritten command line and the warnings to print before running it.
#[derive(Debug, PartialEq, Eq)]
pub struct Rewritten {
    /// What to run or print.
    pub rewrite: Rewrite,
    /// Warnings for standard error (what sops would ignore, and leafseal ignored too).
    pub warnings: Vec<String>,
    /// A file that must exist before anything runs (sops's legacy `-r` checks first and
    /// exits 100; its `rotate` subcommand exits 2).
    pub must_exist: Option<String>,
}

/// Flags before a subcommand that keep their effect. sops reads `--config` there; the
/// key-service flags and leafseal's own global flags only choose where keys come from or
/// add checks, so applying them where sops ignores them cannot expose or damage a file.
const KEPT_VALUE_FLAGS: &[&str] = &["--config", "--keyservice"];
const KEPT_BOOL_FLAGS: &[&str] = &[
    "--enable-local-keyservice",
    "--strict-integrity",
    "--allow-outside-root",
    "--force-target",
];

/// sops's subcommand names, as `sops --generate-bash-completion` prints them.
const COMPLETION: &str = "completion\nexec-env\nexec-file\npublish\nkeyservice\nfilestatus\n\
groups\nupdatekeys\ndecrypt\nencrypt\nrotate\nedit\nset\nunset\nhelp\nh\n";

/// What `sops --generate-bash-completion` prints.
#[cfg(test)]
pub(super) fn completion_words() -> &'static str {
    COMPLETION
}

/// The flag's name without an `=VALUE` part.
fn flag_name(arg: &str) -> &str {
    arg.split('=').next().unwrap_or_default()
}

/// Splits the arguments before a subcommand into the ones kept and the names of the
/// ones ignored (with their values); `help` tells whether `-h`/`--help` was among them.
fn before_subcommand(raw: &[String]) -> (Vec<String>, Vec<String>, bool) {
    let (mut kept, mut ignored, mut help) = (Vec::new(), Vec::new(), false);
    let mut it = raw.iter();
    while let Some(a) = it.next() {
        let name = flag_name(a);
        if KEPT_VALUE_FLAGS.contains(&name) {
            kept.push(a.clone());
            if !a.contains('=')
                && let Some(v) = it.next()
            {
                kept.push(v.clone());
            }
        } else if KEPT_BOOL_FLAGS.contains(&name) {
            kept.push(a.clone());
        } else if name == "-h" || name == "--help" {
            help = true;
        } else if !IGNORED_FLAGS.contains(&name) {
            ignored.push(name.to_owned());
            if takes_value(a) {
                it.next();
            }
        }
    }
    (kept, ignored, help)
}

/// The warning for flags ignored before subcommand `sub` of program `prog`.
fn ignored_before(prog: &str, sub: &str, ignored: &[String]) -> Option<String> {
    let first = ignored.first()?;
    let list = ignored.join(" ");
    let prog = std::path::Path::new(prog)
        .file_name()
        .map_or_else(|| "sops".into(), |n| n.to_string_lossy());
    Some(format!(
        "`{list}` before the `{sub}` subcommand was ignored, as sops ignores flags given \
         there; put it after the subcommand (e.g. `{prog} {sub} {first} …`)"
    ))
}

/// The subcommand form `sops [FLAGS] SUB ARGS…` (`at`: the index of SUB in `rest`).
fn subcommand_form(prog: String, rest: &[String], at: usize) -> Rewritten {
    let raw_sub = rest.get(at).cloned().unwrap_or_default();
    let sub = if raw_sub == "h" {
        "help".to_owned()
    } else {
        raw_sub
    };
    let (kept, ignored, help) = before_subcommand(rest.get(..at).unwrap_or_default());
    let warning = ignored_before(&prog, &sub, &ignored);
    let mut v = vec![prog, sub.clone()];
    v.extend(kept);
    v.extend(rest.get(at + 1..).unwrap_or_default().iter().cloned());
    // `keyservice --verbose` logs its requests in leafseal too.
    let keep_verbose = sub == "keyservice";
    v.retain(|x| {
        let name = flag_name(x);
        !IGNORED_FLAGS.contains(&name) || (keep_verbose && x == "--verbose")
    });
    if help && sub != "help" {
        v.push("--help".to_owned());
    }
    Rewritten {
        rewrite: Rewrite::Args(v),
        warnings: warning.into_iter().collect(),
        must_exist: None,
    }
}

/// The warnings sops prints for arguments after the first file, which it ignores.
fn extra_positionals(extra: &[String]) -> Vec<String> {
    let Some(first) = extra.first() else {
        return Vec::new();
    };
    let mut w = vec![format!(
        "more than one file was given: only the first is used, as sops does \
         (`{first}`{} ignored)",
        if extra.len() > 1 { " and the rest" } else { "" }
    )];
    if let Some(flag) = extra.iter().find(|a| a.starts_with('-') && a.len() > 1) {
        w.push(format!(
            "`{flag}` after the file was ignored, as sops ignores flags given after the \
             file; put flags before the file"
        ));
    }
    w
}

/// Rewrites a sops command line (`args[0]` is the program name), with the warnings to
/// print first.
pub fn rewrite_warn(args: &[String]) -> Result<Rewritten, Error> {
    let prog = args.first().cloned().unwrap_or_else(|| "sops".to_owned());
    let rest = args.get(1..).unwrap_or_default();
    let plain = |rewrite| Rewritten {
        rewrite,
        warnings: Vec::new(),
        must_exist: None,
    };
    if rest
        .last()
        .is_some_and(|a| a == "--generate-bash-completion")
    {
        // sops's completion scripts call this; print what sops prints for the bare call.
        let text = if rest.len() == 1 { COMPLETION } else { "" };
        return Ok(plain(Rewrite::Print(text.to_owned())));
    }
    let mut modes: Vec<&'static str> = Vec::new();
    let (mut version, mut help) = (false, false);
    let mut out: Vec<String> = Vec::new();
    let mut file: Option<String> = None;
    let mut extra: Vec<String> = Vec::new();
    let mut i = 0;
    let add = |modes: &mut Vec<&'static str>, m: &'static str| {
        if !modes.contains(&m) {
            modes.push(m);
        }
    };
    while let Some(a) = rest.get(i) {
        i += 1;
        if file.is_some() {
            extra.push(a.clone());
            continue;
        }
        if a == "--" {
            if let Some(f) = rest.get(i) {
                out.push("--".to_owned());
                file = Some(f.clone());
                i += 1;
            }
            continue;
        }
        if SUBCOMMANDS.contains(&a.as_str()) || a == "h" {
            return Ok(subcommand_form(prog, rest, i - 1));
        }
        match a.as_str() {
            "-d" | "--decrypt" => add(&mut modes, "decrypt"),
            "-e" | "--encrypt" => add(&mut modes, "encrypt"),
            "-r" | "--rotate" => add(&mut modes, "rotate"),
            "-i" | "--in-place" => out.push("--in-place".to_owned()),
            "-s" | "--show-master-keys" => out.push("--show-master-keys".to_owned()),
            "-v" | "--version" => version = true,
            "-h" | "--help" => help = true,
            s if IGNORED_FLAGS.contains(&flag_name(s)) => {}
            s if s.starts_with("--set=") => {
                out.push("--set".to_owned());
                out.push(s.get("--set=".len()..).unwrap_or_default().to_owned());
            }
            s if cluster(s).is_some() => {
                for b in cluster(s).unwrap_or_default().bytes() {
                    match b {
                        b'd' => add(&mut modes, "decrypt"),
                        b'e' => add(&mut modes, "encrypt"),
                        b'r' => add(&mut modes, "rotate"),
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
            _ => file = Some(a.clone()),
        }
    }
    let mut warnings = extra_positionals(&extra);
    if out.iter().any(|x| x == "--set") {
        modes.push("set");
    }
    let sub = match pick_mode(&modes, &mut warnings)? {
        Some(m) => m,
        None if help => return Ok(plain(Rewrite::Args(vec![prog, "--help".to_owned()]))),
        None if version => return Ok(plain(Rewrite::Version)),
        None => "edit",
    };
    let Some(file) = file else {
        return Err(
            Error::new(exit::NO_FILE_SPECIFIED, "no file specified").hint(
                "name the file: `sops -d FILE`, `sops -e FILE`, `sops FILE` (see `sops --help`)",
            ),
        );
    };
    let must_exist = (sub == "rotate").then(|| file.clone());
    if sub != "rotate" {
        drop_key_changes(&mut out, sub, &mut warnings);
    }
    out.push(file);
    if sub == "set" {
        return set_form(prog, out, warnings);
    }
    if !has_subcommand(sub) {
        return Err(Error::new(
            exit::GENERIC,
            format!(
                "this leafseal build has no `{sub}` command, so `sops` without -d/-e cannot run it"
            ),
        )
        .hint("use `sops -d FILE` / `sops -e FILE`, or leafseal's own commands"));
    }
    if sub == "edit" {
        // sops's editor ignores -i (it always writes the file back).
        out.retain(|x| x != "--in-place");
    } else {
        // sops accepts -s in every mode and uses it only when editing.
        out.retain(|x| x != "--show-master-keys");
    }
    let mut v = vec![prog, sub.to_owned()];
    if help {
        v.push("--help".to_owned());
    }
    v.extend(out);
    Ok(Rewritten {
        rewrite: Rewrite::Args(v),
        warnings,
        must_exist,
    })
}

/// Removes the `--add-*`/`--rm-*` flags (and their values) from `out`, with a warning:
/// sops reads them only with `-r` and ignores them with `-d`, `-e`, `--set` or the editor
/// (exit 0), where leafseal's subcommands would refuse them (exit 2).
fn drop_key_changes(out: &mut Vec<String>, sub: &str, warnings: &mut Vec<String>) {
    let mut kept = Vec::with_capacity(out.len());
    let mut dropped = Vec::new();
    let mut it = std::mem::take(out).into_iter();
    while let Some(a) = it.next() {
        let name = flag_name(&a);
        if name.starts_with("--add-") || name.starts_with("--rm-") {
            if takes_value(&a) {
                it.next();
            }
            dropped.push(name.to_owned());
        } else {
            kept.push(a);
        }
    }
    *out = kept;
    if !dropped.is_empty() {
        warnings.push(format!(
            "`{}` was ignored: sops uses --add-*/--rm-* only with -r (rotate), and ignores \
             them with --{sub}; use `sops -r` (or `leafseal rotate`) to change the keys",
            dropped.join(" ")
        ));
    }
}

/// Which of several modes runs. sops runs encrypt, decrypt, rotate and set in that order
/// and shows the last one's result; an encrypt among others always fails there (the next
/// step reads the file, still plaintext, or the encrypt refuses an encrypted one), so
/// leafseal refuses that mix (exit 8) and otherwise runs the last, with sops's warning.
fn pick_mode(
    modes: &[&'static str],
    warnings: &mut Vec<String>,
) -> Result<Option<&'static str>, Error> {
    if modes.len() > 1 && modes.contains(&"encrypt") {
        return Err(conflict(
            "--encrypt cannot be combined with --decrypt, --rotate or --set",
        ));
    }
    let last = ["set", "rotate", "decrypt", "encrypt"]
        .into_iter()
        .find(|m| modes.contains(m));
    if modes.len() > 1
        && let Some(m) = last
    {
        warnings.push(format!(
            "more than one of --decrypt, --rotate and --set was given: only --{m} takes \
             effect, as in sops (which runs them in that order and shows the last); give \
             only one"
        ));
    }
    Ok(last)
}

/// `sops [-i] --set 'PATH VALUE' FILE` (the edit mode's one-string set) becomes
/// `set FILE PATH VALUE`: the path ends at the first `] ` whose prefix is a valid path,
/// as sops splits it; anything else is sops's invalid set format (exit 7).
fn set_form(prog: String, mut out: Vec<String>, warnings: Vec<String>) -> Result<Rewritten, Error> {
    let at = out.iter().position(|x| x == "--set").unwrap_or_default();
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
    Ok(Rewritten {
        rewrite: Rewrite::Args(v),
        warnings,
        must_exist: None,
    })
}
