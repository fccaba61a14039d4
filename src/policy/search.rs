//! Where the search for `.sops.yaml` went, for the errors that say no policy was found:
//! the directories looked in, and a `.sops.yml` on the way (sops reads only
//! `.sops.yaml` and ignores that name with a warning; so does leafseal).

use std::path::Path;
use std::path::PathBuf;

use super::FILE_NAME;

/// The name sops ignores (with a warning) when it looks for its policy.
pub const IGNORED_NAME: &str = ".sops.yml";

/// The result of searching upwards from a directory.
#[derive(Debug, Default)]
pub struct Search {
    /// The `.sops.yaml` found, if any.
    pub found: Option<PathBuf>,
    /// The directories looked in, nearest first.
    pub searched: Vec<PathBuf>,
    /// The first `.sops.yml` met before the policy was found (it is not read).
    pub ignored: Option<PathBuf>,
}

/// Looks for `.sops.yaml` in `start` and its parents (up to 100 levels), as
/// [`super::find`], recording where it looked.
pub fn search(start: &Path) -> Search {
    let mut s = Search::default();
    let mut dir = Some(start);
    for _ in 0..100 {
        let Some(d) = dir else { break };
        s.searched.push(d.to_owned());
        let candidate = d.join(FILE_NAME);
        if candidate.metadata().is_ok() {
            s.found = Some(candidate);
            return s;
        }
        let alt = d.join(IGNORED_NAME);
        if s.ignored.is_none() && alt.is_file() {
            s.ignored = Some(alt);
        }
        dir = d.parent();
    }
    s
}

impl Search {
    /// The searched directories as one line: the first, "…" and the last when many.
    pub fn searched_text(&self) -> String {
        let shown: Vec<String> = self
            .searched
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        match shown.as_slice() {
            [] => "nowhere".to_owned(),
            [one] => one.clone(),
            [first, .., last] if shown.len() > 4 => {
                format!("{first}, its {} parents up to {last}", shown.len() - 1)
            }
            all => all.join(", "),
        }
    }

    /// The hint for a `.sops.yml` that is not read (rename it), if one was met.
    pub fn ignored_hint(&self) -> Option<String> {
        let alt = self.ignored.as_ref()?;
        Some(format!(
            "{} is not read: sops and leafseal only read a policy named {FILE_NAME}; rename it to {}",
            alt.display(),
            alt.with_file_name(FILE_NAME).display()
        ))
    }

    /// The warning for a `.sops.yml` that is not read, if one was met.
    pub fn ignored_warning(&self) -> Option<String> {
        let alt = self.ignored.as_ref()?;
        Some(match &self.found {
            Some(p) => format!(
                "ignoring {} (the policy file must be called {FILE_NAME}); using {}",
                alt.display(),
                p.display()
            ),
            None => format!(
                "ignoring {} (the policy file must be called {FILE_NAME}, as for sops)",
                alt.display()
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_the_directories_and_a_misnamed_policy() {
        let t = tempfile::tempdir().expect("tempdir");
        let sub = t.path().join("a").join("b");
        std::fs::create_dir_all(&sub).expect("mkdir");
        std::fs::write(
            t.path().join("a").join(IGNORED_NAME),
            "creation_rules: []\n",
        )
        .expect("write");
        let s = search(&sub);
        assert_eq!(s.searched.first(), Some(&sub));
        assert!(s.searched.contains(&t.path().join("a")));
        assert_eq!(s.ignored, Some(t.path().join("a").join(IGNORED_NAME)));
        assert!(
            s.ignored_warning()
                .is_some_and(|w| w.contains("must be called .sops.yaml"))
        );
        std::fs::write(t.path().join(FILE_NAME), "creation_rules: []\n").expect("write");
        let s = search(&sub);
        assert_eq!(s.found, Some(t.path().join(FILE_NAME)));
        assert_eq!(s.searched.len(), 3);
    }
}
