//! Variables an encrypted file may not set for `exec-env` unless the user allows them by
//! name: those that change which program the child is, what it loads, or what its shell
//! or interpreter runs before the command. Whoever can change the file (it is stored in
//! git; sops only protects its confidentiality, and `--ignore-mac` or a key holder can
//! change it) could otherwise run their own code with every secret in its environment,
//! e.g. `PATH=/tmp/evil` makes `exec-env FILE ls` run `/tmp/evil/ls`.
//!
//! The list is documented in docs/security.md; keep both in sync.

use crate::error::Error;
use crate::error::exit;

/// Names refused exactly.
pub const REFUSED_NAMES: &[&str] = &[
    // How programs are found.
    "PATH",
    "CDPATH",
    // What the shell runs or how it parses the command (`/bin/sh -c`).
    "ENV",
    "BASH_ENV",
    "IFS",
    "PS4",
    "SHELLOPTS",
    "BASHOPTS",
    "GLOBIGNORE",
    "PROMPT_COMMAND",
    // The dynamic loader and the C library.
    "GCONV_PATH",
    "GLIBC_TUNABLES",
    "LOCPATH",
    "NLSPATH",
    "HOSTALIASES",
    "LOCALDOMAIN",
    "RES_OPTIONS",
    // Interpreters and runtimes.
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "PYTHONINSPECT",
    "PYTHONUSERBASE",
    "PYTHONEXECUTABLE",
    // A warning filter names a module, which Python imports (`antigravity` then runs
    // `BROWSER`): found by the round-16 review.
    "PYTHONWARNINGS",
    "BROWSER",
    "NODE_OPTIONS",
    "NODE_PATH",
    "PERL5LIB",
    "PERLLIB",
    "PERL5OPT",
    "PERL5DB",
    "RUBYLIB",
    "RUBYOPT",
    "JAVA_TOOL_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "_JAVA_OPTIONS",
    "CLASSPATH",
    "LUA_INIT",
    "LUA_PATH",
    "LUA_CPATH",
    "PHPRC",
    "PHP_INI_SCAN_DIR",
    "GEM_HOME",
    "GEM_PATH",
    // Libraries and start-up files other programs load.
    "OPENSSL_CONF",
    "OPENSSL_ENGINES",
    "OPENSSL_MODULES",
    "EXINIT",
    "VIMINIT",
    "ZDOTDIR",
    // Where configuration is read from: a directory committed next to the file can hold
    // a git configuration (`core.fsmonitor` runs a command) or shell start-up files.
    "HOME",
    "XDG_CONFIG_HOME",
    // Programs git starts.
    "GIT_EXEC_PATH",
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "GIT_ASKPASS",
    "SSH_ASKPASS",
    "GIT_EXTERNAL_DIFF",
    "GIT_PROXY_COMMAND",
    "GIT_EDITOR",
    "GIT_SEQUENCE_EDITOR",
    "GIT_PAGER",
    // Which repository git reads (its configuration can run a command) (round-16 review).
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_COMMON_DIR",
    "GIT_TEMPLATE_DIR",
];

/// Name prefixes refused: the dynamic loaders (`LD_PRELOAD`, `LD_LIBRARY_PATH`,
/// `LD_AUDIT`, macOS `DYLD_INSERT_LIBRARIES`, …), exported bash functions (which replace
/// commands such as `ls` in a bash child) and git's configuration from the environment
/// (`GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_n` can set `core.sshCommand`).
/// `LUA_INIT_5_4` and the like are Lua's versioned start-up code.
pub const REFUSED_PREFIXES: &[&str] = &["LD_", "DYLD_", "BASH_FUNC_", "GIT_CONFIG_", "LUA_INIT_"];

/// Whether `name` is refused unless allowed.
pub fn is_refused(name: &str) -> bool {
    REFUSED_NAMES.contains(&name) || REFUSED_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Fails (exit 1) when one of `names` is refused and not in `allowed`; the error lists
/// every such name (never a value).
pub fn check_names<'a>(
    names: impl IntoIterator<Item = &'a str>,
    allowed: &[String],
) -> Result<(), Error> {
    let mut refused: Vec<&str> = Vec::new();
    for n in names {
        if is_refused(n) && !allowed.iter().any(|a| a == n) && !refused.contains(&n) {
            refused.push(n);
        }
    }
    let Some(first) = refused.first() else {
        return Ok(());
    };
    let list = refused
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let flags = refused
        .iter()
        .map(|n| format!("--allow-env {n}"))
        .collect::<Vec<_>>()
        .join(" ");
    Err(Error::new(
        exit::GENERIC,
        format!(
            "the file sets {list}, which would change which program runs or what it loads; \
             the command was not started"
        ),
    )
    .hint(format!(
        "an encrypted file that sets such a variable can run someone else's code with all of \
         its secrets: rename `{first}` in the file, or, if you trust everyone who can change \
         the file, allow it by name with {flags}"
    ))
    .hint("docs/security.md lists the refused variables"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_and_allowed() {
        for n in [
            "PATH",
            "LD_PRELOAD",
            "LD_LIBRARY_PATH",
            "DYLD_INSERT_LIBRARIES",
            "BASH_FUNC_ls%%",
            "PYTHONWARNINGS",
            "BROWSER",
            "GIT_DIR",
            "GIT_WORK_TREE",
            "HOME",
            "XDG_CONFIG_HOME",
            "LUA_INIT_5_4",
            "OPENSSL_CONF",
        ] {
            assert!(is_refused(n), "{n}");
        }
        for n in [
            "DB_PASSWORD",
            "path",
            "GIT_TOKEN",
            "TMPDIR",
            "LANG",
            "MY_PATH",
            "OLD_LD_X",
        ] {
            assert!(!is_refused(n), "{n}");
        }
        let e = check_names(["A", "PATH", "LD_PRELOAD"], &[]).expect_err("refused");
        assert!(e.message.contains("`PATH`, `LD_PRELOAD`"), "{}", e.message);
        assert!(e.hints[0].contains("--allow-env PATH --allow-env LD_PRELOAD"));
        assert!(check_names(["PATH"], &["PATH".to_owned()]).is_ok());
        assert!(check_names(["PATH", "IFS"], &["PATH".to_owned()]).is_err());
    }
}
