//! The load restriction of the generators, as kustomize's own: a file a generator names
//! (kustomize) or a manifest it renders (Argo CD) must resolve, symbolic links followed,
//! to a path inside the kustomization directory or the application directory. Without it
//! a repository could name `../other-app/secret.enc.yaml`, an absolute path, or a link
//! leading there, and have another application's secrets decrypted into its output
//! (round-19 review). The operator, never the repository, can lift it with
//! `LEAFSEAL_LOAD_RESTRICTOR=LoadRestrictionsNone` (kustomize's
//! `--load-restrictor` value).

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use zeroize::Zeroizing;

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

/// Reads the file at `path` when it is inside `root` ([`check`]), and checks the file it
/// opened rather than the name: after the open, the path is resolved again and must lead,
/// inside `root`, to that very file (same device and inode). A link swapped between the
/// check and the open (a process changing the checkout while a render runs) is refused
/// (exit 2) instead of having the file it then pointed to decrypted into the output.
/// `None` reads any path.
pub fn read(path: &Path, root: Option<&Path>) -> Result<Zeroizing<Vec<u8>>, Error> {
    let shown = path.display().to_string();
    let Some(root) = root else {
        return crate::io::read_input(&shown);
    };
    check(path, Some(root))?;
    let (f, meta) = crate::io::open_input(&shown)?;
    let real_root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_owned());
    let opened = meta.as_ref().map(|m| (m.dev(), m.ino()));
    let now = std::fs::canonicalize(path)
        .ok()
        .and_then(|real| std::fs::metadata(&real).ok().map(|m| (real, m)));
    match (opened, now) {
        (Some(ids), Some((real, m))) if (m.dev(), m.ino()) == ids => {
            if !real.starts_with(&real_root) {
                return Err(outside(path, &real, &real_root));
            }
        }
        _ => return Err(changed(path)),
    }
    crate::io::read_opened(&shown, f, meta.as_ref())
}

fn changed(path: &Path) -> Error {
    Error::new(
        exit::COULD_NOT_READ_INPUT,
        format!(
            "{} changed while it was being opened (a link or directory replaced); nothing was read",
            crate::redact::inert(&path.display().to_string())
        ),
    )
    .hint("run the render again once nothing else is changing the checkout")
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

    /// A link swapped between the check and the read (round-21 review: the check
    /// resolved the name, the read opened it again): whatever the timing, the outside
    /// file's content is never returned.
    #[test]
    fn a_link_swapped_while_reading_never_yields_the_outside_file() {
        use std::sync::Arc;
        use std::sync::atomic::AtomicBool;
        use std::sync::atomic::Ordering;
        let d = tempfile::tempdir().unwrap();
        let app = d.path().join("app");
        std::fs::create_dir(&app).unwrap();
        std::fs::write(app.join("real.yaml"), "inside\n").unwrap();
        std::fs::write(d.path().join("secret.yaml"), "outside\n").unwrap();
        let link = app.join("m.yaml");
        std::os::unix::fs::symlink("real.yaml", &link).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let swapper = {
            let (stop, app, link) = (Arc::clone(&stop), app.clone(), link.clone());
            std::thread::spawn(move || {
                let tmp = app.join("m.tmp");
                while !stop.load(Ordering::Relaxed) {
                    for target in ["../secret.yaml", "real.yaml"] {
                        let _ = std::fs::remove_file(&tmp);
                        std::os::unix::fs::symlink(target, &tmp).unwrap();
                        std::fs::rename(&tmp, &link).unwrap();
                    }
                }
            })
        };
        let (mut read_inside, mut refused) = (0, 0);
        for _ in 0..20_000 {
            match read(&link, Some(&app)) {
                Ok(bytes) => {
                    assert_eq!(&bytes[..], b"inside\n", "the outside file was read");
                    read_inside += 1;
                }
                Err(e) => {
                    assert_eq!(e.code, exit::COULD_NOT_READ_INPUT, "{}", e.message);
                    refused += 1;
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        swapper.join().unwrap();
        assert!(read_inside > 0 && refused > 0, "{read_inside} {refused}");
    }

    #[test]
    fn read_inside_and_unrestricted() {
        let d = tempfile::tempdir().unwrap();
        let app = d.path().join("app");
        std::fs::create_dir(&app).unwrap();
        std::fs::write(app.join("a.yaml"), "a: 1\n").unwrap();
        std::fs::write(d.path().join("s.yaml"), "s: 1\n").unwrap();
        assert_eq!(
            &read(&app.join("a.yaml"), Some(&app)).unwrap()[..],
            b"a: 1\n"
        );
        let e = read(&d.path().join("s.yaml"), Some(&app)).unwrap_err();
        assert_eq!(e.code, exit::COULD_NOT_READ_INPUT);
        assert_eq!(
            &read(&d.path().join("s.yaml"), None).unwrap()[..],
            b"s: 1\n"
        );
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
