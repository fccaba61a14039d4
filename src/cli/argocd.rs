//! `leafseal argocd generate`: the plain-manifest mode of the Argo CD config management
//! plugin. Run by the plugin sidecar with the application's source path as the current
//! directory and Argo CD's build environment (`ARGOCD_APP_NAME`, `ARGOCD_APP_NAMESPACE`,
//! `ARGOCD_ENV_*` from the Application's `plugin.env`).

use std::path::PathBuf;

use clap::Args;
use clap::Subcommand;

use crate::error::Error;
use crate::error::exit;
use crate::integrations::argocd;

/// Arguments of `argocd`.
#[derive(Debug, Args)]
pub struct ArgocdArgs {
    /// The action.
    #[command(subcommand)]
    pub action: ArgocdAction,
}

/// What `argocd` does.
#[derive(Debug, Subcommand)]
pub enum ArgocdAction {
    /// Print every manifest under DIR as one YAML stream, sops-encrypted ones decrypted.
    #[command(
        after_help = "Examples:\n  leafseal argocd generate .\n  leafseal argocd generate overlays/prod"
    )]
    Generate(GenerateArgs),
}

/// Arguments of `argocd generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The application directory (default: the current directory, which the sidecar sets
    /// to the application's source path).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Do not descend into subdirectories (also ARGOCD_ENV_LEAFSEAL_RECURSE=false).
    #[arg(long)]
    pub no_recurse: bool,
}

/// Reads a boolean `ARGOCD_ENV_…` variable (set from the Application's `plugin.env`).
fn env_flag(name: &str) -> Result<Option<bool>, Error> {
    let Ok(v) = std::env::var(name) else {
        return Ok(None);
    };
    match v.trim().to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "1" | "true" | "yes" => Ok(Some(true)),
        "0" | "false" | "no" => Ok(Some(false)),
        _ => Err(Error::new(
            exit::GENERIC,
            format!("{name} must be true or false"),
        )),
    }
}

/// Runs `argocd`.
pub fn run(a: &ArgocdArgs) -> Result<i32, Error> {
    let ArgocdAction::Generate(g) = &a.action;
    let recurse = !g.no_recurse && env_flag("ARGOCD_ENV_LEAFSEAL_RECURSE")?.unwrap_or(true);
    // The sidecar's own environment, not `ARGOCD_ENV_*`: those come from the
    // Application, which the repository's authors may control.
    let opts = argocd::WalkOptions {
        recurse,
        restrictor: crate::cli::kustomize::load_restrictor()?,
    };
    let out =
        argocd::generate(&g.dir, &opts, &crate::cli::key_context()).map_err(
            |e| match std::env::var("ARGOCD_APP_NAME") {
                Ok(app) if !app.is_empty() => {
                    let ns = std::env::var("ARGOCD_APP_NAMESPACE").unwrap_or_default();
                    Error {
                        message: format!("application {app} (namespace {ns}): {}", e.message),
                        ..e
                    }
                }
                _ => e,
            },
        )?;
    for w in &out.warnings {
        crate::cli::warn(w);
    }
    crate::io::write_stdout(&out.yaml)?;
    Ok(0)
}
