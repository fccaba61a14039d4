//! Running `SOPS_AGE_KEY_CMD` / `SOPS_AGE_SSH_PRIVATE_KEY_CMD`: a shell-like splitter
//! (quotes honoured) and execution WITHOUT a shell.

use std::process::Stdio;

use zeroize::Zeroizing;

use crate::keys::KeyContext;
use crate::keys::spawn_error;

/// Splits a command line into words the way a POSIX shell would for plain words and
/// quotes: whitespace separates words; `'…'` is literal; inside `"…"` a backslash escapes
/// `"`, `\`, `$` and `` ` `` only; outside quotes a backslash escapes any character.
/// No variable expansion, globbing or operators. Errors name the problem, not the text.
pub(crate) fn split_command(line: &str) -> Result<Vec<String>, &'static str> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => word.push(ch),
                        None => return Err("unterminated single quote"),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch @ ('"' | '\\' | '$' | '`')) => word.push(ch),
                            Some('\n') => {}
                            Some(ch) => {
                                word.push('\\');
                                word.push(ch);
                            }
                            None => return Err("unterminated double quote"),
                        },
                        Some(ch) => word.push(ch),
                        None => return Err("unterminated double quote"),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(ch) => {
                    in_word = true;
                    word.push(ch);
                }
                None => return Err("trailing backslash"),
            },
            ch if ch.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            ch => {
                in_word = true;
                word.push(ch);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    if words.is_empty() {
        return Err("empty command");
    }
    Ok(words)
}

/// The most a key command's standard output may hold (age identities are under a
/// hundred bytes each, post-quantum ones a few kilobytes); more stops the command.
const COMMAND_OUTPUT_MAX: usize = 1024 * 1024;

/// Runs `cmdline` (split with [`split_command`]) without a shell, with exactly the
/// context's variables plus `extra_env` as its environment, stdin closed and stderr
/// passed through. Returns its stdout (wiped on drop) or a description of the failure.
pub(crate) fn run_command(
    cmdline: &str,
    ctx: &KeyContext,
    extra_env: &[(&str, &str)],
) -> Result<Zeroizing<Vec<u8>>, String> {
    let words = split_command(cmdline).map_err(|e| format!("cannot parse the command: {e}"))?;
    let (program, args) = words
        .split_first()
        .ok_or_else(|| "empty command".to_owned())?;
    let mut cmd = crate::process::command(program);
    cmd.args(args)
        .env_clear()
        .envs(ctx.vars())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("could not run `{program}`: {}", spawn_error(&e)))?;
    let output = crate::process::capture::capture(&mut child, &[], COMMAND_OUTPUT_MAX)
        .map_err(|e| format!("reading the output of `{program}` failed: {}", e.kind()))?;
    if output.timed_out {
        // No time limit of its own (it may unlock a password store): only the key
        // services' deadline stops it, when key services are configured.
        return Err(crate::keys::deadline::program_deadline_message(&format!(
            "`{program}`"
        )));
    }
    if output.too_long {
        return Err(format!(
            "`{program}` printed more than {COMMAND_OUTPUT_MAX} bytes and was stopped; it \
             should print age identities (a few hundred bytes each)"
        ));
    }
    let stdout = output.stdout;
    if !output.status.success() {
        return Err(format!("`{program}` failed ({})", output.status));
    }
    Ok(stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(split_command("a b  c").unwrap(), ["a", "b", "c"]);
        assert_eq!(
            split_command("  pass show 'age key'  ").unwrap(),
            ["pass", "show", "age key"]
        );
        assert_eq!(
            split_command(r#"x "a \"q\" \$HOME \n" y"#).unwrap(),
            ["x", r#"a "q" $HOME \n"#, "y"]
        );
        assert_eq!(split_command(r"a\ b c\'d").unwrap(), ["a b", "c'd"]);
        assert_eq!(split_command("a '' \"\"").unwrap(), ["a", "", ""]);
        assert_eq!(split_command("pre'mid'\"end\"").unwrap(), ["premidend"]);
        assert_eq!(split_command("a\tb\nc").unwrap(), ["a", "b", "c"]);
        assert!(split_command("a 'b").is_err());
        assert!(split_command("a \"b").is_err());
        assert!(split_command("a \\").is_err());
        assert!(split_command("   ").is_err());
    }

    proptest::proptest! {
        #[test]
        fn splitter_never_panics(s in ".*") {
            let _ = split_command(&s);
        }
    }
}
