//! `leafseal kustomize`: the secret generator as a kustomize legacy exec plugin and as a
//! KRM exec function (kustomize, kpt), and the installer of the plugin executable.

use std::path::Path;
use std::path::PathBuf;

use clap::Args;
use clap::Subcommand;

use crate::cli;
use crate::error::Error;
use crate::error::exit;
use crate::integrations::kustomize;

/// Arguments of `kustomize`.
#[derive(Debug, Args)]
pub struct KustomizeArgs {
    /// The action.
    #[command(subcommand)]
    pub action: Action,
}

/// What `kustomize` does.
#[derive(Debug, Subcommand)]
pub enum Action {
    /// Write the legacy exec plugin executable under the kustomize plugin home.
    #[command(
        after_help = "Examples:\n  leafseal kustomize install-plugin\n  kustomize build --enable-alpha-plugins --enable-exec ."
    )]
    InstallPlugin(InstallArgs),
    /// Run as a legacy exec plugin: decrypt what CONFIG lists and print the resources.
    #[command(
        after_help = "Examples:\n  kustomize build --enable-alpha-plugins --enable-exec .   (runs it)\n  leafseal kustomize install-plugin"
    )]
    ExecPlugin(ExecArgs),
    /// Run as a KRM exec function: ResourceList on stdin, ResourceList with the generated
    /// Secrets appended on stdout.
    #[command(
        after_help = "Examples:\n  kustomize build --enable-alpha-plugins --enable-exec .   (runs it)\n  kpt fn eval --exec 'leafseal kustomize krm' ."
    )]
    Krm(KrmArgs),
}

/// Arguments of `kustomize install-plugin`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Plugin home (default: $KUSTOMIZE_PLUGIN_HOME, else $XDG_CONFIG_HOME/kustomize/plugin,
    /// else ~/.config/kustomize/plugin).
    #[arg(long, value_name = "DIR")]
    pub plugin_home: Option<PathBuf>,
    /// The leafseal executable the plugin runs (default: this one).
    #[arg(long, value_name = "PATH")]
    pub leafseal: Option<PathBuf>,
    /// Also install as KSOPS (`viaduct.ai/v1` and `/v2` `ksops`), to serve existing KSOPS configs.
    #[arg(long)]
    pub ksops: bool,
}

/// Arguments of `kustomize exec-plugin`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The generator configuration file kustomize passes (`-` for standard input).
    #[arg(value_name = "CONFIG")]
    pub config_file: String,
}

/// Arguments of `kustomize krm`.
#[derive(Debug, Args)]
pub struct KrmArgs {
    /// Resolve relative paths against this directory (default: kpt's package path, else
    /// the current directory).
    #[arg(long, value_name = "DIR")]
    pub base_dir: Option<PathBuf>,
}

/// The executable's path under a plugin home, for an `apiVersion` and `kind`.
pub fn plugin_path(home: &Path, api_version: &str, kind: &str) -> PathBuf {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    home.join(group)
        .join(version)
        .join(kind.to_ascii_lowercase())
        .join(kind)
}

/// The default plugin home, from the environment.
pub fn default_plugin_home() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("KUSTOMIZE_PLUGIN_HOME")
        .or_else(|| var("XDG_CONFIG_HOME").map(|d| d.join("kustomize").join("plugin")))
        .or_else(|| var("HOME").map(|d| d.join(".config").join("kustomize").join("plugin")))
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The plugin script: one argument (legacy exec plugin) or none (KRM exec function).
pub fn plugin_script(leafseal: &Path) -> String {
    let exe = sh_quote(&leafseal.to_string_lossy());
    format!(
        "#!/bin/sh\n\
         # Written by `leafseal kustomize install-plugin`. kustomize runs legacy exec plugins\n\
         # with the generator configuration file as the only argument; KRM exec functions get\n\
         # no argument and a ResourceList on standard input.\n\
         if [ \"$#\" -eq 0 ]; then\n  exec {exe} kustomize krm\nfi\n\
         exec {exe} kustomize exec-plugin \"$@\"\n"
    )
}

fn install(a: &InstallArgs) -> Result<i32, Error> {
    let home = a
        .plugin_home
        .clone()
        .or_else(default_plugin_home)
        .ok_or_else(|| {
            Error::new(exit::GENERIC, "cannot find the kustomize plugin home")
                .hint("pass --plugin-home DIR or set KUSTOMIZE_PLUGIN_HOME")
        })?;
    let exe = match &a.leafseal {
        Some(p) => p.clone(),
        None => std::env::current_exe().map_err(|e| {
            Error::new(
                exit::GENERIC,
                format!("cannot find the leafseal executable: {e}"),
            )
            .hint("pass --leafseal PATH")
        })?,
    };
    let mut targets = vec![plugin_path(&home, kustomize::API_VERSION, kustomize::KIND)];
    if a.ksops {
        for api in kustomize::KSOPS_API_VERSIONS {
            targets.push(plugin_path(&home, api, kustomize::KSOPS_KIND));
        }
    }
    let script = plugin_script(&exe);
    for t in targets {
        let fail = |e: std::io::Error| {
            Error::new(
                exit::COULD_NOT_WRITE_OUTPUT,
                format!("cannot write {}: {e}", t.display()),
            )
        };
        if let Some(dir) = t.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        std::fs::write(&t, &script).map_err(fail)?;
        std::fs::set_permissions(&t, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .map_err(fail)?;
        crate::io::write_stdout(format!("{}\n", t.display()).as_bytes())?;
    }
    Ok(0)
}

fn current_dir() -> Result<PathBuf, Error> {
    std::env::current_dir().map_err(|e| {
        Error::new(
            exit::GENERIC,
            format!("cannot read the current directory: {e}"),
        )
    })
}

/// The load restriction from `LEAFSEAL_LOAD_RESTRICTOR` (the plugin inherits
/// kustomize's environment in both forms; kustomize's own flag is not passed on).
pub(crate) fn load_restrictor() -> Result<kustomize::LoadRestrictor, Error> {
    let v = std::env::var(crate::integrations::confine::LOAD_RESTRICTOR_VAR).ok();
    kustomize::LoadRestrictor::parse(v.as_deref())
}

/// Refuses words after the configuration file of `kustomize exec-plugin`. kustomize
/// appends the generator configuration's `argsOneLiner` (and the lines of its
/// `argsFromFile`) to a legacy exec plugin's command line, so they are repository
/// content; the plugin script passes them on, and they would be read as leafseal's
/// global flags: `--keyservice tcp://HOST:PORT` made the renderer dial an address the
/// repository chose (round-21 review). The generator takes no arguments.
fn refuse_added_words(argv: &[std::ffi::OsString]) -> Result<(), Error> {
    let Some(at) = argv.iter().position(|a| a == "exec-plugin") else {
        return Ok(());
    };
    let mut rest = &argv[at + 1..];
    if rest.first().is_some_and(|a| a == "--") {
        rest = &rest[1..];
    }
    if rest.len() <= 1 {
        return Ok(());
    }
    Err(Error::new(
        exit::GENERIC,
        format!(
            "`kustomize exec-plugin` was given {} word(s) after the configuration file; the leafseal generator takes none, and they are not read as options",
            rest.len() - 1
        ),
    )
    .hint("remove `argsOneLiner` and `argsFromFile` from the generator configuration: kustomize adds them to the plugin's command line"))
}

/// Runs `kustomize`.
pub fn run(a: &KustomizeArgs) -> Result<i32, Error> {
    match &a.action {
        Action::InstallPlugin(i) => install(i),
        Action::ExecPlugin(e) => {
            refuse_added_words(&std::env::args_os().collect::<Vec<_>>())?;
            let config = crate::io::read_input(&e.config_file)?;
            let base = match std::env::var_os("KUSTOMIZE_PLUGIN_CONFIG_ROOT") {
                Some(r) if !r.is_empty() => PathBuf::from(r),
                _ => current_dir()?,
            };
            let out = kustomize::exec_plugin(
                &config,
                &base,
                load_restrictor()?,
                &crate::cli::key_context(),
            )?;
            for w in &out.warnings {
                cli::warn(w);
            }
            crate::io::write_stdout(&out.yaml)?;
            Ok(0)
        }
        Action::Krm(k) => {
            let input = crate::io::read_input("-")?;
            let out = kustomize::krm(
                &input,
                k.base_dir.as_deref(),
                &current_dir()?,
                load_restrictor()?,
                &crate::cli::key_context(),
            )?;
            for w in &out.warnings {
                cli::warn(w);
            }
            crate::io::write_stdout(&out.yaml)?;
            Ok(0)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::refuse_added_words;

    fn argv(words: &[&str]) -> Vec<std::ffi::OsString> {
        words.iter().map(std::ffi::OsString::from).collect()
    }

    #[test]
    fn words_after_the_configuration_are_refused() {
        let ok = [
            "leafseal",
            "kustomize",
            "exec-plugin",
            "/tmp/kust-plugin-config-1",
        ];
        assert!(refuse_added_words(&argv(&ok)).is_ok());
        assert!(
            refuse_added_words(&argv(&["leafseal", "kustomize", "exec-plugin", "--", "c"])).is_ok()
        );
        assert!(
            refuse_added_words(&argv(&[
                "leafseal",
                "--strict-integrity",
                "kustomize",
                "exec-plugin",
                "c"
            ]))
            .is_ok()
        );
        for added in [
            &["--keyservice", "tcp://127.0.0.1:9"][..],
            &["--enable-local-keyservice=false"],
            &["x"],
        ] {
            let mut a = argv(&ok);
            a.extend(argv(added));
            let e = refuse_added_words(&a).unwrap_err();
            assert!(
                e.message.contains("after the configuration file"),
                "{}",
                e.message
            );
        }
    }
}
