//! The one-subcommand parse against the whole tree on generated command lines: every
//! subcommand (nested ones too) with each of its flags in turn, long and short, with a
//! value it accepts. Whatever the whole tree accepts, the fast parse gives the same
//! result; whatever it refuses, the fast parse hands over (so the error is the whole
//! tree's).

use std::ffi::OsString;

use clap::CommandFactory;

use super::Cli;
use super::parse;
use super::parse_fast;

/// Command lines for `cmd` (reached by `path`): each flag alone, then all positionals.
fn lines_of(cmd: &clap::Command, path: &[String], out: &mut Vec<Vec<String>>) {
    let subs: Vec<&clap::Command> = cmd.get_subcommands().collect();
    for sub in subs {
        if sub.get_name() == "help" {
            continue;
        }
        let mut p = path.to_vec();
        p.push(sub.get_name().to_owned());
        lines_of(sub, &p, out);
    }
    if path.is_empty() {
        return;
    }
    let positionals: Vec<String> = cmd
        .get_positionals()
        .enumerate()
        .map(|(i, _)| format!("f{i}.yaml"))
        .collect();
    let value = |a: &clap::Arg| -> Option<String> {
        if !a.get_action().takes_values() {
            return None;
        }
        let pv = a.get_possible_values();
        Some(match pv.first() {
            Some(v) => v.get_name().to_owned(),
            None => "1".to_owned(),
        })
    };
    let mut plain = path.to_vec();
    plain.extend(positionals.iter().cloned());
    out.push(plain);
    for a in cmd.get_arguments() {
        if a.is_positional() || a.is_global_set() {
            continue;
        }
        let mut forms = Vec::new();
        if let Some(l) = a.get_long() {
            forms.push(format!("--{l}"));
        }
        if let Some(s) = a.get_short() {
            forms.push(format!("-{s}"));
        }
        for f in forms {
            let mut line = path.to_vec();
            line.push(f.clone());
            if let Some(v) = value(a) {
                line.push(v);
            }
            line.extend(positionals.iter().cloned());
            out.push(line);
            // The flag after the positionals, and with `=` for a value.
            let mut late = path.to_vec();
            late.extend(positionals.iter().cloned());
            match value(a) {
                Some(v) if f.starts_with("--") => late.push(format!("{f}={v}")),
                Some(v) => {
                    late.push(f);
                    late.push(v);
                }
                None => late.push(f),
            }
            out.push(late);
        }
    }
}

fn argv(line: &[String]) -> Vec<OsString> {
    std::iter::once("leafseal".to_owned())
        .chain(line.iter().cloned())
        .map(OsString::from)
        .collect()
}

#[test]
fn every_flag_of_every_subcommand_parses_as_with_the_whole_tree() {
    let mut lines = Vec::new();
    lines_of(&Cli::command(), &[], &mut lines);
    assert!(lines.len() > 300, "{}", lines.len());
    let mut accepted = 0;
    for line in &lines {
        let args = argv(line);
        let whole = Cli::try_parse_from_whole(&args);
        let fast = parse_fast(&args);
        match (&whole, &fast) {
            (Ok(w), Some(f)) => {
                accepted += 1;
                assert_eq!(format!("{f:?}"), format!("{w:?}"), "{line:?}");
            }
            (Err(_), None) => {}
            (Ok(_), None) => panic!("{line:?}: the fast parse declined a valid line"),
            (Err(e), Some(_)) => panic!("{line:?}: the fast parse took a line refused: {e}"),
        }
        // Through the entry point: the same result or the same error and exit code.
        match (whole, parse(args)) {
            (Ok(w), Ok(p)) => assert_eq!(format!("{p:?}"), format!("{w:?}")),
            (Err(w), Err(p)) => {
                assert_eq!(p.exit_code(), w.exit_code(), "{line:?}");
                assert_eq!(p.to_string(), w.to_string(), "{line:?}");
            }
            (w, p) => panic!("{line:?}: {w:?} / {p:?}"),
        }
    }
    assert!(accepted > 200, "{accepted} of {} accepted", lines.len());
}

#[test]
fn typos_and_unknown_subcommands_give_the_whole_trees_errors() {
    let names: Vec<String> = Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect();
    for name in &names {
        for typo in [
            name[..name.len() - 1].to_owned(),
            format!("{name}x"),
            name.to_uppercase(),
        ] {
            if names.contains(&typo) {
                continue;
            }
            let args = argv(&[typo.clone(), "f.yaml".to_owned()]);
            assert!(parse_fast(&args).is_none(), "{typo}");
            let e = parse(args.clone()).expect_err(&typo);
            let w = Cli::try_parse_from_whole(&args).expect_err(&typo);
            assert_eq!(e.exit_code(), 2, "{typo}");
            assert_eq!(e.to_string(), w.to_string(), "{typo}");
        }
    }
}

impl Cli {
    /// The whole tree's parse (what [`parse`] falls back to).
    fn try_parse_from_whole(args: &[OsString]) -> Result<Cli, clap::Error> {
        <Cli as clap::Parser>::try_parse_from(args)
    }
}
