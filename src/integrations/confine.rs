//! The load restriction of the generators, as kustomize's own: a file a generator names
//! (kustomize) or a manifest it renders (Argo CD) must resolve, symbolic links followed,
//! to a path inside the kustomization directory or the application directory. Without it
//! a repository could name `../other-app/secret.enc.yaml`, an absolute path, or a link
//! leading there, and have another application's secrets decrypted into its output
//! (round-19 review). The operator, never the repository, can lift it with
//! `LEAFSEAL_LOAD_RESTRICTOR=LoadRestrictionsNone` (kustomize's
//! `--load-restrictor` value).

use std::path::Path;

use crate::error::Error;
use crate::error::exit;

/// The environment variable that sets the restriction.
pub const LOAD_RESTRICTOR_VAR: &str = "LEAFSEAL_LOAD_RESTRICTOR";

/// Whether generators may read files outside their root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoadRestrictor {
    /// Only files inside the root (kustomize's `LoadRestrictionsRootOnly`, the default).
    #[default]
    RootOnly,
    /// Any file (kustomize's `LoadRestrictionsNone`).
    None,
}

impl LoadRestrictor {
    /// Reads the value of [`LOAD_RESTRICTOR_VAR`] (unset or empty: the default).
    pub fn parse(value: Option<&str>) -> Result<LoadRestrictor, Error> {
        match value.map(str::trim) {
            None | Some("") | Some("LoadRestrictionsRootOnly") => Ok(LoadRestrictor::RootOnly),
            Some("LoadRestrictionsNone") => Ok(LoadRestrictor::None),
            Some(other) => Err(Error::new(
                exit::GENERIC,
                format!(
                    "{LOAD_RESTRICTOR_VAR} must be LoadRestrictionsRootOnly or LoadRestrictionsNone, not `{}`",
                    crate::redact::inert(other)
                ),
            )),
        }
    }

    /// The directory files must stay in: `root` when restricted, `None` otherwise.
    pub fn limit(self, root: &Path) -> Option<&Path> {
        match self {
            LoadRestrictor::RootOnly => Some(root),
            LoadRestrictor::None => None,
        }
    }
}

/// Checks that `path`, with every symbolic link resolved, is inside `root` (resolved the
/// same way); `None` allows any path. A path that cannot be resolved is left for the
/// reader to report.
pub fn check(path: &Path, root: Option<&Path>) -> Result<(), Error> {
    let Some(root) = root else { return Ok(()) };
    let Ok(real) = std::fs::canonicalize(path) else {
        return Ok(());
    };
    let real_root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_owned());
    if real.starts_with(&real_root) {
        return Ok(());
    }
    Err(outside(path, &real, &real_root))
}

fn outside(path: &Path, real: &Path, root: &Path) -> Error {
    let shown = |p: &Path| crate::redact::inert(&p.display().to_string());
    let via = if real == path {
        String::new()
    } else {
        format!(" (it resolves to {})", shown(real))
    };
    Error::new(
        exit::COULD_NOT_READ_INPUT,
        format!(
            "{} is outside {}{via}; files outside the directory are not read",
            shown(path),
            shown(root)
        ),
    )
    .hint(format!(
        "move the file into the directory; if whoever runs the generator means to allow it, set {LOAD_RESTRICTOR_VAR}=LoadRestrictionsNone in its environment"
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn inside_outside_and_links() {
        let d = tempfile::tempdir().unwrap();
        let app = d.path().join("app");
        std::fs::create_dir_all(app.join("sub")).unwrap();
        std::fs::write(app.join("sub/a.yaml"), "a: 1\n").unwrap();
        std::fs::write(d.path().join("secret.yaml"), "s: 1\n").unwrap();
        std::os::unix::fs::symlink("sub/a.yaml", app.join("in.yaml")).unwrap();
        std::os::unix::fs::symlink("../secret.yaml", app.join("out.yaml")).unwrap();
        assert!(check(&app.join("sub/a.yaml"), Some(&app)).is_ok());
        assert!(check(&app.join("in.yaml"), Some(&app)).is_ok());
        let e = check(&app.join("out.yaml"), Some(&app)).unwrap_err();
        assert_eq!(e.code, exit::COULD_NOT_READ_INPUT);
        assert!(e.message.contains("resolves to"), "{}", e.message);
        assert!(check(&app.join("../secret.yaml"), Some(&app)).is_err());
        assert!(check(&d.path().join("secret.yaml"), Some(&app)).is_err());
        assert!(check(&app.join("out.yaml"), None).is_ok());
        // `app2` is not inside `app` though its name starts the same way.
        std::fs::create_dir(d.path().join("app2")).unwrap();
        std::fs::write(d.path().join("app2/x.yaml"), "x: 1\n").unwrap();
        assert!(check(&d.path().join("app2/x.yaml"), Some(&app)).is_err());
    }

    #[test]
    fn parse_values() {
        assert_eq!(
            LoadRestrictor::parse(None).unwrap(),
            LoadRestrictor::RootOnly
        );
        assert_eq!(
            LoadRestrictor::parse(Some("LoadRestrictionsNone")).unwrap(),
            LoadRestrictor::None
        );
        assert!(LoadRestrictor::parse(Some("none")).is_err());
    }
}
