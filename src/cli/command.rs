//! The subcommands, and a parser that builds only the one a command line names.
//!
//! clap's derive builds the whole command tree (thirty subcommands, hundreds of
//! arguments) before it parses anything, which was about 8% of a tiny `decrypt`. Here
//! each subcommand is derived on its own (a one-variant enum in [`one`], from the same
//! attributes as [`Command`]'s variant, so the two cannot drift apart), [`Command`]'s
//! `Subcommand` implementation adds them all, and [`parse`] first tries a tree with only
//! the subcommand that the first argument names. Anything that tree does not accept
//! (help, version, a usage error, a global flag before the subcommand) is parsed again
//! with the whole tree, so every message, help text, completion script and man page is
//! the whole tree's.

use std::cell::Cell;
use std::ffi::OsString;

use clap::CommandFactory;
use clap::FromArgMatches;
use clap::Subcommand;

use super::Cli;

/// Declares [`Command`], one single-variant enum per subcommand in [`one`], and the tables
/// that [`Command`]'s `Subcommand` implementation walks.
macro_rules! commands {
    ($( $(#[doc = $doc:literal])* $(#[command($($cmd:tt)*)])? $variant:ident($args:ty), )*) => {
        /// The subcommands. (Their doc comments are the `--help` text, so the `["key"]`
        /// paths in them stay as users type them rather than as intra-doc links.)
        #[allow(rustdoc::broken_intra_doc_links)]
        #[derive(Debug)]
        pub enum Command {
            $( $(#[doc = $doc])* $variant($args), )*
        }

        /// Each subcommand as a `Subcommand` of its own, with the attributes of its
        /// [`Command`] variant.
        #[allow(rustdoc::broken_intra_doc_links)]
        mod one {
            $(
                #[derive(Debug, clap::Subcommand)]
                pub enum $variant {
                    $(#[doc = $doc])* $(#[command($($cmd)*)])? $variant($args),
                }

                impl From<$variant> for super::Command {
                    fn from(c: $variant) -> Self {
                        let $variant::$variant(a) = c;
                        super::Command::$variant(a)
                    }
                }
            )*
        }

        /// One entry per subcommand, in the order of [`Command`].
        struct Entry {
            has: fn(&str) -> bool,
            augment: fn(clap::Command) -> clap::Command,
            augment_for_update: fn(clap::Command) -> clap::Command,
            from: fn(&mut clap::ArgMatches) -> Result<Command, clap::Error>,
        }

        const ENTRIES: &[Entry] = &[
            $(
                Entry {
                    has: <one::$variant as Subcommand>::has_subcommand,
                    augment: <one::$variant as Subcommand>::augment_subcommands,
                    augment_for_update: <one::$variant as Subcommand>::augment_subcommands_for_update,
                    from: |m| <one::$variant as FromArgMatches>::from_arg_matches_mut(m).map(Into::into),
                },
            )*
        ];
    };
}

commands! {
    /// Encrypt a plaintext file (leaf values only; keys, structure and order stay readable).
    #[command(
        after_help = "Examples:\n  leafseal encrypt --age age1... secrets.yaml > secrets.enc.yaml\n  leafseal encrypt -i secrets.yaml   (keys from .sops.yaml)\n  leafseal encrypt --encrypted-regex '^(data|stringData)$' -i secret.yaml"
    )]
    Encrypt(crate::cli::encrypt::EncryptArgs),
    /// Decrypt a file to standard output (or --output / --in-place).
    #[command(
        after_help = "Examples:\n  leafseal decrypt secrets.yaml\n  leafseal decrypt --extract '[\"db\"][\"password\"]' secrets.yaml\n  leafseal decrypt --output-type json --output plain.json secrets.yaml"
    )]
    Decrypt(crate::cli::decrypt::DecryptArgs),
    /// Edit an encrypted file in your editor (creates it when it does not exist).
    #[command(
        after_help = "Examples:\n  leafseal edit secrets.yaml\n  EDITOR='code --wait' leafseal edit secrets.yaml\n  leafseal edit --age age1... new-secrets.yaml   (creates the file)"
    )]
    Edit(crate::cli::edit::EditArgs),
    /// Print {"encrypted":true} or {"encrypted":false} for a file.
    #[command(
        after_help = "Examples:\n  leafseal filestatus secrets.yaml\n  leafseal filestatus --input-type json config.enc"
    )]
    Filestatus(crate::cli::filestatus::FilestatusArgs),
    /// Check files against .sops.yaml without any private key (CI, pre-commit).
    #[command(after_help = "Examples:\n  leafseal check\n  leafseal check secrets/*.yaml")]
    Check(crate::cli::check::CheckArgs),
    /// Set one value in place, e.g. set FILE '["db"]["password"]' '"s3cret"' (VALUE is JSON).
    #[command(
        after_help = "Examples:\n  leafseal set secrets.yaml '[\"db\"][\"password\"]' '\"s3cret\"'\n  printf '\"%s\"' \"$TOKEN\" | leafseal set --value-stdin secrets.yaml '[\"api\"][\"token\"]'\n  leafseal set --value-file secrets.yaml '[\"tls\"]' tls.json"
    )]
    Set(crate::cli::set::SetArgs),
    /// Add a value to a file you cannot open: sealed for its recipients, pending until a key holder runs `absorb`.
    Contribute(crate::cli::contribute::ContributeArgs),
    /// Apply pending contributions (key holder or CI): verify each, set it, fresh MAC.
    Absorb(crate::cli::contribute::AbsorbArgs),
    /// Remove one entry in place, e.g. unset FILE '["db"]["password"]'.
    #[command(
        after_help = "Examples:\n  leafseal unset secrets.yaml '[\"db\"][\"password\"]'\n  leafseal unset --idempotent secrets.yaml '[\"old\"][0]'"
    )]
    Unset(crate::cli::unset::UnsetArgs),
    /// Re-key a file: new data key, every value re-encrypted; --add-*/--rm-* change its keys.
    #[command(
        after_help = "Examples:\n  leafseal rotate -i secrets.yaml\n  leafseal rotate -i --add-age age1... secrets.yaml\n  leafseal rotate -i --rm-pgp FINGERPRINT secrets.yaml"
    )]
    Rotate(crate::cli::rotate::RotateArgs),
    /// Revoke a recipient: remove it from .sops.yaml and from every file, rotating their data keys.
    Revoke(crate::cli::revoke::RevokeArgs),
    /// Sign an encrypted file's state with your SSH key (ssh-keygen -Y sign).
    Sign(crate::cli::sign::SignArgs),
    /// Check files' SSH signatures against an allowed-signers file (no private key needed).
    Verify(crate::cli::sign::VerifyArgs),
    /// Make files' keys match the policy (.sops.yaml), keeping their data keys.
    #[command(
        after_help = "Examples:\n  leafseal updatekeys secrets.yaml\n  leafseal updatekeys -y secrets/*.yaml"
    )]
    Updatekeys(crate::cli::updatekeys::UpdatekeysArgs),
    /// Add or delete key groups (Shamir) of a file.
    #[command(
        after_help = "Examples:\n  leafseal groups add -i -f secrets.yaml --age age1...\n  leafseal groups delete -i -f secrets.yaml 1"
    )]
    Groups(crate::cli::groups::GroupsArgs),
    /// Publish a file (or a directory, --recursive) to its .sops.yaml destination_rules target: S3, GCS or Vault KV.
    #[command(
        after_help = "Examples:\n  leafseal publish secrets/app.yaml\n  leafseal publish -y --recursive --omit-extensions secrets/"
    )]
    Publish(crate::cli::publish::PublishArgs),
    /// Run a command with the file's top-level values as environment variables.
    ExecEnv(crate::cli::exec_env::ExecEnvArgs),
    /// Run a command that reads the decrypted file from a FIFO (or temp file) given as {}.
    ExecFile(crate::cli::exec_file::ExecFileArgs),
    /// Fill a template from encrypted files ({{ ["key"] }} placeholders) to stdout or a FIFO.
    Render(crate::cli::render::RenderArgs),
    /// git integration: `setup`, and the `textconv` diff and `merge-driver` merge drivers.
    #[command(
        after_help = "Examples:\n  leafseal git setup\n  git diff secrets.yaml   (after setup: decrypted diff)"
    )]
    Git(crate::cli::git::GitArgs),
    /// kustomize/kpt secret generator: legacy exec plugin, KRM function, plugin installer.
    #[command(
        after_help = "Examples:\n  leafseal kustomize install-plugin\n  kustomize build --enable-alpha-plugins --enable-exec overlays/prod"
    )]
    Kustomize(crate::cli::kustomize::KustomizeArgs),
    /// Argo CD config management plugin: render a manifest directory, decrypting secrets.
    #[command(
        after_help = "Examples:\n  leafseal argocd generate .\n  leafseal argocd generate overlays/prod"
    )]
    Argocd(crate::cli::argocd::ArgocdArgs),
    /// Who can open which encrypted file: key groups, recipients, drift, data-key age (no key needed).
    Access(crate::cli::access::AccessArgs),
    /// Why can't I decrypt? Each key the files in scope need, its credential source, whether it works.
    Doctor(crate::cli::doctor::DoctorArgs),
    /// Which key paths each commit added, changed or removed; rotations and recipient changes.
    History(crate::cli::history::HistoryArgs),
    /// Create a new age identity (0600 key file) or print an SSH key's age recipient.
    Keygen(crate::cli::keygen::KeygenArgs),
    /// Serve sops's gRPC key service with this machine's keys (for --keyservice elsewhere).
    #[command(
        after_help = "Examples:\n  leafseal keyservice   (tcp 127.0.0.1:5000; elsewhere: ssh -L 5000:127.0.0.1:5000 HOST)\n  leafseal keyservice --network unix --address /run/user/1000/ks.sock --prompt\n  leafseal decrypt --keyservice tcp://127.0.0.1:5000 secrets.yaml"
    )]
    Keyservice(crate::cli::keyservice::KeyserviceArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completion(crate::cli::docgen::CompletionArgs),
    /// Print a man page, or write every page (one per subcommand) with --dir.
    Man(crate::cli::docgen::ManArgs),
}

thread_local! {
    /// While [`parse`] builds its small tree: the index in [`ENTRIES`] of the only
    /// subcommand to add.
    static ONLY: Cell<Option<usize>> = const { Cell::new(None) };
}

impl Subcommand for Command {
    fn augment_subcommands(cmd: clap::Command) -> clap::Command {
        let only = ONLY.with(Cell::get);
        ENTRIES
            .iter()
            .enumerate()
            .filter(|(i, _)| only.is_none_or(|o| o == *i))
            .fold(cmd, |c, (_, e)| (e.augment)(c))
    }

    fn augment_subcommands_for_update(cmd: clap::Command) -> clap::Command {
        ENTRIES.iter().fold(cmd, |c, e| (e.augment_for_update)(c))
    }

    fn has_subcommand(name: &str) -> bool {
        ENTRIES.iter().any(|e| (e.has)(name))
    }
}

impl FromArgMatches for Command {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        Self::from_arg_matches_mut(&mut m.clone())
    }

    fn from_arg_matches_mut(m: &mut clap::ArgMatches) -> Result<Self, clap::Error> {
        let entry = m
            .subcommand_name()
            .and_then(|name| ENTRIES.iter().find(|e| (e.has)(name)));
        match entry {
            Some(e) => (e.from)(m),
            None => Err(clap::Error::raw(
                clap::error::ErrorKind::MissingSubcommand,
                "A subcommand is required but one was not provided.",
            )),
        }
    }

    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }

    fn update_from_arg_matches_mut(&mut self, m: &mut clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches_mut(m)?;
        Ok(())
    }
}

/// Parses a command line (`args[0]` is the program name). When the first argument names a
/// subcommand, a tree with only that subcommand is tried first; whatever it does not
/// accept is parsed with the whole tree, which then gives the result, the help or the
/// error.
pub fn parse(args: Vec<OsString>) -> Result<Cli, clap::Error> {
    match parse_fast(&args) {
        Some(cli) => Ok(cli),
        None => {
            let mut m = empty_env_unset(Cli::command()).try_get_matches_from(args)?;
            Cli::from_arg_matches_mut(&mut m)
        }
    }
}

/// The exit code of a usage error clap found: sops's 100 ("no file specified") when
/// `set`, `unset`, `edit`, `rotate` or `updatekeys` is missing an argument or given one
/// too many, as sops counts its arguments there; clap's own code (2) otherwise.
pub fn usage_code(e: &clap::Error, args: &[std::ffi::OsString]) -> i32 {
    use clap::error::ContextKind;
    use clap::error::ContextValue;
    use clap::error::ErrorKind;
    let mut rest = args.iter().skip(1).filter_map(|a| a.to_str());
    let mut sub = None;
    while let Some(a) = rest.next() {
        if a == "--config" || a == "--keyservice" {
            rest.next();
        } else if !a.starts_with('-') {
            sub = Some(a);
            break;
        }
    }
    let counted = matches!(
        sub,
        Some("set" | "unset" | "edit" | "rotate" | "updatekeys")
    );
    let positional = |v: Option<&ContextValue>| match v {
        Some(ContextValue::String(s)) => !s.starts_with('-'),
        Some(ContextValue::Strings(v)) => v.iter().all(|s| !s.starts_with('-')),
        _ => false,
    };
    let arity = matches!(
        e.kind(),
        ErrorKind::MissingRequiredArgument | ErrorKind::UnknownArgument
    ) && positional(e.get(ContextKind::InvalidArg));
    if counted && arity && e.use_stderr() {
        crate::error::exit::NO_FILE_SPECIFIED
    } else {
        e.exit_code()
    }
}

/// An empty environment variable counts as unset (guide.md): without this clap takes
/// `SOPS_CONFIG=""` as a missing `--config` value, `SOPS_KEYSERVICE=""` as an address
/// without a scheme and `SOPS_ENABLE_LOCAL_KEYSERVICE=""` as a bad boolean, on every
/// command. Every argument of the tree read from an empty variable forgets the variable.
fn empty_env_unset(mut cmd: clap::Command) -> clap::Command {
    let empty: Vec<clap::Id> = cmd
        .get_arguments()
        .filter(|a| {
            a.get_env()
                .is_some_and(|v| std::env::var_os(v).is_some_and(|x| x.is_empty()))
        })
        .map(|a| a.get_id().clone())
        .collect();
    for id in empty {
        cmd = cmd.mut_arg(id, |a| a.env(None::<&str>));
    }
    let subs: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    for name in subs {
        cmd = cmd.mut_subcommand(name, empty_env_unset);
    }
    cmd
}

/// The command tree with only the subcommand at `index` of [`ENTRIES`].
fn small_tree(index: usize) -> clap::Command {
    ONLY.with(|o| o.set(Some(index)));
    let cmd = Cli::command();
    ONLY.with(|o| o.set(None));
    cmd
}

/// [`parse`] with the small tree only: `None` when the first argument names no
/// subcommand or the small tree does not accept the command line.
fn parse_fast(args: &[OsString]) -> Option<Cli> {
    let name = args.get(1)?.to_str()?;
    let index = ENTRIES.iter().position(|e| (e.has)(name))?;
    let mut m = empty_env_unset(small_tree(index))
        .try_get_matches_from(args)
        .ok()?;
    Cli::from_arg_matches_mut(&mut m).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use clap::Parser;

    use super::*;

    fn argv(s: &[&str]) -> Vec<OsString> {
        std::iter::once("leafseal")
            .chain(s.iter().copied())
            .map(OsString::from)
            .collect()
    }

    #[test]
    fn the_small_tree_holds_one_subcommand_and_the_whole_tree_all() {
        let full = Cli::command();
        assert_eq!(full.get_subcommands().count(), ENTRIES.len());
        for (i, sub) in full.get_subcommands().enumerate() {
            let small = small_tree(i);
            let names: Vec<&str> = small
                .get_subcommands()
                .map(clap::Command::get_name)
                .collect();
            assert_eq!(names, [sub.get_name()]);
        }
        // The switch does not stay on after a small tree was built.
        assert_eq!(Cli::command().get_subcommands().count(), ENTRIES.len());
    }

    #[test]
    fn every_subcommand_of_the_small_tree_is_the_one_of_the_whole_tree() {
        let mut full = Cli::command();
        full.build();
        // (The built tree also has clap's `help` subcommand, last.)
        for (i, sub) in full.get_subcommands().take(ENTRIES.len()).enumerate() {
            let mut small = small_tree(i);
            small.build();
            let one = small.find_subcommand_mut(sub.get_name()).unwrap();
            let mut whole = sub.clone();
            assert_eq!(
                one.render_long_help().to_string(),
                whole.render_long_help().to_string(),
                "{}",
                sub.get_name()
            );
            let ids = |c: &clap::Command| -> Vec<String> {
                c.get_arguments().map(|a| format!("{:?}", a)).collect()
            };
            assert_eq!(ids(one), ids(sub), "{}", sub.get_name());
        }
    }

    #[test]
    fn the_fast_parse_gives_what_the_whole_tree_gives() {
        let lines: &[&[&str]] = &[
            &["decrypt", "s.yaml"],
            &[
                "decrypt", "a.yaml", "b.yaml", "--indent", "4", "--config", "p.yaml",
            ],
            &["decrypt", "--extract", "[\"a\"]", "--ignore-mac", "s.yaml"],
            &["encrypt", "-i", "--age", "age1x", "s.yaml"],
            &["rotate", "-i", "--add-age", "age1x", "a.yaml", "b.yaml"],
            &["set", "s.yaml", "[\"a\"]", "\"v\""],
            &["check"],
            &["updatekeys", "-y", "dir"],
            &["exec-env", "s.yaml", "env"],
            &["git", "textconv", "s.yaml"],
            &["groups", "delete", "-i", "-f", "s.yaml", "1"],
            &["keyservice", "--network", "unix", "--address", "/tmp/s"],
            &[
                "decrypt",
                "--keyservice",
                "tcp://127.0.0.1:1",
                "--enable-local-keyservice=false",
                "s",
            ],
        ];
        for line in lines {
            let args = argv(line);
            let fast = parse_fast(&args).unwrap_or_else(|| panic!("{line:?}"));
            let whole = Cli::try_parse_from(&args).unwrap();
            assert_eq!(format!("{fast:?}"), format!("{whole:?}"), "{line:?}");
        }
    }

    #[test]
    fn help_version_errors_and_global_flags_first_take_the_whole_tree() {
        for line in [
            &["decrypt", "--help"][..],
            &["--version"],
            &["decrypt", "--bogus"],
            &["--config", "p.yaml", "decrypt", "s.yaml"],
            &["help", "decrypt"],
            &["nonsense"],
            &[],
        ] {
            assert!(parse_fast(&argv(line)).is_none(), "{line:?}");
        }
        // A global flag before the subcommand still parses (with the whole tree).
        let cli = parse(argv(&["--config", "p.yaml", "decrypt", "s.yaml"])).unwrap();
        assert!(matches!(cli.command, Command::Decrypt(_)));
        assert_eq!(
            parse(argv(&["decrypt", "--bogus"]))
                .unwrap_err()
                .exit_code(),
            2
        );
    }
}

#[cfg(test)]
#[path = "command_review_tests.rs"]
mod review_tests;
