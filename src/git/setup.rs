//! `leafseal git setup`: registers the diff and merge drivers in the repository's local git
//! config and maps the encrypted files to them in `.gitattributes`.
//!
//! Idempotent: config values are written only when they differ, and a `.gitattributes`
//! line is added only when no line already gives that pattern both attributes. Existing
//! `.gitattributes` content is kept byte for byte.

use std::path::Path;
use std::path::PathBuf;

use crate::error::Error;
use crate::error::exit;
use crate::git::DRIVER;
use crate::git::git;
use crate::git::glob::regex_to_globs;
use crate::git::shell_quote;
use crate::policy::Policy;

/// The attributes each pattern gets.
pub const ATTRIBUTES: &str = "diff=leafseal merge=leafseal";

/// The local git config entries for the drivers, for the leafseal binary at `program`.
///
/// `diff.leafseal.cachetextconv` is set to `false` explicitly: git's textconv cache stores
/// the textconv *output* — here the decrypted plaintext — as git notes
/// (`refs/notes/textconv/leafseal`) in the object database, where it would outlive the
/// diff, end up in pack files and could be pushed. Secrets must never reach `.git`.
pub fn config_entries(program: &str) -> Vec<(String, String)> {
    let prog = shell_quote(program);
    vec![
        (
            format!("diff.{DRIVER}.textconv"),
            format!("{prog} git textconv"),
        ),
        (format!("diff.{DRIVER}.cachetextconv"), "false".to_owned()),
        (
            format!("merge.{DRIVER}.name"),
            "leafseal: merge encrypted files by key path".to_owned(),
        ),
        (
            format!("merge.{DRIVER}.driver"),
            format!("{prog} git merge-driver %O %A %B %P"),
        ),
        // Opt-in per pattern (`diff=leafseal-k8s` in .gitattributes): Kubernetes
        // Secrets' `data` values shown base64-decoded.
        (
            format!("diff.{DRIVER}-k8s.textconv"),
            format!("{prog} git textconv --k8s-decode"),
        ),
        (
            format!("diff.{DRIVER}-k8s.cachetextconv"),
            "false".to_owned(),
        ),
    ]
}

/// What `setup` did.
#[derive(Debug, Default)]
pub struct SetupReport {
    /// The repository's top-level directory.
    pub root: PathBuf,
    /// Config keys that were written (new or changed).
    pub config_changed: Vec<String>,
    /// Patterns added to `.gitattributes`.
    pub patterns_added: Vec<String>,
    /// Patterns that were already configured.
    pub patterns_present: Vec<String>,
    /// Notes for the user (rules that could not be turned into patterns, …).
    pub warnings: Vec<String>,
}

/// Patterns for the policy's creation rules, relative to the repository root, plus a
/// warning for every rule that cannot be expressed as a glob.
pub fn patterns_from_policy(policy: &Policy, root: &Path) -> (Vec<String>, Vec<String>) {
    let mut patterns = Vec::new();
    let mut warnings = Vec::new();
    let dir = policy.path.parent().unwrap_or(Path::new("."));
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    let root_c = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_owned());
    let Ok(rel) = dir.strip_prefix(&root_c) else {
        warnings.push(format!(
            "{} lies outside the repository; pass --pattern GLOB for the encrypted files",
            policy.path.display()
        ));
        return (patterns, warnings);
    };
    let mut prefix = rel.to_string_lossy().replace('\\', "/");
    if !prefix.is_empty() {
        prefix.push('/');
    }
    if policy.rules.is_empty() {
        warnings.push(format!(
            "{} has no creation rules; pass --pattern GLOB for the encrypted files",
            policy.path.display()
        ));
    }
    for (i, rule) in policy.rules.iter().enumerate() {
        let Some(re) = &rule.path_regex else {
            warnings.push(format!(
                "creation rule {} has no path_regex (it matches every file); pass --pattern GLOB for the encrypted files",
                i + 1
            ));
            continue;
        };
        match regex_to_globs(re.as_str(), &prefix) {
            Some(globs) => {
                for g in globs {
                    if !patterns.contains(&g) {
                        patterns.push(g);
                    }
                }
            }
            None => warnings.push(format!(
                "creation rule {}: path_regex `{}` cannot be turned into a gitattributes pattern; pass --pattern GLOB for the files it matches",
                i + 1,
                re.as_str()
            )),
        }
    }
    (patterns, warnings)
}

/// Whether a `.gitattributes` line already gives `pattern` both leafseal attributes.
fn line_covers(line: &str, pattern: &str) -> bool {
    let mut words = line.split_whitespace();
    if words.next() != Some(pattern) {
        return false;
    }
    let attrs: Vec<&str> = words.collect();
    attrs.contains(&"diff=leafseal") && attrs.contains(&"merge=leafseal")
}

/// Appends `PATTERN diff=leafseal merge=leafseal` for each pattern not yet configured.
/// Returns the new text (unchanged when nothing is added) and the added patterns.
pub fn update_gitattributes(existing: &str, patterns: &[String]) -> (String, Vec<String>) {
    let mut out = existing.to_owned();
    let mut added = Vec::new();
    for p in patterns {
        if out.lines().any(|l| line_covers(l, p)) {
            continue;
        }
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("{p} {ATTRIBUTES}\n"));
        added.push(p.clone());
    }
    (out, added)
}

fn config_get(root: &Path, key: &str) -> Option<String> {
    let out = crate::process::capture::output_within(
        crate::process::git_in_own_group()
            .current_dir(root)
            .args(["config", "--local", "--get", key]),
        crate::process::capture::TOOL_OUTPUT_MAX,
        None,
    )
    .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).trim_end().to_owned())
}

fn check_pattern(p: &str) -> Result<(), Error> {
    if p.is_empty() || p.chars().any(char::is_whitespace) || p.starts_with('#') {
        return Err(Error::new(
            exit::GENERIC,
            format!("--pattern `{p}` is not a usable gitattributes pattern"),
        )
        .hint("patterns must be non-empty, without spaces, and not start with #"));
    }
    Ok(())
}

/// Configures the repository containing `cwd`: local git config for the drivers (pointing
/// at `program`) and `.gitattributes` at the repository root for the policy's rules and
/// the `extra` patterns. `.gitattributes` is written under `opts` (links, the
/// repository's root); `on_wait` is called when another leafseal process holds its lock
/// and the setup waits for it.
pub fn setup(
    cwd: &Path,
    program: &str,
    policy: Option<&Policy>,
    extra: &[String],
    opts: &crate::io::WriteOptions,
    on_wait: &dyn Fn(),
) -> Result<SetupReport, Error> {
    let root = PathBuf::from(git(cwd, &["rev-parse", "--show-toplevel"]).map_err(|e| {
        Error::new(exit::GENERIC, e.message).hint("run `leafseal git setup` inside a git work tree")
    })?);
    let mut report = SetupReport {
        root: root.clone(),
        ..SetupReport::default()
    };
    for p in extra {
        check_pattern(p)?;
    }
    // `.gitattributes` is locked before anything is read or configured and compared again
    // before the write, so that two setups at once take turns: neither loses the other's
    // patterns, and their `git config` runs do not meet on git's own config lock.
    // A `.gitattributes` the write options refuse (a hard link, a symbolic link out of
    // the repository) is still read: the refusal is the error only if a pattern must be
    // added.
    let path = root.join(".gitattributes");
    // git does not follow a `.gitattributes` that is a symbolic link (since git 2.32): the
    // drivers would be configured and then never used, and setup would say they are.
    if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(Error::new(
            exit::COULD_NOT_WRITE_OUTPUT,
            format!(
                "{} is a symbolic link, which git does not follow, so the attributes in it are not applied: replace it with a regular file (copy the content), then run the setup again",
                path.display()
            ),
        ));
    }
    let (dest, refused) = match crate::io::Destination::open(&path, opts) {
        Ok(d) => (Some(d.lock(on_wait)?), None),
        Err(e) => (None, Some(e)),
    };
    for (key, value) in config_entries(program) {
        if config_get(&root, &key).as_deref() != Some(value.as_str()) {
            git(&root, &["config", "--local", &key, &value])?;
            report.config_changed.push(key);
        }
    }
    let mut patterns = Vec::new();
    match policy {
        Some(p) => {
            let (derived, warnings) = patterns_from_policy(p, &root);
            patterns = derived;
            report.warnings = warnings;
        }
        None if extra.is_empty() => report.warnings.push(
            "no .sops.yaml found, so no .gitattributes patterns were derived; pass --pattern GLOB for the encrypted files".to_owned(),
        ),
        None => {}
    }
    for p in extra {
        if !patterns.contains(p) {
            patterns.push(p.clone());
        }
    }
    let path = root.join(".gitattributes");
    let existing = match crate::io::read_path(&path) {
        Ok(b) => String::from_utf8(b.to_vec()).map_err(|_| {
            Error::new(
                exit::COULD_NOT_READ_INPUT,
                format!("{} is not valid UTF-8", path.display()),
            )
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(Error::new(
                exit::COULD_NOT_READ_INPUT,
                format!("cannot read {}: {e}", path.display()),
            ));
        }
    };
    let (text, added) = update_gitattributes(&existing, &patterns);
    report.patterns_present = patterns
        .iter()
        .filter(|p| !added.contains(p))
        .cloned()
        .collect();
    if !added.is_empty() {
        match (dest, refused) {
            (Some(dest), _) => dest.write(text.as_bytes())?,
            (None, Some(e)) => return Err(e),
            (None, None) => {}
        }
    }
    report.patterns_added = added;
    for p in &patterns {
        if let Some(w) = overridden(&root, p) {
            report.warnings.push(w);
        }
    }
    Ok(report)
}

/// A file name the gitattributes `pattern` matches, to ask git what it applies (`None`
/// for a pattern too intricate to sample: brackets, escapes, a directory).
fn probe_path(pattern: &str) -> Option<String> {
    let p = pattern
        .trim_start_matches('/')
        .replace("**/", "")
        .replace("**", "x");
    if p.is_empty() || p.ends_with('/') || p.contains(['[', '\\', '!', ' ']) {
        return None;
    }
    Some(p.replace(['*', '?'], "x"))
}

/// A warning when git does not give a file `pattern` matches the leafseal drivers: a
/// later line of `.gitattributes`, a nested one or `.git/info/attributes` overrides the
/// line setup found or added, and the drivers would not run for those files.
fn overridden(root: &Path, pattern: &str) -> Option<String> {
    let probe = probe_path(pattern)?;
    let out = git(root, &["check-attr", "diff", "merge", "--", &probe]).ok()?;
    let value = |attr: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{probe}: {attr}: ")))
            .unwrap_or("unspecified")
            .to_owned()
    };
    let (diff, merge) = (value("diff"), value("merge"));
    let ours = |v: &str| v == DRIVER || v == format!("{DRIVER}-k8s");
    (!ours(&diff) || merge != DRIVER).then(|| {
        format!(
            "git gives {probe} (matched by `{pattern}`) diff: {diff}, merge: {merge}, not leafseal's drivers: a later line in .gitattributes, a nested .gitattributes or .git/info/attributes overrides it; remove or reorder that line"
        )
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn gitattributes_update_is_idempotent_and_keeps_content() {
        let pats = vec!["*.enc.yaml".to_owned(), "k8s/**/*.yml".to_owned()];
        let (t1, a1) = update_gitattributes("*.png binary", &pats);
        assert_eq!(
            t1,
            "*.png binary\n*.enc.yaml diff=leafseal merge=leafseal\nk8s/**/*.yml diff=leafseal merge=leafseal\n"
        );
        assert_eq!(a1, pats);
        let (t2, a2) = update_gitattributes(&t1, &pats);
        assert_eq!(t2, t1);
        assert!(a2.is_empty());
        // A line with only one of the attributes does not count.
        let (t3, a3) = update_gitattributes("*.enc.yaml diff=leafseal\n", &pats[..1]);
        assert_eq!(a3.len(), 1);
        assert!(t3.ends_with("*.enc.yaml diff=leafseal merge=leafseal\n"));
    }

    #[test]
    fn config_values() {
        let c = config_entries("/opt/my tools/leafseal");
        assert_eq!(
            c[0],
            (
                "diff.leafseal.textconv".to_owned(),
                "'/opt/my tools/leafseal' git textconv".to_owned()
            )
        );
        assert_eq!(c[1].1, "false");
        assert_eq!(
            c[3].1,
            "'/opt/my tools/leafseal' git merge-driver %O %A %B %P"
        );
    }

    #[test]
    fn patterns_from_rules() {
        let dir = tempfile::tempdir().unwrap();
        let policy_path = dir.path().join(".sops.yaml");
        let text = format!(
            "creation_rules:\n  - path_regex: \\.enc\\.yaml$\n    age: {r}\n  - path_regex: ^k8s/.*\\.ya?ml$\n    age: {r}\n  - path_regex: \\w+\\.x$\n    age: {r}\n  - age: {r}\n",
            r = "age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw"
        );
        let policy = Policy::parse(text.as_bytes(), &policy_path).unwrap();
        let (pats, warns) = patterns_from_policy(&policy, dir.path());
        assert_eq!(pats, ["*.enc.yaml", "k8s/**/*.yaml", "k8s/**/*.yml"]);
        assert_eq!(warns.len(), 2, "{warns:?}");
        assert!(warns[0].contains("rule 3"));
        assert!(warns[1].contains("rule 4"));
        // The same policy one directory down gets prefixed patterns.
        let sub = dir.path().join("infra");
        std::fs::create_dir(&sub).unwrap();
        let policy = Policy::parse(text.as_bytes(), &sub.join(".sops.yaml")).unwrap();
        let (pats, _) = patterns_from_policy(&policy, dir.path());
        assert_eq!(pats[0], "infra/**/*.enc.yaml");
        assert_eq!(pats[1], "infra/k8s/**/*.yaml");
    }
}
