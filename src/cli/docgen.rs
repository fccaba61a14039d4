//! `leafseal completion SHELL` and `leafseal man`: shell completion scripts and man pages,
//! generated from the same clap definitions that parse the command line, so they never
//! drift from the real flags.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::path::PathBuf;

use clap::Args;
use clap::CommandFactory;

use crate::cli;
use crate::cli::Cli;
use crate::error::Error;
use crate::error::exit;

/// Arguments of `completion`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  leafseal completion bash > ~/.local/share/bash-completion/completions/leafseal
  leafseal completion zsh > \"${fpath[1]}/_leafseal\"
  leafseal completion fish > ~/.config/fish/completions/leafseal.fish")]
pub struct CompletionArgs {
    /// The shell to print a completion script for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Arguments of `man`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  leafseal man --dir ~/.local/share/man/man1 && man leafseal-edit
  leafseal man set | man -l -
  sudo leafseal man --dir /usr/local/share/man/man1")]
pub struct ManArgs {
    /// Print only this subcommand's page (e.g. `edit`, or `groups add`); default: the
    /// main page. Ignored with --dir.
    #[arg(value_name = "COMMAND")]
    pub command: Vec<String>,
    /// Write every page (leafseal.1 and one leafseal-COMMAND.1 per subcommand) into this
    /// directory instead of printing one page.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// The command definition with the program name every page and script uses.
fn root() -> clap::Command {
    let mut c = Cli::command().name("leafseal").bin_name("leafseal");
    c.build();
    c
}

/// Runs `completion`: prints the script.
pub fn completion(a: &CompletionArgs) -> Result<i32, Error> {
    // Under the drop-in name `sops`, complete the `sops` command.
    let name = std::env::args()
        .next()
        .filter(|a0| crate::cli::sops_compat::is_sops(a0))
        .map_or("leafseal", |_| "sops");
    let mut cmd = root().name(name).bin_name(name);
    let mut buf = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, name, &mut buf);
    crate::io::write_stdout(&buf)?;
    Ok(0)
}

/// Every page: (file name without `.1`, command), the main page first, then each
/// subcommand depth-first (`leafseal-groups-add`).
pub fn pages() -> Vec<(String, clap::Command)> {
    fn walk(prefix: &str, cmd: &clap::Command, out: &mut Vec<(String, clap::Command)>) {
        for sub in cmd.get_subcommands() {
            if sub.get_name() == "help" {
                continue;
            }
            let name = format!("{prefix}-{}", sub.get_name());
            out.push((
                name.clone(),
                sub.clone()
                    .name(name.clone())
                    .bin_name(name.replace('-', " ")),
            ));
            walk(&name, sub, out);
        }
    }
    let top = root();
    let mut out = vec![("leafseal".to_owned(), top.clone())];
    walk("leafseal", &top, &mut out);
    out
}

fn render(cmd: clap::Command) -> Result<Vec<u8>, Error> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd)
        .section("1")
        .source(format!("leafseal {}", env!("CARGO_PKG_VERSION")))
        .manual("leafseal manual")
        .render(&mut buf)
        .map_err(|e| Error::new(exit::GENERIC, format!("cannot render a man page: {e}")))?;
    Ok(buf)
}

/// Runs `man`.
pub fn man(cli: &Cli, a: &ManArgs) -> Result<i32, Error> {
    let all = pages();
    let Some(dir) = &a.dir else {
        let want = std::iter::once("leafseal".to_owned())
            .chain(a.command.iter().cloned())
            .collect::<Vec<_>>()
            .join("-");
        let Some((_, cmd)) = all.into_iter().find(|(n, _)| *n == want) else {
            return Err(Error::new(
                exit::GENERIC,
                format!("there is no subcommand `{}`", a.command.join(" ")),
            )
            .hint("run `leafseal --help` for the list of subcommands"));
        };
        crate::io::write_stdout(&render(cmd)?)?;
        return Ok(0);
    };
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::new(
            exit::GENERIC,
            format!("cannot create the directory {}: {e}", dir.display()),
        )
        .hint("give --dir a directory you can write to")
    })?;
    for (name, cmd) in all {
        let path = dir.join(format!("{name}.1"));
        let page = render(cmd)?;
        cli::output(cli, Path::new(&path))?.write(&page)?;
        // Man pages are public documentation: readable by everyone, unlike secrets (0600).
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).map_err(|e| {
            Error::new(
                exit::COULD_NOT_WRITE_OUTPUT,
                format!("cannot make {} readable: {e}", path.display()),
            )
        })?;
    }
    Ok(0)
}
