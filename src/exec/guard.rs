//! Variables an encrypted file may not set for `exec-env` unless the user allows them by
//! name: those that change which program the child is, what it loads, what its shell
//! or interpreter runs before the command, which configuration file (one that can name
//! a command) a tool reads, or which TLS certificates it trusts. Whoever can change the file (it is stored in
//! git; sops only protects its confidentiality, and `--ignore-mac` or a key holder can
//! change it) could otherwise run their own code with every secret in its environment,
//! e.g. `PATH=/tmp/evil` makes `exec-env FILE ls` run `/tmp/evil/ls`.
//!
//! The list is documented in docs/security.md; keep both in sync.

use crate::error::Error;
use crate::error::exit;
use crate::redact::inert;

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
    // Configuration files and directories that can name a command the tool runs, or
    // credentials and endpoints that decide whom it talks to (round-19 review: the
    // first two ran code with every secret in the environment).
    "AWS_CONFIG_FILE",             // `credential_process` runs a command
    "AWS_SHARED_CREDENTIALS_FILE", // the same in some SDKs; whose account is used
    "KUBECONFIG",                  // a user's `exec` credential plugin runs a command
    "TF_CLI_CONFIG_FILE", // `provider_installation`/`dev_overrides` pick the provider binaries
    "TERRAFORM_CONFIG",   // the older name of TF_CLI_CONFIG_FILE
    "TF_PLUGIN_CACHE_DIR", // provider binaries taken from it (Terraform before 1.4 without a lock entry)
    "CURL_HOME",           // `.curlrc`: any curl option, output files and proxies included
    "CARGO_HOME", // `config.toml`: build.rustc-wrapper, target runners, credential providers
    "RUSTC_WRAPPER", // runs a program instead of rustc
    "RUSTC_WORKSPACE_WRAPPER", // the same for workspace members
    "RUSTC",      // the compiler cargo runs
    "RUSTDOC",    // the documentation compiler cargo runs
    "CARGO_BUILD_RUSTC", // cargo's configuration of the above from the environment
    "CARGO_BUILD_RUSTC_WRAPPER",
    "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
    "CARGO_BUILD_RUSTDOC",
    "CARGO_REGISTRY_CREDENTIAL_PROVIDER", // runs a command for registry tokens
    "CARGO_REGISTRY_GLOBAL_CREDENTIAL_PROVIDERS",
    "GOFLAGS",                     // `-toolexec=PROG` runs a program around every tool
    "GOENV",                       // go's environment file, which can set GOFLAGS
    "GOROOT",                      // which Go toolchain runs
    "LESSOPEN",                    // an input preprocessor command for less
    "LESSCLOSE",                   // its clean-up command
    "DOCKER_CONFIG",               // `credsStore`/`credHelpers` run docker-credential-* helpers
    "DOCKER_HOST", // the daemon that receives builds and credentials (`ssh://` runs ssh)
    "DOCKER_CERT_PATH", // the CA that daemon is checked against
    "YARN_RC_FILENAME", // which `.yarnrc.yml` yarn reads (`yarnPath` runs a script)
    "YARN_YARN_PATH", // the script yarn runs instead of itself
    "PIP_CONFIG_FILE", // pip's configuration: package index and build options
    "GRADLE_USER_HOME", // `init.d` scripts run on every build
    "GRADLE_OPTS", // JVM options (`-javaagent`) for Gradle
    "MAVEN_OPTS",  // JVM options (`-javaagent`) for Maven
    "ANSIBLE_CONFIG", // ansible.cfg: plugins, vault password scripts
    "ANSIBLE_VAULT_PASSWORD_FILE", // run when executable
    "HGRCPATH",    // Mercurial's configuration: hooks run commands
    "PSQLRC",      // psql start-up file: `\!` runs a shell command
    "GNUPGHOME",   // gpg-agent.conf's `pinentry-program` runs a program
    "SUDO_ASKPASS", // the program `sudo -A` runs
    "HELM_PLUGINS", // helm plugins (and downloaders) run as programs
    "CLOUDSDK_CONFIG", // gcloud's configuration and credentials directory
    "AZURE_CONFIG_DIR", // az's configuration and token cache
    "GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES", // lets a credentials file run a command
    // Cargo and rustup (round 20): flags that can name a linker, the cargo other tools
    // run, and a toolchain given as a path.
    "RUSTFLAGS", // `-C linker=PROG` runs PROG on every link
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "RUSTDOCFLAGS", // the same for rustdoc's doctests
    "CARGO_ENCODED_RUSTDOCFLAGS",
    "CARGO_BUILD_RUSTDOCFLAGS",
    "CARGO",            // the cargo that build scripts, subcommands and IDE tools run
    "RUSTUP_TOOLCHAIN", // may be a path: the rustup proxies run that directory's cargo
    "RUSTUP_HOME",      // its toolchains and settings (default toolchain, overrides)
    // Which TLS certificates are trusted, or whether they are checked at all.
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS",
    "NODE_TLS_REJECT_UNAUTHORIZED",
    "PYTHONHTTPSVERIFY",
    "AWS_CA_BUNDLE",
    "GIT_SSL_NO_VERIFY",
    "GIT_SSL_CAINFO",
    "GIT_SSL_CAPATH",
    "CARGO_HTTP_CAINFO",
    "PIP_CERT",
    "VAULT_CACERT",
    "VAULT_CAPATH",
    "VAULT_SKIP_VERIFY",
    "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",
];

/// Name prefixes refused: the dynamic loaders (`LD_PRELOAD`, `LD_LIBRARY_PATH`,
/// `LD_AUDIT`, macOS `DYLD_INSERT_LIBRARIES`, …), exported bash functions (which replace
/// commands such as `ls` in a bash child) and git's configuration from the environment
/// (`GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_n` can set `core.sshCommand`).
/// `LUA_INIT_5_4` and the like are Lua's versioned start-up code.
pub const REFUSED_PREFIXES: &[&str] = &["LD_", "DYLD_", "BASH_FUNC_", "GIT_CONFIG_", "LUA_INIT_"];

/// Name prefixes refused in any case, as the program reads them: npm takes every
/// `npm_config_*` (`NPM_CONFIG_*` too) as a setting (`script-shell`, `node-options`,
/// `userconfig`, `strict-ssl`, …).
pub const REFUSED_PREFIXES_ANY_CASE: &[&str] = &["npm_config_"];

/// Cargo's settings for one target, host or registry, as cargo reads them from the
/// environment (upper case, the triple's `-` and `.` written `_`): a name that starts
/// with the prefix and ends with one of the suffixes. `CARGO_TARGET_<triple>_RUNNER`
/// runs the program `cargo run`/`test` start, `_LINKER` is run on every link, and
/// `_RUSTFLAGS`/`_RUSTDOCFLAGS` can name a linker (`-C linker=PROG`); the unstable
/// `host` table (`CARGO_HOST_LINKER`, `CARGO_HOST_<triple>_RUSTFLAGS`) has the same
/// effect; `CARGO_REGISTRIES_<name>_CREDENTIAL_PROVIDER` runs a command. `CARGO_ALIAS_`
/// is refused whole: a user alias replaces cargo's own short names (`b`, `t`, `r`, …)
/// and can pass `--config target.<triple>.runner=…`. `CARGO_TARGET_DIR` and registry
/// tokens (`CARGO_REGISTRIES_<name>_TOKEN`) match none of these and stay allowed.
pub const REFUSED_PATTERNS: &[(&str, &[&str])] = &[
    (
        "CARGO_TARGET_",
        &["_RUNNER", "_LINKER", "_RUSTFLAGS", "_RUSTDOCFLAGS"],
    ),
    (
        "CARGO_HOST_",
        &["_RUNNER", "_LINKER", "_RUSTFLAGS", "_RUSTDOCFLAGS"],
    ),
    ("CARGO_REGISTRIES_", &["_CREDENTIAL_PROVIDER"]),
    ("CARGO_ALIAS_", &[""]),
];

/// Whether `name` is refused unless allowed.
pub fn is_refused(name: &str) -> bool {
    REFUSED_NAMES.contains(&name)
        || REFUSED_PREFIXES.iter().any(|p| name.starts_with(p))
        || REFUSED_PATTERNS.iter().any(|(prefix, suffixes)| {
            name.starts_with(prefix) && suffixes.iter().any(|s| name.ends_with(s))
        })
        || REFUSED_PREFIXES_ANY_CASE.iter().any(|p| {
            name.as_bytes()
                .get(..p.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(p.as_bytes()))
        })
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
        .map(|n| format!("`{}`", inert(n)))
        .collect::<Vec<_>>()
        .join(", ");
    let flags = refused
        .iter()
        .map(|n| format!("--allow-env {}", inert(n)))
        .collect::<Vec<_>>()
        .join(" ");
    Err(Error::new(
        exit::GENERIC,
        format!(
            "the file sets {list}, which would change which program runs, what it loads or \
             which certificates it trusts; the command was not started"
        ),
    )
    .hint(format!(
        "an encrypted file that sets such a variable can run someone else's code with all of \
         its secrets: rename `{}` in the file, or, if you trust everyone who can change \
         the file, allow it by name with {flags}",
        inert(first)
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
        // A refused name with control characters is shown inert.
        let e = check_names(["LD_\u{1b}[31mX"], &[]).expect_err("refused");
        assert!(e.message.contains("`LD_?[31mX`"), "{}", e.message);
        assert!(!e.hints[0].contains('\u{1b}'), "{}", e.hints[0]);
        let e = check_names(["A", "PATH", "LD_PRELOAD"], &[]).expect_err("refused");
        assert!(e.message.contains("`PATH`, `LD_PRELOAD`"), "{}", e.message);
        assert!(e.hints[0].contains("--allow-env PATH --allow-env LD_PRELOAD"));
        assert!(check_names(["PATH"], &["PATH".to_owned()]).is_ok());
        assert!(check_names(["PATH", "IFS"], &["PATH".to_owned()]).is_err());
    }

    #[test]
    fn cargo_per_target_host_and_registry_settings_are_refused_as_cargo_reads_them() {
        // Round 20: the per-target runner and linker were not refused (only the
        // well-known names were listed).
        for n in [
            "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER",
            "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER",
            "CARGO_TARGET_AARCH64_APPLE_DARWIN_RUSTFLAGS",
            "CARGO_TARGET_WASM32_WASIP1_RUNNER",
            "CARGO_TARGET_THUMBV7EM_NONE_EABIHF_RUSTDOCFLAGS",
            "CARGO_HOST_LINKER",
            "CARGO_HOST_RUSTFLAGS",
            "CARGO_HOST_X86_64_UNKNOWN_LINUX_GNU_LINKER",
            "CARGO_REGISTRIES_MY_REGISTRY_CREDENTIAL_PROVIDER",
            "CARGO_ALIAS_B",
            "CARGO_ALIAS_T",
            "RUSTFLAGS",
            "CARGO_ENCODED_RUSTFLAGS",
            "CARGO_BUILD_RUSTFLAGS",
            "RUSTDOCFLAGS",
            "CARGO",
            "RUSTUP_TOOLCHAIN",
            "RUSTUP_HOME",
        ] {
            assert!(is_refused(n), "{n}");
        }
        let e = check_names(["CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER"], &[])
            .expect_err("refused");
        assert!(
            e.hints[0].contains("--allow-env CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER"),
            "{}",
            e.hints[0]
        );
        assert!(
            check_names(
                ["CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER"],
                &["CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER".to_owned()]
            )
            .is_ok()
        );
    }

    #[test]
    fn configuration_pointers_and_tls_trust_are_refused() {
        // Round-19 review: AWS_CONFIG_FILE (credential_process) and KUBECONFIG (an exec
        // plugin) ran code from a file's values.
        for n in [
            "AWS_CONFIG_FILE",
            "AWS_SHARED_CREDENTIALS_FILE",
            "KUBECONFIG",
            "TF_CLI_CONFIG_FILE",
            "TERRAFORM_CONFIG",
            "TF_PLUGIN_CACHE_DIR",
            "CURL_HOME",
            "CARGO_HOME",
            "RUSTC_WRAPPER",
            "RUSTC",
            "RUSTC_WORKSPACE_WRAPPER",
            "CARGO_BUILD_RUSTC_WRAPPER",
            "GOFLAGS",
            "LESSOPEN",
            "LESSCLOSE",
            "DOCKER_CONFIG",
            "DOCKER_HOST",
            "GNUPGHOME",
            "SSL_CERT_FILE",
            "SSL_CERT_DIR",
            "REQUESTS_CA_BUNDLE",
            "NODE_EXTRA_CA_CERTS",
            "CURL_CA_BUNDLE",
            "GIT_SSL_NO_VERIFY",
            "NODE_TLS_REJECT_UNAUTHORIZED",
            "PYTHONHTTPSVERIFY",
            "npm_config_script_shell",
            "NPM_CONFIG_USERCONFIG",
            "Npm_Config_node_options",
        ] {
            assert!(is_refused(n), "{n}");
        }
        // Proxies, tokens and similar values stay allowed (a proxy URL with credentials
        // is a secret worth storing); so do names that only look alike.
        for n in [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "https_proxy",
            "NO_PROXY",
            "NPM_TOKEN",
            "npm_config",
            "npm_confi",
            "CARGO_REGISTRY_TOKEN",
            "CARGO_TARGET_DIR",
            "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER_ARGS",
            "cargo_target_x86_64_unknown_linux_gnu_runner",
            "CARGO_REGISTRIES_MY_REGISTRY_TOKEN",
            "CARGO_REGISTRIES_MY_REGISTRY_INDEX",
            "CARGO_HOST",
            "CARGO_ALIAS",
            "RUSTUP_DIST_SERVER",
            "RUST_LOG",
            "RUST_BACKTRACE",
            "KUBECONFIG_DATA",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "DOCKER_PASSWORD",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "VAULT_TOKEN",
            "VAULT_ADDR",
            "ü",
        ] {
            assert!(!is_refused(n), "{n}");
        }
        assert!(check_names(["KUBECONFIG"], &["KUBECONFIG".to_owned()]).is_ok());
        let e = check_names(["npm_config_script_shell"], &[]).expect_err("refused");
        assert!(
            e.hints[0].contains("--allow-env npm_config_script_shell"),
            "{}",
            e.hints[0]
        );
    }
}
